//! Time and client identity for the module.
//!
//! Evaluations stamp a flag's "last evaluated" with [`now`]: a clock the
//! server's cron refreshes (`hz` times a second, 10 by default), so counting
//! costs a load of one number, not a system call per evaluation. Writes
//! stamp their history with [`now_exact`].

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

use redis_module::raw::{self, RedisModuleCtx, RedisModuleEvent};
use redis_module::{Context, RedisValue};

static NOW_MS: AtomicU64 = AtomicU64::new(0);

/// The server's time in Unix ms, as of its last cron tick.
#[inline]
pub fn now() -> u64 {
    NOW_MS.load(Ordering::Relaxed)
}

/// The server's time in Unix ms, now.
pub fn now_exact() -> u64 {
    // SAFETY: reading a function pointer the API filled in at load, and
    // calling it (it takes nothing and only reads the clock).
    let ms = unsafe { raw::RedisModule_Milliseconds.map_or(0, |f| f()) };
    u64::try_from(ms).unwrap_or(0)
}

unsafe extern "C" fn tick(
    _ctx: *mut RedisModuleCtx,
    _e: RedisModuleEvent,
    _sub: u64,
    _data: *mut c_void,
) {
    NOW_MS.store(now_exact(), Ordering::Relaxed);
}

/// Starts the clock (called once at load).
pub fn start(ctx: &Context) {
    NOW_MS.store(now_exact(), Ordering::Relaxed);
    let cron = RedisModuleEvent {
        id: raw::REDISMODULE_EVENT_CRON_LOOP,
        dataver: 1,
    };
    // SAFETY: subscribing during load with the module's context; `tick` has
    // the callback's C signature and touches only an atomic.
    let ok = unsafe {
        raw::RedisModule_SubscribeToServerEvent
            .is_some_and(|sub| sub(ctx.get_raw(), cron, Some(tick)) == raw::Status::Ok as i32)
    };
    if !ok {
        ctx.log_warning(
            "cannot subscribe to the cron event: HANOI.STATS shows no last evaluation time",
        );
    }
}

/// The calling client's name (`CLIENT SETNAME`), if it has one: from
/// `RedisModule_GetClientNameById` where the server has it (Redis 7.2+,
/// Valkey), else from `CLIENT LIST ID <id>` (Redis 7.0). Only writes ask.
pub fn client_name(ctx: &Context) -> Option<Vec<u8>> {
    // SAFETY: the API's function pointers, called with the command's context;
    // the returned string is ours to free.
    unsafe {
        let id = raw::RedisModule_GetClientId?(ctx.ctx);
        let Some(by_id) = raw::RedisModule_GetClientNameById else {
            return name_from_client_list(ctx, id);
        };
        let name = by_id(ctx.ctx, id);
        if name.is_null() {
            return None;
        }
        let mut len = 0;
        let p = raw::string_ptr_len(name, &mut len);
        let out = (!p.is_null() && len > 0)
            .then(|| std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec());
        if let Some(free) = raw::RedisModule_FreeString {
            free(ctx.ctx, name);
        }
        out
    }
}

/// `name=...` from the `CLIENT LIST ID <id>` line (names have no spaces).
fn name_from_client_list(ctx: &Context, id: u64) -> Option<Vec<u8>> {
    let id = id.to_string();
    let line = match ctx.call("CLIENT", &["LIST", "ID", id.as_str()][..]) {
        Ok(RedisValue::SimpleString(s)) => s.into_bytes(),
        Ok(RedisValue::BulkString(s)) => s.into_bytes(),
        Ok(RedisValue::StringBuffer(b)) => b,
        _ => return None,
    };
    parse_client_name(&line)
}

fn parse_client_name(line: &[u8]) -> Option<Vec<u8>> {
    let name = line
        .split(|&b| b == b' ' || b == b'\n' || b == b'\r')
        .find_map(|field| field.strip_prefix(b"name="))?;
    (!name.is_empty()).then(|| name.to_vec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_name_from_a_client_list_line() {
        let line =
            b"id=7 addr=127.0.0.1:5 laddr=127.0.0.1:6 fd=8 name=web:ana age=0 idle=0 flags=N\n";
        assert_eq!(super::parse_client_name(line), Some(b"web:ana".to_vec()));
        assert_eq!(super::parse_client_name(b"id=7 name= age=0"), None);
    }
}
