//! A compact set of byte strings.
//!
//! Ids live back to back in one arena (`varint length ++ bytes`); an
//! open-addressing table of `u64` slots (linear probing, backward-shift
//! deletion) points into it. A slot packs the arena offset (low 40 bits, plus
//! one so that zero means empty) and a 24-bit tag of the hash, so a probe only
//! touches the arena when the tags agree. For ids of a dozen bytes this costs
//! about 25-30 bytes an id, against 50-60 for a Redis SET of the same strings.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use crate::Error;

const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
const MIN_SLOTS: usize = 8;

/// A set of binary-safe ids with O(1) membership.
#[derive(Clone)]
pub struct IdSet {
    arena: Vec<u8>,
    slots: Vec<u64>,
    len: usize,
    /// Arena bytes that belong to removed ids.
    garbage: usize,
    seed: Seed,
}

/// Random keys of one set's hash, drawn from std's `RandomState`.
#[derive(Clone, Copy)]
pub(crate) struct Seed(u64, u64);

impl Seed {
    pub(crate) fn new() -> Seed {
        let s = RandomState::new();
        Seed(s.hash_one(0x5eed_u64) | 1, s.hash_one(0xfeed_u64) | 1)
    }
}

/// 64x64 -> 128-bit multiply, folded.
#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The first 8 bytes of `b` (little-endian); 0 if shorter.
#[inline]
fn le64(b: &[u8]) -> u64 {
    b.first_chunk::<8>().map_or(0, |c| u64::from_le_bytes(*c))
}

/// The first 4 bytes of `b` (little-endian); 0 if shorter.
#[inline]
fn le32(b: &[u8]) -> u64 {
    b.first_chunk::<4>()
        .map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
}

/// A keyed multiply-mix hash (wyhash-like): a few nanoseconds for an id of
/// a dozen bytes, where SipHash takes about fifteen; the random per-set keys
/// keep collisions out of a client's control. Up to 16 bytes are read as
/// two overlapping words (no copy of a tail), longer input 16 bytes a step.
#[inline]
pub(crate) fn hash_bytes(seed: Seed, bytes: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    let len = bytes.len();
    let mut h = seed.0 ^ mum(len as u64 ^ P0, seed.1);
    let (a, b) = if len <= 16 {
        if len >= 8 {
            (le64(bytes), le64(&bytes[len - 8..]))
        } else if len >= 4 {
            (le32(bytes), le32(&bytes[len - 4..]))
        } else if len > 0 {
            let x = (u64::from(bytes[0]) << 16)
                | (u64::from(bytes[len / 2]) << 8)
                | u64::from(bytes[len - 1]);
            (x, 0)
        } else {
            (0, 0)
        }
    } else {
        let mut rest = bytes;
        while rest.len() > 16 {
            h = mum(le64(rest) ^ seed.1 ^ P1, le64(&rest[8..]) ^ h);
            rest = &rest[16..];
        }
        (le64(&bytes[len - 16..]), le64(&bytes[len - 8..]))
    };
    mum(mum(a ^ seed.1 ^ P1, b ^ h) ^ P0, seed.0 ^ P1)
}

/// `a == b`, without a call to `memcmp` for ids of 4 to 16 bytes (two
/// overlapping words each).
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if (8..=16).contains(&n) {
        le64(a) == le64(b) && le64(&a[n - 8..]) == le64(&b[n - 8..])
    } else if (4..8).contains(&n) {
        le32(a) == le32(b) && le32(&a[n - 4..]) == le32(&b[n - 4..])
    } else {
        a == b
    }
}

/// A `BuildHasher` on the id set's keyed hash, with random keys per map,
/// for maps keyed by byte strings ([`crate::Rollout`]'s flag names): a few
/// nanoseconds for a short name where std's SipHash takes about fifteen,
/// with the same protection against chosen collisions as the id sets (keys
/// a client cannot see).
#[derive(Clone, Copy)]
pub(crate) struct KeyedState(Seed);

impl Default for KeyedState {
    fn default() -> Self {
        KeyedState(Seed::new())
    }
}

impl std::fmt::Debug for KeyedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedState")
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;
    #[inline]
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher { seed: self.0, h: 0 }
    }
}

/// See [`KeyedState`]. A `[u8]` key is hashed as its length, then its
/// bytes: one [`hash_bytes`] call.
pub(crate) struct KeyedHasher {
    seed: Seed,
    h: u64,
}

impl Hasher for KeyedHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.h = hash_bytes(Seed(self.seed.0 ^ self.h, self.seed.1), bytes);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        // The length prefix of a slice: `hash_bytes` mixes the length in
        // already, so this only has to make other writes order-dependent.
        self.h = self.h.rotate_left(29) ^ n as u64;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.h
    }
}

impl Default for IdSet {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdSet").field("len", &self.len).finish()
    }
}

impl PartialEq for IdSet {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|id| other.contains(id))
    }
}
impl Eq for IdSet {}

/// Packs `ids` into chunks of about `max` bytes (`varint length ++ id` per
/// id), handing each to `f` as it fills.
pub fn for_each_chunk<'a>(
    ids: impl Iterator<Item = &'a [u8]>,
    max: usize,
    mut f: impl FnMut(&[u8]),
) {
    let mut buf = Vec::with_capacity(max.min(1 << 16));
    for id in ids {
        write_varint(&mut buf, id.len());
        buf.extend_from_slice(id);
        if buf.len() >= max {
            f(&buf);
            buf.clear();
        }
    }
    if !buf.is_empty() {
        f(&buf);
    }
}

/// What [`for_each_chunk`] would produce for `ids`: (total bytes, chunks).
pub fn chunk_stats<'a>(ids: impl Iterator<Item = &'a [u8]>, max: usize) -> (u64, u64) {
    let (mut total, mut chunks, mut current) = (0u64, 0u64, 0usize);
    for id in ids {
        let mut v = id.len();
        let mut varint = 1;
        while v >= 0x80 {
            v >>= 7;
            varint += 1;
        }
        current += varint + id.len();
        if current >= max {
            total += current as u64;
            chunks += 1;
            current = 0;
        }
    }
    if current > 0 {
        total += current as u64;
        chunks += 1;
    }
    (total, chunks)
}

fn write_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The slot a hash starts probing at, for a table of `n` slots (any `n`).
#[inline]
fn home(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

#[inline]
fn next(i: usize, n: usize) -> usize {
    if i + 1 == n {
        0
    } else {
        i + 1
    }
}

/// Reads the entry that starts at `pos`: returns (start of bytes, length).
fn read_entry(arena: &[u8], mut pos: usize) -> (usize, usize) {
    let mut len = 0usize;
    let mut shift = 0;
    while let Some(&b) = arena.get(pos) {
        pos += 1;
        len |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (pos, len)
}

impl IdSet {
    pub fn new() -> Self {
        IdSet {
            arena: Vec::new(),
            slots: Vec::new(),
            len: 0,
            garbage: 0,
            seed: Seed::new(),
        }
    }

    /// An empty set sized for `n` ids of about `bytes` bytes in all.
    pub fn with_capacity(n: usize, bytes: usize) -> Self {
        let mut s = Self::new();
        s.arena.reserve(bytes);
        s.resize(Self::slots_for(n));
        s
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held by the set.
    pub fn heap_size(&self) -> usize {
        self.arena.capacity() + self.slots.capacity() * std::mem::size_of::<u64>()
    }

    fn slots_for(n: usize) -> usize {
        // Keep the load at or under 3/4.
        (n.saturating_mul(4) / 3 + 1).max(MIN_SLOTS)
    }

    #[inline]
    fn hash(&self, id: &[u8]) -> u64 {
        hash_bytes(self.seed, id)
    }

    #[inline]
    fn tag(hash: u64) -> u64 {
        // Low bits: the slot index comes from the high bits.
        hash & ((1 << (64 - OFFSET_BITS)) - 1)
    }

    #[inline]
    fn entry(&self, slot: u64) -> &[u8] {
        let (start, len) = read_entry(&self.arena, ((slot & OFFSET_MASK) - 1) as usize);
        self.arena.get(start..start + len).unwrap_or(&[])
    }

    /// Index of the slot holding `id`, or of the empty slot where it would go.
    #[inline]
    fn find(&self, id: &[u8], hash: u64) -> (usize, bool) {
        let n = self.slots.len();
        let tag = Self::tag(hash);
        let mut i = home(hash, n);
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return (i, false);
            }
            if slot >> OFFSET_BITS == tag && same(self.entry(slot), id) {
                return (i, true);
            }
            i = next(i, n);
        }
    }

    #[inline]
    pub fn contains(&self, id: &[u8]) -> bool {
        if self.len == 0 {
            return false;
        }
        self.find(id, self.hash(id)).1
    }

    /// Adds `id`; true when it was not there.
    pub fn insert(&mut self, id: &[u8]) -> bool {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            // Grow by half: less slack than doubling at a million ids.
            self.resize(Self::slots_for(self.len + 1).max(self.slots.len() * 3 / 2));
        }
        let hash = self.hash(id);
        let (i, found) = self.find(id, hash);
        if found {
            return false;
        }
        // Grow the arena by a quarter, not double: less slack at a million ids.
        let need = id.len() + 10;
        if self.arena.capacity() - self.arena.len() < need {
            self.arena
                .reserve_exact(need.max(self.arena.len() / 4 + 64));
        }
        let offset = self.arena.len() as u64;
        write_varint(&mut self.arena, id.len());
        self.arena.extend_from_slice(id);
        self.slots[i] = (Self::tag(hash) << OFFSET_BITS) | (offset + 1);
        self.len += 1;
        true
    }

    /// Removes `id`; true when it was there.
    pub fn remove(&mut self, id: &[u8]) -> bool {
        if self.len == 0 {
            return false;
        }
        let (mut hole, found) = self.find(id, self.hash(id));
        if !found {
            return false;
        }
        let entry_start = ((self.slots[hole] & OFFSET_MASK) - 1) as usize;
        let (start, len) = read_entry(&self.arena, entry_start);
        self.garbage += start - entry_start + len;
        self.len -= 1;
        // Backward-shift deletion: pull later members of the run into the hole.
        let n = self.slots.len();
        let mut j = hole;
        loop {
            j = next(j, n);
            let slot = self.slots[j];
            if slot == 0 {
                break;
            }
            let home = home(self.hash(self.entry(slot)), n);
            // Move slot j into the hole unless its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole] = 0;
        if self.garbage > 4096 && self.garbage * 2 > self.arena.len() {
            self.resize(Self::slots_for(self.len));
        }
        true
    }

    /// Rebuilds the table with `n` slots and a compacted arena.
    fn resize(&mut self, n: usize) {
        let old_slots = std::mem::take(&mut self.slots);
        let old_arena = std::mem::take(&mut self.arena);
        self.slots = vec![0; n];
        self.arena = Vec::with_capacity(old_arena.len() - self.garbage);
        self.garbage = 0;
        for slot in old_slots.into_iter().filter(|&s| s != 0) {
            let (start, len) = read_entry(&old_arena, ((slot & OFFSET_MASK) - 1) as usize);
            let id = &old_arena[start..start + len];
            let hash = self.hash(id);
            let mut i = home(hash, n);
            while self.slots[i] != 0 {
                i = next(i, n);
            }
            let offset = self.arena.len() as u64;
            write_varint(&mut self.arena, len);
            self.arena.extend_from_slice(id);
            self.slots[i] = (Self::tag(hash) << OFFSET_BITS) | (offset + 1);
        }
    }

    /// The ids, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.slots
            .iter()
            .filter(|&&s| s != 0)
            .map(move |&s| self.entry(s))
    }

    /// Packs the ids into chunks of about `max` bytes (`varint len ++ bytes`
    /// each): one RDB string per chunk instead of one per id.
    pub fn for_each_chunk(&self, max: usize, f: impl FnMut(&[u8])) {
        for_each_chunk(self.iter(), max, f);
    }

    /// What [`IdSet::for_each_chunk`] would produce, without building it:
    /// (total bytes, number of chunks). Only lengths are read.
    pub fn chunk_stats(&self, max: usize) -> (u64, u64) {
        chunk_stats(self.iter(), max)
    }

    /// One step of a cursor scan (`HANOI.IDS`), with SSCAN's guarantee: an
    /// id present for the whole scan is returned at least once, whatever
    /// inserts, removals and resizes happen between the steps.
    ///
    /// The cursor is a hash value: a step returns the ids whose hash lies in
    /// `[cursor, next)`, and `next` is 0 at the end (0 also starts). An id's
    /// home slot grows with its hash (`home` scales the hash to the table),
    /// so the ids of a hash range have their homes in a range of slots, and
    /// linear probing keeps each id at or after its home, in the same run:
    /// a step walks about `count` home slots and the runs that spill past
    /// them, O(count + run length). Backward-shift deletion moves ids but
    /// never changes their hash, and a resize does not change it either, so
    /// the ranges already covered stay covered.
    pub fn scan<'s>(&'s self, cursor: u64, count: usize, mut f: impl FnMut(&'s [u8])) -> u64 {
        self.scan_within(cursor, count, usize::MAX, |id| {
            f(id);
            0
        })
    }

    /// [`IdSet::scan`] that stops early once `f`, which returns the work
    /// each id cost, has spent `budget`: the step then ends at the home
    /// slot it had reached (the ids of the run it is in are still given,
    /// so nothing is skipped) and the cursor says where the next one goes
    /// on. At least one home slot is covered, so a walk always ends.
    pub fn scan_within<'s>(
        &'s self,
        cursor: u64,
        count: usize,
        budget: usize,
        mut f: impl FnMut(&'s [u8]) -> usize,
    ) -> u64 {
        let n = self.slots.len();
        if self.len == 0 || n == 0 {
            return 0;
        }
        let first = home(cursor, n);
        let mut end = first.saturating_add(count.max(1)).min(n);
        let mut spent: usize = 0;
        // From `first` until past the last home slot of the range and at
        // the end of its run (an empty slot). An id whose home is past its
        // slot wrapped around the table's end: it belongs to the range
        // that reaches the end, and is given below with it.
        let mut i = first;
        while i < n && (i < end || self.slots[i] != 0) {
            let slot = self.slots[i];
            if slot != 0 {
                let id = self.entry(slot);
                let h = self.hash(id);
                let at = home(h, n);
                if at <= i && h >= cursor && (first..end).contains(&at) {
                    spent = spent.saturating_add(f(id));
                }
            }
            // Spent: no home slot past this one (the run still ends).
            if spent >= budget && i + 1 < end {
                end = i + 1;
            }
            i += 1;
        }
        // The walk reached the table's end inside a run: it goes on at
        // slot 0, where the ids of the range that wrapped are.
        if i == n {
            let mut i = 0;
            while i < n && self.slots[i] != 0 {
                let id = self.entry(self.slots[i]);
                let h = self.hash(id);
                let at = home(h, n);
                if at > i && h >= cursor && (first..end).contains(&at) {
                    f(id);
                }
                i += 1;
            }
        }
        if end == n {
            0
        } else {
            // The smallest hash whose home is `end`.
            (((end as u128) << 64).div_ceil(n as u128)) as u64
        }
    }

    /// The ids in byte order (what a deterministic export writes).
    pub fn sorted(&self) -> Vec<&[u8]> {
        let mut ids: Vec<&[u8]> = self.iter().collect();
        ids.sort_unstable();
        ids
    }

    /// Adds the ids of one chunk written by [`IdSet::for_each_chunk`];
    /// returns how many entries it held. A malformed chunk adds nothing.
    pub fn extend_from_chunk(&mut self, chunk: &[u8]) -> Result<usize, Error> {
        let mut entries = Vec::new();
        let mut pos = 0;
        while pos < chunk.len() {
            let mut len: u64 = 0;
            let mut shift = 0;
            loop {
                let b = *chunk.get(pos).ok_or(Error::Corrupt)?;
                pos += 1;
                if shift > 56 {
                    return Err(Error::Corrupt);
                }
                len |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    break;
                }
                shift += 7;
            }
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| pos.checked_add(l))
                .filter(|&e| e <= chunk.len())
                .ok_or(Error::Corrupt)?;
            entries.push(pos..end);
            pos = end;
        }
        for r in &entries {
            self.insert(&chunk[r.clone()]);
        }
        Ok(entries.len())
    }

    pub fn clear(&mut self) {
        *self = Self::new();
    }
}

impl<'a> FromIterator<&'a [u8]> for IdSet {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> Self {
        let mut s = IdSet::new();
        for id in iter {
            s.insert(id);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_scan_returns_every_id_present_throughout_despite_writes_and_resizes() {
        let mut x: u64 = 99;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (start, count) in [(0, 10), (50, 1), (3000, 100), (20_000, 7)] {
            let mut set = IdSet::new();
            for i in 0..start {
                set.insert(format!("id-{i}").as_bytes());
            }
            // The ids there all along: the first half, never removed.
            let kept: HashSet<Vec<u8>> = (0..start / 2)
                .map(|i| format!("id-{i}").into_bytes())
                .collect();
            let mut seen: HashSet<Vec<u8>> = HashSet::new();
            let mut cursor = 0;
            let mut steps = 0;
            loop {
                cursor = set.scan(cursor, count, |id| {
                    seen.insert(id.to_vec());
                });
                steps += 1;
                // Between steps: grow (resizes), remove others, re-add.
                for _ in 0..count {
                    let r = rnd();
                    let id = format!("id-{}", start / 2 + (r as usize % (start + 500)));
                    if r % 3 == 0 {
                        set.remove(id.as_bytes());
                    } else {
                        set.insert(id.as_bytes());
                    }
                }
                if cursor == 0 {
                    break;
                }
                assert!(steps < 1_000_000, "the scan ends");
            }
            assert!(kept.is_subset(&seen), "start {start}, count {count}");
        }
        // Without writes, each id once.
        let mut set = IdSet::new();
        for i in 0..1000 {
            set.insert(format!("{i}").as_bytes());
        }
        let mut got = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = set.scan(cursor, 16, |id| got.push(id.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(got.len(), 1000);
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), 1000);
        assert_eq!(IdSet::new().scan(0, 10, |_| panic!("empty")), 0);
    }

    #[test]
    fn a_budget_ends_steps_early_and_skips_nothing() {
        let mut s = IdSet::new();
        for i in 0..5000u32 {
            s.insert(format!("id{i}").as_bytes());
        }
        for budget in [1, 7, 100, 10_000] {
            let (mut got, mut cursor, mut steps) = (Vec::new(), 0, 0);
            loop {
                let mut spent = 0;
                cursor = s.scan_within(cursor, 1000, budget, |id| {
                    got.push(id.to_vec());
                    spent += 1;
                    1
                });
                // Past the budget only to finish the run it was in.
                assert!(spent < budget + 64, "{spent} for {budget}");
                steps += 1;
                if cursor == 0 {
                    break;
                }
            }
            assert_eq!(got.len(), 5000, "budget {budget}");
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), 5000);
            assert!(budget >= 1000 || steps > 5000 / budget / 2, "{steps} steps");
        }
    }

    #[test]
    fn budgets_over_few_long_ids_and_wrapped_runs() {
        for seed in 0..20u8 {
            let mut s = IdSet::new();
            for i in 0..60u8 {
                let mut id = vec![b'a'; 4096];
                id[..3].copy_from_slice(&[seed, i, 7]);
                assert!(s.insert(&id));
            }
            for (count, budget) in [
                (10_000, 10_000),
                (3, usize::MAX),
                (10_000, usize::MAX),
                (1, 1),
            ] {
                let (mut got, mut cursor) = (Vec::new(), 0);
                loop {
                    cursor = s.scan_within(cursor, count, budget, |id| {
                        got.push(id.to_vec());
                        id.len()
                    });
                    if cursor == 0 {
                        break;
                    }
                }
                assert_eq!(got.len(), 60, "seed {seed}, {count}, {budget}");
                assert_eq!(got.iter().collect::<HashSet<_>>().len(), 60);
            }
        }
    }

    #[test]
    fn insert_contains_remove_match_a_hashset() {
        let mut ours = IdSet::new();
        let mut theirs: HashSet<Vec<u8>> = HashSet::new();
        let mut x: u64 = 12345;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = (x % 5000).to_string().into_bytes();
            match step % 3 {
                0 | 1 => assert_eq!(ours.insert(&id), theirs.insert(id.clone())),
                _ => assert_eq!(ours.remove(&id), theirs.remove(&id)),
            }
            assert_eq!(ours.len(), theirs.len());
        }
        for i in 0..6000u64 {
            let id = i.to_string().into_bytes();
            assert_eq!(ours.contains(&id), theirs.contains(&id));
        }
        let mut listed: Vec<Vec<u8>> = ours.iter().map(|s| s.to_vec()).collect();
        listed.sort();
        let mut expected: Vec<Vec<u8>> = theirs.into_iter().collect();
        expected.sort();
        assert_eq!(listed, expected);
    }

    #[test]
    fn binary_empty_and_long_ids() {
        let mut s = IdSet::new();
        let big = vec![0xffu8; 1 << 20];
        assert!(s.insert(b""));
        assert!(s.insert(&[0, 159, 146, 150]));
        assert!(s.insert(&big));
        assert!(!s.insert(&big));
        assert!(s.contains(b""));
        assert!(s.contains(&[0, 159, 146, 150]));
        assert!(s.contains(&big));
        assert!(!s.contains(&big[1..]));
        assert!(s.remove(&big));
        assert!(!s.contains(&big));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn chunks_round_trip_and_reject_garbage() {
        let mut s = IdSet::new();
        for i in 0..10_000u32 {
            s.insert(format!("{i}").as_bytes());
        }
        s.insert(b"");
        s.insert(&vec![7u8; 70_000]);
        let mut copy = IdSet::new();
        let (mut chunks, mut bytes) = (0, 0);
        s.for_each_chunk(4096, |c| {
            chunks += 1;
            bytes += c.len() as u64;
            copy.extend_from_chunk(c).unwrap();
        });
        assert!(chunks > 10);
        assert_eq!(s.chunk_stats(4096), (bytes, chunks));
        assert!(copy == s);
        let mut t = IdSet::new();
        for bad in [&[0x05u8, b'a'][..], &[0x80], &[0xff; 12], &[0x01]] {
            assert_eq!(t.extend_from_chunk(bad), Err(Error::Corrupt));
        }
        assert!(t.is_empty());
    }

    #[test]
    fn compacts_after_many_removals() {
        let mut s = IdSet::new();
        for i in 0..100_000u32 {
            s.insert(format!("user-{i}").as_bytes());
        }
        let full = s.arena.len();
        for i in 0..99_000u32 {
            assert!(s.remove(format!("user-{i}").as_bytes()));
        }
        assert!(s.arena.len() < full / 2);
        for i in 99_000..100_000u32 {
            assert!(s.contains(format!("user-{i}").as_bytes()));
        }
    }
}
