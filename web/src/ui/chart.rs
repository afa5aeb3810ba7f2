//! Evaluations over time as server-side SVG (no script): bars of the
//! evaluations per period with the enabled answers inside them, a time axis
//! in UTC, and a text summary for screen readers.

use super::time::fmt_ms;
use maud::{html, Markup};

const W: i64 = 600;
const H: i64 = 150;
const AXIS: i64 = 18;
const LEFT: i64 = 44;

/// A chart of `periods` (start ms, evaluations, enabled), oldest first.
/// `label` names a tick: `every` ticks a label; `what` says per what.
pub fn over_time(
    id: &str,
    title: &str,
    periods: &[(i64, i64, i64)],
    every: usize,
    label: impl Fn(i64) -> String,
) -> Markup {
    let n = periods.len().max(1) as i64;
    let top = periods.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let total: i64 = periods.iter().map(|p| p.1).sum();
    let on: i64 = periods.iter().map(|p| p.2).sum();
    let plot_w = W - LEFT;
    let plot_h = H - AXIS;
    let bar_w = (plot_w / n).max(1);
    let y = |v: i64| plot_h - v.clamp(0, top) * (plot_h - 4) / top;
    let summary = format!("{title}: {total} evaluations, {on} on; the busiest period had {top}.");
    html! {
        figure.chart id=(id) {
            figcaption { (title) " · " span.muted { (total) " evaluations, " (on) " on" } }
            svg viewBox={"0 0 " (W) " " (H)} width="100%" role="img" aria-label=(summary) {
                title { (summary) }
                // The scale: 0 and the busiest period.
                line.axis x1=(LEFT) y1=(plot_h) x2=(W) y2=(plot_h) {}
                text.tick x=(LEFT - 4) y=(plot_h) text-anchor="end" { "0" }
                text.tick x=(LEFT - 4) y="12" text-anchor="end" { (top) }
                @for (i, p) in periods.iter().enumerate() {
                    @let x = LEFT + i as i64 * bar_w;
                    @if p.1 > 0 {
                        rect.evaluations x=(x) y=(y(p.1)) width=((bar_w - 1).max(1)) height=(plot_h - y(p.1)) {
                            title { (fmt_ms(p.0)) ": " (p.1) " evaluations, " (p.2) " on" } }
                        rect.enabled x=(x) y=(y(p.2)) width=((bar_w - 1).max(1)) height=(plot_h - y(p.2)) {}
                    }
                    @if every > 0 && i % every == 0 {
                        line.axis x1=(x) y1=(plot_h) x2=(x) y2=(plot_h + 4) {}
                        text.tick x=(x) y=(H - 2) { (label(p.0)) }
                    }
                }
            }
            p.legend.muted { span.swatch.evaluations {} " evaluations " span.swatch.enabled {} " on (times in UTC)" }
        }
    }
}

/// `HH:MM` of a Unix ms time, UTC.
pub fn hh_mm(ms: i64) -> String {
    fmt_ms(ms)[11..16].to_owned()
}

/// `MM-DD` of a Unix ms time, UTC.
pub fn month_day(ms: i64) -> String {
    fmt_ms(ms)[5..10].to_owned()
}

/// Stacked bars: per period (start ms, a count per series), oldest first;
/// `names` the series (each drawn with the class `series-<i % 6>`).
/// `every` ticks a label, `label` writes it.
pub fn stacked(
    id: &str,
    title: &str,
    names: &[String],
    periods: &[(i64, Vec<i64>)],
    every: usize,
    label: impl Fn(i64) -> String,
) -> Markup {
    let n = periods.len().max(1) as i64;
    let totals: Vec<i64> = periods.iter().map(|p| p.1.iter().sum()).collect();
    let top = totals.iter().copied().max().unwrap_or(0).max(1);
    let total: i64 = totals.iter().sum();
    let plot_w = W - LEFT;
    let plot_h = H - AXIS;
    let bar_w = (plot_w / n).max(1);
    let y = |v: i64| plot_h - v.clamp(0, top) * (plot_h - 4) / top;
    let summary = format!("{title}: {total} in all; the busiest period had {top}.");
    // Each series' bar of a period, stacked: (series, count, top y, height).
    let segments = |counts: &[i64]| {
        let mut below = 0;
        let mut out = Vec::new();
        for (s, &v) in counts.iter().enumerate() {
            if v > 0 {
                let (y0, y1) = (y(below), y(below + v));
                out.push((s, v, y1, (y0 - y1).max(1)));
                below += v;
            }
        }
        out
    };
    html! {
        figure.chart id=(id) {
            figcaption { (title) " · " span.muted { (total) " in all" } }
            svg viewBox={"0 0 " (W) " " (H)} width="100%" role="img" aria-label=(summary) {
                title { (summary) }
                line.axis x1=(LEFT) y1=(plot_h) x2=(W) y2=(plot_h) {}
                text.tick x=(LEFT - 4) y=(plot_h) text-anchor="end" { "0" }
                text.tick x=(LEFT - 4) y="12" text-anchor="end" { (top) }
                @for (i, p) in periods.iter().enumerate() {
                    @let x = LEFT + i as i64 * bar_w;
                    @for (s, v, y1, h) in segments(&p.1) {
                        rect class={"series-" (s % 6)} x=(x) y=(y1) width=((bar_w - 1).max(1)) height=(h) {
                            title { (fmt_ms(p.0)) ": " (v) " " (names.get(s).map_or("", String::as_str)) } }
                    }
                    @if every > 0 && i % every == 0 {
                        line.axis x1=(x) y1=(plot_h) x2=(x) y2=(plot_h + 4) {}
                        text.tick x=(x) y=(H - 2) { (label(p.0)) }
                    }
                }
            }
            p.legend.muted {
                @for (s, name) in names.iter().enumerate() { span class={"swatch series-" (s % 6)} {} " " (name) " " }
                "(times in UTC)"
            }
        }
    }
}
