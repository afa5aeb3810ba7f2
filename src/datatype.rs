//! The `hanoiflag` data type: one Redis key holds one [`Flag`].
//!
//! RDB: encoding version `hanoi_core::codec::ENCODING_VERSION` (1), laid out
//! by `hanoi_core::codec` (see there), written and read through the RDB I/O.
//! A newer version than this module knows is refused with a log line.

use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use hanoi_core::codec::{self, Sink, Source, ENCODING_VERSION};
use hanoi_core::{definition_args, Error, Flag, IdSet};
use redis_module::native_types::RedisType;
use redis_module::raw;

use crate::{clock, guard, stats};

/// The type name `TYPE` shows (exactly 9 characters).
pub const TYPE_NAME: &str = "hanoiflag";
/// Ids per `HANOI.REGISTER`/`HANOI.BLOCK` in an AOF rewrite.
const AOF_BATCH: usize = 1000;

pub static HANOI_TYPE: RedisType = RedisType::new(
    TYPE_NAME,
    ENCODING_VERSION,
    raw::RedisModuleTypeMethods {
        version: raw::REDISMODULE_TYPE_METHOD_VERSION as u64,
        rdb_load: Some(rdb_load),
        rdb_save: Some(rdb_save),
        aof_rewrite: Some(aof_rewrite),
        free: Some(free),
        mem_usage: Some(mem_usage),
        digest: Some(digest),
        aux_load: None,
        aux_save: None,
        aux_save2: None,
        aux_save_triggers: 0,
        free_effort: None,
        unlink: None,
        copy: Some(copy),
        defrag: None,
        copy2: None,
        free_effort2: None,
        mem_usage2: None,
        unlink2: None,
    },
);

/// [`HANOI_TYPE`]'s Redis type, copied out of its `RefCell` at load
/// ([`remember_raw_type`]): the hot reads compare a pointer per key instead
/// of borrowing the cell.
static RAW_TYPE: AtomicPtr<raw::RedisModuleType> = AtomicPtr::new(ptr::null_mut());

/// Called from the module's init, after `redis_module!` created the type.
pub fn remember_raw_type() {
    RAW_TYPE.store(*HANOI_TYPE.raw_type.borrow(), Ordering::Relaxed);
}

/// Our type, as Redis knows it (null before the module's init).
#[inline]
pub fn raw_type() -> *mut raw::RedisModuleType {
    RAW_TYPE.load(Ordering::Relaxed)
}

// ----- RDB: the layout is hanoi_core::codec's -----

/// The RDB stream of one value, as the core codec's sink and source.
struct Rdb(*mut raw::RedisModuleIO);

impl Sink for Rdb {
    fn put_u64(&mut self, v: u64) {
        raw::save_unsigned(self.0, v);
    }
    fn put_bytes(&mut self, b: &[u8]) {
        raw::save_slice(self.0, b);
    }
}

impl Source for Rdb {
    type Buf = redis_module::RedisBuffer;
    fn get_u64(&mut self) -> Result<u64, Error> {
        raw::load_unsigned(self.0).map_err(|_| Error::ShortRead)
    }
    fn get_bytes(&mut self) -> Result<Self::Buf, Error> {
        raw::load_string_buffer(self.0).map_err(|_| Error::ShortRead)
    }
}

/// A panic while saving would leave a truncated value in the RDB (or DUMP)
/// that cannot load back: log it and stop instead. BGSAVE runs in a fork, so
/// there only the child stops, the save fails and the old RDB stays.
unsafe extern "C" fn rdb_save(rdb: *mut raw::RedisModuleIO, value: *mut c_void) {
    // SAFETY: Redis passes a value of this type: a Flag we boxed.
    let flag = unsafe { &*value.cast::<Flag>() };
    if catch_unwind(AssertUnwindSafe(|| codec::save(flag, &mut Rdb(rdb)))).is_err() {
        guard::crash(io_ctx(rdb), "while saving a flag (RDB, DUMP)");
    }
}

/// The context of an I/O callback, for logging.
fn io_ctx(io: *mut raw::RedisModuleIO) -> *mut raw::RedisModuleCtx {
    // SAFETY: an I/O handle Redis passed to a type callback.
    unsafe { raw::RedisModule_GetContextFromIO.map_or(ptr::null_mut(), |f| f(io)) }
}

fn log_io_error(rdb: *mut raw::RedisModuleIO, msg: &str) {
    let Ok(msg) = CString::new(msg) else { return };
    // SAFETY: a function pointer the API filled in at load.
    if let Some(log) = unsafe { raw::RedisModule_LogIOError } {
        // SAFETY: `rdb` is the I/O handle Redis passed; "%s" with one
        // NUL-terminated string that outlives the call.
        unsafe { log(rdb, c"warning".as_ptr(), c"%s".as_ptr(), msg.as_ptr()) };
    }
}

unsafe extern "C" fn rdb_load(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    if !(1..=ENCODING_VERSION).contains(&encver) {
        log_io_error(
            rdb,
            &format!(
                "hanoi: cannot load a {TYPE_NAME} value of encoding version {encver}: this module reads versions 1 to {ENCODING_VERSION}; upgrade the module"
            ),
        );
        return ptr::null_mut();
    }
    match catch_unwind(AssertUnwindSafe(|| codec::load(&mut Rdb(rdb), encver))) {
        Ok(Ok(flag)) => {
            flag.counters().reset(clock::now_exact());
            created(&flag);
            Box::into_raw(Box::new(flag)).cast::<c_void>()
        }
        Ok(Err(e)) => {
            log_io_error(rdb, &format!("hanoi: cannot load a flag: {e}"));
            ptr::null_mut()
        }
        Err(_) => {
            log_io_error(rdb, "hanoi: internal error while loading a flag");
            ptr::null_mut()
        }
    }
}

// ----- AOF rewrite -----

/// Emits `cmd key args...` into the rewritten AOF.
fn emit(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    cmd: &CString,
    args: &[&[u8]],
) {
    // SAFETY: reading function pointers the API filled in at load.
    let (Some(create), Some(free_string), Some(emit_aof)) = (unsafe {
        (
            raw::RedisModule_CreateString,
            raw::RedisModule_FreeString,
            raw::RedisModule_EmitAOF,
        )
    }) else {
        return;
    };
    let mut strings: Vec<*mut raw::RedisModuleString> = args
        .iter()
        // SAFETY: copies `a.len()` bytes of a live slice into a new string
        // (no context: freed below, by us).
        .map(|a| unsafe { create(ptr::null_mut(), a.as_ptr().cast::<c_char>(), a.len()) })
        .collect();
    // SAFETY: `aof` and `key` are what Redis passed to the rewrite callback;
    // "sv" is the key then a vector of `strings.len()` strings, all alive
    // during the call and freed once after it.
    unsafe {
        emit_aof(
            aof,
            cmd.as_ptr(),
            c"sv".as_ptr(),
            key,
            strings.as_mut_ptr(),
            strings.len(),
        );
        for s in strings {
            free_string(ptr::null_mut(), s);
        }
    }
}

fn emit_ids(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    cmd: &CString,
    prefix: &[&[u8]],
    ids: &IdSet,
) {
    let mut batch: Vec<&[u8]> = prefix.to_vec();
    for id in ids.iter() {
        batch.push(id);
        if batch.len() - prefix.len() == AOF_BATCH {
            emit(aof, key, cmd, &batch);
            batch.truncate(prefix.len());
        }
    }
    if batch.len() > prefix.len() {
        emit(aof, key, cmd, &batch);
    }
}

/// Like `rdb_save`: a panic half-way would leave a truncated flag in the
/// rewritten AOF, so it stops the rewrite (a forked child) instead.
unsafe extern "C" fn aof_rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    // SAFETY: Redis passes a value of this type: a Flag we boxed.
    let flag = unsafe { &*value.cast::<Flag>() };
    let written = catch_unwind(AssertUnwindSafe(|| {
        // Everything but the ids in one internal command (definition,
        // regexes, metadata, history and revision exactly as they are),
        // then the ids in batches, added as they were (no new revision).
        let head = codec::to_bytes_without_ids(flag);
        let load = CString::from(c"HANOI.LOAD");
        emit(aof, key, &load, &[&head]);
        emit_ids(aof, key, &load, &[b"USERS"], flag.users());
        emit_ids(aof, key, &load, &[b"BLOCKED"], flag.blocked());
        // Issue 35: the experiment's state came with the head; its
        // exposures (in the order made) and conversions follow as they are.
        if let Some(e) = flag.experiment() {
            let mut rows: Vec<(Vec<u8>, &[u8], String)> = Vec::new();
            let flush = |what: &[u8], rows: &mut Vec<(Vec<u8>, &[u8], String)>| {
                if rows.is_empty() {
                    return;
                }
                let mut args: Vec<&[u8]> = vec![what];
                for (a, b, c) in rows.iter() {
                    args.extend([a.as_slice(), *b, c.as_bytes()]);
                }
                emit(aof, key, &load, &args);
                rows.clear();
            };
            for (_, x) in e.exposures().iter() {
                rows.push((x.id.to_vec(), &e.arms()[x.arm], e.time_of(&x).to_string()));
                if rows.len() == AOF_BATCH {
                    flush(b"EXPOSURES", &mut rows);
                }
            }
            flush(b"EXPOSURES", &mut rows);
            for (id, metric, total) in e.conversion_rows() {
                rows.push((id.to_vec(), metric, total.to_string()));
                if rows.len() == AOF_BATCH {
                    flush(b"CONVERSIONS", &mut rows);
                }
            }
            flush(b"CONVERSIONS", &mut rows);
        }
    }));
    if written.is_err() {
        guard::crash(io_ctx(aof), "while rewriting the AOF");
    }
}

// ----- the rest -----

/// Counts a flag value that now lives in memory.
fn created(flag: &Flag) {
    stats::FLAGS.fetch_add(1, Ordering::Relaxed);
    stats::add(&stats::REGEX_COMPILATIONS, flag.patterns().len() as u64);
}

unsafe extern "C" fn free(value: *mut c_void) {
    if !value.is_null() {
        // SAFETY: Redis frees a value of this type once: a Flag we boxed.
        drop(unsafe { Box::from_raw(value.cast::<Flag>()) });
        stats::FLAGS.fetch_sub(1, Ordering::Relaxed);
    }
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    // SAFETY: Redis passes a value of this type: a Flag we boxed.
    let flag = unsafe { &*value.cast::<Flag>() };
    match catch_unwind(AssertUnwindSafe(|| flag.clone())) {
        Ok(f) => {
            f.counters().reset(clock::now_exact());
            created(&f);
            Box::into_raw(Box::new(f)).cast::<c_void>()
        }
        Err(_) => ptr::null_mut(),
    }
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    // SAFETY: Redis passes a value of this type: a Flag we boxed.
    let flag = unsafe { &*value.cast::<Flag>() };
    std::mem::size_of::<Flag>() + flag.heap_size()
}

/// `DEBUG DIGEST-VALUE`: every string goes in with its length before it, so
/// no two different flags run together into the same bytes.
unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    // SAFETY: reading function pointers the API filled in at load.
    let (Some(add_str), Some(add_int), Some(end)) = (unsafe {
        (
            raw::RedisModule_DigestAddStringBuffer,
            raw::RedisModule_DigestAddLongLong,
            raw::RedisModule_DigestEndSequence,
        )
    }) else {
        return;
    };
    // SAFETY: Redis passes a value of this type: a Flag we boxed.
    let flag = unsafe { &*value.cast::<Flag>() };
    let add = |b: &[u8]| {
        // SAFETY: `md` is the digest Redis passed; `b` is alive for the call.
        unsafe {
            add_int(md, b.len() as i64);
            add_str(md, b.as_ptr().cast_mut().cast(), b.len());
        }
    };
    // SAFETY: `md` is the digest Redis passed.
    let count = |n: usize| unsafe { add_int(md, n as i64) };
    // SAFETY: `md` is the digest Redis passed.
    let end = || unsafe { end(md) };
    // The definition and the regexes: ordered, each list with its length.
    let define = definition_args(flag.definition());
    count(define.len());
    for a in &define {
        add(a);
    }
    count(flag.patterns().len());
    for p in flag.patterns() {
        add(p.as_bytes());
    }
    // Metadata and history (not the counts: they are per server).
    let meta = flag.metadata();
    count(meta.created_ms as usize);
    count(meta.fields.len());
    for (k, v) in &meta.fields {
        add(k);
        add(v);
    }
    // Rules, in order, as written; the schedule.
    count(flag.rules().len());
    for r in flag.rules() {
        add(&r.name);
        let args = r.args();
        count(args.len());
        for a in &args {
            add(a);
        }
    }
    let sched = flag.schedule();
    match sched.window {
        Some((from, until)) => {
            count(1);
            count(from as usize);
            count(until as usize);
        }
        None => count(0),
    }
    match sched.ramp {
        Some(r) => {
            count(1);
            for v in [
                u64::from(r.from_pct),
                u64::from(r.to_pct),
                r.start_ms,
                r.end_ms,
            ] {
                count(v as usize);
            }
        }
        None => count(0),
    }
    count(flag.history().len());
    for e in flag.history().oldest() {
        count(e.at_ms as usize);
        add(&e.user);
        match &e.client {
            Some(c) => {
                count(1);
                add(c);
            }
            None => count(0),
        }
        count(e.args as usize);
        count(e.command.len());
        for w in &e.command {
            add(w);
        }
    }
    count(flag.revision() as usize);
    // The experiment (issue 35): its state, then its exposures in the
    // order made and its conversions.
    match flag.experiment() {
        None => count(0),
        Some(e) => {
            count(1);
            count(usize::from(e.running()));
            count(e.started_ms() as usize);
            count(e.stopped_ms() as usize);
            count(e.control());
            for names in [e.arms(), e.metrics()] {
                count(names.len());
                for n in names {
                    add(n);
                }
            }
            count(e.exposures().len());
            for (_, x) in e.exposures().iter() {
                add(x.id);
                count(x.arm);
                count(x.after_ms as usize);
            }
            for (id, metric, total) in e.conversion_rows() {
                add(id);
                add(metric);
                count(total as usize);
            }
        }
    }
    end();
    // The id sets: unordered, one sequence per id.
    for (tag, ids) in [(b"u", flag.users()), (b"b", flag.blocked())] {
        add(tag);
        count(ids.len());
        end();
        for id in ids.iter() {
            add(tag);
            add(id);
            end();
        }
    }
}
