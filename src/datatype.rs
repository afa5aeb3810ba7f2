//! The `hanoiflag` data type: one Redis key holds one [`Flag`].
//!
//! RDB encoding version 1 (`ENCODING_VERSION`):
//! ```text
//! unsigned  bits: 1 = enabled, 2 = weights follow the variants, 4 = salt present
//! unsigned  percentage (0..=100)
//! [string   salt]
//! unsigned  variant count, then each name (string), then [each weight (unsigned)]
//! unsigned  regex count, then each pattern (string)
//! id set    registered ids
//! id set    blocked ids
//! id set:   unsigned id count, unsigned total chunk bytes, unsigned chunk
//!           count, then each chunk (string),
//!           a chunk being `varint length ++ bytes` per id (IdSet::for_each_chunk)
//! ```
//! A newer version than this module knows is refused with a log line.

use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use hanoi_core::{Definition, Error, Flag, IdSet};
use redis_module::native_types::RedisType;
use redis_module::raw;

/// The type name `TYPE` shows (exactly 9 characters).
pub const TYPE_NAME: &str = "hanoiflag";
pub const ENCODING_VERSION: i32 = 1;
/// Bytes of ids per RDB string.
const CHUNK_BYTES: usize = 64 * 1024;
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

const BIT_ENABLED: u64 = 1;
const BIT_WEIGHTS: u64 = 2;
const BIT_SALT: u64 = 4;

// ----- RDB -----

fn save_ids(rdb: *mut raw::RedisModuleIO, ids: &IdSet) {
    let mut chunks = Vec::new();
    ids.for_each_chunk(CHUNK_BYTES, |c| chunks.push(c.to_vec()));
    raw::save_unsigned(rdb, ids.len() as u64);
    raw::save_unsigned(rdb, chunks.iter().map(|c| c.len() as u64).sum());
    raw::save_unsigned(rdb, chunks.len() as u64);
    for c in &chunks {
        raw::save_slice(rdb, c);
    }
}

unsafe extern "C" fn rdb_save(rdb: *mut raw::RedisModuleIO, value: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let flag = &*value.cast::<Flag>();
        let d = flag.definition();
        let bits = if d.enabled { BIT_ENABLED } else { 0 }
            | if d.weights.is_some() { BIT_WEIGHTS } else { 0 }
            | if d.salt.is_some() { BIT_SALT } else { 0 };
        raw::save_unsigned(rdb, bits);
        raw::save_unsigned(rdb, u64::from(d.percentage));
        if let Some(salt) = &d.salt {
            raw::save_slice(rdb, salt);
        }
        raw::save_unsigned(rdb, d.variants.len() as u64);
        for v in &d.variants {
            raw::save_slice(rdb, v);
        }
        for w in d.weights.iter().flatten() {
            raw::save_unsigned(rdb, u64::from(*w));
        }
        raw::save_unsigned(rdb, flag.patterns().len() as u64);
        for p in flag.patterns() {
            raw::save_slice(rdb, p.as_bytes());
        }
        save_ids(rdb, flag.users());
        save_ids(rdb, flag.blocked());
    }));
}

/// Why a load failed; logged, then the load returns NULL.
enum LoadError {
    Io,
    Data(Error),
}

impl From<redis_module::error::Error> for LoadError {
    fn from(_: redis_module::error::Error) -> Self {
        LoadError::Io
    }
}

impl From<Error> for LoadError {
    fn from(e: Error) -> Self {
        LoadError::Data(e)
    }
}

fn load_u64(rdb: *mut raw::RedisModuleIO) -> Result<u64, LoadError> {
    Ok(raw::load_unsigned(rdb)?)
}

fn load_bytes(rdb: *mut raw::RedisModuleIO) -> Result<Vec<u8>, LoadError> {
    Ok(raw::load_string_buffer(rdb)?.as_ref().to_vec())
}

fn load_ids(rdb: *mut raw::RedisModuleIO) -> Result<IdSet, LoadError> {
    let n = load_u64(rdb)?;
    let bytes = load_u64(rdb)?;
    let chunks = load_u64(rdb)?;
    // Sized up front (bounded, in case the numbers are corrupt).
    let cap = |v: u64, max: u64| usize::try_from(v.min(max)).unwrap_or(0);
    let mut ids = IdSet::with_capacity(cap(n, 1 << 26), cap(bytes, 1 << 31));
    let mut seen = 0u64;
    for _ in 0..chunks {
        let chunk = raw::load_string_buffer(rdb)?;
        seen += ids.extend_from_chunk(chunk.as_ref())? as u64;
    }
    if seen != n || ids.len() as u64 != n {
        return Err(Error::Corrupt.into());
    }
    Ok(ids)
}

fn load_flag(rdb: *mut raw::RedisModuleIO) -> Result<Flag, LoadError> {
    let bits = load_u64(rdb)?;
    let percentage = u8::try_from(load_u64(rdb)?).map_err(|_| Error::Corrupt)?;
    let salt = if bits & BIT_SALT != 0 {
        Some(load_bytes(rdb)?)
    } else {
        None
    };
    let n = load_u64(rdb)?;
    let mut variants = Vec::new();
    for _ in 0..n {
        variants.push(load_bytes(rdb)?);
    }
    let weights = if bits & BIT_WEIGHTS != 0 {
        let mut w = Vec::new();
        for _ in 0..n {
            w.push(u32::try_from(load_u64(rdb)?).map_err(|_| Error::Corrupt)?);
        }
        Some(w)
    } else {
        None
    };
    let n = load_u64(rdb)?;
    let mut patterns = Vec::new();
    for _ in 0..n {
        patterns.push(String::from_utf8(load_bytes(rdb)?).map_err(|_| Error::Corrupt)?);
    }
    let users = load_ids(rdb)?;
    let blocked = load_ids(rdb)?;
    let def = Definition {
        enabled: bits & BIT_ENABLED != 0,
        percentage,
        variants,
        weights,
        salt,
    };
    Ok(Flag::from_parts(def, users, blocked, patterns)?)
}

fn log_io_error(rdb: *mut raw::RedisModuleIO, msg: &str) {
    let Ok(msg) = CString::new(msg) else { return };
    if let Some(log) = unsafe { raw::RedisModule_LogIOError } {
        unsafe { log(rdb, c"warning".as_ptr(), c"%s".as_ptr(), msg.as_ptr()) };
    }
}

unsafe extern "C" fn rdb_load(rdb: *mut raw::RedisModuleIO, encver: c_int) -> *mut c_void {
    if encver > ENCODING_VERSION || encver < 1 {
        log_io_error(
            rdb,
            &format!(
                "hanoi: cannot load a {TYPE_NAME} value of encoding version {encver}: this module reads versions 1 to {ENCODING_VERSION}; upgrade the module"
            ),
        );
        return ptr::null_mut();
    }
    let result = catch_unwind(AssertUnwindSafe(|| load_flag(rdb)));
    match result {
        Ok(Ok(flag)) => Box::into_raw(Box::new(flag)).cast::<c_void>(),
        Ok(Err(LoadError::Io)) => {
            log_io_error(rdb, "hanoi: short read while loading a flag");
            ptr::null_mut()
        }
        Ok(Err(LoadError::Data(e))) => {
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
    let (Some(create), Some(free_string), Some(emit_aof)) = (
        unsafe { raw::RedisModule_CreateString },
        unsafe { raw::RedisModule_FreeString },
        unsafe { raw::RedisModule_EmitAOF },
    ) else {
        return;
    };
    let mut strings: Vec<*mut raw::RedisModuleString> = args
        .iter()
        .map(|a| unsafe { create(ptr::null_mut(), a.as_ptr().cast::<c_char>(), a.len()) })
        .collect();
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

/// The arguments of the `HANOI.DEFINE` that recreates `def`.
pub fn define_args(def: &Definition) -> Vec<Vec<u8>> {
    let mut a: Vec<Vec<u8>> = vec![
        if def.enabled {
            b"ENABLED".to_vec()
        } else {
            b"DISABLED".to_vec()
        },
        b"PERCENTAGE".to_vec(),
        def.percentage.to_string().into_bytes(),
    ];
    if !def.variants.is_empty() {
        a.push(b"VARIANTS".to_vec());
        a.push(def.variants.len().to_string().into_bytes());
        a.extend(def.variants.iter().cloned());
        if let Some(w) = &def.weights {
            a.push(b"WEIGHTS".to_vec());
            a.extend(w.iter().map(|w| w.to_string().into_bytes()));
        }
    }
    if let Some(salt) = &def.salt {
        a.push(b"SALT".to_vec());
        a.push(salt.clone());
    }
    a
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

unsafe extern "C" fn aof_rewrite(
    aof: *mut raw::RedisModuleIO,
    key: *mut raw::RedisModuleString,
    value: *mut c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let flag = &*value.cast::<Flag>();
        let define = define_args(flag.definition());
        let define: Vec<&[u8]> = define.iter().map(Vec::as_slice).collect();
        emit(aof, key, &CString::from(c"HANOI.DEFINE"), &define);
        let register = CString::from(c"HANOI.REGISTER");
        if !flag.patterns().is_empty() {
            let mut args: Vec<&[u8]> = vec![b"REGEX"];
            args.extend(flag.patterns().iter().map(|p| p.as_bytes()));
            emit(aof, key, &register, &args);
        }
        emit_ids(aof, key, &register, &[b"USER"], flag.users());
        emit_ids(
            aof,
            key,
            &CString::from(c"HANOI.BLOCK"),
            &[],
            flag.blocked(),
        );
    }));
}

// ----- the rest -----

unsafe extern "C" fn free(value: *mut c_void) {
    if !value.is_null() {
        drop(Box::from_raw(value.cast::<Flag>()));
    }
}

unsafe extern "C" fn copy(
    _from: *mut raw::RedisModuleString,
    _to: *mut raw::RedisModuleString,
    value: *const c_void,
) -> *mut c_void {
    let flag = &*value.cast::<Flag>();
    match catch_unwind(AssertUnwindSafe(|| flag.clone())) {
        Ok(f) => Box::into_raw(Box::new(f)).cast::<c_void>(),
        Err(_) => ptr::null_mut(),
    }
}

unsafe extern "C" fn mem_usage(value: *const c_void) -> usize {
    let flag = &*value.cast::<Flag>();
    std::mem::size_of::<Flag>() + flag.heap_size()
}

unsafe extern "C" fn digest(md: *mut raw::RedisModuleDigest, value: *mut c_void) {
    let (Some(add_str), Some(add_int), Some(end)) = (
        raw::RedisModule_DigestAddStringBuffer,
        raw::RedisModule_DigestAddLongLong,
        raw::RedisModule_DigestEndSequence,
    ) else {
        return;
    };
    let flag = &*value.cast::<Flag>();
    let add = |b: &[u8]| add_str(md, b.as_ptr().cast_mut().cast(), b.len());
    // The definition and the regexes: ordered.
    for a in define_args(flag.definition()) {
        add(&a);
    }
    for p in flag.patterns() {
        add(p.as_bytes());
    }
    end(md);
    // The id sets: unordered, one sequence per id.
    for (tag, ids) in [(b"u", flag.users()), (b"b", flag.blocked())] {
        add(tag);
        add_int(md, ids.len() as i64);
        end(md);
        for id in ids.iter() {
            add(tag);
            add(id);
            end(md);
        }
    }
}
