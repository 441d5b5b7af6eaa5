//! Unschedulable reasons say what rules the instance types out (issue 22 item 13: every
//! one of these cases used to read "no instance type of the catalog is allowed by its
//! requirements"), for both strategies and in `explain`.

use nodepack_model::{labels, Catalog, Millicores, NodePool, Operator};
use nodepack_solver::{solve, Problem, Reason, STRATEGIES};
use nodepack_testkit as tk;

/// The reason each strategy gives for the first of three plain pods.
fn reasons(pool: &NodePool, catalog: &Catalog) -> Vec<String> {
    let pods = tk::pods("web", 3, 500, 512);
    let pools = vec![pool.clone()];
    let problem = Problem::new(&pods, &[], &pools, catalog);
    let mut out = Vec::new();
    for s in STRATEGIES {
        let plan = solve(s, &problem).unwrap();
        assert_eq!(plan.unschedulable.len(), 3, "{s}");
        out.push(plan.unschedulable[0].reason.to_string());
    }
    let prep = nodepack_solver::internals::Prepared::new(problem);
    let ex = nodepack_solver::internals::explain(&prep, &solve("nodepack", &problem).unwrap());
    out.push(format!("{ex:?}"));
    out
}

fn assert_all(pool: &NodePool, catalog: &Catalog, want: &str) {
    for r in reasons(pool, catalog) {
        assert!(r.contains(want), "want {want:?} in {r}");
        assert!(!r.contains("is allowed by its requirements"), "{r}");
    }
}

#[test]
fn an_empty_catalog_is_named() {
    assert_all(
        &NodePool::new("p"),
        &tk::catalog_of(vec![]),
        "the catalog has no instance types",
    );
}

#[test]
fn a_zone_that_does_not_exist_is_named_with_the_zones_there_are() {
    let p = tk::pool("p", &[(labels::ZONE, Operator::In, &["us-east-1z"])]);
    assert_all(
        &p,
        &tk::catalog(),
        "requirement topology.kubernetes.io/zone In [us-east-1z] allows no instance type",
    );
}

#[test]
fn a_value_no_type_has_is_named() {
    let p = tk::pool("p", &[(labels::INSTANCE_FAMILY, Operator::In, &["zz9"])]);
    assert_all(
        &p,
        &tk::catalog(),
        "karpenter.k8s.aws/instance-family In [zz9]",
    );
}

#[test]
fn a_key_no_type_has_suggests_the_nearest_known_key() {
    let p = tk::pool(
        "p",
        &[("karpenter.k8s.aws/instance-famly", Operator::In, &["m5"])],
    );
    assert_all(
        &p,
        &tk::catalog(),
        "did you mean karpenter.k8s.aws/instance-family?",
    );
}

#[test]
fn daemonset_overhead_beyond_every_type_is_named_with_units() {
    let mut p = NodePool::new("p");
    p.daemonset_overhead.cpu = Millicores::from_cores(5000);
    assert_all(&p, &tk::catalog(), "daemonsets' overhead");
    assert_all(&p, &tk::catalog(), "cpu requested 5000 cores but only");
}

/// A pod selecting a key no node has, one edit from a well-known key, is told which
/// key it probably meant.
#[test]
fn a_pod_key_typo_suggests_the_nearest_known_key() {
    let pods = vec![tk::select(
        tk::pod("a", 500, 512),
        "kubernetes.io/archh",
        "amd64",
    )];
    let pools = vec![NodePool::new("p")];
    let catalog = tk::catalog();
    let problem = Problem::new(&pods, &[], &pools, &catalog);
    for s in STRATEGIES {
        let plan = solve(s, &problem).unwrap();
        let r = &plan.unschedulable[0].reason;
        assert!(matches!(r, Reason::Requirements(_)), "{s}: {r:?}");
        assert!(
            r.to_string().contains("did you mean kubernetes.io/arch?"),
            "{s}: {r}"
        );
    }
}

/// A pool label that contradicts every type's labels is named, not blamed on overhead.
#[test]
fn a_pool_label_no_type_has_is_named() {
    let mut p = NodePool::new("p");
    p.labels.insert(labels::ARCH.into(), "s390x".into());
    assert_all(&p, &tk::catalog(), "node labels conflict");
    assert_all(&p, &tk::catalog(), "kubernetes.io/arch");
}

/// Each kind of refusal comes back as its own kind of reason, with the same text.
#[test]
fn reasons_say_their_kind() {
    let catalog = tk::catalog();
    let mut tainted = NodePool::new("gpu");
    tainted.taints.push(tk::taint("gpu", "true"));
    let mut capped = NodePool::new("capped");
    capped.limits.cpu = Some(Millicores(1000));
    let mut spread = tk::pods("web", 3, 500, 512);
    for p in &mut spread {
        p.labels.insert("app".into(), "web".into());
        p.node_selector
            .insert(labels::ZONE.into(), "test-1a".into());
    }
    let spread: Vec<_> = spread
        .into_iter()
        .map(|p| tk::anti(p, nodepack_model::pod::ZONE_KEY))
        .collect();
    let cases: Vec<(Vec<NodePool>, Vec<nodepack_model::Pod>, fn(&Reason) -> bool)> = vec![
        (vec![tainted], tk::pods("a", 1, 500, 512), |r| {
            matches!(r, Reason::Taint(_))
        }),
        (vec![capped], tk::pods("b", 1, 4000, 512), |r| {
            matches!(r, Reason::Limits(_))
        }),
        (
            vec![NodePool::new("p")],
            tk::pods("c", 1, 900_000, 512),
            |r| matches!(r, Reason::Resources(_)),
        ),
        (vec![NodePool::new("p")], spread, |r| {
            matches!(r, Reason::Topology(_))
        }),
        (vec![], tk::pods("d", 1, 500, 512), |r| {
            matches!(r, Reason::NoNodePool)
        }),
    ];
    for (pools, pods, kind) in cases {
        let problem = Problem::new(&pods, &[], &pools, &catalog);
        for s in STRATEGIES {
            let plan = solve(s, &problem).unwrap();
            let u = plan.unschedulable.last().expect("a pod left unschedulable");
            assert!(kind(&u.reason), "{s}: {:?}", u.reason);
            assert!(!u.reason.to_string().is_empty());
        }
    }
}
