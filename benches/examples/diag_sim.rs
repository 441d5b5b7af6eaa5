//! diag (throwaway): per-pod pending times of one scenario run.
use nodepack_formats::{read_nodepools, read_sim_scenario, WorkloadSource};
use nodepack_sim::SimInput;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let path = &a[1];
    let strat = a.get(2).map(|s| s.as_str()).unwrap_or("nodepack");
    let thr: f64 = a.get(3).map(|s| s.parse().unwrap()).unwrap_or(50.0);
    let text = std::fs::read_to_string(path).unwrap();
    let (sc, _) = read_sim_scenario(path, &text).unwrap();
    let dir = std::path::Path::new(path).parent().unwrap();
    let catalog = nodepack_formats::aws_us_east_1();
    let np = match &sc.nodepools {
        nodepack_formats::sim_scenario::ManifestSource::Path(p) => {
            std::fs::read_to_string(dir.join(p)).unwrap()
        }
        nodepack_formats::sim_scenario::ManifestSource::Inline(t) => t.clone(),
    };
    let (pools, _) = read_nodepools("np", &np).unwrap();
    let settings = sc.settings;
    let (trace, pdbs) = match &sc.workload {
        WorkloadSource::Generate(g) => (
            nodepack_sim::generate::generate(g, settings.horizon, settings.seed),
            nodepack_sim::generate::budgets(g),
        ),
        _ => panic!(),
    };
    let input = SimInput {
        settings: &settings,
        nodepools: &pools,
        catalog: &catalog,
        trace: &trace,
        pdbs: &pdbs,
    };
    let mut auto = nodepack_sim::by_name(strat).unwrap();
    let (r, c) = nodepack_sim::engine::run_debug(input, auto.as_mut());
    println!(
        "cost {:.2} p99 {:?}",
        r.summary.cost_usd, r.summary.pending_seconds
    );
    for p in &c.pods {
        let Some(b) = p.first_bound else { continue };
        let w = (b.0 - p.arrived.0) as f64 / 1000.0;
        if w > thr {
            let n = p.node.map(|n| &c.nodes[n]);
            println!(
                "{} arr {:.0} wait {:.1} node {:?} launched {:?} ready {:?}",
                p.pod.id.name,
                p.arrived.0 as f64 / 1000.0,
                w,
                n.map(|n| (
                    &n.node.name,
                    &n.node.instance_type,
                    n.offering.capacity_type
                )),
                n.map(|n| n.launched.0 / 1000),
                n.and_then(|n| n.ready_at).map(|t| t.0 / 1000)
            );
        }
    }
}
