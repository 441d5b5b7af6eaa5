//! Reading input files and reporting their warnings.

use crate::Failure;
use nodepack_formats::Warning;
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
    warn_lines(&ws.iter().map(|w| w.to_string()).collect::<Vec<_>>());
}

/// Files as the command reads them: `-` is standard input.
pub struct CliFiles;

impl nodepack_lab::Files for CliFiles {
    fn read(&self, path: &str) -> Result<String, nodepack_lab::LabError> {
        read_text(path).map_err(|f| nodepack_lab::LabError::Input(format!("{:#}", f.error)))
    }
}

/// Print warnings (already rendered) to standard error.
pub fn warn_lines(ws: &[String]) {
    if crate::quiet() {
        return;
    }
    for w in ws {
        eprintln!("warning: {w}");
    }
}

/// A library error as bad input.
pub fn lab(e: nodepack_lab::LabError) -> Failure {
    Failure::input(e)
}

/// The catalog named by `--catalog`: the embedded `aws/us-east-1` or a file.
pub fn catalog(name: Option<&str>) -> Result<Catalog, Failure> {
    let mut w = Vec::new();
    let c = nodepack_lab::catalog(&CliFiles, name, &mut w).map_err(lab)?;
    warn_lines(&w);
    Ok(c)
}

/// Node pools from a file.
pub fn nodepools(path: &str) -> Result<Vec<NodePool>, Failure> {
    nodepools_in(path, &read_text(path)?)
}

/// Node pools from manifest text (`label` names it in messages); at least one.
pub fn nodepools_in(label: &str, text: &str) -> Result<Vec<NodePool>, Failure> {
    let mut w = Vec::new();
    let pools = nodepack_lab::nodepools(label, text, &mut w).map_err(lab)?;
    warn_lines(&w);
    Ok(pools)
}

/// The `--workers` value: at most 1024, by default the machine's parallelism;
/// 0 is refused with an error naming the flag and the value.
pub fn workers(given: Option<usize>) -> Result<usize, Failure> {
    match given {
        Some(0) => Err(Failure::input(anyhow::anyhow!(
            "--workers: 0 (at least one replay must run at a time)"
        ))),
        Some(n) => Ok(n.min(1024)),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn workers_refuses_zero_and_caps_the_rest() {
        let e = super::workers(Some(0)).expect_err("0 workers is refused");
        assert_eq!(e.code, 2);
        assert!(e.error.to_string().contains("--workers: 0"), "{}", e.error);
        assert_eq!(super::workers(Some(5000)).ok(), Some(1024));
        assert_eq!(super::workers(Some(3)).ok(), Some(3));
        assert!(super::workers(None).is_ok_and(|n| n >= 1));
    }
}
