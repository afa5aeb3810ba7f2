//! A flag's regexes, and the one matcher every regex of hanoi uses
//! (`REGISTER REGEX` and the `MATCHES` of rules).
//!
//! Each pattern is compiled once, when it is written, into a **full DFA**
//! (regex-automata's dense DFA). Matching is then one table step per byte
//! of input, whatever the pattern: no lazy-DFA cache that can miss, no slow
//! engine to fall back to. An input is at most [`MAX_ID_LEN`] bytes (a
//! longer id or attribute value never matches a regex), so one pattern
//! costs at most that many steps per evaluation; [`Limits::max_regex_work`]
//! bounds how many patterns one flag may hold in those steps. The price is
//! paid at the write: a pattern whose DFA would be larger than
//! `hanoi.regex-size-limit` is refused there (`(a|b)*a(a|b){20}`), and so
//! is a Unicode word boundary (`\b`), which no DFA can decide on
//! non-ASCII input: `(?-u:\b)` is the ASCII one.
//!
//! Why not one `RegexSet`: adding or removing one pattern recompiled all of
//! them. Here a pattern is compiled when it is added and dropped when it is
//! removed.
//!
//! [`Limits::max_regex_work`]: crate::Limits::max_regex_work

use std::collections::HashSet;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::util::syntax;
use regex_automata::Input;

use crate::Error;

/// Regexes only see ids (and attribute values) of at most this many bytes:
/// a longer one never matches a regex (it can still be registered, be in
/// the percentage, or match another condition). Ids are user ids, emails,
/// UUIDs: far shorter. With the DFA, this cap is what bounds the time of
/// one match: at most this many table steps.
pub const MAX_ID_LEN: usize = 1024;

/// One pattern as a full DFA, searching anywhere in its input (like
/// Python's `re.search` over the raw bytes).
#[derive(Debug, Clone)]
pub struct Matcher(dense::DFA<Vec<u32>>);

impl Matcher {
    /// Does the pattern match somewhere in `hay`? An input longer than
    /// [`MAX_ID_LEN`] never matches. Stops at the first match.
    #[inline]
    pub fn is_match(&self, hay: &[u8]) -> bool {
        // An error is a quit byte: only DFAs of stored patterns with a
        // Unicode word boundary have them (non-ASCII input): no match.
        visible(hay)
            && matches!(
                self.0.try_search_fwd(&Input::new(hay).earliest(true)),
                Ok(Some(_))
            )
    }

    /// Heap bytes of the DFA.
    pub fn memory_usage(&self) -> usize {
        self.0.memory_usage()
    }
}

/// One pattern, as given and compiled.
#[derive(Debug, Clone)]
struct Pattern {
    source: String,
    re: Matcher,
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
pub(crate) fn pattern_text(raw: &[u8]) -> Result<&str, Error> {
    let pattern = std::str::from_utf8(raw).map_err(|_| Error::InvalidRegex {
        pattern: raw.escape_ascii().to_string(),
        reason: "pattern is not valid UTF-8 (match raw bytes with (?-u:\\xFF))".into(),
    })?;
    if pattern.is_empty() {
        return Err(Error::EmptyRegex);
    }
    Ok(pattern)
}

/// Compiles one pattern as `regex::bytes::Regex` would read it (Unicode on,
/// inputs may be any bytes) into a DFA of at most `size_limit` bytes.
///
/// `stored`: the pattern was accepted before (RDB, RESTORE, AOF, a
/// primary): a Unicode word boundary is then let through (it makes a
/// non-ASCII input not match) rather than make stored data unloadable.
pub(crate) fn compile(pattern: &str, size_limit: usize, stored: bool) -> Result<Matcher, Error> {
    let invalid = |reason: String| Error::InvalidRegex {
        pattern: pattern.to_owned(),
        reason,
    };
    dense::Builder::new()
        .syntax(syntax::Config::new().utf8(false))
        .thompson(
            thompson::Config::new()
                .utf8(false)
                .shrink(true)
                // A DFA is built from the NFA: a large NFA is what makes
                // the build slow (`.{400}x`, Unicode `.` each a UTF-8
                // automaton), so it gets an eighth of the budget.
                .nfa_size_limit(Some(size_limit / 8))
                .which_captures(WhichCaptures::None),
        )
        .configure(
            dense::Config::new()
                .start_kind(StartKind::Unanchored)
                .minimize(false)
                .unicode_word_boundary(stored)
                .dfa_size_limit(Some(size_limit))
                .determinize_size_limit(Some(size_limit)),
        )
        .build(pattern)
        .map(Matcher)
        .map_err(|e| invalid(reason(&e)))
}

/// The error and its causes, with the limit named the way users set it.
fn reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    if out.contains("Unicode word boundar") {
        return "a Unicode word boundary (\\b, \\B) cannot be matched in bounded time; \
                use the ASCII one, (?-u:\\b)"
            .into();
    }
    if out.contains("exceeded") {
        out.push_str(
            " (over the size limit of one compiled regex, hanoi.regex-size-limit: \
             Unicode classes such as \\w or . are large, (?-u:\\w) and (?-u:.) are the ASCII \
             ones; a pattern such as (a|b)*a(a|b){20} grows exponentially as a DFA)",
        );
    }
    out
}

/// Is `id` short enough for regexes to see it?
#[inline]
pub(crate) fn visible(id: &[u8]) -> bool {
    id.len() <= MAX_ID_LEN
}

impl Regexes {
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

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
            let re = compile(&source, stored_limit, true)?;
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
    ) -> Result<Vec<(String, Matcher)>, Error> {
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
            let re = compile(pattern, size_limit, false)?;
            seen.insert(pattern);
            new.push((pattern.to_owned(), re));
        }
        Ok(new)
    }

    /// Appends what [`Regexes::prepare_add`] compiled; cannot fail.
    pub(crate) fn commit_add(&mut self, new: Vec<(String, Matcher)>) -> usize {
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

    /// Heap bytes: the DFAs as regex-automata measures them, and the text.
    pub(crate) fn heap_size(&self) -> usize {
        self.list.capacity() * std::mem::size_of::<Pattern>()
            + self
                .list
                .iter()
                .map(|p| p.re.memory_usage() + p.source.capacity())
                .sum::<usize>()
    }
}
