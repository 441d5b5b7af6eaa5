//! Karpenter's scheduling queue: pods in Karpenter's order, each failure relaxed one
//! step and queued again until a pass makes no progress.

use super::*;
use crate::Reason;
use nodepack_model::Pod;
use std::collections::BTreeMap;
use std::rc::Rc;

impl<'p, 'a> Engine<'p, 'a> {
    /// Schedule pods in the given order with Karpenter's queue: a pod that fails is
    /// relaxed one step and queued again; the round ends when a full pass over the queue
    /// makes no progress. Returns the failures with their last reason.
    pub fn run_queue(&mut self, pods: &[usize], new_claims: bool) -> Vec<(usize, Reason)> {
        let mut queue: std::collections::VecDeque<(usize, Relax)> =
            pods.iter().map(|&p| (p, Relax::default())).collect();
        let mut reasons: BTreeMap<usize, Reason> = BTreeMap::new();
        let mut stalled = 0usize;
        while let Some((pi, mut r)) = queue.pop_front() {
            let pod = &self.prep.problem.pending[pi];
            let view = if r == Relax::default() {
                self.base_views[pi].clone()
            } else {
                Rc::new(View::new(pod, &r))
            };
            match self.place(pi, &view, r != Relax::default(), new_claims) {
                Ok(_) => {
                    reasons.remove(&pi);
                    stalled = 0;
                }
                Err(e) => {
                    reasons.insert(pi, e);
                    if r.step(pod) {
                        stalled = 0;
                        queue.push_back((pi, r));
                    } else {
                        stalled += 1;
                        queue.push_back((pi, r));
                        if stalled > queue.len() {
                            break;
                        }
                    }
                }
            }
        }
        let mut failed: Vec<(usize, Reason)> = queue
            .into_iter()
            .map(|(pi, _)| (pi, reasons.remove(&pi).unwrap_or(Reason::NotPlaced)))
            .collect();
        failed.sort_by_key(|f| f.0);
        failed
    }
}

/// Karpenter's pod order: CPU request descending, memory descending, creation time,
/// then namespace/name (for the UID).
pub fn karpenter_order(pods: &[Pod]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..pods.len()).collect();
    idx.sort_by(|&a, &b| {
        let (pa, pb) = (&pods[a], &pods[b]);
        pb.requests
            .cpu
            .cmp(&pa.requests.cpu)
            .then(pb.requests.memory.cmp(&pa.requests.memory))
            .then(pa.created.cmp(&pb.created))
            .then_with(|| pa.id.cmp(&pb.id))
    });
    idx
}
