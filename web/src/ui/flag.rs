//! One flag's page (state, variants, evaluations, "try it", rules, ids,
//! regexes, schedule, metadata, history) and its saves, refused when the
//! flag changed since the page was rendered.

use super::forms::{
    check_variant_rows, commands, quote_token, rule_fields, variant_rows, VariantRow,
};
use super::list::is_stale;
use super::session::{check_write, Who};
use super::time::fmt_ms;
use super::{flag_url, layout, lossy, respond, state_badge, urlencode, Fail};
use crate::store::{self, Explain, FlagView, HistoryEntry, Stats, WriteOutcome};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

struct PageData {
    flag: FlagView,
    stats: Option<Stats>,
    history: Vec<HistoryEntry>,
    version: String,
}

async fn load_flag(app: &App, key: &[u8]) -> Result<Option<PageData>, Fail> {
    let r = app
        .store
        .per_key(&[key.to_vec()], |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            p.cmd("HANOI.STATS").arg(k);
            p.cmd("HANOI.HISTORY").arg(k).arg("COUNT").arg(50);
            3
        })
        .await?
        .pop()
        .unwrap_or_default();
    let Some(flag) = r.first().and_then(FlagView::from_export) else {
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
    Ok(Some(PageData {
        flag,
        stats: r.get(1).and_then(Stats::from_reply),
        history: r.get(2).map(store::history).unwrap_or_default(),
        version,
    }))
}

fn key_of(hex: &str) -> Result<Vec<u8>, Fail> {
    store::unhex(hex)
        .filter(|k| !k.is_empty())
        .ok_or(Fail::NotFound)
}

/// What the flag page shows above its sections.
#[derive(Default)]
struct Notice {
    ok: Option<String>,
    errors: Vec<String>,
    conflict: Option<Vec<HistoryEntry>>,
    tried: Option<(String, Result<Explain, String>)>,
    /// A refused variants form: what was typed (shown again as typed), the
    /// problems by field, and the module's refusal.
    define: Option<Refused>,
}

#[derive(Default)]
struct Refused {
    form: HashMap<String, String>,
    fields: Vec<(String, String)>,
    module: Option<String>,
}

/// The variants form: a row per variant (name, weight, JSON value) and two
/// empty rows to add one, the default and the salt; after a refusal, what
/// was typed, each problem next to its field (announced: `role=alert`).
fn define_form(w: &Who, d: &PageData, n: &Notice, url: &str) -> Markup {
    let f = &d.flag;
    let kept = n.define.as_ref();
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
            (hidden(w, d, "define"))
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
            button type="submit" id="save-variants" { "Save variants" }
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
    let mut notice = Notice {
        ok: q.get("done").map(|_| "Saved.".to_owned()),
        ..Notice::default()
    };
    if let Some(id) = q.get("try_id").filter(|s| !s.is_empty()) {
        let mut c = redis::cmd("HANOI.EXPLAIN");
        c.arg(&key).arg(id);
        let attrs = q.get("try_attrs").cloned().unwrap_or_default();
        let pairs: Vec<(&str, &str)> = attrs
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(a, v)| (a.trim(), v.trim()))
            .filter(|(a, _)| !a.is_empty())
            .collect();
        if !pairs.is_empty() {
            c.arg("WITH");
            for (a, v) in pairs {
                c.arg(a).arg(v);
            }
        }
        let answer = match app.store.query(&key, &c).await {
            Ok(v) => Explain::from_reply(&v).ok_or_else(|| "unexpected reply".to_owned()),
            Err(e) if store::is_unavailable(&e) => return Err(Fail::Unavailable),
            Err(e) => Err(store::error_text(&e)),
        };
        notice.tried = Some((id.clone(), answer));
    }
    let data = load_flag(&app, &key).await?.ok_or(Fail::NotFound)?;
    Ok(respond(
        StatusCode::OK,
        render_flag(&app, &w, &key, &data, &notice, &q),
    ))
}

fn hidden(w: &Who, d: &PageData, op: &str) -> Markup {
    let seen = d.history.first().map_or(0, |h| h.time);
    html! {
        input type="hidden" name="csrf" value=(w.csrf);
        input type="hidden" name="version" value=(d.version);
        input type="hidden" name="seen" value=(seen);
        input type="hidden" name="op" value=(op);
    }
}

fn history_table(entries: &[HistoryEntry], id: &str) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "when" } th { "user" } th { "client" } th { "command" } } }
            tbody {
                @for h in entries {
                    tr {
                        td { (fmt_ms(h.time)) }
                        td { (h.user) }
                        td { (h.client) }
                        td { code { (h.command.join(" ")) }
                             @if h.arguments as usize > h.command.len() { span.muted { " … (" (h.arguments) " arguments)" } } }
                    }
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
    let url = flag_url(key);
    let stats = d.stats.clone().unwrap_or_default();
    let max_bar = stats
        .variants
        .iter()
        .map(|(_, c)| *c)
        .chain([stats.evaluations])
        .max()
        .unwrap_or(0)
        .max(1);
    let body = html! {
        h1 id="flag-title" { (name) " " (state_badge(f.enabled))
            @if is_stale(d.stats.as_ref(), app.config.stale_days) { " " span.badge.stale { "stale" } } }
        @if let Some(ok) = &n.ok { div.msg.ok id="ok" { (ok) } }
        @for e in &n.errors { div.msg.err.error role="alert" { (e) } }
        @if let Some(changes) = &n.conflict {
            div.msg.warn id="conflict" {
                strong { "Not saved: this flag changed since you opened the page." }
                " The page now shows the current flag; what changed meanwhile:"
                @if changes.is_empty() { p { "(a change that left no history entry)" } }
                @else { (history_table(changes, "conflict-changes")) }
            }
        }
        div.grid {
            section.card id="state" {
                h2 { "State" }
                p { "Switched " strong { @if f.enabled { "on" } @else { "off" } } ", percentage " strong id="percentage" { (f.percentage) " %" } @if f.ramp.is_some() { " (on its ramp, now " strong id="effective-percentage" { (f.effective_percentage) " %" } ")" }
                    @if let Some(s) = &f.salt { ", salt " code { (lossy(s)) } } }
                p { (f.users) " registered users · " (f.blocked) " blocked · " (f.regexes.len()) " regexes · " (f.rules.len()) " rules" }
                @if f.created > 0 { p.muted { "created " (fmt_ms(f.created)) } }
                @if w.can_write {
                    form.row method="post" action=(url) id="switch-form"
                        data-confirm=(if f.enabled { format!("Switch {name} OFF for everyone?") } else { format!("Switch {name} ON?") }) {
                        (hidden(w, d, "switch"))
                        input type="hidden" name="to" value=(if f.enabled { "off" } else { "on" });
                        button type="submit" id="switch" class=(if f.enabled { "danger" } else { "" }) {
                            @if f.enabled { "Switch off" } @else { "Switch on" } }
                    }
                    form.row method="post" action=(url) id="percentage-form" {
                        (hidden(w, d, "percentage"))
                        input type="number" name="percentage" id="percentage-input" min="0" max="100" value=(f.percentage);
                        button type="submit" id="set-percentage" { "Set percentage" }
                    }
                }
            }
            section.card id="variants" {
                h2 { "Variants" }
                p id="flag-type" { "Type: " strong { (f.value_type) }
                    @if let Some(d) = &f.default { " · served when off: " code { (lossy(d)) } } }
                @if f.variants.is_empty() { p.muted { "None: a boolean flag." } }
                @else if !w.can_write { table { thead { tr { th { "variant" } th { "weight" } th { "value" } } } tbody {
                    @for (i, v) in f.variants.iter().enumerate() {
                        tr { td { code { (lossy(v)) } } td { (f.weights.get(i).map(|w| w.to_string()).unwrap_or_else(|| "—".into())) }
                            td { code { (f.values.get(i).map(|j| lossy(j)).unwrap_or_else(|| "(its name)".into())) } } } } } } }
                @if w.can_write { (define_form(w, d, n, &url)) }
            }
            section.card id="stats" {
                h2 { "Evaluations (this server)" }
                p { (stats.evaluations) " evaluations, " (stats.enabled) " on · last "
                    @match stats.last_evaluated { Some(t) => (fmt_ms(t)), None => "never" }
                    @if let Some(s) = stats.since { span.muted { " · counting since " (fmt_ms(s)) } } }
                table.bars id="chart" {
                    tr { td { "on" } td { progress max=(max_bar) value=(stats.enabled) {} } td { (stats.enabled) } }
                    tr { td { "off" } td { progress max=(max_bar) value=(stats.evaluations.saturating_sub(stats.enabled)) {} } td { (stats.evaluations.saturating_sub(stats.enabled)) } }
                    @for (v, c) in &stats.variants {
                        tr { td { code { (lossy(v)) } } td { progress max=(max_bar) value=(c) {} } td { (c) } }
                    }
                }
            }
            section.card id="try" {
                h2 { "Try it" }
                form method="get" action=(url) id="try-form" {
                    label { "Id" br; input type="text" name="try_id" id="try-id" value=(q.get("try_id").cloned().unwrap_or_default()); }
                    label { "Attributes (one attr=value a line)" br; textarea name="try_attrs" id="try-attrs" { (q.get("try_attrs").cloned().unwrap_or_default()) } }
                    button type="submit" id="try-button" { "Explain" }
                }
                @if let Some((id, answer)) = &n.tried {
                    div id="try-result" {
                        @match answer {
                            Ok(e) => p { "For " code { (id) } ": " strong { @if e.enabled { "on" } @else { "off" } }
                                @if let Some(v) = &e.variant { ", variant " code { (lossy(v)) } }
                                ", because " strong.reason { (e.reason) }
                                @if let Some(dt) = &e.detail { " (" code { (dt) } ")" }
                                @if let Some(p) = e.percentage { ", effective percentage " (p) " %" } },
                            Err(msg) => div.msg.err { (msg) },
                        }
                    }
                }
            }
        }
        section.card id="rules" {
            h2 { "Rules" }
            @if f.rules.is_empty() { p.muted { "No rules." } }
            @else {
                table { thead { tr { th { "#" } th { "name" } th { "definition" } @if w.can_write { th {} } } } tbody {
                    @for (i, r) in f.rules.iter().enumerate() {
                        @let rname = r.first().map(|n| lossy(n)).unwrap_or_default();
                        tr {
                            td { (i) }
                            td.name { (rname) }
                            td { code { (r.iter().skip(1).map(|a| quote_token(&lossy(a))).collect::<Vec<_>>().join(" ")) } }
                            @if w.can_write { td {
                                a.secondary href={(url) "?edit_rule=" (urlencode(&rname)) "#rule-form"} { "edit" } " "
                                @if i > 0 { form.inline method="post" action=(url) { (hidden(w, d, "rule_move"))
                                    input type="hidden" name="name" value=(rname); input type="hidden" name="index" value=(i - 1);
                                    button.secondary type="submit" { "↑" } } }
                                " "
                                form.inline method="post" action=(url) data-confirm="Delete this rule?" { (hidden(w, d, "rule_del"))
                                    input type="hidden" name="name" value=(rname);
                                    button.danger type="submit" { "delete" } }
                            } }
                        }
                    }
                } }
            }
            @if w.can_write {
                @let editing = q.get("edit_rule").and_then(|n| f.rules.iter().find(|r| r.first().map(|x| lossy(x)).as_deref() == Some(n.as_str())));
                @let (e_name, e_rollout, e_variant, e_conditions) = editing.map(|r| rule_fields(r)).unwrap_or_default();
                form method="post" action=(url) id="rule-form" {
                    (hidden(w, d, "rule_set"))
                    div.row {
                        label { "Name " input type="text" name="name" id="rule-name" required value=(e_name); }
                        label { "Rollout % " input type="number" name="rollout" min="0" max="100" value=(e_rollout); }
                        label { "Variant " input type="text" name="variant" value=(e_variant); }
                    }
                    label { "Conditions (as after IF: " code { "country EQ DE AND plan IN 2 pro team" } "; \"quotes\" for spaces)" br;
                        input type="text" name="conditions" id="rule-conditions" required size="70" value=(e_conditions); }
                    button type="submit" id="add-rule" { "Add or replace rule" }
                }
            }
        }
        div.grid {
            section.card id="users" {
                h2 { "Users (" (f.users) ")" }
                p { a href={(url) "/ids?list=users"} id="browse-users" { "Browse and search the registered ids" } }
                p.muted { "Look one up with “Try it”: reason " code { "user" } " means registered." }
                @if w.can_write {
                    form method="post" action=(url) id="users-add-form" {
                        (hidden(w, d, "users_add"))
                        label { "Register ids (paste many: spaces, commas or lines)" textarea name="ids" id="users-add" {} }
                        button type="submit" id="register" { "Register" }
                    }
                    form method="post" action=(url) id="users-remove-form" {
                        (hidden(w, d, "users_remove"))
                        label { "Unregister ids" textarea name="ids" {} }
                        button.secondary type="submit" { "Unregister" }
                    }
                }
            }
            section.card id="blocked" {
                h2 { "Blocked ids (" (f.blocked) ")" }
                p { a href={(url) "/ids?list=blocked"} id="browse-blocked" { "Browse and search the blocked ids" } }
                @if w.can_write {
                    form method="post" action=(url) {
                        (hidden(w, d, "block"))
                        label { "Block ids" textarea name="ids" {} }
                        button type="submit" { "Block" }
                    }
                    form method="post" action=(url) {
                        (hidden(w, d, "unblock"))
                        label { "Unblock ids" textarea name="ids" {} }
                        button.secondary type="submit" { "Unblock" }
                    }
                }
            }
            section.card id="regexes" {
                h2 { "Regexes" }
                ul { @for r in &f.regexes { li { code { (lossy(r)) }
                    @if w.can_write { " " form.inline method="post" action=(url) { (hidden(w, d, "regex_remove"))
                        input type="hidden" name="patterns" value=(lossy(r));
                        button.secondary type="submit" { "remove" } } } } } }
                @if w.can_write {
                    form method="post" action=(url) {
                        (hidden(w, d, "regex_add"))
                        label { "Add patterns (one a line)" textarea name="patterns" {} }
                        button type="submit" { "Add" }
                    }
                }
            }
            section.card id="schedule" {
                h2 { "Schedule" }
                p { "Window: " @match f.window {
                    Some((a, b)) => { (if a == 0 { "open".to_owned() } else { fmt_ms(a) }) " → " (if b == 0 { "open".to_owned() } else { fmt_ms(b) }) },
                    None => span.muted { "none" },
                } }
                p { "Ramp: " @match f.ramp {
                    Some((a, b, s, e)) => { (a) " % → " (b) " % from " (fmt_ms(s)) " to " (fmt_ms(e)) },
                    None => span.muted { "none" },
                } }
                @if w.can_write {
                    form method="post" action=(url) {
                        (hidden(w, d, "window"))
                        div.row { label { "From " input type="text" name="from" placeholder="2027-01-01 00:00 or ms"; }
                                  label { "Until " input type="text" name="until" placeholder="empty: open"; } }
                        button type="submit" { "Set window" }
                    }
                    form method="post" action=(url) {
                        (hidden(w, d, "ramp"))
                        div.row { label { "From % " input type="number" name="from_pct" min="0" max="100"; }
                                  label { "to % " input type="number" name="to_pct" min="0" max="100"; } }
                        div.row { label { "Start " input type="text" name="start" placeholder="UTC time or ms"; }
                                  label { "End " input type="text" name="end"; } }
                        button type="submit" { "Set ramp" }
                    }
                    form.row method="post" action=(url) {
                        (hidden(w, d, "clear"))
                        select name="what" { option value="" { "window and ramp" } option value="WINDOW" { "window" } option value="RAMP" { "ramp" } }
                        button.secondary type="submit" { "Clear" }
                    }
                }
            }
            section.card id="metadata" {
                h2 { "Metadata" }
                table { tbody { @for (k, v) in &f.metadata { tr { td { code { (lossy(k)) } } td { (lossy(v)) } } } } }
                @if w.can_write {
                    form method="post" action=(url) id="meta-form" {
                        (hidden(w, d, "meta"))
                        label { "Description" br; input type="text" name="description" value=(f.meta("description").unwrap_or_default()); }
                        label { "Owner" br; input type="text" name="owner" value=(f.meta("owner").unwrap_or_default()); }
                        label { "Tags (comma separated)" br; input type="text" name="tags" value=(f.meta("tags").unwrap_or_default()); }
                        button type="submit" { "Save metadata" }
                    }
                }
            }
        }
        section.card {
            h2 { "History" }
            (history_table(&d.history, "history"))
        }
        @if w.can_write {
            section.card id="delete" {
                h2 { "Delete" }
                form.row method="post" action=(url) id="delete-form" {
                    (hidden(w, d, "delete"))
                    label { "Type the flag's name to delete it: " input type="text" name="confirm" id="delete-confirm" autocomplete="off"; }
                    button.danger type="submit" id="delete-button" { "Delete flag" }
                }
            }
        }
    };
    layout(&name, Some(w), body)
}

pub(super) async fn flag_write(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Path(hex): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    check_write(&app, &w, &headers, &f, true)?;
    let key = key_of(&hex)?;
    let op = f.get("op").cloned().unwrap_or_default();
    let version = f.get("version").cloned().unwrap_or_default();
    let seen: i64 = f.get("seen").and_then(|s| s.parse().ok()).unwrap_or(0);
    let current = load_flag(&app, &key).await?.ok_or(Fail::NotFound)?;
    let no_query = HashMap::new();
    if op == "define" {
        let fields = check_variant_rows(&f);
        if !fields.is_empty() {
            let n = Notice {
                define: Some(Refused {
                    form: f,
                    fields,
                    module: None,
                }),
                ..Notice::default()
            };
            return Ok(respond(
                StatusCode::BAD_REQUEST,
                render_flag(&app, &w, &key, &current, &n, &no_query),
            ));
        }
    }
    let cmds = match commands(&key, &op, &f, &current.flag) {
        Ok(c) => c,
        Err(e) => {
            let n = Notice {
                errors: vec![e],
                ..Notice::default()
            };
            return Ok(respond(
                StatusCode::BAD_REQUEST,
                render_flag(&app, &w, &key, &current, &n, &no_query),
            ));
        }
    };
    let outcome = app
        .store
        .write(&w.name, &key, Some(&version), &cmds)
        .await?;
    let errors = match outcome {
        WriteOutcome::Done(results) => {
            let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                if op == "delete" {
                    return Ok(Redirect::to("/flags?deleted=1").into_response());
                }
                return Ok(Redirect::to(&format!("{}?done={op}", flag_url(&key))).into_response());
            }
            errors
        }
        WriteOutcome::Conflict => {
            let Some(now) = load_flag(&app, &key).await? else {
                return Err(Fail::Bad("the flag was deleted meanwhile".into()));
            };
            let changes: Vec<HistoryEntry> = now
                .history
                .iter()
                .filter(|h| h.time > seen)
                .cloned()
                .collect();
            let n = Notice {
                conflict: Some(changes),
                ..Notice::default()
            };
            return Ok(respond(
                StatusCode::CONFLICT,
                render_flag(&app, &w, &key, &now, &n, &no_query),
            ));
        }
    };
    let now = load_flag(&app, &key).await?.ok_or(Fail::NotFound)?;
    let n = if op == "define" {
        // At the form, with what was typed.
        Notice {
            define: Some(Refused {
                form: f,
                fields: Vec::new(),
                module: Some(errors.join("; ")),
            }),
            ..Notice::default()
        }
    } else {
        Notice {
            errors,
            ..Notice::default()
        }
    };
    Ok(respond(
        StatusCode::BAD_REQUEST,
        render_flag(&app, &w, &key, &now, &n, &no_query),
    ))
}
