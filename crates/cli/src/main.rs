//! The `nodepack` command: the only part of nodepack that touches files, the terminal,
//! the environment and the clock.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod catalog_cmd;
mod compare_cmd;
mod consolidate_cmd;
mod input;
mod sim_cmd;
mod solve_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use std::process::ExitCode;

/// Kubernetes node autoprovisioning: solve, compare and explain instance choices.
#[derive(Parser)]
#[command(name = "nodepack", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// A table for people.
    Table,
    /// JSON for programs.
    Json,
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
    /// Dry run of consolidation on a cluster snapshot: which nodes a strategy would
    /// delete or replace, where their pods would go, savings and evictions.
    Consolidate(consolidate_cmd::Args),
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
    let r = match cli.command {
        Command::Catalog(a) => catalog_cmd::run(a),
        Command::Solve(a) => solve_cmd::run(a),
        Command::Compare(a) => compare_cmd::run(a),
        Command::Replay(a) => sim_cmd::replay(a),
        Command::Consolidate(a) => consolidate_cmd::run(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}
