//! The API-usage chart of the sync-health page: inline SVG drawn on the
//! server, one per system. Bars are the calls of each hour of the rolling
//! day (their own scale, at the bottom); the line is the running total over
//! the day against the cap (dashed), which is what the cap limits.

use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// A count as an axis shows it: `950`, `10k`, `1.5M`.
fn short(count: u64) -> String {
    match count {
        0..=9_999 => count.to_string(),
        10_000..=999_999 => format!("{}k", count / 1000),
        _ => format!("{:.1}M", count as f64 / 1e6).replace(".0M", "M"),
    }
}

/// Rounds for SVG coordinates.
fn n(value: f64) -> String {
    format!("{value:.1}")
}

/// The chart of one system's `hours` (oldest first, the last ending now)
/// against `cap` calls per rolling day.
pub fn usage_chart(system: &str, hours: &[u64], cap: u64) -> Markup {
    let total: u64 = hours.iter().sum();
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slots = hours.len().max(1) as f64;
    let slot_w = plot_w / slots;
    let scale_max = (cap.max(total) as f64 * 1.1).max(1.0);
    let y_of = |value: f64| TOP + plot_h - value / scale_max * plot_h;
    let busiest = hours.iter().copied().max().unwrap_or(0).max(1) as f64;
    // Hourly bars use the lower third of the plot, on their own scale.
    let bar_h = |calls: u64| calls as f64 / busiest * plot_h / 3.0;
    let mut running = 0u64;
    let mut line = format!("M{},{}", n(LEFT), n(y_of(0.0)));
    for (i, calls) in hours.iter().enumerate() {
        running += calls;
        let x = LEFT + (i as f64 + 1.0) * slot_w;
        line.push_str(&format!(" L{},{}", n(x), n(y_of(running as f64))));
    }
    let cap_y = y_of(cap as f64);
    let percent = if cap == 0 { 100.0 } else { total as f64 * 100.0 / cap as f64 };
    let label = format!("{system}: {total} calls in 24 hours of a cap of {cap} ({percent:.1}%)");
    html! {
        figure.chart data-system=(system) {
            figcaption { (label) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label) {
                rect.plot x=(n(LEFT)) y=(n(TOP)) width=(n(plot_w)) height=(n(plot_h)) {}
                @for (i, calls) in hours.iter().enumerate() {
                    @let h = bar_h(*calls);
                    @if *calls > 0 {
                        rect.bar x=(n(LEFT + i as f64 * slot_w + 1.0)) y=(n(TOP + plot_h - h)) width=(n(slot_w - 2.0)) height=(n(h)) {
                            title { (format!("{} h ago: {calls} calls", hours.len() - i)) }
                        }
                    }
                }
                path.total d=(line) {}
                line.cap x1=(n(LEFT)) x2=(n(LEFT + plot_w)) y1=(n(cap_y)) y2=(n(cap_y)) {}
                text.axis x=(n(LEFT - 6.0)) y=(n(cap_y + 4.0)) text-anchor="end" { "cap " (short(cap)) }
                text.axis x=(n(LEFT - 6.0)) y=(n(TOP + plot_h + 4.0)) text-anchor="end" { "0" }
                @for mark in [24usize, 18, 12, 6, 0] {
                    @let x = LEFT + (hours.len().saturating_sub(mark)) as f64 * slot_w;
                    text.axis x=(n(x)) y=(n(HEIGHT - 8.0)) text-anchor="middle" {
                        @if mark == 0 { "now" } @else { "-" (mark) "h" }
                    }
                }
                text.axis x=(n(LEFT + plot_w)) y=(n(TOP + plot_h - plot_h / 3.0 - 4.0)) text-anchor="end" {
                    "bars: calls per hour (busiest " (busiest as u64) ")"
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_draws_a_bar_per_busy_hour_and_the_cap_line_and_says_the_share() {
        let mut hours = vec![0u64; 24];
        hours[3] = 10;
        hours[23] = 40;
        let svg = usage_chart("salesforce", &hours, 1000).into_string();
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2, "{svg}");
        assert!(svg.contains("class=\"cap\""), "{svg}");
        assert!(svg.contains("50 calls in 24 hours of a cap of 1000 (5.0%)"), "{svg}");
        assert!(svg.contains("1 h ago: 40 calls"), "{svg}");
    }

    #[test]
    fn axis_counts_are_short() {
        assert_eq!(
            [short(950), short(10_000), short(500_000), short(1_000_000), short(1_500_000)],
            ["950", "10k", "500k", "1M", "1.5M"]
        );
    }

    #[test]
    fn a_day_over_its_cap_stays_inside_the_chart() {
        let svg = usage_chart("hubspot", &[500; 24], 100).into_string();
        assert!(svg.contains("(12000.0%)"), "{svg}");
        assert!(!svg.contains("L720.0,-"), "the line never leaves the top: {svg}");
    }
}
