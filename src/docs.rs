//! Command docs for Redis 7 (`COMMAND DOCS`, `COMMAND INFO`, redis-cli
//! hints): summary, since, complexity, arity, key specs and arguments of
//! every HANOI command, registered with `RedisModule_SetCommandInfo`.
//! docs/commands/<name>.md has one page per command (a test keeps both in step).

use std::ffi::{c_int, CString};
use std::ptr;

use redis_module::{raw, Context};

const SINCE: &str = "0.1.0";

#[derive(Clone, Copy)]
enum Ty {
    Key,
    Str,
    Int,
    Token,
    OneOf,
    Block,
}

/// One argument: name, type, token, optional, multiple, sub-arguments.
#[derive(Clone, Copy)]
struct Arg {
    name: &'static str,
    ty: Ty,
    token: Option<&'static str>,
    optional: bool,
    multiple: bool,
    sub: &'static [Arg],
}

const fn arg(name: &'static str, ty: Ty) -> Arg {
    Arg {
        name,
        ty,
        token: None,
        optional: false,
        multiple: false,
        sub: &[],
    }
}
const fn many(a: Arg) -> Arg {
    Arg {
        multiple: true,
        ..a
    }
}
const fn opt(a: Arg) -> Arg {
    Arg {
        optional: true,
        ..a
    }
}
const fn tok(a: Arg, token: &'static str) -> Arg {
    Arg {
        token: Some(token),
        ..a
    }
}
const fn with(a: Arg, sub: &'static [Arg]) -> Arg {
    Arg { sub, ..a }
}

const KEY: Arg = arg("key", Ty::Key);
const ID: Arg = arg("id", Ty::Str);
const IDS: Arg = many(arg("id", Ty::Str));
const USER_OR_REGEX: Arg = with(
    arg("target", Ty::OneOf),
    &[
        with(tok(arg("user", Ty::Block), "USER"), &[IDS]),
        with(
            tok(arg("regex", Ty::Block), "REGEX"),
            &[many(arg("pattern", Ty::Str))],
        ),
    ],
);

/// Whether the command writes its keys.
#[derive(Clone, Copy, PartialEq)]
enum Access {
    Read,
    Write,
}

/// Name, summary, complexity, arity, access, first key index, args.
type Doc = (
    &'static str,
    &'static str,
    &'static str,
    c_int,
    Access,
    c_int,
    &'static [Arg],
);

const DOCS: &[Doc] = &[
    (
        "hanoi.define",
        "Creates a feature flag or replaces its definition; registrations stay",
        "O(V) with V the variants",
        -2,
        Access::Write,
        1,
        &[
            KEY,
            opt(with(
                arg("state", Ty::OneOf),
                &[
                    tok(arg("enabled", Ty::Token), "ENABLED"),
                    tok(arg("disabled", Ty::Token), "DISABLED"),
                ],
            )),
            opt(tok(arg("pct", Ty::Int), "PERCENTAGE")),
            opt(with(
                tok(arg("variants", Ty::Block), "VARIANTS"),
                &[
                    arg("count", Ty::Int),
                    many(arg("name", Ty::Str)),
                    opt(with(
                        tok(arg("weights", Ty::Block), "WEIGHTS"),
                        &[many(arg("weight", Ty::Int))],
                    )),
                ],
            )),
            opt(tok(arg("salt", Ty::Str), "SALT")),
        ],
    ),
    (
        "hanoi.register",
        "Enables a flag for ids (USER) or ids matching regexes (REGEX)",
        "O(N) ids; O(R) regex compilation",
        -4,
        Access::Write,
        1,
        &[KEY, USER_OR_REGEX],
    ),
    (
        "hanoi.unregister",
        "Removes ids (USER) or regexes (REGEX) from a flag",
        "O(N) ids; O(R) regex compilation",
        -4,
        Access::Write,
        1,
        &[KEY, USER_OR_REGEX],
    ),
    (
        "hanoi.block",
        "Adds ids to a flag's deny list",
        "O(N) with N the ids",
        -3,
        Access::Write,
        1,
        &[KEY, IDS],
    ),
    (
        "hanoi.unblock",
        "Removes ids from a flag's deny list",
        "O(N) with N the ids",
        -3,
        Access::Write,
        1,
        &[KEY, IDS],
    ),
    (
        "hanoi.enable",
        "Switches a flag on",
        "O(1)",
        2,
        Access::Write,
        1,
        &[KEY],
    ),
    (
        "hanoi.disable",
        "Switches a flag off (a kill switch)",
        "O(1)",
        2,
        Access::Write,
        1,
        &[KEY],
    ),
    (
        "hanoi.toggle",
        "Flips a flag's switch and returns the new state",
        "O(1)",
        2,
        Access::Write,
        1,
        &[KEY],
    ),
    (
        "hanoi.percentage",
        "Sets the percentage of ids a flag is on for",
        "O(1)",
        3,
        Access::Write,
        1,
        &[KEY, arg("pct", Ty::Int)],
    ),
    (
        "hanoi.enabled",
        "Is the flag on for the id? Without an id, the switch alone",
        "O(L) with L the id length",
        -2,
        Access::Read,
        1,
        &[KEY, opt(ID)],
    ),
    (
        "hanoi.variant",
        "The variant of an experiment for the id, or nil",
        "O(L) with L the id length",
        3,
        Access::Read,
        1,
        &[KEY, ID],
    ),
    (
        "hanoi.explain",
        "Whether the flag is on for the id, its variant, and why",
        "O(L) with L the id length",
        3,
        Access::Read,
        1,
        &[KEY, ID],
    ),
    (
        "hanoi.get",
        "The whole definition of a flag",
        "O(V+R) with V the variants and R the regexes",
        2,
        Access::Read,
        1,
        &[KEY],
    ),
    (
        "hanoi.menabled",
        "Is each of the flags on for the id? One answer per key",
        "O(K*L) with K the keys",
        -3,
        Access::Read,
        2,
        &[ID, many(KEY)],
    ),
    (
        "hanoi.export",
        "A flag's full stored form (hanoi_core::codec), for in-process evaluators",
        "O(N) with N the ids",
        2,
        Access::Read,
        1,
        &[KEY],
    ),
];

/// A C string that lives as long as the module (docs are set once).
fn leak(s: &str) -> *const std::ffi::c_char {
    CString::new(s).map_or(ptr::null(), |c| c.into_raw().cast_const())
}

fn c_args(args: &[Arg]) -> *mut raw::RedisModuleCommandArg {
    if args.is_empty() {
        return ptr::null_mut();
    }
    let mut out: Vec<raw::RedisModuleCommandArg> = args
        .iter()
        .map(|a| {
            let mut flags = 0;
            if a.optional {
                flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
            }
            if a.multiple {
                flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
            }
            raw::RedisModuleCommandArg {
                name: leak(a.name),
                type_: match a.ty {
                    Ty::Key => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
                    Ty::Str => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                    Ty::Int => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                    Ty::Token => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN,
                    Ty::OneOf => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                    Ty::Block => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
                },
                key_spec_index: if matches!(a.ty, Ty::Key) { 0 } else { -1 },
                token: a.token.map_or(ptr::null(), leak),
                summary: ptr::null(),
                since: ptr::null(),
                flags: flags as c_int,
                deprecated_since: ptr::null(),
                subargs: c_args(a.sub),
                display_text: ptr::null(),
            }
        })
        .collect();
    // Zero-terminated array.
    // SAFETY: an all-zero RedisModuleCommandArg is the terminator Redis expects.
    out.push(unsafe { std::mem::zeroed() });
    Box::leak(out.into_boxed_slice()).as_mut_ptr()
}

fn key_specs(access: Access, first: c_int) -> *mut raw::RedisModuleCommandKeySpec {
    // SAFETY: plain C structs; zero is their "unset" value.
    let mut spec: raw::RedisModuleCommandKeySpec = unsafe { std::mem::zeroed() };
    spec.flags = match access {
        Access::Read => u64::from(raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS),
        Access::Write => u64::from(raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE),
    };
    spec.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = first;
    spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
    // MENABLED: every key to the end; the others: one key.
    spec.fk.range.lastkey = if first == 2 { -1 } else { 0 };
    spec.fk.range.keystep = 1;
    spec.fk.range.limit = 0;
    let specs = vec![spec, unsafe { std::mem::zeroed() }];
    Box::leak(specs.into_boxed_slice()).as_mut_ptr()
}

/// Registers the docs of every command (Redis 7+; older servers lack the API).
pub fn register(ctx: &Context) {
    let (Some(get), Some(set)) = (unsafe { raw::RedisModule_GetCommand }, unsafe {
        raw::RedisModule_SetCommandInfo
    }) else {
        return;
    };
    let version: &'static raw::RedisModuleCommandInfoVersion =
        Box::leak(Box::new(raw::RedisModuleCommandInfoVersion {
            version: 1,
            sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
            sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
            sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
        }));
    for &(name, summary, complexity, arity, access, first, args) in DOCS {
        let Ok(cname) = CString::new(name) else {
            continue;
        };
        let cmd = unsafe { get(ctx.get_raw(), cname.as_ptr()) };
        if cmd.is_null() {
            ctx.log_warning(&format!("hanoi: no command {name} to document"));
            continue;
        }
        let info = raw::RedisModuleCommandInfo {
            version,
            summary: leak(summary),
            complexity: leak(complexity),
            since: leak(SINCE),
            history: ptr::null_mut(),
            tips: ptr::null(),
            arity,
            key_specs: key_specs(access, first),
            args: c_args(args),
        };
        if unsafe { set(cmd, &info) } != raw::Status::Ok as c_int {
            ctx.log_warning(&format!(
                "hanoi: RedisModule_SetCommandInfo refused the docs of {name}"
            ));
        }
    }
}
