//! Fault matrix: flags with 100k registered ids, regexes, blocks, weighted
//! variants and salts keep every answer through AOF replays, kill -9,
//! DUMP/RESTORE and COPY; corrupt payloads are refused without a crash; an
//! RDB fixture of encoding version 1 keeps loading; OOM and ACL behave.

mod common;

use common::{answers, build_big_flag, snapshot, Server};
use redis::Value;

const N: usize = 100_000;

type State = Vec<(Vec<Value>, (Value, Value))>;

/// Two flags: 100k ids and 20k ids, different salts and regexes.
fn build(con: &mut redis::Connection, seed: u64) -> Vec<(String, Vec<Vec<u8>>)> {
    vec![
        (
            "flags:big".to_string(),
            build_big_flag(con, "flags:big", N, seed),
        ),
        (
            "flags:small".to_string(),
            build_big_flag(con, "flags:small", N / 5, seed + 1),
        ),
    ]
}

fn state(con: &mut redis::Connection, flags: &[(String, Vec<Vec<u8>>)]) -> State {
    flags
        .iter()
        .map(|(k, ids)| (answers(con, k, ids), snapshot(con, k)))
        .collect()
}

#[test]
fn restart_from_aof_without_rewrite() {
    let mut s = Server::start(&["--appendonly", "yes", "--aof-use-rdb-preamble", "no"]);
    let mut con = s.con();
    let flags = build(&mut con, 11);
    let before = state(&mut con, &flags);
    drop(con);
    s.shutdown("NOSAVE");
    s.start_again();
    let mut con = s.con();
    assert!(state(&mut con, &flags) == before);
}

#[test]
fn kill_9_with_appendfsync_always_loses_no_acknowledged_write() {
    let mut s = Server::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut con = s.con();
    let flags = build(&mut con, 21);
    // A burst of single acknowledged writes right before the kill.
    for i in 0..300 {
        let id = format!("last-{i}");
        let _: i64 = redis::cmd("HANOI.REGISTER")
            .arg(&["flags:small", "USER", &id])
            .query(&mut con)
            .unwrap();
        if i % 3 == 0 {
            let _: i64 = redis::cmd("HANOI.BLOCK")
                .arg("flags:big")
                .arg(&flags[0].1[i])
                .query(&mut con)
                .unwrap();
        }
        if i % 50 == 0 {
            let () = redis::cmd("HANOI.PERCENTAGE")
                .arg("flags:big")
                .arg(i % 101)
                .query(&mut con)
                .unwrap();
            let _: i64 = redis::cmd("HANOI.TOGGLE")
                .arg("flags:small")
                .query(&mut con)
                .unwrap();
        }
    }
    let before = state(&mut con, &flags);
    drop(con);
    s.kill();
    s.start_again();
    let mut con = s.con();
    assert!(state(&mut con, &flags) == before);
    let on: i64 = redis::cmd("HANOI.ENABLED")
        .arg(&["flags:small"])
        .query(&mut con)
        .unwrap();
    assert!(on == 0 || on == 1);
}

#[test]
fn dump_restore_and_copy_of_big_flags() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let flags = build(&mut con, 31);
    for (key, ids) in &flags {
        let want = answers(&mut con, key, ids);
        let snap = snapshot(&mut con, key);
        let dump: Vec<u8> = redis::cmd("DUMP").arg(key).query(&mut con).unwrap();
        let restored = format!("{key}:restored");
        let () = redis::cmd("RESTORE")
            .arg(&restored)
            .arg(0)
            .arg(&dump)
            .query(&mut con)
            .unwrap();
        let copied = format!("{key}:copied");
        let n: i64 = redis::cmd("COPY")
            .arg(key)
            .arg(&copied)
            .query(&mut con)
            .unwrap();
        assert_eq!(n, 1);
        for k in [&restored, &copied] {
            assert!(answers(&mut con, k, ids) == want);
            assert!(snapshot(&mut con, k) == snap);
        }
    }
}

/// Redis's CRC-64 (Jones polynomial, reflected), as DUMP payloads carry it.
fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95AC_9329_AC4B_C9B5;
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// A DUMP payload around `body` (type byte + value) with a valid trailer.
fn payload(body: &[u8], rdb_version: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(rdb_version);
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn corrupt_and_truncated_restore_payloads_are_refused() {
    assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    let s = Server::start(&[]);
    let mut con = s.con();
    build_big_flag(&mut con, "f", 2000, 41);
    let dump: Vec<u8> = redis::cmd("DUMP").arg("f").query(&mut con).unwrap();
    let (body, trailer) = dump.split_at(dump.len() - 10);
    let version = &trailer[..2];
    assert_eq!(
        payload(body, version),
        dump,
        "the CRC-64 above matches Redis's"
    );
    let mut refused = 0;
    let mut x: u64 = 7;
    let mut tries = Vec::new();
    for cut in (1..body.len()).step_by(body.len() / 200 + 1) {
        tries.push(payload(&body[..cut], version));
    }
    for _ in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = body.to_vec();
        // Flip bytes in the first 200 bytes (counts, lengths, definition) or anywhere.
        let i = if x.is_multiple_of(2) {
            (x >> 8) as usize % b.len().min(200)
        } else {
            (x >> 8) as usize % b.len()
        };
        b[i] ^= ((x >> 40) as u8) | 1;
        tries.push(payload(&b, version));
    }
    for (n, p) in tries.iter().enumerate() {
        let key = format!("r{n}");
        let r: redis::RedisResult<()> = redis::cmd("RESTORE")
            .arg(&key)
            .arg(0)
            .arg(p)
            .query(&mut con);
        match r {
            Err(_) => refused += 1,
            Ok(()) => {
                // A mutation that still decodes is a valid flag: it answers.
                let _: Value = redis::cmd("HANOI.EXPLAIN")
                    .arg(&key)
                    .arg("1")
                    .query(&mut con)
                    .unwrap();
            }
        }
        let pong: String = redis::cmd("PING").query(&mut con).unwrap();
        assert_eq!(pong, "PONG");
    }
    assert!(
        refused > tries.len() / 2,
        "only {refused} of {} refused",
        tries.len()
    );
    // The original flag is untouched.
    let _: Value = redis::cmd("HANOI.GET").arg("f").query(&mut con).unwrap();
}

#[test]
fn a_newer_encoding_version_is_refused_with_a_log_line() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let () = redis::cmd("HANOI.DEFINE")
        .arg(&["f", "PERCENTAGE", "5"])
        .query(&mut con)
        .unwrap();
    let dump: Vec<u8> = redis::cmd("DUMP").arg("f").query(&mut con).unwrap();
    let (body, trailer) = dump.split_at(dump.len() - 10);
    // RDB_TYPE_MODULE_2, then the 64-bit module id (length-encoded: 0x81 + 8
    // bytes big-endian) whose low 10 bits are the encoding version.
    assert_eq!(&body[..2], &[7, 0x81]);
    let mut b = body.to_vec();
    let id = u64::from_be_bytes(b[2..10].try_into().unwrap());
    assert_eq!(id & 0x3ff, 1, "encoding version 1");
    b[2..10].copy_from_slice(&((id & !0x3ff) | 2).to_be_bytes());
    let r: redis::RedisResult<()> = redis::cmd("RESTORE")
        .arg("g")
        .arg(0)
        .arg(payload(&b, &trailer[..2]))
        .query(&mut con);
    assert!(r.is_err());
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    assert!(s.log().contains("encoding version 2"), "{}", s.log());
}

const FIXTURE_RDB: &str = "tests/fixtures/flags-v1.rdb";
const FIXTURE_ANSWERS: &str = "tests/fixtures/flags-v1.answers";
const FIXTURE_FLAGS: [(&str, usize, u64); 3] = [
    ("fx:big", 3000, 51),
    ("fx:small", 300, 52),
    ("fx:tiny", 10, 53),
];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A reply printed in a stable form of our own (not a client's Debug).
fn show(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(b) => format!("${}", hex(b)),
        Value::SimpleString(s) => format!("+{s}"),
        Value::Okay => "+OK".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" ")),
        other => format!("?{other:?}"),
    }
}

/// The ids the fixture's answers are recorded for.
fn fixture_ids(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = common::Rng(seed ^ 0xf1f1);
    (0..500).map(|_| common::random_id(&mut rng)).collect()
}

/// One line per (flag, id): the EXPLAIN answer, printed stably.
fn fixture_lines(con: &mut redis::Connection) -> Vec<String> {
    let mut lines = Vec::new();
    for (key, _, seed) in FIXTURE_FLAGS {
        let ids = fixture_ids(seed);
        let got = answers(con, key, &ids);
        for (id, a) in ids.iter().zip(got) {
            lines.push(format!("{key}\t{}\t{}", hex(id), show(&a)));
        }
        let get: Value = redis::cmd("HANOI.GET").arg(key).query(con).unwrap();
        lines.push(format!("{key}\tGET\t{}", show(&get)));
    }
    lines
}

/// Regenerates the fixture (run by hand only when a new encoding version
/// is introduced; the old fixture must keep loading):
/// `cargo test --release --test faults -- --ignored write_rdb_fixture`
#[test]
#[ignore]
fn write_rdb_fixture() {
    let mut s = Server::start(&[]);
    let mut con = s.con();
    for (key, n, seed) in FIXTURE_FLAGS {
        build_big_flag(&mut con, key, n, seed);
        // Registered and blocked ids among the recorded ones.
        let ids = fixture_ids(seed);
        let _: i64 = redis::cmd("HANOI.REGISTER")
            .arg(key)
            .arg("USER")
            .arg(&ids[..60])
            .query(&mut con)
            .unwrap();
        let _: i64 = redis::cmd("HANOI.BLOCK")
            .arg(key)
            .arg(&ids[50..70])
            .query(&mut con)
            .unwrap();
    }
    let () = redis::cmd("HANOI.DISABLE")
        .arg("fx:tiny")
        .query(&mut con)
        .unwrap();
    let lines = fixture_lines(&mut con);
    drop(con);
    s.shutdown("SAVE");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(root.join("tests/fixtures")).unwrap();
    std::fs::copy(s.dir.join("dump.rdb"), root.join(FIXTURE_RDB)).unwrap();
    std::fs::write(root.join(FIXTURE_ANSWERS), lines.join("\n") + "\n").unwrap();
}

#[test]
fn rdb_fixture_of_encoding_version_1_still_loads() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut s = Server::prepare(&[]);
    std::fs::copy(root.join(FIXTURE_RDB), s.dir.join("dump.rdb")).unwrap();
    s.spawn();
    let mut con = s.con();
    let want = std::fs::read_to_string(root.join(FIXTURE_ANSWERS)).unwrap();
    let got = fixture_lines(&mut con).join("\n") + "\n";
    assert!(got == want, "answers from the fixture differ");
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 3);
}

#[test]
fn at_maxmemory_writes_fail_with_oom_and_reads_work() {
    let s = Server::start(&["--maxmemory-policy", "noeviction"]);
    let mut con = s.con();
    build_big_flag(&mut con, "f", 1000, 61);
    let () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "1"])
        .query(&mut con)
        .unwrap();
    for args in [
        &["HANOI.REGISTER", "f", "USER", "new"][..],
        &["HANOI.DEFINE", "g"],
        &["HANOI.BLOCK", "f", "x"],
        &["HANOI.REGISTER", "f", "REGEX", "^z"],
    ] {
        let r: redis::RedisResult<Value> = redis::cmd(args[0]).arg(&args[1..]).query(&mut con);
        let e = r.unwrap_err();
        assert_eq!(e.code(), Some("OOM"), "{args:?}: {e}");
    }
    let on: i64 = redis::cmd("HANOI.ENABLED")
        .arg(&["f", "someone"])
        .query(&mut con)
        .unwrap();
    assert!(on == 0 || on == 1);
    let _: Value = redis::cmd("HANOI.VARIANT")
        .arg(&["f", "someone"])
        .query(&mut con)
        .unwrap();
    let _: Value = redis::cmd("HANOI.GET").arg("f").query(&mut con).unwrap();
    let _: Vec<i64> = redis::cmd("HANOI.MENABLED")
        .arg(&["someone", "f"])
        .query(&mut con)
        .unwrap();
    let () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", "0"])
        .query(&mut con)
        .unwrap();
    let n: i64 = redis::cmd("HANOI.REGISTER")
        .arg(&["f", "USER", "new"])
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn acl_reader_can_evaluate_but_not_write_nor_read_other_keys() {
    let s = Server::start(&[]);
    let mut admin = s.con();
    build_big_flag(&mut admin, "flags:a", 1000, 71);
    let () = redis::cmd("HANOI.DEFINE")
        .arg(&["other:b", "PERCENTAGE", "100"])
        .query(&mut admin)
        .unwrap();
    let () = redis::cmd("ACL")
        .arg(&[
            "SETUSER",
            "reader",
            "on",
            ">secret",
            "~flags:*",
            "-@all",
            "+hanoi.enabled",
            "+hanoi.variant",
            "+hanoi.menabled",
        ])
        .query(&mut admin)
        .unwrap();
    let mut reader = redis::Client::open(format!("redis://reader:secret@127.0.0.1:{}/", s.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let want: i64 = redis::cmd("HANOI.ENABLED")
        .arg(&["flags:a", "x1"])
        .query(&mut admin)
        .unwrap();
    let got: i64 = redis::cmd("HANOI.ENABLED")
        .arg(&["flags:a", "x1"])
        .query(&mut reader)
        .unwrap();
    assert_eq!(got, want);
    let _: Value = redis::cmd("HANOI.VARIANT")
        .arg(&["flags:a", "x1"])
        .query(&mut reader)
        .unwrap();
    let _: Vec<i64> = redis::cmd("HANOI.MENABLED")
        .arg(&["x1", "flags:a", "flags:none"])
        .query(&mut reader)
        .unwrap();
    let denied: &[&[&str]] = &[
        &["HANOI.DEFINE", "flags:a"],
        &["HANOI.REGISTER", "flags:a", "USER", "me"],
        &["HANOI.BLOCK", "flags:a", "me"],
        &["HANOI.TOGGLE", "flags:a"],
        &["HANOI.GET", "flags:a"],
        &["HANOI.ENABLED", "other:b", "x1"],
        &["HANOI.MENABLED", "x1", "flags:a", "other:b"],
        &["GET", "flags:a"],
    ];
    for args in denied {
        let r: redis::RedisResult<Value> = redis::cmd(args[0]).arg(&args[1..]).query(&mut reader);
        let e = r.unwrap_err();
        assert_eq!(e.code(), Some("NOPERM"), "{args:?}: {e}");
    }
    // Nothing changed.
    let on: i64 = redis::cmd("HANOI.ENABLED")
        .arg(&["flags:a", "me"])
        .query(&mut admin)
        .unwrap();
    let _ = on;
    let g: Value = redis::cmd("HANOI.GET")
        .arg("other:b")
        .query(&mut admin)
        .unwrap();
    assert!(format!("{g:?}").contains("100"));
}

#[test]
fn limits_lowered_later_do_not_lose_stored_flags() {
    // Started with low limits, raised at run time to register, then
    // restarted with the low limits again: the AOF replay and a replica
    // with the low limits keep everything.
    // Module arguments first: they follow --loadmodule's path.
    let low = [
        "regex-size-limit",
        "10000",
        "max-regexes",
        "1",
        "max-ids-per-command",
        "1000",
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
    ];
    let mut s = Server::start(&low);
    let mut con = s.con();
    for (k, v) in [
        ("hanoi.regex-size-limit", "1048576"),
        ("hanoi.max-regexes", "10"),
        ("hanoi.max-ids-per-command", "5000"),
    ] {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query(&mut con)
            .unwrap();
    }
    let () = redis::cmd("HANOI.DEFINE")
        .arg(&["f", "PERCENTAGE", "0"])
        .query(&mut con)
        .unwrap();
    let n: i64 = redis::cmd("HANOI.REGISTER")
        .arg(&["f", "REGEX", "^[a-z]{300}$", "^a"])
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 2);
    let ids: Vec<String> = (0..3000).map(|i| format!("id{i}")).collect();
    let n: i64 = redis::cmd("HANOI.REGISTER")
        .arg("f")
        .arg("USER")
        .arg(&ids)
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 3000);
    let port = s.port.to_string();
    let replica = Server::start(&[
        "regex-size-limit",
        "10000",
        "max-regexes",
        "1",
        "--replicaof",
        "127.0.0.1",
        &port,
    ]);
    let n: i64 = redis::cmd("HANOI.REGISTER")
        .arg(&["f", "REGEX", "^b", "^c"])
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 2);
    let synced: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(20_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(synced, 1);
    let want = snapshot(&mut con, "f");
    let mut rc = replica.con();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while snapshot(&mut rc, "f") != want {
        assert!(std::time::Instant::now() < deadline, "replica differs");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(con);
    s.shutdown("NOSAVE");
    s.start_again();
    let mut con = s.con();
    assert_eq!(snapshot(&mut con, "f"), want);
    let long_word = "w".repeat(300);
    let on: i64 = redis::cmd("HANOI.ENABLED")
        .arg("f")
        .arg(&long_word)
        .query(&mut con)
        .unwrap();
    assert_eq!(on, 1);
    // New writes do meet the low limits again.
    let r: redis::RedisResult<i64> = redis::cmd("HANOI.REGISTER")
        .arg(&["f", "REGEX", "^d"])
        .query(&mut con);
    assert!(r.unwrap_err().to_string().contains("too many regexes"));
}
