//! One function per command: parse, open the key, call the core, reply; for
//! writes that changed something, record who changed it (the history),
//! replicate it with that stamp, notify and signal the key as modified
//! (WATCH, client-side caching). A write checks everything
//! before it changes anything, so a refused write leaves the flag as it was.
//! The table in [`crate::command`] describes each command.

use std::collections::BTreeMap;
use std::ffi::c_int;

use hanoi_core::observe::Stamp;
use hanoi_core::rules::{parse_rule, Attrs};
use hanoi_core::store::{self, Defined};
use hanoi_core::{
    parse_definition_given, parse_percentage, quote, Detail, Error, Flag, Query, Ramp,
};
use redis_module::key::RedisKey;
use redis_module::raw::{self, RedisModuleKey};
use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, NotifyEvent, RedisError, RedisString, RedisValue};
use smallvec::SmallVec;

use crate::command::Handler;
use crate::datatype::{self, HANOI_TYPE};
use crate::guard::{Call, CmdResult, Origin, Write};
use crate::{clock, limits, stats};

const OK: RedisValue = RedisValue::SimpleStringStatic("OK");

/// An error reply `ERR <msg>`. Error replies must be one line of ASCII
/// (redis-module keeps only the low byte of each char), so anything else is
/// escaped as `\xNN`.
fn arg_err(msg: impl std::fmt::Display) -> RedisError {
    let mut out = String::from("ERR ");
    for c in msg.to_string().chars() {
        if c.is_ascii() && !c.is_ascii_control() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    RedisError::String(out)
}

/// A core error as a Redis error reply.
fn core_err(e: Error) -> RedisError {
    arg_err(e)
}

fn arity(args: &[RedisString], min: usize, max: usize) -> Result<(), RedisError> {
    if args.len() < min || args.len() > max {
        Err(RedisError::WrongArity)
    } else {
        Ok(())
    }
}

fn slices(args: &[RedisString]) -> impl Iterator<Item = &[u8]> {
    args.iter().map(RedisString::as_slice)
}

/// The ids of a REGISTER/BLOCK-like command, within the configured bound.
fn items<'a>(ctx: &Context, args: &'a [RedisString]) -> Result<&'a [RedisString], RedisError> {
    let max = limits(ctx).max_ids_per_command;
    if args.len() > max {
        return Err(arg_err(format_args!(
            "too many ids in one command: {} (hanoi.max-ids-per-command is {max})",
            args.len()
        )));
    }
    Ok(args)
}

/// The flag in a key opened for reading; `None` when the key is missing.
fn read_flag(key: &RedisKey) -> Result<Option<&Flag>, RedisError> {
    key.get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)
}

/// The stamp a write's history entry gets: the primary's for a replayed
/// write; this server's clock, ACL user and client name for a client's;
/// none for an unstamped write from the AOF or a primary (written by an
/// older hanoi: its time and author are not known, and this server's would
/// be wrong).
fn stamp(w: &Write) -> Option<Stamp> {
    match &w.origin {
        Origin::Replayed(s) => Some(s.clone()),
        Origin::Client if crate::trusted(&w.ctx) => None,
        Origin::Client => Some(Stamp {
            at_ms: clock::now_exact(),
            user: w.ctx.get_current_user().as_slice().to_vec(),
            client: clock::client_name(&w.ctx),
            keep: limits(&w.ctx).history_length,
        }),
    }
}

/// Records the write in the flag's history (before it is published).
fn record(w: &Write, flag: &mut Flag, stamp: Option<&Stamp>) {
    if let Some(s) = stamp {
        let rest: Vec<&[u8]> = slices(w.args.get(2..).unwrap_or(&[])).collect();
        flag.record(s, w.args[0].as_slice(), &rest);
    }
}

/// After a write that changed the flag: replicate it (as `HANOI.REPLAY`
/// with its stamp, so replicas and the AOF get the same history entry),
/// notify `event`, and signal the key modified (the module turns the
/// implicit signal off, so a write that changed nothing, or failed, aborts
/// no WATCH and invalidates no client-side cache).
fn publish(w: &Write, event: &str, stamp: Option<&Stamp>) {
    let ctx = &w.ctx;
    let key = &w.args[1];
    match stamp {
        Some(s) => {
            let at = s.at_ms.to_string();
            let keep = s.keep.to_string();
            let mut args: Vec<&[u8]> = vec![
                key.as_slice(),
                at.as_bytes(),
                &s.user,
                s.client.as_deref().unwrap_or(b""),
                keep.as_bytes(),
            ];
            args.extend(slices(&w.args[..1]));
            args.extend(slices(&w.args[2..]));
            ctx.replicate("HANOI.REPLAY", args.as_slice());
        }
        None => ctx.replicate_verbatim(),
    }
    ctx.notify_keyspace_event(NotifyEvent::MODULE, event, key);
    // SAFETY: the command's context and one of its arguments.
    unsafe {
        if let Some(signal) = raw::RedisModule_SignalModifiedKey {
            signal(ctx.ctx, key.inner);
        }
    }
}

/// Opens the key for writing, runs `f` on its flag (which must exist), and
/// records and publishes the change when `f` says it changed something. `f`
/// must check before it mutates: an error leaves the flag as it was.
fn write_flag(
    w: &Write,
    event: &str,
    f: impl FnOnce(&mut Flag) -> Result<(RedisValue, bool), RedisError>,
) -> CmdResult {
    let name = w.args.get(1).ok_or(RedisError::WrongArity)?;
    let key = w.ctx.open_key_writable(name);
    let flag = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?;
    let flag = store::existing(flag).map_err(core_err)?;
    let (reply, did_change) = f(flag)?;
    if did_change {
        let stamp = stamp(w);
        record(w, flag, stamp.as_ref());
        publish(w, event, stamp.as_ref());
    }
    Ok(reply)
}

fn is_kw(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// `HANOI.DEFINE key [ENABLED|DISABLED] [PERCENTAGE pct] [VARIANTS count name
/// [name ...] [WEIGHTS w [w ...]]] [SALT salt]`
pub fn define(w: &Write) -> CmdResult {
    let (ctx, args) = (&w.ctx, w.args);
    arity(args, 2, usize::MAX)?;
    let opts: Vec<&[u8]> = slices(&args[2..]).collect();
    let limits = limits(ctx);
    let (def, percentage_given) = parse_definition_given(&opts, &limits).map_err(core_err)?;
    let key = ctx.open_key_writable(&args[1]);
    let existing = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?;
    // A new flag is created when its stamp says (the primary's time on a
    // replica or in the AOF; 0, unknown, for an unstamped old AOF entry).
    // The stamp (a clock read, the user, the client's name) is only taken
    // when the flag is created or changed.
    let creation = existing.is_none().then(|| stamp(w));
    let created = creation
        .as_ref()
        .and_then(|s| s.as_ref())
        .map_or(0, |s| s.at_ms);
    let stamp = match store::define(existing, def, &limits, created).map_err(core_err)? {
        Defined::Created(mut flag) => {
            flag.counters().reset(clock::now_exact());
            let stamp = creation.flatten();
            record(w, &mut flag, stamp.as_ref());
            key.set_value(&HANOI_TYPE, *flag)?;
            stats::FLAGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Some(stamp)
        }
        Defined::Replaced { changed } => {
            // Setting the percentage by hand ends a ramp.
            let flag = key.get_value::<Flag>(&HANOI_TYPE).ok().flatten();
            let ended =
                percentage_given && flag.as_ref().is_some_and(|f| f.schedule().ramp.is_some());
            match flag {
                Some(flag) if changed || ended => {
                    if percentage_given {
                        flag.end_ramp();
                    }
                    let stamp = stamp(w);
                    record(w, flag, stamp.as_ref());
                    Some(stamp)
                }
                _ => None,
            }
        }
    };
    if let Some(stamp) = stamp {
        publish(w, "hanoi.define", stamp.as_ref());
    }
    Ok(OK)
}

enum Target {
    User,
    Regex,
}

fn target(arg: &[u8]) -> Result<Target, RedisError> {
    if is_kw(arg, "USER") {
        Ok(Target::User)
    } else if is_kw(arg, "REGEX") {
        Ok(Target::Regex)
    } else {
        Err(arg_err(format_args!(
            "expected USER or REGEX, got '{}'",
            quote(arg)
        )))
    }
}

fn count(n: usize) -> (RedisValue, bool) {
    (RedisValue::Integer(n as i64), n > 0)
}

/// `HANOI.REGISTER key USER id [id ...]` | `HANOI.REGISTER key REGEX pattern [pattern ...]`
pub fn register(w: &Write) -> CmdResult {
    arity(w.args, 4, usize::MAX)?;
    let what = target(&w.args[2])?;
    let ids = items(&w.ctx, &w.args[3..])?;
    write_flag(w, "hanoi.register", |flag| match what {
        Target::User => Ok(count(flag.add_users(slices(ids)))),
        Target::Regex => {
            let n = flag
                .add_regexes(slices(ids), &limits(&w.ctx))
                .map_err(core_err)?;
            stats::add(&stats::REGEX_COMPILATIONS, n as u64);
            Ok(count(n))
        }
    })
}

/// `HANOI.UNREGISTER key USER id [id ...]` | `HANOI.UNREGISTER key REGEX pattern [pattern ...]`
pub fn unregister(w: &Write) -> CmdResult {
    arity(w.args, 4, usize::MAX)?;
    let what = target(&w.args[2])?;
    let ids = items(&w.ctx, &w.args[3..])?;
    write_flag(w, "hanoi.unregister", |flag| {
        Ok(count(match what {
            Target::User => flag.remove_users(slices(ids)),
            Target::Regex => flag.remove_regexes(slices(ids)),
        }))
    })
}

/// `HANOI.BLOCK key id [id ...]`
pub fn block(w: &Write) -> CmdResult {
    arity(w.args, 3, usize::MAX)?;
    let ids = items(&w.ctx, &w.args[2..])?;
    write_flag(w, "hanoi.block", |flag| Ok(count(flag.block(slices(ids)))))
}

/// `HANOI.UNBLOCK key id [id ...]`
pub fn unblock(w: &Write) -> CmdResult {
    arity(w.args, 3, usize::MAX)?;
    let ids = items(&w.ctx, &w.args[2..])?;
    write_flag(w, "hanoi.unblock", |flag| {
        Ok(count(flag.unblock(slices(ids))))
    })
}

fn switch(w: &Write, on: bool) -> CmdResult {
    arity(w.args, 2, 2)?;
    let event = if on { "hanoi.enable" } else { "hanoi.disable" };
    write_flag(w, event, |flag| Ok((OK, flag.set_enabled(on))))
}

/// `HANOI.ENABLE key`
pub fn enable(w: &Write) -> CmdResult {
    switch(w, true)
}

/// `HANOI.DISABLE key`
pub fn disable(w: &Write) -> CmdResult {
    switch(w, false)
}

/// `HANOI.TOGGLE key` → the new state, 1 or 0.
pub fn toggle(w: &Write) -> CmdResult {
    arity(w.args, 2, 2)?;
    write_flag(w, "hanoi.toggle", |flag| {
        Ok((RedisValue::Integer(i64::from(flag.toggle())), true))
    })
}

/// `HANOI.PERCENTAGE key pct`
pub fn percentage(w: &Write) -> CmdResult {
    arity(w.args, 3, 3)?;
    let pct = parse_percentage(w.args[2].as_slice()).map_err(core_err)?;
    write_flag(w, "hanoi.percentage", |flag| {
        let changed = flag.set_percentage(pct).map_err(core_err)?;
        Ok((OK, changed))
    })
}

/// `HANOI.META key SET field value [field value ...]` | `HANOI.META key DEL
/// field [field ...]` → how many fields were added or changed / removed.
pub fn meta(w: &Write) -> CmdResult {
    arity(w.args, 4, usize::MAX)?;
    let action = w.args[2].as_slice();
    let rest: Vec<&[u8]> = slices(&w.args[3..]).collect();
    let limits = limits(&w.ctx);
    if is_kw(action, "SET") {
        if !rest.len().is_multiple_of(2) {
            return Err(arg_err(
                "META SET needs field value pairs (an even number of arguments)",
            ));
        }
        let pairs: Vec<(&[u8], &[u8])> = rest.chunks(2).map(|p| (p[0], p[1])).collect();
        write_flag(w, "hanoi.meta", |flag| {
            let n = flag
                .metadata_mut()
                .set(&pairs, limits.max_meta_fields, limits.max_meta_value_bytes)
                .map_err(core_err)?;
            Ok(count(n))
        })
    } else if is_kw(action, "DEL") {
        write_flag(w, "hanoi.meta", |flag| {
            let n = flag.metadata_mut().delete(&rest).map_err(core_err)?;
            Ok(count(n))
        })
    } else {
        Err(arg_err(format_args!(
            "expected SET or DEL, got '{}'",
            quote(action)
        )))
    }
}

/// `HANOI.REPLAY key time user client keep command [arg ...]`: a write as its
/// primary stamped it. Only from the primary's stream or the AOF: a client
/// could otherwise write history in someone else's name.
pub fn replay(call: &Call) -> CmdResult {
    let ctx = call.context();
    if !crate::trusted(&ctx) {
        return Err(arg_err(
            "HANOI.REPLAY only replays writes from a primary or the AOF",
        ));
    }
    let args = call.strings();
    arity(&args, 7, usize::MAX)?;
    let number = |i: usize| {
        hanoi_core::parse_int(args[i].as_slice())
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| arg_err("HANOI.REPLAY: bad stamp"))
    };
    let client = args[4].as_slice();
    let stamp = Stamp {
        at_ms: number(2)?,
        user: args[3].as_slice().to_vec(),
        client: (!client.is_empty()).then(|| client.to_vec()),
        keep: usize::try_from(number(5)?).unwrap_or(usize::MAX),
    };
    let name = args[6].as_slice();
    let Some(write) = crate::command::COMMANDS
        .iter()
        .find_map(|c| match c.handler {
            Handler::Write(f) if c.name.as_bytes().eq_ignore_ascii_case(name) => Some(f),
            _ => None,
        })
    else {
        return Err(arg_err(format_args!(
            "HANOI.REPLAY: '{}' is not a hanoi write",
            quote(name)
        )));
    };
    // The write's own arguments: name, key, the rest.
    let mut inner: Vec<RedisString> = Vec::with_capacity(args.len() - 5);
    inner.push(args[6].clone());
    inner.push(args[1].clone());
    inner.extend(args[7..].iter().cloned());
    write(&Write {
        ctx,
        args: &inner,
        origin: Origin::Replayed(stamp),
    })
}

/// `HANOI.LOAD key bytes`: puts back a flag from `HANOI.EXPORT`'s form, as the
/// AOF rewrite writes it (definition, regexes, metadata, history; the ids
/// follow as REGISTER/BLOCK). Only from the AOF or a primary.
pub fn load(call: &Call) -> CmdResult {
    let ctx = call.context();
    if !crate::trusted(&ctx) {
        return Err(arg_err(
            "HANOI.LOAD only loads flags from the AOF or a primary",
        ));
    }
    let args = call.strings();
    arity(&args, 3, 3)?;
    let flag = hanoi_core::codec::from_bytes(args[2].as_slice()).map_err(core_err)?;
    flag.counters().reset(clock::now_exact());
    let key = ctx.open_key_writable(&args[1]);
    if key.get_value::<Flag>(&HANOI_TYPE).is_err() {
        return Err(RedisError::WrongType);
    }
    // A value it replaces is freed (and uncounted) by Redis.
    key.set_value(&HANOI_TYPE, flag)?;
    stats::FLAGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    ctx.replicate_verbatim();
    Ok(OK)
}

// ----- targeting -----

/// `HANOI.RULE key SET name [ROLLOUT pct] [VARIANT v] IF attr op [arg ...]
/// [AND ...]` | `HANOI.RULE key DEL name [name ...]` | `HANOI.RULE key MOVE
/// name index`.
pub fn rule(w: &Write) -> CmdResult {
    arity(w.args, 4, usize::MAX)?;
    let action = w.args[2].as_slice();
    let rest: Vec<&[u8]> = slices(&w.args[3..]).collect();
    let limits = limits(&w.ctx);
    if is_kw(action, "SET") {
        let rule = parse_rule(rest[0], &rest[1..], &limits.rule_limits()).map_err(core_err)?;
        write_flag(w, "hanoi.rule", |flag| {
            let changed = flag.set_rule(rule, limits.max_rules).map_err(core_err)?;
            Ok((OK, changed))
        })
    } else if is_kw(action, "DEL") {
        write_flag(w, "hanoi.rule", |flag| Ok(count(flag.delete_rules(&rest))))
    } else if is_kw(action, "MOVE") {
        let [name, index] = rest[..] else {
            return Err(arg_err("expected HANOI.RULE key MOVE name index"));
        };
        let index = hanoi_core::parse_int(index)
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| arg_err("MOVE index must be a non-negative integer"))?;
        write_flag(w, "hanoi.rule", |flag| {
            let changed = flag.move_rule(name, index).map_err(core_err)?;
            Ok((OK, changed))
        })
    } else {
        Err(arg_err(format_args!(
            "expected SET, DEL or MOVE, got '{}'",
            quote(action)
        )))
    }
}

fn millis(arg: &[u8], what: &str) -> Result<u64, RedisError> {
    hanoi_core::parse_int(arg)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            arg_err(format_args!(
                "{what} must be a Unix time in milliseconds (0 or more)"
            ))
        })
}

/// `HANOI.SCHEDULE key WINDOW from_ms until_ms` | `HANOI.SCHEDULE key RAMP
/// from_pct to_pct start_ms end_ms` | `HANOI.SCHEDULE key CLEAR [WINDOW|RAMP]`.
pub fn schedule(w: &Write) -> CmdResult {
    arity(w.args, 3, 7)?;
    let action = w.args[2].as_slice();
    let rest: Vec<&[u8]> = slices(&w.args[3..]).collect();
    if is_kw(action, "WINDOW") {
        let [from, until] = rest[..] else {
            return Err(arg_err(
                "expected HANOI.SCHEDULE key WINDOW from_ms until_ms",
            ));
        };
        let (from, until) = (millis(from, "from_ms")?, millis(until, "until_ms")?);
        write_flag(w, "hanoi.schedule", |flag| {
            Ok((OK, flag.set_window(from, until).map_err(core_err)?))
        })
    } else if is_kw(action, "RAMP") {
        let [from, to, start, end] = rest[..] else {
            return Err(arg_err(
                "expected HANOI.SCHEDULE key RAMP from_pct to_pct start_ms end_ms",
            ));
        };
        let ramp = Ramp {
            from_pct: parse_percentage(from).map_err(core_err)?,
            to_pct: parse_percentage(to).map_err(core_err)?,
            start_ms: millis(start, "start_ms")?,
            end_ms: millis(end, "end_ms")?,
        };
        write_flag(w, "hanoi.schedule", |flag| {
            Ok((OK, flag.set_ramp(ramp).map_err(core_err)?))
        })
    } else if is_kw(action, "CLEAR") {
        let (window, ramp) = match rest[..] {
            [] => (true, true),
            [x] if is_kw(x, "WINDOW") => (true, false),
            [x] if is_kw(x, "RAMP") => (false, true),
            _ => return Err(arg_err("expected HANOI.SCHEDULE key CLEAR [WINDOW|RAMP]")),
        };
        write_flag(w, "hanoi.schedule", |flag| {
            Ok((OK, flag.clear_schedule(window, ramp)))
        })
    } else {
        Err(arg_err(format_args!(
            "expected WINDOW, RAMP or CLEAR, got '{}'",
            quote(action)
        )))
    }
}

/// The query for `flag`: the attributes, and the server's time when the
/// flag has a schedule (no clock read otherwise).
#[inline]
fn query<'a>(flag: Option<&Flag>, attrs: Attrs<'a>) -> Query<'a> {
    let now_ms = if flag.is_some_and(Flag::has_schedule) {
        clock::now_exact()
    } else {
        0
    };
    Query { attrs, now_ms }
}

// ----- the hot reads, on the raw API: no argument vector, no reply tree -----

/// A key opened for reading, closed on drop.
struct ReadKey(*mut RedisModuleKey);

impl ReadKey {
    fn open(call: &Call, i: usize) -> ReadKey {
        match call.raw_arg(i) {
            Some(name) => ReadKey(raw::open_key(call.raw_ctx(), name, raw::KeyMode::READ)),
            None => ReadKey(std::ptr::null_mut()),
        }
    }

    /// The flag, `None` for a missing key, `WrongType` for another type.
    fn flag(&self) -> Result<Option<&Flag>, RedisError> {
        if self.0.is_null() {
            return Ok(None);
        }
        // SAFETY: `self.0` is a key Redis opened for this call and is still
        // open (closed on drop); a value of our type is a `Flag` we boxed,
        // alive while the key is open and the command runs.
        unsafe {
            // Our type (the common case) in one call: `ModuleTypeGetType`
            // answers null for an empty key or another type, told apart
            // only then.
            let ty = raw::RedisModule_ModuleTypeGetType.map(|f| f(self.0));
            if ty.is_some_and(|t| !t.is_null() && t == datatype::raw_type()) {
                let v =
                    raw::RedisModule_ModuleTypeGetValue.map_or(std::ptr::null_mut(), |f| f(self.0));
                return Ok(v.cast::<Flag>().as_ref());
            }
            match raw::RedisModule_KeyType.map(|f| f(self.0)) {
                Some(t) if t == raw::REDISMODULE_KEYTYPE_EMPTY as c_int => Ok(None),
                _ => Err(RedisError::WrongType),
            }
        }
    }
}

impl Drop for ReadKey {
    fn drop(&mut self) {
        // SAFETY: a key this value opened and nobody else closes.
        unsafe {
            if let (false, Some(close)) = (self.0.is_null(), raw::RedisModule_CloseKey) {
                close(self.0);
            }
        }
    }
}

/// Counts one evaluation: the server's totals (`INFO hanoi`) and, unless
/// `hanoi.count-evaluations` is off, the flag's own (`HANOI.STATS`).
#[inline]
fn evaluated(flag: Option<&Flag>, on: bool, variant: Option<usize>) {
    stats::evaluated(1, u64::from(on));
    count_flag(flag, on, variant);
}

/// The flag's own count (`HANOI.STATS`), unless `hanoi.count-evaluations`
/// is off. Commands run one at a time: no locked instructions.
#[inline]
fn count_flag(flag: Option<&Flag>, on: bool, variant: Option<usize>) {
    if let Some(f) = flag {
        if crate::counting() {
            f.counters().count_serialized(on, variant, clock::now());
        }
    }
}

fn reply_int(call: &Call, v: bool) {
    raw::reply_with_long_long(call.raw_ctx(), i64::from(v));
}

/// Attribute name/value pairs, borrowed from the call: on the stack up to
/// 8 pairs (an allocation and its free cost more than reading them).
type Pairs<'a> = SmallVec<[(&'a [u8], &'a [u8]); 8]>;

/// The checked attributes; none without `WITH` (nothing to check).
#[inline]
fn attrs<'a>(pairs: &'a [(&'a [u8], &'a [u8])]) -> Result<Attrs<'a>, RedisError> {
    if pairs.is_empty() {
        return Ok(Attrs::NONE);
    }
    Attrs::new(pairs).map_err(core_err)
}

/// `[WITH attr value ...]` from argument `from` on, straight from the call
/// into `pairs` (the caller's: not moved around), which the caller checks
/// once, with `Attrs::new`.
fn call_pairs<'a>(call: &Call<'a>, from: usize, pairs: &mut Pairs<'a>) -> Result<(), RedisError> {
    let Some(kw) = call.arg(from) else {
        return Ok(());
    };
    if !is_kw(kw, "WITH") {
        return Err(arg_err(format_args!("expected WITH, got '{}'", quote(kw))));
    }
    let n = call.argc() - from - 1;
    if n == 0 || !n.is_multiple_of(2) {
        return Err(arg_err("WITH needs attribute value pairs"));
    }
    pairs.reserve(n / 2);
    let mut i = from + 1;
    while let (Some(a), Some(v)) = (call.arg(i), call.arg(i + 1)) {
        pairs.push((a, v));
        i += 2;
    }
    Ok(())
}

/// `HANOI.ENABLED key [id [WITH attr value ...]]` → 1 or 0; a missing flag is 0.
pub fn enabled(call: &Call) -> CmdResult {
    if call.argc() < 2 {
        return Err(RedisError::WrongArity);
    }
    let key = ReadKey::open(call, 1);
    let flag = key.flag()?;
    let mut pairs = Pairs::new();
    call_pairs(call, 3, &mut pairs)?;
    let q = query(flag, attrs(&pairs)?);
    let on = store::enabled_with(flag, call.arg(2), &q);
    evaluated(flag, on, None);
    reply_int(call, on);
    Ok(RedisValue::NoReply)
}

/// `HANOI.VARIANT key id [WITH attr value ...]` → the variant, or nil.
pub fn variant(call: &Call) -> CmdResult {
    let (true, Some(id)) = (call.argc() >= 3, call.arg(2)) else {
        return Err(RedisError::WrongArity);
    };
    let key = ReadKey::open(call, 1);
    let flag = key.flag()?;
    let mut pairs = Pairs::new();
    call_pairs(call, 3, &mut pairs)?;
    let q = query(flag, attrs(&pairs)?);
    let index = flag.and_then(|f| f.variant_index_with(id, &q));
    let v = index.and_then(|i| flag?.definition().variants.get(i).map(Vec::as_slice));
    evaluated(flag, v.is_some(), index);
    match v {
        Some(v) => {
            stats::add_serialized(&stats::VARIANT_ANSWERS, 1);
            raw::reply_with_string_buffer(call.raw_ctx(), v.as_ptr().cast(), v.len())
        }
        None => raw::reply_with_null(call.raw_ctx()),
    };
    Ok(RedisValue::NoReply)
}

/// Where `HANOI.MENABLED id [WITH count attr value ...] key [key ...]`'s
/// keys start; its attribute pairs go into `pairs`.
fn menabled_layout<'a>(call: &Call<'a>, pairs: &mut Pairs<'a>) -> Result<usize, RedisError> {
    match call.arg(2) {
        Some(kw) if is_kw(kw, "WITH") => {
            let n = call
                .arg(3)
                .and_then(hanoi_core::parse_int)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    arg_err("WITH needs a count of attribute value pairs (0 or more)")
                })?;
            let first = n
                .checked_mul(2)
                .and_then(|m| m.checked_add(4))
                .filter(|f| *f < call.argc());
            let Some(first) = first else {
                return Err(arg_err(format_args!(
                    "WITH {n} needs {n} attribute value pairs, then at least one key"
                )));
            };
            pairs.extend((0..n).filter_map(|k| Some((call.arg(4 + 2 * k)?, call.arg(5 + 2 * k)?))));
            Ok(first)
        }
        _ => Ok(2),
    }
}

/// `HANOI.MENABLED id [WITH count attr value ...] key [key ...]` → one 1/0
/// per key.
pub fn menabled(call: &Call) -> CmdResult {
    let (true, Some(id)) = (call.argc() >= 3, call.arg(1)) else {
        return Err(RedisError::WrongArity);
    };
    let mut pairs = Pairs::new();
    let first = menabled_layout(call, &mut pairs)?;
    // COMMAND GETKEYS, ACL and cluster routing ask where the keys are.
    // SAFETY: the command's context; positions are arguments of this call.
    unsafe {
        if raw::RedisModule_IsKeysPositionRequest.is_some_and(|f| f(call.raw_ctx()) != 0) {
            if let Some(at) = raw::RedisModule_KeyAtPos {
                for i in first..call.argc() {
                    at(call.raw_ctx(), i as c_int);
                }
            }
            return Ok(RedisValue::NoReply);
        }
    }
    let attrs = attrs(&pairs)?;
    // Every key is checked before the reply starts: a wrong type fails the
    // whole command.
    let mut answers: SmallVec<[bool; 64]> = SmallVec::with_capacity(call.argc() - first);
    // The id's crc32, computed once for all the flags without a salt.
    let unsalted = std::cell::Cell::new(None);
    for i in first..call.argc() {
        let key = ReadKey::open(call, i);
        let flag = match key.flag() {
            Ok(flag) => flag,
            Err(e) => {
                // The flags before it were evaluated and counted each: the
                // server's totals count them too.
                let on = answers.iter().filter(|&&on| on).count();
                stats::evaluated(answers.len() as u64, on as u64);
                return Err(e);
            }
        };
        let on = store::enabled_shared(flag, Some(id), &query(flag, attrs), &unsalted);
        count_flag(flag, on, None);
        answers.push(on);
    }
    let on = answers.iter().filter(|&&on| on).count();
    stats::evaluated(answers.len() as u64, on as u64);
    raw::reply_with_array(call.raw_ctx(), answers.len() as _);
    for on in answers {
        reply_int(call, on);
    }
    Ok(RedisValue::NoReply)
}

// ----- the other reads -----

fn bool_reply(b: bool) -> RedisValue {
    RedisValue::Integer(i64::from(b))
}

fn bulk_or_nil(v: Option<&[u8]>) -> RedisValue {
    v.map_or(RedisValue::Null, |v| RedisValue::StringBuffer(v.to_vec()))
}

/// `HANOI.EXPLAIN key id [WITH attr value ...]` → [enabled, variant,
/// reason, detail, effective percentage].
pub fn explain(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, usize::MAX)?;
    let key = ctx.open_key(&args[1]);
    let flag = read_flag(&key)?;
    let mut pairs = Pairs::new();
    call_pairs(call, 3, &mut pairs)?;
    let q = query(flag, attrs(&pairs)?);
    let e = store::explain_with(flag, args[2].as_slice(), &q);
    let index = flag
        .zip(e.variant)
        .and_then(|(f, v)| f.definition().variants.iter().position(|x| x == v));
    evaluated(flag, e.enabled, index);
    stats::add_serialized(&stats::VARIANT_ANSWERS, u64::from(e.variant.is_some()));
    let detail = match e.detail {
        Some(Detail::Pattern(p)) => RedisValue::BulkString(p.to_owned()),
        Some(Detail::Bucket(b)) => RedisValue::Integer(i64::from(b)),
        Some(Detail::Rule(name)) => RedisValue::StringBuffer(name.to_vec()),
        None => RedisValue::Null,
    };
    Ok(RedisValue::Array(vec![
        bool_reply(e.enabled),
        bulk_or_nil(e.variant),
        RedisValue::SimpleStringStatic(e.reason.as_str()),
        detail,
        RedisValue::Integer(i64::from(e.percentage)),
    ]))
}

/// `HANOI.GET key` → the definition as a map (a flat array under RESP2).
pub fn get(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 2)?;
    let key = ctx.open_key(&args[1]);
    let Some(flag) = read_flag(&key)? else {
        return Ok(RedisValue::Null);
    };
    let d = flag.definition();
    let list = |items: &mut dyn Iterator<Item = RedisValue>| RedisValue::Array(items.collect());
    let fields = [
        ("enabled", bool_reply(d.enabled)),
        ("percentage", RedisValue::Integer(i64::from(d.percentage))),
        (
            "effective_percentage",
            RedisValue::Integer(i64::from(
                flag.effective_percentage(query(Some(flag), Attrs::default()).now_ms),
            )),
        ),
        (
            "variants",
            list(
                &mut d
                    .variants
                    .iter()
                    .map(|v| RedisValue::StringBuffer(v.clone())),
            ),
        ),
        (
            "weights",
            list(
                &mut d
                    .weights
                    .iter()
                    .flatten()
                    .map(|w| RedisValue::Integer(i64::from(*w))),
            ),
        ),
        ("salt", bulk_or_nil(d.salt.as_deref())),
        ("users", RedisValue::Integer(flag.users().len() as i64)),
        (
            "created",
            RedisValue::Integer(flag.metadata().created_ms as i64),
        ),
        ("metadata", bytes_map(&flag.metadata().fields)),
        (
            "rules",
            RedisValue::Array(
                flag.rules()
                    .iter()
                    .map(|r| {
                        let mut words = vec![RedisValue::StringBuffer(r.name.clone())];
                        words.extend(r.args().into_iter().map(RedisValue::StringBuffer));
                        RedisValue::Array(words)
                    })
                    .collect(),
            ),
        ),
        (
            "window",
            flag.schedule().window.map_or(RedisValue::Null, |(f, u)| {
                RedisValue::Array(vec![
                    RedisValue::Integer(f as i64),
                    RedisValue::Integer(u as i64),
                ])
            }),
        ),
        (
            "ramp",
            flag.schedule().ramp.map_or(RedisValue::Null, |r| {
                RedisValue::Array(vec![
                    RedisValue::Integer(i64::from(r.from_pct)),
                    RedisValue::Integer(i64::from(r.to_pct)),
                    RedisValue::Integer(r.start_ms as i64),
                    RedisValue::Integer(r.end_ms as i64),
                ])
            }),
        ),
        ("blocked", RedisValue::Integer(flag.blocked().len() as i64)),
        (
            "regexes",
            list(
                &mut flag
                    .patterns()
                    .map(|p| RedisValue::BulkString(p.to_owned())),
            ),
        ),
    ];
    let map: BTreeMap<RedisValueKey, RedisValue> = fields
        .into_iter()
        .map(|(k, v)| (RedisValueKey::String(k.to_owned()), v))
        .collect();
    Ok(RedisValue::OrderedMap(map))
}

/// A map of byte strings (a flat array under RESP2).
fn bytes_map(m: &BTreeMap<Vec<u8>, Vec<u8>>) -> RedisValue {
    RedisValue::OrderedMap(
        m.iter()
            .map(|(k, v)| {
                (
                    RedisValueKey::BulkString(k.clone()),
                    RedisValue::StringBuffer(v.clone()),
                )
            })
            .collect(),
    )
}

fn map(fields: Vec<(&str, RedisValue)>) -> RedisValue {
    RedisValue::OrderedMap(
        fields
            .into_iter()
            .map(|(k, v)| (RedisValueKey::String(k.to_owned()), v))
            .collect(),
    )
}

/// `HANOI.HISTORY key [COUNT n]` → the entries, newest first, each a map:
/// time (Unix ms), user, client (nil when it had no name), command (the
/// name and its first arguments), arguments (how many in all). A missing
/// flag has none.
pub fn history(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 4)?;
    let limit = match &args[2..] {
        [] => usize::MAX,
        [kw, n] if is_kw(kw.as_slice(), "COUNT") => hanoi_core::parse_int(n.as_slice())
            .filter(|n| *n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| arg_err("COUNT must be a positive integer"))?,
        _ => return Err(arg_err("expected HANOI.HISTORY key [COUNT n]")),
    };
    let key = ctx.open_key(&args[1]);
    let Some(flag) = read_flag(&key)? else {
        return Ok(RedisValue::Array(vec![]));
    };
    Ok(RedisValue::Array(
        flag.history()
            .newest()
            .take(limit)
            .map(|e| {
                map(vec![
                    ("time", RedisValue::Integer(e.at_ms as i64)),
                    ("user", RedisValue::StringBuffer(e.user.clone())),
                    ("client", bulk_or_nil(e.client.as_deref())),
                    (
                        "command",
                        RedisValue::Array(
                            e.command
                                .iter()
                                .map(|c| RedisValue::StringBuffer(c.clone()))
                                .collect(),
                        ),
                    ),
                    ("arguments", RedisValue::Integer(e.args as i64)),
                ])
            })
            .collect(),
    ))
}

/// `HANOI.STATS key [RESET]` → this server's counts for the flag: a map of
/// evaluations, enabled, variants (name → count), last_evaluated (Unix ms,
/// nil when never), since (Unix ms). RESET starts them again. Counts are
/// per server and never replicated; the command is a read, so RESET works on
/// a read-only replica too. A missing flag is nil.
pub fn stats(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 3)?;
    let reset = match args.get(2) {
        None => false,
        Some(a) if is_kw(a.as_slice(), "RESET") => true,
        Some(a) => {
            return Err(arg_err(format_args!(
                "expected RESET, got '{}'",
                quote(a.as_slice())
            )))
        }
    };
    let key = ctx.open_key(&args[1]);
    let Some(flag) = read_flag(&key)? else {
        return Ok(RedisValue::Null);
    };
    if reset {
        flag.counters().reset(clock::now_exact());
        return Ok(OK);
    }
    let c = flag.counters().snapshot();
    let variants = flag
        .definition()
        .variants
        .iter()
        .zip(&c.variants)
        .map(|(v, n)| {
            (
                RedisValueKey::BulkString(v.clone()),
                RedisValue::Integer(*n as i64),
            )
        })
        .collect();
    Ok(map(vec![
        ("evaluations", RedisValue::Integer(c.evaluations as i64)),
        ("enabled", RedisValue::Integer(c.enabled as i64)),
        ("variants", RedisValue::OrderedMap(variants)),
        (
            "last_evaluated",
            if c.last_ms == 0 {
                RedisValue::Null
            } else {
                RedisValue::Integer(c.last_ms as i64)
            },
        ),
        ("since", RedisValue::Integer(c.since_ms as i64)),
    ]))
}

/// `HANOI.EXPORT key` → the flag in `hanoi_core::codec`'s byte form
/// (magic, version, flag), or nil: what an in-process `Rollout` loads with
/// `codec::from_bytes`.
pub fn export(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 2)?;
    let key = ctx.open_key(&args[1]);
    Ok(read_flag(&key)?.map_or(RedisValue::Null, |f| {
        RedisValue::StringBuffer(hanoi_core::codec::to_bytes(f))
    }))
}
