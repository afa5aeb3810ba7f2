//! Every HANOI command, described once: [`COMMANDS`] holds, per command, its
//! name, handler, kind (which gives the command flags and ACL categories),
//! arity, keys, summary, complexity, version and arguments. Registration,
//! `COMMAND INFO`/`COMMAND DOCS`, the ACL categories and the docs-page test
//! all come from this table: adding a command is adding one entry here (and
//! its function in [`crate::commands`]).

use std::ffi::{c_char, c_int, CString};
use std::ptr;

use redis_module::raw::{self, RedisModuleCtx, RedisModuleString};
use redis_module::Context;

use crate::commands;
pub use crate::guard::{Handler, Kind};

/// The version every command appeared in.
const SINCE: &str = "0.1.0";

/// Where the keys are among the arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// One key, the first argument.
    One,
    /// Every argument from this index on is a key.
    From(c_int),
    /// Keys from this index on, or later (`HANOI.MENABLED ... WITH`): the
    /// command tells where (`getkeys-api`).
    Api(c_int),
}

impl Keys {
    /// first key, last key, step (`RedisModule_CreateCommand`'s legacy range).
    const fn range(self) -> (c_int, c_int, c_int) {
        match self {
            Keys::One => (1, 1, 1),
            Keys::From(i) | Keys::Api(i) => (i, -1, 1),
        }
    }
}

pub type CmdFunc = extern "C" fn(*mut RedisModuleCtx, *mut *mut RedisModuleString, c_int) -> c_int;

/// One command.
pub struct Command {
    pub name: &'static str,
    pub run: CmdFunc,
    pub handler: Handler,
    pub kind: Kind,
    /// Redis arity: N exactly, -N at least N (the name counts).
    pub arity: c_int,
    pub keys: Keys,
    pub summary: &'static str,
    pub complexity: &'static str,
    pub since: &'static str,
    pub args: &'static [Arg],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Key,
    Str,
    Int,
    Token,
    OneOf,
    Block,
}

/// One argument for `COMMAND DOCS`.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    pub name: &'static str,
    pub ty: Ty,
    pub token: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
    pub sub: &'static [Arg],
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
/// `WITH attr value [attr value ...]`
const WITH: Arg = with(
    tok(arg("with", Ty::Block), "WITH"),
    &[many(with(
        arg("pair", Ty::Block),
        &[arg("attr", Ty::Str), arg("value", Ty::Str)],
    ))],
);
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

/// A table entry: the handler's C entry point is made here, running the
/// handler through the one guard ([`crate::guard`]) with the entry's kind.
macro_rules! command {
    (
        $name:literal, $kind:ident, $handler:expr, arity: $arity:expr, keys: $keys:expr,
        $summary:literal, $complexity:literal, $args:expr $(,)?
    ) => {{
        extern "C" fn run(
            ctx: *mut RedisModuleCtx,
            argv: *mut *mut RedisModuleString,
            argc: c_int,
        ) -> c_int {
            // SAFETY: Redis calls a command with its context and its argc
            // arguments, alive for the whole call.
            unsafe { crate::guard::command(ctx, argv, argc, Kind::$kind, $handler) }
        }
        Command {
            name: $name,
            run,
            handler: $handler,
            kind: Kind::$kind,
            arity: $arity,
            keys: $keys,
            summary: $summary,
            complexity: $complexity,
            since: SINCE,
            args: $args,
        }
    }};
}

#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    command!("hanoi.define", GrowingWrite, Handler::Write(commands::write), arity: -2, keys: Keys::One,
        "Creates a feature flag or replaces its definition; registrations stay",
        "O(V+B) with V the variants and B the bytes of their values",
        &[
            KEY,
            opt(with(arg("state", Ty::OneOf), &[
                tok(arg("enabled", Ty::Token), "ENABLED"),
                tok(arg("disabled", Ty::Token), "DISABLED"),
            ])),
            opt(tok(arg("pct", Ty::Int), "PERCENTAGE")),
            opt(with(tok(arg("variants", Ty::Block), "VARIANTS"), &[
                arg("count", Ty::Int),
                many(arg("name", Ty::Str)),
                opt(with(tok(arg("weights", Ty::Block), "WEIGHTS"), &[many(arg("weight", Ty::Int))])),
                opt(with(tok(arg("values", Ty::Block), "VALUES"), &[many(arg("json", Ty::Str))])),
            ])),
            opt(tok(arg("default", Ty::Str), "DEFAULT")),
            opt(tok(arg("salt", Ty::Str), "SALT")),
        ]),
    command!("hanoi.register", GrowingWrite, Handler::Write(commands::write), arity: -4, keys: Keys::One,
        "Enables a flag for ids (USER) or ids matching regexes (REGEX)",
        "O(N) with N the ids or the new patterns (each compiled once)",
        &[KEY, USER_OR_REGEX]),
    command!("hanoi.unregister", Write, Handler::Write(commands::write), arity: -4, keys: Keys::One,
        "Removes ids (USER) or regexes (REGEX) from a flag",
        "O(N) with N the ids; O(R) with R the flag's regexes",
        &[KEY, USER_OR_REGEX]),
    command!("hanoi.block", GrowingWrite, Handler::Write(commands::write), arity: -3, keys: Keys::One,
        "Adds ids to a flag's deny list",
        "O(N) with N the ids",
        &[KEY, IDS]),
    command!("hanoi.unblock", Write, Handler::Write(commands::write), arity: -3, keys: Keys::One,
        "Removes ids from a flag's deny list",
        "O(N) with N the ids",
        &[KEY, IDS]),
    command!("hanoi.enable", Write, Handler::Write(commands::write), arity: 2, keys: Keys::One,
        "Switches a flag on",
        "O(1)",
        &[KEY]),
    command!("hanoi.disable", Write, Handler::Write(commands::write), arity: 2, keys: Keys::One,
        "Switches a flag off (a kill switch)",
        "O(1)",
        &[KEY]),
    command!("hanoi.toggle", Write, Handler::Write(commands::write), arity: 2, keys: Keys::One,
        "Flips a flag's switch and returns the new state",
        "O(1)",
        &[KEY]),
    command!("hanoi.percentage", Write, Handler::Write(commands::write), arity: 3, keys: Keys::One,
        "Sets the percentage of ids a flag is on for",
        "O(1)",
        &[KEY, arg("pct", Ty::Int)]),
    command!("hanoi.enabled", FastRead, Handler::Call(commands::enabled), arity: -2, keys: Keys::One,
        "Is the flag on for the id (and its attributes)? Without an id, the switch alone",
        "O(L+C) with L the id length and C the rules' conditions",
        &[KEY, opt(with(arg("target", Ty::Block), &[ID, opt(WITH)]))]),
    command!("hanoi.variant", FastRead, Handler::Call(commands::variant), arity: -3, keys: Keys::One,
        "The variant served to the id (and its attributes): the decided one when on, the DEFAULT one when off, or nil",
        "O(L+C) with L the id length and C the rules' conditions",
        &[KEY, ID, opt(WITH)]),
    command!("hanoi.menabled", FastRead, Handler::Call(commands::menabled), arity: -3, keys: Keys::Api(2),
        "Is each of the flags on for the id (and its attributes)? One answer per key",
        "O(K*(L+C)) with K the keys",
        &[ID, opt(with(tok(arg("with", Ty::Block), "WITH"), &[arg("count", Ty::Int), many(with(arg("pair", Ty::Block), &[arg("attr", Ty::Str), arg("value", Ty::Str)]))])), many(KEY)]),
    command!("hanoi.value", FastRead, Handler::Call(commands::value), arity: -2, keys: Keys::One,
        "The value the flag serves the id (and its attributes), as JSON text, or nil",
        "O(L+C) with L the id length and C the rules' conditions",
        &[KEY, opt(with(arg("query", Ty::Block), &[ID, opt(WITH)]))]),
    command!("hanoi.resolve", FastRead, Handler::Call(commands::resolve), arity: -3, keys: Keys::One,
        "Everything an OpenFeature answer needs in one evaluation: on or off, the variant, its value, why, the effective percentage and the flag's type",
        "O(L+C) with L the id length and C the rules' conditions",
        &[KEY, ID, opt(WITH)]),
    command!("hanoi.preview", FastRead, Handler::Call(commands::preview), arity: -3, keys: Keys::One,
        "HANOI.RESOLVE's answer from the same evaluation, never counted: for previews (an admin's try-it), which are not traffic",
        "O(L+C) with L the id length and C the rules' conditions",
        &[KEY, ID, opt(WITH)]),
    command!("hanoi.explain", FastRead, Handler::Call(commands::explain), arity: -3, keys: Keys::One,
        "Whether the flag is on for the id (and its attributes), its variant, why, and the effective percentage",
        "O(L+C) with L the id length and C the rules' conditions",
        &[KEY, ID, opt(WITH)]),
    command!("hanoi.rule", GrowingWrite, Handler::Write(commands::write), arity: -4, keys: Keys::One,
        "Sets, deletes or moves a targeting rule: conditions on attributes, a rollout, a variant",
        "O(C+R) with C the conditions (IN lists included) and R the rules",
        &[KEY, with(arg("action", Ty::OneOf), &[
            with(tok(arg("set", Ty::Block), "SET"), &[
                arg("name", Ty::Str),
                opt(tok(arg("pct", Ty::Int), "ROLLOUT")),
                opt(tok(arg("variant", Ty::Str), "VARIANT")),
                tok(arg("attr", Ty::Str), "IF"), arg("op", Ty::Str), opt(many(arg("arg", Ty::Str))),
                opt(many(with(tok(arg("and", Ty::Block), "AND"), &[arg("attr", Ty::Str), arg("op", Ty::Str), opt(many(arg("arg", Ty::Str)))]))),
            ]),
            with(tok(arg("del", Ty::Block), "DEL"), &[many(arg("name", Ty::Str))]),
            with(tok(arg("move", Ty::Block), "MOVE"), &[arg("name", Ty::Str), arg("index", Ty::Int)]),
        ])]),
    command!("hanoi.prereq", GrowingWrite, Handler::Write(commands::write), arity: -4, keys: Keys::One,
        "Sets, deletes or moves a prerequisite: a flag that must be on (or serve a variant) for the same id first",
        "O(P+D) with P the prerequisites and D the flags and segments they reach (at most 8 levels)",
        &[KEY, with(arg("action", Ty::OneOf), &[
            with(tok(arg("set", Ty::Block), "SET"), &[
                arg("other", Ty::Str),
                opt(tok(arg("variant", Ty::Str), "VARIANT")),
            ]),
            with(tok(arg("del", Ty::Block), "DEL"), &[many(arg("other", Ty::Str))]),
            with(tok(arg("move", Ty::Block), "MOVE"), &[arg("other", Ty::Str), arg("index", Ty::Int)]),
        ])]),
    command!("hanoi.schedule", Write, Handler::Write(commands::write), arity: -3, keys: Keys::One,
        "Sets a flag's active window or a ramp of its percentage, or clears them",
        "O(1)",
        &[KEY, with(arg("action", Ty::OneOf), &[
            with(tok(arg("window", Ty::Block), "WINDOW"), &[arg("from_ms", Ty::Int), arg("until_ms", Ty::Int)]),
            with(tok(arg("ramp", Ty::Block), "RAMP"), &[arg("from_pct", Ty::Int), arg("to_pct", Ty::Int), arg("start_ms", Ty::Int), arg("end_ms", Ty::Int)]),
            with(tok(arg("clear", Ty::Block), "CLEAR"), &[opt(with(arg("what", Ty::OneOf), &[tok(arg("window", Ty::Token), "WINDOW"), tok(arg("ramp", Ty::Token), "RAMP")]))]),
        ])]),
    command!("hanoi.get", Read, Handler::Call(commands::get), arity: 2, keys: Keys::One,
        "The whole definition of a flag",
        "O(V+R) with V the variants and R the regexes",
        &[KEY]),
    command!("hanoi.export", Read, Handler::Call(commands::export), arity: -2, keys: Keys::One,
        "A flag's stored form (hanoi_core::codec), ids in byte order: the same bytes wherever the flag is; NOIDS leaves the ids out (their counts stay)",
        "O(N log N) with N the ids; O(1) in ids with NOIDS",
        &[KEY, opt(tok(arg("noids", Ty::Token), "NOIDS"))]),
    command!("hanoi.ids", Read, Handler::Call(commands::ids), arity: -4, keys: Keys::One,
        "A flag's registered or blocked ids a page at a time, with SSCAN's guarantee",
        "O(1) for every call. O(N) for a complete iteration, N the ids",
        &[KEY, with(arg("list", Ty::OneOf), &[tok(arg("users", Ty::Token), "USERS"), tok(arg("blocked", Ty::Token), "BLOCKED")]),
          arg("cursor", Ty::Int), opt(tok(arg("pattern", Ty::Str), "MATCH")), opt(tok(arg("count", Ty::Int), "COUNT"))]),
    command!("hanoi.meta", GrowingWrite, Handler::Write(commands::write), arity: -4, keys: Keys::One,
        "Sets or deletes free-form metadata fields of a flag (description, owner, tags, ...)",
        "O(F) with F the fields",
        &[KEY, with(arg("action", Ty::OneOf), &[
            with(tok(arg("set", Ty::Block), "SET"), &[many(with(arg("pair", Ty::Block), &[arg("field", Ty::Str), arg("value", Ty::Str)]))]),
            with(tok(arg("del", Ty::Block), "DEL"), &[many(arg("field", Ty::Str))]),
        ])]),
    command!("hanoi.import", GrowingWrite, Handler::Write(commands::write), arity: -3, keys: Keys::One,
        "Replaces a flag (or creates it) from a HANOI.EXPORT blob in one step, all or nothing, held to this server's limits; its history, creation time and counts stay, and its ids with IDS KEEP or ADD",
        "O(N+R) with N the ids and R the regexes and rules (each compiled again)",
        &[KEY, arg("blob", Ty::Str), opt(with(tok(arg("ids", Ty::OneOf), "IDS"), &[
            tok(arg("replace", Ty::Token), "REPLACE"),
            tok(arg("keep", Ty::Token), "KEEP"),
            tok(arg("add", Ty::Token), "ADD"),
        ]))]),
    command!("hanoi.history", Read, Handler::Call(commands::history), arity: -2, keys: Keys::One,
        "The writes that changed a flag, newest first: when, who, what",
        "O(N) with N the entries returned",
        &[KEY, opt(tok(arg("count", Ty::Int), "COUNT"))]),
    command!("hanoi.stats", Read, Handler::Call(commands::stats), arity: -2, keys: Keys::One,
        "This server's evaluation counts of a flag, SERIES per minute and per hour",
        "O(V) with V the variants; O(1) with SERIES (228 periods)",
        &[KEY, opt(tok(arg("series", Ty::Token), "SERIES"))]),
    command!("hanoi.tally", GrowingWrite, Handler::Call(commands::tally), arity: -3, keys: Keys::One,
        "Adds counts made elsewhere (an in-process mirror's evaluations) to this server's evaluation counts of a flag, or starts them again (RESET); a write, never replicated",
        "O(V) with V the variants",
        &[KEY, with(arg("what", Ty::OneOf), &[
            tok(arg("reset", Ty::Token), "RESET"),
            with(arg("counts", Ty::Block), &[arg("evaluations", Ty::Int), arg("enabled", Ty::Int),
              opt(many(with(arg("pair", Ty::Block), &[arg("variant", Ty::Str), arg("count", Ty::Int)])))]),
        ])]),
    command!("hanoi.replay", GrowingWrite, Handler::Call(commands::replay), arity: -7, keys: Keys::One,
        "Internal: a write as its primary stamped it, for replicas and the AOF",
        "As the write it carries",
        &[KEY, arg("time", Ty::Int), arg("user", Ty::Str), arg("client", Ty::Str), arg("keep", Ty::Int),
          arg("command", Ty::Str), opt(many(arg("arg", Ty::Str)))]),
    // Issue 35: experiments. HANOI.EXPERIMENT is writes (START, STOP) and
    // reads (RESULTS, EXPOSURES) behind one name, as the issue writes it
    // (`HANOI.EXPERIMENT key START ...`): see `Kind::Mixed`.
    command!("hanoi.experiment", Mixed, Handler::Call(commands::experiment), arity: -3, keys: Keys::One,
        "Starts or stops an experiment on a flag, or reads its results per arm and its exposures",
        "O(V+M) for START and STOP (V the variants, M the metrics; RESET: O(N), N the exposures dropped); O(A*M) for RESULTS (A the arms); O(1) a page for EXPOSURES",
        &[KEY, with(arg("action", Ty::OneOf), &[
            with(tok(arg("start", Ty::Block), "START"), &[
                opt(tok(arg("control", Ty::Str), "CONTROL")),
                with(tok(arg("metrics", Ty::Block), "METRICS"), &[arg("count", Ty::Int), many(arg("metric", Ty::Str))]),
                opt(tok(arg("reset", Ty::Token), "RESET")),
            ]),
            tok(arg("stop", Ty::Token), "STOP"),
            tok(arg("results", Ty::Token), "RESULTS"),
            with(tok(arg("exposures", Ty::Block), "EXPOSURES"), &[arg("cursor", Ty::Int), opt(tok(arg("count", Ty::Int), "COUNT"))]),
        ])]),
    command!("hanoi.assign", GrowingWrite, Handler::Call(commands::assign), arity: -3, keys: Keys::One,
        "HANOI.RESOLVE's answer that, while the flag's experiment runs, records the id's first exposure (arm, time) when the random split decided it",
        "O(L+C) with L the id length and C the rules' conditions",
        &[KEY, ID, opt(WITH)]),
    command!("hanoi.track", GrowingWrite, Handler::Call(commands::track), arity: -4, keys: Keys::One,
        "Records a conversion (a value, 1 by default) of an exposed id for a metric of the flag's running experiment",
        "O(1)",
        &[KEY, ID, arg("metric", Ty::Str), opt(arg("value", Ty::Int))]),
    command!("hanoi.load", GrowingWrite, Handler::Call(commands::load), arity: -3, keys: Keys::One,
        "Internal: puts a flag back from its stored form, then its ids in batches (AOF rewrite)",
        "O(N) with N the bytes or ids",
        &[KEY, with(arg("what", Ty::OneOf), &[
            arg("bytes", Ty::Str),
            with(tok(arg("users", Ty::Block), "USERS"), &[IDS]),
            with(tok(arg("blocked", Ty::Block), "BLOCKED"), &[IDS]),
            with(tok(arg("exposures", Ty::Block), "EXPOSURES"), &[many(with(arg("exposure", Ty::Block), &[ID, arg("arm", Ty::Str), arg("time", Ty::Int)]))]),
            with(tok(arg("conversions", Ty::Block), "CONVERSIONS"), &[many(with(arg("conversion", Ty::Block), &[ID, arg("metric", Ty::Str), arg("total", Ty::Int)]))]),
        ])]),
];

/// Logs one line at `warning` level in the server's log.
fn warn(ctx: &Context, msg: &str) {
    ctx.log_warning(msg);
}

/// Registers every command, its ACL categories and its docs.
pub fn register(ctx: &Context) -> redis_module::Status {
    let acl = AclSupport::probe(ctx);
    for c in COMMANDS {
        if let Err(e) = register_one(ctx, c, acl) {
            warn(ctx, &format!("cannot register {}: {e}", c.name));
            return redis_module::Status::Err;
        }
    }
    redis_module::Status::Ok
}

/// What this server lets a module do with ACL categories.
#[derive(Debug, Clone, Copy)]
struct AclSupport {
    /// `RedisModule_SetCommandACLCategories` (Redis 7.2+, Valkey 8).
    set: bool,
    /// The `hanoi` category exists (`RedisModule_AddACLCategory`).
    own: bool,
}

impl AclSupport {
    fn probe(ctx: &Context) -> AclSupport {
        // SAFETY: reading function pointers the module API filled in at load.
        let (set, add) = unsafe {
            let set = raw::RedisModule_SetCommandACLCategories;
            (set.is_some(), raw::RedisModule_AddACLCategory)
        };
        let own = add.is_some_and(|add| {
            // SAFETY: called from the module's load with its context, as the
            // API requires; the name is a NUL-terminated literal.
            unsafe { add(ctx.get_raw(), c"hanoi".as_ptr()) == raw::Status::Ok as c_int }
        });
        match (set, own) {
            (true, true) => {}
            (true, false) => warn(
                ctx,
                "this server cannot add ACL categories (no RedisModule_AddACLCategory): commands are in @read/@write/@fast, there is no @hanoi",
            ),
            (false, _) => warn(
                ctx,
                "this server cannot put module commands in ACL categories (no RedisModule_SetCommandACLCategories, Redis < 7.2): grant HANOI commands by name (+hanoi.enabled) or with +@all",
            ),
        }
        AclSupport { set, own }
    }
}

fn register_one(ctx: &Context, c: &Command, acl: AclSupport) -> Result<(), String> {
    let name = CString::new(c.name).map_err(|e| e.to_string())?;
    let flags = match c.keys {
        Keys::Api(_) => format!("{} getkeys-api", c.kind.flags()),
        _ => c.kind.flags().to_owned(),
    };
    let flags = CString::new(flags).map_err(|e| e.to_string())?;
    let (first, last, step) = c.keys.range();
    // SAFETY: the API was filled in at load; all pointers outlive the call.
    let created = unsafe {
        let create = raw::RedisModule_CreateCommand.ok_or("no RedisModule_CreateCommand")?;
        create(
            ctx.get_raw(),
            name.as_ptr(),
            Some(c.run),
            flags.as_ptr(),
            first,
            last,
            step,
        )
    };
    if created != raw::Status::Ok as c_int {
        return Err("RedisModule_CreateCommand refused it".into());
    }
    // SAFETY: as above; `GetCommand` returns the command just created.
    let cmd = unsafe {
        raw::RedisModule_GetCommand.map_or(ptr::null_mut(), |get| get(ctx.get_raw(), name.as_ptr()))
    };
    if cmd.is_null() {
        return Ok(()); // Redis < 7: no command objects, no docs, no categories.
    }
    if acl.set {
        let cats = if acl.own {
            format!("{} hanoi", c.kind.acl_categories())
        } else {
            c.kind.acl_categories().to_owned()
        };
        let cats = CString::new(cats).map_err(|e| e.to_string())?;
        // SAFETY: a command of this module, during load; the string outlives the call.
        let rc = unsafe {
            raw::RedisModule_SetCommandACLCategories
                .map_or(raw::Status::Err as c_int, |set| set(cmd, cats.as_ptr()))
        };
        if rc != raw::Status::Ok as c_int {
            return Err(format!("the server refused ACL categories {cats:?}"));
        }
    }
    set_docs(ctx, c, cmd);
    Ok(())
}

// ----- COMMAND DOCS / COMMAND INFO -----

/// The C structs of `RedisModule_SetCommandInfo`, built from an entry.
/// Redis copies what it needs, so everything here is owned and freed after
/// the call.
struct Docs {
    strings: Vec<CString>,
    args: Vec<Vec<raw::RedisModuleCommandArg>>,
}

impl Docs {
    fn text(&mut self, s: &str) -> *const c_char {
        let Ok(c) = CString::new(s) else {
            return ptr::null();
        };
        let p = c.as_ptr();
        self.strings.push(c);
        p
    }

    /// A zero-terminated argument array (null for none).
    fn args(&mut self, args: &[Arg], key_spec: c_int) -> *mut raw::RedisModuleCommandArg {
        if args.is_empty() {
            return ptr::null_mut();
        }
        let mut out: Vec<raw::RedisModuleCommandArg> = Vec::with_capacity(args.len() + 1);
        for a in args {
            let mut flags = 0;
            if a.optional {
                flags |= raw::REDISMODULE_CMD_ARG_OPTIONAL;
            }
            if a.multiple {
                flags |= raw::REDISMODULE_CMD_ARG_MULTIPLE;
            }
            let sub = self.args(a.sub, key_spec);
            out.push(raw::RedisModuleCommandArg {
                name: self.text(a.name),
                type_: match a.ty {
                    Ty::Key => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_KEY,
                    Ty::Str => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_STRING,
                    Ty::Int => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_INTEGER,
                    Ty::Token => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_PURE_TOKEN,
                    Ty::OneOf => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_ONEOF,
                    Ty::Block => raw::RedisModuleCommandArgType_REDISMODULE_ARG_TYPE_BLOCK,
                },
                key_spec_index: if a.ty == Ty::Key { key_spec } else { -1 },
                token: a.token.map_or(ptr::null(), |t| self.text(t)),
                summary: ptr::null(),
                since: ptr::null(),
                flags: flags as c_int,
                deprecated_since: ptr::null(),
                subargs: sub,
                display_text: ptr::null(),
            });
        }
        out.push(zeroed_arg());
        let p = out.as_mut_ptr();
        self.args.push(out);
        p
    }
}

/// The all-null argument that ends an argument array.
fn zeroed_arg() -> raw::RedisModuleCommandArg {
    raw::RedisModuleCommandArg {
        name: ptr::null(),
        type_: 0,
        key_spec_index: 0,
        token: ptr::null(),
        summary: ptr::null(),
        since: ptr::null(),
        flags: 0,
        deprecated_since: ptr::null(),
        subargs: ptr::null_mut(),
        display_text: ptr::null(),
    }
}

/// The key spec of an entry, and the terminator.
fn key_specs(c: &Command) -> [raw::RedisModuleCommandKeySpec; 2] {
    // SAFETY: a plain C struct of integers, pointers and unions of them, for
    // which all-zero is the "unset" value Redis documents (and the terminator).
    let mut spec: raw::RedisModuleCommandKeySpec = unsafe { std::mem::zeroed() };
    spec.flags = u64::from(if c.kind.writes() {
        raw::REDISMODULE_CMD_KEY_RW | raw::REDISMODULE_CMD_KEY_UPDATE
    } else {
        raw::REDISMODULE_CMD_KEY_RO | raw::REDISMODULE_CMD_KEY_ACCESS
    });
    let (first, last) = match c.keys {
        Keys::One => (1, 0),
        Keys::From(i) | Keys::Api(i) => (i, -1),
    };
    if let Keys::Api(_) = c.keys {
        // The keys may start later (after WITH ...): the spec is a hint.
        spec.flags |= u64::from(raw::REDISMODULE_CMD_KEY_INCOMPLETE);
    }
    spec.begin_search_type = raw::RedisModuleKeySpecBeginSearchType_REDISMODULE_KSPEC_BS_INDEX;
    spec.bs.index.pos = first;
    spec.find_keys_type = raw::RedisModuleKeySpecFindKeysType_REDISMODULE_KSPEC_FK_RANGE;
    spec.fk.range.lastkey = last;
    spec.fk.range.keystep = 1;
    spec.fk.range.limit = 0;
    // SAFETY: as above.
    [spec, unsafe { std::mem::zeroed() }]
}

fn set_docs(ctx: &Context, c: &Command, cmd: *mut raw::RedisModuleCommand) {
    // SAFETY: reading a function pointer the API filled in at load.
    let Some(set) = (unsafe { raw::RedisModule_SetCommandInfo }) else {
        return;
    };
    let mut docs = Docs {
        strings: Vec::new(),
        args: Vec::new(),
    };
    let version = raw::RedisModuleCommandInfoVersion {
        version: 1,
        sizeof_historyentry: std::mem::size_of::<raw::RedisModuleCommandHistoryEntry>(),
        sizeof_keyspec: std::mem::size_of::<raw::RedisModuleCommandKeySpec>(),
        sizeof_arg: std::mem::size_of::<raw::RedisModuleCommandArg>(),
    };
    let mut specs = key_specs(c);
    let info = raw::RedisModuleCommandInfo {
        version: &version,
        summary: docs.text(c.summary),
        complexity: docs.text(c.complexity),
        since: docs.text(c.since),
        history: ptr::null_mut(),
        tips: ptr::null(),
        arity: c.arity,
        key_specs: specs.as_mut_ptr(),
        args: docs.args(c.args, 0),
    };
    // SAFETY: every pointer in `info` points into `docs`, `specs` or
    // `version`, alive until after the call; Redis copies what it keeps.
    if unsafe { set(cmd, &info) } != raw::Status::Ok as c_int {
        warn(
            ctx,
            &format!("RedisModule_SetCommandInfo refused the docs of {}", c.name),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
        assert!(names
            .iter()
            .all(|n| n.starts_with("hanoi.") && *n == n.to_lowercase()));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len());
    }

    #[test]
    fn keys_are_where_the_args_say() {
        for c in COMMANDS {
            let first_key = c
                .args
                .iter()
                .position(|a| a.ty == Ty::Key)
                .map(|i| i as c_int + 1);
            let (first, last, _) = c.keys.range();
            if let Keys::Api(_) = c.keys {
                // After optional arguments: at `first` or later.
                assert!(first_key >= Some(first), "{}", c.name);
            } else {
                assert_eq!(first_key, Some(first), "{}", c.name);
            }
            assert_eq!(
                last == -1,
                c.args.last().is_some_and(|a| a.ty == Ty::Key && a.multiple),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn writes_that_replay_are_writes() {
        for c in COMMANDS {
            if let Handler::Write(_) = c.handler {
                assert!(c.kind.writes(), "{}", c.name);
            } else if c.kind.writes() {
                // TALLY writes this server's counts, which are never
                // replicated: a write for ACLs, with nothing to replay.
                // ASSIGN and TRACK replicate what they recorded (as
                // HANOI.LOAD), EXPERIMENT calls the write path itself.
                assert!(
                    [
                        "hanoi.replay",
                        "hanoi.load",
                        "hanoi.tally",
                        "hanoi.assign",
                        "hanoi.track",
                        "hanoi.experiment",
                    ]
                    .contains(&c.name),
                    "{} is a write: give it Handler::Write",
                    c.name
                );
            }
        }
    }

    #[test]
    fn the_core_knows_every_recorded_write() {
        // What the history records is a write the core parses: hanoi-web
        // says each in words (a new one is a case it must handle).
        let recorded: Vec<&str> = COMMANDS
            .iter()
            .filter(|c| matches!(c.handler, Handler::Write(_)) || c.name == "hanoi.experiment")
            .map(|c| c.name)
            .collect();
        let mut known: Vec<String> = hanoi_core::store::Command::ALL
            .iter()
            .map(|c| c.name().to_lowercase())
            .collect();
        let mut recorded_sorted = recorded.clone();
        recorded_sorted.sort_unstable();
        known.sort_unstable();
        assert_eq!(recorded_sorted, known);
    }

    #[test]
    fn kinds_give_flags_and_categories() {
        for c in COMMANDS {
            // A mixed command writes without the `write` flag (its reads
            // work on replicas): see `Kind::Mixed`.
            assert_eq!(
                c.kind.flags().contains("write"),
                c.kind.writes() && c.kind != Kind::Mixed,
                "{}",
                c.name
            );
            assert_eq!(
                c.kind.acl_categories().contains("write"),
                c.kind.writes(),
                "{}",
                c.name
            );
        }
        let kill_switches = [
            "hanoi.disable",
            "hanoi.toggle",
            "hanoi.percentage",
            "hanoi.unregister",
            "hanoi.unblock",
        ];
        for c in COMMANDS.iter().filter(|c| kill_switches.contains(&c.name)) {
            assert!(
                !c.kind.flags().contains("deny-oom"),
                "{} must work at maxmemory",
                c.name
            );
        }
    }
}
