//! hanoi: feature flags evaluated inside Redis.
//!
//! This crate is the glue between Redis and `hanoi-core`: the `hanoiflag`
//! data type (persistence callbacks in [`datatype`]) and one function per
//! command (in [`commands`]). No rule logic lives here.

use std::sync::atomic::{AtomicI64, Ordering};

use redis_module::configuration::ConfigurationFlags;
use redis_module::{raw, redis_module, Context, ContextFlags, RedisString, Status};

pub mod commands;
pub mod datatype;
mod docs;
mod fast;
mod stats;

use datatype::HANOI_TYPE;

/// Module options (`CONFIG SET hanoi.<name>`, or `loadmodule ... name value`).
pub static REGEX_SIZE_LIMIT: AtomicI64 = AtomicI64::new(1 << 20);
pub static MAX_REGEXES: AtomicI64 = AtomicI64::new(64);
pub static MAX_VARIANTS: AtomicI64 = AtomicI64::new(256);
pub static MAX_IDS_PER_COMMAND: AtomicI64 = AtomicI64::new(100_000);

/// Writes replayed from the AOF or streamed from a primary were accepted
/// once already: a limit lowered since must not refuse them (that would lose
/// the flag's data on a restart or on a replica).
fn trusted(ctx: &Context) -> bool {
    ctx.get_flags()
        .intersects(ContextFlags::LOADING | ContextFlags::REPLICATED)
}

fn option(a: &AtomicI64) -> usize {
    usize::try_from(a.load(Ordering::Relaxed)).unwrap_or(0)
}

/// The limits in force for this command, for the core.
pub fn limits(ctx: &Context) -> hanoi_core::Limits {
    if trusted(ctx) {
        return hanoi_core::Limits {
            regex_size_limit: 1 << 30,
            max_regexes: usize::MAX,
            max_variants: usize::MAX,
        };
    }
    hanoi_core::Limits {
        regex_size_limit: option(&REGEX_SIZE_LIMIT),
        max_regexes: option(&MAX_REGEXES),
        max_variants: option(&MAX_VARIANTS),
    }
}

/// The most ids (or patterns) one REGISTER/UNREGISTER/BLOCK/UNBLOCK may carry.
pub fn max_ids_per_command(ctx: &Context) -> usize {
    if trusted(ctx) {
        usize::MAX
    } else {
        option(&MAX_IDS_PER_COMMAND)
    }
}

fn init(ctx: &Context, _args: &[RedisString]) -> Status {
    // A corrupt RESTORE payload or RDB must give an error, not a crash.
    ctx.set_module_options(redis_module::ModuleOptions::HANDLE_IO_ERRORS);
    // Replaces the default INFO callback the macro registered before init.
    raw::register_info_function(ctx.get_raw(), Some(stats::info));
    if fast::register(ctx) == Status::Err {
        return Status::Err;
    }
    docs::register(ctx);
    Status::Ok
}

redis_module! {
    name: "hanoi",
    version: 1_00_00,
    allocator: (redis_module::alloc::RedisAlloc, redis_module::alloc::RedisAlloc),
    data_types: [HANOI_TYPE],
    init: init,
    commands: [
        ["hanoi.define", commands::define, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.register", commands::register, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.unregister", commands::unregister, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.block", commands::block, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.unblock", commands::unblock, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.enable", commands::enable, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.disable", commands::disable, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.toggle", commands::toggle, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.percentage", commands::percentage, "write deny-oom", 1, 1, 1, ""],
        ["hanoi.explain", commands::explain, "readonly fast", 1, 1, 1, ""],
        ["hanoi.get", commands::get, "readonly", 1, 1, 1, ""],
        ["hanoi.export", commands::export, "readonly", 1, 1, 1, ""],
    ],
    configurations: [
        i64: [
            ["regex-size-limit", &REGEX_SIZE_LIMIT, 1 << 20, 1024, 1 << 30, ConfigurationFlags::DEFAULT, None],
            ["max-regexes", &MAX_REGEXES, 64, 1, 100_000, ConfigurationFlags::DEFAULT, None],
            ["max-variants", &MAX_VARIANTS, 256, 1, 65_536, ConfigurationFlags::DEFAULT, None],
            ["max-ids-per-command", &MAX_IDS_PER_COMMAND, 100_000, 1000, 10_000_000, ConfigurationFlags::DEFAULT, None],
        ],
        string: [],
        bool: [],
        enum: [],
        module_args_as_configuration: true,
    ]
}
