//! `nodepack sweep`: replay a grid of scenarios, node pool sets, settings, seeds and
//! strategies on local threads; write one row per run (CSV and Parquet) and the paired
//! statistics. Started again, it skips the runs already done.

use crate::input::{lab, read_text, CliFiles};
use crate::Failure;
use nodepack_lab::sweep;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `nodepack sweep`.
#[derive(clap::Args)]
pub struct Args {
    /// A sweep file (see scenarios/sweeps/).
    sweep: String,
    /// Where the results go (default: `NAME-results` in the current directory, NAME the
    /// sweep's name). Runs recorded there already are not run again.
    #[arg(long)]
    out: Option<String>,
    /// Replays at once (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
}

/// Run `nodepack sweep`.
pub fn run(a: Args) -> Result<(), Failure> {
    let spec = sweep::read_spec(&a.sweep, &read_text(&a.sweep)?).map_err(lab)?;
    let base = Path::new(&a.sweep).parent().unwrap_or(Path::new("."));
    let plan = sweep::plan(&spec, base, &CliFiles).map_err(lab)?;
    let out = PathBuf::from(
        a.out
            .clone()
            .unwrap_or_else(|| format!("{}-results", spec.name)),
    );
    let workers = crate::input::workers(a.workers)?;
    let todo = sweep::pending(&plan, &out).len();
    say!(
        "sweep {}: {} runs, {} already recorded in {}",
        plan.name,
        plan.runs.len(),
        plan.runs.len() - todo,
        out.display()
    );
    let progress =
        crate::progress::Progress::bar(crate::quiet(), todo as u64, format!("sweep {}", plan.name));
    let start = Instant::now();
    sweep::run_local(&plan, &out, workers, &|| progress.inc()).map_err(lab)?;
    let o = sweep::finish(&plan, &out).map_err(lab)?;
    crate::emit(format!(
        "{} rows: {}, {}; statistics: {} ({} runs in {:.1} s on {} workers)",
        o.rows,
        o.csv,
        o.parquet,
        o.statistics,
        todo,
        start.elapsed().as_secs_f64(),
        workers
    ));
    Ok(())
}
