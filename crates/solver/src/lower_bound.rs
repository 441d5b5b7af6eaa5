//! The fractional LP lower bound on the cost of a plan.
//!
//! Pods are grouped by requests and by the set of launch options (node pool, instance
//! type, capacity type) and existing nodes they could use. The LP splits each group
//! fractionally over its options: `min sum_c price_c * y_c` subject to every pod being
//! placed, and for each option and resource (cpu, memory, ephemeral storage, pods,
//! extended resources) the pods' requests within `y_c` times the usable capacity
//! (allocatable minus daemonset overhead). Existing nodes are free bins with their free
//! capacity. Zones, topology, preferences and pool limits are relaxed away, and an
//! option's price is its cheapest offering of that capacity type in any zone, so the
//! bound is valid: no plan for the same pods can cost less.
//!
//! Options dominated per dollar (another option with the same compatible groups gives at
//! least as much of every resource per dollar) are dropped: they never lower the optimum.
//! Solved with good_lp's pure-Rust microlp backend.

use crate::prep::{taint_blocking, Prepared};
use crate::{Plan, Problem};
use good_lp::{variable, Expression, ProblemVariables, Solution, SolverModel, Variable};
use nodepack_model::{CapacityType, Money, PodId, Resources};
use std::collections::{BTreeMap, BTreeSet, HashMap};

struct Column {
    price: f64,
    cap: Vec<f64>,
}

fn dims(r: &Resources, ext: &[String]) -> Vec<f64> {
    let mut v = vec![
        r.cpu.0 as f64 / 1000.0,
        r.memory.0 as f64 / (1u64 << 30) as f64,
        r.ephemeral_storage.0 as f64 / (1u64 << 30) as f64,
        r.pods as f64,
    ];
    v.extend(ext.iter().map(|k| r.extended(k) as f64));
    v
}

/// Why no lower bound could be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoundError {
    /// A pod to bound has no launch option and no existing node it could use, so no
    /// plan places it and no bound on placing it exists.
    #[error("pod {pod} has no launch option and no existing node it could use")]
    NoOption {
        /// The pod.
        pod: PodId,
    },
    /// The LP solver failed.
    #[error("the LP solver failed: {0}")]
    Lp(String),
}

/// A lower bound on the cost of placing the pending pods of a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Bound {
    /// No plan that places the bounded pods on new nodes costs less per hour.
    pub cost_per_hour: Money,
    /// Pods bounded.
    pub pods: usize,
    /// Pending pods left out: no launch option and no existing node could take them.
    pub left_out: usize,
}

/// The lower bound on the cost per hour of placing every pending pod of the problem that
/// some launch option or existing node could take (the others are counted in
/// [`Bound::left_out`]).
pub fn lower_bound_pending(problem: &Problem) -> Result<Bound, BoundError> {
    lower_bound_prepared(&Prepared::new(*problem))
}

/// [`lower_bound_pending`] with prepared pairs.
pub(crate) fn lower_bound_prepared(prep: &Prepared) -> Result<Bound, BoundError> {
    let all: Vec<usize> = (0..prep.problem.pending.len()).collect();
    let (cost, left_out) = solve_bound(prep, &all, true)?;
    Ok(Bound {
        cost_per_hour: cost,
        pods: all.len() - left_out,
        left_out,
    })
}

/// The lower bound on the cost per hour of the new nodes needed by the pods `plan`
/// placed ($0 when it launches no node).
pub fn lower_bound(problem: &Problem, plan: &Plan) -> Result<Money, BoundError> {
    let placed: BTreeSet<&PodId> = plan
        .existing
        .iter()
        .map(|b| &b.pod)
        .chain(plan.nodes.iter().flat_map(|n| n.pods.iter()))
        .collect();
    if plan.nodes.is_empty() {
        return Ok(Money::ZERO);
    }
    let pods: Vec<usize> = (0..problem.pending.len())
        .filter(|&i| placed.contains(&problem.pending[i].id))
        .collect();
    bound_for(problem, &pods)
}

/// The lower bound for a subset of the pending pods (indices).
pub fn bound_for(problem: &Problem, pods: &[usize]) -> Result<Money, BoundError> {
    bound_for_prepared(&Prepared::new(*problem), pods)
}

/// [`bound_for`] with prepared pairs.
pub fn bound_for_prepared(prep: &Prepared, pods: &[usize]) -> Result<Money, BoundError> {
    solve_bound(prep, pods, false).map(|(m, _)| m)
}

/// The bound over `pods`; with `skip`, pods no option takes are left out and counted,
/// otherwise the first is an error.
fn solve_bound(prep: &Prepared, pods: &[usize], skip: bool) -> Result<(Money, usize), BoundError> {
    let problem = &prep.problem;
    let mut ext: BTreeSet<String> = BTreeSet::new();
    for &i in pods {
        ext.extend(problem.pending[i].requests.extended.keys().cloned());
    }
    let ext: Vec<String> = ext.into_iter().collect();
    // Columns: (pair, capacity type) with the cheapest offering of that type.
    let mut cols: Vec<Column> = Vec::new();
    let mut col_of: BTreeMap<(usize, CapacityType), usize> = BTreeMap::new();
    for (i, pt) in prep.pool_types.iter().enumerate() {
        for o in &pt.offerings {
            let e = col_of.entry((i, o.capacity_type)).or_insert_with(|| {
                cols.push(Column {
                    price: f64::INFINITY,
                    cap: dims(&pt.usable, &ext),
                });
                cols.len() - 1
            });
            cols[*e].price = cols[*e].price.min(o.price.usd());
        }
    }
    // Existing nodes: free capacity.
    let existing: Vec<Vec<f64>> = problem
        .nodes
        .iter()
        .map(|n| {
            let used = n
                .pods
                .iter()
                .fold(Resources::default(), |a, p| a.saturating_add(&p.requests));
            dims(&n.node.allocatable.saturating_sub(&used), &ext)
        })
        .collect();
    // Groups: (requests, compatible columns, compatible existing nodes) -> count.
    let mut groups: BTreeMap<(Vec<u64>, Vec<usize>, Vec<usize>), (Vec<f64>, f64)> = BTreeMap::new();
    let mut compat_cache: HashMap<
        (
            Vec<nodepack_model::Requirements>,
            Vec<nodepack_model::Toleration>,
        ),
        (Vec<usize>, Vec<usize>),
    > = HashMap::new();
    let mut left_out = 0;
    for &i in pods {
        let pod = &problem.pending[i];
        let terms = pod.node_requirement_terms();
        let key = (terms.clone(), pod.tolerations.clone());
        let (cc, ec) = compat_cache
            .entry(key)
            .or_insert_with(|| {
                let mut cc = BTreeSet::new();
                for (&(pti, ct), &c) in &col_of {
                    let pt = &prep.pool_types[pti];
                    let np = &problem.nodepools[pt.pool];
                    if taint_blocking(&np.taints, &pod.tolerations, false).is_some() {
                        continue;
                    }
                    let ok = terms.iter().any(|t| {
                        prep.pool_type_compatible(t, pti)
                            && pt.offerings_for(t).any(|o| o.capacity_type == ct)
                    });
                    if ok {
                        cc.insert(c);
                    }
                }
                let ec: Vec<usize> = problem
                    .nodes
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| {
                        n.node.schedulable()
                            && taint_blocking(&n.node.taints, &pod.tolerations, false).is_none()
                            && pod.node_labels_ok(&n.node.labels)
                    })
                    .map(|(j, _)| j)
                    .collect();
                (cc.into_iter().collect(), ec)
            })
            .clone();
        let r = &pod.requests;
        let mut rk = vec![r.cpu.0, r.memory.0, r.ephemeral_storage.0, r.pods];
        rk.extend(ext.iter().map(|k| r.extended(k)));
        let d = dims(r, &ext);
        let fits = |cap: &Vec<f64>| d.iter().zip(cap).all(|(r, c)| *r <= *c + 1e-12);
        let usable =
            cc.iter().any(|&c| fits(&cols[c].cap)) || ec.iter().any(|&e| fits(&existing[e]));
        if !usable {
            if skip {
                left_out += 1;
                continue;
            }
            return Err(BoundError::NoOption {
                pod: pod.id.clone(),
            });
        }
        groups.entry((rk, cc, ec)).or_insert_with(|| (d, 0.0)).1 += 1.0;
    }
    // Drop columns dominated per dollar within the same set of groups that are compatible
    // with them and fit on them (a column whose nodes are too small for a group cannot
    // stand in for one that holds it, however cheap its capacity).
    let mut sig: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (gi, (k, (d, _))) in groups.iter().enumerate() {
        for &c in &k.1 {
            if d.iter()
                .zip(&cols[c].cap)
                .all(|(r, cap)| *r <= *cap + 1e-12)
            {
                sig.entry(c).or_default().push(gi);
            }
        }
    }
    let mut by_sig: BTreeMap<&Vec<usize>, Vec<usize>> = BTreeMap::new();
    for (c, s) in &sig {
        by_sig.entry(s).or_default().push(*c);
    }
    let mut keep: BTreeSet<usize> = BTreeSet::new();
    for cs in by_sig.values() {
        for &c in cs {
            let a = &cols[c];
            let dominated = cs.iter().any(|&d| {
                if d == c {
                    return false;
                }
                let b = &cols[d];
                let ge = a
                    .cap
                    .iter()
                    .zip(&b.cap)
                    .all(|(x, y)| y * a.price >= x * b.price);
                let strictly = a
                    .cap
                    .iter()
                    .zip(&b.cap)
                    .any(|(x, y)| y * a.price > x * b.price);
                ge && (strictly || d < c)
            });
            if !dominated {
                keep.insert(c);
            }
        }
    }
    let mut vars = ProblemVariables::new();
    let y: BTreeMap<usize, Variable> = keep
        .iter()
        .map(|&c| (c, vars.add(variable().min(0.0))))
        .collect();
    let mut col_load: BTreeMap<usize, Vec<Expression>> = BTreeMap::new();
    let mut node_load: BTreeMap<usize, Vec<Expression>> = BTreeMap::new();
    let mut group_sum: Vec<(Expression, f64)> = Vec::new();
    let ndim = 4 + ext.len();
    for ((_, cc, ec), (d, n)) in &groups {
        let mut sum = Expression::from(0.0);
        for &c in cc.iter().filter(|c| keep.contains(c)) {
            if d.iter().zip(&cols[c].cap).any(|(r, cap)| *r > *cap + 1e-12) {
                continue; // a pod larger than the node cannot use it at all
            }
            let x = vars.add(variable().min(0.0));
            sum += x;
            let load = col_load
                .entry(c)
                .or_insert_with(|| vec![Expression::from(0.0); ndim]);
            for (r, v) in d.iter().enumerate() {
                if *v > 0.0 {
                    load[r] += *v * x;
                }
            }
        }
        for &e in ec {
            if d.iter().zip(&existing[e]).any(|(r, cap)| *r > *cap + 1e-12) {
                continue;
            }
            let x = vars.add(variable().min(0.0));
            sum += x;
            let load = node_load
                .entry(e)
                .or_insert_with(|| vec![Expression::from(0.0); ndim]);
            for (r, v) in d.iter().enumerate() {
                if *v > 0.0 {
                    load[r] += *v * x;
                }
            }
        }
        group_sum.push((sum, *n));
    }
    let objective: Expression = y.iter().map(|(c, v)| cols[*c].price * *v).sum();
    let mut model = vars.minimise(objective).using(good_lp::microlp);
    for (sum, n) in group_sum {
        model = model.with(sum.eq(n));
    }
    for (c, load) in col_load {
        for (r, l) in load.into_iter().enumerate() {
            model = model.with(l.leq(cols[c].cap[r] * y[&c]));
        }
    }
    for (e, load) in node_load {
        for (r, l) in load.into_iter().enumerate() {
            model = model.with(l.leq(existing[e][r]));
        }
    }
    match model.solve() {
        Ok(sol) => {
            let v: f64 = y
                .iter()
                .map(|(c, var)| cols[*c].price * sol.value(*var))
                .sum();
            // Round down, with a margin for floating-point error, to stay a lower bound.
            Ok((
                Money(((v * 1e6) * (1.0 - 1e-7)).floor().max(0.0) as i64),
                left_out,
            ))
        }
        Err(e) => Err(BoundError::Lp(e.to_string())),
    }
}
