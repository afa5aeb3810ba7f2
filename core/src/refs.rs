//! References between keys: a flag's **prerequisites** (flags that must be
//! on for the same id first) and its rules' `segment IN` conditions
//! (**segments**: keys of the flag type whose answer is membership).
//!
//! The core never opens a key: whoever stores flags (the module's keys,
//! [`crate::Rollout`], the Python binding) gives a [`Lookup`], and one
//! evaluation carries it in its [`crate::Query`] as [`Refs`], which also
//! bounds the work: at most [`MAX_DEPTH`] levels and [`MAX_STEPS`] referenced
//! evaluations; past either (a chain too deep, a cycle that arrived without
//! the write's check, a fan-out too wide) the evaluation answers off with
//! reason `error`.

use std::cell::Cell;
use std::collections::HashSet;

use crate::{quote, Error, Flag, Query};

/// Levels of references one evaluation follows (flags and segments together).
pub const MAX_DEPTH: u8 = 8;

/// Referenced evaluations one top-level evaluation may make.
pub const MAX_STEPS: u32 = 256;

/// References the write's cycle check follows, in all.
const WALK_BUDGET: u32 = 4096;

/// Segments one `segment IN`/`NOTIN` condition may name.
pub const MAX_SEGMENTS_PER_CONDITION: usize = 64;

/// Where the flags are: the store gives this to an evaluation.
pub trait Lookup {
    /// Runs `f` on the flag stored under `key` (`None`: no such key, or a
    /// key that holds no flag).
    fn with_flag(&self, key: &[u8], f: &mut dyn FnMut(Option<&Flag>));

    /// A referenced flag was evaluated (`on`, the variant's index): the
    /// store counts it on that flag as it counts its own evaluations.
    fn evaluated(&self, _flag: &Flag, _on: bool, _variant: Option<usize>) {}
}

/// No store: every reference is missing (and fails closed).
pub struct NoLookup;

impl Lookup for NoLookup {
    fn with_flag(&self, _key: &[u8], f: &mut dyn FnMut(Option<&Flag>)) {
        f(None)
    }
}

/// What went wrong following references: the evaluation answers `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// More than [`MAX_DEPTH`] levels, or a cycle.
    TooDeep,
    /// More than [`MAX_STEPS`] referenced evaluations.
    TooMany,
}

impl Fault {
    /// The detail `EXPLAIN` gives.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::TooDeep => "more than 8 levels of prerequisites and segments, or a cycle",
            Fault::TooMany => "more than 256 prerequisite and segment evaluations",
        }
    }
}

/// One top-level evaluation's references: the store, and what following
/// them found (a fault, a missing segment, an answer that needs the id).
pub struct Refs<'a> {
    lookup: &'a dyn Lookup,
    steps: Cell<u32>,
    fault: Cell<Option<Fault>>,
    needs_id: Cell<bool>,
}

impl<'a> Refs<'a> {
    pub fn new(lookup: &'a dyn Lookup) -> Refs<'a> {
        Refs {
            lookup,
            steps: Cell::new(0),
            fault: Cell::new(None),
            needs_id: Cell::new(false),
        }
    }

    /// The first fault met, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault.get()
    }

    pub(crate) fn set_needs_id(&self) {
        self.needs_id.set(true);
    }

    pub(crate) fn needs_id(&self) -> bool {
        self.needs_id.get()
    }

    pub(crate) fn lookup(&self) -> &'a dyn Lookup {
        self.lookup
    }
}

impl<'a> Query<'a> {
    /// Follows a reference: runs `f` on the flag under `key` with the query
    /// one level deeper; `or` when there is no store, or when a bound is
    /// passed (then the fault is kept and the evaluation answers `error`).
    #[inline]
    pub(crate) fn through<R>(
        &self,
        key: &[u8],
        or: R,
        f: impl FnOnce(Option<&Flag>, &Query<'a>) -> R,
    ) -> R {
        let Some(refs) = self.refs else {
            return or;
        };
        let fault = if self.depth >= MAX_DEPTH {
            Some(Fault::TooDeep)
        } else if refs.steps.get() >= MAX_STEPS {
            Some(Fault::TooMany)
        } else {
            None
        };
        if let Some(fault) = fault {
            if refs.fault.get().is_none() {
                refs.fault.set(Some(fault));
            }
            return or;
        }
        refs.steps.set(refs.steps.get() + 1);
        let inner = Query {
            depth: self.depth + 1,
            ..*self
        };
        let mut out = None;
        let mut f = Some(f);
        refs.lookup.with_flag(key, &mut |flag| {
            if let Some(f) = f.take() {
                out = Some(f(flag, &inner));
            }
        });
        out.unwrap_or(or)
    }

    /// The fault met so far in this evaluation.
    #[inline]
    pub(crate) fn fault(&self) -> Option<Fault> {
        self.refs.and_then(Refs::fault)
    }
}

/// A prerequisite: `HANOI.PREREQ key SET other [VARIANT v]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prereq {
    pub key: Vec<u8>,
    /// The variant `key` must serve, if any.
    pub variant: Option<Vec<u8>>,
}

impl Prereq {
    pub fn heap_size(&self) -> usize {
        self.key.capacity() + self.variant.as_ref().map_or(0, Vec::capacity)
    }
}

/// The references a write adds ([`crate::store::Write::references`]).
#[derive(Debug, Default)]
pub struct NewReferences<'w> {
    pub segments: Vec<&'w [u8]>,
    pub prereqs: Vec<&'w Prereq>,
    /// Each must exist and be of its kind (`RULE`, `PREREQ`); an import
    /// (a copy between environments) may name keys the target lacks yet.
    pub strict: bool,
}

impl NewReferences<'_> {
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.prereqs.is_empty()
    }

    /// Every key named.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.segments
            .iter()
            .copied()
            .chain(self.prereqs.iter().map(|p| p.key.as_slice()))
    }
}

/// Checks the references a write adds before it is applied: (when strict)
/// each segment named by a rule must be a segment, each prerequisite a flag
/// (not a segment) with the variant asked for; and following references
/// from them must not come back to `key` (a cycle, named in the error). The
/// written key itself is never opened (it is being written): reaching its
/// name is the cycle.
pub fn check_new_references(
    key: &[u8],
    new: &NewReferences<'_>,
    lookup: &dyn Lookup,
) -> Result<(), Error> {
    if let Some(k) = new.keys().find(|k| *k == key) {
        return Err(cycle(&[key, k]));
    }
    if new.strict {
        check_kinds(new, lookup)?;
    }
    // A depth-first walk from each new reference, at most MAX_DEPTH levels
    // and a bounded number of references followed (a flag may name tens of
    // thousands of segments in its rules): past the budget the walk stops,
    // and a cycle it did not reach answers `error` at evaluation.
    let mut walk = Walk {
        key,
        lookup,
        path: vec![key.to_vec()],
        seen: HashSet::new(),
        budget: WALK_BUDGET,
    };
    for start in new.keys() {
        walk.from(start)?;
    }
    Ok(())
}

fn check_kinds(new: &NewReferences<'_>, lookup: &dyn Lookup) -> Result<(), Error> {
    let (segments, prereqs) = (&new.segments, &new.prereqs);
    for s in segments {
        let mut ok = false;
        lookup.with_flag(s, &mut |f| ok = f.is_some_and(Flag::is_segment));
        if !ok {
            return Err(Error::Reference(format!(
                "'{}' is not a segment (create it with HANOI.DEFINE {} SEGMENT)",
                quote(s),
                quote(s)
            )));
        }
    }
    for p in prereqs.iter() {
        let mut found: Result<(), String> = Ok(());
        lookup.with_flag(&p.key, &mut |f| {
            found = match f {
                None => Err(format!(
                    "prerequisite '{}' is not a flag (no such key)",
                    quote(&p.key)
                )),
                Some(f) if f.is_segment() => Err(format!(
                    "prerequisite '{}' is a segment: use a rule with segment IN",
                    quote(&p.key)
                )),
                Some(f) => match &p.variant {
                    Some(v) if !f.definition().variants.contains(v) => Err(format!(
                        "prerequisite '{}' has no variant '{}'",
                        quote(&p.key),
                        quote(v)
                    )),
                    _ => Ok(()),
                },
            };
        });
        found.map_err(Error::Reference)?;
    }
    Ok(())
}

/// The write's cycle check: a depth-first walk that opens each key once
/// (a key explored without reaching the written one cannot reach it by
/// another path), at most [`WALK_BUDGET`] keys and [`MAX_DEPTH`] levels.
struct Walk<'a> {
    key: &'a [u8],
    lookup: &'a dyn Lookup,
    path: Vec<Vec<u8>>,
    seen: HashSet<Vec<u8>>,
    budget: u32,
}

impl Walk<'_> {
    fn from(&mut self, at: &[u8]) -> Result<(), Error> {
        if at == self.key {
            let mut names: Vec<&[u8]> = self.path.iter().map(Vec::as_slice).collect();
            names.push(self.key);
            return Err(cycle(&names));
        }
        if self.path.len() > usize::from(MAX_DEPTH) || self.budget == 0 {
            return Ok(());
        }
        if !self.seen.insert(at.to_vec()) {
            return Ok(());
        }
        self.budget -= 1;
        let mut next: Vec<Vec<u8>> = Vec::new();
        let (room, seen) = (self.budget as usize, &self.seen);
        self.lookup.with_flag(at, &mut |f| {
            if let Some(f) = f {
                next = f
                    .references()
                    .filter(|n| !seen.contains(*n))
                    .take(room)
                    .map(<[u8]>::to_vec)
                    .collect();
            }
        });
        self.path.push(at.to_vec());
        for n in &next {
            self.from(n)?;
        }
        self.path.pop();
        Ok(())
    }
}

fn cycle(names: &[&[u8]]) -> Error {
    let words: Vec<String> = names.iter().map(|n| quote(n)).collect();
    Error::Reference(format!(
        "a cycle of references: {} (a flag cannot depend on itself)",
        words.join(" -> ")
    ))
}
