//! Change requests (environments with `approvals = N`): a change proposed
//! through any write form is stored as a request ([`propose`]); `/requests`
//! lists them with what each changes and its comment, and another writer
//! approves or rejects; the Nth approval applies it
//! ([`crate::store::requests`]).

use super::session::{check_write_unconfirmed, confirm_problem, Who};
use super::time::{fmt_iso, fmt_ms};
use super::{flag_url, layout, lossy, respond, Fail};
use crate::store::requests::{Decision, Expect, Request};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::collections::HashMap;
use std::sync::Arc;

/// Stores the change `cmds` to `key` as a change request by `w` (the
/// form's comment with it) and answers with where to see it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn propose(
    app: &App,
    w: &Who,
    key: &[u8],
    expect: Expect,
    cmds: &[redis::Cmd],
    form: &HashMap<String, String>,
    note: &str,
    what: Option<&str>,
) -> Result<Result<Response, String>, Fail> {
    let comment = form.get("comment").map(String::as_str).unwrap_or("");
    let id = match w
        .env(app)
        .store
        .propose(key, &w.name, comment, note, expect, cmds, what)
        .await?
    {
        Ok(id) => id,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(Redirect::to(
        &w.link(&format!("/requests?proposed={id}#request-{id}")),
    )
    .into_response()))
}

/// A request, as a card: what it changes, why, its state, and (pending,
/// for a writer) approve and reject.
pub(super) fn request_card(w: &Who, r: &Request, needed: usize) -> Markup {
    let action = w.link(&format!("/requests/{}", r.id));
    html! {
        article.card.request id={"request-" (r.id)} {
            h3 { "#" (r.id) " · " a href=(w.link(&flag_url(&r.flag))) { (lossy(&r.flag)) } " · "
                span class={"badge state-" (r.state)} { (r.state) } }
            p { "Proposed by " strong.proposer { (r.proposer) } " " time datetime=(fmt_iso(r.created)) { (fmt_ms(r.created)) }
                @if r.pending() { " · " span.approvals { (r.approvers.len()) " of " (needed) " approvals" } } }
            p { "Comment: " span.comment { (r.comment) } }
            p { "Changes: " code.what { @if !r.note.is_empty() { (r.note) ": " } (r.what) } }
            @if !r.approvers.is_empty() { p { "Approved by " span.approvers { (r.approvers.join(", ")) } } }
            @if !r.outcome.is_empty() { p.outcome { (r.outcome) @if r.decided > 0 { " (" (fmt_ms(r.decided)) ")" } } }
            @if r.pending() && r.proposer == w.name { p.muted id={"own-" (r.id)} { "Your request: another writer must approve it." } }
            @if r.pending() && w.can_write {
                div.row {
                    @if r.proposer != w.name && !r.approvers.contains(&w.name) {
                        form.inline method="post" action=(action) id={"approve-" (r.id)} data-confirm={"Approve change request #" (r.id) "?"} {
                            input type="hidden" name="csrf" value=(w.csrf);
                            input type="hidden" name="decision" value="approve";
                            button type="submit" { "Approve" (w.in_env()) }
                        }
                        " "
                    }
                    form.inline method="post" action=(action) id={"reject-" (r.id)} {
                        input type="hidden" name="csrf" value=(w.csrf);
                        input type="hidden" name="decision" value="reject";
                        button.secondary type="submit" { @if r.proposer == w.name { "Withdraw" } @else { "Reject" } }
                    }
                }
            }
        }
    }
}

pub(super) async fn requests_page(
    State(app): State<Arc<App>>,
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    render(&app, &w, &q, None).await
}

/// The list, with `refusal` (a decision refused: why) at the top.
async fn render(
    app: &App,
    w: &Who,
    q: &HashMap<String, String>,
    refusal: Option<(StatusCode, String)>,
) -> Result<Response, Fail> {
    let all = w.env(app).store.requests().await?;
    let (pending, decided): (Vec<&Request>, Vec<&Request>) = all.iter().partition(|r| r.pending());
    let needed = w.approvals;
    let flash = q.get("done").map(|d| match d.as_str() {
        "approved" => "Approved: it needs more approvals.".to_owned(),
        "applied" => "Approved and applied.".to_owned(),
        "stale" => "Not applied: the flag changed since the request was proposed; the request is marked stale. Propose it again from the flag as it is now.".to_owned(),
        "refused" => "Not applied: the module refused it (see the request).".to_owned(),
        "rejected" => "Rejected.".to_owned(),
        _ => String::new(),
    });
    let body = html! {
        h1 { "Change requests" @if w.multi { " in " (w.env_name) } }
        @if needed > 0 {
            p.muted { "In " (w.env_name) " a change is a request until " (needed) " writer" @if needed > 1 { "s" } " other than its proposer approve it; then it is applied in one step, if the flag has not changed meanwhile." }
        } @else {
            p.muted { (w.env_name) " needs no approvals: changes are made at once. Requests from before are listed." }
        }
        @if let Some(id) = q.get("proposed") { div.msg.ok id="ok" role="status" { "Change request #" (id) " proposed: it is applied once approved." } }
        @if let Some(f) = flash.filter(|f| !f.is_empty()) { div.msg.ok id="ok" role="status" { (f) } }
        @if let Some((_, why)) = &refusal { div.msg.err id="refused" role="alert" { "Not done: " (why) } }
        @if w.can_write { (w.confirm_box()) }
        h2 { "Pending (" (pending.len()) ")" }
        @if pending.is_empty() { p id="no-pending" { "None." } }
        div id="pending" { @for r in &pending { (request_card(w, r, needed)) } }
        h2 { "Decided" }
        @if decided.is_empty() { p.muted { "None." } }
        div id="decided" { @for r in &decided { (request_card(w, r, needed)) } }
    };
    Ok(respond(
        refusal.map_or(StatusCode::OK, |(s, _)| s),
        layout(&format!("Change requests · {}", w.env_name), Some(w), body),
    ))
}

pub(super) async fn decide(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Path(id): Path<u64>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    check_write_unconfirmed(&app, &w, &headers, &f, true)?;
    // Refused decisions come back to the list, saying why.
    let back = HashMap::new();
    if let Some(problem) = confirm_problem(&w, &f) {
        return render(&app, &w, &back, Some((StatusCode::FORBIDDEN, problem))).await;
    }
    let approve = match f.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("reject") => false,
        _ => return Err(Fail::Bad("decision must be approve or reject".into())),
    };
    let d = w
        .env(&app)
        .store
        .decide(id, &w.name, approve, w.approvals, app.config.audit_length)
        .await?;
    let done = match d {
        Decision::Approved(_) => "approved",
        Decision::Applied => "applied",
        Decision::Stale => "stale",
        Decision::Refused(_) => "refused",
        Decision::Rejected => "rejected",
        Decision::NotAllowed(why) => {
            return render(&app, &w, &back, Some((StatusCode::FORBIDDEN, why))).await
        }
    };
    Ok(Redirect::to(&w.link(&format!("/requests?done={done}#request-{id}"))).into_response())
}
