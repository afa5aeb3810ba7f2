//! The flag model and its evaluation rules.

use std::collections::HashSet;

use crate::observe::{Counters, Entry, History, Metadata, Stamp};
use crate::regexes::Regexes;
use crate::{quote, Error, IdSet};

/// Bounds on what one flag may hold, and on what one command may carry. The
/// module exposes them as options whose defaults are [`Limits::DEFAULT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Compiled size limit of one regex, in bytes (its automata).
    pub regex_size_limit: usize,
    /// Regexes on one flag.
    pub max_regexes: usize,
    /// Variants on one flag.
    pub max_variants: usize,
    /// Ids (or patterns) one write command may carry.
    pub max_ids_per_command: usize,
    /// Metadata fields on one flag.
    pub max_meta_fields: usize,
    /// Bytes of one metadata value.
    pub max_meta_value_bytes: usize,
    /// History entries a flag keeps (0: none).
    pub history_length: usize,
}

impl Limits {
    /// What a new flag and a client's write are held to, unless configured.
    pub const DEFAULT: Limits = Limits {
        regex_size_limit: 512 * 1024,
        max_regexes: 32,
        max_variants: 256,
        max_ids_per_command: 100_000,
        max_meta_fields: 32,
        max_meta_value_bytes: 4096,
        history_length: 100,
    };

    /// What stored data (RDB, RESTORE, AOF replay, a primary's stream) is
    /// held to: it was accepted once, so a limit lowered since must not
    /// refuse it (that would lose data on a restart or on a replica). Only
    /// the sanity bound on one compiled regex stays.
    pub const STORED: Limits = Limits {
        regex_size_limit: STORED_REGEX_SIZE_LIMIT,
        max_regexes: usize::MAX,
        max_variants: usize::MAX,
        max_ids_per_command: usize::MAX,
        max_meta_fields: usize::MAX,
        max_meta_value_bytes: usize::MAX,
        history_length: usize::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Room given to regexes that were accepted before (reloads): a limit
/// lowered later must not make stored flags unloadable.
const STORED_REGEX_SIZE_LIMIT: usize = 1 << 30;

/// Parses an integer the way Redis parses its own integer arguments
/// (`string2ll`): optional `-`, then digits with no leading zero (`0`
/// alone is fine); no `+`, no spaces.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    let canonical = match digits {
        [] => false,
        [b'0'] => digits.len() == s.len(),
        [first, ..] => (b'1'..=b'9').contains(first) && digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parses a percentage as clients send it: a decimal integer in 0..=100.
pub fn parse_percentage(s: &[u8]) -> Result<u8, Error> {
    parse_int(s)
        .and_then(|p| u8::try_from(p).ok())
        .filter(|p| *p <= 100)
        .ok_or(Error::InvalidPercentage)
}

/// Parses a variant weight: a decimal integer in 1..=u32::MAX.
pub fn parse_weight(s: &[u8]) -> Result<u32, Error> {
    parse_int(s)
        .and_then(|w| u32::try_from(w).ok())
        .filter(|w| *w > 0)
        .ok_or(Error::InvalidWeight)
}

/// What `HANOI.DEFINE` sets; registrations are kept apart and survive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub enabled: bool,
    pub percentage: u8,
    pub variants: Vec<Vec<u8>>,
    /// One weight per variant, each > 0; `None` for hanoi's unweighted pick.
    pub weights: Option<Vec<u32>>,
    pub salt: Option<Vec<u8>>,
}

impl Default for Definition {
    fn default() -> Self {
        Definition {
            enabled: true,
            percentage: 0,
            variants: Vec::new(),
            weights: None,
            salt: None,
        }
    }
}

impl Definition {
    pub fn validate(&self, limits: &Limits) -> Result<(), Error> {
        if self.percentage > 100 {
            return Err(Error::InvalidPercentage);
        }
        if self.variants.len() > limits.max_variants {
            return Err(Error::TooManyVariants {
                limit: limits.max_variants,
            });
        }
        // Linear: a stored flag may hold any number of variants.
        let mut seen = HashSet::with_capacity(self.variants.len());
        for v in &self.variants {
            if v.is_empty() {
                return Err(Error::EmptyVariantName);
            }
            if !seen.insert(v.as_slice()) {
                return Err(Error::DuplicateVariant(quote(v)));
            }
        }
        if let Some(weights) = &self.weights {
            if self.variants.is_empty() {
                return Err(Error::WeightsWithoutVariants);
            }
            if weights.len() != self.variants.len() {
                return Err(Error::WeightsCount {
                    variants: self.variants.len(),
                    weights: weights.len(),
                });
            }
            if weights.contains(&0) {
                return Err(Error::InvalidWeight);
            }
        }
        Ok(())
    }
}

/// Why an id is, or is not, enabled: the step of the evaluation that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Undefined,
    Disabled,
    Blocked,
    All,
    User,
    Regex,
    Percentage,
    Outside,
}

impl Reason {
    pub fn enabled(self) -> bool {
        matches!(
            self,
            Reason::All | Reason::User | Reason::Regex | Reason::Percentage
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Undefined => "undefined",
            Reason::Disabled => "disabled",
            Reason::Blocked => "blocked",
            Reason::All => "all",
            Reason::User => "user",
            Reason::Regex => "regex",
            Reason::Percentage => "percentage",
            Reason::Outside => "outside",
        }
    }
}

/// The detail behind a reason: the regex that matched, or the id's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail<'a> {
    Pattern(&'a str),
    Bucket(u8),
}

/// A full answer: enabled, the variant, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation<'a> {
    pub enabled: bool,
    pub variant: Option<&'a [u8]>,
    pub reason: Reason,
    pub detail: Option<Detail<'a>>,
}

impl Explanation<'_> {
    pub const UNDEFINED: Explanation<'static> = Explanation {
        enabled: false,
        variant: None,
        reason: Reason::Undefined,
        detail: None,
    };
}

/// One feature flag: its definition, its registrations and its rules.
#[derive(Debug, Clone)]
pub struct Flag {
    def: Definition,
    users: IdSet,
    blocked: IdSet,
    regexes: Regexes,
    /// Running sums of the weights, derived from `def.weights`.
    cumulative: Vec<u64>,
    meta: Metadata,
    history: History,
    /// Per process, never stored: see [`crate::observe`].
    counters: Counters,
}

/// Equal flags hold the same data; evaluation counts are not data.
impl PartialEq for Flag {
    fn eq(&self, other: &Self) -> bool {
        self.def == other.def
            && self.users == other.users
            && self.blocked == other.blocked
            && self.regexes == other.regexes
            && self.meta == other.meta
            && self.history == other.history
    }
}

/// Python 3's `zlib.crc32(salt + id)`, unsigned.
#[inline]
pub fn crc32(salt: Option<&[u8]>, id: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    if let Some(salt) = salt {
        h.update(salt);
    }
    h.update(id);
    h.finalize()
}

/// splitmix64's finalizer: spreads the crc so the weighted pick does not
/// follow the percentage bucket (`crc % 100`).
#[inline]
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Flag {
    pub fn new(def: Definition, limits: &Limits) -> Result<Flag, Error> {
        def.validate(limits)?;
        let cumulative = Self::cumulative(&def);
        let counters = Counters::new(def.variants.len(), 0);
        Ok(Flag {
            def,
            users: IdSet::new(),
            blocked: IdSet::new(),
            regexes: Regexes::default(),
            cumulative,
            meta: Metadata::default(),
            history: History::default(),
            counters,
        })
    }

    /// Rebuilds a stored flag (RDB, AOF, tests). Patterns were accepted when
    /// registered, so only their syntax is checked here, not today's limits.
    pub fn from_parts(
        def: Definition,
        users: IdSet,
        blocked: IdSet,
        patterns: Vec<String>,
    ) -> Result<Flag, Error> {
        def.validate(&Limits::STORED)?;
        let cumulative = Self::cumulative(&def);
        let counters = Counters::new(def.variants.len(), 0);
        Ok(Flag {
            def,
            users,
            blocked,
            regexes: Regexes::from_stored(patterns, Limits::STORED.regex_size_limit)?,
            cumulative,
            meta: Metadata::default(),
            history: History::default(),
            counters,
        })
    }

    /// Puts back stored metadata and history (the codec, the AOF).
    pub fn with_observations(mut self, meta: Metadata, history: History) -> Flag {
        self.meta = meta;
        self.history = history;
        self
    }

    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// Metadata writes (`HANOI.META`); `created` is refused there.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.meta
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Records a write that changed the flag.
    pub fn record(&mut self, stamp: &Stamp, name: &[u8], args: &[&[u8]]) {
        self.history.push(Entry::new(stamp, name, args), stamp.keep);
    }

    /// Evaluation counts of this process.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn cumulative(def: &Definition) -> Vec<u64> {
        def.weights
            .iter()
            .flatten()
            .scan(0u64, |sum, &w| {
                *sum += u64::from(w);
                Some(*sum)
            })
            .collect()
    }

    pub fn definition(&self) -> &Definition {
        &self.def
    }
    pub fn users(&self) -> &IdSet {
        &self.users
    }
    pub fn blocked(&self) -> &IdSet {
        &self.blocked
    }
    /// The regexes, in the order they were added.
    pub fn patterns(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.regexes.sources()
    }

    /// Heap bytes held by the flag; regexes as regex-automata measures them,
    /// plus the bound of each one's lazy-DFA cache.
    pub fn heap_size(&self) -> usize {
        self.users.heap_size()
            + self.blocked.heap_size()
            + self
                .def
                .variants
                .iter()
                .map(|v| v.capacity() + 24)
                .sum::<usize>()
            + self.def.salt.as_ref().map_or(0, |s| s.capacity())
            + self.cumulative.capacity() * 8
            + self.regexes.heap_size()
            + self.meta.heap_size()
            + self.history.heap_size()
            + self.counters.heap_size()
    }

    // ----- writes; each says whether it changed anything -----

    /// Replaces the definition; registrations, blocks and regexes stay.
    pub fn set_definition(&mut self, def: Definition, limits: &Limits) -> Result<bool, Error> {
        def.validate(limits)?;
        if def == self.def {
            return Ok(false);
        }
        self.cumulative = Self::cumulative(&def);
        if def.variants != self.def.variants {
            self.counters = self.counters.with_variants(def.variants.len());
        }
        self.def = def;
        Ok(true)
    }

    pub fn set_enabled(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.def.enabled, on) != on
    }

    /// Flips the switch and returns the new state.
    pub fn toggle(&mut self) -> bool {
        self.def.enabled = !self.def.enabled;
        self.def.enabled
    }

    pub fn set_percentage(&mut self, pct: u8) -> Result<bool, Error> {
        if pct > 100 {
            return Err(Error::InvalidPercentage);
        }
        Ok(std::mem::replace(&mut self.def.percentage, pct) != pct)
    }

    pub fn add_users<'a>(&mut self, ids: impl IntoIterator<Item = &'a [u8]>) -> usize {
        ids.into_iter().filter(|id| self.users.insert(id)).count()
    }
    pub fn remove_users<'a>(&mut self, ids: impl IntoIterator<Item = &'a [u8]>) -> usize {
        ids.into_iter().filter(|id| self.users.remove(id)).count()
    }
    pub fn block<'a>(&mut self, ids: impl IntoIterator<Item = &'a [u8]>) -> usize {
        ids.into_iter().filter(|id| self.blocked.insert(id)).count()
    }
    pub fn unblock<'a>(&mut self, ids: impl IntoIterator<Item = &'a [u8]>) -> usize {
        ids.into_iter().filter(|id| self.blocked.remove(id)).count()
    }

    /// Adds regexes, all or nothing; returns how many were new. Each new
    /// pattern is compiled once; the others are not touched.
    pub fn add_regexes<'a>(
        &mut self,
        patterns: impl IntoIterator<Item = &'a [u8]>,
        limits: &Limits,
    ) -> Result<usize, Error> {
        let new =
            self.regexes
                .prepare_add(patterns, limits.regex_size_limit, limits.max_regexes)?;
        Ok(self.regexes.commit_add(new))
    }

    /// Removes regexes; returns how many were there (and are now gone).
    pub fn remove_regexes<'a>(&mut self, patterns: impl IntoIterator<Item = &'a [u8]>) -> usize {
        self.regexes.remove(patterns)
    }

    // ----- evaluation -----

    /// `crc32(salt ++ id) % 100`.
    #[inline]
    pub fn bucket(&self, id: &[u8]) -> u8 {
        (crc32(self.def.salt.as_deref(), id) % 100) as u8
    }

    /// The step that decides for `id`, in the documented order.
    #[inline]
    pub fn evaluate(&self, id: &[u8]) -> Reason {
        if !self.def.enabled {
            Reason::Disabled
        } else if !self.blocked.is_empty() && self.blocked.contains(id) {
            Reason::Blocked
        } else if self.def.percentage >= 100 {
            Reason::All
        } else if self.users.contains(id) {
            Reason::User
        } else if self.regexes.is_match(id) {
            Reason::Regex
        } else if self.bucket(id) < self.def.percentage {
            Reason::Percentage
        } else {
            Reason::Outside
        }
    }

    /// `None` answers the switch alone (hanoi's global check).
    #[inline]
    pub fn is_enabled(&self, id: Option<&[u8]>) -> bool {
        match id {
            None => self.def.enabled,
            Some(id) => self.is_on(id, || crc32(self.def.salt.as_deref(), id)),
        }
    }

    /// The answer of `evaluate(id).enabled()`, but with the "on" steps (all,
    /// user, regex, percentage), which are an OR, tried cheapest first: the
    /// bucket (a crc32, asked of `crc` only when needed), the regexes, and only
    /// then the id set, whose lookup in a large flag is a cache miss.
    /// `evaluate` keeps the documented order for the reason it reports.
    #[inline]
    fn is_on(&self, id: &[u8], crc: impl FnOnce() -> u32) -> bool {
        let pct = self.def.percentage;
        self.def.enabled
            && (self.blocked.is_empty() || !self.blocked.contains(id))
            && (pct >= 100
                || (pct > 0 && ((crc() % 100) as u8) < pct)
                || (!self.regexes.is_empty() && self.regexes.is_match(id))
                || self.users.contains(id))
    }

    /// The variant `id` is assigned, whether or not the flag is on for it.
    pub fn assigned_variant(&self, id: &[u8]) -> Option<&[u8]> {
        self.pick(crc32(self.def.salt.as_deref(), id))
    }

    /// The variant for the crc of `salt ++ id`.
    #[inline]
    fn pick(&self, h: u32) -> Option<&[u8]> {
        self.pick_index(h)
            .and_then(|i| self.def.variants.get(i))
            .map(Vec::as_slice)
    }

    /// The index of the variant for the crc of `salt ++ id`.
    #[inline]
    fn pick_index(&self, h: u32) -> Option<usize> {
        let n = self.def.variants.len();
        if n == 0 {
            return None;
        }
        Some(match self.cumulative.last() {
            // hanoi's unweighted pick: variants[crc32(id) % n].
            None => h as usize % n,
            Some(&total) => {
                let r = ((u128::from(mix(u64::from(h))) * u128::from(total)) >> 64) as u64;
                self.cumulative.partition_point(|&c| c <= r)
            }
        })
    }

    /// The variant for `id`: none unless the flag is on for it. One crc32
    /// serves the bucket and the pick.
    #[inline]
    pub fn variant(&self, id: &[u8]) -> Option<&[u8]> {
        self.variant_index(id)
            .and_then(|i| self.def.variants.get(i))
            .map(Vec::as_slice)
    }

    /// [`Flag::variant`] as an index into the variants (for counting).
    #[inline]
    pub fn variant_index(&self, id: &[u8]) -> Option<usize> {
        if self.def.variants.is_empty() {
            return None;
        }
        let h = crc32(self.def.salt.as_deref(), id);
        if self.is_on(id, || h) {
            self.pick_index(h)
        } else {
            None
        }
    }

    pub fn explain(&self, id: &[u8]) -> Explanation<'_> {
        let reason = self.evaluate(id);
        let detail = match reason {
            Reason::Regex => self.regexes.first_match(id).map(Detail::Pattern),
            Reason::Percentage | Reason::Outside => Some(Detail::Bucket(self.bucket(id))),
            _ => None,
        };
        let enabled = reason.enabled();
        Explanation {
            enabled,
            variant: if enabled {
                self.assigned_variant(id)
            } else {
                None
            },
            reason,
            detail,
        }
    }
}
