//! Targeting rules: conditions on what the application knows about the user
//! (its attributes), joined by AND, optionally limited to a percentage of
//! the ids they match and optionally serving a fixed variant.
//!
//! `HANOI.RULE key SET name [ROLLOUT pct] [VARIANT v] IF attr op [arg ...]
//! [AND attr op [arg ...] ...]` is parsed here ([`parse_rule`]); a rule keeps
//! its arguments as given so it can be written back ([`Rule::args`]) and
//! stored, and compiles them once.

use std::cmp::Ordering;
use std::collections::HashSet;

use crate::regexes::{self, MAX_ID_LEN};
use crate::{parse_int, parse_percentage, quote, Error, KeyedState, Query};

/// The attributes of one evaluation: name/value pairs, binary-safe, names
/// unique; the id is the attribute `id`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs<'a> {
    pairs: &'a [(&'a [u8], &'a [u8])],
}

impl<'a> Attrs<'a> {
    pub const NONE: Attrs<'static> = Attrs { pairs: &[] };

    /// Checks the pairs: no name twice, and not `id` (the id is given apart).
    /// Linear: a hash set once there are more than a few.
    pub fn new(pairs: &'a [(&'a [u8], &'a [u8])]) -> Result<Attrs<'a>, Error> {
        // The hash set (and its random keys) only for many pairs.
        let mut seen: Option<HashSet<&[u8]>> = None;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if *name == b"id" {
                return Err(Error::IdAttribute);
            }
            let repeated = if pairs.len() <= 16 {
                pairs[..i].iter().any(|(n, _)| n == name)
            } else {
                !seen
                    .get_or_insert_with(|| HashSet::with_capacity(pairs.len()))
                    .insert(name)
            };
            if repeated {
                return Err(Error::RepeatedAttribute(quote(name)));
            }
        }
        Ok(Attrs { pairs })
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn pairs(&self) -> &'a [(&'a [u8], &'a [u8])] {
        self.pairs
    }

    /// The value of `name` (`id` is the id; missing without one).
    #[inline]
    fn get(&self, name: &[u8], id: Option<&'a [u8]>) -> Option<&'a [u8]> {
        if name == b"id" {
            return id;
        }
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// A decimal number, compared exactly whatever its size: sign, integer
/// digits without leading zeros, fraction digits without trailing zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    int: Vec<u8>,
    frac: Vec<u8>,
}

/// A decimal number borrowed from an attribute: parsed without allocating.
#[derive(Debug, Clone, Copy)]
struct DecimalRef<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
}

impl<'a> DecimalRef<'a> {
    #[inline]
    fn parse(s: &'a [u8]) -> Option<DecimalRef<'a>> {
        let (negative, rest) = match s {
            [b'-', r @ ..] => (true, r),
            [b'+', r @ ..] => (false, r),
            r => (false, r),
        };
        let (int, frac) = match rest.iter().position(|&b| b == b'.') {
            Some(dot) => (&rest[..dot], &rest[dot + 1..]),
            None => (rest, &[][..]),
        };
        if (int.is_empty() && frac.is_empty()) || !int.iter().chain(frac).all(u8::is_ascii_digit) {
            return None;
        }
        let int = &int[int.iter().take_while(|&&d| d == b'0').count()..];
        let frac = &frac[..frac.len() - frac.iter().rev().take_while(|&&d| d == b'0').count()];
        let zero = int.is_empty() && frac.is_empty();
        Some(DecimalRef {
            negative: negative && !zero,
            int,
            frac,
        })
    }

    #[inline]
    fn cmp_to(&self, d: &Decimal) -> Ordering {
        let magnitude = || {
            self.int
                .len()
                .cmp(&d.int.len())
                .then_with(|| self.int.cmp(d.int.as_slice()))
                .then_with(|| self.frac.cmp(d.frac.as_slice()))
        };
        match (self.negative, d.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => magnitude(),
            (true, true) => magnitude().reverse(),
        }
    }
}

impl Decimal {
    /// `-?[0-9]+(\.[0-9]+)?` (also `+`, and `.5` / `5.`); anything else is not a number.
    pub fn parse(s: &[u8]) -> Option<Decimal> {
        if s.len() > 4096 {
            return None;
        }
        let d = DecimalRef::parse(s)?;
        Some(Decimal {
            negative: d.negative,
            int: d.int.to_vec(),
            frac: d.frac.to_vec(),
        })
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(&other.int))
            .then_with(|| self.frac.cmp(&other.frac))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A version, compared by semver.org precedence (build metadata ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    core: [u64; 3],
    pre: Vec<Ident>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ident {
    Num(u64),
    Alpha(Vec<u8>),
}

impl Version {
    /// `MAJOR.MINOR.PATCH[-pre.release][+build]`, numbers without leading zeros.
    pub fn parse(s: &[u8]) -> Option<Version> {
        if s.len() > 1024 {
            return None;
        }
        let s = match s.iter().position(|&b| b == b'+') {
            Some(p) => {
                let build = &s[p + 1..];
                if build.is_empty() || !build.split(|&b| b == b'.').all(valid_ident) {
                    return None;
                }
                &s[..p]
            }
            None => s,
        };
        let (core, pre) = match s.iter().position(|&b| b == b'-') {
            Some(p) => (&s[..p], Some(&s[p + 1..])),
            None => (s, None),
        };
        let mut parts = core.split(|&b| b == b'.');
        let mut nums = [0u64; 3];
        for n in &mut nums {
            *n = number(parts.next()?)?;
        }
        if parts.next().is_some() {
            return None;
        }
        let pre = match pre {
            None => Vec::new(),
            Some(p) => p
                .split(|&b| b == b'.')
                .map(|id| {
                    if !valid_ident(id) {
                        None
                    } else if id.iter().all(u8::is_ascii_digit) {
                        number(id).map(Ident::Num)
                    } else {
                        Some(Ident::Alpha(id.to_vec()))
                    }
                })
                .collect::<Option<Vec<Ident>>>()?,
        };
        Some(Version { core: nums, pre })
    }
}

fn valid_ident(id: &[u8]) -> bool {
    !id.is_empty() && id.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A numeric identifier: digits, no leading zero, fits a u64.
fn number(s: &[u8]) -> Option<u64> {
    match s {
        [b'0'] => Some(0),
        // Folded in place: no UTF-8 check and no `str::parse` per evaluation.
        [b'1'..=b'9', ..] => s.iter().try_fold(0u64, |n, &b| {
            let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
            n.checked_mul(10)?.checked_add(u64::from(digit))
        }),
        _ => None,
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let o = match (a, b) {
                            (Ident::Num(x), Ident::Num(y)) => x.cmp(y),
                            (Ident::Num(_), Ident::Alpha(_)) => Ordering::Less,
                            (Ident::Alpha(_), Ident::Num(_)) => Ordering::Greater,
                            (Ident::Alpha(x), Ident::Alpha(y)) => x.cmp(y),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The values of an IN/NOTIN list: a few are compared in turn (faster
/// than hashing the attribute), more go in a hash set (the keyed hash of
/// the id sets).
#[derive(Debug, Clone)]
enum Values {
    Few(Vec<Vec<u8>>),
    Many(HashSet<Vec<u8>, KeyedState>),
}

impl Values {
    /// Up to this many values are compared in turn.
    const FEW: usize = 8;

    fn new(args: &[Vec<u8>]) -> Values {
        if args.len() <= Self::FEW {
            Values::Few(args.to_vec())
        } else {
            Values::Many(args.iter().cloned().collect())
        }
    }

    #[inline]
    fn contains(&self, v: &[u8]) -> bool {
        match self {
            Values::Few(list) => list.iter().any(|x| x.as_slice() == v),
            Values::Many(set) => set.contains(v),
        }
    }
}

/// How a condition compares.
#[derive(Debug, Clone)]
enum Test {
    Eq(Vec<u8>),
    Ne(Vec<u8>),
    In(Values),
    NotIn(Values),
    Num(Ordering, bool, Decimal),
    Semver(Ordering, bool, Version),
    Matches(Box<regexes::Matcher>),
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    Contains(Vec<u8>),
    Exists,
    Missing,
    /// `segment IN`/`EQ` (false) or `NOTIN`/`NE` (true): membership of
    /// any of these segments, negated.
    Segment(Vec<Vec<u8>>, bool),
}

/// The reserved attribute whose conditions test segment membership.
pub const SEGMENT: &[u8] = b"segment";

/// One condition: `attr op [arg ...]`.
#[derive(Debug, Clone)]
pub struct Condition {
    attr: Vec<u8>,
    /// The operator as given, upper-cased, and its arguments (to write back).
    op: &'static str,
    args: Vec<Vec<u8>>,
    test: Test,
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.attr == other.attr && self.op == other.op && self.args == other.args
    }
}

/// How many arguments an operator takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// None (`EXISTS`, `MISSING`).
    None,
    /// One value.
    One,
    /// A count, then that many values (`IN`, `NOTIN`).
    List,
}

/// An operator of `HANOI.RULE`: its name, its arguments, what it means (for
/// a form) and how a sentence says it ("plan is one of pro, team").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub name: &'static str,
    pub arity: Arity,
    pub meaning: &'static str,
    pub words: &'static str,
}

const fn op(
    name: &'static str,
    arity: Arity,
    meaning: &'static str,
    words: &'static str,
) -> Operator {
    Operator {
        name,
        arity,
        meaning,
        words,
    }
}

/// Every operator of `HANOI.RULE`, in the order a form lists them: what the
/// parser accepts and what a rule builder offers (hanoi-web builds its own
/// from this table).
pub const OPERATORS: &[Operator] = &[
    op("EQ", Arity::One, "equals the value", "is"),
    op("NE", Arity::One, "differs from the value", "is not"),
    op("IN", Arity::List, "is one of the values", "is one of"),
    op("NOTIN", Arity::List, "is none of the values", "is none of"),
    op("LT", Arity::One, "is a number below", "is below"),
    op("LE", Arity::One, "is a number at most", "is at most"),
    op("GT", Arity::One, "is a number above", "is above"),
    op("GE", Arity::One, "is a number at least", "is at least"),
    op(
        "SEMVER_EQ",
        Arity::One,
        "is the same version as",
        "is version",
    ),
    op(
        "SEMVER_LT",
        Arity::One,
        "is a version before",
        "is a version before",
    ),
    op(
        "SEMVER_LE",
        Arity::One,
        "is a version at most",
        "is a version at most",
    ),
    op(
        "SEMVER_GT",
        Arity::One,
        "is a version after",
        "is a version after",
    ),
    op(
        "SEMVER_GE",
        Arity::One,
        "is a version at least",
        "is a version at least",
    ),
    op(
        "MATCHES",
        Arity::One,
        "matches the regular expression",
        "matches",
    ),
    op("PREFIX", Arity::One, "starts with", "starts with"),
    op("SUFFIX", Arity::One, "ends with", "ends with"),
    op("CONTAINS", Arity::One, "contains", "contains"),
    op("EXISTS", Arity::None, "is given (any value)", "is given"),
    op("MISSING", Arity::None, "is not given", "is not given"),
];

/// The operators the reserved attribute [`SEGMENT`] takes, and what each
/// means there.
pub const SEGMENT_OPERATORS: &[Operator] = &[
    op(
        "IN",
        Arity::List,
        "is a member of one of the segments",
        "is in one of the segments",
    ),
    op(
        "NOTIN",
        Arity::List,
        "is a member of none of the segments",
        "is in none of the segments",
    ),
    op(
        "EQ",
        Arity::One,
        "is a member of the segment",
        "is in segment",
    ),
    op(
        "NE",
        Arity::One,
        "is not a member of the segment",
        "is not in segment",
    ),
];

/// The operator named `name` (any case).
pub fn operator(name: &[u8]) -> Option<&'static Operator> {
    OPERATORS
        .iter()
        .find(|o| name.eq_ignore_ascii_case(o.name.as_bytes()))
}

/// What bounds a rule as a client writes it.
#[derive(Debug, Clone, Copy)]
pub struct RuleLimits {
    pub max_conditions: usize,
    pub max_in_values: usize,
    pub regex_size_limit: usize,
    /// The rule was accepted before (see [`crate::Limits::STORED`]).
    pub stored: bool,
}

impl Condition {
    /// Builds `attr op args` (the arguments already split off).
    fn new(
        attr: &[u8],
        op: &'static str,
        args: Vec<Vec<u8>>,
        limits: &RuleLimits,
    ) -> Result<Condition, Error> {
        let one = || args.first().cloned().unwrap_or_default();
        let num = |ord, or_equal| {
            Decimal::parse(&one())
                .map(|d| Test::Num(ord, or_equal, d))
                .ok_or_else(|| {
                    Error::BadRuleArgument(format!(
                        "{op} needs a decimal number, got '{}'",
                        quote(&one())
                    ))
                })
        };
        let ver = |ord, or_equal| {
            Version::parse(&one())
                .map(|v| Test::Semver(ord, or_equal, v))
                .ok_or_else(|| {
                    Error::BadRuleArgument(format!(
                        "{op} needs a semantic version (1.2.3-rc.1), got '{}'",
                        quote(&one())
                    ))
                })
        };
        let set = || -> Result<Values, Error> {
            if args.len() > limits.max_in_values {
                return Err(Error::TooManyInValues {
                    limit: limits.max_in_values,
                });
            }
            Ok(Values::new(&args))
        };
        if attr == SEGMENT {
            let negate = match op {
                "IN" | "EQ" => false,
                "NOTIN" | "NE" => true,
                _ => {
                    return Err(Error::BadRule(format!(
                        "'segment' takes IN, NOTIN, EQ or NE (membership of segments), not {op}"
                    )))
                }
            };
            if args.len() > crate::refs::MAX_SEGMENTS_PER_CONDITION {
                return Err(Error::BadRule(format!(
                    "too many segments in one condition (limit {})",
                    crate::refs::MAX_SEGMENTS_PER_CONDITION
                )));
            }
            if args.iter().any(Vec::is_empty) {
                return Err(Error::BadRule("a segment name must not be empty".into()));
            }
            return Ok(Condition {
                attr: attr.to_vec(),
                op,
                test: Test::Segment(args.clone(), negate),
                args,
            });
        }
        let test = match op {
            "EQ" => Test::Eq(one()),
            "NE" => Test::Ne(one()),
            "IN" => Test::In(set()?),
            "NOTIN" => Test::NotIn(set()?),
            "LT" => num(Ordering::Less, false)?,
            "LE" => num(Ordering::Less, true)?,
            "GT" => num(Ordering::Greater, false)?,
            "GE" => num(Ordering::Greater, true)?,
            "SEMVER_EQ" => ver(Ordering::Equal, true)?,
            "SEMVER_LT" => ver(Ordering::Less, false)?,
            "SEMVER_LE" => ver(Ordering::Less, true)?,
            "SEMVER_GT" => ver(Ordering::Greater, false)?,
            "SEMVER_GE" => ver(Ordering::Greater, true)?,
            "MATCHES" => Test::Matches(Box::new(regexes::compile(
                regexes::pattern_text(&one())?,
                limits.regex_size_limit,
                limits.stored,
            )?)),
            "PREFIX" => Test::Prefix(one()),
            "SUFFIX" => Test::Suffix(one()),
            "CONTAINS" => Test::Contains(one()),
            "EXISTS" => Test::Exists,
            _ => Test::Missing,
        };
        Ok(Condition {
            attr: attr.to_vec(),
            op,
            args,
            test,
        })
    }

    /// Does the condition hold? An absent attribute makes every condition
    /// false but `MISSING`; a value that does not parse as the operator
    /// needs makes it false.
    #[inline]
    fn holds(&self, q: &Query<'_>, id: Option<&[u8]>) -> bool {
        if let Test::Segment(names, negate) = &self.test {
            return segment_holds(names, *negate, q, id);
        }
        let Some(v) = q.attrs.get(&self.attr, id) else {
            return matches!(self.test, Test::Missing);
        };
        match &self.test {
            Test::Eq(x) => v == x.as_slice(),
            Test::Ne(x) => v != x.as_slice(),
            Test::In(set) => set.contains(v),
            Test::NotIn(set) => !set.contains(v),
            Test::Num(ord, or_equal, x) => {
                DecimalRef::parse(v).is_some_and(|d| compare(d.cmp_to(x), *ord, *or_equal))
            }
            Test::Semver(ord, or_equal, x) => {
                Version::parse(v).is_some_and(|d| compare(d.cmp(x), *ord, *or_equal))
            }
            Test::Matches(re) => v.len() <= MAX_ID_LEN && re.is_match(v),
            Test::Prefix(x) => v.starts_with(x),
            Test::Suffix(x) => v.ends_with(x),
            Test::Contains(x) => x.is_empty() || v.windows(x.len()).any(|w| w == x.as_slice()),
            Test::Exists => true,
            Test::Missing => false,
            Test::Segment(..) => false,
        }
    }
}

/// `segment IN names` (`negate`: `NOTIN`): whether the id, with the same
/// attributes, is a member of any of the segments (of none). A name that is
/// not a segment (deleted since, or made a flag) fails closed: the
/// condition is false either way.
fn segment_holds(names: &[Vec<u8>], negate: bool, q: &Query<'_>, id: Option<&[u8]>) -> bool {
    let mut member = false;
    for name in names {
        let m = q.through(name, None, |f, inner| match f {
            Some(f) if f.is_segment() => Some(f.member(id, inner)),
            _ => None,
        });
        match m {
            None => return false,
            Some(m) => member |= m,
        }
    }
    member != negate
}

#[inline]
fn compare(got: Ordering, want: Ordering, or_equal: bool) -> bool {
    got == want || (or_equal && got == Ordering::Equal)
}

/// A named rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: Vec<u8>,
    pub rollout: Option<u8>,
    pub variant: Option<Vec<u8>>,
    conditions: Vec<Condition>,
}

impl Rule {
    /// Do all its conditions hold?
    #[inline]
    pub fn matches(&self, q: &Query<'_>, id: &[u8]) -> bool {
        self.conditions.iter().all(|c| c.holds(q, Some(id)))
    }

    /// The segments its conditions name.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.conditions
            .iter()
            .flat_map(|c| match &c.test {
                Test::Segment(names, _) => names.as_slice(),
                _ => &[],
            })
            .map(Vec::as_slice)
    }

    /// Whether a condition reads the id (the attribute `id`).
    pub fn uses_id(&self) -> bool {
        self.conditions.iter().any(|c| c.attr == b"id")
    }

    /// [`Rule::matches`] for a query without an id: a condition on `id`
    /// sees it missing.
    pub fn matches_without_id(&self, q: &Query<'_>) -> bool {
        self.conditions.iter().all(|c| c.holds(q, None))
    }

    /// The `HANOI.RULE key SET` arguments after the name that rebuild it.
    pub fn args(&self) -> Vec<Vec<u8>> {
        rule_args(self.rollout, self.variant.as_deref(), self.conditions())
    }

    /// How many of its conditions match a regex (`MATCHES`).
    pub(crate) fn patterns(&self) -> usize {
        self.conditions
            .iter()
            .filter(|c| matches!(c.test, Test::Matches(_)))
            .count()
    }

    /// The conditions as (attribute, operator, arguments).
    pub fn conditions(&self) -> impl Iterator<Item = (&[u8], &str, &[Vec<u8>])> + '_ {
        self.conditions
            .iter()
            .map(|c| (c.attr.as_slice(), c.op, c.args.as_slice()))
    }

    /// Heap bytes, regex automata included (as the flag counts them).
    pub fn heap_size(&self) -> usize {
        self.name.capacity()
            + self.variant.as_ref().map_or(0, Vec::capacity)
            + self
                .conditions
                .iter()
                .map(|c| {
                    c.attr.capacity()
                        + c.args.iter().map(|a| a.capacity() * 2 + 48).sum::<usize>()
                        + match &c.test {
                            Test::Matches(re) => re.memory_usage(),
                            _ => 64,
                        }
                })
                .sum::<usize>()
    }
}

/// The `HANOI.RULE key SET name` arguments of a rule given by its parts:
/// `[ROLLOUT p] [VARIANT v] IF attr op [count] [arg ...] [AND ...]`, the one
/// writer of a rule's words (a stored rule's, and a described one's).
pub fn rule_args<'a>(
    rollout: Option<u8>,
    variant: Option<&[u8]>,
    conditions: impl IntoIterator<Item = (&'a [u8], &'a str, &'a [Vec<u8>])>,
) -> Vec<Vec<u8>> {
    let mut a = Vec::new();
    if let Some(p) = rollout {
        a.push(b"ROLLOUT".to_vec());
        a.push(p.to_string().into_bytes());
    }
    if let Some(v) = variant {
        a.push(b"VARIANT".to_vec());
        a.push(v.to_vec());
    }
    for (i, (attr, op, args)) in conditions.into_iter().enumerate() {
        a.push(if i == 0 {
            b"IF".to_vec()
        } else {
            b"AND".to_vec()
        });
        a.push(attr.to_vec());
        a.push(op.as_bytes().to_vec());
        if operator(op.as_bytes()).is_some_and(|o| o.arity == Arity::List) {
            a.push(args.len().to_string().into_bytes());
        }
        a.extend(args.iter().cloned());
    }
    a
}

fn keyword(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// Parses what follows `HANOI.RULE key SET name`: `[ROLLOUT pct] [VARIANT v]
/// IF attr op [arg ...] [AND attr op [arg ...] ...]`. `IN`/`NOTIN` take a
/// count, then that many values. Whether the variant exists is the flag's
/// to check.
pub fn parse_rule(name: &[u8], args: &[&[u8]], limits: &RuleLimits) -> Result<Rule, Error> {
    if name.is_empty() {
        return Err(Error::BadRule("rule name must not be empty".into()));
    }
    let mut i = 0;
    let mut rollout = None;
    let mut variant = None;
    loop {
        match args.get(i) {
            Some(a) if keyword(a, "ROLLOUT") && rollout.is_none() => {
                let p = args
                    .get(i + 1)
                    .ok_or_else(|| Error::BadRule("ROLLOUT needs a percentage".into()))?;
                rollout = Some(parse_percentage(p)?);
                i += 2;
            }
            Some(a) if keyword(a, "VARIANT") && variant.is_none() => {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| Error::BadRule("VARIANT needs a variant name".into()))?;
                variant = Some(v.to_vec());
                i += 2;
            }
            Some(a) if keyword(a, "IF") => {
                i += 1;
                break;
            }
            Some(a) => {
                return Err(Error::BadRule(format!(
                    "expected ROLLOUT, VARIANT or IF, got '{}'",
                    quote(a)
                )))
            }
            None => {
                return Err(Error::BadRule(
                    "a rule needs IF and at least one condition".into(),
                ))
            }
        }
    }
    let mut conditions = Vec::new();
    loop {
        let attr = args.get(i).ok_or_else(|| {
            Error::BadRule("a condition needs an attribute and an operator".into())
        })?;
        let raw_op = args.get(i + 1).ok_or_else(|| {
            Error::BadRule(format!("condition on '{}' needs an operator", quote(attr)))
        })?;
        let o = operator(raw_op)
            .ok_or_else(|| Error::BadRule(format!("unknown operator '{}'", quote(raw_op))))?;
        let (op, arity) = (
            o.name,
            match o.arity {
                Arity::None => Some(0),
                Arity::One => Some(1),
                Arity::List => None,
            },
        );
        i += 2;
        let n = match arity {
            Some(n) => n,
            None => {
                let raw = args
                    .get(i)
                    .ok_or_else(|| Error::BadRule(format!("{op} needs a count of values")))?;
                i += 1;
                let n = parse_int(raw)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        Error::BadRule(format!(
                            "{op} count must be a positive integer, got '{}'",
                            quote(raw)
                        ))
                    })?;
                if n > limits.max_in_values {
                    return Err(Error::TooManyInValues {
                        limit: limits.max_in_values,
                    });
                }
                n
            }
        };
        let values = args.get(i..i.saturating_add(n)).ok_or_else(|| {
            Error::BadRule(format!("{op} on '{}' needs {n} argument(s)", quote(attr)))
        })?;
        i += n;
        if conditions.len() >= limits.max_conditions {
            return Err(Error::BadRule(format!(
                "too many conditions in one rule (limit {})",
                limits.max_conditions
            )));
        }
        conditions.push(Condition::new(
            attr,
            op,
            values.iter().map(|v| v.to_vec()).collect(),
            limits,
        )?);
        match args.get(i) {
            None => break,
            Some(a) if keyword(a, "AND") => i += 1,
            Some(a) => {
                return Err(Error::BadRule(format!(
                    "expected AND or the end, got '{}'",
                    quote(a)
                )))
            }
        }
    }
    Ok(Rule {
        name: name.to_vec(),
        rollout,
        variant,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RuleLimits = RuleLimits {
        max_conditions: 8,
        max_in_values: 10_000,
        regex_size_limit: 1 << 19,
        stored: false,
    };

    fn rule(args: &str) -> Result<Rule, Error> {
        let words: Vec<&[u8]> = if args.is_empty() {
            vec![]
        } else {
            args.split(' ').map(str::as_bytes).collect()
        };
        parse_rule(b"r", &words, &LIMITS)
    }

    fn holds(args: &str, attrs: &[(&str, &[u8])]) -> bool {
        let pairs: Vec<(&[u8], &[u8])> = attrs.iter().map(|(n, v)| (n.as_bytes(), *v)).collect();
        rule(args).unwrap().matches(
            &Query {
                attrs: Attrs::new(&pairs).unwrap(),
                ..Query::default()
            },
            b"user-7",
        )
    }

    /// A rule, the attributes it is asked with, and whether it matches.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a [u8])], bool);

    #[rustfmt::skip]
    #[test]
    fn operators() {
        let cases: &[Case] = &[
            ("IF country EQ DE", &[("country", b"DE")], true),
            ("IF country EQ DE", &[("country", b"de")], false),
            ("IF country EQ DE", &[], false),
            ("IF country NE DE", &[("country", b"FR")], true),
            ("IF country NE DE", &[], false),
            ("IF country EQ ", &[("country", b"")], true),
            ("IF plan IN 2 pro team", &[("plan", b"team")], true),
            ("IF plan IN 2 pro team", &[("plan", b"free")], false),
            ("IF plan NOTIN 2 pro team", &[("plan", b"free")], true),
            ("IF plan NOTIN 2 pro team", &[], false),
            ("IF age GE 18", &[("age", b"18")], true),
            ("IF age GE 18", &[("age", b"17.999")], false),
            ("IF age GT -1.5", &[("age", b"-1.25")], true),
            ("IF age LT -1.5", &[("age", b"-2")], true),
            ("IF age LE 0", &[("age", b"-0.0")], true),
            ("IF age LT 99999999999999999999999999", &[("age", b"99999999999999999999999998")], true),
            ("IF age GT 5", &[("age", b"five")], false),
            ("IF age GT 5", &[("age", b"")], false),
            ("IF v SEMVER_GE 2.0.0", &[("v", b"2.0.0")], true),
            ("IF v SEMVER_GE 2.0.0", &[("v", b"2.0.0-rc.1")], false),
            ("IF v SEMVER_LT 1.0.0-alpha.beta", &[("v", b"1.0.0-alpha.1")], true),
            ("IF v SEMVER_LT 1.0.0-beta", &[("v", b"1.0.0-alpha.beta")], true),
            ("IF v SEMVER_LT 1.0.0-beta.11", &[("v", b"1.0.0-beta.2")], true),
            ("IF v SEMVER_LT 1.0.0-rc.1", &[("v", b"1.0.0-beta.11")], true),
            ("IF v SEMVER_EQ 1.0.0", &[("v", b"1.0.0+build.5")], true),
            ("IF v SEMVER_GT 1.9.0", &[("v", b"1.10.0")], true),
            ("IF v SEMVER_GT 1.9.0", &[("v", b"1.10")], false),
            ("IF v SEMVER_GT 1.9.0", &[("v", b"01.10.0")], false),
            ("IF v SEMVER_GT 1.9.0", &[("v", b"1.9.0-0")], false),
            ("IF v SEMVER_GT 1.9.0", &[("v", b"1.9.00")], false),
            ("IF v SEMVER_GT 1.9.0", &[("v", b"1.9.1x")], false),
            ("IF v SEMVER_GT 1.9.0", &[("v", b"18446744073709551615.0.0")], true),
            ("IF v SEMVER_GT 1.9.0", &[("v", b"18446744073709551616.0.0")], false),
            ("IF v SEMVER_LT 1.0.0-rc.18446744073709551615", &[("v", b"1.0.0-rc.9")], true),
            ("IF email MATCHES @corp\\.com$", &[("email", b"ana@corp.com")], true),
            ("IF email SUFFIX @corp.com", &[("email", b"ana@corp.com")], true),
            ("IF email PREFIX ana", &[("email", b"ana@corp.com")], true),
            ("IF email CONTAINS @", &[("email", b"ana@corp.com")], true),
            ("IF email CONTAINS @", &[("email", &[0xff, b'@'])], true),
            ("IF email EXISTS", &[("email", b"")], true),
            ("IF email MISSING", &[("email", b"")], false),
            ("IF email MISSING", &[], true),
            ("IF id SUFFIX 7", &[], true),
            ("IF id EQ user-7 AND plan EQ pro", &[("plan", b"pro")], true),
            ("IF id EQ user-7 AND plan EQ pro", &[("plan", b"free")], false),
            ("if Plan eq pro", &[("Plan", b"pro")], true),
        ];
        for (args, attrs, want) in cases {
            assert_eq!(holds(args, attrs), *want, "{args} with {attrs:?}");
        }
    }

    #[rustfmt::skip]
    #[test]
    fn bad_rules() {
        let cases: &[(&str, &str)] = &[
            ("", "a rule needs IF"),
            ("ROLLOUT 5", "a rule needs IF"),
            ("ROLLOUT 101 IF a EXISTS", "percentage must be"),
            ("ROLLOUT +5 IF a EXISTS", "percentage must be"),
            ("IF a", "needs an operator"),
            ("IF a FOO 1", "unknown operator 'FOO'"),
            ("IF a EQ", "needs 1 argument"),
            ("IF a EQ 1 2", "expected AND or the end, got '2'"),
            ("IF a EQ 1 AND", "needs an attribute"),
            ("IF a IN 3 x y", "needs 3 argument"),
            ("IF a IN 0", "count must be a positive integer"),
            ("IF a IN x", "count must be a positive integer"),
            ("IF a GT x", "GT needs a decimal number, got 'x'"),
            ("IF a GT 1e5", "GT needs a decimal number"),
            ("IF a SEMVER_GE 1.2", "SEMVER_GE needs a semantic version"),
            ("IF a MATCHES (", "invalid regex"),
            ("IF a MATCHES ", "empty regex"),
            ("VARIANT", "VARIANT needs a variant name"),
            ("NOPE IF a EXISTS", "expected ROLLOUT, VARIANT or IF"),
        ];
        for (args, want) in cases {
            let e = rule(args).unwrap_err().to_string();
            assert!(e.contains(want), "{args}: got '{e}', want '{want}'");
        }
    }

    #[test]
    fn args_write_the_rule_back() {
        for src in [
            "ROLLOUT 20 VARIANT b IF country IN 2 DE AT AND v SEMVER_GE 2.0.0-rc.1",
            "IF email MATCHES @corp AND plan MISSING",
        ] {
            let r = rule(src).unwrap();
            let a = r.args();
            let words: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
            assert_eq!(parse_rule(b"r", &words, &LIMITS).unwrap(), r);
            assert_eq!(String::from_utf8(a.join(&b" "[..])).unwrap(), src);
        }
    }

    #[test]
    fn attributes() {
        assert!(Attrs::new(&[(b"a", b"1"), (b"a", b"2")]).is_err());
        assert!(Attrs::new(&[(b"id", b"1")]).is_err());
        assert!(Attrs::new(&[(b"a", b"1"), (b"b", b"2")]).is_ok());
    }

    #[test]
    fn borrowed_decimals_compare_as_owned_ones() {
        let all = [
            "0",
            "-0",
            "1",
            "-1",
            "0.5",
            "-0.50",
            "007.50",
            "7.5",
            "99999999999999999999",
            "-10",
            "-9.99",
            ".5",
            "5.",
        ];
        for a in all {
            for b in all {
                let (da, db) = (
                    Decimal::parse(a.as_bytes()).unwrap(),
                    Decimal::parse(b.as_bytes()).unwrap(),
                );
                let ra = DecimalRef::parse(a.as_bytes()).unwrap();
                assert_eq!(ra.cmp_to(&db), da.cmp(&db), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn decimals_compare_exactly() {
        let d = |s: &str| Decimal::parse(s.as_bytes()).unwrap();
        assert!(d("0.1") < d("0.10000000000000000001"));
        assert_eq!(d("-0"), d("0.000"));
        assert_eq!(d("007.50"), d("7.5"));
        assert!(d("-10") < d("-9.99"));
        assert!(Decimal::parse(b"1.2.3").is_none());
        assert!(Decimal::parse(b"-").is_none());
    }
}
