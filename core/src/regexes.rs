//! A flag's regexes: each pattern compiled on its own, once.
//!
//! Why not one `RegexSet`: adding or removing one pattern recompiled all of
//! them (64 large patterns: ~0.8 s per write, and as long for every reload),
//! and one big automaton over many large patterns overflowed its lazy-DFA
//! cache and fell back to the slow engine (7 s on a 1 MB id). Here a pattern
//! is compiled when it is added and dropped when it is removed; its lazy-DFA
//! cache is bounded ([`CACHE_CAPACITY`]); and regexes only see ids of at most
//! [`MAX_ID_LEN`] bytes, so no id, however long, makes evaluation slow.

use std::collections::HashSet;

use regex_automata::meta;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;

use crate::Error;

/// Regexes only see ids of at most this many bytes: a longer id never
/// matches a regex (it can still be registered, be in the percentage, or
/// match a rule). Ids are user ids, emails, UUIDs: far shorter. The cap is
/// what bounds the time of an evaluation whatever the id.
pub const MAX_ID_LEN: usize = 1024;

/// The lazy DFA cache of one pattern holds at most this many bytes.
pub const CACHE_CAPACITY: usize = 256 * 1024;

/// One compiled pattern.
#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    re: meta::Regex,
}

/// The patterns of a flag, in the order they were added.
#[derive(Debug, Clone, Default)]
pub(crate) struct Regexes {
    list: Vec<Pattern>,
}

impl PartialEq for Regexes {
    fn eq(&self, other: &Self) -> bool {
        self.list.len() == other.list.len()
            && self
                .list
                .iter()
                .zip(&other.list)
                .all(|(a, b)| a.source == b.source)
    }
}

/// Checks a raw pattern argument: UTF-8 and not empty.
fn pattern_text(raw: &[u8]) -> Result<&str, Error> {
    let pattern = std::str::from_utf8(raw).map_err(|_| Error::InvalidRegex {
        pattern: raw.escape_ascii().to_string(),
        reason: "pattern is not valid UTF-8 (match raw bytes with (?-u:\\xFF))".into(),
    })?;
    if pattern.is_empty() {
        return Err(Error::EmptyRegex);
    }
    Ok(pattern)
}

/// Compiles one pattern as `regex::bytes::Regex` would (Unicode on, ids may
/// be any bytes), within `size_limit` bytes of automaton.
pub(crate) fn compile(pattern: &str, size_limit: usize) -> Result<meta::Regex, Error> {
    meta::Regex::builder()
        .syntax(syntax::Config::new().utf8(false))
        .configure(
            // Only what `is_match` uses: the lazy DFA, the PikeVM behind it,
            // prefilters. The one-pass, backtracking and full-DFA engines
            // serve captures or tiny patterns and would only cost build time
            // and memory.
            meta::Config::new()
                .utf8_empty(false)
                .nfa_size_limit(Some(size_limit))
                .onepass(false)
                .backtrack(false)
                .dfa(false)
                .hybrid_cache_capacity(CACHE_CAPACITY)
                .which_captures(WhichCaptures::None),
        )
        .build(pattern)
        .map_err(|e| Error::InvalidRegex {
            pattern: pattern.to_owned(),
            reason: reason(&e),
        })
}

/// The error and its causes ("error building NFA: exceeded size limit of
/// 262144"), with the limit named the way users set it.
fn reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    if out.contains("exceeded") {
        out.push_str(" (the compiled size limit, hanoi.regex-size-limit)");
    }
    out
}

/// Is `id` short enough for regexes to see it?
#[inline]
pub(crate) fn visible(id: &[u8]) -> bool {
    id.len() <= MAX_ID_LEN
}

impl Regexes {
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn sources(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.list.iter().map(|p| p.source.as_str())
    }

    /// Rebuilds stored patterns (RDB, AOF): they were accepted once, so only
    /// `stored_limit` applies, not today's options. Linear in the patterns.
    pub(crate) fn from_stored(patterns: Vec<String>, stored_limit: usize) -> Result<Self, Error> {
        let mut list = Vec::with_capacity(patterns.len());
        let mut seen = HashSet::with_capacity(patterns.len());
        for source in patterns {
            if source.is_empty() || !seen.insert(source.clone()) {
                return Err(Error::Corrupt);
            }
            let re = compile(&source, stored_limit)?;
            list.push(Pattern { source, re });
        }
        Ok(Regexes { list })
    }

    /// Compiles the new patterns among `raw`, all or nothing: nothing changes
    /// unless every one is valid and the flag stays within `max`. Each
    /// pattern is compiled once; duplicates are skipped in O(1).
    pub(crate) fn prepare_add<'a>(
        &self,
        raw: impl IntoIterator<Item = &'a [u8]>,
        size_limit: usize,
        max: usize,
    ) -> Result<Vec<(String, meta::Regex)>, Error> {
        let mut seen: HashSet<&str> = self.sources().collect();
        let mut new = Vec::new();
        for raw in raw {
            let pattern = pattern_text(raw)?;
            if seen.contains(pattern) {
                continue;
            }
            if self.list.len() + new.len() >= max {
                return Err(Error::TooManyRegexes { limit: max });
            }
            let re = compile(pattern, size_limit)?;
            seen.insert(pattern);
            new.push((pattern.to_owned(), re));
        }
        Ok(new)
    }

    /// Appends what [`Regexes::prepare_add`] compiled; cannot fail.
    pub(crate) fn commit_add(&mut self, new: Vec<(String, meta::Regex)>) -> usize {
        let n = new.len();
        self.list
            .extend(new.into_iter().map(|(source, re)| Pattern { source, re }));
        n
    }

    /// Removes the patterns in `raw`; returns how many were there. Linear.
    pub(crate) fn remove<'a>(&mut self, raw: impl IntoIterator<Item = &'a [u8]>) -> usize {
        let gone: HashSet<&[u8]> = raw.into_iter().collect();
        let before = self.list.len();
        self.list.retain(|p| !gone.contains(p.source.as_bytes()));
        before - self.list.len()
    }

    /// Does any pattern match `id`? Ids longer than [`MAX_ID_LEN`] never do.
    #[inline]
    pub(crate) fn is_match(&self, id: &[u8]) -> bool {
        visible(id) && self.list.iter().any(|p| p.re.is_match(id))
    }

    /// The first pattern, in order, that matches `id`.
    pub(crate) fn first_match(&self, id: &[u8]) -> Option<&str> {
        if !visible(id) {
            return None;
        }
        self.list
            .iter()
            .find(|p| p.re.is_match(id))
            .map(|p| p.source.as_str())
    }

    /// Heap bytes: the compiled automata as regex-automata measures them,
    /// the bound on each lazy-DFA cache, and the pattern text.
    pub(crate) fn heap_size(&self) -> usize {
        self.list.capacity() * std::mem::size_of::<Pattern>()
            + self
                .list
                .iter()
                .map(|p| p.re.memory_usage() + CACHE_CAPACITY + p.source.capacity())
                .sum::<usize>()
    }
}
