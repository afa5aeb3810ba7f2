//! The list of flags: a page of SCAN results with each flag's state,
//! filtered by name and tag.

use super::session::Who;
use super::time::{fmt_ms, now_ms};
use super::{flag_url, layout, lossy, respond, state_badge, urlencode, Fail};
use crate::store::{self, FlagView, Stats};
use crate::App;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

struct Row {
    key: Vec<u8>,
    flag: FlagView,
    stats: Option<Stats>,
}

pub(super) fn is_stale(stats: Option<&Stats>, stale_days: u64) -> bool {
    let Some(s) = stats else { return false };
    let limit = now_ms().saturating_sub((stale_days as i64).saturating_mul(86_400_000));
    match s.last_evaluated {
        Some(t) => t < limit,
        None => s.since.is_some_and(|t| t < limit),
    }
}

pub(super) async fn flags_list(
    State(app): State<Arc<App>>,
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
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
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            p.cmd("HANOI.STATS").arg(k);
            2
        })
        .await?;
    let mut rows = Vec::new();
    for (k, r) in keys.iter().zip(&replies) {
        let Some(flag) = r.first().and_then(FlagView::from_export) else {
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
