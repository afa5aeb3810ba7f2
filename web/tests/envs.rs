//! Environments: two real redis-servers (staging and a protected
//! production) behind one hanoi-web: the list's column per environment,
//! the flag page's tabs, roles per environment (a forged write refused),
//! the protected environment's confirmation, API keys bound to one
//! environment, /healthz, an unreachable environment.

mod harness;

use harness::{field, flag_field, hash_password, hex, page, two_envs, Redis, Web, ALICE};
use serde_json::Value;

pub const ANA: (&str, &str) = ("ana", "ana-password-1");
const STAGING_KEY: &str = "staging-key-0123456789";
const PRODUCTION_KEY: &str = "production-key-0123456789";

fn env_config(staging: &Redis, production: &Redis) -> String {
    two_envs(staging, production, "protected = true")
        + &format!(
            r#"
[[user]]
name = "{}"
password_hash = "{}"
role = "admin"
roles = {{ production = "viewer" }}

[[api_key]]
key = "{STAGING_KEY}"
environment = "staging"

[[api_key]]
key = "{PRODUCTION_KEY}"
prefix = ""
environment = "production"
"#,
            ANA.0,
            hash_password(ANA.1)
        )
}

async fn post(web: &Web, c: &reqwest::Client, action: &str, form: &[(&str, &str)]) -> u16 {
    c.post(web.url(action))
        .header("Origin", &web.base)
        .form(form)
        .send()
        .await
        .expect("POST")
        .status()
        .as_u16()
}

async fn ofrep(web: &Web, flag: &str, key: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(web.url(&format!("/ofrep/v1/evaluate/flags/{flag}")))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {key}"))
        .body(r#"{"context":{"targetingKey":"u1"}}"#)
        .send()
        .await
        .expect("OFREP");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn enabled(redis: &Redis, key: &[u8]) -> bool {
    flag_field(redis, key, "enabled") == redis::Value::Int(1)
}

fn setup() -> (Redis, Redis) {
    let staging = Redis::start(&[]);
    let production = Redis::start(&[]);
    staging.cmd(&[b"HANOI.DEFINE", b"both", b"PERCENTAGE", b"100"]);
    staging.cmd(&[b"HANOI.DEFINE", b"only-staging", b"PERCENTAGE", b"30"]);
    production.cmd(&[b"HANOI.DEFINE", b"both", b"DISABLED", b"PERCENTAGE", b"5"]);
    (staging, production)
}

#[tokio::test]
async fn list_tabs_roles_and_the_protected_environment() {
    let (staging, production) = setup();
    let web = Web::start_with(&staging, &env_config(&staging, &production));
    let both = format!("/f/{}", hex(b"both"));

    // The list: the union of the environments' flags, a column each.
    let alice = web.login(ALICE).await;
    let (status, html) = page(&alice, &web.url("/flags")).await;
    assert_eq!(status, 200);
    assert!(html.contains("only-staging"), "{html}");
    assert!(html.contains(r#"data-env="staging""#));
    assert!(html.contains(r#"data-env="production""#));
    assert!(
        html.contains("missing"),
        "only-staging is missing in production"
    );
    assert!(html.contains("30 %") && html.contains("5 %"), "{html}");
    // The header switches the current environment.
    assert!(html.contains(r#"href="/flags?env=production""#));
    let (status, html) = page(&alice, &web.url("/flags?env=production")).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="current-env" class="badge env" aria-current="true" title="the current environment">production<"#), "{html}");

    // An unknown environment: 404.
    let (status, _) = page(&alice, &web.url("/flags?env=qa")).await;
    assert_eq!(status, 404);

    // The flag page: a tab per environment, the title and the save
    // buttons name the current one (the first by default).
    let (_, html) = page(&alice, &web.url(&both)).await;
    assert!(html.contains(r#"id="env-tabs""#));
    assert!(html.contains("<title>both in staging"), "{html}");
    assert!(html.contains("Switch off in staging"));
    assert!(html.contains("Set percentage in staging"));
    assert!(html.contains(&format!(r#"href="{both}?env=production""#)));

    // ana: admin in staging, viewer in production.
    let ana = web.login(ANA).await;
    let (_, prod_page) = page(&ana, &web.url(&format!("{both}?env=production"))).await;
    assert!(prod_page.contains("<title>both in production"));
    assert!(
        !prod_page.contains(r#"id="switch-form""#),
        "read-only there"
    );
    assert!(prod_page.contains("read-only"));
    let (_, stg_page) = page(&ana, &web.url(&format!("{both}?env=staging"))).await;
    assert!(stg_page.contains(r#"id="switch-form""#));
    let csrf = field(&stg_page, Some("switch-form"), "csrf");
    let prod_version = {
        let (_, admin_prod) = page(&alice, &web.url(&format!("{both}?env=production"))).await;
        field(&admin_prod, Some("switch-form"), "version")
    };
    // A forged write to production: refused on the server.
    let forged = post(
        &web,
        &ana,
        &format!("{both}?env=production"),
        &[
            ("csrf", &csrf),
            ("version", &prod_version),
            ("seen", "0"),
            ("op", "switch"),
            ("to", "on"),
            ("confirm_env", "production"),
        ],
    )
    .await;
    assert_eq!(forged, 403);
    assert!(!enabled(&production, b"both"));
    // In staging, ana may.
    let version = field(&stg_page, Some("switch-form"), "version");
    let ok = post(
        &web,
        &ana,
        &format!("{both}?env=staging"),
        &[
            ("csrf", &csrf),
            ("version", &version),
            ("seen", "0"),
            ("op", "switch"),
            ("to", "off"),
        ],
    )
    .await;
    assert_eq!(ok, 303);
    assert!(!enabled(&staging, b"both"));
    assert!(!enabled(&production, b"both"));

    // Production is protected: alice (admin there) must type its name.
    let (_, admin_prod) = page(&alice, &web.url(&format!("{both}?env=production"))).await;
    assert!(admin_prod.contains(r#"id="confirm-env-page""#));
    let csrf = field(&admin_prod, Some("switch-form"), "csrf");
    let version = field(&admin_prod, Some("switch-form"), "version");
    let mut form = vec![
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("seen", "0"),
        ("op", "switch"),
        ("to", "on"),
    ];
    let action = format!("{both}?env=production");
    assert_eq!(post(&web, &alice, &action, &form).await, 403);
    form.push(("confirm_env", "staging"));
    assert_eq!(post(&web, &alice, &action, &form).await, 403);
    assert!(!enabled(&production, b"both"));
    form.pop();
    form.push(("confirm_env", "production"));
    assert_eq!(post(&web, &alice, &action, &form).await, 303);
    assert!(enabled(&production, b"both"));
    assert!(!enabled(&staging, b"both"));

    // The rule builder's "add a condition" writes nothing: no confirmation
    // needed; saving the rule needs it.
    let (_, admin_prod) = page(&alice, &web.url(&action)).await;
    assert!(admin_prod.contains("Add rule in production"));
    let csrf = field(&admin_prod, Some("rule-form"), "csrf");
    let version = field(&admin_prod, Some("rule-form"), "version");
    let mut rule = vec![
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("seen", "0"),
        ("op", "rule_set"),
        ("name", "de"),
        ("cond_attr_0", "country"),
        ("cond_op_0", "EQ"),
        ("cond_values_0", "DE"),
        ("action", "add"),
    ];
    let r = alice
        .post(web.url(&action))
        .header("Origin", &web.base)
        .form(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(r#"id="cond-attr-1""#));
    rule.pop();
    rule.push(("action", "save"));
    assert_eq!(post(&web, &alice, &action, &rule).await, 403);
    rule.push(("confirm_env", "production"));
    assert_eq!(post(&web, &alice, &action, &rule).await, 303);
    let rules = format!("{:?}", production.cmd(&[b"HANOI.GET", b"both"]));
    assert!(rules.contains("country"), "{rules}");
}

#[tokio::test]
async fn api_keys_serve_one_environment_and_health_per_environment() {
    let (staging, mut production) = setup();
    let web = Web::start_with(&staging, &env_config(&staging, &production));

    let (status, body) = ofrep(&web, "only-staging", STAGING_KEY).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = ofrep(&web, "only-staging", PRODUCTION_KEY).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["errorCode"], "FLAG_NOT_FOUND");
    let (_, body) = ofrep(&web, "both", STAGING_KEY).await;
    assert_eq!(body["value"], true, "{body}");
    let (_, body) = ofrep(&web, "both", PRODUCTION_KEY).await;
    assert_eq!(body["value"], false, "{body}");

    // The detail per environment is for a logged-in user; strangers get
    // "ok" or "degraded".
    let alice = web.login(ALICE).await;
    let health = |status: u16| {
        let url = web.url("/healthz");
        let alice = alice.clone();
        async move {
            let r = alice.get(url).send().await.expect("healthz");
            assert_eq!(r.status(), status);
            r.json::<Value>().await.expect("JSON")
        }
    };
    let anon = || async {
        let r = reqwest::get(web.url("/healthz")).await.expect("healthz");
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let h = health(200).await;
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["environments"][0]["name"], "staging");
    assert_eq!(h["environments"][1]["reachable"], true);
    assert_eq!(anon().await, (200, "ok".to_owned()));

    // Production down: reported, and the list still shows staging.
    production.kill();
    let h = health(503).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["environments"][0]["reachable"], true);
    assert_eq!(h["environments"][1]["name"], "production");
    assert_eq!(h["environments"][1]["reachable"], false);
    assert_eq!(anon().await, (503, "degraded".to_owned()));
    let (status, html) = page(&alice, &web.url("/flags")).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="unreachable-production""#), "{html}");
    assert!(html.contains("only-staging"));
    assert!(html.contains("unreachable"));
    let (status, body) = ofrep(&web, "only-staging", STAGING_KEY).await;
    assert_eq!(status, 200, "{body}");
    // Every page's banner names it (checked by /healthz above, and every
    // few seconds).
    let (status, html) = page(&alice, &web.url(&format!("/f/{}", hex(b"both")))).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="env-down""#), "{html}");
    assert!(html.contains("<strong>production</strong>"));
    // Its own pages: 503.
    let (status, _) = page(
        &alice,
        &web.url(&format!("/f/{}?env=production", hex(b"both"))),
    )
    .await;
    assert_eq!(status, 503);
    let (_, html) = page(
        &alice,
        &web.url(&format!("/f/{}?env=production", hex(b"both"))),
    )
    .await;
    assert!(html.contains(r#"id="env-unreachable""#), "{html}");
    assert!(html.contains("<strong>production</strong>"));
    // Back: the banner goes at the next check.
    production.start_again();
    let h = health(200).await;
    assert_eq!(h["status"], "ok", "{h}");
    let (_, html) = page(&alice, &web.url("/flags")).await;
    assert!(!html.contains(r#"id="env-down""#));
}

#[test]
fn an_unknown_environment_is_a_config_error() {
    let dir = harness::fresh_dir();
    for bad in [
        "[[api_key]]\nkey = \"0123456789abcdef0123\"\nenvironment = \"staging\"\n",
        "[[environment]]\nname = \"staging\"\nredis = \"redis://127.0.0.1:1\"\n[[api_key]]\nkey = \"0123456789abcdef0123\"\nenvironment = \"prod\"\n",
    ] {
        let path = dir.join("bad.toml");
        std::fs::write(&path, bad).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hanoi-web"))
            .arg("--config")
            .arg(&path)
            .output()
            .expect("run hanoi-web");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("unknown environment"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The value of the hidden field `name` in the form with `id`.
fn form_field(html: &str, id: &str, name: &str) -> String {
    field(html, Some(id), name)
}

#[tokio::test]
async fn compare_and_copy_with_a_stale_refusal() {
    let (staging, production) = setup();
    let c = |r: &Redis, args: &[&str]| {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        r.cmd(&a);
    };
    c(
        &staging,
        &[
            "HANOI.DEFINE",
            "rich",
            "PERCENTAGE",
            "40",
            "VARIANTS",
            "2",
            "a",
            "b",
            "WEIGHTS",
            "1",
            "3",
            "VALUES",
            "\"x\"",
            "\"y\"",
            "DEFAULT",
            "a",
            "SALT",
            "s1",
        ],
    );
    c(
        &staging,
        &[
            "HANOI.RULE",
            "rich",
            "SET",
            "de",
            "VARIANT",
            "b",
            "IF",
            "country",
            "EQ",
            "DE",
        ],
    );
    c(&staging, &["HANOI.REGISTER", "rich", "REGEX", "^qa-"]);
    c(&staging, &["HANOI.REGISTER", "rich", "USER", "u1"]);
    c(
        &staging,
        &["HANOI.SCHEDULE", "rich", "WINDOW", "1798761600000", "0"],
    );
    c(
        &staging,
        &["HANOI.META", "rich", "SET", "description", "rich one"],
    );
    c(&production, &["HANOI.DEFINE", "rich", "PERCENTAGE", "10"]);
    c(
        &production,
        &[
            "HANOI.RULE",
            "rich",
            "SET",
            "old",
            "IF",
            "plan",
            "EQ",
            "pro",
        ],
    );
    c(&production, &["HANOI.REGISTER", "rich", "REGEX", "^old-"]);
    c(
        &production,
        &["HANOI.META", "rich", "SET", "owner", "someone"],
    );
    let web = Web::start_with(&staging, &env_config(&staging, &production));
    let rich = format!("/f/{}", hex(b"rich"));
    let alice = web.login(ALICE).await;

    // The flag page links to the comparison.
    let (_, html) = page(&alice, &web.url(&rich)).await;
    assert!(html.contains(r#"id="compare-production""#));
    let compare = web.url(&format!("{rich}/compare?with=production"));
    let (status, html) = page(&alice, &compare).await;
    assert_eq!(status, 200, "{html}");
    for aspect in [
        "percentage",
        "variants",
        "weights",
        "values",
        "salt",
        "window",
        "regexes",
        "rule de",
        "rule old",
        "metadata description",
        "metadata owner",
        "registered ids (count)",
    ] {
        assert!(
            html.contains(&format!(r#"<tr class="diff" data-aspect="{aspect}""#)),
            "{aspect} differs: {html}"
        );
    }
    assert!(html.contains(r#"id="copy-to-production""#));

    // Production changes after the comparison was shown: the copy is stale.
    let form = |html: &str, extra: Option<&str>| {
        let mut f: Vec<(String, String)> = ["csrf", "from", "source_version", "target_version"]
            .iter()
            .map(|n| (n.to_string(), form_field(html, "copy-to-production", n)))
            .collect();
        f.extend(every_part());
        if let Some(e) = extra {
            f.push(("confirm_env".into(), e.into()));
        }
        f
    };
    let stale_form = form(&html, Some("production"));
    c(&production, &["HANOI.PERCENTAGE", "rich", "11"]);
    let r = alice
        .post(web.url(&format!("{rich}/copy?env=production")))
        .header("Origin", &web.base)
        .form(&stale_form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains(r#"id="stale""#));
    let (_, html) = page(&alice, &compare).await;
    assert!(html.contains("11 %"), "production untouched");

    // ana is a viewer in production: no copy there, a forged one refused.
    let ana = web.login(ANA).await;
    let (_, ana_html) = page(&ana, &compare).await;
    assert!(!ana_html.contains(r#"id="copy-to-production""#));
    let mut forged = form(&html, Some("production"));
    forged[0].1 = field(&ana_html, None, "csrf");
    let r = ana
        .post(web.url(&format!("{rich}/copy?env=production")))
        .header("Origin", &web.base)
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Protected: the name must be typed.
    let r = alice
        .post(web.url(&format!("{rich}/copy?env=production")))
        .header("Origin", &web.base)
        .form(&form(&html, None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = alice
        .post(web.url(&format!("{rich}/copy?env=production")))
        .header("Origin", &web.base)
        .form(&form(&html, Some("production")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, html) = page(&alice, &compare).await;
    assert!(html.contains("1 difference (marked)"), "{html}");
    assert!(html.contains(r#"<tr class="diff" data-aspect="registered ids (count)""#));
    let history = format!("{:?}", production.cmd(&[b"HANOI.HISTORY", b"rich"]));
    assert!(
        history.contains("hanoi-web:alice:copy-from-staging"),
        "{history}"
    );

    // With its ids, when asked: then no difference is left.
    let (_, html) = page(&alice, &compare).await;
    let mut with_ids = form(&html, Some("production"));
    with_ids.push(("with_ids".into(), "1".into()));
    let r = alice
        .post(web.url(&format!("{rich}/copy?env=production")))
        .header("Origin", &web.base)
        .form(&with_ids)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (_, html) = page(&alice, &compare).await;
    assert!(html.contains("No differences."), "{html}");

    // Its page in an environment without it: the tabs and the comparison.
    let (status, html) = page(
        &alice,
        &web.url(&format!("/f/{}?env=production", hex(b"only-staging"))),
    )
    .await;
    assert_eq!(status, 404);
    assert!(html.contains(r#"id="no-flag""#) && html.contains(r#"id="compare-staging""#));

    // To an environment without the flag: created there.
    let (_, html) = page(
        &alice,
        &web.url(&format!(
            "/f/{}/compare?with=production",
            hex(b"only-staging")
        )),
    )
    .await;
    assert!(html.contains("missing"));
    let r = alice
        .post(web.url(&format!("/f/{}/copy?env=production", hex(b"only-staging"))))
        .header("Origin", &web.base)
        .form(&form(&html, Some("production")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let (status, body) = ofrep(&web, "only-staging", PRODUCTION_KEY).await;
    assert_eq!(status, 200, "{body}");
}

/// Every part of a copy ticked (the switch too): the target's flag
/// becomes the source's.
fn every_part() -> Vec<(String, String)> {
    [
        "copy_switch",
        "copy_percentage",
        "copy_variants",
        "copy_rules",
        "copy_schedule",
        "copy_regexes",
        "copy_metadata",
    ]
    .iter()
    .map(|k| (k.to_string(), "1".to_string()))
    .collect()
}

/// An environment's own Redis ACL user and password.
#[tokio::test]
async fn an_environment_with_its_own_redis_user() {
    let (staging, production) = setup();
    production.cmd(&[
        b"ACL",
        b"SETUSER",
        b"web",
        b"on",
        b">web-password-1",
        b"~*",
        b"&*",
        b"+@all",
    ]);
    production.cmd(&[b"ACL", b"SETUSER", b"default", b"off"]);
    let config = format!(
        "[[environment]]\nname = \"staging\"\nredis = \"{}\"\n\n[[environment]]\nname = \"production\"\nredis = \"{}\"\nredis_username = \"web\"\nredis_password = \"web-password-1\"\n\n[[environment]]\nname = \"wrong\"\nredis = \"{}\"\nredis_username = \"web\"\nredis_password = \"nope\"\n\n[[api_key]]\nkey = \"{PRODUCTION_KEY}\"\nenvironment = \"production\"\n",
        staging.url(),
        production.url(),
        production.url()
    );
    let web = Web::start_with(&staging, &config);
    let (status, body) = ofrep(&web, "both", PRODUCTION_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], false);
    // A stranger learns "degraded", not which environment nor Redis's
    // words; a logged-in user gets the detail.
    let r = reqwest::get(web.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.text().await.unwrap(), "degraded");
    let alice = web.login(ALICE).await;
    let r = alice.get(web.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["environments"][1]["reachable"], true, "{h}");
    assert_eq!(h["environments"][2]["reachable"], false, "{h}");
    assert_eq!(h["environments"][2]["name"], "wrong", "{h}");
}

/// Issue 30, item 10: a copy is one `HANOI.IMPORT` on the target, all or
/// nothing under the target's limits. Production allows values of 64 bytes
/// at most; staging's flag has one of 102: the copy is refused whole,
/// production byte for byte as it was (its two rules and its window too),
/// the module's words at the copy form with what was typed kept. With the
/// limit raised the same form copies: production answers as staging, keeps
/// its own ids, and its history has one import by the copying user.
#[tokio::test]
async fn a_copy_the_target_refuses_changes_nothing_there() {
    let staging = Redis::start(&[]);
    let production = Redis::start(&["--hanoi.max-value-bytes", "64"]);
    let c = |r: &Redis, args: &[&str]| {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        r.cmd(&a)
    };
    let long = format!("{{\"text\": \"{}\"}}", "x".repeat(90));
    assert_eq!(long.len(), 102);
    c(
        &staging,
        &[
            "HANOI.DEFINE",
            "big",
            "PERCENTAGE",
            "20",
            "VARIANTS",
            "2",
            "a",
            "b",
            "VALUES",
            "{}",
            &long,
        ],
    );
    c(
        &staging,
        &[
            "HANOI.RULE",
            "big",
            "SET",
            "pros",
            "VARIANT",
            "b",
            "IF",
            "plan",
            "EQ",
            "pro",
        ],
    );
    c(&staging, &["HANOI.REGISTER", "big", "USER", "s1"]);
    c(&production, &["HANOI.DEFINE", "big", "PERCENTAGE", "5"]);
    for (name, country) in [("one", "DE"), ("two", "FR")] {
        c(
            &production,
            &[
                "HANOI.RULE",
                "big",
                "SET",
                name,
                "IF",
                "country",
                "EQ",
                country,
            ],
        );
    }
    c(
        &production,
        &["HANOI.SCHEDULE", "big", "WINDOW", "0", "4102444800000"],
    );
    c(&production, &["HANOI.REGISTER", "big", "USER", "p1"]);
    c(&production, &["HANOI.BLOCK", "big", "p2"]);
    let digest = |r: &Redis| c(r, &["DEBUG", "DIGEST-VALUE", "big"]);
    let history = |r: &Redis| match c(r, &["HANOI.HISTORY", "big", "COUNT", "1000"]) {
        redis::Value::Array(entries) => entries,
        other => panic!("history: {other:?}"),
    };
    let before = digest(&production);
    let history_before = history(&production).len();

    let web = Web::start_with(&staging, &env_config(&staging, &production));
    let big = format!("/f/{}", hex(b"big"));
    let alice = web.login(ALICE).await;
    let compare = web.url(&format!("{big}/compare?with=production"));
    let (status, html) = page(&alice, &compare).await;
    assert_eq!(status, 200, "{html}");
    let form = |html: &str| {
        let mut f: Vec<(String, String)> = ["csrf", "from", "source_version", "target_version"]
            .iter()
            .map(|n| (n.to_string(), form_field(html, "copy-to-production", n)))
            .collect();
        f.extend(every_part());
        f.push(("confirm_env".into(), "production".into()));
        f
    };
    let copy = |f: Vec<(String, String)>| {
        let (alice, url, origin) = (
            alice.clone(),
            web.url(&format!("{big}/copy?env=production")),
            web.base.clone(),
        );
        async move {
            let r = alice
                .post(url)
                .header("Origin", origin)
                .form(&f)
                .send()
                .await
                .expect("POST copy");
            let status = r.status().as_u16();
            (status, r.text().await.expect("body"))
        }
    };

    // Refused whole, the module's words at the form, the inputs kept.
    let (status, html) = copy(form(&html)).await;
    assert_eq!(status, 400, "{html}");
    let at_form = &html[html
        .find(r#"id="copy-to-production""#)
        .unwrap_or_else(|| panic!("the form: {html}"))..];
    let refusal = &at_form[at_form.find(r#"id="copy-refused""#).expect("the refusal")..];
    assert!(
        refusal.contains("Not copied: production refused it, nothing changed there.")
            && refusal.contains("a value of 102 bytes, over hanoi.max-value-bytes (64)"),
        "{html}"
    );
    assert!(!html.contains("in part"), "{html}");
    assert!(at_form.contains(r#"value="production""#), "{html}");
    assert_eq!(digest(&production), before, "production byte for byte");
    assert_eq!(history(&production).len(), history_before);
    let get = format!("{:?}", c(&production, &["HANOI.GET", "big"]));
    assert!(
        get.contains("one") && get.contains("two") && get.contains("4102444800000"),
        "{get}"
    );

    // The limit raised: the same form (shown again) copies.
    c(
        &production,
        &["CONFIG", "SET", "hanoi.max-value-bytes", "65536"],
    );
    let (status, body) = copy(form(&html)).await;
    assert_eq!(status, 303, "{body}");
    assert_ne!(digest(&production), before);
    let answers = |r: &Redis| {
        (0..50)
            .map(|i| {
                let id = i.to_string();
                (
                    c(r, &["HANOI.RESOLVE", "big", &id, "WITH", "plan", "pro"]),
                    c(r, &["HANOI.RESOLVE", "big", &id, "WITH", "country", "DE"]),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(answers(&production), answers(&staging));
    // Its own ids kept (ids were not asked for), none of staging's.
    let ids = |which: &str| {
        format!(
            "{:?}",
            c(
                &production,
                &["HANOI.IDS", "big", which, "0", "COUNT", "100"]
            )
        )
    };
    let (users, blocked) = (ids("USERS"), ids("BLOCKED"));
    assert!(users.contains("p1") && !users.contains("s1"), "{users}");
    assert!(blocked.contains("p2"), "{blocked}");
    let entries = history(&production);
    assert_eq!(entries.len(), history_before + 1);
    let imports: Vec<String> = entries
        .iter()
        .map(|e| format!("{e:?}"))
        .filter(|e| e.contains("HANOI.IMPORT"))
        .collect();
    assert_eq!(imports.len(), 1, "{imports:?}");
    assert!(
        imports[0].contains("hanoi-web:alice:copy-from-staging"),
        "{imports:?}"
    );
    let (_, html) = page(&alice, &compare).await;
    assert!(html.contains("1 difference (marked)"), "{html}");
    assert!(html.contains(r#"<tr class="diff" data-aspect="blocked ids (count)""#));
}
