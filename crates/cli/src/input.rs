//! Reading input files and reporting their warnings.

use crate::Failure;
use nodepack_formats::{aws_us_east_1, read_catalog, read_nodepools, Warning, DEFAULT_CATALOG};
use nodepack_model::{Catalog, NodePool};
use std::io::Read;

/// Read a file's text (`-` is standard input), naming the file on failure.
pub fn read_text(path: &str) -> Result<String, Failure> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::input(anyhow::anyhow!("reading standard input: {e}")))?;
        // A closed or empty standard input is a broken pipe upstream, not "no pods".
        if s.trim().is_empty() {
            return Err(Failure::input(anyhow::anyhow!(
                "-: standard input is empty (nothing was piped in; did the command before the pipe fail?)"
            )));
        }
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| Failure::input(anyhow::anyhow!("{path}: {e}")))
}

/// Print warnings to standard error.
pub fn warn(ws: &[Warning]) {
    if crate::quiet() {
        return;
    }
    for w in ws {
        eprintln!("warning: {w}");
    }
}

/// The catalog named by `--catalog`: the embedded `aws/us-east-1` or a file.
pub fn catalog(name: Option<&str>) -> Result<Catalog, Failure> {
    match name {
        None | Some(DEFAULT_CATALOG) => Ok(aws_us_east_1().clone()),
        Some(path) => {
            let text = read_text(path)?;
            let (c, w) = read_catalog(path, &text).map_err(Failure::input)?;
            warn(&w);
            Ok(c)
        }
    }
}

/// Node pools from a file.
pub fn nodepools(path: &str) -> Result<Vec<NodePool>, Failure> {
    nodepools_in(path, &read_text(path)?)
}

/// Node pools from manifest text (`label` names it in messages); at least one.
pub fn nodepools_in(label: &str, text: &str) -> Result<Vec<NodePool>, Failure> {
    let (pools, w) = read_nodepools(label, text).map_err(Failure::input)?;
    warn(&w);
    if pools.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "{label}: no NodePool found"
        )));
    }
    Ok(pools)
}
