//! The one guard every command runs in (both the raw hot reads and the
//! `Context` commands), and [`Call`], a command's view of its arguments.
//!
//! On an internal bug (a panic):
//! - a **read** replies `ERR internal error in hanoi (see the server log)`
//!   and logs the panic with its location; nothing was changed;
//! - a **write** logs the panic with its location and aborts the server, as
//!   Redis does on its own internal errors: a write stopped half-way may have
//!   changed the flag without replicating or persisting it, and a primary that
//!   silently differs from its replicas and its AOF is worse than a restart
//!   (which reloads the last consistent state).
//!
//! Every error reply of a HANOI command is counted here (`INFO hanoi`).

use std::cell::RefCell;
use std::ffi::c_int;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

use redis_module::raw::{self, RedisModuleCtx, RedisModuleString};
use redis_module::{Context, RedisError, RedisString, RedisValue};

use hanoi_core::observe::Stamp;

use crate::stats;

/// What a handler returns: the reply to send, or `RedisValue::NoReply` when
/// it replied itself (the raw hot reads).
pub type CmdResult = Result<RedisValue, RedisError>;

/// A command's context and arguments, valid for the call only: the `'a`
/// lifetime ties every argument slice to it.
pub struct Call<'a> {
    ctx: *mut RedisModuleCtx,
    argv: &'a [*mut RedisModuleString],
    _call: PhantomData<&'a RedisModuleCtx>,
}

impl<'a> Call<'a> {
    /// # Safety
    /// `ctx`, `argv` and `argc` must be what Redis passed to a command
    /// callback, and the `Call` must not outlive that callback.
    pub unsafe fn new(
        ctx: *mut RedisModuleCtx,
        argv: *mut *mut RedisModuleString,
        argc: c_int,
    ) -> Self {
        let argv = match usize::try_from(argc) {
            // SAFETY: Redis passes `argc` valid argument pointers in `argv`,
            // alive for the whole call (the caller's contract).
            Ok(n) if !argv.is_null() => unsafe { std::slice::from_raw_parts(argv.cast_const(), n) },
            _ => &[],
        };
        Call {
            ctx,
            argv,
            _call: PhantomData,
        }
    }

    pub fn raw_ctx(&self) -> *mut RedisModuleCtx {
        self.ctx
    }

    /// How many arguments, the command name included.
    pub fn argc(&self) -> usize {
        self.argv.len()
    }

    /// The raw argument `i`, for the raw API (opening keys).
    pub fn raw_arg(&self, i: usize) -> Option<*mut RedisModuleString> {
        self.argv.get(i).copied()
    }

    /// The bytes of argument `i`, borrowed for the call.
    pub fn arg(&self, i: usize) -> Option<&'a [u8]> {
        let s = *self.argv.get(i)?;
        let mut len = 0;
        let p = raw::string_ptr_len(s, &mut len);
        if p.is_null() {
            return Some(&[]);
        }
        // SAFETY: `s` is an argument of this call; Redis keeps its buffer
        // (`len` bytes at `p`) alive and unchanged until the call returns,
        // which `'a` cannot outlive.
        Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
    }

    /// redis-module's `Context`, for commands written on it.
    pub fn context(&self) -> Context {
        Context::new(self.ctx)
    }

    /// The arguments as `RedisString`s (allocates; not for the hot reads).
    pub fn strings(&self) -> Vec<RedisString> {
        redis_module::decode_args(
            self.ctx,
            self.argv.as_ptr().cast_mut(),
            self.argv.len() as c_int,
        )
    }
}

/// Where a write's history stamp comes from.
pub enum Origin {
    /// A client sent it: this server stamps it (unless it is loading the
    /// AOF or applying its primary's stream without a stamp: then no entry).
    Client,
    /// `HANOI.REPLAY`: the primary's stamp, kept as it is.
    Replayed(Stamp),
}

/// A write as it runs: the context, its arguments (name, key, the rest),
/// and where its stamp comes from.
pub struct Write<'a> {
    pub ctx: Context,
    pub args: &'a [RedisString],
    pub origin: Origin,
}

/// What a command does to its keys; gives its flags and ACL categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Reads.
    Read,
    /// Reads in O(1)-ish time: flag `fast`, category `@fast`.
    FastRead,
    /// Writes that cannot grow memory: allowed at `maxmemory`, so a kill
    /// switch (DISABLE, TOGGLE, PERCENTAGE, UNREGISTER, UNBLOCK) always works.
    Write,
    /// Writes that can grow memory: refused with OOM at `maxmemory`.
    GrowingWrite,
    /// Writes and reads behind one name (`HANOI.EXPERIMENT key START|STOP`
    /// writes, `RESULTS|EXPOSURES` reads): no `write` flag, so the reads
    /// work on a read-only replica; the command itself refuses its writes
    /// there (READONLY) and, when they grow memory, at `maxmemory` (OOM).
    /// Category `@write`: it does write.
    Mixed,
}

impl Kind {
    pub const fn writes(self) -> bool {
        matches!(self, Kind::Write | Kind::GrowingWrite | Kind::Mixed)
    }

    /// The command flags of `RedisModule_CreateCommand`.
    pub const fn flags(self) -> &'static str {
        match self {
            Kind::Read => "readonly",
            Kind::FastRead => "readonly fast",
            Kind::Write => "write",
            Kind::GrowingWrite => "write deny-oom",
            Kind::Mixed => "",
        }
    }

    /// The server's ACL categories (the module's own `hanoi` comes on top).
    pub const fn acl_categories(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::FastRead => "read fast",
            Kind::Write | Kind::GrowingWrite => "write",
            Kind::Mixed => "write slow",
        }
    }
}

/// What runs a command.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Reads, and the internal commands: the call as it came.
    Call(fn(&Call) -> CmdResult),
    /// A write a primary stamps and replicas replay (`HANOI.REPLAY`) with
    /// the primary's stamp.
    Write(fn(&Write) -> CmdResult),
}

thread_local! {
    /// The last panic's message and location, set by the hook below.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keeps each panic's message and location for the guard to log (instead of
/// printing it to the server's stderr). Called once at load.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string().replace('\n', " ");
        PANIC.with(|p| *p.borrow_mut() = Some(msg));
    }));
}

fn last_panic() -> String {
    PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// Logs an internal error and aborts the server (see the module docs).
pub fn crash(ctx: *mut RedisModuleCtx, what: &str) -> ! {
    let msg = format!("hanoi: internal error {what}: {}; stopping the server rather than let it diverge from its replicas and its AOF", last_panic());
    Context::new(ctx).log_warning(&msg);
    eprintln!("{msg}");
    std::process::abort()
}

/// Runs `handler` as the command `kind`, replies, counts errors, and deals
/// with panics as the module docs say.
///
/// # Safety
/// As [`Call::new`]: the arguments of a Redis command callback.
pub unsafe fn command(
    ctx: *mut RedisModuleCtx,
    argv: *mut *mut RedisModuleString,
    argc: c_int,
    kind: Kind,
    handler: Handler,
) -> c_int {
    // SAFETY: the caller passes a command callback's own arguments.
    let call = unsafe { Call::new(ctx, argv, argc) };
    let run = || match handler {
        Handler::Call(f) => f(&call),
        Handler::Write(f) => {
            let args = call.strings();
            f(&Write {
                ctx: call.context(),
                args: &args,
                origin: Origin::Client,
            })
        }
    };
    let result = match catch_unwind(AssertUnwindSafe(run)) {
        Ok(r) => r,
        Err(_) if kind.writes() => crash(ctx, "in a write command"),
        Err(_) => {
            Context::new(ctx).log_warning(&format!(
                "hanoi: internal error in a read command: {}",
                last_panic()
            ));
            Err(RedisError::Str(
                "ERR internal error in hanoi (see the server log)",
            ))
        }
    };
    if result.is_err() {
        stats::add(&stats::ERRORS, 1);
    }
    // The hot reads reply themselves (raw API) and return `NoReply`.
    if !matches!(result, Ok(RedisValue::NoReply)) {
        Context::new(ctx).reply(result);
    }
    raw::Status::Ok as c_int
}
