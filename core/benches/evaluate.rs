//! In-process evaluation: a flag with 1M registered ids, 3 regexes and 50 %,
//! queried with random ids, half of them registered.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hanoi_core::{Definition, Flag, Limits};

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

criterion_group!(benches, bench);
criterion_main!(benches);
