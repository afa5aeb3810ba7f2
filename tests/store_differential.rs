//! Random sequences of every write (DEFINE, REGISTER/UNREGISTER, BLOCK,
//! RULE SET/DEL/MOVE, SCHEDULE WINDOW/RAMP/CLEAR, PERCENTAGE, TOGGLE, META)
//! and queries with attributes, through the core's `Rollout` and through the
//! module: equal replies and errors, equal answers, equal `HANOI.GET` and
//! equal `HANOI.EXPORT` bytes (history and creation time aside: the module
//! stamps them with its clock and its users, `Rollout` does not).

mod common;

use common::{run_b, Rng, Server};
use hanoi_core::rules::Attrs;
use hanoi_core::store::Reply;
use hanoi_core::{codec, Description, Rollout, Value as Core};
use redis::Value;

const IDS: &[&str] = &["1", "2", "44488", "443301", "u7", "x01", "anna", "ñ"];
const ATTRS: &[(&str, &[&str])] = &[
    ("country", &["DE", "FR", "US"]),
    ("plan", &["pro", "team", "free"]),
    ("app", &["1.9.0", "2.0.0", "2.3.1"]),
];
const PATTERNS: &[&str] = &["01$", "^u", "^[0-9]+$", "n"];
/// Schedules wholly in the past or the future: the module's clock and the
/// test's read the same side of them.
const TIMES: &[&str] = &["1000", "2000", "4000000000000", "4000000001000", "0"];

fn pct(rng: &mut Rng) -> String {
    rng.pick(&["0", "10", "50", "100", "101", "x"]).to_string()
}

/// One random write: the command name and its arguments after the key.
fn random_write(rng: &mut Rng) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    fn ids(rng: &mut Rng, n: u64) -> Vec<String> {
        (0..1 + rng.below(n))
            .map(|_| rng.pick(IDS).to_string())
            .collect()
    }
    let mut w = match rng.below(16) {
        0 | 1 => {
            let mut w = s(&["DEFINE"]);
            if rng.chance(50) {
                w.push(rng.pick(&["ENABLED", "DISABLED"]).to_string());
            }
            if rng.chance(60) {
                w.push("PERCENTAGE".into());
                w.push(pct(rng));
            }
            if rng.chance(50) {
                w.extend(s(&["VARIANTS", "2", "a", "b"]));
                if rng.chance(30) {
                    w.extend(s(&["WEIGHTS", "1", "3"]));
                }
            }
            if rng.chance(20) {
                w.extend(s(&["SALT", "pepper"]));
            }
            w
        }
        2 => [s(&["REGISTER", "USER"]), ids(rng, 3)].concat(),
        3 => [s(&["UNREGISTER", "USER"]), ids(rng, 3)].concat(),
        4 => vec![
            rng.pick(&["REGISTER", "UNREGISTER"]).to_string(),
            "REGEX".into(),
            rng.pick(PATTERNS).to_string(),
        ],
        5 => [s(&[*rng.pick(&["BLOCK", "UNBLOCK"])]), ids(rng, 2)].concat(),
        6 => {
            let (attr, values) = *rng.pick(ATTRS);
            let mut w = s(&["RULE", "SET", *rng.pick(&["r1", "r2", "r3"])]);
            if rng.chance(40) {
                w.extend(s(&["ROLLOUT", *rng.pick(&["0", "30", "100"])]));
            }
            if rng.chance(30) {
                w.extend(s(&["VARIANT", *rng.pick(&["a", "b"])]));
            }
            if attr == "app" {
                w.extend(s(&["IF", attr, "SEMVER_GE", *rng.pick(values)]));
            } else {
                w.extend(s(&["IF", attr, "IN", "2", values[0], *rng.pick(values)]));
            }
            w
        }
        7 => s(&["RULE", "DEL", *rng.pick(&["r1", "r2", "r3"])]),
        8 => s(&["RULE", "MOVE", *rng.pick(&["r1", "r2", "r3"]), *rng.pick(&["0", "1", "5"])]),
        9 => s(&["SCHEDULE", "WINDOW", *rng.pick(TIMES), *rng.pick(TIMES)]),
        10 => s(&[
            "SCHEDULE",
            "RAMP",
            *rng.pick(&["0", "20"]),
            *rng.pick(&["100", "60"]),
            *rng.pick(TIMES),
            *rng.pick(TIMES),
        ]),
        11 => match rng.below(3) {
            0 => s(&["SCHEDULE", "CLEAR"]),
            1 => s(&["SCHEDULE", "CLEAR", "WINDOW"]),
            _ => s(&["SCHEDULE", "CLEAR", "RAMP"]),
        },
        12 => vec!["PERCENTAGE".into(), pct(rng)],
        13 => s(&[*rng.pick(&["TOGGLE", "ENABLE", "DISABLE"])]),
        14 => s(&["META", "SET", *rng.pick(&["owner", "tags"]), *rng.pick(&["ana", "x,y"])]),
        _ => s(&["META", "DEL", *rng.pick(&["owner", "tags", "created"])]),
    };
    if rng.chance(3) {
        w.push("stray".into());
    }
    w
}

fn reply_of(r: Reply) -> Value {
    match r {
        Reply::Ok => Value::Okay,
        Reply::Count(n) => Value::Int(n as i64),
        Reply::State(on) => Value::Int(i64::from(on)),
    }
}

/// A core value as redis-rs reads the module's reply to it (RESP2).
fn redis_value(v: Core) -> Value {
    match v {
        Core::Nil => Value::Nil,
        Core::Bool(b) => Value::Int(i64::from(b)),
        Core::Int(i) => Value::Int(i),
        Core::Bytes(b) => Value::BulkString(b),
        Core::Word(w) => Value::SimpleString(w.into()),
        Core::List(l) => Value::Array(l.into_iter().map(redis_value).collect()),
        Core::Map(m) => Value::Array(
            m.into_iter()
                .flat_map(|(k, v)| [Value::BulkString(k), redis_value(v)])
                .collect(),
        ),
    }
}

/// `HANOI.GET` as the core describes the flag, `created` as the module has it.
fn described(flag: &hanoi_core::Flag, created: &Value) -> Value {
    let fields = Description::of(flag, hanoi_core::system_now_ms()).fields();
    Value::Array(
        fields
            .into_iter()
            .flat_map(|(k, v)| {
                let v = if k == "created" {
                    created.clone()
                } else {
                    redis_value(v)
                };
                [Value::BulkString(k.as_bytes().to_vec()), v]
            })
            .collect(),
    )
}

/// Export bytes with the history and creation time left out.
fn comparable(bytes: &[u8]) -> Vec<u8> {
    let flag = codec::from_bytes(bytes).expect("export decodes");
    let mut meta = flag.metadata().clone();
    meta.created_ms = 0;
    codec::to_bytes(&flag.with_observations(meta, Default::default()))
}

#[test]
fn random_writes_give_equal_flags_in_the_module_and_in_rollout() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let mut rng = Rng(0x0e_0de1_5eed);
    let mut checked = 0;
    for round in 0..40 {
        let key = format!("diff:{round}");
        let mut rollout = Rollout::new();
        for _ in 0..60 {
            let w = random_write(&mut rng);
            let mut args = vec![format!("HANOI.{}", w[0]), key.clone()];
            args.extend(w[1..].iter().cloned());
            let module = run_b(&mut con, &args);
            let core = rollout
                .run(&w[0], &key, &w[1..])
                .map(reply_of)
                .map_err(|e| format!("ERR {e}"));
            let module = module.map_err(|e| {
                // Redis words its own arity error; the core says the same.
                if e.starts_with("ERR wrong number of arguments") {
                    "ERR wrong number of arguments".to_owned()
                } else {
                    e
                }
            });
            assert_eq!(module, core, "{args:?}");
            // Queries with and without attributes.
            for _ in 0..4 {
                let id = *rng.pick(IDS);
                let (attr, values) = *rng.pick(ATTRS);
                let value = *rng.pick(values);
                let explain = run_b(&mut con, ("HANOI.EXPLAIN", &key, id, "WITH", attr, value));
                let pairs = [(attr.as_bytes(), value.as_bytes())];
                let e = rollout.explain_with(&key, id, Attrs::new(&pairs).unwrap());
                let want = Value::Array(e.values().into_iter().map(redis_value).collect());
                assert_eq!(explain.unwrap(), want, "{key} {id} {attr}={value} after {args:?}");
                checked += 1;
            }
        }
        let get = run_b(&mut con, ("HANOI.GET", &key)).unwrap();
        match rollout.get(&key) {
            None => assert_eq!(get, Value::Nil),
            Some(flag) => {
                let Value::Array(fields) = &get else {
                    panic!("GET gave {get:?}")
                };
                let created = fields
                    .chunks(2)
                    .find(|p| p[0] == Value::BulkString(b"created".to_vec()))
                    .map(|p| p[1].clone())
                    .unwrap();
                assert_eq!(get, described(flag, &created), "{key}");
                let export = run_b(&mut con, ("HANOI.EXPORT", &key)).unwrap();
                let Value::BulkString(bytes) = export else {
                    panic!("EXPORT gave {export:?}")
                };
                assert_eq!(comparable(&bytes), comparable(&codec::to_bytes(flag)), "{key}");
            }
        }
    }
    assert!(checked > 5000);
}
