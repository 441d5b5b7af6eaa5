//! Karpenter's preference relaxation: how far a pod's preferences are relaxed
//! ([`Relax`]) and the pod as the engine sees it at that level ([`View`]).

use nodepack_model::pod::{PodAffinityTerm, TopologySpread, WhenUnsatisfiable};
use nodepack_model::taints::TolerationOperator;
use nodepack_model::{Effect, Pod, Requirements, Toleration};

/// How far a pod's preferences have been relaxed, in Karpenter's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relax {
    /// Index of the required node-affinity term in use (earlier terms were dropped).
    pub term: usize,
    /// Preferred pod affinity terms dropped (heaviest first).
    pub pref_affinity: usize,
    /// Preferred pod anti-affinity terms dropped (heaviest first).
    pub pref_anti: usize,
    /// Preferred node affinity terms dropped (heaviest first).
    pub pref_node: usize,
    /// ScheduleAnyway spread constraints dropped.
    pub soft_spread: usize,
    /// PreferNoSchedule taints tolerated.
    pub tolerate_prefer: bool,
}

fn by_weight<T>(v: &[nodepack_model::pod::Weighted<T>]) -> Vec<&T> {
    let mut w: Vec<(usize, &nodepack_model::pod::Weighted<T>)> = v.iter().enumerate().collect();
    w.sort_by(|a, b| b.1.weight.cmp(&a.1.weight).then(a.0.cmp(&b.0)));
    w.into_iter().map(|(_, t)| &t.term).collect()
}

impl Relax {
    /// Relax one more step, in Karpenter's order: drop the first of several required
    /// node-affinity terms, then the heaviest preferred pod affinity, preferred pod
    /// anti-affinity and preferred node affinity terms, then one ScheduleAnyway spread
    /// constraint, then tolerate PreferNoSchedule taints. False when nothing is left.
    pub fn step(&mut self, pod: &Pod) -> bool {
        let soft = pod
            .topology_spread
            .iter()
            .filter(|t| t.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
            .count();
        if self.term + 1 < pod.node_affinity_required.len() {
            self.term += 1;
        } else if self.pref_affinity < pod.pod_affinity_preferred.len() {
            self.pref_affinity += 1;
        } else if self.pref_anti < pod.pod_anti_affinity_preferred.len() {
            self.pref_anti += 1;
        } else if self.pref_node < pod.node_affinity_preferred.len() {
            self.pref_node += 1;
        } else if self.soft_spread < soft {
            self.soft_spread += 1;
        } else if !self.tolerate_prefer {
            self.tolerate_prefer = true;
        } else {
            return false;
        }
        true
    }
}

/// A pod's effective constraints after relaxation (its pod-affinity and spread terms
/// borrowed from the pod).
#[derive(Clone, Debug)]
pub struct View<'a> {
    /// Node requirements (node selector, the required term in use, the heaviest
    /// remaining preferred node-affinity term).
    pub term: Requirements,
    /// The required part of `term` (no preferred terms): topology spread counts its
    /// domains, as Kubernetes does.
    pub required: Requirements,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Whether PreferNoSchedule taints still block.
    pub strict_prefer: bool,
    /// Spread constraints in force.
    pub spreads: Vec<&'a TopologySpread>,
    /// Pod affinity terms in force (required and remaining preferred).
    pub affinity: Vec<&'a PodAffinityTerm>,
    /// Pod anti-affinity terms in force.
    pub anti: Vec<&'a PodAffinityTerm>,
}

impl<'a> View<'a> {
    /// The view of a pod at a relaxation level.
    pub fn new(pod: &'a Pod, r: &Relax) -> View<'a> {
        let terms = pod.node_requirement_terms();
        let mut term = terms[r.term.min(terms.len() - 1)].clone();
        let required = term.clone();
        let pref_node = by_weight(&pod.node_affinity_preferred);
        if let Some(t) = pref_node.get(r.pref_node) {
            // Karpenter treats the heaviest remaining preferred term as required; if it
            // contradicts the required terms it is relaxed away like any other.
            term = term.intersect(t);
        }
        let mut affinity: Vec<&PodAffinityTerm> = pod.pod_affinity.iter().collect();
        affinity.extend(
            by_weight(&pod.pod_affinity_preferred)
                .into_iter()
                .skip(r.pref_affinity),
        );
        let mut anti: Vec<&PodAffinityTerm> = pod.pod_anti_affinity.iter().collect();
        anti.extend(
            by_weight(&pod.pod_anti_affinity_preferred)
                .into_iter()
                .skip(r.pref_anti),
        );
        let mut dropped = 0;
        let spreads = pod
            .topology_spread
            .iter()
            .filter(|t| {
                if t.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway
                    && dropped < r.soft_spread
                {
                    dropped += 1;
                    false
                } else {
                    true
                }
            })
            .collect();
        let mut tolerations = pod.tolerations.clone();
        if r.tolerate_prefer {
            tolerations.push(Toleration {
                key: String::new(),
                operator: TolerationOperator::Exists,
                value: String::new(),
                effect: Some(Effect::PreferNoSchedule),
            });
        }
        View {
            term,
            required,
            tolerations,
            strict_prefer: !r.tolerate_prefer,
            spreads,
            affinity,
            anti,
        }
    }
}
