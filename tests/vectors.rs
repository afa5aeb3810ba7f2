//! The shared evaluation cases (`tests/vectors/evaluation.json`) end to end:
//! each case's commands sent to a real server, each query asked with
//! `HANOI.EXPLAIN`, `HANOI.ENABLED` and `HANOI.VARIANT`.

mod common;

use common::{run_b, Server};
use redis::Value;

fn text(v: &serde_json::Value) -> &str {
    v.as_str().expect("a string")
}

#[test]
fn every_shared_case_answers_as_written() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/evaluation.json");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let s = Server::start(&[]);
    let mut con = s.con();
    for case in all["cases"].as_array().unwrap() {
        let key = text(&case["name"]);
        // The keys it references first, then the flag, then the deletions.
        let keys = case["keys"].as_array().cloned().unwrap_or_default();
        let writes = keys
            .iter()
            .map(|k| (text(&k["key"]), &k["commands"]))
            .chain([(key, &case["commands"])]);
        for (name, commands) in writes {
            for cmd in commands.as_array().unwrap() {
                let words: Vec<&str> = cmd.as_array().unwrap().iter().map(text).collect();
                let mut args = vec![format!("HANOI.{}", words[0]), name.to_owned()];
                args.extend(words[1..].iter().map(|w| w.to_string()));
                run_b(&mut con, &args).unwrap_or_else(|e| panic!("{key}: {args:?}: {e}"));
            }
        }
        for gone in case["delete"].as_array().into_iter().flatten() {
            run_b(&mut con, ("DEL", text(gone))).unwrap();
        }
        for q in case["queries"].as_array().unwrap() {
            // No id (null) is the empty one: RESOLVE's keyless form.
            let id = q["id"].as_str().unwrap_or("");
            let mut with: Vec<String> = Vec::new();
            if let Some(attrs) = q["attrs"].as_object() {
                with.push("WITH".into());
                for (k, v) in attrs {
                    with.push(k.clone());
                    with.push(text(v).to_owned());
                }
            }
            let bytes = |v: &Value| match v {
                Value::BulkString(b) => serde_json::Value::from(String::from_utf8_lossy(b)),
                Value::Int(i) => serde_json::Value::from(*i),
                Value::Nil => serde_json::Value::Null,
                v => panic!("{key}: unexpected {v:?}"),
            };
            let json = |v: &Value| match v {
                Value::BulkString(b) => serde_json::from_slice::<serde_json::Value>(b).unwrap(),
                _ => serde_json::Value::Null,
            };
            // RESOLVE: enabled, variant, value, reason, detail, %, type.
            let Value::Array(r) = run_b(&mut con, ("HANOI.RESOLVE", key, id, &with)).unwrap()
            else {
                panic!("{key}: RESOLVE")
            };
            let reason = match &r[3] {
                Value::SimpleString(r) => r.clone(),
                v => panic!("{key}: reason {v:?}"),
            };
            let of = hanoi_core::Reason::parse(reason.as_bytes())
                .expect("a known reason")
                .openfeature();
            let got = serde_json::json!({
                "value": json(&r[2]),
                "enabled": r[0] == Value::Int(1),
                "variant": bytes(&r[1]),
                "reason": reason,
                "detail": bytes(&r[4]),
                "openfeature": of,
            });
            for field in ["enabled", "variant", "reason", "detail", "openfeature", "value"] {
                assert_eq!(got[field], q[field], "{key}: {q}: {field}");
            }
            if id.is_empty() {
                continue;
            }
            // With an id: EXPLAIN, VALUE, ENABLED and VARIANT say the same.
            let Value::Array(e) = run_b(&mut con, ("HANOI.EXPLAIN", key, id, &with)).unwrap()
            else {
                panic!("{key}: EXPLAIN")
            };
            assert_eq!(
                [&r[0], &r[1], &r[3], &r[4], &r[5]],
                [&e[0], &e[1], &e[2], &e[3], &e[4]],
                "{key}"
            );
            let value = run_b(&mut con, ("HANOI.VALUE", key, id, &with)).unwrap();
            assert_eq!(json(&value), q["value"], "{key}: {q}");
            let on = run_b(&mut con, ("HANOI.ENABLED", key, id, &with)).unwrap();
            assert_eq!(on, Value::Int(i64::from(q["enabled"] == true)), "{key}: {q}");
            let v = run_b(&mut con, ("HANOI.VARIANT", key, id, &with)).unwrap();
            assert_eq!(bytes(&v), q["variant"], "{key}: {q}");
            let pairs = with.get(1..).unwrap_or(&[]);
            let n = (pairs.len() / 2).to_string();
            let m = run_b(&mut con, ("HANOI.MENABLED", id, "WITH", &n, pairs, key)).unwrap();
            assert_eq!(m, Value::Array(vec![on]), "{key}: {q}: MENABLED");
        }
    }
}
