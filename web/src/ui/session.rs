//! Who is asking: the session cookie's user, and the checks every POST
//! passes (CSRF token, Origin, role).

use super::Fail;
use crate::auth;
use crate::config::Role;
use crate::App;
use axum::http::{header, HeaderMap};
use std::collections::HashMap;

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

pub(super) fn who(app: &App, headers: &HeaderMap) -> Option<Who> {
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

/// The checks every POST passes: a session, its CSRF token, the Origin,
/// and (for changes) the admin role outside read-only mode.
pub(super) fn check_write(
    app: &App,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    change: bool,
) -> Result<Who, Fail> {
    let w = who(app, headers).ok_or(Fail::Login)?;
    let token = form.get("csrf").map(String::as_str).unwrap_or("");
    if !app.keys.csrf_ok(&w.session, token) {
        return Err(Fail::Forbidden(
            "missing or wrong CSRF token: reload the page and try again".into(),
        ));
    }
    if !auth::same_origin(headers) {
        return Err(Fail::Forbidden("cross-origin request refused".into()));
    }
    if change && !w.can_write {
        return Err(Fail::Forbidden(if app.config.read_only {
            "hanoi-web is in read-only mode".into()
        } else {
            "viewers cannot change flags".into()
        }));
    }
    Ok(w)
}
