//! In-process evaluation: a flag with 1M registered ids, 3 regexes and 50 %,
//! queried with random ids, half of them registered.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hanoi_core::rules::{parse_rule, Attrs};
use hanoi_core::{Definition, Flag, Limits, Query};

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn setup() -> (Flag, Vec<Vec<u8>>) {
    let def = Definition {
        percentage: 50,
        variants: vec![b"control".to_vec(), b"a".to_vec(), b"b".to_vec()],
        weights: Some(vec![50, 25, 25]),
        ..Definition::default()
    };
    let mut flag = Flag::new(def, &Limits::default()).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let registered: Vec<Vec<u8>> = (0..1_000_000)
        .map(|_| {
            (100_000 + xorshift(&mut seed) % 900_000_000_000)
                .to_string()
                .into_bytes()
        })
        .collect();
    flag.add_users(registered.iter().map(Vec::as_slice));
    flag.add_regexes(
        [&b"^admin-"[..], &b"@example\\.com$"[..], &b"^9{6}"[..]],
        &Limits::default(),
    )
    .unwrap();
    // Queries: half registered, half fresh.
    let queries = (0..4096)
        .map(|i| {
            if i % 2 == 0 {
                registered[(xorshift(&mut seed) % 1_000_000) as usize].clone()
            } else {
                (100_000 + xorshift(&mut seed) % 900_000_000_000)
                    .to_string()
                    .into_bytes()
            }
        })
        .collect();
    (flag, queries)
}

fn bench(c: &mut Criterion) {
    let (flag, queries) = setup();
    let mut i = 0;
    c.bench_function("enabled (1M ids, 3 regexes, 50%)", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(flag.is_enabled(Some(black_box(&queries[i]))))
        })
    });
    // The floor: std's HashSet of the same ids, one membership test.
    let std_set: std::collections::HashSet<Vec<u8>> =
        flag.users().iter().map(<[u8]>::to_vec).collect();
    c.bench_function("baseline: std HashSet<Vec<u8>> contains (1M ids)", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(std_set.contains(black_box(&queries[i])))
        })
    });
    c.bench_function("variant (1M ids, 3 regexes, 50%, weighted)", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            black_box(flag.variant(black_box(&queries[i])))
        })
    });
}

/// A flag with 3 rules of 2 conditions (no ids, 10 %), asked with 4
/// attributes; a third of the queries match a rule.
fn bench_rules(c: &mut Criterion) {
    let mut flag = Flag::new(
        Definition {
            percentage: 10,
            ..Definition::default()
        },
        &Limits::default(),
    )
    .unwrap();
    let rules: [&[&str]; 3] = [
        &[
            "IF", "country", "EQ", "DE", "AND", "plan", "IN", "2", "pro", "team",
        ],
        &[
            "ROLLOUT",
            "50",
            "IF",
            "app",
            "SEMVER_GE",
            "2.0.0",
            "AND",
            "age",
            "GE",
            "18",
        ],
        &[
            "IF",
            "email",
            "SUFFIX",
            "@corp.com",
            "AND",
            "plan",
            "NE",
            "free",
        ],
    ];
    for (i, r) in rules.iter().enumerate() {
        let words: Vec<&[u8]> = r.iter().map(|w| w.as_bytes()).collect();
        let rule = parse_rule(
            format!("r{i}").as_bytes(),
            &words,
            &Limits::default().rule_limits(),
        )
        .unwrap();
        flag.set_rule(rule, &hanoi_core::Limits::default()).unwrap();
    }
    let countries = ["DE", "FR", "US"];
    let plans = ["free", "pro", "team"];
    let apps = ["1.9.0", "2.0.0", "2.1.0-rc.1"];
    let mut seed = 0x1234_5678_9abc_def1u64;
    let queries: Vec<(Vec<u8>, [String; 4])> = (0..4096)
        .map(|_| {
            let x = xorshift(&mut seed);
            let id = (100_000 + x % 900_000_000_000).to_string().into_bytes();
            let attrs = [
                countries[(x >> 8) as usize % 3].to_string(),
                plans[(x >> 16) as usize % 3].to_string(),
                apps[(x >> 24) as usize % 3].to_string(),
                ((x >> 32) % 60).to_string(),
            ];
            (id, attrs)
        })
        .collect();
    let mut i = 0;
    c.bench_function("enabled with 4 attributes (3 rules of 2 conditions)", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            let (id, a) = &queries[i];
            let pairs: [(&[u8], &[u8]); 4] = [
                (b"country", a[0].as_bytes()),
                (b"plan", a[1].as_bytes()),
                (b"app", a[2].as_bytes()),
                (b"age", a[3].as_bytes()),
            ];
            let q = Query {
                attrs: Attrs::new(&pairs).unwrap(),
                now_ms: 0,
                ..Query::default()
            };
            black_box(flag.is_enabled_with(Some(black_box(id)), &q))
        })
    });
}

criterion_group!(benches, bench, bench_rules);
criterion_main!(benches);
