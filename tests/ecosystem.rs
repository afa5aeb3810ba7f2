//! What a Redis user and a hanoi user expect around the commands: command
//! docs, INFO, options, keyspace events feeding an in-process evaluator,
//! client-side caching, and the examples (Python, Lua, Rust, redis-cli),
//! and the import of hanoi 0.0.4 data.

mod common;

// The examples are formatted as examples (the workspace settings), not with
// the tests' rustfmt.toml.
#[path = "../examples/follow.rs"]
#[rustfmt::skip]
mod follow;
#[path = "../examples/pipeline.rs"]
#[rustfmt::skip]
mod pipeline;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{answers, build_big_flag, bulk, err, err_b, int, int_b, ok, query, run, Server};
use redis::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has redis-py (and hanoi 0.0.4): `make test` sets it.
fn python() -> String {
    std::env::var("HANOI_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn run_python(args: &[&str], port: u16) -> String {
    let out = Command::new(python())
        .args(args)
        .current_dir(root())
        .env("HANOI_PORT", port.to_string())
        .output()
        .expect("run python (make test sets HANOI_PYTHON to a venv with redis-py)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?} failed:\n{text}");
    text
}

#[test]
fn every_command_has_docs_and_a_page_and_every_page_a_command() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let mut commands: Vec<String> =
        query(&mut con, &["COMMAND", "LIST", "FILTERBY", "MODULE", "hanoi"]);
    commands.sort();
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs/commands"))
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".md")
                .map(str::to_owned)
        })
        .collect();
    pages.sort();
    assert_eq!(commands, pages);
    assert_eq!(commands.len(), 32);
    for c in &commands {
        let docs = run(&mut con, &["COMMAND", "DOCS", c]).unwrap();
        let text = format!("{docs:?}");
        let page = std::fs::read_to_string(root().join(format!("docs/commands/{c}.md"))).unwrap();
        // The page carries the summary the server gives.
        let Value::Array(top) = &docs else {
            panic!("{text}")
        };
        let Value::Array(fields) = &top[1] else {
            panic!("{text}")
        };
        let summary = fields
            .chunks(2)
            .find(|kv| kv[0] == Value::BulkString(b"summary".to_vec()))
            .map(|kv| redis::from_redis_value::<String>(&kv[1]).unwrap())
            .unwrap_or_else(|| panic!("{c} has no summary: {text}"));
        assert!(page.contains(&summary), "{c}: page lacks '{summary}'");
        // ...its complexity, and the flags COMMAND INFO gives.
        let complexity = fields
            .chunks(2)
            .find(|kv| kv[0] == Value::BulkString(b"complexity".to_vec()))
            .map(|kv| redis::from_redis_value::<String>(&kv[1]).unwrap())
            .unwrap_or_else(|| panic!("{c} has no complexity: {text}"));
        assert!(
            page.contains(&format!("**Complexity**: {complexity}\n")),
            "{c}: page lacks '{complexity}'"
        );
        let info: Vec<Vec<Value>> = query(&mut con, &["COMMAND", "INFO", c]);
        let flags: Vec<String> = redis::from_redis_value(&info[0][2]).unwrap();
        let flags = format!("**Flags**: {}\n", flags.join(" "));
        assert!(page.contains(&flags), "{c}: page lacks '{flags}'");
        assert!(
            text.contains("complexity") && text.contains("since") && text.contains("arguments"),
            "{text}"
        );
    }
    // Key specs make COMMAND GETKEYS right.
    let keys: Vec<String> =
        query(&mut con, &["COMMAND", "GETKEYS", "HANOI.MENABLED", "u", "k1", "k2"]);
    assert_eq!(keys, ["k1", "k2"]);
}

fn info_field(con: &mut redis::Connection, field: &str) -> String {
    let info: String = query(con, &["INFO", "hanoi"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("hanoi_{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .to_owned()
}

#[test]
fn info_hanoi_counts() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let n = |con: &mut redis::Connection, f: &str| info_field(con, f).parse::<i64>().unwrap();
    assert_eq!(n(&mut con, "flags"), 0);
    assert_eq!(info_field(&mut con, "version"), env!("CARGO_PKG_VERSION"));
    ok(&mut con, &["HANOI.DEFINE", "a", "PERCENTAGE", "100", "VARIANTS", "1", "v"]);
    ok(&mut con, &["HANOI.DEFINE", "b"]);
    int(&mut con, &["HANOI.REGISTER", "b", "REGEX", "^x"]);
    assert_eq!(n(&mut con, "flags"), 2);
    assert_eq!(n(&mut con, "regex_compilations"), 1);
    int(&mut con, &["HANOI.ENABLED", "a", "1"]);
    int(&mut con, &["HANOI.ENABLED", "b", "1"]);
    bulk(&mut con, &["HANOI.VARIANT", "a", "1"]);
    let _: Vec<i64> = query(&mut con, &["HANOI.MENABLED", "1", "a", "b"]);
    assert_eq!(n(&mut con, "evaluations"), 5);
    assert_eq!(n(&mut con, "enabled_answers"), 3);
    assert_eq!(n(&mut con, "variant_answers"), 1);
    let _ = run(&mut con, &["HANOI.PERCENTAGE", "a", "x"]);
    ok(&mut con, &["SET", "plain", "x"]);
    let _ = run(&mut con, &["HANOI.ENABLED", "plain", "1"]);
    // Arity is checked by the server from the command docs, before hanoi runs.
    let _ = run(&mut con, &["HANOI.ENABLED"]);
    assert_eq!(n(&mut con, "errors"), 2);
    int(&mut con, &["DEL", "a"]);
    int(&mut con, &["COPY", "b", "c"]);
    assert_eq!(n(&mut con, "flags"), 2);
}

#[test]
fn options_at_load_time_and_with_config_set() {
    let s = Server::start(&["max-ids-per-command", "1000", "max-variants", "3"]);
    let mut con = s.con();
    let got: Vec<String> = query(&mut con, &["CONFIG", "GET", "hanoi.max-ids-per-command"]);
    assert_eq!(got[1], "1000");
    ok(&mut con, &["HANOI.DEFINE", "f"]);
    let ids: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let e = err_b(&mut con, ("HANOI.REGISTER", "f", "USER", &ids));
    assert!(e.contains("too many ids in one command"), "{e}");
    let e = err(&mut con, &["HANOI.DEFINE", "f", "VARIANTS", "4", "a", "b", "c", "d"]);
    assert!(e.contains("too many variants (limit 3)"), "{e}");
    ok(&mut con, &["CONFIG", "SET", "hanoi.max-ids-per-command", "2000"]);
    assert_eq!(int_b(&mut con, ("HANOI.REGISTER", "f", "USER", &ids)), 1001);
    // Out of range is refused by the server.
    err(&mut con, &["CONFIG", "SET", "hanoi.max-regexes", "0"]);
}

#[test]
fn an_in_process_rollout_follows_redis_through_keyspace_events() {
    let s = Server::start(&["--notify-keyspace-events", "Kgxd"]);
    let mut con = s.con();
    let ids = build_big_flag(&mut con, "flags:big", 5000, 5);
    ok(&mut con, &["HANOI.DEFINE", "flags:small", "PERCENTAGE", "30"]);
    let client = redis::Client::open(s.url()).unwrap();
    let mut f = follow::Follower::start(&client).unwrap();
    let agree = |f: &follow::Follower, con: &mut redis::Connection, key: &str| {
        let server = answers(con, key, &ids);
        for (id, got) in ids.iter().zip(server) {
            let e = f.rollout.explain(key, id);
            let want = Value::Int(i64::from(e.enabled));
            let Value::Array(a) = got else { panic!() };
            assert_eq!(a[0], want, "{key} {:?}", String::from_utf8_lossy(id));
        }
    };
    agree(&f, &mut con, "flags:big");
    agree(&f, &mut con, "flags:small");
    // Changes of every kind, then the events.
    int_b(&mut con, ("HANOI.REGISTER", "flags:small", "USER", &ids[..100]));
    int_b(&mut con, ("HANOI.BLOCK", "flags:big", &ids[..50]));
    ok(&mut con, &["HANOI.PERCENTAGE", "flags:big", "90"]);
    ok(&mut con, &["HANOI.DEFINE", "flags:new", "PERCENTAGE", "100"]);
    ok(&mut con, &["RENAME", "flags:new", "flags:renamed"]);
    int(&mut con, &["COPY", "flags:small", "flags:copy"]);
    int(&mut con, &["DEL", "flags:copy"]);
    // A quiet second ends the wait: a loaded machine may pause the reader
    // for a while between two events.
    let n = f.apply_events(Duration::from_secs(1)).unwrap();
    assert!(n >= 7, "{n} events");
    agree(&f, &mut con, "flags:big");
    agree(&f, &mut con, "flags:small");
    assert!(f.rollout.is_enabled("flags:renamed", Some(b"anyone")));
    assert!(f.rollout.get("flags:new").is_none());
    assert!(f.rollout.get("flags:copy").is_none());
}

#[test]
fn a_follower_keeps_its_flags_through_a_lost_connection_then_resyncs() {
    // AOF with fsync always: the flags survive the kill.
    let args =
        ["--notify-keyspace-events", "Kgxd", "--appendonly", "yes", "--appendfsync", "always"];
    let mut s = Server::start(&args);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "flags:on", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "flags:doomed", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "flags:later", "PERCENTAGE", "0"]);
    let client = redis::Client::open(s.url()).unwrap();
    let mut f = follow::Follower::start(&client).unwrap();
    // Short waits, so a server that stays down fails the call quickly.
    f.retry = follow::Retry {
        tries: 3,
        first: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };
    let on = |f: &follow::Follower, key: &str| f.rollout.is_enabled(key, Some(b"anyone"));
    let answers_before = [on(&f, "flags:on"), on(&f, "flags:doomed"), on(&f, "flags:later")];
    assert_eq!(answers_before, [true, true, false]);

    // The server dies: the calls fail, within the bounded retries, and every
    // local answer stays as it was.
    drop(con);
    s.kill();
    let t = Instant::now();
    assert!(f.apply_events(Duration::from_millis(300)).is_err());
    assert!(f.refresh(b"flags:on").is_err());
    assert!(f.apply_events(Duration::from_millis(300)).is_err());
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert!(!f.is_connected());
    let answers_down = [on(&f, "flags:on"), on(&f, "flags:doomed"), on(&f, "flags:later")];
    assert_eq!(answers_down, answers_before);

    // Back with its data; while the follower is away one flag is deleted and
    // one changed, with no event it could see.
    s.start_again();
    let mut con = s.con();
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "flags:on", "anyone"]), 1, "data kept");
    assert_eq!(int(&mut con, &["DEL", "flags:doomed"]), 1);
    ok(&mut con, &["HANOI.PERCENTAGE", "flags:later", "100"]);
    f.apply_events(Duration::from_millis(300)).unwrap();
    assert!(f.is_connected());
    assert!(f.rollout.get("flags:doomed").is_none(), "deleted while away");
    assert!(on(&f, "flags:later"), "changed while away");
    assert!(on(&f, "flags:on"));

    // Subscribed again: a change after the resync arrives as an event.
    ok(&mut con, &["HANOI.DISABLE", "flags:on"]);
    let n = f.apply_events(Duration::from_secs(1)).unwrap();
    assert!(n >= 1, "{n} events");
    assert!(!on(&f, "flags:on"));
}

/// Reads RESP until `needle` shows up or the time is over.
fn read_until(stream: &mut std::net::TcpStream, needle: &[u8], within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while Instant::now() < deadline && !buf.windows(needle.len()).any(|w| w == needle) {
        if let Ok(n) = stream.read(&mut chunk) {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    buf
}

#[test]
fn resp3_client_tracking_invalidates_a_flag_after_a_change() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "flags:cached", "PERCENTAGE", "10"]);
    // A raw RESP3 client: HELLO 3, CLIENT TRACKING on, one read of the flag.
    let mut t = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    t.write_all(b"HELLO 3\r\nCLIENT TRACKING on\r\nHANOI.ENABLED flags:cached 42\r\n")
        .unwrap();
    let got = read_until(&mut t, b":0\r\n", Duration::from_secs(5));
    assert!(got.windows(5).any(|w| w == b"+OK\r\n"), "{}", String::from_utf8_lossy(&got));
    // Another client changes the flag: the tracking client gets a push.
    ok(&mut con, &["HANOI.PERCENTAGE", "flags:cached", "100"]);
    let push = read_until(&mut t, b"flags:cached", Duration::from_secs(5));
    let text = String::from_utf8_lossy(&push);
    assert!(
        text.contains(">2\r\n$10\r\ninvalidate\r\n") && text.contains("flags:cached"),
        "{text}"
    );
}

#[test]
fn python_client_readme_example() {
    let s = Server::start(&[]);
    let out = run_python(&["examples/python/service.py"], s.port);
    assert!(out.contains("python example: ok"), "{out}");
}

#[test]
fn lua_script_serves_a_page_in_one_eval() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "flags:a", "PERCENTAGE", "100"]);
    ok(&mut con, &["HANOI.DEFINE", "flags:b", "DISABLED"]);
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "flags:exp", "PERCENTAGE", "100", "VARIANTS", "2", "red", "blue"]);
    let lua = std::fs::read_to_string(root().join("examples/lua/page_flags.lua")).unwrap();
    let v: Vec<Value> = redis::Script::new(&lua)
        .key(&["flags:a", "flags:b", "flags:exp"])
        .arg("443301")
        .invoke(&mut con)
        .unwrap();
    assert_eq!(v[..3], [Value::Int(1), Value::Int(0), Value::Int(1)]);
    let variant: String = redis::from_redis_value(&v[3]).unwrap();
    let want = bulk(&mut con, &["HANOI.VARIANT", "flags:exp", "443301"]);
    assert_eq!(Some(variant), want);
}

#[test]
fn rust_pipeline_example() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "cdc_on", "PERCENTAGE", "80", "VARIANTS", "2", "foo", "bar"]);
    int(&mut con, &["HANOI.REGISTER", "cdc_on", "REGEX", "01$"]);
    let (on, variant) = pipeline::page_flags(&mut con, "443301", &["cdc_on", "missing"]).unwrap();
    assert_eq!(on, [true, false]);
    assert_eq!(variant.as_deref(), Some("bar"));
    let (on, variant) = pipeline::page_flags(&mut con, "44488", &["cdc_on"]).unwrap();
    assert_eq!((on, variant), (vec![false], None));
}

#[test]
fn redis_cli_session_reproduces_the_seed_example() {
    let s = Server::start(&[]);
    let input = std::fs::read(root().join("examples/redis-cli/seed.txt")).unwrap();
    let mut child = Command::new("redis-cli")
        .args(["-p", &s.port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    let want = std::fs::read_to_string(root().join("examples/redis-cli/seed.expected")).unwrap();
    assert_eq!(got, want);
}

#[test]
fn import_from_hanoi_0_0_4() {
    let s = Server::start(&[]);
    // Data written by the real hanoi 0.0.4 (RedisHighPerfBackEnd and RedisBackEnd).
    let setup = r#"
import os, hanoi, redis
r = redis.Redis(port=int(os.environ["HANOI_PORT"]))
hp = hanoi.Rollout(hanoi.RedisHighPerfBackEnd(r))
hp.add_func("cdc_on", percentage=80, variants=("foo", "bar"))
for u in ["447568110000", "1", "2", "3"]:
    hp.register("cdc_on", u)
hp.add_func("kill_switch", percentage=100)
hp.disable("kill_switch")
print("hanoi data written")
"#;
    let dir = s.dir.join("setup.py");
    std::fs::write(&dir, setup).unwrap();
    run_python(&[dir.to_str().unwrap()], s.port);
    let url = format!("redis://127.0.0.1:{}/0", s.port);
    let out =
        run_python(&["tools/import_hanoi.py", "--url", &url, "--target-prefix", "flags:"], s.port);
    assert!(out.contains("2 flags imported"), "{out}");
    assert!(out.contains("warning: hanoi 0.0.4 enabled buckets >= 80"), "{out}");
    let mut con = s.con();
    for u in ["447568110000", "1", "2", "3"] {
        assert_eq!(int(&mut con, &["HANOI.ENABLED", "flags:cdc_on", u]), 1, "registered user {u}");
        let e = run(&mut con, &["HANOI.EXPLAIN", "flags:cdc_on", u]).unwrap();
        assert!(format!("{e:?}").contains("user"), "{e:?}");
    }
    let get = run(&mut con, &["HANOI.GET", "flags:cdc_on"]).unwrap();
    let text = format!("{get:?}");
    assert!(text.contains("foo") && text.contains("bar") && text.contains("int(80)"), "{text}");
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "flags:kill_switch", "1"]), 0);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "flags:kill_switch"]), 0);
}
