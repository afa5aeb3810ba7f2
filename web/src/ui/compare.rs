//! Two environments side by side: a flag's definition, rules, schedules,
//! regexes, metadata and counts of ids in each, the differences marked;
//! and "copy to <environment>": the source's definition, rules, schedules,
//! regexes and metadata written on the target in one MULTI/EXEC (ids are
//! not copied), refused when either side changed since the comparison was
//! shown.

use super::forms::quote_token;
use super::session::{check_write, env_link, Who};
use super::time::fmt_iso;
use super::{flag_url, key_of, layout, lossy, respond, Fail};
use crate::config::Role;
use crate::store::{FlagView, Store, WriteOutcome};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use redis::Cmd;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// At most this many ids of each kind are copied with "and its ids".
const MAX_COPIED_IDS: usize = 100_000;

/// Every registered (`USERS`) or blocked (`BLOCKED`) id of the flag in
/// one environment, `HANOI.IDS` walked to the end; refused past
/// [`MAX_COPIED_IDS`].
async fn all_ids(store: &Store, key: &[u8], which: &str) -> Result<Vec<Vec<u8>>, Fail> {
    let mut ids = Vec::new();
    let mut cursor = 0u64;
    loop {
        let mut c = redis::cmd("HANOI.IDS");
        c.arg(key).arg(which).arg(cursor).arg("COUNT").arg(10_000);
        let reply = store.query(key, &c).await?;
        let (next, found) =
            super::ids::step(&reply).ok_or_else(|| Fail::Bad("unexpected reply".into()))?;
        ids.extend(found);
        if ids.len() > MAX_COPIED_IDS {
            return Err(Fail::Bad(format!(
                "more than {MAX_COPIED_IDS} {} ids: copy without them",
                which.to_lowercase()
            )));
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
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
        render(&app, &w, &key, other, a.as_ref(), b.as_ref(), None),
    ))
}

fn render(
    app: &App,
    w: &Who,
    key: &[u8],
    other: usize,
    a: Option<&FlagView>,
    b: Option<&FlagView>,
    notice: Option<Markup>,
) -> Markup {
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
        html! {
            @if src.is_some() && can_write(&to_env.name) {
                form.copy method="post" action=(env_link(true, &to_env.name, &format!("{}/copy", flag_url(key))))
                    id={"copy-to-" (to_env.name)}
                    data-confirm={"Copy " (name) " from " (from) " to " (to_env.name) "?"} {
                    input type="hidden" name="csrf" value=(w.csrf);
                    input type="hidden" name="from" value=(from);
                    input type="hidden" name="source_version" value=(version(src));
                    input type="hidden" name="target_version" value=(version(dst));
                    @if to_env.protected {
                        label.confirm-env { "Type " strong { (to_env.name) } " to confirm: "
                            input type="text" name="confirm_env" autocomplete="off" required; }
                    }
                    label { input type="checkbox" name="with_ids" value="1"; " and its registered and blocked ids (added to the target's)" }
                    @if to_env.approvals > 0 {
                        label.comment { "Comment (required) " input type="text" name="comment" maxlength="1000" placeholder="why this change" autocomplete="off"; }
                    } @else {
                        label.comment { "Comment (optional) " input type="text" name="comment" maxlength="1000" placeholder="why this change" autocomplete="off"; }
                    }
                    button type="submit" { "Copy to " (to_env.name) }
                }
            }
        }
    };
    let body = html! {
        h1 id="compare-title" { (name) ": " (an) " and " (bn) }
        p { a href=(w.link(&flag_url(key))) { "Back to " (name) " in " (an) } }
        @if let Some(n) = notice { (n) }
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
        p.muted { "A copy writes the definition, rules, schedules, regexes and metadata on the target in one transaction; registered and blocked ids only when asked (added to the target's)." }
        div.row {
            (copy_form(an, other, a, b))
            (copy_form(bn, w.env, b, a))
        }
    };
    layout(&format!("{name}: {an} and {bn}"), Some(w), body)
}

/// The commands that make the flag `key` on the target (`dst`, None: no
/// flag there) what it is on the source, ids aside.
pub(super) fn copy_commands(key: &[u8], src: &FlagView, dst: Option<&FlagView>) -> Vec<Cmd> {
    let one = |name: &str| {
        let mut c = redis::cmd(name);
        c.arg(key);
        c
    };
    let mut cmds = Vec::new();
    // The target's rules go first: a redefinition may drop a variant one
    // of them names.
    let old_rules: Vec<&[u8]> = dst
        .map(|d| {
            d.rules
                .iter()
                .filter_map(|r| r.first().map(Vec::as_slice))
                .collect()
        })
        .unwrap_or_default();
    if !old_rules.is_empty() {
        let mut c = one("HANOI.RULE");
        c.arg("DEL").arg(old_rules);
        cmds.push(c);
    }
    let mut d = one("HANOI.DEFINE");
    d.arg(if src.enabled { "ENABLED" } else { "DISABLED" });
    d.arg("PERCENTAGE").arg(src.percentage);
    if !src.variants.is_empty() {
        d.arg("VARIANTS").arg(src.variants.len()).arg(&src.variants);
        if src.weights.len() == src.variants.len() {
            d.arg("WEIGHTS").arg(&src.weights);
        }
        if src.values.len() == src.variants.len() {
            d.arg("VALUES").arg(&src.values);
        }
    }
    if let Some(v) = &src.default {
        d.arg("DEFAULT").arg(v);
    }
    if let Some(s) = &src.salt {
        d.arg("SALT").arg(s);
    }
    cmds.push(d);
    let mut clear = one("HANOI.SCHEDULE");
    clear.arg("CLEAR");
    cmds.push(clear);
    if let Some((a, b)) = src.window {
        let mut c = one("HANOI.SCHEDULE");
        c.arg("WINDOW").arg(a).arg(b);
        cmds.push(c);
    }
    if let Some((a, b, s, e)) = src.ramp {
        let mut c = one("HANOI.SCHEDULE");
        c.arg("RAMP").arg(a).arg(b).arg(s).arg(e);
        cmds.push(c);
    }
    let old_regexes: Vec<&Vec<u8>> = dst
        .map(|d| {
            d.regexes
                .iter()
                .filter(|r| !src.regexes.contains(r))
                .collect()
        })
        .unwrap_or_default();
    if !old_regexes.is_empty() {
        let mut c = one("HANOI.UNREGISTER");
        c.arg("REGEX").arg(old_regexes);
        cmds.push(c);
    }
    let new_regexes: Vec<&Vec<u8>> = src
        .regexes
        .iter()
        .filter(|r| !dst.is_some_and(|d| d.regexes.contains(r)))
        .collect();
    if !new_regexes.is_empty() {
        let mut c = one("HANOI.REGISTER");
        c.arg("REGEX").arg(new_regexes);
        cmds.push(c);
    }
    for r in &src.rules {
        let mut c = one("HANOI.RULE");
        c.arg("SET").arg(r);
        cmds.push(c);
    }
    let old_meta: Vec<&Vec<u8>> = dst
        .map(|d| {
            d.metadata
                .iter()
                .map(|(k, _)| k)
                .filter(|k| !src.metadata.iter().any(|(s, _)| s == *k))
                .collect()
        })
        .unwrap_or_default();
    if !old_meta.is_empty() {
        let mut c = one("HANOI.META");
        c.arg("DEL").arg(old_meta);
        cmds.push(c);
    }
    if !src.metadata.is_empty() {
        let mut c = one("HANOI.META");
        c.arg("SET");
        for (k, v) in &src.metadata {
            c.arg(k).arg(v);
        }
        cmds.push(c);
    }
    cmds
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
    let (src, dst) = futures_util::future::join(
        read(&app.envs[from].store, &key),
        read(&w.env(&app).store, &key),
    )
    .await;
    let (src, dst) = (src?, dst?);
    let Some(src) = src else {
        return Err(Fail::Bad(format!("no flag {} in {from_name}", lossy(&key))));
    };
    let stale = |src: &FlagView, dst: Option<&FlagView>, what: &str| {
        // Shown again from the target's point of view, with what is there now.
        let n = html! { div.msg.warn id="stale" role="alert" {
        strong { "Not copied: " (what) " changed since the comparison was shown." }
        " Here is the comparison as it is now; copy again if it is still what you want." } };
        respond(
            StatusCode::CONFLICT,
            render(&app, &w, &key, from, dst, Some(src), Some(n)),
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
    let mut cmds = copy_commands(&key, &src, dst.as_ref());
    if f.contains_key("with_ids") {
        let source = &app.envs[from].store;
        for (which, cmd) in [("USERS", "HANOI.REGISTER"), ("BLOCKED", "HANOI.BLOCK")] {
            for chunk in all_ids(source, &key, which).await?.chunks(10_000) {
                let mut c = redis::cmd(cmd);
                c.arg(&key);
                if which == "USERS" {
                    c.arg("USER");
                }
                c.arg(chunk);
                cmds.push(c);
            }
        }
    }
    if let Some(missing) = w.comment_missing(&f) {
        return Err(Fail::Bad(missing));
    }
    let who = format!("{}:copy-from-{from_name}", w.name);
    let audit = w.audit(&app, &f, &format!("copy from {from_name}"));
    let expected = (!expected.is_empty()).then_some(expected.as_str());
    if w.approvals > 0 {
        let expect = match expected {
            Some(v) => crate::store::requests::Expect::Revision(v.to_owned()),
            None => crate::store::requests::Expect::Absent,
        };
        let note = format!("copy from {from_name}");
        return match super::requests::propose(&app, &w, &key, expect, &cmds, &f, &note).await? {
            Ok(r) => Ok(r),
            Err(e) => Err(Fail::Bad(e)),
        };
    }
    match w
        .env(&app)
        .store
        .write(&who, &key, expected, &cmds, &audit)
        .await?
    {
        WriteOutcome::Conflict => {
            let now = read(&w.env(&app).store, &key).await?;
            Ok(stale(
                &src,
                now.as_ref(),
                &format!("the flag in {}", w.env_name),
            ))
        }
        WriteOutcome::Done(results) => {
            let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                return Ok(Redirect::to(&w.link(&format!(
                    "{}?done=copy&from={}",
                    flag_url(&key),
                    super::urlencode(&from_name)
                )))
                .into_response());
            }
            Err(Fail::Bad(format!(
                "the copy was refused in part: {}",
                errors.join("; ")
            )))
        }
    }
}
