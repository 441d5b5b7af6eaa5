//! Scenario files: a named set of inputs to compare strategies on.
//!
//! ```yaml
//! name: shop
//! purpose: A small mixed shop workload on the real AWS catalog.
//! catalog: aws/us-east-1          # optional; a catalog file path otherwise
//! nodepools: nodepools.yaml       # Karpenter NodePool (and EC2NodeClass) YAML
//! pods: [pods.yaml]               # workload manifests
//! nodes: nodes.json               # optional: existing nodes
//! ```
//! Paths are relative to the scenario file.

use crate::docs::{load_documents, typed};
use crate::error::{FormatError, Warning};
use serde::Deserialize;

/// A scenario for `nodepack compare`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Scenario {
    /// Name.
    pub name: String,
    /// One line saying what it shows.
    pub purpose: String,
    /// Catalog: `aws/us-east-1` or a path.
    #[serde(default)]
    pub catalog: Option<String>,
    /// NodePool file.
    pub nodepools: String,
    /// Workload files.
    pub pods: Vec<String>,
    /// Existing nodes file.
    #[serde(default)]
    pub nodes: Option<String>,
}

/// Read a scenario file.
pub fn read_scenario(file: &str, text: &str) -> Result<(Scenario, Vec<Warning>), FormatError> {
    let docs = load_documents(file, text)?;
    let doc = match docs.as_slice() {
        [d] => d,
        _ => {
            return Err(crate::error::Ctx::file(file).error(
                None,
                format!(
                    "a scenario file holds exactly one document, found {}",
                    docs.len()
                ),
            ))
        }
    };
    let (s, w): (Scenario, _) = typed(&doc.ctx, &doc.value)?;
    if s.pods.is_empty() {
        return Err(doc.ctx.field("pods").error(None, "lists no workload file"));
    }
    Ok((s, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_fields_and_errors() {
        let (s, w) = read_scenario(
            "s.yaml",
            "name: a\npurpose: b\nnodepools: p.yaml\npods: [x.yaml]\n",
        )
        .unwrap();
        assert_eq!(s.pods, vec!["x.yaml"]);
        assert!(w.is_empty());
        let e = read_scenario(
            "s.yaml",
            "name: a\npurpose: b\nnodepools: 3\npods: [x.yaml]\n",
        )
        .unwrap_err();
        assert_eq!(e.path, "nodepools");
        let e =
            read_scenario("s.yaml", "name: a\npurpose: b\nnodepools: p\npods: []\n").unwrap_err();
        assert_eq!(e.path, "pods");
    }
}
