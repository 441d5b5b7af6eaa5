//! From parsed inputs to a problem: daemonset overhead per pool, existing nodes priced
//! from the catalog, bound pods attached to their nodes. The CLI and library users build
//! problems the same way.

use crate::ExistingNode;
use nodepack_model::{CapacityType, Catalog, Money, Node, NodePool, Pod, PodId};
use std::sync::Arc;

/// Pending pods, existing nodes (with their pods and prices) and pools (with daemonset
/// overhead), ready for [`crate::Solver`] or [`crate::Problem`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Assembled {
    /// Pods waiting for a node.
    pub pending: Vec<Pod>,
    /// Existing nodes with the pods bound to them.
    pub nodes: Vec<ExistingNode>,
    /// The pools, each with the overhead of the daemonsets its nodes would run.
    pub nodepools: Vec<NodePool>,
    /// What could not be used as given (nothing is dropped silently).
    pub notes: Vec<Note>,
}

/// Something in the inputs that could not be used as given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// The catalog has no offering of the node's type and capacity type in its zone; it
    /// is priced as the cheapest one in another zone.
    PricedFromZone {
        /// The node.
        node: String,
        /// Its type.
        instance_type: String,
        /// Its capacity type.
        capacity_type: CapacityType,
        /// Its zone.
        zone: String,
        /// The price used.
        price: Money,
        /// The zone of that price.
        from_zone: String,
    },
    /// The catalog has no offering of the node's type and capacity type: priced at $0.
    NoOffering {
        /// The node.
        node: String,
        /// Its type.
        instance_type: String,
        /// Its capacity type.
        capacity_type: CapacityType,
    },
    /// The node's type is not in the catalog: priced at $0.
    UnknownType {
        /// The node.
        node: String,
        /// Its type.
        instance_type: String,
    },
    /// A pod is bound to a node that is not among the nodes: it is left out.
    PodOnMissingNode {
        /// The pod.
        pod: PodId,
        /// The node it names.
        node: String,
    },
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::PricedFromZone {
                node,
                instance_type,
                capacity_type,
                zone,
                price,
                from_zone,
            } => write!(
                f,
                "node {node}: the catalog has no {instance_type} {ct} offering in zone {zone:?}; priced as the cheapest {ct} one (${:.4}/h, {from_zone})",
                price.usd(),
                ct = capacity_type.as_str()
            ),
            Note::NoOffering {
                node,
                instance_type,
                capacity_type,
            } => write!(
                f,
                "node {node}: the catalog has no {instance_type} {} offering; priced at $0",
                capacity_type.as_str()
            ),
            Note::UnknownType {
                node,
                instance_type,
            } => write!(
                f,
                "node {node}: instance type {instance_type:?} is not in the catalog; priced at $0"
            ),
            Note::PodOnMissingNode { pod, node } => write!(
                f,
                "pod {pod} runs on node {node}, which is not among the nodes given: it is not part of this plan"
            ),
        }
    }
}

/// Assemble a problem's parts: set each pool's daemonset overhead from the daemonset
/// pod templates ([`crate::daemonset_overhead`]), price each node from the catalog (its
/// offering in its zone, else the cheapest of its capacity type, else $0, each noted),
/// and attach each bound pod to its node.
pub fn assemble(
    pending: Vec<Pod>,
    bound: Vec<(Pod, String)>,
    daemonsets: &[Pod],
    nodes: Vec<Node>,
    mut nodepools: Vec<NodePool>,
    catalog: &Catalog,
) -> Assembled {
    let mut notes = Vec::new();
    for p in &mut nodepools {
        p.daemonset_overhead = crate::daemonset_overhead(p, daemonsets);
    }
    let mut nodes: Vec<ExistingNode> = nodes
        .into_iter()
        .map(|mut n| {
            match catalog.get(&n.instance_type) {
                Some(t) => {
                    let same_ct = || {
                        t.offerings
                            .iter()
                            .filter(|o| o.capacity_type == n.capacity_type)
                    };
                    if let Some(o) = same_ct().find(|o| o.zone == n.zone) {
                        n.price = o.price;
                    } else if let Some(o) = same_ct().min_by_key(|o| o.price) {
                        notes.push(Note::PricedFromZone {
                            node: n.name.clone(),
                            instance_type: n.instance_type.clone(),
                            capacity_type: n.capacity_type,
                            zone: n.zone.clone(),
                            price: o.price,
                            from_zone: o.zone.clone(),
                        });
                        n.price = o.price;
                    } else {
                        notes.push(Note::NoOffering {
                            node: n.name.clone(),
                            instance_type: n.instance_type.clone(),
                            capacity_type: n.capacity_type,
                        });
                    }
                }
                None => notes.push(Note::UnknownType {
                    node: n.name.clone(),
                    instance_type: n.instance_type.clone(),
                }),
            }
            ExistingNode::new(n, vec![])
        })
        .collect();
    let index: std::collections::HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.node.name.clone(), i))
        .collect();
    for (p, node) in bound {
        match index.get(&node) {
            Some(&i) => {
                let n = &mut nodes[i];
                n.node.pods.push(p.id.clone());
                n.pods.push(Arc::new(p));
            }
            None => notes.push(Note::PodOnMissingNode { pod: p.id, node }),
        }
    }
    Assembled {
        pending,
        nodes,
        nodepools,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodepack_model::{Bytes, Millicores, Resources};

    fn node(name: &str, ty: &str, zone: &str) -> Node {
        Node::new(
            name,
            ty,
            zone,
            CapacityType::OnDemand,
            Money::ZERO,
            Resources::new(Millicores(4000), Bytes::from_gib(16)),
        )
    }

    /// Overhead per pool, prices from the catalog with each fallback noted, bound pods on
    /// their nodes, and a pod on a missing node noted, not dropped silently.
    #[test]
    fn parts_become_a_problem_with_every_gap_noted() {
        let catalog = nodepack_testkit::catalog();
        let ty = &catalog.instance_types[0];
        let on_demand = |z: &str| {
            ty.offerings
                .iter()
                .find(|o| o.zone == z && o.capacity_type == CapacityType::OnDemand)
                .map(|o| o.price)
        };
        let zone = ty.offerings[0].zone.clone();
        let daemon = nodepack_testkit::pod("logs", 100, 128);
        let nodes = vec![
            node("a", &ty.name, &zone),
            node("b", &ty.name, "elsewhere-1z"),
            node("c", "no-such-type", &zone),
        ];
        let bound = vec![
            (nodepack_testkit::pod("on-a", 500, 512), "a".to_string()),
            (nodepack_testkit::pod("lost", 500, 512), "gone".to_string()),
        ];
        let pending = nodepack_testkit::pods("p", 2, 500, 512);
        let pools = vec![NodePool::new("default")];
        let a = assemble(
            pending,
            bound,
            std::slice::from_ref(&daemon),
            nodes,
            pools,
            &catalog,
        );
        assert_eq!(a.pending.len(), 2);
        assert_eq!(a.nodepools[0].daemonset_overhead, daemon.requests);
        assert_eq!(Some(a.nodes[0].node.price), on_demand(&zone));
        assert_eq!(a.nodes[0].pods.len(), 1);
        assert_eq!(a.nodes[0].node.pods, vec![PodId::new("default", "on-a")]);
        assert!(a.nodes[1].node.price > Money::ZERO);
        assert_eq!(a.nodes[2].node.price, Money::ZERO);
        assert_eq!(a.notes.len(), 3, "{:?}", a.notes);
        assert!(matches!(&a.notes[0], Note::PricedFromZone { node, .. } if node == "b"));
        assert!(matches!(&a.notes[1], Note::UnknownType { node, .. } if node == "c"));
        assert!(matches!(&a.notes[2], Note::PodOnMissingNode { node, .. } if node == "gone"));
        assert!(a.notes[2].to_string().contains("lost"));
    }
}
