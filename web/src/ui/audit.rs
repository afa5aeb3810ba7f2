//! The audit log of the current environment: `/audit` (filtered by flag,
//! user and time, newest first, a page at a time) and its exports
//! `/audit.jsonl` and `/audit.csv` (the same filters). What one request
//! reads is bounded: at most [`MAX_SCAN`] entries are looked at.

use super::session::Who;
use super::time::{fmt_iso, fmt_ms, parse_time};
use super::{flag_url, layout, lossy, respond, urlencode, Fail};
use crate::store::audit::{self, Entry, AUDIT_KEY};
use crate::store::{self};
use crate::App;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

/// Entries a page.
const PAGE: usize = 100;
/// Entries an export holds at most.
const MAX_EXPORT: usize = 10_000;
/// Entries one request looks at, at most (filters applied by hanoi-web).
const MAX_SCAN: usize = 50_000;
/// Entries asked of Redis at once.
const BATCH: usize = 1000;

/// The filters of a request.
struct Filter {
    flag: String,
    user: String,
    /// Unix ms, inclusive; 0: open.
    from: i64,
    until: i64,
    /// Older than this stream id (the next page).
    before: Option<String>,
}

impl Filter {
    fn of(q: &HashMap<String, String>) -> Result<Filter, String> {
        let time = |k: &str| -> Result<i64, String> {
            let t = q.get(k).map(String::as_str).unwrap_or("");
            parse_time(t).ok_or_else(|| {
                format!("{k}: {t:?} is not a time (2027-01-01 12:00, UTC, or Unix ms)")
            })
        };
        let before = q
            .get("before")
            .filter(|b| {
                !b.is_empty() && b.len() < 48 && b.bytes().all(|c| c.is_ascii_digit() || c == b'-')
            })
            .cloned();
        Ok(Filter {
            flag: q
                .get("flag")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            user: q
                .get("user")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            from: time("from")?,
            until: time("until")?,
            before,
        })
    }

    fn keeps(&self, e: &Entry) -> bool {
        (self.flag.is_empty() || e.flag == self.flag.as_bytes())
            && (self.user.is_empty() || e.user == self.user)
    }

    /// The query string of these filters (no `before`).
    fn query(&self, q: &HashMap<String, String>) -> String {
        ["flag", "user", "from", "until"]
            .iter()
            .filter_map(|k| {
                q.get(*k)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={}", urlencode(v)))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Up to `want` entries that pass the filter, newest first, and the id to
/// go on from when more may be there.
async fn entries(
    store: &store::Store,
    f: &Filter,
    want: usize,
) -> Result<(Vec<Entry>, Option<String>), Fail> {
    let mut end = match &f.before {
        Some(b) => format!("({b}"),
        None if f.until > 0 => format!("{}", f.until.saturating_add(999)),
        None => "+".to_owned(),
    };
    let start = if f.from > 0 {
        f.from.to_string()
    } else {
        "-".to_owned()
    };
    let (mut out, mut scanned) = (Vec::new(), 0);
    loop {
        let mut c = redis::cmd("XREVRANGE");
        c.arg(AUDIT_KEY)
            .arg(&end)
            .arg(&start)
            .arg("COUNT")
            .arg(BATCH);
        let reply = match store.query(AUDIT_KEY, &c).await {
            Ok(v) => v,
            Err(e) if store::is_unavailable(&e) => return Err(Fail::Unavailable),
            // Not a stream (someone else's key): no audit to show.
            Err(e) => return Err(Fail::Internal(store::error_text(&e))),
        };
        let items = match &reply {
            redis::Value::Array(items) => items.as_slice(),
            _ => &[],
        };
        let batch: Vec<Entry> = items.iter().filter_map(Entry::from_reply).collect();
        scanned += items.len();
        let last = batch.last().map(|e| e.id.clone());
        for e in batch {
            if out.len() == want {
                // One more that passes: there is a next page, from the
                // last one shown.
                let next = out.last().map(|e: &Entry| e.id.clone());
                return Ok((out, next));
            }
            if f.keeps(&e) {
                out.push(e);
            }
        }
        match last {
            Some(id) if items.len() == BATCH && scanned < MAX_SCAN => end = format!("({id}"),
            // Looked at as much as one request may: go on from there.
            Some(id) if items.len() == BATCH => return Ok((out, Some(id))),
            _ => return Ok((out, None)),
        }
    }
}

pub(super) async fn audit_page(
    State(app): State<Arc<App>>,
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let filter = Filter::of(&q);
    let (rows, next, error) = match &filter {
        Ok(f) => {
            let (rows, next) = entries(&w.env(&app).store, f, PAGE).await?;
            (rows, next, None)
        }
        Err(e) => (Vec::new(), None, Some(e.clone())),
    };
    let qs = filter.as_ref().map(|f| f.query(&q)).unwrap_or_default();
    let with = |path: &str, extra: &str| {
        let mut parts: Vec<&str> = Vec::new();
        if !qs.is_empty() {
            parts.push(&qs);
        }
        if !extra.is_empty() {
            parts.push(extra);
        }
        w.link(&if parts.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", parts.join("&"))
        })
    };
    let v = |k: &str| q.get(k).cloned().unwrap_or_default();
    let body = html! {
        h1 { "Audit log" @if w.multi { " of " span id="audit-env" { (w.env_name) } } }
        p.muted { "Every change made through hanoi-web in this environment, newest first: who, which flag, what, why, and the change request and its approvers when there was one. The last " (app.config.audit_length) " or so are kept." }
        form.row.filters method="get" action="/audit" role="search" id="audit-filter" {
            label { "Flag " input type="text" name="flag" id="audit-flag" value=(v("flag")); }
            label { "User " input type="text" name="user" id="audit-user" value=(v("user")); }
            label { "From " input type="text" name="from" id="audit-from" placeholder="2027-01-01 00:00 (UTC)" value=(v("from")); }
            label { "Until " input type="text" name="until" id="audit-until" placeholder="empty: now" value=(v("until")); }
            (w.env_fields(true))
            button type="submit" { "Filter" }
            a href=(w.link("/audit")) { "clear" }
        }
        @if let Some(e) = &error { div.msg.err role="alert" id="audit-error" { (e) } }
        p { "Export: " a href=(with("/audit.jsonl", "")) id="export-jsonl" { "JSON lines" } " · " a href=(with("/audit.csv", "")) id="export-csv" { "CSV" } }
        @if rows.is_empty() && error.is_none() { p id="no-audit" { "No changes" @if !qs.is_empty() { " match" } "." } }
        @else if !rows.is_empty() {
            div.scroll { table id="audit" {
                thead { tr { th { "time (UTC)" } th { "user" } th { "flag" } th { "what" } th { "comment" } th { "request" } th { "approvers" } } }
                tbody { @for e in &rows { tr {
                    td { time datetime=(fmt_iso(e.time)) { (fmt_ms(e.time)) } }
                    td.user { (e.user) }
                    td.flag { a href=(w.link(&flag_url(&e.flag))) { (lossy(&e.flag)) } }
                    td { code { (e.what) } }
                    td.comment { (e.comment) }
                    td { (e.request) }
                    td { (e.approvers) }
                } } }
            } }
        }
        @if let Some(n) = &next { p.pager { a href=(with("/audit", &format!("before={}", urlencode(n)))) id="older" { "older →" } } }
    };
    Ok(respond(
        StatusCode::OK,
        layout(&format!("Audit · {}", w.env_name), Some(&w), body),
    ))
}

async fn export(
    app: &App,
    w: &Who,
    q: &HashMap<String, String>,
) -> Result<(Vec<Entry>, bool), Fail> {
    let f = Filter::of(q).map_err(Fail::Bad)?;
    let (rows, next) = entries(&w.env(app).store, &f, MAX_EXPORT).await?;
    Ok((rows, next.is_some()))
}

fn download(body: String, kind: &'static str, name: &str, more: bool) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if more {
        // Cut at MAX_EXPORT (or MAX_SCAN looked at): narrow the filters.
        h.insert("x-hanoi-truncated", HeaderValue::from_static("1"));
    }
    r
}

pub(super) async fn audit_jsonl(
    State(app): State<Arc<App>>,
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let (rows, more) = export(&app, &w, &q).await?;
    Ok(download(
        audit::jsonl(&rows),
        "application/x-ndjson; charset=utf-8",
        &format!("hanoi-audit-{}.jsonl", w.env_name),
        more,
    ))
}

pub(super) async fn audit_csv(
    State(app): State<Arc<App>>,
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let (rows, more) = export(&app, &w, &q).await?;
    Ok(download(
        audit::csv(&rows, fmt_iso),
        "text/csv; charset=utf-8",
        &format!("hanoi-audit-{}.csv", w.env_name),
        more,
    ))
}
