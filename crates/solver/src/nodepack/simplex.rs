//! A small bounded-variable primal simplex for the pattern plan's LPs (see
//! [`super::patterns`]): the restricted master LP over patterns, whose columns arrive a
//! few at a time and whose duals price the next ones, and each bin's continuous knapsack.
//!
//! `min c x` subject to `A x = b` and `lo <= x <= hi`, with a dense basis inverse
//! (these LPs have at most a few hundred rows: one per item, or one per resource),
//! refactored every [`REFACTOR`] pivots. The caller gives a feasible first basis, one
//! column per row (slacks; artificials with a phase one; or columns of a single entry
//! each, such as seed patterns). Columns added later enter as nonbasic at their lower
//! bound, so the basis stays feasible and [`Simplex::optimize`] resumes from it.
//! Dantzig's rule (the largest reduced cost), ties to the lowest column; after [`STALL`]
//! degenerate pivots in a row, Bland's rule (the lowest eligible column, the lowest
//! leaving column among equal ratios) until a pivot makes progress; and a ceiling on the
//! pivots the caller gives, past which it reports [`Failure::Stuck`] (the pattern plan
//! then ends with the nodes it has). Pure and deterministic.

/// Pivots between two refactorizations of the basis inverse.
const REFACTOR: u64 = 64;
/// Degenerate pivots in a row before Bland's rule takes over.
const STALL: u32 = 20;
/// Reduced costs and pivot entries smaller than this count as zero.
const EPS: f64 = 1e-9;

/// Why an LP has no solution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// The objective falls without bound.
    Unbounded,
    /// More pivots than the ceiling the caller gave, or a singular basis.
    Stuck,
}

/// Where a column stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum At {
    Lower,
    Upper,
    /// In the basis, at this row.
    Basic(usize),
}

struct Column {
    /// (row, entry), rows ascending.
    entries: Vec<(usize, f64)>,
    cost: f64,
    lo: f64,
    hi: f64,
    at: At,
}

/// An LP in the form above, with its current basis.
pub(super) struct Simplex {
    m: usize,
    b: Vec<f64>,
    cols: Vec<Column>,
    /// The column basic in each row.
    basis: Vec<usize>,
    /// The basis inverse, row-major `m x m`.
    inv: Vec<f64>,
    /// The values of the basic columns, by row.
    xb: Vec<f64>,
    /// Pivots made so far (bound flips included).
    pub pivots: u64,
    since_refactor: u64,
}

impl Simplex {
    /// An LP of `b.len()` rows with right-hand sides `b` and no column yet.
    pub(super) fn new(b: Vec<f64>) -> Self {
        Simplex {
            m: b.len(),
            b,
            cols: Vec::new(),
            basis: Vec::new(),
            inv: Vec::new(),
            xb: Vec::new(),
            pivots: 0,
            since_refactor: 0,
        }
    }

    /// Add a column (nonbasic at `lo`, which must be finite); its index.
    pub(super) fn add(&mut self, entries: Vec<(usize, f64)>, cost: f64, lo: f64, hi: f64) -> usize {
        let j = self.cols.len();
        self.cols.push(Column {
            entries,
            cost,
            lo,
            hi,
            at: At::Lower,
        });
        if !self.basis.is_empty() {
            // Its value is its lower bound: the basic values move by what it adds.
            let (delta, cols) = (lo, &self.cols[j]);
            if delta != 0.0 {
                let alpha = column_times(&self.inv, self.m, &cols.entries);
                for (x, a) in self.xb.iter_mut().zip(&alpha) {
                    *x -= a * delta;
                }
            }
        }
        j
    }

    /// Start from the basis `unit[r]` in row `r` (one column per row, making a
    /// nonsingular basis), every other column at its lower bound. `false` when the
    /// basis is singular or a basic value is out of its bounds (it is not feasible).
    pub(super) fn start(&mut self, unit: &[usize]) -> bool {
        for c in &mut self.cols {
            c.at = At::Lower;
        }
        self.basis = unit.to_vec();
        for (r, &j) in unit.iter().enumerate() {
            self.cols[j].at = At::Basic(r);
        }
        self.refactor().is_ok() && self.feasible()
    }

    fn feasible(&self) -> bool {
        self.basis.iter().zip(&self.xb).all(|(&j, &x)| {
            let c = &self.cols[j];
            x >= c.lo - 1e-7 && x <= c.hi + 1e-7
        })
    }

    /// Change a column's cost.
    pub(super) fn set_cost(&mut self, j: usize, cost: f64) {
        self.cols[j].cost = cost;
    }

    /// Change a column's upper bound (its value must stay within its bounds).
    pub(super) fn set_hi(&mut self, j: usize, hi: f64) {
        self.cols[j].hi = hi;
    }

    /// The sum of the right-hand sides' sizes.
    pub(super) fn rhs_sum(&self) -> f64 {
        self.b.iter().map(|v| v.abs()).sum()
    }

    /// The number of columns.
    pub(super) fn columns(&self) -> usize {
        self.cols.len()
    }

    /// A column's value.
    pub(super) fn value(&self, j: usize) -> f64 {
        let c = &self.cols[j];
        match c.at {
            At::Lower => c.lo,
            At::Upper => c.hi,
            At::Basic(r) => self.xb[r],
        }
    }

    /// The objective's value.
    pub(super) fn objective(&self) -> f64 {
        (0..self.cols.len())
            .map(|j| self.cols[j].cost * self.value(j))
            .sum()
    }

    /// The duals, `y = c_B B^-1`: what one more unit of each row's right-hand side
    /// costs.
    pub(super) fn duals(&self) -> Vec<f64> {
        let m = self.m;
        let mut y = vec![0.0; m];
        for (r, &j) in self.basis.iter().enumerate() {
            let c = self.cols[j].cost;
            if c != 0.0 {
                let row = &self.inv[r * m..(r + 1) * m];
                for (yi, v) in y.iter_mut().zip(row) {
                    *yi += c * v;
                }
            }
        }
        y
    }

    /// Pivot to an optimal basis, at most `most` pivots in all.
    pub(super) fn optimize(&mut self, most: u64) -> Result<(), Failure> {
        let m = self.m;
        let mut stall = 0u32;
        let mut alpha = vec![0.0; m];
        // The duals, kept up to date by each pivot (recomputed at each refactoring).
        let mut y = self.duals();
        loop {
            if self.pivots >= most {
                return Err(Failure::Stuck);
            }
            let bland = stall >= STALL;
            // Entering: the most negative reduced cost of a column that may rise, or
            // the most positive of one that may fall (Bland: the first of either).
            let mut enter: Option<(usize, f64)> = None;
            let mut score = 0.0;
            let mut reduced = 0.0;
            for (j, c) in self.cols.iter().enumerate() {
                let up = match c.at {
                    At::Basic(_) => continue,
                    At::Lower => true,
                    At::Upper => false,
                };
                if c.hi - c.lo <= 0.0 {
                    continue;
                }
                let d = c.cost - c.entries.iter().map(|&(r, a)| y[r] * a).sum::<f64>();
                let gain = if up { -d } else { d };
                if gain > EPS && gain > score {
                    enter = Some((j, if up { 1.0 } else { -1.0 }));
                    score = gain;
                    reduced = d;
                    if bland {
                        break;
                    }
                }
            }
            let Some((j, dir)) = enter else {
                return Ok(());
            };
            alpha.copy_from_slice(&column_times(&self.inv, m, &self.cols[j].entries));
            // Ratio test: the entering column moves by t in `dir`; basic column r by
            // -dir t alpha[r].
            let c = &self.cols[j];
            let mut t = c.hi - c.lo;
            let mut leave: Option<(usize, At)> = None;
            for (r, &a) in alpha.iter().enumerate() {
                let step = dir * a;
                if step.abs() <= EPS {
                    continue;
                }
                let k = self.basis[r];
                let (lo, hi) = (self.cols[k].lo, self.cols[k].hi);
                let (room, to) = if step > 0.0 {
                    ((self.xb[r] - lo).max(0.0) / step, At::Lower)
                } else {
                    if hi == f64::INFINITY {
                        continue;
                    }
                    ((hi - self.xb[r]).max(0.0) / -step, At::Upper)
                };
                let take = match leave {
                    None => room < t,
                    Some((l, _)) => room < t - 1e-12 || (room <= t + 1e-12 && k < self.basis[l]),
                };
                if take {
                    t = room;
                    leave = Some((r, to));
                }
            }
            if t == f64::INFINITY {
                return Err(Failure::Unbounded);
            }
            self.pivots += 1;
            stall = if t <= EPS { stall + 1 } else { 0 };
            for (x, a) in self.xb.iter_mut().zip(&alpha) {
                *x -= dir * t * a;
            }
            match leave {
                None => {
                    // A bound flip: the entering column crosses to its other bound.
                    self.cols[j].at = if dir > 0.0 { At::Upper } else { At::Lower };
                }
                Some((r, to)) => {
                    let entering = self.value(j) + dir * t;
                    let k = self.basis[r];
                    self.cols[k].at = to;
                    self.cols[j].at = At::Basic(r);
                    self.basis[r] = j;
                    self.xb[r] = entering;
                    self.since_refactor += 1;
                    if self.since_refactor >= REFACTOR {
                        self.refactor()?;
                        y = self.duals();
                    } else {
                        pivot_inverse(&mut self.inv, m, r, &alpha)?;
                        // The entering column's reduced cost falls to zero.
                        for (yi, v) in y.iter_mut().zip(&self.inv[r * m..(r + 1) * m]) {
                            *yi += reduced * v;
                        }
                    }
                }
            }
        }
    }

    /// Recompute the basis inverse and the basic values from scratch.
    fn refactor(&mut self) -> Result<(), Failure> {
        let m = self.m;
        self.since_refactor = 0;
        // Gauss-Jordan with partial pivoting on [B | I].
        let mut a = vec![0.0; m * m];
        for (r, &j) in self.basis.iter().enumerate() {
            for &(i, v) in &self.cols[j].entries {
                a[i * m + r] = v;
            }
        }
        let mut inv = vec![0.0; m * m];
        for i in 0..m {
            inv[i * m + i] = 1.0;
        }
        for col in 0..m {
            let p = (col..m)
                .max_by(|&x, &y| {
                    a[x * m + col]
                        .abs()
                        .total_cmp(&a[y * m + col].abs())
                        .then(y.cmp(&x))
                })
                .ok_or(Failure::Stuck)?;
            let piv = a[p * m + col];
            if piv.abs() <= 1e-12 {
                return Err(Failure::Stuck);
            }
            if p != col {
                for k in 0..m {
                    a.swap(p * m + k, col * m + k);
                    inv.swap(p * m + k, col * m + k);
                }
            }
            for k in 0..m {
                a[col * m + k] /= piv;
                inv[col * m + k] /= piv;
            }
            for i in 0..m {
                let f = a[i * m + col];
                if i == col || f == 0.0 {
                    continue;
                }
                for k in 0..m {
                    a[i * m + k] -= f * a[col * m + k];
                    inv[i * m + k] -= f * inv[col * m + k];
                }
            }
        }
        self.inv = inv;
        // x_B = B^-1 (b - N x_N).
        let mut rhs = self.b.clone();
        for c in &self.cols {
            let x = match c.at {
                At::Basic(_) => continue,
                At::Lower => c.lo,
                At::Upper => c.hi,
            };
            if x != 0.0 {
                for &(i, v) in &c.entries {
                    rhs[i] -= v * x;
                }
            }
        }
        self.xb = (0..m)
            .map(|r| (0..m).map(|k| self.inv[r * m + k] * rhs[k]).sum())
            .collect();
        Ok(())
    }
}

/// `B^-1 a` for a sparse column `a`.
fn column_times(inv: &[f64], m: usize, entries: &[(usize, f64)]) -> Vec<f64> {
    let mut out = vec![0.0; m];
    for &(i, v) in entries {
        for (r, o) in out.iter_mut().enumerate() {
            *o += inv[r * m + i] * v;
        }
    }
    out
}

/// Update the basis inverse for the column `alpha` (= `B^-1 a`) entering at row `r`.
fn pivot_inverse(inv: &mut [f64], m: usize, r: usize, alpha: &[f64]) -> Result<(), Failure> {
    let piv = alpha[r];
    if piv.abs() <= EPS {
        return Err(Failure::Stuck);
    }
    for k in 0..m {
        inv[r * m + k] /= piv;
    }
    for (i, &f) in alpha.iter().enumerate() {
        if i == r || f == 0.0 {
            continue;
        }
        for k in 0..m {
            inv[i * m + k] -= f * inv[r * m + k];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use microlp::{ComparisonOp, OptimizationDirection, Problem};

    /// `max x + y` subject to `x + 2y <= 4` and `3x + y <= 6` (slacks as the first
    /// basis): the vertex (1.6, 1.2), worth 2.8, whose duals are (0.4, 0.2).
    #[test]
    fn solves_a_small_lp_from_its_slacks() {
        let mut lp = Simplex::new(vec![4.0, 6.0]);
        let x = lp.add(vec![(0, 1.0), (1, 3.0)], -1.0, 0.0, f64::INFINITY);
        let y = lp.add(vec![(0, 2.0), (1, 1.0)], -1.0, 0.0, f64::INFINITY);
        let s0 = lp.add(vec![(0, 1.0)], 0.0, 0.0, f64::INFINITY);
        let s1 = lp.add(vec![(1, 1.0)], 0.0, 0.0, f64::INFINITY);
        assert!(lp.start(&[s0, s1]));
        lp.optimize(100).unwrap();
        assert!((lp.value(x) - 1.6).abs() < 1e-9 && (lp.value(y) - 1.2).abs() < 1e-9);
        assert!((lp.objective() + 2.8).abs() < 1e-9);
        let d = lp.duals();
        assert!(
            (d[0] + 0.4).abs() < 1e-9 && (d[1] + 0.2).abs() < 1e-9,
            "{d:?}"
        );
    }

    /// Upper bounds are met by bound flips: `max x + y`, `x + y <= 10`, `x <= 3`,
    /// `y <= 4` is 7 with the row's slack basic; unbounded without the bounds and the
    /// row of a column that only lowers the cost, a stuck search under its ceiling.
    #[test]
    fn meets_upper_bounds_and_reports_unbounded_and_stuck() {
        let mut lp = Simplex::new(vec![10.0]);
        let x = lp.add(vec![(0, 1.0)], -1.0, 0.0, 3.0);
        let y = lp.add(vec![(0, 1.0)], -1.0, 0.0, 4.0);
        let s = lp.add(vec![(0, 1.0)], 0.0, 0.0, f64::INFINITY);
        assert!(lp.start(&[s]));
        lp.optimize(100).unwrap();
        assert_eq!((lp.value(x), lp.value(y), lp.value(s)), (3.0, 4.0, 3.0));
        let mut lp = Simplex::new(vec![1.0]);
        lp.add(vec![(0, -1.0)], -1.0, 0.0, f64::INFINITY);
        let s = lp.add(vec![(0, 1.0)], 0.0, 0.0, f64::INFINITY);
        assert!(lp.start(&[s]));
        assert_eq!(lp.optimize(100), Err(Failure::Unbounded));
        let mut lp = Simplex::new(vec![1.0]);
        lp.add(vec![(0, 1.0)], -1.0, 0.0, f64::INFINITY);
        let s = lp.add(vec![(0, 1.0)], 0.0, 0.0, f64::INFINITY);
        assert!(lp.start(&[s]));
        assert_eq!(lp.optimize(0), Err(Failure::Stuck));
        // A basis out of its bounds is refused.
        let mut lp = Simplex::new(vec![-1.0]);
        let s = lp.add(vec![(0, 1.0)], 0.0, 0.0, f64::INFINITY);
        assert!(!lp.start(&[s]));
    }

    proptest::proptest! {
        /// Bounded packing LPs (`max v x`, `R x <= 1`, `0 <= x <= hi`, the pattern
        /// plan's fills) reach microlp's optimum, within their bounds and rows; and
        /// adding columns to a solved LP resumes to the optimum of the larger LP.
        #[test]
        fn reaches_the_optimum_of_bounded_packing_lps(
            cols in proptest::collection::vec(
                (proptest::collection::vec(0u32..5, 3), 1u32..20, 0u32..6), 1..14),
            split in 0usize..14,
        ) {
            let rows = 3;
            let mut lp = Simplex::new(vec![1.0; rows]);
            let slacks: Vec<usize> = (0..rows)
                .map(|i| lp.add(vec![(i, 1.0)], 0.0, 0.0, f64::INFINITY))
                .collect();
            proptest::prop_assert!(lp.start(&slacks));
            let entries = |r: &[u32]| -> Vec<(usize, f64)> {
                r.iter()
                    .enumerate()
                    .filter(|(_, &a)| a > 0)
                    .map(|(i, &a)| (i, f64::from(a) / 4.0))
                    .collect()
            };
            let mut vars = Vec::new();
            for (k, (r, v, hi)) in cols.iter().enumerate() {
                if k == split {
                    lp.optimize(10_000).unwrap();
                }
                vars.push(lp.add(entries(r), -f64::from(*v), 0.0, f64::from(*hi)));
            }
            lp.optimize(10_000).unwrap();
            let mut p = Problem::new(OptimizationDirection::Maximize);
            let mv: Vec<_> = cols
                .iter()
                .map(|(_, v, hi)| p.add_var(f64::from(*v), (0.0, f64::from(*hi))))
                .collect();
            for i in 0..rows {
                let row: Vec<_> = cols
                    .iter()
                    .zip(&mv)
                    .filter(|((r, ..), _)| r[i] > 0)
                    .map(|((r, ..), &x)| (x, f64::from(r[i]) / 4.0))
                    .collect();
                p.add_constraint(row, ComparisonOp::Le, 1.0);
            }
            let best = p.solve().unwrap().into_solution().unwrap().objective();
            proptest::prop_assert!((-lp.objective() - best).abs() < 1e-7 * (1.0 + best));
            for i in 0..rows {
                let used: f64 = cols
                    .iter()
                    .zip(&vars)
                    .map(|((r, ..), &j)| f64::from(r[i]) / 4.0 * lp.value(j))
                    .sum();
                proptest::prop_assert!(used <= 1.0 + 1e-9);
            }
            for ((_, _, hi), &j) in cols.iter().zip(&vars) {
                proptest::prop_assert!(lp.value(j) >= -1e-9 && lp.value(j) <= f64::from(*hi) + 1e-9);
            }
        }
    }
}
