//! Small line charts drawn as SVG by the app itself (no chart service): one or more series of
//! `(time, value)` over a time range, the value axis from zero to a round maximum.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartSeries {
    /// Shown in the legend when there are several series (e.g. a GPU's index and model).
    pub label: String,
    /// `(time in ms, value)`, in time order.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartData {
    /// What it shows, as a stable name (`running_servers`, …).
    pub metric: String,
    pub title: String,
    pub series: Vec<ChartSeries>,
}

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 90.0;
const PAD: f64 = 4.0;
const COLOURS: [&str; 6] = ["#3b6fb6", "#c2571a", "#2e8540", "#8a3ab9", "#b8860b", "#555555"];

/// The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above `max`.
pub fn round_up(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * magnitude)
}

fn shown(value: f64) -> String {
    if value.fract() == 0.0 || value.abs() >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The SVG `points` of a series in a chart from `from_ms` to `to_ms` up to `top`.
pub fn polyline(points: &[(i64, f64)], from_ms: i64, to_ms: i64, top: f64) -> String {
    let span = (to_ms - from_ms).max(1) as f64;
    points
        .iter()
        .map(|(at, v)| {
            let x = PAD + ((at - from_ms) as f64 / span).clamp(0.0, 1.0) * (WIDTH - 2.0 * PAD);
            let y = HEIGHT - PAD - (v / top).clamp(0.0, 1.0) * (HEIGHT - 2.0 * PAD);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[component]
pub fn LineChart(chart: ChartData, from_ms: i64, to_ms: i64) -> impl IntoView {
    let max = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
    let top = round_up(max);
    let latest: Vec<String> = chart
        .series
        .iter()
        .filter_map(|s| {
            s.points.last().map(|p| {
                if s.label.is_empty() {
                    shown(p.1)
                } else {
                    format!("{}: {}", s.label, shown(p.1))
                }
            })
        })
        .collect();
    let empty = chart.series.iter().all(|s| s.points.is_empty());
    let legend = (chart.series.len() > 1).then(|| {
        chart
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| view! { <li><span class="swatch" style:background=COLOURS[i % COLOURS.len()]></span>{s.label.clone()}</li> })
            .collect_view()
    });
    let lines = chart
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            view! {
                <polyline points=polyline(&s.points, from_ms, to_ms, top) fill="none"
                    stroke=COLOURS[i % COLOURS.len()] stroke-width="1.5"/>
            }
        })
        .collect_view();
    view! {
        <figure class="chart" data-metric=chart.metric.clone()>
            <figcaption>
                {chart.title.clone()}
                " "
                <span class="muted" data-now="">{if empty { "no samples yet".to_owned() } else { format!("now {}", latest.join(", ")) }}</span>
            </figcaption>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=chart.title.clone()>
                <line x1=PAD y1=HEIGHT - PAD x2=WIDTH - PAD y2=HEIGHT - PAD class="axis"/>
                <text x=PAD + 2.0 y=PAD + 8.0 class="axis-label">{shown(top)}</text>
                {lines}
            </svg>
            {legend.map(|l| view! { <ul class="legend">{l}</ul> })}
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_axis_ends_at_a_round_number() {
        assert_eq!(round_up(0.0), 1.0);
        assert_eq!(round_up(3.0), 5.0);
        assert_eq!(round_up(7.0), 10.0);
        assert_eq!(round_up(87.0), 100.0);
        assert_eq!(round_up(120.0), 200.0);
        assert_eq!(round_up(0.3), 0.5);
    }

    #[test]
    fn points_span_the_range_and_stay_inside() {
        let line = polyline(&[(0, 0.0), (50, 5.0), (100, 20.0)], 0, 100, 10.0);
        assert_eq!(line, "4.0,86.0 160.0,45.0 316.0,4.0");
    }
}
