//! Who is asking: the session cookie's user as an extractor ([`Who`];
//! without a session a page redirects to the login), and the checks every
//! POST passes (CSRF token, Origin, role).

use super::Fail;
use crate::auth;
use crate::config::Role;
use crate::store::audit::{clean_comment, Audit, MAX_COMMENT};
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
    /// The role in the current environment.
    pub role: Role,
    pub csrf: String,
    /// Writes allowed in the current environment.
    pub can_write: bool,
    /// The current environment (an index of `App::envs`): the request's
    /// `env` query parameter, else the first.
    pub env: usize,
    pub env_name: String,
    /// More than one environment: links and forms name the current one.
    pub multi: bool,
    /// The current environment is protected: changes need its name typed.
    pub protected: bool,
    /// Approvals a change needs in the current environment (0: none).
    pub approvals: usize,
    /// Environments found unreachable at their last check (more than one
    /// environment).
    pub down: Vec<String>,
    /// Every environment's name, in order.
    pub envs: Vec<String>,
    session: auth::Session,
}

impl Who {
    /// The current environment's stores.
    pub fn env<'a>(&self, app: &'a App) -> &'a crate::Env {
        &app.envs[self.env]
    }

    /// `path` for the current environment: with `env=<name>` when there
    /// is more than one.
    pub fn link(&self, path: &str) -> String {
        env_link(self.multi, &self.env_name, path)
    }

    /// " in <environment>" for a save button's text (more than one
    /// environment), else nothing.
    pub fn in_env(&self) -> String {
        if self.multi {
            format!(" in {}", self.env_name)
        } else {
            String::new()
        }
    }

    /// The audit entry's context of a change posted with `form` (its
    /// `comment`), by this user in this environment.
    pub fn audit(&self, app: &App, form: &HashMap<String, String>, note: &str) -> Audit {
        Audit {
            user: self.name.clone(),
            comment: clean_comment(form.get("comment").map(String::as_str).unwrap_or("")),
            note: note.to_owned(),
            request: None,
            approvers: Vec::new(),
            length: app.config.audit_length,
            what: None,
        }
    }

    /// Why a change posted with `form` cannot be made for want of a
    /// comment: where the environment has `approvals`, every change says
    /// why.
    pub fn comment_missing(&self, form: &HashMap<String, String>) -> Option<String> {
        let typed = form.get("comment").map(|c| c.trim()).unwrap_or("");
        (self.approvals > 0 && typed.is_empty())
            .then(|| format!("a change in {} needs a comment (say why)", self.env_name))
    }

    /// A write form's comment field (`kept`: what was typed before).
    pub fn comment_field(&self, kept: &str) -> maud::Markup {
        let required = self.approvals > 0;
        maud::html! {
            label.comment { @if required { "Comment (required)" } @else { "Comment (optional)" } " "
                input type="text" name="comment" value=(kept) maxlength=(MAX_COMMENT)
                    placeholder="why this change" autocomplete="off"; }
        }
    }

    /// The one confirmation field of a page with many write forms, in a
    /// protected environment: typed once, sent with whichever form is
    /// saved (`app.js` adds it to the form). Without JavaScript a save
    /// comes back at its form, everything typed kept, with the field in
    /// that form ([`Who::confirm_in_form`]).
    pub fn confirm_box(&self) -> maud::Markup {
        maud::html! {
            @if self.protected {
                div.card.confirm-box id="confirm-box" {
                    label.confirm-env for="confirm-env-page" { "Type " strong { (self.env_name) } " to confirm the changes you save on this page (" (self.env_name) " is protected): " }
                    input type="text" id="confirm-env-page" autocomplete="off" data-confirm-env="1";
                }
            }
        }
    }

    /// The confirmation field inside a form that came back for want of it.
    pub fn confirm_in_form(&self, typed: &str) -> maud::Markup {
        maud::html! {
            @if self.protected {
                label.confirm-env { "Type " strong { (self.env_name) } " to confirm this change in this protected environment: "
                    input type="text" name="confirm_env" value=(typed) autocomplete="off"; }
            }
        }
    }

    /// A form's fields for the environment: the hidden `env` of a GET form,
    /// the `confirm_env` to type in a protected one.
    pub fn env_fields(&self, get: bool) -> maud::Markup {
        maud::html! {
            @if get && self.multi { input type="hidden" name="env" value=(self.env_name); }
            @if !get && self.protected {
                label.confirm-env { "Type " strong { (self.env_name) } " to confirm a change in this protected environment: "
                    input type="text" name="confirm_env" autocomplete="off" required; }
            }
        }
    }
}

/// `path` with `env=<name>` (when `multi`).
pub fn env_link(multi: bool, env: &str, path: &str) -> String {
    if !multi {
        return path.to_owned();
    }
    // The parameter goes before a fragment (`/requests?proposed=1#request-1`).
    let (path, fragment) = path.split_at(path.find('#').unwrap_or(path.len()));
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}env={}{fragment}", super::urlencode(env))
}

/// The `env` query parameter of a request.
pub fn env_param(parts: &Parts) -> Option<String> {
    let q = parts.uri.query()?;
    url_param(q, "env")
}

pub fn url_param(q: &str, name: &str) -> Option<String> {
    q.split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| {
            let v = v.replace('+', " ");
            let b = v.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' {
                    if let Some(x) = v
                        .get(i + 1..i + 3)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                    {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                }
                out.push(b[i]);
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        })
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

/// The session of a request's cookie: signed by us, not expired, its
/// user's password unchanged, and not ended by a logout, in this process
/// or (through the first environment's Redis) in another sharing it.
async fn session(app: &App, headers: &HeaderMap) -> Option<auth::Session> {
    let session = app.keys.check(cookie_value(headers, auth::COOKIE)?, |u| {
        app.config.user(u).map(|u| u.password_hash.clone())
    })?;
    if app.revoked.contains(&session) {
        return None;
    }
    let key = auth::revoked_key(&session.nonce);
    let mut exists = redis::cmd("EXISTS");
    exists.arg(&key);
    // Redis unreachable: this process's own logouts still hold (above).
    match app.envs[0].store.query(key.as_bytes(), &exists).await {
        Ok(redis::Value::Int(n)) if n > 0 => None,
        _ => Some(session),
    }
}

pub(super) async fn logged_in(app: &App, headers: &HeaderMap) -> bool {
    session(app, headers).await.is_some()
}

/// Ends a session: remembered here, and in the first environment's Redis
/// for the other hanoi-web processes, until it would have expired anyway.
pub(super) async fn revoke(app: &App, w: &Who) {
    app.revoked.add(&w.session);
    let key = auth::revoked_key(&w.session.nonce);
    let mut set = redis::cmd("SET");
    set.arg(&key)
        .arg(&w.name)
        .arg("EX")
        .arg(w.session.remaining());
    if let Err(e) = app.envs[0].store.write_one(key.as_bytes(), &set).await {
        eprintln!(
            "hanoi-web: the logout of {} is known to this process only: {}",
            w.name,
            crate::store::error_text(&e)
        );
    }
}

fn who(app: &App, session: auth::Session, env: usize) -> Option<Who> {
    let user = app.config.user(&session.user)?;
    let env_name = app.envs.get(env)?.name.clone();
    let role = user.role_in(&env_name);
    Some(Who {
        name: user.name.clone(),
        role,
        csrf: app.keys.csrf(&session),
        can_write: role == Role::Admin && !app.config.read_only,
        env,
        env_name,
        multi: app.envs.len() > 1,
        protected: app.envs.get(env)?.protected,
        approvals: app.envs.get(env)?.approvals,
        down: app
            .envs
            .iter()
            .filter(|e| {
                app.envs.len() > 1 && !e.reachable.load(std::sync::atomic::Ordering::Relaxed)
            })
            .map(|e| e.name.clone())
            .collect(),
        envs: app.envs.iter().map(|e| e.name.clone()).collect(),
        session,
    })
}

/// The environment a request names (`?env=`), else the first; an unknown
/// name is refused (404).
fn env_of(app: &App, parts: &Parts) -> Result<usize, Fail> {
    match env_param(parts) {
        None => Ok(0),
        Some(name) => app.env_index(&name).ok_or(Fail::NoEnv(name)),
    }
}

impl FromRequestParts<Arc<App>> for Who {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Who, Fail> {
        let env = env_of(app, parts)?;
        let s = session(app, &parts.headers).await.ok_or(Fail::Login)?;
        who(app, s, env).ok_or(Fail::Login)
    }
}

impl OptionalFromRequestParts<Arc<App>> for Who {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Option<Who>, Infallible> {
        let Some(s) = session(app, &parts.headers).await else {
            return Ok(None);
        };
        Ok(who(app, s, env_of(app, parts).unwrap_or(0)))
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
    check_write_unconfirmed(app, w, headers, form, change)?;
    if change {
        check_confirm(w, form)?;
    }
    Ok(())
}

/// [`check_write`] but for the protected environment's confirmation, which
/// the caller checks ([`check_confirm`]) before it writes: a form that only
/// shows itself again (a rule's row added) needs none.
pub(super) fn check_write_unconfirmed(
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

/// In a protected environment, a change needs the form's `confirm_env` to
/// be the environment's name.
pub(super) fn check_confirm(w: &Who, form: &HashMap<String, String>) -> Result<(), Fail> {
    match confirm_problem(w, form) {
        Some(p) => Err(Fail::Forbidden(p)),
        None => Ok(()),
    }
}

/// Why the form's confirmation does not do (not the protected
/// environment's name), in words; None when it does or none is needed.
pub(super) fn confirm_problem(w: &Who, form: &HashMap<String, String>) -> Option<String> {
    let typed = form.get("confirm_env").map(|s| s.trim()).unwrap_or("");
    if !w.protected || typed == w.env_name {
        return None;
    }
    Some(if typed.is_empty() {
        format!(
            "{} is protected: type its name to confirm the change",
            w.env_name
        )
    } else {
        format!(
            "{} is protected: “{typed}” is not its name; type {} to confirm the change",
            w.env_name, w.env_name
        )
    })
}
