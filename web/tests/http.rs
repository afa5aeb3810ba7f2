//! hanoi-web over HTTP, against a real redis-server with the module: what a
//! user and an OpenFeature client see.

mod harness;

use harness::{
    field, flag_field, hex, page, submit, Redis, Web, ALICE, ALL_KEY, MOBILE_KEY, VICTOR,
};
use serde_json::{json, Value};

/// The flag's percentage, from HANOI.GET.
fn percentage(redis: &Redis, key: &[u8]) -> i64 {
    redis::from_redis_value(&flag_field(redis, key, "percentage")).expect("percentage")
}

async fn create(web: &Web, c: &reqwest::Client, form: &[(&str, &str)]) -> u16 {
    let (_, html) = page(c, &web.url("/flags/new")).await;
    let csrf = field(&html, None, "csrf");
    let mut f: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    f.extend_from_slice(form);
    c.post(web.url("/flags/new"))
        .header("Origin", &web.base)
        .form(&f)
        .send()
        .await
        .expect("create")
        .status()
        .as_u16()
}

#[tokio::test]
async fn login_is_required_and_checked() {
    let redis = Redis::start(&[]);
    let web = Web::start(&redis);
    let anon = web.client();
    let r = anon.get(web.url("/flags")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");

    let wrong = anon
        .post(web.url("/login"))
        .header("Origin", &web.base)
        .form(&[("name", ALICE.0), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("Wrong name or password"));

    // Login from another origin: refused.
    let cross = anon
        .post(web.url("/login"))
        .header("Origin", "http://evil.example")
        .form(&[("name", ALICE.0), ("password", ALICE.1)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);

    let alice = web.login(ALICE).await;
    let (status, html) = page(&alice, &web.url("/flags")).await;
    assert_eq!(status, 200);
    assert!(html.contains("alice (admin)"));

    // The cookie is HttpOnly, SameSite=Strict.
    let r = anon
        .post(web.url("/login"))
        .header("Origin", &web.base)
        .form(&[("name", ALICE.0), ("password", ALICE.1)])
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // A forged cookie is nobody.
    let forged = web.client();
    let r = forged
        .get(web.url("/flags"))
        .header("Cookie", "hanoi_session=YWxpY2U.9999999999.bm9uY2U.c2ln")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let redis = Redis::start(&[]);
    let web = Web::start(&redis);
    let c = web.client();
    for _ in 0..5 {
        let r = c
            .post(web.url("/login"))
            .header("Origin", &web.base)
            .form(&[("name", VICTOR.0), ("password", "guess")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // Now even the right password waits.
    let r = c
        .post(web.url("/login"))
        .header("Origin", &web.base)
        .form(&[("name", VICTOR.0), ("password", VICTOR.1)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Too many failed logins"));
}

#[tokio::test]
async fn parallel_guesses_do_not_slip_past_the_limit() {
    let redis = Redis::start(&[]);
    let web = Web::start(&redis);
    let c = web.client();
    let guesses = (0..12).map(|i| {
        c.post(web.url("/login"))
            .header("Origin", &web.base)
            .form(&[("name", VICTOR.0), ("password", &format!("guess{i}"))])
            .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let tried = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((tried, refused), (5, 7), "{statuses:?}");
}

#[tokio::test]
async fn admin_creates_and_edits_and_history_names_the_user() {
    let redis = Redis::start(&[]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    assert_eq!(
        create(
            &web,
            &alice,
            &[
                ("name", "checkout"),
                ("enabled", "1"),
                ("percentage", "20"),
                ("variants", "red blue"),
                ("description", "New checkout"),
                ("owner", "payments"),
                ("tags", "ui, pay")
            ]
        )
        .await,
        303
    );
    let url = format!("/f/{}", hex(b"checkout"));
    let (status, html) = page(&alice, &web.url(&url)).await;
    assert_eq!(status, 200);
    assert!(html.contains("New checkout") && html.contains("payments"));

    // Switch off, set the percentage, register ids, add a rule.
    let (s, _) = submit(&web, &alice, &html, &url, "switch-form", &[("to", "off")]).await;
    assert_eq!(s, 303);
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(html.contains("Switched <strong>off</strong>"));
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "percentage-form",
        &[("percentage", "35")],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&alice, &web.url(&url)).await;
    let ids: Vec<String> = (0..1000).map(|i| format!("user{i}")).collect();
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "users-add-form",
        &[("ids", &ids.join("\n"))],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&alice, &web.url(&url)).await;
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "rule-form",
        &[
            ("name", "germany"),
            ("variant", "blue"),
            ("conditions", "country EQ DE"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(html.contains("1000 registered users"));
    assert!(html.contains("35 %"));
    assert!(html.contains("germany"));
    // "edit" fills the rule form with the rule.
    let (_, html) = page(&alice, &web.url(&format!("{url}?edit_rule=germany"))).await;
    assert!(html.contains(r#"id="rule-name" value="germany""#));
    assert!(html.contains(r#"<option value="blue" selected>"#));
    assert!(html.contains(r#"id="rule-conditions" value="country EQ DE""#));
    assert!(html.contains(r#"id="cond-attr-0" list="rule-attributes" value="country""#));

    // A refused command shows the module's error.
    let (s, body) = submit(
        &web,
        &alice,
        &html,
        &url,
        "percentage-form",
        &[("percentage", "101")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body.contains("percentage must be an integer between 0 and 100"),
        "{body}"
    );

    // History: by the UI's user, seen in Redis and on the page.
    let hist = redis.cmd(&[b"HANOI.HISTORY", b"checkout"]);
    assert!(format!("{hist:?}").contains("hanoi-web:alice"));
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(html.contains("alice via hanoi-web"));
    assert!(html.contains("HANOI.RULE SET germany"));

    // Try it: HANOI.PREVIEW's answer.
    redis.cmd(&[b"HANOI.ENABLE", b"checkout"]);
    let (_, html) = page(
        &alice,
        &web.url(&format!("{url}?try_id=someone&try_attrs=country%3DDE")),
    )
    .await;
    assert!(
        html.contains("because <strong class=\"reason\">rule germany matched</strong>"),
        "{html}"
    );
    let (_, html) = page(&alice, &web.url(&format!("{url}?try_id=user7"))).await;
    assert!(html.contains("because <strong class=\"reason\">this id is registered</strong>"));

    // The list shows it, and the tag filter finds it.
    let (_, list) = page(&alice, &web.url("/flags?tag=pay")).await;
    assert!(list.contains("checkout") && list.contains("New checkout"));
    let (_, list) = page(&alice, &web.url("/flags?tag=nothing")).await;
    assert!(!list.contains("New checkout"));

    // Delete asks for the name.
    let (_, html) = page(&alice, &web.url(&url)).await;
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "delete-form",
        &[("confirm", "checkou")],
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "delete-form",
        &[("confirm", "checkout")],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(redis.cmd(&[b"EXISTS", b"checkout"]), redis::Value::Int(0));
}

#[tokio::test]
async fn csrf_origin_and_roles_guard_every_write() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"10"]);
    let web = Web::start(&redis);
    let url = format!("/f/{}", hex(b"f"));
    let alice = web.login(ALICE).await;
    let (_, html) = page(&alice, &web.url(&url)).await;
    let version = field(&html, Some("percentage-form"), "version");

    // Without a CSRF token.
    let r = alice
        .post(web.url(&url))
        .header("Origin", &web.base)
        .form(&[
            ("op", "percentage"),
            ("percentage", "50"),
            ("version", &version),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("CSRF"));
    // With the token but from another origin, or with no origin at all.
    let csrf = field(&html, Some("percentage-form"), "csrf");
    let form = [
        ("op", "percentage"),
        ("percentage", "50"),
        ("version", &version),
        ("csrf", &csrf),
    ];
    let r = alice
        .post(web.url(&url))
        .header("Origin", "http://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = alice.post(web.url(&url)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // No write through GET.
    let r = alice
        .get(web.url(&format!(
            "{url}?op=percentage&percentage=50&csrf={csrf}&version={version}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(percentage(&redis, b"f"), 10);

    // A viewer sees the flag and no way to change it; a forged write is refused.
    let victor = web.login(VICTOR).await;
    let (status, html) = page(&victor, &web.url(&url)).await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("method=\"post\" action=\"/f/"),
        "a write form for a viewer"
    );
    assert!(!html.contains("New flag"));
    assert!(html.contains("try-form"));
    let vcsrf = field(&html, None, "csrf"); // the logout form's
    let r = victor
        .post(web.url(&url))
        .header("Origin", &web.base)
        .form(&[
            ("op", "percentage"),
            ("percentage", "50"),
            ("version", &version),
            ("csrf", &vcsrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        victor
            .get(web.url("/flags/new"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(percentage(&redis, b"f"), 10);
}

#[tokio::test]
async fn a_save_based_on_a_stale_view_is_refused() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"shared", b"PERCENTAGE", b"10"]);
    let web = Web::start(&redis);
    let url = format!("/f/{}", hex(b"shared"));
    let one = web.login(ALICE).await;
    let two = web.login(ALICE).await;
    let (_, first) = page(&one, &web.url(&url)).await;
    let (_, second) = page(&two, &web.url(&url)).await;
    let (s, _) = submit(
        &web,
        &one,
        &first,
        &url,
        "percentage-form",
        &[("percentage", "40")],
    )
    .await;
    assert_eq!(s, 303);
    let (s, body) = submit(
        &web,
        &two,
        &second,
        &url,
        "percentage-form",
        &[("percentage", "60")],
    )
    .await;
    assert_eq!(s, 409);
    assert!(body.contains("Not saved: this flag changed since you opened the page"));
    assert!(
        body.contains("HANOI.PERCENTAGE 40"),
        "the change made meanwhile is shown"
    );
    assert_eq!(percentage(&redis, b"shared"), 40);
    // A write from redis-cli between render and save counts too.
    let (_, fresh) = page(&two, &web.url(&url)).await;
    redis.cmd(&[b"HANOI.REGISTER", b"shared", b"USER", b"u1"]);
    let (s, _) = submit(
        &web,
        &two,
        &fresh,
        &url,
        "percentage-form",
        &[("percentage", "60")],
    )
    .await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn a_stale_save_is_refused_with_no_history_kept() {
    // With hanoi.history-length 0 a REGISTER and an UNREGISTER made behind
    // the page's back leave GET as it was and no history entry: only the
    // flag's revision tells.
    let redis = Redis::start(&["--hanoi.history-length", "0"]);
    redis.cmd(&[b"HANOI.DEFINE", b"quiet", b"PERCENTAGE", b"10"]);
    let web = Web::start(&redis);
    let url = format!("/f/{}", hex(b"quiet"));
    let alice = web.login(ALICE).await;
    let (_, view) = page(&alice, &web.url(&url)).await;
    redis.cmd(&[b"HANOI.REGISTER", b"quiet", b"USER", b"x"]);
    redis.cmd(&[b"HANOI.UNREGISTER", b"quiet", b"USER", b"y"]);
    redis.cmd(&[b"HANOI.UNREGISTER", b"quiet", b"USER", b"x"]);
    let (s, body) = submit(
        &web,
        &alice,
        &view,
        &url,
        "percentage-form",
        &[("percentage", "60")],
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(percentage(&redis, b"quiet"), 10);
    // A fresh view saves.
    let (_, fresh) = page(&alice, &web.url(&url)).await;
    let (s, _) = submit(
        &web,
        &alice,
        &fresh,
        &url,
        "percentage-form",
        &[("percentage", "60")],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(percentage(&redis, b"quiet"), 60);
}

#[tokio::test]
async fn the_flag_page_edits_values_and_the_default() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"limit", b"PERCENTAGE", b"20"]);
    let web = Web::start(&redis);
    let url = format!("/f/{}", hex(b"limit"));
    let alice = web.login(ALICE).await;
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(html.contains("boolean"), "the type is shown");
    // A row per variant: name, weight, JSON value.
    let form = [
        ("variant_0", "small"),
        ("value_0", "10"),
        ("variant_1", "big"),
        ("value_1", "250.5"),
        ("variant_2", ""),
        ("default", "small"),
    ];
    let (s, _) = submit(&web, &alice, &html, &url, "define-form", &form).await;
    assert_eq!(s, 303);
    let value = |id: &[u8]| redis.cmd(&[b"HANOI.VALUE", b"limit", id]);
    assert_eq!(value(b"44488"), redis::Value::BulkString(b"10".to_vec()));
    assert_eq!(
        value(b"443301"),
        redis::Value::BulkString(b"250.5".to_vec())
    );
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(
        html.contains("number") && html.contains("250.5"),
        "type and values shown"
    );
    assert_eq!(field(&html, Some("define-form"), "value_1"), "250.5");
    let before = redis.cmd(&[b"HANOI.EXPORT", b"limit"]);
    // Problems are found before anything is sent, each shown at its field
    // (announced), and what was typed stays in the form.
    let bad = [
        ("variant_0", "small"),
        ("value_0", "10"),
        ("variant_1", "big"),
        ("value_1", "{oops"),
        ("variant_2", "huge"),
        ("value_2", "\"lots\""),
        ("default", "tiny"),
    ];
    let (s, body) = submit(&web, &alice, &html, &url, "define-form", &bad).await;
    assert_eq!(s, 400);
    assert_eq!(field(&body, Some("define-form"), "value_1"), "{oops");
    assert_eq!(field(&body, Some("define-form"), "variant_2"), "huge");
    assert_eq!(field(&body, Some("define-form"), "default"), "tiny");
    let error_of = |id: &str| {
        let at = body
            .find(&format!("id=\"{id}-error\""))
            .unwrap_or_else(|| panic!("no error at {id}: {body}"));
        body[at..body[at..].find("</span>").map_or(body.len(), |e| at + e)].to_owned()
    };
    assert!(error_of("value-1-input").contains("not JSON"));
    assert!(error_of("value-2-input").contains("one type"));
    assert!(error_of("default-input").contains("not one of the variants"));
    assert!(body.contains("role=\"alert\""));
    assert_eq!(
        redis.cmd(&[b"HANOI.EXPORT", b"limit"]),
        before,
        "nothing changed"
    );
    // What only the module refuses (over hanoi.max-value-bytes) is shown at
    // the form, the input kept.
    let long = format!("\"{}\"", "x".repeat(70_000));
    let too_big = [
        ("variant_0", "small"),
        ("value_0", long.as_str()),
        ("variant_1", "big"),
        ("value_1", "\"b\""),
    ];
    let (s, body) = submit(&web, &alice, &html, &url, "define-form", &too_big).await;
    assert_eq!(s, 400);
    let at = body
        .find("id=\"define-error\"")
        .expect("the refusal at the form");
    assert!(
        body[at..].contains("max-value-bytes"),
        "{}",
        &body[at..at + 300]
    );
    assert_eq!(
        field(&body, Some("define-form"), "value_1"),
        "&quot;b&quot;"
    );
    assert_eq!(
        redis.cmd(&[b"HANOI.EXPORT", b"limit"]),
        before,
        "nothing changed"
    );
}

#[tokio::test]
async fn untrusted_names_and_values_render_as_text() {
    let redis = Redis::start(&[]);
    let evil = b"<img src=x onerror=alert(1)>";
    redis.cmd(&[
        b"HANOI.DEFINE",
        evil,
        b"VARIANTS",
        b"2",
        b"\"quoted\"",
        b"<script>alert(2)</script>",
    ]);
    redis.cmd(&[
        b"HANOI.META",
        evil,
        b"SET",
        b"description",
        b"<script>alert(3)</script>",
        b"tags",
        b"<b>x</b>",
    ]);
    redis.cmd(&[b"HANOI.DEFINE", b"bad\xff\xfeutf8"]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let (_, list) = page(&alice, &web.url("/flags")).await;
    assert!(list.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!list.contains("<img"));
    assert!(!list.contains("<script>alert"));
    assert!(list.contains("bad\u{FFFD}\u{FFFD}utf8"));
    let (status, html) = page(&alice, &web.url(&format!("/f/{}", hex(evil)))).await;
    assert_eq!(status, 200);
    assert!(!html.contains("<img") && !html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"));
    assert!(html.contains("&quot;quoted&quot;") || html.contains("\"quoted\""));
    let (status, _) = page(&alice, &web.url(&format!("/f/{}", hex(b"bad\xff\xfeutf8")))).await;
    assert_eq!(status, 200);
    // A strict content security policy on every page.
    let r = alice.get(web.url("/flags")).send().await.unwrap();
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
}

async fn ofrep(web: &Web, path: &str, key: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(web.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(k) = key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    let r = req.send().await.expect("OFREP request");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One OFREP call and what it must answer: `flag` evaluated (the single
/// endpoint) with the API `key` and the request `body`; the answer's status
/// is `status` and each field of `want` has its value there (`null`: the
/// field is absent). Returns the answer's body.
async fn expect_flag(
    web: &Web,
    flag: &str,
    key: Option<&str>,
    body: &str,
    status: u16,
    want: Value,
) -> Value {
    let path = format!("/ofrep/v1/evaluate/flags/{flag}");
    let (s, v) = ofrep(web, &path, key, body).await;
    assert_eq!(s, status, "{path} with {body}: {v}");
    for (field, expected) in want.as_object().expect("want is an object") {
        match expected {
            Value::Null => assert!(v.get(field).is_none(), "{path}: {field} in {v}"),
            _ => assert_eq!(&v[field], expected, "{path} with {body}: {field} in {v}"),
        }
    }
    v
}

#[tokio::test]
async fn ofrep_answers_the_shared_cases() {
    // tests/vectors/evaluation.json: every case's commands, then each query
    // through OFREP: the reason is the case's OpenFeature reason, the value
    // what HANOI.VALUE serves.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/evaluation.json"
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let redis = Redis::start(&[]);
    let cases = all["cases"].as_array().unwrap();
    // A case's `keys` (the keys it references, each with its commands)
    // first, then its own commands, then its `delete`s (as tests/vectors.rs).
    let run = |key: &str, commands: &Value| {
        for cmd in commands.as_array().unwrap() {
            let words: Vec<&str> = cmd
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            let name = format!("HANOI.{}", words[0]);
            let mut args: Vec<&[u8]> = vec![name.as_bytes(), key.as_bytes()];
            args.extend(words[1..].iter().map(|w| w.as_bytes()));
            redis.cmd(&args);
        }
    };
    for case in cases {
        for k in case["keys"].as_array().into_iter().flatten() {
            run(k["key"].as_str().unwrap(), &k["commands"]);
        }
        run(case["name"].as_str().unwrap(), &case["commands"]);
        for gone in case["delete"].as_array().into_iter().flatten() {
            redis.cmd(&[b"DEL", gone.as_str().unwrap().as_bytes()]);
        }
    }
    let web = Web::start(&redis);
    for case in cases {
        let key = case["name"].as_str().unwrap();
        for q in case["queries"].as_array().unwrap() {
            let mut context = q["attrs"].as_object().cloned().unwrap_or_default();
            if !q["id"].is_null() {
                context.insert("targetingKey".into(), q["id"].clone());
            }
            let body = json!({ "context": context }).to_string();
            if q["reason"] == "undefined" {
                let want = json!({"errorCode": "FLAG_NOT_FOUND"});
                expect_flag(&web, key, Some(ALL_KEY), &body, 404, want).await;
                continue;
            }
            if q["reason"] == "needs_id" {
                let want = json!({"errorCode": "TARGETING_KEY_MISSING"});
                expect_flag(&web, key, Some(ALL_KEY), &body, 400, want).await;
                continue;
            }
            // References past a bound: OFREP's GENERAL error, the
            // module's detail.
            if q["reason"] == "error" {
                let want = json!({"errorCode": "GENERAL", "errorDetails": q["detail"]});
                expect_flag(&web, key, Some(ALL_KEY), &body, 500, want).await;
                continue;
            }
            // The value served, typed (a number a JSON number, an object an
            // object); none when nothing is served.
            let want = json!({"reason": q["openfeature"], "value": q["value"]});
            let v = expect_flag(&web, key, Some(ALL_KEY), &body, 200, want).await;
            // A failed prerequisite: no error code, the metadata names it.
            if q["reason"] == "prerequisite" {
                assert_eq!(v["metadata"]["prerequisite"], q["detail"], "{key}: {v}");
                assert!(v.get("errorCode").is_none(), "{key}: {v}");
            }
        }
    }
    // An empty targetingKey is none: what depends on the id needs one;
    // the rest answers without.
    let empty = json!({"context": {"targetingKey": ""}}).to_string();
    let missing = json!({"errorCode": "TARGETING_KEY_MISSING"});
    expect_flag(
        &web,
        "percentage-split",
        Some(ALL_KEY),
        &empty,
        400,
        missing,
    )
    .await;
    let all = json!({"reason": "STATIC", "value": true});
    expect_flag(&web, "everybody", Some(ALL_KEY), &empty, 200, all).await;
    let off = json!({"reason": "DISABLED", "value": false});
    expect_flag(&web, "switched-off", Some(ALL_KEY), &empty, 200, off).await;
    let object_off = json!({"reason": "DISABLED", "value": {"columns": 1}, "variant": "one"});
    expect_flag(
        &web,
        "object-values-switched-off",
        Some(ALL_KEY),
        &empty,
        200,
        object_off,
    )
    .await;
}

#[tokio::test]
async fn ofrep_single_evaluation() {
    let redis = Redis::start(&[]);
    harness::define_ofrep_flags(&redis);
    redis.cmd(&[b"HANOI.DEFINE", b"mobile:a", b"PERCENTAGE", b"100"]);
    redis.cmd(&[b"SET", b"plain-string", b"x"]);
    let web = Web::start(&redis);
    let ctx = |id: &str| json!({"context": {"targetingKey": id}}).to_string();
    let all = Some(ALL_KEY);

    // Keys.
    expect_flag(&web, "bool-on", None, &ctx("u"), 401, json!({})).await;
    let wrong = Some("wrong-key-0123456789");
    expect_flag(&web, "bool-on", wrong, &ctx("u"), 401, json!({})).await;
    expect_flag(&web, "bool-on", Some(MOBILE_KEY), &ctx("u"), 403, json!({})).await;
    let r = reqwest::Client::new()
        .post(web.url("/ofrep/v1/evaluate/flags/mobile:a"))
        .header("X-API-Key", MOBILE_KEY)
        .body(ctx("u"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Answers.
    let metadata =
        json!({"description": "all on", "owner": "team-a", "tags": "x,y", "type": "boolean"});
    let with_country =
        json!({"context": {"targetingKey": "u2", "country": "DE", "age": 40, "beta": true}})
            .to_string();
    let answers = [
        (
            "bool-on",
            ctx("u"),
            json!({"key": "bool-on", "value": true, "reason": "STATIC", "metadata": metadata}),
        ),
        (
            "bool-off",
            ctx("u"),
            json!({"value": false, "reason": "DISABLED"}),
        ),
        (
            "targeted",
            ctx("u1"),
            json!({"value": true, "reason": "TARGETING_MATCH"}),
        ),
        (
            "targeted",
            ctx("u2"),
            json!({"value": false, "reason": "DEFAULT"}),
        ),
        // A blocked id is targeting of ids, not the flag switched off.
        (
            "targeted",
            ctx("u9"),
            json!({"value": false, "reason": "TARGETING_MATCH"}),
        ),
        (
            "targeted",
            with_country,
            json!({"value": true, "reason": "TARGETING_MATCH"}),
        ),
        (
            "colour",
            ctx("u"),
            json!({"value": "blue", "variant": "blue"}),
        ),
        // An off string flag defers to the code default: no value.
        (
            "colour-off",
            ctx("u"),
            json!({"reason": "DISABLED", "value": null}),
        ),
        (
            "bool-off",
            r#"{"context":{}}"#.into(),
            json!({"reason": "DISABLED"}),
        ),
        // Without a targeting key: what does not depend on the id.
        (
            "targeted",
            r#"{"context":{}}"#.into(),
            json!({"reason": "DEFAULT", "value": false}),
        ),
        (
            "bool-on",
            r#"{"context":{}}"#.into(),
            json!({"reason": "STATIC", "value": true}),
        ),
    ];
    for (flag, body, want) in answers {
        expect_flag(&web, flag, all, &body, 200, want).await;
    }

    // Errors.
    let nested =
        json!({"context": {"targetingKey": "u", "address": {"city": "Paris"}}}).to_string();
    let errors = [
        (
            "nope",
            ctx("u"),
            404,
            json!({"errorCode": "FLAG_NOT_FOUND", "key": "nope"}),
        ),
        (
            "plain-string",
            ctx("u"),
            404,
            json!({"errorCode": "FLAG_NOT_FOUND"}),
        ),
        // The id decides (99 %): no answer without one.
        (
            "most",
            r#"{"context":{}}"#.into(),
            400,
            json!({"errorCode": "TARGETING_KEY_MISSING"}),
        ),
        (
            "targeted",
            "{not json".into(),
            400,
            json!({"errorCode": "PARSE_ERROR"}),
        ),
        (
            "targeted",
            nested,
            400,
            json!({"errorCode": "INVALID_CONTEXT"}),
        ),
    ];
    for (flag, body, status, want) in errors {
        expect_flag(&web, flag, all, &body, status, want).await;
    }
}

/// The raw answer of an OFREP call: status and body text.
async fn ofrep_raw(web: &Web, path: &str, key: &str, body: Vec<u8>) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(web.url(path))
        .header("X-API-Key", key)
        .body(body)
        .send()
        .await
        .expect("OFREP request");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// Issue 30, item 9: an API key cannot tell a key of another type from no
/// key at all under its prefix: both are the same `FLAG_NOT_FOUND` (same
/// status, same body but for the key).
#[tokio::test]
async fn a_key_that_is_not_a_flag_answers_as_a_missing_one() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"SET", b"mobile:session-store", b"secret"]);
    redis.cmd(&[b"HSET", b"mobile:hash", b"f", b"v"]);
    let web = Web::start(&redis);
    let ctx = json!({"context": {"targetingKey": "u"}})
        .to_string()
        .into_bytes();
    let path = |k: &str| format!("/ofrep/v1/evaluate/flags/{k}");
    let (missing_status, missing) =
        ofrep_raw(&web, &path("mobile:nothing"), MOBILE_KEY, ctx.clone()).await;
    assert_eq!(missing_status, 404, "{missing}");
    let v: Value = serde_json::from_str(&missing).unwrap();
    assert_eq!(v["errorCode"], "FLAG_NOT_FOUND", "{missing}");
    for other in ["mobile:session-store", "mobile:hash"] {
        let (status, body) = ofrep_raw(&web, &path(other), MOBILE_KEY, ctx.clone()).await;
        assert_eq!(status, missing_status, "{other}: {body}");
        assert_eq!(
            body.replace(other, "KEY"),
            missing.replace("mobile:nothing", "KEY"),
            "{other}"
        );
    }
}

/// OFREP's metadata carries every `HANOI.META` field as a string, beside
/// the flag's `type`.
#[tokio::test]
async fn ofrep_metadata_has_every_meta_field() {
    let redis = Redis::start(&[]);
    harness::define_ofrep_flags(&redis);
    redis.cmd(&[
        b"HANOI.META",
        b"bool-on",
        b"SET",
        b"jira",
        b"FLAG-12",
        b"expires",
        b"2027-01-01",
    ]);
    let web = Web::start(&redis);
    let ctx = json!({"context": {"targetingKey": "u"}}).to_string();
    let want = json!({"metadata": {
        "description": "all on",
        "expires": "2027-01-01",
        "jira": "FLAG-12",
        "owner": "team-a",
        "tags": "x,y",
        "type": "boolean",
    }});
    expect_flag(&web, "bool-on", Some(ALL_KEY), &ctx, 200, want).await;
    let (status, bulk) = ofrep(&web, "/ofrep/v1/evaluate/flags", Some(ALL_KEY), &ctx).await;
    assert_eq!(status, 200);
    let flag = bulk["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "bool-on")
        .cloned()
        .unwrap();
    assert_eq!(flag["metadata"]["jira"], "FLAG-12", "{flag}");
}

#[tokio::test]
async fn ofrep_bodies_byte_for_byte_and_every_error_in_ofreps_format() {
    let redis = Redis::start(&[]);
    harness::define_ofrep_flags(&redis);
    let web = Web::start(&redis);
    let one = "/ofrep/v1/evaluate/flags/bool-on";
    let ctx = json!({"context": {"targetingKey": "u"}})
        .to_string()
        .into_bytes();
    // The bytes clients have always had (fields in this order; the flag's
    // type joined the metadata with values).
    assert_eq!(
        ofrep_raw(&web, one, ALL_KEY, ctx.clone()).await,
        (
            200,
            r#"{"key":"bool-on","metadata":{"description":"all on","owner":"team-a","tags":"x,y","type":"boolean"},"reason":"STATIC","value":true,"variant":"on"}"#.to_owned()
        )
    );
    assert_eq!(
        ofrep_raw(
            &web,
            "/ofrep/v1/evaluate/flags/colour-off",
            ALL_KEY,
            ctx.clone()
        )
        .await,
        (
            200,
            r#"{"key":"colour-off","metadata":{"type":"string"},"reason":"DISABLED","variant":""}"#
                .to_owned()
        )
    );
    assert_eq!(
        ofrep_raw(&web, one, MOBILE_KEY, ctx.clone()).await,
        (
            403,
            r#"{"errorCode":"GENERAL","errorDetails":"this API key may not evaluate this flag","key":"bool-on"}"#.to_owned()
        )
    );
    assert_eq!(
        ofrep_raw(&web, one, "wrong-key-0123456789", ctx.clone()).await,
        (401, r#"{"errorDetails":"unknown API key"}"#.to_owned())
    );
    assert_eq!(
        ofrep_raw(&web, "/ofrep/v1/evaluate/flags", ALL_KEY, b"[]".to_vec()).await,
        (
            400,
            r#"{"errorCode":"PARSE_ERROR","errorDetails":"the body must be a JSON object"}"#
                .to_owned()
        )
    );

    // A body just over the limit (64 KiB): 413, in OFREP's format.
    let big = format!(
        r#"{{"context": {{"targetingKey": "u", "x": "{}"}}}}"#,
        "a".repeat(64 << 10)
    );
    let (s, text) = ofrep_raw(&web, one, ALL_KEY, big.clone().into_bytes()).await;
    let v: Value = serde_json::from_str(&text).expect("a JSON body");
    assert_eq!(
        (s, v["key"].clone(), v["errorCode"].clone()),
        (413, json!("bool-on"), json!("GENERAL")),
        "{text}"
    );
    let bulk = "/ofrep/v1/evaluate/flags";
    let (s, text) = ofrep_raw(&web, bulk, ALL_KEY, big.into_bytes()).await;
    let v: Value = serde_json::from_str(&text).expect("a JSON body");
    assert_eq!(
        (s, v["errorCode"].clone()),
        (413, json!("GENERAL")),
        "{text}"
    );
    assert!(v.get("key").is_none(), "{text}");

    // A path whose key is not UTF-8, or empty.
    let (s, text) = ofrep_raw(&web, "/ofrep/v1/evaluate/flags/%FF", ALL_KEY, ctx.clone()).await;
    let v: Value = serde_json::from_str(&text).expect("a JSON body");
    assert_eq!(
        (s, v["key"].clone(), v["errorCode"].clone()),
        (400, json!("%FF"), json!("GENERAL")),
        "{text}"
    );
    let (s, text) = ofrep_raw(&web, "/ofrep/v1/evaluate/flags/", ALL_KEY, ctx).await;
    let v: Value = serde_json::from_str(&text).expect("a JSON body");
    assert_eq!(
        (s, v["key"].clone(), v["errorCode"].clone()),
        (404, json!(""), json!("FLAG_NOT_FOUND")),
        "{text}"
    );
}

#[tokio::test]
async fn ofrep_bulk_with_etag() {
    let redis = Redis::start(&[]);
    for k in ["a", "b", "mobile:c"] {
        redis.cmd(&[b"HANOI.DEFINE", k.as_bytes(), b"PERCENTAGE", b"100"]);
    }
    redis.cmd(&[b"SET", b"not-a-flag", b"x"]);
    let web = Web::start(&redis);
    let body = json!({"context": {"targetingKey": "u"}}).to_string();
    let c = reqwest::Client::new();
    let post = |key: &'static str, etag: Option<String>| {
        let mut r = c
            .post(web.url("/ofrep/v1/evaluate/flags"))
            .header("X-API-Key", key)
            .body(body.clone());
        if let Some(e) = etag {
            r = r.header("If-None-Match", e);
        }
        r.send()
    };
    let r = post(ALL_KEY, None).await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    let keys: Vec<&str> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["a", "b", "mobile:c"]);
    assert!(v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["value"] == true));

    let r = post(ALL_KEY, Some(etag.clone())).await.unwrap();
    assert_eq!(r.status(), 304);
    // If-None-Match compares weakly (RFC 9110): a weak tag matches too.
    let r = post(ALL_KEY, Some(format!("W/{etag}"))).await.unwrap();
    assert_eq!(r.status(), 304);
    redis.cmd(&[b"HANOI.DISABLE", b"b"]);
    let r = post(ALL_KEY, Some(etag.clone())).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag);

    let v: Value = post(MOBILE_KEY, None).await.unwrap().json().await.unwrap();
    let keys: Vec<&str> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["mobile:c"]);
    let r = c
        .post(web.url("/ofrep/v1/evaluate/flags"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(web.url("/ofrep/v1/evaluate/flags"))
        .header("X-API-Key", ALL_KEY)
        .body("[")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errorCode"], "PARSE_ERROR");

    // Without a targeting key each flag answers what does not depend on
    // the id, or TARGETING_KEY_MISSING.
    redis.cmd(&[b"HANOI.PERCENTAGE", b"a", b"50"]);
    let r = c
        .post(web.url("/ofrep/v1/evaluate/flags"))
        .header("X-API-Key", ALL_KEY)
        .body(r#"{"context":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let flags = v["flags"].as_array().unwrap();
    assert_eq!(flags[0]["key"], "a");
    assert_eq!(flags[0]["errorCode"], "TARGETING_KEY_MISSING");
    assert_eq!(
        (&flags[1]["key"], &flags[1]["reason"]),
        (&json!("b"), &json!("DISABLED"))
    );
    assert_eq!(
        (&flags[2]["value"], &flags[2]["reason"]),
        (&json!(true), &json!("STATIC"))
    );
}

#[tokio::test]
async fn redis_down_then_back_without_restarting_hanoi_web() {
    let mut redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"100"]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let body = json!({"context": {"targetingKey": "u"}}).to_string();
    let (s, _) = ofrep(&web, "/ofrep/v1/evaluate/flags/f", Some(ALL_KEY), &body).await;
    assert_eq!(s, 200);

    redis.kill();
    let (s, v) = ofrep(&web, "/ofrep/v1/evaluate/flags/f", Some(ALL_KEY), &body).await;
    assert_eq!(s, 503);
    assert_eq!(v["errorCode"], "GENERAL");
    assert_eq!(v["key"], "f");
    let (s, v) = ofrep(&web, "/ofrep/v1/evaluate/flags", Some(ALL_KEY), &body).await;
    assert_eq!((s, v["errorCode"].clone()), (503, json!("GENERAL")));
    let (s, html) = page(&alice, &web.url("/flags")).await;
    assert_eq!(s, 503);
    assert!(html.contains("Redis is unreachable"));

    redis.start_again();
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"100"]);
    // The connection comes back by itself: ask until it has (bounded).
    let mut status = 0;
    for _ in 0..100 {
        let (s, _) = ofrep(&web, "/ofrep/v1/evaluate/flags/f", Some(ALL_KEY), &body).await;
        status = s;
        if s == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    let (s, html) = page(&alice, &web.url("/flags")).await;
    assert_eq!(s, 200);
    assert!(html.contains(">f</a>"));
}

#[tokio::test]
async fn ofrep_cors_for_browser_apps() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"100"]);
    let web = Web::start_with(&redis, r#"cors_origins = ["http://app.example"]"#);
    let c = reqwest::Client::new();
    let pre = c
        .request(
            reqwest::Method::OPTIONS,
            web.url("/ofrep/v1/evaluate/flags"),
        )
        .header("Origin", "http://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "x-api-key, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    assert!(pre.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("X-API-Key"));
    let r = c
        .post(web.url("/ofrep/v1/evaluate/flags/f"))
        .header("Origin", "http://app.example")
        .header("X-API-Key", ALL_KEY)
        .body(json!({"context": {"targetingKey": "u"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let other = c
        .request(
            reqwest::Method::OPTIONS,
            web.url("/ofrep/v1/evaluate/flags"),
        )
        .header("Origin", "http://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // The UI sends no CORS headers at all.
    let r = c
        .get(web.url("/login"))
        .header("Origin", "http://app.example")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn read_only_mode_refuses_every_write() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"10"]);
    let web = Web::start_with(&redis, "read_only = true");
    let url = format!("/f/{}", hex(b"f"));
    let alice = web.login(ALICE).await;
    let (status, html) = page(&alice, &web.url(&url)).await;
    assert_eq!(status, 200);
    assert!(!html.contains("percentage-form"));
    let csrf = field(&html, None, "csrf");
    let r = alice
        .post(web.url(&url))
        .header("Origin", &web.base)
        .form(&[
            ("op", "percentage"),
            ("percentage", "50"),
            ("csrf", &csrf),
            ("version", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("read-only"));
    assert_eq!(percentage(&redis, b"f"), 10);
}

#[tokio::test]
async fn an_acl_user_from_the_config_is_the_history_user() {
    let redis = Redis::start(&[]);
    redis.cmd(&[
        b"ACL",
        b"SETUSER",
        b"webui",
        b"on",
        b">webui-secret",
        b"+@all",
        b"~*",
    ]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"10"]);
    let web = Web::start_with(
        &redis,
        "redis_username = \"webui\"\nredis_password = \"webui-secret\"",
    );
    let url = format!("/f/{}", hex(b"f"));
    let alice = web.login(ALICE).await;
    let (_, html) = page(&alice, &web.url(&url)).await;
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "percentage-form",
        &[("percentage", "20")],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(
        html.contains("alice via hanoi-web<br><span class=\"muted\">ACL user webui</span>"),
        "{html}"
    );
    // A wrong password: Redis refuses, the pages say Redis is unreachable.
    let bad = Web::start_with(
        &redis,
        "redis_username = \"webui\"\nredis_password = \"wrong\"",
    );
    let alice = bad.login(ALICE).await;
    let (s, _) = page(&alice, &bad.url("/flags")).await;
    assert_ne!(s, 200);
}

/// The names on a list page, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("<td class=\"name\"><a href=\"")
        .skip(1)
        .filter_map(|s| {
            let s = &s[s.find('>')? + 1..];
            Some(s[..s.find('<')?].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn the_list_pages_sorts_and_searches() {
    let redis = Redis::start(&[]);
    {
        // 301 flags, defined in a shuffled order: SCAN's order is not the list's.
        let mut con = redis.con();
        let mut pipe = redis::pipe();
        for i in (0..301).map(|i| (i * 7919) % 301) {
            pipe.cmd("HANOI.DEFINE")
                .arg(format!("flag-{i:03}"))
                .arg("PERCENTAGE")
                .arg(10)
                .ignore();
        }
        pipe.cmd("HANOI.META")
            .arg("flag-123")
            .arg("SET")
            .arg("owner")
            .arg("Payments Team")
            .arg("tags")
            .arg("Checkout, web")
            .ignore();
        pipe.cmd("HANOI.DISABLE").arg("flag-200").ignore();
        pipe.cmd("HANOI.ENABLED").arg("flag-250").arg("u1").ignore();
        pipe.query::<()>(&mut con).unwrap();
    }
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;

    // page_size (50) a page, sorted by name, with the total and both links.
    let (_, html) = page(&alice, &web.url("/flags")).await;
    let names = listed(&html);
    assert_eq!(names.len(), 50);
    assert_eq!(names[0], "flag-000");
    assert_eq!(names[49], "flag-049");
    assert!(html.contains("Flags 1–50 of 301"), "{html}");
    assert!(!html.contains("id=\"prev-page\""));
    let (_, html) = page(&alice, &web.url("/flags?page=7")).await;
    assert_eq!(listed(&html), ["flag-300"]);
    assert!(html.contains("Flags 301–301 of 301"));
    assert!(html.contains("id=\"prev-page\"") && !html.contains("id=\"next-page\""));
    let (_, html) = page(&alice, &web.url("/flags?page=8")).await;
    assert!(listed(&html).is_empty());
    assert!(html.contains("No flags on this page (301 in all)."));

    // Search: case-insensitive, over name, owner and tags; the tag filter
    // ignores case too.
    for q in ["FLAG-12", "payments", "checkout"] {
        let (_, html) = page(&alice, &web.url(&format!("/flags?q={q}"))).await;
        let names = listed(&html);
        assert!(names.contains(&"flag-123".to_owned()), "{q}: {names:?}");
    }
    let (_, html) = page(&alice, &web.url("/flags?q=FLAG-12")).await;
    assert_eq!(listed(&html).len(), 10, "flag-120..129");
    let (_, html) = page(&alice, &web.url("/flags?tag=CHECKOUT")).await;
    assert_eq!(listed(&html), ["flag-123"]);
    let (_, html) = page(&alice, &web.url("/flags?q=nothing-like-it")).await;
    assert!(html.contains("No flags match."));

    // Sorted by state (on first) and by last evaluation (the evaluated one first).
    let (_, html) = page(&alice, &web.url("/flags?sort=state&page=7")).await;
    assert_eq!(
        listed(&html),
        ["flag-200"],
        "the one switched off comes last"
    );
    let (_, html) = page(&alice, &web.url("/flags?sort=evaluated")).await;
    assert_eq!(listed(&html)[0], "flag-250");
}

/// The ids on an ids page, and its "more" link.
fn ids_on(html: &str) -> (Vec<String>, Option<String>) {
    let ids = html
        .split("<li><label>")
        .skip(1)
        .filter_map(|s| {
            let s = &s[s.find("<code>")? + 6..];
            Some(s[..s.find("</code>")?].to_owned())
        })
        .collect();
    let more = html.find("id=\"more-ids\"").map(|at| {
        let before = &html[..at];
        let href = &before[before.rfind("href=\"").unwrap() + 6..];
        href[..href.find('"').unwrap()].replace("&amp;", "&")
    });
    (ids, more)
}

#[tokio::test]
async fn registered_ids_are_browsed_searched_and_removed() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"5"]);
    let ids: Vec<String> = (0..250).map(|i| format!("user-{i}")).collect();
    let mut args: Vec<&[u8]> = vec![b"HANOI.REGISTER", b"f", b"USER"];
    args.extend(ids.iter().map(|s| s.as_bytes()));
    redis.cmd(&args);
    redis.cmd(&[b"HANOI.BLOCK", b"f", b"mallory"]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let base = format!("/f/{}/ids", hex(b"f"));

    // Every id, a page at a time, following "more".
    let (_, flag) = page(&alice, &web.url(&format!("/f/{}", hex(b"f")))).await;
    assert!(flag.contains("id=\"browse-users\""));
    let mut seen = std::collections::BTreeSet::new();
    let mut next = Some(format!("{base}?list=users"));
    let mut pages = 0;
    while let Some(url) = next {
        let (s, html) = page(&alice, &web.url(&url)).await;
        assert_eq!(s, 200);
        let (got, more) = ids_on(&html);
        seen.extend(got);
        next = more;
        pages += 1;
        assert!(pages < 50);
    }
    assert_eq!(seen, ids.iter().cloned().collect());
    assert!(pages >= 2, "a hundred or so a page");

    // Search: the ids containing the text.
    let (_, html) = page(&alice, &web.url(&format!("{base}?list=users&q=user-24"))).await;
    let (mut got, _) = ids_on(&html);
    got.sort();
    assert_eq!(
        got,
        [
            "user-24", "user-240", "user-241", "user-242", "user-243", "user-244", "user-245",
            "user-246", "user-247", "user-248", "user-249"
        ]
    );
    let (_, html) = page(&alice, &web.url(&format!("{base}?list=blocked"))).await;
    assert_eq!(ids_on(&html).0, ["mallory"]);

    // Remove the ticked ones.
    let csrf = field(&html, Some("ids-form"), "csrf");
    let r = alice
        .post(web.url(&base))
        .header("Origin", &web.base)
        .form(&[
            ("csrf", csrf.as_str()),
            ("list", "users"),
            ("q", ""),
            ("id", &hex(b"user-1")),
            ("id", &hex(b"user-2")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let (_, html) = page(&alice, &web.url(r.headers()["location"].to_str().unwrap())).await;
    assert!(html.contains("Removed 2."), "{html}");
    let explain = |id: &[u8]| redis.cmd(&[b"HANOI.EXPLAIN", b"f", id]);
    assert!(
        format!("{:?}", explain(b"user-1")).contains("percentage")
            || format!("{:?}", explain(b"user-1")).contains("outside")
    );
    assert!(format!("{:?}", explain(b"user-3")).contains("user"));

    // A viewer browses but cannot remove.
    let victor = web.login(VICTOR).await;
    let (_, html) = page(&victor, &web.url(&format!("{base}?list=users"))).await;
    assert!(!html.contains("type=\"checkbox\"") && !html.contains("id=\"remove-ids\""));
    let csrf = field(&html, Some("ids-form"), "csrf");
    let r = victor
        .post(web.url(&base))
        .header("Origin", &web.base)
        .form(&[
            ("csrf", csrf.as_str()),
            ("list", "users"),
            ("id", &hex(b"user-3")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

/// Posts the rule builder: name, the rows (attribute, operator, values)
/// and the button pressed (`save`, `add`, `remove_<i>`, `text`).
async fn post_rule(
    web: &Web,
    c: &reqwest::Client,
    html: &str,
    url: &str,
    name: &str,
    rows: &[(&str, &str, &str)],
    extra: &[(&str, &str)],
) -> (u16, String) {
    let keys: Vec<(String, String, String)> = (0..rows.len())
        .map(|i| {
            (
                format!("cond_attr_{i}"),
                format!("cond_op_{i}"),
                format!("cond_values_{i}"),
            )
        })
        .collect();
    let mut form: Vec<(&str, &str)> = vec![("name", name)];
    for ((a, o, v), (ka, ko, kv)) in rows.iter().zip(&keys) {
        form.extend([(ka.as_str(), *a), (ko.as_str(), *o), (kv.as_str(), *v)]);
    }
    form.extend_from_slice(extra);
    submit(web, c, html, url, "rule-form", &form).await
}

#[tokio::test]
async fn the_flag_page_guides_people() {
    let redis = Redis::start(&[]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    assert_eq!(
        create(
            &web,
            &alice,
            &[
                ("name", "guide"),
                ("enabled", "1"),
                ("percentage", "25"),
                ("variants", "red blue")
            ]
        )
        .await,
        303
    );
    let url = format!("/f/{}", hex(b"guide"));
    let (_, html) = page(&alice, &web.url(&url)).await;
    // Every operator is offered, with its meaning.
    for op in [
        "EQ — equals",
        "NOTIN — is none",
        "SEMVER_GE",
        "MATCHES",
        "MISSING — is not given",
    ] {
        assert!(html.contains(op), "{op}");
    }

    // "add a condition" shows the form again with one more row, as typed.
    let (s, body) = post_rule(
        &web,
        &alice,
        &html,
        &url,
        "pros",
        &[("plan", "IN", "pro, team")],
        &[("action", "add")],
    )
    .await;
    assert_eq!(s, 200);
    assert!(body.contains(r#"id="cond-attr-1""#), "no second row");
    assert!(body.contains(r#"value="pro, team""#));
    assert!(body.contains(r#"id="rule-name" value="pros""#));
    assert_eq!(
        redis.cmd(&[b"HANOI.RULE", b"guide", b"DEL", b"pros"]),
        redis::Value::Int(0)
    );

    // Saved: the list's values counted by the UI.
    let (s, _) = post_rule(
        &web,
        &alice,
        &html,
        &url,
        "pros",
        &[("plan", "IN", "pro, team"), ("country", "EQ", "DE")],
        &[("action", "save"), ("variant", "blue")],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(
        html.contains("plan IN 2 pro team AND country EQ DE"),
        "{html}"
    );

    // Typed conditions: an IN list without its count works.
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "rule-form",
        &[
            ("name", "typed"),
            ("conditions", "plan IN pro team"),
            ("action", "text"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(html.contains("VARIANT blue IF plan IN 2 pro team AND country EQ DE"));
    assert!(html.contains("IF plan IN 2 pro team</code>"));
    assert!(html.contains("Move rule pros down") && html.contains("Move rule typed up"));

    // A refused rule keeps what was typed; an unknown operator lists them.
    let (s, body) = submit(
        &web,
        &alice,
        &html,
        &url,
        "rule-form",
        &[
            ("name", "bad"),
            ("conditions", "country IS DE"),
            ("action", "text"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body.contains("unknown operator") && body.contains("SEMVER_GE"),
        "{body}"
    );
    assert!(body.contains(r#"id="rule-conditions-error" role="alert""#));
    assert!(body.contains(r#"value="country IS DE""#));
    assert!(body.contains(r#"id="rule-name" value="bad""#));
    // Refused by the module: its words at the form, without "ERR".
    let (s, body) = post_rule(
        &web,
        &alice,
        &html,
        &url,
        "nine",
        &[("version", "SEMVER_GE", "not-a-version")],
        &[("action", "save")],
    )
    .await;
    assert_eq!(s, 400);
    let error = body
        .split(r#"id="rule-error" role="alert">"#)
        .nth(1)
        .expect("the rule form's error")
        .split("</div>")
        .next()
        .unwrap();
    assert!(
        error.starts_with("Not saved: ") && !error.contains("ERR"),
        "{error}"
    );
    assert!(body.contains(r#"value="not-a-version""#));
    assert!(body.contains(r#"<option value="SEMVER_GE" selected>"#));

    // Edit says what is being edited, with a way back.
    let (_, html) = page(&alice, &web.url(&format!("{url}?edit_rule=pros"))).await;
    assert!(html.contains(r#"Editing rule <strong id="editing-rule">pros</strong>"#));
    assert!(html.contains(r#"id="cancel-edit""#));
    assert!(html.contains(r#"id="cond-values-0" value="pro, team""#));
    assert!(html.contains(r#"<option value="blue" selected>"#));

    // A refused percentage: at its form, announced, the typed value kept.
    let (s, body) = submit(
        &web,
        &alice,
        &html,
        &url,
        "percentage-form",
        &[("percentage", "101")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains(
        r#"id="percentage-error" role="alert">Not saved: percentage must be an integer between 0 and 100"#
    ), "{body}");
    assert!(body.contains(r#"value="101""#));
    // Refused ids keep the ids typed.
    let (s, body) = submit(
        &web,
        &alice,
        &html,
        &url,
        "regex-form",
        &[("patterns", "([unclosed")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains(r#"id="regex-error" role="alert""#), "{body}");
    assert!(body.contains(">([unclosed</textarea>"));

    // Try it: a malformed attribute line is refused at its field; the
    // answer reads in words.
    let (_, html) = page(
        &alice,
        &web.url(&format!("{url}?try_id=x&try_attrs=country%3A%20DE")),
    )
    .await;
    assert!(html.contains(r#"id="try-attrs-error" role="alert""#));
    assert!(html.contains("is not attr=value"));
    assert!(!html.contains("try-result"));
    let (_, html) = page(&alice, &web.url(&format!("{url}?try_id=someone"))).await;
    assert!(
        html.contains("in the 25 % (this id&#39;s bucket is")
            || html.contains("in the 25 % (this id's bucket is"),
        "{html}"
    );
    let (_, html) = page(
        &alice,
        &web.url(&format!(
            "{url}?try_id=someone&try_attrs=plan%3Dpro%0Acountry%3DDE"
        )),
    )
    .await;
    assert!(html.contains("rule pros matched"));

    // A running ramp: the state says so, and setting a percentage asks.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (start, end) = ((now - 3_600_000).to_string(), (now + 3_600_000).to_string());
    redis.cmd(&[
        b"HANOI.SCHEDULE",
        b"guide",
        b"RAMP",
        b"10",
        b"100",
        start.as_bytes(),
        end.as_bytes(),
    ]);
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(html.contains("ramping 10 % → 100 %, now 5"), "{html}");
    assert!(html.contains(
        r#"data-confirm="Setting the percentage ends the ramp from 10 % to 100 %. Set it?""#
    ));

    // History: sentences, the UI user as the actor.
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "percentage-form",
        &[("percentage", "50")],
    )
    .await;
    assert_eq!(s, 303);
    let (_, html) = page(&alice, &web.url(&url)).await;
    let history = html.split(r#"id="history""#).nth(1).unwrap();
    assert!(history.contains("alice via hanoi-web"));
    assert!(history.contains("ACL user default"));
    assert!(history.contains("percentage 25 % → 50 %"), "{history}");
    // The history keeps a command's first 8 arguments: a rule is said in
    // words as far as they go, a cut list ending in "…".
    assert!(
        history.contains("rule pros set: If plan is one of …: on for all of them, serving blue."),
        "{history}"
    );
    assert!(history.contains("rule typed set: If plan is one of pro, team: on for all of them."));
    assert!(history.contains("<details><summary>command</summary>"));
    assert!(history.contains("just now") || history.contains(" ago"));

    // A user's view: every flag's answer for one id.
    create(
        &web,
        &alice,
        &[("name", "other"), ("enabled", "1"), ("percentage", "100")],
    )
    .await;
    let (s, html) = page(
        &alice,
        &web.url("/user?id=someone&attrs=plan%3Dpro%0Acountry%3DDE"),
    )
    .await;
    assert_eq!(s, 200);
    let answers = html.split(r#"id="user-answers""#).nth(1).expect("answers");
    assert!(answers.contains(&format!(r#"href="/f/{}""#, hex(b"guide"))));
    assert!(answers.contains("rule pros matched") && answers.contains("blue"));
    assert!(answers.contains("the flag is on for everyone (100 %)"));
    let (_, html) = page(&alice, &web.url("/user?id=someone&attrs=plan")).await;
    assert!(html.contains(r#"id="user-attrs-error" role="alert""#));
    // The variants answered show up in the stats, on their own scale.
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(html.contains(r#"id="variant-note""#));
    assert!(html.contains(" variant answers"), "{html}");
}

#[tokio::test]
async fn the_flag_page_charts_evaluations_over_time() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"100"]);
    for i in 0..30 {
        redis.cmd(&[b"HANOI.ENABLED", b"f", format!("u{i}").as_bytes()]);
    }
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let (_, html) = page(&alice, &web.url(&format!("/f/{}", hex(b"f")))).await;
    for id in ["chart-hour", "chart-week"] {
        let at = html.find(&format!("id=\"{id}\"")).expect(id);
        let chart = &html[at..at + html[at..].find("</figure>").unwrap()];
        assert!(
            chart.contains("<svg") && chart.contains("role=\"img\""),
            "{chart}"
        );
        assert!(chart.contains("30 evaluations, 30 on"), "{chart}");
        assert!(chart.contains("<rect class=\"evaluations\""), "{chart}");
    }
}

#[tokio::test]
async fn the_rule_builder_suggests_attributes_used_on_other_flags() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"a"]);
    redis.cmd(&[
        b"HANOI.RULE",
        b"a",
        b"SET",
        b"de",
        b"IF",
        b"country",
        b"EQ",
        b"DE",
        b"AND",
        b"plan",
        b"IN",
        b"1",
        b"pro",
    ]);
    redis.cmd(&[b"HANOI.DEFINE", b"b"]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let (_, html) = page(&alice, &web.url(&format!("/f/{}", hex(b"b")))).await;
    let at = html
        .find("id=\"rule-attributes\"")
        .expect("the suggestions");
    let list = &html[at..at + html[at..].find("</datalist>").unwrap()];
    for a in ["id", "country", "plan"] {
        assert!(list.contains(&format!("value=\"{a}\"")), "{a}: {list}");
    }
}
