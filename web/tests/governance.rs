//! Issue 33, production changes a team can trust: previews that are not
//! traffic, comments and the audit log, refused saves that keep what was
//! typed, change requests. Real redis-server with the module, real
//! hanoi-web.

mod harness;

use harness::{hex, Redis, Web, ALICE};

async fn page(c: &reqwest::Client, url: &str) -> (u16, String) {
    let r = c.get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// A flat field/value reply's field.
fn get_field(v: &redis::Value, name: &str) -> redis::Value {
    let redis::Value::Array(items) = v else {
        panic!("not a map: {v:?}");
    };
    items
        .chunks(2)
        .find(|p| p[0] == redis::Value::BulkString(name.as_bytes().to_vec()))
        .map(|p| p[1].clone())
        .unwrap_or_else(|| panic!("no {name} in {v:?}"))
}

#[tokio::test]
async fn previews_leave_the_flags_stats_untouched() {
    let redis = Redis::start();
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"0"]);
    redis.cmd(&[
        b"HANOI.RULE",
        b"f",
        b"SET",
        b"de",
        b"IF",
        b"country",
        b"EQ",
        b"DE",
    ]);
    redis.cmd(&[b"HANOI.DEFINE", b"g", b"PERCENTAGE", b"100"]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let url = web.url(&format!("/f/{}", hex(b"f")));
    let (s, html) = page(
        &alice,
        &format!("{url}?try_id=someone&try_attrs=country%3DDE"),
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        html.contains("because <strong class=\"reason\">rule de matched</strong>"),
        "{html}"
    );
    let (s, html) = page(&alice, &web.url("/user?id=someone&attrs=country%3DFR")).await;
    assert_eq!(s, 200);
    assert!(html.contains("g"), "{html}");
    for key in [&b"f"[..], b"g"] {
        let st = redis.cmd(&[b"HANOI.STATS", key]);
        assert_eq!(
            get_field(&st, "evaluations"),
            redis::Value::Int(0),
            "{st:?}"
        );
        assert_eq!(
            get_field(&st, "last_evaluated"),
            redis::Value::Nil,
            "{st:?}"
        );
    }
    // Traffic counts (the same flag, evaluated by an application).
    redis.cmd(&[b"HANOI.RESOLVE", b"f", b"someone"]);
    let st = redis.cmd(&[b"HANOI.STATS", b"f"]);
    assert_eq!(get_field(&st, "evaluations"), redis::Value::Int(1));
}
