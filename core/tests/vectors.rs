//! The shared evaluation cases (`tests/vectors/evaluation.json`) through the
//! in-memory `Rollout`: the same commands the module gets, the same answers.

use hanoi_core::rules::Attrs;
use hanoi_core::{Detail, Rollout};
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/evaluation.json"
    );
    let text = std::fs::read_to_string(path).expect("the shared vectors");
    let all: Value = serde_json::from_str(&text).expect("vectors are JSON");
    all["cases"].as_array().expect("cases").clone()
}

fn text(v: &Value) -> &str {
    v.as_str().expect("a string")
}

#[test]
fn every_shared_case_answers_as_written() {
    let cases = cases();
    assert!(cases.len() >= 12);
    for case in &cases {
        let name = text(&case["name"]);
        let mut r = Rollout::new();
        // The keys it references first, then the flag, then the deletions.
        let keys = case["keys"].as_array().cloned().unwrap_or_default();
        let writes = keys
            .iter()
            .map(|k| (text(&k["key"]), &k["commands"]))
            .chain([(name, &case["commands"])]);
        for (key, commands) in writes {
            for cmd in commands.as_array().unwrap() {
                let words: Vec<&str> = cmd.as_array().unwrap().iter().map(text).collect();
                r.run(words[0], key, &words[1..])
                    .unwrap_or_else(|e| panic!("{name}: {key}: {words:?}: {e}"));
            }
        }
        for gone in case["delete"].as_array().into_iter().flatten() {
            r.remove(text(gone));
        }
        for q in case["queries"].as_array().unwrap() {
            // No id (null) is the empty one: RESOLVE's keyless form.
            let id = q["id"].as_str().unwrap_or("").as_bytes();
            let pairs: Vec<(&[u8], &[u8])> = q["attrs"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.as_bytes(), text(v).as_bytes()))
                        .collect()
                })
                .unwrap_or_default();
            let attrs = if pairs.is_empty() {
                Attrs::NONE
            } else {
                Attrs::new(&pairs).unwrap()
            };
            let resolved = r.resolve_with(name, id, attrs);
            let e = resolved.explanation;
            let value = resolved
                .value
                .map(|v| serde_json::from_slice::<Value>(&v).expect("a value is JSON"));
            if !id.is_empty() {
                // With an id, RESOLVE is EXPLAIN plus VALUE.
                assert_eq!(r.explain_with(name, id, attrs), e, "{name}: {q}");
                let plain = r
                    .value_with(name, Some(id), attrs)
                    .map(|v| serde_json::from_slice::<Value>(&v).unwrap());
                assert_eq!(plain, value, "{name}: {q}");
                assert_eq!(
                    r.is_enabled_with(name, Some(id), attrs),
                    e.enabled,
                    "{name}: {q}"
                );
            }
            let detail = match e.detail {
                Some(Detail::Pattern(p)) => Value::from(p),
                Some(Detail::Rule(n) | Detail::Prerequisite(n)) => {
                    Value::from(String::from_utf8_lossy(n).into_owned())
                }
                Some(Detail::Fault(t)) => Value::from(t),
                Some(Detail::Bucket(b)) => Value::from(b),
                None => Value::Null,
            };
            let got = serde_json::json!({
                "value": value,
                "enabled": e.enabled,
                "variant": e.variant.map(|v| String::from_utf8_lossy(v).into_owned()),
                "reason": e.reason.as_str(),
                "detail": detail,
                "openfeature": e.reason.openfeature(),
            });
            for field in [
                "enabled",
                "variant",
                "reason",
                "detail",
                "openfeature",
                "value",
            ] {
                assert_eq!(got[field], q[field], "{name}: {q}: {field}: got {got}");
            }
        }
    }
}
