//! One function per command: parse, open the key, call the core, reply; for
//! writes that changed something, replicate verbatim, notify and signal the
//! key as modified (WATCH, client-side caching). A write checks everything
//! before it changes anything, so a refused write leaves the flag as it was.
//! The table in [`crate::command`] describes each command.

use std::collections::BTreeMap;
use std::ffi::c_int;

use hanoi_core::store::{self, Defined};
use hanoi_core::{parse_definition, parse_percentage, quote, Detail, Error, Flag};
use redis_module::key::RedisKey;
use redis_module::raw::{self, RedisModuleKey};
use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, NotifyEvent, RedisError, RedisString, RedisValue};

use crate::datatype::HANOI_TYPE;
use crate::guard::{Call, CmdResult};
use crate::{limits, stats};

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
/// The flag in a key opened for reading; `None` when the key is missing.
fn read_flag(key: &RedisKey) -> Result<Option<&Flag>, RedisError> {
    key.get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)
}

/// After a write that changed the flag in `key`: replicate the command as
/// it came, notify `event`, and signal the key modified (the module turns
/// the implicit signal off, so a write that changed nothing, or failed,
/// aborts no WATCH and invalidates no client-side cache).
fn changed(ctx: &Context, event: &str, key: &RedisString) {
    ctx.replicate_verbatim();
    ctx.notify_keyspace_event(NotifyEvent::MODULE, event, key);
    // SAFETY: the command's context and one of its arguments.
    unsafe {
        if let Some(signal) = raw::RedisModule_SignalModifiedKey {
            signal(ctx.ctx, key.inner);
        }
    }
}

/// Opens `args[1]` for writing, runs `f` on its flag (which must exist), and
/// publishes the change when `f` says it changed something. `f` must check
/// before it mutates: an error leaves the flag as it was.
fn write_flag(
    ctx: &Context,
    args: &[RedisString],
    event: &str,
    f: impl FnOnce(&mut Flag) -> Result<(RedisValue, bool), RedisError>,
) -> CmdResult {
    let name = args.get(1).ok_or(RedisError::WrongArity)?;
    let key = ctx.open_key_writable(name);
    let flag = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?;
    let flag = store::existing(flag).map_err(core_err)?;
    let (reply, did_change) = f(flag)?;
    if did_change {
        changed(ctx, event, name);
    }
    Ok(reply)
}

fn is_kw(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// `HANOI.DEFINE key [ENABLED|DISABLED] [PERCENTAGE pct] [VARIANTS count name
/// [name ...] [WEIGHTS w [w ...]]] [SALT salt]`
pub fn define(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, usize::MAX)?;
    let opts: Vec<&[u8]> = slices(&args[2..]).collect();
    let limits = limits(&ctx);
    let def = parse_definition(&opts, &limits).map_err(core_err)?;
    let key = ctx.open_key_writable(&args[1]);
    let existing = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?;
    let did_change = match store::define(existing, def, &limits).map_err(core_err)? {
        Defined::Created(flag) => {
            key.set_value(&HANOI_TYPE, *flag)?;
            stats::FLAGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            true
        }
        Defined::Replaced { changed } => changed,
    };
    if did_change {
        changed(&ctx, "hanoi.define", &args[1]);
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
pub fn register(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 4, usize::MAX)?;
    let what = target(&args[2])?;
    let ids = items(&ctx, &args[3..])?;
    write_flag(&ctx, &args, "hanoi.register", |flag| match what {
        Target::User => Ok(count(flag.add_users(slices(ids)))),
        Target::Regex => {
            let n = flag
                .add_regexes(slices(ids), &limits(&ctx))
                .map_err(core_err)?;
            stats::add(&stats::REGEX_COMPILATIONS, n as u64);
            Ok(count(n))
        }
    })
}

/// `HANOI.UNREGISTER key USER id [id ...]` | `HANOI.UNREGISTER key REGEX pattern [pattern ...]`
pub fn unregister(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 4, usize::MAX)?;
    let what = target(&args[2])?;
    let ids = items(&ctx, &args[3..])?;
    write_flag(&ctx, &args, "hanoi.unregister", |flag| {
        Ok(count(match what {
            Target::User => flag.remove_users(slices(ids)),
            Target::Regex => flag.remove_regexes(slices(ids)),
        }))
    })
}

/// `HANOI.BLOCK key id [id ...]`
pub fn block(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, usize::MAX)?;
    let ids = items(&ctx, &args[2..])?;
    write_flag(&ctx, &args, "hanoi.block", |flag| {
        Ok(count(flag.block(slices(ids))))
    })
}

/// `HANOI.UNBLOCK key id [id ...]`
pub fn unblock(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, usize::MAX)?;
    let ids = items(&ctx, &args[2..])?;
    write_flag(&ctx, &args, "hanoi.unblock", |flag| {
        Ok(count(flag.unblock(slices(ids))))
    })
}

fn switch(call: &Call, on: bool) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 2)?;
    let event = if on { "hanoi.enable" } else { "hanoi.disable" };
    write_flag(&ctx, &args, event, |flag| Ok((OK, flag.set_enabled(on))))
}

/// `HANOI.ENABLE key`
pub fn enable(call: &Call) -> CmdResult {
    switch(call, true)
}

/// `HANOI.DISABLE key`
pub fn disable(call: &Call) -> CmdResult {
    switch(call, false)
}

/// `HANOI.TOGGLE key` → the new state, 1 or 0.
pub fn toggle(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 2)?;
    write_flag(&ctx, &args, "hanoi.toggle", |flag| {
        Ok((RedisValue::Integer(i64::from(flag.toggle())), true))
    })
}

/// `HANOI.PERCENTAGE key pct`
pub fn percentage(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, 3)?;
    let pct = parse_percentage(args[2].as_slice()).map_err(core_err)?;
    write_flag(&ctx, &args, "hanoi.percentage", |flag| {
        let changed = flag.set_percentage(pct).map_err(core_err)?;
        Ok((OK, changed))
    })
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
            match raw::RedisModule_KeyType.map(|f| f(self.0)) {
                Some(t) if t == raw::REDISMODULE_KEYTYPE_EMPTY as c_int => Ok(None),
                Some(t) if t == raw::REDISMODULE_KEYTYPE_MODULE as c_int => {
                    let ty = raw::RedisModule_ModuleTypeGetType.map(|f| f(self.0));
                    if ty != Some(*HANOI_TYPE.raw_type.borrow()) {
                        return Err(RedisError::WrongType);
                    }
                    let v = raw::RedisModule_ModuleTypeGetValue
                        .map_or(std::ptr::null_mut(), |f| f(self.0));
                    Ok(v.cast::<Flag>().as_ref())
                }
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

fn reply_int(call: &Call, v: bool) {
    raw::reply_with_long_long(call.raw_ctx(), i64::from(v));
}

/// `HANOI.ENABLED key [id]` → 1 or 0; a missing flag is 0.
pub fn enabled(call: &Call) -> CmdResult {
    if !(2..=3).contains(&call.argc()) {
        return Err(RedisError::WrongArity);
    }
    let key = ReadKey::open(call, 1);
    let on = store::enabled(key.flag()?, call.arg(2));
    stats::evaluated(on);
    reply_int(call, on);
    Ok(RedisValue::NoReply)
}

/// `HANOI.VARIANT key id` → the variant, or nil.
pub fn variant(call: &Call) -> CmdResult {
    let (3, Some(id)) = (call.argc(), call.arg(2)) else {
        return Err(RedisError::WrongArity);
    };
    let key = ReadKey::open(call, 1);
    let v = store::variant(key.flag()?, id);
    stats::evaluated(v.is_some());
    match v {
        Some(v) => {
            stats::add(&stats::VARIANT_ANSWERS, 1);
            raw::reply_with_string_buffer(call.raw_ctx(), v.as_ptr().cast(), v.len())
        }
        None => raw::reply_with_null(call.raw_ctx()),
    };
    Ok(RedisValue::NoReply)
}

/// `HANOI.MENABLED id key [key ...]` → one 1/0 per key.
pub fn menabled(call: &Call) -> CmdResult {
    let (true, Some(id)) = (call.argc() >= 3, call.arg(1)) else {
        return Err(RedisError::WrongArity);
    };
    // Every key is checked before the reply starts: a wrong type fails the
    // whole command.
    let mut answers = Vec::with_capacity(call.argc() - 2);
    for i in 2..call.argc() {
        let key = ReadKey::open(call, i);
        let on = store::enabled(key.flag()?, Some(id));
        stats::evaluated(on);
        answers.push(on);
    }
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

/// `HANOI.EXPLAIN key id` → [enabled, variant, reason, detail].
pub fn explain(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, 3)?;
    let key = ctx.open_key(&args[1]);
    let e = store::explain(read_flag(&key)?, args[2].as_slice());
    stats::evaluated(e.enabled);
    stats::add(&stats::VARIANT_ANSWERS, u64::from(e.variant.is_some()));
    let detail = match e.detail {
        Some(Detail::Pattern(p)) => RedisValue::BulkString(p.to_owned()),
        Some(Detail::Bucket(b)) => RedisValue::Integer(i64::from(b)),
        None => RedisValue::Null,
    };
    Ok(RedisValue::Array(vec![
        bool_reply(e.enabled),
        bulk_or_nil(e.variant),
        RedisValue::SimpleStringStatic(e.reason.as_str()),
        detail,
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
