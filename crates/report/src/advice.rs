//! The NodePool advisor's page: the Pareto chart (cost against p99 pending, point size
//! for evictions per node-hour), the table of candidates and the diff of each
//! recommended change.

use crate::{esc, ReportError, STYLE};
use plotters::prelude::*;
use std::fmt::Write as _;

/// How a candidate is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PointKind {
    /// The NodePools as written.
    Current,
    /// A recommended change.
    Recommended,
    /// A trade-off: better on some measure, worse on another.
    TradeOff,
    /// On the Pareto front, not recommended.
    Front,
    /// Any other candidate replayed on every seed.
    Other,
}

/// One candidate on the chart.
#[derive(Clone, Debug)]
pub struct Point {
    /// Its label (candidate id).
    pub label: String,
    /// Mean cost, dollars.
    pub cost: f64,
    /// Mean p99 pending, seconds.
    pub p99: f64,
    /// Mean evictions per node-hour.
    pub evictions: f64,
    /// How it is drawn.
    pub kind: PointKind,
}

/// What the advisor's page shows.
#[derive(Clone, Debug, Default)]
pub struct AdviceInput {
    /// Title (the workload).
    pub title: String,
    /// Lines under the title (NodePool file, strategy, seeds, budget, command).
    pub meta: Vec<String>,
    /// The candidates' table: headers, then rows.
    pub headers: Vec<String>,
    /// Rows, each as long as `headers`.
    pub rows: Vec<Vec<String>>,
    /// The chart's points.
    pub points: Vec<Point>,
    /// Recommended changes: title and unified diff.
    pub diffs: Vec<(String, String)>,
    /// Remarks.
    pub notes: Vec<String>,
}

const SIZE: (u32, u32) = (760, 460);

fn color(k: PointKind) -> RGBColor {
    match k {
        PointKind::Current => RGBColor(0, 0, 0),
        PointKind::Recommended => RGBColor(0, 158, 115),
        PointKind::TradeOff => RGBColor(230, 159, 0),
        PointKind::Front => RGBColor(0, 114, 178),
        PointKind::Other => RGBColor(160, 160, 160),
    }
}

fn err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError(format!("{e:?}"))
}

/// The Pareto chart as inline SVG.
pub fn pareto_svg(points: &[Point]) -> Result<String, ReportError> {
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
        for p in points {
            x0 = x0.min(p.cost);
            x1 = x1.max(p.cost);
            y1 = y1.max(p.p99);
        }
        if points.is_empty() {
            (x0, x1) = (0.0, 1.0);
        }
        let pad = ((x1 - x0) * 0.08).max(x1.abs() * 0.02).max(0.01);
        let ev_max = points.iter().map(|p| p.evictions).fold(0.0f64, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d((x0 - pad).max(0.0)..x1 + pad, 0.0..(y1 * 1.15).max(1.0))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("cost, $ (mean over seeds)")
            .y_desc("p99 pending, s")
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        // Others first, so the front and the recommendations are drawn on top.
        let mut order: Vec<&Point> = points.iter().collect();
        order.sort_by_key(|p| match p.kind {
            PointKind::Other => 0,
            PointKind::Front => 1,
            PointKind::Current => 2,
            PointKind::TradeOff => 3,
            PointKind::Recommended => 4,
        });
        for p in order {
            let r = 4.0
                + if ev_max > 0.0 {
                    12.0 * (p.evictions / ev_max).sqrt()
                } else {
                    0.0
                };
            let c = color(p.kind);
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.cost, p.p99),
                    r as i32,
                    c.mix(0.55).filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    p.label.clone(),
                    (p.cost, p.p99),
                    ("sans-serif", 12).into_font().color(&c),
                )))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(match s.find("<svg") {
        Some(i) => s[i..].to_string(),
        None => s,
    })
}

/// The advisor's page as one self-contained HTML document.
pub fn advice_html(input: &AdviceInput) -> Result<String, ReportError> {
    let mut out = String::new();
    let title = format!("nodepack advise: {}", input.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}\npre{{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:13px}}</style></head><body><h1>{}</h1>",
        esc(&title),
        esc(&title)
    );
    for m in &input.meta {
        let _ = write!(out, "<p class=\"meta\">{}</p>", esc(m));
    }
    out.push_str("<h2>Cost against p99 pending</h2><figure id=\"pareto\">");
    out.push_str(&pareto_svg(&input.points)?);
    out.push_str("</figure><p class=\"meta\">Black: the NodePools as written; green: recommended; orange: trade-offs (better on one measure, worse on another beyond the noise); blue: on the Pareto front of (cost, p99 pending, evictions per node-hour); grey: other candidates replayed on every seed. A point's size grows with evictions per node-hour.</p>");
    out.push_str("<h2>Candidates</h2><table id=\"candidates\"><tr>");
    for h in &input.headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>");
    for r in &input.rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    if !input.diffs.is_empty() {
        out.push_str("<h2>Recommended changes</h2>");
        for (t, d) in &input.diffs {
            let _ = write!(out, "<h3>{}</h3><pre>{}</pre>", esc(t), esc(d));
        }
    }
    if !input.notes.is_empty() {
        out.push_str("<h2>Notes</h2><ul>");
        for n in &input.notes {
            let _ = write!(out, "<li>{}</li>", esc(n));
        }
        out.push_str("</ul>");
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_the_chart_the_table_and_the_diffs() {
        let p = |label: &str, cost, kind| Point {
            label: label.into(),
            cost,
            p99: 30.0,
            evictions: 0.1,
            kind,
        };
        let page = advice_html(&AdviceInput {
            title: "web <1>".into(),
            meta: vec!["strategy karpenter".into()],
            headers: vec!["id".into(), "cost".into()],
            rows: vec![vec!["current".into(), "$10".into()]],
            points: vec![
                p("current", 10.0, PointKind::Current),
                p("e1", 6.0, PointKind::Recommended),
            ],
            diffs: vec![("e1: add spot".into(), "-a\n+b\n".into())],
            notes: vec![],
        })
        .unwrap();
        assert!(page.contains("<svg") && page.contains("<circle"), "{page}");
        assert!(page.contains("web &lt;1&gt;") && page.contains("<td>current</td>"));
        assert!(page.contains("<pre>-a\n+b\n</pre>"));
    }
}
