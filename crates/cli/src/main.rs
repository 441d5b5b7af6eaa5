//! The `nodepack` command: the only part of nodepack that touches files, the terminal,
//! the environment and the clock.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// `eprintln!` unless `--quiet` was given: warnings and notes on standard error.
macro_rules! say {
    ($($t:tt)*) => {
        if !crate::quiet() {
            eprintln!($($t)*);
        }
    };
}

mod advise_cmd;
mod catalog_cmd;
mod compare_cmd;
mod consolidate_cmd;
mod import_cmd;
mod input;
mod matrix_cmd;
mod progress;
mod sim_cmd;
mod solve_cmd;
mod sweep_cmd;
mod tabular;

/// mimalloc: the solver and the simulator allocate many small resource lists and
/// requirement sets; it runs them faster than the system allocator, with the same output.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Kubernetes node autoprovisioning: solve, compare and explain instance choices.
#[derive(Parser)]
#[command(name = "nodepack", version, about)]
struct Cli {
    /// No progress bars, warnings or import reports on standard error (errors still
    /// print). Logs: set RUST_LOG (e.g. RUST_LOG=debug).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// Set by `--quiet`.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Output format.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// A table for people.
    Table,
    /// JSON for programs.
    Json,
    /// CSV (one header line, then rows) for spreadsheets.
    Csv,
}

#[derive(Subcommand)]
enum Command {
    /// List the instance types of a catalog that match requirements, with allocatable and prices.
    Catalog(catalog_cmd::Args),
    /// Plan new nodes for pending pods with a strategy (nodepack, karpenter or all).
    Solve(solve_cmd::Args),
    /// Compare strategies side by side: replay a simulation scenario with each
    /// autoscaler, or solve a provisioning scenario with each solver strategy.
    Compare(compare_cmd::Args),
    /// Replay a simulation scenario (or a trace) with one autoscaler.
    Replay(sim_cmd::ReplayArgs),
    /// Every scenario with every NodePool set and strategy over K seeds: means with 95%
    /// intervals and paired differences, as Markdown (docs/results.md) or JSON.
    Matrix(matrix_cmd::Args),
    /// Dry run of consolidation on a cluster snapshot: which nodes a strategy would
    /// delete or replace, where their pods would go, savings and evictions.
    Consolidate(consolidate_cmd::Args),
    /// Explain a plan: why each new node's instance type and capacity type won over the
    /// next cheapest alternative, and what ruled out every pool and type for each pod
    /// that cannot be scheduled (same as `solve --explain`).
    Explain(solve_cmd::Args),
    /// Convert a public trace (alibaba-gpu-2023, simkube, google-2019, kubectl) to the
    /// native trace format on standard output.
    Import(import_cmd::Args),
    /// Replay a grid of scenarios, node pool sets, settings, seeds and strategies; write
    /// one row per run (CSV, Parquet) and paired statistics. Resumes where it stopped.
    Sweep(sweep_cmd::Args),
    /// Which NodePool change saves how much on a workload: candidate edits replayed with
    /// common random numbers, paired differences with 95% intervals, the Pareto set, and
    /// each recommended change as a diff of the NodePool file.
    Advise(advise_cmd::Args),
}

/// An error and the exit code it deserves: 2 for bad input, 1 for internal failures.
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// Bad input (a file, a flag, a manifest): exit code 2.
    pub fn input(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 2,
            error: e.into(),
        }
    }
    /// Anything else: exit code 1.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Failure {
            code: 1,
            error: e.into(),
        }
    }
}

/// Print a line to standard output; a closed pipe (`| head`) ends the program quietly.
pub fn emit(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing standard output: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    // Logs go to standard error, filtered by RUST_LOG (nothing by default).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let r = match cli.command {
        Command::Catalog(a) => catalog_cmd::run(a),
        Command::Solve(a) => solve_cmd::run(a),
        Command::Explain(mut a) => {
            a.explain = true;
            solve_cmd::run(a)
        }
        Command::Import(a) => import_cmd::run(a, cli.quiet),
        Command::Compare(a) => compare_cmd::run(a),
        Command::Replay(a) => sim_cmd::replay(a),
        Command::Matrix(a) => matrix_cmd::run(a),
        Command::Consolidate(a) => consolidate_cmd::run(a),
        Command::Sweep(a) => sweep_cmd::run(a),
        Command::Advise(a) => advise_cmd::run(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}
