//! Two environments side by side: a flag's definition, rules, schedules,
//! regexes, metadata and counts of ids in each, the differences marked;
//! and "copy to <environment>": the target's flag made the source's in one
//! `HANOI.IMPORT` (all or nothing, held to the target's limits; the
//! target's own ids kept, the source's added only when asked), refused
//! when either side changed since the comparison was shown.

use super::rules::quote_token;
use super::session::{check_write, env_link, Who};
use super::time::fmt_iso_u;
use super::{flag_url, key_of, layout, lossy, respond, Fail};
use crate::config::Role;
use crate::store::{self, Described, ImportOutcome, Store};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hanoi_core::Description;
use hanoi_core::{codec, CopyParts, Flag};
use maud::{html, Markup};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The flag's `HANOI.EXPORT` bytes in one environment, its ids too when
/// `with_ids` (else `NOIDS`): Ok(None) when it has none there.
async fn export(store: &Store, key: &[u8], with_ids: bool) -> Result<Option<Vec<u8>>, Fail> {
    let mut c = redis::cmd("HANOI.EXPORT");
    c.arg(key);
    if !with_ids {
        c.arg("NOIDS");
    }
    match store.query(key, &c).await? {
        redis::Value::BulkString(b) => Ok(Some(b)),
        _ => Ok(None),
    }
}

/// What the page says besides the comparison.
enum Notice<'a> {
    Nothing,
    /// At the top: a copy refused as stale.
    Top(Markup),
    /// At the target's copy form.
    Refused(&'a Refused),
}

/// A copy the target refused: shown again at its form, with what was
/// typed and ticked.
struct Refused {
    /// The target environment.
    to: usize,
    /// The module's words.
    text: String,
    with_ids: bool,
    confirm: String,
    comment: String,
    /// The parts ticked.
    parts: CopyParts,
}

/// The flag in one environment: Ok(None) when it has none there.
async fn read(store: &Store, key: &[u8]) -> Result<Option<Description>, Fail> {
    let r = store
        .per_key(&[key.to_vec()], |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            1
        })
        .await?
        .pop()
        .unwrap_or_default();
    Ok(r.first().and_then(store::flag_from_export))
}

fn join(items: &[Vec<u8>]) -> String {
    items
        .iter()
        .map(|v| lossy(v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The compared aspects of a flag, as (label, text); None: no flag.
fn aspects(f: Option<&Description>, all_rules: &[String], all_meta: &[String]) -> Vec<String> {
    let Some(f) = f else {
        return Vec::new();
    };
    let mut out = vec![
        if f.enabled { "on" } else { "off" }.to_owned(),
        format!("{} %", f.percentage),
        format!("{} %", f.effective_percentage),
        f.value_type.as_str().to_owned(),
        join(&f.variants),
        f.weights
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        join(&f.values),
        f.default.as_deref().map(lossy).unwrap_or_default(),
        f.salt.as_deref().map(lossy).unwrap_or_default(),
        f.window
            .map(|(a, b)| {
                let t = |x: u64| {
                    if x == 0 {
                        "open".to_owned()
                    } else {
                        fmt_iso_u(x)
                    }
                };
                format!("{} → {}", t(a), t(b))
            })
            .unwrap_or_default(),
        f.ramp
            .map(|r| {
                format!(
                    "{} % → {} %, {} → {}",
                    r.from_pct,
                    r.to_pct,
                    fmt_iso_u(r.start_ms),
                    fmt_iso_u(r.end_ms)
                )
            })
            .unwrap_or_default(),
        {
            let mut r: Vec<String> = f.regexes.clone();
            r.sort();
            r.join("\n")
        },
        if f.segment { "segment" } else { "flag" }.to_owned(),
        prereq_words(f),
    ];
    let at = rule_positions(f);
    for name in all_rules {
        out.push(
            at.get(name)
                .copied()
                .map(|i| {
                    let args = f.rules[i]
                        .args()
                        .iter()
                        .map(|a| quote_token(&lossy(a)))
                        .collect::<Vec<_>>()
                        .join(" ");
                    format!("#{i}: {args}")
                })
                .unwrap_or_default(),
        );
    }
    for m in all_meta {
        out.push(f.meta(m).unwrap_or_default());
    }
    out.push(f.users.to_string());
    out.push(f.blocked.to_string());
    out
}

/// The parts a copy may take, as (form field, words); the ids are the
/// `with_ids` box.
const PARTS: [(&str, &str); 7] = [
    ("copy_switch", "the switch (on or off)"),
    ("copy_percentage", "the percentage"),
    (
        "copy_variants",
        "variants, weights, values, default and salt",
    ),
    ("copy_rules", "the rules and the prerequisites"),
    ("copy_schedule", "the schedule (window and ramp)"),
    ("copy_regexes", "the regexes"),
    ("copy_metadata", "the metadata"),
];

/// The parts ticked in a posted copy form.
fn parts_of(f: &HashMap<String, String>) -> CopyParts {
    let has = |k: &str| f.contains_key(k);
    CopyParts {
        switch: has("copy_switch"),
        percentage: has("copy_percentage"),
        variants: has("copy_variants"),
        rules: has("copy_rules"),
        schedule: has("copy_schedule"),
        regexes: has("copy_regexes"),
        metadata: has("copy_metadata"),
        ids: has("with_ids"),
    }
}

/// The parts ticked until the user says otherwise: everything but the
/// switch (a copy does not switch a flag on or off unless asked) and the
/// ids.
const DEFAULT_PARTS: CopyParts = CopyParts {
    switch: false,
    percentage: true,
    variants: true,
    rules: true,
    schedule: true,
    regexes: true,
    metadata: true,
    ids: false,
};

fn part_ticked(p: CopyParts, field: &str) -> bool {
    match field {
        "copy_switch" => p.switch,
        "copy_percentage" => p.percentage,
        "copy_variants" => p.variants,
        "copy_rules" => p.rules,
        "copy_schedule" => p.schedule,
        "copy_regexes" => p.regexes,
        "copy_metadata" => p.metadata,
        _ => p.ids,
    }
}

/// What copying one part from `src` changes in `dst` (None: no flag
/// there yet), in words.
fn part_words(field: &str, src: &Description, dst: Option<&Description>) -> String {
    let onoff = |b: bool| if b { "on" } else { "off" };
    let change = |before: String, after: String| {
        if before == after {
            format!("no change ({after})")
        } else {
            format!("{before} → {after}")
        }
    };
    let names =
        |f: &Description| -> Vec<String> { f.rules.iter().map(|r| lossy(&r.name)).collect() };
    match (field, dst) {
        ("copy_switch", None) => format!(
            "new flag: switched {} if ticked, else it arrives switched off",
            onoff(src.enabled)
        ),
        ("copy_switch", Some(d)) => change(onoff(d.enabled).into(), onoff(src.enabled).into()),
        ("copy_percentage", d) => change(
            d.map_or("0 % (new)".into(), |d| format!("{} %", d.percentage)),
            format!("{} %", src.percentage),
        ),
        ("copy_variants", d) => {
            let v = |f: &Description| {
                if f.variants.is_empty() {
                    "none (boolean)".to_owned()
                } else {
                    format!(
                        "{}{}",
                        join(&f.variants),
                        f.default
                            .as_deref()
                            .map(|x| format!(", {} when off", lossy(x)))
                            .unwrap_or_default()
                    )
                }
            };
            let same = d.is_some_and(|d| {
                d.variants == src.variants
                    && d.weights == src.weights
                    && d.values == src.values
                    && d.default == src.default
                    && d.salt == src.salt
            });
            if same {
                format!("no change ({})", v(src))
            } else {
                change(d.map_or("none (new)".into(), v), v(src))
            }
        }
        ("copy_rules", d) => {
            let (old, new) = (d.map(names).unwrap_or_default(), names(src));
            let (old_at, new_at) = (
                d.map(rule_positions).unwrap_or_default(),
                rule_positions(src),
            );
            let added: Vec<&String> = new.iter().filter(|n| !old_at.contains_key(*n)).collect();
            let removed: Vec<&String> = old.iter().filter(|n| !new_at.contains_key(*n)).collect();
            let changed: Vec<&String> = new
                .iter()
                .filter(|n| {
                    let (Some(&i), Some(&j)) = (old_at.get(*n), new_at.get(*n)) else {
                        return false;
                    };
                    // Moved or changed: another place, or other words.
                    i != j || d.is_some_and(|d| d.rules[i] != src.rules[j])
                })
                .collect();
            let mut out = Vec::new();
            let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            if !added.is_empty() {
                out.push(format!("adds {}", list(&added)));
            }
            if !removed.is_empty() {
                out.push(format!("removes {}", list(&removed)));
            }
            if !changed.is_empty() {
                out.push(format!("changes or moves {}", list(&changed)));
            }
            let (before, after) = (d.map(prereq_words).unwrap_or_default(), prereq_words(src));
            if before != after {
                let none = |s: String| if s.is_empty() { "none".to_owned() } else { s };
                out.push(format!("prerequisites {} → {}", none(before), none(after)));
            }
            if out.is_empty() {
                format!("no change ({} rules)", new.len())
            } else {
                out.join("; ")
            }
        }
        ("copy_schedule", d) => {
            let same = d.is_some_and(|d| d.window == src.window && d.ramp == src.ramp);
            if same || (d.is_none() && src.window.is_none() && src.ramp.is_none()) {
                "no change".into()
            } else {
                let w = |f: &Description| match (f.window, f.ramp) {
                    (None, None) => "none".to_owned(),
                    (w, r) => format!(
                        "{}{}",
                        w.map(|_| "a window").unwrap_or(""),
                        r.map(|r| format!(" a ramp {} % → {} %", r.from_pct, r.to_pct))
                            .unwrap_or_default()
                    ),
                };
                change(d.map_or("none".into(), w), w(src))
            }
        }
        ("copy_regexes", d) => {
            let old = d.map(|d| d.regexes.clone()).unwrap_or_default();
            let added = src.regexes.iter().filter(|r| !old.contains(r)).count();
            let removed = old.iter().filter(|r| !src.regexes.contains(r)).count();
            if added + removed == 0 {
                "no change".into()
            } else {
                format!("adds {added}, removes {removed}")
            }
        }
        ("copy_metadata", d) => {
            let old = d.map(|d| d.metadata.clone()).unwrap_or_default();
            let fields: Vec<String> = src
                .metadata
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(*v))
                .map(|(k, _)| lossy(k))
                .chain(
                    old.iter()
                        .filter(|(k, _)| !src.metadata.contains_key(*k))
                        .map(|(k, _)| format!("{} (removed)", lossy(k))),
                )
                .collect();
            if fields.is_empty() {
                "no change".into()
            } else {
                format!("changes {}", fields.join(", "))
            }
        }
        _ => format!(
            "adds the source's {} registered and {} blocked ids to the target's",
            src.users, src.blocked
        ),
    }
}

const LABELS: [&str; 14] = [
    "switch",
    "percentage",
    "effective percentage",
    "type",
    "variants",
    "weights",
    "values",
    "served when off",
    "salt",
    "window",
    "ramp",
    "regexes",
    "kind",
    "prerequisites",
];

/// The prerequisites in order: "payments, api (serving v2)".
fn prereq_words(f: &Description) -> String {
    f.prerequisites
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{} (serving {})", lossy(k), lossy(v)),
            None => lossy(k),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The keys each side references that the other environment lacks (or
/// has of the other kind): what a copy there would point at in vain.
#[derive(Default)]
struct MissingRefs {
    /// The current environment's flag's references missing in the other.
    a_in_b: Vec<Vec<u8>>,
    /// The other environment's flag's references missing in the current.
    b_in_a: Vec<Vec<u8>>,
}

async fn missing_refs(
    app: &App,
    here: usize,
    other: usize,
    a: Option<&Description>,
    b: Option<&Description>,
) -> MissingRefs {
    let (a_in_b, b_in_a) = futures_util::future::join(
        async {
            match a {
                Some(f) => super::flag::missing_refs(&app.envs[other].store, f).await,
                None => Vec::new(),
            }
        },
        async {
            match b {
                Some(f) => super::flag::missing_refs(&app.envs[here].store, f).await,
                None => Vec::new(),
            }
        },
    )
    .await;
    MissingRefs { a_in_b, b_in_a }
}

/// Each rule's place, by its name as the page shows it (the first of a
/// name, should two read alike).
fn rule_positions(f: &Description) -> std::collections::HashMap<String, usize> {
    let mut at = std::collections::HashMap::new();
    for (i, r) in f.rules.iter().enumerate() {
        at.entry(lossy(&r.name)).or_insert(i);
    }
    at
}

fn rule_names(f: Option<&Description>) -> Vec<String> {
    f.map(|f| f.rules.iter().map(|r| lossy(&r.name)).collect())
        .unwrap_or_default()
}

fn meta_names(f: Option<&Description>) -> Vec<String> {
    f.map(|f| f.metadata.keys().map(|k| lossy(k)).collect())
        .unwrap_or_default()
}

/// `GET /f/{hex}/compare?env=A&with=B`: the flag in A (the current
/// environment) and in B side by side.
pub(super) async fn compare_page(
    State(app): State<Arc<App>>,
    w: Who,
    Path(hex): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let key = key_of(&hex)?;
    let other = match q.get("with") {
        Some(name) => app
            .env_index(name)
            .ok_or_else(|| Fail::NoEnv(name.clone()))?,
        None => (0..app.envs.len())
            .find(|&i| i != w.env)
            .ok_or_else(|| Fail::Bad("there is only one environment".into()))?,
    };
    if other == w.env {
        return Err(Fail::Bad("compare two different environments".into()));
    }
    let (a, b) = futures_util::future::join(
        read(&w.env(&app).store, &key),
        read(&app.envs[other].store, &key),
    )
    .await;
    let (a, b) = (a?, b?);
    if a.is_none() && b.is_none() {
        return Err(Fail::NotFound);
    }
    let missing = missing_refs(&app, w.env, other, a.as_ref(), b.as_ref()).await;
    Ok(respond(
        StatusCode::OK,
        render(
            &app,
            &w,
            &key,
            other,
            (a.as_ref(), b.as_ref()),
            Notice::Nothing,
            &missing,
        ),
    ))
}

fn render(
    app: &App,
    w: &Who,
    key: &[u8],
    other: usize,
    (a, b): (Option<&Description>, Option<&Description>),
    notice: Notice,
    missing: &MissingRefs,
) -> Markup {
    let refused = match &notice {
        Notice::Refused(r) => Some(*r),
        _ => None,
    };
    let (an, bn) = (&w.env_name, &app.envs[other].name);
    let name = lossy(key);
    let mut rules: Vec<String> = rule_names(a);
    let mut seen: std::collections::HashSet<String> = rules.iter().cloned().collect();
    rules.extend(rule_names(b).into_iter().filter(|r| seen.insert(r.clone())));
    let metas: Vec<String> = meta_names(a)
        .into_iter()
        .chain(meta_names(b))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut labels: Vec<String> = LABELS.iter().map(|s| s.to_string()).collect();
    labels.extend(rules.iter().map(|r| format!("rule {r}")));
    labels.extend(metas.iter().map(|m| format!("metadata {m}")));
    labels.push("registered ids (count)".into());
    labels.push("blocked ids (count)".into());
    let (av, bv) = (aspects(a, &rules, &metas), aspects(b, &rules, &metas));
    let cell = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_default();
    let differ = labels
        .iter()
        .enumerate()
        .filter(|(i, _)| cell(&av, *i) != cell(&bv, *i))
        .count();
    let user = app.config.user(&w.name);
    let can_write =
        |env: &str| !app.config.read_only && user.is_some_and(|u| u.role_in(env) == Role::Admin);
    let version = |f: Option<&Description>| f.map(Described::version).unwrap_or_default();
    let copy_form = |from: &str,
                     to: usize,
                     src: Option<&Description>,
                     dst: Option<&Description>| {
        let to_env = &app.envs[to];
        let refused = refused.filter(|r| r.to == to);
        let gone = if to == other {
            &missing.a_in_b
        } else {
            &missing.b_in_a
        };
        html! {
            @if src.is_some() && !gone.is_empty() {
                div.msg.warn.missing-refs id={"missing-in-" (to_env.name)} role="note" {
                    strong { "Missing in " (to_env.name) ": " }
                    @for (i, k) in gone.iter().enumerate() { @if i > 0 { ", " } code { (lossy(k)) } }
                    ". " (name) " in " (from) " references " @if gone.len() > 1 { "them" } @else { "it" }
                    " (a prerequisite or a segment its rules name). Copied there, a missing prerequisite fails (the flag is off) and a missing segment's conditions are false: copy "
                    @if gone.len() > 1 { "them" } @else { "it" } " to " (to_env.name) " first."
                }
            }
            @if src.is_some() && can_write(&to_env.name) {
                form.copy method="post" action=(env_link(true, &to_env.name, &format!("{}/copy", flag_url(key))))
                    id={"copy-to-" (to_env.name)}
                    data-confirm={"Copy " (name) " from " (from) " to " (to_env.name) "?"} {
                    input type="hidden" name="csrf" value=(w.csrf);
                    input type="hidden" name="from" value=(from);
                    input type="hidden" name="source_version" value=(version(src));
                    input type="hidden" name="target_version" value=(version(dst));
                    @if let Some(r) = refused {
                        div.msg.err id="copy-refused" role="alert" {
                            strong { "Not copied: " (to_env.name) " refused it, nothing changed there." }
                            " " (r.text)
                        }
                    }
                    @if to_env.protected {
                        label.confirm-env { "Type " strong { (to_env.name) } " to confirm: "
                            input type="text" name="confirm_env" autocomplete="off" required
                                value=(refused.map(|r| r.confirm.as_str()).unwrap_or_default()); }
                    }
                    @let ticked = refused.map_or(DEFAULT_PARTS, |r| r.parts);
                    @if let Some(src) = src {
                        fieldset.copy-parts {
                            legend { "What to copy to " (to_env.name) ", and what it changes there" }
                            @if dst.is_none() { p.muted id={"copy-new-" (to_env.name)} { (to_env.name) " has no such flag: the copy creates it, " strong { "switched off" } " unless “the switch” is ticked." } }
                            @for (field, words) in PARTS {
                                label.part { input type="checkbox" name=(field) value="1" checked[part_ticked(ticked, field)];
                                    " " (words) " — " span.change { (part_words(field, src, dst)) } }
                            }
                            label.part { input type="checkbox" name="with_ids" value="1" checked[ticked.ids || refused.is_some_and(|r| r.with_ids)];
                                " the registered and blocked ids — " span.change { (part_words("with_ids", src, dst)) } }
                        }
                    }
                    label.comment { @if to_env.approvals > 0 { "Comment (required) " } @else { "Comment (optional) " }
                        input type="text" name="comment" maxlength="1000" placeholder="why this change" autocomplete="off"
                            value=(refused.map(|r| r.comment.as_str()).unwrap_or_default()); }
                    button type="submit" { "Copy to " (to_env.name) }
                }
            }
        }
    };
    let body = html! {
        h1 id="compare-title" { (name) ": " (an) " and " (bn) }
        p { a href=(w.link(&flag_url(key))) { "Back to " (name) " in " (an) } }
        @if let Notice::Top(n) = &notice { (n) }
        p id="differences" { @if differ == 0 { "No differences." } @else { (differ) " difference" @if differ > 1 { "s" } " (marked)." } }
        div.scroll { table id="compare" {
            thead { tr { th { "" } th { (an) } th { (bn) } } }
            tbody {
                @for (i, l) in labels.iter().enumerate() {
                    @let (x, y) = (cell(&av, i), cell(&bv, i));
                    tr.diff[x != y] data-aspect=(l) {
                        th scope="row" { (l) @if x != y { span.sr-only { " (differs)" } } }
                        @if a.is_none() { td.missing { @if i == 0 { "missing" } } } @else { td { (x) } }
                        @if b.is_none() { td.missing { @if i == 0 { "missing" } } } @else { td { (y) } }
                    }
                }
            }
        } }
        p.muted { "A copy takes the parts you tick from the source, in one step (HANOI.IMPORT): all of it or, if the target refuses any part (its limits), none of it; what is not ticked stays as the target has it. The switch is not copied unless ticked, and a flag new to the target arrives switched off unless it is. The target keeps its own registered and blocked ids; the source's are added to them only when ticked." }
        div.row {
            (copy_form(an, other, a, b))
            (copy_form(bn, w.env, b, a))
        }
    };
    layout(&format!("{name}: {an} and {bn}"), Some(w), body)
}

/// `POST /f/{hex}/copy?env=<target>` with `from=<source>`: the copy, by a
/// user who may write in the target (and typed its name when protected),
/// refused as stale when the source or the target changed since the
/// comparison (their revisions) was shown.
pub(super) async fn copy(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Path(hex): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    check_write(&app, &w, &headers, &f, true)?;
    let key = key_of(&hex)?;
    let from_name = f.get("from").cloned().unwrap_or_default();
    let from = app
        .env_index(&from_name)
        .ok_or_else(|| Fail::NoEnv(from_name.clone()))?;
    if from == w.env {
        return Err(Fail::Bad("copy between two different environments".into()));
    }
    let field = |k: &str| f.get(k).cloned().unwrap_or_default();
    let with_ids = f.contains_key("with_ids");
    let parts = parts_of(&f);
    let (src_bytes, dst) = futures_util::future::join(
        export(&app.envs[from].store, &key, with_ids),
        read(&w.env(&app).store, &key),
    )
    .await;
    let (src_bytes, dst) = (src_bytes?, dst?);
    let Some(src_bytes) = src_bytes else {
        return Err(Fail::Bad(format!("no flag {} in {from_name}", lossy(&key))));
    };
    let unreadable = |env: &str, e: hanoi_core::Error| {
        Fail::Bad(format!(
            "the flag in {env} cannot be read by this hanoi-web: {e}"
        ))
    };
    // The source as it is now: its view for the staleness check and the
    // page, its flag (its ids only when asked) for the copy.
    let src_flag = codec::from_bytes_partial(&src_bytes)
        .map_err(|e| unreadable(&from_name, e))?
        .flag;
    let src = store::flag_from_bytes(&src_bytes)
        .ok_or_else(|| Fail::Bad(format!("the flag in {from_name} cannot be read")))?;
    // The references each side lacks in the other (render's a is the
    // target here, b the source).
    let missing = missing_refs(&app, w.env, from, dst.as_ref(), Some(&src)).await;
    let missing = &missing;
    let stale = |src: &Description, dst: Option<&Description>, what: &str| {
        // Shown again from the target's point of view, with what is there now.
        let n = html! { div.msg.warn id="stale" role="alert" {
        strong { "Not copied: " (what) " changed since the comparison was shown." }
        " Here is the comparison as it is now; copy again if it is still what you want." } };
        respond(
            StatusCode::CONFLICT,
            render(
                &app,
                &w,
                &key,
                from,
                (dst, Some(src)),
                Notice::Top(n),
                missing,
            ),
        )
    };
    if src.version() != field("source_version") {
        return Ok(stale(
            &src,
            dst.as_ref(),
            &format!("the flag in {from_name}"),
        ));
    }
    let expected = field("target_version");
    if dst.as_ref().map(Described::version).unwrap_or_default() != expected {
        return Ok(stale(
            &src,
            dst.as_ref(),
            &format!("the flag in {}", w.env_name),
        ));
    }
    // At the form, with what was typed: a refusal before anything is sent.
    let refused_here = |text: String| {
        let refused = Refused {
            to: w.env,
            text,
            with_ids,
            confirm: field("confirm_env"),
            comment: field("comment"),
            parts,
        };
        respond(
            StatusCode::BAD_REQUEST,
            render(
                &app,
                &w,
                &key,
                from,
                (dst.as_ref(), Some(&src)),
                Notice::Refused(&refused),
                missing,
            ),
        )
    };
    if let Some(missing) = w.comment_missing(&f) {
        return Ok(refused_here(missing));
    }
    let who = format!("{}:copy-from-{from_name}", w.name);
    let expected = (!expected.is_empty()).then_some(expected.as_str());
    // What the copy is, in the audit and a change request.
    let chosen: Vec<&str> = PARTS
        .iter()
        .chain(&[("with_ids", "the ids")])
        .filter(|(k, _)| part_ticked(parts, k))
        .map(|(_, words)| *words)
        .collect();
    let what = format!(
        "HANOI.IMPORT {} (from {from_name}: {})",
        lossy(&key),
        if chosen.is_empty() {
            "nothing".to_owned()
        } else {
            chosen.join("; ")
        }
    );
    let mut audit = w.audit(&app, &f, &format!("copy from {from_name}"));
    audit.what = Some(what.clone());
    let target_name = w.env_name.clone();
    // The target keeps its own ids (HANOI.IMPORT ... IDS KEEP); the
    // source's are added to them when ticked (IDS ADD): no id set of the
    // target crosses the network.
    let ids = if parts.ids { "ADD" } else { "KEEP" };
    // The blob: the target's flag (read without its ids, under WATCH with
    // the revision check) with the parts ticked taken from the source (the core decides:
    // Flag::copied; a new flag arrives off unless the switch is ticked).
    let blob = |target: Option<&[u8]>| -> Result<Vec<u8>, Fail> {
        let target = match target {
            Some(t) => Some(
                // NOIDS: the ids' counts without the ids.
                codec::from_bytes_partial(t)
                    .map_err(|e| unreadable(&target_name, e))?
                    .flag,
            ),
            None => None,
        };
        let flag = Flag::copied(&src_flag, target.as_ref(), parts)
            .map_err(|e| Fail::Bad(format!("these parts do not fit together: {e}")))?;
        Ok(codec::to_bytes(&flag))
    };
    // Where changes need approvals: a change request holding the blob made
    // from the target as it is now (applied only on this same revision).
    if w.approvals > 0 {
        let target = export(&w.env(&app).store, &key, false).await?;
        let blob = blob(target.as_deref())?;
        let mut c = redis::cmd("HANOI.IMPORT");
        c.arg(&key).arg(blob).arg("IDS").arg(ids);
        let expect = match expected {
            Some(v) => crate::store::requests::Expect::Revision(v.to_owned()),
            None => crate::store::requests::Expect::Absent,
        };
        let note = format!("copy from {from_name}");
        return match super::requests::propose(&app, &w, &key, expect, &[c], &f, &note, Some(&what))
            .await?
        {
            Ok(r) => Ok(r),
            Err(e) => Ok(refused_here(e)),
        };
    }
    match w
        .env(&app)
        .store
        .import(&who, &key, expected, blob, ids, &audit)
        .await??
    {
        ImportOutcome::Conflict => {
            let now = read(&w.env(&app).store, &key).await?;
            Ok(stale(
                &src,
                now.as_ref(),
                &format!("the flag in {}", w.env_name),
            ))
        }
        ImportOutcome::Refused(text) => {
            // Nothing changed in the target: the comparison as it is, the
            // module's words at the form, what was typed kept.
            let now = read(&w.env(&app).store, &key).await?;
            let refused = Refused {
                to: w.env,
                text: text.strip_prefix("ERR ").unwrap_or(&text).to_owned(),
                with_ids,
                confirm: field("confirm_env"),
                comment: field("comment"),
                parts,
            };
            Ok(respond(
                StatusCode::BAD_REQUEST,
                render(
                    &app,
                    &w,
                    &key,
                    from,
                    (now.as_ref(), Some(&src)),
                    Notice::Refused(&refused),
                    missing,
                ),
            ))
        }
        ImportOutcome::Done => Ok(Redirect::to(&w.link(&format!(
            "{}?done=copy&from={}",
            flag_url(&key),
            super::urlencode(&from_name)
        )))
        .into_response()),
    }
}
