//! The admin UI: server-rendered pages (maud escapes everything spliced in),
//! a login, signed session cookies, CSRF tokens and Origin checks on every
//! write, roles. Every write is a HANOI.* (or DEL) command sent by
//! `Store::write` under the user's client name.

use crate::auth;
use crate::config::Role;
use crate::store::{self, Explain, FlagView, HistoryEntry, Stats, WriteOutcome};
use crate::App;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use redis::Cmd;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

const CSS: &str = include_str!("../assets/style.css");
const JS: &str = include_str!("../assets/app.js");
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/flags") }))
        .route(
            "/login",
            get(login_page)
                .post(login)
                .layer(axum::extract::DefaultBodyLimit::max(16 * 1024)),
        )
        .route("/logout", axum::routing::post(logout))
        .route("/flags", get(flags_list))
        .route("/flags/new", get(new_flag_page).post(create_flag))
        .route("/f/{hex}", get(flag_page).post(flag_write))
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

// ---- who is asking ---------------------------------------------------------

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

/// Refusals and failures, each an HTML page.
pub enum Fail {
    Login,
    Unavailable,
    NotFound,
    Forbidden(String),
    Bad(String),
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
            Fail::Internal(t) => (StatusCode::INTERNAL_SERVER_ERROR, "Error", t),
        };
        let body = html! {
            h1 { (title) }
            div.msg.err { (text) }
            p { a href="/flags" { "Back to the flags" } }
        };
        respond(status, layout(title, None, body))
    }
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
                    a href="/flags" { "hanoi flags" }
                    @if let Some(w) = who {
                        @if w.can_write { a href="/flags/new" id="new-flag" { "+ New flag" } }
                        span.who {
                            span id="whoami" { (w.name) " (" (role_name(w.role)) ")" }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(w.csrf);
                                button.secondary type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { (body) }
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

fn flag_url(key: &[u8]) -> String {
    format!("/f/{}", store::hex(key))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---- time ------------------------------------------------------------------

/// Unix ms as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn fmt_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// A time typed in a form: Unix ms, or `YYYY-MM-DD[ T]HH:MM[:SS]` in UTC;
/// empty is 0 (an open side).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches("UTC").trim();
    if s.is_empty() {
        return Some(0);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return (ms >= 0).then_some(ms);
    }
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi) = (t.next()??, t.next()??);
    let sec = t.next().flatten().unwrap_or(0);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=59).contains(&sec)
    {
        return None;
    }
    Some((days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 + sec) * 1000)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// ---- login -----------------------------------------------------------------

async fn login_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if who(&app, &headers).is_some() {
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
                @if let Some(e) = error { div.msg.err id="login-error" { (e) } }
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

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !auth::same_origin(&headers) {
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
    let limit_keys = [format!("user:{name}"), format!("ip:{}", peer.ip())];
    if !app.limiter.begin(&limit_keys) {
        return respond(
            StatusCode::TOO_MANY_REQUESTS,
            login_form(Some("Too many failed logins: wait a few minutes.")),
        );
    }
    let user = app.config.user(name);
    let hash = user.map_or(app.dummy_hash.clone(), |u| u.password_hash.clone());
    let pw = password.to_owned();
    // Each argon2 check takes ~19 MiB and a core: a few at a time.
    let Ok(_slot) = app.login_slots.acquire().await else {
        return Fail::Unavailable.into_response();
    };
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &hash))
        .await
        .unwrap_or(false);
    if ok && user.is_some() {
        app.limiter.succeeded(&limit_keys);
    }
    match (user, ok) {
        (Some(u), true) => {
            let mut cookie = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200",
                auth::COOKIE,
                app.keys.issue(&u.name)
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

async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(f) = check_write(&app, &headers, &form, false) {
        return f.into_response();
    }
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

/// The checks every POST passes: a session, its CSRF token, the Origin,
/// and (for changes) the admin role outside read-only mode.
fn check_write(
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

// ---- the list --------------------------------------------------------------

struct Row {
    key: Vec<u8>,
    flag: FlagView,
    stats: Option<Stats>,
}

fn is_stale(stats: Option<&Stats>, stale_days: u64) -> bool {
    let Some(s) = stats else { return false };
    let limit = now_ms().saturating_sub((stale_days as i64).saturating_mul(86_400_000));
    match s.last_evaluated {
        Some(t) => t < limit,
        None => s.since.is_some_and(|t| t < limit),
    }
}

async fn flags_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let w = who(&app, &headers).ok_or(Fail::Login)?;
    let search = q.get("q").cloned().unwrap_or_default();
    let tag = q.get("tag").cloned().unwrap_or_default();
    let cursor = q.get("cursor").cloned().unwrap_or_default();
    let mut pattern = b"*".to_vec();
    pattern.extend(store::glob_escape(search.as_bytes()));
    pattern.push(b'*');
    let (keys, next) = app
        .store
        .scan_flags(&pattern, &cursor, app.config.page_size)
        .await?;
    let replies = app
        .store
        .per_key(&keys, |p, k| {
            p.cmd("HANOI.GET").arg(k);
            p.cmd("HANOI.STATS").arg(k);
            2
        })
        .await?;
    let mut rows = Vec::new();
    for (k, r) in keys.iter().zip(&replies) {
        let Some(flag) = r.first().and_then(FlagView::from_get) else {
            continue;
        };
        if !tag.is_empty() && !flag.tags().contains(&tag) {
            continue;
        }
        let stats = r.get(1).and_then(Stats::from_reply);
        rows.push(Row {
            key: k.clone(),
            flag,
            stats,
        });
    }
    let next_url = (!next.is_empty()).then(|| {
        format!(
            "/flags?q={}&tag={}&cursor={next}",
            urlencode(&search),
            urlencode(&tag)
        )
    });
    let body = html! {
        h1 { "Flags" }
        @if q.contains_key("deleted") { div.msg.ok { "The flag was deleted." } }
        form.row method="get" action="/flags" {
            input type="search" name="q" id="search" placeholder="name contains…" value=(search);
            input type="text" name="tag" id="tag" placeholder="tag" value=(tag);
            button type="submit" { "Filter" }
            @if !search.is_empty() || !tag.is_empty() { a href="/flags" { "clear" } }
        }
        table id="flags" {
            thead { tr {
                th { "name" } th { "state" } th { "%" } th { "users" } th { "regexes" } th { "rules" }
                th { "blocked" } th { "variants" } th { "description" } th { "owner" } th { "tags" } th { "last evaluated" }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td.name { a href=(flag_url(&r.key)) { (lossy(&r.key)) } }
                        td { (state_badge(r.flag.enabled))
                             @if is_stale(r.stats.as_ref(), app.config.stale_days) { " " span.badge.stale title={"not evaluated for " (app.config.stale_days) " days"} { "stale" } } }
                        td { (r.flag.effective_percentage) @if r.flag.ramp.is_some() { " " span.muted title={"on a ramp; set: " (r.flag.percentage) " %"} { "(ramp)" } } }
                        td { (r.flag.users) }
                        td { (r.flag.regexes.len()) }
                        td { (r.flag.rules.len()) }
                        td { (r.flag.blocked) }
                        td { @for (i, v) in r.flag.variants.iter().enumerate() { @if i > 0 { ", " } code { (lossy(v)) } } }
                        td { (r.flag.meta("description").unwrap_or_default()) }
                        td { (r.flag.meta("owner").unwrap_or_default()) }
                        td { @for t in r.flag.tags() { a.badge.tag href={"/flags?tag=" (urlencode(&t))} { (t) } " " } }
                        td { @match r.stats.as_ref().and_then(|s| s.last_evaluated) {
                            Some(t) => (fmt_ms(t)),
                            None => span.muted { "never" },
                        } }
                    }
                }
            }
        }
        @if rows.is_empty() { p.muted id="no-flags" { "No flags on this page." } }
        @if let Some(u) = next_url { p.pager { a href=(u) id="next-page" { "Next page →" } } }
    };
    Ok(respond(StatusCode::OK, layout("Flags", Some(&w), body)))
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

// ---- creating --------------------------------------------------------------

async fn new_flag_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, Fail> {
    let w = who(&app, &headers).ok_or(Fail::Login)?;
    if !w.can_write {
        return Err(Fail::Forbidden("viewers cannot create flags".into()));
    }
    Ok(respond(
        StatusCode::OK,
        new_flag_form(&w, &HashMap::new(), None),
    ))
}

fn new_flag_form(w: &Who, f: &HashMap<String, String>, error: Option<&str>) -> Markup {
    let v = |k: &str| f.get(k).cloned().unwrap_or_default();
    layout(
        "New flag",
        Some(w),
        html! {
            h1 { "New flag" }
            @if let Some(e) = error { div.msg.err id="error" { (e) } }
            section.card { form method="post" action="/flags/new" {
                input type="hidden" name="csrf" value=(w.csrf);
                label { "Name (the Redis key)" br; input type="text" name="name" id="flag-name" required value=(v("name")); }
                label { input type="checkbox" name="enabled" value="1" checked[f.is_empty() || f.contains_key("enabled")]; " switched on" }
                label { "Percentage" br; input type="number" name="percentage" min="0" max="100" value=(f.get("percentage").cloned().unwrap_or_else(|| "0".into())); }
                label { "Variants (space or comma separated, optional)" br; input type="text" name="variants" value=(v("variants")); }
                label { "Weights (one per variant, optional)" br; input type="text" name="weights" value=(v("weights")); }
                label { "Salt (optional)" br; input type="text" name="salt" value=(v("salt")); }
                label { "Description" br; input type="text" name="description" value=(v("description")); }
                label { "Owner" br; input type="text" name="owner" value=(v("owner")); }
                label { "Tags (comma separated)" br; input type="text" name="tags" value=(v("tags")); }
                button type="submit" id="create" { "Create" }
            } }
        },
    )
}

fn words(s: &str) -> Vec<&str> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect()
}

/// `HANOI.DEFINE key ...` from a form's fields.
fn define_cmd(key: &[u8], f: &HashMap<String, String>) -> Cmd {
    let mut c = redis::cmd("HANOI.DEFINE");
    c.arg(key);
    c.arg(if f.contains_key("enabled") {
        "ENABLED"
    } else {
        "DISABLED"
    });
    c.arg("PERCENTAGE").arg(
        f.get("percentage")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .unwrap_or("0"),
    );
    let variants = words(f.get("variants").map(String::as_str).unwrap_or(""));
    if !variants.is_empty() {
        c.arg("VARIANTS").arg(variants.len()).arg(&variants);
        let weights = words(f.get("weights").map(String::as_str).unwrap_or(""));
        if !weights.is_empty() {
            c.arg("WEIGHTS").arg(&weights);
        }
    }
    if let Some(s) = f.get("salt").filter(|s| !s.is_empty()) {
        c.arg("SALT").arg(s);
    }
    c
}

fn meta_cmds(key: &[u8], f: &HashMap<String, String>) -> Vec<Cmd> {
    let mut set = redis::cmd("HANOI.META");
    set.arg(key).arg("SET");
    let mut del = redis::cmd("HANOI.META");
    del.arg(key).arg("DEL");
    let (mut sets, mut dels) = (0, 0);
    for name in ["description", "owner", "tags"] {
        match f.get(name).map(|s| s.trim()) {
            Some(v) if !v.is_empty() => {
                set.arg(name).arg(v);
                sets += 1;
            }
            Some(_) => {
                del.arg(name);
                dels += 1;
            }
            None => {}
        }
    }
    let mut out = Vec::new();
    if sets > 0 {
        out.push(set);
    }
    if dels > 0 {
        out.push(del);
    }
    out
}

async fn create_flag(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let w = check_write(&app, &headers, &f, true)?;
    let name = f
        .get("name")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    if name.is_empty() {
        return Ok(respond(
            StatusCode::BAD_REQUEST,
            new_flag_form(&w, &f, Some("A flag needs a name.")),
        ));
    }
    let key = name.as_bytes();
    let mut cmds = vec![define_cmd(key, &f)];
    // A new flag has no metadata: only the fields given are set.
    let given: HashMap<String, String> = f
        .iter()
        .filter(|(k, v)| {
            ["description", "owner", "tags"].contains(&k.as_str()) && !v.trim().is_empty()
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    cmds.extend(meta_cmds(key, &given));
    match app.store.write(&w.name, key, None, &cmds).await? {
        WriteOutcome::Conflict => Ok(respond(
            StatusCode::CONFLICT,
            new_flag_form(&w, &f, Some("A key with this name already exists.")),
        )),
        WriteOutcome::Done(results) => {
            let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                Ok(Redirect::to(&flag_url(key)).into_response())
            } else {
                // DEFINE refused: nothing exists; META refused: the flag does.
                Ok(respond(
                    StatusCode::BAD_REQUEST,
                    new_flag_form(&w, &f, Some(&errors.join("; "))),
                ))
            }
        }
    }
}

// ---- one flag --------------------------------------------------------------

struct PageData {
    flag: FlagView,
    stats: Option<Stats>,
    history: Vec<HistoryEntry>,
    version: String,
}

async fn load_flag(app: &App, key: &[u8]) -> Result<Option<PageData>, Fail> {
    let Some(version) = app.store.version(key).await? else {
        return Ok(None);
    };
    let r = app
        .store
        .per_key(&[key.to_vec()], |p, k| {
            p.cmd("HANOI.GET").arg(k);
            p.cmd("HANOI.STATS").arg(k);
            p.cmd("HANOI.HISTORY").arg(k).arg("COUNT").arg(50);
            3
        })
        .await?
        .pop()
        .unwrap_or_default();
    let Some(flag) = r.first().and_then(FlagView::from_get) else {
        if let Some(redis::Value::ServerError(e)) = r.first() {
            return Err(Fail::Bad(format!(
                "{} {}: this key is not a flag",
                e.code(),
                e.details().unwrap_or("")
            )));
        }
        return Ok(None);
    };
    // The version was taken first: a write in between makes a save refused,
    // never a stale view accepted.
    Ok(Some(PageData {
        flag,
        stats: r.get(1).and_then(Stats::from_reply),
        history: r.get(2).map(store::history).unwrap_or_default(),
        version,
    }))
}

fn key_of(hex: &str) -> Result<Vec<u8>, Fail> {
    store::unhex(hex)
        .filter(|k| !k.is_empty())
        .ok_or(Fail::NotFound)
}

/// What the flag page shows above its sections.
#[derive(Default)]
struct Notice {
    ok: Option<String>,
    errors: Vec<String>,
    conflict: Option<Vec<HistoryEntry>>,
    tried: Option<(String, Result<Explain, String>)>,
}

async fn flag_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(hex): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let w = who(&app, &headers).ok_or(Fail::Login)?;
    let key = key_of(&hex)?;
    let mut notice = Notice {
        ok: q.get("done").map(|_| "Saved.".to_owned()),
        ..Notice::default()
    };
    if let Some(id) = q.get("try_id").filter(|s| !s.is_empty()) {
        let mut c = redis::cmd("HANOI.EXPLAIN");
        c.arg(&key).arg(id);
        let attrs = q.get("try_attrs").cloned().unwrap_or_default();
        let pairs: Vec<(&str, &str)> = attrs
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(a, v)| (a.trim(), v.trim()))
            .filter(|(a, _)| !a.is_empty())
            .collect();
        if !pairs.is_empty() {
            c.arg("WITH");
            for (a, v) in pairs {
                c.arg(a).arg(v);
            }
        }
        let answer = match app.store.query(&key, &c).await {
            Ok(v) => Explain::from_reply(&v).ok_or_else(|| "unexpected reply".to_owned()),
            Err(e) if store::is_unavailable(&e) => return Err(Fail::Unavailable),
            Err(e) => Err(store::error_text(&e)),
        };
        notice.tried = Some((id.clone(), answer));
    }
    let data = load_flag(&app, &key).await?.ok_or(Fail::NotFound)?;
    Ok(respond(
        StatusCode::OK,
        render_flag(&app, &w, &key, &data, &notice, &q),
    ))
}

fn hidden(w: &Who, d: &PageData, op: &str) -> Markup {
    let seen = d.history.first().map_or(0, |h| h.time);
    html! {
        input type="hidden" name="csrf" value=(w.csrf);
        input type="hidden" name="version" value=(d.version);
        input type="hidden" name="seen" value=(seen);
        input type="hidden" name="op" value=(op);
    }
}

fn history_table(entries: &[HistoryEntry], id: &str) -> Markup {
    html! {
        table id=(id) {
            thead { tr { th { "when" } th { "user" } th { "client" } th { "command" } } }
            tbody {
                @for h in entries {
                    tr {
                        td { (fmt_ms(h.time)) }
                        td { (h.user) }
                        td { (h.client) }
                        td { code { (h.command.join(" ")) }
                             @if h.arguments as usize > h.command.len() { span.muted { " … (" (h.arguments) " arguments)" } } }
                    }
                }
            }
        }
    }
}

fn render_flag(
    app: &App,
    w: &Who,
    key: &[u8],
    d: &PageData,
    n: &Notice,
    q: &HashMap<String, String>,
) -> Markup {
    let f = &d.flag;
    let name = lossy(key);
    let url = flag_url(key);
    let stats = d.stats.clone().unwrap_or_default();
    let max_bar = stats
        .variants
        .iter()
        .map(|(_, c)| *c)
        .chain([stats.evaluations])
        .max()
        .unwrap_or(0)
        .max(1);
    let body = html! {
        h1 id="flag-title" { (name) " " (state_badge(f.enabled))
            @if is_stale(d.stats.as_ref(), app.config.stale_days) { " " span.badge.stale { "stale" } } }
        @if let Some(ok) = &n.ok { div.msg.ok id="ok" { (ok) } }
        @for e in &n.errors { div.msg.err.error { (e) } }
        @if let Some(changes) = &n.conflict {
            div.msg.warn id="conflict" {
                strong { "Not saved: this flag changed since you opened the page." }
                " The page now shows the current flag; what changed meanwhile:"
                @if changes.is_empty() { p { "(a change that left no history entry)" } }
                @else { (history_table(changes, "conflict-changes")) }
            }
        }
        div.grid {
            section.card id="state" {
                h2 { "State" }
                p { "Switched " strong { @if f.enabled { "on" } @else { "off" } } ", percentage " strong id="percentage" { (f.percentage) " %" } @if f.ramp.is_some() { " (on its ramp, now " strong id="effective-percentage" { (f.effective_percentage) " %" } ")" }
                    @if let Some(s) = &f.salt { ", salt " code { (lossy(s)) } } }
                p { (f.users) " registered users · " (f.blocked) " blocked · " (f.regexes.len()) " regexes · " (f.rules.len()) " rules" }
                @if f.created > 0 { p.muted { "created " (fmt_ms(f.created)) } }
                @if w.can_write {
                    form.row method="post" action=(url) id="switch-form"
                        data-confirm=(if f.enabled { format!("Switch {name} OFF for everyone?") } else { format!("Switch {name} ON?") }) {
                        (hidden(w, d, "switch"))
                        input type="hidden" name="to" value=(if f.enabled { "off" } else { "on" });
                        button type="submit" id="switch" class=(if f.enabled { "danger" } else { "" }) {
                            @if f.enabled { "Switch off" } @else { "Switch on" } }
                    }
                    form.row method="post" action=(url) id="percentage-form" {
                        (hidden(w, d, "percentage"))
                        input type="number" name="percentage" id="percentage-input" min="0" max="100" value=(f.percentage);
                        button type="submit" id="set-percentage" { "Set percentage" }
                    }
                }
            }
            section.card id="variants" {
                h2 { "Variants" }
                @if f.variants.is_empty() { p.muted { "None: a boolean flag." } }
                @else { table { thead { tr { th { "variant" } th { "weight" } } } tbody {
                    @for (i, v) in f.variants.iter().enumerate() {
                        tr { td { code { (lossy(v)) } } td { (f.weights.get(i).map(|w| w.to_string()).unwrap_or_else(|| "—".into())) } } } } } }
                @if w.can_write {
                    form method="post" action=(url) id="define-form" {
                        (hidden(w, d, "define"))
                        label { "Variants" br; input type="text" name="variants" value=(f.variants.iter().map(|v| lossy(v)).collect::<Vec<_>>().join(" ")); }
                        label { "Weights" br; input type="text" name="weights" value=(f.weights.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(" ")); }
                        label { "Salt" br; input type="text" name="salt" value=(f.salt.as_deref().map(lossy).unwrap_or_default()); }
                        p.muted { "Saving re-defines the flag with its current switch and percentage (this ends a ramp)." }
                        button type="submit" { "Save variants" }
                    }
                }
            }
            section.card id="stats" {
                h2 { "Evaluations (this server)" }
                p { (stats.evaluations) " evaluations, " (stats.enabled) " on · last "
                    @match stats.last_evaluated { Some(t) => (fmt_ms(t)), None => "never" }
                    @if let Some(s) = stats.since { span.muted { " · counting since " (fmt_ms(s)) } } }
                table.bars id="chart" {
                    tr { td { "on" } td { progress max=(max_bar) value=(stats.enabled) {} } td { (stats.enabled) } }
                    tr { td { "off" } td { progress max=(max_bar) value=(stats.evaluations.saturating_sub(stats.enabled)) {} } td { (stats.evaluations.saturating_sub(stats.enabled)) } }
                    @for (v, c) in &stats.variants {
                        tr { td { code { (lossy(v)) } } td { progress max=(max_bar) value=(c) {} } td { (c) } }
                    }
                }
            }
            section.card id="try" {
                h2 { "Try it" }
                form method="get" action=(url) id="try-form" {
                    label { "Id" br; input type="text" name="try_id" id="try-id" value=(q.get("try_id").cloned().unwrap_or_default()); }
                    label { "Attributes (one attr=value a line)" br; textarea name="try_attrs" id="try-attrs" { (q.get("try_attrs").cloned().unwrap_or_default()) } }
                    button type="submit" id="try-button" { "Explain" }
                }
                @if let Some((id, answer)) = &n.tried {
                    div id="try-result" {
                        @match answer {
                            Ok(e) => p { "For " code { (id) } ": " strong { @if e.enabled { "on" } @else { "off" } }
                                @if let Some(v) = &e.variant { ", variant " code { (lossy(v)) } }
                                ", because " strong.reason { (e.reason) }
                                @if let Some(dt) = &e.detail { " (" code { (dt) } ")" }
                                @if let Some(p) = e.percentage { ", effective percentage " (p) " %" } },
                            Err(msg) => div.msg.err { (msg) },
                        }
                    }
                }
            }
        }
        section.card id="rules" {
            h2 { "Rules" }
            @if f.rules.is_empty() { p.muted { "No rules." } }
            @else {
                table { thead { tr { th { "#" } th { "name" } th { "definition" } @if w.can_write { th {} } } } tbody {
                    @for (i, r) in f.rules.iter().enumerate() {
                        @let rname = r.first().map(|n| lossy(n)).unwrap_or_default();
                        tr {
                            td { (i) }
                            td.name { (rname) }
                            td { code { (r.iter().skip(1).map(|a| quote_token(&lossy(a))).collect::<Vec<_>>().join(" ")) } }
                            @if w.can_write { td {
                                a.secondary href={(url) "?edit_rule=" (urlencode(&rname)) "#rule-form"} { "edit" } " "
                                @if i > 0 { form.inline method="post" action=(url) { (hidden(w, d, "rule_move"))
                                    input type="hidden" name="name" value=(rname); input type="hidden" name="index" value=(i - 1);
                                    button.secondary type="submit" { "↑" } } }
                                " "
                                form.inline method="post" action=(url) data-confirm="Delete this rule?" { (hidden(w, d, "rule_del"))
                                    input type="hidden" name="name" value=(rname);
                                    button.danger type="submit" { "delete" } }
                            } }
                        }
                    }
                } }
            }
            @if w.can_write {
                @let editing = q.get("edit_rule").and_then(|n| f.rules.iter().find(|r| r.first().map(|x| lossy(x)).as_deref() == Some(n.as_str())));
                @let (e_name, e_rollout, e_variant, e_conditions) = editing.map(|r| rule_fields(r)).unwrap_or_default();
                form method="post" action=(url) id="rule-form" {
                    (hidden(w, d, "rule_set"))
                    div.row {
                        label { "Name " input type="text" name="name" id="rule-name" required value=(e_name); }
                        label { "Rollout % " input type="number" name="rollout" min="0" max="100" value=(e_rollout); }
                        label { "Variant " input type="text" name="variant" value=(e_variant); }
                    }
                    label { "Conditions (as after IF: " code { "country EQ DE AND plan IN 2 pro team" } "; \"quotes\" for spaces)" br;
                        input type="text" name="conditions" id="rule-conditions" required size="70" value=(e_conditions); }
                    button type="submit" id="add-rule" { "Add or replace rule" }
                }
            }
        }
        div.grid {
            section.card id="users" {
                h2 { "Users (" (f.users) ")" }
                p.muted { "Look one up with “Try it”: reason " code { "user" } " means registered." }
                @if w.can_write {
                    form method="post" action=(url) id="users-add-form" {
                        (hidden(w, d, "users_add"))
                        label { "Register ids (paste many: spaces, commas or lines)" textarea name="ids" id="users-add" {} }
                        button type="submit" id="register" { "Register" }
                    }
                    form method="post" action=(url) id="users-remove-form" {
                        (hidden(w, d, "users_remove"))
                        label { "Unregister ids" textarea name="ids" {} }
                        button.secondary type="submit" { "Unregister" }
                    }
                }
            }
            section.card id="blocked" {
                h2 { "Blocked ids (" (f.blocked) ")" }
                @if w.can_write {
                    form method="post" action=(url) {
                        (hidden(w, d, "block"))
                        label { "Block ids" textarea name="ids" {} }
                        button type="submit" { "Block" }
                    }
                    form method="post" action=(url) {
                        (hidden(w, d, "unblock"))
                        label { "Unblock ids" textarea name="ids" {} }
                        button.secondary type="submit" { "Unblock" }
                    }
                }
            }
            section.card id="regexes" {
                h2 { "Regexes" }
                ul { @for r in &f.regexes { li { code { (lossy(r)) }
                    @if w.can_write { " " form.inline method="post" action=(url) { (hidden(w, d, "regex_remove"))
                        input type="hidden" name="patterns" value=(lossy(r));
                        button.secondary type="submit" { "remove" } } } } } }
                @if w.can_write {
                    form method="post" action=(url) {
                        (hidden(w, d, "regex_add"))
                        label { "Add patterns (one a line)" textarea name="patterns" {} }
                        button type="submit" { "Add" }
                    }
                }
            }
            section.card id="schedule" {
                h2 { "Schedule" }
                p { "Window: " @match f.window {
                    Some((a, b)) => { (if a == 0 { "open".to_owned() } else { fmt_ms(a) }) " → " (if b == 0 { "open".to_owned() } else { fmt_ms(b) }) },
                    None => span.muted { "none" },
                } }
                p { "Ramp: " @match f.ramp {
                    Some((a, b, s, e)) => { (a) " % → " (b) " % from " (fmt_ms(s)) " to " (fmt_ms(e)) },
                    None => span.muted { "none" },
                } }
                @if w.can_write {
                    form method="post" action=(url) {
                        (hidden(w, d, "window"))
                        div.row { label { "From " input type="text" name="from" placeholder="2027-01-01 00:00 or ms"; }
                                  label { "Until " input type="text" name="until" placeholder="empty: open"; } }
                        button type="submit" { "Set window" }
                    }
                    form method="post" action=(url) {
                        (hidden(w, d, "ramp"))
                        div.row { label { "From % " input type="number" name="from_pct" min="0" max="100"; }
                                  label { "to % " input type="number" name="to_pct" min="0" max="100"; } }
                        div.row { label { "Start " input type="text" name="start" placeholder="UTC time or ms"; }
                                  label { "End " input type="text" name="end"; } }
                        button type="submit" { "Set ramp" }
                    }
                    form.row method="post" action=(url) {
                        (hidden(w, d, "clear"))
                        select name="what" { option value="" { "window and ramp" } option value="WINDOW" { "window" } option value="RAMP" { "ramp" } }
                        button.secondary type="submit" { "Clear" }
                    }
                }
            }
            section.card id="metadata" {
                h2 { "Metadata" }
                table { tbody { @for (k, v) in &f.metadata { tr { td { code { (lossy(k)) } } td { (lossy(v)) } } } } }
                @if w.can_write {
                    form method="post" action=(url) id="meta-form" {
                        (hidden(w, d, "meta"))
                        label { "Description" br; input type="text" name="description" value=(f.meta("description").unwrap_or_default()); }
                        label { "Owner" br; input type="text" name="owner" value=(f.meta("owner").unwrap_or_default()); }
                        label { "Tags (comma separated)" br; input type="text" name="tags" value=(f.meta("tags").unwrap_or_default()); }
                        button type="submit" { "Save metadata" }
                    }
                }
            }
        }
        section.card {
            h2 { "History" }
            (history_table(&d.history, "history"))
        }
        @if w.can_write {
            section.card id="delete" {
                h2 { "Delete" }
                form.row method="post" action=(url) id="delete-form" {
                    (hidden(w, d, "delete"))
                    label { "Type the flag's name to delete it: " input type="text" name="confirm" id="delete-confirm" autocomplete="off"; }
                    button.danger type="submit" id="delete-button" { "Delete flag" }
                }
            }
        }
    };
    layout(&name, Some(w), body)
}

/// A word as the conditions field reads it back: quoted when it has spaces
/// or quotes, or is empty.
fn quote_token(t: &str) -> String {
    if !t.is_empty()
        && !t
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        return t.to_owned();
    }
    let mut out = String::from('"');
    for c in t.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A rule from `HANOI.GET` (name, then `[ROLLOUT p] [VARIANT v] IF ...`) as
/// the rule form's fields: name, rollout, variant, conditions.
fn rule_fields(r: &[Vec<u8>]) -> (String, String, String, String) {
    let words: Vec<String> = r.iter().map(|w| lossy(w)).collect();
    let name = words.first().cloned().unwrap_or_default();
    let (mut rollout, mut variant) = (String::new(), String::new());
    let mut i = 1;
    while i + 1 < words.len() {
        match words[i].as_str() {
            "ROLLOUT" => rollout = words[i + 1].clone(),
            "VARIANT" => variant = words[i + 1].clone(),
            _ => break,
        }
        i += 2;
    }
    if words.get(i).map(String::as_str) == Some("IF") {
        i += 1;
    }
    let conditions = words
        .iter()
        .skip(i)
        .map(|w| quote_token(w))
        .collect::<Vec<_>>()
        .join(" ");
    (name, rollout, variant, conditions)
}

/// A tokenizer for rule conditions: words split on whitespace, "double
/// quotes" keep spaces (`\"` and `\\` inside).
pub fn tokens(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => cur.push(e),
                            None => return Err("unfinished escape".into()),
                        },
                        Some(o) => cur.push(o),
                        None => return Err("unclosed quote".into()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Ids pasted in a textarea: split on whitespace and commas, sent in
/// commands of at most 10,000.
fn id_cmds(name: &str, key: &[u8], sub: Option<&str>, text: &str) -> Vec<Cmd> {
    let ids = words(text);
    ids.chunks(10_000)
        .map(|chunk| {
            let mut c = redis::cmd(name);
            c.arg(key);
            if let Some(s) = sub {
                c.arg(s);
            }
            c.arg(chunk);
            c
        })
        .collect()
}

/// The commands a form stands for.
fn commands(
    key: &[u8],
    op: &str,
    f: &HashMap<String, String>,
    flag: &FlagView,
) -> Result<Vec<Cmd>, String> {
    let field = |k: &str| f.get(k).map(|s| s.trim()).unwrap_or("");
    let one = |name: &str| {
        let mut c = redis::cmd(name);
        c.arg(key);
        c
    };
    let cmds = match op {
        "switch" => vec![one(if field("to") == "on" {
            "HANOI.ENABLE"
        } else {
            "HANOI.DISABLE"
        })],
        "percentage" => {
            let mut c = one("HANOI.PERCENTAGE");
            c.arg(field("percentage"));
            vec![c]
        }
        "define" => {
            let mut g = f.clone();
            if flag.enabled {
                g.insert("enabled".into(), "1".into());
            } else {
                g.remove("enabled");
            }
            g.insert("percentage".into(), flag.percentage.to_string());
            vec![define_cmd(key, &g)]
        }
        "users_add" => id_cmds("HANOI.REGISTER", key, Some("USER"), field("ids")),
        "users_remove" => id_cmds("HANOI.UNREGISTER", key, Some("USER"), field("ids")),
        "block" => id_cmds("HANOI.BLOCK", key, None, field("ids")),
        "unblock" => id_cmds("HANOI.UNBLOCK", key, None, field("ids")),
        "regex_add" | "regex_remove" => {
            let patterns: Vec<&str> = f
                .get("patterns")
                .map(|p| p.lines().map(str::trim).filter(|l| !l.is_empty()).collect())
                .unwrap_or_default();
            if patterns.is_empty() {
                return Err("no pattern given".into());
            }
            let mut c = one(if op == "regex_add" {
                "HANOI.REGISTER"
            } else {
                "HANOI.UNREGISTER"
            });
            c.arg("REGEX").arg(patterns);
            vec![c]
        }
        "rule_set" => {
            let mut c = one("HANOI.RULE");
            c.arg("SET").arg(field("name"));
            if !field("rollout").is_empty() {
                c.arg("ROLLOUT").arg(field("rollout"));
            }
            if !field("variant").is_empty() {
                c.arg("VARIANT").arg(field("variant"));
            }
            c.arg("IF").arg(tokens(field("conditions"))?);
            vec![c]
        }
        "rule_del" => {
            let mut c = one("HANOI.RULE");
            c.arg("DEL").arg(field("name"));
            vec![c]
        }
        "rule_move" => {
            let mut c = one("HANOI.RULE");
            c.arg("MOVE").arg(field("name")).arg(field("index"));
            vec![c]
        }
        "window" => {
            let from = parse_time(field("from")).ok_or("bad From time")?;
            let until = parse_time(field("until")).ok_or("bad Until time")?;
            let mut c = one("HANOI.SCHEDULE");
            c.arg("WINDOW").arg(from).arg(until);
            vec![c]
        }
        "ramp" => {
            let start = parse_time(field("start")).ok_or("bad Start time")?;
            let end = parse_time(field("end")).ok_or("bad End time")?;
            let mut c = one("HANOI.SCHEDULE");
            c.arg("RAMP")
                .arg(field("from_pct"))
                .arg(field("to_pct"))
                .arg(start)
                .arg(end);
            vec![c]
        }
        "clear" => {
            let mut c = one("HANOI.SCHEDULE");
            c.arg("CLEAR");
            if matches!(field("what"), "WINDOW" | "RAMP") {
                c.arg(field("what"));
            }
            vec![c]
        }
        "meta" => meta_cmds(key, f),
        "delete" => {
            if field("confirm").as_bytes() != key {
                return Err("type the flag's exact name to delete it".into());
            }
            vec![redis::cmd("DEL").arg(key).clone()]
        }
        _ => return Err(format!("unknown action {op:?}")),
    };
    if cmds.is_empty() {
        return Err("nothing to do: no id given".into());
    }
    Ok(cmds)
}

async fn flag_write(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(hex): Path<String>,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let w = check_write(&app, &headers, &f, true)?;
    let key = key_of(&hex)?;
    let op = f.get("op").cloned().unwrap_or_default();
    let version = f.get("version").cloned().unwrap_or_default();
    let seen: i64 = f.get("seen").and_then(|s| s.parse().ok()).unwrap_or(0);
    let current = load_flag(&app, &key).await?.ok_or(Fail::NotFound)?;
    let no_query = HashMap::new();
    let cmds = match commands(&key, &op, &f, &current.flag) {
        Ok(c) => c,
        Err(e) => {
            let n = Notice {
                errors: vec![e],
                ..Notice::default()
            };
            return Ok(respond(
                StatusCode::BAD_REQUEST,
                render_flag(&app, &w, &key, &current, &n, &no_query),
            ));
        }
    };
    let outcome = app
        .store
        .write(&w.name, &key, Some(&version), &cmds)
        .await?;
    let errors = match outcome {
        WriteOutcome::Done(results) => {
            let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
            if errors.is_empty() {
                if op == "delete" {
                    return Ok(Redirect::to("/flags?deleted=1").into_response());
                }
                return Ok(Redirect::to(&format!("{}?done={op}", flag_url(&key))).into_response());
            }
            errors
        }
        WriteOutcome::Conflict => {
            let Some(now) = load_flag(&app, &key).await? else {
                return Err(Fail::Bad("the flag was deleted meanwhile".into()));
            };
            let changes: Vec<HistoryEntry> = now
                .history
                .iter()
                .filter(|h| h.time > seen)
                .cloned()
                .collect();
            let n = Notice {
                conflict: Some(changes),
                ..Notice::default()
            };
            return Ok(respond(
                StatusCode::CONFLICT,
                render_flag(&app, &w, &key, &now, &n, &no_query),
            ));
        }
    };
    let now = load_flag(&app, &key).await?.ok_or(Fail::NotFound)?;
    let n = Notice {
        errors,
        ..Notice::default()
    };
    Ok(respond(
        StatusCode::BAD_REQUEST,
        render_flag(&app, &w, &key, &now, &n, &no_query),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(fmt_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_ms(1798761600000), "2027-01-01 00:00:00 UTC");
        assert_eq!(parse_time("2027-01-01 00:00"), Some(1798761600000));
        assert_eq!(parse_time("2027-01-01T00:00:00"), Some(1798761600000));
        assert_eq!(parse_time("1798761600000"), Some(1798761600000));
        assert_eq!(parse_time(""), Some(0));
        assert_eq!(parse_time("2027-13-01 00:00"), None);
        assert_eq!(parse_time("soon"), None);
        assert_eq!(parse_time("99999999999999-01-01 00:00"), None);
        assert_eq!(parse_time("2027-01-01 -1:00"), None);
        let _ = fmt_ms(i64::MAX);
        let _ = fmt_ms(i64::MIN);
    }

    #[test]
    fn condition_tokens() {
        assert_eq!(
            tokens(r#"country EQ DE AND name EQ "a b" AND x EQ "q\"""#).unwrap(),
            vec!["country", "EQ", "DE", "AND", "name", "EQ", "a b", "AND", "x", "EQ", "q\""]
        );
        assert_eq!(tokens(r#"x EQ """#).unwrap(), vec!["x", "EQ", ""]);
        assert!(tokens("x EQ \"open").is_err());
        let t = |s: &str| s.as_bytes().to_vec();
        let rule = [
            t("de"),
            t("ROLLOUT"),
            t("20"),
            t("IF"),
            t("city"),
            t("EQ"),
            t("New \"York\""),
            t("AND"),
            t("x"),
            t("EQ"),
            t(""),
        ];
        let (name, rollout, variant, conditions) = rule_fields(&rule);
        assert_eq!(
            (name.as_str(), rollout.as_str(), variant.as_str()),
            ("de", "20", "")
        );
        assert_eq!(
            tokens(&conditions).unwrap(),
            vec!["city", "EQ", "New \"York\"", "AND", "x", "EQ", ""]
        );
    }
}
