//! The admin UI: server-rendered pages (maud escapes everything spliced in),
//! a login, signed session cookies, CSRF tokens and Origin checks on every
//! write, roles. Every write is a HANOI.* (or DEL) command sent by
//! `Store::write` under the user's client name.
//!
//! This file holds the routes, the page frame and the error pages; each
//! page lives in a module of its own: [`session`] (who is asking, the checks
//! on writes), [`login`], [`list`] (the flags), [`new`] (creating a flag),
//! [`flag`] (one flag's page and its saves; a segment's page too),
//! [`segments`] (the segments, the flags that use them, a new segment), [`ids`] (a flag's ids, browsed), [`forms`] (what a form means as
//! commands), [`rules`] (the rule builder), [`history`] (the history in
//! words), [`answer`] (answers and refusals in words), [`user`] (a user's
//! view: every flag's answer for one id), [`audit`] (the audit log and its
//! exports) and [`time`] (times shown and
//! typed).

mod answer;
mod audit;
mod chart;
mod compare;
mod experiment;
mod flag;
mod forms;
mod history;
mod ids;
mod list;
mod login;
mod new;
mod requests;
mod rules;
mod segments;
mod session;
mod time;
mod user;

use crate::config::Role;
use crate::store;
use crate::App;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
pub use rules::KnownAttributes;
use session::Who;
use std::sync::Arc;

const CSS: &str = include_str!("../../assets/style.css");
const JS: &str = include_str!("../../assets/app.js");
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/flags") }))
        .route(
            "/login",
            get(login::login_page)
                .post(login::login)
                .layer(axum::extract::DefaultBodyLimit::max(16 * 1024)),
        )
        .route("/logout", axum::routing::post(login::logout))
        .route("/flags", get(list::flags_list))
        .route("/flags/new", get(new::new_flag_page).post(new::create_flag))
        .route("/f/{hex}", get(flag::flag_page).post(flag::flag_write))
        .route("/f/{hex}/ids", get(ids::ids_page).post(ids::ids_remove))
        .route("/f/{hex}/compare", get(compare::compare_page))
        .route(
            "/f/{hex}/experiment",
            get(experiment::experiment_page).post(experiment::experiment_write),
        )
        .route("/f/{hex}/experiment.csv", get(experiment::experiment_csv))
        .route("/f/{hex}/copy", axum::routing::post(compare::copy))
        .route(
            "/segments",
            get(segments::segments_page).post(segments::create_segment),
        )
        .route("/user", get(user::user_page))
        .route("/audit", get(audit::audit_page))
        .route("/requests", get(requests::requests_page))
        .route("/requests/{id}", axum::routing::post(requests::decide))
        .route("/audit.jsonl", get(audit::audit_jsonl))
        .route("/audit.csv", get(audit::audit_csv))
        .route(
            "/static/style.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset(JS, "text/javascript; charset=utf-8") }),
        )
}

fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Refusals and failures, each an HTML page.
/// A flag's key from its hex in the URL (`/f/<hex>`): empty or not hex is
/// not found.
fn key_of(hex: &str) -> Result<Vec<u8>, Fail> {
    store::unhex(hex)
        .filter(|k| !k.is_empty())
        .ok_or(Fail::NotFound)
}

pub enum Fail {
    Login,
    Unavailable,
    NotFound,
    Forbidden(String),
    Bad(String),
    /// `?env=` names no environment.
    NoEnv(String),
    Internal(String),
}

impl From<redis::RedisError> for Fail {
    fn from(e: redis::RedisError) -> Fail {
        if store::is_unavailable(&e) {
            Fail::Unavailable
        } else {
            Fail::Internal(store::error_text(&e))
        }
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            Fail::Login => return Redirect::to("/login").into_response(),
            Fail::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Redis is unreachable",
                "The flag store (Redis) cannot be reached right now. hanoi-web keeps trying; reload in a moment.".to_owned(),
            ),
            Fail::NotFound => (StatusCode::NOT_FOUND, "Not found", "No such flag.".to_owned()),
            Fail::Forbidden(t) => (StatusCode::FORBIDDEN, "Refused", t),
            Fail::Bad(t) => (StatusCode::BAD_REQUEST, "Bad request", t),
            Fail::NoEnv(e) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("No environment named {e:?}."),
            ),
            Fail::Internal(t) => (StatusCode::INTERNAL_SERVER_ERROR, "Error", t),
        };
        let body = html! {
            h1 { (title) }
            div.msg.err role="alert" { (text) }
            p { a href="/flags" { "Back to the flags" } }
        };
        respond(status, layout(title, None, body))
    }
}

/// With more than one environment, a page that found its Redis unreachable
/// (503) names the environment, and the banner of the other pages does at
/// once (not only at the next check).
pub async fn name_unreachable(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let env = req
        .uri()
        .query()
        .and_then(|q| session::url_param(q, "env"))
        .and_then(|name| app.env_index(&name))
        .unwrap_or(0);
    let r = next.run(req).await;
    if r.status() != StatusCode::SERVICE_UNAVAILABLE || app.envs.len() < 2 {
        return r;
    }
    let e = &app.envs[env];
    e.reachable
        .store(false, std::sync::atomic::Ordering::Relaxed);
    let body = html! {
        h1 { "Redis is unreachable" }
        div.msg.err role="alert" id="env-unreachable" {
            "The environment " strong { (e.name) } " (its Redis) cannot be reached right now. hanoi-web keeps trying; reload in a moment. The other environments work."
        }
        p { a href=(session::env_link(true, &app.envs[if env == 0 { 1 } else { 0 }].name, "/flags")) { "The flags in another environment" } }
    };
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        layout("Redis is unreachable", None, body),
    )
}

/// Whether a request carries a live session (`/healthz` then shows its
/// detail).
pub async fn logged_in(app: &App, headers: &axum::http::HeaderMap) -> bool {
    session::logged_in(app, headers).await
}

fn respond(status: StatusCode, page: Markup) -> Response {
    let mut r = (status, page.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn layout(title: &str, who: Option<&Who>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · hanoi" }
                link rel="stylesheet" href="/static/style.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    nav aria-label="main" {
                        a href=(who.map_or("/flags".to_owned(), |w| w.link("/flags"))) { "hanoi flags" }
                        @if let Some(w) = who {
                            @if w.multi {
                                span.envs id="env-switch" aria-label="environment" {
                                    @for e in &w.envs {
                                        @if *e == w.env_name { span id="current-env" class="badge env" aria-current="true" title="the current environment" { (e) } }
                                        @else { a.env-link href=(session::env_link(true, e, "/flags")) { (e) } }
                                    }
                                }
                            }
                            @if w.can_write { a href=(w.link("/flags/new")) id="new-flag" { "+ New flag" } }
                            a href=(w.link("/segments")) id="segments-link" { "Segments" }
                            a href=(w.link("/user")) id="user-view" { "A user's view" }
                            a href=(w.link("/audit")) id="audit-link" { "Audit log" }
                            @if w.approvals > 0 { a href=(w.link("/requests")) id="requests-link" { "Change requests" } }
                        }
                    }
                    @if let Some(w) = who {
                        span.who {
                            span id="whoami" { (w.name) " (" (role_name(w.role)) ")" }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(w.csrf);
                                button.secondary type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main {
                    @if let Some(w) = who.filter(|w| !w.down.is_empty()) {
                        div.msg.err id="env-down" role="alert" {
                            "Unreachable: " @for (i, e) in w.down.iter().enumerate() { @if i > 0 { ", " } strong { (e) } }
                            ". Its flags cannot be read or changed until it answers again; the other environments work."
                        }
                    }
                    (body)
                }
            }
        }
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Admin => "admin",
        Role::Viewer => "viewer",
    }
}

/// A flag's page (without the environment: see `Who::link`).
fn flag_url(key: &[u8]) -> String {
    format!("/f/{}", store::hex(key))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn state_badge(on: bool) -> Markup {
    html! { @if on { span.badge.on { "on" } } @else { span.badge.off { "off" } } }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
