//! Issue 30, items 6–8: the login limit slows attackers and not owners,
//! logging out ends the session on the server, and `/healthz` tells
//! strangers only "ok" or "degraded". Real redis-server and hanoi-web.

mod harness;

use harness::{field, Redis, Web, ALICE, VICTOR};
use serde_json::Value;

/// A login attempt from `from` (sent as `X-Forwarded-For`, believed only
/// when the config trusts the loopback proxy): its status and page.
async fn attempt(web: &Web, from: Option<&str>, name: &str, password: &str) -> (u16, String) {
    let mut req = web
        .client()
        .post(web.url("/login"))
        .header("Origin", &web.base)
        .form(&[("name", name), ("password", password)]);
    if let Some(ip) = from {
        req = req.header("X-Forwarded-For", ip);
    }
    let r = req.send().await.expect("login");
    (r.status().as_u16(), r.text().await.expect("body"))
}

const BEHIND_PROXY: &str = "trusted_proxies = [\"127.0.0.1\"]";

#[tokio::test]
async fn good_logins_do_not_count_against_an_address() {
    let redis = Redis::start(&[]);
    let web = Web::start(&redis);
    for _ in 0..6 {
        assert_eq!(attempt(&web, None, ALICE.0, ALICE.1).await.0, 303);
    }
    // The next person at this address (an office, a proxy) gets in.
    assert_eq!(attempt(&web, None, VICTOR.0, VICTOR.1).await.0, 303);
}

#[tokio::test]
async fn the_owner_logs_in_while_the_account_is_under_attack() {
    let redis = Redis::start(&[]);
    let web = Web::start_with(&redis, BEHIND_PROXY);
    let attacker = Some("203.0.113.66");
    for _ in 0..5 {
        assert_eq!(attempt(&web, attacker, ALICE.0, "guess").await.0, 401);
    }
    let (status, page) = attempt(&web, attacker, ALICE.0, "guess").await;
    assert_eq!(status, 429);
    assert!(page.contains("Too many failed logins"));
    // The attacker waits even with the right password ...
    assert_eq!(attempt(&web, attacker, ALICE.0, ALICE.1).await.0, 429);
    // ... the owner, from an address that has not failed, does not.
    assert_eq!(
        attempt(&web, Some("198.51.100.7"), ALICE.0, ALICE.1)
            .await
            .0,
        303
    );
    // Another attacker address: one guess at the attacked account, then it
    // waits too.
    let second = Some("203.0.113.67");
    assert_eq!(attempt(&web, second, ALICE.0, "guess").await.0, 401);
    assert_eq!(attempt(&web, second, ALICE.0, "guess").await.0, 429);
}

#[tokio::test]
async fn existing_and_unknown_names_are_refused_alike() {
    let redis = Redis::start(&[]);
    let web = Web::start_with(&redis, BEHIND_PROXY);
    // The same story for an account and for a name no account has: five
    // addresses fail once each, then a fresh address and a used one try.
    let mut seen = Vec::new();
    for (i, name) in [ALICE.0, "no-such-account"].iter().enumerate() {
        let mut answers = Vec::new();
        for a in 1..=5 {
            answers.push(attempt(&web, Some(&format!("10.{i}.0.{a}")), name, "guess").await);
        }
        answers.push(attempt(&web, Some(&format!("10.{i}.0.9")), name, "guess").await);
        answers.push(attempt(&web, Some(&format!("10.{i}.0.1")), name, "guess").await);
        seen.push(answers);
    }
    let statuses = |a: &[(u16, String)]| a.iter().map(|(s, _)| *s).collect::<Vec<_>>();
    assert_eq!(statuses(&seen[0]), statuses(&seen[1]));
    assert_eq!(statuses(&seen[0]), [401, 401, 401, 401, 401, 401, 429]);
    for (a, b) in seen[0].iter().zip(&seen[1]) {
        assert_eq!(a.1, b.1, "the same page");
    }
}

#[tokio::test]
async fn forwarded_headers_are_believed_from_trusted_proxies_only() {
    let redis = Redis::start(&[]);
    // No trusted_proxies: the header is ignored, every guess is the peer's.
    let web = Web::start(&redis);
    for i in 0..5 {
        let from = format!("192.0.2.{i}");
        assert_eq!(attempt(&web, Some(&from), VICTOR.0, "guess").await.0, 401);
    }
    assert_eq!(
        attempt(&web, Some("192.0.2.99"), VICTOR.0, VICTOR.1)
            .await
            .0,
        429
    );
    drop(web);
    // A trusted proxy's `Forwarded: for=`: the client's address counts.
    let web = Web::start_with(&redis, BEHIND_PROXY);
    let forwarded = |ip: &'static str, password: &'static str| {
        web.client()
            .post(web.url("/login"))
            .header("Origin", &web.base)
            .header("Forwarded", format!("for={ip};proto=http"))
            .form(&[("name", "nobody"), ("password", password)])
            .send()
    };
    for _ in 0..5 {
        assert_eq!(forwarded("192.0.2.1", "guess").await.unwrap().status(), 401);
    }
    assert_eq!(forwarded("192.0.2.1", "guess").await.unwrap().status(), 429);
    assert_eq!(
        attempt(&web, Some("192.0.2.2"), VICTOR.0, VICTOR.1).await.0,
        303
    );
}

/// The session cookie a login answers.
async fn login_cookie(web: &Web, who: (&str, &str)) -> String {
    let r = web
        .client()
        .post(web.url("/login"))
        .header("Origin", &web.base)
        .form(&[("name", who.0), ("password", who.1)])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// GET `path` with the cookie `cookie`: status and the redirect's target.
async fn get_with(web: &Web, cookie: &str, path: &str) -> (u16, String) {
    let r = web
        .client()
        .get(web.url(path))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("GET");
    let to = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), to)
}

const SECRET: &str = "session_secret = \"0123456789abcdef0123456789abcdef-shared\"";

#[tokio::test]
async fn logout_ends_the_session_in_every_process() {
    let redis = Redis::start(&[]);
    // Two hanoi-web processes sharing one Redis and the session key.
    let one = Web::start_with(&redis, SECRET);
    let two = Web::start_with(&redis, SECRET);
    let cookie = login_cookie(&one, ALICE).await;
    assert_eq!(get_with(&one, &cookie, "/flags").await.0, 200);
    assert_eq!(get_with(&two, &cookie, "/flags").await.0, 200);
    let page = one
        .client()
        .get(one.url("/flags"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = field(&page, None, "csrf");
    let r = one
        .client()
        .post(one.url("/logout"))
        .header("Cookie", &cookie)
        .header("Origin", &one.base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // The copied cookie, replayed: the login page, on either process.
    assert_eq!(
        get_with(&one, &cookie, "/flags").await,
        (303, "/login".to_owned())
    );
    assert_eq!(
        get_with(&two, &cookie, "/flags").await,
        (303, "/login".to_owned())
    );
    let r = two
        .client()
        .get(two.url("/login"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the login page itself, not a redirect");
    // Another session of the same user is not affected.
    let other = login_cookie(&two, ALICE).await;
    assert_eq!(get_with(&one, &other, "/flags").await.0, 200);
}

#[tokio::test]
async fn a_new_password_ends_the_old_sessions() {
    let redis = Redis::start(&[]);
    let web = Web::start_with(&redis, SECRET);
    let cookie = login_cookie(&web, ALICE).await;
    drop(web);
    // The same config again: the session lives on (a restart is no logout).
    let web = Web::start_with(&redis, SECRET);
    assert_eq!(get_with(&web, &cookie, "/flags").await.0, 200);
    drop(web);
    // alice's password changed in the config: her old cookie is nobody's.
    let new_hash = harness::hash_password("alice-password-2");
    let changed = format!(
        "{SECRET}\n[[user]]\nname = \"alice\"\npassword_hash = \"{new_hash}\"\nrole = \"admin\"\n"
    );
    let web = Web::start_with(&redis, &changed);
    assert_eq!(
        get_with(&web, &cookie, "/flags").await,
        (303, "/login".to_owned())
    );
    assert_eq!(
        attempt(&web, None, ALICE.0, "alice-password-2").await.0,
        303
    );
}

/// `/healthz` with a session: its status and JSON.
async fn detail(web: &Web, cookie: &str) -> (u16, Value) {
    let r = web
        .client()
        .get(web.url("/healthz"))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("healthz");
    let status = r.status().as_u16();
    (status, r.json::<Value>().await.expect("JSON"))
}

#[tokio::test]
async fn healthz_tells_strangers_only_ok_or_degraded() {
    let mut redis = Redis::start(&[]);
    let web = Web::start(&redis);
    let anon = |web: &Web| {
        let url = web.url("/healthz");
        async move {
            let r = reqwest::get(url).await.expect("healthz");
            let status = r.status().as_u16();
            let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(kind.starts_with("text/plain"), "{kind}");
            (status, r.text().await.unwrap())
        }
    };
    assert_eq!(anon(&web).await, (200, "ok".to_owned()));
    let cookie = login_cookie(&web, ALICE).await;
    let (status, h) = detail(&web, &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["environments"][0]["name"], "default");
    assert_eq!(h["environments"][0]["reachable"], true);

    redis.kill();
    assert_eq!(anon(&web).await, (503, "degraded".to_owned()));
    let (status, h) = detail(&web, &cookie).await;
    assert_eq!(status, 503);
    assert_eq!(h["environments"][0]["reachable"], false, "{h}");
    assert!(h["environments"][0]["error"].is_string(), "{h}");
    drop(web);

    // A Redis that answers but has no hanoi module is not healthy.
    let plain = Redis::start_without_module();
    let web = Web::start(&plain);
    assert_eq!(anon(&web).await, (503, "degraded".to_owned()));
    let cookie = login_cookie(&web, ALICE).await;
    let (status, h) = detail(&web, &cookie).await;
    assert_eq!(status, 503);
    assert_eq!(
        h["environments"][0]["error"], "the hanoi module is not loaded",
        "{h}"
    );
}
