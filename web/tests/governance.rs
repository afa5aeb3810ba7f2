//! Issue 33, production changes a team can trust: previews that are not
//! traffic, comments and the audit log, refused saves that keep what was
//! typed, change requests. Real redis-server with the module, real
//! hanoi-web.

mod harness;

use harness::{
    field, flag_field, hex, page, parse_csv, reply_field, submit, two_envs, Redis, Web, ALICE,
    VICTOR,
};

async fn post(
    web: &Web,
    c: &reqwest::Client,
    action: &str,
    form: &[(String, String)],
) -> (u16, String) {
    let (status, _, body) = harness::post_form(web, c, action, form).await;
    (status, body)
}

/// Creates a flag through the "New flag" form.
async fn create(web: &Web, c: &reqwest::Client, env: &str, form: &[(&str, &str)]) -> (u16, String) {
    let (_, html) = page(c, &web.url(&format!("/flags/new{env}"))).await;
    let mut f = vec![("csrf".to_owned(), field(&html, None, "csrf"))];
    f.extend(form.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    post(web, c, &format!("/flags/new{env}"), &f).await
}

fn stream_len(redis: &Redis) -> i64 {
    match redis.cmd(&[b"XLEN", b"hanoi-web:audit"]) {
        redis::Value::Int(n) => n,
        v => panic!("{v:?}"),
    }
}

#[tokio::test]
async fn the_flag_page_follows_the_evaluation_order() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"30"]);
    for name in [&b"first"[..], b"second"] {
        redis.cmd(&[
            b"HANOI.RULE",
            b"f",
            b"SET",
            name,
            b"IF",
            b"plan",
            b"EQ",
            b"pro",
        ]);
    }
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let (s, html) = page(&alice, &web.url(&format!("/f/{}", hex(b"f")))).await;
    assert_eq!(s, 200);
    // The switch and the window, blocked, registered, regexes, rules, the
    // percentage; the other panels after.
    let at = |id: &str| {
        html.find(&format!(r#"id="{id}""#))
            .unwrap_or_else(|| panic!("no {id}: {html}"))
    };
    let order = [
        "state",
        "schedule",
        "blocked",
        "users",
        "regexes",
        "rules",
        "percentage-section",
        "variants",
        "history-section",
    ];
    for w in order.windows(2) {
        assert!(at(w[0]) < at(w[1]), "{} before {}", w[0], w[1]);
    }
    // Rules numbered from 1, in words.
    let rules = &html[at("rules-table")..];
    assert!(
        rules.contains("<td>1</td><td class=\"name\">first</td>"),
        "{rules}"
    );
    assert!(
        rules.contains("<td>2</td><td class=\"name\">second</td>"),
        "{rules}"
    );
    assert!(
        rules.contains("If plan is pro: on for all of them."),
        "{rules}"
    );
}

#[tokio::test]
async fn previews_leave_the_flags_stats_untouched() {
    let redis = Redis::start(&[]);
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
    // The rule reads as a sentence (issue 33, part 6).
    assert!(
        html.contains("If country is DE: on for all of them."),
        "{html}"
    );
    let (s, html) = page(&alice, &web.url("/user?id=someone&attrs=country%3DFR")).await;
    assert_eq!(s, 200);
    assert!(html.contains("g"), "{html}");
    for key in [&b"f"[..], b"g"] {
        let st = redis.cmd(&[b"HANOI.STATS", key]);
        assert_eq!(
            reply_field(&st, "evaluations"),
            redis::Value::Int(0),
            "{st:?}"
        );
        assert_eq!(
            reply_field(&st, "last_evaluated"),
            redis::Value::Nil,
            "{st:?}"
        );
    }
    // Traffic counts (the same flag, evaluated by an application).
    redis.cmd(&[b"HANOI.RESOLVE", b"f", b"someone"]);
    let st = redis.cmd(&[b"HANOI.STATS", b"f"]);
    assert_eq!(reply_field(&st, "evaluations"), redis::Value::Int(1));
}

#[tokio::test]
async fn every_change_is_in_the_audit_log_with_its_comment() {
    let redis = Redis::start(&[]);
    let web = Web::start_with(&redis, "audit_length = 500\n");
    let alice = web.login(ALICE).await;
    let (s, _) = create(
        &web,
        &alice,
        "",
        &[
            ("name", "checkout"),
            ("percentage", "10"),
            ("comment", "launch, step 1"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let url = format!("/f/{}", hex(b"checkout"));
    let (_, html) = page(&alice, &web.url(&url)).await;
    assert!(html.contains(r#"name="comment""#));
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "percentage-form",
        &[
            ("percentage", "25"),
            ("comment", "=HYPERLINK(\"http://x\") \"quoted\", ok"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    // No comment: allowed here (no approvals).
    let (_, html) = page(&alice, &web.url(&url)).await;
    let (s, _) = submit(&web, &alice, &html, &url, "switch-form", &[("to", "off")]).await;
    assert_eq!(s, 303);
    // A change the module refuses leaves no audit entry.
    let before = stream_len(&redis);
    let (_, html) = page(&alice, &web.url(&url)).await;
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &url,
        "ramp-form",
        &[
            ("from_pct", "0"),
            ("to_pct", "100"),
            ("start", "2030-01-02 00:00"),
            ("end", "2030-01-01 00:00"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(stream_len(&redis), before);
    // (It was written with the change, in its MULTI/EXEC, then taken back.)
    let info = redis.cmd(&[b"XINFO", b"STREAM", b"hanoi-web:audit"]);
    assert_eq!(
        reply_field(&info, "entries-added"),
        redis::Value::Int(before + 1)
    );
    // Another flag, by the API (not through hanoi-web): not audited.
    redis.cmd(&[b"HANOI.DEFINE", b"other", b"PERCENTAGE", b"5"]);
    let (_, html) = page(&alice, &web.url(&format!("/f/{}", hex(b"other")))).await;
    let (s, _) = submit(
        &web,
        &alice,
        &html,
        &format!("/f/{}", hex(b"other")),
        "switch-form",
        &[("to", "off"), ("comment", "other one")],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(stream_len(&redis), 4);

    // The page: newest first, every field.
    let (s, html) = page(&alice, &web.url("/audit")).await;
    assert_eq!(s, 200);
    let at = |needle: &str| {
        html.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing: {html}"))
    };
    assert!(at("other one") < at("HANOI.DISABLE checkout"));
    assert!(at("HANOI.PERCENTAGE checkout 25") < at("launch, step 1"));
    assert!(html.contains("create: HANOI.DEFINE checkout"));
    assert!(html.contains("=HYPERLINK(&quot;http://x&quot;) &quot;quoted&quot;, ok"));
    // Filters: by flag, by user, by time.
    let (_, html) = page(&alice, &web.url("/audit?flag=other")).await;
    assert!(html.contains("other one") && !html.contains("launch, step 1"));
    let (_, html) = page(&alice, &web.url("/audit?user=bob")).await;
    assert!(html.contains(r#"id="no-audit""#), "{html}");
    let (_, html) = page(&alice, &web.url("/audit?from=2000-01-01&until=2001-01-01")).await;
    assert!(html.contains(r#"id="no-audit""#), "{html}");
    let (_, html) = page(&alice, &web.url("/audit?from=2000-01-01&user=alice")).await;
    assert!(html.contains("launch, step 1"));
    let (s, html) = page(&alice, &web.url("/audit?from=yesterday")).await;
    assert_eq!(s, 200);
    assert!(html.contains(r#"id="audit-error""#));
    // A viewer reads it too.
    let victor = web.login(VICTOR).await;
    assert_eq!(page(&victor, &web.url("/audit")).await.0, 200);

    // JSON lines: one object a line, newest first.
    let (s, text) = page(&alice, &web.url("/audit.jsonl?flag=checkout")).await;
    assert_eq!(s, 200);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["what"], "HANOI.DISABLE checkout");
    assert_eq!(lines[0]["user"], "alice");
    assert_eq!(
        lines[1]["comment"],
        "=HYPERLINK(\"http://x\") \"quoted\", ok"
    );
    assert_eq!(lines[2]["comment"], "launch, step 1");
    assert!(lines[2]["time"].as_i64().unwrap() > 1_700_000_000_000);
    // CSV: a header, quoted cells, the formula guarded.
    let r = alice.get(web.url("/audit.csv")).send().await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let rows = parse_csv(&r.text().await.unwrap());
    assert_eq!(
        rows[0],
        [
            "id",
            "time",
            "user",
            "flag",
            "what",
            "comment",
            "request",
            "approvers"
        ]
    );
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[1][5], "other one");
    assert_eq!(rows[3][5], "'=HYPERLINK(\"http://x\") \"quoted\", ok");
    assert_eq!(
        rows[4][4],
        "create: HANOI.DEFINE checkout DISABLED PERCENTAGE 10"
    );
    assert_eq!(rows[4][2], "alice");
}

/// The HTML of the form `id` of a page.
fn form_of<'a>(html: &'a str, id: &str) -> &'a str {
    let from = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id}: {html}"));
    let rest = &html[from..];
    &rest[..rest.find("</form>").expect("</form>")]
}

#[tokio::test]
async fn a_refused_save_comes_back_at_its_form_with_everything_typed() {
    let (staging, production) = (Redis::start(&[]), Redis::start(&[]));
    production.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"5"]);
    let web = Web::start_with(
        &staging,
        &two_envs(&staging, &production, "protected = true"),
    );
    let alice = web.login(ALICE).await;
    let url = format!("/f/{}?env=production", hex(b"f"));
    let (_, html) = page(&alice, &web.url(&url)).await;
    // One confirmation field for the page, none in the forms.
    assert_eq!(html.matches("id=\"confirm-env-page\"").count(), 1);
    assert!(!html.contains("name=\"confirm_env\""), "{html}");

    // A typo in the environment's name: refused, at its form, kept.
    let (s, back) = submit(
        &web,
        &alice,
        &html,
        &url,
        "percentage-form",
        &[
            ("percentage", "42"),
            ("comment", "ramp up"),
            ("confirm_env", "prodution"),
        ],
    )
    .await;
    assert_eq!(s, 403);
    assert!(
        back.contains("id=\"flag-title\""),
        "the flag page, not a bare refusal: {back}"
    );
    let form = form_of(&back, "percentage-form");
    assert!(form.contains("value=\"42\""), "{form}");
    assert!(form.contains("value=\"ramp up\""), "{form}");
    assert!(
        form.contains("name=\"confirm_env\" value=\"prodution\""),
        "{form}"
    );
    assert!(form.contains("is not its name"), "{form}");
    assert_eq!(
        back.matches("name=\"confirm_env\"").count(),
        1,
        "only the form that came back has one"
    );
    assert!(percentage_of(&production, b"f") == redis::Value::Int(5));
    // Corrected, from the form as it came back: saved.
    let (s, _) = submit(
        &web,
        &alice,
        &back,
        &url,
        "percentage-form",
        &[
            ("percentage", "42"),
            ("comment", "ramp up"),
            ("confirm_env", "production"),
        ],
    )
    .await;
    assert_eq!(s, 303);

    // A stale save: what changed meanwhile is shown, what was typed kept.
    let (_, html) = page(&alice, &web.url(&url)).await;
    production.cmd(&[b"HANOI.PERCENTAGE", b"f", b"7"]);
    let (s, back) = submit(
        &web,
        &alice,
        &html,
        &url,
        "meta-form",
        &[
            ("description", "the new checkout"),
            ("owner", "payments"),
            ("tags", "a,b"),
            ("comment", "describe it"),
            ("confirm_env", "production"),
        ],
    )
    .await;
    assert_eq!(s, 409);
    assert!(back.contains("id=\"conflict\""));
    assert!(
        form_of(&back, "conflict-changes").contains("percentage set to 7 %")
            && !form_of(&back, "conflict-changes").contains("HANOI.PERCENTAGE 42"),
        "{back}"
    );
    let form = form_of(&back, "meta-form");
    for typed in [
        "the new checkout",
        "payments",
        "a,b",
        "describe it",
        "production",
    ] {
        assert!(
            form.contains(&format!("value=\"{typed}\"")),
            "{typed}: {form}"
        );
    }
    // Saved again from there: applied over the flag as it is now.
    let (s, _) = submit(
        &web,
        &alice,
        &back,
        &url,
        "meta-form",
        &[
            ("description", "the new checkout"),
            ("owner", "payments"),
            ("tags", "a,b"),
            ("confirm_env", "production"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    let get = format!("{:?}", production.cmd(&[b"HANOI.GET", b"f"]));
    assert!(get.contains("the new checkout"), "{get}");

    // The module refuses: kept, in words, at the form.
    let (_, html) = page(&alice, &web.url(&url)).await;
    let (s, back) = submit(
        &web,
        &alice,
        &html,
        &url,
        "ramp-form",
        &[
            ("from_pct", "10"),
            ("to_pct", "90"),
            ("start", "2030-01-02 00:00"),
            ("end", "2030-01-01 00:00"),
            ("comment", "slowly"),
            ("confirm_env", "production"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    let form = form_of(&back, "ramp-form");
    for typed in ["10", "90", "2030-01-02 00:00", "2030-01-01 00:00", "slowly"] {
        assert!(
            form.contains(&format!("value=\"{typed}\"")),
            "{typed}: {form}"
        );
    }

    // A new flag with a typo: back at the form, kept.
    let (s, back) = create(
        &web,
        &alice,
        "?env=production",
        &[
            ("name", "fresh"),
            ("percentage", "3"),
            ("owner", "me"),
            ("confirm_env", "prod"),
        ],
    )
    .await;
    assert_eq!(s, 403);
    for typed in ["fresh", "3", "me", "prod"] {
        assert!(
            back.contains(&format!("value=\"{typed}\"")),
            "{typed}: {back}"
        );
    }
    assert_eq!(production.cmd(&[b"EXISTS", b"fresh"]), redis::Value::Int(0));
}

const BOB: (&str, &str) = ("bob", "bob-password-1");
const CAROL: (&str, &str) = ("carol", "carol-password-1");

/// One environment, `approvals = 2`, and two more admins (bob, carol).
/// Production with `approvals = 2`, a flag `f` at 10 %, and alice, bob
/// and carol logged in.
async fn approvals_setup() -> (
    Redis,
    Web,
    reqwest::Client,
    reqwest::Client,
    reqwest::Client,
) {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"10"]);
    let web = Web::start_with(&redis, &approvals_config(&redis));
    let (alice, bob, carol) = (
        web.login(ALICE).await,
        web.login(BOB).await,
        web.login(CAROL).await,
    );
    (redis, web, alice, bob, carol)
}

fn approvals_config(redis: &Redis) -> String {
    let mut extra = format!(
        "[[environment]]\nname = \"production\"\nredis = \"{}\"\napprovals = 2\n",
        redis.url()
    );
    for (name, pw) in [BOB, CAROL] {
        extra.push_str(&format!(
            "\n[[user]]\nname = \"{name}\"\npassword_hash = \"{}\"\nrole = \"admin\"\n",
            harness::hash_password(pw)
        ));
    }
    extra
}

fn percentage_of(redis: &Redis, key: &[u8]) -> redis::Value {
    flag_field(redis, key, "percentage")
}

/// Approves (or rejects) request `id` as `c`: the status and the
/// redirect's location.
async fn decide(web: &Web, c: &reqwest::Client, id: u64, decision: &str) -> (u16, String) {
    let (_, html) = page(c, &web.url("/requests")).await;
    let form = [
        ("csrf".to_owned(), field(&html, None, "csrf")),
        ("decision".to_owned(), decision.to_owned()),
    ];
    let (status, location, _) = harness::post_form(web, c, &format!("/requests/{id}"), &form).await;
    (status, location)
}

/// Proposes a percentage for `f` as `c`: the status and the location.
async fn propose_percentage(
    web: &Web,
    c: &reqwest::Client,
    pct: &str,
    comment: &str,
) -> (u16, String) {
    let url = format!("/f/{}", hex(b"f"));
    let (_, html) = page(c, &web.url(&url)).await;
    let extra = [("percentage", pct), ("comment", comment)];
    let (status, location, _) =
        harness::submit_form(web, c, &html, &url, "percentage-form", &extra).await;
    (status, location)
}

#[tokio::test]
async fn a_change_request_is_applied_after_approvals_by_other_writers() {
    let (redis, web, alice, bob, carol) = approvals_setup().await;

    // Without a comment: back at the form, nothing stored.
    let (s, _) = propose_percentage(&web, &alice, "50", "").await;
    assert_eq!(s, 400);
    // With one: a request, not a write.
    let (s, location) = propose_percentage(&web, &alice, "50", "more traffic").await;
    assert_eq!(s, 303);
    assert!(location.contains("/requests?proposed=1"), "{location}");
    assert_eq!(percentage_of(&redis, b"f"), redis::Value::Int(10));
    let (_, list) = page(&bob, &web.url("/requests")).await;
    assert!(
        list.contains("more traffic") && list.contains("HANOI.PERCENTAGE f 50"),
        "{list}"
    );
    assert!(list.contains("0 of 2 approvals"));
    let (_, flag) = page(&bob, &web.url(&format!("/f/{}", hex(b"f")))).await;
    assert!(
        flag.contains("id=\"flag-requests\"") && flag.contains("id=\"request-1\""),
        "{flag}"
    );

    // The proposer cannot approve their own (the list says why); a viewer
    // cannot at all.
    let (s, _) = decide(&web, &alice, 1, "approve").await;
    assert_eq!(s, 403);
    let (_, html) = page(&alice, &web.url("/requests")).await;
    let r = alice
        .post(web.url("/requests/1"))
        .header("Origin", &web.base)
        .form(&[
            ("csrf", field(&html, None, "csrf").as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("id=\"refused\"") && body.contains("another writer must approve it"),
        "{body}"
    );
    let victor = web.login(VICTOR).await;
    let (s, _) = decide(&web, &victor, 1, "approve").await;
    assert_eq!(s, 403);
    // First approval: recorded, not applied; twice by one writer: refused.
    let (s, location) = decide(&web, &bob, 1, "approve").await;
    assert_eq!(
        (s, location.contains("done=approved")),
        (303, true),
        "{location}"
    );
    assert_eq!(decide(&web, &bob, 1, "approve").await.0, 403);
    assert_eq!(percentage_of(&redis, b"f"), redis::Value::Int(10));
    // The second: applied in one step, named in the history and the audit.
    let (s, location) = decide(&web, &carol, 1, "approve").await;
    assert_eq!(
        (s, location.contains("done=applied")),
        (303, true),
        "{location}"
    );
    assert_eq!(percentage_of(&redis, b"f"), redis::Value::Int(50));
    let history = format!("{:?}", redis.cmd(&[b"HANOI.HISTORY", b"f"]));
    assert!(history.contains("hanoi-web:alice:cr-1:by-"), "{history}");
    let (_, text) = page(&alice, &web.url("/audit.jsonl?env=production")).await;
    let entry: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(entry["user"], "alice");
    assert_eq!(entry["request"], "1");
    assert_eq!(entry["approvers"], "bob,carol");
    assert_eq!(entry["comment"], "more traffic");
    assert_eq!(
        entry["what"],
        "percentage 10 % → 50 %: HANOI.PERCENTAGE f 50"
    );
    let (_, list) = page(&bob, &web.url("/requests")).await;
    assert!(list.contains("applied, approved by bob, carol"), "{list}");
    // Decided: no more decisions.
    assert_eq!(decide(&web, &bob, 1, "reject").await.0, 403);

    // Rejected: never applied.
    propose_percentage(&web, &alice, "90", "all in").await;
    let (s, location) = decide(&web, &bob, 2, "reject").await;
    assert_eq!((s, location.contains("done=rejected")), (303, true));
    assert_eq!(decide(&web, &carol, 2, "approve").await.0, 403);
    assert_eq!(percentage_of(&redis, b"f"), redis::Value::Int(50));
}

#[tokio::test]
async fn a_stale_change_request_is_not_applied() {
    let (redis, web, alice, bob, carol) = approvals_setup().await;
    propose_percentage(&web, &alice, "60", "step").await;
    decide(&web, &bob, 1, "approve").await;
    // The flag changes meanwhile (an emergency fix with redis-cli).
    redis.cmd(&[b"HANOI.PERCENTAGE", b"f", b"0"]);
    let (s, location) = decide(&web, &carol, 1, "approve").await;
    assert_eq!(
        (s, location.contains("done=stale")),
        (303, true),
        "{location}"
    );
    assert_eq!(percentage_of(&redis, b"f"), redis::Value::Int(0));
    let (_, list) = page(&bob, &web.url("/requests")).await;
    assert!(
        list.contains("state-stale") && list.contains("changed since it was proposed"),
        "{list}"
    );
    assert_eq!(stream_len(&redis), 0, "nothing applied, nothing audited");
}

#[tokio::test]
async fn a_pending_change_request_survives_a_restart_of_hanoi_web() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"10"]);
    let config = approvals_config(&redis);
    let web = Web::start_with(&redis, &config);
    let alice = web.login(ALICE).await;
    propose_percentage(&web, &alice, "75", "before the restart").await;
    let bob = web.login(BOB).await;
    decide(&web, &bob, 1, "approve").await;
    drop(web);
    // Another hanoi-web process (a restart), the same Redis.
    let web = Web::start_with(&redis, &config);
    let carol = web.login(CAROL).await;
    let (_, list) = page(&carol, &web.url("/requests")).await;
    assert!(
        list.contains("before the restart") && list.contains("1 of 2 approvals"),
        "{list}"
    );
    let (s, location) = decide(&web, &carol, 1, "approve").await;
    assert_eq!(
        (s, location.contains("done=applied")),
        (303, true),
        "{location}"
    );
    assert_eq!(percentage_of(&redis, b"f"), redis::Value::Int(75));
}

/// The hidden fields and the ticked boxes of the copy form `id`.
fn copy_form(html: &str, id: &str, confirm: &str) -> Vec<(String, String)> {
    let form = form_of(html, id);
    let mut f: Vec<(String, String)> = ["csrf", "from", "source_version", "target_version"]
        .iter()
        .map(|n| (n.to_string(), field(html, Some(id), n)))
        .collect();
    for tag in form
        .split('<')
        .filter(|t| t.starts_with("input type=\"checkbox\""))
    {
        if tag.contains(" checked") {
            let name = tag
                .split("name=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap();
            f.push((name.to_owned(), "1".to_owned()));
        }
    }
    f.push(("confirm_env".into(), confirm.into()));
    f
}

fn get_text(redis: &Redis, key: &[u8]) -> String {
    format!("{:?}", redis.cmd(&[b"HANOI.GET", key]))
}

#[tokio::test]
async fn a_copy_takes_what_is_chosen_and_a_new_flag_arrives_off() {
    let (staging, production) = (Redis::start(&[]), Redis::start(&[]));
    staging.cmd(&[b"HANOI.DEFINE", b"fresh", b"PERCENTAGE", b"40"]);
    staging.cmd(&[
        b"HANOI.RULE",
        b"fresh",
        b"SET",
        b"de",
        b"IF",
        b"country",
        b"EQ",
        b"DE",
    ]);
    staging.cmd(&[b"HANOI.DEFINE", b"both", b"PERCENTAGE", b"50"]);
    staging.cmd(&[
        b"HANOI.RULE",
        b"both",
        b"SET",
        b"de",
        b"IF",
        b"country",
        b"EQ",
        b"DE",
    ]);
    production.cmd(&[b"HANOI.DEFINE", b"both", b"DISABLED", b"PERCENTAGE", b"5"]);
    production.cmd(&[
        b"HANOI.RULE",
        b"both",
        b"SET",
        b"old",
        b"IF",
        b"plan",
        b"EQ",
        b"x",
    ]);
    let web = Web::start_with(
        &staging,
        &two_envs(&staging, &production, "protected = true"),
    );
    let alice = web.login(ALICE).await;

    // A flag new to production: the page says it arrives off; the switch
    // is not ticked unless chosen.
    let compare = web.url(&format!(
        "/f/{}/compare?env=staging&with=production",
        hex(b"fresh")
    ));
    let (s, html) = page(&alice, &compare).await;
    assert_eq!(s, 200, "{html}");
    let form = form_of(&html, "copy-to-production");
    assert!(
        form.contains("the copy creates it, <strong>switched off</strong> unless"),
        "{form}"
    );
    assert!(form.contains("0 % (new) → 40 %"), "{form}");
    assert!(form.contains("adds de"), "{form}");
    assert!(
        form.contains(r#"name="copy_switch" value="1">"#),
        "not ticked: {form}"
    );
    let posted = copy_form(&html, "copy-to-production", "production");
    let (s, body) = post(
        &web,
        &alice,
        &format!("/f/{}/copy?env=production", hex(b"fresh")),
        &posted,
    )
    .await;
    assert_eq!(s, 303, "{body}");
    let got = redis::Value::Int(0);
    assert_eq!(
        flag_field(&production, b"fresh", "enabled"),
        got,
        "arrived off"
    );
    assert_eq!(percentage_of(&production, b"fresh"), redis::Value::Int(40));
    assert!(get_text(&production, b"fresh").contains("country"));
    // In production's audit, in words.
    let (_, text) = page(&alice, &web.url("/audit.jsonl?env=production")).await;
    let entry: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(entry["flag"], "fresh");
    let what = entry["what"].as_str().unwrap();
    assert!(
        what.starts_with("copy from staging: HANOI.IMPORT fresh (from staging: the percentage;"),
        "{what}"
    );
    assert!(!what.contains("the switch"), "{what}");

    // An existing flag: what each part changes, in words; only the rules
    // ticked: only the rules change.
    let compare = web.url(&format!(
        "/f/{}/compare?env=staging&with=production",
        hex(b"both")
    ));
    let (_, html) = page(&alice, &compare).await;
    let form = form_of(&html, "copy-to-production");
    for words in ["off → on", "5 % → 50 %", "adds de; removes old"] {
        assert!(form.contains(words), "{words}: {form}");
    }
    let mut posted: Vec<(String, String)> = copy_form(&html, "copy-to-production", "production")
        .into_iter()
        .filter(|(k, _)| !k.starts_with("copy_"))
        .collect();
    posted.push(("copy_rules".into(), "1".into()));
    let (s, body) = post(
        &web,
        &alice,
        &format!("/f/{}/copy?env=production", hex(b"both")),
        &posted,
    )
    .await;
    assert_eq!(s, 303, "{body}");
    let got = production.cmd(&[b"HANOI.GET", b"both"]);
    assert_eq!(reply_field(&got, "enabled"), redis::Value::Int(0));
    assert_eq!(percentage_of(&production, b"both"), redis::Value::Int(5));
    let text = format!("{got:?}");
    assert!(text.contains("country") && !text.contains("plan"), "{text}");
}

#[tokio::test]
async fn a_new_flag_is_typed_first() {
    let redis = Redis::start(&[]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;
    let (_, html) = page(&alice, &web.url("/flags/new")).await;
    for t in ["boolean", "string", "number", "object"] {
        assert!(html.contains(&format!("id=\"type-{t}\"")), "{t}");
    }
    let (_, html) = page(&alice, &web.url("/flags/new?type=string")).await;
    assert!(html.contains("plain text, no quotes") && html.contains("id=\"new-value-0\""));
    // Text: typed plain, served as JSON strings.
    let (s, body) = create(
        &web,
        &alice,
        "",
        &[
            ("type", "string"),
            ("name", "banner"),
            ("enabled", "1"),
            ("percentage", "100"),
            ("variant_0", "sky"),
            ("value_0", "Blue \"sky\""),
            ("variant_1", "sun"),
            ("value_1", "Yellow"),
            ("variant_2", ""),
            ("value_2", ""),
            ("default", "sun"),
        ],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    let got = redis.cmd(&[b"HANOI.GET", b"banner"]);
    assert_eq!(
        reply_field(&got, "type"),
        redis::Value::SimpleString("string".into())
    );
    let r = redis.cmd(&[b"HANOI.VALUE", b"banner", b"anyone"]);
    assert!(
        matches!(&r, redis::Value::BulkString(v) if v == b"\"Blue \\\"sky\\\"\"" || v == b"\"Yellow\""),
        "{r:?}"
    );
    // A number that is not one: back at the form, everything kept.
    let (s, body) = create(
        &web,
        &alice,
        "",
        &[
            ("type", "number"),
            ("name", "limit"),
            ("variant_0", "small"),
            ("value_0", "ten"),
            ("owner", "me"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("&quot;ten&quot; is not a number"), "{body}");
    for kept in ["limit", "small", "ten", "me"] {
        assert!(
            body.contains(&format!("value=\"{kept}\"")),
            "{kept}: {body}"
        );
    }
    assert_eq!(redis.cmd(&[b"EXISTS", b"limit"]), redis::Value::Int(0));
    let (s, _) = create(
        &web,
        &alice,
        "",
        &[
            ("type", "number"),
            ("name", "limit"),
            ("variant_0", "small"),
            ("value_0", "10"),
            ("variant_1", "big"),
            ("value_1", "2.5"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(
        flag_field(&redis, b"limit", "type"),
        redis::Value::SimpleString("number".into())
    );
    // An object's values get a multi-line editor; what is served when off
    // is chosen among the variants (a radio per row), not typed.
    let (_, form) = page(&alice, &web.url("/flags/new?type=object")).await;
    assert!(
        form.contains(r#"<textarea class="json" name="value_0""#),
        "{form}"
    );
    assert!(
        form.contains(r#"type="radio" name="default_row" value="1""#),
        "{form}"
    );
    let (s, _) = create(
        &web,
        &alice,
        "",
        &[
            ("type", "object"),
            ("name", "layout"),
            ("variant_0", "narrow"),
            ("value_0", "{\n  \"columns\": 1\n}"),
            ("variant_1", "wide"),
            ("value_1", "{\"columns\": 3}"),
            ("default_row", "1"),
        ],
    )
    .await;
    assert_eq!(s, 303);
    assert_eq!(
        flag_field(&redis, b"layout", "default"),
        redis::Value::BulkString(b"wide".to_vec())
    );
}

#[tokio::test]
async fn two_approvals_at_once_are_both_counted() {
    let (redis, web, alice, bob, carol) = approvals_setup().await;
    propose_percentage(&web, &alice, "30", "together").await;
    let (b, c) = tokio::join!(
        decide(&web, &bob, 1, "approve"),
        decide(&web, &carol, 1, "approve")
    );
    assert_eq!((b.0, c.0), (303, 303));
    let done = [b.1, c.1];
    assert!(done.iter().any(|l| l.contains("done=applied")), "{done:?}");
    assert!(done.iter().any(|l| l.contains("done=approved")), "{done:?}");
    assert_eq!(percentage_of(&redis, b"f"), redis::Value::Int(30));
    let (_, text) = page(&alice, &web.url("/audit.jsonl?env=production")).await;
    let entry: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let approvers = entry["approvers"].as_str().unwrap();
    assert!(
        approvers == "bob,carol" || approvers == "carol,bob",
        "{approvers}"
    );
}
