use super::*;
use nodepack_model::{Millis, Money};
use nodepack_sim::metrics::{Percentiles, Sample, Summary};

fn summary(strategy: &str, cost: f64) -> Summary {
    let mut s = Summary::default();
    s.strategy = strategy.into();
    s.seed = 7;
    s.pods_total = 4;
    s.cost = Money::from_usd(cost);
    s.cost_spot = Money::from_usd(cost / 2.0);
    s.cost_on_demand = Money::from_usd(cost / 2.0);
    s.lower_bound = Money::from_usd(1.0);
    s.pending = Percentiles {
        p50: Millis::from_secs(30),
        p90: Millis::from_secs(45),
        p99: Millis::from_secs(60),
        max: Millis::from_secs(61),
    };
    s
}

fn series(scale: f64) -> Vec<Sample> {
    (0..=60)
        .map(|i| {
            let mut s = Sample::default();
            s.t = Millis::from_mins(i);
            s.cost_per_hour = Money::from_usd(scale);
            s.cost_so_far = Money::from_usd(scale * i as f64 / 60.0);
            s.nodes_spot = 2;
            s.nodes_on_demand = 1;
            // Held spares at the start of the cheaper run only.
            s.nodes_held = if scale < 3.0 && i < 2 { 3 } else { 0 };
            s.pending = (i % 5) as u32;
            s.running = 4;
            s.cpu_utilization = 0.5;
            s.memory_utilization = 0.25;
            s
        })
        .collect()
}

#[test]
fn the_report_has_every_chart_the_table_and_the_scenario() {
    let (a, b) = (summary("nodepack", 2.5), summary("karpenter<x>", 4.0));
    let (sa, sb) = (series(2.5), series(4.0));
    let lat = [0u64, 25_000, 30_000, 61_000];
    let input = ReportInput {
        scenario: "web-diurnal".into(),
        purpose: "a web tier".into(),
        horizon_seconds: 3600.0,
        catalog: "aws/us-east-1".into(),
        command: "nodepack compare scenarios/sim/web-diurnal.yaml --report r.html".into(),
        runs: vec![
            Run {
                summary: &a,
                series: &sa,
                pending_ms: &lat,
            },
            Run {
                summary: &b,
                series: &sb,
                pending_ms: &lat,
            },
        ],
    };
    let h = html(&input).unwrap();
    assert!(h.starts_with("<!DOCTYPE html>"));
    for (id, title) in CHARTS {
        let at = h
            .find(&format!("id=\"chart-{id}\""))
            .unwrap_or_else(|| panic!("{id}"));
        let fig = &h[at..];
        let end = fig.find("</figure>").unwrap();
        let fig = &fig[..end];
        assert!(fig.contains(title), "{id}");
        assert!(fig.contains("<svg"), "{id}");
        // Axes carry their descriptions and the legend names the strategies.
        assert!(fig.contains("nodepack"), "{id}: legend");
        assert!(fig.contains("karpenter&lt;x&gt;"), "{id}: legend escaped");
        assert!(
            fig.contains("<polyline") || fig.contains("<path"),
            "{id}: lines"
        );
    }
    assert!(h.contains("hours"));
    assert!(h.contains("dollars"));
    assert!(h.contains("nodepack spot") && h.contains("nodepack on-demand"));
    // Held nodes are a dotted line of their own, only for a run that had any.
    assert!(h.contains("nodepack held") && !h.contains("karpenter&lt;x&gt; held"));
    assert!(h.contains("stroke-dasharray=\"2 4\""));
    // The table: a header row and one row per run, numbers formatted.
    let t = &h[h.find("<table id=\"summary\"").unwrap()..h.find("</table>").unwrap()];
    assert_eq!(t.matches("<tr>").count(), 3);
    assert!(t.contains("<td>$2.50</td>") && t.contains("<td>$4.00</td>"));
    assert!(t.contains("<td>2.50</td>"), "cost over lower bound");
    assert!(h.contains("web-diurnal") && h.contains("id=\"seed\">7<"));
    // Self-contained: nothing is loaded from elsewhere.
    assert!(!h.contains("src=\"http") && !h.contains("href=\"http") && !h.contains("<script"));
}

#[test]
fn the_latency_distribution_reaches_one_hundred_percent_in_order() {
    let ms: Vec<u64> = (0..10_000).map(|i| i * 3).collect();
    let c = cdf(&ms);
    assert!(c.len() <= 401, "{}", c.len());
    assert!(c.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1));
    assert_eq!(c.last().unwrap().1, 100.0);
    assert_eq!(c[0].0, 0.1, "zero latency drawn at 0.1 s on the log axis");
    assert!(cdf(&[]).is_empty());
}
