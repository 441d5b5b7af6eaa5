//! `nodepack import --format FORMAT FILE > trace.jsonl`: public traces to the native
//! trace format. The trace goes to standard output; what was converted, skipped (with
//! the reason and the first example) and adjusted goes to standard error.

use crate::input::read_text;
use crate::tabular::Grid;
use crate::{Failure, Output};
use nodepack_formats::import::{import, ImportOptions, ImportReport, FORMATS};
use std::io::Write;

/// Arguments of `nodepack import`.
#[derive(clap::Args)]
pub struct Args {
    /// Input format: alibaba-gpu-2023, simkube, google-2019 or kubectl.
    #[arg(long)]
    format: String,
    /// The input file (`-` for standard input).
    file: String,
    /// google-2019: millicores per 1.0 normalized CPU (default 96000, an m5.24xlarge).
    #[arg(long)]
    google_cpu_millis: Option<f64>,
    /// google-2019: MiB per 1.0 normalized memory (default 393216, an m5.24xlarge).
    #[arg(long)]
    google_memory_mib: Option<f64>,
    /// Format of the conversion report on standard error (the trace on standard output
    /// is always JSON Lines).
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// The report as a grid: one row per count.
fn grid(r: &ImportReport) -> Grid {
    let mut g = Grid::new(&["what", "count", "example or note"]);
    g.row(["rows read".to_string(), r.rows.to_string(), String::new()]);
    g.row([
        "rows converted".to_string(),
        r.converted.to_string(),
        String::new(),
    ]);
    g.row([
        "pods written".to_string(),
        r.pods.to_string(),
        String::new(),
    ]);
    g.row([
        "deletions written".to_string(),
        r.deletes.to_string(),
        String::new(),
    ]);
    for (reason, s) in &r.skipped {
        g.row([
            format!("skipped: {reason}"),
            s.count.to_string(),
            s.example.clone(),
        ]);
    }
    for (note, n) in &r.adjusted {
        g.row([format!("adjusted: {note}"), n.to_string(), String::new()]);
    }
    for a in &r.assumptions {
        g.row(["assumption".to_string(), String::new(), a.clone()]);
    }
    g
}

/// Run the command.
pub fn run(a: Args, quiet: bool) -> Result<(), Failure> {
    if !FORMATS.contains(&a.format.as_str()) {
        return Err(Failure::input(anyhow::anyhow!(
            "--format {:?}: unknown (expected one of {})",
            a.format,
            FORMATS.join(", ")
        )));
    }
    let mut opts = ImportOptions::default();
    for (flag, v, slot) in [
        (
            "--google-cpu-millis",
            a.google_cpu_millis,
            &mut opts.google.cpu_millis,
        ),
        (
            "--google-memory-mib",
            a.google_memory_mib,
            &mut opts.google.memory_mib,
        ),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return Err(Failure::input(anyhow::anyhow!(
                    "{flag} = {v}: expected a positive number"
                )));
            }
            *slot = v;
        }
    }
    let progress = crate::progress::Progress::spinner(quiet, format!("importing {}", a.file));
    let text = read_text(&a.file)?;
    let label = if a.file == "-" { "<stdin>" } else { &a.file };
    let mut imported = import(&a.format, label, &text, &opts).map_err(Failure::input)?;
    drop(text);
    let jsonl = imported.to_jsonl();
    progress.finish();
    let r = &imported.report;
    tracing::info!(rows = r.rows, converted = r.converted, "import done");
    {
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_all(jsonl.as_bytes()).and_then(|_| out.flush()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(Failure::internal(anyhow::anyhow!(
                    "writing standard output: {e}"
                )));
            }
        }
    }
    if quiet {
        return Ok(());
    }
    match a.output {
        Output::Json => eprintln!(
            "{}",
            serde_json::to_string_pretty(r).map_err(Failure::internal)?
        ),
        Output::Csv => eprint!("{}", grid(r).csv()?),
        Output::Table => {
            eprintln!(
                "imported {label} ({}): {} of {} rows converted, {} skipped; {} pods and {} deletions written",
                r.format,
                r.converted,
                r.rows,
                r.skipped_total(),
                r.pods,
                r.deletes
            );
            eprintln!("{}", grid(r).table());
        }
    }
    Ok(())
}
