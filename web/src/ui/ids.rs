//! A flag's registered or blocked ids, browsed a page at a time
//! (`HANOI.IDS`), searched, and the selected ones removed:
//! `/f/<hex>/ids?list=users|blocked&q=…&cursor=…`.

use super::session::{check_write, Who};
use super::{flag_url, key_of, layout, lossy, respond, urlencode, Fail};
use crate::store::{self, WriteOutcome};
use crate::App;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use hanoi_core::reply::IdsPage;
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

/// Ids a page shows (at least; a step may bring a few more).
const PAGE: usize = 100;
/// `HANOI.IDS` calls a page may make (each examines about `PAGE` home slots).
const STEPS: usize = 50;

fn list_of(q: &HashMap<String, String>) -> (&'static str, &'static str) {
    match q.get("list").map(String::as_str) {
        Some("blocked") => ("blocked", "BLOCKED"),
        _ => ("users", "USERS"),
    }
}

/// A search as a glob: the text anywhere in the id, its glob characters
/// taken as they are.
fn pattern(search: &str) -> Vec<u8> {
    let mut p = b"*".to_vec();
    p.extend(store::glob_escape(search.as_bytes()));
    p.push(b'*');
    p
}

pub(super) async fn ids_page(
    State(app): State<Arc<App>>,
    w: Who,
    Path(hex): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let key = key_of(&hex)?;
    let (list, word) = list_of(&q);
    let search = q.get("q").map(|s| s.trim().to_owned()).unwrap_or_default();
    let mut cursor = q
        .get("cursor")
        .and_then(|c| c.parse::<u64>().ok())
        .unwrap_or(0);
    let started = cursor;
    let mut ids: Vec<Vec<u8>> = Vec::new();
    for _ in 0..STEPS {
        let mut c = redis::cmd("HANOI.IDS");
        c.arg(&key).arg(word).arg(cursor).arg("COUNT").arg(PAGE);
        if !search.is_empty() {
            c.arg("MATCH").arg(pattern(&search));
        }
        let reply = w.env(&app).store.query(&key, &c).await.map_err(|e| {
            if store::is_unavailable(&e) {
                Fail::Unavailable
            } else {
                Fail::Bad(store::error_text(&e))
            }
        })?;
        // `HANOI.IDS`'s reply (the next cursor and the ids), decoded by
        // hanoi-core.
        let page = store::core_reply(&reply, 0)
            .and_then(|r| IdsPage::decode(&r).ok())
            .ok_or_else(|| Fail::Bad("unexpected reply".into()))?;
        ids.extend(page.ids);
        cursor = page.cursor;
        if cursor == 0 || ids.len() >= PAGE {
            break;
        }
    }
    let title = format!(
        "{} · {}",
        lossy(&key),
        if list == "users" {
            "registered ids"
        } else {
            "blocked ids"
        }
    );
    let here = format!("{}/ids", flag_url(&key));
    let more = |c: u64| {
        w.link(&format!(
            "{here}?list={list}&q={}&cursor={c}",
            urlencode(&search)
        ))
    };
    let body = html! {
        h1 { a href=(w.link(&flag_url(&key))) { (lossy(&key)) } " · " @if list == "users" { "registered ids" } @else { "blocked ids" } }
        nav.row aria-label="which ids" {
            a href=(w.link(&format!("{here}?list=users"))) aria-current=[(list == "users").then_some("page")] { "registered" } " · "
            a href=(w.link(&format!("{here}?list=blocked"))) aria-current=[(list == "blocked").then_some("page")] { "blocked" }
        }
        form.row method="get" action=(here) role="search" {
            input type="hidden" name="list" value=(list);
            (w.env_fields(true))
            label { "Ids containing " input type="search" name="q" id="ids-search" value=(search); }
            button type="submit" { "Search" }
            @if !search.is_empty() { a href=(w.link(&format!("{here}?list={list}"))) { "clear" } }
        }
        @if q.contains_key("removed") { div.msg.ok role="status" id="ok" { "Removed " (q.get("removed").cloned().unwrap_or_default()) "." } }
        @if ids.is_empty() {
            p.muted id="no-ids" { @if started == 0 && cursor == 0 { "No ids" @if !search.is_empty() { " contain “" (search) "”" } "." } @else { "No more ids on this page." } }
        } @else {
            form method="post" action=(w.link(&here)) id="ids-form" {
                input type="hidden" name="csrf" value=(w.csrf);
                (w.env_fields(false))
                input type="hidden" name="list" value=(list);
                input type="hidden" name="q" value=(search);
                ul.ids id="ids" {
                    @for id in &ids {
                        li { label {
                            @if w.can_write { input type="checkbox" name="id" value=(store::hex(id)); " " }
                            code { (lossy(id)) } } }
                    }
                }
                @if w.can_write {
                    (w.comment_field(""))
                    button.danger type="submit" id="remove-ids" {
                        @if list == "users" { "Unregister the selected ids" } @else { "Unblock the selected ids" } (w.in_env()) }
                }
            }
        }
        p.pager {
            @if started != 0 { a href=(more(0)) id="first-ids" { "← first page" } " " }
            @if cursor != 0 { a href=(more(cursor)) id="more-ids" { "more →" } }
        }
        p.muted { "Ids come in no particular order, a hundred or so at a time; an id there the whole time shows up at least once as you page." }
    };
    Ok(respond(StatusCode::OK, layout(&title, Some(&w), body)))
}

/// Unregisters (or unblocks) the ids ticked on the page.
pub(super) async fn ids_remove(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Path(hex): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Response, Fail> {
    let fields: HashMap<String, String> = f.iter().filter(|(k, _)| k != "id").cloned().collect();
    check_write(&app, &w, &headers, &fields, true)?;
    let key = key_of(&hex)?;
    let (list, _) = list_of(&fields);
    let ids: Vec<Vec<u8>> = f
        .iter()
        .filter(|(k, _)| k == "id")
        .filter_map(|(_, v)| store::unhex(v))
        .take(10_000)
        .collect();
    let back = format!(
        "{}/ids?list={list}&q={}",
        flag_url(&key),
        urlencode(fields.get("q").map(String::as_str).unwrap_or(""))
    );
    if ids.is_empty() {
        return Ok(Redirect::to(&w.link(&back)).into_response());
    }
    let mut c = redis::cmd(if list == "users" {
        "HANOI.UNREGISTER"
    } else {
        "HANOI.UNBLOCK"
    });
    c.arg(&key);
    if list == "users" {
        c.arg("USER");
    }
    c.arg(&ids);
    if let Some(missing) = w.comment_missing(&fields) {
        return Err(Fail::Bad(missing));
    }
    if w.approvals > 0 {
        return Err(Fail::Bad(format!(
            "in {} changes are change requests: unregister or unblock ids with the flag page's forms",
            w.env_name
        )));
    }
    let audit = w.audit(&app, &fields, "");
    match w
        .env(&app)
        .store
        .write_any(&w.name, &key, &[c], &audit)
        .await?
    {
        WriteOutcome::Done(results) => {
            if let Some(e) = results.into_iter().find_map(Result::err) {
                return Err(Fail::Bad(e));
            }
        }
        WriteOutcome::Conflict => return Err(Fail::Bad("the flag changed meanwhile".into())),
    }
    Ok(Redirect::to(&w.link(&format!("{back}&removed={}", ids.len()))).into_response())
}
