//! nodepack experiments at the edge: scenario files and the files they name, replays of
//! several strategies and seeds on threads, and sweeps over grids of scenarios, node pool
//! sets, strategies, seeds and settings with their result tables (CSV and Parquet).
//!
//! The `nodepack` command and the Python package both go through this crate, so a replay
//! or a sweep gives the same rows from either. It reads files through a [`Files`] value
//! ([`Disk`] for a directory tree, [`Recorded`] for texts captured earlier, which is how a
//! sweep's runs travel to other machines) and writes only where a sweep is told to.
//!
//! ```
//! use nodepack_lab::{load_scenario, replay_all, Disk};
//!
//! let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/sim/karpenter-basic.yaml");
//! let (loaded, _warnings) = load_scenario(&Disk, root, Some(3), None).unwrap();
//! let runs = replay_all(&loaded, &["nodepack".to_string()], &[3], &|| {});
//! assert!(runs[0].summary.cost.usd() > 0.0);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod advise;
mod load;
mod problem;
pub mod sweep;
mod table;
mod yamlpatch;

pub use load::{
    catalog, check_autoscalers, load_scenario, load_trace, nodepools, pdbs_in, replay_all,
    replay_document, Loaded, PoolsSource, MAX_TRACE_HORIZON,
};
pub use problem::{load_problem, ProblemInput};
pub use table::{flatten_summary, write_csv, write_parquet, Row};

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What can go wrong reading or running an experiment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        message: String,
    },
    /// A file's content is wrong (it names the file, the field path and the value).
    #[error(transparent)]
    Format(#[from] nodepack_formats::FormatError),
    /// Anything else about the input, in words that name it.
    #[error("{0}")]
    Input(String),
}

/// Where an experiment's files come from.
pub trait Files: Sync {
    /// The text of `path`.
    fn read(&self, path: &str) -> Result<String, LabError>;
}

/// Files on this machine's disk.
#[derive(Clone, Copy, Debug, Default)]
pub struct Disk;

impl Files for Disk {
    fn read(&self, path: &str) -> Result<String, LabError> {
        std::fs::read_to_string(path).map_err(|e| LabError::Io {
            path: path.to_string(),
            message: e.to_string(),
        })
    }
}

/// Files read from another [`Files`] and kept, by path: what a run read on one machine,
/// to read again on another.
#[derive(Debug, Default)]
pub struct Recorded {
    texts: Mutex<BTreeMap<String, String>>,
}

impl Recorded {
    /// Texts known in advance (path to text).
    pub fn new(texts: BTreeMap<String, String>) -> Self {
        Recorded {
            texts: Mutex::new(texts),
        }
    }

    /// Read `path` through `from`, keeping its text.
    pub fn record(&self, from: &dyn Files, path: &str) -> Result<String, LabError> {
        let text = from.read(path)?;
        if let Ok(mut t) = self.texts.lock() {
            t.insert(path.to_string(), text.clone());
        }
        Ok(text)
    }

    /// Every text kept so far.
    pub fn texts(&self) -> BTreeMap<String, String> {
        self.texts.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Files for Recorded {
    fn read(&self, path: &str) -> Result<String, LabError> {
        self.texts
            .lock()
            .ok()
            .and_then(|t| t.get(path).cloned())
            .ok_or_else(|| LabError::Io {
                path: path.to_string(),
                message: "not among the files recorded for this run".into(),
            })
    }
}

/// Texts given by path over other files (e.g. a scenario passed as text, whose relative
/// paths are read from disk).
pub struct Overlay<'a> {
    texts: BTreeMap<String, String>,
    below: &'a dyn Files,
}

impl<'a> Overlay<'a> {
    /// `texts` (path to text) over `below`.
    pub fn new(texts: BTreeMap<String, String>, below: &'a dyn Files) -> Self {
        Overlay { texts, below }
    }
}

impl Files for Overlay<'_> {
    fn read(&self, path: &str) -> Result<String, LabError> {
        match self.texts.get(path) {
            Some(t) => Ok(t.clone()),
            None => self.below.read(path),
        }
    }
}

/// Reads through `inner` and keeps what it read in `into`.
pub(crate) struct Recording<'a> {
    pub inner: &'a dyn Files,
    pub into: &'a Recorded,
}

impl Files for Recording<'_> {
    fn read(&self, path: &str) -> Result<String, LabError> {
        self.into.record(self.inner, path)
    }
}
