//! How a flag and an answer are described, once for every layer: the module
//! replies `HANOI.GET` and `HANOI.EXPLAIN` from these, the Python binding
//! returns them, hanoi-web reads flags through them, and OFREP and the
//! OpenFeature providers take their reasons from [`Reason::openfeature`].

use std::collections::BTreeMap;

use crate::codec::Partial;
use crate::{Detail, Explanation, Flag, Ramp, Reason, ValueType};

/// A reply value, as a Redis reply or a Python object renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A word from a fixed set (a reason): a simple string in Redis.
    Word(&'static str),
    List(Vec<Value>),
    /// Fields in order (a map in RESP3, a flat array in RESP2).
    Map(Vec<(Vec<u8>, Value)>),
}

/// What `HANOI.GET` shows of a flag: everything but the ids themselves
/// (their counts instead), the history and the evaluation counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub enabled: bool,
    pub percentage: u8,
    /// The percentage at the time asked (a ramp moves it).
    pub effective_percentage: u8,
    pub variants: Vec<Vec<u8>>,
    /// One per variant, or none (hanoi's unweighted pick).
    pub weights: Vec<u32>,
    pub salt: Option<Vec<u8>>,
    /// How many ids are registered.
    pub users: u64,
    /// How many ids are blocked.
    pub blocked: u64,
    /// When the flag was created (Unix ms; 0 when not known).
    pub created_ms: u64,
    pub metadata: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The targeting rules, in the order they are tried.
    pub rules: Vec<RuleDescription>,
    /// `[from, until)` in Unix ms, 0 open.
    pub window: Option<(u64, u64)>,
    pub ramp: Option<Ramp>,
    /// The regexes, in the order they were added.
    pub regexes: Vec<String>,
    /// Grows by one on every write that changes the flag.
    pub revision: u64,
    /// What the flag serves.
    pub value_type: ValueType,
    /// One JSON text per variant, or none (a variant's value is its name).
    pub values: Vec<Vec<u8>>,
    /// The variant served when the flag is off for a query.
    pub default: Option<Vec<u8>>,
    /// A segment (`kind segment`), else a flag (`kind flag`).
    pub segment: bool,
    /// Each prerequisite's key and the variant it must serve, in order.
    pub prerequisites: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// The flag's experiment (issue 35), if any.
    pub experiment: Option<crate::reply::ExperimentState>,
}

impl Description {
    /// The flag at `now_ms` (the effective percentage).
    pub fn of(flag: &Flag, now_ms: u64) -> Description {
        Self::with_counts(
            flag,
            flag.users().len() as u64,
            flag.blocked().len() as u64,
            now_ms,
        )
    }

    /// A flag read from `HANOI.EXPORT key NOIDS` (its id counts apart).
    pub fn of_partial(p: &Partial, now_ms: u64) -> Description {
        Self::with_counts(&p.flag, p.users, p.blocked, now_ms)
    }

    fn with_counts(flag: &Flag, users: u64, blocked: u64, now_ms: u64) -> Description {
        let d = flag.definition();
        Description {
            enabled: d.enabled,
            percentage: d.percentage,
            effective_percentage: flag.effective_percentage(now_ms),
            variants: d.variants.clone(),
            weights: d.weights.clone().unwrap_or_default(),
            salt: d.salt.clone(),
            users,
            blocked,
            created_ms: flag.metadata().created_ms,
            metadata: flag.metadata().fields.clone(),
            rules: flag.rules().iter().map(RuleDescription::of).collect(),
            window: flag.schedule().window,
            ramp: flag.schedule().ramp,
            regexes: flag.patterns().map(str::to_owned).collect(),
            revision: flag.revision(),
            value_type: flag.value_type(),
            values: d.values.clone().unwrap_or_default(),
            default: d.default.clone(),
            segment: d.segment,
            prerequisites: flag
                .prereqs()
                .iter()
                .map(|p| (p.key.clone(), p.variant.clone()))
                .collect(),
            experiment: flag.experiment().map(crate::reply::ExperimentState::of),
        }
    }

    /// The fields of `HANOI.GET`, in name order.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
        let bytes_list = |l: &[Vec<u8>]| Value::List(l.iter().cloned().map(Value::Bytes).collect());
        vec![
            ("blocked", int(self.blocked)),
            ("created", int(self.created_ms)),
            (
                "default",
                self.default.clone().map_or(Value::Nil, Value::Bytes),
            ),
            (
                "effective_percentage",
                int(u64::from(self.effective_percentage)),
            ),
            ("enabled", Value::Bool(self.enabled)),
            // Issue 35 (a map: its place is its name's).
            (
                "experiment",
                self.experiment
                    .as_ref()
                    .map_or(Value::Nil, crate::reply::ExperimentState::value),
            ),
            (
                "kind",
                Value::Word(if self.segment { "segment" } else { "flag" }),
            ),
            (
                "metadata",
                Value::Map(
                    self.metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::Bytes(v.clone())))
                        .collect(),
                ),
            ),
            ("percentage", int(u64::from(self.percentage))),
            (
                "prerequisites",
                Value::List(
                    self.prerequisites
                        .iter()
                        .map(|(k, v)| {
                            Value::List(
                                std::iter::once(k)
                                    .chain(v)
                                    .cloned()
                                    .map(Value::Bytes)
                                    .collect(),
                            )
                        })
                        .collect(),
                ),
            ),
            (
                "ramp",
                self.ramp.map_or(Value::Nil, |r| {
                    Value::List(vec![
                        int(u64::from(r.from_pct)),
                        int(u64::from(r.to_pct)),
                        int(r.start_ms),
                        int(r.end_ms),
                    ])
                }),
            ),
            (
                "regexes",
                Value::List(
                    self.regexes
                        .iter()
                        .map(|p| Value::Bytes(p.as_bytes().to_vec()))
                        .collect(),
                ),
            ),
            ("revision", int(self.revision)),
            (
                "rules",
                Value::List(self.rules.iter().map(RuleDescription::value).collect()),
            ),
            ("salt", self.salt.clone().map_or(Value::Nil, Value::Bytes)),
            ("type", Value::Word(self.value_type.as_str())),
            ("users", int(self.users)),
            ("values", bytes_list(&self.values)),
            ("variants", bytes_list(&self.variants)),
            (
                "weights",
                Value::List(self.weights.iter().map(|w| int(u64::from(*w))).collect()),
            ),
            (
                "window",
                self.window
                    .map_or(Value::Nil, |(f, u)| Value::List(vec![int(f), int(u)])),
            ),
        ]
    }

    /// A metadata field as text (lossy for bytes that are not UTF-8).
    pub fn meta(&self, field: &str) -> Option<String> {
        self.metadata
            .get(field.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
}

/// A targeting rule as `HANOI.GET` describes it: its name, rollout, variant
/// and conditions, as structure (a reply's `rule`, an array read by
/// position: [`crate::reply::RULE_FIELDS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDescription {
    pub name: Vec<u8>,
    /// The share of the ids it matches that it serves (none: all of them).
    pub rollout: Option<u8>,
    /// The variant it serves (none: the flag's pick).
    pub variant: Option<Vec<u8>>,
    /// All must hold, in order.
    pub conditions: Vec<ConditionDescription>,
}

/// Where [`RuleDescription::of_command`] stopped reading a rule's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Every word was read.
    Whole,
    /// Within the last condition's values (a list cut short).
    InLast,
    /// After the last whole condition (cut after `AND`, or an operator
    /// this version does not know).
    After,
}

/// One condition of a rule: `attribute operator arguments` (a reply's
/// `condition`: [`crate::reply::CONDITION_FIELDS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionDescription {
    pub attribute: Vec<u8>,
    /// As [`crate::rules::OPERATORS`] names it (`EQ`, `IN`, `SEMVER_GE`...).
    pub operator: String,
    /// Its values: none, one, or a list's (no count).
    pub arguments: Vec<Vec<u8>>,
}

impl RuleDescription {
    pub fn of(r: &crate::rules::Rule) -> RuleDescription {
        RuleDescription {
            name: r.name.clone(),
            rollout: r.rollout,
            variant: r.variant.clone(),
            conditions: r
                .conditions()
                .map(|(attribute, operator, arguments)| ConditionDescription {
                    attribute: attribute.to_vec(),
                    operator: operator.to_owned(),
                    arguments: arguments.to_vec(),
                })
                .collect(),
        }
    }

    /// A rule from the words of `HANOI.RULE key SET name args...` as the
    /// history keeps them (at most its first arguments), read as far as
    /// they go, and where they stopped. For display: a write is checked by
    /// [`crate::rules::parse_rule`], which this never replaces.
    pub fn of_command(name: &[u8], args: &[Vec<u8>]) -> (RuleDescription, Cut) {
        use crate::rules::{operator, Arity};
        let kw = |i: usize, k: &str| {
            args.get(i)
                .is_some_and(|a| a.eq_ignore_ascii_case(k.as_bytes()))
        };
        let mut r = RuleDescription {
            name: name.to_vec(),
            rollout: None,
            variant: None,
            conditions: Vec::new(),
        };
        let mut i = 0;
        loop {
            if kw(i, "ROLLOUT") {
                r.rollout = args
                    .get(i + 1)
                    .and_then(|p| crate::parse_percentage(p).ok());
            } else if kw(i, "VARIANT") {
                r.variant = args.get(i + 1).cloned();
            } else {
                break;
            }
            i += 2;
        }
        if !kw(i, "IF") {
            return (r, Cut::After);
        }
        i += 1;
        while let (Some(attribute), Some(o)) =
            (args.get(i), args.get(i + 1).and_then(|o| operator(o)))
        {
            i += 2;
            let n = match o.arity {
                Arity::None => 0,
                Arity::One => 1,
                Arity::List => {
                    let n = args
                        .get(i)
                        .and_then(|c| crate::parse_int(c))
                        .and_then(|n| usize::try_from(n).ok());
                    i += 1;
                    n.unwrap_or(usize::MAX)
                }
            };
            let end = i.saturating_add(n);
            r.conditions.push(ConditionDescription {
                attribute: attribute.clone(),
                operator: o.name.to_owned(),
                arguments: args[i.min(args.len())..end.min(args.len())].to_vec(),
            });
            if end > args.len() {
                return (r, Cut::InLast);
            }
            i = end;
            if i == args.len() {
                return (r, Cut::Whole);
            }
            if !kw(i, "AND") {
                break;
            }
            i += 1;
        }
        (r, Cut::After)
    }

    /// The arguments after `HANOI.RULE key SET name` that write it again.
    pub fn args(&self) -> Vec<Vec<u8>> {
        crate::rules::rule_args(
            self.rollout,
            self.variant.as_deref(),
            self.conditions.iter().map(|c| {
                (
                    c.attribute.as_slice(),
                    c.operator.as_str(),
                    c.arguments.as_slice(),
                )
            }),
        )
    }

    /// The segments its conditions name (`segment IN|NOTIN|EQ|NE`), in order.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.conditions
            .iter()
            .filter(|c| c.attribute == crate::rules::SEGMENT)
            .flat_map(|c| c.arguments.iter().map(Vec::as_slice))
    }

    /// `[name, rollout, variant, conditions]`, each condition `[attribute,
    /// operator, arguments]`.
    pub fn value(&self) -> Value {
        let bytes = |b: &[u8]| Value::Bytes(b.to_vec());
        Value::List(vec![
            bytes(&self.name),
            self.rollout
                .map_or(Value::Nil, |p| Value::Int(i64::from(p))),
            self.variant.as_deref().map_or(Value::Nil, bytes),
            Value::List(
                self.conditions
                    .iter()
                    .map(|c| {
                        Value::List(vec![
                            bytes(&c.attribute),
                            crate::rules::operator(c.operator.as_bytes()).map_or_else(
                                || bytes(c.operator.as_bytes()),
                                |o| Value::Word(o.name),
                            ),
                            Value::List(c.arguments.iter().map(|a| bytes(a)).collect()),
                        ])
                    })
                    .collect(),
            ),
        ])
    }
}

impl Reason {
    /// OpenFeature's reason for hanoi's: switched off or outside its window
    /// `DISABLED`; a registered, blocked or regex-matched id or a rule
    /// `TARGETING_MATCH`; the bucket `SPLIT`; everybody `STATIC`; outside
    /// `DEFAULT`; a missing flag `ERROR` (OFREP and the providers answer
    /// `FLAG_NOT_FOUND` for it).
    pub fn openfeature(self) -> &'static str {
        match self {
            Reason::Disabled | Reason::Inactive => "DISABLED",
            Reason::User | Reason::Regex | Reason::Rule | Reason::Blocked => "TARGETING_MATCH",
            Reason::Percentage => "SPLIT",
            Reason::All => "STATIC",
            Reason::Outside => "DEFAULT",
            Reason::Prerequisite => "PREREQUISITE_FAILED",
            Reason::Undefined | Reason::NeedsId | Reason::Error => "ERROR",
        }
    }

    /// The reason from its name ([`Reason::as_str`]).
    pub fn parse(name: &[u8]) -> Option<Reason> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str().as_bytes() == name)
    }

    /// Every reason.
    pub const ALL: [Reason; 13] = [
        Reason::Undefined,
        Reason::Disabled,
        Reason::Inactive,
        Reason::Blocked,
        Reason::All,
        Reason::User,
        Reason::Regex,
        Reason::Rule,
        Reason::Percentage,
        Reason::Outside,
        Reason::NeedsId,
        Reason::Prerequisite,
        Reason::Error,
    ];
}

/// `HANOI.RESOLVE`'s answer: the explanation, the value served and the
/// flag's type, in one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution<'a> {
    pub explanation: Explanation<'a>,
    /// The JSON text served (`true`/`false` for a boolean flag; the served
    /// variant's value otherwise; none when no variant is served).
    pub value: Option<std::borrow::Cow<'a, [u8]>>,
    /// None for a missing flag.
    pub value_type: Option<ValueType>,
}

impl Flag {
    /// [`Flag::explain_with`], the value served and the type.
    pub fn resolve_with(&self, id: &[u8], q: &crate::Query<'_>) -> Resolution<'_> {
        self.resolution(self.explain_with(id, q))
    }

    /// [`Flag::resolve_with`] for a query without an id (see
    /// [`Flag::explain_without_id`]); reason `needs_id` when the answer
    /// depends on the id.
    pub fn resolve_without_id(&self, q: &crate::Query<'_>) -> Resolution<'_> {
        match self.explain_without_id(q) {
            Some(e) => self.resolution(e),
            None => Resolution {
                explanation: Explanation {
                    enabled: false,
                    variant: None,
                    reason: Reason::NeedsId,
                    detail: None,
                    percentage: self.effective_percentage(q.now_ms),
                    missing: None,
                },
                value: None,
                value_type: Some(self.value_type()),
            },
        }
    }

    fn resolution<'a>(&'a self, explanation: Explanation<'a>) -> Resolution<'a> {
        let value = if explanation.reason == Reason::NeedsId {
            None
        } else if self.definition().variants.is_empty() {
            let text: &'static [u8] = if explanation.enabled {
                b"true"
            } else {
                b"false"
            };
            Some(std::borrow::Cow::Borrowed(text))
        } else {
            explanation
                .variant
                .and_then(|v| self.definition().variants.iter().position(|x| x == v))
                .and_then(|i| self.value_of(i))
        };
        Resolution {
            explanation,
            value,
            value_type: Some(self.value_type()),
        }
    }
}

impl Resolution<'_> {
    /// A missing flag's answer.
    pub const UNDEFINED: Resolution<'static> = Resolution {
        explanation: Explanation::UNDEFINED,
        value: None,
        value_type: None,
    };

    /// `HANOI.RESOLVE`'s reply: enabled, variant, value (JSON text), reason,
    /// detail, effective percentage, type.
    pub fn values(&self) -> [Value; 8] {
        let [enabled, variant, reason, detail, pct, missing] = self.explanation.values();
        [
            enabled,
            variant,
            self.value
                .as_ref()
                .map_or(Value::Nil, |v| Value::Bytes(v.to_vec())),
            reason,
            detail,
            pct,
            self.value_type
                .map_or(Value::Nil, |t| Value::Word(t.as_str())),
            missing,
        ]
    }
}

impl Explanation<'_> {
    /// `HANOI.EXPLAIN`'s reply: enabled, variant, reason, detail (the
    /// regex, the rule's name or the id's bucket), effective percentage.
    pub fn values(&self) -> [Value; 6] {
        let detail = match self.detail {
            Some(Detail::Pattern(p)) => Value::Bytes(p.as_bytes().to_vec()),
            Some(Detail::Bucket(b)) => Value::Int(i64::from(b)),
            Some(Detail::Rule(name) | Detail::Prerequisite(name)) => Value::Bytes(name.to_vec()),
            Some(Detail::Fault(t)) => Value::Bytes(t.as_bytes().to_vec()),
            None => Value::Nil,
        };
        [
            Value::Bool(self.enabled),
            self.variant
                .map_or(Value::Nil, |v| Value::Bytes(v.to_vec())),
            Value::Word(self.reason.as_str()),
            detail,
            Value::Int(i64::from(self.percentage)),
            self.missing
                .map_or(Value::Nil, |m| Value::Bytes(m.to_vec())),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Definition, Limits};

    #[test]
    fn fields_are_in_name_order_and_reasons_round_trip() {
        let f = Flag::new(Definition::default(), &Limits::default()).unwrap();
        let fields = Description::of(&f, 0).fields();
        let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str().as_bytes()), Some(r));
        }
    }
}
