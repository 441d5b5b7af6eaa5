//! Loading a provisioning problem from Kubernetes manifests: pods (pending and bound),
//! daemonsets, nodes and disruption budgets from several texts, NodePools, a catalog.

use crate::LabError;
use nodepack_formats::{read_workload, Workload};
use nodepack_model::{Catalog, NodePool, Pod, PodDisruptionBudget, PodId};
use nodepack_solver::{ExistingNode, Note, Problem};
use std::collections::BTreeMap;

/// A loaded problem: owned data the solver borrows.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ProblemInput {
    /// Pending pods.
    pub pending: Vec<Pod>,
    /// Existing nodes with their pods.
    pub nodes: Vec<ExistingNode>,
    /// Pools with daemonset overhead.
    pub pools: Vec<NodePool>,
    /// Catalog.
    pub catalog: Catalog,
    /// Pod disruption budgets found in the manifests.
    pub pdbs: Vec<PodDisruptionBudget>,
    /// What could not be used as given (see [`nodepack_solver::assemble`]).
    pub notes: Vec<Note>,
}

impl ProblemInput {
    /// The solver's view.
    pub fn problem(&self) -> Problem<'_> {
        Problem::new(&self.pending, &self.nodes, &self.pools, &self.catalog)
    }
}

/// Read the workload `manifests` (label, text: pods, controllers, daemonsets, nodes,
/// budgets) with `pools` and `catalog`. Pod and node names are identities: one named
/// twice, in one text or across texts, is refused naming both. Warnings go to
/// `warnings`.
pub fn load_problem(
    manifests: &[(String, String)],
    pools: Vec<NodePool>,
    catalog: Catalog,
    warnings: &mut Vec<String>,
) -> Result<ProblemInput, LabError> {
    let mut wl = Workload::default();
    let mut pod_at: BTreeMap<PodId, &str> = BTreeMap::new();
    let mut node_at: BTreeMap<String, &str> = BTreeMap::new();
    for (label, text) in manifests {
        let w = read_workload(label, text)?;
        for id in w
            .pending
            .iter()
            .chain(w.bound.iter().map(|(p, _)| p))
            .map(|p| &p.id)
        {
            if let Some(first) = pod_at.insert(id.clone(), label) {
                return Err(LabError::Input(format!(
                    "pod {id} appears twice (in {first} and in {label}): pod names are identities (a controller's pods are named NAME-0, NAME-1, ...)"
                )));
            }
        }
        for n in &w.nodes {
            if let Some(first) = node_at.insert(n.name.clone(), label) {
                return Err(LabError::Input(format!(
                    "node {} appears twice (in {first} and in {label}): node names are identities",
                    n.name
                )));
            }
        }
        wl.extend(w);
    }
    warnings.extend(wl.warnings.iter().map(|w| w.to_string()));
    let a = nodepack_solver::assemble(
        wl.pending,
        wl.bound,
        &wl.daemonsets,
        wl.nodes,
        pools,
        &catalog,
    );
    Ok(ProblemInput {
        pending: a.pending,
        nodes: a.nodes,
        pools: a.nodepools,
        catalog,
        pdbs: wl.pdbs,
        notes: a.notes,
    })
}
