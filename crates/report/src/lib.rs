//! Self-contained HTML reports of replays: the summary table, the scenario and seed, and
//! SVG charts (cost over time, nodes by capacity type, pending pods, pending-latency
//! distribution, CPU and memory utilization), one line per strategy.
//!
//! Getting started: replay a generated service and draw its report.
//!
//! ```
//! use nodepack_model::*;
//! use nodepack_sim::{config::{Generator, ServiceGen}, Replay};
//!
//! let m5 = InstanceType::new("m.large", Resources::new(Millicores(2000), Bytes::from_gib(8)).with_pods(29))
//!     .with_offering(Offering::new("z1", CapacityType::OnDemand, Money::from_usd(0.096)));
//! let r = Replay::new(vec![NodePool::new("default")], Catalog::new("demo", vec![m5]))
//!     .generator(Generator { services: vec![ServiceGen::new("web", Millicores(500), Bytes::from_mib(512), 4)], jobs: vec![] })
//!     .autoscaler("karpenter")
//!     .horizon(Millis::from_mins(20))
//!     .run()?;
//! let page = nodepack_report::html(&nodepack_report::ReportInput {
//!     scenario: "demo".into(),
//!     purpose: "four web pods".into(),
//!     horizon_seconds: 1200.0,
//!     catalog: "demo (1 type)".into(),
//!     command: "cargo test".into(),
//!     runs: vec![nodepack_report::Run { summary: &r.summary, series: &r.series, pending_ms: &r.pending_ms }],
//! })?;
//! assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Pure: [`html`] returns the document as a string (the CLI writes it). The page has no
//! scripts and loads nothing: the charts are inline SVG drawn with plotters' SVG
//! backend, text included, so it opens offline in any browser.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod advice;
mod chart;

pub use advice::{advice_html, pareto_svg, AdviceInput, Point, PointKind};

use chart::{Chart, Line};
use nodepack_sim::metrics::{Sample, Summary};
use std::fmt::Write as _;

/// One replay to show.
#[derive(Clone, Copy, Debug)]
pub struct Run<'a> {
    /// Its summary.
    pub summary: &'a Summary,
    /// Its time series.
    pub series: &'a [Sample],
    /// Pending latency of every scheduled pod, milliseconds, sorted.
    pub pending_ms: &'a [u64],
}

/// What the report is about.
#[derive(Clone, Debug)]
pub struct ReportInput<'a> {
    /// Scenario name (or trace file).
    pub scenario: String,
    /// Its purpose.
    pub purpose: String,
    /// Simulated horizon, seconds.
    pub horizon_seconds: f64,
    /// Catalog name and size, e.g. `aws/us-east-1 (1,100 types)`.
    pub catalog: String,
    /// The command that produced it (shown verbatim, for reproduction).
    pub command: String,
    /// The replays, in the order to show them.
    pub runs: Vec<Run<'a>>,
}

/// An error while drawing a chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError(pub String);

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "drawing the report: {}", self.0)
    }
}

impl std::error::Error for ReportError {}

/// The charts of a report, by id and title (in page order).
pub const CHARTS: [(&str, &str); 6] = [
    ("cost", "Cumulative cost"),
    ("nodes", "Nodes by capacity type"),
    ("pending", "Pending pods"),
    ("latency", "Pending latency distribution"),
    ("cpu", "CPU utilization"),
    ("memory", "Memory utilization"),
];

/// Escape text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The label of a run: the strategy, plus the seed when several seeds are shown.
fn label(run: &Run, many_seeds: bool) -> String {
    if many_seeds {
        format!("{} (seed {})", run.summary.strategy, run.summary.seed)
    } else {
        run.summary.strategy.clone()
    }
}

fn hours(s: &Sample) -> f64 {
    s.t.secs_f64() / 3600.0
}

/// Build the charts' lines from the runs.
fn charts(input: &ReportInput) -> Vec<Chart> {
    let many_seeds = input
        .runs
        .iter()
        .any(|r| r.summary.seed != input.runs[0].summary.seed);
    let x_max = (input.horizon_seconds / 3600.0).max(1e-3);
    let mut cost = Chart::new("cost", "Cumulative cost", "hours", "dollars", x_max);
    let mut nodes = Chart::new("nodes", "Nodes by capacity type", "hours", "nodes", x_max);
    let mut pending = Chart::new("pending", "Pending pods", "hours", "pods", x_max);
    let mut latency = Chart::new(
        "latency",
        "Pending latency distribution",
        "seconds to binding, log scale (never bound: to deletion or horizon)",
        "% of pods",
        0.0,
    );
    latency.log_x = true;
    let mut cpu = Chart::new(
        "cpu",
        "CPU utilization",
        "hours",
        "% of allocatable CPU requested",
        x_max,
    );
    let mut mem = Chart::new(
        "memory",
        "Memory utilization",
        "hours",
        "% of allocatable memory requested",
        x_max,
    );
    for (i, run) in input.runs.iter().enumerate() {
        let name = label(run, many_seeds);
        let s = run.series;
        let pts = |f: &dyn Fn(&Sample) -> f64| -> Vec<(f64, f64)> {
            s.iter().map(|x| (hours(x), f(x))).collect()
        };
        cost.lines
            .push(Line::new(&name, i, false, pts(&|x| x.cost_so_far.usd())));
        nodes.lines.push(Line::new(
            &format!("{name} spot"),
            i,
            false,
            pts(&|x| x.nodes_spot as f64),
        ));
        nodes.lines.push(Line::new(
            &format!("{name} on-demand"),
            i,
            true,
            pts(&|x| x.nodes_on_demand as f64),
        ));
        if s.iter().any(|x| x.nodes_held > 0) {
            nodes.lines.push(Line::dotted(
                &format!("{name} held"),
                i,
                pts(&|x| x.nodes_held as f64),
            ));
        }
        pending
            .lines
            .push(Line::new(&name, i, false, pts(&|x| x.pending as f64)));
        cpu.lines.push(Line::new(
            &name,
            i,
            false,
            pts(&|x| x.cpu_utilization * 100.0),
        ));
        mem.lines.push(Line::new(
            &name,
            i,
            false,
            pts(&|x| x.memory_utilization * 100.0),
        ));
        latency
            .lines
            .push(Line::new(&name, i, false, cdf(run.pending_ms)));
    }
    vec![cost, nodes, pending, latency, cpu, mem]
}

/// The empirical distribution of pending latency as (seconds, % of pods bound within),
/// at most ~400 points; latencies under 0.1 s are drawn at 0.1 s (log axis).
fn cdf(sorted_ms: &[u64]) -> Vec<(f64, f64)> {
    let n = sorted_ms.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(400).max(1);
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let j = (i + step).min(n) - 1;
        // Jump to the last pod with the same latency so the step is vertical.
        let mut k = j;
        while k + 1 < n && sorted_ms[k + 1] == sorted_ms[j] {
            k += 1;
        }
        let secs = (sorted_ms[k] as f64 / 1000.0).max(0.1);
        out.push((secs, (k + 1) as f64 / n as f64 * 100.0));
        i = k + 1;
    }
    out
}

fn money(x: f64) -> String {
    format!("${x:.2}")
}

/// The summary table.
fn table(input: &ReportInput, out: &mut String) {
    let many_seeds = input
        .runs
        .iter()
        .any(|r| r.summary.seed != input.runs[0].summary.seed);
    let headers = [
        "strategy",
        "cost",
        "spot",
        "on-demand",
        "lower bound",
        "cost / LB",
        "pending p50 s",
        "p90 s",
        "p99 s",
        "max s",
        "never bound",
        "nodes launched",
        "spot interruptions",
        "evictions",
        "evictions / node-hour",
        "CPU util",
        "memory util",
        "node-hours",
    ];
    out.push_str("<table id=\"summary\"><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for run in &input.runs {
        let s = run.summary;
        let cells = [
            label(run, many_seeds),
            money(s.cost.usd()),
            money(s.cost_spot.usd()),
            money(s.cost_on_demand.usd()),
            money(s.lower_bound.usd()),
            if s.lower_bound.usd() > 0.0 {
                format!("{:.2}", s.cost.usd() / s.lower_bound.usd())
            } else {
                "-".into()
            },
            format!("{:.1}", s.pending.p50.secs_f64()),
            format!("{:.1}", s.pending.p90.secs_f64()),
            format!("{:.1}", s.pending.p99.secs_f64()),
            format!("{:.1}", s.pending.max.secs_f64()),
            (s.pods_unschedulable + s.deleted_before_binding).to_string(),
            s.nodes_launched.to_string(),
            s.spot_interruptions.to_string(),
            s.pods_evicted.to_string(),
            format!("{:.3}", s.evictions_per_node_hour),
            format!("{:.0}%", s.cpu_utilization * 100.0),
            format!("{:.0}%", s.memory_utilization * 100.0),
            format!("{:.1}", s.node_time.secs_f64() / 3600.0),
        ];
        out.push_str("<tr>");
        for c in cells {
            let _ = write!(out, "<td>{}</td>", esc(&c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em;color:#222;max-width:1500px}
h1{margin-bottom:.2em}.meta{color:#555;margin:.2em 0}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(640px,1fr));gap:16px}
figure{margin:0;border:1px solid #ddd;padding:8px}figcaption{font-weight:600;margin-bottom:4px}
code{background:#f3f3f3;padding:2px 4px}
figure>svg{width:100%;height:auto}
.legend{font-size:13px;margin:2px 0 4px}.key{margin-right:14px;white-space:nowrap}.key svg{vertical-align:middle;margin-right:4px}";

/// The report as one self-contained HTML document.
pub fn html(input: &ReportInput) -> Result<String, ReportError> {
    let mut out = String::new();
    let title = format!("nodepack replay: {}", input.scenario);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let _ = write!(out, "<h1>{}</h1>", esc(&title));
    let seeds: Vec<String> = {
        let mut v: Vec<u64> = input.runs.iter().map(|r| r.summary.seed).collect();
        v.sort_unstable();
        v.dedup();
        v.iter().map(u64::to_string).collect()
    };
    let _ = write!(
        out,
        "<p class=\"meta\" id=\"purpose\">{}</p><p class=\"meta\" id=\"scenario\">scenario <b>{}</b>, seed <b id=\"seed\">{}</b>, horizon {:.1} h, catalog {}</p><p class=\"meta\">produced by <code>{}</code></p>",
        esc(&input.purpose),
        esc(&input.scenario),
        esc(&seeds.join(", ")),
        input.horizon_seconds / 3600.0,
        esc(&input.catalog),
        esc(&input.command),
    );
    out.push_str("<h2>Summary</h2>");
    table(input, &mut out);
    out.push_str("<p class=\"meta\">Cost is billed per second with a 60 s minimum; the lower bound is the fractional LP of the running pods integrated over time; utilization is requested over allocatable on ready nodes, time-weighted.</p>");
    out.push_str("<h2>Charts</h2><div class=\"charts\">");
    for c in charts(input) {
        let svg = c.svg()?;
        let _ = write!(
            out,
            "<figure id=\"chart-{}\"><figcaption>{}</figcaption>{}{}</figure>",
            c.id,
            esc(&c.title),
            c.legend_html(),
            svg
        );
    }
    out.push_str("</div></body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests;
