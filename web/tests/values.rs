//! Generated values through every reader (issue 30, item 5): random JSON
//! texts, some of them past what a client can read (numbers beyond a 64-bit
//! float, 5,000-digit integers). The module accepts a value exactly when
//! every client reads it; each accepted one must then come back equal
//! through OFREP (hanoi-web), the Python client (`hanoi_redis`, make test's
//! venv in `$HANOI_PYTHON`) and the Node client (`clients/node`, built by
//! make test). Under CI (`CI` set) the Python and Node readers must run.

mod harness;

use harness::{Redis, Web, ALL_KEY};
use redis::Value;
use serde_json::Value as Json;
use std::process::Command;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn number(rng: &mut Rng) -> String {
    let digits = |rng: &mut Rng, n: u64| -> String {
        let mut s: String = (0..n)
            .map(|_| char::from(b'0' + rng.below(10) as u8))
            .collect();
        if s.len() > 1 && s.starts_with('0') {
            s.replace_range(..1, "1");
        }
        s
    };
    let sign = if rng.below(3) == 0 { "-" } else { "" };
    let n = rng.below(400);
    match rng.below(6) {
        0 => format!("{sign}{}", digits(rng, 1 + n % 18)),
        1 => format!("{sign}{}", digits(rng, 19 + n % 300)),
        2 => format!("{sign}{}", digits(rng, 4990 + n % 20)),
        3 => {
            let (a, b) = (digits(rng, 1 + n % 5), digits(rng, 1 + n % 20));
            format!("{sign}{a}.{b}")
        }
        4 => format!("{sign}{}e{}", digits(rng, 1), (n % 330) as i64 - 10),
        _ => {
            let (a, b) = (digits(rng, 1), digits(rng, 3));
            format!("{sign}{a}.{b}E-{}", n % 340)
        }
    }
}

fn string(rng: &mut Rng) -> String {
    let mut s = String::from("\"");
    for _ in 0..rng.below(12) {
        match rng.below(7) {
            0 => s.push_str("\\n"),
            1 => s.push_str(&format!("\\u{:04x}", 0x20 + rng.below(0xd000))),
            2 => s.push_str("\\ud83d\\ude00"),
            3 => s.push(char::from_u32(0xa0 + rng.below(0x2000) as u32).unwrap_or('x')),
            4 => s.push('😀'),
            5 => s.push_str("\\\""),
            _ => s.push(char::from(b'a' + rng.below(26) as u8)),
        }
    }
    s.push('"');
    s
}

fn value(rng: &mut Rng, depth: u32) -> String {
    match (rng.below(if depth == 0 { 4 } else { 6 }), depth < 4) {
        (0, _) => number(rng),
        (1, _) => string(rng),
        (2, true) => {
            let items: Vec<String> = (0..rng.below(4)).map(|_| value(rng, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        (3, true) => {
            let items: Vec<String> = (0..rng.below(4))
                .map(|i| {
                    format!(
                        "{}: {}",
                        string(rng).replacen('"', &format!("\"k{i}"), 1),
                        value(rng, depth + 1)
                    )
                })
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        (4, _) => "true".into(),
        (5, _) => "null".into(),
        _ => number(rng),
    }
}

/// Equal as JSON, numbers as 64-bit floats within a rounding step (each
/// reader rounds a long decimal on its own).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn reader(name: &str, program: &str, args: &[&str]) -> Option<Vec<Json>> {
    let out = match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => o,
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the {name} reader: {why}"
            );
            eprintln!("SKIPPED the {name} reader: {why}");
            return None;
        }
    };
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{name}: {l}: {e}")))
            .collect(),
    )
}

#[tokio::test]
async fn every_value_the_module_accepts_every_client_reads() {
    let redis = Redis::start(&[]);
    let mut con = redis.con();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for i in 0..300 {
        let text = value(&mut rng, 0);
        let key = format!("v{i}");
        let reply: redis::RedisResult<Value> = redis::cmd("HANOI.DEFINE")
            .arg(&key)
            .arg(&["PERCENTAGE", "100", "VARIANTS", "1", "a", "VALUES"][..])
            .arg(&text)
            .query(&mut con);
        // The module's rule: JSON every client reads, numbers finite as
        // 64-bit floats. serde_json (no arbitrary precision) reads exactly
        // those; null is no flag value.
        let readable = serde_json::from_str::<Json>(&text).is_ok_and(|v| !v.is_null());
        let ok = matches!(reply, Ok(Value::Okay));
        assert_eq!(ok, readable, "{text}: {reply:?}");
        if ok {
            accepted.push((key, serde_json::from_str::<Json>(&text).unwrap()));
        } else {
            refused += 1;
        }
    }
    assert!(
        accepted.len() > 100 && refused > 10,
        "{} accepted, {refused} refused",
        accepted.len()
    );
    let keys: Vec<&str> = accepted.iter().map(|(k, _)| k.as_str()).collect();

    // OFREP, through hanoi-web.
    let web = Web::start(&redis);
    let c = reqwest::Client::new();
    for (key, want) in &accepted {
        let got: Json = c
            .post(web.url(&format!("/ofrep/v1/evaluate/flags/{key}")))
            .header("Authorization", format!("Bearer {ALL_KEY}"))
            .json(&serde_json::json!({"context": {"targetingKey": "u"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(same(&got["value"], want), "OFREP {key}: {got} != {want}");
    }

    // Python: hanoi_redis over the module.
    let python = std::env::var("HANOI_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = "import json, sys\n\
        from hanoi_redis import Rollout, RedisModuleBackEnd\n\
        import redis\n\
        r = Rollout(RedisModuleBackEnd(redis.Redis.from_url(sys.argv[1])))\n\
        for k in sys.argv[2:]:\n    print(json.dumps(r.value(k, 'u')))\n";
    let url = redis.url();
    let mut args = vec!["-c", script, &url];
    args.extend(&keys);
    if let Some(got) = reader("Python", &python, &args) {
        assert_eq!(got.len(), accepted.len());
        for ((key, want), got) in accepted.iter().zip(&got) {
            assert!(same(got, want), "Python {key}: {got} != {want}");
        }
    }

    // Node: hanoi-redis over ioredis.
    let node_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../clients/node");
    let script = format!(
        "const Redis = require('{node_dir}/node_modules/ioredis');\n\
         const {{ Hanoi }} = require('{node_dir}/dist/cjs/index.js');\n\
         (async () => {{\n\
           const redis = new Redis(process.argv[1]);\n\
           const h = new Hanoi(redis);\n\
           for (const k of process.argv.slice(2)) console.log(JSON.stringify(await h.value(k, 'u')));\n\
           redis.disconnect();\n\
         }})().catch((e) => {{ console.error(e); process.exit(1); }});"
    );
    let mut args = vec!["-e", &script, &url];
    args.extend(&keys);
    if let Some(got) = reader("Node", "node", &args) {
        assert_eq!(got.len(), accepted.len());
        for ((key, want), got) in accepted.iter().zip(&got) {
            assert!(same(got, want), "Node {key}: {got} != {want}");
        }
    }
}
