//! hanoi: feature flags evaluated inside Redis.
//!
//! This crate is the glue between Redis and `hanoi-core`: the `hanoiflag`
//! data type (persistence callbacks in [`datatype`]), one function per
//! command (in [`commands`]), each command described once (in [`command`]),
//! and the one guard they all run in ([`guard`]). No rule logic lives here.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use hanoi_core::Limits;
use redis_module::configuration::ConfigurationFlags;
use redis_module::{redis_module, Context, ContextFlags, ModuleOptions, RedisString, Status};

mod clock;
pub mod command;
pub mod commands;
pub mod datatype;
pub mod guard;
mod stats;

#[cfg(test)]
mod tests {
    #[test]
    fn the_module_version_is_the_crate_version() {
        let v: Vec<i32> = env!("CARGO_PKG_VERSION")
            .split('.')
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(super::VERSION, v[0] * 10_000 + v[1] * 100 + v[2]);
    }
}

use datatype::HANOI_TYPE;

/// Unit tests run outside Redis: `redis_module!` installs Redis's allocator,
/// which aborts there, so tests use the system's (as RedisJSON does).
#[cfg(not(test))]
macro_rules! allocator {
    () => {
        redis_module::alloc::RedisAlloc
    };
}
#[cfg(test)]
macro_rules! allocator {
    () => {
        std::alloc::System
    };
}

const fn default(v: usize) -> i64 {
    v as i64
}

/// Module options (`CONFIG SET hanoi.<name>`, or `loadmodule ... name value`);
/// their defaults are the core's [`Limits::DEFAULT`].
pub static REGEX_SIZE_LIMIT: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.regex_size_limit));
pub static MAX_REGEXES: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_regexes));
pub static MAX_VARIANTS: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_variants));
pub static MAX_IDS_PER_COMMAND: AtomicI64 =
    AtomicI64::new(default(Limits::DEFAULT.max_ids_per_command));
pub static MAX_META_FIELDS: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_meta_fields));
pub static MAX_META_VALUE_BYTES: AtomicI64 =
    AtomicI64::new(default(Limits::DEFAULT.max_meta_value_bytes));
pub static HISTORY_LENGTH: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.history_length));
pub static MAX_RULES: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_rules));
pub static MAX_CONDITIONS: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_conditions));
pub static MAX_IN_VALUES: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_in_values));
pub static MAX_VALUE_BYTES: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_value_bytes));
pub static MAX_REGEX_WORK: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_regex_work));
pub static MAX_ID_BYTES: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_id_bytes));
pub static MAX_PREREQS: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_prereqs));
pub static MAX_EXPOSURES: AtomicI64 = AtomicI64::new(default(Limits::DEFAULT.max_exposures));
/// Whether evaluations are counted per flag (`HANOI.STATS`).
pub static COUNT_EVALUATIONS: AtomicBool = AtomicBool::new(true);

/// Are evaluations counted per flag?
#[inline]
pub fn counting() -> bool {
    COUNT_EVALUATIONS.load(Ordering::Relaxed)
}

/// Writes replayed from the AOF or streamed from a primary were accepted
/// once already: they are held to [`Limits::STORED`], not to today's options.
pub fn trusted(ctx: &Context) -> bool {
    ctx.get_flags()
        .intersects(ContextFlags::LOADING | ContextFlags::REPLICATED)
}

fn option(a: &AtomicI64) -> usize {
    usize::try_from(a.load(Ordering::Relaxed)).unwrap_or(0)
}

/// The limits in force for this command, for the core.
pub fn limits(ctx: &Context) -> Limits {
    if trusted(ctx) {
        return Limits::STORED;
    }
    Limits {
        regex_size_limit: option(&REGEX_SIZE_LIMIT),
        max_regexes: option(&MAX_REGEXES),
        max_variants: option(&MAX_VARIANTS),
        max_ids_per_command: option(&MAX_IDS_PER_COMMAND),
        max_meta_fields: option(&MAX_META_FIELDS),
        max_meta_value_bytes: option(&MAX_META_VALUE_BYTES),
        history_length: option(&HISTORY_LENGTH),
        max_rules: option(&MAX_RULES),
        max_conditions: option(&MAX_CONDITIONS),
        max_in_values: option(&MAX_IN_VALUES),
        max_value_bytes: option(&MAX_VALUE_BYTES),
        max_regex_work: option(&MAX_REGEX_WORK),
        max_id_bytes: option(&MAX_ID_BYTES),
        max_prereqs: option(&MAX_PREREQS),
        max_exposures: option(&MAX_EXPOSURES),
        stored: false,
    }
}

/// `CARGO_PKG_VERSION` as Redis wants a module's version (`MODULE LIST`):
/// major * 10000 + minor * 100 + patch, so `MODULE LIST` and `INFO hanoi`
/// say the same.
pub const VERSION: i32 = {
    let v = env!("CARGO_PKG_VERSION").as_bytes();
    let (mut parts, mut part, mut i) = ([0i32; 3], 0, 0);
    while i < v.len() && part < 3 {
        match v[i] {
            b'.' => part += 1,
            b'0'..=b'9' => parts[part] = parts[part] * 10 + (v[i] - b'0') as i32,
            _ => break,
        }
        i += 1;
    }
    parts[0] * 10_000 + parts[1] * 100 + parts[2]
};

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    // A corrupt RESTORE payload or RDB gives an error, not a crash; and a key
    // is signalled modified only when a write changed it (commands.rs).
    // Flags are self-contained values with no global index, so a replica
    // may load its primary's RDB beside the data it still serves
    // (`repl-diskless-load swapdb`).
    ctx.set_module_options(
        ModuleOptions::HANDLE_IO_ERRORS
            | ModuleOptions::NO_IMPLICIT_SIGNAL_MODIFIED
            | ModuleOptions::HANDLE_REPL_ASYNC_LOAD,
    );
    // The type exists by now (`redis_module!` creates it before init).
    datatype::remember_raw_type();
    guard::install_panic_hook();
    clock::start(ctx);
    // Replaces the default INFO callback the macro registered before init.
    redis_module::raw::register_info_function(ctx.get_raw(), Some(stats::info));
    command::register(ctx)
}

redis_module! {
    name: "hanoi",
    version: VERSION,
    allocator: (allocator!(), allocator!()),
    data_types: [HANOI_TYPE],
    init: init,
    commands: [],
    configurations: [
        i64: [
            ["regex-size-limit", &REGEX_SIZE_LIMIT, default(Limits::DEFAULT.regex_size_limit), 1024, 1 << 30, ConfigurationFlags::DEFAULT, None],
            ["max-regexes", &MAX_REGEXES, default(Limits::DEFAULT.max_regexes), 1, 100_000, ConfigurationFlags::DEFAULT, None],
            ["max-variants", &MAX_VARIANTS, default(Limits::DEFAULT.max_variants), 1, 65_536, ConfigurationFlags::DEFAULT, None],
            ["max-ids-per-command", &MAX_IDS_PER_COMMAND, default(Limits::DEFAULT.max_ids_per_command), 1000, 10_000_000, ConfigurationFlags::DEFAULT, None],
            ["max-meta-fields", &MAX_META_FIELDS, default(Limits::DEFAULT.max_meta_fields), 1, 10_000, ConfigurationFlags::DEFAULT, None],
            ["max-meta-value-bytes", &MAX_META_VALUE_BYTES, default(Limits::DEFAULT.max_meta_value_bytes), 16, 1 << 20, ConfigurationFlags::DEFAULT, None],
            ["history-length", &HISTORY_LENGTH, default(Limits::DEFAULT.history_length), 0, 10_000, ConfigurationFlags::DEFAULT, None],
            ["max-rules", &MAX_RULES, default(Limits::DEFAULT.max_rules), 1, 10_000, ConfigurationFlags::DEFAULT, None],
            ["max-conditions", &MAX_CONDITIONS, default(Limits::DEFAULT.max_conditions), 1, 1_000, ConfigurationFlags::DEFAULT, None],
            ["max-in-values", &MAX_IN_VALUES, default(Limits::DEFAULT.max_in_values), 1, 1_000_000, ConfigurationFlags::DEFAULT, None],
            ["max-value-bytes", &MAX_VALUE_BYTES, default(Limits::DEFAULT.max_value_bytes), 16, 1 << 26, ConfigurationFlags::DEFAULT, None],
            ["max-regex-work", &MAX_REGEX_WORK, default(Limits::DEFAULT.max_regex_work), 1024, 1 << 20, ConfigurationFlags::DEFAULT, None],
            ["max-id-bytes", &MAX_ID_BYTES, default(Limits::DEFAULT.max_id_bytes), 16, 16_384, ConfigurationFlags::DEFAULT, None],
            ["max-prereqs", &MAX_PREREQS, default(Limits::DEFAULT.max_prereqs), 1, 64, ConfigurationFlags::DEFAULT, None],
            ["max-exposures", &MAX_EXPOSURES, default(Limits::DEFAULT.max_exposures), 0, 1_000_000_000, ConfigurationFlags::DEFAULT, None],
        ],
        string: [],
        bool: [
            ["count-evaluations", &COUNT_EVALUATIONS, true, ConfigurationFlags::DEFAULT, None],
        ],
        enum: [],
        module_args_as_configuration: true,
    ]
}
