//! A user's view: an id and attributes, and every flag's answer for them
//! (on or off, variant, value, why), one `HANOI.PREVIEW` (`HANOI.RESOLVE`'s
//! answer, not counted: a preview is not traffic) per flag in one
//! pipeline per server, a page of flags at a time.

use super::answer::{missing_words, parse_attrs, plain, reason_words};
use super::history::thousands;
use super::session::Who;
use super::{flag_url, layout, lossy, respond, state_badge, urlencode, Fail};
use crate::store;
use crate::App;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use hanoi_core::reply::ResolveReply;
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

/// Flags shown at most (by name); the rest are left out, with a note.
const MAX_FLAGS: usize = 1000;
/// Flags a page.
const PAGE: usize = 100;

pub(super) async fn user_page(
    State(app): State<Arc<App>>,
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let id = q.get("id").cloned().unwrap_or_default();
    let attrs_text = q.get("attrs").cloned().unwrap_or_default();
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let attrs = parse_attrs(&attrs_text);
    let attrs_error = attrs.as_ref().err().cloned();
    let asked = !id.is_empty() && attrs_error.is_none();
    let mut rows: Vec<(Vec<u8>, Result<ResolveReply, String>)> = Vec::new();
    let (mut total, mut shown) = (0, 0);
    if asked {
        let pairs = attrs.unwrap_or_default();
        let keys = w.env(&app).store.all_flags(b"*").await?;
        total = keys.len();
        let keys: Vec<Vec<u8>> = keys.into_iter().take(MAX_FLAGS).collect();
        shown = keys.len();
        let part: Vec<Vec<u8>> = keys.into_iter().skip(page * PAGE).take(PAGE).collect();
        let replies = w
            .env(&app)
            .store
            .per_key(&part, |p, k| {
                let c = p.cmd("HANOI.PREVIEW").arg(k).arg(&id);
                if !pairs.is_empty() {
                    c.arg("WITH");
                    for (a, v) in &pairs {
                        c.arg(a).arg(v);
                    }
                }
                1
            })
            .await?;
        for (k, r) in part.into_iter().zip(replies) {
            let answer = match r.first() {
                Some(redis::Value::ServerError(e)) => Err(plain(&format!(
                    "{} {}",
                    e.code(),
                    e.details().unwrap_or("")
                ))),
                Some(v) => store::resolve_reply(v).ok_or_else(|| "unexpected reply".to_owned()),
                None => Err("no reply".to_owned()),
            };
            rows.push((k, answer));
        }
    }
    let link = |p: usize| {
        w.link(&format!(
            "/user?id={}&attrs={}&page={p}",
            urlencode(&id),
            urlencode(&attrs_text)
        ))
    };
    let pages = shown.div_ceil(PAGE);
    let body = html! {
        h1 { "A user's view" }
        p.muted { "Every flag's answer for one id and its attributes, as an application asking hanoi would get it (a preview: not counted as evaluations)." }
        section.card {
            form method="get" action="/user" id="user-form" {
                (w.env_fields(true))
                label { "Id" br; input type="text" name="id" id="user-id" value=(id) required; }
                label.field.invalid[attrs_error.is_some()] { "Attributes (one attr=value a line)" br;
                    textarea name="attrs" id="user-attrs" aria-invalid=[attrs_error.as_ref().map(|_| "true")]
                        aria-describedby=[attrs_error.as_ref().map(|_| "user-attrs-error")] { (attrs_text) }
                    @if let Some(e) = &attrs_error { span.field-error id="user-attrs-error" role="alert" { (e) } } }
                button type="submit" id="user-button" { "Show the answers" }
            }
        }
        @if asked {
            section.card id="answers" {
                h2 { "Answers for " code { (id) } }
                @if total > MAX_FLAGS {
                    p.msg.warn id="capped" { "Showing the first " (thousands(MAX_FLAGS as i64)) " flags (by name) of " (thousands(total as i64)) "." }
                }
                @if rows.is_empty() { p.muted id="no-answers" { "No flags." } }
                @else {
                    div.scroll { table id="user-answers" {
                        thead { tr { th { "flag" } th { "answer" } th { "variant" } th { "value" } th { "why" } } }
                        tbody { @for (k, a) in &rows {
                            tr {
                                td.name { a href=(w.link(&flag_url(k))) { (lossy(k)) } }
                                @match a {
                                    Ok(r) => {
                                        @let e = &r.explanation;
                                        td { (state_badge(e.enabled)) }
                                        td { @if let Some(v) = &e.variant { code { (lossy(v)) } } @else { span.muted { "—" } } }
                                        td { @if let Some(v) = &r.value { code { (lossy(v)) } } @else { span.muted { "—" } } }
                                        td { (reason_words(e)) @if let Some(m) = &e.missing { br; span.warn.missing-segment { (missing_words(m)) } } }
                                    }
                                    Err(m) => { td colspan="4" { span.msg.err { (m) } } }
                                }
                            }
                        } }
                    } }
                }
                @if pages > 1 {
                    nav.pager aria-label="pages" {
                        "Page " (page + 1) " of " (pages) " "
                        @if page > 0 { a href=(link(page - 1)) id="prev-page" { "← Previous" } " " }
                        @if page + 1 < pages { a href=(link(page + 1)) id="next-page" { "Next →" } }
                    }
                }
            }
        }
    };
    Ok(respond(
        StatusCode::OK,
        layout("A user's view", Some(&w), body),
    ))
}
