//! One flag's page (state, variants, evaluations, "try it", rules, ids,
//! regexes, schedule, metadata, history) and its saves, refused when the
//! flag changed since the page was rendered.

use super::answer::{missing_words, parse_attrs, plain, reason_words};
use super::chart;
use super::forms::{check_variant_rows, commands, variant_rows, VariantRow};
use super::history::history_table;
use super::list::is_stale;
use super::rules::quote_token;
use super::rules::{rule_form, rule_sentence, rule_step, Catalog, RuleForm, RuleStep};
use super::session::{check_write_unconfirmed, confirm_problem, Who};
use super::time::{fmt_iso_u, now_ms, signed};
use super::{flag_url, key_of, layout, lossy, respond, state_badge, urlencode, Fail};
use crate::store::{self, Described, HistoryEntry, WriteOutcome};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hanoi_core::observe::{Period, SeriesCounts};
use hanoi_core::reply::{ExplainReply, StatsReply};
use hanoi_core::Description;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

struct PageData {
    flag: Description,
    stats: Option<StatsReply>,
    series: Option<SeriesCounts>,
    history: Vec<HistoryEntry>,
    version: String,
    /// Pending change requests for this flag (environments with approvals).
    pending: Vec<store::requests::Request>,
    /// The keys it references (prerequisites, segments its rules name)
    /// that are missing here, or of the wrong kind.
    missing_refs: Vec<Vec<u8>>,
}

/// Of `refs` (a flag's references: at most its prerequisites and the
/// segments its rules name), those missing in `store`: no key, or a
/// segment where a flag is needed and the reverse. Unreadable: none said.
pub(super) async fn missing_refs(store: &store::Store, f: &Description) -> Vec<Vec<u8>> {
    let refs: Vec<Vec<u8>> = f.references().into_iter().take(64).collect();
    if refs.is_empty() {
        return Vec::new();
    }
    let Ok(replies) = store
        .per_key(&refs, |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            1
        })
        .await
    else {
        return Vec::new();
    };
    let prereqs: Vec<&Vec<u8>> = f.prerequisites.iter().map(|(k, _)| k).collect();
    refs.iter()
        .zip(&replies)
        .filter(|(k, r)| {
            match r.first().and_then(store::flag_from_export) {
                None => true,
                // A prerequisite must be a flag; a segment condition, a segment.
                Some(t) => t.segment == prereqs.contains(k),
            }
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// How many history entries a page shows, newest first.
pub(super) const HISTORY_SHOWN: usize = 50;

async fn load_flag(store: &store::Store, key: &[u8]) -> Result<Option<PageData>, Fail> {
    let r = store
        .per_key(&[key.to_vec()], |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            p.cmd("HANOI.STATS").arg(k);
            p.cmd("HANOI.STATS").arg(k).arg("SERIES");
            3
        })
        .await?
        .pop()
        .unwrap_or_default();
    // The export carries the history too.
    let Some((flag, history)) = r
        .first()
        .and_then(|v| store::flag_and_history(v, HISTORY_SHOWN))
    else {
        if let Some(redis::Value::ServerError(e)) = r.first() {
            return Err(Fail::Bad(format!(
                "{} {}: this key is not a flag",
                e.code(),
                e.details().unwrap_or("")
            )));
        }
        return Ok(None);
    };
    // The revision comes with the flag it describes (one reply): a write
    // after it makes a save refused, never a stale view accepted.
    let version = flag.version();
    let missing_refs = missing_refs(store, &flag).await;
    Ok(Some(PageData {
        missing_refs,
        flag,
        stats: r.get(1).and_then(store::stats_reply),
        history,
        series: r.get(2).and_then(store::series_reply),
        version,
        pending: Vec::new(),
    }))
}

/// What the flag page shows above its sections.
#[derive(Default)]
struct Notice {
    ok: Option<String>,
    conflict: Option<Vec<HistoryEntry>>,
    tried: Option<(String, Result<ExplainReply, String>)>,
    /// "try it"'s attributes refused (a line that is not attr=value).
    try_error: Option<String>,
    /// A refused form (`op` says which): what was typed (shown again as
    /// typed), the problems by field, and the module's refusal.
    refused: Option<Refused>,
    /// The rule form as posted: a row added or removed, or refused.
    rule: Option<RuleForm>,
    /// The comment typed in a form that came back (its `op`, the comment).
    comment: Option<(String, String)>,
    /// The confirmation typed in a form that came back (its `op`, what was
    /// typed): that form has a confirmation field of its own.
    confirm: Option<(String, String)>,
}

#[derive(Default)]
struct Refused {
    op: String,
    form: HashMap<String, String>,
    fields: Vec<(String, String)>,
    module: Option<String>,
}

/// The refusal of a form (its `op` among `ops`), announced, at the form.
fn form_error(n: &Notice, ops: &[&str], id: &str) -> Markup {
    let r = n.refused.as_ref().filter(|r| ops.contains(&r.op.as_str()));
    html! {
        @if let Some(r) = r {
            div.msg.err.error id=(id) role="alert" {
                "Not saved: "
                @if let Some(m) = &r.module { (m) }
                @for (_, e) in &r.fields { (e) " " }
            }
        }
    }
}

/// What was typed in a refused form's field, else `now`.
fn kept(n: &Notice, op: &str, field: &str, now: String) -> String {
    n.refused
        .as_ref()
        .filter(|r| r.op == op)
        .and_then(|r| r.form.get(field).cloned())
        .unwrap_or(now)
}

/// The variants form: a row per variant (name, weight, JSON value) and two
/// empty rows to add one, the default and the salt; after a refusal, what
/// was typed, each problem next to its field (announced: `role=alert`).
fn define_form(w: &Who, d: &PageData, n: &Notice, url: &str) -> Markup {
    let f = &d.flag;
    let kept = n.refused.as_ref().filter(|r| r.op == "define");
    let rows: Vec<VariantRow> = match kept {
        Some(r) => variant_rows(&r.form),
        None => f
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| VariantRow {
                name: lossy(v),
                weight: f.weights.get(i).map(|w| w.to_string()).unwrap_or_default(),
                value: f.values.get(i).map(|j| lossy(j)).unwrap_or_default(),
            })
            .chain(std::iter::repeat_with(VariantRow::default).take(2))
            .collect(),
    };
    let typed = |k: &str, now: String| kept.and_then(|r| r.form.get(k).cloned()).unwrap_or(now);
    let problem = |field: &str| {
        kept.and_then(|r| r.fields.iter().find(|(k, _)| k == field))
            .map(|(_, e)| e.as_str())
    };
    let input = |name: String, label: String, value: &str, shown: bool| {
        let id = format!("{}-input", name.replace('_', "-"));
        let err = problem(&name);
        let err_id = format!("{id}-error");
        html! {
            label.field.invalid[err.is_some()] {
                @if shown { (label) br; } @else { span.sr-only { (label) } }
                input type="text" name=(name) value=(value) id=(id)
                    aria-invalid=[err.map(|_| "true")] aria-describedby=[err.map(|_| err_id.as_str())];
                @if let Some(e) = err { span.field-error id=(err_id) role="alert" { (e) } } }
        }
    };
    html! {
        form method="post" action=(url) id="define-form" {
            (hidden(w, d, n, "define"))
            @if let Some(m) = kept.and_then(|r| r.module.as_deref()) {
                div.msg.err id="define-error" role="alert" { "Not saved: " (m) }
            } @else if kept.is_some() {
                div.msg.err id="define-error" role="alert" { "Not saved: see the fields marked below." }
            }
            table id="variant-rows" {
                thead { tr { th { "variant" } th { "weight (optional)" } th { "value (JSON, optional)" } } }
                tbody {
                    @for (i, r) in rows.iter().enumerate() {
                        tr {
                            td { (input(format!("variant_{i}"), format!("Variant {}", i + 1), &r.name, false)) }
                            td { (input(format!("weight_{i}"), format!("Weight of variant {}", i + 1), &r.weight, false)) }
                            td { (input(format!("value_{i}"), format!("Value of variant {} (JSON)", i + 1), &r.value, false)) }
                        }
                    }
                }
            }
            p.muted { "Values are JSON: " code { "10" } ", " code { "0.5" } ", " code { "\"blue\"" } ", "
                code { "true" } ", " code { "{\"columns\": 2}" } ", all of one type. Without values a variant's value is its name. Empty rows are left out." }
            (input("default".to_owned(), "Default (the variant served when off; empty: none)".to_owned(),
                &typed("default", f.default.as_deref().map(lossy).unwrap_or_default()), true))
            (input("salt".to_owned(), "Salt".to_owned(),
                &typed("salt", f.salt.as_deref().map(lossy).unwrap_or_default()), true))
            p.muted { "Saving re-defines the flag with its current switch and percentage (this ends a ramp)." }
            button type="submit" id="save-variants" { "Save variants" (w.in_env()) }
        }
    }
}

pub(super) async fn flag_page(
    State(app): State<Arc<App>>,
    w: Who,
    Path(hex): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let key = key_of(&hex)?;
    if w.can_write {
        w.env(&app).attributes.refresh(&w.env(&app).store).await;
    }
    let mut notice = Notice {
        ok: q.get("done").map(|d| match (d.as_str(), q.get("from")) {
            ("copy", Some(from)) => format!("Copied from {from}."),
            _ => "Saved.".to_owned(),
        }),
        ..Notice::default()
    };
    let attrs = q.get("try_attrs").cloned().unwrap_or_default();
    let pairs = parse_attrs(&attrs).unwrap_or_else(|e| {
        notice.try_error = Some(e);
        Vec::new()
    });
    if let Some(id) = q
        .get("try_id")
        .filter(|s| !s.is_empty() && notice.try_error.is_none())
    {
        // A preview is not traffic: HANOI.PREVIEW answers as HANOI.RESOLVE
        // and is never counted (the flag's stats stay as they are).
        let mut c = redis::cmd("HANOI.PREVIEW");
        c.arg(&key).arg(id);
        if !pairs.is_empty() {
            c.arg("WITH");
            for (a, v) in pairs {
                c.arg(a).arg(v);
            }
        }
        let answer = match w.env(&app).store.query(&key, &c).await {
            Ok(v) => store::resolve_reply(&v)
                .map(|r| r.explanation)
                .ok_or_else(|| "unexpected reply".to_owned()),
            Err(e) if store::is_unavailable(&e) => return Err(Fail::Unavailable),
            Err(e) => Err(plain(&store::error_text(&e))),
        };
        notice.tried = Some((id.clone(), answer));
    }
    let Some(mut data) = load_flag(&w.env(&app).store, &key).await? else {
        if !w.multi {
            return Err(Fail::NotFound);
        }
        // Missing here, maybe not elsewhere: the tabs, and a comparison
        // (which copies) with each other environment.
        let name = lossy(&key);
        let base = flag_url(&key);
        let body = html! {
            (env_tabs(&app, &w, &base))
            h1 id="flag-title" { (name) " " span.badge.missing { "missing" } " " span.badge.env id="flag-env" { "in " (w.env_name) } }
            p id="no-flag" { "There is no flag " strong { (name) } " in " (w.env_name) ". Compare with another environment to copy it here." }
        };
        return Ok(respond(
            StatusCode::NOT_FOUND,
            layout(&format!("{name} in {}", w.env_name), Some(&w), body),
        ));
    };
    if w.approvals > 0 {
        data.pending = w
            .env(&app)
            .store
            .requests()
            .await?
            .into_iter()
            .filter(|r| r.pending() && r.flag == key)
            .collect();
    }
    Ok(respond(
        StatusCode::OK,
        render_flag(&app, &w, &key, &data, &notice, &q),
    ))
}

/// A write form's hidden fields, its comment field (what was typed, after
/// a refusal of this form) and the environment's fields.
fn hidden(w: &Who, d: &PageData, n: &Notice, op: &str) -> Markup {
    let seen = d.history.first().map_or(0, |h| h.at_ms);
    // Entries of that same millisecond shown: a change made in it after the
    // page was rendered is told apart by their count.
    let seen_same = d.history.iter().take_while(|h| h.at_ms == seen).count();
    let comment = n
        .comment
        .as_ref()
        .filter(|(o, _)| o == op)
        .map(|(_, c)| c.as_str())
        .unwrap_or("");
    html! {
        input type="hidden" name="csrf" value=(w.csrf);
        input type="hidden" name="version" value=(d.version);
        input type="hidden" name="seen" value=(seen);
        input type="hidden" name="seen_same" value=(seen_same);
        input type="hidden" name="op" value=(op);
        (w.comment_field(comment))
        @if let Some((_, typed)) = n.confirm.as_ref().filter(|(o, _)| o == op) {
            (w.confirm_in_form(typed))
        }
    }
}

/// A ramp in words: "ramping 10 % → 100 %, now 34 %, until <time>".
fn ramp_words(f: &Description) -> Option<String> {
    let hanoi_core::Ramp {
        from_pct: a,
        to_pct: b,
        start_ms: start,
        end_ms: end,
    } = f.ramp?;
    let now = u64::try_from(now_ms()).unwrap_or(0);
    let eff = f.effective_percentage;
    Some(if now < start {
        format!(
            "ramp {a} % → {b} % from {} until {} (now {eff} %)",
            fmt_iso_u(start),
            fmt_iso_u(end)
        )
    } else if now < end {
        format!(
            "ramping {a} % → {b} %, now {eff} %, until {}",
            fmt_iso_u(end)
        )
    } else {
        format!(
            "ramped {a} % → {b} %, done {} (now {eff} %)",
            fmt_iso_u(end)
        )
    })
}

/// The state: the switch, the percentage (or the ramp), its forms.
fn state_section(w: &Who, d: &PageData, n: &Notice, url: &str, name: &str) -> Markup {
    let f = &d.flag;
    let ramp = ramp_words(f);
    html! {
        section.card id="state" {
            h2 { "State" }
            p { "Switched " strong { @if f.enabled { "on" } @else { "off" } } ", "
                @match &ramp {
                    Some(r) => strong id="ramp-state" { (r) },
                    None => { "percentage " strong id="percentage" { (f.percentage) " %" } },
                }
                @if let Some(s) = &f.salt { ", salt " code { (lossy(s)) } } }
            p { (f.users) " registered users · " (f.blocked) " blocked · " (f.regexes.len()) " regexes · " (f.rules.len()) " rules" }
            p.muted id="order" { "An id is decided in this order, and the page follows it: the switch and the window, blocked ids, registered ids, regexes, rules, then the percentage." }
            @if f.created_ms > 0 { p.muted { "created " (fmt_iso_u(f.created_ms)) } }
            @if w.can_write {
                (form_error(n, &["switch"], "switch-error"))
                form.row method="post" action=(url) id="switch-form"
                    data-confirm=(if f.enabled { format!("Switch {name} OFF for everyone?") } else { format!("Switch {name} ON?") }) {
                    (hidden(w, d, n, "switch"))
                    input type="hidden" name="to" value=(if f.enabled { "off" } else { "on" });
                    button type="submit" id="switch" class=(if f.enabled { "danger" } else { "" }) {
                        @if f.enabled { "Switch off" } @else { "Switch on" } (w.in_env()) }
                }
            }
        }
    }
}

/// The percentage: what everyone not decided before gets (last in the
/// evaluation order).
fn percentage_section(w: &Who, d: &PageData, n: &Notice, url: &str) -> Markup {
    let f = &d.flag;
    let confirm = f.ramp.map(|r| {
        format!(
            "Setting the percentage ends the ramp from {} % to {} %. Set it?",
            r.from_pct, r.to_pct
        )
    });
    html! {
        section.card id="percentage-section" {
            h2 { "Percentage" }
            p.muted { "Everyone the steps above did not decide: on when their bucket is below it." }
            @if !w.can_write { p { strong { (f.effective_percentage) " %" } } }
            @if w.can_write {
                form method="post" action=(url) id="percentage-form" data-confirm=[confirm] {
                    (hidden(w, d, n, "percentage"))
                    (form_error(n, &["percentage"], "percentage-error"))
                    div.row {
                        label for="percentage-input" { "Percentage" }
                        input type="number" name="percentage" id="percentage-input" min="0" max="100"
                            value=(kept(n, "percentage", "percentage", f.effective_percentage.to_string()))
                            aria-invalid=[n.refused.as_ref().filter(|r| r.op == "percentage").map(|_| "true")];
                        button type="submit" id="set-percentage" { "Set percentage" (w.in_env()) }
                    }
                    @if f.ramp.is_some() { p.muted { "Setting a percentage ends the ramp." } }
                }
            }
        }
    }
}

/// The chart's bars (start, evaluations, on) of the first `most` periods.
fn bars(periods: &[Period], most: usize) -> Vec<(i64, i64, i64)> {
    periods
        .iter()
        .take(most)
        .map(|p| (signed(p.start_ms), signed(p.evaluations), signed(p.enabled)))
        .collect()
}

/// Evaluation counts: on and off as shares of every evaluation, variants
/// as shares of the variant answers (each on its own scale).
fn stats_section(d: &PageData) -> Markup {
    let stats = d.stats.clone().unwrap_or(StatsReply {
        evaluations: 0,
        enabled: 0,
        variants: Vec::new(),
        last_evaluated_ms: None,
        since_ms: 0,
    });
    let all = stats.evaluations;
    let off = all.saturating_sub(stats.enabled);
    let handed: u64 = stats.variants.iter().map(|(_, c)| *c).sum();
    let share = |c: u64, of: u64| (c * 100).checked_div(of).unwrap_or(0);
    html! {
        section.card id="stats" {
            h2 { "Evaluations (this server)" }
            p { (stats.evaluations) " evaluations, " (stats.enabled) " on · last "
                @match stats.last_evaluated_ms { Some(t) => (fmt_iso_u(t)), None => "never" }
                @if d.stats.is_some() { span.muted { " · counting since " (fmt_iso_u(stats.since_ms)) } } }
            table.bars id="chart" {
                caption.muted { "On and off, of all " (all) " evaluations" }
                tr { th scope="row" { "on" } td { progress max=(all.max(1)) value=(stats.enabled) aria-label="on" {} } td { (stats.enabled) " (" (share(stats.enabled, all)) " %)" } }
                tr { th scope="row" { "off" } td { progress max=(all.max(1)) value=(off) aria-label="off" {} } td { (off) " (" (share(off, all)) " %)" } }
            }
            @if !stats.variants.is_empty() {
                table.bars id="variant-chart" {
                    caption.muted { "Variants, of the " (handed) " variant answers" }
                    @for (v, c) in &stats.variants {
                        tr { th scope="row" { code title=(lossy(v)) { (lossy(v)) } } td { progress max=(handed.max(1)) value=(c) aria-label={"variant " (lossy(v))} {} } td { (c) " (" (share(*c, handed)) " %)" } }
                    }
                }
                p.muted id="variant-note" { "Variant counts come from variant/value calls (HANOI.VARIANT, HANOI.VALUE, HANOI.RESOLVE, OFREP), not from on/off checks: each scale is its own." }
            }
            @if let Some(s) = &d.series {
                (chart::over_time("chart-hour", "Last hour, per minute", &bars(&s.minutes, 60), 15, chart::hh_mm))
                (chart::over_time("chart-week", "Last 7 days, per hour", &bars(&s.hours, 168), 24, chart::month_day))
            }
        }
    }
}

/// "Try it": an id and attributes, HANOI.PREVIEW's answer in words (not
/// counted as an evaluation).
fn try_section(w: &Who, n: &Notice, q: &HashMap<String, String>, url: &str) -> Markup {
    let err = n.try_error.as_deref();
    html! {
        section.card id="try" {
            h2 { "Try it" }
            form method="get" action={(url) "#try"} id="try-form" {
                (w.env_fields(true))
                label { "Id" br; input type="text" name="try_id" id="try-id" value=(q.get("try_id").cloned().unwrap_or_default()); }
                label.field.invalid[err.is_some()] { "Attributes (one attr=value a line)" br;
                    textarea name="try_attrs" id="try-attrs" aria-invalid=[err.map(|_| "true")]
                        aria-describedby=[err.map(|_| "try-attrs-error")] { (q.get("try_attrs").cloned().unwrap_or_default()) }
                    @if let Some(e) = err { span.field-error id="try-attrs-error" role="alert" { (e) } } }
                button type="submit" id="try-button" { "Explain" }
            }
            @if let Some((id, answer)) = &n.tried {
                div id="try-result" role="status" {
                    @match answer {
                        Ok(e) => p { "For " code { (id) } ": " strong { @if e.enabled { "on" } @else { "off" } }
                            @if let Some(v) = &e.variant { ", variant " code { (lossy(v)) } }
                            ", because " strong.reason { (reason_words(e)) }
                            " " span.muted { "(" (e.reason.as_str()) @if let Some(dt) = &e.detail { " " (store::detail_text(dt)) } ")" }
                            @if let Some(m) = &e.missing { br; span.warn id="try-missing" { (missing_words(m)) } } },
                        Err(msg) => div.msg.err role="alert" { (msg) },
                    }
                }
            }
        }
    }
}

/// The rules: a table (edit, move up and down, delete) and the builder.
fn rules_section(
    w: &Who,
    d: &PageData,
    n: &Notice,
    q: &HashMap<String, String>,
    url: &str,
    base: &str,
    catalog: &Catalog,
) -> Markup {
    let f = &d.flag;
    let last = f.rules.len().saturating_sub(1);
    let form = match &n.rule {
        Some(_) => None,
        None => Some(
            q.get("edit_rule")
                .and_then(|e| f.rules.iter().find(|r| lossy(&r.name) == *e))
                .map(RuleForm::editing)
                .unwrap_or_else(RuleForm::blank),
        ),
    };
    let form = n.rule.as_ref().or(form.as_ref());
    html! {
        section.card id="rules" {
            h2 { "Rules" }
            @if f.segment { p.muted { "Tried in order: an id whose conditions all hold is a member (a rollout: that share of them). Rules here serve no variant." } }
            @else { p.muted { "Tried in order, before the percentage: the first rule whose conditions all hold decides." } }
            @let gone: Vec<Vec<u8>> = f.segments_used().into_iter().filter(|s| d.missing_refs.contains(s)).collect();
            @if !gone.is_empty() {
                p.msg.warn id="missing-segments" { "Missing here: segment" @if gone.len() > 1 { "s" } " "
                    @for (i, k) in gone.iter().enumerate() { @if i > 0 { ", " } code { (lossy(k)) } }
                    ". The conditions that name " @if gone.len() > 1 { "them" } @else { "it" } " are false (NOTIN too)." }
            }
            (form_error(n, &["rule_del", "rule_move"], "rules-error"))
            @if f.rules.is_empty() { p.muted { "No rules." } }
            @else {
                div.scroll { table id="rules-table" { thead { tr { th { "#" } th { "name" } th { "definition" } @if w.can_write { th { span.sr-only { "actions" } } } } } tbody {
                    @for (i, r) in f.rules.iter().enumerate() {
                        @let rname = lossy(&r.name);
                        tr {
                            td { (i + 1) }
                            td.name { (rname) }
                            td { span.sentence { (rule_sentence(r)) } br;
                                code.muted { (r.args().iter().map(|a| quote_token(&lossy(a))).collect::<Vec<_>>().join(" ")) } }
                            @if w.can_write { td.actions {
                                a.secondary href={(w.link(&format!("{}?edit_rule={}", base, urlencode(&rname)))) "#rule-form"} aria-label={"Edit rule " (rname)} { "edit" } " "
                                @if i > 0 { form.inline method="post" action=(url) { (hidden(w, d, n, "rule_move"))
                                    input type="hidden" name="name" value=(rname); input type="hidden" name="index" value=(i - 1);
                                    button.secondary type="submit" aria-label={"Move rule " (rname) " up" (w.in_env())} { "↑" } } " " }
                                @if i < last { form.inline method="post" action=(url) { (hidden(w, d, n, "rule_move"))
                                    input type="hidden" name="name" value=(rname); input type="hidden" name="index" value=(i + 1);
                                    button.secondary type="submit" aria-label={"Move rule " (rname) " down" (w.in_env())} { "↓" } } " " }
                                form.inline method="post" action=(url) data-confirm={"Delete rule " (rname) "?"} { (hidden(w, d, n, "rule_del"))
                                    input type="hidden" name="name" value=(rname);
                                    button.danger type="submit" aria-label={"Delete rule " (rname) (w.in_env())} { "delete" } }
                            } }
                        }
                    }
                } } }
            }
            @if w.can_write { @if let Some(form) = form { (rule_form(hidden(w, d, n, "rule_set"), url, f, form, &w.in_env(), w.protected, catalog)) } }
        }
    }
}

/// The schedule: the window and the ramp, their forms.
fn schedule_section(w: &Who, d: &PageData, n: &Notice, url: &str) -> Markup {
    let f = &d.flag;
    let k = |op: &str, field: &str| kept(n, op, field, String::new());
    html! {
        section.card id="schedule" {
            h2 { "Schedule" }
            p { "Window: " @match f.window {
                Some((a, b)) => { (if a == 0 { "open".to_owned() } else { fmt_iso_u(a) }) " → " (if b == 0 { "open".to_owned() } else { fmt_iso_u(b) }) },
                None => span.muted { "none" },
            } }
            p { "Ramp: " @match ramp_words(f) {
                Some(r) => span id="schedule-ramp" { (r) },
                None => span.muted { "none" },
            } }
            @if w.can_write {
                form method="post" action=(url) id="window-form" {
                    (hidden(w, d, n, "window"))
                    (form_error(n, &["window"], "window-error"))
                    div.row { label { "From " input type="text" name="from" id="window-from" placeholder="2027-01-01 00:00 or ms" value=(k("window", "from")); }
                              label { "Until " input type="text" name="until" id="window-until" placeholder="empty: open" value=(k("window", "until")); } }
                    button type="submit" { "Set window" (w.in_env()) }
                }
                form method="post" action=(url) id="ramp-form" {
                    (hidden(w, d, n, "ramp"))
                    (form_error(n, &["ramp"], "ramp-error"))
                    div.row { label { "From % " input type="number" name="from_pct" id="ramp-from" min="0" max="100" value=(k("ramp", "from_pct")); }
                              label { "to % " input type="number" name="to_pct" id="ramp-to" min="0" max="100" value=(k("ramp", "to_pct")); } }
                    div.row { label { "Start " input type="text" name="start" id="ramp-start" placeholder="UTC time or ms" value=(k("ramp", "start")); }
                              label { "End " input type="text" name="end" id="ramp-end" placeholder="UTC time or ms" value=(k("ramp", "end")); } }
                    button type="submit" id="set-ramp" { "Set ramp" (w.in_env()) }
                }
                form.row method="post" action=(url) id="clear-form" {
                    (hidden(w, d, n, "clear"))
                    (form_error(n, &["clear"], "clear-error"))
                    label { "Clear " select name="what" { option value="" { "window and ramp" } option value="WINDOW" { "window" } option value="RAMP" { "ramp" } } }
                    button.secondary type="submit" { "Clear" (w.in_env()) }
                }
            }
        }
    }
}

/// A segment's own panel, in place of the switch, schedule and
/// prerequisites: what its answer means, and where its users are seen.
fn segment_section(w: &Who, d: &PageData) -> Markup {
    let f = &d.flag;
    html! {
        section.card id="segment" {
            h2 { "Segment" }
            p { "A segment's answer is membership: " strong { (f.users) " registered ids" } " are members, and so is any id a regex or a rule below takes in; "
                strong { (f.blocked) " blocked ids" } " are never members. Flags use it in a rule: " code { "segment IN 1 …" } "." }
            p.muted { "It has no switch, percentage, variants or schedule. " a href=(w.link("/segments")) id="all-segments" { "All segments and the flags that use them" } }
            @if f.salt.is_some() { p.muted { "salt " code { (f.salt.as_deref().map(lossy).unwrap_or_default()) } } }
            @if !d.missing_refs.is_empty() {
                p.msg.warn id="missing-refs" { "Missing here: " @for (i, k) in d.missing_refs.iter().enumerate() { @if i > 0 { ", " } code { (lossy(k)) } }
                    " (named by its rules: those conditions are false)." }
            }
        }
    }
}

/// The prerequisites, in evaluation order (after the switch and the
/// window, before the ids): each must be on for the same id (serving its
/// variant when one is named), else this flag is off. Add (a picker of this
/// environment's flags), remove, move up and down: each a `HANOI.PREREQ`.
fn prereq_section(
    w: &Who,
    d: &PageData,
    n: &Notice,
    url: &str,
    key: &[u8],
    catalog: &Catalog,
) -> Markup {
    let f = &d.flag;
    let last = f.prerequisites.len().saturating_sub(1);
    let name = lossy(key);
    let choices: Vec<&String> = catalog
        .flags
        .iter()
        .filter(|c| c.as_bytes() != key && !f.prerequisites.iter().any(|(p, _)| p == c.as_bytes()))
        .collect();
    let full = catalog.flags.len() >= super::rules::KnownAttributes::NAMES;
    let chosen = kept(n, "prereq_set", "prereq", String::new());
    html! {
        section.card id="prerequisites" {
            h2 { "Prerequisites (" (f.prerequisites.len()) ")" }
            p.muted { "After the switch and the window, before the ids: each must be on for the same id and attributes (and serve its variant when one is named). The first that is not makes " (name) " off, serving its default." }
            (form_error(n, &["prereq_del", "prereq_move"], "prereqs-error"))
            @if f.prerequisites.is_empty() { p.muted id="no-prereqs" { "None." } }
            @else {
                table id="prereq-table" { thead { tr { th { "#" } th { "flag" } th { "must serve" } @if w.can_write { th { span.sr-only { "actions" } } } } } tbody {
                    @for (i, (p, v)) in f.prerequisites.iter().enumerate() {
                        @let pname = lossy(p);
                        tr {
                            td { (i + 1) }
                            td.name { a href=(w.link(&flag_url(p))) { (pname) }
                                @if d.missing_refs.contains(p) { " " span.badge.missing title="no such flag here: this prerequisite fails" { "missing" } } }
                            td { @match v { Some(v) => code { (lossy(v)) }, None => span.muted { "on" } } }
                            @if w.can_write { td.actions {
                                @if i > 0 { form.inline method="post" action=(url) { (hidden(w, d, n, "prereq_move"))
                                    input type="hidden" name="prereq" value=(pname); input type="hidden" name="index" value=(i - 1);
                                    button.secondary type="submit" aria-label={"Move prerequisite " (pname) " up" (w.in_env())} { "↑" } } " " }
                                @if i < last { form.inline method="post" action=(url) { (hidden(w, d, n, "prereq_move"))
                                    input type="hidden" name="prereq" value=(pname); input type="hidden" name="index" value=(i + 1);
                                    button.secondary type="submit" aria-label={"Move prerequisite " (pname) " down" (w.in_env())} { "↓" } } " " }
                                form.inline method="post" action=(url) data-confirm={"Remove prerequisite " (pname) "?"} { (hidden(w, d, n, "prereq_del"))
                                    input type="hidden" name="prereq" value=(pname);
                                    button.danger type="submit" aria-label={"Remove prerequisite " (pname) (w.in_env())} { "remove" } }
                            } }
                        }
                    }
                } }
            }
            @if w.can_write {
                form method="post" action={(url) "#prerequisites"} id="prereq-form" {
                    (hidden(w, d, n, "prereq_set"))
                    (form_error(n, &["prereq_set"], "prereq-error"))
                    div.row {
                        label { "Needs the flag" br;
                            select name="prereq" id="prereq-key" {
                                option value="" { "(choose a flag)" }
                                @for c in &choices { option value=(c) selected[**c == chosen] { (c) } }
                                @if full && !chosen.is_empty() && !choices.iter().any(|c| **c == chosen) { option value=(chosen) selected { (chosen) } }
                            } }
                        label { "serving the variant (optional)" br;
                            input type="text" name="prereq_variant" id="prereq-variant" autocomplete="off"
                                value=(kept(n, "prereq_set", "prereq_variant", String::new())); }
                    }
                    @if full { p.muted { "Only the first " (super::rules::KnownAttributes::NAMES) " flags are listed." } }
                    button type="submit" id="add-prereq" { "Add prerequisite" (w.in_env()) }
                }
            }
        }
    }
}

fn render_flag(
    app: &App,
    w: &Who,
    key: &[u8],
    d: &PageData,
    n: &Notice,
    q: &HashMap<String, String>,
) -> Markup {
    let f = &d.flag;
    let name = lossy(key);
    let base = flag_url(key);
    let url = w.link(&base);
    let catalog = w.env(app).attributes.get();
    let body = html! {
        @if w.multi { (env_tabs(app, w, &base)) }
        h1 id="flag-title" { (name) " " @if f.segment { span.badge.segment id="segment-badge" { "segment" } } @else { (state_badge(f.enabled)) }
            @if w.multi { " " span.badge.env id="flag-env" { "in " (w.env_name) } }
            @if w.multi && !w.can_write { " " span.badge id="read-only" { "read-only" } }
            @if is_stale(d.stats.as_ref(), app.config.stale_days) { " " span.badge.stale { "stale" } } }
        @if let Some(ok) = &n.ok { div.msg.ok id="ok" { (ok) } }
        @if !f.segment {
            p id="experiment-link" { a href=(w.link(&format!("{base}/experiment"))) { "Experiment" }
                @match &f.experiment {
                    Some(e) if e.running => { " " span.badge.on { "running" } },
                    Some(_) => { " " span.badge.off { "stopped" } },
                    None => { " " span.muted { "(A/B test this flag's split: exposures, conversions, results)" } },
                } }
        }
        @if w.can_write { (w.confirm_box()) }
        @if w.approvals > 0 {
            section.card id="flag-requests" {
                h2 { "Pending change requests (" (d.pending.len()) ")" }
                p.muted { "In " (w.env_name) " a change needs " (w.approvals) " approval" @if w.approvals > 1 { "s" } " by other writers: saving a form here proposes it. "
                    a href=(w.link("/requests")) { "All change requests" } }
                @for r in &d.pending { (super::requests::request_card(w, r, w.approvals)) }
            }
        }
        @if let Some(changes) = &n.conflict {
            div.msg.warn id="conflict" {
                strong { "Not saved: this flag changed since you opened the page." }
                " The page now shows the current flag; what changed meanwhile:"
                @if changes.is_empty() { p { "(a change that left no history entry)" } }
                @else { (history_table(changes, "conflict-changes")) }
            }
        }
        // The evaluation order: the switch and the window, blocked,
        // registered, regexes, rules, the percentage; the other panels after.
        @if f.segment {
            (segment_section(w, d))
        } @else {
            div.grid {
                (state_section(w, d, n, &url, &name))
                (schedule_section(w, d, n, &url))
            }
            (prereq_section(w, d, n, &url, key, &catalog))
        }
        div.grid {
            section.card id="blocked" {
                h2 { "Blocked ids (" (f.blocked) ")" }
                p { a href=(w.link(&format!("{base}/ids?list=blocked"))) id="browse-blocked" { "Browse and search the blocked ids" } }
                @if w.can_write {
                    form method="post" action=(url) id="block-form" {
                        (hidden(w, d, n, "block"))
                        (form_error(n, &["block"], "block-error"))
                        label { "Block ids" textarea name="ids" { (kept(n, "block", "ids", String::new())) } }
                        button type="submit" { "Block" (w.in_env()) }
                    }
                    form method="post" action=(url) id="unblock-form" {
                        (hidden(w, d, n, "unblock"))
                        (form_error(n, &["unblock"], "unblock-error"))
                        label { "Unblock ids" textarea name="ids" { (kept(n, "unblock", "ids", String::new())) } }
                        button.secondary type="submit" { "Unblock" (w.in_env()) }
                    }
                }
            }
            section.card id="users" {
                h2 { "Users (" (f.users) ")" }
                p { a href=(w.link(&format!("{base}/ids?list=users"))) id="browse-users" { "Browse and search the registered ids" } }
                p.muted { "Look one up with “Try it”: reason " code { "user" } " means registered." }
                @if w.can_write {
                    form method="post" action=(url) id="users-add-form" {
                        (hidden(w, d, n, "users_add"))
                        (form_error(n, &["users_add"], "users-add-error"))
                        label { "Register ids (paste many: spaces, commas or lines)" textarea name="ids" id="users-add" { (kept(n, "users_add", "ids", String::new())) } }
                        button type="submit" id="register" { "Register" (w.in_env()) }
                    }
                    form method="post" action=(url) id="users-remove-form" {
                        (hidden(w, d, n, "users_remove"))
                        (form_error(n, &["users_remove"], "users-remove-error"))
                        label { "Unregister ids" textarea name="ids" { (kept(n, "users_remove", "ids", String::new())) } }
                        button.secondary type="submit" { "Unregister" (w.in_env()) }
                    }
                }
            }
            section.card id="regexes" {
                h2 { "Regexes" }
                (form_error(n, &["regex_remove"], "regex-remove-error"))
                ul { @for r in &f.regexes { li { code { (r) }
                    @if w.can_write { " " form.inline method="post" action=(url) { (hidden(w, d, n, "regex_remove"))
                        input type="hidden" name="patterns" value=(r);
                        button.secondary type="submit" aria-label={"Remove " (r) (w.in_env())} { "remove" } } } } } }
                @if w.can_write {
                    form method="post" action=(url) id="regex-form" {
                        (hidden(w, d, n, "regex_add"))
                        (form_error(n, &["regex_add"], "regex-error"))
                        label { "Add patterns (one a line)" textarea name="patterns" id="regex-patterns" { (kept(n, "regex_add", "patterns", String::new())) } }
                        button type="submit" { "Add" (w.in_env()) }
                    }
                }
            }
        }
        (rules_section(w, d, n, q, &url, &base, &catalog))
        div.grid {
            @if !f.segment { (percentage_section(w, d, n, &url)) }
            @if !f.segment { section.card id="variants" {
                h2 { "Variants" }
                p id="flag-type" { "Type: " strong { (f.value_type.as_str()) }
                    @if let Some(d) = &f.default { " · served when off: " code { (lossy(d)) } } }
                @if f.variants.is_empty() { p.muted { "None: a boolean flag." } }
                @else if !w.can_write { table { thead { tr { th { "variant" } th { "weight" } th { "value" } } } tbody {
                    @for (i, v) in f.variants.iter().enumerate() {
                        tr { td { code { (lossy(v)) } } td { (f.weights.get(i).map(|w| w.to_string()).unwrap_or_else(|| "—".into())) }
                            td { code { (f.values.get(i).map(|j| lossy(j)).unwrap_or_else(|| "(its name)".into())) } } } } } } }
                @if w.can_write { (define_form(w, d, n, &url)) }
            } }
            (try_section(w, n, q, &base))
            (stats_section(d))
            section.card id="metadata" {
                h2 { "Metadata" }
                table { tbody { @for (k, v) in &f.metadata { tr { td { code { (lossy(k)) } } td { (lossy(v)) } } } } }
                @if w.can_write {
                    form method="post" action=(url) id="meta-form" {
                        (hidden(w, d, n, "meta"))
                        (form_error(n, &["meta"], "meta-error"))
                        label { "Description" br; input type="text" name="description" value=(kept(n, "meta", "description", f.meta("description").unwrap_or_default())); }
                        label { "Owner" br; input type="text" name="owner" value=(kept(n, "meta", "owner", f.meta("owner").unwrap_or_default())); }
                        label { "Tags (comma separated)" br; input type="text" name="tags" value=(kept(n, "meta", "tags", f.meta("tags").unwrap_or_default())); }
                        button type="submit" { "Save metadata" (w.in_env()) }
                    }
                }
            }
        }
        section.card id="history-section" {
            h2 { "History" }
            (history_table(&d.history, "history"))
        }
        @if w.can_write {
            section.card id="delete" {
                h2 { "Delete" }
                form.row method="post" action=(url) id="delete-form" {
                    (hidden(w, d, n, "delete"))
                    (form_error(n, &["delete"], "delete-error"))
                    @if f.segment { p.muted { "Flags whose rules name this segment then find its conditions false." } }
                    label { "Type the flag's name to delete it: " input type="text" name="confirm" id="delete-confirm" autocomplete="off"; }
                    button.danger type="submit" id="delete-button" { "Delete flag" (w.in_env()) }
                }
            }
        }
    };
    let title = if w.multi {
        format!("{name} in {}", w.env_name)
    } else {
        name
    };
    layout(&title, Some(w), body)
}

/// A tab per environment: the same page in each; the current one marked.
fn env_tabs(app: &App, w: &Who, base: &str) -> Markup {
    let roles = app.config.user(&w.name);
    html! {
        nav.tabs id="env-tabs" aria-label="environments" {
            @for e in &app.envs {
                @let writable = !app.config.read_only
                    && roles.is_some_and(|u| u.role_in(&e.name) == crate::config::Role::Admin);
                @if e.name == w.env_name {
                    span.tab aria-current="page" { (e.name) @if !writable { " (read-only)" } @if e.protected { " 🔒" } }
                } @else {
                    a.tab href=(super::session::env_link(true, &e.name, base)) { (e.name) @if !writable { " (read-only)" } @if e.protected { " 🔒" } }
                }
            }
            span.compare { "Compare with: "
                @for e in app.envs.iter().filter(|e| e.name != w.env_name) {
                    a href=(w.link(&format!("{base}/compare?with={}", super::urlencode(&e.name)))) id={"compare-" (e.name)} { (e.name) } " "
                }
            }
        }
    }
}

/// The history entries written since the form's page was rendered (its
/// `seen`: the newest entry's time then, `seen_same`: how many entries had
/// that time), newest first.
pub(super) fn changed_since(
    history: &[HistoryEntry],
    f: &HashMap<String, String>,
) -> Vec<HistoryEntry> {
    let seen = f
        .get("seen")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let same_now = history.iter().filter(|h| h.at_ms == seen).count() as i64;
    // Without `seen_same` (a form from before it): that millisecond's
    // entries are taken as seen.
    let seen_same = f
        .get("seen_same")
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(same_now);
    let mut extra = (same_now - seen_same).max(0);
    history
        .iter()
        .filter(|h| {
            h.at_ms > seen
                || (h.at_ms == seen && {
                    extra -= 1;
                    extra >= 0
                })
        })
        .cloned()
        .collect()
}

/// A form that comes back unsaved, everything typed kept (its comment and
/// confirmation too), `why` at the form.
fn came_back(op: &str, f: &HashMap<String, String>, why: String) -> Notice {
    let comment = Some((op.to_owned(), f.get("comment").cloned().unwrap_or_default()));
    let confirm = Some((
        op.to_owned(),
        f.get("confirm_env").cloned().unwrap_or_default(),
    ));
    if op == "rule_set" {
        let mut form = RuleForm::typed(f);
        form.refused = Some(why);
        Notice {
            rule: Some(form),
            comment,
            confirm,
            ..Notice::default()
        }
    } else {
        Notice {
            refused: Some(Refused {
                op: op.to_owned(),
                form: f.clone(),
                fields: Vec::new(),
                module: Some(why),
            }),
            comment,
            confirm,
            ..Notice::default()
        }
    }
}

pub(super) async fn flag_write(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Path(hex): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    check_write_unconfirmed(&app, &w, &headers, &f, true)?;
    let key = key_of(&hex)?;
    let op = f.get("op").cloned().unwrap_or_default();
    let version = f.get("version").cloned().unwrap_or_default();
    let current = load_flag(&w.env(&app).store, &key)
        .await?
        .ok_or(Fail::NotFound)?;
    let no_query = HashMap::new();
    // A form that comes back keeps its comment.
    let typed_comment = Some((op.clone(), f.get("comment").cloned().unwrap_or_default()));
    let typed_confirm = f
        .get("confirm_env")
        .filter(|c| !c.is_empty())
        .map(|c| (op.clone(), c.clone()));
    if op == "define" {
        let fields = check_variant_rows(&f);
        if !fields.is_empty() {
            let n = Notice {
                refused: Some(Refused {
                    op,
                    form: f,
                    fields,
                    module: None,
                }),
                comment: typed_comment.clone(),
                confirm: typed_confirm.clone(),
                ..Notice::default()
            };
            return Ok(respond(
                StatusCode::BAD_REQUEST,
                render_flag(&app, &w, &key, &current, &n, &no_query),
            ));
        }
    }
    let cmds = if op == "rule_set" {
        match rule_step(&key, &f) {
            RuleStep::Send(c) => Ok(vec![c]),
            RuleStep::Draft(form) => {
                let n = Notice {
                    rule: Some(form),
                    comment: typed_comment.clone(),
                    confirm: typed_confirm.clone(),
                    ..Notice::default()
                };
                return Ok(respond(
                    StatusCode::OK,
                    render_flag(&app, &w, &key, &current, &n, &no_query),
                ));
            }
            RuleStep::Refused(form) => {
                let n = Notice {
                    rule: Some(form),
                    comment: typed_comment.clone(),
                    confirm: typed_confirm.clone(),
                    ..Notice::default()
                };
                return Ok(respond(
                    StatusCode::BAD_REQUEST,
                    render_flag(&app, &w, &key, &current, &n, &no_query),
                ));
            }
        }
    } else {
        commands(&key, &op, &f, &current.flag)
    };
    let cmds = match cmds {
        Ok(c) => c,
        Err(e) => {
            let n = Notice {
                refused: Some(Refused {
                    op,
                    form: f,
                    fields: Vec::new(),
                    module: Some(e),
                }),
                comment: typed_comment.clone(),
                confirm: typed_confirm.clone(),
                ..Notice::default()
            };
            return Ok(respond(
                StatusCode::BAD_REQUEST,
                render_flag(&app, &w, &key, &current, &n, &no_query),
            ));
        }
    };
    if let Some(missing) = w.comment_missing(&f) {
        return Ok(respond(
            StatusCode::BAD_REQUEST,
            render_flag(
                &app,
                &w,
                &key,
                &current,
                &came_back(&op, &f, missing),
                &no_query,
            ),
        ));
    }
    // A wrong confirmation: refused (403), at its form, nothing typed lost.
    if let Some(problem) = confirm_problem(&w, &f) {
        return Ok(respond(
            StatusCode::FORBIDDEN,
            render_flag(
                &app,
                &w,
                &key,
                &current,
                &came_back(&op, &f, problem),
                &no_query,
            ),
        ));
    }
    // Where changes need approvals, this one becomes a change request,
    // applied later on the revision the form was rendered from.
    // A proposal on a stale view is refused as a stale save is.
    if w.approvals > 0 && current.version != version {
        let changes = changed_since(&current.history, &f);
        let mut n = came_back(
            &op,
            &f,
            "this flag changed meanwhile (see above): your change is kept here; propose it again to base it on the flag as it is now".to_owned(),
        );
        n.conflict = Some(changes);
        return Ok(respond(
            StatusCode::CONFLICT,
            render_flag(&app, &w, &key, &current, &n, &no_query),
        ));
    }
    if w.approvals > 0 {
        let expect = store::requests::Expect::Revision(version.clone());
        // What it changes, before → after, in the history's words (the
        // request's note; the commands are its `what`).
        let words: Vec<Vec<String>> = cmds
            .iter()
            .map(|c| {
                c.args_iter()
                    .enumerate()
                    .filter(|(i, _)| *i != 1)
                    .filter_map(|(_, a)| match a {
                        redis::Arg::Simple(b) => Some(lossy(b)),
                        redis::Arg::Cursor => None,
                    })
                    .collect()
            })
            .collect();
        let before_after =
            super::history::changes_in_words(&words, i64::from(current.flag.percentage));
        return match super::requests::propose(
            &app,
            &w,
            &key,
            expect,
            &cmds,
            &f,
            &before_after,
            None,
        )
        .await?
        {
            Ok(r) => Ok(r),
            Err(e) => Ok(respond(
                StatusCode::BAD_REQUEST,
                render_flag(&app, &w, &key, &current, &came_back(&op, &f, e), &no_query),
            )),
        };
    }
    let audit = w.audit(&app, &f, "");
    let outcome = w
        .env(&app)
        .store
        .write(&w.name, &key, Some(&version), &cmds, &audit)
        .await?;
    let errors = match outcome {
        WriteOutcome::Done(results) => {
            let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                if op == "delete" {
                    w.env(&app).attributes.invalidate();
                    let to = if current.flag.segment {
                        "/segments?deleted=1"
                    } else {
                        "/flags?deleted=1"
                    };
                    return Ok(Redirect::to(&w.link(to)).into_response());
                }
                return Ok(
                    Redirect::to(&w.link(&format!("{}?done={op}", flag_url(&key)))).into_response(),
                );
            }
            errors
        }
        WriteOutcome::Conflict => {
            let Some(now) = load_flag(&w.env(&app).store, &key).await? else {
                return Err(Fail::Bad("the flag was deleted meanwhile".into()));
            };
            let changes = changed_since(&now.history, &f);
            // What was typed stays at its form: saving it again applies
            // it over the flag as it is now.
            let mut n = came_back(
                &op,
                &f,
                "this flag changed meanwhile (see above): your change is kept here; save it again to apply it to the flag as it is now".to_owned(),
            );
            n.conflict = Some(changes);
            return Ok(respond(
                StatusCode::CONFLICT,
                render_flag(&app, &w, &key, &now, &n, &no_query),
            ));
        }
    };
    let now = load_flag(&w.env(&app).store, &key)
        .await?
        .ok_or(Fail::NotFound)?;
    // At the form, with what was typed, in plain words.
    let refusal = errors
        .iter()
        .map(|e| plain(e))
        .collect::<Vec<_>>()
        .join("; ");
    let n = came_back(&op, &f, refusal);
    Ok(respond(
        StatusCode::BAD_REQUEST,
        render_flag(&app, &w, &key, &now, &n, &no_query),
    ))
}
