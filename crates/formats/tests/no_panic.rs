//! No input makes the readers panic: random text and random mutations of valid
//! manifests either parse or return an error.

use proptest::prelude::*;

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: 500m, memory: 1Gi}}\n  tolerations: [{key: a, operator: Exists}]\n  topologySpreadConstraints:\n  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule}\n";
const POOL: &str = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: d}\nspec:\n  limits: {cpu: 100}\n  template:\n    spec:\n      requirements:\n      - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}\n";

use nodepack_testkit::mutate;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(s in "\\PC{0,200}") {
        let _ = nodepack_formats::read_workload("f.yaml", &s);
        let _ = nodepack_formats::read_nodepools("f.yaml", &s);
        let _ = nodepack_formats::read_catalog("f.json", &s);
        let _ = nodepack_formats::read_scenario("f.yaml", &s);
    }

    #[test]
    fn mutated_manifests_never_panic(at in 0usize..400, len in 0usize..8, with in "[ -~\\n]{0,8}") {
        let _ = nodepack_formats::read_workload("pod.yaml", &mutate(POD, at, len, &with));
        let _ = nodepack_formats::read_nodepools("pool.yaml", &mutate(POOL, at, len, &with));
    }
}
