//! Workload generators: services whose replica count follows a constant, a daily cycle or
//! steps, and batch jobs arriving in bursts. Pure functions of the generator and a seed.

use crate::config::{Generator, JobGen, ServiceGen, TraceEvent, TraceKind};
use crate::rng::{Concern, Stream};
use nodepack_model::pod::{Owner, TopologySpread, WhenUnsatisfiable};
use nodepack_model::resources::NVIDIA_GPU;
use nodepack_model::taints::TolerationOperator;
use nodepack_model::{
    labels, Bytes, Effect, Millicores, Millis, Operator, Pod, PodDisruptionBudget, PodId,
    Requirements, Resources, Toleration,
};
use std::sync::Arc;

/// The template of a workload's pods: named after it, label `app: NAME`, owned by a
/// controller of kind `owner`.
fn base_pod(
    name: &str,
    owner: &str,
    cpu: Millicores,
    memory: Bytes,
    gpu: u64,
    capacity_type: Option<&str>,
    arch: Option<&str>,
) -> Pod {
    let mut r = Resources::new(cpu, memory);
    if gpu > 0 {
        r = r.with_extended(NVIDIA_GPU, gpu);
    }
    let mut p = Pod::new("default", name, r);
    p.labels.insert("app".into(), name.into());
    p.owner = Some(Arc::new(Owner {
        kind: owner.into(),
        name: name.into(),
    }));
    if let Some(ct) = capacity_type {
        p.node_selector
            .insert(labels::CAPACITY_TYPE.into(), ct.into());
    }
    if let Some(a) = arch {
        p.node_selector.insert(labels::ARCH.into(), a.into());
    }
    if gpu > 0 {
        // GPU node pools are usually tainted; GPU pods tolerate it.
        p.tolerations.push(Toleration {
            key: NVIDIA_GPU.into(),
            operator: TolerationOperator::Exists,
            value: String::new(),
            effect: Some(Effect::NoSchedule),
        });
    }
    p
}

/// A copy of `template` named `NAME-n`, created at `at` (label maps stay shared).
fn instance(template: &Pod, n: u64, at: Millis) -> Pod {
    let mut p = template.clone();
    p.id = PodId::new(&template.id.namespace, &format!("{}-{n}", template.id.name));
    p.created = at;
    p
}

/// The pod template of a service (named after it).
fn service_template(s: &ServiceGen) -> Pod {
    let mut p = base_pod(
        &s.name,
        "ReplicaSet",
        s.cpu,
        s.memory,
        s.gpu,
        s.capacity_type.as_deref(),
        s.arch.as_deref(),
    );
    p.priority = s.priority;
    if s.zone_spread {
        p.topology_spread.push(TopologySpread::new(
            1,
            labels::ZONE,
            WhenUnsatisfiable::DoNotSchedule,
            Requirements::new()
                .with("app", Operator::In, &[s.name.as_str()])
                .unwrap_or_default(),
        ));
    }
    p
}

/// The disruption budgets of the generated services (those with `max_unavailable`).
pub fn budgets(g: &Generator) -> Vec<PodDisruptionBudget> {
    g.services
        .iter()
        .filter_map(|s| {
            let mut pdb = PodDisruptionBudget::new(
                "default",
                &s.name,
                Requirements::new()
                    .with("app", Operator::In, &[s.name.as_str()])
                    .unwrap_or_default(),
            );
            pdb.max_unavailable = Some(s.max_unavailable?);
            Some(pdb)
        })
        .collect()
}

/// Replica count of a service at time `at` from the start.
pub fn replicas_at(s: &ServiceGen, at: Millis) -> u32 {
    if let Some(d) = &s.diurnal {
        let phase = 2.0 * std::f64::consts::PI * at.secs_f64() / d.period.secs_f64();
        let x = (1.0 - phase.cos()) / 2.0;
        return d.min + ((d.max.saturating_sub(d.min)) as f64 * x).round() as u32;
    }
    if !s.steps.is_empty() {
        return s
            .steps
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .map_or(0, |(_, n)| *n);
    }
    s.replicas
}

fn service_events(s: &ServiceGen, horizon_s: f64, out: &mut Vec<TraceEvent>) {
    // Change points: every step of a diurnal cycle, or the step times.
    let mut times: Vec<f64> = vec![0.0];
    if let Some(d) = &s.diurnal {
        let step = d.step.secs_f64().max(1.0);
        let mut t = step;
        while t < horizon_s {
            times.push(t);
            t += step;
        }
    } else {
        times.extend(
            s.steps
                .iter()
                .map(|(t, _)| t.secs_f64())
                .filter(|t| *t > 0.0),
        );
    }
    // Live replicas as a stack: scale-in removes the newest (ReplicaSet's default picks
    // the youngest pods first).
    let mut live: Vec<u64> = Vec::new();
    let mut next = 0u64;
    let template = service_template(s);
    for t in times {
        let at = Millis((t * 1000.0) as u64);
        let want = replicas_at(s, at) as usize;
        while live.len() < want {
            out.push(TraceEvent {
                at,
                kind: TraceKind::Arrive {
                    pod: Arc::new(instance(&template, next, at)),
                    run_for: None,
                },
            });
            live.push(next);
            next += 1;
        }
        while live.len() > want {
            let n = live.pop().unwrap_or_default();
            out.push(TraceEvent {
                at,
                kind: TraceKind::Delete(PodId::new("default", &format!("{}-{n}", s.name))),
            });
        }
    }
}

fn job_events(j: &JobGen, horizon_s: f64, rng: &mut Stream, out: &mut Vec<TraceEvent>) {
    let mut t = j.start.secs_f64();
    let mut n = 0u64;
    let every = j.every.secs_f64().max(1.0);
    let template = base_pod(
        &j.name,
        "Job",
        j.cpu,
        j.memory,
        j.gpu,
        j.capacity_type.as_deref(),
        j.arch.as_deref(),
    );
    while t < horizon_s {
        let at = Millis((t * 1000.0) as u64);
        for _ in 0..j.count {
            let p = instance(&template, n, at);
            let (lo, hi) = (j.run.0.secs_f64(), j.run.1.secs_f64());
            let run = rng.uniform(lo, hi.max(lo));
            out.push(TraceEvent {
                at,
                kind: TraceKind::Arrive {
                    pod: Arc::new(p),
                    run_for: Some(Millis((run * 1000.0) as u64)),
                },
            });
            n += 1;
        }
        t += every;
    }
}

/// Generate the trace of a generator over `horizon`, sorted by time.
pub fn generate(g: &Generator, horizon: Millis, seed: u64) -> Vec<TraceEvent> {
    let horizon_s = horizon.0 as f64 / 1000.0;
    let mut rng = Stream::new(seed, Concern::Workload);
    let mut out = Vec::new();
    for s in &g.services {
        service_events(s, horizon_s, &mut out);
    }
    for j in &g.jobs {
        job_events(j, horizon_s, &mut rng, &mut out);
    }
    crate::config::sort_trace(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Diurnal;

    fn svc() -> ServiceGen {
        ServiceGen::new("web", Millicores(500), Bytes::from_mib(512), 3)
    }

    /// A million-pod trace fits in memory because pods of one workload share their
    /// label maps and owner.
    #[test]
    fn replicas_share_label_maps() {
        let g = Generator {
            services: vec![svc()],
            jobs: vec![],
        };
        let t = generate(&g, Millis::from_mins(1), 1);
        let pods: Vec<&Pod> = t
            .iter()
            .filter_map(|e| match &e.kind {
                TraceKind::Arrive { pod, .. } => Some(&**pod),
                _ => None,
            })
            .collect();
        assert_eq!(pods.len(), 3);
        assert_ne!(pods[0].id, pods[1].id);
        assert!(pods[0].labels.shares_with(&pods[1].labels));
        assert!(Arc::ptr_eq(
            pods[0].owner.as_ref().unwrap(),
            pods[2].owner.as_ref().unwrap()
        ));
        // Copy on write: changing one pod's labels leaves the others alone.
        let mut p = pods[0].clone();
        p.labels.insert("x".into(), "y".into());
        assert!(!p.labels.shares_with(&pods[1].labels));
        assert!(!pods[1].labels.contains_key("x"));
    }

    #[test]
    fn steps_scale_out_then_in() {
        let mut s = svc();
        s.steps = vec![(Millis(0), 10), (Millis::from_secs(600), 7)];
        let g = Generator {
            services: vec![s],
            jobs: vec![],
        };
        let t = generate(&g, Millis::from_mins(20), 1);
        let arrivals = t
            .iter()
            .filter(|e| matches!(e.kind, TraceKind::Arrive { .. }))
            .count();
        let deletes: Vec<&TraceEvent> = t
            .iter()
            .filter(|e| matches!(e.kind, TraceKind::Delete(_)))
            .collect();
        assert_eq!(arrivals, 10);
        assert_eq!(deletes.len(), 3);
        assert!(deletes.iter().all(|e| e.at == Millis(600_000)));
    }

    #[test]
    fn diurnal_follows_the_cycle() {
        let mut s = svc();
        s.diurnal = Some(Diurnal::new(
            2,
            12,
            Millis::from_mins(24 * 60),
            Millis::from_secs(300),
        ));
        assert_eq!(replicas_at(&s, Millis(0)), 2);
        assert_eq!(replicas_at(&s, Millis::from_mins(12 * 60)), 12);
        let g = Generator {
            services: vec![s],
            jobs: vec![],
        };
        let t = generate(&g, Millis::from_mins(24 * 60), 1);
        let mut live = 0i64;
        let mut peak = 0;
        for e in &t {
            live += if matches!(e.kind, TraceKind::Arrive { .. }) {
                1
            } else {
                -1
            };
            peak = peak.max(live);
        }
        assert_eq!(peak, 12);
    }

    #[test]
    fn jobs_are_deterministic_per_seed() {
        let j = JobGen {
            name: "batch".into(),
            cpu: Millicores(1000),
            memory: Bytes::from_mib(1024),
            gpu: 0,
            every: Millis::from_secs(600),
            start: Millis(0),
            count: 5,
            run: (Millis::from_secs(60), Millis::from_secs(600)),
            capacity_type: None,
            arch: None,
        };
        let g = Generator {
            services: vec![],
            jobs: vec![j],
        };
        let a = generate(&g, Millis::from_mins(60), 3);
        assert_eq!(a.len(), 30);
        assert_eq!(a, generate(&g, Millis::from_mins(60), 3));
        assert_ne!(a, generate(&g, Millis::from_mins(60), 4));
    }
}
