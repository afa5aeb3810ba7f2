//! The stored form of a flag (the module's RDB value, encoding version 3),
//! written to a [`Sink`] and read from a [`Source`]: the Redis module plugs in
//! its RDB I/O; tests and the fuzzer use bytes in memory.
//!
//! ```text
//! u64    bits: 1 = enabled, 2 = weights follow the variants, 4 = salt present
//! u64    percentage (0..=100)
//! [bytes salt]
//! u64    variant count, then each name (bytes), then [each weight (u64)]
//! u64    regex count, then each pattern (bytes, UTF-8)
//! ids    registered ids
//! ids    blocked ids
//! ids:   u64 id count, u64 total chunk bytes, u64 chunk count, then each chunk
//!        (bytes): `varint length ++ id` per id (IdSet::for_each_chunk)
//! --- version 2 adds:
//! u64    created (Unix ms)
//! u64    metadata field count, then each field and value (bytes, bytes)
//! u64    history entry count, then each entry, oldest first:
//!        u64 time (Unix ms), bytes user, u64 has client (0/1), [bytes client],
//!        u64 argument count in all, u64 kept words, then each word (bytes)
//! --- version 3 adds:
//! u64    rule count, then each rule: bytes name, u64 argument count, then
//!        each argument (bytes): what follows `HANOI.RULE key SET name`
//! u64    schedule bits: 1 = window, 2 = ramp
//! [u64 from, u64 until]                       window
//! [u64 from_pct, u64 to_pct, u64 start, u64 end]  ramp
//! --- version 4 adds:
//! u64    revision (see `store`)
//! --- version 5 adds:
//! u64    bits: 1 = values follow, 2 = a default variant follows
//! [bytes value] per variant                    VALUES (JSON texts)
//! [bytes name]                                 DEFAULT
//! --- version 6 adds:
//! u64    bits: 1 = a segment
//! u64    prerequisite count, then each: bytes key, u64 has variant (0/1),
//!        [bytes variant]
//! --- version 7 adds: (the experiment, issue 35)
//! u64    has an experiment (0/1), then:
//! u64    bits: 1 = running, 2 = arms off and on (a boolean flag)
//! u64    started (Unix ms), u64 stopped (Unix ms, 0 while running)
//! u64    control (the arm's index)
//! u64    arm count, then each arm's name (bytes)
//! u64    metric count, then each metric's name (bytes)
//! u64    exposure count, u64 chunk count, then each chunk (bytes): per
//!        exposure, in the order made, `varint id length ++ id ++ varint
//!        arm ++ varint ms after the start`
//! u64    conversion count, u64 chunk count, then each chunk (bytes): per
//!        (unit, metric), `varint exposure offset (its first byte in the
//!        exposures' bytes) ++ varint metric ++ varint the unit's total`
//! ```
//! Without ids ([`to_bytes_without_ids`]) the exposures and conversions
//! are left out too (their counts stay, with no chunks).
//! Evaluation counts are not stored: they are per server and per process.
//!
//! The RDB writes ids in the id table's order (fast); `HANOI.EXPORT`
//! ([`to_bytes`]) writes them in byte order, so the same flag gives the same
//! bytes on a primary, its replicas and after a reload. Its form without ids
//! ([`to_bytes_without_ids`]) keeps each id count with no chunks: a reader
//! that wants the description ([`from_bytes_partial`]) learns the counts
//! without pulling every id.

use crate::experiment::{get_varint, put_varint, Experiment};
use crate::observe::{Entry, History, Metadata};
use crate::rules::{parse_rule, Rule};
use crate::{Definition, Error, Flag, IdSet, Limits, Ramp, Schedule};

/// The encoding version this code writes; it reads 1 to this.
pub const ENCODING_VERSION: i32 = 7;

/// Bytes of ids per stored chunk.
const CHUNK_BYTES: usize = 64 * 1024;

const BIT_ENABLED: u64 = 1;
const BIT_WEIGHTS: u64 = 2;
const BIT_SALT: u64 = 4;

pub trait Sink {
    fn put_u64(&mut self, v: u64);
    fn put_bytes(&mut self, b: &[u8]);
}

pub trait Source {
    type Buf: AsRef<[u8]>;
    fn get_u64(&mut self) -> Result<u64, Error>;
    fn get_bytes(&mut self) -> Result<Self::Buf, Error>;
}

/// Streams the ids: a first pass adds up lengths to count the chunks and
/// their bytes (the header needs them), a second writes each chunk as it is
/// packed. Only one
/// chunk is ever held, never a copy of every id.
fn save_ids(ids: &IdSet, out: &mut impl Sink, how: Ids) {
    out.put_u64(ids.len() as u64);
    match how {
        Ids::TableOrder => {
            let (bytes, chunks) = ids.chunk_stats(CHUNK_BYTES);
            out.put_u64(bytes);
            out.put_u64(chunks);
            ids.for_each_chunk(CHUNK_BYTES, |c| out.put_bytes(c));
        }
        Ids::Sorted => {
            let sorted = ids.sorted();
            let (bytes, chunks) = crate::idset::chunk_stats(sorted.iter().copied(), CHUNK_BYTES);
            out.put_u64(bytes);
            out.put_u64(chunks);
            crate::idset::for_each_chunk(sorted.iter().copied(), CHUNK_BYTES, |c| out.put_bytes(c));
        }
        Ids::CountOnly => {
            out.put_u64(0);
            out.put_u64(0);
        }
    }
}

/// How a flag's ids are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ids {
    /// In the id table's order (the RDB: no sort).
    TableOrder,
    /// In byte order (the export: the same bytes wherever the flag is).
    Sorted,
    /// Only how many (the description, the AOF rewrite's head).
    CountOnly,
}

/// The RDB form of a flag.
pub fn save(flag: &Flag, out: &mut impl Sink) {
    save_with(flag, out, Ids::TableOrder);
}

fn save_with(flag: &Flag, out: &mut impl Sink, how: Ids) {
    let d = flag.definition();
    let bits = if d.enabled { BIT_ENABLED } else { 0 }
        | if d.weights.is_some() { BIT_WEIGHTS } else { 0 }
        | if d.salt.is_some() { BIT_SALT } else { 0 };
    out.put_u64(bits);
    out.put_u64(u64::from(d.percentage));
    if let Some(salt) = &d.salt {
        out.put_bytes(salt);
    }
    out.put_u64(d.variants.len() as u64);
    for v in &d.variants {
        out.put_bytes(v);
    }
    for w in d.weights.iter().flatten() {
        out.put_u64(u64::from(*w));
    }
    out.put_u64(flag.patterns().len() as u64);
    for p in flag.patterns() {
        out.put_bytes(p.as_bytes());
    }
    save_ids(flag.users(), out, how);
    save_ids(flag.blocked(), out, how);
    // Version 2.
    let meta = flag.metadata();
    out.put_u64(meta.created_ms);
    out.put_u64(meta.fields.len() as u64);
    for (k, v) in &meta.fields {
        out.put_bytes(k);
        out.put_bytes(v);
    }
    let history = flag.history();
    out.put_u64(history.len() as u64);
    for e in history.oldest() {
        out.put_u64(e.at_ms);
        out.put_bytes(&e.user);
        match &e.client {
            Some(c) => {
                out.put_u64(1);
                out.put_bytes(c);
            }
            None => out.put_u64(0),
        }
        out.put_u64(e.args);
        out.put_u64(e.command.len() as u64);
        for w in &e.command {
            out.put_bytes(w);
        }
    }
    // Version 3.
    out.put_u64(flag.rules().len() as u64);
    for r in flag.rules() {
        out.put_bytes(&r.name);
        let args = r.args();
        out.put_u64(args.len() as u64);
        for a in &args {
            out.put_bytes(a);
        }
    }
    let sched = flag.schedule();
    out.put_u64(u64::from(sched.window.is_some()) | u64::from(sched.ramp.is_some()) << 1);
    if let Some((from, until)) = sched.window {
        out.put_u64(from);
        out.put_u64(until);
    }
    if let Some(r) = sched.ramp {
        out.put_u64(u64::from(r.from_pct));
        out.put_u64(u64::from(r.to_pct));
        out.put_u64(r.start_ms);
        out.put_u64(r.end_ms);
    }
    // Version 4.
    out.put_u64(flag.revision());
    // Version 5.
    out.put_u64(u64::from(d.values.is_some()) | u64::from(d.default.is_some()) << 1);
    for v in d.values.iter().flatten() {
        out.put_bytes(v);
    }
    if let Some(name) = &d.default {
        out.put_bytes(name);
    }
    // Version 6.
    out.put_u64(u64::from(d.segment));
    out.put_u64(flag.prereqs().len() as u64);
    for p in flag.prereqs() {
        out.put_bytes(&p.key);
        match &p.variant {
            Some(v) => {
                out.put_u64(1);
                out.put_bytes(v);
            }
            None => out.put_u64(0),
        }
    }
    // Version 7.
    save_experiment(flag.experiment(), out, how);
}

fn save_experiment(e: Option<&Experiment>, out: &mut impl Sink, how: Ids) {
    let Some(e) = e else {
        out.put_u64(0);
        return;
    };
    out.put_u64(1);
    out.put_u64(u64::from(e.running()) | u64::from(e.boolean()) << 1);
    out.put_u64(e.started_ms());
    out.put_u64(e.stopped_ms());
    out.put_u64(e.control() as u64);
    for names in [e.arms(), e.metrics()] {
        out.put_u64(names.len() as u64);
        for n in names {
            out.put_bytes(n);
        }
    }
    out.put_u64(e.exposures().len() as u64);
    let conversions = e.conversion_entries();
    if how == Ids::CountOnly {
        out.put_u64(0);
        out.put_u64(conversions.len() as u64);
        out.put_u64(0);
        return;
    }
    let chunks = e.exposures().chunks(CHUNK_BYTES);
    out.put_u64(chunks.len() as u64);
    for c in chunks {
        out.put_bytes(c);
    }
    out.put_u64(conversions.len() as u64);
    let mut packed: Vec<Vec<u8>> = Vec::new();
    let mut buf = Vec::new();
    for (offset, metric, total) in conversions {
        for v in [offset, metric, total] {
            put_varint(&mut buf, v);
        }
        if buf.len() >= CHUNK_BYTES {
            packed.push(std::mem::take(&mut buf));
        }
    }
    if !buf.is_empty() {
        packed.push(buf);
    }
    out.put_u64(packed.len() as u64);
    for c in packed {
        out.put_bytes(&c);
    }
}

/// Reads version 7's experiment; a partial read accepts its exposures and
/// conversions left out (then it has none).
fn load_experiment(src: &mut impl Source, partial: bool) -> Result<Option<Experiment>, Error> {
    match src.get_u64()? {
        0 => return Ok(None),
        1 => {}
        _ => return Err(Error::Corrupt),
    }
    let bits = src.get_u64()?;
    if bits & !3 != 0 {
        return Err(Error::Corrupt);
    }
    let started = src.get_u64()?;
    let stopped = src.get_u64()?;
    let control = usize::try_from(src.get_u64()?).map_err(|_| Error::Corrupt)?;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = src.get_u64()?;
        for _ in 0..n {
            list.push(bytes(src)?);
        }
    }
    let [arms, metrics] = lists;
    let mut e = Experiment::stored(
        bits & 1 != 0,
        started,
        stopped,
        bits & 2 != 0,
        arms,
        control,
        metrics,
    )?;
    let exposures = src.get_u64()?;
    let chunks = src.get_u64()?;
    let mut seen = 0;
    for _ in 0..chunks {
        seen += e.load_chunk(src.get_bytes()?.as_ref())?;
        if seen > exposures {
            return Err(Error::Corrupt);
        }
    }
    let conversions = src.get_u64()?;
    let chunks = src.get_u64()?;
    if partial && chunks == 0 && seen == 0 {
        return Ok(Some(e));
    }
    if seen != exposures {
        return Err(Error::Corrupt);
    }
    let mut seen = 0;
    for _ in 0..chunks {
        let chunk = src.get_bytes()?;
        let chunk = chunk.as_ref();
        let mut pos = 0;
        while pos < chunk.len() {
            let mut v = [0u64; 3];
            for x in &mut v {
                let (value, next) = get_varint(chunk, pos).ok_or(Error::Corrupt)?;
                *x = value;
                pos = next;
            }
            e.load_conversion(v[0], v[1], v[2])?;
            seen += 1;
            if seen > conversions {
                return Err(Error::Corrupt);
            }
        }
    }
    if seen != conversions {
        return Err(Error::Corrupt);
    }
    Ok(Some(e))
}

fn load_targeting(src: &mut impl Source) -> Result<(Vec<Rule>, Schedule), Error> {
    let mut rules: Vec<Rule> = Vec::new();
    let limits = Limits::STORED.rule_limits();
    for _ in 0..src.get_u64()? {
        let name = bytes(src)?;
        let mut args = Vec::new();
        for _ in 0..src.get_u64()? {
            args.push(bytes(src)?);
        }
        let words: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let rule = parse_rule(&name, &words, &limits).map_err(|_| Error::Corrupt)?;
        if rules.iter().any(|r| r.name == rule.name) {
            return Err(Error::Corrupt);
        }
        rules.push(rule);
    }
    let bits = src.get_u64()?;
    if bits & !3 != 0 {
        return Err(Error::Corrupt);
    }
    let mut schedule = Schedule::default();
    if bits & 1 != 0 {
        schedule.window = Some((src.get_u64()?, src.get_u64()?));
    }
    if bits & 2 != 0 {
        let pct = |v: u64| {
            u8::try_from(v)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or(Error::Corrupt)
        };
        let from_pct = pct(src.get_u64()?)?;
        let to_pct = pct(src.get_u64()?)?;
        schedule.ramp = Some(Ramp {
            from_pct,
            to_pct,
            start_ms: src.get_u64()?,
            end_ms: src.get_u64()?,
        });
    }
    Ok((rules, schedule))
}

fn bytes(src: &mut impl Source) -> Result<Vec<u8>, Error> {
    Ok(src.get_bytes()?.as_ref().to_vec())
}

fn load_observations(src: &mut impl Source) -> Result<(Metadata, History), Error> {
    let mut meta = Metadata {
        created_ms: src.get_u64()?,
        ..Metadata::default()
    };
    for _ in 0..src.get_u64()? {
        let k = bytes(src)?;
        let v = bytes(src)?;
        if meta.fields.insert(k, v).is_some() {
            return Err(Error::Corrupt);
        }
    }
    let mut history = History::default();
    let n = src.get_u64()?;
    for _ in 0..n {
        let at_ms = src.get_u64()?;
        let user = bytes(src)?;
        let client = match src.get_u64()? {
            0 => None,
            1 => Some(bytes(src)?),
            _ => return Err(Error::Corrupt),
        };
        let args = src.get_u64()?;
        let mut command = Vec::new();
        for _ in 0..src.get_u64()? {
            command.push(bytes(src)?);
        }
        let entry = Entry {
            at_ms,
            user,
            client,
            command,
            args,
        };
        history.push(entry, usize::MAX);
    }
    Ok((meta, history))
}

/// The ids, and how many the writer had: a partial read accepts a count
/// with no chunks ([`to_bytes_without_ids`]), and then holds no ids.
fn load_ids(src: &mut impl Source, partial: bool) -> Result<(IdSet, u64), Error> {
    let n = src.get_u64()?;
    let bytes = src.get_u64()?;
    let chunks = src.get_u64()?;
    if partial && chunks == 0 && bytes == 0 {
        return Ok((IdSet::new(), n));
    }
    // Sized up front, within bounds: the numbers may be corrupt.
    let cap = |v: u64, max: u64| usize::try_from(v.min(max)).unwrap_or(0);
    let mut ids = IdSet::with_capacity(cap(n, 1 << 20), cap(bytes, 1 << 24));
    let mut seen = 0u64;
    for _ in 0..chunks {
        let chunk = src.get_bytes()?;
        seen += ids.extend_from_chunk(chunk.as_ref())? as u64;
        if seen > n {
            return Err(Error::Corrupt);
        }
    }
    if seen != n || ids.len() as u64 != n {
        return Err(Error::Corrupt);
    }
    Ok((ids, n))
}

/// Reads a flag stored with encoding version `version`: one arm per version
/// this code has ever written (as RedisJSON's loader has), so an old RDB
/// loads after an upgrade; a newer version is refused.
pub fn load(src: &mut impl Source, version: i32) -> Result<Flag, Error> {
    load_partial(src, version, false).map(|p| p.flag)
}

/// A flag read from bytes that may leave its ids out, and how many ids it
/// has (what a description shows).
#[derive(Debug, Clone)]
pub struct Partial {
    /// The flag; without its ids when they were left out.
    pub flag: Flag,
    /// How many ids are registered.
    pub users: u64,
    /// How many ids are blocked.
    pub blocked: u64,
}

fn load_partial(src: &mut impl Source, version: i32, partial: bool) -> Result<Partial, Error> {
    if !(1..=ENCODING_VERSION).contains(&version) {
        return Err(Error::UnknownEncoding(version));
    }
    let mut p = load_v1(src, partial)?;
    if version >= 2 {
        let (meta, history) = load_observations(src)?;
        p.flag = p.flag.with_observations(meta, history);
    }
    if version >= 3 {
        let (rules, schedule) = load_targeting(src)?;
        p.flag = p
            .flag
            .with_targeting(rules, schedule)
            .map_err(|_| Error::Corrupt)?;
    }
    if version >= 4 {
        p.flag.set_revision(src.get_u64()?);
    }
    if version >= 5 {
        let bits = src.get_u64()?;
        if bits & !3 != 0 {
            return Err(Error::Corrupt);
        }
        let mut def = p.flag.definition().clone();
        if bits & 1 != 0 {
            let mut values = Vec::with_capacity(def.variants.len());
            for _ in 0..def.variants.len() {
                values.push(bytes(src)?);
            }
            def.values = Some(values);
        }
        if bits & 2 != 0 {
            def.default = Some(bytes(src)?);
        }
        if bits != 0 {
            p.flag
                .set_definition(def, &Limits::STORED)
                .map_err(|_| Error::Corrupt)?;
        }
    }
    if version >= 6 {
        let bits = src.get_u64()?;
        if bits & !1 != 0 {
            return Err(Error::Corrupt);
        }
        let count = src.get_u64()?;
        // Each prerequisite reads at least 16 bytes: a count that is a lie
        // ends in a short read, never in a large allocation.
        let mut prereqs = Vec::new();
        for _ in 0..count {
            let key = bytes(src)?;
            let variant = match src.get_u64()? {
                0 => None,
                1 => Some(bytes(src)?),
                _ => return Err(Error::Corrupt),
            };
            prereqs.push(crate::refs::Prereq { key, variant });
        }
        if bits & 1 != 0 {
            let mut def = p.flag.definition().clone();
            def.segment = true;
            p.flag
                .set_definition(def, &Limits::STORED)
                .map_err(|_| Error::Corrupt)?;
        }
        p.flag = p.flag.with_prereqs(prereqs).map_err(|_| Error::Corrupt)?;
    }
    if version >= 7 {
        *p.flag.experiment_mut() = load_experiment(src, partial)?.map(Box::new);
    }
    Ok(p)
}

fn load_v1(src: &mut impl Source, partial: bool) -> Result<Partial, Error> {
    let bits = src.get_u64()?;
    if bits & !(BIT_ENABLED | BIT_WEIGHTS | BIT_SALT) != 0 {
        return Err(Error::Corrupt);
    }
    let percentage = u8::try_from(src.get_u64()?).map_err(|_| Error::Corrupt)?;
    let salt = if bits & BIT_SALT != 0 {
        Some(src.get_bytes()?.as_ref().to_vec())
    } else {
        None
    };
    let n = src.get_u64()?;
    let mut variants = Vec::new();
    for _ in 0..n {
        variants.push(src.get_bytes()?.as_ref().to_vec());
    }
    let weights = if bits & BIT_WEIGHTS != 0 {
        let mut w = Vec::new();
        for _ in 0..n {
            w.push(u32::try_from(src.get_u64()?).map_err(|_| Error::Corrupt)?);
        }
        Some(w)
    } else {
        None
    };
    let n = src.get_u64()?;
    let mut patterns = Vec::new();
    for _ in 0..n {
        let p = src.get_bytes()?.as_ref().to_vec();
        patterns.push(String::from_utf8(p).map_err(|_| Error::Corrupt)?);
    }
    let (users, user_count) = load_ids(src, partial)?;
    let (blocked, blocked_count) = load_ids(src, partial)?;
    let def = Definition {
        enabled: bits & BIT_ENABLED != 0,
        percentage,
        variants,
        weights,
        salt,
        ..Definition::default()
    };
    let flag = Flag::from_parts(def, users, blocked, patterns).map_err(|e| match e {
        Error::InvalidRegex { .. } => Error::Corrupt,
        e => e,
    })?;
    Ok(Partial {
        flag,
        users: user_count,
        blocked: blocked_count,
    })
}

/// In-memory framing: u64 little-endian; bytes as a u64 length then the bytes.
impl Sink for Vec<u8> {
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_bytes(&mut self, b: &[u8]) {
        self.put_u64(b.len() as u64);
        self.extend_from_slice(b);
    }
}

/// Reads the in-memory framing of `Vec<u8>`'s [`Sink`].
pub struct SliceSource<'a>(pub &'a [u8]);

impl<'a> Source for SliceSource<'a> {
    type Buf = &'a [u8];
    fn get_u64(&mut self) -> Result<u64, Error> {
        let (head, rest) = self.0.split_first_chunk::<8>().ok_or(Error::ShortRead)?;
        self.0 = rest;
        Ok(u64::from_le_bytes(*head))
    }
    fn get_bytes(&mut self) -> Result<&'a [u8], Error> {
        let len = usize::try_from(self.get_u64()?).map_err(|_| Error::ShortRead)?;
        if len > self.0.len() {
            return Err(Error::ShortRead);
        }
        let (b, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(b)
    }
}

/// What `HANOI.EXPORT` bytes start with, before the version (u64 LE).
pub const MAGIC: &[u8; 8] = b"hanoiflg";

/// A flag as `HANOI.EXPORT` gives it: [`MAGIC`], the encoding version as a
/// u64 little-endian, then the flag in the in-memory framing.
/// The ids come in byte order: the same flag gives the same bytes.
pub fn to_bytes(flag: &Flag) -> Vec<u8> {
    framed(flag, Ids::Sorted)
}

/// [`to_bytes`] with only the counts of the ids (`HANOI.EXPORT key
/// NOIDS`, and the head of a flag in the AOF rewrite, whose ids follow in
/// batches): read back with [`from_bytes_partial`].
pub fn to_bytes_without_ids(flag: &Flag) -> Vec<u8> {
    framed(flag, Ids::CountOnly)
}

fn framed(flag: &Flag, how: Ids) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.put_u64(ENCODING_VERSION as u64);
    save_with(flag, &mut out, how);
    out
}

/// Reads [`to_bytes`]'s form. Bytes without the magic are not a flag
/// (`Corrupt`); a version newer than this code is `UnknownEncoding`, so a
/// reader can tell "upgrade me" from corruption. Trailing bytes are an error.
pub fn from_bytes(bytes: &[u8]) -> Result<Flag, Error> {
    read_framed(bytes, false).map(|p| p.flag)
}

/// Reads [`to_bytes`]'s or [`to_bytes_without_ids`]'s form: the flag (its
/// ids only if they were there) and the id counts.
pub fn from_bytes_partial(bytes: &[u8]) -> Result<Partial, Error> {
    read_framed(bytes, true)
}

fn read_framed(bytes: &[u8], partial: bool) -> Result<Partial, Error> {
    let rest = bytes.strip_prefix(MAGIC).ok_or(Error::Corrupt)?;
    let mut src = SliceSource(rest);
    let version = i32::try_from(src.get_u64()?).map_err(|_| Error::UnknownEncoding(i32::MAX))?;
    let p = load_partial(&mut src, version, partial)?;
    if src.0.is_empty() {
        Ok(p)
    } else {
        Err(Error::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn sample() -> Flag {
        let def = Definition {
            enabled: false,
            percentage: 42,
            variants: vec![b"a".to_vec(), b"b".to_vec()],
            weights: Some(vec![3, 1]),
            salt: Some(b"pepper".to_vec()),
            ..Definition::default()
        };
        let mut f = Flag::new(def, &Limits::default()).unwrap();
        for i in 0..20_000u32 {
            f.add_users([format!("u{i}").as_bytes()]);
        }
        f.add_users([&b""[..], &[0xff, 0]]);
        f.block([&b"u7"[..]]);
        f.add_regexes([&b"^x"[..], "ñ$".as_bytes()], &Limits::default())
            .unwrap();
        f.metadata_mut().created_ms = 1_764_000_000_000;
        f.metadata_mut()
            .set(&[(b"owner", b"ana"), (b"tags", &[0xff, b','])], 8, 64)
            .unwrap();
        let stamp = |client: Option<&[u8]>| crate::observe::Stamp {
            at_ms: 1_764_000_000_001,
            user: b"ops".to_vec(),
            client: client.map(<[u8]>::to_vec),
            keep: 100,
        };
        f.record(&stamp(Some(b"web:ana")), b"hanoi.disable", &[]);
        f.record(&stamp(None), b"hanoi.register", &[b"USER", b"1", &[0xff]]);
        let words: Vec<&[u8]> = vec![
            b"ROLLOUT",
            b"30",
            b"VARIANT",
            b"b",
            b"IF",
            b"plan",
            b"IN",
            b"2",
            b"pro",
            &[0xfe],
            b"AND",
            b"v",
            b"SEMVER_GE",
            b"2.0.0",
        ];
        let rule =
            crate::rules::parse_rule(b"pros", &words, &Limits::default().rule_limits()).unwrap();
        f.set_rule(rule, &Limits::default()).unwrap();
        f.set_window(1, 0).unwrap();
        f.set_ramp(crate::Ramp {
            from_pct: 5,
            to_pct: 50,
            start_ms: 10,
            end_ms: 20,
        })
        .unwrap();
        f
    }

    #[test]
    fn older_versions_load_their_prefix_exactly() {
        let f = sample();
        let mut all = Vec::new();
        save(&f, &mut all);
        // The same flag without what versions 2 and 3 added.
        let bare = f
            .clone()
            .with_observations(Default::default(), Default::default())
            .with_targeting(Vec::new(), Default::default())
            .unwrap();
        let mut b = Vec::new();
        save(&bare, &mut b);
        // Version 1 is that layout without its 10 trailing u64s (created,
        // field count, entry count; rule count, schedule bits; revision;
        // value bits; segment bits, prerequisite count; experiment).
        let v1 = &b[..b.len() - 8 * 10];
        let mut src = SliceSource(v1);
        let g = load(&mut src, 1).unwrap();
        assert!(src.0.is_empty(), "version 1 reads its whole layout");
        assert_eq!(g.users(), f.users());
        assert!(g.history().is_empty() && g.metadata().fields.is_empty() && g.rules().is_empty());
        // Version 7 reads everything the current writer writes, to the byte;
        // version 6 is that without the experiment's u64 (none here), 5
        // without the segment bits and the prerequisite count (none here),
        // 4 without the value bits (no values here), 3 without the revision
        // too.
        let mut src = SliceSource(&all);
        assert!(load(&mut src, 7).unwrap() == f);
        assert!(src.0.is_empty());
        let mut src = SliceSource(&all[..all.len() - 8]);
        assert!(load(&mut src, 6).unwrap() == f);
        assert!(src.0.is_empty());
        let mut src = SliceSource(&all[..all.len() - 24]);
        assert!(load(&mut src, 5).unwrap() == f);
        assert!(src.0.is_empty());
        let mut src = SliceSource(&all[..all.len() - 32]);
        assert!(load(&mut src, 4).unwrap() == f);
        let mut src = SliceSource(&all[..all.len() - 40]);
        let g = load(&mut src, 3).unwrap();
        assert!(src.0.is_empty());
        assert_eq!((g.revision(), g.rules().len()), (0, 1));
    }

    #[test]
    fn an_experiment_round_trips_with_its_exposures_and_conversions() {
        let limits = Limits::default();
        let args: Vec<&[u8]> = vec![b"PERCENTAGE", b"100", b"VARIANTS", b"2", b"a", b"b"];
        let mut f = Flag::new(crate::parse_definition(&args, &limits).unwrap(), &limits).unwrap();
        let start: Vec<&[u8]> = vec![b"START", b"METRICS", b"2", b"buy", b"rev"];
        f.change_experiment(crate::experiment::Change::parse(&start).unwrap(), 1_000)
            .unwrap();
        let q = crate::Query::default();
        for i in 0..30_000u32 {
            let id = format!("user-{i}");
            f.assign(id.as_bytes(), &q, 1_000 + u64::from(i), usize::MAX)
                .unwrap();
            if i % 3 == 0 {
                f.track(id.as_bytes(), b"rev", u64::from(i)).unwrap();
            }
        }
        let bytes = to_bytes(&f);
        let g = from_bytes(&bytes).unwrap();
        assert!(g == f);
        let (e, h) = (f.experiment().unwrap(), g.experiment().unwrap());
        assert_eq!(e.results(), h.results());
        assert_eq!(h.exposures().len(), 30_000);
        let mut rdb = Vec::new();
        save(&f, &mut rdb);
        assert!(load(&mut SliceSource(&rdb), ENCODING_VERSION).unwrap() == f);
        // Without ids: the experiment's state, none of its data.
        let p = from_bytes_partial(&to_bytes_without_ids(&f)).unwrap();
        let pe = p.flag.experiment().unwrap();
        assert!(pe.exposures().is_empty() && pe.running() && pe.metrics() == e.metrics());
        assert!(from_bytes(&to_bytes_without_ids(&f)).is_err());
        // Every cut and many flipped bytes: an error or a flag, no panic.
        for cut in (bytes.len() - 3000..bytes.len()).step_by(7) {
            assert!(from_bytes(&bytes[..cut]).is_err());
        }
        let mut x: u64 = 7;
        for _ in 0..500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = bytes.clone();
            let i = b.len() - 1 - (x as usize) % 4000;
            b[i] ^= (x >> 32) as u8 | 1;
            if let Ok(f) = from_bytes(&b) {
                let _ = f.explain(b"user-1");
            }
        }
    }

    #[test]
    fn round_trip() {
        let f = sample();
        let bytes = to_bytes(&f);
        let g = from_bytes(&bytes).unwrap();
        assert!(f == g);
        assert_eq!(
            to_bytes(&Flag::new(Definition::default(), &Limits::default()).unwrap()).len(),
            8 * 22
        );
    }

    #[test]
    fn segments_and_prerequisites_round_trip() {
        let limits = Limits::default();
        let mut seg = Flag::new(
            crate::parse_definition(&[b"SEGMENT", b"SALT", b"s"], &limits).unwrap(),
            &limits,
        )
        .unwrap();
        seg.add_users([&b"anna"[..]]);
        let rule = crate::rules::parse_rule(
            b"nested",
            &[b"IF", b"segment", b"IN", b"2", b"a", b"b"],
            &limits.rule_limits(),
        )
        .unwrap();
        seg.set_rule(rule, &limits).unwrap();
        let g = from_bytes(&to_bytes(&seg)).unwrap();
        assert!(g == seg && g.is_segment() && g.has_references());
        let mut f = sample();
        for (key, variant) in [(&b"pay"[..], None), (b"{x}api", Some(b"v2".to_vec()))] {
            let p = crate::refs::Prereq {
                key: key.to_vec(),
                variant,
            };
            f.set_prereq(p, &limits).unwrap();
        }
        let g = from_bytes(&to_bytes(&f)).unwrap();
        assert!(g == f);
        assert_eq!(g.prereqs(), f.prereqs());
        assert_eq!(g.references().count(), 2);
        // A segment with prerequisites is no stored flag.
        let mut bytes = to_bytes(&seg);
        // (the prerequisite count and the experiment's u64 end it)
        bytes.truncate(bytes.len() - 16);
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.extend_from_slice(&1u64.to_le_bytes());
        bytes.push(b'p');
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        assert!(from_bytes(&bytes).is_err());
    }

    #[test]
    fn values_and_the_default_round_trip() {
        let limits = Limits::default();
        let args: Vec<&[u8]> = vec![
            b"VARIANTS",
            b"2",
            b"small",
            b"big",
            b"VALUES",
            b"{\"n\": 1}",
            b" [1e300] ",
            b"DEFAULT",
            b"small",
        ];
        let def = crate::parse_definition(&args, &limits).unwrap();
        assert_eq!(def.values.as_ref().unwrap()[1], b"[1e300]");
        let f = Flag::new(def, &limits).unwrap();
        assert_eq!(f.value_type(), crate::ValueType::Object);
        let g = from_bytes(&to_bytes(&f)).unwrap();
        assert!(g == f);
        assert_eq!(g.definition().default.as_deref(), Some(&b"small"[..]));
        assert_eq!(g.value_type(), crate::ValueType::Object);
    }

    #[test]
    fn values_no_client_can_read_are_refused_at_the_write_only() {
        let limits = Limits::default();
        let digits = "9".repeat(5000);
        for bad in [
            &b"1e999999"[..],
            b"[-1e400]",
            digits.as_bytes(),
            b"\"\xff\"",
            b"{\"k\": \"\xc3\"}",
            b"\"\\ud800\"",
        ] {
            let args: Vec<&[u8]> = vec![b"VARIANTS", b"1", b"a", b"VALUES", bad];
            let err = crate::parse_definition(&args, &limits).unwrap_err();
            assert!(matches!(err, Error::BadValue(_)), "{err}");
            // Stored, it still loads as it was.
            assert!(crate::parse_definition(&args, &Limits::STORED).is_ok());
        }
    }

    #[test]
    fn export_bytes_do_not_depend_on_insertion_order() {
        let limits = Limits::default();
        let mut a = Flag::new(Definition::default(), &limits).unwrap();
        let mut b = a.clone();
        let ids: Vec<String> = (0..5000).map(|i| format!("id{i}")).collect();
        a.add_users(ids.iter().map(|s| s.as_bytes()));
        b.add_users(ids.iter().rev().map(|s| s.as_bytes()));
        a.block([&b"x"[..], b"y"]);
        b.block([&b"y"[..], b"x"]);
        assert_eq!(to_bytes(&a), to_bytes(&b));
    }

    #[test]
    fn export_without_ids_keeps_their_counts() {
        let mut f = sample();
        f.set_revision(7);
        let bytes = to_bytes_without_ids(&f);
        assert!(bytes.len() < to_bytes(&f).len() / 10);
        // A strict read refuses it: the ids it announces are not there.
        assert_eq!(from_bytes(&bytes).unwrap_err(), Error::Corrupt);
        let p = from_bytes_partial(&bytes).unwrap();
        assert_eq!((p.users, p.blocked), (20_002, 1));
        assert!(p.flag.users().is_empty());
        assert_eq!(p.flag.revision(), 7);
        assert_eq!(p.flag.rules(), f.rules());
        // The whole form reads partially too, ids and all.
        let whole = from_bytes_partial(&to_bytes(&f)).unwrap();
        assert!(whole.flag == f && whole.users == 20_002);
    }

    #[test]
    fn a_flag_read_without_ids_takes_another_flags_ids() {
        // hanoi-web's copy: the source read without its ids, the target's
        // ids put in, encoded whole for HANOI.IMPORT.
        let src = sample();
        let limits = Limits::default();
        let mut target = Flag::new(Definition::default(), &limits).unwrap();
        target.add_users([&b"t1"[..], b"t2"]);
        target.block([&b"t3"[..]]);
        let p = from_bytes_partial(&to_bytes_without_ids(&src)).unwrap();
        let mixed = p
            .flag
            .with_ids(target.users().clone(), target.blocked().clone());
        let back = from_bytes(&to_bytes(&mixed)).unwrap();
        assert_eq!(back.users(), target.users());
        assert_eq!(back.blocked(), target.blocked());
        assert_eq!(back.definition(), src.definition());
        assert_eq!(back.rules(), src.rules());
    }

    #[test]
    fn export_bytes_tell_a_newer_version_from_corruption() {
        let mut bytes = to_bytes(&sample());
        assert!(from_bytes(&bytes[8..]).is_err());
        bytes[8] = 9;
        assert_eq!(from_bytes(&bytes).unwrap_err(), Error::UnknownEncoding(9));
        bytes[0] = b'x';
        assert_eq!(from_bytes(&bytes).unwrap_err(), Error::Corrupt);
    }

    #[test]
    fn every_truncation_and_many_corruptions_are_errors() {
        let bytes = to_bytes(&sample());
        for cut in (0..bytes.len()).step_by(97) {
            assert!(from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut x: u64 = 99;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = bytes.clone();
            let i = (x as usize) % b.len();
            b[i] ^= (x >> 32) as u8 | 1;
            // An error, or a flag that still evaluates: never a panic.
            if let Ok(f) = from_bytes(&b) {
                let _ = f.evaluate(b"u1");
            }
        }
    }
}
