//! The login page, logging in (rate-limited, argon2 checks a few at a
//! time) and logging out.

use super::session::{check_write, revoke, Who};
use super::{layout, respond, Fail};
use crate::auth;
use crate::App;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub(super) async fn login_page(who: Option<Who>) -> Response {
    if who.is_some() {
        return Redirect::to("/flags").into_response();
    }
    respond(StatusCode::OK, login_form(None))
}

fn login_form(error: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        html! {
            div.login { section.card {
                h1 { "Log in" }
                @if let Some(e) = error { div.msg.err id="login-error" role="alert" { (e) } }
                form method="post" action="/login" {
                    label { "Name" br; input type="text" name="name" id="name" autocomplete="username" required; }
                    label { "Password" br; input type="password" name="password" id="password" autocomplete="current-password" required; }
                    button type="submit" id="login" { "Log in" }
                }
            } }
        },
    )
}

/// Longer names and passwords are refused before any hashing.
const MAX_LOGIN_FIELD: usize = 1024;

pub(super) async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !auth::same_origin(&headers, &app.config) {
        return Fail::Forbidden("cross-origin request refused".into()).into_response();
    }
    let name = form.get("name").map(String::as_str).unwrap_or("");
    let password = form.get("password").map(String::as_str).unwrap_or("");
    if name.len() > MAX_LOGIN_FIELD || password.len() > MAX_LOGIN_FIELD {
        return respond(
            StatusCode::UNAUTHORIZED,
            login_form(Some("Wrong name or password.")),
        );
    }
    let user = app.config.user(name);
    let address = auth::address_key(auth::client_ip(peer.ip(), &headers, &app.config.proxies));
    // Every name alike, account or not: the answer says nothing of which
    // names are accounts.
    if !app.limiter.begin(name, &address) {
        return respond(
            StatusCode::TOO_MANY_REQUESTS,
            login_form(Some("Too many failed logins: wait a few minutes.")),
        );
    }
    let hash = user.map_or(app.dummy_hash.clone(), |u| u.password_hash.clone());
    let pw = password.to_owned();
    // Each argon2 check takes ~19 MiB and a core: a few at a time.
    let Ok(_slot) = app.login_slots.acquire().await else {
        return Fail::Unavailable.into_response();
    };
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    match (user, ok) {
        (Some(u), true) => {
            app.limiter.succeeded(name, &address);
            let mut cookie = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200",
                auth::COOKIE,
                app.keys.issue(&u.name, &u.password_hash)
            );
            if app.config.secure_cookies {
                cookie.push_str("; Secure");
            }
            let mut r = Redirect::to("/flags").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        _ => respond(
            StatusCode::UNAUTHORIZED,
            login_form(Some("Wrong name or password.")),
        ),
    }
}

pub(super) async fn logout(
    State(app): State<Arc<App>>,
    w: Who,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(f) = check_write(&app, &w, &headers, &form, false) {
        return f.into_response();
    }
    // The session ends on the server too: a copy of the cookie is refused.
    revoke(&app, &w).await;
    let mut r = Redirect::to("/login").into_response();
    let clear = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        auth::COOKIE
    );
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
