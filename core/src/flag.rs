//! The flag model and its evaluation rules.

use std::cell::Cell;
use std::collections::HashSet;

use crate::experiment::{Experiment, Sticky};
use crate::observe::{Counters, Entry, History, Metadata, Stamp};
use crate::refs::{Prereq, Refs};
use crate::regexes::{Regexes, MAX_ID_LEN};
use crate::rules::{Attrs, Rule, RuleLimits};
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
    /// Rules on one flag.
    pub max_rules: usize,
    /// Conditions in one rule.
    pub max_conditions: usize,
    /// Values in one IN/NOTIN list.
    pub max_in_values: usize,
    /// Bytes of one variant's JSON value.
    pub max_value_bytes: usize,
    /// Regex work of one evaluation of a flag, in bytes: every pattern it
    /// holds (its regexes and its rules' `MATCHES`) scans at most
    /// [`MAX_ID_LEN`] bytes, one DFA step each, so a flag may hold at most
    /// `max_regex_work / MAX_ID_LEN` patterns.
    pub max_regex_work: usize,
    /// Bytes of one id a write may carry (REGISTER, UNREGISTER, BLOCK,
    /// UNBLOCK).
    pub max_id_bytes: usize,
    /// Prerequisites of one flag (`HANOI.PREREQ`).
    pub max_prereqs: usize,
    /// Exposures one flag's experiment may hold (issue 35).
    pub max_exposures: usize,
    /// Stored data, accepted once (only [`Limits::STORED`] says so).
    pub stored: bool,
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
        max_rules: 64,
        max_conditions: 16,
        max_in_values: 10_000,
        max_value_bytes: 65_536,
        max_regex_work: 128 * MAX_ID_LEN,
        max_id_bytes: 1024,
        max_prereqs: 8,
        max_exposures: 10_000_000,
        stored: false,
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
        max_rules: usize::MAX,
        max_conditions: usize::MAX,
        max_in_values: usize::MAX,
        max_value_bytes: usize::MAX,
        max_regex_work: usize::MAX,
        max_id_bytes: usize::MAX,
        max_prereqs: usize::MAX,
        max_exposures: usize::MAX,
        stored: true,
    };
}

impl Limits {
    /// What bounds one rule.
    pub fn rule_limits(&self) -> RuleLimits {
        RuleLimits {
            max_conditions: self.max_conditions,
            max_in_values: self.max_in_values,
            regex_size_limit: self.regex_size_limit,
            stored: self.stored,
        }
    }
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
    /// One JSON text per variant, all of one type (`VALUES`); `None`: the
    /// value of a variant is its name.
    pub values: Option<Vec<Vec<u8>>>,
    /// The variant served when the flag is off for a query (`DEFAULT`).
    pub default: Option<Vec<u8>>,
    /// A segment (`DEFINE key SEGMENT`): its answer is membership; it has
    /// no switch, percentage, variants, values, default or schedule.
    pub segment: bool,
}

impl Default for Definition {
    fn default() -> Self {
        Definition {
            enabled: true,
            percentage: 0,
            variants: Vec::new(),
            weights: None,
            salt: None,
            values: None,
            default: None,
            segment: false,
        }
    }
}

/// What a flag serves: OpenFeature's flag types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// No variants: on or off.
    Boolean,
    /// Variants without values (the value is the variant's name), or
    /// values that are JSON strings.
    String,
    Number,
    /// JSON objects or arrays.
    Object,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Boolean => "boolean",
            ValueType::String => "string",
            ValueType::Number => "number",
            ValueType::Object => "object",
        }
    }

    /// The type of one JSON text (RFC 8259), checked whole; `null` has none.
    pub fn of_json(text: &[u8]) -> Result<ValueType, Error> {
        let bad = |why: String| Error::BadValue(why);
        serde_json::from_slice::<serde::de::IgnoredAny>(text)
            .map_err(|e| bad(format!("'{}' is not JSON: {e}", quote(text))))?;
        match text.iter().find(|b| !b" \t\r\n".contains(b)) {
            Some(b'"') => Ok(ValueType::String),
            Some(b'{' | b'[') => Ok(ValueType::Object),
            Some(b't' | b'f') => Ok(ValueType::Boolean),
            Some(b'-' | b'0'..=b'9') => Ok(ValueType::Number),
            _ => Err(bad(
                "null is not a flag value: give a string, number, boolean, object or array".into(),
            )),
        }
    }
}

/// A value every client of the project reads without error: valid UTF-8
/// throughout (inside strings too), no lone surrogate escape, every number
/// finite as a 64-bit float (no `1e999999`, no 5,000-digit integer, which
/// Python's `json` refuses), nesting within serde_json's 128 levels.
/// Checked at the write; stored values were accepted once and load as they
/// are.
fn readable(text: &[u8]) -> Result<(), Error> {
    let s = std::str::from_utf8(text).map_err(|e| {
        Error::BadValue(format!(
            "a value is not valid UTF-8 (byte {}): values are JSON text",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str::<serde_json::Value>(s)
        .map(drop)
        .map_err(|e| {
            Error::BadValue(format!(
                "'{}' is not JSON every client reads: {e}",
                quote(&text[..text.len().min(64)])
            ))
        })
}

impl Definition {
    /// The flag's type: boolean without variants, string for variants
    /// without values, else the values' one type (checked: each value is
    /// JSON within `max_value_bytes`, all of one type, one per variant).
    pub fn value_type(&self, limits: &Limits) -> Result<ValueType, Error> {
        let Some(values) = &self.values else {
            return Ok(if self.variants.is_empty() {
                ValueType::Boolean
            } else {
                ValueType::String
            });
        };
        if values.len() != self.variants.len() {
            return Err(Error::BadValue(format!(
                "{} values for {} variants: give one value per variant",
                values.len(),
                self.variants.len()
            )));
        }
        let mut kind: Option<ValueType> = None;
        for v in values {
            if v.len() > limits.max_value_bytes {
                return Err(Error::BadValue(format!(
                    "a value of {} bytes, over hanoi.max-value-bytes ({})",
                    v.len(),
                    limits.max_value_bytes
                )));
            }
            if !limits.stored {
                readable(v)?;
            }
            let t = ValueType::of_json(v)?;
            match kind {
                Some(k) if k != t => {
                    return Err(Error::BadValue(format!(
                        "values of two types, {} and {}: all values of a flag are of one type",
                        k.as_str(),
                        t.as_str()
                    )))
                }
                _ => kind = Some(t),
            }
        }
        kind.ok_or_else(|| Error::BadValue("VALUES needs VARIANTS".into()))
    }

    /// The type of a definition already checked (a stored flag).
    pub fn kind(&self) -> ValueType {
        self.value_type(&Limits::STORED)
            .unwrap_or(ValueType::String)
    }

    pub fn validate(&self, limits: &Limits) -> Result<(), Error> {
        if self.segment {
            let what = if !self.enabled {
                Some("switch")
            } else if self.percentage != 0 {
                Some("percentage")
            } else if !self.variants.is_empty() || self.weights.is_some() {
                Some("variants")
            } else if self.values.is_some() {
                Some("values")
            } else if self.default.is_some() {
                Some("default")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(Error::Segment(what));
            }
        }
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
        self.value_type(limits)?;
        if let Some(d) = &self.default {
            if !self.variants.contains(d) {
                return Err(Error::BadValue(format!(
                    "DEFAULT '{}' is not one of the variants",
                    quote(d)
                )));
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
    /// Outside the flag's active window.
    Inactive,
    Blocked,
    All,
    User,
    Regex,
    /// A targeting rule matched (its name is the detail).
    Rule,
    Percentage,
    Outside,
    /// Asked without an id, where the answer depends on the id's hash (a
    /// percentage or a rule rollout strictly between 0 and 100, a pick
    /// among variants): OpenFeature's `TARGETING_KEY_MISSING`.
    NeedsId,
    /// A prerequisite is not met (its name is the detail): OpenFeature's
    /// `PREREQUISITE_FAILED`.
    Prerequisite,
    /// Following references went past a bound (too deep, a cycle, too
    /// many): off, the detail says which.
    Error,
}

impl Reason {
    /// The random split's reason: `percentage` on, `outside` off.
    pub fn split(enabled: bool) -> Reason {
        if enabled {
            Reason::Percentage
        } else {
            Reason::Outside
        }
    }

    pub fn enabled(self) -> bool {
        matches!(
            self,
            Reason::All | Reason::User | Reason::Regex | Reason::Rule | Reason::Percentage
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Undefined => "undefined",
            Reason::Disabled => "disabled",
            Reason::Inactive => "inactive",
            Reason::Rule => "rule",
            Reason::Blocked => "blocked",
            Reason::All => "all",
            Reason::User => "user",
            Reason::Regex => "regex",
            Reason::Percentage => "percentage",
            Reason::Outside => "outside",
            Reason::NeedsId => "needs_id",
            Reason::Prerequisite => "prerequisite",
            Reason::Error => "error",
        }
    }
}

/// The detail behind a reason: the regex that matched, or the id's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail<'a> {
    Pattern(&'a str),
    Bucket(u8),
    /// The name of the rule that matched.
    Rule(&'a [u8]),
    /// The prerequisite that failed.
    Prerequisite(&'a [u8]),
    /// What went wrong (reason `error`).
    Fault(&'static str),
}

/// A full answer: enabled, the variant, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation<'a> {
    pub enabled: bool,
    pub variant: Option<&'a [u8]>,
    pub reason: Reason,
    pub detail: Option<Detail<'a>>,
    /// The effective percentage at that time (a ramp moves it).
    pub percentage: u8,
    /// A segment this flag's rules name that is missing (or no longer a
    /// segment): its conditions are false.
    pub missing: Option<&'a [u8]>,
}

impl Explanation<'_> {
    pub const UNDEFINED: Explanation<'static> = Explanation {
        enabled: false,
        variant: None,
        reason: Reason::Undefined,
        detail: None,
        percentage: 0,
        missing: None,
    };
}

/// What an evaluation is asked with beyond the id: the attributes, the
/// time (Unix ms) schedules are compared with, and where referenced flags
/// are ([`Refs`]: none, and every reference fails closed).
#[derive(Clone, Copy, Default)]
pub struct Query<'a> {
    pub attrs: Attrs<'a>,
    pub now_ms: u64,
    pub refs: Option<&'a Refs<'a>>,
    /// Levels of references followed to get here (0 at the top).
    pub depth: u8,
}

impl std::fmt::Debug for Query<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Query")
            .field("attrs", &self.attrs)
            .field("now_ms", &self.now_ms)
            .field("depth", &self.depth)
            .finish()
    }
}

impl<'a> Query<'a> {
    /// These attributes, at the time of the system clock.
    pub fn now(attrs: Attrs<'a>) -> Query<'a> {
        Query {
            attrs,
            now_ms: system_now_ms(),
            ..Query::default()
        }
    }

    /// This query, following references through `refs`.
    pub fn with_refs(self, refs: &'a Refs<'a>) -> Query<'a> {
        Query {
            refs: Some(refs),
            ..self
        }
    }
}

/// The system clock in Unix ms (0 before 1970).
pub fn system_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A linear ramp of the percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ramp {
    pub from_pct: u8,
    pub to_pct: u8,
    pub start_ms: u64,
    pub end_ms: u64,
}

impl Ramp {
    /// The percentage at `now`: `from_pct` before the start, `to_pct` after
    /// the end, linear in whole percents between (rounded toward `from_pct`).
    pub fn at(&self, now: u64) -> u8 {
        if now <= self.start_ms {
            return self.from_pct;
        }
        if now >= self.end_ms {
            return self.to_pct;
        }
        let (from, to) = (i128::from(self.from_pct), i128::from(self.to_pct));
        let done = i128::from(now - self.start_ms);
        let span = i128::from(self.end_ms - self.start_ms);
        (from + (to - from) * done / span).clamp(0, 100) as u8
    }
}

/// When a flag is on at all, and how its percentage moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// `[from, until)` in Unix ms; 0 leaves that side open.
    pub window: Option<(u64, u64)>,
    pub ramp: Option<Ramp>,
}

impl Schedule {
    pub fn is_empty(&self) -> bool {
        self.window.is_none() && self.ramp.is_none()
    }

    #[inline]
    fn active(&self, now: u64) -> bool {
        self.window
            .is_none_or(|(from, until)| (from == 0 || now >= from) && (until == 0 || now < until))
    }
}

/// What a copy between environments takes from the source
/// ([`Flag::copied`]); each part not chosen stays the target's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyParts {
    /// On or off.
    pub switch: bool,
    pub percentage: bool,
    /// Variants, weights, values, the default and the salt.
    pub variants: bool,
    pub rules: bool,
    /// The window and the ramp.
    pub schedule: bool,
    pub regexes: bool,
    pub metadata: bool,
    /// The registered and blocked ids, added to the target's.
    pub ids: bool,
}

/// What the experiment's check found before the steps (issue 35): the arm
/// an exposed id keeps, or how the prerequisites went once followed there
/// (the failed one's index), or nothing checked (no experiment, or the
/// switch, the window or the deny list decide first).
#[derive(Debug, Clone, Copy)]
enum Pre {
    Arm(Sticky),
    Prereqs(Option<usize>),
    Unchecked,
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
    /// The type it serves and the index of its `DEFAULT` variant, derived
    /// from `def`.
    kind: ValueType,
    default_index: Option<usize>,
    meta: Metadata,
    history: History,
    rules: Vec<Rule>,
    schedule: Schedule,
    prereqs: Vec<Prereq>,
    /// Derived: it has prerequisites or `segment` conditions.
    has_refs: bool,
    /// Grows by one on every write that changes the flag (stored; see
    /// [`crate::store`]).
    revision: u64,
    /// Per process, never stored: see [`crate::observe`].
    counters: Counters,
    /// Issue 35: the flag's experiment, if any (see [`crate::experiment`]).
    experiment: Option<Box<Experiment>>,
}

/// Equal flags hold the same data; evaluation counts are not data.
impl PartialEq for Flag {
    fn eq(&self, other: &Self) -> bool {
        self.users == other.users && self.blocked == other.blocked && self.same_but_ids(other)
    }
}

pub use crate::crc::crc32;

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
        let (kind, default_index) = Self::derived(&def);
        Ok(Flag {
            kind,
            default_index,
            def,
            users: IdSet::new(),
            blocked: IdSet::new(),
            regexes: Regexes::default(),
            cumulative,
            meta: Metadata::default(),
            history: History::default(),
            rules: Vec::new(),
            schedule: Schedule::default(),
            prereqs: Vec::new(),
            has_refs: false,
            revision: 0,
            counters,
            experiment: None,
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
        let (kind, default_index) = Self::derived(&def);
        Ok(Flag {
            kind,
            default_index,
            def,
            users,
            blocked,
            regexes: Regexes::from_stored(patterns, Limits::STORED.regex_size_limit)?,
            cumulative,
            meta: Metadata::default(),
            history: History::default(),
            rules: Vec::new(),
            schedule: Schedule::default(),
            prereqs: Vec::new(),
            has_refs: false,
            revision: 0,
            counters,
            experiment: None,
        })
    }

    /// Holds a flag decoded from stored form (`HANOI.IMPORT`) to `limits`,
    /// as if every part of it had been written by hand: the definition, each
    /// regex and rule compiled again, the counts of regexes, rules, fields
    /// and ids, each id's and each value's length, the regex work.
    pub fn check(&self, limits: &Limits) -> Result<(), Error> {
        self.def.validate(limits)?;
        if self.regexes.len() > limits.max_regexes {
            return Err(Error::TooManyRegexes {
                limit: limits.max_regexes,
            });
        }
        for p in self.regexes.sources() {
            crate::regexes::compile(p, limits.regex_size_limit, false)?;
        }
        if self.rules.len() > limits.max_rules {
            return Err(Error::BadRule(format!(
                "too many rules on one flag (limit {}, hanoi.max-rules)",
                limits.max_rules
            )));
        }
        for r in &self.rules {
            let args = r.args();
            let words: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            crate::rules::parse_rule(&r.name, &words, &limits.rule_limits())?;
        }
        if self.prereqs.len() > limits.max_prereqs {
            return Err(Error::Reference(format!(
                "too many prerequisites on one flag (limit {}, hanoi.max-prereqs)",
                limits.max_prereqs
            )));
        }
        let work = self.pattern_count().saturating_mul(MAX_ID_LEN);
        if work > limits.max_regex_work {
            return Err(Error::RegexWork {
                work,
                limit: limits.max_regex_work,
            });
        }
        let fields = &self.meta.fields;
        if fields.len() > limits.max_meta_fields {
            return Err(Error::TooManyFields {
                limit: limits.max_meta_fields,
            });
        }
        if fields
            .values()
            .any(|v| v.len() > limits.max_meta_value_bytes)
        {
            return Err(Error::ValueTooLong {
                limit: limits.max_meta_value_bytes,
            });
        }
        for ids in [&self.users, &self.blocked] {
            if ids.len() > limits.max_ids_per_command {
                return Err(Error::Usage(format!(
                    "too many ids in one command: {} (hanoi.max-ids-per-command is {})",
                    ids.len(),
                    limits.max_ids_per_command
                )));
            }
            if let Some(id) = ids.iter().find(|id| id.len() > limits.max_id_bytes) {
                return Err(Error::IdTooLong {
                    len: id.len(),
                    limit: limits.max_id_bytes,
                });
            }
        }
        Ok(())
    }

    /// `HANOI.IMPORT` over this flag: it becomes `new` but keeps what is
    /// this server's own (its history, its creation time, its revision,
    /// its counts), and with `IDS KEEP` or `ADD` its ids (moved, not
    /// copied; the blob's added with `ADD`). Returns whether anything
    /// changed.
    pub fn import(&mut self, mut new: Flag, ids: crate::store::ImportIds) -> bool {
        use crate::store::ImportIds;
        new.meta.created_ms = self.meta.created_ms;
        new.history = self.history.clone();
        new.revision = self.revision;
        new.experiment = self.experiment.take();
        new.counters = if new.def.variants == self.def.variants {
            std::mem::take(&mut self.counters)
        } else {
            self.counters.with_variants(new.def.variants.len())
        };
        let changed = if ids == ImportIds::Replace {
            new != *self
        } else {
            std::mem::swap(&mut new.users, &mut self.users);
            std::mem::swap(&mut new.blocked, &mut self.blocked);
            // `self` holds the blob's ids now.
            let mut added = 0;
            if ids == ImportIds::Add {
                added += self.users.iter().filter(|id| new.users.insert(id)).count();
                added += self
                    .blocked
                    .iter()
                    .filter(|id| new.blocked.insert(id))
                    .count();
            }
            added > 0 || !new.same_but_ids(self)
        };
        *self = new;
        changed
    }

    /// Equal but for the registered and blocked ids.
    fn same_but_ids(&self, other: &Flag) -> bool {
        self.def == other.def
            && self.regexes == other.regexes
            && self.meta == other.meta
            && self.history == other.history
            && self.rules == other.rules
            && self.schedule == other.schedule
            && self.prereqs == other.prereqs
            && self.revision == other.revision
            && self.experiment == other.experiment
    }

    /// This flag with `users` and `blocked` as its registered and blocked
    /// ids, all else as it is.
    pub fn with_ids(mut self, users: IdSet, blocked: IdSet) -> Flag {
        self.users = users;
        self.blocked = blocked;
        self
    }

    /// The flag a copy between environments makes (hanoi-web's copy, sent
    /// as `HANOI.IMPORT` of [`crate::codec::to_bytes`] of the result): the
    /// target's flag (`None`: a flag new there) with the `parts` chosen
    /// taken from `source`, every other part as the target has it. A flag
    /// new to the target takes nothing that was not chosen: it starts as a
    /// new flag does (0 %, no variants, rules, schedule, regexes, metadata
    /// or ids) and **arrives switched off unless the switch is chosen**.
    /// The source's ids are added to the target's when chosen. Refused when
    /// the parts do not fit together (a copied rule or default naming a
    /// variant the result does not have).
    pub fn copied(source: &Flag, target: Option<&Flag>, parts: CopyParts) -> Result<Flag, Error> {
        let blank;
        let base = match target {
            Some(t) => t,
            None => {
                blank = Flag::new(
                    Definition {
                        enabled: false,
                        ..Definition::default()
                    },
                    &Limits::STORED,
                )?;
                &blank
            }
        };
        let mut def = base.def.clone();
        if source.def.segment != def.segment {
            // The kind follows the source: a segment's definition is only
            // its salt.
            def = Definition {
                enabled: source.def.segment || def.enabled,
                segment: source.def.segment,
                salt: def.salt,
                ..Definition::default()
            };
        }
        if source.def.segment {
            def.salt = if parts.variants {
                source.def.salt.clone()
            } else {
                def.salt
            };
        } else if parts.switch {
            def.enabled = source.def.enabled;
        }
        if parts.percentage && !source.def.segment {
            def.percentage = source.def.percentage;
        }
        if parts.variants && !source.def.segment {
            let s = &source.def;
            def.variants = s.variants.clone();
            def.weights = s.weights.clone();
            def.values = s.values.clone();
            def.default = s.default.clone();
            def.salt = s.salt.clone();
        }
        let mut f = Flag::new(def, &Limits::STORED)?;
        f.users = base.users.clone();
        f.blocked = base.blocked.clone();
        if parts.ids {
            for id in source.users.iter() {
                f.users.insert(id);
            }
            for id in source.blocked.iter() {
                f.blocked.insert(id);
            }
        }
        f.regexes = if parts.regexes {
            source.regexes.clone()
        } else {
            base.regexes.clone()
        };
        f.meta = if parts.metadata {
            source.meta.clone()
        } else {
            base.meta.clone()
        };
        f.prereqs = if parts.rules {
            source.prereqs.clone()
        } else {
            base.prereqs.clone()
        };
        if f.def.segment {
            f.prereqs.clear();
        }
        let (rules, schedule) = (
            if parts.rules {
                &source.rules
            } else {
                &base.rules
            },
            if parts.schedule {
                source.schedule
            } else {
                base.schedule
            },
        );
        f.with_targeting(rules.clone(), schedule)
    }

    /// A new flag's history and creation time (`HANOI.IMPORT` of a
    /// missing key).
    pub fn replace_observations(&mut self, history: History, created_ms: u64) {
        self.history = history;
        self.meta.created_ms = created_ms;
    }

    /// Puts back stored metadata and history (the codec, the AOF).
    pub fn with_observations(mut self, meta: Metadata, history: History) -> Flag {
        self.meta = meta;
        self.history = history;
        self
    }

    /// Puts back stored rules and schedule (the codec): rules were accepted
    /// once, so only the stored-data limits apply.
    pub fn with_targeting(mut self, rules: Vec<Rule>, schedule: Schedule) -> Result<Flag, Error> {
        for r in &rules {
            self.check_rule_variant(r)?;
        }
        if self.def.segment && !schedule.is_empty() {
            return Err(Error::Segment("schedule"));
        }
        self.rules = rules;
        self.schedule = schedule;
        self.refresh_refs();
        Ok(self)
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many changing writes the flag has seen (1 once created): a
    /// write that changed it moved this on by one ([`crate::store::apply`]).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Sets the revision (the store, and the codec putting back a stored
    /// flag).
    pub fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The flag's experiment (issue 35).
    pub fn experiment(&self) -> Option<&Experiment> {
        self.experiment.as_deref()
    }

    /// The experiment's writes ([`crate::experiment`]) and the codec.
    pub(crate) fn experiment_mut(&mut self) -> &mut Option<Box<Experiment>> {
        &mut self.experiment
    }

    /// Issue 35: the arm an exposed id keeps while the experiment runs,
    /// after the switch, the window, the prerequisites and the deny list.
    /// The prerequisites, once followed here, are not followed again by the
    /// steps ([`Pre::Prereqs`]): each is evaluated (and counted) once.
    #[inline]
    fn sticky(&self, id: &[u8], q: &Query<'_>) -> Pre {
        let Some(e) = self.experiment.as_deref() else {
            return Pre::Unchecked;
        };
        if !self.def.enabled || !self.schedule.active(q.now_ms) || self.blocked.contains(id) {
            return Pre::Unchecked;
        }
        let failed = if self.prereqs.is_empty() {
            None
        } else {
            self.failed_prereq(id, q)
        };
        match failed {
            None => e
                .sticky(id, &self.def.variants)
                .map_or(Pre::Prereqs(None), Pre::Arm),
            Some(i) => Pre::Prereqs(Some(i)),
        }
    }

    fn check_rule_variant(&self, r: &Rule) -> Result<(), Error> {
        match &r.variant {
            Some(v) if !self.def.variants.contains(v) => Err(Error::BadRule(format!(
                "rule '{}' serves VARIANT '{}', which the flag does not have",
                quote(&r.name),
                quote(v)
            ))),
            _ => Ok(()),
        }
    }

    /// `HANOI.RULE key SET`: replaces the rule of that name in place, or
    /// appends it. Checks first: its variant must exist, and the flag stay
    /// within `max_rules`.
    pub fn set_rule(&mut self, rule: Rule, limits: &Limits) -> Result<bool, Error> {
        self.check_rule_variant(&rule)?;
        let max_rules = limits.max_rules;
        let count = self.rules.len();
        let replaced = self
            .rules
            .iter()
            .find(|r| r.name == rule.name)
            .map_or(0, Rule::patterns);
        self.check_regex_work(rule.patterns(), replaced, limits)?;
        let changed = match self.rules.iter_mut().find(|r| r.name == rule.name) {
            Some(old) if *old == rule => false,
            Some(old) => {
                *old = rule;
                true
            }
            None if count >= max_rules => {
                return Err(Error::BadRule(format!(
                    "too many rules on one flag (limit {max_rules}, hanoi.max-rules)"
                )))
            }
            None => {
                self.rules.push(rule);
                true
            }
        };
        self.refresh_refs();
        Ok(changed)
    }

    /// `HANOI.RULE key DEL`: returns how many rules were there.
    pub fn delete_rules(&mut self, names: &[&[u8]]) -> usize {
        let before = self.rules.len();
        self.rules.retain(|r| !names.contains(&r.name.as_slice()));
        self.refresh_refs();
        before - self.rules.len()
    }

    /// `HANOI.RULE key MOVE name index`: index 0 is evaluated first.
    pub fn move_rule(&mut self, name: &[u8], index: usize) -> Result<bool, Error> {
        let from = self
            .rules
            .iter()
            .position(|r| r.name == name)
            .ok_or_else(|| Error::BadRule(format!("no rule named '{}'", quote(name))))?;
        move_to(&mut self.rules, from, index, "rules", Error::BadRule)
    }

    /// `HANOI.SCHEDULE key WINDOW from until` (0 = open on that side).
    pub fn set_window(&mut self, from: u64, until: u64) -> Result<bool, Error> {
        if from != 0 && until != 0 && until <= from {
            return Err(Error::BadSchedule(
                "the window ends before it starts".into(),
            ));
        }
        Ok(self.schedule.window.replace((from, until)) != Some((from, until)))
    }

    /// `HANOI.SCHEDULE key RAMP from_pct to_pct start end`.
    pub fn set_ramp(&mut self, ramp: Ramp) -> Result<bool, Error> {
        if ramp.from_pct > 100 || ramp.to_pct > 100 {
            return Err(Error::InvalidPercentage);
        }
        if ramp.end_ms <= ramp.start_ms {
            return Err(Error::BadSchedule("the ramp ends before it starts".into()));
        }
        Ok(self.schedule.ramp.replace(ramp) != Some(ramp))
    }

    /// `HANOI.SCHEDULE key CLEAR [WINDOW|RAMP]`.
    pub fn clear_schedule(&mut self, window: bool, ramp: bool) -> bool {
        let w = window && self.schedule.window.take().is_some();
        let r = ramp && self.schedule.ramp.take().is_some();
        w || r
    }

    /// Setting the percentage by hand ends a ramp.
    pub fn end_ramp(&mut self) -> bool {
        self.schedule.ramp.take().is_some()
    }

    /// The percentage at `now`: a ramp's, else the flag's.
    #[inline]
    pub fn effective_percentage(&self, now: u64) -> u8 {
        match &self.schedule.ramp {
            Some(r) => r.at(now),
            None => self.def.percentage,
        }
    }

    /// A query of no attributes at the system time (read only if the flag
    /// has a schedule: a clock read costs more than most evaluations).
    #[inline]
    fn plain_query(&self) -> Query<'static> {
        Query {
            attrs: Attrs::NONE,
            now_ms: if self.schedule.is_empty() && !self.has_refs {
                0
            } else {
                system_now_ms()
            },
            ..Query::default()
        }
    }

    /// A query with these attributes at the system time, read only if the
    /// flag has a schedule (what the in-process evaluator asks with).
    #[inline]
    pub fn query<'a>(&self, attrs: Attrs<'a>) -> Query<'a> {
        Query {
            attrs,
            now_ms: if self.schedule.is_empty() && !self.has_refs {
                0
            } else {
                system_now_ms()
            },
            ..Query::default()
        }
    }

    /// Whether `now_ms` matters to this flag's answers (its schedule, or
    /// the schedules of flags it references).
    pub fn has_schedule(&self) -> bool {
        !self.schedule.is_empty() || self.has_refs
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

    /// Adds counts made elsewhere ([`crate::observe::Tally`]): variants by
    /// name, a name the flag does not have (any more) left out.
    /// Refused when a count would pass [`crate::observe::MAX_COUNT`].
    pub fn tally(&self, t: &crate::observe::Tally<'_>, now_ms: u64) -> Result<(), Error> {
        let now = self.counters.snapshot();
        if t.evaluations
            > crate::observe::MAX_COUNT - now.evaluations.min(crate::observe::MAX_COUNT)
        {
            return Err(Error::Usage(format!(
                "the counts would pass {} evaluations: HANOI.TALLY key RESET starts them again",
                crate::observe::MAX_COUNT
            )));
        }
        let variants = t.variants.iter().filter_map(|(name, n)| {
            let i = self.def.variants.iter().position(|v| v == name)?;
            Some((i, *n))
        });
        self.counters
            .add(t.evaluations, t.enabled, variants, now_ms);
        Ok(())
    }

    /// The type and the default variant's index of a checked definition.
    fn derived(def: &Definition) -> (ValueType, Option<usize>) {
        let default = def
            .default
            .as_ref()
            .and_then(|d| def.variants.iter().position(|v| v == d));
        (def.kind(), default)
    }

    /// What the flag serves (`HANOI.GET`'s `type`).
    pub fn value_type(&self) -> ValueType {
        self.kind
    }

    /// The JSON text of variant `index`'s value: its `VALUES` entry, or its
    /// name as a JSON string (a string flag).
    pub fn value_of(&self, index: usize) -> Option<std::borrow::Cow<'_, [u8]>> {
        if let Some(values) = &self.def.values {
            return values
                .get(index)
                .map(|v| std::borrow::Cow::Borrowed(v.as_slice()));
        }
        let name = self.def.variants.get(index)?;
        let text = serde_json::to_string(&String::from_utf8_lossy(name)).ok()?;
        Some(std::borrow::Cow::Owned(text.into_bytes()))
    }

    /// What a query is served: whether the flag is on, and the variant
    /// (the decided one when on, the `DEFAULT` one when off). Without an
    /// id the switch alone decides, and an "on" flag with variants serves
    /// no variant (picking one needs the id).
    pub fn served(&self, id: Option<&[u8]>, q: &Query<'_>) -> (bool, Option<usize>) {
        match id {
            Some(id) if !self.def.variants.is_empty() => {
                let pre = self.sticky(id, q);
                if let Pre::Arm(s) = pre {
                    return (s.enabled, s.variant);
                }
                let h = crc32(self.def.salt.as_deref(), id);
                if self.has_refs {
                    // One decision: references are followed (and counted)
                    // once.
                    let (reason, i) = self.decide_from(id, q, pre);
                    if !reason.enabled() {
                        return (false, self.default_index);
                    }
                    let rule_variant = match (reason, i) {
                        (Reason::Rule, Some(i)) => self.rules[i].variant.as_ref(),
                        _ => None,
                    };
                    return (
                        true,
                        match rule_variant {
                            Some(v) => self.def.variants.iter().position(|x| x == v),
                            None => self.pick_index(h),
                        },
                    );
                }
                if !self.is_on_from(id, q, pre, || h) {
                    return (false, self.default_index);
                }
                (true, self.on_variant(id, q, h))
            }
            _ => {
                let on = self.is_enabled_with(id, q);
                (on, if on { None } else { self.default_index })
            }
        }
    }

    /// `HANOI.VALUE`: whether the flag is on, the variant served, and the
    /// JSON text served: `true`/`false` for a boolean flag, the served
    /// variant's value otherwise (none when no variant is served).
    pub fn value_with(
        &self,
        id: Option<&[u8]>,
        q: &Query<'_>,
    ) -> (bool, Option<usize>, Option<std::borrow::Cow<'_, [u8]>>) {
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            // No id (or an empty one): what does not depend on the id, as
            // `HANOI.RESOLVE key ""` answers it.
            let r = self.resolve_without_id(q);
            let e = &r.explanation;
            let index = e
                .variant
                .and_then(|v| self.def.variants.iter().position(|x| x == v));
            return (e.enabled, index, r.value);
        };
        let (on, index) = self.served(Some(id), q);
        if self.def.variants.is_empty() {
            let text: &'static [u8] = if on { b"true" } else { b"false" };
            return (on, None, Some(std::borrow::Cow::Borrowed(text)));
        }
        (on, index, index.and_then(|i| self.value_of(i)))
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
            + self
                .def
                .values
                .iter()
                .flatten()
                .map(|v| v.capacity() + 24)
                .sum::<usize>()
            + self.def.default.as_ref().map_or(0, |d| d.capacity())
            + self.cumulative.capacity() * 8
            + self.regexes.heap_size()
            + self.meta.heap_size()
            + self.rules.iter().map(Rule::heap_size).sum::<usize>()
            + self.prereqs.iter().map(Prereq::heap_size).sum::<usize>()
            + self.history.heap_size()
            + self.counters.heap_size()
            + self.experiment.as_ref().map_or(0, |e| e.heap_size())
    }

    // ----- writes; each says whether it changed anything -----

    /// Replaces the definition; registrations, blocks and regexes stay.
    pub fn set_definition(&mut self, def: Definition, limits: &Limits) -> Result<bool, Error> {
        def.validate(limits)?;
        if def.segment {
            if !self.schedule.is_empty() {
                return Err(Error::Segment(
                    "schedule (clear it first: HANOI.SCHEDULE key CLEAR)",
                ));
            }
            if !self.prereqs.is_empty() {
                return Err(Error::Segment(
                    "prerequisites (delete them first: HANOI.PREREQ key DEL)",
                ));
            }
            if self.experiment.is_some() {
                return Err(Error::Segment("experiment (it has no random split)"));
            }
        }
        if let Some(r) = self.rules.iter().find(|r| {
            r.variant
                .as_ref()
                .is_some_and(|v| !def.variants.contains(v))
        }) {
            return Err(Error::BadRule(format!(
                "rule '{}' serves a variant this definition drops: change or delete the rule first",
                quote(&r.name)
            )));
        }
        if def == self.def {
            return Ok(false);
        }
        self.cumulative = Self::cumulative(&def);
        (self.kind, self.default_index) = Self::derived(&def);
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

    /// Sets the percentage by hand, which ends a ramp.
    pub fn set_percentage(&mut self, pct: u8) -> Result<bool, Error> {
        if pct > 100 {
            return Err(Error::InvalidPercentage);
        }
        let ramp = self.end_ramp();
        Ok(std::mem::replace(&mut self.def.percentage, pct) != pct || ramp)
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
        self.check_regex_work(new.len(), 0, limits)?;
        Ok(self.regexes.commit_add(new))
    }

    /// Patterns one evaluation may run: the regexes and every `MATCHES`.
    fn pattern_count(&self) -> usize {
        self.regexes.len() + self.rules.iter().map(Rule::patterns).sum::<usize>()
    }

    /// Refuses a write that would take the flag's regex work past
    /// `limits.max_regex_work`: `adding` patterns, `removing` others.
    fn check_regex_work(
        &self,
        adding: usize,
        removing: usize,
        limits: &Limits,
    ) -> Result<(), Error> {
        if adding <= removing {
            return Ok(());
        }
        let after = (self.pattern_count() + adding - removing).saturating_mul(MAX_ID_LEN);
        if after > limits.max_regex_work {
            return Err(Error::RegexWork {
                work: after,
                limit: limits.max_regex_work,
            });
        }
        Ok(())
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
        self.decide(id, &self.plain_query()).0
    }

    /// The first rule that matches `id` with `q` and whose rollout includes it.
    #[inline]
    fn rule_for(&self, id: &[u8], q: &Query<'_>, bucket: impl Fn() -> u8) -> Option<usize> {
        self.rules
            .iter()
            .position(|r| r.matches(q, id) && r.rollout.is_none_or(|p| p >= 100 || bucket() < p))
    }

    /// The step that decides, and the rule when a rule did: 1 switched off,
    /// 2 outside the window, 3 blocked, 4 effective percentage 100, 5 a
    /// registered id, 6 a regex, 7 the first matching rule (with its
    /// rollout), 8 the bucket below the effective percentage, 9 outside.
    pub fn decide(&self, id: &[u8], q: &Query<'_>) -> (Reason, Option<usize>) {
        self.decide_from(id, q, self.sticky(id, q))
    }

    /// [`Flag::decide`] after the experiment's check.
    fn decide_from(&self, id: &[u8], q: &Query<'_>, pre: Pre) -> (Reason, Option<usize>) {
        if let Pre::Arm(s) = pre {
            return (Reason::split(s.enabled), None);
        }
        let decided = self.decide_steps(id, q, pre);
        // A bound passed while following references (at any level) makes
        // the whole answer `error`, whatever the steps decided.
        if self.has_refs && q.depth == 0 && q.fault().is_some() {
            return (Reason::Error, None);
        }
        decided
    }

    /// [`Flag::decide`]'s steps; the prerequisites (their index is the
    /// detail) come after the switch and the window.
    fn decide_steps(&self, id: &[u8], q: &Query<'_>, pre: Pre) -> (Reason, Option<usize>) {
        let pct = self.effective_percentage(q.now_ms);
        let reason = if !self.def.enabled {
            Reason::Disabled
        } else if !self.schedule.active(q.now_ms) {
            Reason::Inactive
        } else if let Some(i) = match pre {
            Pre::Prereqs(known) => known,
            _ => self.failed_prereq(id, q),
        } {
            return (Reason::Prerequisite, Some(i));
        } else if !self.blocked.is_empty() && self.blocked.contains(id) {
            Reason::Blocked
        } else if pct >= 100 {
            Reason::All
        } else if self.users.contains(id) {
            Reason::User
        } else if self.regexes.is_match(id) {
            Reason::Regex
        } else if let Some(i) = self.rule_for(id, q, || self.bucket(id)) {
            return (Reason::Rule, Some(i));
        } else if self.bucket(id) < pct {
            Reason::Percentage
        } else {
            Reason::Outside
        };
        (reason, None)
    }

    /// `None` answers the switch alone (hanoi's global check), within the
    /// flag's window.
    #[inline]
    pub fn is_enabled(&self, id: Option<&[u8]>) -> bool {
        self.is_enabled_with(id, &self.plain_query())
    }

    /// [`Flag::is_enabled`] with attributes and a time.
    #[inline]
    pub fn is_enabled_with(&self, id: Option<&[u8]>, q: &Query<'_>) -> bool {
        match id {
            None => self.def.enabled && self.schedule.active(q.now_ms),
            Some(id) => self.is_on(id, q, || crc32(self.def.salt.as_deref(), id)),
        }
    }

    /// [`Flag::is_enabled_with`] for one id asked of many flags
    /// (`HANOI.MENABLED`): the crc32 of the id is the same for every flag
    /// without a salt, so `unsalted` keeps it once one of them computed it.
    #[inline]
    pub fn is_enabled_shared(
        &self,
        id: Option<&[u8]>,
        q: &Query<'_>,
        unsalted: &Cell<Option<u32>>,
    ) -> bool {
        match (id, &self.def.salt) {
            (Some(id), None) => self.is_on(id, q, || {
                unsalted.get().unwrap_or_else(|| {
                    let c = crc32(None, id);
                    unsalted.set(Some(c));
                    c
                })
            }),
            _ => self.is_enabled_with(id, q),
        }
    }

    /// The answer of `decide(id).enabled()`, but with the "on" steps (all,
    /// user, regex, rule, percentage), which are an OR, tried cheapest first:
    /// the bucket (a crc32, asked of `crc` only when needed), the regexes,
    /// the id set (a cache miss in a large flag), then the rules. `decide`
    /// keeps the documented order for the reason it reports.
    #[inline]
    fn is_on(&self, id: &[u8], q: &Query<'_>, crc: impl Fn() -> u32) -> bool {
        self.is_on_from(id, q, self.sticky(id, q), crc)
    }

    /// [`Flag::is_on`] after the experiment's check.
    #[inline]
    fn is_on_from(&self, id: &[u8], q: &Query<'_>, pre: Pre, crc: impl Fn() -> u32) -> bool {
        if let Pre::Arm(s) = pre {
            return s.enabled;
        }
        if self.has_refs {
            // References are followed in the documented order, so that
            // every read meets the same ones (and the same faults).
            return self.decide_from(id, q, pre).0.enabled();
        }
        let pct = self.effective_percentage(q.now_ms);
        self.def.enabled
            && self.schedule.active(q.now_ms)
            && (self.blocked.is_empty() || !self.blocked.contains(id))
            && (pct >= 100
                || (pct > 0 && ((crc() % 100) as u8) < pct)
                || (!self.regexes.is_empty() && self.regexes.is_match(id))
                || self.users.contains(id)
                || (!self.rules.is_empty()
                    && self.rule_for(id, q, || (crc() % 100) as u8).is_some()))
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

    /// The variant for `id`: the DEFAULT one (or none) unless the flag is on for it. One crc32
    /// serves the bucket and the pick.
    #[inline]
    pub fn variant(&self, id: &[u8]) -> Option<&[u8]> {
        self.variant_with(id, &self.plain_query())
    }

    /// [`Flag::variant`] with attributes and a time.
    #[inline]
    pub fn variant_with(&self, id: &[u8], q: &Query<'_>) -> Option<&[u8]> {
        self.variant_index_with(id, q)
            .and_then(|i| self.def.variants.get(i))
            .map(Vec::as_slice)
    }

    /// [`Flag::variant`] as an index into the variants (for counting).
    #[inline]
    pub fn variant_index(&self, id: &[u8]) -> Option<usize> {
        self.variant_index_with(id, &self.plain_query())
    }

    /// The variant index for `id` with attributes and a time: a rule that
    /// decides (step 7) serves its VARIANT; every other "on" gets the flag's
    /// pick (an id on at steps 4 to 6 too, whatever rules also match it).
    #[inline]
    pub fn variant_index_with(&self, id: &[u8], q: &Query<'_>) -> Option<usize> {
        if self.def.variants.is_empty() {
            return None;
        }
        if self.has_refs {
            return self.served(Some(id), q).1;
        }
        let pre = self.sticky(id, q);
        if let Pre::Arm(s) = pre {
            return s.variant;
        }
        let h = crc32(self.def.salt.as_deref(), id);
        if !self.is_on_from(id, q, pre, || h) {
            // Off for the id: the DEFAULT variant, if the flag has one.
            return self.default_index;
        }
        self.on_variant(id, q, h)
    }

    /// The variant of an id the flag is on for (`h` its crc): a deciding
    /// rule's VARIANT, else the flag's pick.
    #[inline]
    fn on_variant(&self, id: &[u8], q: &Query<'_>, h: u32) -> Option<usize> {
        if self.rules.iter().any(|r| r.variant.is_some()) {
            if let (Reason::Rule, Some(i)) = self.decide(id, q) {
                if let Some(v) = &self.rules[i].variant {
                    return self.def.variants.iter().position(|x| x == v);
                }
            }
        }
        self.pick_index(h)
    }

    pub fn explain(&self, id: &[u8]) -> Explanation<'_> {
        self.explain_with(id, &self.plain_query())
    }

    /// The answer to a query without an id (OpenFeature without a targeting
    /// key), or `None` when it depends on the id's hash. Decided as usual:
    /// the switch, the window, the effective percentage at 0 or 100, rules
    /// by their attributes (a rollout of 0 or 100), one variant, the
    /// `DEFAULT` one when off; ids and regexes do not match a missing id.
    /// A percentage or a reached rule rollout strictly between 0 and 100,
    /// or a pick among several variants, needs the id.
    pub fn explain_without_id(&self, q: &Query<'_>) -> Option<Explanation<'_>> {
        let e = self.explain_without_id_steps(q);
        if self.has_refs && q.depth == 0 {
            if let Some(fault) = q.fault() {
                return Some(self.fault_explanation(fault, q));
            }
            if q.refs.is_some_and(Refs::needs_id) {
                return None;
            }
        }
        e.map(|e| Explanation {
            missing: if q.depth == 0 {
                self.missing_segment(q)
            } else {
                None
            },
            ..e
        })
    }

    fn explain_without_id_steps(&self, q: &Query<'_>) -> Option<Explanation<'_>> {
        let pct = self.effective_percentage(q.now_ms);
        let off = |reason, detail| Explanation {
            enabled: false,
            variant: self
                .default_index
                .and_then(|i| self.def.variants.get(i))
                .map(Vec::as_slice),
            reason,
            detail,
            percentage: pct,
            missing: None,
        };
        if !self.def.enabled {
            return Some(off(Reason::Disabled, None));
        }
        if !self.schedule.active(q.now_ms) {
            return Some(off(Reason::Inactive, None));
        }
        for p in &self.prereqs {
            let met = q.through(&p.key, Some(false), |f, inner| match f {
                Some(f) if !f.is_segment() => f.explain_without_id(inner).map(|e| {
                    let index = e
                        .variant
                        .and_then(|v| f.def.variants.iter().position(|x| x == v));
                    if let Some(r) = inner.refs {
                        r.lookup().evaluated(f, e.enabled, index);
                    }
                    e.enabled && p.variant.as_deref().is_none_or(|v| e.variant == Some(v))
                }),
                _ => Some(false),
            });
            match met {
                None => return None,
                Some(false) => {
                    return Some(off(
                        Reason::Prerequisite,
                        Some(Detail::Prerequisite(&p.key)),
                    ))
                }
                Some(true) => {}
            }
        }
        let (reason, rule) = if pct >= 100 {
            (Reason::All, None)
        } else {
            let mut decided = None;
            for (i, r) in self.rules.iter().enumerate() {
                if r.uses_id() {
                    // Its answer is the id's: skipping it would be a guess.
                    return None;
                }
                if !r.matches_without_id(q) {
                    continue;
                }
                match r.rollout {
                    None => {}
                    Some(p) if p >= 100 => {}
                    Some(0) => continue,
                    Some(_) => return None,
                }
                decided = Some(i);
                break;
            }
            match decided {
                Some(i) => (Reason::Rule, Some(i)),
                None if pct == 0 => return Some(off(Reason::Outside, None)),
                None => return None,
            }
        };
        let variant = match rule.and_then(|i| self.rules[i].variant.as_deref()) {
            Some(v) => Some(v),
            None => match self.def.variants.as_slice() {
                [] => None,
                [only] => Some(only.as_slice()),
                _ => return None,
            },
        };
        Some(Explanation {
            enabled: true,
            variant,
            reason,
            detail: rule.map(|i| Detail::Rule(&self.rules[i].name)),
            percentage: pct,
            missing: None,
        })
    }

    /// The answer when following references went past a bound.
    fn fault_explanation(&self, fault: crate::refs::Fault, q: &Query<'_>) -> Explanation<'_> {
        Explanation {
            enabled: false,
            variant: self
                .default_index
                .and_then(|i| self.def.variants.get(i))
                .map(Vec::as_slice),
            reason: Reason::Error,
            detail: Some(Detail::Fault(fault.as_str())),
            percentage: self.effective_percentage(q.now_ms),
            missing: None,
        }
    }

    /// The first segment this flag's rules name that is not (or no longer)
    /// a segment, when the query can look (EXPLAIN names it).
    fn missing_segment(&self, q: &Query<'_>) -> Option<&[u8]> {
        let refs = q.refs.filter(|_| self.has_refs)?;
        // Bounded as an evaluation's references are.
        let named = self.rules.iter().flat_map(Rule::segments);
        named.take(crate::refs::MAX_STEPS as usize).find(|name| {
            let mut there = false;
            refs.lookup()
                .with_flag(name, &mut |f| there = f.is_some_and(Flag::is_segment));
            !there
        })
    }

    /// [`Flag::explain`] with attributes and a time.
    pub fn explain_with(&self, id: &[u8], q: &Query<'_>) -> Explanation<'_> {
        let pre = self.sticky(id, q);
        if let Pre::Arm(s) = pre {
            return Explanation {
                enabled: s.enabled,
                variant: s
                    .variant
                    .and_then(|i| self.def.variants.get(i))
                    .map(Vec::as_slice),
                reason: Reason::split(s.enabled),
                detail: Some(Detail::Bucket(self.bucket(id))),
                percentage: self.effective_percentage(q.now_ms),
                missing: None,
            };
        }
        let (reason, rule) = self.decide_from(id, q, pre);
        if reason == Reason::Error {
            if let Some(fault) = q.fault() {
                return self.fault_explanation(fault, q);
            }
        }
        let detail = match reason {
            Reason::Regex => self.regexes.first_match(id).map(Detail::Pattern),
            Reason::Rule => rule.map(|i| Detail::Rule(&self.rules[i].name)),
            Reason::Prerequisite => rule.map(|i| Detail::Prerequisite(&self.prereqs[i].key)),
            Reason::Percentage | Reason::Outside => Some(Detail::Bucket(self.bucket(id))),
            _ => None,
        };
        let enabled = reason.enabled();
        let variant = if !enabled {
            self.default_index
                .and_then(|i| self.def.variants.get(i))
                .map(Vec::as_slice)
        } else {
            match rule.and_then(|i| self.rules[i].variant.as_deref()) {
                Some(v) => Some(v),
                None => self.assigned_variant(id),
            }
        };
        Explanation {
            enabled,
            variant,
            reason,
            detail,
            percentage: self.effective_percentage(q.now_ms),
            missing: self.missing_segment(q),
        }
    }

    /// The first prerequisite not met for `id` (none without any): it must
    /// be a flag (not a segment), on for the same id and attributes, and
    /// serve the variant asked for.
    #[inline]
    fn failed_prereq(&self, id: &[u8], q: &Query<'_>) -> Option<usize> {
        if self.prereqs.is_empty() {
            return None;
        }
        self.prereqs.iter().position(|p| {
            !q.through(&p.key, false, |f, inner| match f {
                Some(f) if !f.is_segment() => {
                    let (on, index) = f.served(Some(id), inner);
                    if let Some(r) = inner.refs {
                        r.lookup().evaluated(f, on, index);
                    }
                    on && p
                        .variant
                        .as_ref()
                        .is_none_or(|v| index.and_then(|i| f.def.variants.get(i)) == Some(v))
                }
                _ => false,
            })
        })
    }

    /// Whether `id` (none: a query without one) is a member of this segment
    /// (or on, for a flag), counted on it; a keyless answer that needs the
    /// id is no, and marks the evaluation as needing it.
    pub(crate) fn member(&self, id: Option<&[u8]>, q: &Query<'_>) -> bool {
        let on = match id {
            Some(id) => self.is_on(id, q, || crc32(self.def.salt.as_deref(), id)),
            None => match self.explain_without_id(q) {
                Some(e) => e.enabled,
                None => {
                    if let Some(r) = q.refs {
                        r.set_needs_id();
                    }
                    false
                }
            },
        };
        if let Some(r) = q.refs {
            r.lookup().evaluated(self, on, None);
        }
        on
    }

    // ----- references -----

    /// A segment (`HANOI.DEFINE key SEGMENT`)?
    pub fn is_segment(&self) -> bool {
        self.def.segment
    }

    /// The prerequisites, in order.
    pub fn prereqs(&self) -> &[Prereq] {
        &self.prereqs
    }

    /// Whether it has prerequisites or `segment` conditions.
    pub fn has_references(&self) -> bool {
        self.has_refs
    }

    /// Every key it references: its prerequisites, then the segments its
    /// rules name.
    pub fn references(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.prereqs
            .iter()
            .map(|p| p.key.as_slice())
            .chain(self.rules.iter().flat_map(Rule::segments))
    }

    fn refresh_refs(&mut self) {
        self.has_refs =
            !self.prereqs.is_empty() || self.rules.iter().any(|r| r.segments().next().is_some());
    }

    /// Puts back stored prerequisites (the codec).
    pub fn with_prereqs(mut self, prereqs: Vec<Prereq>) -> Result<Flag, Error> {
        if self.def.segment && !prereqs.is_empty() {
            return Err(Error::Segment("prerequisites"));
        }
        self.prereqs = prereqs;
        self.refresh_refs();
        Ok(self)
    }

    /// `HANOI.PREREQ key SET other [VARIANT v]`: replaces the variant of a
    /// prerequisite already there (in place), or appends it, within
    /// `max_prereqs`.
    pub fn set_prereq(&mut self, p: Prereq, limits: &Limits) -> Result<bool, Error> {
        if self.def.segment {
            return Err(Error::Segment("prerequisites"));
        }
        let count = self.prereqs.len();
        let changed = match self.prereqs.iter_mut().find(|x| x.key == p.key) {
            Some(old) if *old == p => false,
            Some(old) => {
                *old = p;
                true
            }
            None if count >= limits.max_prereqs => {
                return Err(Error::Reference(format!(
                    "too many prerequisites on one flag (limit {}, hanoi.max-prereqs)",
                    limits.max_prereqs
                )))
            }
            None => {
                self.prereqs.push(p);
                true
            }
        };
        self.refresh_refs();
        Ok(changed)
    }

    /// `HANOI.PREREQ key DEL other...`: how many were there.
    pub fn delete_prereqs(&mut self, keys: &[&[u8]]) -> usize {
        let before = self.prereqs.len();
        self.prereqs.retain(|p| !keys.contains(&p.key.as_slice()));
        self.refresh_refs();
        before - self.prereqs.len()
    }

    /// `HANOI.PREREQ key MOVE other index`: index 0 is checked first.
    pub fn move_prereq(&mut self, key: &[u8], index: usize) -> Result<bool, Error> {
        let from = self
            .prereqs
            .iter()
            .position(|p| p.key == key)
            .ok_or_else(|| Error::Reference(format!("no prerequisite '{}'", quote(key))))?;
        move_to(
            &mut self.prereqs,
            from,
            index,
            "prerequisites",
            Error::Reference,
        )
    }
}

/// `MOVE` in an ordered list (rules, prerequisites): the item at `from`
/// goes to `index`; whether it moved. An index past the end is refused,
/// naming what the list holds.
fn move_to<T>(
    list: &mut Vec<T>,
    from: usize,
    index: usize,
    what: &str,
    err: fn(String) -> Error,
) -> Result<bool, Error> {
    if index >= list.len() {
        return Err(err(format!(
            "MOVE index {index} out of range: the flag has {} {what} (0 to {})",
            list.len(),
            list.len().saturating_sub(1)
        )));
    }
    let item = list.remove(from);
    list.insert(index, item);
    Ok(from != index)
}
