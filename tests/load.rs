//! A bounded load test on loopback: 50 clients evaluate while 2 clients
//! register and redefine. Zero errors, zero answers that differ from the
//! core's, and the server alive at the end.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{int, int_b, ok_b, query, random_id, run, run_b, Rng, Server};
use hanoi_core::{Definition, Rollout};

const READERS: usize = 50;

/// A check and its answer: (key, id, enabled, variant).
type Expected = (String, Vec<u8>, i64, Option<Vec<u8>>);
const SECONDS: u64 = 4;

#[test]
fn fifty_readers_two_writers() {
    let mut s = Server::start(&["--maxclients", "1000"]);
    let mut con = s.con();
    // Stable flags the readers evaluate, mirrored in a core Rollout.
    let mut rollout = Rollout::new();
    let mut rng = Rng(0x10ad);
    let stable = ["load:a", "load:b", "load:c"];
    let pool: Vec<Vec<u8>> = (0..5000).map(|_| random_id(&mut rng)).collect();
    for (i, key) in stable.iter().enumerate() {
        let pct = [10u8, 50, 90][i];
        let def = Definition {
            percentage: pct,
            variants: vec![b"x".to_vec(), b"y".to_vec()],
            weights: (i == 1).then(|| vec![1, 3]),
            salt: (i == 2).then(|| b"s".to_vec()),
            ..Definition::default()
        };
        let weights: &[&str] = if i == 1 { &["WEIGHTS", "1", "3"] } else { &[] };
        let salt: &[&str] = if i == 2 { &["SALT", "s"] } else { &[] };
        #[rustfmt::skip]
        ok_b(&mut con, ("HANOI.DEFINE", key, "PERCENTAGE", pct, "VARIANTS", "2", "x", "y", weights, salt));
        rollout.define(key, def).unwrap();
        let users: Vec<&Vec<u8>> = pool.iter().skip(i).step_by(7).collect();
        int_b(&mut con, ("HANOI.REGISTER", key, "USER", &users));
        rollout.register(key, &users).unwrap();
        int(&mut con, &["HANOI.REGISTER", key, "REGEX", "^1", "9$"]);
        rollout.register_regex(key, &["^1", "9$"]).unwrap();
    }
    // What every reader must see: (key, id, enabled, variant).
    let expected: Arc<Vec<Expected>> = Arc::new(
        pool.iter()
            .flat_map(|id| stable.iter().map(move |k| (k, id)))
            .map(|(k, id)| {
                (
                    k.to_string(),
                    id.clone(),
                    i64::from(rollout.is_enabled(k, Some(id))),
                    rollout.variant(k, id).map(<[u8]>::to_vec),
                )
            })
            .collect(),
    );

    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for r in 0..READERS {
        let (stop, checks, wrong, errors, expected) =
            (stop.clone(), checks.clone(), wrong.clone(), errors.clone(), expected.clone());
        let mut c = s.con();
        handles.push(std::thread::spawn(move || {
            let mut i = r * 7919;
            while !stop.load(Ordering::Relaxed) {
                // A pipeline of 20 checks, as a page would ask.
                let mut p = redis::pipe();
                let batch: Vec<_> = (0..20)
                    .map(|j| &expected[(i + j * 31) % expected.len()])
                    .collect();
                for (k, id, _, _) in &batch {
                    p.cmd("HANOI.ENABLED").arg(k).arg(id);
                    p.cmd("HANOI.VARIANT").arg(k).arg(id);
                }
                match p.query::<Vec<redis::Value>>(&mut c) {
                    Ok(replies) => {
                        for ((_, _, on, v), pair) in batch.iter().zip(replies.chunks(2)) {
                            let want_v = v
                                .clone()
                                .map_or(redis::Value::Nil, redis::Value::BulkString);
                            if pair[0] != redis::Value::Int(*on) || pair[1] != want_v {
                                wrong.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        checks.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 20;
            }
        }));
    }
    // Writer 1 registers ids the readers never ask about on the stable
    // flags; writer 2 redefines and fills a volatile flag, mirrored in a core.
    let mut writers = Vec::new();
    for w in 0..2 {
        let (stop, errors) = (stop.clone(), errors.clone());
        let mut c = s.con();
        writers.push(std::thread::spawn(move || {
            let mut mirror = Rollout::new();
            let mut rng = Rng(0xbeef + w);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let r = if w == 0 {
                    let key = ["load:a", "load:b", "load:c"][(n % 3) as usize];
                    run(&mut c, &["HANOI.REGISTER", key, "USER", &format!("writer-{n}")])
                } else if n.is_multiple_of(5) {
                    let pct = rng.below(101) as u8;
                    mirror
                        .define(
                            "load:volatile",
                            Definition {
                                percentage: pct,
                                ..Definition::default()
                            },
                        )
                        .unwrap();
                    run_b(&mut c, ("HANOI.DEFINE", "load:volatile", "PERCENTAGE", pct))
                } else if n > 5 {
                    let id = random_id(&mut rng);
                    mirror.register("load:volatile", &[&id]).unwrap();
                    run_b(&mut c, ("HANOI.REGISTER", "load:volatile", "USER", &id))
                } else {
                    Ok(redis::Value::Nil)
                };
                if r.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            (n, mirror)
        }));
    }
    std::thread::sleep(Duration::from_secs(SECONDS));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let mut writes = 0;
    let mut mirror = None;
    for h in writers {
        let (n, m) = h.join().unwrap();
        writes += n;
        mirror = Some(m);
    }
    let started = Instant::now();
    let checks = checks.load(Ordering::Relaxed);
    eprintln!("load: {checks} checks by {READERS} clients and {writes} writes in {SECONDS} s");
    assert_eq!(errors.load(Ordering::Relaxed), 0, "errors");
    assert_eq!(wrong.load(Ordering::Relaxed), 0, "wrong answers");
    assert!(checks > 10_000, "only {checks} checks");
    // The volatile flag ends as the mirror says.
    let mirror = mirror.unwrap();
    let mut rng = Rng(0xbeef + 1);
    let probe: Vec<Vec<u8>> = (0..2000).map(|_| random_id(&mut rng)).collect();
    for id in &probe {
        let on = int_b(&mut con, ("HANOI.ENABLED", "load:volatile", id));
        assert_eq!(on, i64::from(mirror.is_enabled("load:volatile", Some(id))));
    }
    assert!(s.alive());
    assert_eq!(query::<String>(&mut con, &["PING"]), "PONG");
    assert!(started.elapsed() < Duration::from_secs(60));
}
