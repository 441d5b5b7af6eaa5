//! Karpenter `NodePool` (karpenter.sh/v1) and `EC2NodeClass` (karpenter.k8s.aws/v1)
//! YAML or JSON. The kubelet settings of an EC2NodeClass apply to the NodePools whose
//! `nodeClassRef` names it.

use crate::docs::{load_documents, typed};
use crate::error::{Ctx, FormatError, Warning};
use crate::quantity::Quantity;
use nodepack_model::aws::{KubeletConfig, Threshold};
use nodepack_model::nodepool::{Budget, BudgetNodes, ConsolidationPolicy, Disruption, Limits};
use nodepack_model::{
    labels, Bytes, Effect, Millicores, Millis, NodePool, Operator, Requirements, Resources, Taint,
    ValueSet,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A string that YAML may have written as a number (`cpu: 1000`).
#[derive(Clone, Debug)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Scalar(s)),
            Value::Number(n) => Ok(Scalar(n.to_string())),
            Value::Bool(b) => Ok(Scalar(b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string or number, got {other}"
            ))),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Meta {
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    // Present in objects read back from a cluster; not used.
    namespace: Option<Value>,
    uid: Option<Value>,
    resource_version: Option<Value>,
    generation: Option<Value>,
    creation_timestamp: Option<Value>,
    managed_fields: Option<Value>,
    finalizers: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Doc<S> {
    api_version: Option<String>,
    kind: String,
    metadata: Meta,
    spec: S,
    status: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct NodePoolSpec {
    weight: Option<i32>,
    #[serde(default)]
    limits: BTreeMap<String, Scalar>,
    disruption: Option<DisruptionDoc>,
    template: TemplateDoc,
    // Replicas (static node pools) are not modelled.
    replicas: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DisruptionDoc {
    consolidation_policy: Option<String>,
    consolidate_after: Option<String>,
    #[serde(default)]
    budgets: Option<Vec<BudgetDoc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BudgetDoc {
    nodes: Scalar,
    schedule: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TemplateDoc {
    metadata: Option<TemplateMeta>,
    spec: TemplateSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TemplateMeta {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct TemplateSpec {
    #[serde(default)]
    requirements: Vec<RequirementDoc>,
    #[serde(default)]
    taints: Vec<TaintDoc>,
    #[serde(default)]
    startup_taints: Vec<TaintDoc>,
    expire_after: Option<String>,
    node_class_ref: Option<NodeClassRef>,
    termination_grace_period: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct NodeClassRef {
    group: Option<String>,
    kind: Option<String>,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequirementDoc {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<Scalar>,
    min_values: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaintDoc {
    key: String,
    #[serde(default)]
    value: Option<String>,
    effect: String,
    // Set by the API server on some taints; not used.
    #[allow(dead_code)]
    time_added: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct NodeClassSpec {
    kubelet: Option<KubeletDoc>,
    // The rest of an EC2NodeClass does not change scheduling; read and not used.
    ami_family: Option<Value>,
    ami_selector_terms: Option<Value>,
    subnet_selector_terms: Option<Value>,
    security_group_selector_terms: Option<Value>,
    capacity_reservation_selector_terms: Option<Value>,
    role: Option<Value>,
    instance_profile: Option<Value>,
    tags: Option<Value>,
    user_data: Option<Value>,
    metadata_options: Option<Value>,
    block_device_mappings: Option<Value>,
    instance_store_policy: Option<Value>,
    detailed_monitoring: Option<Value>,
    associate_public_ip_address: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct KubeletDoc {
    max_pods: Option<u64>,
    pods_per_core: Option<u64>,
    #[serde(default)]
    kube_reserved: BTreeMap<String, Scalar>,
    #[serde(default)]
    system_reserved: BTreeMap<String, Scalar>,
    #[serde(default)]
    eviction_hard: BTreeMap<String, Scalar>,
    eviction_soft: Option<Value>,
    eviction_soft_grace_period: Option<Value>,
    eviction_max_pod_grace_period: Option<Value>,
    image_gc_high_threshold_percent: Option<Value>,
    image_gc_low_threshold_percent: Option<Value>,
    cpu_cfs_quota: Option<Value>,
    cluster_dns: Option<Value>,
}

/// Parse a Go duration (`720h`, `1h30m`, `30s`, `500ms`) or `Never` (`None`).
pub fn duration(ctx: &Ctx, s: &str) -> Result<Option<Millis>, FormatError> {
    if s == "Never" {
        return Ok(None);
    }
    let bad = |why: &str| ctx.error(Some(s), format!("invalid duration: {why}"));
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("missing unit (ns, us, ms, s, m, h)"))?;
        let n: f64 = rest[..n_end].parse().map_err(|_| bad("bad number"))?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..u_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad("unknown unit (ns, us, ms, s, m, h)")),
        };
        total_ns += n * unit;
        rest = &rest[u_end..];
    }
    Ok(Some(Millis((total_ns / 1e6).round() as u64)))
}

fn quantity(ctx: &Ctx, v: &Scalar) -> Result<Quantity, FormatError> {
    let q = Quantity::parse(&v.0).map_err(|e| ctx.error(Some(&v.0), e.to_string()))?;
    if q.is_negative() {
        return Err(ctx.error(Some(&v.0), "must not be negative"));
    }
    Ok(q)
}

fn resource_map(ctx: &Ctx, m: &BTreeMap<String, Scalar>) -> Result<Resources, FormatError> {
    crate::quantity::resources(ctx, m.iter().map(|(k, v)| (k.as_str(), v.0.as_str())))
}

fn taints(ctx: &Ctx, ts: &[TaintDoc]) -> Result<Vec<Taint>, FormatError> {
    ts.iter()
        .enumerate()
        .map(|(i, t)| {
            let effect: Effect = t
                .effect
                .parse()
                .map_err(|m: String| ctx.index(i).field("effect").error(Some(&t.effect), m))?;
            Ok(Taint {
                key: t.key.clone(),
                value: t.value.clone().unwrap_or_default(),
                effect,
            })
        })
        .collect()
}

fn kubelet(ctx: &Ctx, k: &KubeletDoc) -> Result<KubeletConfig, FormatError> {
    let mut eviction_hard = BTreeMap::new();
    for (signal, v) in &k.eviction_hard {
        let c = ctx.field("evictionHard").field(signal);
        let t = if let Some(p) = v.0.strip_suffix('%') {
            let pct: f64 = p
                .trim()
                .parse()
                .map_err(|_| c.error(Some(&v.0), "invalid percentage"))?;
            if !(0.0..=100.0).contains(&pct) {
                return Err(c.error(Some(&v.0), "percentage must be between 0 and 100"));
            }
            Threshold::BasisPoints((pct * 100.0).round() as u32)
        } else {
            Threshold::Amount(
                quantity(&c, v)?
                    .value()
                    .ok_or_else(|| c.error(Some(&v.0), "too large"))?,
            )
        };
        eviction_hard.insert(signal.clone(), t);
    }
    let nonempty = |r: Resources| (!r.is_zero()).then_some(r);
    let mut kubelet = KubeletConfig::default();
    kubelet.max_pods = k.max_pods;
    kubelet.pods_per_core = k.pods_per_core;
    kubelet.kube_reserved = nonempty(resource_map(&ctx.field("kubeReserved"), &k.kube_reserved)?);
    kubelet.system_reserved = nonempty(resource_map(
        &ctx.field("systemReserved"),
        &k.system_reserved,
    )?);
    kubelet.eviction_hard = eviction_hard;
    Ok(kubelet)
}

fn nodepool(
    ctx: &Ctx,
    name: String,
    spec: NodePoolSpec,
    warnings: &mut Vec<Warning>,
) -> Result<(NodePool, Option<String>), FormatError> {
    let sctx = ctx.field("spec");
    let mut pool = NodePool::new(&name);
    pool.weight = spec.weight.unwrap_or(0);
    if !(0..=100).contains(&pool.weight) {
        return Err(sctx
            .field("weight")
            .error(Some(&pool.weight.to_string()), "must be between 0 and 100"));
    }
    let lctx = sctx.field("limits");
    let mut limits = Limits::default();
    for (k, v) in &spec.limits {
        let c = lctx.field(k);
        let q = quantity(&c, v)?;
        let big = || c.error(Some(&v.0), "too large");
        match k.as_str() {
            "cpu" => limits.cpu = Some(Millicores(q.milli_value().ok_or_else(big)?)),
            "memory" => limits.memory = Some(Bytes(q.value().ok_or_else(big)?)),
            "ephemeral-storage" => {
                limits.ephemeral_storage = Some(Bytes(q.value().ok_or_else(big)?))
            }
            other => {
                limits
                    .other
                    .insert(other.to_string(), q.value().ok_or_else(big)?);
            }
        }
    }
    pool.limits = limits;
    if let Some(d) = spec.disruption {
        let dctx = sctx.field("disruption");
        let mut dis = Disruption::default();
        if let Some(p) = &d.consolidation_policy {
            dis.consolidation_policy = match p.as_str() {
                "WhenEmpty" => ConsolidationPolicy::WhenEmpty,
                "WhenEmptyOrUnderutilized" => ConsolidationPolicy::WhenEmptyOrUnderutilized,
                "Balanced" => ConsolidationPolicy::Balanced,
                _ => {
                    return Err(dctx.field("consolidationPolicy").error(
                        Some(p),
                        "must be WhenEmpty, WhenEmptyOrUnderutilized or Balanced",
                    ))
                }
            };
        }
        if let Some(a) = &d.consolidate_after {
            dis.consolidate_after = duration(&dctx.field("consolidateAfter"), a)?;
        }
        if let Some(budgets) = d.budgets {
            dis.budgets = Vec::new();
            for (i, b) in budgets.into_iter().enumerate() {
                let bctx = dctx.field("budgets").index(i);
                let nctx = bctx.field("nodes");
                let nodes = if let Some(p) = b.nodes.0.strip_suffix('%') {
                    BudgetNodes::Percent(
                        p.parse()
                            .ok()
                            .filter(|p| *p <= 100)
                            .ok_or_else(|| nctx.error(Some(&b.nodes.0), "invalid percentage"))?,
                    )
                } else {
                    BudgetNodes::Count(b.nodes.0.parse().map_err(|_| {
                        nctx.error(Some(&b.nodes.0), "must be a count or a percentage")
                    })?)
                };
                let dur = match &b.duration {
                    Some(s) => duration(&bctx.field("duration"), s)?,
                    None => None,
                };
                if b.schedule.is_some() != dur.is_some() {
                    return Err(bctx.error(None, "schedule and duration must be set together"));
                }
                if let Some(s) = &b.schedule {
                    nodepack_model::cron::Cron::parse(s)
                        .map_err(|e| bctx.field("schedule").error(Some(s), e.to_string()))?;
                }
                for (j, r) in b.reasons.iter().enumerate() {
                    if !matches!(r.as_str(), "Empty" | "Drifted" | "Underutilized") {
                        return Err(bctx
                            .field("reasons")
                            .index(j)
                            .error(Some(r), "must be Empty, Drifted or Underutilized"));
                    }
                }
                let mut budget = Budget::new(nodes);
                budget.schedule = b.schedule;
                budget.duration = dur;
                budget.reasons = b.reasons;
                dis.budgets.push(budget);
            }
        }
        pool.disruption = dis;
    }
    let tctx = sctx.field("template");
    if let Some(m) = spec.template.metadata {
        pool.labels = m.labels;
        let _ = m.annotations;
    }
    let tsctx = tctx.field("spec");
    let mut reqs = Requirements::new();
    for (i, r) in spec.template.spec.requirements.iter().enumerate() {
        let c = tsctx.field("requirements").index(i);
        // Karpenter's NodePool validation: keys in its reserved domains must be ones it
        // knows, and a key with known values needs one of them (IsRestrictedLabel,
        // HasKnownValues in kubernetes-sigs/karpenter pkg/apis/v1/labels.go).
        if let Some(why) = labels::restricted_requirement_key(&r.key) {
            return Err(c.field("key").error(Some(&r.key), why));
        }
        if let Some(known) = known_values(&r.key) {
            if r.operator == "In" && !r.values.iter().any(|v| known.contains(&v.0.as_str())) {
                let vals: Vec<&str> = r.values.iter().map(|v| v.0.as_str()).collect();
                return Err(c.field("values").error(
                    Some(&format!("[{}]", vals.join(", "))),
                    format!(
                        "no known value of {} (expected one of {})",
                        r.key,
                        known.join(", ")
                    ),
                ));
            }
        }
        if !labels::KARPENTER_WELL_KNOWN.contains(&r.key.as_str()) {
            if let Some(k) = labels::nearest_known_key(&r.key) {
                warnings.push(c.field("key").warning(format!(
                    "{} is not a well-known label: it is treated as a custom label of the pool's nodes; did you mean {k}?",
                    r.key
                )));
            }
        }
        let op: Operator = r
            .operator
            .parse()
            .map_err(|m: String| c.field("operator").error(Some(&r.operator), m))?;
        let values: Vec<String> = r.values.iter().map(|v| v.0.clone()).collect();
        let vs = ValueSet::from_operator(op, &values).map_err(|m| {
            c.field("values")
                .error(Some(&format!("{values:?}")), m.to_string())
        })?;
        reqs.add(&r.key, vs);
        if let Some(m) = r.min_values {
            reqs.min_values.insert(r.key.clone(), m);
        }
    }
    if let Some(k) = reqs.unsatisfiable_key() {
        return Err(tsctx
            .field("requirements")
            .error(Some(k), "the requirements on this key allow no value"));
    }
    pool.requirements = reqs;
    pool.taints = taints(&tsctx.field("taints"), &spec.template.spec.taints)?;
    pool.startup_taints = taints(
        &tsctx.field("startupTaints"),
        &spec.template.spec.startup_taints,
    )?;
    if let Some(e) = &spec.template.spec.expire_after {
        pool.expire_after = duration(&tsctx.field("expireAfter"), e)?;
    }
    Ok((pool, spec.template.spec.node_class_ref.map(|r| r.name)))
}

/// The values Karpenter knows for a key (`WellKnownValuesForRequirements`), if it has
/// such a list: a requirement `In` none of them can never launch a node.
fn known_values(key: &str) -> Option<&'static [&'static str]> {
    match key {
        labels::CAPACITY_TYPE => Some(&["on-demand", "spot", "reserved"]),
        "karpenter.k8s.aws/instance-tenancy" => Some(&["default", "dedicated"]),
        _ => None,
    }
}

/// Where a document is, for messages: `FILE (document N)`, counted as errors count.
fn place(ctx: &Ctx) -> String {
    match ctx.document {
        Some(d) => format!("{} (document {d})", ctx.file),
        None => ctx.file.clone(),
    }
}

/// Read NodePools (and the EC2NodeClasses they reference) from one file's text.
/// Other kinds are reported as warnings; a NodePool or EC2NodeClass name given twice is
/// an error naming both places.
pub fn read_nodepools(
    file: &str,
    text: &str,
) -> Result<(Vec<NodePool>, Vec<Warning>), FormatError> {
    let mut pools: Vec<(NodePool, Option<String>, Ctx)> = Vec::new();
    let mut classes: BTreeMap<String, KubeletConfig> = BTreeMap::new();
    let mut warnings = Vec::new();
    for doc in load_documents(file, text)? {
        let ctx = &doc.ctx;
        match doc.value.get("kind").and_then(Value::as_str) {
            Some("NodePool") => {
                let (d, w): (Doc<NodePoolSpec>, _) = typed(ctx, &doc.value)?;
                warnings.extend(w);
                let name = d
                    .metadata
                    .name
                    .ok_or_else(|| ctx.field("metadata.name").error(None, "missing name"))?;
                if let Some((_, _, first)) = pools.iter().find(|(p, _, _)| p.name == name) {
                    return Err(ctx.field("metadata.name").error(
                        Some(&name),
                        format!(
                            "NodePool {name} is defined twice (first in {}); names are identities",
                            place(first)
                        ),
                    ));
                }
                let (pool, class) = nodepool(ctx, name, d.spec, &mut warnings)?;
                pools.push((pool, class, ctx.clone()));
            }
            Some("EC2NodeClass") => {
                let (d, w): (Doc<NodeClassSpec>, _) = typed(ctx, &doc.value)?;
                warnings.extend(w);
                let name = d
                    .metadata
                    .name
                    .ok_or_else(|| ctx.field("metadata.name").error(None, "missing name"))?;
                let k = match &d.spec.kubelet {
                    Some(k) => kubelet(&ctx.field("spec.kubelet"), k)?,
                    None => KubeletConfig::default(),
                };
                if classes.contains_key(&name) {
                    return Err(ctx.field("metadata.name").error(
                        Some(&name),
                        format!("EC2NodeClass {name} is defined twice in {}", ctx.file),
                    ));
                }
                classes.insert(name, k);
            }
            Some(other) => warnings.push(ctx.field("kind").warning(format!(
                "kind {other} is neither NodePool nor EC2NodeClass: ignored"
            ))),
            None => return Err(ctx.field("kind").error(None, "missing kind")),
        }
    }
    let mut out = Vec::new();
    for (mut pool, class, ctx) in pools {
        if let Some(c) = class {
            match classes.get(&c) {
                Some(k) => pool.kubelet = k.clone(),
                None if classes.is_empty() => {}
                None => warnings.push(ctx.field("spec.template.spec.nodeClassRef.name").warning(
                    format!("EC2NodeClass {c} is not in the file: default kubelet settings used"),
                )),
            }
        }
        out.push(pool);
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::nodepool::BudgetNodes;

    const POOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  weight: 10
  limits: {cpu: 1000, memory: 1000Gi, nvidia.com/gpu: 8}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 1m
    budgets:
    - nodes: "10%"
    - {nodes: "0", schedule: "0 9 * * mon-fri", duration: 8h, reasons: [Underutilized]}
  template:
    metadata: {labels: {team: a}}
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      expireAfter: 720h
      requirements:
      - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}
      - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r], minValues: 2}
      - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: ["2"]}
      taints: [{key: team, value: a, effect: NoSchedule}]
      startupTaints: [{key: node.cilium.io/agent-not-ready, effect: NoExecute}]
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  role: KarpenterNodeRole
  kubelet:
    maxPods: 110
    kubeReserved: {cpu: 200m}
    evictionHard: {memory.available: 5%}
"#;

    /// Regression: two NodePools of one name ended as an internal failure (an invalid
    /// plan); names are identities, refused at the edge naming both places.
    #[test]
    fn a_nodepool_name_twice_is_refused_naming_both_places() {
        let twice = format!("{POOL}\n---\n{POOL}");
        let e = read_nodepools("p.yaml", &twice).unwrap_err();
        assert_eq!(e.path, "metadata.name");
        // POOL is a NodePool and its EC2NodeClass: the second NodePool is document 2.
        assert_eq!(e.document, Some(2));
        assert!(
            e.message.contains("defined twice") && e.message.contains("p.yaml (document 0)"),
            "{e}"
        );
    }

    #[test]
    fn nodepool_with_nodeclass() {
        let (pools, warnings) = read_nodepools("pool.yaml", POOL).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let p = &pools[0];
        assert_eq!(p.weight, 10);
        assert_eq!(p.limits.cpu, Some(Millicores(1_000_000)));
        assert_eq!(p.limits.other["nvidia.com/gpu"], 8);
        assert_eq!(p.disruption.consolidate_after, Some(Millis::from_mins(1)));
        assert_eq!(p.disruption.budgets[0].nodes, BudgetNodes::Percent(10));
        assert_eq!(
            p.disruption.budgets[1].duration,
            Some(Millis::from_mins(480))
        );
        assert_eq!(p.expire_after, Some(Millis::from_mins(720 * 60)));
        assert_eq!(
            p.requirements.min_values["karpenter.k8s.aws/instance-category"],
            2
        );
        assert_eq!(p.taints.len(), 1);
        assert_eq!(p.startup_taints[0].effect, Effect::NoExecute);
        assert_eq!(p.kubelet.max_pods, Some(110));
        assert_eq!(
            p.kubelet.kube_reserved.as_ref().unwrap().cpu,
            Millicores(200)
        );
        assert_eq!(
            p.kubelet.eviction_hard["memory.available"],
            Threshold::BasisPoints(500)
        );
        assert_eq!(p.labels["team"], "a");
    }

    #[test]
    fn nodepool_errors_name_field_and_value() {
        let e = read_nodepools("p.yaml", &POOL.replace("operator: Gt", "operator: Greater"))
            .unwrap_err();
        assert_eq!(e.path, "spec.template.spec.requirements[2].operator");
        assert_eq!(e.value.as_deref(), Some("\"Greater\""));
        let e = read_nodepools(
            "p.yaml",
            &POOL.replace("consolidateAfter: 1m", "consolidateAfter: 1y"),
        )
        .unwrap_err();
        assert_eq!(e.path, "spec.disruption.consolidateAfter");
        let e =
            read_nodepools("p.yaml", &POOL.replace("memory: 1000Gi", "memory: lots")).unwrap_err();
        assert_eq!(e.path, "spec.limits.memory");
        assert_eq!(e.value.as_deref(), Some("\"lots\""));
        let e = read_nodepools("p.yaml", &POOL.replace("weight: 10", "weight: heavy")).unwrap_err();
        assert_eq!(e.path, "spec.weight");
        let e = read_nodepools(
            "p.yaml",
            &POOL.replace("effect: NoSchedule", "effect: Never"),
        )
        .unwrap_err();
        assert_eq!(e.path, "spec.template.spec.taints[0].effect");
        let e = read_nodepools("p.yaml", &POOL.replace("0 9 * * mon-fri", "0 9 * * funday"))
            .unwrap_err();
        assert_eq!(e.path, "spec.disruption.budgets[1].schedule");
        assert_eq!(e.value.as_deref(), Some("\"0 9 * * funday\""));
        assert!(e.message.contains("day-of-week"), "{}", e.message);
    }

    fn one_requirement(key: &str, values: &str) -> String {
        format!(
            "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {{name: p}}\nspec:\n  template:\n    spec:\n      requirements:\n      - {{key: {key}, operator: In, values: [{values}]}}\n"
        )
    }

    /// Karpenter's NodePool validation (kubernetes-sigs/karpenter pkg/apis/v1/labels.go,
    /// `IsRestrictedLabel` and `HasKnownValues`): a key in its reserved domains that it
    /// does not know, and a capacity type with no known value, are refused. Regression
    /// (issue 22 item 13): both were accepted and every pod then read "no instance type
    /// of the catalog is allowed by its requirements".
    #[test]
    fn restricted_keys_and_unknown_capacity_types_are_refused() {
        let e = read_nodepools(
            "p.yaml",
            &one_requirement("karpenter.k8s.aws/instance-famly", "m5"),
        )
        .unwrap_err();
        assert_eq!(e.path, "spec.template.spec.requirements[0].key");
        assert!(
            e.message
                .contains("did you mean karpenter.k8s.aws/instance-family?"),
            "{e}"
        );
        let e = read_nodepools(
            "p.yaml",
            &one_requirement("karpenter.sh/capacity-type", "free"),
        )
        .unwrap_err();
        assert_eq!(e.path, "spec.template.spec.requirements[0].values");
        assert!(e.message.contains("on-demand, spot, reserved"), "{e}");
        assert!(read_nodepools(
            "p.yaml",
            &one_requirement("karpenter.sh/capacity-type", "free, spot")
        )
        .is_ok());
        let (_, w) =
            read_nodepools("p.yaml", &one_requirement("kubernetes.io/archh", "amd64")).unwrap();
        assert!(
            w.iter()
                .any(|w| w.to_string().contains("did you mean kubernetes.io/arch?")),
            "{w:?}"
        );
        let (_, w) = read_nodepools("p.yaml", &one_requirement("example.com/team", "a")).unwrap();
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn unknown_nodepool_fields_are_warned() {
        let (_, w) = read_nodepools(
            "p.yaml",
            &POOL.replace("weight: 10", "weight: 10\n  wieght: 3"),
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].path, "spec.wieght");
    }

    #[test]
    fn durations() {
        let c = Ctx::file("f");
        assert_eq!(duration(&c, "1h30m").unwrap(), Some(Millis::from_mins(90)));
        assert_eq!(duration(&c, "500ms").unwrap(), Some(Millis(500)));
        assert_eq!(duration(&c, "Never").unwrap(), None);
        assert!(duration(&c, "10").is_err());
        assert!(duration(&c, "").is_err());
    }
}

/// Parse a requirement written on one line, `<key> <operator> [<v1>,<v2>,...]`, as the
/// CLI's `--requirements` takes it (e.g. `karpenter.k8s.aws/instance-family In m5,c5`).
pub fn requirement_expr(ctx: &Ctx, s: &str) -> Result<Requirements, FormatError> {
    const FORM: &str = "expected '<key> <operator> <v1>,<v2>,...' (the list may be in brackets), e.g. 'kubernetes.io/arch In arm64' or 'kubernetes.io/arch NotIn [amd64,arm64]'";
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (key, op, values) = match parts.as_slice() {
        [k, o] => (*k, *o, Vec::new()),
        [k, o, v @ ..] => {
            let list = v.join(" ");
            // Brackets may enclose the whole list, as in a YAML flow sequence; a bracket
            // anywhere else is not part of a label value.
            let inner = list
                .strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .unwrap_or(&list);
            if inner.contains(['[', ']']) {
                return Err(ctx.error(Some(s), FORM));
            }
            (
                *k,
                *o,
                inner
                    .split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect(),
            )
        }
        _ => return Err(ctx.error(Some(s), FORM)),
    };
    let op: Operator = op.parse().map_err(|m: String| ctx.error(Some(s), m))?;
    let vs = ValueSet::from_operator(op, &values).map_err(|m| ctx.error(Some(s), m.to_string()))?;
    let mut r = Requirements::new();
    r.add(key, vs);
    Ok(r)
}

#[cfg(test)]
mod expr_tests {
    use super::*;

    #[test]
    fn requirement_expressions() {
        let c = Ctx::file("--requirements");
        let r = requirement_expr(&c, "karpenter.k8s.aws/instance-family In m5,c5").unwrap();
        assert_eq!(
            r.get("karpenter.k8s.aws/instance-family"),
            ValueSet::in_values(["c5", "m5"])
        );
        assert!(requirement_expr(&c, "a Exists").is_ok());
        // Regression: the usage line's bracket syntax was read as values "[m5" and "c5]",
        // so 'NotIn [amd64,arm64]' matched every type and 'In [m5]' none.
        for e in [
            "karpenter.k8s.aws/instance-family In [m5,c5]",
            "karpenter.k8s.aws/instance-family In [m5, c5]",
        ] {
            assert_eq!(requirement_expr(&c, e).unwrap(), r, "{e}");
        }
        assert!(requirement_expr(&c, "a In [x").is_err());
        assert!(requirement_expr(&c, "a In x]").is_err());
        assert!(requirement_expr(&c, "a Gt x").is_err());
        assert!(requirement_expr(&c, "a").is_err());
        assert!(requirement_expr(&c, "a Like b")
            .unwrap_err()
            .to_string()
            .contains("Like"));
    }
}
