//! Golden tests: allocatable computed with Karpenter's AWS formulas against the values
//! Karpenter documents (`crates/formats/data/aws-allocatable-golden.json`, copied from the shared data
//! with `tools/build_catalog.py`).

use nodepack_formats::aws_us_east_1;
use nodepack_model::{Bytes, Catalog, Millicores};
use serde_json::Value;

const GOLDEN: &str = include_str!("../data/aws-allocatable-golden.json");

fn golden() -> serde_json::Map<String, Value> {
    match serde_json::from_str(GOLDEN).unwrap() {
        Value::Object(m) => m,
        _ => panic!("golden file is not an object"),
    }
}

fn check(c: &Catalog, golden: &serde_json::Map<String, Value>, name: &str) -> Result<(), String> {
    let g = &golden[name];
    let a = c.get(name).ok_or("missing type")?.allocatable();
    let want_cpu = Millicores(g["cpu_millicores"].as_u64().unwrap());
    let want_mem = Bytes::from_mib(g["memory_mib"].as_u64().unwrap());
    let want_pods = g["pods"].as_u64().unwrap();
    let want_eph = Bytes::from_gib(g["ephemeral_storage_gib"].as_u64().unwrap());
    if (a.cpu, a.memory, a.pods, a.ephemeral_storage) != (want_cpu, want_mem, want_pods, want_eph) {
        return Err(format!(
            "{name}: got {} {} pods={} eph={}, Karpenter documents {} {} pods={} eph={}",
            a.cpu, a.memory, a.pods, a.ephemeral_storage, want_cpu, want_mem, want_pods, want_eph
        ));
    }
    for (k, v) in g.as_object().unwrap() {
        if ![
            "cpu_millicores",
            "memory_mib",
            "ephemeral_storage_gib",
            "pods",
        ]
        .contains(&k.as_str())
        {
            let got = a.extended(k);
            if got != v.as_u64().unwrap() {
                return Err(format!("{name}: {k} got {got}, documented {v}"));
            }
        }
    }
    Ok(())
}

#[test]
fn representative_types_match_exactly() {
    let (c, g) = (aws_us_east_1(), golden());
    for t in [
        "m5.large",
        "c6i.xlarge",
        "r6g.2xlarge",
        "t3.micro",
        "p4d.24xlarge",
        "m7g.16xlarge",
        "g5.12xlarge",
        "c7i.48xlarge",
        "inf2.xlarge",
        "x2idn.32xlarge",
    ] {
        check(c, &g, t).unwrap();
    }
}

#[test]
fn match_rate_over_the_whole_catalog() {
    let (c, g) = (aws_us_east_1(), golden());
    let mut ok = 0;
    let mut bad = Vec::new();
    for t in &c.instance_types {
        match check(c, &g, &t.name) {
            Ok(()) => ok += 1,
            Err(e) => bad.push(e),
        }
    }
    let total = c.instance_types.len();
    println!("allocatable matches Karpenter's documented value for {ok} of {total} types");
    for b in bad.iter().take(20) {
        println!("  mismatch: {b}");
    }
    // Measured: all 1345 match (cpu, memory, pods, ephemeral storage, extended).
    assert_eq!(ok, total, "only {ok} of {total} match");
}
