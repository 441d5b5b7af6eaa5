//! Nodes (and node claims) of a cluster.

use crate::instance_type::CapacityType;
use crate::pod::PodId;
use crate::resources::Resources;
use crate::taints::Taint;
use crate::units::{Millis, Money};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Lifecycle of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NodeState {
    /// Requested from the cloud, not yet registered.
    Launching,
    /// Registered with the API server, not ready.
    Registered,
    /// Ready: startup taints removed, pods can run.
    Ready,
    /// Cordoned: no new pods.
    Cordoned,
    /// Draining: pods being evicted.
    Draining,
    /// Gone.
    Terminated,
}

/// A node of the cluster or a claim in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Node {
    /// Name.
    pub name: String,
    /// The node pool that owns it (`None` for unmanaged nodes).
    #[serde(default)]
    pub nodepool: Option<String>,
    /// Instance type name.
    pub instance_type: String,
    /// Zone.
    pub zone: String,
    /// Capacity type.
    pub capacity_type: CapacityType,
    /// Price per hour.
    #[serde(default)]
    pub price: Money,
    /// All labels (well-known and pool labels), shared: nodes are copied into every
    /// solver and consolidation view, their labels seldom change
    /// (`Arc::make_mut` to change them).
    #[serde(default)]
    pub labels: Arc<BTreeMap<String, String>>,
    /// Taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Allocatable resources.
    pub allocatable: Resources,
    /// Pods bound to it.
    #[serde(default)]
    pub pods: Vec<PodId>,
    /// Lifecycle state.
    #[serde(default = "ready")]
    pub state: NodeState,
    /// When it was created.
    #[serde(default)]
    pub created: Millis,
    /// `karpenter.sh/do-not-disrupt` on the node.
    #[serde(default)]
    pub do_not_disrupt: bool,
}

fn ready() -> NodeState {
    NodeState::Ready
}

impl Node {
    /// A ready node of no pool, with no label, taint or pod, created at time zero.
    pub fn new(
        name: &str,
        instance_type: &str,
        zone: &str,
        capacity_type: CapacityType,
        price: Money,
        allocatable: Resources,
    ) -> Self {
        Node {
            name: name.to_string(),
            nodepool: None,
            instance_type: instance_type.to_string(),
            zone: zone.to_string(),
            capacity_type,
            price,
            labels: Default::default(),
            taints: vec![],
            allocatable,
            pods: vec![],
            state: NodeState::Ready,
            created: Millis(0),
            do_not_disrupt: false,
        }
    }

    /// The same node in a node pool.
    pub fn in_pool(mut self, nodepool: &str) -> Self {
        self.nodepool = Some(nodepool.to_string());
        self
    }

    /// The same node with these labels.
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = Arc::new(labels);
        self
    }

    /// The same node with these taints.
    pub fn with_taints(mut self, taints: Vec<Taint>) -> Self {
        self.taints = taints;
        self
    }

    /// The same node in this state.
    pub fn with_state(mut self, state: NodeState) -> Self {
        self.state = state;
        self
    }

    /// The same node created at `at`.
    pub fn created_at(mut self, at: Millis) -> Self {
        self.created = at;
        self
    }

    /// Karpenter's notion of initialized: registered, ready and startup taints gone.
    pub fn initialized(&self) -> bool {
        self.state == NodeState::Ready
    }

    /// Can new pods be placed on it (not cordoned, draining or gone)?
    pub fn schedulable(&self) -> bool {
        matches!(
            self.state,
            NodeState::Launching | NodeState::Registered | NodeState::Ready
        )
    }
}
