//! Line charts as SVG text, with axes, units and a legend (plotters' SVG backend).

use crate::ReportError;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

/// Width and height of a chart, pixels.
const SIZE: (u32, u32) = (680, 400);
/// At most this many points are drawn per line (longer series are reduced to the
/// minimum and maximum of each bucket, so spikes stay visible).
const MAX_POINTS: usize = 1200;

/// Strategy colors (colour-blind safe Okabe-Ito palette).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(110, 110, 110),
    RGBColor(204, 121, 167),
    RGBColor(213, 94, 0),
];

/// One line of a chart.
pub struct Line {
    name: String,
    color: RGBColor,
    /// Dash and gap lengths in pixels; `None`: solid.
    dash: Option<(u32, u32)>,
    points: Vec<(f64, f64)>,
}

impl Line {
    /// A line named `name` in the color of run `index`, solid or dashed.
    pub fn new(name: &str, index: usize, dashed: bool, points: Vec<(f64, f64)>) -> Self {
        Line {
            name: name.to_string(),
            color: PALETTE[index % PALETTE.len()],
            dash: dashed.then_some((8, 5)),
            points: reduce(points),
        }
    }

    /// A dotted line named `name` in the color of run `index`.
    pub fn dotted(name: &str, index: usize, points: Vec<(f64, f64)>) -> Self {
        Line {
            dash: Some((2, 4)),
            ..Line::new(name, index, false, points)
        }
    }
}

/// Keep at most [`MAX_POINTS`] points: per bucket of consecutive points, the lowest and
/// the highest in their time order.
fn reduce(points: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if points.len() <= MAX_POINTS {
        return points;
    }
    let per = points.len().div_ceil(MAX_POINTS / 2);
    let mut out = Vec::with_capacity(MAX_POINTS + 2);
    for chunk in points.chunks(per) {
        let lo = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        let hi = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1));
        if let (Some((i, l)), Some((j, h))) = (lo, hi) {
            if i == j {
                out.push(*l);
            } else if i < j {
                out.extend([*l, *h]);
            } else {
                out.extend([*h, *l]);
            }
        }
    }
    if let (Some(last), Some(kept)) = (points.last(), out.last()) {
        if last != kept {
            out.push(*last);
        }
    }
    out
}

/// A chart: title, axis descriptions with units, and lines.
pub struct Chart {
    /// Element id suffix.
    pub id: &'static str,
    /// Title (the figure caption).
    pub title: String,
    x_desc: String,
    y_desc: String,
    /// Right end of the x axis (0: from the data).
    x_max: f64,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// The lines.
    pub lines: Vec<Line>,
}

fn err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError(format!("{e:?}"))
}

impl Chart {
    /// An empty chart.
    pub fn new(id: &'static str, title: &str, x_desc: &str, y_desc: &str, x_max: f64) -> Self {
        Chart {
            id,
            title: title.to_string(),
            x_desc: x_desc.to_string(),
            y_desc: y_desc.to_string(),
            x_max,
            log_x: false,
            lines: Vec::new(),
        }
    }

    fn y_max(&self) -> f64 {
        let m = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max);
        if m > 0.0 {
            m * 1.08
        } else {
            1.0
        }
    }

    /// The legend as HTML (above the chart, so it never hides a line): a swatch in
    /// each line's color and dash pattern, and its name.
    pub fn legend_html(&self) -> String {
        let mut out = String::from("<div class=\"legend\">");
        for l in &self.lines {
            let RGBColor(r, g, b) = l.color;
            let dash = match l.dash {
                Some((on, off)) => format!(" stroke-dasharray=\"{on} {off}\""),
                None => String::new(),
            };
            out.push_str(&format!(
                "<span class=\"key\"><svg width=\"24\" height=\"10\"><line x1=\"0\" y1=\"5\" x2=\"24\" y2=\"5\" stroke=\"#{r:02x}{g:02x}{b:02x}\" stroke-width=\"3\"{dash}/></svg>{}</span>",
                crate::esc(&l.name)
            ));
        }
        out.push_str("</div>");
        out
    }

    /// Draw as an SVG document (no XML declaration, ready to inline in HTML).
    pub fn svg(&self) -> Result<String, ReportError> {
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let y = 0.0..self.y_max();
            if self.log_x {
                let x_hi = self
                    .lines
                    .iter()
                    .flat_map(|l| l.points.iter().map(|p| p.0))
                    .fold(1.0f64, f64::max)
                    * 1.5;
                self.draw(&root, (0.1..x_hi).log_scale(), y)?;
            } else {
                let x_hi = if self.x_max > 0.0 { self.x_max } else { 1.0 };
                self.draw(&root, 0.0..x_hi, y)?;
            }
            root.present().map_err(err)?;
        }
        // Inline SVG needs no XML prolog.
        Ok(match s.find("<svg") {
            Some(i) => s[i..].to_string(),
            None => s,
        })
    }

    fn draw<X>(
        &self,
        root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
        x: X,
        y: std::ops::Range<f64>,
    ) -> Result<(), ReportError>
    where
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x, y)
            .map_err(err)?;
        let y_top = self.y_max();
        let y_fmt = move |v: &f64| {
            if y_top >= 10.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            }
        };
        chart
            .configure_mesh()
            .y_label_formatter(&y_fmt)
            .x_desc(self.x_desc.as_str())
            .y_desc(self.y_desc.as_str())
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for l in &self.lines {
            let style = l.color.stroke_width(2);
            if let Some((on, off)) = l.dash {
                chart
                    .draw_series(DashedLineSeries::new(
                        l.points.iter().copied(),
                        on,
                        off,
                        style,
                    ))
                    .map_err(err)?;
            } else {
                chart
                    .draw_series(LineSeries::new(l.points.iter().copied(), style))
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_series_keep_their_extremes() {
        let pts: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, if i == 4321 { 99.0 } else { (i % 7) as f64 }))
            .collect();
        let r = reduce(pts);
        assert!(r.len() <= MAX_POINTS + 1, "{}", r.len());
        assert!(r.contains(&(4321.0, 99.0)));
        assert_eq!(r.last(), Some(&(9999.0, (9999 % 7) as f64)));
        assert!(r.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
