//! Experiments (issue 35): a flag's random split as an A/B test, recorded
//! next to the flag.
//!
//! - `HANOI.EXPERIMENT START` fixes the **arms** (a boolean flag's `off` and
//!   `on`, else its variants, by name), the control and the metrics;
//!   `STOP` stops recording and keeps the data.
//! - `HANOI.ASSIGN` evaluates like `HANOI.RESOLVE` and, while the experiment
//!   runs, records an id's **first exposure** (arm, time) when its answer
//!   came from the random split: a boolean flag's bucket (reason
//!   `percentage`: arm `on`, `outside`: arm `off`), a variant flag's pick
//!   for an id on for everyone or by percentage (reasons `all` and
//!   `percentage`). Ids answered by targeting (registered, blocked, regex,
//!   rules) were not randomized and are not recorded.
//! - **Sticky**: while it runs, an exposed id keeps its arm in every read,
//!   after the switch, the window and the deny list (a kill switch still
//!   wins); its reason is the split's (`percentage` on, `outside` off).
//! - `HANOI.TRACK` adds a value to an exposed id's total for a metric.
//!
//! Storage: [`Exposures`], one arena of entries `varint len ++ id ++ varint
//! arm ++ varint ms since the start`, appended and never moved (exposures
//! are only ever added, or all dropped by a `RESET`), indexed by an
//! open-addressing table of `u32` offsets with a byte of hash tag beside
//! each: about `id + 6` bytes of arena and 7-10 bytes of table an exposure.
//! Conversions are a map from (exposure, metric) to the unit's total; each
//! arm's sums are kept up to date, so `RESULTS` is O(arms × metrics).

use std::collections::HashMap;

use crate::idset::{hash_bytes, KeyedState, Seed};
use crate::{parse_int, quote, Error, Flag, Query, Reason};

/// Metrics one experiment may declare.
pub const MAX_METRICS: usize = 32;
/// Bytes of one metric's name.
pub const MAX_METRIC_BYTES: usize = 256;
/// The largest value `TRACK` adds, and the largest total of one unit for a
/// metric: 2^53 (exact in a double, so every client reads it as it is).
pub const MAX_VALUE: u64 = 1 << 53;
/// The arena's offsets are `u32`s: one experiment holds at most this many
/// bytes of exposures (4 GiB).
const MAX_ARENA: usize = u32::MAX as usize - 1;

// ----- varints -----

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A varint at `pos`: the value and the position after it; `None` when
/// the bytes end first or it is longer than 10 bytes.
pub(crate) fn get_varint(b: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let byte = *b.get(pos)?;
        pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((v, pos));
        }
    }
    None
}

/// One exposure as the arena holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure<'a> {
    pub id: &'a [u8],
    /// The arm's index.
    pub arm: usize,
    /// Milliseconds after the experiment's start.
    pub after_ms: u64,
}

/// Reads the entry at `pos`: it and the position after it.
fn read_entry(arena: &[u8], pos: usize) -> Option<(Exposure<'_>, usize)> {
    let (len, p) = get_varint(arena, pos)?;
    let end = p.checked_add(usize::try_from(len).ok()?)?;
    let id = arena.get(p..end)?;
    let (arm, p) = get_varint(arena, end)?;
    let (after_ms, p) = get_varint(arena, p)?;
    Some((
        Exposure {
            id,
            arm: usize::try_from(arm).ok()?,
            after_ms,
        },
        p,
    ))
}

// ----- the exposure table -----

/// The exposed ids, each once with its arm and time, in the order they were
/// exposed. See the module docs for the layout.
#[derive(Clone)]
pub struct Exposures {
    arena: Vec<u8>,
    /// Arena offset + 1 of each entry; 0 is empty.
    slots: Vec<u32>,
    /// A byte of each slot's hash (its low bits), read before the arena.
    tags: Vec<u8>,
    len: usize,
    seed: Seed,
}

impl Default for Exposures {
    fn default() -> Self {
        Exposures {
            arena: Vec::new(),
            slots: Vec::new(),
            tags: Vec::new(),
            len: 0,
            seed: Seed::new(),
        }
    }
}

impl std::fmt::Debug for Exposures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposures").field("len", &self.len).finish()
    }
}

/// Equal when they hold the same exposures in the same order.
impl PartialEq for Exposures {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.arena == other.arena
    }
}
impl Eq for Exposures {}

#[inline]
fn home(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

impl Exposures {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.arena.capacity() + self.slots.capacity() * 4 + self.tags.capacity()
    }

    #[inline]
    fn tag(hash: u64) -> u8 {
        (hash as u8) | 1
    }

    /// The slot of `id` (and its arena offset), or the empty slot where it
    /// would go.
    #[inline]
    fn find(&self, id: &[u8], hash: u64) -> (usize, Option<usize>) {
        let n = self.slots.len();
        let tag = Self::tag(hash);
        let mut i = home(hash, n);
        loop {
            let s = self.slots[i];
            if s == 0 {
                return (i, None);
            }
            if self.tags[i] == tag {
                let at = s as usize - 1;
                if read_entry(&self.arena, at).is_some_and(|(e, _)| e.id == id) {
                    return (i, Some(at));
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
    }

    /// The arena offset of `id`'s exposure.
    #[inline]
    pub fn offset(&self, id: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        self.find(id, hash_bytes(self.seed, id)).1
    }

    /// `id`'s exposure.
    #[inline]
    pub fn get(&self, id: &[u8]) -> Option<Exposure<'_>> {
        self.at(self.offset(id)?)
    }

    /// The exposure at an arena offset.
    pub fn at(&self, offset: usize) -> Option<Exposure<'_>> {
        read_entry(&self.arena, offset).map(|(e, _)| e)
    }

    /// Adds `id`'s exposure unless it has one; returns its offset when it
    /// is new. Refused when the arena would pass 4 GiB.
    pub fn insert(&mut self, id: &[u8], arm: usize, after_ms: u64) -> Result<Option<usize>, Error> {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            let n = ((self.len + 1) * 4 / 3 + 1)
                .max(self.slots.len() * 3 / 2)
                .max(8);
            self.resize(n);
        }
        let hash = hash_bytes(self.seed, id);
        let (i, found) = self.find(id, hash);
        if found.is_some() {
            return Ok(None);
        }
        let need = id.len() + 30;
        if self.arena.len() + need > MAX_ARENA {
            return Err(Error::Usage(
                "this experiment holds 4 GiB of exposures, its most: STOP it".into(),
            ));
        }
        if self.arena.capacity() - self.arena.len() < need {
            // A quarter more, not double: less slack at a million exposures.
            self.arena
                .reserve_exact(need.max(self.arena.len() / 4 + 64));
        }
        let at = self.arena.len();
        put_varint(&mut self.arena, id.len() as u64);
        self.arena.extend_from_slice(id);
        put_varint(&mut self.arena, arm as u64);
        put_varint(&mut self.arena, after_ms);
        self.slots[i] = at as u32 + 1;
        self.tags[i] = Self::tag(hash);
        self.len += 1;
        Ok(Some(at))
    }

    /// A new table of `n` slots over the same arena.
    fn resize(&mut self, n: usize) {
        self.slots = vec![0; n];
        self.tags = vec![0; n];
        let mut pos = 0;
        while let Some((e, next)) = read_entry(&self.arena, pos) {
            let hash = hash_bytes(self.seed, e.id);
            let mut i = home(hash, n);
            while self.slots[i] != 0 {
                i = if i + 1 == n { 0 } else { i + 1 };
            }
            self.slots[i] = pos as u32 + 1;
            self.tags[i] = Self::tag(hash);
            pos = next;
        }
    }

    /// The exposures from arena offset `cursor` on, at most `count`, in the
    /// order they were made, and the offset to go on from (0: the end).
    /// `None` when `cursor` is not where an exposure starts.
    pub fn page(&self, cursor: usize, count: usize) -> Option<(Vec<Exposure<'_>>, usize)> {
        if cursor >= self.arena.len() {
            return Some((Vec::new(), 0));
        }
        if cursor != 0 {
            let e = self.at(cursor)?;
            if self.offset(e.id) != Some(cursor) {
                return None;
            }
        }
        let mut out = Vec::with_capacity(count.min(1024));
        let mut pos = cursor;
        while out.len() < count {
            let Some((e, next)) = read_entry(&self.arena, pos) else {
                break;
            };
            out.push(e);
            pos = next;
        }
        Some((out, if pos >= self.arena.len() { 0 } else { pos }))
    }

    /// Every exposure with its offset, in order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, Exposure<'_>)> + '_ {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let (e, next) = read_entry(&self.arena, pos)?;
            let at = pos;
            pos = next;
            Some((at, e))
        })
    }

    /// The arena in chunks of about `max` bytes, cut between entries (the
    /// stored form).
    pub fn chunks(&self, max: usize) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let (mut start, mut pos) = (0, 0);
        while let Some((_, next)) = read_entry(&self.arena, pos) {
            pos = next;
            if pos - start >= max {
                out.push(&self.arena[start..pos]);
                start = pos;
            }
        }
        if pos > start {
            out.push(&self.arena[start..pos]);
        }
        out
    }
}

// ----- the experiment -----

/// One metric's sums over one arm's units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricSums {
    /// Exposed units with a conversion.
    pub converted: u64,
    /// The sum of their totals.
    pub sum: u128,
    /// The sum of the squares of their totals.
    pub sum_squares: u128,
}

/// One arm's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmResults {
    pub exposures: u64,
    /// One per metric, in the experiment's order.
    pub metrics: Vec<MetricSums>,
}

/// An experiment on a flag: what `START` fixed, and the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Experiment {
    running: bool,
    started_ms: u64,
    /// 0 while it runs.
    stopped_ms: u64,
    /// Arms `off` and `on` (a boolean flag), else the flag's variants.
    boolean: bool,
    arms: Vec<Vec<u8>>,
    control: usize,
    metrics: Vec<Vec<u8>>,
    exposures: Exposures,
    /// (offset << 5 | metric) → the unit's total.
    conversions: HashMap<u64, u64, KeyedState>,
    results: Vec<ArmResults>,
}

#[inline]
fn conversion_key(offset: usize, metric: usize) -> u64 {
    ((offset as u64) << 5) | metric as u64
}

/// An exposure as read out: (id, arm's name, Unix ms).
pub type Row<'a> = (&'a [u8], &'a [u8], u64);

/// What `HANOI.EXPERIMENT START`/`STOP` ask, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    Start {
        control: Option<&'a [u8]>,
        metrics: Vec<&'a [u8]>,
        reset: bool,
    },
    Stop,
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

fn kw(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

impl<'a> Change<'a> {
    /// `START [CONTROL arm] METRICS count metric... [RESET]` or `STOP`.
    pub fn parse(args: &[&'a [u8]]) -> Result<Change<'a>, Error> {
        let [what, rest @ ..] = args else {
            return Err(Error::WrongArity);
        };
        if kw(what, "STOP") {
            return if rest.is_empty() {
                Ok(Change::Stop)
            } else {
                Err(usage("expected HANOI.EXPERIMENT key STOP"))
            };
        }
        if !kw(what, "START") {
            return Err(usage(format!(
                "expected START or STOP, got '{}'",
                quote(what)
            )));
        }
        let (mut control, mut metrics, mut reset) = (None, None, false);
        let mut i = 0;
        while i < rest.len() {
            let w = rest[i];
            if kw(w, "CONTROL") && control.is_none() {
                control = Some(
                    *rest
                        .get(i + 1)
                        .ok_or_else(|| usage("CONTROL needs an arm"))?,
                );
                i += 2;
            } else if kw(w, "RESET") && !reset {
                reset = true;
                i += 1;
            } else if kw(w, "METRICS") && metrics.is_none() {
                let n = rest
                    .get(i + 1)
                    .and_then(|n| parse_int(n))
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=MAX_METRICS).contains(n))
                    .ok_or_else(|| {
                        usage(format!(
                            "METRICS needs a count from 1 to {MAX_METRICS}, then the metrics"
                        ))
                    })?;
                let names = rest
                    .get(i + 2..i + 2 + n)
                    .ok_or_else(|| usage(format!("METRICS {n} needs {n} metric names")))?;
                for (k, m) in names.iter().enumerate() {
                    if m.is_empty() || m.len() > MAX_METRIC_BYTES {
                        return Err(usage(format!(
                            "a metric's name is 1 to {MAX_METRIC_BYTES} bytes"
                        )));
                    }
                    if names[..k].contains(m) {
                        return Err(usage(format!("metric '{}' given twice", quote(m))));
                    }
                }
                metrics = Some(names.to_vec());
                i += 2 + n;
            } else {
                return Err(usage(format!(
                    "expected CONTROL, METRICS or RESET (each once), got '{}'",
                    quote(w)
                )));
            }
        }
        let metrics = metrics.ok_or_else(|| {
            usage("expected HANOI.EXPERIMENT key START [CONTROL arm] METRICS count metric [metric ...] [RESET]")
        })?;
        Ok(Change::Start {
            control,
            metrics,
            reset,
        })
    }
}

/// A `TRACK` value: an integer from 0 to [`MAX_VALUE`].
pub fn parse_value(s: &[u8]) -> Result<u64, Error> {
    parse_int(s)
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v <= MAX_VALUE)
        .ok_or_else(|| {
            usage(format!(
                "a TRACK value is an integer from 0 to {MAX_VALUE} (count in whole units: cents, ms)"
            ))
        })
}

/// What an id's answer from the split is served while it is sticky.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sticky {
    pub enabled: bool,
    pub variant: Option<usize>,
}

impl Experiment {
    /// A new experiment on a flag with these variants.
    fn new(
        variants: &[Vec<u8>],
        control: Option<&[u8]>,
        metrics: &[&[u8]],
        now_ms: u64,
    ) -> Result<Experiment, Error> {
        let boolean = variants.is_empty();
        let arms: Vec<Vec<u8>> = if boolean {
            vec![b"off".to_vec(), b"on".to_vec()]
        } else {
            variants.to_vec()
        };
        let control = match control {
            None => 0,
            Some(c) => arms.iter().position(|a| a == c).ok_or_else(|| {
                usage(format!(
                    "CONTROL '{}' is not an arm of this flag (a boolean flag's arms are off and on, else its variants)",
                    quote(c)
                ))
            })?,
        };
        let results = vec![
            ArmResults {
                exposures: 0,
                metrics: vec![MetricSums::default(); metrics.len()],
            };
            arms.len()
        ];
        Ok(Experiment {
            running: true,
            started_ms: now_ms,
            stopped_ms: 0,
            boolean,
            arms,
            control,
            metrics: metrics.iter().map(|m| m.to_vec()).collect(),
            exposures: Exposures::default(),
            conversions: HashMap::default(),
            results,
        })
    }

    pub fn running(&self) -> bool {
        self.running
    }
    pub fn started_ms(&self) -> u64 {
        self.started_ms
    }
    /// 0 while it runs.
    pub fn stopped_ms(&self) -> u64 {
        self.stopped_ms
    }
    pub fn arms(&self) -> &[Vec<u8>] {
        &self.arms
    }
    /// Arms `off` and `on` of a boolean flag.
    pub fn boolean(&self) -> bool {
        self.boolean
    }
    pub fn control(&self) -> usize {
        self.control
    }
    pub fn metrics(&self) -> &[Vec<u8>] {
        &self.metrics
    }
    pub fn exposures(&self) -> &Exposures {
        &self.exposures
    }
    /// How many (unit, metric) totals are kept.
    pub fn conversions(&self) -> usize {
        self.conversions.len()
    }
    /// Each arm's results, in the arms' order.
    pub fn results(&self) -> &[ArmResults] {
        &self.results
    }

    pub fn heap_size(&self) -> usize {
        self.exposures.heap_size()
            + self.conversions.capacity() * 17
            + self
                .arms
                .iter()
                .chain(&self.metrics)
                .map(|a| a.capacity() + 24)
                .sum::<usize>()
            + self
                .results
                .iter()
                .map(|r| 32 + r.metrics.capacity() * std::mem::size_of::<MetricSums>())
                .sum::<usize>()
    }

    /// The time of an exposure (Unix ms).
    pub fn time_of(&self, e: &Exposure<'_>) -> u64 {
        self.started_ms.saturating_add(e.after_ms)
    }

    /// The sticky answer for an exposed id while the experiment runs (the
    /// flag checked the switch, window and deny list); none when its arm is
    /// no longer one of the flag's (a boolean experiment on a flag given
    /// variants since, a variant dropped).
    #[inline]
    pub(crate) fn sticky(&self, id: &[u8], variants: &[Vec<u8>]) -> Option<Sticky> {
        if !self.running {
            return None;
        }
        let arm = self.exposures.get(id)?.arm;
        if self.boolean {
            return variants.is_empty().then_some(Sticky {
                enabled: arm == 1,
                variant: None,
            });
        }
        let name = self.arms.get(arm)?;
        let index = if variants.get(arm) == Some(name) {
            arm
        } else {
            variants.iter().position(|v| v == name)?
        };
        Some(Sticky {
            enabled: true,
            variant: Some(index),
        })
    }

    /// The arm of an answer when it came from the random split.
    fn arm_of(&self, reason: Reason, variant: Option<&[u8]>, has_variants: bool) -> Option<usize> {
        if self.boolean {
            if has_variants {
                return None;
            }
            return match reason {
                Reason::Percentage => Some(1),
                Reason::Outside => Some(0),
                _ => None,
            };
        }
        match reason {
            Reason::All | Reason::Percentage => {
                let v = variant?;
                self.arms.iter().position(|a| a == v)
            }
            _ => None,
        }
    }

    /// Records an exposure as it was made (a replica, the AOF): the first
    /// one wins. Returns its offset when it is new.
    fn expose(&mut self, id: &[u8], arm: usize, at_ms: u64) -> Result<Option<usize>, Error> {
        let new = self
            .exposures
            .insert(id, arm, at_ms.saturating_sub(self.started_ms))?;
        if new.is_some() {
            self.results[arm].exposures += 1;
        }
        Ok(new)
    }

    /// Sets a unit's total for a metric, and the arm's sums with it.
    /// Refused (nothing changed) when a sum would overflow.
    fn set_total(&mut self, offset: usize, metric: usize, total: u64) -> Result<(), Error> {
        let arm = self.exposures.at(offset).ok_or(Error::Corrupt)?.arm;
        let key = conversion_key(offset, metric);
        let old = self.conversions.get(&key).copied();
        let s = self.results[arm].metrics[metric];
        let (o, t) = (u128::from(old.unwrap_or(0)), u128::from(total));
        let overflow = || usage("the experiment's sums would overflow: RESET it");
        // Totals only grow (TRACK adds), so the sums do too.
        let next = MetricSums {
            converted: s.converted + u64::from(old.is_none()),
            sum: (s.sum + t).checked_sub(o).ok_or_else(overflow)?,
            sum_squares: s
                .sum_squares
                .checked_add(t * t)
                .and_then(|x| x.checked_sub(o * o))
                .ok_or_else(overflow)?,
        };
        self.results[arm].metrics[metric] = next;
        self.conversions.insert(key, total);
        Ok(())
    }

    /// The arm named `name`.
    fn arm_named(&self, name: &[u8]) -> Option<usize> {
        self.arms.iter().position(|a| a == name)
    }

    fn metric_named(&self, name: &[u8]) -> Option<usize> {
        self.metrics.iter().position(|m| m == name)
    }

    /// A page of exposures (`HANOI.EXPERIMENT EXPOSURES`): (id, arm name,
    /// Unix ms), and the next cursor (0: done).
    pub fn page(&self, q: &ExposuresQuery) -> Result<(u64, Vec<Row<'_>>), Error> {
        let cursor = usize::try_from(q.cursor).unwrap_or(usize::MAX);
        let (page, next) = self
            .exposures
            .page(cursor, q.count)
            .ok_or_else(|| usage("invalid cursor"))?;
        let rows = page
            .iter()
            .map(|e| (e.id, self.arms[e.arm].as_slice(), self.time_of(e)))
            .collect();
        Ok((next as u64, rows))
    }

    /// The (id, metric name, total) of every conversion (the AOF rewrite).
    pub fn conversion_rows(&self) -> Vec<(&[u8], &[u8], u64)> {
        let mut keys: Vec<(&u64, &u64)> = self.conversions.iter().collect();
        keys.sort_unstable();
        keys.into_iter()
            .filter_map(|(k, t)| {
                let e = self.exposures.at((k >> 5) as usize)?;
                Some((e.id, self.metrics.get((k & 31) as usize)?.as_slice(), *t))
            })
            .collect()
    }

    /// The conversions as (offset, metric, total), in offset order (the
    /// codec).
    pub fn conversion_entries(&self) -> Vec<(u64, u64, u64)> {
        let mut v: Vec<(u64, u64, u64)> = self
            .conversions
            .iter()
            .map(|(k, t)| (k >> 5, k & 31, *t))
            .collect();
        v.sort_unstable();
        v
    }

    // ----- the stored form (the codec) -----

    /// An experiment as stored, without its exposures (added after with
    /// [`Experiment::load_chunk`] and [`Experiment::load_conversion`]).
    pub fn stored(
        running: bool,
        started_ms: u64,
        stopped_ms: u64,
        boolean: bool,
        arms: Vec<Vec<u8>>,
        control: usize,
        metrics: Vec<Vec<u8>>,
    ) -> Result<Experiment, Error> {
        if arms.is_empty()
            || control >= arms.len()
            || metrics.is_empty()
            || metrics.len() > MAX_METRICS
            || (boolean && arms != [b"off".to_vec(), b"on".to_vec()])
        {
            return Err(Error::Corrupt);
        }
        let refs: Vec<&[u8]> = metrics.iter().map(Vec::as_slice).collect();
        let mut e = Experiment::new(if boolean { &[] } else { &arms }, None, &refs, started_ms)?;
        e.running = running;
        e.stopped_ms = stopped_ms;
        e.control = control;
        Ok(e)
    }

    /// Adds the exposures of one stored chunk; returns how many.
    pub fn load_chunk(&mut self, chunk: &[u8]) -> Result<u64, Error> {
        let mut pos = 0;
        let mut n = 0;
        while pos < chunk.len() {
            let (e, next) = read_entry(chunk, pos).ok_or(Error::Corrupt)?;
            if e.arm >= self.arms.len() {
                return Err(Error::Corrupt);
            }
            let at = self.started_ms.saturating_add(e.after_ms);
            if self.expose(e.id, e.arm, at)?.is_none() {
                return Err(Error::Corrupt);
            }
            n += 1;
            pos = next;
        }
        Ok(n)
    }

    /// Puts back one stored conversion (an exposure's offset, a metric, the
    /// unit's total).
    pub fn load_conversion(&mut self, offset: u64, metric: u64, total: u64) -> Result<(), Error> {
        let offset = usize::try_from(offset).map_err(|_| Error::Corrupt)?;
        let metric = usize::try_from(metric).map_err(|_| Error::Corrupt)?;
        let e = self.exposures.at(offset).ok_or(Error::Corrupt)?;
        if self.exposures.offset(e.id) != Some(offset)
            || metric >= self.metrics.len()
            || total > MAX_VALUE
            || self
                .conversions
                .contains_key(&conversion_key(offset, metric))
        {
            return Err(Error::Corrupt);
        }
        self.set_total(offset, metric, total)
            .map_err(|_| Error::Corrupt)
    }
}

/// `HANOI.EXPERIMENT key EXPOSURES cursor [COUNT n]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExposuresQuery {
    pub cursor: u64,
    pub count: usize,
}

impl ExposuresQuery {
    /// Exposures one page gives at most.
    pub const MAX_COUNT: usize = 100_000;

    /// `cursor [COUNT n]` (COUNT 1 to 100,000; 10 by default).
    pub fn parse(args: &[&[u8]]) -> Result<ExposuresQuery, Error> {
        let bad_cursor = || usage("invalid cursor");
        let (cursor, rest) = match args {
            [c, rest @ ..] => (
                parse_int(c)
                    .and_then(|c| u64::try_from(c).ok())
                    .ok_or_else(bad_cursor)?,
                rest,
            ),
            [] => return Err(Error::WrongArity),
        };
        let count = match rest {
            [] => 10,
            [k, n] if kw(k, "COUNT") => parse_int(n)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=Self::MAX_COUNT).contains(n))
                .ok_or_else(|| {
                    usage(format!(
                        "COUNT must be an integer from 1 to {}",
                        Self::MAX_COUNT
                    ))
                })?,
            _ => {
                return Err(usage(
                    "expected HANOI.EXPERIMENT key EXPOSURES cursor [COUNT n]",
                ))
            }
        };
        Ok(ExposuresQuery { cursor, count })
    }
}

/// What `HANOI.ASSIGN` recorded: the arm's name and the time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assigned {
    pub arm: Vec<u8>,
    pub at_ms: u64,
}

fn no_experiment() -> Error {
    usage("this flag has no experiment: HANOI.EXPERIMENT key START ... first")
}

impl Flag {
    /// `HANOI.EXPERIMENT START`/`STOP` at `now_ms`; whether it changed the
    /// flag.
    pub fn change_experiment(&mut self, change: Change<'_>, now_ms: u64) -> Result<bool, Error> {
        match change {
            Change::Stop => {
                let e = self
                    .experiment_mut()
                    .as_deref_mut()
                    .ok_or_else(no_experiment)?;
                if !e.running {
                    return Ok(false);
                }
                e.running = false;
                e.stopped_ms = now_ms;
                Ok(true)
            }
            Change::Start {
                control,
                metrics,
                reset,
            } => {
                if let (Some(e), false) = (self.experiment(), reset) {
                    if e.running {
                        return Err(usage(
                            "an experiment is running on this flag: STOP it first, or START again with RESET (its data is dropped)",
                        ));
                    }
                    if !e.exposures.is_empty() {
                        return Err(usage(
                            "this flag's stopped experiment has data: START with RESET drops it",
                        ));
                    }
                }
                let e = Experiment::new(&self.definition().variants, control, &metrics, now_ms)?;
                *self.experiment_mut() = Some(Box::new(e));
                Ok(true)
            }
        }
    }

    /// `HANOI.ASSIGN`'s write: while the experiment runs, records `id`'s
    /// first exposure at `now_ms` when its answer for `q` came from the
    /// random split. Refused when it would pass `max_exposures`. The reply
    /// is `HANOI.RESOLVE`'s, asked after.
    pub fn assign(
        &mut self,
        id: &[u8],
        q: &Query<'_>,
        now_ms: u64,
        max_exposures: usize,
    ) -> Result<Option<Assigned>, Error> {
        let Some(e) = self.experiment().filter(|e| e.running) else {
            return Ok(None);
        };
        if id.is_empty() || e.exposures.offset(id).is_some() {
            return Ok(None);
        }
        let has_variants = !self.definition().variants.is_empty();
        let x = self.explain_with(id, q);
        let Some(arm) = e.arm_of(x.reason, x.variant, has_variants) else {
            return Ok(None);
        };
        if e.exposures.len() >= max_exposures {
            return Err(usage(format!(
                "this experiment has {} exposures, hanoi.max-exposures: STOP it or raise the limit",
                e.exposures.len()
            )));
        }
        let e = self
            .experiment_mut()
            .as_deref_mut()
            .ok_or_else(no_experiment)?;
        e.expose(id, arm, now_ms)?;
        Ok(Some(Assigned {
            arm: e.arms[arm].clone(),
            at_ms: now_ms,
        }))
    }

    /// `HANOI.TRACK`: adds `value` to the exposed `id`'s total for
    /// `metric` while the experiment runs; returns the new total, or none
    /// when nothing was recorded (no running experiment, an id not exposed,
    /// a metric not declared). Refused when the total would pass
    /// [`MAX_VALUE`].
    pub fn track(&mut self, id: &[u8], metric: &[u8], value: u64) -> Result<Option<u64>, Error> {
        let Some(e) = self.experiment_mut().as_deref_mut().filter(|e| e.running) else {
            return Ok(None);
        };
        let (Some(offset), Some(m)) = (e.exposures.offset(id), e.metric_named(metric)) else {
            return Ok(None);
        };
        let old = e
            .conversions
            .get(&conversion_key(offset, m))
            .copied()
            .unwrap_or(0);
        let total = old
            .checked_add(value)
            .filter(|t| *t <= MAX_VALUE)
            .ok_or_else(|| usage(format!("this unit's total would pass {MAX_VALUE}")))?;
        e.set_total(offset, m, total)?;
        Ok(Some(total))
    }

    /// `HANOI.LOAD key EXPOSURES id arm time ...` (the AOF rewrite, a
    /// primary's ASSIGN): exposures as they were made; an id already
    /// exposed keeps its first. Checked whole before anything is added.
    pub fn load_exposures(&mut self, words: &[&[u8]]) -> Result<usize, Error> {
        let e = self
            .experiment_mut()
            .as_deref_mut()
            .ok_or_else(no_experiment)?;
        if words.is_empty() || !words.len().is_multiple_of(3) {
            return Err(usage("EXPOSURES needs id arm time triples"));
        }
        let mut rows = Vec::with_capacity(words.len() / 3);
        for t in words.chunks(3) {
            let arm = e
                .arm_named(t[1])
                .ok_or_else(|| usage(format!("'{}' is not an arm", quote(t[1]))))?;
            let at = parse_int(t[2])
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| usage("an exposure's time is Unix ms"))?;
            rows.push((t[0], arm, at));
        }
        let mut n = 0;
        for (id, arm, at) in rows {
            n += usize::from(e.expose(id, arm, at)?.is_some());
        }
        Ok(n)
    }

    /// `HANOI.LOAD key CONVERSIONS id metric total ...`: units' totals as
    /// they are (set, not added). Checked whole before anything changes.
    pub fn load_conversions(&mut self, words: &[&[u8]]) -> Result<usize, Error> {
        let e = self
            .experiment_mut()
            .as_deref_mut()
            .ok_or_else(no_experiment)?;
        if words.is_empty() || !words.len().is_multiple_of(3) {
            return Err(usage("CONVERSIONS needs id metric total triples"));
        }
        let mut rows = Vec::with_capacity(words.len() / 3);
        for t in words.chunks(3) {
            let offset = e
                .exposures
                .offset(t[0])
                .ok_or_else(|| usage(format!("'{}' is not exposed", quote(t[0]))))?;
            let m = e
                .metric_named(t[1])
                .ok_or_else(|| usage(format!("'{}' is not a metric", quote(t[1]))))?;
            rows.push((offset, m, parse_value(t[2])?));
        }
        for &(offset, m, total) in &rows {
            e.set_total(offset, m, total)?;
        }
        Ok(rows.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_definition, Limits};

    fn flag(words: &[&str]) -> Flag {
        let w: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        Flag::new(
            parse_definition(&w, &Limits::default()).unwrap(),
            &Limits::default(),
        )
        .unwrap()
    }

    fn start(f: &mut Flag, args: &[&str]) -> Result<bool, Error> {
        let w: Vec<&[u8]> = args.iter().map(|w| w.as_bytes()).collect();
        f.change_experiment(Change::parse(&w)?, 1000)
    }

    #[test]
    fn exposures_are_kept_once_in_order_and_page_from_any_entry() {
        let mut x = Exposures::default();
        for i in 0..10_000u32 {
            assert!(x
                .insert(format!("id{i}").as_bytes(), (i % 3) as usize, u64::from(i))
                .unwrap()
                .is_some());
        }
        assert!(x.insert(b"id5", 2, 0).unwrap().is_none());
        assert_eq!(x.len(), 10_000);
        assert_eq!(x.get(b"id5").unwrap().arm, 2);
        assert_eq!(x.get(b"id5").unwrap().after_ms, 5);
        assert!(x.get(b"nope").is_none());
        let (mut all, mut cursor) = (Vec::new(), 0);
        loop {
            let (page, next) = x.page(cursor, 333).unwrap();
            all.extend(page.iter().map(|e| e.id.to_vec()));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(all.len(), 10_000);
        assert_eq!(all[9_999], b"id9999");
        // A cursor inside an entry is refused, never read as one.
        assert!(x.page(1, 10).is_none());
        let bytes: usize = x.chunks(4096).iter().map(|c| c.len()).sum();
        assert_eq!(bytes, x.arena.len());
        // About id + 6 arena bytes and at most 10 bytes of table each.
        assert!(x.heap_size() < 10_000 * (6 + 24), "{}", x.heap_size());
    }

    #[test]
    fn a_boolean_experiment_records_the_split_and_sticks() {
        let mut f = flag(&["PERCENTAGE", "50"]);
        f.add_users([&b"vip"[..]]);
        start(&mut f, &["START", "METRICS", "1", "buy"]).unwrap();
        let q = Query::default();
        let e = f.experiment().unwrap();
        assert_eq!(e.arms(), [b"off".to_vec(), b"on".to_vec()]);
        // Targeted ids are not randomized: not recorded.
        assert_eq!(f.assign(b"vip", &q, 2000, 10).unwrap(), None);
        let (mut on, mut off) = (None, None);
        for i in 0..100 {
            let id = format!("u{i}");
            let was = f.is_enabled(Some(id.as_bytes()));
            let a = f.assign(id.as_bytes(), &q, 2000, 1000).unwrap().unwrap();
            assert_eq!(a.arm, if was { &b"on"[..] } else { b"off" });
            if was {
                on.get_or_insert(id)
            } else {
                off.get_or_insert(id)
            };
        }
        let (on, off) = (on.unwrap(), off.unwrap());
        // Twice: the first exposure stays.
        assert_eq!(f.assign(on.as_bytes(), &q, 3000, 1000).unwrap(), None);
        // Sticky through a percentage change; the kill switch still wins.
        f.set_percentage(0).unwrap();
        assert!(f.is_enabled(Some(on.as_bytes())));
        assert!(f.explain(on.as_bytes()).enabled);
        assert_eq!(f.explain(on.as_bytes()).reason, Reason::Percentage);
        f.set_percentage(100).unwrap();
        assert!(!f.is_enabled(Some(off.as_bytes())));
        assert_eq!(f.explain(off.as_bytes()).reason, Reason::Outside);
        f.set_enabled(false);
        assert!(!f.is_enabled(Some(on.as_bytes())));
        f.set_enabled(true);
        // TRACK: only exposed ids and declared metrics.
        assert_eq!(f.track(on.as_bytes(), b"buy", 3).unwrap(), Some(3));
        assert_eq!(f.track(on.as_bytes(), b"buy", 4).unwrap(), Some(7));
        assert_eq!(f.track(b"vip", b"buy", 1).unwrap(), None);
        assert_eq!(f.track(on.as_bytes(), b"other", 1).unwrap(), None);
        assert!(f.track(on.as_bytes(), b"buy", MAX_VALUE).is_err());
        let r = &f.experiment().unwrap().results()[1];
        assert_eq!(
            r.metrics[0],
            MetricSums {
                converted: 1,
                sum: 7,
                sum_squares: 49
            }
        );
        // Stopped: no more recording, no more sticky answers.
        f.change_experiment(Change::Stop, 5000).unwrap();
        assert_eq!(f.track(on.as_bytes(), b"buy", 1).unwrap(), None);
        assert!(f.is_enabled(Some(off.as_bytes())));
        assert!(start(&mut f, &["START", "METRICS", "1", "x"]).is_err());
        assert!(start(&mut f, &["START", "METRICS", "1", "x", "RESET"]).is_ok());
        assert!(f.experiment().unwrap().exposures().is_empty());
    }

    #[test]
    fn a_variant_experiment_sticks_through_weight_changes_and_is_bounded() {
        let mut f = flag(&["PERCENTAGE", "100", "VARIANTS", "2", "a", "b"]);
        start(
            &mut f,
            &["START", "CONTROL", "b", "METRICS", "2", "buy", "time"],
        )
        .unwrap();
        assert_eq!(f.experiment().unwrap().control(), 1);
        let q = Query::default();
        let before: Vec<Option<Vec<u8>>> = (0..50)
            .map(|i| f.variant(format!("u{i}").as_bytes()).map(<[u8]>::to_vec))
            .collect();
        for i in 0..50 {
            f.assign(format!("u{i}").as_bytes(), &q, 1500, 50)
                .unwrap()
                .unwrap();
        }
        assert!(f.assign(b"u50", &q, 1500, 50).is_err(), "the limit");
        let mut def = f.definition().clone();
        def.weights = Some(vec![1, 1_000_000]);
        f.set_definition(def, &Limits::default()).unwrap();
        for (i, want) in before.iter().enumerate() {
            let id = format!("u{i}");
            assert_eq!(&f.variant(id.as_bytes()).map(<[u8]>::to_vec), want);
            assert_eq!(&f.explain(id.as_bytes()).variant.map(<[u8]>::to_vec), want);
        }
        let exposures: u64 = f
            .experiment()
            .unwrap()
            .results()
            .iter()
            .map(|r| r.exposures)
            .sum();
        assert_eq!(exposures, 50);
        assert!(start(
            &mut f,
            &["START", "CONTROL", "z", "METRICS", "1", "x", "RESET"]
        )
        .is_err());
    }

    #[test]
    fn sums_of_squares_follow_second_conversions_exactly() {
        let mut f = flag(&["PERCENTAGE", "100", "VARIANTS", "1", "a"]);
        start(&mut f, &["START", "METRICS", "1", "rev"]).unwrap();
        let q = Query::default();
        for i in 0..20 {
            f.assign(format!("u{i}").as_bytes(), &q, 1000, 100).unwrap();
        }
        let mut totals = [0u128; 20];
        for step in 0..200u64 {
            let i = (step * 7 % 20) as usize;
            f.track(format!("u{i}").as_bytes(), b"rev", step).unwrap();
            totals[i] += u128::from(step);
        }
        let m = f.experiment().unwrap().results()[0].metrics[0];
        assert_eq!(m.converted, 20);
        assert_eq!(m.sum, totals.iter().sum::<u128>());
        assert_eq!(m.sum_squares, totals.iter().map(|t| t * t).sum::<u128>());
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            &["START"][..],
            &["START", "METRICS", "0"],
            &["START", "METRICS", "2", "a"],
            &["START", "METRICS", "2", "a", "a"],
            &["START", "METRICS", "1", ""],
            &["START", "METRICS", "33"],
            &["START", "METRICS", "1", "a", "METRICS", "1", "b"],
            &["START", "CONTROL"],
            &["START", "METRICS", "1", "a", "EXTRA"],
            &["STOP", "x"],
            &["GO"],
        ] {
            let w: Vec<&[u8]> = bad.iter().map(|w| w.as_bytes()).collect();
            assert!(Change::parse(&w).is_err(), "{bad:?}");
        }
        for bad in ["-1", "1.5", "9007199254740993", "x", ""] {
            assert!(parse_value(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(ExposuresQuery::parse(&[b"0", b"COUNT", b"0"]).is_err());
        assert!(ExposuresQuery::parse(&[b"-1"]).is_err());
        assert_eq!(ExposuresQuery::parse(&[b"5"]).unwrap().count, 10);
    }

    #[test]
    fn loading_checks_every_triple_before_changing_anything() {
        let mut f = flag(&["PERCENTAGE", "50"]);
        start(&mut f, &["START", "METRICS", "1", "buy"]).unwrap();
        let w = |s: &[&'static str]| s.iter().map(|w| w.as_bytes()).collect::<Vec<&[u8]>>();
        assert!(f
            .load_exposures(&w(&["a", "on", "5", "b", "maybe", "6"]))
            .is_err());
        assert!(f.experiment().unwrap().exposures().is_empty());
        assert_eq!(
            f.load_exposures(&w(&["a", "on", "5", "b", "off", "6"]))
                .unwrap(),
            2
        );
        assert_eq!(f.load_exposures(&w(&["a", "off", "7"])).unwrap(), 0);
        assert!(f
            .load_conversions(&w(&["a", "buy", "3", "zz", "buy", "1"]))
            .is_err());
        assert_eq!(f.experiment().unwrap().conversions(), 0);
        assert_eq!(f.load_conversions(&w(&["a", "buy", "3"])).unwrap(), 1);
        assert_eq!(f.load_conversions(&w(&["a", "buy", "5"])).unwrap(), 1);
        let m = f.experiment().unwrap().results()[1].metrics[0];
        assert_eq!((m.converted, m.sum, m.sum_squares), (1, 5, 25));
    }
}
