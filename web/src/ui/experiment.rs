//! A flag's experiment page (issue 35), `/f/<hex>/experiment`: start
//! (control, metrics, reset), stop; the results per arm with the
//! statistics of [`crate::stats`] (rates or means, the uplift over control
//! with its 95 % interval, the chance to beat control); the sample ratio
//! mismatch check against the configured split; exposures over time; the
//! exposures as CSV (`/f/<hex>/experiment.csv`, streamed).
//!
//! Starting and stopping go through the flag page's write path: the
//! revision the page was rendered from is checked under `WATCH`, the
//! change is one command in `MULTI`/`EXEC` with its audit entry, the
//! module records it in the flag's history, and where the environment
//! needs approvals it becomes a change request.

use super::answer::plain;
use super::chart;
use super::history::history_table;
use super::session::{check_write_unconfirmed, confirm_problem, Who};
use super::time::{fmt_iso, fmt_ms, now_ms};
use super::{flag_url, key_of, layout, lossy, respond, Fail};
use crate::stats::{self, Comparison, Sample, SrmSkip};
use crate::store::{self, Described, HistoryEntry, WriteOutcome};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use futures_util::StreamExt;
use hanoi_core::reply::{decode_results, ArmResult, ExperimentState, ExposuresPage};
use hanoi_core::Description;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

/// Exposures one page view reads for its chart (pages of [`PAGE`]); the
/// page says so when the experiment has more.
const MAX_CHART_EXPOSURES: usize = 200_000;
/// Exposures asked for at once (`EXPOSURES cursor COUNT n`).
const PAGE: usize = 10_000;
/// Rows one CSV download gives at most (the module's default
/// `hanoi.max-exposures`); past it the download is cut and says so in its
/// `x-hanoi-truncated` header.
const MAX_CSV_ROWS: usize = 10_000_000;
/// Bars of the exposures chart at most: hours, days, or wider periods.
const MAX_BARS: i64 = 120;
/// Metrics a start form may declare (the module's limit).
const MAX_METRICS: usize = hanoi_core::experiment::MAX_METRICS;

struct Data {
    flag: Description,
    version: String,
    history: Vec<HistoryEntry>,
    /// `HANOI.EXPERIMENT key RESULTS`: none without an experiment; an
    /// error text when the reply did not read.
    results: Result<Option<Vec<ArmResult>>, String>,
}

impl Data {
    fn experiment(&self) -> Option<&ExperimentState> {
        self.flag.experiment.as_ref()
    }

    fn arms(&self) -> &[ArmResult] {
        match &self.results {
            Ok(Some(a)) => a,
            _ => &[],
        }
    }

    fn exposures(&self) -> u64 {
        self.arms()
            .iter()
            .fold(0u64, |t, a| t.saturating_add(a.exposures))
    }
}

async fn load(store: &store::Store, key: &[u8]) -> Result<Option<Data>, Fail> {
    let r = store
        .per_key(&[key.to_vec()], |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            p.cmd("HANOI.EXPERIMENT").arg(k).arg("RESULTS");
            2
        })
        .await?
        .pop()
        .unwrap_or_default();
    // The export carries the history too.
    let Some((flag, history)) = r
        .first()
        .and_then(|v| store::flag_and_history(v, super::flag::HISTORY_SHOWN))
    else {
        return Ok(None);
    };
    if flag.segment {
        return Err(Fail::Bad(
            "a segment has no experiment: its answer is membership".into(),
        ));
    }
    let results = match r.get(1) {
        Some(redis::Value::ServerError(e)) => {
            Err(format!("{} {}", e.code(), e.details().unwrap_or_default()))
        }
        Some(v) => store::core_reply(v, 0)
            .ok_or_else(|| "an unreadable reply".to_owned())
            .and_then(|c| decode_results(&c).map_err(|e| e.to_string())),
        None => Ok(None),
    };
    Ok(Some(Data {
        version: flag.version(),
        history,
        flag,
        results,
    }))
}

/// The arms an experiment started now would have: a boolean flag's `off`
/// and `on`, else its variants.
fn arms_now(f: &Description) -> Vec<String> {
    if f.variants.is_empty() {
        vec!["off".into(), "on".into()]
    } else {
        f.variants.iter().map(|v| lossy(v)).collect()
    }
}

/// The configured split over `arms`, as shares: a variant flag's weights
/// (equal without), a boolean flag's percentage for `on` and the rest for
/// `off`. None when an arm is no longer the flag's (it changed since the
/// start).
fn configured_shares(f: &Description, arms: &[Vec<u8>]) -> Option<Vec<f64>> {
    if f.variants.is_empty() {
        let p = f64::from(f.effective_percentage.min(100));
        arms.iter()
            .map(|a| match a.as_slice() {
                b"on" => Some(p),
                b"off" => Some(100.0 - p),
                _ => None,
            })
            .collect()
    } else {
        arms.iter()
            .map(|a| {
                let i = f.variants.iter().position(|v| v == a)?;
                if f.weights.is_empty() {
                    Some(1.0)
                } else {
                    f.weights.get(i).map(|&w| f64::from(w))
                }
            })
            .collect()
    }
}

/// The metric's samples, one per arm.
fn samples(arms: &[ArmResult], metric: usize) -> Vec<Sample> {
    arms.iter()
        .map(|a| {
            let m = a.metrics.get(metric);
            Sample {
                exposures: a.exposures,
                converted: m.map_or(0, |m| m.converted),
                sum: m.map_or(0, |m| m.sum),
                sum_squares: m.map_or(0, |m| m.sum_squares),
            }
        })
        .collect()
}

fn pct(x: f64, digits: usize) -> String {
    format!("{:.*} %", digits, x * 100.0)
}

/// A signed number: "+1.20", "−0.35".
fn signed(x: f64, digits: usize) -> String {
    let s = format!("{:.*}", digits, x.abs());
    if s.chars().all(|c| c == '0' || c == '.') {
        s
    } else if x < 0.0 {
        format!("−{s}")
    } else {
        format!("+{s}")
    }
}

/// A mean: two decimals, four under 1.
fn mean_text(x: f64) -> String {
    if x.abs() < 1.0 {
        format!("{x:.4}")
    } else {
        format!("{x:.2}")
    }
}

/// What the page shows above its sections.
#[derive(Default)]
struct Notice {
    ok: Option<String>,
    refused: Option<String>,
    conflict: Option<Vec<HistoryEntry>>,
    /// The form as posted, kept after a refusal.
    form: HashMap<String, String>,
}

pub(super) async fn experiment_page(
    State(app): State<Arc<App>>,
    w: Who,
    Path(hex): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let key = key_of(&hex)?;
    let store = &w.env(&app).store;
    let data = load(store, &key).await?.ok_or(Fail::NotFound)?;
    let notice = Notice {
        ok: q.get("done").map(|d| {
            match d.as_str() {
                "start" => "Experiment started.",
                "stop" => "Experiment stopped: its data stays.",
                _ => "Saved.",
            }
            .to_owned()
        }),
        ..Notice::default()
    };
    let timeline = if data.experiment().is_some() {
        Some(read_timeline(store, &key, data.arms()).await?)
    } else {
        None
    };
    Ok(respond(
        StatusCode::OK,
        render(&w, &key, &data, &notice, timeline.as_ref()),
    ))
}

/// Exposures per period and arm, from at most [`MAX_CHART_EXPOSURES`].
struct Timeline {
    periods: Vec<(i64, Vec<i64>)>,
    /// The period's length, ms.
    width: i64,
    read: usize,
    /// Exposures left unread (the chart shows the first ones).
    cut: bool,
}

async fn read_timeline(
    store: &store::Store,
    key: &[u8],
    arms: &[ArmResult],
) -> Result<Timeline, Fail> {
    let mut times: Vec<(u64, usize)> = Vec::new();
    let mut cursor = 0u64;
    let mut cut = false;
    loop {
        let mut c = redis::cmd("HANOI.EXPERIMENT");
        c.arg(key)
            .arg("EXPOSURES")
            .arg(cursor)
            .arg("COUNT")
            .arg(PAGE);
        let page = match store.query(key, &c).await {
            Ok(v) => store::core_reply(&v, 0).and_then(|r| ExposuresPage::decode(&r).ok()),
            Err(e) if store::is_unavailable(&e) => return Err(Fail::Unavailable),
            Err(_) => None,
        };
        let Some(page) = page else { break };
        for (_, arm, t) in &page.exposures {
            if let Some(i) = arms.iter().position(|a| &a.arm == arm) {
                times.push((*t, i));
            }
        }
        cursor = page.cursor;
        if cursor == 0 || page.exposures.is_empty() {
            break;
        }
        if times.len() >= MAX_CHART_EXPOSURES {
            cut = true;
            break;
        }
    }
    Ok(bucket(&times, arms.len(), cut))
}

/// Buckets (time, arm) pairs by hour (a span under 3 days), by day, or by
/// wider periods so that there are at most [`MAX_BARS`].
fn bucket(times: &[(u64, usize)], arms: usize, cut: bool) -> Timeline {
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    // Times from Redis are untrusted: clamped to 0..now + a day.
    let clamp = |t: u64| {
        i64::try_from(t)
            .unwrap_or(i64::MAX)
            .clamp(0, now_ms() + DAY)
    };
    let lo = times.iter().map(|t| clamp(t.0)).min().unwrap_or(0);
    let hi = times.iter().map(|t| clamp(t.0)).max().unwrap_or(0);
    let span = hi - lo;
    let unit = if span <= 3 * DAY { HOUR } else { DAY };
    let per = (span / unit / MAX_BARS + 1).max(1);
    let width = unit * per;
    let start = lo - lo.rem_euclid(unit);
    let n = if times.is_empty() {
        0
    } else {
        ((hi - start) / width + 1) as usize
    };
    let mut periods: Vec<(i64, Vec<i64>)> = (0..n)
        .map(|i| (start + i as i64 * width, vec![0; arms]))
        .collect();
    for &(t, arm) in times {
        let i = ((clamp(t) - start) / width) as usize;
        if let Some(p) = periods.get_mut(i) {
            p.1[arm] += 1;
        }
    }
    Timeline {
        periods,
        width,
        read: times.len(),
        cut,
    }
}

/// A write form's hidden fields and its comment (and, in a protected
/// environment after a refusal, its confirmation).
fn hidden(w: &Who, d: &Data, n: &Notice, op: &str) -> Markup {
    let seen = d.history.first().map_or(0, |h| h.at_ms);
    let seen_same = d.history.iter().take_while(|h| h.at_ms == seen).count();
    let mine = n.form.get("op").is_some_and(|o| o == op);
    let comment = if mine {
        n.form.get("comment").map(String::as_str).unwrap_or("")
    } else {
        ""
    };
    html! {
        input type="hidden" name="csrf" value=(w.csrf);
        input type="hidden" name="version" value=(d.version);
        input type="hidden" name="seen" value=(seen);
        input type="hidden" name="seen_same" value=(seen_same);
        input type="hidden" name="op" value=(op);
        (w.comment_field(comment))
        @if mine { (w.confirm_in_form(n.form.get("confirm_env").map(String::as_str).unwrap_or(""))) }
    }
}

fn state_section(d: &Data) -> Markup {
    html! {
        section.card id="experiment-state" {
            h2 { "State" }
            @match d.experiment() {
                None => p id="no-experiment" { "No experiment on this flag yet. Start one below: its arms are the flag's "
                    @if d.flag.variants.is_empty() { code { "off" } " and " code { "on" } } @else { "variants" }
                    ", split as the flag splits its traffic now." },
                Some(e) => {
                    p id="experiment-status" {
                        @if e.running {
                            span.badge.on { "running" } " since "
                            time datetime=(fmt_iso(e.started_ms as i64)) { (fmt_ms(e.started_ms as i64)) }
                        } @else {
                            span.badge.off { "stopped" } " "
                            @if let Some(s) = e.stopped_ms { time datetime=(fmt_iso(s as i64)) { (fmt_ms(s as i64)) } }
                            " (started " (fmt_ms(e.started_ms as i64)) ")"
                        }
                    }
                    p { "Control: " code id="control-arm" { (lossy(&e.control)) }
                        " · arms: " @for (i, a) in e.arms.iter().enumerate() { @if i > 0 { ", " } code { (lossy(a)) } }
                        " · metrics: " span id="metrics-list" { @for (i, m) in e.metrics.iter().enumerate() { @if i > 0 { ", " } code { (lossy(m)) } } } }
                    p { "Exposures: " strong id="exposures-total" { (d.exposures()) } }
                }
            }
        }
    }
}

fn forms_section(w: &Who, d: &Data, n: &Notice, url: &str, name: &str) -> Markup {
    let running = d.experiment().is_some_and(|e| e.running);
    let has_data = d.experiment().is_some() && d.exposures() > 0;
    let kept = |k: &str| n.form.get(k).cloned().unwrap_or_default();
    let control_now = kept("control");
    let default_control = d
        .experiment()
        .map(|e| lossy(&e.control))
        .unwrap_or_default();
    html! {
        section.card id="experiment-actions" {
            @if running {
                h2 { "Stop" }
                form method="post" action=(url) id="stop-form" {
                    (hidden(w, d, n, "stop"))
                    p.muted { "Stopping ends recording: exposures and conversions stay and the results below remain; exposed ids are no longer sticky to their arm." }
                    button.secondary type="submit" id="stop-button" { "Stop the experiment" (w.in_env()) }
                }
            } @else {
                h2 { @if d.experiment().is_some() { "Start again" } @else { "Start" } }
                form method="post" action=(url) id="start-form" {
                    (hidden(w, d, n, "start"))
                    label { "Control arm " select name="control" id="control" {
                        @for a in arms_now(&d.flag) {
                            @let chosen = if control_now.is_empty() { a == default_control } else { a == control_now };
                            option value=(a) selected[chosen] { (a) }
                        }
                    } }
                    label { "Metrics (one a line, or separated by spaces or commas; at most " (MAX_METRICS) ")" br;
                        textarea name="metrics" id="metrics" placeholder="bought\nrevenue" required { (kept("metrics")) } }
                    p.muted { "Your application records a conversion with " code { "HANOI.TRACK " (name) " <id> <metric> [value]" }
                        " and exposes ids with " code { "HANOI.ASSIGN" } " (the clients' " code { "assign" } " and " code { "track" } "). A metric whose every value is 1 is shown as a conversion rate; any other as a mean per exposed id." }
                    @if has_data {
                        fieldset.danger id="reset-fields" {
                            legend { "Reset" }
                            label { input type="checkbox" name="reset" value="1" id="reset" checked[n.form.contains_key("reset")];
                                " Drop this experiment's " (d.exposures()) " exposures and its conversions, and start over" }
                            br;
                            label { "Type the flag's name to reset: " input type="text" name="confirm" id="reset-confirm" autocomplete="off" value=(kept("confirm")); }
                        }
                    }
                    button type="submit" id="start-button" { "Start the experiment" (w.in_env()) }
                }
            }
        }
    }
}

/// The SRM check's verdict.
fn srm_section(d: &Data) -> Markup {
    let arms = d.arms();
    let names: Vec<Vec<u8>> = arms.iter().map(|a| a.arm.clone()).collect();
    let observed: Vec<u64> = arms.iter().map(|a| a.exposures).collect();
    let shares = configured_shares(&d.flag, &names);
    let verdict = shares.as_ref().map(|s| stats::srm(&observed, s));
    let total = d.exposures().max(1) as f64;
    let weight: f64 = shares.iter().flatten().sum();
    html! {
        @match &verdict {
            Some(Ok(s)) if s.mismatch() => div.msg.err id="srm-warning" role="alert" {
                strong { "Sample ratio mismatch: " }
                "the exposures depart from the configured split (chi-square " (format!("{:.1}", s.chi2)) ", " (s.df) " degrees of freedom, p "
                @if s.p < 1e-6 { "< 0.000001" } @else { "= " (format!("{:.6}", s.p)) }
                "). Something other than chance decides who is exposed (a split changed during the experiment, exposures lost or filtered, bots): do not trust the results below until the cause is found."
            },
            Some(Ok(s)) => p.muted id="srm-ok" { "The exposures match the configured split (chi-square p = " (format!("{:.3}", s.p)) ")." },
            Some(Err(SrmSkip::TooFew)) => p.muted id="srm-skip" { "Too few exposures yet to check them against the configured split." },
            Some(Err(SrmSkip::OneArm)) => p.muted id="srm-skip" { "The configured split gives traffic to one arm only: nothing to compare." },
            None => p.muted id="srm-skip" { "The flag's arms changed since the experiment started: the split cannot be checked." },
        }
        table.results id="arms-table" {
            thead { tr { th { "Arm" } th.num { "Exposures" } th.num { "Share" } th.num { "Configured" } } }
            tbody { @for (i, a) in arms.iter().enumerate() {
                tr.control[a.control] {
                    td { code { (lossy(&a.arm)) } @if a.control { " " span.badge { "control" } } }
                    td.num { (a.exposures) }
                    td.num { (pct(a.exposures as f64 / total, 1)) }
                    td.num { @match shares.as_ref().and_then(|s| s.get(i)) {
                        Some(s) if weight > 0.0 => (pct(s / weight, 1)),
                        _ => "—",
                    } }
                }
            } }
        }
    }
}

fn comparison_cells(c: Option<Comparison>, rate: bool) -> Markup {
    let Some(c) = c else {
        return html! { td.num { "—" } td.num { "not enough data" } };
    };
    let (diff, low, high) = if rate {
        (
            format!("{} pp", signed(c.diff * 100.0, 2)),
            signed(c.low * 100.0, 2),
            signed(c.high * 100.0, 2),
        )
    } else {
        (signed(c.diff, 2), signed(c.low, 2), signed(c.high, 2))
    };
    html! {
        td.num.uplift.better[c.low > 0.0].worse[c.high < 0.0] {
            (diff) @if let Some(r) = c.relative { " (" (signed(r * 100.0, 1)) " %)" }
            br; span.muted.interval { "95 %: " (low) " to " (high) }
        }
        td.num.chance { (pct(c.chance_to_beat, 1)) }
    }
}

fn results_section(d: &Data) -> Markup {
    let Some(e) = d.experiment() else {
        return html! {};
    };
    let arms = d.arms();
    let control = arms.iter().position(|a| a.control);
    html! {
        section.card id="results" {
            h2 { "Results" }
            @if let Err(why) = &d.results { div.msg.err id="results-error" { "The results could not be read: " (why) } }
            (srm_section(d))
            @for (m, metric) in e.metrics.iter().enumerate() {
                @let s = samples(arms, m);
                @let rate = s.iter().all(Sample::binary);
                h3 { code { (lossy(metric)) } " · " @if rate { "conversion rate" } @else { "mean per exposed id" } }
                table.results id={"metric-" (m)} data-metric=(lossy(metric)) {
                    thead { tr { th { "Arm" } th.num { "Exposures" } th.num { "Converted" }
                        @if rate { th.num { "Rate" } } @else { th.num { "Mean" } th.num { "Total" } }
                        th.num { "Uplift over control" } th.num { "Chance to beat control" } } }
                    tbody { @for (i, a) in arms.iter().enumerate() {
                        tr.control[a.control] data-arm=(lossy(&a.arm)) {
                            td { code { (lossy(&a.arm)) } @if a.control { " " span.badge { "control" } } }
                            td.num { (s[i].exposures) }
                            td.num.converted { (s[i].converted) @if let Some(r) = s[i].rate() { " " span.muted { "(" (pct(r, 1)) ")" } } }
                            @if rate {
                                td.num.value { (s[i].rate().map_or("—".to_owned(), |r| pct(r, 2))) }
                            } @else {
                                td.num.value { (s[i].mean().map_or("—".to_owned(), mean_text)) }
                                td.num { (s[i].sum) }
                            }
                            @if a.control || control.is_none() {
                                td.num { "baseline" } td.num { "—" }
                            } @else {
                                @let c = control.and_then(|c| s.get(c)).and_then(|base| if rate { stats::compare_rates(base, &s[i]) } else { stats::compare_means(base, &s[i]) });
                                (comparison_cells(c, rate))
                            }
                        }
                    } }
                }
            }
            details id="method" {
                summary { "How these numbers are computed" }
                ul {
                    li { "A metric whose every recorded value is 1 is a " strong { "conversion rate" } ": converted ids ÷ exposed ids. Its uplift is the difference of the rates (in percentage points; relative to the control's rate in brackets) with its 95 % interval (normal approximation). The chance to beat control is Bayesian: uniform priors, Beta(1 + converted, 1 + not converted) posteriors, P(arm > control) computed exactly." }
                    li { "Any other metric is a " strong { "mean per exposed id" } " (ids that never converted count as 0): the uplift is the difference of means with its 95 % interval (Welch, normal approximation); the chance to beat control Φ(difference ÷ its standard error)." }
                    li { "The split is checked with a chi-square goodness-of-fit test of the exposures against the flag's configured split (its weights, or its percentage for a boolean flag, as they are now); a p-value under 0.001 raises the warning." }
                    li { "An interval that excludes 0 is shown in green (better) or red (worse). Decide how long to run before looking: stopping at the first good-looking number overstates it." }
                }
            }
        }
    }
}

fn timeline_section(w: &Who, d: &Data, t: &Timeline, base: &str) -> Markup {
    let names: Vec<String> = d.arms().iter().map(|a| lossy(&a.arm)).collect();
    let hourly = t.width < 24 * 3_600_000;
    let per = if hourly {
        format!("per {} h", t.width / 3_600_000)
    } else {
        format!("per {} day(s)", t.width / 86_400_000)
    };
    let every = (t.periods.len() / 8).max(1);
    html! {
        section.card id="timeline" {
            h2 { "Exposures over time" }
            @if t.periods.is_empty() { p.muted id="no-exposures" { "No exposures yet." } }
            @else {
                (chart::stacked("exposures-chart", &format!("Exposures {per}"), &names, &t.periods, every,
                    |ms| if hourly { chart::hh_mm(ms) } else { chart::month_day(ms) }))
            }
            @if t.cut { p.msg.warn id="chart-cut" { "The chart shows the first " (t.read) " exposures of " (d.exposures()) " (a page reads at most " (MAX_CHART_EXPOSURES) "); the CSV has them all." } }
            p { a href=(w.link(&format!("{base}/experiment.csv"))) id="exposures-csv" download { "Download the exposures (CSV: id, arm, time)" } }
        }
    }
}

fn render(w: &Who, key: &[u8], d: &Data, n: &Notice, t: Option<&Timeline>) -> Markup {
    let name = lossy(key);
    let base = flag_url(key);
    let url = w.link(&format!("{base}/experiment"));
    let body = html! {
        p { a href=(w.link(&base)) id="back-to-flag" { "← " (name) } }
        h1 id="experiment-title" { "Experiment · " (name) @if w.multi { " " span.badge.env { "in " (w.env_name) } } }
        @if let Some(ok) = &n.ok { div.msg.ok id="ok" { (ok) } }
        @if let Some(r) = &n.refused { div.msg.err.error id="experiment-error" role="alert" { "Not saved: " (r) } }
        @if let Some(changes) = &n.conflict {
            div.msg.warn id="conflict" {
                strong { "Not saved: this flag changed since you opened the page." }
                " The page now shows the current flag; what changed meanwhile:"
                @if changes.is_empty() { p { "(a change that left no history entry)" } }
                @else { (history_table(changes, "conflict-changes")) }
            }
        }
        @if w.can_write { (w.confirm_box()) }
        @if w.approvals > 0 && w.can_write {
            p.muted id="needs-approval" { "In " (w.env_name) " a change needs " (w.approvals) " approval" @if w.approvals > 1 { "s" } ": starting or stopping here proposes it as a change request." }
        }
        div.grid {
            (state_section(d))
            @if w.can_write { (forms_section(w, d, n, &url, &name)) }
        }
        (results_section(d))
        @if let Some(t) = t { (timeline_section(w, d, t, &base)) }
    };
    layout(&format!("Experiment · {name}"), Some(w), body)
}

/// `HANOI.EXPERIMENT` for the form `op`, or why not.
fn command(key: &[u8], op: &str, f: &HashMap<String, String>) -> Result<redis::Cmd, String> {
    let mut c = redis::cmd("HANOI.EXPERIMENT");
    c.arg(key);
    match op {
        "stop" => {
            c.arg("STOP");
        }
        "start" => {
            let metrics: Vec<&str> = f
                .get("metrics")
                .map(String::as_str)
                .unwrap_or("")
                .split(|ch: char| ch.is_whitespace() || ch == ',')
                .filter(|m| !m.is_empty())
                .collect();
            if metrics.is_empty() {
                return Err("name at least one metric".into());
            }
            if metrics.len() > MAX_METRICS {
                return Err(format!("at most {MAX_METRICS} metrics"));
            }
            c.arg("START");
            if let Some(control) = f.get("control").map(|s| s.trim()).filter(|s| !s.is_empty()) {
                c.arg("CONTROL").arg(control);
            }
            c.arg("METRICS").arg(metrics.len()).arg(&metrics);
            if f.contains_key("reset") {
                if f.get("confirm").map(|s| s.trim().as_bytes()) != Some(key) {
                    return Err(
                        "type the flag's exact name to reset: its exposures and conversions are dropped"
                            .into(),
                    );
                }
                c.arg("RESET");
            }
        }
        _ => return Err(format!("unknown action {op:?}")),
    }
    Ok(c)
}

pub(super) async fn experiment_write(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Path(hex): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    check_write_unconfirmed(&app, &w, &headers, &f, true)?;
    let key = key_of(&hex)?;
    let store = &w.env(&app).store;
    let op = f.get("op").cloned().unwrap_or_default();
    let version = f.get("version").cloned().unwrap_or_default();
    let current = load(store, &key).await?.ok_or(Fail::NotFound)?;
    let back =
        |status: StatusCode, d: &Data, n: Notice| respond(status, render(&w, &key, d, &n, None));
    let refused = |why: String| Notice {
        refused: Some(why),
        form: f.clone(),
        ..Notice::default()
    };
    let cmd = match command(&key, &op, &f) {
        Ok(c) => c,
        Err(e) => return Ok(back(StatusCode::BAD_REQUEST, &current, refused(e))),
    };
    if let Some(missing) = w.comment_missing(&f) {
        return Ok(back(StatusCode::BAD_REQUEST, &current, refused(missing)));
    }
    if let Some(problem) = confirm_problem(&w, &f) {
        return Ok(back(StatusCode::FORBIDDEN, &current, refused(problem)));
    }
    let changed = |d: &Data| super::flag::changed_since(&d.history, &f);
    if w.approvals > 0 {
        if current.version != version {
            let mut n = refused("this flag changed meanwhile (see above): propose it again to base it on the flag as it is now".into());
            n.conflict = Some(changed(&current));
            return Ok(back(StatusCode::CONFLICT, &current, n));
        }
        let note = match op.as_str() {
            "stop" => "stop the experiment".to_owned(),
            _ if f.contains_key("reset") => "reset and start the experiment".to_owned(),
            _ => "start the experiment".to_owned(),
        };
        return match super::requests::propose(
            &app,
            &w,
            &key,
            store::requests::Expect::Revision(version),
            std::slice::from_ref(&cmd),
            &f,
            &note,
            None,
        )
        .await?
        {
            Ok(r) => Ok(r),
            Err(e) => Ok(back(StatusCode::BAD_REQUEST, &current, refused(e))),
        };
    }
    let audit = w.audit(&app, &f, "");
    match store
        .write(&w.name, &key, Some(&version), &[cmd], &audit)
        .await?
    {
        WriteOutcome::Done(results) => {
            let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                return Ok(Redirect::to(
                    &w.link(&format!("{}/experiment?done={op}", flag_url(&key))),
                )
                .into_response());
            }
            let now = load(store, &key).await?.ok_or(Fail::NotFound)?;
            let why = errors
                .iter()
                .map(|e| plain(e))
                .collect::<Vec<_>>()
                .join("; ");
            Ok(back(StatusCode::BAD_REQUEST, &now, refused(why)))
        }
        WriteOutcome::Conflict => {
            let now = load(store, &key).await?.ok_or(Fail::NotFound)?;
            let mut n = refused("this flag changed meanwhile (see above): save it again to apply it to the flag as it is now".into());
            n.conflict = Some(changed(&now));
            Ok(back(StatusCode::CONFLICT, &now, n))
        }
    }
}

/// The exposures as CSV (id, arm, time in ISO 8601 UTC, time in Unix ms),
/// streamed a page of [`PAGE`] at a time, at most [`MAX_CSV_ROWS`] rows;
/// cells quoted and guarded against spreadsheet formulas as `/audit.csv`.
pub(super) async fn experiment_csv(
    State(app): State<Arc<App>>,
    w: Who,
    Path(hex): Path<String>,
) -> Result<Response, Fail> {
    let key = key_of(&hex)?;
    let data = load(&w.env(&app).store, &key)
        .await?
        .ok_or(Fail::NotFound)?;
    let truncated = data.exposures() > MAX_CSV_ROWS as u64;
    // A file name of the flag's safe characters.
    let safe: String = lossy(&key)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let file = format!("hanoi-exposures-{safe}-{}.csv", w.env_name);
    let env = w.env;
    let head = "\"id\",\"arm\",\"time\",\"time_ms\"\r\n".to_owned();
    // (cursor, rows so far, done)
    let pages = futures_util::stream::unfold((0u64, 0usize, false), move |(cursor, rows, done)| {
        let app = app.clone();
        let key = key.clone();
        async move {
            if done || rows >= MAX_CSV_ROWS {
                return None;
            }
            let mut c = redis::cmd("HANOI.EXPERIMENT");
            c.arg(&key)
                .arg("EXPOSURES")
                .arg(cursor)
                .arg("COUNT")
                .arg(PAGE.min(MAX_CSV_ROWS - rows));
            let page = match app.envs[env].store.query(&key, &c).await {
                Ok(v) => store::core_reply(&v, 0).and_then(|r| ExposuresPage::decode(&r).ok()),
                Err(e) => {
                    // Headers are sent: the body ends short (a client
                    // sees an incomplete transfer).
                    return Some((
                        Err(std::io::Error::other(store::error_text(&e))),
                        (0, rows, true),
                    ));
                }
            };
            let page = page?;
            let mut out = String::with_capacity(page.exposures.len() * 48);
            for (id, arm, t) in &page.exposures {
                let ms = i64::try_from(*t).unwrap_or(i64::MAX);
                let cells = [
                    store::audit::cell(&lossy(id)),
                    store::audit::cell(&lossy(arm)),
                    store::audit::cell(&fmt_iso(ms)),
                    store::audit::cell(&t.to_string()),
                ];
                out.push_str(&cells.join(","));
                out.push_str("\r\n");
            }
            let rows = rows + page.exposures.len();
            let done = page.cursor == 0 || page.exposures.is_empty();
            Some((Ok::<_, std::io::Error>(out), (page.cursor, rows, done)))
        }
    });
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(head)]).chain(pages);
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if truncated {
        h.insert("x-hanoi-truncated", HeaderValue::from_static("1"));
    }
    Ok(r)
}
