//! One function per command: parse, open the key, call the core, reply; for
//! writes that changed something, record who changed it (the history),
//! replicate it with that stamp, notify and signal the key as modified
//! (WATCH, client-side caching). A write checks everything
//! before it changes anything, so a refused write leaves the flag as it was.
//! The table in [`crate::command`] describes each command.

use std::cell::RefCell;
use std::ffi::c_int;
use std::ptr::NonNull;

use hanoi_core::experiment::ExposuresQuery;
use hanoi_core::observe::{Stamp, TallyCommand};
use hanoi_core::refs::Refs;
use hanoi_core::reply::{self, ExplainReply, IdsPage, Reply, ResolveReply, StatsReply};
use hanoi_core::rules::Attrs;
use hanoi_core::store;
use hanoi_core::{quote, Description, Error, Flag, Query};
use redis_module::key::RedisKey;
use redis_module::raw::{self, RedisModuleKey};
use redis_module::redisvalue::RedisValueKey;
use redis_module::{NotifyEvent, RedisError, RedisString, RedisValue};
use smallvec::SmallVec;

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
    match e {
        Error::WrongArity => RedisError::WrongArity,
        e => arg_err(e),
    }
}

fn arity(args: &[RedisString], min: usize, max: usize) -> Result<(), RedisError> {
    if args.len() < min || args.len() > max {
        Err(RedisError::WrongArity)
    } else {
        Ok(())
    }
}

fn is_kw(arg: &[u8], kw: &str) -> bool {
    arg.eq_ignore_ascii_case(kw.as_bytes())
}

fn slices(args: &[RedisString]) -> impl Iterator<Item = &[u8]> {
    args.iter().map(RedisString::as_slice)
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

/// Every HANOI write (`DEFINE`, `REGISTER`, `RULE`, ...): the core parses
/// its arguments ([`store::Write::parse`]) and applies it to the key's flag
/// with the store's rules ([`store::apply`]); a write that changed the flag
/// is recorded in its history, replicated with its stamp and notified as
/// `hanoi.<command>`.
pub fn write(w: &Write) -> CmdResult {
    let (ctx, args) = (&w.ctx, w.args);
    let [command, name, rest @ ..] = args else {
        return Err(RedisError::WrongArity);
    };
    let words: Vec<&[u8]> = slices(rest).collect();
    let limits = limits(ctx);
    let write = store::Write::parse(command.as_slice(), &words, &limits).map_err(core_err)?;
    let new = write.references();
    if !new.is_empty() && matches!(w.origin, Origin::Client) && !crate::trusted(ctx) {
        // Checked before the key is opened for writing: the written key is
        // never opened twice.
        check_references(ctx, name.as_slice(), &new)?;
    }
    let adds_regexes = matches!(write, store::Write::AddRegexes(_));
    let key = ctx.open_key_writable(name);
    let existing = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?;
    // The stamp (a clock read, the user, the client's name) is only taken
    // when the flag is created or changed. A new flag is created when its
    // stamp says (the primary's time on a replica or in the AOF; 0,
    // unknown, for an unstamped old AOF entry).
    let creating = existing.is_none();
    // An experiment's start or stop is timed too (issue 35): by the stamp,
    // so a replica and the AOF get the primary's time.
    let creation = (creating || write.timed()).then(|| stamp(w));
    let created_ms = creation
        .as_ref()
        .and_then(|s| s.as_ref())
        .map_or(0, |s| s.at_ms);
    let outcome = store::apply(existing, write, &limits, created_ms).map_err(core_err)?;
    let outcome_reply = outcome.reply();
    let reply = match outcome_reply {
        store::Reply::Ok => OK,
        store::Reply::Count(n) => RedisValue::Integer(n as i64),
        store::Reply::State(on) => bool_reply(on),
    };
    let stamp = match outcome {
        store::Outcome::Created(mut flag) => {
            flag.counters().reset(clock::now_exact());
            let stamp = creation.flatten();
            record(w, &mut flag, stamp.as_ref());
            key.set_value(&HANOI_TYPE, *flag)?;
            stats::FLAGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            stamp
        }
        store::Outcome::Done { changed: false, .. } => return Ok(reply),
        store::Outcome::Done { changed: true, .. } => {
            let flag = key
                .get_value::<Flag>(&HANOI_TYPE)
                .map_err(|_| RedisError::WrongType)?
                .ok_or(RedisError::Str("ERR no such flag"))?;
            let mut stamp = creation.unwrap_or_else(|| stamp(w));
            // At maxmemory only the writes that cannot grow a flag run (the
            // kill switch, UNREGISTER, UNBLOCK), and their history does not
            // grow either.
            if let (Some(s), Origin::Client) = (stamp.as_mut(), &w.origin) {
                if ctx.get_flags().contains(redis_module::ContextFlags::OOM) {
                    s.replacing_oldest(flag.history().len());
                }
            }
            record(w, flag, stamp.as_ref());
            stamp
        }
    };
    if let (true, store::Reply::Count(n)) = (adds_regexes, outcome_reply) {
        stats::add(&stats::REGEX_COMPILATIONS, n as u64);
    }
    let event = format!(
        "hanoi.{}",
        command
            .to_string_lossy()
            .to_ascii_lowercase()
            .trim_start_matches("hanoi.")
    );
    publish(w, &event, stamp.as_ref());
    Ok(reply)
}

/// The references a client's write adds: in a cluster each must hash to
/// the written key's slot; the user must be allowed to read each (so no one
/// reads a segment's membership through a flag of their own); then the
/// core's checks (their kinds, no cycle).
fn check_references(
    ctx: &redis_module::Context,
    key: &[u8],
    new: &hanoi_core::refs::NewReferences<'_>,
) -> Result<(), RedisError> {
    use hanoi_core::slot::{hash_tag, key_slot};
    if ctx
        .get_flags()
        .contains(redis_module::ContextFlags::CLUSTER)
    {
        let slot = key_slot(key);
        if let Some(other) = new.keys().find(|k| key_slot(k) != slot) {
            let tag = quote(hash_tag(key));
            return Err(arg_err(format_args!(
                "'{}' is in another cluster slot than '{}': a flag and what it references                  must share a slot; give them one hash tag, e.g. '{{{tag}}}:{}'",
                quote(other),
                quote(key),
                quote(other),
            )));
        }
    }
    let user = ctx.get_current_user();
    for k in new.keys() {
        let name = RedisString::create_from_slice(ctx.ctx, k);
        if ctx
            .acl_check_key_permission(&user, &name, &redis_module::AclPermissions::ACCESS)
            .is_err()
        {
            return Err(RedisError::String(format!(
                "NOPERM this user has no read permission on '{}', which the write references",
                quote(k).escape_default()
            )));
        }
    }
    let lookup = Keys::new(ctx.ctx, false);
    hanoi_core::refs::check_new_references(key, new, &lookup).map_err(core_err)
}

/// The flags under other keys, for references: each opened for reading
/// while the closure runs. Evaluations through a reference are counted on
/// the referenced flag (`HANOI.STATS`) when `count` is set.
struct Keys<'a> {
    ctx: *mut raw::RedisModuleCtx,
    count: bool,
    /// The key a command holds open for writing (`HANOI.ASSIGN`): never
    /// opened again while it is (a reference back to it, only possible in
    /// a cycle that arrived by RESTORE, is missing).
    writing: Option<&'a [u8]>,
}

impl Keys<'_> {
    fn new(ctx: *mut raw::RedisModuleCtx, count: bool) -> Keys<'static> {
        Keys {
            ctx,
            count,
            writing: None,
        }
    }
}

/// Referenced key names as Redis strings, made once and kept (commands run
/// on the main thread only), so a reference costs no string allocated and
/// freed per evaluation. Direct-mapped on where the name lives (a stored
/// flag's prerequisite or rule, which stays put between writes), each hit
/// checked against the kept string's bytes: a name moved or freed since is
/// only a miss. [`NAME_SLOTS`] strings at most.
struct Names(Vec<Option<(usize, NonNull<raw::RedisModuleString>)>>);

const NAME_SLOTS: usize = 1024;

impl Names {
    fn get(&mut self, key: &[u8]) -> Option<NonNull<raw::RedisModuleString>> {
        if self.0.is_empty() {
            self.0 = vec![None; NAME_SLOTS];
        }
        let at = key.as_ptr() as usize;
        let slot = &mut self.0[((at >> 3) ^ key.len()) % NAME_SLOTS];
        // SAFETY: strings this cache created with no context: retained
        // until freed here, once (an open key holds its own reference).
        unsafe {
            if let Some((where_, s)) = *slot {
                if where_ == at && string_bytes(s) == Some(key) {
                    return Some(s);
                }
                if let Some(free) = raw::RedisModule_FreeString {
                    free(std::ptr::null_mut(), s.as_ptr());
                }
                *slot = None;
            }
            let s = NonNull::new(raw::RedisModule_CreateString?(
                std::ptr::null_mut(),
                key.as_ptr().cast(),
                key.len(),
            ))?;
            *slot = Some((at, s));
            Some(s)
        }
    }
}

/// The bytes of a Redis string.
///
/// # Safety
/// `s` must be a live Redis string.
unsafe fn string_bytes<'a>(s: NonNull<raw::RedisModuleString>) -> Option<&'a [u8]> {
    let mut len = 0;
    // SAFETY: the caller's live string; its bytes live as long as it does.
    unsafe {
        let p = raw::RedisModule_StringPtrLen?(s.as_ptr(), &mut len);
        (!p.is_null()).then(|| std::slice::from_raw_parts(p.cast::<u8>(), len))
    }
}

/// [`Names`], reached from commands only, which Redis runs on its main
/// thread one at a time (a thread-local costs a `__tls_get_addr` call per
/// reference in a shared library).
struct MainThread(RefCell<Names>);

// SAFETY: only command handlers touch it, and Redis runs them on its main
// thread, one at a time.
unsafe impl Sync for MainThread {}

static NAMES: MainThread = MainThread(RefCell::new(Names(Vec::new())));

impl hanoi_core::refs::Lookup for Keys<'_> {
    fn with_flag(&self, key: &[u8], f: &mut dyn FnMut(Option<&Flag>)) {
        if self.writing == Some(key) {
            return f(None);
        }
        let Some(name) = NAMES.0.try_borrow_mut().ok().and_then(|mut n| n.get(key)) else {
            return f(None);
        };
        // Opened with the kept name (Redis takes its own reference while
        // the key is open) and closed before the next.
        let k = ReadKey(raw::open_key(self.ctx, name.as_ptr(), raw::KeyMode::READ));
        f(k.flag().ok().flatten());
    }

    fn evaluated(&self, flag: &Flag, on: bool, variant: Option<usize>) {
        if self.count {
            count_flag(Some(flag), on, variant);
        }
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
    // The write's own arguments: name, key, the rest.
    let mut inner: Vec<RedisString> = Vec::with_capacity(args.len() - 5);
    inner.push(args[6].clone());
    inner.push(args[1].clone());
    inner.extend(args[7..].iter().cloned());
    // Every hanoi write is `write`; the core refuses a name that is none.
    write(&Write {
        ctx,
        args: &inner,
        origin: Origin::Replayed(stamp),
    })
}

/// `HANOI.LOAD key bytes` | `HANOI.LOAD key USERS id [id ...]` |
/// `HANOI.LOAD key BLOCKED id [id ...]`: puts back a flag as the AOF rewrite
/// writes it: `HANOI.EXPORT`'s form without its ids (definition, regexes,
/// metadata, history, revision), then its ids in batches, added as they
/// were (no history entry, no new revision). Only from the AOF or a primary.
pub fn load(call: &Call) -> CmdResult {
    let ctx = call.context();
    if !crate::trusted(&ctx) {
        return Err(arg_err(
            "HANOI.LOAD only loads flags from the AOF or a primary",
        ));
    }
    let args = call.strings();
    arity(&args, 3, usize::MAX)?;
    let key = ctx.open_key_writable(&args[1]);
    let existing = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?;
    let what = args[2].as_slice();
    let users = what.eq_ignore_ascii_case(b"USERS");
    let exposures = what.eq_ignore_ascii_case(b"EXPOSURES");
    if exposures || what.eq_ignore_ascii_case(b"CONVERSIONS") {
        // Issue 35: a primary's ASSIGN or TRACK, or the AOF rewrite.
        let flag = store::existing(existing).map_err(core_err)?;
        let words: Vec<&[u8]> = slices(&args[3..]).collect();
        if exposures {
            flag.load_exposures(&words)
        } else {
            flag.load_conversions(&words)
        }
        .map_err(core_err)?;
    } else if users || what.eq_ignore_ascii_case(b"BLOCKED") {
        let flag = store::existing(existing).map_err(core_err)?;
        let ids = slices(&args[3..]);
        if users {
            flag.add_users(ids);
        } else {
            flag.block(ids);
        }
    } else {
        arity(&args, 3, 3)?;
        let flag = hanoi_core::codec::from_bytes_partial(what)
            .map_err(core_err)?
            .flag;
        flag.counters().reset(clock::now_exact());
        // A value it replaces is freed (and uncounted) by Redis.
        key.set_value(&HANOI_TYPE, flag)?;
        stats::FLAGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    ctx.replicate_verbatim();
    Ok(OK)
}

// ----- experiments (issue 35) -----

/// `HANOI.EXPERIMENT key START [CONTROL arm] METRICS count metric ...
/// [RESET]` | `key STOP` (writes: the core parses and applies them as every
/// hanoi write, recorded, replicated with their stamp) | `key RESULTS` |
/// `key EXPOSURES cursor [COUNT n]` (reads). The command carries no `write`
/// flag so that its reads work on a read-only replica: its writes refuse
/// themselves there, and START at `maxmemory`, as Redis would.
pub fn experiment(call: &Call) -> CmdResult {
    let sub = call.arg(2).ok_or(RedisError::WrongArity)?;
    if is_kw(sub, "RESULTS") {
        return results(call);
    }
    if is_kw(sub, "EXPOSURES") {
        return exposures(call);
    }
    let ctx = call.context();
    if !crate::trusted(&ctx) {
        let flags = ctx.get_flags();
        if flags.contains(redis_module::ContextFlags::READONLY)
            && flags.contains(redis_module::ContextFlags::SLAVE)
        {
            return Err(RedisError::Str(
                "READONLY You can't write against a read only replica.",
            ));
        }
        if is_kw(sub, "START") && flags.contains(redis_module::ContextFlags::OOM) {
            return Err(RedisError::Str(
                "OOM command not allowed when used memory > 'maxmemory'.",
            ));
        }
    }
    let args = call.strings();
    write(&Write {
        ctx,
        args: &args,
        origin: Origin::Client,
    })
}

/// `HANOI.EXPERIMENT key RESULTS` → one map per arm (arm, control,
/// exposures, metrics: [metric, converted, sum, sum of squares] each); nil
/// for a missing flag or one without an experiment.
fn results(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, 3)?;
    let key = ctx.open_key(&args[1]);
    Ok(match read_flag(&key)?.and_then(Flag::experiment) {
        None => RedisValue::Null,
        Some(e) => resp(reply::encode_results(&reply::ArmResult::all_of(e))),
    })
}

/// `HANOI.EXPERIMENT key EXPOSURES cursor [COUNT n]` → [next cursor,
/// [[id, arm, time], ...]], in the order they were made (a missing flag
/// or experiment: `0` and none).
fn exposures(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 4, 6)?;
    let words: Vec<&[u8]> = slices(&args[3..]).collect();
    let q = ExposuresQuery::parse(&words).map_err(core_err)?;
    let key = ctx.open_key(&args[1]);
    let page = match read_flag(&key)?.and_then(Flag::experiment) {
        None => reply::ExposuresPage {
            cursor: 0,
            exposures: Vec::new(),
        },
        Some(e) => {
            let (cursor, rows) = e.page(&q).map_err(core_err)?;
            reply::ExposuresPage {
                cursor,
                exposures: rows
                    .into_iter()
                    .map(|(id, arm, t)| (id.to_vec(), arm.to_vec(), t))
                    .collect(),
            }
        }
    };
    Ok(resp(page.encode()))
}

/// `HANOI.ASSIGN key id [WITH attr value ...]` → `HANOI.RESOLVE`'s reply.
/// While the flag's experiment runs, the id's first exposure is recorded
/// when the random split answered it, and replicated as itself
/// (`HANOI.LOAD key EXPOSURES id arm time`): a replica and the AOF never
/// evaluate it again. Past `hanoi.max-exposures` a new exposure is refused
/// (`ERR`, nothing recorded). No history entry, no new revision, no
/// keyspace event: the answer the id gets does not change.
pub fn assign(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, usize::MAX)?;
    let limits = limits(&ctx);
    let id = args[2].as_slice();
    if id.len() > limits.max_id_bytes {
        return Err(core_err(Error::IdTooLong {
            len: id.len(),
            limit: limits.max_id_bytes,
        }));
    }
    let mut pairs = Pairs::new();
    call_pairs(call, 3, &mut pairs)?;
    let attrs = attrs(&pairs)?;
    let key = ctx.open_key_writable(&args[1]);
    let Some(flag) = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?
    else {
        evaluated(None, false, None);
        return Ok(resp(
            ResolveReply::of(&hanoi_core::Resolution::UNDEFINED).encode(),
        ));
    };
    let keys = Keys {
        writing: Some(args[1].as_slice()),
        ..Keys::new(call.raw_ctx(), true)
    };
    let refs = Refs::new(&keys);
    let q = query(Some(flag), attrs).with_refs(&refs);
    let assigned = flag
        .assign(id, &q, clock::now_exact(), limits.max_exposures)
        .map_err(core_err)?;
    let r = flag.resolve_with(id, &q);
    let index = r
        .explanation
        .variant
        .and_then(|v| flag.definition().variants.iter().position(|x| x == v));
    evaluated(Some(flag), r.explanation.enabled, index);
    let reply = resp(ResolveReply::of(&r).encode());
    if let Some(a) = assigned {
        let at = a.at_ms.to_string();
        ctx.replicate(
            "HANOI.LOAD",
            &[args[1].as_slice(), b"EXPOSURES", id, &a.arm, at.as_bytes()][..],
        );
    }
    Ok(reply)
}

/// `HANOI.TRACK key id metric [value]` → 1 when recorded (an exposed id,
/// a metric of the running experiment), else 0. What it recorded is
/// replicated as itself: `HANOI.LOAD key CONVERSIONS id metric total`.
pub fn track(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 4, 5)?;
    let value = match args.get(4) {
        None => 1,
        Some(v) => hanoi_core::experiment::parse_value(v.as_slice()).map_err(core_err)?,
    };
    let key = ctx.open_key_writable(&args[1]);
    let Some(flag) = key
        .get_value::<Flag>(&HANOI_TYPE)
        .map_err(|_| RedisError::WrongType)?
    else {
        return Ok(RedisValue::Integer(0));
    };
    let (id, metric) = (args[2].as_slice(), args[3].as_slice());
    let Some(total) = flag.track(id, metric, value).map_err(core_err)? else {
        return Ok(RedisValue::Integer(0));
    };
    let total = total.to_string();
    ctx.replicate(
        "HANOI.LOAD",
        &[
            args[1].as_slice(),
            b"CONVERSIONS",
            id,
            metric,
            total.as_bytes(),
        ][..],
    );
    Ok(RedisValue::Integer(1))
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
    Query {
        attrs,
        now_ms,
        ..Query::default()
    }
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

/// The hot reads' preamble: opens key 1 for reading, takes `WITH` pairs
/// from argument 3, and runs `f` on the flag (`None`: missing) and the
/// query, while the key is open.
#[inline]
fn on_flag<R>(
    call: &Call,
    f: impl FnOnce(Option<&Flag>, &Query<'_>) -> R,
) -> Result<R, RedisError> {
    let key = ReadKey::open(call, 1);
    let flag = key.flag()?;
    let mut pairs = Pairs::new();
    call_pairs(call, 3, &mut pairs)?;
    let keys = Keys::new(call.raw_ctx(), true);
    let refs = Refs::new(&keys);
    let q = query(flag, attrs(&pairs)?).with_refs(&refs);
    Ok(f(flag, &q))
}

/// Replies a bulk string, or nil.
#[inline]
fn reply_bulk_or_nil(call: &Call, v: Option<&[u8]>) {
    match v {
        Some(v) => raw::reply_with_string_buffer(call.raw_ctx(), v.as_ptr().cast(), v.len()),
        None => raw::reply_with_null(call.raw_ctx()),
    };
}

/// `HANOI.ENABLED key [id [WITH attr value ...]]` → 1 or 0; a missing flag is 0.
pub fn enabled(call: &Call) -> CmdResult {
    if call.argc() < 2 {
        return Err(RedisError::WrongArity);
    }
    on_flag(call, |flag, q| {
        let on = store::enabled_with(flag, call.arg(2), q);
        evaluated(flag, on, None);
        reply_int(call, on);
    })?;
    Ok(RedisValue::NoReply)
}

/// `HANOI.VARIANT key id [WITH attr value ...]` → the variant, or nil.
pub fn variant(call: &Call) -> CmdResult {
    let (true, Some(id)) = (call.argc() >= 3, call.arg(2)) else {
        return Err(RedisError::WrongArity);
    };
    on_flag(call, |flag, q| {
        // On or off, and the variant served (the DEFAULT one when off).
        let (on, index) = flag.map_or((false, None), |f| f.served(Some(id), q));
        let v = index.and_then(|i| flag?.definition().variants.get(i).map(Vec::as_slice));
        evaluated(flag, on, index);
        stats::add_serialized(&stats::VARIANT_ANSWERS, u64::from(v.is_some()));
        reply_bulk_or_nil(call, v);
    })?;
    Ok(RedisValue::NoReply)
}

/// `HANOI.VALUE key [id [WITH attr value ...]]` → the JSON text served, or
/// nil (no variant served, or no flag).
pub fn value(call: &Call) -> CmdResult {
    if call.argc() < 2 {
        return Err(RedisError::WrongArity);
    }
    on_flag(call, |flag, q| {
        let (on, index, text) = flag.map_or((false, None, None), |f| f.value_with(call.arg(2), q));
        evaluated(flag, on, index);
        stats::add_serialized(&stats::VARIANT_ANSWERS, u64::from(index.is_some()));
        reply_bulk_or_nil(call, text.as_deref());
    })?;
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
    let keys = Keys::new(call.raw_ctx(), true);
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
        let refs = Refs::new(&keys);
        let q = query(flag, attrs).with_refs(&refs);
        let on = store::enabled_shared(flag, Some(id), &q, &unsalted);
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

/// `HANOI.EXPLAIN key id [WITH attr value ...]` → [enabled, variant,
/// reason, detail, effective percentage].
pub fn explain(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, usize::MAX)?;
    let key = ctx.open_key(&args[1]);
    let flag = read_flag(&key)?;
    let mut pairs = Pairs::new();
    call_pairs(call, 3, &mut pairs)?;
    let keys = Keys::new(call.raw_ctx(), true);
    let refs = Refs::new(&keys);
    let q = query(flag, attrs(&pairs)?).with_refs(&refs);
    let e = store::explain_with(flag, args[2].as_slice(), &q);
    let index = flag
        .zip(e.variant)
        .and_then(|(f, v)| f.definition().variants.iter().position(|x| x == v));
    evaluated(flag, e.enabled, index);
    stats::add_serialized(&stats::VARIANT_ANSWERS, u64::from(e.variant.is_some()));
    Ok(resp(ExplainReply::of(&e).encode()))
}

/// `HANOI.RESOLVE key id [WITH attr value ...]` → [enabled, variant, value
/// (JSON text), reason, detail, effective percentage, type]: what an
/// OpenFeature answer needs, in one evaluation.
pub fn resolve(call: &Call) -> CmdResult {
    resolve_counted(call, true)
}

/// `HANOI.PREVIEW key id [WITH attr value ...]` → `HANOI.RESOLVE`'s reply
/// from the same evaluation, never counted: neither `HANOI.STATS` (its
/// evaluations, last evaluated, variants) nor `INFO hanoi` move. For an
/// admin's try-it and a user's view, which are not traffic.
pub fn preview(call: &Call) -> CmdResult {
    resolve_counted(call, false)
}

fn resolve_counted(call: &Call, count: bool) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 3, usize::MAX)?;
    let key = ctx.open_key(&args[1]);
    let flag = read_flag(&key)?;
    let mut pairs = Pairs::new();
    call_pairs(call, 3, &mut pairs)?;
    let keys = Keys::new(call.raw_ctx(), count);
    let refs = Refs::new(&keys);
    let q = query(flag, attrs(&pairs)?).with_refs(&refs);
    let r = store::resolve_with(flag, args[2].as_slice(), &q);
    let e = &r.explanation;
    let index = flag
        .zip(e.variant)
        .and_then(|(f, v)| f.definition().variants.iter().position(|x| x == v));
    if count {
        evaluated(flag, e.enabled, index);
        stats::add_serialized(&stats::VARIANT_ANSWERS, u64::from(e.variant.is_some()));
    }
    Ok(resp(ResolveReply::of(&r).encode()))
}

/// `HANOI.GET key` → the flag's description (`hanoi_core::Description`) as
/// a map (a flat array under RESP2).
pub fn get(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 2)?;
    let key = ctx.open_key(&args[1]);
    let Some(flag) = read_flag(&key)? else {
        return Ok(RedisValue::Null);
    };
    let now = query(Some(flag), Attrs::default()).now_ms;
    Ok(resp(Description::of(flag, now).encode()))
}

/// A core [`Reply`] as Redis's: every structured reply (EXPLAIN, RESOLVE,
/// GET, STATS, HISTORY, IDS) is built by the core's encoder
/// (`hanoi_core::reply`) and turned into Redis's here, once.
fn resp(r: Reply) -> RedisValue {
    match r {
        Reply::Int(i) => RedisValue::Integer(i),
        Reply::Bulk(b) => RedisValue::StringBuffer(b),
        Reply::Simple(s) => RedisValue::SimpleString(s),
        Reply::Nil => RedisValue::Null,
        Reply::Array(a) => RedisValue::Array(a.into_iter().map(resp).collect()),
        Reply::Map(m) => RedisValue::OrderedMap(
            m.into_iter()
                .map(|(k, v)| (RedisValueKey::BulkString(k), resp(v)))
                .collect(),
        ),
    }
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
    Ok(resp(reply::encode_history(
        flag.history().newest().take(limit),
    )))
}

/// `HANOI.STATS key [SERIES]` → this server's counts for the flag: a map of
/// evaluations, enabled, variants (name → count), last_evaluated (Unix ms,
/// nil when never), since (Unix ms). Counts are per server and never
/// replicated; they are started again by `HANOI.TALLY key RESET`, a write
/// (a reader must not be able to hide a flag's use). A missing flag is nil.
pub fn stats(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 3)?;
    let series = match args.get(2) {
        None => false,
        Some(a) if is_kw(a.as_slice(), "SERIES") => true,
        Some(a) if is_kw(a.as_slice(), "RESET") => {
            return Err(arg_err(
                "RESET is a write: use HANOI.TALLY key RESET (HANOI.STATS is a read)",
            ))
        }
        Some(a) => {
            return Err(arg_err(format_args!(
                "expected SERIES, got '{}'",
                quote(a.as_slice())
            )))
        }
    };
    let key = ctx.open_key(&args[1]);
    let Some(flag) = read_flag(&key)? else {
        return Ok(RedisValue::Null);
    };
    if series {
        return Ok(resp(flag.counters().series(clock::now_exact()).encode()));
    }
    let counts = flag.counters().snapshot();
    Ok(resp(
        StatsReply::of(&counts, &flag.definition().variants).encode(),
    ))
}

/// `HANOI.TALLY key evaluations enabled [variant count ...]` → OK: adds
/// counts made elsewhere (an in-process mirror's evaluations of the flag) to
/// the flag's own (`HANOI.STATS`), and makes now its last evaluation's time.
/// The core parses and checks them ([`Tally::parse`]); a variant the flag
/// no longer has is left out. Like every count, per server and never
/// replicated; a read, so it works on a read-only replica. A missing flag is
/// nil (counts of a flag deleted meanwhile are dropped).
pub fn tally(call: &Call) -> CmdResult {
    let ctx = call.context();
    let max_variants = limits(&ctx).max_variants;
    // Bounded before anything is collected: a flag has at most
    // `max_variants` variants, so no more pairs than that.
    if call.argc().saturating_sub(4) / 2 > max_variants {
        return Err(core_err(Error::TooManyVariants {
            limit: max_variants,
        }));
    }
    let words: Vec<&[u8]> = (2..call.argc()).filter_map(|i| call.arg(i)).collect();
    let t = TallyCommand::parse(&words, max_variants).map_err(core_err)?;
    let args = call.strings();
    let key = ctx.open_key(&args[1]);
    let Some(flag) = read_flag(&key)? else {
        return Ok(RedisValue::Null);
    };
    match t {
        TallyCommand::Reset => flag.counters().reset(clock::now_exact()),
        TallyCommand::Add(t) if crate::counting() => {
            flag.tally(&t, clock::now_exact()).map_err(core_err)?
        }
        TallyCommand::Add(_) => {}
    }
    Ok(OK)
}

/// `HANOI.EXPORT key [NOIDS]` → the flag in `hanoi_core::codec`'s byte form
/// (magic, version, flag; ids in byte order), or nil: what an in-process
/// `Rollout` loads with `codec::from_bytes`. `NOIDS` keeps only the id
/// counts (`codec::from_bytes_partial` reads it): a description without
/// pulling every id.
/// `HANOI.IDS key USERS|BLOCKED cursor [MATCH pattern] [COUNT n]`: the next
/// cursor and a page of ids (a missing key: `0` and none, as SSCAN).
pub fn ids(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    let words: Vec<&[u8]> = args[2..].iter().map(|a| a.as_slice()).collect();
    let q = hanoi_core::ids::IdsQuery::parse(&words).map_err(core_err)?;
    let key = ctx.open_key(&args[1]);
    let (next, ids) = match read_flag(&key)? {
        Some(f) => q.run(f),
        None => (0, Vec::new()),
    };
    Ok(resp(
        IdsPage {
            cursor: next,
            ids: ids.into_iter().map(<[u8]>::to_vec).collect(),
        }
        .encode(),
    ))
}

pub fn export(call: &Call) -> CmdResult {
    let (ctx, args) = (call.context(), call.strings());
    arity(&args, 2, 3)?;
    let noids = match args.get(2) {
        None => false,
        Some(a) if is_kw(a.as_slice(), "NOIDS") => true,
        Some(a) => {
            return Err(arg_err(format_args!(
                "expected NOIDS, got '{}'",
                quote(a.as_slice())
            )))
        }
    };
    let key = ctx.open_key(&args[1]);
    Ok(read_flag(&key)?.map_or(RedisValue::Null, |f| {
        RedisValue::StringBuffer(if noids {
            hanoi_core::codec::to_bytes_without_ids(f)
        } else {
            hanoi_core::codec::to_bytes(f)
        })
    }))
}
