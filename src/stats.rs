//! Counters behind the `INFO hanoi` section.

use std::ffi::{c_int, CStr, CString};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use redis_module::raw;

/// Flag values alive in memory (every database).
pub static FLAGS: AtomicI64 = AtomicI64::new(0);
/// Flag evaluations (one per key of HANOI.ENABLED, VARIANT, EXPLAIN, MENABLED).
pub static EVALUATIONS: AtomicU64 = AtomicU64::new(0);
/// Evaluations that answered enabled.
pub static ENABLED_ANSWERS: AtomicU64 = AtomicU64::new(0);
/// Variants handed out (non-nil HANOI.VARIANT and EXPLAIN answers).
pub static VARIANT_ANSWERS: AtomicU64 = AtomicU64::new(0);
/// Error replies of HANOI commands.
pub static ERRORS: AtomicU64 = AtomicU64::new(0);
/// Regex sets compiled (registrations that added patterns, loads with patterns).
pub static REGEX_COMPILATIONS: AtomicU64 = AtomicU64::new(0);

#[inline]
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// `counter += n` from a command: commands run one at a time (under the
/// server's lock), so a load and a store do, without the locked
/// read-modify-write of [`add`] (a full barrier, on every evaluation).
#[inline]
pub fn add_serialized(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Counts `n` evaluations, `enabled` of them answered enabled (from a command).
#[inline]
pub fn evaluated(n: u64, enabled: u64) {
    add_serialized(&EVALUATIONS, n);
    add_serialized(&ENABLED_ANSWERS, enabled);
}

/// The INFO callback: one section named after the module (`INFO hanoi`).
pub extern "C" fn info(ctx: *mut raw::RedisModuleInfoCtx, _for_crash_report: c_int) {
    // SAFETY: reading function pointers the API filled in at load.
    let (Some(section), Some(add_u64), Some(add_str)) = (unsafe {
        (
            raw::RedisModule_InfoAddSection,
            raw::RedisModule_InfoAddFieldULongLong,
            raw::RedisModule_InfoAddFieldCString,
        )
    }) else {
        return;
    };
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let fields: [(&CStr, u64); 6] = [
        (c"flags", FLAGS.load(Ordering::Relaxed).max(0) as u64),
        (c"evaluations", get(&EVALUATIONS)),
        (c"enabled_answers", get(&ENABLED_ANSWERS)),
        (c"variant_answers", get(&VARIANT_ANSWERS)),
        (c"errors", get(&ERRORS)),
        (c"regex_compilations", get(&REGEX_COMPILATIONS)),
    ];
    let version = CString::new(env!("CARGO_PKG_VERSION")).unwrap_or_default();
    // SAFETY: `ctx` is the INFO context Redis passed; every name and value
    // is a NUL-terminated string alive for the call.
    unsafe {
        // An empty name: the section is called after the module, `hanoi`.
        section(ctx, c"".as_ptr());
        add_str(ctx, c"version".as_ptr(), version.as_ptr());
        for (name, v) in fields {
            add_u64(ctx, name.as_ptr(), v);
        }
    }
}
