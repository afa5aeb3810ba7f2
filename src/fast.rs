//! The hot read commands (`HANOI.ENABLED`, `HANOI.VARIANT`,
//! `HANOI.MENABLED`) on the raw module API: no argument vector, no string
//! retains, no reply tree. Same rules (the core's), same replies as the rest.

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use hanoi_core::Flag;
use redis_module::raw::{self, RedisModuleCtx, RedisModuleKey, RedisModuleString};
use redis_module::{Context, Status};

use crate::datatype::HANOI_TYPE;
use crate::stats;

type Argv = *mut *mut RedisModuleString;

enum Failure {
    WrongArity,
    WrongType,
}

fn bytes<'a>(s: *mut RedisModuleString) -> &'a [u8] {
    let mut len = 0;
    let p = raw::string_ptr_len(s, &mut len);
    if p.is_null() {
        return &[];
    }
    // SAFETY: Redis keeps the argument alive for the whole command call.
    unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }
}

/// A key opened for reading, closed on drop.
struct ReadKey(*mut RedisModuleKey);

impl ReadKey {
    fn open(ctx: *mut RedisModuleCtx, name: *mut RedisModuleString) -> ReadKey {
        ReadKey(raw::open_key(ctx, name, raw::KeyMode::READ))
    }

    /// The flag, `None` for a missing key, `WrongType` for another type.
    fn flag(&self) -> Result<Option<&Flag>, Failure> {
        if self.0.is_null() {
            return Ok(None);
        }
        // SAFETY: a key opened by Redis; the value of a key of our type is a Flag.
        unsafe {
            match raw::RedisModule_KeyType.map(|f| f(self.0)) {
                Some(t) if t == raw::REDISMODULE_KEYTYPE_EMPTY as c_int => Ok(None),
                Some(t) if t == raw::REDISMODULE_KEYTYPE_MODULE as c_int => {
                    let ty = raw::RedisModule_ModuleTypeGetType.map(|f| f(self.0));
                    if ty != Some(*HANOI_TYPE.raw_type.borrow()) {
                        return Err(Failure::WrongType);
                    }
                    let v = raw::RedisModule_ModuleTypeGetValue
                        .map_or(std::ptr::null_mut(), |f| f(self.0));
                    Ok(v.cast::<Flag>().as_ref())
                }
                _ => Err(Failure::WrongType),
            }
        }
    }
}

impl Drop for ReadKey {
    fn drop(&mut self) {
        if let (false, Some(close)) = (self.0.is_null(), unsafe { raw::RedisModule_CloseKey }) {
            unsafe { close(self.0) };
        }
    }
}

/// Runs a command body that replies itself; failures and panics become
/// error replies.
fn run(ctx: *mut RedisModuleCtx, body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    let result = catch_unwind(AssertUnwindSafe(body));
    if !matches!(result, Ok(Ok(()))) {
        stats::add(&stats::ERRORS, 1);
    }
    let error: &CStr = match result {
        Ok(Ok(())) => return raw::Status::Ok as c_int,
        Ok(Err(Failure::WrongArity)) => {
            if let Some(f) = unsafe { raw::RedisModule_WrongArity } {
                return unsafe { f(ctx) };
            }
            c"ERR wrong number of arguments"
        }
        Ok(Err(Failure::WrongType)) => {
            CStr::from_bytes_with_nul(raw::REDISMODULE_ERRORMSG_WRONGTYPE).unwrap_or(c"WRONGTYPE")
        }
        Err(_) => c"ERR internal error in hanoi",
    };
    raw::reply_with_error(ctx, error.as_ptr());
    raw::Status::Ok as c_int
}

fn args<'a>(argv: Argv, argc: c_int) -> &'a [*mut RedisModuleString] {
    match usize::try_from(argc) {
        // SAFETY: Redis passes argc valid arguments.
        Ok(n) if !argv.is_null() => unsafe { std::slice::from_raw_parts(argv, n) },
        _ => &[],
    }
}

/// `HANOI.ENABLED key [id]` → 1 or 0; a missing flag is 0.
extern "C" fn enabled(ctx: *mut RedisModuleCtx, argv: Argv, argc: c_int) -> c_int {
    run(ctx, || {
        let a = args(argv, argc);
        let (&[_, key] | &[_, key, _]) = a else {
            return Err(Failure::WrongArity);
        };
        let id = a.get(2).map(|&s| bytes(s));
        let key = ReadKey::open(ctx, key);
        let on = key.flag()?.is_some_and(|f| f.is_enabled(id));
        stats::evaluated(on);
        raw::reply_with_long_long(ctx, i64::from(on));
        Ok(())
    })
}

/// `HANOI.VARIANT key id` → the variant, or nil.
extern "C" fn variant(ctx: *mut RedisModuleCtx, argv: Argv, argc: c_int) -> c_int {
    run(ctx, || {
        let &[_, key, id] = args(argv, argc) else {
            return Err(Failure::WrongArity);
        };
        let key = ReadKey::open(ctx, key);
        let v = key.flag()?.and_then(|f| f.variant(bytes(id)));
        stats::evaluated(v.is_some());
        match v {
            Some(v) => {
                stats::add(&stats::VARIANT_ANSWERS, 1);
                raw::reply_with_string_buffer(ctx, v.as_ptr().cast(), v.len())
            }
            None => raw::reply_with_null(ctx),
        };
        Ok(())
    })
}

/// `HANOI.MENABLED id key [key ...]` → one 1/0 per key.
extern "C" fn menabled(ctx: *mut RedisModuleCtx, argv: Argv, argc: c_int) -> c_int {
    run(ctx, || {
        let a = args(argv, argc);
        let [_, id, keys @ ..] = a else {
            return Err(Failure::WrongArity);
        };
        if keys.is_empty() {
            return Err(Failure::WrongArity);
        }
        let id = bytes(*id);
        // Every key is checked before the reply starts: a wrong type fails
        // the whole command.
        let mut answers = Vec::with_capacity(keys.len());
        for &k in keys {
            let key = ReadKey::open(ctx, k);
            let on = key.flag()?.is_some_and(|f| f.is_enabled(Some(id)));
            stats::evaluated(on);
            answers.push(on);
        }
        raw::reply_with_array(ctx, answers.len() as _);
        for on in answers {
            raw::reply_with_long_long(ctx, i64::from(on));
        }
        Ok(())
    })
}

type Handler = extern "C" fn(*mut RedisModuleCtx, Argv, c_int) -> c_int;

/// Name, handler, flags, first key, last key, key step.
const COMMANDS: &[(&CStr, Handler, &CStr, c_int, c_int, c_int)] = &[
    (c"hanoi.enabled", enabled, c"readonly fast", 1, 1, 1),
    (c"hanoi.variant", variant, c"readonly fast", 1, 1, 1),
    (c"hanoi.menabled", menabled, c"readonly fast", 2, -1, 1),
];

/// Registers the commands above (called from the module's init).
pub fn register(ctx: &Context) -> Status {
    let Some(create) = (unsafe { raw::RedisModule_CreateCommand }) else {
        return Status::Err;
    };
    for &(name, handler, flags, first, last, step) in COMMANDS {
        // SAFETY: Handler has the C signature Redis calls.
        let func: raw::RedisModuleCmdFunc = Some(unsafe {
            std::mem::transmute::<
                Handler,
                unsafe extern "C" fn(*mut RedisModuleCtx, Argv, c_int) -> c_int,
            >(handler)
        });
        let rc = unsafe {
            create(
                ctx.get_raw(),
                name.as_ptr(),
                func,
                flags.as_ptr(),
                first,
                last,
                step,
            )
        };
        if rc != raw::Status::Ok as c_int {
            ctx.log_warning(&format!(
                "hanoi: cannot register {}",
                name.to_string_lossy()
            ));
            return Status::Err;
        }
    }
    Status::Ok
}
