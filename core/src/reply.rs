//! Every structured reply of the module, described once and read once.
//!
//! [`Reply`] is a Redis reply as plain data. Each structured reply has a
//! typed form here with `encode` (what the module sends: it turns the
//! [`Reply`] into Redis's reply in one function) and `decode` (what a client
//! in Rust reads back). [`LAYOUTS`] lists each command's fields in order
//! with their types; `tests/vectors/replies.json` is that list as data
//! (written by `core/tests/replies.rs`), for the clients in other languages.
//!
//! A decoder tolerates a newer module: an array reply longer than the
//! fields it knows (fields appended at the end) and map keys it does not
//! know are left out. A field is only ever appended, never moved or removed.

use std::collections::BTreeMap;
use std::fmt;

use crate::describe::{ConditionDescription, Description, RuleDescription, Value};
use crate::observe::{Counts, Entry, Period, SeriesCounts};
use crate::{Detail, Explanation, Ramp, Reason, Resolution, ValueType};

/// A Redis reply as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Int(i64),
    /// A bulk string.
    Bulk(Vec<u8>),
    /// A simple string (a word from a fixed set: a reason, a type).
    Simple(String),
    Nil,
    Array(Vec<Reply>),
    /// Bulk-string keys and their values, in order: a map in RESP3, a flat
    /// array under RESP2.
    Map(Vec<(Vec<u8>, Reply)>),
}

impl From<Value> for Reply {
    /// A core [`Value`] as a reply: a boolean is the integer 1 or 0, a word
    /// a simple string.
    fn from(v: Value) -> Reply {
        match v {
            Value::Nil => Reply::Nil,
            Value::Bool(b) => Reply::Int(i64::from(b)),
            Value::Int(i) => Reply::Int(i),
            Value::Bytes(b) => Reply::Bulk(b),
            Value::Word(w) => Reply::Simple(w.to_owned()),
            Value::List(l) => Reply::Array(l.into_iter().map(Reply::from).collect()),
            Value::Map(m) => Reply::Map(m.into_iter().map(|(k, v)| (k, v.into())).collect()),
        }
    }
}

/// A reply that does not read as the command's: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub field: &'static str,
    pub problem: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reply field '{}': {}", self.field, self.problem)
    }
}

impl std::error::Error for Error {}

fn bad<T>(field: &'static str, problem: impl Into<String>) -> Result<T, Error> {
    Err(Error {
        field,
        problem: problem.into(),
    })
}

/// One field of a reply: its name and its type.
///
/// Types: `bool` (the integer 1 or 0), `int`, `bytes` (a bulk string),
/// `word` (a simple string from a fixed set), `json` (a bulk string holding
/// a JSON text), `decimal` (a bulk string holding an unsigned integer),
/// `list<T>`, `map<bytes,T>`, `[T,...]` (an array of a fixed length),
/// `A|B` (either), a type named in [`TYPES`]; a trailing `?` means it may
/// be nil.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: &'static str,
}

const fn f(name: &'static str, ty: &'static str) -> Field {
    Field { name, ty }
}

/// How a command's reply is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An array, read by position; longer than [`Layout::fields`] when a
    /// newer module appended fields.
    Array,
    /// A map (a flat array under RESP2), read by name; unknown names are
    /// left out.
    Map,
    /// An array of maps (each read by name).
    ListOfMaps,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Array => "array",
            Shape::Map => "map",
            Shape::ListOfMaps => "list<map>",
        }
    }
}

/// A command's reply: its shape, what a missing flag gives, its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The command and, when it changes the reply, its option.
    pub command: &'static str,
    pub shape: Shape,
    /// The reply for a missing flag when it is not the layout: `nil`,
    /// `empty` (an empty array), or none (the layout is always given).
    pub missing: Option<&'static str>,
    pub fields: &'static [Field],
}

/// Every structured reply, by command.
pub const LAYOUTS: &[Layout] = &[
    Layout {
        command: "HANOI.EXPLAIN",
        shape: Shape::Array,
        missing: None,
        fields: ExplainReply::FIELDS,
    },
    Layout {
        command: "HANOI.RESOLVE",
        shape: Shape::Array,
        missing: None,
        fields: ResolveReply::FIELDS,
    },
    // RESOLVE's evaluation, never counted: the same reply.
    Layout {
        command: "HANOI.PREVIEW",
        shape: Shape::Array,
        missing: None,
        fields: ResolveReply::FIELDS,
    },
    Layout {
        command: "HANOI.GET",
        shape: Shape::Map,
        missing: Some("nil"),
        fields: DESCRIPTION_FIELDS,
    },
    Layout {
        command: "HANOI.STATS",
        shape: Shape::Map,
        missing: Some("nil"),
        fields: StatsReply::FIELDS,
    },
    Layout {
        command: "HANOI.STATS SERIES",
        shape: Shape::Map,
        missing: Some("nil"),
        fields: SERIES_FIELDS,
    },
    Layout {
        command: "HANOI.HISTORY",
        shape: Shape::ListOfMaps,
        missing: Some("empty"),
        fields: ENTRY_FIELDS,
    },
    Layout {
        command: "HANOI.IDS",
        shape: Shape::Array,
        missing: None,
        fields: IdsPage::FIELDS,
    },
    // Issue 35.
    Layout {
        command: "HANOI.ASSIGN",
        shape: Shape::Array,
        missing: None,
        fields: ResolveReply::FIELDS,
    },
    Layout {
        command: "HANOI.EXPERIMENT RESULTS",
        shape: Shape::ListOfMaps,
        missing: Some("nil"),
        fields: ARM_FIELDS,
    },
    Layout {
        command: "HANOI.EXPERIMENT EXPOSURES",
        shape: Shape::Array,
        missing: None,
        fields: ExposuresPage::FIELDS,
    },
];

/// The named types the fields use: each an array read by position.
pub const TYPES: &[(&str, &[Field])] = &[
    ("period", PERIOD_FIELDS),
    ("rule", RULE_FIELDS),
    ("condition", CONDITION_FIELDS),
    ("experiment", EXPERIMENT_FIELDS),
    ("metric", METRIC_FIELDS),
    ("exposure", EXPOSURE_FIELDS),
];

/// The layout of `command` (as in [`Layout::command`]).
pub fn layout(command: &str) -> Option<&'static Layout> {
    LAYOUTS.iter().find(|l| l.command == command)
}

// ----- reading helpers -----

fn int(r: &Reply, field: &'static str) -> Result<i64, Error> {
    match r {
        Reply::Int(i) => Ok(*i),
        Reply::Bulk(b) => match crate::parse_int(b) {
            Some(i) => Ok(i),
            None => bad(field, "not an integer"),
        },
        Reply::Simple(s) => match crate::parse_int(s.as_bytes()) {
            Some(i) => Ok(i),
            None => bad(field, "not an integer"),
        },
        _ => bad(field, "not an integer"),
    }
}

fn uint(r: &Reply, field: &'static str) -> Result<u64, Error> {
    u64::try_from(int(r, field)?).or_else(|_| bad(field, "negative"))
}

/// A `decimal` field that is a u64 (the ids cursor is a hash: above
/// `i64::MAX` for half of them).
fn decimal_u64(r: &Reply, field: &'static str) -> Result<u64, Error> {
    u64::try_from(decimal(r, field)?).or_else(|_| bad(field, "out of range"))
}

fn small<T: TryFrom<i64>>(r: &Reply, field: &'static str) -> Result<T, Error> {
    T::try_from(int(r, field)?).or_else(|_| bad(field, "out of range"))
}

fn boolean(r: &Reply, field: &'static str) -> Result<bool, Error> {
    match int(r, field)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => bad(field, "not 0 or 1"),
    }
}

fn bytes(r: &Reply, field: &'static str) -> Result<Vec<u8>, Error> {
    match r {
        Reply::Bulk(b) => Ok(b.clone()),
        Reply::Simple(s) => Ok(s.as_bytes().to_vec()),
        _ => bad(field, "not a string"),
    }
}

fn text(r: &Reply, field: &'static str) -> Result<String, Error> {
    String::from_utf8(bytes(r, field)?).or_else(|_| bad(field, "not UTF-8"))
}

fn opt<T>(
    r: &Reply,
    field: &'static str,
    read: impl Fn(&Reply, &'static str) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    match r {
        Reply::Nil => Ok(None),
        r => read(r, field).map(Some),
    }
}

fn array<'r>(r: &'r Reply, field: &'static str) -> Result<&'r [Reply], Error> {
    match r {
        Reply::Array(a) => Ok(a),
        _ => bad(field, "not an array"),
    }
}

fn list<T>(
    r: &Reply,
    field: &'static str,
    read: impl Fn(&Reply, &'static str) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    array(r, field)?.iter().map(|x| read(x, field)).collect()
}

/// A map reply's pairs (a map, or a flat array under RESP2).
fn pairs<'r>(r: &'r Reply, field: &'static str) -> Result<Vec<(Vec<u8>, &'r Reply)>, Error> {
    match r {
        Reply::Map(m) => Ok(m.iter().map(|(k, v)| (k.clone(), v)).collect()),
        Reply::Array(a) if a.len() % 2 == 0 => a
            .chunks(2)
            .map(|kv| Ok((bytes(&kv[0], field)?, &kv[1])))
            .collect(),
        _ => bad(field, "not a map"),
    }
}

/// The fields of an array reply by position: at least as many as `fields`
/// (more are a newer module's, left out).
fn positional<'r>(r: &'r Reply, fields: &'static [Field]) -> Result<&'r [Reply], Error> {
    let a = array(r, fields.first().map_or("", |f| f.name))?;
    if a.len() < fields.len() {
        return bad(
            fields[a.len()].name,
            format!("missing: {} fields of {}", a.len(), fields.len()),
        );
    }
    Ok(&a[..fields.len()])
}

/// The fields of a map reply by name, in `fields`' order; names it does not
/// know are left out.
fn named<'r>(r: &'r Reply, fields: &'static [Field]) -> Result<Vec<&'r Reply>, Error> {
    let got = pairs(r, "map")?;
    fields
        .iter()
        .map(|f| {
            got.iter()
                .find(|(k, _)| k == f.name.as_bytes())
                .map(|(_, v)| *v)
                .map_or_else(
                    // A field that may be nil may be missing (a module from
                    // before it was appended).
                    || {
                        if f.ty.ends_with('?') {
                            Ok(&NIL)
                        } else {
                            bad(f.name, "missing")
                        }
                    },
                    Ok,
                )
        })
        .collect()
}

static NIL: Reply = Reply::Nil;

fn uint_reply(v: u64) -> Reply {
    Reply::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn bulk_or_nil(v: Option<&[u8]>) -> Reply {
    v.map_or(Reply::Nil, |v| Reply::Bulk(v.to_vec()))
}

fn reason(r: &Reply, field: &'static str) -> Result<Reason, Error> {
    let b = bytes(r, field)?;
    Reason::parse(&b).map_or_else(|| bad(field, "not a reason"), Ok)
}

fn value_type(r: &Reply, field: &'static str) -> Result<ValueType, Error> {
    let b = bytes(r, field)?;
    [
        ValueType::Boolean,
        ValueType::String,
        ValueType::Number,
        ValueType::Object,
    ]
    .into_iter()
    .find(|t| t.as_str().as_bytes() == b)
    .map_or_else(|| bad(field, "not a type"), Ok)
}

// ----- HANOI.EXPLAIN -----

/// What matched, as a reply gives it: a regex or a rule's name (text), or
/// the id's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetailReply {
    Text(Vec<u8>),
    Bucket(u8),
}

/// `HANOI.EXPLAIN`'s reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainReply {
    pub enabled: bool,
    pub variant: Option<Vec<u8>>,
    pub reason: Reason,
    pub detail: Option<DetailReply>,
    /// The effective percentage at that time.
    pub percentage: u8,
    /// A segment the flag's rules name that is missing.
    pub missing: Option<Vec<u8>>,
}

impl ExplainReply {
    pub const FIELDS: &'static [Field] = &[
        f("enabled", "bool"),
        f("variant", "bytes?"),
        f("reason", "word"),
        f("detail", "bytes|int?"),
        f("percentage", "int"),
        f("missing", "bytes?"),
    ];

    pub fn of(e: &Explanation<'_>) -> ExplainReply {
        ExplainReply {
            enabled: e.enabled,
            variant: e.variant.map(<[u8]>::to_vec),
            reason: e.reason,
            detail: e.detail.map(|d| match d {
                Detail::Pattern(p) => DetailReply::Text(p.as_bytes().to_vec()),
                Detail::Rule(r) | Detail::Prerequisite(r) => DetailReply::Text(r.to_vec()),
                Detail::Fault(t) => DetailReply::Text(t.as_bytes().to_vec()),
                Detail::Bucket(b) => DetailReply::Bucket(b),
            }),
            percentage: e.percentage,
            missing: e.missing.map(<[u8]>::to_vec),
        }
    }

    fn encode_into(&self, out: &mut Vec<Reply>) {
        out.push(Reply::Int(i64::from(self.enabled)));
        out.push(bulk_or_nil(self.variant.as_deref()));
        out.push(Reply::Simple(self.reason.as_str().to_owned()));
        out.push(match &self.detail {
            None => Reply::Nil,
            Some(DetailReply::Text(t)) => Reply::Bulk(t.clone()),
            Some(DetailReply::Bucket(b)) => Reply::Int(i64::from(*b)),
        });
        out.push(Reply::Int(i64::from(self.percentage)));
        out.push(bulk_or_nil(self.missing.as_deref()));
    }

    pub fn encode(&self) -> Reply {
        let mut out = Vec::with_capacity(Self::FIELDS.len());
        self.encode_into(&mut out);
        Reply::Array(out)
    }

    fn from_fields(
        [enabled, variant, reason_, detail, pct, missing]: [&Reply; 6],
    ) -> Result<ExplainReply, Error> {
        Ok(ExplainReply {
            enabled: boolean(enabled, "enabled")?,
            variant: opt(variant, "variant", bytes)?,
            reason: reason(reason_, "reason")?,
            detail: match detail {
                Reply::Nil => None,
                Reply::Int(_) => Some(DetailReply::Bucket(small(detail, "detail")?)),
                r => Some(DetailReply::Text(bytes(r, "detail")?)),
            },
            percentage: small(pct, "percentage")?,
            missing: opt(missing, "missing", bytes)?,
        })
    }

    pub fn decode(r: &Reply) -> Result<ExplainReply, Error> {
        let a = positional(r, Self::FIELDS)?;
        Self::from_fields([&a[0], &a[1], &a[2], &a[3], &a[4], &a[5]])
    }
}

// ----- HANOI.RESOLVE -----

/// `HANOI.RESOLVE`'s reply: the explanation's fields with the value after
/// the variant and the type last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveReply {
    pub explanation: ExplainReply,
    /// The JSON text served, or none.
    pub value: Option<Vec<u8>>,
    /// None for a missing flag.
    pub value_type: Option<ValueType>,
}

impl ResolveReply {
    pub const FIELDS: &'static [Field] = &[
        f("enabled", "bool"),
        f("variant", "bytes?"),
        f("value", "json?"),
        f("reason", "word"),
        f("detail", "bytes|int?"),
        f("percentage", "int"),
        f("type", "word?"),
        f("missing", "bytes?"),
    ];

    pub fn of(r: &Resolution<'_>) -> ResolveReply {
        ResolveReply {
            explanation: ExplainReply::of(&r.explanation),
            value: r.value.as_ref().map(|v| v.to_vec()),
            value_type: r.value_type,
        }
    }

    pub fn encode(&self) -> Reply {
        let mut e = Vec::with_capacity(6);
        self.explanation.encode_into(&mut e);
        let mut e = e.into_iter();
        let mut out = Vec::with_capacity(Self::FIELDS.len());
        out.extend(e.by_ref().take(2));
        out.push(bulk_or_nil(self.value.as_deref()));
        out.extend(e.by_ref().take(3));
        out.push(
            self.value_type
                .map_or(Reply::Nil, |t| Reply::Simple(t.as_str().to_owned())),
        );
        out.extend(e);
        Reply::Array(out)
    }

    pub fn decode(r: &Reply) -> Result<ResolveReply, Error> {
        let a = positional(r, Self::FIELDS)?;
        Ok(ResolveReply {
            explanation: ExplainReply::from_fields([&a[0], &a[1], &a[3], &a[4], &a[5], &a[7]])?,
            value: opt(&a[2], "value", bytes)?,
            value_type: opt(&a[6], "type", value_type)?,
        })
    }
}

// ----- HANOI.GET -----

/// `HANOI.GET`'s fields, in name order ([`Description::fields`]).
pub const DESCRIPTION_FIELDS: &[Field] = &[
    f("blocked", "int"),
    f("created", "int"),
    f("default", "bytes?"),
    f("effective_percentage", "int"),
    f("enabled", "bool"),
    f("experiment", "experiment?"),
    f("kind", "word"),
    f("metadata", "map<bytes,bytes>"),
    f("percentage", "int"),
    f("prerequisites", "list<list<bytes>>"),
    f("ramp", "[int,int,int,int]?"),
    f("regexes", "list<bytes>"),
    f("revision", "int"),
    f("rules", "list<rule>"),
    f("salt", "bytes?"),
    f("type", "word"),
    f("users", "int"),
    f("values", "list<json>"),
    f("variants", "list<bytes>"),
    f("weights", "list<int>"),
    f("window", "[int,int]?"),
];

impl Description {
    /// `HANOI.GET`'s reply.
    pub fn encode(&self) -> Reply {
        Reply::Map(
            self.fields()
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.into()))
                .collect(),
        )
    }

    /// A `HANOI.GET` reply (a map, or a flat array under RESP2); nil is no
    /// description (use [`Description::decode_optional`] for a missing flag).
    pub fn decode(r: &Reply) -> Result<Description, Error> {
        let v = named(r, DESCRIPTION_FIELDS)?;
        let [blocked, created, default, effective, enabled, experiment, kind, metadata, pct, prereqs, ramp, regexes, revision, rules, salt, ty, users, values, variants, weights, window] =
            v[..]
        else {
            unreachable!("one per field")
        };
        let fixed = |r: &Reply, field: &'static str, n: usize| -> Result<Option<Vec<u64>>, Error> {
            opt(r, field, |r, field| {
                let l = list(r, field, uint)?;
                if l.len() == n {
                    Ok(l)
                } else {
                    bad(field, format!("not {n} integers"))
                }
            })
        };
        Ok(Description {
            enabled: boolean(enabled, "enabled")?,
            percentage: small(pct, "percentage")?,
            effective_percentage: small(effective, "effective_percentage")?,
            variants: list(variants, "variants", bytes)?,
            weights: list(weights, "weights", small)?,
            salt: opt(salt, "salt", bytes)?,
            users: uint(users, "users")?,
            blocked: uint(blocked, "blocked")?,
            created_ms: uint(created, "created")?,
            metadata: pairs(metadata, "metadata")?
                .into_iter()
                .map(|(k, v)| Ok((k, bytes(v, "metadata")?)))
                .collect::<Result<BTreeMap<_, _>, Error>>()?,
            rules: list(rules, "rules", |r, _| decode_rule(r))?,
            window: fixed(window, "window", 2)?.map(|w| (w[0], w[1])),
            ramp: match fixed(ramp, "ramp", 4)? {
                None => None,
                Some(r) => Some(Ramp {
                    from_pct: u8::try_from(r[0]).or_else(|_| bad("ramp", "out of range"))?,
                    to_pct: u8::try_from(r[1]).or_else(|_| bad("ramp", "out of range"))?,
                    start_ms: r[2],
                    end_ms: r[3],
                }),
            },
            regexes: list(regexes, "regexes", text)?,
            revision: uint(revision, "revision")?,
            value_type: value_type(ty, "type")?,
            values: list(values, "values", bytes)?,
            default: opt(default, "default", bytes)?,
            segment: match bytes(kind, "kind")?.as_slice() {
                b"segment" => true,
                b"flag" => false,
                _ => return bad("kind", "not flag or segment"),
            },
            prerequisites: list(prereqs, "prerequisites", |r, field| {
                let words = list(r, field, bytes)?;
                match <[Vec<u8>; 1]>::try_from(words.clone()) {
                    Ok([key]) => Ok((key, None)),
                    Err(_) => match <[Vec<u8>; 2]>::try_from(words) {
                        Ok([key, variant]) => Ok((key, Some(variant))),
                        Err(_) => bad(field, "not [key] or [key, variant]"),
                    },
                }
            })?,
            experiment: opt(experiment, "experiment", |r, _| ExperimentState::decode(r))?,
        })
    }

    /// A `HANOI.GET` reply: nil (a missing flag) is none.
    pub fn decode_optional(r: &Reply) -> Result<Option<Description>, Error> {
        opt(r, "map", |r, _| Description::decode(r))
    }
}

/// `HANOI.GET`'s `rules`: each an array read by position.
pub const RULE_FIELDS: &[Field] = &[
    f("name", "bytes"),
    f("rollout", "int?"),
    f("variant", "bytes?"),
    f("conditions", "list<condition>"),
];
/// Each of a rule's `conditions`: an array read by position.
pub const CONDITION_FIELDS: &[Field] = &[
    f("attribute", "bytes"),
    f("operator", "word"),
    f("arguments", "list<bytes>"),
];

fn decode_rule(r: &Reply) -> Result<RuleDescription, Error> {
    let a = positional(r, RULE_FIELDS)?;
    Ok(RuleDescription {
        name: bytes(&a[0], "name")?,
        rollout: opt(&a[1], "rollout", small)?,
        variant: opt(&a[2], "variant", bytes)?,
        conditions: list(&a[3], "conditions", |c, _| {
            let c = positional(c, CONDITION_FIELDS)?;
            Ok(ConditionDescription {
                attribute: bytes(&c[0], "attribute")?,
                operator: text(&c[1], "operator")?,
                arguments: list(&c[2], "arguments", bytes)?,
            })
        })?,
    })
}

// ----- HANOI.STATS -----

/// `HANOI.STATS`'s reply: this server's counts for a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsReply {
    pub evaluations: u64,
    pub enabled: u64,
    /// Each variant's name and count, in the flag's order.
    pub variants: Vec<(Vec<u8>, u64)>,
    /// Unix ms of the last evaluation; none when never.
    pub last_evaluated_ms: Option<u64>,
    /// Unix ms counting started.
    pub since_ms: u64,
}

impl StatsReply {
    pub const FIELDS: &'static [Field] = &[
        f("evaluations", "int"),
        f("enabled", "int"),
        f("variants", "map<bytes,int>"),
        f("last_evaluated", "int?"),
        f("since", "int"),
    ];

    /// The counts of a flag with these variants.
    pub fn of(c: &Counts, variants: &[Vec<u8>]) -> StatsReply {
        StatsReply {
            evaluations: c.evaluations,
            enabled: c.enabled,
            variants: variants
                .iter()
                .cloned()
                .zip(c.variants.iter().copied())
                .collect(),
            last_evaluated_ms: (c.last_ms != 0).then_some(c.last_ms),
            since_ms: c.since_ms,
        }
    }

    pub fn encode(&self) -> Reply {
        Reply::Map(vec![
            (b"evaluations".to_vec(), uint_reply(self.evaluations)),
            (b"enabled".to_vec(), uint_reply(self.enabled)),
            (
                b"variants".to_vec(),
                Reply::Map(
                    self.variants
                        .iter()
                        .map(|(v, n)| (v.clone(), uint_reply(*n)))
                        .collect(),
                ),
            ),
            (
                b"last_evaluated".to_vec(),
                self.last_evaluated_ms.map_or(Reply::Nil, uint_reply),
            ),
            (b"since".to_vec(), uint_reply(self.since_ms)),
        ])
    }

    pub fn decode(r: &Reply) -> Result<StatsReply, Error> {
        let v = named(r, Self::FIELDS)?;
        Ok(StatsReply {
            evaluations: uint(v[0], "evaluations")?,
            enabled: uint(v[1], "enabled")?,
            variants: pairs(v[2], "variants")?
                .into_iter()
                .map(|(k, n)| Ok((k, uint(n, "variants")?)))
                .collect::<Result<_, Error>>()?,
            last_evaluated_ms: opt(v[3], "last_evaluated", uint)?,
            since_ms: uint(v[4], "since")?,
        })
    }
}

// ----- HANOI.STATS SERIES -----

/// A period of `HANOI.STATS key SERIES`: an array read by position.
pub const PERIOD_FIELDS: &[Field] = &[
    f("start", "int"),
    f("evaluations", "int"),
    f("enabled", "int"),
];

/// `HANOI.STATS key SERIES`'s fields.
pub const SERIES_FIELDS: &[Field] = &[f("minutes", "list<period>"), f("hours", "list<period>")];

impl Period {
    pub fn encode(&self) -> Reply {
        Reply::Array(vec![
            uint_reply(self.start_ms),
            uint_reply(self.evaluations),
            uint_reply(self.enabled),
        ])
    }

    pub fn decode(r: &Reply) -> Result<Period, Error> {
        let a = positional(r, PERIOD_FIELDS)?;
        Ok(Period {
            start_ms: uint(&a[0], "start")?,
            evaluations: uint(&a[1], "evaluations")?,
            enabled: uint(&a[2], "enabled")?,
        })
    }
}

impl SeriesCounts {
    /// `HANOI.STATS key SERIES`'s reply.
    pub fn encode(&self) -> Reply {
        let periods = |ps: &[Period]| Reply::Array(ps.iter().map(Period::encode).collect());
        Reply::Map(vec![
            (b"minutes".to_vec(), periods(&self.minutes)),
            (b"hours".to_vec(), periods(&self.hours)),
        ])
    }

    pub fn decode(r: &Reply) -> Result<SeriesCounts, Error> {
        let v = named(r, SERIES_FIELDS)?;
        let periods = |r: &Reply, field| list(r, field, |p, _| Period::decode(p));
        Ok(SeriesCounts {
            minutes: periods(v[0], "minutes")?,
            hours: periods(v[1], "hours")?,
        })
    }
}

// ----- HANOI.HISTORY -----

/// Each entry of `HANOI.HISTORY`'s reply (a map).
pub const ENTRY_FIELDS: &[Field] = &[
    f("time", "int"),
    f("user", "bytes"),
    f("client", "bytes?"),
    f("command", "list<bytes>"),
    f("arguments", "int"),
];

impl Entry {
    pub fn encode(&self) -> Reply {
        Reply::Map(vec![
            (b"time".to_vec(), uint_reply(self.at_ms)),
            (b"user".to_vec(), Reply::Bulk(self.user.clone())),
            (b"client".to_vec(), bulk_or_nil(self.client.as_deref())),
            (
                b"command".to_vec(),
                Reply::Array(self.command.iter().cloned().map(Reply::Bulk).collect()),
            ),
            (b"arguments".to_vec(), uint_reply(self.args)),
        ])
    }

    pub fn decode(r: &Reply) -> Result<Entry, Error> {
        let v = named(r, ENTRY_FIELDS)?;
        Ok(Entry {
            at_ms: uint(v[0], "time")?,
            user: bytes(v[1], "user")?,
            client: opt(v[2], "client", bytes)?,
            command: list(v[3], "command", bytes)?,
            args: uint(v[4], "arguments")?,
        })
    }
}

/// `HANOI.HISTORY`'s reply: the entries, newest first.
pub fn encode_history<'e>(entries: impl Iterator<Item = &'e Entry>) -> Reply {
    Reply::Array(entries.map(Entry::encode).collect())
}

/// A `HANOI.HISTORY` reply.
pub fn decode_history(r: &Reply) -> Result<Vec<Entry>, Error> {
    list(r, "history", |e, _| Entry::decode(e))
}

// ----- HANOI.IDS -----

/// A page of `HANOI.IDS`: the next cursor (0: the walk is over) and ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdsPage {
    pub cursor: u64,
    pub ids: Vec<Vec<u8>>,
}

impl IdsPage {
    pub const FIELDS: &'static [Field] = &[f("cursor", "decimal"), f("ids", "list<bytes>")];

    pub fn encode(&self) -> Reply {
        Reply::Array(vec![
            Reply::Bulk(self.cursor.to_string().into_bytes()),
            Reply::Array(self.ids.iter().cloned().map(Reply::Bulk).collect()),
        ])
    }

    pub fn decode(r: &Reply) -> Result<IdsPage, Error> {
        let a = positional(r, Self::FIELDS)?;
        Ok(IdsPage {
            cursor: decimal_u64(&a[0], "cursor")?,
            ids: list(&a[1], "ids", bytes)?,
        })
    }
}

// ----- experiments (issue 35) -----

/// `HANOI.GET`'s `experiment`: an array read by position.
pub const EXPERIMENT_FIELDS: &[Field] = &[
    f("state", "word"),
    f("started", "int"),
    f("stopped", "int?"),
    f("control", "bytes"),
    f("arms", "list<bytes>"),
    f("metrics", "list<bytes>"),
    f("exposures", "int"),
];

/// A flag's experiment as `HANOI.GET` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentState {
    pub running: bool,
    /// Unix ms.
    pub started_ms: u64,
    /// Unix ms; none while it runs.
    pub stopped_ms: Option<u64>,
    pub control: Vec<u8>,
    pub arms: Vec<Vec<u8>>,
    pub metrics: Vec<Vec<u8>>,
    pub exposures: u64,
}

impl ExperimentState {
    pub fn of(e: &crate::experiment::Experiment) -> ExperimentState {
        ExperimentState {
            running: e.running(),
            started_ms: e.started_ms(),
            stopped_ms: (!e.running()).then_some(e.stopped_ms()),
            control: e.arms()[e.control()].clone(),
            arms: e.arms().to_vec(),
            metrics: e.metrics().to_vec(),
            exposures: e.exposures().len() as u64,
        }
    }

    pub fn value(&self) -> Value {
        let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
        let list = |l: &[Vec<u8>]| Value::List(l.iter().cloned().map(Value::Bytes).collect());
        Value::List(vec![
            Value::Word(if self.running { "running" } else { "stopped" }),
            int(self.started_ms),
            self.stopped_ms.map_or(Value::Nil, int),
            Value::Bytes(self.control.clone()),
            list(&self.arms),
            list(&self.metrics),
            int(self.exposures),
        ])
    }

    pub fn decode(r: &Reply) -> Result<ExperimentState, Error> {
        let a = positional(r, EXPERIMENT_FIELDS)?;
        Ok(ExperimentState {
            running: match bytes(&a[0], "state")?.as_slice() {
                b"running" => true,
                b"stopped" => false,
                _ => return bad("state", "not running or stopped"),
            },
            started_ms: uint(&a[1], "started")?,
            stopped_ms: opt(&a[2], "stopped", uint)?,
            control: bytes(&a[3], "control")?,
            arms: list(&a[4], "arms", bytes)?,
            metrics: list(&a[5], "metrics", bytes)?,
            exposures: uint(&a[6], "exposures")?,
        })
    }
}

/// Each arm of `HANOI.EXPERIMENT RESULTS` (a map).
pub const ARM_FIELDS: &[Field] = &[
    f("arm", "bytes"),
    f("control", "bool"),
    f("exposures", "int"),
    f("metrics", "list<metric>"),
];

/// A metric of an arm: an array read by position.
pub const METRIC_FIELDS: &[Field] = &[
    f("metric", "bytes"),
    f("converted", "int"),
    f("sum", "decimal"),
    f("sum_squares", "decimal"),
];

/// One metric's results in one arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricResult {
    pub metric: Vec<u8>,
    /// Exposed units that converted.
    pub converted: u64,
    /// The sum of their totals.
    pub sum: u128,
    /// The sum of the squares of their totals.
    pub sum_squares: u128,
}

/// One arm of `HANOI.EXPERIMENT RESULTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmResult {
    pub arm: Vec<u8>,
    pub control: bool,
    pub exposures: u64,
    pub metrics: Vec<MetricResult>,
}

fn decimal(r: &Reply, field: &'static str) -> Result<u128, Error> {
    match r {
        Reply::Int(i) => u128::try_from(*i).or_else(|_| bad(field, "negative")),
        r => {
            let b = bytes(r, field)?;
            if b.is_empty() || !b.iter().all(u8::is_ascii_digit) || (b.len() > 1 && b[0] == b'0') {
                return bad(field, "not a decimal");
            }
            std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse().ok())
                .map_or_else(|| bad(field, "out of range"), Ok)
        }
    }
}

impl ArmResult {
    /// Every arm's results, in the experiment's arm order.
    pub fn all_of(e: &crate::experiment::Experiment) -> Vec<ArmResult> {
        e.arms()
            .iter()
            .zip(e.results())
            .enumerate()
            .map(|(i, (name, r))| ArmResult {
                arm: name.clone(),
                control: i == e.control(),
                exposures: r.exposures,
                metrics: e
                    .metrics()
                    .iter()
                    .zip(&r.metrics)
                    .map(|(m, s)| MetricResult {
                        metric: m.clone(),
                        converted: s.converted,
                        sum: s.sum,
                        sum_squares: s.sum_squares,
                    })
                    .collect(),
            })
            .collect()
    }

    pub fn encode(&self) -> Reply {
        Reply::Map(vec![
            (b"arm".to_vec(), Reply::Bulk(self.arm.clone())),
            (b"control".to_vec(), Reply::Int(i64::from(self.control))),
            (b"exposures".to_vec(), uint_reply(self.exposures)),
            (
                b"metrics".to_vec(),
                Reply::Array(
                    self.metrics
                        .iter()
                        .map(|m| {
                            Reply::Array(vec![
                                Reply::Bulk(m.metric.clone()),
                                uint_reply(m.converted),
                                Reply::Bulk(m.sum.to_string().into_bytes()),
                                Reply::Bulk(m.sum_squares.to_string().into_bytes()),
                            ])
                        })
                        .collect(),
                ),
            ),
        ])
    }

    pub fn decode(r: &Reply) -> Result<ArmResult, Error> {
        let v = named(r, ARM_FIELDS)?;
        Ok(ArmResult {
            arm: bytes(v[0], "arm")?,
            control: boolean(v[1], "control")?,
            exposures: uint(v[2], "exposures")?,
            metrics: list(v[3], "metrics", |m, _| {
                let a = positional(m, METRIC_FIELDS)?;
                Ok(MetricResult {
                    metric: bytes(&a[0], "metric")?,
                    converted: uint(&a[1], "converted")?,
                    sum: decimal(&a[2], "sum")?,
                    sum_squares: decimal(&a[3], "sum_squares")?,
                })
            })?,
        })
    }
}

/// `HANOI.EXPERIMENT RESULTS`'s reply: one map per arm.
pub fn encode_results(arms: &[ArmResult]) -> Reply {
    Reply::Array(arms.iter().map(ArmResult::encode).collect())
}

/// A `HANOI.EXPERIMENT RESULTS` reply; nil (no flag, no experiment) is none.
pub fn decode_results(r: &Reply) -> Result<Option<Vec<ArmResult>>, Error> {
    opt(r, "results", |r, _| {
        list(r, "results", |a, _| ArmResult::decode(a))
    })
}

/// An exposure of `HANOI.EXPERIMENT EXPOSURES`: an array read by position.
pub const EXPOSURE_FIELDS: &[Field] = &[f("id", "bytes"), f("arm", "bytes"), f("time", "int")];

/// A page of `HANOI.EXPERIMENT EXPOSURES`: the next cursor (0: the walk is
/// over) and (id, arm, Unix ms) in the order they were made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposuresPage {
    pub cursor: u64,
    pub exposures: Vec<(Vec<u8>, Vec<u8>, u64)>,
}

impl ExposuresPage {
    pub const FIELDS: &'static [Field] =
        &[f("cursor", "decimal"), f("exposures", "list<exposure>")];

    pub fn encode(&self) -> Reply {
        Reply::Array(vec![
            Reply::Bulk(self.cursor.to_string().into_bytes()),
            Reply::Array(
                self.exposures
                    .iter()
                    .map(|(id, arm, t)| {
                        Reply::Array(vec![
                            Reply::Bulk(id.clone()),
                            Reply::Bulk(arm.clone()),
                            uint_reply(*t),
                        ])
                    })
                    .collect(),
            ),
        ])
    }

    pub fn decode(r: &Reply) -> Result<ExposuresPage, Error> {
        let a = positional(r, Self::FIELDS)?;
        Ok(ExposuresPage {
            cursor: decimal_u64(&a[0], "cursor")?,
            exposures: list(&a[1], "exposures", |e, _| {
                let x = positional(e, EXPOSURE_FIELDS)?;
                Ok((
                    bytes(&x[0], "id")?,
                    bytes(&x[1], "arm")?,
                    uint(&x[2], "time")?,
                ))
            })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_definition, Definition, Flag, Limits, Query};

    fn appended(r: Reply) -> Reply {
        match r {
            Reply::Array(mut a) => {
                a.push(Reply::Bulk(b"from a newer module".to_vec()));
                Reply::Array(a)
            }
            Reply::Map(mut m) => {
                m.push((b"zzz_new".to_vec(), Reply::Int(7)));
                m.insert(0, (b"aaa_new".to_vec(), Reply::Nil));
                Reply::Map(m)
            }
            r => r,
        }
    }

    /// A map as RESP2 gives it: a flat array.
    fn flat(r: Reply) -> Reply {
        match r {
            Reply::Map(m) => Reply::Array(
                m.into_iter()
                    .flat_map(|(k, v)| [Reply::Bulk(k), flat(v)])
                    .collect(),
            ),
            Reply::Array(a) => Reply::Array(a.into_iter().map(flat).collect()),
            r => r,
        }
    }

    fn flag() -> Flag {
        let words: Vec<&[u8]> = [
            "ENABLED",
            "PERCENTAGE",
            "40",
            "VARIANTS",
            "2",
            "a",
            "b",
            "VALUES",
            "\"x\"",
            "\"y\"",
            "DEFAULT",
            "b",
            "SALT",
            "s",
        ]
        .iter()
        .map(|w| w.as_bytes())
        .collect();
        let d: Definition = parse_definition(&words, &Limits::default()).unwrap();
        Flag::new(d, &Limits::default()).unwrap()
    }

    #[test]
    fn explain_and_resolve_round_trip_and_take_appended_fields() {
        let f = flag();
        let q = Query::default();
        for id in ["1", "2", "3", "42", "alice"] {
            let r = f.resolve_with(id.as_bytes(), &q);
            let e = ExplainReply::of(&r.explanation);
            let enc = e.encode();
            assert_eq!(
                enc,
                Reply::Array(
                    r.explanation
                        .values()
                        .into_iter()
                        .map(Reply::from)
                        .collect()
                )
            );
            assert_eq!(ExplainReply::decode(&enc).unwrap(), e);
            assert_eq!(ExplainReply::decode(&appended(enc)).unwrap(), e);

            let res = ResolveReply::of(&r);
            let enc = res.encode();
            assert_eq!(
                enc,
                Reply::Array(r.values().into_iter().map(Reply::from).collect())
            );
            assert_eq!(ResolveReply::decode(&enc).unwrap(), res);
            assert_eq!(ResolveReply::decode(&appended(enc)).unwrap(), res);
        }
        let undefined = ResolveReply::of(&Resolution::UNDEFINED);
        assert_eq!(
            ResolveReply::decode(&undefined.encode()).unwrap(),
            undefined
        );
        // A shorter reply is no reply of this command.
        let Reply::Array(mut short) = undefined.encode() else {
            unreachable!()
        };
        short.pop();
        let err = ResolveReply::decode(&Reply::Array(short)).unwrap_err();
        assert_eq!(err.field, "missing");
    }

    #[test]
    fn description_round_trips_in_resp3_and_resp2() {
        let mut f = flag();
        f.set_window(5, 10).unwrap();
        let words = "ROLLOUT 50 VARIANT b IF plan IN 2 pro team AND segment EQ beta AND app SEMVER_GE 1.2.0 AND email EXISTS";
        let words: Vec<&[u8]> = words.split(' ').map(str::as_bytes).collect();
        let limits = Limits::default();
        let rule = crate::rules::parse_rule(b"pros", &words, &limits.rule_limits()).unwrap();
        f.set_rule(rule.clone(), &limits).unwrap();
        let d = Description::of(&f, 0);
        // Structure, and the words that write it again.
        let r = &d.rules[0];
        assert_eq!(
            (r.name.as_slice(), r.rollout, r.variant.as_deref()),
            (&b"pros"[..], Some(50), Some(&b"b"[..]))
        );
        let c: Vec<(&[u8], &str, usize)> = r
            .conditions
            .iter()
            .map(|c| {
                (
                    c.attribute.as_slice(),
                    c.operator.as_str(),
                    c.arguments.len(),
                )
            })
            .collect();
        assert_eq!(
            c,
            [
                (&b"plan"[..], "IN", 2),
                (b"segment", "EQ", 1),
                (b"app", "SEMVER_GE", 1),
                (b"email", "EXISTS", 0)
            ]
        );
        assert_eq!(r.args(), rule.args());
        assert_eq!(r.segments().collect::<Vec<_>>(), [&b"beta"[..]]);
        let args: Vec<Vec<u8>> = words.iter().map(|w| w.to_vec()).collect();
        use crate::describe::Cut;
        assert_eq!(
            RuleDescription::of_command(b"pros", &args),
            (r.clone(), Cut::Whole)
        );
        // Cut (as the history keeps a command): read as far as it goes.
        let (cut, how) = RuleDescription::of_command(b"pros", &args[..9]);
        assert_eq!(how, Cut::InLast);
        assert_eq!((cut.rollout, cut.conditions.len()), (Some(50), 1));
        assert_eq!(cut.conditions[0].arguments, [b"pro".to_vec()]);
        let (cut, how) = RuleDescription::of_command(b"pros", &args[..11]);
        assert_eq!((how, cut.conditions.len()), (Cut::After, 1));
        assert_eq!(RuleDescription::of_command(b"x", &args[..2]).1, Cut::After);
        // A rule from a newer module with a field appended still reads.
        let mut rule_reply: Reply = r.value().into();
        if let Reply::Array(a) = &mut rule_reply {
            a.push(Reply::Int(1));
        }
        assert_eq!(&decode_rule(&rule_reply).unwrap(), r);
        let enc = d.encode();
        let names: Vec<&[u8]> = match &enc {
            Reply::Map(m) => m.iter().map(|(k, _)| k.as_slice()).collect(),
            _ => unreachable!(),
        };
        let fields: Vec<&[u8]> = DESCRIPTION_FIELDS
            .iter()
            .map(|f| f.name.as_bytes())
            .collect();
        assert_eq!(names, fields);
        assert_eq!(Description::decode(&enc).unwrap(), d);
        assert_eq!(Description::decode(&appended(enc.clone())).unwrap(), d);
        assert_eq!(Description::decode(&flat(appended(enc))).unwrap(), d);
        assert_eq!(Description::decode_optional(&Reply::Nil).unwrap(), None);
    }

    #[test]
    fn stats_series_history_ids_round_trip() {
        let s = StatsReply {
            evaluations: 9,
            enabled: 4,
            variants: vec![(b"a".to_vec(), 3), (b"b".to_vec(), 1)],
            last_evaluated_ms: None,
            since_ms: 17,
        };
        assert_eq!(StatsReply::decode(&appended(s.encode())).unwrap(), s);
        assert_eq!(StatsReply::decode(&flat(s.encode())).unwrap(), s);

        let p = Period {
            start_ms: 60_000,
            evaluations: 2,
            enabled: 1,
        };
        let series = SeriesCounts {
            minutes: vec![p, p],
            hours: vec![p],
        };
        assert_eq!(
            SeriesCounts::decode(&appended(series.encode())).unwrap(),
            series
        );
        assert_eq!(Period::decode(&appended(p.encode())).unwrap(), p);

        let e = Entry {
            at_ms: 1,
            user: b"default".to_vec(),
            client: None,
            command: vec![b"HANOI.ENABLE".to_vec()],
            args: 0,
        };
        let h = Reply::Array(vec![appended(e.encode()), e.encode()]);
        assert_eq!(decode_history(&h).unwrap(), vec![e.clone(), e]);

        let page = IdsPage {
            cursor: 12,
            ids: vec![b"x".to_vec()],
        };
        assert_eq!(page.encode(), {
            Reply::Array(vec![
                Reply::Bulk(b"12".to_vec()),
                Reply::Array(vec![Reply::Bulk(b"x".to_vec())]),
            ])
        });
        assert_eq!(IdsPage::decode(&appended(page.encode())).unwrap(), page);
        let far = IdsPage {
            cursor: u64::MAX,
            ids: Vec::new(),
        };
        assert_eq!(IdsPage::decode(&far.encode()).unwrap(), far);
    }

    #[test]
    fn experiment_replies_round_trip() {
        let mut f = flag();
        let start: Vec<&[u8]> = vec![b"START", b"CONTROL", b"b", b"METRICS", b"1", b"buy"];
        f.change_experiment(crate::experiment::Change::parse(&start).unwrap(), 5)
            .unwrap();
        let d = Description::of(&f, 0);
        assert!(d
            .experiment
            .as_ref()
            .is_some_and(|e| e.running && e.control == b"b"));
        assert_eq!(Description::decode(&flat(appended(d.encode()))).unwrap(), d);
        let arms = ArmResult::all_of(f.experiment().unwrap());
        let enc = encode_results(&arms);
        assert_eq!(decode_results(&enc).unwrap(), Some(arms.clone()));
        assert_eq!(decode_results(&flat(enc)).unwrap(), Some(arms));
        assert_eq!(decode_results(&Reply::Nil).unwrap(), None);
        let big = MetricResult {
            metric: b"m".to_vec(),
            converted: 1,
            sum: u128::from(u64::MAX) * 3,
            sum_squares: u128::MAX,
        };
        let arm = ArmResult {
            arm: b"a".to_vec(),
            control: false,
            exposures: 2,
            metrics: vec![big],
        };
        assert_eq!(ArmResult::decode(&appended(arm.encode())).unwrap(), arm);
        let page = ExposuresPage {
            cursor: 99,
            exposures: vec![(b"u1".to_vec(), b"on".to_vec(), 17)],
        };
        assert_eq!(
            ExposuresPage::decode(&appended(page.encode())).unwrap(),
            page
        );
        // A module from before the experiment: GET without the field.
        let Reply::Map(mut m) = Description::of(&flag(), 0).encode() else {
            unreachable!()
        };
        m.retain(|(k, _)| k != b"experiment");
        assert_eq!(
            Description::decode(&Reply::Map(m)).unwrap().experiment,
            None
        );
    }

    #[test]
    fn every_layout_is_listed_once() {
        let mut names: Vec<&str> = LAYOUTS.iter().map(|l| l.command).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LAYOUTS.len());
        assert!(layout("HANOI.RESOLVE").is_some());
    }
}
