//! What a flag knows about itself beyond its rules: free-form metadata, the
//! history of the writes that changed it, and evaluation counts.
//!
//! Metadata and history are part of the flag (stored, replicated, digested);
//! counts are per server and per process (never stored nor replicated: each
//! server counts what it serves, like `INFO commandstats`, and starts again
//! from zero when the flag is loaded, restored or copied).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::Error;

/// The metadata field set when a flag is created; not settable by hand.
pub const CREATED: &[u8] = b"created";

/// How many arguments of a write its history entry keeps; a longer list
/// (thousands of ids) is summarised by these and the count of all of them.
pub const HISTORY_ARGS: usize = 8;

/// The most bytes of one argument (and of the user's and client's names)
/// a history entry keeps: a longer one is kept as its first bytes and its
/// length (`abc… (1048576 bytes)`). With [`HISTORY_ARGS`], this bounds an
/// entry to about 1.5 KiB, and a flag's history to `hanoi.history-length`
/// such entries.
pub const HISTORY_ARG_BYTES: usize = 128;

/// `a` as a history entry keeps it: whole when short, else its first
/// [`HISTORY_ARG_BYTES`] bytes (cut on a UTF-8 boundary when it is text)
/// and its length.
pub fn shorten(a: &[u8]) -> Vec<u8> {
    if a.len() <= HISTORY_ARG_BYTES {
        return a.to_vec();
    }
    let mut cut = HISTORY_ARG_BYTES - 32;
    if let Err(e) = std::str::from_utf8(&a[..cut]) {
        // Text cut inside a character: cut before it instead.
        if e.error_len().is_none() {
            cut = e.valid_up_to();
        }
    }
    let mut out = a[..cut].to_vec();
    out.extend_from_slice(format!("… ({} bytes)", a.len()).as_bytes());
    out
}

/// Free-form string fields of a flag (`description`, `owner`, `tags`, ...),
/// and when it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Unix ms of creation; 0 when unknown (flags stored before 0.2).
    pub created_ms: u64,
    pub fields: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Metadata {
    /// Sets fields, all or nothing, within `max_fields` fields of at most
    /// `max_value` bytes. Returns how many fields were added or changed.
    pub fn set(
        &mut self,
        pairs: &[(&[u8], &[u8])],
        max_fields: usize,
        max_value: usize,
    ) -> Result<usize, Error> {
        // A field repeated in one call counts once: the last value wins.
        let mut last: BTreeMap<&[u8], &[u8]> = BTreeMap::new();
        for (field, value) in pairs {
            if field.is_empty() {
                return Err(Error::EmptyField);
            }
            if field.eq_ignore_ascii_case(CREATED) {
                return Err(Error::CreatedIsSet);
            }
            if value.len() > max_value {
                return Err(Error::ValueTooLong { limit: max_value });
            }
            last.insert(field, value);
        }
        let added = last
            .keys()
            .filter(|f| !self.fields.contains_key(**f))
            .count();
        if self.fields.len() + added > max_fields {
            return Err(Error::TooManyFields { limit: max_fields });
        }
        let mut changed = 0;
        for (field, value) in last {
            if self.fields.get(field).map(Vec::as_slice) != Some(value) {
                self.fields.insert(field.to_vec(), value.to_vec());
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Removes fields; returns how many were there.
    pub fn delete(&mut self, fields: &[&[u8]]) -> Result<usize, Error> {
        if fields.iter().any(|f| f.eq_ignore_ascii_case(CREATED)) {
            return Err(Error::CreatedIsSet);
        }
        Ok(fields
            .iter()
            .filter(|f| self.fields.remove(**f).is_some())
            .count())
    }

    pub(crate) fn heap_size(&self) -> usize {
        self.fields
            .iter()
            .map(|(k, v)| k.capacity() + v.capacity() + 64)
            .sum()
    }
}

/// Who changed the flag, when, and with what: decided by the server that
/// ran the write (the primary) and carried as it is to replicas and the AOF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Server time, Unix ms.
    pub at_ms: u64,
    /// The ACL user.
    pub user: Vec<u8>,
    /// The client's name (`CLIENT SETNAME`), if it had one.
    pub client: Option<Vec<u8>>,
    /// How many entries the history keeps (the primary's `hanoi.history-length`).
    pub keep: usize,
}

impl Stamp {
    /// The stamp of a write that must not grow the flag (at `maxmemory`):
    /// its entry takes the place of the oldest of the `history_len` the
    /// flag has, so the history gets no longer (a flag without history
    /// records none). `keep` travels with the stamp, so replicas and the
    /// AOF keep the same entries.
    pub fn replacing_oldest(&mut self, history_len: usize) {
        self.keep = self.keep.min(history_len);
    }
}

/// One write that changed a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at_ms: u64,
    pub user: Vec<u8>,
    pub client: Option<Vec<u8>>,
    /// The command name and at most [`HISTORY_ARGS`] of its arguments (the
    /// key left out).
    pub command: Vec<Vec<u8>>,
    /// How many arguments the command had in all (the key left out).
    pub args: u64,
}

impl Entry {
    /// The entry for `name args...` under `stamp`.
    pub fn new(stamp: &Stamp, name: &[u8], args: &[&[u8]]) -> Entry {
        let mut command = Vec::with_capacity(1 + args.len().min(HISTORY_ARGS));
        command.push(shorten(&name.to_ascii_uppercase()));
        command.extend(args.iter().take(HISTORY_ARGS).map(|a| shorten(a)));
        Entry {
            at_ms: stamp.at_ms,
            user: shorten(&stamp.user),
            client: stamp.client.as_deref().map(shorten),
            command,
            args: args.len() as u64,
        }
    }

    fn heap_size(&self) -> usize {
        self.user.capacity()
            + self.client.as_ref().map_or(0, Vec::capacity)
            + self
                .command
                .iter()
                .map(|c| c.capacity() + 24)
                .sum::<usize>()
    }
}

/// The last writes that changed a flag, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    entries: VecDeque<Entry>,
}

impl History {
    /// Appends `e`, keeping the newest `keep` entries.
    pub fn push(&mut self, e: Entry, keep: usize) {
        self.entries.push_back(e);
        while self.entries.len() > keep {
            self.entries.pop_front();
        }
    }

    /// Newest first.
    pub fn newest(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.entries.iter().rev()
    }

    /// Oldest first.
    pub fn oldest(&self) -> impl ExactSizeIterator<Item = &Entry> + '_ {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn heap_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.entries.iter().map(Entry::heap_size).sum::<usize>()
    }
}

/// The most a count reaches: it stays there rather than wrap (a reply is a
/// signed 64-bit integer).
pub const MAX_COUNT: u64 = i64::MAX as u64;

/// `a += n` as a load and a store (see [`Counters::count_serialized`]),
/// saturating at [`MAX_COUNT`].
#[inline]
fn bump(a: &AtomicU64, n: u64) {
    a.store(
        a.load(Ordering::Relaxed).saturating_add(n).min(MAX_COUNT),
        Ordering::Relaxed,
    );
}

/// `a += n`, atomically, saturating at [`MAX_COUNT`].
fn add_saturating(a: &AtomicU64, n: u64) {
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_add(n).min(MAX_COUNT))
    });
}

/// Evaluation counts of one flag in this process. Relaxed atomics: `&self`
/// evaluation stays `Sync`, and a count costs an uncontended add.
#[derive(Debug, Default)]
pub struct Counters {
    evaluations: AtomicU64,
    enabled: AtomicU64,
    /// One per variant, in the flag's order.
    variants: Box<[AtomicU64]>,
    last_ms: AtomicU64,
    since_ms: AtomicU64,
    /// Counts per minute and per hour, made at the first evaluation.
    series: OnceLock<Box<Series>>,
}

/// Minutes kept by the series (an hour).
pub const SERIES_MINUTES: usize = 60;
/// Hours kept by the series (7 days).
pub const SERIES_HOURS: usize = 168;

/// One period's counts: `stamp` is the period's number since the epoch
/// (minutes or hours); a slot whose stamp is another period's is stale and
/// counts as zero.
#[derive(Debug, Default)]
struct Slot {
    stamp: AtomicU32,
    evaluations: AtomicU32,
    enabled: AtomicU32,
}

impl Slot {
    /// Adds to the slot; when it held another period, starts it afresh and
    /// returns what that period had (stamp, evaluations, enabled).
    #[inline]
    fn add(&self, stamp: u32, evaluations: u32, enabled: u32) -> Option<(u32, u32, u32)> {
        let get = |a: &AtomicU32| a.load(Ordering::Relaxed);
        let was = get(&self.stamp);
        if was == stamp {
            // Serialized callers (the module) lose nothing; threads racing
            // on one slot may lose a count, as `count_serialized` may.
            self.evaluations.store(
                get(&self.evaluations).saturating_add(evaluations),
                Ordering::Relaxed,
            );
            self.enabled.store(
                get(&self.enabled).saturating_add(enabled),
                Ordering::Relaxed,
            );
            None
        } else {
            let old = (was, get(&self.evaluations), get(&self.enabled));
            self.stamp.store(stamp, Ordering::Relaxed);
            self.evaluations.store(evaluations, Ordering::Relaxed);
            self.enabled.store(enabled, Ordering::Relaxed);
            Some(old)
        }
    }

    fn read(&self, stamp: u32) -> (u64, u64) {
        if self.stamp.load(Ordering::Relaxed) == stamp {
            (
                u64::from(self.evaluations.load(Ordering::Relaxed)),
                u64::from(self.enabled.load(Ordering::Relaxed)),
            )
        } else {
            (0, 0)
        }
    }
}

/// Evaluations and enabled answers per minute for the last hour and per
/// hour for the last 7 days (rings indexed by the period's number).
#[derive(Debug)]
struct Series {
    minutes: [Slot; SERIES_MINUTES],
    hours: [Slot; SERIES_HOURS],
}

impl Series {
    fn new() -> Series {
        Series {
            minutes: std::array::from_fn(|_| Slot::default()),
            hours: std::array::from_fn(|_| Slot::default()),
        }
    }

    fn copy(&self) -> Series {
        let copy = |from: &[Slot], to: &[Slot]| {
            for (a, b) in from.iter().zip(to) {
                for (x, y) in [
                    (&a.stamp, &b.stamp),
                    (&a.evaluations, &b.evaluations),
                    (&a.enabled, &b.enabled),
                ] {
                    y.store(x.load(Ordering::Relaxed), Ordering::Relaxed);
                }
            }
        };
        let s = Series::new();
        copy(&self.minutes, &s.minutes);
        copy(&self.hours, &s.hours);
        s
    }

    /// Counts in the current minute only; a minute's counts move into its
    /// hour when its slot is taken by a later minute (once a minute at
    /// most), and [`Series::hour`] adds the minutes not moved yet.
    #[inline]
    fn add(&self, now_ms: u64, evaluations: u32, enabled: u32) {
        let minute = (now_ms / 60_000) as u32;
        let slot = &self.minutes[minute as usize % SERIES_MINUTES];
        if let Some((old, e, n)) = slot.add(minute, evaluations, enabled) {
            if e > 0 {
                let hour = old / 60;
                self.hours[hour as usize % SERIES_HOURS].add(hour, e, n);
            }
        }
    }

    /// An hour's counts: what was moved into its slot and its minutes still
    /// in the minute ring.
    fn hour(&self, hour: u32) -> (u64, u64) {
        let (mut e, mut n) = self.hours[hour as usize % SERIES_HOURS].read(hour);
        for m in &self.minutes {
            let stamp = m.stamp.load(Ordering::Relaxed);
            if stamp / 60 == hour && m.evaluations.load(Ordering::Relaxed) > 0 {
                let (me, mn) = m.read(stamp);
                e += me;
                n += mn;
            }
        }
        (e, n)
    }
}

/// One period of [`Counters::series`]: when it starts (Unix ms) and its
/// counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start_ms: u64,
    pub evaluations: u64,
    pub enabled: u64,
}

/// The counts over time at a moment: the last [`SERIES_MINUTES`] minutes
/// and [`SERIES_HOURS`] hours, oldest first, the current one last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesCounts {
    pub minutes: Vec<Period>,
    pub hours: Vec<Period>,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub evaluations: u64,
    pub enabled: u64,
    pub variants: Vec<u64>,
    /// Unix ms of the last evaluation (0: none since `since_ms`).
    pub last_ms: u64,
    /// Unix ms counting started (0: unknown).
    pub since_ms: u64,
}

impl Counters {
    pub(crate) fn new(variants: usize, since_ms: u64) -> Counters {
        Counters {
            variants: (0..variants).map(|_| AtomicU64::new(0)).collect(),
            since_ms: AtomicU64::new(since_ms),
            ..Counters::default()
        }
    }

    /// Counts one evaluation at `now_ms` (0 leaves the last time alone).
    #[inline]
    pub fn count(&self, enabled: bool, variant: Option<usize>, now_ms: u64) {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        if enabled {
            self.enabled.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(v) = variant.and_then(|i| self.variants.get(i)) {
            v.fetch_add(1, Ordering::Relaxed);
        }
        if now_ms != 0 {
            self.last_ms.store(now_ms, Ordering::Relaxed);
            self.in_series(now_ms, 1, u32::from(enabled));
        }
    }

    /// [`Counters::count`] for a caller whose writes never run concurrently
    /// (a Redis command: commands run one at a time, under the server's
    /// lock): plain loads and stores, no locked read-modify-write. A write
    /// racing with another would lose a count, never more.
    #[inline]
    pub fn count_serialized(&self, enabled: bool, variant: Option<usize>, now_ms: u64) {
        bump(&self.evaluations, 1);
        bump(&self.enabled, u64::from(enabled));
        if let Some(v) = variant.and_then(|i| self.variants.get(i)) {
            bump(v, 1);
        }
        if now_ms != 0 {
            if self.last_ms.load(Ordering::Relaxed) != now_ms {
                self.last_ms.store(now_ms, Ordering::Relaxed);
            }
            self.in_series(now_ms, 1, u32::from(enabled));
        }
    }

    #[inline]
    fn in_series(&self, now_ms: u64, evaluations: u32, enabled: u32) {
        self.series
            .get_or_init(|| Box::new(Series::new()))
            .add(now_ms, evaluations, enabled);
    }

    /// The counts per minute (last hour) and per hour (last 7 days) at
    /// `now_ms`, oldest first: zeros where nothing was counted.
    pub fn series(&self, now_ms: u64) -> SeriesCounts {
        let s = self.series.get();
        let periods = |n: usize, len_ms: u64, read: &dyn Fn(u32) -> (u64, u64)| {
            let current = now_ms / len_ms;
            (0..n as u64)
                .rev()
                .filter_map(|back| current.checked_sub(back))
                .map(|p| {
                    let (evaluations, enabled) = read(p as u32);
                    Period {
                        start_ms: p * len_ms,
                        evaluations,
                        enabled,
                    }
                })
                .collect()
        };
        let minute = |m: u32| s.map_or((0, 0), |s| s.minutes[m as usize % SERIES_MINUTES].read(m));
        let hour = |h: u32| s.map_or((0, 0), |s| s.hour(h));
        SeriesCounts {
            minutes: periods(SERIES_MINUTES, 60_000, &minute),
            hours: periods(SERIES_HOURS, 3_600_000, &hour),
        }
    }

    pub fn snapshot(&self) -> Counts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            evaluations: get(&self.evaluations),
            enabled: get(&self.enabled),
            variants: self.variants.iter().map(get).collect(),
            last_ms: get(&self.last_ms),
            since_ms: get(&self.since_ms),
        }
    }

    /// The same counts for a new list of variants (whose counts start at 0).
    pub(crate) fn with_variants(&self, n: usize) -> Counters {
        let c = Counters::new(n, self.since_ms.load(Ordering::Relaxed));
        let copy = |from: &AtomicU64, to: &AtomicU64| {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed)
        };
        copy(&self.evaluations, &c.evaluations);
        copy(&self.enabled, &c.enabled);
        copy(&self.last_ms, &c.last_ms);
        if let Some(series) = self.series.get() {
            let _ = c.series.set(Box::new(series.copy()));
        }
        c
    }

    pub(crate) fn heap_size(&self) -> usize {
        self.variants.len() * 8
            + self
                .series
                .get()
                .map_or(0, |_| std::mem::size_of::<Series>())
    }

    /// Starts again from zero at `now_ms`.
    pub fn reset(&self, now_ms: u64) {
        for a in [&self.evaluations, &self.enabled, &self.last_ms]
            .into_iter()
            .chain(self.variants.iter())
        {
            a.store(0, Ordering::Relaxed);
        }
        if let Some(series) = self.series.get() {
            for slot in series.minutes.iter().chain(series.hours.iter()) {
                slot.stamp.store(0, Ordering::Relaxed);
                slot.evaluations.store(0, Ordering::Relaxed);
                slot.enabled.store(0, Ordering::Relaxed);
            }
        }
        self.since_ms.store(now_ms, Ordering::Relaxed);
    }
}

impl Counters {
    /// Adds counts made elsewhere (an in-process mirror's, `HANOI.TALLY`):
    /// `variants` are (index, count) pairs, an index past the flag's
    /// variants is left out; `now_ms` becomes the last evaluation's time
    /// when anything was counted (0 leaves it alone).
    pub fn add(
        &self,
        evaluations: u64,
        enabled: u64,
        variants: impl IntoIterator<Item = (usize, u64)>,
        now_ms: u64,
    ) {
        add_saturating(&self.evaluations, evaluations);
        add_saturating(&self.enabled, enabled);
        for (i, n) in variants {
            if let Some(v) = self.variants.get(i) {
                add_saturating(v, n);
            }
        }
        if now_ms != 0 && evaluations > 0 {
            self.last_ms.store(now_ms, Ordering::Relaxed);
            let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
            self.in_series(now_ms, clamp(evaluations), clamp(enabled));
        }
    }

    /// The counts since the last take, and zero again (`since_ms` and the
    /// last time stay): what an in-process mirror reports. Each count is
    /// swapped on its own, so an evaluation racing with the take may land
    /// in this take's `enabled` and the next one's `evaluations`: `enabled`
    /// is capped at `evaluations`, the rest carried to the next take.
    pub fn take(&self) -> Counts {
        let evaluations = self.evaluations.swap(0, Ordering::Relaxed);
        let mut take_capped = |a: &AtomicU64| {
            let n = a.swap(0, Ordering::Relaxed);
            let over = n.saturating_sub(evaluations);
            if over > 0 {
                a.fetch_add(over, Ordering::Relaxed);
            }
            n - over
        };
        let enabled = take_capped(&self.enabled);
        let variants = self.variants.iter().map(&mut take_capped).collect();
        Counts {
            evaluations,
            enabled,
            variants,
            last_ms: self.last_ms.load(Ordering::Relaxed),
            since_ms: self.since_ms.load(Ordering::Relaxed),
        }
    }
}

/// Counts made elsewhere, to add to a flag's own (`HANOI.TALLY key
/// evaluations enabled [variant count ...]`): an in-process mirror's
/// evaluations, reported to the server whose flags it mirrors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally<'a> {
    pub evaluations: u64,
    pub enabled: u64,
    /// (variant name, times handed out), as given.
    pub variants: Vec<(&'a [u8], u64)>,
}

/// `HANOI.TALLY key ...`: counts to add, or `RESET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TallyCommand<'a> {
    Add(Tally<'a>),
    /// Zero this server's counts of the flag.
    Reset,
}

impl<'a> TallyCommand<'a> {
    /// Parses the arguments after the key: `RESET`, or [`Tally::parse`]'s.
    pub fn parse(args: &[&'a [u8]], max_variants: usize) -> Result<TallyCommand<'a>, Error> {
        match args {
            [word] if word.eq_ignore_ascii_case(b"RESET") => Ok(TallyCommand::Reset),
            _ => Tally::parse(args, max_variants).map(TallyCommand::Add),
        }
    }
}

impl<'a> Tally<'a> {
    /// Parses `evaluations enabled [variant count ...]` (the arguments
    /// after the key). Counts are integers from 0; `enabled` and each
    /// variant's count at most `evaluations`, the variants' sum too; at most
    /// `max_variants` pairs (a flag has no more), each name once.
    pub fn parse(args: &[&'a [u8]], max_variants: usize) -> Result<Tally<'a>, Error> {
        let usage = || {
            Error::Usage("expected HANOI.TALLY key evaluations enabled [variant count ...]".into())
        };
        let [evaluations, enabled, rest @ ..] = args else {
            return Err(usage());
        };
        if rest.len() % 2 != 0 {
            return Err(usage());
        }
        if rest.len() / 2 > max_variants {
            return Err(Error::TooManyVariants {
                limit: max_variants,
            });
        }
        let count = |what: &str, s: &[u8]| {
            crate::parse_int(s)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "{what} must be an integer from 0, got '{}'",
                        crate::quote(s)
                    ))
                })
        };
        let evaluations = count("evaluations", evaluations)?;
        let enabled = count("enabled", enabled)?;
        if enabled > evaluations {
            return Err(Error::Usage("enabled is more than evaluations".into()));
        }
        let mut variants: Vec<(&[u8], u64)> = Vec::with_capacity(rest.len() / 2);
        let mut sum: u64 = 0;
        for pair in rest.chunks_exact(2) {
            let (name, n) = (pair[0], count("a variant's count", pair[1])?);
            if name.is_empty() {
                return Err(Error::EmptyVariantName);
            }
            if variants.iter().any(|(v, _)| *v == name) {
                return Err(Error::DuplicateVariant(crate::quote(name)));
            }
            sum = sum.saturating_add(n);
            variants.push((name, n));
        }
        if sum > evaluations {
            return Err(Error::Usage(
                "the variants' counts add up to more than evaluations".into(),
            ));
        }
        Ok(Tally {
            evaluations,
            enabled,
            variants,
        })
    }
}

/// A copy of a flag counts on its own, from zero.
impl Clone for Counters {
    fn clone(&self) -> Self {
        Counters::new(self.variants.len(), self.since_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_all_or_nothing() {
        let mut m = Metadata::default();
        assert_eq!(
            m.set(&[(b"owner", b"ana"), (b"tags", b"a,b")], 2, 10),
            Ok(2)
        );
        assert_eq!(m.set(&[(b"owner", b"ana")], 2, 10), Ok(0));
        assert_eq!(
            m.set(&[(b"owner", b"bo"), (b"x", b"1")], 2, 10),
            Err(Error::TooManyFields { limit: 2 })
        );
        assert_eq!(m.fields.get(&b"owner"[..]).unwrap(), b"ana");
        assert_eq!(
            m.set(&[(b"owner", b"0123456789x")], 2, 10),
            Err(Error::ValueTooLong { limit: 10 })
        );
        assert_eq!(
            m.set(&[(b"Created", b"1")], 2, 10),
            Err(Error::CreatedIsSet)
        );
        assert_eq!(m.set(&[(b"", b"1")], 2, 10), Err(Error::EmptyField));
        assert_eq!(m.delete(&[b"owner", b"nope"]), Ok(1));
        assert_eq!(m.delete(&[b"created"]), Err(Error::CreatedIsSet));
        // A field repeated in one call is one field.
        assert_eq!(m.set(&[(b"a", b"1"), (b"a", b"2")], 2, 10), Ok(1));
        assert_eq!(m.fields.get(&b"a"[..]).unwrap(), b"2");
    }

    #[test]
    fn history_keeps_the_newest() {
        let stamp = |ms| Stamp {
            at_ms: ms,
            user: b"default".to_vec(),
            client: None,
            keep: 2,
        };
        let mut h = History::default();
        for ms in 1..=3 {
            h.push(Entry::new(&stamp(ms), b"hanoi.enable", &[]), 2);
        }
        assert_eq!(h.newest().map(|e| e.at_ms).collect::<Vec<_>>(), [3, 2]);
        let ids: Vec<Vec<u8>> = (0..100).map(|i| format!("{i}").into_bytes()).collect();
        let ids: Vec<&[u8]> = ids.iter().map(Vec::as_slice).collect();
        let e = Entry::new(&stamp(4), b"hanoi.register", &ids);
        assert_eq!(e.command.len(), 1 + HISTORY_ARGS);
        assert_eq!(e.command[0], b"HANOI.REGISTER");
        assert_eq!(e.args, 100);
        h.push(e, 0);
        assert!(h.is_empty());
    }

    #[test]
    fn tally_parses_and_refuses() {
        let p = |args: &[&str]| {
            let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            Tally::parse(&a, 2).map(|t| (t.evaluations, t.enabled, t.variants.len()))
        };
        assert_eq!(p(&["10", "3"]), Ok((10, 3, 0)));
        assert_eq!(p(&["10", "3", "a", "4", "b", "6"]), Ok((10, 3, 2)));
        assert_eq!(p(&["0", "0"]), Ok((0, 0, 0)));
        for bad in [
            &["10"][..],
            &["10", "3", "a"],
            &["-1", "0"],
            &["x", "0"],
            &["1", "2"],
            &["10", "3", "a", "11"],
            &["10", "3", "a", "6", "b", "5"],
            &["10", "3", "a", "1", "a", "1"],
            &["10", "3", "", "1"],
            &["10", "3", "a", "1", "b", "1", "c", "1"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn counters() {
        let c = Counters::new(2, 5);
        c.count(true, Some(1), 10);
        c.count(false, None, 0);
        c.count(true, Some(7), 11);
        assert_eq!(
            c.snapshot(),
            Counts {
                evaluations: 3,
                enabled: 2,
                variants: vec![0, 1],
                last_ms: 11,
                since_ms: 5
            }
        );
        let t = c.take();
        assert_eq!((t.evaluations, t.enabled, t.variants), (3, 2, vec![0, 1]));
        assert_eq!(c.snapshot().evaluations, 0);
        assert_eq!(c.snapshot().last_ms, 11);
        c.add(5, 4, [(0, 2), (9, 1)], 30);
        let s = c.snapshot();
        assert_eq!(
            (s.evaluations, s.enabled, s.variants, s.last_ms),
            (5, 4, vec![2, 0], 30)
        );
        c.reset(20);
        assert_eq!(c.snapshot().evaluations, 0);
        assert_eq!(c.snapshot().since_ms, 20);
    }

    #[test]
    fn series_per_minute_and_per_hour() {
        let c = Counters::new(0, 0);
        let t0 = 1_796_000_000_000u64; // some time in 2026
        let empty = c.series(t0);
        assert_eq!((empty.minutes.len(), empty.hours.len()), (60, 168));
        assert!(empty.minutes.iter().all(|p| p.evaluations == 0));
        c.count_serialized(true, None, t0);
        c.count_serialized(false, None, t0 + 1_000);
        c.count_serialized(true, None, t0 + 60_000); // the next minute
        let s = c.series(t0 + 60_000);
        let last = s.minutes[59];
        assert_eq!(last.start_ms, (t0 + 60_000) / 60_000 * 60_000);
        assert_eq!((last.evaluations, last.enabled), (1, 1));
        assert_eq!((s.minutes[58].evaluations, s.minutes[58].enabled), (2, 1));
        assert_eq!(s.hours[167].evaluations, 3, "the current hour");
        c.count(true, None, t0 + 2 * 3_600_000); // two hours on
                                                 // Two hours later the minutes are gone, the hours stay.
        let later = c.series(t0 + 2 * 3_600_000);
        assert_eq!(later.minutes.iter().map(|p| p.evaluations).sum::<u64>(), 1);
        assert_eq!(later.hours.iter().map(|p| p.evaluations).sum::<u64>(), 4);
        // A slot reused an hour later starts again (the ring wraps).
        c.count_serialized(true, None, t0 + 3_600_000 + 60_000);
        let s = c.series(t0 + 3_600_000 + 60_000);
        assert_eq!(s.minutes[59].evaluations, 1);
        // A mirror's tally lands in the current minute; a new variant list
        // keeps the series; reset clears it.
        c.add(10, 4, [], t0 + 3_600_000 + 60_000);
        let d = c.with_variants(2);
        assert_eq!(
            d.series(t0 + 3_600_000 + 60_000).minutes[59].evaluations,
            11
        );
        d.reset(t0);
        assert_eq!(d.series(t0 + 3_600_000 + 60_000).minutes[59].evaluations, 0);
    }
}
