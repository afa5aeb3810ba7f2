//! The segments: each segment (a key of the flag type whose answer is
//! membership) with its members' count, its rules in words and the flags
//! whose rules name it; and a new segment (`HANOI.DEFINE key SEGMENT`).
//! A segment's own page is the flag page, without the switch, percentage,
//! variants and schedule ([`super::flag`]).

use super::history::thousands;
use super::rules::rule_sentence;
use super::session::{check_write_unconfirmed, confirm_problem, Who};
use super::{flag_url, layout, lossy, respond, Fail};
use crate::store::{self, Described, WriteOutcome};
use crate::App;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hanoi_core::Description;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

/// Keys read at most (by name), as a user's view does: the segments among
/// them are listed, and the flags among them searched for their uses.
const MAX_KEYS: usize = 2000;
/// Flags named as users of one segment at most (the count says the rest).
const MAX_USERS: usize = 50;

struct SegmentRow {
    key: Vec<u8>,
    flag: Description,
    /// The flags (and segments) whose rules name it.
    used_by: Vec<Vec<u8>>,
    used_count: usize,
}

pub(super) async fn segments_page(
    State(app): State<Arc<App>>,
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    Ok(respond(
        StatusCode::OK,
        render(&app, &w, &q, &HashMap::new(), None).await?,
    ))
}

/// Every segment among the first [`MAX_KEYS`] keys, and who uses it.
async fn rows(app: &App, w: &Who) -> Result<(Vec<SegmentRow>, usize), Fail> {
    let store = &w.env(app).store;
    let keys = store.all_flags(b"*").await?;
    let total = keys.len();
    let keys: Vec<Vec<u8>> = keys.into_iter().take(MAX_KEYS).collect();
    let replies = store
        .per_key(&keys, |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            1
        })
        .await?;
    let flags: Vec<(Vec<u8>, Description)> = keys
        .into_iter()
        .zip(&replies)
        .filter_map(|(k, r)| Some((k, r.first().and_then(store::flag_from_export)?)))
        .collect();
    let uses: Vec<(&Vec<u8>, Vec<Vec<u8>>)> = flags
        .iter()
        .map(|(k, f)| (k, f.segments_used()))
        .filter(|(_, u)| !u.is_empty())
        .collect();
    let rows = flags
        .iter()
        .filter(|(_, f)| f.segment)
        .map(|(k, f)| {
            let users: Vec<Vec<u8>> = uses
                .iter()
                .filter(|(_, u)| u.contains(k))
                .map(|(user, _)| (*user).clone())
                .collect();
            SegmentRow {
                key: k.clone(),
                flag: f.clone(),
                used_count: users.len(),
                used_by: users.into_iter().take(MAX_USERS).collect(),
            }
        })
        .collect();
    Ok((rows, total))
}

async fn render(
    app: &App,
    w: &Who,
    q: &HashMap<String, String>,
    typed: &HashMap<String, String>,
    error: Option<&str>,
) -> Result<Markup, Fail> {
    let (rows, total) = rows(app, w).await?;
    let v = |k: &str| typed.get(k).cloned().unwrap_or_default();
    let body = html! {
        h1 { "Segments" @if w.multi { " in " span id="segments-env" { (w.env_name) } } }
        p.muted { "A segment is a shared audience: its registered ids, regexes and rules say who is in it, its blocked ids who never is. A flag's rule names it with the attribute " code { "segment" } " (" code { "segment IN 1 beta_testers" } "); changing the segment changes every flag that uses it." }
        @if q.contains_key("deleted") { div.msg.ok role="status" { "The segment was deleted." } }
        @if total > MAX_KEYS {
            p.msg.warn id="capped" { "Read the first " (thousands(MAX_KEYS as i64)) " keys (by name) of " (thousands(total as i64)) ": segments and uses beyond them are not shown." }
        }
        @if rows.is_empty() { p.muted id="no-segments" { "No segments." } }
        @else {
            div.scroll { table id="segments" {
                thead { tr { th { "segment" } th { "members (registered)" } th { "blocked" } th { "regexes" } th { "rules" } th { "used by" } } }
                tbody { @for r in &rows {
                    tr data-segment=(lossy(&r.key)) {
                        td.name { a href=(w.link(&flag_url(&r.key))) { (lossy(&r.key)) } }
                        td.members { (r.flag.users) }
                        td { (r.flag.blocked) }
                        td { (r.flag.regexes.len()) }
                        td { @if r.flag.rules.is_empty() { span.muted { "none" } }
                            @else { ul.rules { @for rule in &r.flag.rules {
                                li { strong { (lossy(&rule.name)) } ": "
                                    span.sentence { (rule_sentence(rule)) } }
                            } } } }
                        td.used-by { @if r.used_by.is_empty() { span.muted { "no flag" } }
                            @else { @for (i, k) in r.used_by.iter().enumerate() { @if i > 0 { ", " } a href=(w.link(&flag_url(k))) { (lossy(k)) } }
                                @if r.used_count > r.used_by.len() { " and " (r.used_count - r.used_by.len()) " more" } } }
                    }
                } }
            } }
        }
        @if w.can_write {
            section.card id="new-segment" {
                h2 { "New segment" @if w.multi { " in " (w.env_name) } }
                @if let Some(e) = error { div.msg.err id="segment-error" role="alert" { (e) } }
                form method="post" action=(w.link("/segments")) id="segment-form" {
                    input type="hidden" name="csrf" value=(w.csrf);
                    @if w.protected {
                        label.confirm-env { "Type " strong { (w.env_name) } " to confirm a change in this protected environment: "
                            input type="text" name="confirm_env" autocomplete="off" value=(v("confirm_env")); }
                    }
                    label { "Name (the Redis key)" br; input type="text" name="name" id="segment-name" required value=(v("name")); }
                    label { "Salt (optional: rules' rollouts bucket ids with it)" br; input type="text" name="salt" id="segment-salt" value=(v("salt")); }
                    (w.comment_field(&v("comment")))
                    button type="submit" id="create-segment" { "Create segment" (w.in_env()) }
                }
                p.muted { "Then add its members on its page: ids, regexes, rules." }
            }
        }
    };
    Ok(layout("Segments", Some(w), body))
}

/// `POST /segments`: `HANOI.DEFINE name SEGMENT [SALT s]`, refused when
/// the key exists (a change request where changes need approvals).
pub(super) async fn create_segment(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    check_write_unconfirmed(&app, &w, &headers, &f, true)?;
    let none = HashMap::new();
    let again = |status: StatusCode, page: Markup| Ok(respond(status, page));
    if let Some(problem) = confirm_problem(&w, &f) {
        return again(
            StatusCode::FORBIDDEN,
            render(&app, &w, &none, &f, Some(&problem)).await?,
        );
    }
    let name = f
        .get("name")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if name.is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            render(&app, &w, &none, &f, Some("A segment needs a name.")).await?,
        );
    }
    if let Some(missing) = w.comment_missing(&f) {
        return again(
            StatusCode::BAD_REQUEST,
            render(&app, &w, &none, &f, Some(&missing)).await?,
        );
    }
    let key = name.as_bytes();
    let mut c = redis::cmd("HANOI.DEFINE");
    c.arg(key).arg("SEGMENT");
    if let Some(salt) = f.get("salt").filter(|s| !s.is_empty()) {
        c.arg("SALT").arg(salt);
    }
    let cmds = [c];
    if w.approvals > 0 {
        let expect = crate::store::requests::Expect::Absent;
        return match super::requests::propose(
            &app,
            &w,
            key,
            expect,
            &cmds,
            &f,
            "create segment",
            None,
        )
        .await?
        {
            Ok(r) => Ok(r),
            Err(e) => again(
                StatusCode::BAD_REQUEST,
                render(&app, &w, &none, &f, Some(&e)).await?,
            ),
        };
    }
    let audit = w.audit(&app, &f, "create segment");
    match w
        .env(&app)
        .store
        .write(&w.name, key, None, &cmds, &audit)
        .await?
    {
        WriteOutcome::Conflict => again(
            StatusCode::CONFLICT,
            render(
                &app,
                &w,
                &none,
                &f,
                Some("A key with this name already exists."),
            )
            .await?,
        ),
        WriteOutcome::Done(results) => {
            let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                w.env(&app).attributes.invalidate();
                Ok(Redirect::to(&w.link(&flag_url(key))).into_response())
            } else {
                let text = errors
                    .iter()
                    .map(|e| super::answer::plain(e))
                    .collect::<Vec<_>>()
                    .join("; ");
                again(
                    StatusCode::BAD_REQUEST,
                    render(&app, &w, &none, &f, Some(&text)).await?,
                )
            }
        }
    }
}
