//! The list of flags: every flag sorted (by name, last evaluation or
//! state), searched (name, description, owner and tags, case-insensitive)
//! and filtered by tag, `page_size` flags a page with the total.

use super::session::Who;
use super::time::{fmt_ms, now_ms};
use super::{flag_url, layout, lossy, respond, state_badge, urlencode, Fail};
use crate::store::{FlagView, Stats};
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

/// How the list is ordered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    Name,
    /// Most recently evaluated first (never evaluated last).
    Evaluated,
    /// On before off, then by name.
    State,
}

impl Sort {
    fn parse(s: &str) -> Sort {
        match s {
            "evaluated" => Sort::Evaluated,
            "state" => Sort::State,
            _ => Sort::Name,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Evaluated => "evaluated",
            Sort::State => "state",
        }
    }
}

/// Each key's description and counts (`HANOI.EXPORT NOIDS` + `HANOI.STATS`,
/// pipelined); keys that are gone meanwhile are left out.
async fn rows_of(app: &App, keys: &[Vec<u8>]) -> Result<Vec<Row>, Fail> {
    let replies = app
        .store
        .per_key(keys, |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            p.cmd("HANOI.STATS").arg(k);
            2
        })
        .await?;
    Ok(keys
        .iter()
        .zip(&replies)
        .filter_map(|(k, r)| {
            Some(Row {
                key: k.clone(),
                flag: r.first().and_then(FlagView::from_export)?,
                stats: r.get(1).and_then(Stats::from_reply),
            })
        })
        .collect())
}

/// Whether a flag matches the search words (each, case-insensitively, in
/// its name, description, owner or tags) and the tag (case-insensitive).
fn matches(r: &Row, words: &[String], tag: &str) -> bool {
    let tags = r.flag.tags();
    if !tag.is_empty() && !tags.iter().any(|t| t.to_lowercase() == tag) {
        return false;
    }
    let hay = [
        lossy(&r.key),
        r.flag.meta("description").unwrap_or_default(),
        r.flag.meta("owner").unwrap_or_default(),
        tags.join(","),
    ]
    .join("\n")
    .to_lowercase();
    words.iter().all(|w| hay.contains(w.as_str()))
}

/// The list: every flag (`SCAN ... TYPE hanoiflag` on every primary),
/// sorted, filtered, `page_size` a page. Sorted by name without a search,
/// only the page's flags are read; a search or another order reads every
/// flag's description and counts (one pipeline per server, 64 flags a
/// chunk).
pub(super) async fn flags_list(
    State(app): State<Arc<App>>,
    w: Who,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, Fail> {
    let search = q.get("q").map(|s| s.trim().to_owned()).unwrap_or_default();
    let tag = q
        .get("tag")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let sort = Sort::parse(q.get("sort").map(String::as_str).unwrap_or(""));
    let page: usize = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .filter(|&p| p >= 1)
        .unwrap_or(1);
    let size = app.config.page_size;
    let words: Vec<String> = search
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let keys = app.store.all_flags(b"*").await?;
    let (total, rows) = if words.is_empty() && tag.is_empty() && sort == Sort::Name {
        let from = (page - 1).saturating_mul(size).min(keys.len());
        let to = from.saturating_add(size).min(keys.len());
        (keys.len(), rows_of(&app, &keys[from..to]).await?)
    } else {
        let mut all: Vec<Row> = rows_of(&app, &keys)
            .await?
            .into_iter()
            .filter(|r| matches(r, &words, &tag.to_lowercase()))
            .collect();
        match sort {
            Sort::Name => {}
            Sort::Evaluated => all.sort_by_key(|r| {
                std::cmp::Reverse(r.stats.as_ref().and_then(|s| s.last_evaluated))
            }),
            Sort::State => all.sort_by_key(|r| !r.flag.enabled),
        }
        let total = all.len();
        let from = (page - 1).saturating_mul(size).min(total);
        let rows: Vec<Row> = all.into_iter().skip(from).take(size).collect();
        (total, rows)
    };
    let pages = total.div_ceil(size).max(1);
    let first = (page - 1).saturating_mul(size);
    let url = |page: usize, sort: Sort| {
        format!(
            "/flags?q={}&tag={}&sort={}&page={page}",
            urlencode(&search),
            urlencode(&tag),
            sort.as_str()
        )
    };
    let sort_link = |s: Sort, label: &'static str| {
        html! {
            @if sort == s { span aria-current="true" { (label) " ▾" } }
            @else { a href=(url(1, s)) title={"sort by " (label)} { (label) } }
        }
    };
    let body = html! {
        h1 { "Flags" }
        @if q.contains_key("deleted") { div.msg.ok role="status" { "The flag was deleted." } }
        form.row.filters method="get" action="/flags" role="search" {
            label { span.sr-only { "Search flags" }
                input type="search" name="q" id="search" placeholder="name, description, owner, tag…" value=(search); }
            label { span.sr-only { "Tag" }
                input type="text" name="tag" id="tag" placeholder="tag" value=(tag); }
            input type="hidden" name="sort" value=(sort.as_str());
            button type="submit" { "Filter" }
            @if !search.is_empty() || !tag.is_empty() { a href="/flags" { "clear" } }
        }
        p id="total" {
            @if total == 0 { "No flags" @if !words.is_empty() || !tag.is_empty() { " match" } "." }
            @else if rows.is_empty() { "No flags on this page (" (total) " in all)." }
            @else { "Flags " (first + 1) "–" (first + rows.len()) " of " (total) }
            " · sort: " (sort_link(Sort::Name, "name")) ", " (sort_link(Sort::Evaluated, "last evaluated")) ", " (sort_link(Sort::State, "state"))
        }
        div.table-wrap {
        table id="flags" {
            thead { tr {
                th { "name" } th { "state" } th { "%" } th.wide { "users" } th.wide { "regexes" } th.wide { "rules" }
                th.wide { "blocked" } th.wide { "variants" } th.wide { "description" } th.wide { "owner" } th.wide { "tags" } th { "last evaluated" }
            } }
            tbody {
                @for r in &rows {
                    tr {
                        td.name { a href=(flag_url(&r.key)) { (lossy(&r.key)) } }
                        td { (state_badge(r.flag.enabled))
                             @if is_stale(r.stats.as_ref(), app.config.stale_days) { " " span.badge.stale title={"not evaluated for " (app.config.stale_days) " days"} { "stale" } } }
                        td { (r.flag.effective_percentage) @if r.flag.ramp.is_some() { " " span.muted title={"on a ramp; set: " (r.flag.percentage) " %"} { "(ramp)" } } }
                        td.wide { (r.flag.users) }
                        td.wide { (r.flag.regexes.len()) }
                        td.wide { (r.flag.rules.len()) }
                        td.wide { (r.flag.blocked) }
                        td.wide { @for (i, v) in r.flag.variants.iter().enumerate() { @if i > 0 { ", " } code { (lossy(v)) } } }
                        td.wide { (r.flag.meta("description").unwrap_or_default()) }
                        td.wide { (r.flag.meta("owner").unwrap_or_default()) }
                        td.wide { @for t in r.flag.tags() { a.badge.tag href={"/flags?tag=" (urlencode(&t))} { (t) } " " } }
                        td { @match r.stats.as_ref().and_then(|s| s.last_evaluated) {
                            Some(t) => (fmt_ms(t)),
                            None => span.muted { "never" },
                        } }
                    }
                }
            }
        }
        }
        @if pages > 1 {
            nav.pager aria-label="pages" {
                @if page > 1 { a href=(url(page - 1, sort)) id="prev-page" rel="prev" { "← Previous" } " " }
                span { "page " (page.min(pages)) " of " (pages) }
                @if page < pages { " " a href=(url(page + 1, sort)) id="next-page" rel="next" { "Next →" } }
            }
        }
    };
    Ok(respond(StatusCode::OK, layout("Flags", Some(&w), body)))
}
