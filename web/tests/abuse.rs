//! hanoi-web under abuse, on loopback: OFREP's limits come before any
//! Redis work, every OFREP error is OFREP's JSON, a flood of the largest
//! allowed bulk requests leaves the UI and other callers served, memory
//! stays bounded, and the first request after a Redis restart succeeds.

mod harness;

use harness::{Redis, Web, ALICE, ALL_KEY};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BULK: &str = "/ofrep/v1/evaluate/flags";

/// The largest context the limits allow: 256 attributes, just under 64 KiB.
fn largest_context() -> String {
    let mut ctx = serde_json::Map::new();
    ctx.insert("targetingKey".into(), json!("u1"));
    for i in 0..256 {
        ctx.insert(format!("attr{i:03}"), json!("v".repeat(240)));
    }
    let body = json!({ "context": ctx }).to_string();
    assert!(body.len() < 64 << 10, "{}", body.len());
    body
}

async fn post(c: &reqwest::Client, web: &Web, path: &str, body: String) -> (u16, Value) {
    let r = c
        .post(web.url(path))
        .header("X-API-Key", ALL_KEY)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("OFREP request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn limits_come_first_and_every_error_is_ofrep_json() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"100"]);
    let web = Web::start(&redis);
    let c = reqwest::Client::new();

    // 257 attributes: INVALID_CONTEXT, before Redis is asked.
    let mut ctx = serde_json::Map::new();
    for i in 0..257 {
        ctx.insert(format!("a{i}"), json!("x"));
    }
    let body = json!({ "context": ctx }).to_string();
    let (s, v) = post(&c, &web, "/ofrep/v1/evaluate/flags/f", body.clone()).await;
    assert_eq!(
        (s, v["errorCode"].clone(), v["key"].clone()),
        (400, json!("INVALID_CONTEXT"), json!("f"))
    );
    let (s, v) = post(&c, &web, BULK, body).await;
    assert_eq!((s, v["errorCode"].clone()), (400, json!("INVALID_CONTEXT")));
    // The largest allowed context is fine.
    let (s, v) = post(&c, &web, "/ofrep/v1/evaluate/flags/f", largest_context()).await;
    assert_eq!((s, v["value"].clone()), (200, json!(true)), "{v}");

    // Another method, another path: OFREP's JSON, not text.
    let r = c.get(web.url(BULK)).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let v: Value = r.json().await.expect("JSON");
    assert!(v["errorDetails"].as_str().unwrap().contains("POST"), "{v}");
    let (s, v) = post(&c, &web, "/ofrep/v2/evaluate", "{}".into()).await;
    assert_eq!(s, 404);
    assert!(v["errorDetails"].is_string(), "{v}");
}

/// The two floods run one at a time: on a 2-core machine the second one's
/// load would be the first one's "other caller" starving, not hanoi-web's.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_flood_of_bulk_evaluations_leaves_the_ui_and_other_callers_served() {
    let _alone = HEAVY.lock().await;
    let redis = Redis::start(&[]);
    for i in 0..100 {
        let name = format!("flag-{i:03}");
        redis.cmd(&[b"HANOI.DEFINE", name.as_bytes(), b"PERCENTAGE", b"50"]);
    }
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let body = largest_context();
    // Eight callers sending the largest allowed bulk request, again and again.
    let mut flood = Vec::new();
    for _ in 0..8 {
        let (stop, body, url) = (stop.clone(), body.clone(), web.url(BULK));
        flood.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut sent = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = c
                    .post(&url)
                    .header("X-API-Key", ALL_KEY)
                    .body(body.clone())
                    .send()
                    .await;
                if let Ok(r) = r {
                    let _ = r.bytes().await;
                }
                sent += 1;
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Meanwhile a person's pages and another app's evaluations are served.
    let other = reqwest::Client::new();
    let mut slowest_page = Duration::ZERO;
    let mut slowest_eval = Duration::ZERO;
    for i in 0..20 {
        let t = Instant::now();
        let r = alice.get(web.url("/flags")).send().await.unwrap();
        assert_eq!(r.status(), 200, "UI page {i} during the flood");
        let _ = r.text().await;
        slowest_page = slowest_page.max(t.elapsed());
        let t = Instant::now();
        let ctx = json!({"context": {"targetingKey": "44488"}}).to_string();
        let (s, v) = post(&other, &web, "/ofrep/v1/evaluate/flags/flag-007", ctx).await;
        assert_eq!(s, 200, "evaluation {i} during the flood: {v}");
        slowest_eval = slowest_eval.max(t.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut sent = 0;
    for f in flood {
        sent += f.await.unwrap();
    }
    // Figures, not assertions (a 2-core VM's timings swing): the benchmark
    // is benches/web.py.
    eprintln!(
        "flood of {sent} bulk requests: slowest UI page {slowest_page:?}, slowest other evaluation {slowest_eval:?}"
    );
}

#[tokio::test]
async fn memory_stays_bounded_under_parallel_maximal_bodies() {
    let _alone = HEAVY.lock().await;
    let redis = Redis::start(&[]);
    for i in 0..100 {
        let name = format!("flag-{i:03}");
        redis.cmd(&[b"HANOI.DEFINE", name.as_bytes(), b"PERCENTAGE", b"50"]);
    }
    let web = Web::start(&redis);
    let before = web.rss_kib();
    let body = largest_context();
    // Twelve callers at once, each sending the largest body over and over
    // (and some a body over the limit), for a few rounds.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (body, url) = (body.clone(), web.url(BULK));
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            for _ in 0..10 {
                let b = if i % 4 == 0 {
                    "x".repeat(3 << 20)
                } else {
                    body.clone()
                };
                if let Ok(r) = c
                    .post(&url)
                    .header("X-API-Key", ALL_KEY)
                    .body(b)
                    .send()
                    .await
                {
                    let _ = r.bytes().await;
                }
            }
        }));
    }
    let mut peak = before;
    while tasks.iter().any(|t| !t.is_finished()) {
        peak = peak.max(web.rss_kib());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = web.rss_kib();
    eprintln!("hanoi-web RSS: {before} KiB before, {peak} KiB at the peak, {after} KiB after");
    // 8 requests evaluate at once, each holding a 64 KiB body and one
    // 64-flag pipeline of it (~4 MiB): far under 256 MiB more.
    assert!(
        peak < before + 256 * 1024,
        "peak {peak} KiB, from {before} KiB"
    );
}

/// Redis restarted while nobody asked, then an outage with traffic: the
/// first request once Redis is back is answered each time.
#[tokio::test]
async fn the_first_request_after_a_restart_or_an_outage_succeeds() {
    let mut redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"100"]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let ctx = json!({"context": {"targetingKey": "u"}}).to_string();
    let c = reqwest::Client::new();
    let evaluate = || post(&c, &web, "/ofrep/v1/evaluate/flags/f", ctx.clone());
    let page = || async { alice.get(web.url("/flags")).send().await.unwrap().status() };
    assert_eq!(evaluate().await.0, 200);
    assert_eq!(page().await, 200);

    // Restarted while nobody asked: the connections hanoi-web holds are dead.
    // (A server of the tests' keeps nothing on disk: the flag again.)
    redis.kill();
    redis.start_again();
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"100"]);
    let (s, v) = evaluate().await;
    assert_eq!(s, 200, "the first OFREP request after the restart: {v}");
    let (s, _) = post(&c, &web, BULK, ctx.clone()).await;
    assert_eq!(s, 200, "the first bulk request");
    assert_eq!(page().await, 200, "the first UI page");

    // An outage with traffic: 503s, then, once Redis is back (well after
    // the last failed connection attempt), the first request is answered.
    redis.kill();
    for _ in 0..3 {
        assert_eq!(evaluate().await.0, 503, "an evaluation while Redis is down");
        assert_eq!(page().await, 503, "a page while Redis is down");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.start_again();
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"100"]);
    let (s, v) = evaluate().await;
    assert_eq!(s, 200, "the first OFREP request after the outage: {v}");
    assert_eq!(page().await, 200, "the first UI page after the outage");
}

#[tokio::test]
async fn public_url_pins_the_host_and_the_origin() {
    let redis = Redis::start(&[]);
    let web = Web::start_with(&redis, r#"public_url = "http://flags.example""#);
    let c = web.client();
    // Another Host: 421, OFREP in its JSON.
    let r = c.get(web.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 421);
    let r = c
        .post(web.url(BULK))
        .header("X-API-Key", ALL_KEY)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    assert!(r.json::<Value>().await.unwrap()["errorDetails"].is_string());
    // The public Host: served; a login must come from the public origin.
    let login = |origin: &'static str| {
        c.post(web.url("/login"))
            .header("Host", "flags.example")
            .header("Origin", origin)
            .form(&[("name", ALICE.0), ("password", ALICE.1)])
            .send()
    };
    assert_eq!(
        login("https://flags.example").await.unwrap().status(),
        403,
        "another scheme"
    );
    assert_eq!(
        login("http://flags.example.evil").await.unwrap().status(),
        403
    );
    assert_eq!(login("http://flags.example").await.unwrap().status(), 303);
}
