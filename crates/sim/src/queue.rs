//! The event queue: a binary heap with a total order (time, phase, sequence number), and
//! a pre-sorted trace merged in lazily rather than pushed whole.

use nodepack_model::Millis;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Order of events at the same instant: lower phases first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Workload arrivals and deletions (from the trace).
    Workload = 0,
    /// Cloud: nodes registering, becoming ready, interruption notices, terminations.
    Cloud = 1,
    /// Pods finishing.
    Pods = 2,
    /// Autoscaler reconcile loops.
    Autoscaler = 3,
    /// Metric samples.
    Sample = 4,
}

#[derive(Debug)]
struct Entry<E> {
    key: (Millis, Phase, u64),
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

/// A queue of events of type `E`, merged with a sorted stream of trace items `T`.
#[derive(Debug)]
pub struct Queue<E> {
    heap: BinaryHeap<Reverse<Entry<E>>>,
    seq: u64,
}

impl<E> Default for Queue<E> {
    fn default() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

/// What [`Queue::pop_merged`] returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<E> {
    /// A scheduled event.
    Event(Millis, E),
    /// The trace item at this index.
    Trace(Millis, usize),
}

impl<E> Queue<E> {
    /// Schedule an event.
    pub fn push(&mut self, at: Millis, phase: Phase, event: E) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            key: (at, phase, self.seq),
            event,
        }));
    }

    /// Number of scheduled events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Time of the earliest scheduled event.
    pub fn peek_time(&self) -> Option<Millis> {
        self.heap.peek().map(|Reverse(e)| e.key.0)
    }

    /// The next of: the earliest event, or the trace item at `*cursor` (trace items come
    /// first at equal times: they are in the workload phase). `times[i]` is the time of
    /// trace item `i`, sorted.
    pub fn pop_merged(&mut self, times: &[Millis], cursor: &mut usize) -> Option<Next<E>> {
        let trace = times.get(*cursor).copied();
        let heap = self.heap.peek().map(|Reverse(e)| e.key);
        match (trace, heap) {
            (Some(t), Some(h)) if (t, Phase::Workload) <= (h.0, h.1) => {
                *cursor += 1;
                Some(Next::Trace(t, *cursor - 1))
            }
            (Some(t), None) => {
                *cursor += 1;
                Some(Next::Trace(t, *cursor - 1))
            }
            (_, Some(_)) => self
                .heap
                .pop()
                .map(|Reverse(e)| Next::Event(e.key.0, e.event)),
            (None, None) => None,
        }
    }
}

/// The first time of the grid `start, start + step, start + 2 step, ...` at or after `t`
/// (`start` when `t` is earlier): when a loop running every `step` from `start` next runs.
pub fn first_tick(start: Millis, step: Millis, t: Millis) -> Millis {
    let i = step.0.max(1);
    Millis(start.0 + t.0.saturating_sub(start.0).div_ceil(i) * i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_order_time_phase_sequence_and_trace_merge() {
        let mut q: Queue<&str> = Queue::default();
        q.push(Millis(10), Phase::Sample, "sample@10");
        q.push(Millis(10), Phase::Cloud, "cloud@10 first");
        q.push(Millis(10), Phase::Cloud, "cloud@10 second");
        q.push(Millis(5), Phase::Autoscaler, "tick@5");
        let times = [Millis(5), Millis(10), Millis(20)];
        let mut cur = 0;
        let mut out = vec![];
        while let Some(n) = q.pop_merged(&times, &mut cur) {
            out.push(match n {
                Next::Event(t, e) => format!("{}:{e}", t.0),
                Next::Trace(t, i) => format!("{}:trace{i}", t.0),
            });
        }
        assert_eq!(
            out,
            [
                "5:trace0",
                "5:tick@5",
                "10:trace1",
                "10:cloud@10 first",
                "10:cloud@10 second",
                "10:sample@10",
                "20:trace2"
            ]
        );
    }
}
