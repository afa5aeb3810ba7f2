//! hanoi-core against Unleash's Rust engine (`unleash-yggdrasil`), issue 14:
//! equivalent flags, the same random ids, each engine through the API an
//! application calls — `Rollout` by flag name for hanoi, `EngineState` by
//! toggle name for Unleash.
//!
//! Ids are numeric strings of 6–12 digits from a fixed seed. Each case is a
//! criterion group `vs_unleash/<case>` with the two functions `hanoi` and
//! `yggdrasil`, measured one after the other in the same run;
//! `benches/unleash_ratios.py` reads criterion's estimates and prints
//! hanoi ÷ yggdrasil per case against the goal ≤ 0.5.
//!
//! Inputs are prepared outside the timed loop for both engines: hanoi gets
//! the id as bytes (and, in case 5, borrows the attribute pairs), Unleash a
//! prebuilt `Context` (its `user_id` and `properties` already `String`s).

use std::collections::HashMap;

use criterion::{black_box, criterion_group, Criterion};
use hanoi_core::rules::Attrs;
use hanoi_core::{Definition, Rollout};
use serde_json::json;
use unleash_yggdrasil::{ClientFeatures, Context, EngineState, UpdateMessage};

const QUERIES: usize = 4096;

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// A numeric id of 6 to 12 digits (no leading zero).
fn random_id(seed: &mut u64) -> String {
    let digits = 6 + (xorshift(seed) % 7) as u32;
    let low = 10u64.pow(digits - 1);
    (low + xorshift(seed) % (9 * low)).to_string()
}

/// `n` distinct ids.
fn id_list(seed: &mut u64, n: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let id = random_id(seed);
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    out
}

/// Queries: every other one drawn from `listed` (when given), the rest fresh.
fn queries(seed: &mut u64, listed: Option<&[String]>) -> Vec<String> {
    (0..QUERIES)
        .map(|i| match listed {
            Some(l) if i % 2 == 0 => l[(xorshift(seed) % l.len() as u64) as usize].clone(),
            _ => random_id(seed),
        })
        .collect()
}

fn context(id: &str, props: Option<&[(&str, &str)]>) -> Context {
    Context {
        user_id: Some(id.to_string()),
        session_id: None,
        environment: None,
        app_name: None,
        current_time: None,
        remote_address: None,
        properties: props.map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        }),
    }
}

fn rollout_strategy(name: &str, pct: u32, constraints: serde_json::Value) -> serde_json::Value {
    json!({
        "name": "flexibleRollout",
        "parameters": {"rollout": pct.to_string(), "stickiness": "userId", "groupId": name},
        "constraints": constraints,
    })
}

fn user_with_id(ids: &[String]) -> serde_json::Value {
    json!({"name": "userWithId", "parameters": {"userIds": ids.join(",")}, "constraints": []})
}

const COUNTRIES: [&str; 3] = ["DE", "FR", "US"];
const PLANS: [&str; 3] = ["free", "pro", "team"];

struct Setup {
    hanoi: Rollout,
    unleash: EngineState,
    list_1k: Vec<String>,
    list_100k: Vec<String>,
}

fn setup() -> Setup {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let list_1k = id_list(&mut seed, 1_000);
    let list_100k = id_list(&mut seed, 100_000);

    let mut h = Rollout::new();
    let def = |percentage| Definition {
        percentage,
        ..Definition::default()
    };
    // 1. 50 %.
    h.define("rollout50", def(50)).unwrap();
    // 2. Id lists.
    h.define("list1k", def(0)).unwrap();
    h.register("list1k", &list_1k).unwrap();
    h.define("list100k", def(0)).unwrap();
    h.register("list100k", &list_100k).unwrap();
    // 3. List OR 50 % OR ends with "01".
    h.define("combo", def(50)).unwrap();
    h.register("combo", &list_1k).unwrap();
    h.register_regex("combo", &["01$"]).unwrap();
    // 4. Two variants, 50/50, for everyone.
    h.define(
        "variants",
        Definition {
            percentage: 100,
            variants: vec![b"a".to_vec(), b"b".to_vec()],
            weights: Some(vec![50, 50]),
            ..Definition::default()
        },
    )
    .unwrap();
    // 5. A rule of two attribute conditions with a 50 % rollout.
    h.define("rule", def(0)).unwrap();
    h.set_rule(
        "rule",
        "de-pros",
        &[
            "ROLLOUT", "50", "IF", "country", "EQ", "DE", "AND", "plan", "IN", "2", "pro", "team",
        ],
    )
    .unwrap();

    let features = json!({
        "version": 2,
        "features": [
            {"name": "rollout50", "enabled": true,
             "strategies": [rollout_strategy("rollout50", 50, json!([]))]},
            {"name": "list1k", "enabled": true, "strategies": [user_with_id(&list_1k)]},
            {"name": "list100k", "enabled": true, "strategies": [user_with_id(&list_100k)]},
            {"name": "combo", "enabled": true, "strategies": [
                user_with_id(&list_1k),
                rollout_strategy("combo", 50, json!([])),
                {"name": "default", "constraints": [
                    {"contextName": "userId", "operator": "STR_ENDS_WITH", "values": ["01"]}
                ]},
            ]},
            {"name": "variants", "enabled": true,
             "strategies": [rollout_strategy("variants", 100, json!([]))],
             "variants": [
                {"name": "a", "weight": 500, "weightType": "variable", "stickiness": "userId"},
                {"name": "b", "weight": 500, "weightType": "variable", "stickiness": "userId"},
             ]},
            {"name": "rule", "enabled": true, "strategies": [rollout_strategy("rule", 50, json!([
                {"contextName": "country", "operator": "IN", "values": ["DE"]},
                {"contextName": "plan", "operator": "IN", "values": ["pro", "team"]},
            ]))]},
        ]
    });
    let features: ClientFeatures = serde_json::from_value(features).unwrap();
    let unleash = EngineState::default();
    let warnings = unleash.take_state(UpdateMessage::FullResponse(features));
    assert!(
        warnings.as_ref().is_none_or(Vec::is_empty),
        "yggdrasil: {warnings:?}"
    );
    Setup {
        hanoi: h,
        unleash,
        list_1k,
        list_100k,
    }
}

/// One case: each engine's evaluation of query `i`.
struct Case<'a> {
    name: &'static str,
    hanoi: Box<dyn Fn(usize) -> bool + 'a>,
    yggdrasil: Box<dyn Fn(usize) -> bool + 'a>,
}

/// Builds the five cases (six benchmarks) over `s`; prints, per case, the
/// share of queries each engine answers "on" (or variant "a"), so the
/// equivalence can be read, and checks the lists agree id for id.
fn cases(s: &Setup) -> Vec<Case<'_>> {
    let (h, u) = (&s.hanoi, &s.unleash);
    let mut seed = 0x1234_5678_9abc_def1u64;
    let mut out = Vec::new();
    let plain: [(&'static str, &'static str, Option<&[String]>); 4] = [
        ("1 rollout 50%", "rollout50", None),
        ("2 list 1k", "list1k", Some(&s.list_1k)),
        ("2 list 100k", "list100k", Some(&s.list_100k)),
        ("3 list or 50% or ends with 01", "combo", Some(&s.list_1k)),
    ];
    for (name, flag, listed) in plain {
        let ids = queries(&mut seed, listed);
        let bytes: Vec<Vec<u8>> = ids.iter().map(|i| i.clone().into_bytes()).collect();
        let ctxs: Vec<Context> = ids.iter().map(|i| context(i, None)).collect();
        out.push(Case {
            name,
            hanoi: Box::new(move |i| h.is_enabled(black_box(flag), Some(black_box(&bytes[i])))),
            yggdrasil: Box::new(move |i| u.is_enabled(black_box(flag), black_box(&ctxs[i]), &None)),
        });
        if listed.is_some() && flag != "combo" {
            let c = out.last().unwrap();
            assert!((0..QUERIES).all(|i| (c.hanoi)(i) == (c.yggdrasil)(i)));
        }
    }

    // 4. The variant, by name ("on" below means variant "a").
    let ids = queries(&mut seed, None);
    let bytes: Vec<Vec<u8>> = ids.iter().map(|i| i.clone().into_bytes()).collect();
    let ctxs: Vec<Context> = ids.iter().map(|i| context(i, None)).collect();
    out.push(Case {
        name: "4 variant 50-50",
        hanoi: Box::new(move |i| {
            h.variant(black_box("variants"), black_box(&bytes[i])) == Some(&b"a"[..])
        }),
        yggdrasil: Box::new(move |i| {
            u.get_variant(black_box("variants"), black_box(&ctxs[i]), &None)
                .name
                == "a"
        }),
    });

    // 5. A rule of two conditions with a 50 % rollout, asked with country
    // and plan (2/9 of the queries match both conditions).
    let ids = queries(&mut seed, None);
    let attrs: Vec<(&str, &str)> = (0..QUERIES)
        .map(|_| {
            let x = xorshift(&mut seed);
            (COUNTRIES[(x % 3) as usize], PLANS[((x >> 8) % 3) as usize])
        })
        .collect();
    let bytes: Vec<Vec<u8>> = ids.iter().map(|i| i.clone().into_bytes()).collect();
    let ctxs: Vec<Context> = ids
        .iter()
        .zip(&attrs)
        .map(|(i, (c, p))| context(i, Some(&[("country", c), ("plan", p)])))
        .collect();
    out.push(Case {
        name: "5 rule 2 conditions + 50%",
        hanoi: Box::new(move |i| {
            let (country, plan) = attrs[i];
            let pairs: [(&[u8], &[u8]); 2] =
                [(b"country", country.as_bytes()), (b"plan", plan.as_bytes())];
            let a = Attrs::new(&pairs).unwrap();
            h.is_enabled_with(black_box("rule"), Some(black_box(&bytes[i])), a)
        }),
        yggdrasil: Box::new(move |i| u.is_enabled(black_box("rule"), black_box(&ctxs[i]), &None)),
    });

    for c in &out {
        let share = |f: &dyn Fn(usize) -> bool| {
            (0..QUERIES).filter(|&i| f(i)).count() as f64 / QUERIES as f64
        };
        println!(
            "vs_unleash/{}: on for hanoi {:.3}, yggdrasil {:.3} of {QUERIES} queries",
            c.name,
            share(&c.hanoi),
            share(&c.yggdrasil)
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let s = setup();
    for case in cases(&s) {
        let mut g = c.benchmark_group(format!("vs_unleash/{}", case.name));
        let mut i = 0;
        g.bench_function("hanoi", |b| {
            b.iter(|| {
                i = (i + 1) & (QUERIES - 1);
                black_box((case.hanoi)(i))
            })
        });
        g.bench_function("yggdrasil", |b| {
            b.iter(|| {
                i = (i + 1) & (QUERIES - 1);
                black_box((case.yggdrasil)(i))
            })
        });
        g.finish();
    }
}

/// `n` evaluations of one engine (the unit callgrind counts: run with
/// `--collect-atstart=no --toggle-collect=vs_unleash::callgrind_loop
/// --dump-after=vs_unleash::callgrind_loop` to get one part per loop).
#[inline(never)]
fn callgrind_loop(f: &dyn Fn(usize) -> bool, n: usize) -> usize {
    let mut on = 0;
    for k in 0..n {
        on += usize::from(f(k & (QUERIES - 1)));
    }
    on
}

/// `VS_UNLEASH_CALLGRIND=<n>`: no criterion; for each case, `n` evaluations
/// by hanoi then by yggdrasil, each in its own `callgrind_loop` call.
fn callgrind(n: usize) {
    let s = setup();
    for case in cases(&s) {
        let h = callgrind_loop(&case.hanoi, n);
        let y = callgrind_loop(&case.yggdrasil, n);
        println!(
            "callgrind: {}: {n} evaluations each ({h} / {y} on)",
            case.name
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    if let Some(n) = std::env::var("VS_UNLEASH_CALLGRIND")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        return callgrind(n);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
