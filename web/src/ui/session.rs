//! Who is asking: the session cookie's user as an extractor ([`Who`];
//! without a session a page redirects to the login), and the checks every
//! POST passes (CSRF token, Origin, role).

use super::Fail;
use crate::auth;
use crate::config::Role;
use crate::App;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

/// The logged-in user of a request, from its signed session cookie. As an
/// extractor it refuses a request without a valid session ([`Fail::Login`]:
/// to the login page); `Option<Who>` takes any request.
pub struct Who {
    pub name: String,
    pub role: Role,
    pub csrf: String,
    pub can_write: bool,
    session: auth::Session,
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn who(app: &App, headers: &HeaderMap) -> Option<Who> {
    let session = app.keys.check(cookie_value(headers, auth::COOKIE)?)?;
    let user = app.config.user(&session.user)?;
    Some(Who {
        name: user.name.clone(),
        role: user.role,
        csrf: app.keys.csrf(&session),
        can_write: user.role == Role::Admin && !app.config.read_only,
        session,
    })
}

impl FromRequestParts<Arc<App>> for Who {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Who, Fail> {
        who(app, &parts.headers).ok_or(Fail::Login)
    }
}

impl OptionalFromRequestParts<Arc<App>> for Who {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Option<Who>, Infallible> {
        Ok(who(app, &parts.headers))
    }
}

/// The checks every POST passes besides the session (the [`Who`]
/// extractor): its CSRF token, the Origin, and (for changes) the admin role
/// outside read-only mode.
pub(super) fn check_write(
    app: &App,
    w: &Who,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    change: bool,
) -> Result<(), Fail> {
    let token = form.get("csrf").map(String::as_str).unwrap_or("");
    if !app.keys.csrf_ok(&w.session, token) {
        return Err(Fail::Forbidden(
            "missing or wrong CSRF token: reload the page and try again".into(),
        ));
    }
    if !auth::same_origin(headers, &app.config) {
        return Err(Fail::Forbidden("cross-origin request refused".into()));
    }
    if change && !w.can_write {
        return Err(Fail::Forbidden(if app.config.read_only {
            "hanoi-web is in read-only mode".into()
        } else {
            "viewers cannot change flags".into()
        }));
    }
    Ok(())
}
