//! Kubernetes manifests: Pod, Deployment, ReplicaSet, StatefulSet, Job, DaemonSet and
//! Node objects, single or in `List`s, as YAML or JSON (so `kubectl get pods -A -o json`
//! works), converted to the model through k8s-openapi types.

use crate::docs::{for_each_document, typed, Document};
use crate::error::{Ctx, FormatError, Warning};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::policy::v1::PodDisruptionBudget as PdbObject;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as KQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use nodepack_model::pod::{
    effective_requests, ContainerKind, Owner, PodAffinityTerm, TopologySpread, Weighted,
    WhenUnsatisfiable, DO_NOT_DISRUPT, POD_DELETION_COST,
};
use nodepack_model::taints::TolerationOperator;
use nodepack_model::{
    labels, CapacityType, Effect, IntOrPercent, Millis, Node, NodeState, Operator, Pod,
    PodDisruptionBudget, PodId, Requirements, Resources, Taint, Toleration, ValueSet,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything read from workload manifests.
#[derive(Clone, Debug, Default)]
pub struct Workload {
    /// Pods waiting for a node (no `spec.nodeName`), in input order.
    pub pending: Vec<Pod>,
    /// Pods already bound to a node (`spec.nodeName` set), with the node name.
    pub bound: Vec<(Pod, String)>,
    /// DaemonSet pod templates: their requests are per-node overhead.
    pub daemonsets: Vec<Pod>,
    /// Nodes (`kind: Node`).
    pub nodes: Vec<Node>,
    /// Pod disruption budgets (`kind: PodDisruptionBudget`).
    pub pdbs: Vec<PodDisruptionBudget>,
    /// What was read but not used.
    pub warnings: Vec<Warning>,
}

impl Workload {
    /// Append another workload (e.g. from a second file).
    pub fn extend(&mut self, o: Workload) {
        self.pending.extend(o.pending);
        self.bound.extend(o.bound);
        self.daemonsets.extend(o.daemonsets);
        self.nodes.extend(o.nodes);
        self.pdbs.extend(o.pdbs);
        self.warnings.extend(o.warnings);
    }
}

/// Read workload manifests from one file's text.
pub fn read_workload(file: &str, text: &str) -> Result<Workload, FormatError> {
    let mut w = Workload::default();
    for_each_document(file, text, |doc| read_document(&doc, &mut w))?;
    Ok(w)
}

pub(crate) fn read_document(doc: &Document, w: &mut Workload) -> Result<(), FormatError> {
    let ctx = &doc.ctx;
    check_names(ctx, &doc.value)?;
    let kind = doc.value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    match kind {
        "Pod" => {
            let (p, warn): (core::Pod, _) = typed(ctx, &doc.value)?;
            w.warnings.extend(warn);
            let phase = p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
            let meta = &p.metadata;
            let spec = p
                .spec
                .as_ref()
                .ok_or_else(|| ctx.field("spec").error(None, "a Pod needs a spec"))?;
            let name = meta_name(ctx, meta)?;
            let ns = meta.namespace.clone().unwrap_or_else(|| "default".into());
            if phase == "Succeeded" || phase == "Failed" {
                w.warnings.push(ctx.warning(format!(
                    "pod {ns}/{name} is {phase}: it holds no resources and is not scheduled"
                )));
                return Ok(());
            }
            let owner = meta.owner_references.as_ref().and_then(|o| {
                o.iter()
                    .find(|r| r.controller == Some(true))
                    .or(o.first())
                    .map(|r| {
                        Arc::new(Owner {
                            kind: r.kind.clone(),
                            name: r.name.clone(),
                        })
                    })
            });
            let mut pod = convert_pod(&ctx.field("spec"), &ns, &name, meta, spec, created(meta))?;
            pod.owner = owner.clone();
            if owner.as_ref().is_some_and(|o| o.kind == "DaemonSet") {
                // A DaemonSet's pod is per-node overhead, not a workload to place.
                w.warnings.push(ctx.warning(format!(
                    "pod {ns}/{name} belongs to DaemonSet {}: counted as daemonset overhead only once per DaemonSet",
                    owner.as_ref().map(|o| o.name.as_str()).unwrap_or("")
                )));
                if !w.daemonsets.iter().any(|d| d.owner == owner) {
                    w.daemonsets.push(pod);
                }
                return Ok(());
            }
            match spec.node_name.as_deref().filter(|n| !n.is_empty()) {
                Some(n) => w.bound.push((pod, n.to_string())),
                None => w.pending.push(pod),
            }
        }
        "Deployment" => {
            let (d, warn): (Deployment, _) = typed(ctx, &doc.value)?;
            w.warnings.extend(warn);
            let spec = d.spec.as_ref().ok_or_else(|| ctx.field("spec").error(None, "missing spec"))?;
            let replicas = count(&ctx.field("spec.replicas"), spec.replicas.unwrap_or(1))?;
            expand(ctx, &d.metadata, "Deployment", &spec.template, replicas, w)?;
        }
        "ReplicaSet" => {
            let (d, warn): (ReplicaSet, _) = typed(ctx, &doc.value)?;
            w.warnings.extend(warn);
            let spec = d.spec.as_ref().ok_or_else(|| ctx.field("spec").error(None, "missing spec"))?;
            let replicas = count(&ctx.field("spec.replicas"), spec.replicas.unwrap_or(1))?;
            let template = spec
                .template
                .as_ref()
                .ok_or_else(|| ctx.field("spec.template").error(None, "missing pod template"))?;
            expand(ctx, &d.metadata, "ReplicaSet", template, replicas, w)?;
        }
        "StatefulSet" => {
            let (d, warn): (StatefulSet, _) = typed(ctx, &doc.value)?;
            w.warnings.extend(warn);
            let spec = d.spec.as_ref().ok_or_else(|| ctx.field("spec").error(None, "missing spec"))?;
            let replicas = count(&ctx.field("spec.replicas"), spec.replicas.unwrap_or(1))?;
            expand(ctx, &d.metadata, "StatefulSet", &spec.template, replicas, w)?;
        }
        "Job" => {
            let (d, warn): (Job, _) = typed(ctx, &doc.value)?;
            w.warnings.extend(warn);
            let spec = d.spec.as_ref().ok_or_else(|| ctx.field("spec").error(None, "missing spec"))?;
            // A Job runs `parallelism` pods at once, never more than `completions`.
            let par = count(&ctx.field("spec.parallelism"), spec.parallelism.unwrap_or(1))?;
            let n = match spec.completions {
                Some(c) => count(&ctx.field("spec.completions"), c)?.min(par),
                None => par,
            };
            expand(ctx, &d.metadata, "Job", &spec.template, n, w)?;
        }
        "DaemonSet" => {
            let (d, warn): (DaemonSet, _) = typed(ctx, &doc.value)?;
            w.warnings.extend(warn);
            let spec = d.spec.as_ref().ok_or_else(|| ctx.field("spec").error(None, "missing spec"))?;
            let name = meta_name(ctx, &d.metadata)?;
            let ns = d.metadata.namespace.clone().unwrap_or_else(|| "default".into());
            let tctx = ctx.field("spec.template");
            let tspec = spec
                .template
                .spec
                .as_ref()
                .ok_or_else(|| tctx.field("spec").error(None, "missing pod spec"))?;
            let meta = spec.template.metadata.clone().unwrap_or_default();
            let mut pod = convert_pod(&tctx.field("spec"), &ns, &name, &meta, tspec, created(&d.metadata))?;
            pod.owner = Some(Arc::new(Owner {
                kind: "DaemonSet".into(),
                name: name.clone(),
            }));
            w.daemonsets.push(pod);
        }
        "Node" => {
            let (n, warn): (core::Node, _) = typed(ctx, &doc.value)?;
            w.warnings.extend(warn);
            w.nodes.push(convert_node(ctx, &n)?);
        }
        "PodDisruptionBudget" => {
            let (b, warn): (PdbObject, _) = typed(ctx, &doc.value)?;
            w.warnings.extend(warn);
            w.pdbs.push(convert_pdb(ctx, &b)?);
        }
        "" => return Err(ctx.field("kind").error(None, "missing kind")),
        other => w.warnings.push(ctx.field("kind").warning(format!(
            "kind {other} is not a workload (Pod, Deployment, ReplicaSet, StatefulSet, Job, DaemonSet, Node, PodDisruptionBudget): ignored"
        ))),
    }
    Ok(())
}

/// Names and labels as the API server validates them: `metadata.name` a DNS-1123
/// subdomain, `metadata.namespace` a DNS-1123 label, label keys and values (of the
/// object, its pod template and node selectors) in label syntax and lengths.
fn check_names(ctx: &Ctx, v: &serde_json::Value) -> Result<(), FormatError> {
    use crate::names;
    let s = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str);
    if let Some(n) = s("/metadata/name") {
        names::subdomain(n).map_err(|m| ctx.field("metadata.name").error(Some(n), m))?;
    }
    if let Some(n) = s("/metadata/namespace") {
        names::label_name(n).map_err(|m| ctx.field("metadata.namespace").error(Some(n), m))?;
    }
    for (path, field) in [
        ("/metadata/labels", "metadata.labels"),
        (
            "/spec/template/metadata/labels",
            "spec.template.metadata.labels",
        ),
        ("/spec/nodeSelector", "spec.nodeSelector"),
        (
            "/spec/template/spec/nodeSelector",
            "spec.template.spec.nodeSelector",
        ),
    ] {
        let Some(map) = v.pointer(path).and_then(serde_json::Value::as_object) else {
            continue;
        };
        for (k, val) in map {
            let kctx = ctx.field(field).field(k);
            names::label_key(k).map_err(|m| kctx.error(Some(k), m))?;
            if let Some(val) = val.as_str() {
                names::label_value(val).map_err(|m| kctx.error(Some(val), m))?;
            }
        }
    }
    Ok(())
}

fn count(ctx: &Ctx, n: i32) -> Result<usize, FormatError> {
    usize::try_from(n).map_err(|_| ctx.error(Some(&n.to_string()), "must not be negative"))
}

fn meta_name(ctx: &Ctx, meta: &ObjectMeta) -> Result<String, FormatError> {
    meta.name
        .clone()
        .or_else(|| meta.generate_name.clone())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ctx.field("metadata.name").error(None, "missing name"))
}

fn created(meta: &ObjectMeta) -> Option<Millis> {
    meta.creation_timestamp
        .as_ref()
        .map(|t| Millis(t.0.as_millisecond().max(0) as u64))
}

fn expand(
    ctx: &Ctx,
    meta: &ObjectMeta,
    kind: &str,
    template: &core::PodTemplateSpec,
    replicas: usize,
    w: &mut Workload,
) -> Result<(), FormatError> {
    let name = meta_name(ctx, meta)?;
    let ns = meta.namespace.clone().unwrap_or_else(|| "default".into());
    let tctx = ctx.field("spec.template");
    let spec = template
        .spec
        .as_ref()
        .ok_or_else(|| tctx.field("spec").error(None, "missing pod spec"))?;
    let tmeta = template.metadata.clone().unwrap_or_default();
    let mut proto = convert_pod(&tctx.field("spec"), &ns, &name, &tmeta, spec, created(meta))?;
    proto.owner = Some(Arc::new(Owner {
        kind: kind.into(),
        name: name.clone(),
    }));
    for i in 0..replicas {
        let mut p = proto.clone();
        p.id = PodId::new(&ns, &format!("{name}-{i}"));
        w.pending.push(p);
    }
    Ok(())
}

/// Parse a resource list (`requests`, `allocatable`, ...) at `ctx`.
pub fn resource_list(
    ctx: &Ctx,
    list: &BTreeMap<String, KQuantity>,
) -> Result<Resources, FormatError> {
    crate::quantity::resources(ctx, list.iter().map(|(k, q)| (k.as_str(), q.0.as_str())))
}

fn container_requests(ctx: &Ctx, c: &core::Container) -> Result<Resources, FormatError> {
    let rctx = ctx.field("resources");
    let res = c.resources.as_ref();
    let requests = res.and_then(|r| r.requests.clone()).unwrap_or_default();
    let limits = res.and_then(|r| r.limits.clone()).unwrap_or_default();
    // Kubernetes defaults a missing request to the limit.
    let mut req = resource_list(&rctx.field("requests"), &requests)?;
    let lim = resource_list(&rctx.field("limits"), &limits)?;
    if !requests.contains_key("cpu") {
        req.cpu = lim.cpu;
    }
    if !requests.contains_key("memory") {
        req.memory = lim.memory;
    }
    if !requests.contains_key("ephemeral-storage") {
        req.ephemeral_storage = lim.ephemeral_storage;
    }
    for (k, v) in lim.extended {
        req.extended.entry(k).or_insert(v);
    }
    Ok(req)
}

/// Convert a node selector requirement list (`matchExpressions` of a node selector term).
fn node_selector_reqs(
    ctx: &Ctx,
    exprs: &[core::NodeSelectorRequirement],
) -> Result<Requirements, FormatError> {
    let mut r = Requirements::new();
    for (i, e) in exprs.iter().enumerate() {
        let c = ctx.index(i);
        let op: Operator = e
            .operator
            .parse()
            .map_err(|m: String| c.field("operator").error(Some(&e.operator), m))?;
        let values = e.values.clone().unwrap_or_default();
        let vs = ValueSet::from_operator(op, &values).map_err(|m| {
            c.field("values")
                .error(Some(&format!("{values:?}")), m.to_string())
        })?;
        r.add(&e.key, vs);
    }
    Ok(r)
}

fn node_selector_term(ctx: &Ctx, t: &core::NodeSelectorTerm) -> Result<Requirements, FormatError> {
    let mut r = node_selector_reqs(
        &ctx.field("matchExpressions"),
        t.match_expressions.as_deref().unwrap_or(&[]),
    )?;
    // matchFields supports only metadata.name, which maps to the hostname.
    let f = node_selector_reqs(
        &ctx.field("matchFields"),
        t.match_fields.as_deref().unwrap_or(&[]),
    )?;
    for (k, v) in f.keys {
        let key = if k == "metadata.name" {
            labels::HOSTNAME.to_string()
        } else {
            k
        };
        r.add(&key, v);
    }
    Ok(r)
}

/// Convert a label selector (`matchLabels` and `matchExpressions`).
pub fn label_selector(ctx: &Ctx, s: &LabelSelector) -> Result<Requirements, FormatError> {
    let mut r = Requirements::from_labels(&s.match_labels.clone().unwrap_or_default());
    for (i, e) in s.match_expressions.iter().flatten().enumerate() {
        let c = ctx.field("matchExpressions").index(i);
        let op: Operator = e
            .operator
            .parse()
            .map_err(|m: String| c.field("operator").error(Some(&e.operator), m))?;
        if !matches!(
            op,
            Operator::In | Operator::NotIn | Operator::Exists | Operator::DoesNotExist
        ) {
            return Err(c.field("operator").error(
                Some(&e.operator),
                "label selectors take In, NotIn, Exists or DoesNotExist",
            ));
        }
        let values = e.values.clone().unwrap_or_default();
        let vs = ValueSet::from_operator(op, &values).map_err(|m| {
            c.field("values")
                .error(Some(&format!("{values:?}")), m.to_string())
        })?;
        r.add(&e.key, vs);
    }
    Ok(r)
}

/// Convert a `policy/v1` PodDisruptionBudget.
fn convert_pdb(ctx: &Ctx, b: &PdbObject) -> Result<PodDisruptionBudget, FormatError> {
    let name = meta_name(ctx, &b.metadata)?;
    let namespace = b
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let spec = b.spec.as_ref().ok_or_else(|| {
        ctx.field("spec")
            .error(None, "a PodDisruptionBudget needs a spec")
    })?;
    let sctx = ctx.field("spec");
    let amount = |field: &str, v: &Option<IntOrString>| -> Result<_, FormatError> {
        match v {
            None => Ok(None),
            Some(IntOrString::Int(n)) => u32::try_from(*n)
                .map(|n| Some(IntOrPercent::Count(n)))
                .map_err(|_| {
                    sctx.field(field)
                        .error(Some(&n.to_string()), "must not be negative")
                }),
            Some(IntOrString::String(s)) => IntOrPercent::parse(s).map(Some).ok_or_else(|| {
                sctx.field(field)
                    .error(Some(s), "expected a count or a percentage from 0% to 100%")
            }),
        }
    };
    let min_available = amount("minAvailable", &spec.min_available)?;
    let max_unavailable = amount("maxUnavailable", &spec.max_unavailable)?;
    if min_available.is_some() && max_unavailable.is_some() {
        return Err(sctx.error(None, "minAvailable and maxUnavailable cannot both be set"));
    }
    let selector = match &spec.selector {
        // policy/v1: an empty selector covers every pod of the namespace.
        Some(s) => label_selector(&sctx.field("selector"), s)?,
        // A missing selector covers no pods.
        None => Requirements::new()
            .with("nodepack.io/no-match", Operator::In, &["x"])
            .map_err(|e| sctx.error(None, e.to_string()))?,
    };
    let mut pdb = PodDisruptionBudget::new(&namespace, &name, selector);
    pdb.min_available = min_available;
    pdb.max_unavailable = max_unavailable;
    Ok(pdb)
}

fn affinity_term(ctx: &Ctx, t: &core::PodAffinityTerm) -> Result<PodAffinityTerm, FormatError> {
    let selector = match &t.label_selector {
        Some(s) => label_selector(&ctx.field("labelSelector"), s)?,
        // An absent selector matches no pods.
        None => Requirements::new()
            .with("nodepack.io/no-match", Operator::In, &["x"])
            .map_err(|e| ctx.error(None, e.to_string()))?,
    };
    let mut term = PodAffinityTerm::new(selector, &t.topology_key);
    term.namespaces = t.namespaces.clone().unwrap_or_default();
    Ok(term)
}

/// Parse a taint.
pub fn taint(ctx: &Ctx, t: &core::Taint) -> Result<Taint, FormatError> {
    Ok(Taint {
        key: t.key.clone(),
        value: t.value.clone().unwrap_or_default(),
        effect: t
            .effect
            .parse()
            .map_err(|m: String| ctx.field("effect").error(Some(&t.effect), m))?,
    })
}

fn toleration(ctx: &Ctx, t: &core::Toleration) -> Result<Toleration, FormatError> {
    let operator = match t.operator.as_deref() {
        None | Some("Equal") => TolerationOperator::Equal,
        Some("Exists") => TolerationOperator::Exists,
        Some(o) => {
            return Err(ctx
                .field("operator")
                .error(Some(o), "toleration operator must be Equal or Exists"))
        }
    };
    let effect = match t.effect.as_deref() {
        None | Some("") => None,
        Some(e) => Some(
            e.parse::<Effect>()
                .map_err(|m| ctx.field("effect").error(Some(e), m))?,
        ),
    };
    Ok(Toleration {
        key: t.key.clone().unwrap_or_default(),
        operator,
        value: t.value.clone().unwrap_or_default(),
        effect,
    })
}

/// Convert a pod spec with its metadata into a model pod. `ctx` points at the spec.
pub fn convert_pod(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
    meta: &ObjectMeta,
    spec: &core::PodSpec,
    created: Option<Millis>,
) -> Result<Pod, FormatError> {
    let mut containers = Vec::new();
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let kind = if c.restart_policy.as_deref() == Some("Always") {
            ContainerKind::Sidecar
        } else {
            ContainerKind::Init
        };
        containers.push((
            kind,
            container_requests(&ctx.field("initContainers").index(i), c)?,
        ));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        containers.push((
            ContainerKind::Regular,
            container_requests(&ctx.field("containers").index(i), c)?,
        ));
    }
    let overhead = resource_list(
        &ctx.field("overhead"),
        &spec.overhead.clone().unwrap_or_default(),
    )?;
    let mut pod = Pod::new(namespace, name, effective_requests(&containers, &overhead));
    pod.labels = meta.labels.clone().unwrap_or_default().into();
    let ann = meta.annotations.clone().unwrap_or_default();
    pod.do_not_disrupt = ann.get(DO_NOT_DISRUPT).is_some_and(|v| v == "true");
    if let Some(v) = ann.get(POD_DELETION_COST) {
        pod.deletion_cost = v.parse().map_err(|_| {
            ctx.field(&format!("metadata.annotations.{POD_DELETION_COST}"))
                .error(Some(v), "must be an integer")
        })?;
    }
    pod.node_selector = spec.node_selector.clone().unwrap_or_default().into();
    pod.priority = spec.priority.unwrap_or(0);
    pod.created = created.unwrap_or_default();
    for (i, t) in spec.tolerations.iter().flatten().enumerate() {
        pod.tolerations
            .push(toleration(&ctx.field("tolerations").index(i), t)?);
    }
    if let Some(aff) = &spec.affinity {
        let actx = ctx.field("affinity");
        if let Some(na) = &aff.node_affinity {
            let nctx = actx.field("nodeAffinity");
            if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
                let c =
                    nctx.field("requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms");
                // The API server rejects an empty list: it is not "no constraint".
                if req.node_selector_terms.is_empty() {
                    return Err(c.error(Some("[]"), "must have at least one term"));
                }
                for (i, t) in req.node_selector_terms.iter().enumerate() {
                    pod.node_affinity_required
                        .push(node_selector_term(&c.index(i), t)?);
                }
            }
            for (i, p) in na
                .preferred_during_scheduling_ignored_during_execution
                .iter()
                .flatten()
                .enumerate()
            {
                let c = nctx
                    .field("preferredDuringSchedulingIgnoredDuringExecution")
                    .index(i);
                pod.node_affinity_preferred.push(Weighted {
                    weight: p.weight,
                    term: node_selector_term(&c.field("preference"), &p.preference)?,
                });
            }
        }
        let terms = |c: &Ctx,
                     ts: Option<&Vec<core::PodAffinityTerm>>|
         -> Result<Vec<PodAffinityTerm>, FormatError> {
            ts.into_iter()
                .flatten()
                .enumerate()
                .map(|(i, t)| affinity_term(&c.index(i), t))
                .collect()
        };
        let weighted = |c: &Ctx,
                        ts: Option<&Vec<core::WeightedPodAffinityTerm>>|
         -> Result<Vec<Weighted<PodAffinityTerm>>, FormatError> {
            ts.into_iter()
                .flatten()
                .enumerate()
                .map(|(i, t)| {
                    Ok(Weighted {
                        weight: t.weight,
                        term: affinity_term(
                            &c.index(i).field("podAffinityTerm"),
                            &t.pod_affinity_term,
                        )?,
                    })
                })
                .collect()
        };
        if let Some(pa) = &aff.pod_affinity {
            let c = actx.field("podAffinity");
            pod.pod_affinity = terms(
                &c.field("requiredDuringSchedulingIgnoredDuringExecution"),
                pa.required_during_scheduling_ignored_during_execution
                    .as_ref(),
            )?;
            pod.pod_affinity_preferred = weighted(
                &c.field("preferredDuringSchedulingIgnoredDuringExecution"),
                pa.preferred_during_scheduling_ignored_during_execution
                    .as_ref(),
            )?;
        }
        if let Some(pa) = &aff.pod_anti_affinity {
            let c = actx.field("podAntiAffinity");
            pod.pod_anti_affinity = terms(
                &c.field("requiredDuringSchedulingIgnoredDuringExecution"),
                pa.required_during_scheduling_ignored_during_execution
                    .as_ref(),
            )?;
            pod.pod_anti_affinity_preferred = weighted(
                &c.field("preferredDuringSchedulingIgnoredDuringExecution"),
                pa.preferred_during_scheduling_ignored_during_execution
                    .as_ref(),
            )?;
        }
    }
    for (i, t) in spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .enumerate()
    {
        let c = ctx.field("topologySpreadConstraints").index(i);
        let when = match t.when_unsatisfiable.as_str() {
            "DoNotSchedule" => WhenUnsatisfiable::DoNotSchedule,
            "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
            o => {
                return Err(c
                    .field("whenUnsatisfiable")
                    .error(Some(o), "must be DoNotSchedule or ScheduleAnyway"))
            }
        };
        if t.max_skew < 1 {
            return Err(c
                .field("maxSkew")
                .error(Some(&t.max_skew.to_string()), "must be at least 1"));
        }
        let min_domains = match t.min_domains {
            Some(m) if m < 1 => {
                return Err(c
                    .field("minDomains")
                    .error(Some(&m.to_string()), "must be at least 1"))
            }
            m => m.map(|m| m as u32),
        };
        let selector = match &t.label_selector {
            Some(s) => label_selector(&c.field("labelSelector"), s)?,
            None => Requirements::from_labels(&BTreeMap::new()),
        };
        let mut spread = TopologySpread::new(t.max_skew as u32, &t.topology_key, when, selector);
        spread.min_domains = min_domains;
        pod.topology_spread.push(spread);
    }
    Ok(pod)
}

fn convert_node(ctx: &Ctx, n: &core::Node) -> Result<Node, FormatError> {
    let name = meta_name(ctx, &n.metadata)?;
    let labels = n.metadata.labels.clone().unwrap_or_default();
    let lctx = ctx.field("metadata.labels");
    let get = |k: &str| labels.get(k).cloned();
    let allocatable = n
        .status
        .as_ref()
        .and_then(|s| s.allocatable.clone())
        .ok_or_else(|| {
            ctx.field("status.allocatable")
                .error(None, "a Node needs status.allocatable")
        })?;
    let capacity_type = match get(labels::CAPACITY_TYPE) {
        Some(c) => c
            .parse::<CapacityType>()
            .map_err(|m| lctx.field(labels::CAPACITY_TYPE).error(Some(&c), m))?,
        None => CapacityType::OnDemand,
    };
    let mut taints = Vec::new();
    for (i, t) in n
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .enumerate()
    {
        taints.push(taint(&ctx.field("spec.taints").index(i), t)?);
    }
    let unschedulable = n
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let mut labels = labels.clone();
    labels
        .entry(labels::HOSTNAME.into())
        .or_insert_with(|| name.clone());
    let mut node = Node::new(
        &name,
        &get(labels::INSTANCE_TYPE).unwrap_or_default(),
        &get(labels::ZONE).unwrap_or_default(),
        capacity_type,
        nodepack_model::Money::ZERO,
        resource_list(&ctx.field("status.allocatable"), &allocatable)?,
    )
    .with_labels(labels)
    .with_taints(taints)
    .with_state(if unschedulable {
        NodeState::Cordoned
    } else {
        NodeState::Ready
    })
    .created_at(created(&n.metadata).unwrap_or_default());
    node.nodepool = get(labels::NODEPOOL);
    node.do_not_disrupt = n
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DO_NOT_DISRUPT))
        .is_some_and(|v| v == "true");
    Ok(node)
}

/// A Kubernetes Pod object (as JSON) for a model pod: name, namespace, labels, the
/// do-not-disrupt and deletion-cost annotations, controller owner, one container with the
/// pod's effective requests, node selector, tolerations and priority. Node and pod
/// affinity and topology spread are not written (the trace importers produce none).
pub fn pod_manifest(p: &Pod) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut requests = Map::new();
    requests.insert("cpu".into(), format!("{}m", p.requests.cpu.0).into());
    requests.insert("memory".into(), p.requests.memory.0.to_string().into());
    if p.requests.ephemeral_storage.0 > 0 {
        requests.insert(
            "ephemeral-storage".into(),
            p.requests.ephemeral_storage.0.to_string().into(),
        );
    }
    for (k, v) in &p.requests.extended {
        requests.insert(k.clone(), v.to_string().into());
    }
    let mut ann = Map::new();
    if p.do_not_disrupt {
        ann.insert(DO_NOT_DISRUPT.into(), "true".into());
    }
    if p.deletion_cost != 0 {
        ann.insert(POD_DELETION_COST.into(), p.deletion_cost.to_string().into());
    }
    let mut meta = json!({"name": p.id.name, "namespace": p.id.namespace});
    if !p.labels.is_empty() {
        meta["labels"] = json!(p.labels);
    }
    if !ann.is_empty() {
        meta["annotations"] = Value::Object(ann);
    }
    if let Some(o) = &p.owner {
        meta["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": o.kind, "name": o.name, "uid": "", "controller": true
        }]);
    }
    let mut resources = json!({"requests": requests});
    // Extended resources must also be limits.
    if !p.requests.extended.is_empty() {
        let limits: Map<String, Value> = p
            .requests
            .extended
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string().into()))
            .collect();
        resources["limits"] = Value::Object(limits);
    }
    let mut spec = json!({"containers": [{"name": "main", "resources": resources}]});
    if !p.node_selector.is_empty() {
        spec["nodeSelector"] = json!(p.node_selector);
    }
    if p.priority != 0 {
        spec["priority"] = p.priority.into();
    }
    if !p.tolerations.is_empty() {
        spec["tolerations"] = Value::Array(
            p.tolerations
                .iter()
                .map(|t| {
                    let mut o = json!({
                        "operator": match t.operator {
                            TolerationOperator::Exists => "Exists",
                            TolerationOperator::Equal => "Equal",
                        }
                    });
                    if !t.key.is_empty() {
                        o["key"] = t.key.clone().into();
                    }
                    if !t.value.is_empty() {
                        o["value"] = t.value.clone().into();
                    }
                    if let Some(e) = t.effect {
                        o["effect"] = format!("{e:?}").into();
                    }
                    o
                })
                .collect(),
        );
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Bytes, Millicores};

    /// Regression: names and label values were not validated (a NUL in a namespace,
    /// 100,000-character values), `nodeSelectorTerms: []` counted as no constraint, and a
    /// Job's `completions: -1` was reported as `spec.parallelism`. Each is refused as the
    /// API server would, naming the field.
    #[test]
    fn names_labels_and_counts_are_validated_as_the_api_server_does() {
        let pod = |meta: &str, spec_extra: &str| {
            format!("kind: Pod\nmetadata: {meta}\nspec:\n  containers: [{{name: c, resources: {{requests: {{cpu: 100m}}}}}}]\n{spec_extra}")
        };
        let long = "v".repeat(100_000);
        for (text, path) in [
            (pod("{name: p, namespace: \"a\\0b\"}", ""), "metadata.namespace"),
            (pod("{name: Bad_Name}", ""), "metadata.name"),
            (pod(&format!("{{name: p, labels: {{app: {long}}}}}"), ""), "metadata.labels.app"),
            (pod("{name: p, labels: {\"bad key\": x}}", ""), "metadata.labels.bad key"),
            (
                pod("{name: p}", "  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: []}}}\n"),
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
            ),
        ] {
            let e = crate::read_workload("w.yaml", &text).unwrap_err();
            assert_eq!(e.path, path, "{text}");
        }
        let job = "kind: Job\nmetadata: {name: j}\nspec:\n  completions: -1\n  template:\n    spec: {containers: [{name: c, resources: {requests: {cpu: 100m}}}]}\n";
        let e = crate::read_workload("j.yaml", job).unwrap_err();
        assert_eq!(e.path, "spec.completions");
        assert!(e.value.as_deref().is_some_and(|v| v.contains("-1")), "{e}");
    }

    const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {karpenter.sh/do-not-disrupt: "true"}
    spec:
      nodeSelector: {kubernetes.io/arch: arm64}
      tolerations: [{key: dedicated, operator: Equal, value: web, effect: NoSchedule}]
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: karpenter.k8s.aws/instance-cpu, operator: Gt, values: ["3"]}
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: web}}
            topologyKey: kubernetes.io/hostname
      initContainers:
      - {name: init, image: x, resources: {requests: {cpu: "2"}}}
      containers:
      - {name: a, image: x, resources: {requests: {cpu: 500m, memory: 1Gi}}}
      - {name: b, image: x, resources: {limits: {cpu: 250m, memory: 256Mi, nvidia.com/gpu: 1}}}
"#;

    #[test]
    fn deployment_expands_with_constraints() {
        let w = read_workload("d.yaml", DEPLOY).unwrap();
        assert_eq!(w.pending.len(), 3, "{:?}", w.warnings);
        let p = &w.pending[2];
        assert_eq!(p.id, PodId::new("shop", "web-2"));
        assert_eq!(p.requests.cpu, Millicores(2000));
        assert_eq!(p.requests.memory, Bytes::from_mib(1024 + 256));
        assert_eq!(p.requests.extended("nvidia.com/gpu"), 1);
        assert!(p.do_not_disrupt);
        assert_eq!(p.topology_spread.len(), 1);
        assert_eq!(p.pod_anti_affinity.len(), 1);
        assert_eq!(p.node_affinity_required.len(), 1);
        assert_eq!(p.tolerations.len(), 1);
        assert_eq!(p.owner.as_ref().unwrap().kind, "Deployment");
    }

    #[test]
    fn kubectl_list_json_with_bound_pods() {
        let json = r#"{"apiVersion":"v1","kind":"List","items":[
          {"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"n"},
           "spec":{"nodeName":"ip-1","containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]},
           "status":{"phase":"Running"}},
          {"apiVersion":"v1","kind":"Pod","metadata":{"name":"b","namespace":"n"},
           "spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":1.5}}}]},
           "status":{"phase":"Pending"}},
          {"apiVersion":"v1","kind":"Pod","metadata":{"name":"c","namespace":"n"},
           "spec":{"containers":[{"name":"c"}]}, "status":{"phase":"Succeeded"}}]}"#;
        let w = read_workload("pods.json", json).unwrap();
        assert_eq!(w.bound.len(), 1);
        assert_eq!(w.bound[0].1, "ip-1");
        assert_eq!(w.pending.len(), 1);
        assert_eq!(w.pending[0].requests.cpu, Millicores(1500));
        assert_eq!(w.warnings.len(), 1, "{:?}", w.warnings);
    }

    #[test]
    fn reads_disruption_budgets() {
        let text = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: shop}\nspec:\n  maxUnavailable: 25%\n  selector: {matchLabels: {app: web}}\n";
        let w = read_workload("b.yaml", text).unwrap();
        let b = &w.pdbs[0];
        assert_eq!((b.namespace.as_str(), b.name.as_str()), ("shop", "web"));
        assert_eq!(b.max_unavailable, Some(IntOrPercent::Percent(25)));
        let mut p = Pod::new("shop", "web-1", Resources::default());
        assert!(!b.covers(&p));
        p.labels.insert("app".into(), "web".into());
        assert!(b.covers(&p));
        // No selector: covers nothing.
        let w = read_workload(
            "b.yaml",
            "kind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {minAvailable: 1}\n",
        )
        .unwrap();
        assert!(!w.pdbs[0].covers(&p));
        let e = err("kind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {minAvailable: 120%, selector: {}}\n");
        assert_eq!(e.path, "spec.minAvailable");
        assert!(e.to_string().contains("120%"), "{e}");
        let e = err("kind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {minAvailable: 1, maxUnavailable: 1}\n");
        assert!(e.message.contains("both"), "{e}");
    }

    fn err(text: &str) -> FormatError {
        read_workload("bad.yaml", text).unwrap_err()
    }

    #[test]
    fn malformed_manifests_name_field_and_value() {
        let e = err("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {cpu: 12x}}\n");
        assert_eq!(e.path, "spec.containers[0].resources.requests.cpu");
        assert_eq!(e.value.as_deref(), Some("\"12x\""));
        assert_eq!(e.document, Some(0));
        let e = err("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: {name: c}\n");
        assert_eq!(e.path, "spec.containers");
        assert!(e.message.contains("invalid type"), "{e}");
        let e = err("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions: [{key: a, operator: Like, values: [b]}]\n");
        assert_eq!(
            e.path,
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator"
        );
        assert_eq!(e.value.as_deref(), Some("\"Like\""));
        let e = err("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c\n");
        assert!(e.message.contains("invalid YAML"), "{e}");
        let e = err("---\nkind: Pod\nmetadata: {name: ok}\nspec: {containers: [{name: c}]}\n---\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: -1, selector: {}, template: {spec: {containers: []}}}\n");
        assert_eq!(e.document, Some(1));
        assert_eq!(e.path, "spec.replicas");
        let e = err("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, resources: {requests: {memory: \"-1Gi\"}}}]\n");
        assert!(e.message.contains("negative"), "{e}");
        assert!(
            e.to_string()
                .contains("bad.yaml (document 0): spec.containers[0].resources.requests.memory"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_and_kinds_are_reported() {
        let w = read_workload(
            "w.yaml",
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, resourcez: {}}]\n---\nkind: Service\nmetadata: {name: s}\n",
        )
        .unwrap();
        let msgs: Vec<String> = w.warnings.iter().map(|w| w.to_string()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("spec.containers[0].resourcez")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("kind Service")), "{msgs:?}");
    }

    #[test]
    fn daemonsets_and_jobs() {
        let w = read_workload(
            "w.yaml",
            "kind: DaemonSet\nmetadata: {name: ds}\nspec:\n  selector: {}\n  template: {spec: {containers: [{name: c, resources: {requests: {cpu: 100m}}}]}}\n---\nkind: Job\nmetadata: {name: j}\nspec:\n  parallelism: 4\n  completions: 2\n  template: {spec: {restartPolicy: Never, containers: [{name: c}]}}\n",
        )
        .unwrap();
        assert_eq!(w.daemonsets.len(), 1);
        assert_eq!(w.daemonsets[0].requests.cpu, Millicores(100));
        assert_eq!(w.pending.len(), 2);
    }
}
