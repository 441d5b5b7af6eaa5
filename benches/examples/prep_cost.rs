//! Cost of a small solve with prepared pairs reused (what the simulator does per round).
use nodepack_benches::*;
use nodepack_solver::{internals::Prepared, Problem};
use std::time::Instant;
fn main() {
    let catalog = nodepack_formats::aws_us_east_1();
    let pools = vec![real_pool()];
    let empty = Problem::new(&[], &[], &pools, catalog);
    let t = Instant::now();
    let base = Prepared::new(empty);
    println!("pairs {:?}", t.elapsed());
    let pods = mixed_plain_pods(5, 7);
    let problem = Problem::new(&pods, &[], &pools, catalog);
    for s in ["karpenter", "nodepack"] {
        let t = Instant::now();
        for _ in 0..20 {
            let p = Prepared::with_pairs(base.pairs(), problem);
            let _ = std::hint::black_box(nodepack_solver::solve_prepared(s, &p));
        }
        println!("{s} 5 pods {:?}", t.elapsed() / 20);
    }
}
