//! The list of flags: every flag sorted (by name, last evaluation or
//! state), searched (name, description, owner and tags, case-insensitive)
//! and filtered by tag, `page_size` flags a page with the total.

use super::session::Who;
use super::time::{fmt_ms, now_ms, signed};
use super::{flag_url, layout, lossy, respond, state_badge, urlencode, Fail};
use crate::store::{self, Described, Store};
use crate::App;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use hanoi_core::reply::StatsReply;
use hanoi_core::Description;
use maud::html;
use std::collections::HashMap;
use std::sync::Arc;

struct Row {
    key: Vec<u8>,
    /// None: missing in the current environment (listed because another
    /// environment has it).
    flag: Option<Description>,
    stats: Option<StatsReply>,
}

/// A flag's state in one environment, for the list's column.
enum Cell {
    Flag { on: bool, pct: u8, ramp: bool },
    Missing,
    Unreachable,
}

impl Cell {
    fn of(f: Option<&Description>) -> Cell {
        match f {
            Some(f) => Cell::Flag {
                on: f.enabled,
                pct: f.effective_percentage,
                ramp: f.ramp.is_some(),
            },
            None => Cell::Missing,
        }
    }
}

/// What a row shows of a flag missing in this environment: off, nothing
/// registered, no metadata.
fn nothing() -> Description {
    Description {
        enabled: false,
        percentage: 0,
        effective_percentage: 0,
        variants: Vec::new(),
        weights: Vec::new(),
        salt: None,
        users: 0,
        blocked: 0,
        created_ms: 0,
        metadata: std::collections::BTreeMap::new(),
        rules: Vec::new(),
        window: None,
        ramp: None,
        regexes: Vec::new(),
        revision: 0,
        value_type: hanoi_core::ValueType::Boolean,
        values: Vec::new(),
        default: None,
        segment: false,
        prerequisites: Vec::new(),
        experiment: None,
    }
}

/// Each key's description in another environment (`HANOI.EXPORT NOIDS`);
/// an unreachable environment gives `Unreachable` for every key.
async fn cells_in(store: &Store, keys: &[Vec<u8>]) -> Vec<Cell> {
    match store
        .per_key(keys, |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            1
        })
        .await
    {
        Ok(replies) => keys
            .iter()
            .enumerate()
            .map(|(i, _)| {
                Cell::of(
                    replies
                        .get(i)
                        .and_then(|r| r.first())
                        .and_then(store::flag_from_export)
                        .as_ref(),
                )
            })
            .collect(),
        Err(_) => keys.iter().map(|_| Cell::Unreachable).collect(),
    }
}

pub(super) fn is_stale(stats: Option<&StatsReply>, stale_days: u64) -> bool {
    let Some(s) = stats else { return false };
    let limit = now_ms().saturating_sub((stale_days as i64).saturating_mul(86_400_000));
    signed(s.last_evaluated_ms.unwrap_or(s.since_ms)) < limit
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
/// pipelined); keys that are gone meanwhile are left out (kept, without a
/// flag, with `keep_missing`: other environments have them).
async fn rows_of(store: &Store, keys: &[Vec<u8>], keep_missing: bool) -> Result<Vec<Row>, Fail> {
    let replies = store
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
            let flag = r.first().and_then(store::flag_from_export);
            if flag.is_none() && !keep_missing {
                return None;
            }
            Some(Row {
                key: k.clone(),
                flag,
                stats: r.get(1).and_then(store::stats_reply),
            })
        })
        .collect())
}

/// Whether a flag matches the search words (each, case-insensitively, in
/// its name, description, owner or tags) and the tag (case-insensitive).
fn matches(r: &Row, words: &[String], tag: &str) -> bool {
    let none = nothing();
    let flag = r.flag.as_ref().unwrap_or(&none);
    let tags = flag.tags();
    if !tag.is_empty() && !tags.iter().any(|t| t.to_lowercase() == tag) {
        return false;
    }
    let hay = [
        lossy(&r.key),
        flag.meta("description").unwrap_or_default(),
        flag.meta("owner").unwrap_or_default(),
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
    let store = &w.env(&app).store;
    // Every environment's flags (more than one environment): the list is
    // their union; an unreachable environment is marked, the others shown.
    let mut down: Vec<bool> = vec![false; app.envs.len()];
    let keys = if w.multi {
        let lists =
            futures_util::future::join_all(app.envs.iter().map(|e| e.store.all_flags(b"*"))).await;
        let mut all = std::collections::BTreeSet::new();
        for (i, l) in lists.into_iter().enumerate() {
            match l {
                Ok(keys) => all.extend(keys),
                Err(_) => down[i] = true,
            }
        }
        all.into_iter().collect::<Vec<_>>()
    } else {
        store.all_flags(b"*").await?
    };
    let rows_here = |keys: Vec<Vec<u8>>| {
        let here_down = down[w.env];
        async move {
            if here_down {
                return Ok(keys
                    .into_iter()
                    .map(|key| Row {
                        key,
                        flag: None,
                        stats: None,
                    })
                    .collect());
            }
            rows_of(store, &keys, w.multi).await
        }
    };
    let (total, rows) = if words.is_empty() && tag.is_empty() && sort == Sort::Name {
        let from = (page - 1).saturating_mul(size).min(keys.len());
        let to = from.saturating_add(size).min(keys.len());
        (keys.len(), rows_here(keys[from..to].to_vec()).await?)
    } else {
        let mut all: Vec<Row> = rows_here(keys.clone())
            .await?
            .into_iter()
            .filter(|r| matches(r, &words, &tag.to_lowercase()))
            .collect();
        match sort {
            Sort::Name => {}
            Sort::Evaluated => all.sort_by_key(|r| {
                std::cmp::Reverse(r.stats.as_ref().and_then(|s| s.last_evaluated_ms))
            }),
            Sort::State => all.sort_by_key(|r| !r.flag.as_ref().is_some_and(|f| f.enabled)),
        }
        let total = all.len();
        let from = (page - 1).saturating_mul(size).min(total);
        let rows: Vec<Row> = all.into_iter().skip(from).take(size).collect();
        (total, rows)
    };
    // Each environment's state of the page's flags (more than one).
    let page_keys: Vec<Vec<u8>> = rows.iter().map(|r| r.key.clone()).collect();
    let columns: Vec<Vec<Cell>> = if w.multi {
        futures_util::future::join_all(app.envs.iter().enumerate().map(|(i, e)| {
            let page_keys = &page_keys;
            let rows = &rows;
            let is_down = down[i];
            async move {
                if is_down {
                    page_keys.iter().map(|_| Cell::Unreachable).collect()
                } else if i == w.env {
                    rows.iter().map(|r| Cell::of(r.flag.as_ref())).collect()
                } else {
                    cells_in(&e.store, page_keys).await
                }
            }
        }))
        .await
    } else {
        Vec::new()
    };
    let none = nothing();
    let pages = total.div_ceil(size).max(1);
    let first = (page - 1).saturating_mul(size);
    let url = |page: usize, sort: Sort| {
        w.link(&format!(
            "/flags?q={}&tag={}&sort={}&page={page}",
            urlencode(&search),
            urlencode(&tag),
            sort.as_str()
        ))
    };
    let sort_link = |s: Sort, label: &'static str| {
        html! {
            @if sort == s { span aria-current="true" { (label) " ▾" } }
            @else { a href=(url(1, s)) title={"sort by " (label)} { (label) } }
        }
    };
    let body = html! {
        h1 { "Flags" }
        @for (i, e) in app.envs.iter().enumerate() {
            @if down[i] { div.msg.err.unreachable role="alert" id={"unreachable-" (e.name)} { "The environment " strong { (e.name) } " is unreachable: its column is marked, the other environments are shown." } }
        }
        @if q.contains_key("deleted") { div.msg.ok role="status" { "The flag was deleted." } }
        form.row.filters method="get" action="/flags" role="search" {
            label { span.sr-only { "Search flags" }
                input type="search" name="q" id="search" placeholder="name, description, owner, tag…" value=(search); }
            label { span.sr-only { "Tag" }
                input type="text" name="tag" id="tag" placeholder="tag" value=(tag); }
            input type="hidden" name="sort" value=(sort.as_str());
            (w.env_fields(true))
            button type="submit" { "Filter" }
            @if !search.is_empty() || !tag.is_empty() { a href=(w.link("/flags")) { "clear" } }
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
                th { "name" }
                @if w.multi { @for e in &app.envs { th.env-col scope="col" { (e.name) } } }
                @else { th { "state" } th { "%" } }
                th.wide { "users" } th.wide { "regexes" } th.wide { "rules" }
                th.wide { "blocked" } th.wide { "variants" } th.wide { "description" } th.wide { "owner" } th.wide { "tags" } th { "last evaluated" }
            } }
            tbody {
                @for (ri, r) in rows.iter().enumerate() {
                    @let flag = r.flag.as_ref().unwrap_or(&none);
                    tr {
                        @let stale = html! { @if is_stale(r.stats.as_ref(), app.config.stale_days) { " " span.badge.stale title={"not evaluated for " (app.config.stale_days) " days"} { "stale" } } };
                        td.name { a href=(w.link(&flag_url(&r.key))) { (lossy(&r.key)) }
                            @if flag.segment { " " a.badge.segment href=(w.link("/segments")) title="a segment: its answer is membership" { "segment" } }
                            @if w.multi { (stale) } }
                        @if w.multi {
                            @for (ei, e) in app.envs.iter().enumerate() {
                                td.env-state data-env=(e.name) {
                                    @match columns.get(ei).and_then(|c| c.get(ri)) {
                                        Some(Cell::Flag { on, pct, ramp }) => {
                                            a href=(super::session::env_link(true, &e.name, &flag_url(&r.key))) { (state_badge(*on)) " " (pct) " %" @if *ramp { " " span.muted { "(ramp)" } } }
                                        }
                                        Some(Cell::Missing) => span.badge.missing title={"no flag " (lossy(&r.key)) " in " (e.name)} { "missing" },
                                        _ => span.badge.unreachable title={(e.name) " is unreachable"} { "unreachable" },
                                    }
                                }
                            }
                        } @else {
                        td { (state_badge(flag.enabled)) (stale) }
                        td { (flag.effective_percentage) @if flag.ramp.is_some() { " " span.muted title={"on a ramp; set: " (flag.percentage) " %"} { "(ramp)" } } }
                        }
                        td.wide { (flag.users) }
                        td.wide { (flag.regexes.len()) }
                        td.wide { (flag.rules.len()) }
                        td.wide { (flag.blocked) }
                        td.wide { @for (i, v) in flag.variants.iter().enumerate() { @if i > 0 { ", " } code { (lossy(v)) } } }
                        td.wide { (flag.meta("description").unwrap_or_default()) }
                        td.wide { (flag.meta("owner").unwrap_or_default()) }
                        td.wide { @for t in flag.tags() { a.badge.tag href=(w.link(&format!("/flags?tag={}", urlencode(&t)))) { (t) } " " } }
                        td { @match r.stats.as_ref().and_then(|s| s.last_evaluated_ms) {
                            Some(t) => (fmt_ms(signed(t))),
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
