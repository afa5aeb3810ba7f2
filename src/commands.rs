//! One function per command: parse, open the key, call the core, reply; for
//! writes that changed something, replicate verbatim and notify.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use hanoi_core::{parse_definition, parse_percentage, quote, Detail, Error, Flag};
use redis_module::key::RedisKey;
use redis_module::redisvalue::RedisValueKey;
use redis_module::{Context, NotifyEvent, RedisError, RedisResult, RedisString, RedisValue};

use crate::datatype::HANOI_TYPE;
use crate::{limits, stats};

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

/// Runs a command body; a panic becomes an error reply, never a crash.
fn guarded(f: impl FnOnce() -> RedisResult) -> RedisResult {
    let r = catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(RedisError::Str("ERR internal error in hanoi")));
    if r.is_err() {
        stats::add(&stats::ERRORS, 1);
    }
    r
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
    let max = crate::max_ids_per_command(ctx);
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

/// Opens `args[1]` for writing, runs `f` on its flag (which must exist), and
/// replicates and notifies `event` when `f` says it changed something.
fn write_flag(
    ctx: &Context,
    args: &[RedisString],
    event: &str,
    f: impl FnOnce(&mut Flag) -> Result<(RedisValue, bool), RedisError>,
) -> RedisResult {
    let name = args.get(1).ok_or(RedisError::WrongArity)?;
    let key = ctx.open_key_writable(name);
    let flag = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?
        .ok_or_else(|| core_err(Error::UnknownFlag))?;
    let (reply, changed) = f(flag)?;
    if changed {
        ctx.replicate_verbatim();
        ctx.notify_keyspace_event(NotifyEvent::MODULE, event, name);
    }
    Ok(reply)
}

fn is_kw(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

/// `HANOI.DEFINE key [ENABLED|DISABLED] [PERCENTAGE pct] [VARIANTS count name
/// [name ...] [WEIGHTS w [w ...]]] [SALT salt]`
pub fn define(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 2, usize::MAX)?;
        let opts: Vec<&[u8]> = slices(&args[2..]).collect();
        let def = parse_definition(&opts, &limits(ctx)).map_err(core_err)?;
        let key = ctx.open_key_writable(&args[1]);
        let changed = match key.get_value::<Flag>(&HANOI_TYPE) {
            Err(_) => return Err(RedisError::WrongType),
            Ok(Some(flag)) => flag.set_definition(def, &limits(ctx)).map_err(core_err)?,
            Ok(None) => {
                let flag = Flag::new(def, &limits(ctx)).map_err(core_err)?;
                key.set_value(&HANOI_TYPE, flag)?;
                stats::FLAGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                true
            }
        };
        if changed {
            ctx.replicate_verbatim();
            ctx.notify_keyspace_event(NotifyEvent::MODULE, "hanoi.define", &args[1]);
        }
        Ok(RedisValue::SimpleStringStatic("OK"))
    })
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
pub fn register(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 4, usize::MAX)?;
        let what = target(&args[2])?;
        let ids = items(ctx, &args[3..])?;
        write_flag(ctx, &args, "hanoi.register", |flag| match what {
            Target::User => Ok(count(flag.add_users(slices(ids)))),
            Target::Regex => {
                let n = flag
                    .add_regexes(slices(ids), &limits(ctx))
                    .map_err(core_err)?;
                stats::add(&stats::REGEX_COMPILATIONS, u64::from(n > 0));
                Ok(count(n))
            }
        })
    })
}

/// `HANOI.UNREGISTER key USER id [id ...]` | `HANOI.UNREGISTER key REGEX pattern [pattern ...]`
pub fn unregister(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 4, usize::MAX)?;
        let what = target(&args[2])?;
        let ids = items(ctx, &args[3..])?;
        write_flag(ctx, &args, "hanoi.unregister", |flag| {
            Ok(count(match what {
                Target::User => flag.remove_users(slices(ids)),
                Target::Regex => flag.remove_regexes(slices(ids)),
            }))
        })
    })
}

/// `HANOI.BLOCK key id [id ...]`
pub fn block(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 3, usize::MAX)?;
        let ids = items(ctx, &args[2..])?;
        write_flag(ctx, &args, "hanoi.block", |flag| {
            Ok(count(flag.block(slices(ids))))
        })
    })
}

/// `HANOI.UNBLOCK key id [id ...]`
pub fn unblock(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 3, usize::MAX)?;
        let ids = items(ctx, &args[2..])?;
        write_flag(ctx, &args, "hanoi.unblock", |flag| {
            Ok(count(flag.unblock(slices(ids))))
        })
    })
}

fn switch(ctx: &Context, args: &[RedisString], on: bool) -> RedisResult {
    arity(args, 2, 2)?;
    let event = if on { "hanoi.enable" } else { "hanoi.disable" };
    write_flag(ctx, args, event, |flag| {
        Ok((RedisValue::SimpleStringStatic("OK"), flag.set_enabled(on)))
    })
}

/// `HANOI.ENABLE key`
pub fn enable(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| switch(ctx, &args, true))
}

/// `HANOI.DISABLE key`
pub fn disable(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| switch(ctx, &args, false))
}

/// `HANOI.TOGGLE key` → the new state, 1 or 0.
pub fn toggle(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 2, 2)?;
        write_flag(ctx, &args, "hanoi.toggle", |flag| {
            Ok((RedisValue::Integer(i64::from(flag.toggle())), true))
        })
    })
}

/// `HANOI.PERCENTAGE key pct`
pub fn percentage(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 3, 3)?;
        let pct = parse_percentage(args[2].as_slice()).map_err(core_err)?;
        write_flag(ctx, &args, "hanoi.percentage", |flag| {
            let changed = flag.set_percentage(pct).map_err(core_err)?;
            Ok((RedisValue::SimpleStringStatic("OK"), changed))
        })
    })
}

fn bool_reply(b: bool) -> RedisValue {
    RedisValue::Integer(i64::from(b))
}

fn bulk_or_nil(v: Option<&[u8]>) -> RedisValue {
    v.map_or(RedisValue::Null, |v| RedisValue::StringBuffer(v.to_vec()))
}

/// `HANOI.EXPLAIN key id` → [enabled, variant, reason, detail].
pub fn explain(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 3, 3)?;
        let key = ctx.open_key(&args[1]);
        let e = read_flag(&key)?.map_or(hanoi_core::Explanation::UNDEFINED, |f| {
            f.explain(args[2].as_slice())
        });
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
    })
}

/// `HANOI.GET key` → the definition as a map (a flat array under RESP2).
pub fn get(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
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
                        .iter()
                        .map(|p| RedisValue::BulkString(p.clone())),
                ),
            ),
        ];
        let map: BTreeMap<RedisValueKey, RedisValue> = fields
            .into_iter()
            .map(|(k, v)| (RedisValueKey::String(k.to_owned()), v))
            .collect();
        Ok(RedisValue::OrderedMap(map))
    })
}

/// `HANOI.EXPORT key` → the flag in `hanoi_core::codec`'s byte form, or nil:
/// what an in-process `Rollout` loads with `codec::from_bytes`.
pub fn export(ctx: &Context, args: Vec<RedisString>) -> RedisResult {
    guarded(|| {
        arity(&args, 2, 2)?;
        let key = ctx.open_key(&args[1]);
        Ok(read_flag(&key)?.map_or(RedisValue::Null, |f| {
            RedisValue::StringBuffer(hanoi_core::codec::to_bytes(f))
        }))
    })
}
