//! Two environments side by side: a flag's definition, rules, schedules,
//! regexes, metadata and counts of ids in each, the differences marked;
//! and "copy to <environment>": the target's flag made the source's in one
//! `HANOI.IMPORT` (all or nothing, held to the target's limits; the
//! target's own ids kept, the source's added only when asked), refused
//! when either side changed since the comparison was shown.

use super::forms::quote_token;
use super::session::{check_write, env_link, Who};
use super::time::fmt_iso;
use super::{flag_url, key_of, layout, lossy, respond, Fail};
use crate::config::Role;
use crate::store::{FlagView, ImportOutcome, Store};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
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
}

/// The flag in one environment: Ok(None) when it has none there.
async fn read(store: &Store, key: &[u8]) -> Result<Option<FlagView>, Fail> {
    let r = store
        .per_key(&[key.to_vec()], |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            1
        })
        .await?
        .pop()
        .unwrap_or_default();
    Ok(r.first().and_then(FlagView::from_export))
}

fn join(items: &[Vec<u8>]) -> String {
    items
        .iter()
        .map(|v| lossy(v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The compared aspects of a flag, as (label, text); None: no flag.
fn aspects(f: Option<&FlagView>, all_rules: &[String], all_meta: &[String]) -> Vec<String> {
    let Some(f) = f else {
        return Vec::new();
    };
    let mut out = vec![
        if f.enabled { "on" } else { "off" }.to_owned(),
        format!("{} %", f.percentage),
        format!("{} %", f.effective_percentage),
        f.value_type.to_owned(),
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
                let t = |x: i64| {
                    if x == 0 {
                        "open".to_owned()
                    } else {
                        fmt_iso(x)
                    }
                };
                format!("{} → {}", t(a), t(b))
            })
            .unwrap_or_default(),
        f.ramp
            .map(|(a, b, s, e)| format!("{a} % → {b} %, {} → {}", fmt_iso(s), fmt_iso(e)))
            .unwrap_or_default(),
        {
            let mut r: Vec<String> = f.regexes.iter().map(|x| lossy(x)).collect();
            r.sort();
            r.join("\n")
        },
    ];
    for name in all_rules {
        out.push(
            f.rules
                .iter()
                .position(|r| r.first().map(|n| lossy(n)).as_deref() == Some(name.as_str()))
                .map(|i| {
                    let args = f.rules[i]
                        .iter()
                        .skip(1)
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

const LABELS: [&str; 12] = [
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
];

fn rule_names(f: Option<&FlagView>) -> Vec<String> {
    f.map(|f| {
        f.rules
            .iter()
            .filter_map(|r| r.first().map(|n| lossy(n)))
            .collect()
    })
    .unwrap_or_default()
}

fn meta_names(f: Option<&FlagView>) -> Vec<String> {
    f.map(|f| f.metadata.iter().map(|(k, _)| lossy(k)).collect())
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
    Ok(respond(
        StatusCode::OK,
        render(
            &app,
            &w,
            &key,
            other,
            a.as_ref(),
            b.as_ref(),
            Notice::Nothing,
        ),
    ))
}

fn render(
    app: &App,
    w: &Who,
    key: &[u8],
    other: usize,
    a: Option<&FlagView>,
    b: Option<&FlagView>,
    notice: Notice,
) -> Markup {
    let refused = match &notice {
        Notice::Refused(r) => Some(*r),
        _ => None,
    };
    let (an, bn) = (&w.env_name, &app.envs[other].name);
    let name = lossy(key);
    let mut rules: Vec<String> = rule_names(a);
    for r in rule_names(b) {
        if !rules.contains(&r) {
            rules.push(r);
        }
    }
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
    let version = |f: Option<&FlagView>| f.map(FlagView::version).unwrap_or_default();
    let copy_form = |from: &str, to: usize, src: Option<&FlagView>, dst: Option<&FlagView>| {
        let to_env = &app.envs[to];
        let refused = refused.filter(|r| r.to == to);
        html! {
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
                    label { input type="checkbox" name="with_ids" value="1" checked[refused.is_some_and(|r| r.with_ids)]; " and its registered and blocked ids (added to the target's)" }
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
        p.muted { "A copy makes the target's flag the source's in one step (HANOI.IMPORT): the definition, rules, schedules, regexes and metadata, all of it or, if the target refuses any part (its limits), none of it. The target keeps its own registered and blocked ids; the source's are added to them only when asked." }
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
    let (src_bytes, dst) = futures_util::future::join(
        export(&app.envs[from].store, &key, with_ids),
        read(&w.env(&app).store, &key),
    )
    .await;
    let (src_bytes, dst) = (src_bytes?, dst?);
    let Some(src_bytes) = src_bytes else {
        return Err(Fail::Bad(format!("no flag {} in {from_name}", lossy(&key))));
    };
    // The source as it is now: its view for the staleness check and the
    // page; its export (its ids only when asked) is what is copied.
    let src = FlagView::from_bytes(&src_bytes)
        .ok_or_else(|| Fail::Bad(format!("the flag in {from_name} cannot be read")))?;
    let stale = |src: &FlagView, dst: Option<&FlagView>, what: &str| {
        // Shown again from the target's point of view, with what is there now.
        let n = html! { div.msg.warn id="stale" role="alert" {
        strong { "Not copied: " (what) " changed since the comparison was shown." }
        " Here is the comparison as it is now; copy again if it is still what you want." } };
        respond(
            StatusCode::CONFLICT,
            render(&app, &w, &key, from, dst, Some(src), Notice::Top(n)),
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
    if dst.as_ref().map(FlagView::version).unwrap_or_default() != expected {
        return Ok(stale(
            &src,
            dst.as_ref(),
            &format!("the flag in {}", w.env_name),
        ));
    }
    let who = format!("{}:copy-from-{from_name}", w.name);
    let expected = (!expected.is_empty()).then_some(expected.as_str());
    // The source's export as read (its ids only when asked): the target
    // keeps its own ids, the source's are added to them when asked.
    let ids = if with_ids { "ADD" } else { "KEEP" };
    match w
        .env(&app)
        .store
        .import(&who, &key, expected, &src_bytes, ids)
        .await?
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
            };
            Ok(respond(
                StatusCode::BAD_REQUEST,
                render(
                    &app,
                    &w,
                    &key,
                    from,
                    now.as_ref(),
                    Some(&src),
                    Notice::Refused(&refused),
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
