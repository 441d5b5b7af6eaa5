//! Embedding nodepack: the AWS catalog, pods by builder, both strategies, validation,
//! the lower bound, Kubernetes YAML, a one-hour replay, eight solves on eight threads.
use nodepack_formats::{aws_us_east_1, read_nodepools, read_workload};
use nodepack_model::{Bytes, Millicores, Millis, NodePool, Pod};
use nodepack_sim::{config::Generator, config::ServiceGen, Replay};
use nodepack_solver::{assemble, prelude::*};
use std::{error::Error, sync::Arc};

fn main() -> Result<(), Box<dyn Error>> {
    let catalog = aws_us_east_1(); // parsed once, shared
    let pool = NodePool::builder("general")
        .requirement("karpenter.sh/capacity-type In spot,on-demand")
        .requirement("karpenter.k8s.aws/instance-cpu Lte 16")
        .build()?;
    let solver = Arc::new(Solver::new(vec![pool.clone()], catalog.clone()));
    let pods = (0..20)
        .map(|i| {
            let name = format!("web-{i}");
            let pod = Pod::builder("shop", &name).requests("500m", "1Gi");
            pod.label("app", "web").zone_spread(1).build()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bound = solver.lower_bound(&pods, &[])?;
    for strategy in Builtin::ALL {
        let plan = solver.solve(&strategy, &pods, &[])?;
        assert!(solver.validate(&pods, &[], &plan).is_empty());
        assert!(plan.cost_per_hour >= bound.cost_per_hour);
        let (n, usd) = (plan.nodes.len(), plan.cost_per_hour.usd());
        let lb = bound.cost_per_hour.usd();
        println!("{strategy}: {n} nodes, ${usd:.4}/h (lower bound ${lb:.4}/h)");
    }

    // Kubernetes YAML: Deployments, a Job, a DaemonSet and two NodePools.
    let w = read_workload("pods.yaml", include_str!("../scenarios/examples/pods.yaml"))?;
    let text = include_str!("../scenarios/examples/nodepools.yaml");
    let (pools, _warnings) = read_nodepools("nodepools.yaml", text)?;
    let a = assemble(w.pending, w.bound, &w.daemonsets, w.nodes, pools, catalog);
    let yaml_solver = Solver::new(a.nodepools, catalog.clone());
    let plan = yaml_solver.solve(&Builtin::Nodepack, &a.pending, &a.nodes)?;
    println!(
        "yaml: {} pods on {} nodes",
        a.pending.len(),
        plan.nodes.len()
    );

    // A one-hour replay of a generated service.
    let web = ServiceGen::new("web", Millicores(500), Bytes::from_gib(1), 12);
    let replay = Replay::new(vec![pool], catalog.clone())
        .generator(Generator {
            services: vec![web],
            jobs: vec![],
        })
        .autoscaler("nodepack")
        .horizon(Millis::from_mins(60))
        .run()?;
    println!("replay: ${:.4}", replay.summary.cost.usd());

    // Eight solves on eight threads, sharing one prepared solver.
    let nodes = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=8)
            .map(|k| {
                let (solver, pods) = (Arc::clone(&solver), &pods[..k * 2]);
                scope.spawn(move || solver.solve(&Builtin::Nodepack, pods, &[]))
            })
            .collect();
        let plans = handles
            .into_iter()
            .map(|h| h.join().expect("a solver thread"));
        plans
            .map(|p| Ok(p?.nodes.len()))
            .collect::<Result<Vec<_>, SolveError>>()
    })?;
    println!("threads: {nodes:?} nodes");
    Ok(())
}
