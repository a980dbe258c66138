//! The import's chart, hand-written SVG: records per second and HubSpot
//! calls per second over time, one panel each, from the once-a-second
//! samples the bench takes; with HubSpot's real limits, the limit (19 calls
//! per second) is drawn across the calls panel.

use serde::Serialize;
use std::fmt::Write;

/// One sample taken during the import.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Since the import started.
    pub seconds: f64,
    /// Records read and handled so far, from the import job's progress (the
    /// chunks' counts, which move at each checkpoint, every page of 1,000
    /// records).
    pub records: u64,
    /// API calls made so far during the import, from the sandbox's counters.
    pub hubspot_calls: u64,
    pub salesforce_calls: u64,
    /// CPU time this process used so far during the import (the sandbox's
    /// included unless it runs in its own process).
    pub cpu_seconds: Option<f64>,
    /// With the sandbox in its own process: its CPU time so far.
    pub sandbox_cpu_seconds: Option<f64>,
}

/// CPU seconds used per second of wall time while records were being
/// written: from the first sample that counted records to the last sample,
/// of the CPU time `cpu` reads from a sample. `None` when that span is
/// under a second or a sample has no CPU time.
pub fn cores_while_writing(samples: &[Sample], cpu: impl Fn(&Sample) -> Option<f64>) -> Option<f64> {
    let first = samples.iter().find(|s| s.records > 0)?;
    let last = samples.last()?;
    let seconds = last.seconds - first.seconds;
    (seconds >= 1.0).then_some(())?;
    Some((cpu(last)? - cpu(first)?) / seconds)
}

/// Rates are taken over this trailing window, so that the import's
/// checkpoints (every 1,000 records of a chunk) do not draw as spikes.
pub const RATE_WINDOW_SECONDS: f64 = 5.0;

const WIDTH: f64 = 800.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const PANEL_HEIGHT: f64 = 200.0;
const PANEL_GAP: f64 = 80.0;
const BOTTOM: f64 = 60.0;

/// Per-second rates of `value`: one point per sample after the first, at
/// the sample's time, over the trailing [`RATE_WINDOW_SECONDS`] (or since
/// the first sample when that is nearer).
pub fn rates(samples: &[Sample], value: impl Fn(&Sample) -> u64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for (i, now) in samples.iter().enumerate().skip(1) {
        let from =
            samples[..i].iter().rev().find(|s| now.seconds - s.seconds >= RATE_WINDOW_SECONDS).unwrap_or(&samples[0]);
        let dt = now.seconds - from.seconds;
        if dt > 0.0 {
            out.push((now.seconds, value(now).saturating_sub(value(from)) as f64 / dt));
        }
    }
    out
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `x`
/// (at least 1).
pub fn nice_ceiling(x: f64) -> f64 {
    if x.is_nan() || x <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|v| *v >= x).unwrap_or(10.0 * magnitude)
}

/// The plot area of a panel: left, top, width, height.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Area {
    fn panel(index: usize) -> Area {
        Area {
            x: LEFT,
            y: TOP + index as f64 * (PANEL_HEIGHT + PANEL_GAP),
            width: WIDTH - LEFT - RIGHT,
            height: PANEL_HEIGHT,
        }
    }

    /// A data point in pixels: x from 0 to `x_max`, y from 0 to `y_max`
    /// (upwards), clamped into the area.
    pub fn point(&self, (x, y): (f64, f64), x_max: f64, y_max: f64) -> (f64, f64) {
        let fx = (x / x_max).clamp(0.0, 1.0);
        let fy = (y / y_max).clamp(0.0, 1.0);
        (self.x + fx * self.width, self.y + self.height - fy * self.height)
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

struct Panel<'a> {
    title: &'a str,
    unit: &'a str,
    points: Vec<(f64, f64)>,
    colour: &'a str,
    limit: Option<(f64, &'a str)>,
}

fn draw(out: &mut String, area: Area, panel: &Panel<'_>, x_max: f64) {
    let highest = panel.points.iter().map(|p| p.1).fold(0.0, f64::max);
    let y_max = nice_ceiling(highest.max(panel.limit.map_or(0.0, |(l, _)| l * 1.2)));
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="15" font-weight="bold">{}</text>"#,
        area.x,
        area.y - 12.0,
        escape(panel.title)
    );
    // Grid and y labels: 0, 1/4, ... of the top.
    for step in 0..=4 {
        let value = y_max * f64::from(step) / 4.0;
        let (_, y) = area.point((0.0, value), x_max, y_max);
        let _ = writeln!(
            out,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            area.x,
            area.x + area.width
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"#,
            area.x - 6.0,
            y + 4.0,
            label(value)
        );
    }
    // X labels: 0, 1/5, ... of the duration.
    for step in 0..=5 {
        let value = x_max * f64::from(step) / 5.0;
        let (x, y) = area.point((value, 0.0), x_max, y_max);
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            y + 16.0,
            label(value)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">seconds since the import started</text>"#,
        area.x + area.width / 2.0,
        area.y + area.height + 34.0
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">{}</text>"#,
        area.x - 55.0,
        area.y + area.height / 2.0,
        area.x - 55.0,
        area.y + area.height / 2.0,
        escape(panel.unit)
    );
    // Axes.
    let _ = writeln!(
        out,
        r##"<polyline class="axis" points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="none" stroke="#333"/>"##,
        area.x,
        area.y,
        area.x,
        area.y + area.height,
        area.x + area.width,
        area.y + area.height
    );
    if let Some((limit, text)) = panel.limit {
        let (_, y) = area.point((0.0, limit), x_max, y_max);
        let _ = writeln!(
            out,
            r##"<line class="limit" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#c0392b" stroke-dasharray="6 4"/>"##,
            area.x,
            area.x + area.width
        );
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#c0392b">{}</text>"##,
            area.x + area.width - 4.0,
            y - 5.0,
            escape(text)
        );
    }
    let points: Vec<String> = panel
        .points
        .iter()
        .map(|p| {
            let (x, y) = area.point(*p, x_max, y_max);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = writeln!(
        out,
        r#"<polyline class="series" points="{}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
        points.join(" "),
        panel.colour
    );
}

/// A number for an axis: no decimals from 10 up.
fn label(value: f64) -> String {
    if value >= 10.0 || value == 0.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

/// The whole chart. `limit`: HubSpot's calls per second with real limits.
pub fn svg(samples: &[Sample], limit: Option<f64>, title: &str) -> String {
    let x_max = nice_ceiling(samples.last().map_or(1.0, |s| s.seconds));
    let height = TOP + 2.0 * PANEL_HEIGHT + PANEL_GAP + BOTTOM;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0}" height="{height:.0}" viewBox="0 0 {WIDTH:.0} {height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(out, r##"<text x="{LEFT:.1}" y="20" font-size="13" fill="#555">{}</text>"##, escape(title));
    let panels = [
        Panel {
            title: "Import throughput",
            unit: "records per second",
            points: rates(samples, |s| s.records),
            colour: "#2471a3",
            limit: None,
        },
        Panel {
            title: "HubSpot API calls",
            unit: "calls per second",
            points: rates(samples, |s| s.hubspot_calls),
            colour: "#1e8449",
            limit: limit.map(|l| (l, "HubSpot's limit (190 per 10 s)")),
        },
    ];
    for (i, panel) in panels.iter().enumerate() {
        draw(&mut out, Area::panel(i), panel, x_max);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    fn samples() -> Vec<Sample> {
        (0..=20)
            .map(|i| Sample {
                seconds: f64::from(i),
                records: u64::from(i as u32) * 1_000,
                hubspot_calls: u64::from(i as u32) * 15,
                salesforce_calls: u64::from(i as u32),
                cpu_seconds: Some(f64::from(i) * 0.5),
                sandbox_cpu_seconds: None,
            })
            .collect()
    }

    #[test]
    fn cores_are_counted_only_while_records_are_written() {
        // Reading for 3 s at a tenth of a core, then writing at 1.5 cores.
        let run: Vec<Sample> = (0..=10)
            .map(|i| Sample {
                seconds: f64::from(i),
                records: if i > 3 { u64::from(i as u32) * 1_000 } else { 0 },
                cpu_seconds: Some(if i <= 3 { f64::from(i) * 0.1 } else { 0.3 + f64::from(i - 3) * 1.5 }),
                ..samples()[0]
            })
            .collect();
        let cores = cores_while_writing(&run, |s| s.cpu_seconds).unwrap();
        assert!((cores - 1.5).abs() < 1e-9, "{cores}");
        assert_eq!(cores_while_writing(&run, |s| s.sandbox_cpu_seconds), None);
        assert_eq!(cores_while_writing(&run[..5], |s| s.cpu_seconds), None, "one sample of writing is no span");
        assert_eq!(cores_while_writing(&samples()[..1], |s| s.cpu_seconds), None);
    }

    /// Start tags by name, with a check that every element is closed.
    fn elements(svg: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut reader = Reader::from_str(svg);
        let mut open = Vec::new();
        let mut seen = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                event @ (Event::Start(_) | Event::Empty(_)) => {
                    let (Event::Start(e) | Event::Empty(e)) = &event else { unreachable!() };
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.unwrap();
                            (
                                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                                a.unescape_value().unwrap().into_owned(),
                            )
                        })
                        .collect();
                    if matches!(event, Event::Start(_)) {
                        open.push(name.clone());
                    }
                    seen.push((name, attrs));
                }
                Event::End(e) => {
                    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    assert_eq!(open.pop().as_deref(), Some(name.as_str()), "closing tag matches");
                }
                Event::Eof => {
                    assert!(open.is_empty(), "every element is closed");
                    break;
                }
                _ => {}
            }
        }
        seen
    }

    #[test]
    fn rates_are_taken_over_a_trailing_window() {
        let r = rates(&samples(), |s| s.records);
        assert_eq!(r.len(), 20);
        assert!(r.iter().all(|(_, v)| (*v - 1_000.0).abs() < 1e-9));
        // A checkpoint's step is spread over the window, not one interval.
        let steps: Vec<Sample> = (0..=10)
            .map(|i| Sample { seconds: f64::from(i), records: if i >= 5 { 5_000 } else { 0 }, ..samples()[0] })
            .collect();
        let r = rates(&steps, |s| s.records);
        assert_eq!(r[4], (5.0, 1_000.0));
        assert_eq!(r[9], (10.0, 0.0));
        assert!(rates(&steps[..1], |s| s.records).is_empty());
    }

    #[test]
    fn axis_tops_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(19.0), 20.0);
        assert_eq!(nice_ceiling(22.8), 50.0);
        assert_eq!(nice_ceiling(1_207.0), 2_000.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
    }

    #[test]
    fn points_scale_into_the_plot_area() {
        let area = Area::panel(1);
        assert_eq!(area.point((0.0, 0.0), 20.0, 50.0), (area.x, area.y + area.height));
        assert_eq!(area.point((20.0, 50.0), 20.0, 50.0), (area.x + area.width, area.y));
        assert_eq!(area.point((40.0, 500.0), 20.0, 50.0), (area.x + area.width, area.y), "clamped");

        let svg = svg(&samples(), Some(19.0), "test");
        for (name, attrs) in elements(&svg) {
            if name != "polyline" {
                continue;
            }
            let points = &attrs.iter().find(|(k, _)| k == "points").unwrap().1;
            for pair in points.split(' ') {
                let (x, y) = pair.split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((LEFT..=WIDTH - RIGHT).contains(&x), "x {x} in the plot area");
                let in_a_panel = (0..2).map(Area::panel).any(|a| (a.y..=a.y + a.height).contains(&y));
                assert!(in_a_panel, "y {y} in a panel");
            }
        }
    }

    #[test]
    fn the_limit_line_is_drawn_only_with_real_limits() {
        let class_count = |svg: &str, class: &str| {
            elements(svg).iter().filter(|(_, a)| a.iter().any(|(k, v)| k == "class" && v == class)).count()
        };
        let with = svg(&samples(), Some(19.0), "real limits");
        let without = svg(&samples(), None, "unthrottled");
        assert_eq!(class_count(&with, "limit"), 1);
        assert_eq!(class_count(&without, "limit"), 0);
        assert_eq!(class_count(&with, "series"), 2);
        assert_eq!(class_count(&without, "axis"), 2);
    }

    #[test]
    fn the_chart_is_well_formed_xml_with_an_svg_root_even_without_samples() {
        for s in [samples(), Vec::new(), samples()[..1].to_vec()] {
            let svg = svg(&s, None, "a <title> & \"quotes\"");
            let all = elements(&svg);
            assert_eq!(all[0].0, "svg");
            assert!(all.iter().any(|(n, _)| n == "text"));
        }
    }
}
