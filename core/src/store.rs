//! The rules of a flag store, written once for every store: the module's
//! Redis keys and the in-memory [`crate::Rollout`] both parse a write with
//! [`Write::parse`] and apply it with [`apply`], so they cannot disagree.
//!
//! - `DEFINE` creates the flag or replaces its definition (registrations,
//!   blocks, regexes, rules, metadata stay); with `PERCENTAGE` it ends a
//!   running ramp, as `HANOI.PERCENTAGE` does;
//! - every other write needs an existing flag ([`Error::UnknownFlag`]);
//! - a write checks everything before it changes anything: a refused write
//!   leaves the flag as it was;
//! - a write that changed the flag moves its [`Flag::revision`] on by one;
//!   a write that changed nothing (the same definition again, an id already
//!   registered, ...) leaves it, and is neither recorded nor replicated;
//! - a missing flag is off for everyone (no variant, reason `undefined`).

use crate::refs::{NewReferences, Prereq};
use crate::rules::{parse_rule, Rule};
use crate::{
    parse_definition_given, parse_int, parse_percentage, quote, Definition, Error, Explanation,
    Flag, Limits, Query, Ramp,
};

/// A write command, parsed and checked against the limits, before any flag
/// is opened: what `HANOI.<NAME> key args...` asks.
#[derive(Debug, Clone)]
pub enum Write<'a> {
    /// `DEFINE`: the definition, and whether `PERCENTAGE` was given.
    Define {
        def: Definition,
        percentage: bool,
    },
    /// `REGISTER key USER id...`
    AddUsers(Vec<&'a [u8]>),
    /// `UNREGISTER key USER id...`
    RemoveUsers(Vec<&'a [u8]>),
    /// `REGISTER key REGEX pattern...`
    AddRegexes(Vec<&'a [u8]>),
    /// `UNREGISTER key REGEX pattern...`
    RemoveRegexes(Vec<&'a [u8]>),
    Block(Vec<&'a [u8]>),
    Unblock(Vec<&'a [u8]>),
    /// `ENABLE` (true) or `DISABLE` (false).
    Switch(bool),
    Toggle,
    Percentage(u8),
    SetRule(Rule),
    DeleteRules(Vec<&'a [u8]>),
    MoveRule(&'a [u8], usize),
    Window(u64, u64),
    Ramp(Ramp),
    ClearSchedule {
        window: bool,
        ramp: bool,
    },
    SetMeta(Vec<(&'a [u8], &'a [u8])>),
    DeleteMeta(Vec<&'a [u8]>),
    /// `PREREQ key SET other [VARIANT v]`
    SetPrereq(Prereq),
    /// `PREREQ key DEL other...`
    DeletePrereqs(Vec<&'a [u8]>),
    /// `PREREQ key MOVE other index`
    MovePrereq(&'a [u8], usize),
    /// `IMPORT key blob [IDS REPLACE|KEEP|ADD]`: a whole flag as
    /// `HANOI.EXPORT` wrote it, already checked against the limits
    /// ([`Flag::check`]), and what becomes of the target's ids.
    Import(Box<Flag>, ImportIds),
    /// `EXPERIMENT key START ... | STOP` (issue 35; the module's
    /// `HANOI.EXPERIMENT key START ...` arrives here with the key first).
    Experiment(crate::experiment::Change<'a>),
}

/// The write commands, by name: what [`Write::parse`] reads, and what a
/// flag's history records (an entry's first word, `HANOI.RULE`). A reader of
/// the history matches these, so a new write is a case it must handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Define,
    Register,
    Unregister,
    Block,
    Unblock,
    Enable,
    Disable,
    Toggle,
    Percentage,
    Rule,
    Schedule,
    Meta,
    Prereq,
    Experiment,
    Import,
}

impl Command {
    /// Every write command.
    pub const ALL: [Command; 15] = [
        Command::Define,
        Command::Register,
        Command::Unregister,
        Command::Block,
        Command::Unblock,
        Command::Enable,
        Command::Disable,
        Command::Toggle,
        Command::Percentage,
        Command::Rule,
        Command::Schedule,
        Command::Meta,
        Command::Prereq,
        Command::Experiment,
        Command::Import,
    ];

    /// Its name as the history records it (`HANOI.DEFINE`).
    pub fn name(self) -> &'static str {
        match self {
            Command::Define => "HANOI.DEFINE",
            Command::Register => "HANOI.REGISTER",
            Command::Unregister => "HANOI.UNREGISTER",
            Command::Block => "HANOI.BLOCK",
            Command::Unblock => "HANOI.UNBLOCK",
            Command::Enable => "HANOI.ENABLE",
            Command::Disable => "HANOI.DISABLE",
            Command::Toggle => "HANOI.TOGGLE",
            Command::Percentage => "HANOI.PERCENTAGE",
            Command::Rule => "HANOI.RULE",
            Command::Schedule => "HANOI.SCHEDULE",
            Command::Meta => "HANOI.META",
            Command::Prereq => "HANOI.PREREQ",
            Command::Experiment => "HANOI.EXPERIMENT",
            Command::Import => "HANOI.IMPORT",
        }
    }

    /// The command named `name` (`HANOI.RULE` or `RULE`, any case).
    pub fn parse(name: &[u8]) -> Option<Command> {
        let bare = match name.get(..6) {
            Some(p) if p.eq_ignore_ascii_case(b"HANOI.") => &name[6..],
            _ => name,
        };
        Command::ALL
            .into_iter()
            .find(|c| c.name().as_bytes()[6..].eq_ignore_ascii_case(bare))
    }
}

/// `HANOI.IMPORT`'s `IDS`: what becomes of the target's registered and
/// blocked ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportIds {
    /// The blob's ids replace them (the default; the blob needs its ids).
    Replace,
    /// They stay; the blob's, if any, are not used (an `EXPORT NOIDS`
    /// blob is enough).
    Keep,
    /// They stay and the blob's are added.
    Add,
}

/// What a write answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `OK`.
    Ok,
    /// How many items it added, removed or changed.
    Count(usize),
    /// The switch's new state (`TOGGLE`).
    State(bool),
}

/// What [`apply`] did.
#[derive(Debug)]
pub enum Outcome {
    /// `DEFINE` of a missing flag: here is the new one (revision 1), for the
    /// store to keep.
    Created(Box<Flag>),
    /// A write to an existing flag: its reply, and whether it changed the
    /// flag (then its revision moved on by one).
    Done { reply: Reply, changed: bool },
}

impl Outcome {
    /// The reply of the command.
    pub fn reply(&self) -> Reply {
        match self {
            Outcome::Created(_) => Reply::Ok,
            Outcome::Done { reply, .. } => *reply,
        }
    }

    /// Whether the store now holds something else than before.
    pub fn changed(&self) -> bool {
        match self {
            Outcome::Created(_) => true,
            Outcome::Done { changed, .. } => *changed,
        }
    }
}

fn kw(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// The ids or patterns of a REGISTER/BLOCK-like write, within the bound.
fn items<'a>(args: &[&'a [u8]], limits: &Limits) -> Result<Vec<&'a [u8]>, Error> {
    if args.is_empty() {
        return Err(Error::WrongArity);
    }
    let max = limits.max_ids_per_command;
    if args.len() > max {
        return Err(usage(format!(
            "too many ids in one command: {} (hanoi.max-ids-per-command is {max})",
            args.len()
        )));
    }
    Ok(args.to_vec())
}

/// The ids of a REGISTER/UNREGISTER USER or BLOCK/UNBLOCK, each within
/// `hanoi.max-id-bytes`.
fn ids<'a>(args: &[&'a [u8]], limits: &Limits) -> Result<Vec<&'a [u8]>, Error> {
    let ids = items(args, limits)?;
    if let Some(id) = ids.iter().find(|id| id.len() > limits.max_id_bytes) {
        return Err(Error::IdTooLong {
            len: id.len(),
            limit: limits.max_id_bytes,
        });
    }
    Ok(ids)
}

fn millis(arg: &[u8], what: &str) -> Result<u64, Error> {
    parse_int(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            usage(format!(
                "{what} must be a Unix time in milliseconds (0 or more)"
            ))
        })
}

/// `USER` or `REGEX`, and the items after it.
fn targets<'a>(args: &[&'a [u8]], limits: &Limits) -> Result<(bool, Vec<&'a [u8]>), Error> {
    let [what, rest @ ..] = args else {
        return Err(Error::WrongArity);
    };
    let user = if kw(what, "USER") {
        true
    } else if kw(what, "REGEX") {
        false
    } else {
        return Err(usage(format!(
            "expected USER or REGEX, got '{}'",
            quote(what)
        )));
    };
    Ok((
        user,
        if user {
            ids(rest, limits)?
        } else {
            items(rest, limits)?
        },
    ))
}

impl<'a> Write<'a> {
    /// Whether [`apply`] needs the write's time (`now_ms`) for an
    /// existing flag too: an experiment's start or stop.
    pub fn timed(&self) -> bool {
        matches!(self, Write::Experiment(_))
    }

    /// Parses `command key args...` given the command's name (`HANOI.RULE`
    /// or `RULE`, any case) and the arguments after the key. Counts that
    /// cannot be right are [`Error::WrongArity`]; everything else that is
    /// wrong is an error naming it.
    pub fn parse(command: &[u8], args: &[&'a [u8]], limits: &Limits) -> Result<Write<'a>, Error> {
        let exact = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(Error::WrongArity)
            }
        };
        let Some(c) = Command::parse(command) else {
            return Err(usage(format!("'{}' is not a hanoi write", quote(command))));
        };
        match c {
            Command::Define => {
                let (def, percentage) = parse_definition_given(args, limits)?;
                Ok(Write::Define { def, percentage })
            }
            Command::Register => {
                let (user, ids) = targets(args, limits)?;
                Ok(if user {
                    Write::AddUsers(ids)
                } else {
                    Write::AddRegexes(ids)
                })
            }
            Command::Unregister => {
                let (user, ids) = targets(args, limits)?;
                Ok(if user {
                    Write::RemoveUsers(ids)
                } else {
                    Write::RemoveRegexes(ids)
                })
            }
            Command::Block => Ok(Write::Block(ids(args, limits)?)),
            Command::Unblock => Ok(Write::Unblock(ids(args, limits)?)),
            Command::Enable | Command::Disable => {
                exact(0)?;
                Ok(Write::Switch(c == Command::Enable))
            }
            Command::Toggle => {
                exact(0)?;
                Ok(Write::Toggle)
            }
            Command::Percentage => {
                exact(1)?;
                Ok(Write::Percentage(parse_percentage(args[0])?))
            }
            Command::Rule => Self::rule(args, limits),
            Command::Schedule => Self::schedule(args),
            Command::Meta => Self::meta(args, limits),
            Command::Prereq => Self::prereq(args, limits),
            Command::Experiment => Ok(Write::Experiment(crate::experiment::Change::parse(args)?)),
            Command::Import => {
                let ids = match args {
                    [_] => ImportIds::Replace,
                    [_, ids, mode] if kw(ids, "IDS") => match mode {
                        m if kw(m, "REPLACE") => ImportIds::Replace,
                        m if kw(m, "KEEP") => ImportIds::Keep,
                        m if kw(m, "ADD") => ImportIds::Add,
                        m => {
                            return Err(usage(format!(
                                "expected IDS REPLACE, KEEP or ADD, got '{}'",
                                quote(m)
                            )))
                        }
                    },
                    [] => return Err(Error::WrongArity),
                    _ => {
                        return Err(usage(
                            "expected HANOI.IMPORT key blob [IDS REPLACE|KEEP|ADD]",
                        ))
                    }
                };
                Self::import(args[0], ids, limits)
            }
        }
    }

    /// `RULE key SET name ... | DEL name... | MOVE name index`.
    fn rule(args: &[&'a [u8]], limits: &Limits) -> Result<Write<'a>, Error> {
        let [action, rest @ ..] = args else {
            return Err(Error::WrongArity);
        };
        if rest.is_empty() {
            return Err(Error::WrongArity);
        }
        if kw(action, "SET") {
            Ok(Write::SetRule(parse_rule(
                rest[0],
                &rest[1..],
                &limits.rule_limits(),
            )?))
        } else if kw(action, "DEL") {
            Ok(Write::DeleteRules(items(rest, limits)?))
        } else if kw(action, "MOVE") {
            let [name, index] = rest[..] else {
                return Err(usage("expected HANOI.RULE key MOVE name index"));
            };
            let index = parse_int(index)
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| usage("MOVE index must be a non-negative integer"))?;
            Ok(Write::MoveRule(name, index))
        } else {
            Err(usage(format!(
                "expected SET, DEL or MOVE, got '{}'",
                quote(action)
            )))
        }
    }

    /// `PREREQ key SET other [VARIANT v] | DEL other... | MOVE other index`.
    fn prereq(args: &[&'a [u8]], limits: &Limits) -> Result<Write<'a>, Error> {
        let [action, rest @ ..] = args else {
            return Err(Error::WrongArity);
        };
        if rest.is_empty() {
            return Err(Error::WrongArity);
        }
        if kw(action, "SET") {
            let variant = match rest {
                [_] => None,
                [_, v, name] if kw(v, "VARIANT") => Some(name.to_vec()),
                _ => return Err(usage("expected HANOI.PREREQ key SET other [VARIANT v]")),
            };
            if rest[0].is_empty() || variant.as_ref().is_some_and(Vec::is_empty) {
                return Err(usage("a prerequisite and its variant must not be empty"));
            }
            Ok(Write::SetPrereq(Prereq {
                key: rest[0].to_vec(),
                variant,
            }))
        } else if kw(action, "DEL") {
            Ok(Write::DeletePrereqs(items(rest, limits)?))
        } else if kw(action, "MOVE") {
            let [name, index] = rest[..] else {
                return Err(usage("expected HANOI.PREREQ key MOVE other index"));
            };
            let index = parse_int(index)
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| usage("MOVE index must be a non-negative integer"))?;
            Ok(Write::MovePrereq(name, index))
        } else {
            Err(usage(format!(
                "expected SET, DEL or MOVE, got '{}'",
                quote(action)
            )))
        }
    }

    /// The references this write adds, for the store to check before it
    /// is applied ([`crate::refs::check_new_references`]): the segments a
    /// rule names, a prerequisite set, or every reference of an imported
    /// flag.
    pub fn references(&self) -> NewReferences<'_> {
        match self {
            Write::SetRule(r) => NewReferences {
                segments: r.segments().collect(),
                strict: true,
                ..NewReferences::default()
            },
            Write::SetPrereq(p) => NewReferences {
                prereqs: vec![p],
                strict: true,
                ..NewReferences::default()
            },
            Write::Import(f, _) => NewReferences {
                segments: f.rules().iter().flat_map(Rule::segments).collect(),
                prereqs: f.prereqs().iter().collect(),
                strict: false,
            },
            _ => NewReferences::default(),
        }
    }

    /// What a segment does not have that this write sets, if any.
    fn not_for_segment(&self) -> Option<&'static str> {
        match self {
            Write::Switch(_) | Write::Toggle => Some("switch"),
            Write::Percentage(_) => Some("percentage"),
            Write::Window(..) | Write::Ramp(_) => Some("schedule"),
            Write::SetRule(r) if r.variant.is_some() => Some("variants"),
            Write::SetPrereq(_) | Write::MovePrereq(..) => Some("prerequisites"),
            Write::Experiment(_) => Some("experiments (it has no random split)"),
            _ => None,
        }
    }

    /// `SCHEDULE key WINDOW from until | RAMP from_pct to_pct start end |
    /// CLEAR [WINDOW|RAMP]`.
    fn schedule(args: &[&'a [u8]]) -> Result<Write<'a>, Error> {
        let [action, rest @ ..] = args else {
            return Err(Error::WrongArity);
        };
        if rest.len() > 4 {
            return Err(Error::WrongArity);
        }
        if kw(action, "WINDOW") {
            let [from, until] = rest[..] else {
                return Err(usage("expected HANOI.SCHEDULE key WINDOW from_ms until_ms"));
            };
            Ok(Write::Window(
                millis(from, "from_ms")?,
                millis(until, "until_ms")?,
            ))
        } else if kw(action, "RAMP") {
            let [from, to, start, end] = rest[..] else {
                return Err(usage(
                    "expected HANOI.SCHEDULE key RAMP from_pct to_pct start_ms end_ms",
                ));
            };
            Ok(Write::Ramp(Ramp {
                from_pct: parse_percentage(from)?,
                to_pct: parse_percentage(to)?,
                start_ms: millis(start, "start_ms")?,
                end_ms: millis(end, "end_ms")?,
            }))
        } else if kw(action, "CLEAR") {
            let (window, ramp) = match rest[..] {
                [] => (true, true),
                [x] if kw(x, "WINDOW") => (true, false),
                [x] if kw(x, "RAMP") => (false, true),
                _ => return Err(usage("expected HANOI.SCHEDULE key CLEAR [WINDOW|RAMP]")),
            };
            Ok(Write::ClearSchedule { window, ramp })
        } else {
            Err(usage(format!(
                "expected WINDOW, RAMP or CLEAR, got '{}'",
                quote(action)
            )))
        }
    }

    /// `IMPORT key blob`: the blob decoded as the codec reads stored flags,
    /// then held to `limits` as if each of its parts had been written by
    /// hand (a flag exported from a server with looser limits is refused
    /// whole, naming what is over).
    fn import(blob: &[u8], ids: ImportIds, limits: &Limits) -> Result<Write<'a>, Error> {
        let not_a_flag = |e: Error| usage(format!("not a flag as HANOI.EXPORT writes it ({e})"));
        let flag = if ids == ImportIds::Keep {
            // The blob's ids (if it has them) are not used: none to check.
            let p = crate::codec::from_bytes_partial(blob).map_err(not_a_flag)?;
            p.flag.with_ids(Default::default(), Default::default())
        } else {
            crate::codec::from_bytes(blob).map_err(|e| {
                if crate::codec::from_bytes_partial(blob).is_ok() {
                    usage(
                        "an EXPORT NOIDS blob has no ids to import: export the flag with its \
                         ids, or keep the target's (IDS KEEP)",
                    )
                } else {
                    not_a_flag(e)
                }
            })?
        };
        if !limits.stored {
            flag.check(limits)?;
        }
        Ok(Write::Import(Box::new(flag), ids))
    }

    /// `META key SET field value [...] | DEL field [...]` (at most
    /// `max_ids_per_command` arguments: a bound on one command's work).
    fn meta(args: &[&'a [u8]], limits: &Limits) -> Result<Write<'a>, Error> {
        let [action, rest @ ..] = args else {
            return Err(Error::WrongArity);
        };
        let rest = items(rest, limits)?;
        if kw(action, "SET") {
            if !rest.len().is_multiple_of(2) {
                return Err(usage(
                    "META SET needs field value pairs (an even number of arguments)",
                ));
            }
            Ok(Write::SetMeta(
                rest.chunks(2).map(|p| (p[0], p[1])).collect(),
            ))
        } else if kw(action, "DEL") {
            Ok(Write::DeleteMeta(rest))
        } else {
            Err(usage(format!(
                "expected SET or DEL, got '{}'",
                quote(action)
            )))
        }
    }
}

/// Applies a parsed write to the flag under a key (`None`: the key is
/// missing). `now_ms` is the write's time: the creation time a new flag
/// records, an experiment's start or stop ([`Write::timed`]). Checks
/// everything before it changes anything; a change moves the revision on.
pub fn apply(
    existing: Option<&mut Flag>,
    write: Write<'_>,
    limits: &Limits,
    now_ms: u64,
) -> Result<Outcome, Error> {
    let (flag, write) = match (existing, write) {
        (None, Write::Define { def, .. }) => {
            let mut flag = Flag::new(def, limits)?;
            flag.metadata_mut().created_ms = now_ms;
            flag.counters().reset(now_ms);
            flag.set_revision(1);
            return Ok(Outcome::Created(Box::new(flag)));
        }
        (None, Write::Import(mut flag, _)) => {
            // Exposures are this server's data, never another's.
            *flag.experiment_mut() = None;
            flag.replace_observations(Default::default(), now_ms);
            flag.counters().reset(now_ms);
            flag.set_revision(1);
            return Ok(Outcome::Created(flag));
        }
        (None, _) => return Err(Error::UnknownFlag),
        (Some(flag), write) => (flag, write),
    };
    if flag.is_segment() {
        if let Some(what) = write.not_for_segment() {
            return Err(Error::Segment(what));
        }
    }
    let count = |n: usize| (Reply::Count(n), n > 0);
    let (reply, changed) = match write {
        Write::Define { def, percentage } => {
            // Setting the percentage by hand ends a ramp (checked first:
            // a refused definition ends nothing).
            let changed = flag.set_definition(def, limits)?;
            let ended = percentage && flag.end_ramp();
            (Reply::Ok, changed || ended)
        }
        Write::AddUsers(ids) => count(flag.add_users(ids)),
        Write::RemoveUsers(ids) => count(flag.remove_users(ids)),
        Write::AddRegexes(p) => count(flag.add_regexes(p, limits)?),
        Write::RemoveRegexes(p) => count(flag.remove_regexes(p)),
        Write::Block(ids) => count(flag.block(ids)),
        Write::Unblock(ids) => count(flag.unblock(ids)),
        Write::Switch(on) => (Reply::Ok, flag.set_enabled(on)),
        Write::Toggle => (Reply::State(flag.toggle()), true),
        Write::Percentage(p) => (Reply::Ok, flag.set_percentage(p)?),
        Write::SetRule(rule) => (Reply::Ok, flag.set_rule(rule, limits)?),
        Write::DeleteRules(names) => count(flag.delete_rules(&names)),
        Write::MoveRule(name, index) => (Reply::Ok, flag.move_rule(name, index)?),
        Write::Window(from, until) => (Reply::Ok, flag.set_window(from, until)?),
        Write::Ramp(ramp) => (Reply::Ok, flag.set_ramp(ramp)?),
        Write::ClearSchedule { window, ramp } => (Reply::Ok, flag.clear_schedule(window, ramp)),
        Write::SetMeta(pairs) => count(flag.metadata_mut().set(
            &pairs,
            limits.max_meta_fields,
            limits.max_meta_value_bytes,
        )?),
        Write::DeleteMeta(fields) => count(flag.metadata_mut().delete(&fields)?),
        Write::SetPrereq(p) => (Reply::Ok, flag.set_prereq(p, limits)?),
        Write::DeletePrereqs(keys) => count(flag.delete_prereqs(&keys)),
        Write::MovePrereq(key, index) => (Reply::Ok, flag.move_prereq(key, index)?),
        Write::Import(new, ids) => (Reply::Ok, flag.import(*new, ids)),
        Write::Experiment(change) => (Reply::Ok, flag.change_experiment(change, now_ms)?),
    };
    if changed {
        flag.set_revision(flag.revision().wrapping_add(1));
    }
    Ok(Outcome::Done { reply, changed })
}

/// Every write but `DEFINE` needs the flag to exist.
pub fn existing(flag: Option<&mut Flag>) -> Result<&mut Flag, Error> {
    flag.ok_or(Error::UnknownFlag)
}

/// Is the flag on for `id` (without an id: is it switched on)? Missing: off.
#[inline]
pub fn enabled(flag: Option<&Flag>, id: Option<&[u8]>) -> bool {
    flag.is_some_and(|f| f.is_enabled(id))
}

/// The variant for `id`; a missing flag has none.
#[inline]
pub fn variant<'a>(flag: Option<&'a Flag>, id: &[u8]) -> Option<&'a [u8]> {
    flag.and_then(|f| f.variant(id))
}

/// The whole answer; a missing flag is `undefined`.
pub fn explain<'a>(flag: Option<&'a Flag>, id: &[u8]) -> Explanation<'a> {
    flag.map_or(Explanation::UNDEFINED, |f| f.explain(id))
}

/// [`enabled`] with attributes and a time.
#[inline]
pub fn enabled_with(flag: Option<&Flag>, id: Option<&[u8]>, q: &Query<'_>) -> bool {
    flag.is_some_and(|f| f.is_enabled_with(id, q))
}

/// [`enabled_with`] for one id asked of many flags: see
/// [`Flag::is_enabled_shared`].
#[inline]
pub fn enabled_shared(
    flag: Option<&Flag>,
    id: Option<&[u8]>,
    q: &Query<'_>,
    unsalted: &std::cell::Cell<Option<u32>>,
) -> bool {
    flag.is_some_and(|f| f.is_enabled_shared(id, q, unsalted))
}

/// The answer with its value and type (`HANOI.RESOLVE`); a missing flag is
/// `undefined`. An empty id is no id, as OpenFeature has it: what does not
/// depend on the id is answered ([`Flag::explain_without_id`]), the rest is
/// `needs_id`.
pub fn resolve_with<'a>(
    flag: Option<&'a Flag>,
    id: &[u8],
    q: &Query<'_>,
) -> crate::describe::Resolution<'a> {
    match flag {
        None => crate::describe::Resolution::UNDEFINED,
        Some(f) if id.is_empty() => f.resolve_without_id(q),
        Some(f) => f.resolve_with(id, q),
    }
}

/// [`explain`] with attributes and a time.
pub fn explain_with<'a>(flag: Option<&'a Flag>, id: &[u8], q: &Query<'_>) -> Explanation<'a> {
    flag.map_or(Explanation::UNDEFINED, |f| f.explain_with(id, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_their_names() {
        for c in Command::ALL {
            assert_eq!(Command::parse(c.name().as_bytes()), Some(c));
            assert_eq!(
                Command::parse(c.name()[6..].to_lowercase().as_bytes()),
                Some(c)
            );
        }
        assert_eq!(Command::parse(b"HANOI.GET"), None);
        assert_eq!(Command::parse(b"HANOI."), None);
        assert!(Write::parse(b"hanoi.get", &[], &Limits::default()).is_err());
    }
}
