//! Random flags built the same way in Redis and in the core's `Rollout`;
//! 10k random ids must get the same answers from both.

mod common;

use common::{int_b, ok_b, query, random_id, Rng, Server};
use hanoi_core::{Definition, Detail, Rollout};
use redis::Value;

const PATTERNS: &[&str] =
    &["^1", "7$", "00", "^[0-4]{3}", "a.b", "ñ", "^usuario", "[5-9]{4}$", r"(?-u:\xff)", "^4"];

fn random_definition(rng: &mut Rng) -> Definition {
    let any = rng.below(101) as u8;
    let percentage = *rng.pick(&[0u8, 1, 5, 20, 33, 50, 80, 99, 100, any]);
    let n = rng.below(5) as usize;
    let variants: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("v{i}-{}", rng.below(100)).into_bytes())
        .collect();
    let weights =
        (n > 0 && rng.chance(50)).then(|| (0..n).map(|_| 1 + rng.below(100) as u32).collect());
    let salt = rng
        .chance(40)
        .then(|| format!("salt{}", rng.below(1000)).into_bytes());
    Definition {
        enabled: rng.chance(85),
        percentage,
        variants,
        weights,
        salt,
        ..Definition::default()
    }
}

fn define_cmd(key: &str, d: &Definition) -> redis::Cmd {
    let mut c = redis::cmd("HANOI.DEFINE");
    c.arg(key)
        .arg(if d.enabled { "ENABLED" } else { "DISABLED" });
    c.arg("PERCENTAGE").arg(d.percentage);
    if !d.variants.is_empty() {
        c.arg("VARIANTS").arg(d.variants.len()).arg(&d.variants);
        if let Some(w) = &d.weights {
            c.arg("WEIGHTS").arg(w);
        }
    }
    if let Some(s) = &d.salt {
        c.arg("SALT").arg(s);
    }
    c
}

/// The core's answer in the shape of `HANOI.EXPLAIN`.
fn expected(r: &Rollout, key: &str, id: &[u8]) -> Value {
    let e = r.explain(key, id);
    Value::Array(vec![
        Value::Int(i64::from(e.enabled)),
        e.variant
            .map_or(Value::Nil, |v| Value::BulkString(v.to_vec())),
        Value::SimpleString(e.reason.as_str().into()),
        match e.detail {
            Some(Detail::Pattern(p)) => Value::BulkString(p.as_bytes().to_vec()),
            Some(Detail::Bucket(b)) => Value::Int(i64::from(b)),
            Some(Detail::Rule(name) | Detail::Prerequisite(name)) => {
                Value::BulkString(name.to_vec())
            }
            Some(Detail::Fault(t)) => Value::BulkString(t.as_bytes().to_vec()),
            None => Value::Nil,
        },
        Value::Int(i64::from(e.percentage)),
        e.missing
            .map_or(Value::Nil, |m| Value::BulkString(m.to_vec())),
    ])
}

#[test]
fn module_answers_equal_core_answers() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut rollout = Rollout::new();
    let pool: Vec<Vec<u8>> = (0..3000).map(|_| random_id(&mut rng)).collect();
    let keys: Vec<String> = (0..12).map(|i| format!("flag:{i}")).collect();
    for key in &keys {
        let def = random_definition(&mut rng);
        let () = define_cmd(key, &def).query(&mut con).unwrap();
        rollout.define(key, def).unwrap();
        // Registrations, regexes, blocks, and some undoing of them.
        let users: Vec<&[u8]> = (0..rng.below(400))
            .map(|_| rng.pick(&pool).as_slice())
            .collect();
        if !users.is_empty() {
            let n = int_b(&mut con, ("HANOI.REGISTER", key, "USER", &users));
            assert_eq!(n as usize, rollout.register(key, &users).unwrap());
        }
        let patterns: Vec<&str> = (0..rng.below(4)).map(|_| *rng.pick(PATTERNS)).collect();
        if !patterns.is_empty() {
            let n = int_b(&mut con, ("HANOI.REGISTER", key, "REGEX", &patterns));
            assert_eq!(n as usize, rollout.register_regex(key, &patterns).unwrap());
        }
        let blocked: Vec<&[u8]> = (0..rng.below(100))
            .map(|_| rng.pick(&pool).as_slice())
            .collect();
        if !blocked.is_empty() {
            let n = int_b(&mut con, ("HANOI.BLOCK", key, &blocked));
            assert_eq!(n as usize, rollout.block(key, &blocked).unwrap());
        }
        if rng.chance(30) {
            let gone: Vec<&[u8]> = (0..20).map(|_| rng.pick(&pool).as_slice()).collect();
            let n = int_b(&mut con, ("HANOI.UNREGISTER", key, "USER", &gone));
            assert_eq!(n as usize, rollout.unregister(key, &gone).unwrap());
            let n = int_b(&mut con, ("HANOI.UNBLOCK", key, &gone));
            assert_eq!(n as usize, rollout.unblock(key, &gone).unwrap());
        }
        if rng.chance(20) {
            let pct = rng.below(101) as u8;
            ok_b(&mut con, ("HANOI.PERCENTAGE", key, pct));
            rollout.set_percentage(key, pct).unwrap();
        }
    }
    // 10k ids: half from the pool (registered, blocked or not), half fresh.
    let ids: Vec<Vec<u8>> = (0..10_000)
        .map(|i| {
            if i % 2 == 0 {
                rng.pick(&pool).clone()
            } else {
                random_id(&mut rng)
            }
        })
        .collect();
    let mut mismatches = 0;
    for key in &keys {
        let got = common::answers(&mut con, key, &ids);
        for (id, got) in ids.iter().zip(&got) {
            let want = expected(&rollout, key, id);
            if *got != want {
                mismatches += 1;
                eprintln!("{key} {:?}: module {got:?}, core {want:?}", String::from_utf8_lossy(id));
            }
        }
        // ENABLED and VARIANT agree with EXPLAIN.
        let mut p = redis::pipe();
        for id in ids.iter().take(2000) {
            p.cmd("HANOI.ENABLED").arg(key).arg(id);
            p.cmd("HANOI.VARIANT").arg(key).arg(id);
        }
        let replies: Vec<Value> = p.query(&mut con).unwrap();
        for (id, pair) in ids.iter().zip(replies.chunks(2)) {
            assert_eq!(pair[0], Value::Int(i64::from(rollout.is_enabled(key, Some(id)))));
            let v = rollout
                .variant(key, id)
                .map_or(Value::Nil, |v| Value::BulkString(v.to_vec()));
            assert_eq!(pair[1], v);
        }
    }
    // MENABLED over every flag, for a sample of ids.
    for id in ids.iter().take(500) {
        let got: Vec<i64> = query(&mut con, ("HANOI.MENABLED", id, &keys));
        let want: Vec<i64> = keys
            .iter()
            .map(|k| i64::from(rollout.is_enabled(k, Some(id))))
            .collect();
        assert_eq!(got, want);
    }
    assert_eq!(mismatches, 0);
}
