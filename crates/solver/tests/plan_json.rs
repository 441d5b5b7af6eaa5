//! A plan's JSON names its units (dollars per hour in `_usd` keys) and reads back into
//! the same plan.

use nodepack_model::pod::ZONE_KEY;
use nodepack_solver::{Builtin, Plan, Solver};
use nodepack_testkit as tk;

#[test]
fn plans_round_trip_through_json_in_dollars() {
    let solver = Solver::new(vec![tk::pool("default", &[])], tk::catalog());
    let mut pods = tk::pods("web", 12, 700, 1500);
    for p in &mut pods {
        p.labels.insert("app".into(), "web".into());
    }
    let pods: Vec<_> = pods
        .into_iter()
        .map(|p| tk::spread(p, ZONE_KEY, 1))
        .collect();
    for strategy in Builtin::ALL {
        let plan = solver.solve(&strategy, &pods, &[]).unwrap();
        assert!(!plan.nodes.is_empty());
        let json = serde_json::to_value(&plan).unwrap();
        let node = &json["nodes"][0];
        assert_eq!(
            node["price_per_hour_usd"].as_f64(),
            Some(plan.nodes[0].price.usd())
        );
        assert!(node.get("price").is_none());
        assert_eq!(
            json["cost_per_hour_usd"].as_f64(),
            Some(plan.cost_per_hour.usd())
        );
        let back: Plan = serde_json::from_value(json).unwrap();
        assert_eq!(back, plan, "{strategy}");
    }
}

#[test]
fn a_price_that_is_not_dollars_is_refused() {
    let bad = r#"{"strategy":"x","existing":[],"nodes":[],"unschedulable":[],"cost_per_hour_usd":"1.0","order":[]}"#;
    assert!(serde_json::from_str::<Plan>(bad).is_err());
    let ok = bad.replace("\"1.0\"", "1.25");
    let plan: Plan = serde_json::from_str(&ok).unwrap();
    assert_eq!(plan.cost_per_hour.0, 1_250_000);
}
