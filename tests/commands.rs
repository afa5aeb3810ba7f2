//! Every command and every error case, end to end against a real server.

mod common;

use common::{bulk, err, err_b, int, int_b, ok, query, run, snapshot, Server};
use redis::Value;

fn seed(con: &mut redis::Connection) {
    ok(con, &["HANOI.DEFINE", "cdc_on", "PERCENTAGE", "80", "VARIANTS", "2", "foo", "bar"]);
    assert_eq!(int(con, &["HANOI.REGISTER", "cdc_on", "USER", "447568110000"]), 1);
    assert_eq!(int(con, &["HANOI.REGISTER", "cdc_on", "REGEX", "01$"]), 1);
}

#[test]
fn seed_example_and_explain() {
    let s = Server::start(&[]);
    let mut con = s.con();
    seed(&mut con);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "cdc_on", "44488"]), 0);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "cdc_on", "443301"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "cdc_on", "444401"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "cdc_on", "447568110000"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "cdc_on"]), 1);
    assert_eq!(bulk(&mut con, &["HANOI.VARIANT", "cdc_on", "443301"]).as_deref(), Some("bar"));
    assert_eq!(bulk(&mut con, &["HANOI.VARIANT", "cdc_on", "44488"]), None);
    let e = run(&mut con, &["HANOI.EXPLAIN", "cdc_on", "44488"]).unwrap();
    assert_eq!(
        e,
        Value::Array(vec![
            Value::Int(0),
            Value::Nil,
            Value::SimpleString("outside".into()),
            Value::Int(88),
            Value::Int(80),
            Value::Nil
        ])
    );
    let e = run(&mut con, &["HANOI.EXPLAIN", "cdc_on", "443301"]).unwrap();
    assert_eq!(
        e,
        Value::Array(vec![
            Value::Int(1),
            Value::BulkString(b"bar".to_vec()),
            Value::SimpleString("regex".into()),
            Value::BulkString(b"01$".to_vec()),
            Value::Int(80),
            Value::Nil
        ])
    );
    let e = run(&mut con, &["HANOI.EXPLAIN", "cdc_on", "447568110000"]).unwrap();
    assert!(matches!(e, Value::Array(ref a) if a[2] == Value::SimpleString("user".into())));
    let e = run(&mut con, &["HANOI.EXPLAIN", "missing", "1"]).unwrap();
    assert_eq!(
        e,
        Value::Array(vec![
            Value::Int(0),
            Value::Nil,
            Value::SimpleString("undefined".into()),
            Value::Nil,
            Value::Int(0),
            Value::Nil
        ])
    );
    // Commands are case-insensitive, options too.
    assert_eq!(int(&mut con, &["hanoi.enabled", "cdc_on", "443301"]), 1);
    #[rustfmt::skip]
    ok(&mut con, &["hanoi.define", "lower", "percentage", "5", "variants", "1", "x", "weights", "3", "salt", "s"]);
}

#[test]
fn every_write_command() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f"]);
    // Defaults: enabled, 0 %.
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "1"]), 0);
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "f", "USER", "1", "2", "2"]), 2);
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "f", "USER", "2"]), 0);
    assert_eq!(int(&mut con, &["HANOI.UNREGISTER", "f", "USER", "2", "3"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "1"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "2"]), 0);
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "f", "REGEX", "^9", "^8", "^9"]), 2);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "8123"]), 1);
    assert_eq!(int(&mut con, &["HANOI.UNREGISTER", "f", "REGEX", "^8", "nope"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "8123"]), 0);
    assert_eq!(int(&mut con, &["HANOI.BLOCK", "f", "1", "9000"]), 2);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "1"]), 0);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "9000"]), 0);
    assert_eq!(int(&mut con, &["HANOI.UNBLOCK", "f", "1", "5"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "1"]), 1);
    ok(&mut con, &["HANOI.DISABLE", "f"]);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f"]), 0);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "1"]), 0);
    ok(&mut con, &["HANOI.ENABLE", "f"]);
    assert_eq!(int(&mut con, &["HANOI.TOGGLE", "f"]), 0);
    assert_eq!(int(&mut con, &["HANOI.TOGGLE", "f"]), 1);
    ok(&mut con, &["HANOI.PERCENTAGE", "f", "100"]);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "anybody"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "9000"]), 0, "blocked beats 100 %");
    // Redefinition keeps registrations, blocks and regexes.
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "0", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "3", "SALT", "pepper"]);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "1"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "9123"]), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", "9000"]), 0);
    assert!(bulk(&mut con, &["HANOI.VARIANT", "f", "1"]).is_some());
    // Missing flags.
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "nope", "1"]), 0);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "nope"]), 0);
    assert_eq!(bulk(&mut con, &["HANOI.VARIANT", "nope", "1"]), None);
    assert_eq!(run(&mut con, &["HANOI.GET", "nope"]), Ok(Value::Nil));
    // MENABLED
    ok(&mut con, &["HANOI.DEFINE", "g", "PERCENTAGE", "100"]);
    assert_eq!(
        run(&mut con, &["HANOI.MENABLED", "1", "f", "g", "nope"]),
        Ok(Value::Array(vec![Value::Int(1), Value::Int(1), Value::Int(0)]))
    );
}

#[test]
fn get_is_a_map_under_resp3_and_flat_under_resp2() {
    let s = Server::start(&[]);
    let mut con = s.con();
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "f", "DISABLED", "PERCENTAGE", "30", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "2", "SALT", "s"]);
    int(&mut con, &["HANOI.REGISTER", "f", "USER", "1", "2"]);
    int(&mut con, &["HANOI.REGISTER", "f", "REGEX", "^x", "y$"]);
    int(&mut con, &["HANOI.BLOCK", "f", "3"]);
    let flat = match run(&mut con, &["HANOI.GET", "f"]).unwrap() {
        Value::Array(a) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!(flat.len(), 42);
    let field = |name: &str| -> Value {
        let i = flat
            .iter()
            .position(|v| *v == Value::BulkString(name.as_bytes().to_vec()))
            .unwrap();
        flat[i + 1].clone()
    };
    assert_eq!(field("enabled"), Value::Int(0));
    assert_eq!(field("percentage"), Value::Int(30));
    // Created, then three writes that changed it.
    assert_eq!(field("revision"), Value::Int(4));
    assert_eq!(field("type"), Value::SimpleString("string".into()));
    assert_eq!(field("values"), Value::Array(vec![]));
    assert_eq!(field("default"), Value::Nil);
    assert_eq!(field("effective_percentage"), Value::Int(30));
    assert_eq!(
        field("variants"),
        Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::BulkString(b"b".to_vec())])
    );
    assert_eq!(field("weights"), Value::Array(vec![Value::Int(1), Value::Int(2)]));
    assert_eq!(field("salt"), Value::BulkString(b"s".to_vec()));
    assert_eq!(field("users"), Value::Int(2));
    assert_eq!(field("blocked"), Value::Int(1));
    assert_eq!(
        field("regexes"),
        Value::Array(vec![Value::BulkString(b"^x".to_vec()), Value::BulkString(b"y$".to_vec())])
    );
    assert!(matches!(field("created"), Value::Int(ms) if ms > 1_700_000_000_000));
    assert_eq!(field("metadata"), Value::Array(vec![]));
    let mut con3 = s.con3();
    match run(&mut con3, &["HANOI.GET", "f"]).unwrap() {
        Value::Map(m) => {
            assert_eq!(m.len(), 21);
            assert!(m
                .iter()
                .any(|(k, v)| *k == Value::BulkString(b"metadata".to_vec())
                    && matches!(v, Value::Map(_))));
        }
        other => panic!("expected a map, got {other:?}"),
    }
}

/// Each bad input: its command, and a piece of the error it must get.
#[rustfmt::skip]
const BAD: &[(&[&str], &str)] = &[
    (&["HANOI.DEFINE"], "wrong number of arguments"),
    (&["HANOI.DEFINE", "f", "PERCENTAGE"], "PERCENTAGE needs a value"),
    (&["HANOI.DEFINE", "f", "PERCENTAGE", "101"], "percentage must be an integer between 0 and 100"),
    (&["HANOI.DEFINE", "f", "PERCENTAGE", "-1"], "percentage must be"),
    (&["HANOI.DEFINE", "f", "PERCENTAGE", "abc"], "percentage must be"),
    (&["HANOI.DEFINE", "f", "PERCENTAGE", "1.5"], "percentage must be"),
    (&["HANOI.DEFINE", "f", "PERCENTAGE", "99999999999999999999999"], "percentage must be"),
    (&["HANOI.DEFINE", "f", "PERCENTAGE", ""], "percentage must be"),
    (&["HANOI.DEFINE", "f", "BOGUS"], "unknown option 'BOGUS'"),
    (&["HANOI.DEFINE", "f", "PERCENTAGE", "5", "PERCENTAGE", "6"], "given twice"),
    (&["HANOI.DEFINE", "f", "ENABLED", "DISABLED"], "given twice or with its opposite"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "3", "a", "b"], "VARIANTS 3 needs 3 names, got 2"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "x", "a"], "VARIANTS count must be a non-negative integer"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "-1"], "VARIANTS count must be"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "1", "a", "b"], "unknown option 'b'"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "99999999999", "a"], "too many variants"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", ""], "variant name must not be empty"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "a"], "duplicate variant name 'a'"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "1"], "1 weights for 2 variants"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "2", "3"], "3 weights for 2 variants"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "0"], "weight must be an integer greater than 0"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "-2"], "weight must be"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "x"], "weight must be"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "2.5"], "weight must be"),
    (&["HANOI.DEFINE", "f", "VALUES", "1"], "VALUES needs VARIANTS"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "VALUES", "1"], "1 values for 2 variants"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "VALUES", "1", "{"], "'{' is not JSON"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "VALUES", "1", "'x'"], "is not JSON"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "VALUES", "1", "\"x\""], "values of two types, number and string"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "VALUES", "{}", "[]", "DEFAULT", "c"], "DEFAULT 'c' is not one of the variants"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "1", "a", "VALUES", "null"], "null is not a flag value"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "1", "a", "VALUES", "1 2"], "is not JSON"),
    (&["HANOI.DEFINE", "f", "DEFAULT", "a"], "DEFAULT 'a' is not one of the variants"),
    (&["HANOI.VALUE", "f", "1", "WITH", "id", "x"], "the id is the attribute 'id'"),
    (&["HANOI.RESOLVE", "f"], "wrong number of arguments"),
    (&["HANOI.DEFINE", "f", "VARIANTS", "2", "a", "b", "WEIGHTS", "1", "4294967296"], "weight must be"),
    (&["HANOI.DEFINE", "f", "WEIGHTS", "1"], "WEIGHTS needs VARIANTS"),
    (&["HANOI.DEFINE", "f", "SALT"], "SALT needs a value"),
    (&["HANOI.REGISTER", "f", "USER"], "wrong number of arguments"),
    (&["HANOI.REGISTER", "f"], "wrong number of arguments"),
    (&["HANOI.REGISTER", "f", "GROUP", "x"], "expected USER or REGEX, got 'GROUP'"),
    (&["HANOI.REGISTER", "missing", "USER", "1"], "no such flag"),
    (&["HANOI.REGISTER", "f", "REGEX", "("], "invalid regex '('"),
    (&["HANOI.REGISTER", "f", "REGEX", "ok", "[z-a]"], "invalid regex '[z-a]'"),
    (&["HANOI.REGISTER", "f", "REGEX", ""], "empty regex"),
    (&["HANOI.UNREGISTER", "f", "USER"], "wrong number of arguments"),
    (&["HANOI.UNREGISTER", "f", "THING", "1"], "expected USER or REGEX"),
    (&["HANOI.UNREGISTER", "missing", "USER", "1"], "no such flag"),
    (&["HANOI.BLOCK", "f"], "wrong number of arguments"),
    (&["HANOI.BLOCK", "missing", "1"], "no such flag"),
    (&["HANOI.UNBLOCK", "f"], "wrong number of arguments"),
    (&["HANOI.ENABLE", "missing"], "no such flag"),
    (&["HANOI.ENABLE", "f", "extra"], "wrong number of arguments"),
    (&["HANOI.DISABLE"], "wrong number of arguments"),
    (&["HANOI.TOGGLE", "missing"], "no such flag"),
    (&["HANOI.PERCENTAGE", "f"], "wrong number of arguments"),
    (&["HANOI.PERCENTAGE", "f", "200"], "percentage must be"),
    (&["HANOI.PERCENTAGE", "missing", "5"], "no such flag"),
    (&["HANOI.ENABLED"], "wrong number of arguments"),
    (&["HANOI.ENABLED", "f", "1", "2"], "expected WITH, got '2'"),
    (&["HANOI.VARIANT", "f"], "wrong number of arguments"),
    (&["HANOI.EXPLAIN", "f"], "wrong number of arguments"),
    (&["HANOI.GET"], "wrong number of arguments"),
    (&["HANOI.MENABLED", "1"], "wrong number of arguments"),
    (&["HANOI.ENABLED", "str", "1"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
    (&["HANOI.VARIANT", "str", "1"], "WRONGTYPE"),
    (&["HANOI.EXPLAIN", "str", "1"], "WRONGTYPE"),
    (&["HANOI.GET", "str"], "WRONGTYPE"),
    (&["HANOI.MENABLED", "1", "f", "str"], "WRONGTYPE"),
    (&["HANOI.DEFINE", "str"], "WRONGTYPE"),
    (&["HANOI.REGISTER", "str", "USER", "1"], "WRONGTYPE"),
    (&["HANOI.TOGGLE", "str"], "WRONGTYPE"),
];

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let s = Server::start(&[]);
    let mut con = s.con();
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "40", "VARIANTS", "2", "a", "b", "WEIGHTS", "2", "1", "SALT", "s"]);
    int(&mut con, &["HANOI.REGISTER", "f", "USER", "1", "2", "3"]);
    int(&mut con, &["HANOI.REGISTER", "f", "REGEX", "^7", "ok"]);
    int(&mut con, &["HANOI.BLOCK", "f", "9"]);
    ok(&mut con, &["SET", "str", "plain"]);
    let before = snapshot(&mut con, "f");
    for (args, want) in BAD {
        let e = err(&mut con, args);
        assert!(e.contains(want), "{args:?}: got '{e}', want '{want}'");
        assert_eq!(snapshot(&mut con, "f"), before, "{args:?} changed the flag");
        assert_eq!(bulk(&mut con, &["GET", "str"]).as_deref(), Some("plain"));
        assert_eq!(run(&mut con, &["EXISTS", "missing"]), Ok(Value::Int(0)));
        assert_eq!(run(&mut con, &["PING"]), Ok(Value::SimpleString("PONG".into())));
    }
    // Binary, enormous and overflowing arguments.
    let huge_literal = "x".repeat(2_000_000);
    #[rustfmt::skip]
    let binary: &[(&[&[u8]], &str)] = &[
        (&[b"HANOI.DEFINE", b"f", &[0xff, 0x00, 0x80]], r"unknown option '\xff\x00\x80'"),
        (&[b"HANOI.DEFINE", b"f", b"VARIANTS", b"18446744073709551616", b"a"], "VARIANTS count must be"),
        (&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", &[0xff]], "percentage must be"),
        (&[b"HANOI.REGISTER", b"f", b"REGEX", br"(\w{500}){500}"], "size limit"),
        (&[b"HANOI.REGISTER", b"f", b"REGEX", huge_literal.as_bytes()], "size limit"),
        (&[b"HANOI.REGISTER", b"f", b"REGEX", &[0xc3, 0x28]], "not valid UTF-8"),
        (&[b"HANOI.REGISTER", b"f", &[0], b"1"], "expected USER or REGEX"),
    ];
    for (args, want) in binary {
        let e = err_b(&mut con, *args);
        assert!(e.contains(want), "got '{e}', want '{want}'");
        assert_eq!(snapshot(&mut con, "f"), before);
        assert_eq!(run(&mut con, &["PING"]), Ok(Value::SimpleString("PONG".into())));
    }
}

#[test]
fn regex_limits_are_module_options() {
    let s = Server::start(&["max-regexes", "2"]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f"]);
    ok(&mut con, &["CONFIG", "SET", "hanoi.regex-size-limit", "10000"]);
    let e = err(&mut con, &["HANOI.REGISTER", "f", "REGEX", r"\w{1000}"]);
    assert!(e.contains("size limit"), "{e}");
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "f", "REGEX", "a", "b"]), 2);
    let e = err(&mut con, &["HANOI.REGISTER", "f", "REGEX", "c"]);
    assert!(e.contains("too many regexes for one flag (limit 2)"), "{e}");
    // A pattern that makes backtracking engines explode answers at once.
    ok(&mut con, &["HANOI.DEFINE", "g"]);
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "g", "REGEX", "(a+)+$"]), 1);
    let mut id = "a".repeat(50_000);
    id.push('!');
    let t = std::time::Instant::now();
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "g", &id]), 0);
    assert!(t.elapsed().as_secs() < 5);
}

#[test]
fn binary_ids_and_patterns() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f"]);
    let id: &[u8] = &[0, 0xff, b'\r', b'\n', 0x80];
    assert_eq!(int_b(&mut con, ("HANOI.REGISTER", "f", "USER", id, "")), 2);
    assert_eq!(int_b(&mut con, ("HANOI.ENABLED", "f", id)), 1);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "f", ""]), 1);
    let e = err_b(&mut con, ("HANOI.REGISTER", "f", "REGEX", &[0xffu8][..]));
    assert!(e.contains(r"invalid regex '\xff': pattern is not valid UTF-8"), "{e}");
    assert_eq!(int(&mut con, &["HANOI.REGISTER", "f", "REGEX", r"(?-u:\xFE)"]), 1);
    assert_eq!(int_b(&mut con, ("HANOI.ENABLED", "f", &[1u8, 0xfe][..])), 1);
}

#[test]
fn the_server_under_test_is_the_one_asked_for() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let info: String = query(&mut con, &["INFO", "server"]);
    let wanted = common::server_binary();
    eprintln!("server under test: {wanted}");
    assert_eq!(wanted.contains("valkey"), info.contains("valkey_version"), "{info}");
}

/// The `revision` field of `HANOI.GET`.
fn revision(con: &mut redis::Connection, key: &str) -> i64 {
    let fields: Vec<Value> =
        redis::from_redis_value(&run(con, &["HANOI.GET", key]).unwrap()).unwrap();
    let i = fields
        .iter()
        .position(|v| *v == Value::BulkString(b"revision".to_vec()))
        .expect("GET has a revision");
    redis::from_redis_value(&fields[i + 1]).unwrap()
}

#[test]
fn the_revision_grows_by_one_on_every_change_and_on_nothing_else() {
    // With no history kept, a change still moves the revision: it is what
    // hanoi-web's stale-save check compares.
    let s = Server::start(&["--hanoi.history-length", "0"]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "10"]);
    assert_eq!(revision(&mut con, "f"), 1);
    let steps: &[(&[&str], i64)] = &[
        (&["HANOI.DEFINE", "f", "PERCENTAGE", "10"], 1),
        (&["HANOI.REGISTER", "f", "USER", "x"], 2),
        (&["HANOI.REGISTER", "f", "USER", "x"], 2),
        (&["HANOI.UNREGISTER", "f", "USER", "y"], 2),
        (&["HANOI.UNREGISTER", "f", "USER", "x"], 3),
        (&["HANOI.ENABLED", "f", "x"], 3),
        (&["HANOI.EXPLAIN", "f", "x"], 3),
        (&["HANOI.TALLY", "f", "RESET"], 3),
        (&["HANOI.ENABLE", "f"], 3),
        (&["HANOI.TOGGLE", "f"], 4),
        (&["HANOI.PERCENTAGE", "f", "101"], 4),
        (&["HANOI.PERCENTAGE", "f", "20"], 5),
        (&["HANOI.SCHEDULE", "f", "RAMP", "0", "50", "1000", "2000"], 6),
        // PERCENTAGE by DEFINE ends the ramp: a change even with the same
        // percentage.
        (&["HANOI.DEFINE", "f", "DISABLED", "PERCENTAGE", "20"], 7),
        (&["HANOI.META", "f", "SET", "owner", "ana"], 8),
        (&["HANOI.META", "f", "SET", "owner", "ana"], 8),
        (&["HANOI.RULE", "f", "SET", "r", "IF", "plan", "EQ", "pro"], 9),
        (&["HANOI.RULE", "f", "DEL", "nope"], 9),
    ];
    for (cmd, want) in steps {
        let _ = run(&mut con, cmd);
        assert_eq!(revision(&mut con, "f"), *want, "after {cmd:?}");
    }
    // A stale-save check: WATCH, compare the revision, MULTI/EXEC. A write
    // made behind its back (register one id, unregister another: no history
    // to see it by) makes the EXEC fail.
    let mut other = s.con();
    let seen = revision(&mut con, "f");
    ok(&mut con, &["WATCH", "f"]);
    int(&mut other, &["HANOI.REGISTER", "f", "USER", "z"]);
    int(&mut other, &["HANOI.UNREGISTER", "f", "USER", "z"]);
    assert_eq!(revision(&mut con, "f"), seen + 2);
    ok(&mut con, &["MULTI"]);
    assert_eq!(
        run(&mut con, &["HANOI.PERCENTAGE", "f", "30"]),
        Ok(Value::SimpleString("QUEUED".into()))
    );
    assert_eq!(run(&mut con, &["EXEC"]), Ok(Value::Nil));
}

#[test]
fn values_are_typed_json_and_kept_to_the_letter() {
    let s = Server::start(&["--hanoi.max-value-bytes", "64"]);
    let mut con = s.con();
    // Numbers keep their exact text; a default serves when off.
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "n", "PERCENTAGE", "100", "VARIANTS", "2", "a", "b", "VALUES", " 0.10000000000000000000001 ", "1e300", "DEFAULT", "b"]);
    let v = bulk(&mut con, &["HANOI.VALUE", "n", "x"]).unwrap();
    assert!(v == "0.10000000000000000000001" || v == "1e300", "{v}");
    ok(&mut con, &["HANOI.DISABLE", "n"]);
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "n", "x"]).as_deref(), Some("1e300"));
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "n"]).as_deref(), Some("1e300"));
    assert_eq!(bulk(&mut con, &["HANOI.VARIANT", "n", "x"]).as_deref(), Some("b"));
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "n", "x"]), 0);
    // A boolean flag serves true/false; a string flag its variant's name.
    ok(&mut con, &["HANOI.DEFINE", "b", "PERCENTAGE", "100"]);
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "b", "x"]).as_deref(), Some("true"));
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "b"]).as_deref(), Some("true"));
    ok(&mut con, &["HANOI.DEFINE", "s", "PERCENTAGE", "100", "VARIANTS", "1", "say \"hi\""]);
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "s", "x"]).as_deref(), Some("\"say \\\"hi\\\"\""));
    // Without an id: what does not depend on it (one variant at 100 %).
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "s"]).as_deref(), Some("\"say \\\"hi\\\"\""));
    ok(&mut con, &["HANOI.DEFINE", "s2", "PERCENTAGE", "50", "VARIANTS", "1", "a"]);
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "s2"]), None, "50 % needs the id");
    // Boolean values are a variant's value, not the switch.
    #[rustfmt::skip]
    ok(&mut con, &["HANOI.DEFINE", "bv", "PERCENTAGE", "100", "VARIANTS", "1", "no", "VALUES", "false"]);
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "bv", "x"]).as_deref(), Some("false"));
    assert_eq!(bulk(&mut con, &["HANOI.VALUE", "missing", "x"]), None);
    // hanoi.max-value-bytes bounds one value.
    let big = format!("\"{}\"", "x".repeat(70));
    let e = err(&mut con, &["HANOI.DEFINE", "s", "VARIANTS", "1", "a", "VALUES", &big]);
    assert!(e.contains("over hanoi.max-value-bytes (64)"), "{e}");
    // GET shows the type, the values and the default; they survive DEBUG
    // RELOAD and are in the digest.
    let digest = run(&mut con, &["DEBUG", "DIGEST-VALUE", "n"]).unwrap();
    ok(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(run(&mut con, &["DEBUG", "DIGEST-VALUE", "n"]).unwrap(), digest);
    let get: Vec<Value> =
        redis::from_redis_value(&run(&mut con, &["HANOI.GET", "n"]).unwrap()).unwrap();
    let field = |name: &str| {
        let i = get
            .iter()
            .position(|v| *v == Value::BulkString(name.as_bytes().to_vec()))
            .unwrap();
        get[i + 1].clone()
    };
    assert_eq!(field("type"), Value::SimpleString("number".into()));
    assert_eq!(field("default"), Value::BulkString(b"b".to_vec()));
    assert_eq!(
        field("values"),
        Value::Array(vec![
            Value::BulkString(b"0.10000000000000000000001".to_vec()),
            Value::BulkString(b"1e300".to_vec())
        ])
    );
    ok(&mut con, &["HANOI.DEFINE", "n", "VARIANTS", "2", "a", "b"]);
    assert_ne!(run(&mut con, &["DEBUG", "DIGEST-VALUE", "n"]).unwrap(), digest);
}

#[test]
fn module_list_and_info_say_the_same_version() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let list: Vec<Vec<Value>> =
        redis::from_redis_value(&run(&mut con, &["MODULE", "LIST"]).unwrap()).unwrap();
    let hanoi = list
        .iter()
        .find(|m| m.contains(&Value::BulkString(b"hanoi".to_vec())))
        .expect("hanoi is loaded");
    let i = hanoi
        .iter()
        .position(|v| *v == Value::BulkString(b"ver".to_vec()))
        .unwrap();
    let ver: i64 = redis::from_redis_value(&hanoi[i + 1]).unwrap();
    let info: String =
        redis::from_redis_value(&run(&mut con, &["INFO", "hanoi"]).unwrap()).unwrap();
    let crate_version = env!("CARGO_PKG_VERSION");
    assert!(info.contains(crate_version), "{info}");
    let parts: Vec<i64> = crate_version
        .split('.')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(ver, parts[0] * 10_000 + parts[1] * 100 + parts[2]);
}

/// One `HANOI.IDS` call: the next cursor and the ids.
fn ids_step(con: &mut redis::Connection, args: &[&str]) -> (String, Vec<String>) {
    let mut full = vec!["HANOI.IDS"];
    full.extend_from_slice(args);
    match run(con, &full).unwrap() {
        Value::Array(v) => match &v[..] {
            [Value::BulkString(c), Value::Array(ids)] => (
                String::from_utf8(c.clone()).unwrap(),
                ids.iter()
                    .map(|i| match i {
                        Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
                        other => panic!("{other:?}"),
                    })
                    .collect(),
            ),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn ids_walks_registered_and_blocked_ids_with_sscans_guarantee() {
    let s = Server::start(&[]);
    let mut con = s.con();
    ok(&mut con, &["HANOI.DEFINE", "f", "PERCENTAGE", "10"]);
    let kept: Vec<String> = (0..2000).map(|i| format!("user-{i}")).collect();
    let mut args = vec!["HANOI.REGISTER", "f", "USER"];
    args.extend(kept.iter().map(String::as_str));
    assert_eq!(int(&mut con, &args), 2000);
    assert_eq!(int(&mut con, &["HANOI.BLOCK", "f", "bad-1", "bad-2"]), 2);

    // A walk with writes between the steps (the set grows, shrinks and
    // resizes): every id there all along comes at least once.
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_owned();
    let mut step = 0;
    loop {
        let (next, ids) = ids_step(&mut con, &["f", "USERS", &cursor, "COUNT", "50"]);
        seen.extend(ids);
        for j in 0..40 {
            let extra = format!("extra-{step}-{j}");
            int(&mut con, &["HANOI.REGISTER", "f", "USER", &extra]);
            if j % 2 == 0 {
                int(&mut con, &["HANOI.UNREGISTER", "f", "USER", &extra]);
            }
        }
        step += 1;
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(step < 10_000, "the walk ends");
    }
    assert!(kept.iter().all(|k| seen.contains(k)));

    // MATCH filters; BLOCKED walks the blocked ids; a missing key is 0 and none.
    // (A step may stop early, at its work budget, as SSCAN may: walk on.)
    let (mut c, mut ids) =
        ids_step(&mut con, &["f", "users", "0", "MATCH", "user-199?", "COUNT", "10000"]);
    while c != "0" {
        let (next, more) =
            ids_step(&mut con, &["f", "users", &c, "MATCH", "user-199?", "COUNT", "10000"]);
        ids.extend(more);
        c = next;
    }
    ids.sort();
    assert_eq!(
        ids,
        (1990..2000)
            .map(|i| format!("user-{i}"))
            .collect::<Vec<_>>()
    );
    let (c, mut ids) = ids_step(&mut con, &["f", "BLOCKED", "0"]);
    ids.sort();
    assert_eq!((c.as_str(), ids), ("0", vec!["bad-1".to_owned(), "bad-2".to_owned()]));
    assert_eq!(ids_step(&mut con, &["nope", "USERS", "0"]), ("0".to_owned(), vec![]));

    // Bad input: ERR, nothing changed; a key of another type: WRONGTYPE.
    let before = snapshot(&mut con, "f");
    for bad in [
        &["HANOI.IDS", "f", "ALL", "0"][..],
        &["HANOI.IDS", "f", "USERS", "-1"],
        &["HANOI.IDS", "f", "USERS", "abc"],
        &["HANOI.IDS", "f", "USERS", "0", "COUNT", "0"],
        &["HANOI.IDS", "f", "USERS", "0", "COUNT"],
        &["HANOI.IDS", "f", "USERS", "0", "LIMIT", "5"],
    ] {
        assert!(err(&mut con, bad).starts_with("ERR"), "{bad:?}");
    }
    assert_eq!(snapshot(&mut con, "f"), before);
    assert!(err(&mut con, &["HANOI.IDS", "f"]).contains("wrong number of arguments"));
    redis::cmd("SET")
        .arg("plain")
        .arg("x")
        .exec(&mut con)
        .unwrap();
    assert!(err(&mut con, &["HANOI.IDS", "plain", "USERS", "0"]).starts_with("WRONGTYPE"));
}
