//! Segments and prerequisites in hanoi-web (issue 32), against real
//! redis-servers with the module: the segments page and a segment's page,
//! a new segment, the prerequisites section of a flag's page (add, move,
//! remove, refusals), `segment` in the rule builder, try-it and a user's
//! view in words, a missing segment named, OFREP's `PREREQUISITE_FAILED`
//! and its bulk answer without segments, compare and copy warning of
//! references missing in the target, a prerequisite as a change request.

mod harness;

use harness::{
    field, flag_field, hash_password, hex, page, post_form as post, submit_form as submit,
    two_envs, Redis, Web, ALICE, ALL_KEY, VICTOR,
};
use serde_json::{json, Value};

/// Every string of a reply, depth first (a HANOI.GET's fields and values).
fn texts(v: &redis::Value) -> Vec<String> {
    match v {
        redis::Value::BulkString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        redis::Value::SimpleString(s) => vec![s.clone()],
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().flat_map(texts).collect()
        }
        redis::Value::Map(m) => m
            .iter()
            .flat_map(|(k, v)| texts(k).into_iter().chain(texts(v)))
            .collect(),
        _ => Vec::new(),
    }
}

fn prereqs(redis: &Redis, key: &[u8]) -> Vec<String> {
    texts(&flag_field(redis, key, "prerequisites"))
}

/// Creates a segment with the Segments page's form.
async fn new_segment(web: &Web, c: &reqwest::Client, name: &str) -> (u16, String, String) {
    let (_, html) = page(c, &web.url("/segments")).await;
    let csrf = field(&html, Some("segment-form"), "csrf");
    let form = vec![
        ("csrf".to_owned(), csrf),
        ("name".to_owned(), name.to_owned()),
    ];
    post(web, c, "/segments", &form).await
}

/// Posts the rule builder with `rows` (attribute, operator, values).
async fn post_rule(
    web: &Web,
    c: &reqwest::Client,
    url: &str,
    name: &str,
    rows: &[(&str, &str, &str)],
) -> (u16, String, String) {
    let (_, html) = page(c, &web.url(url)).await;
    let mut extra: Vec<(String, String)> = vec![
        ("name".into(), name.into()),
        ("action".into(), "save".into()),
    ];
    for (i, (a, o, v)) in rows.iter().enumerate() {
        extra.push((format!("cond_attr_{i}"), a.to_string()));
        extra.push((format!("cond_op_{i}"), o.to_string()));
        extra.push((format!("cond_values_{i}"), v.to_string()));
    }
    let extra: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    submit(web, c, &html, url, "rule-form", &extra).await
}

/// The text of the element from `id="<id>"` to the end of its tag `tag`.
fn part<'a>(html: &'a str, id: &str, end: &str) -> &'a str {
    let from = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no {id} in {html}"));
    let rest = &html[from..];
    &rest[..rest.find(end).map_or(rest.len(), |e| e + end.len())]
}

#[tokio::test]
async fn segments_prerequisites_and_the_segment_attribute_over_http() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"new_payments", b"PERCENTAGE", b"0"]);
    redis.cmd(&[b"HANOI.REGISTER", b"new_payments", b"USER", b"anna"]);
    redis.cmd(&[b"HANOI.DEFINE", b"api_v2", b"PERCENTAGE", b"100"]);
    redis.cmd(&[b"HANOI.DEFINE", b"checkout", b"PERCENTAGE", b"0"]);
    let web = Web::start(&redis);
    let alice = web.login(ALICE).await;

    // The Segments page: linked from the nav, none yet, a form to make one.
    let (status, html) = page(&alice, &web.url("/segments")).await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="segments-link""#) && html.contains(r#"id="no-segments""#));
    let (status, location, body) = new_segment(&web, &alice, "beta").await;
    assert_eq!(status, 303, "{body}");
    assert!(
        location.ends_with(&format!("/f/{}", hex(b"beta"))),
        "{location}"
    );
    assert_eq!(
        texts(&flag_field(&redis, b"beta", "kind")),
        vec!["segment".to_owned()]
    );
    // The same name again: refused, nothing changed.
    let (status, _, body) = new_segment(&web, &alice, "beta").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("already exists"));

    // A segment's page: ids, regexes, rules; no switch, percentage,
    // variants, schedule or prerequisites.
    let seg = format!("/f/{}", hex(b"beta"));
    let (_, html) = page(&alice, &web.url(&seg)).await;
    assert!(html.contains(r#"id="segment-badge""#) && html.contains(r#"id="segment""#));
    for absent in [
        "switch-form",
        "percentage-form",
        "define-form",
        "window-form",
        "prereq-form",
        "rule-variant",
    ] {
        assert!(!html.contains(&format!("id=\"{absent}\"")), "{absent}");
    }
    for present in [
        "users-add-form",
        "block-form",
        "regex-form",
        "rule-form",
        "browse-users",
    ] {
        assert!(html.contains(&format!("id=\"{present}\"")), "{present}");
    }
    let (s, _, body) = submit(
        &web,
        &alice,
        &html,
        &seg,
        "users-add-form",
        &[("ids", "anna zed")],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    let (s, _, body) = post_rule(
        &web,
        &alice,
        &seg,
        "staff",
        &[("email", "SUFFIX", "@example.com")],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    let (_, ids) = page(&alice, &web.url(&format!("{seg}/ids?list=users&q=ann"))).await;
    assert!(ids.contains("<code>anna</code>") && !ids.contains("<code>zed</code>"));

    // The flag's page: Prerequisites after the switch and the window,
    // before the ids; the picker offers flags, not segments, not itself.
    let checkout = format!("/f/{}", hex(b"checkout"));
    let (_, html) = page(&alice, &web.url(&checkout)).await;
    let at = |id: &str| {
        html.find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}"))
    };
    assert!(at("state") < at("prerequisites") && at("schedule") < at("prerequisites"));
    assert!(at("prerequisites") < at("blocked") && at("prerequisites") < at("users"));
    let picker = part(&html, "prereq-key", "</select>");
    assert!(
        picker.contains(r#"<option value="new_payments">"#)
            && picker.contains(r#"<option value="api_v2">"#),
        "{picker}"
    );
    assert!(!picker.contains(r#"value="beta""#) && !picker.contains(r#"value="checkout""#));
    let (s, _, body) = submit(
        &web,
        &alice,
        &html,
        &checkout,
        "prereq-form",
        &[("prereq", "new_payments")],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    let (_, html) = page(&alice, &web.url(&checkout)).await;
    let (s, _, body) = submit(
        &web,
        &alice,
        &html,
        &checkout,
        "prereq-form",
        &[("prereq", "api_v2")],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    assert_eq!(prereqs(&redis, b"checkout"), ["new_payments", "api_v2"]);
    // Reordered: api_v2 up.
    let (_, html) = page(&alice, &web.url(&checkout)).await;
    assert!(
        html.contains("Move prerequisite api_v2 up")
            && html.contains("Move prerequisite new_payments down")
    );
    let (s, _, body) = submit(
        &web,
        &alice,
        &html,
        &checkout,
        "prereq-form",
        &[("op", "prereq_move"), ("prereq", "api_v2"), ("index", "0")],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    assert_eq!(prereqs(&redis, b"checkout"), ["api_v2", "new_payments"]);
    // Removed.
    let (_, html) = page(&alice, &web.url(&checkout)).await;
    let (s, _, body) = submit(
        &web,
        &alice,
        &html,
        &checkout,
        "prereq-form",
        &[("op", "prereq_del"), ("prereq", "api_v2")],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    assert_eq!(prereqs(&redis, b"checkout"), ["new_payments"]);
    // The module's refusals at the form: a segment (a forged choice), a
    // cycle; nothing changed.
    let (_, html) = page(&alice, &web.url(&checkout)).await;
    let (s, _, body) = submit(
        &web,
        &alice,
        &html,
        &checkout,
        "prereq-form",
        &[("prereq", "beta")],
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains(r#"id="prereq-error""#), "{body}");
    let payments = format!("/f/{}", hex(b"new_payments"));
    let (_, html) = page(&alice, &web.url(&payments)).await;
    let (s, _, body) = submit(
        &web,
        &alice,
        &html,
        &payments,
        "prereq-form",
        &[("prereq", "checkout")],
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(body.contains(r#"id="prereq-error""#), "{body}");
    assert!(prereqs(&redis, b"new_payments").is_empty());
    assert_eq!(prereqs(&redis, b"checkout"), ["new_payments"]);

    // The rule builder: `segment` with the segments as choices, its four
    // operators only.
    let (_, html) = page(&alice, &web.url(&checkout)).await;
    assert!(part(&html, "rule-attributes", "</datalist>").contains(r#"value="segment""#));
    assert!(part(&html, "rule-segments", "</datalist>").contains(r#"value="beta""#));
    assert!(html.contains(r#"id="segment-help""#));
    let (s, _, body) = post_rule(
        &web,
        &alice,
        &checkout,
        "betas",
        &[("segment", "IN", "beta"), ("country", "EQ", "DE")],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    let (_, html) = page(&alice, &web.url(&checkout)).await;
    assert!(
        html.contains(
            "If the id is in one of the segments beta and country is DE: on for all of them."
        ),
        "{html}"
    );
    let (s, _, body) =
        post_rule(&web, &alice, &checkout, "bad", &[("segment", "LT", "beta")]).await;
    assert_eq!(s, 400);
    assert!(body.contains("segment takes IN, NOTIN, EQ or NE"), "{body}");
    // A name that is not a segment: the module's refusal, at the form.
    let (s, _, body) = post_rule(
        &web,
        &alice,
        &checkout,
        "bad",
        &[("segment", "EQ", "api_v2")],
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains(r#"id="rule-error""#), "{body}");

    // Try it: a prerequisite and a segment in words.
    let try_it = |id: &str, attrs: &str| {
        web.url(&format!(
            "{checkout}?try_id={id}&try_attrs={}",
            attrs.replace('=', "%3D")
        ))
    };
    let (_, html) = page(&alice, &try_it("bob", "")).await;
    assert!(
        html.contains(r#"<strong>off</strong>, because <strong class="reason">prerequisite new_payments is off for this user</strong>"#),
        "{html}"
    );
    let (_, html) = page(&alice, &try_it("anna", "country=DE")).await;
    assert!(html.contains("rule betas matched"), "{html}");
    // A user's view says the same.
    let (_, html) = page(&alice, &web.url("/user?id=bob")).await;
    assert!(html.contains("prerequisite new_payments is off for this user"));

    // A segment deleted later: named where the flag is explained.
    redis.cmd(&[b"HANOI.DEFINE", b"gone", b"SEGMENT"]);
    redis.cmd(&[
        b"HANOI.RULE",
        b"checkout",
        b"SET",
        b"old",
        b"IF",
        b"segment",
        b"EQ",
        b"gone",
    ]);
    redis.cmd(&[b"DEL", b"gone"]);
    let (_, html) = page(&alice, &try_it("anna", "")).await;
    assert!(
        html.contains(r#"id="try-missing""#) && html.contains("Segment gone is missing"),
        "{html}"
    );
    assert!(part(&html, "missing-segments", "</p>").contains("<code>gone</code>"));
    let (_, html) = page(&alice, &web.url("/user?id=anna")).await;
    assert!(html.contains("Segment gone is missing"), "{html}");

    // The Segments page: members, rules, the flags that use each.
    let (_, html) = page(&alice, &web.url("/segments")).await;
    let row = part(&html, "segments", "</table>");
    assert!(row.contains(r#"data-segment="beta""#) && !row.contains(r#"data-segment="gone""#));
    assert!(row.contains(r#"<td class="members">2</td>"#), "{row}");
    assert!(row.contains("If email ends with @example.com: on for all of them."));
    assert!(
        row.contains(&format!(r#"href="/f/{}">checkout</a>"#, hex(b"checkout"))),
        "{row}"
    );

    // The flags list marks the segment.
    let (_, html) = page(&alice, &web.url("/flags")).await;
    assert!(html.contains(r#"title="a segment: its answer is membership">segment</a>"#));

    // History and audit name the prerequisite writes.
    let (_, html) = page(&alice, &web.url(&checkout)).await;
    assert!(html.contains("prerequisite new_payments set"), "{html}");
    assert!(html.contains("prerequisite api_v2 moved to position 1"));
    assert!(html.contains("prerequisite api_v2 removed"));
    let audit = format!(
        "{:?}",
        texts(&redis.cmd(&[b"XRANGE", b"hanoi-web:audit", b"-", b"+"]))
    );
    assert!(
        audit.contains("HANOI.PREREQ checkout SET new_payments"),
        "{audit}"
    );

    // A viewer sees the prerequisites, changes nothing.
    let victor = web.login(VICTOR).await;
    let (_, html) = page(&victor, &web.url(&checkout)).await;
    assert!(html.contains(r#"id="prereq-table""#) && !html.contains(r#"id="prereq-form""#));
    let (_, html) = page(&victor, &web.url("/segments")).await;
    assert!(!html.contains(r#"id="segment-form""#));
    let csrf = field(&html, None, "csrf");
    let (s, _, _) = post(
        &web,
        &victor,
        "/segments",
        &[("csrf".into(), csrf), ("name".into(), "sneaky".into())],
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(redis.cmd(&[b"EXISTS", b"sneaky"]), redis::Value::Int(0));
}

async fn ofrep(web: &Web, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(web.url(path))
        .header("Authorization", format!("Bearer {ALL_KEY}"))
        .json(&body)
        .send()
        .await
        .expect("OFREP");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn ofrep_prerequisite_failed_and_bulk_without_segments() {
    let redis = Redis::start(&[]);
    let c = |words: &[&str]| {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        redis.cmd(&args);
    };
    c(&["HANOI.DEFINE", "payments", "PERCENTAGE", "0"]);
    c(&["HANOI.REGISTER", "payments", "USER", "anna"]);
    c(&[
        "HANOI.DEFINE",
        "checkout",
        "PERCENTAGE",
        "100",
        "VARIANTS",
        "2",
        "new",
        "old",
        "DEFAULT",
        "old",
        "VALUES",
        "\"n\"",
        "\"o\"",
    ]);
    c(&["HANOI.PREREQ", "checkout", "SET", "payments"]);
    c(&["HANOI.DEFINE", "plain", "PERCENTAGE", "100"]);
    c(&["HANOI.PREREQ", "plain", "SET", "payments"]);
    c(&["HANOI.DEFINE", "beta", "SEGMENT"]);
    c(&["HANOI.REGISTER", "beta", "USER", "anna"]);
    let web = Web::start(&redis);

    let bob = json!({"context": {"targetingKey": "bob"}});
    let (s, v) = ofrep(&web, "/ofrep/v1/evaluate/flags/checkout", bob.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["reason"], "PREREQUISITE_FAILED");
    assert_eq!((&v["value"], &v["variant"]), (&json!("o"), &json!("old")));
    assert_eq!(v["metadata"]["prerequisite"], "payments");
    assert!(v.get("errorCode").is_none(), "{v}");
    let (s, v) = ofrep(&web, "/ofrep/v1/evaluate/flags/plain", bob.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (&v["reason"], &v["value"], &v["variant"]),
        (&json!("PREREQUISITE_FAILED"), &json!(false), &json!("off"))
    );
    assert_eq!(v["metadata"]["prerequisite"], "payments");
    let anna = json!({"context": {"targetingKey": "anna"}});
    let (_, v) = ofrep(&web, "/ofrep/v1/evaluate/flags/plain", anna.clone()).await;
    assert_eq!(
        (&v["reason"], &v["value"]),
        (&json!("STATIC"), &json!(true))
    );
    assert!(v["metadata"].get("prerequisite").is_none(), "{v}");

    // Bulk: every flag, the failed prerequisite's answer too; no segment.
    let (s, v) = ofrep(&web, "/ofrep/v1/evaluate/flags", bob).await;
    assert_eq!(s, 200, "{v}");
    let keys: Vec<&str> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["checkout", "payments", "plain"], "{v}");
    let checkout = &v["flags"][0];
    assert_eq!(checkout["reason"], "PREREQUISITE_FAILED");
    assert_eq!(checkout["metadata"]["prerequisite"], "payments");
    // A segment asked by name still answers (membership).
    let (s, v) = ofrep(&web, "/ofrep/v1/evaluate/flags/beta", anna).await;
    assert_eq!((s, &v["value"]), (200, &json!(true)), "{v}");

    // More than 8 levels: OFREP's GENERAL error with the module's words.
    c(&["HANOI.DEFINE", "deep-9", "PERCENTAGE", "100"]);
    for i in (0..9).rev() {
        let (k, next) = (format!("deep-{i}"), format!("deep-{}", i + 1));
        c(&["HANOI.DEFINE", &k, "PERCENTAGE", "100"]);
        c(&["HANOI.PREREQ", &k, "SET", &next]);
    }
    let (s, v) = ofrep(
        &web,
        "/ofrep/v1/evaluate/flags/deep-0",
        json!({"context": {"targetingKey": "x"}}),
    )
    .await;
    assert_eq!(s, 500, "{v}");
    assert_eq!(v["errorCode"], "GENERAL");
    assert!(
        v["errorDetails"].as_str().unwrap().contains("8 levels"),
        "{v}"
    );
}

#[tokio::test]
async fn compare_and_copy_warn_of_references_missing_in_the_target() {
    let (staging, production) = (Redis::start(&[]), Redis::start(&[]));
    for r in [&staging, &production] {
        r.cmd(&[b"HANOI.DEFINE", b"payments", b"PERCENTAGE", b"100"]);
    }
    staging.cmd(&[b"HANOI.DEFINE", b"beta", b"SEGMENT"]);
    staging.cmd(&[b"HANOI.DEFINE", b"checkout", b"PERCENTAGE", b"100"]);
    staging.cmd(&[b"HANOI.PREREQ", b"checkout", b"SET", b"payments"]);
    staging.cmd(&[
        b"HANOI.RULE",
        b"checkout",
        b"SET",
        b"betas",
        b"IF",
        b"segment",
        b"IN",
        b"1",
        b"beta",
    ]);
    let web = Web::start_with(&staging, &two_envs(&staging, &production, ""));
    let alice = web.login(ALICE).await;
    let base = format!("/f/{}", hex(b"checkout"));
    let compare = web.url(&format!("{base}/compare?env=staging&with=production"));
    let (s, html) = page(&alice, &compare).await;
    assert_eq!(s, 200, "{html}");
    assert!(
        html.contains(r#"data-aspect="prerequisites""#) && html.contains(r#"data-aspect="kind""#)
    );
    let warn = part(&html, "missing-in-production", "</div>");
    assert!(
        warn.contains("<code>beta</code>") && !warn.contains("payments"),
        "{warn}"
    );
    assert!(html.contains("prerequisites none → payments"), "{html}");

    // The copy carries the references (the warning was a warning).
    let copy = "copy-to-production";
    let mut form: Vec<(String, String)> = ["csrf", "from", "source_version", "target_version"]
        .iter()
        .map(|n| (n.to_string(), field(&html, Some(copy), n)))
        .collect();
    for p in ["copy_switch", "copy_percentage", "copy_rules"] {
        form.push((p.into(), "1".into()));
    }
    let (s, _, body) = post(&web, &alice, &format!("{base}/copy?env=production"), &form).await;
    assert_eq!(s, 303, "{body}");
    assert_eq!(prereqs(&production, b"checkout"), ["payments"]);
    // There, the flag's page names the missing segment.
    let (_, html) = page(&alice, &web.url(&format!("{base}?env=production"))).await;
    assert!(
        part(&html, "missing-segments", "</p>").contains("<code>beta</code>"),
        "{html}"
    );
    // Copying the segment first clears the warning.
    production.cmd(&[b"HANOI.DEFINE", b"beta", b"SEGMENT"]);
    let (_, html) = page(&alice, &compare).await;
    assert!(!html.contains(r#"id="missing-in-production""#));
}

const BOB: (&str, &str) = ("bob", "bob-password-1");
const CAROL: (&str, &str) = ("carol", "carol-password-1");

#[tokio::test]
async fn a_prerequisite_is_a_change_request_where_changes_need_approvals() {
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"10"]);
    redis.cmd(&[b"HANOI.DEFINE", b"payments", b"PERCENTAGE", b"100"]);
    let mut extra = format!(
        "[[environment]]\nname = \"production\"\nredis = \"{}\"\napprovals = 2\n",
        redis.url()
    );
    for (name, pw) in [BOB, CAROL] {
        extra.push_str(&format!(
            "\n[[user]]\nname = \"{name}\"\npassword_hash = \"{}\"\nrole = \"admin\"\n",
            hash_password(pw)
        ));
    }
    let web = Web::start_with(&redis, &extra);
    let (alice, bob, carol) = (
        web.login(ALICE).await,
        web.login(BOB).await,
        web.login(CAROL).await,
    );
    let url = format!("/f/{}", hex(b"f"));
    let (_, html) = page(&alice, &web.url(&url)).await;
    let (s, location, body) = submit(
        &web,
        &alice,
        &html,
        &url,
        "prereq-form",
        &[("prereq", "payments"), ("comment", "needs the new API")],
    )
    .await;
    assert_eq!(s, 303, "{body}");
    assert!(location.contains("/requests?proposed=1"), "{location}");
    assert!(prereqs(&redis, b"f").is_empty(), "proposed, not applied");
    let (_, list) = page(&bob, &web.url("/requests")).await;
    assert!(list.contains("HANOI.PREREQ f SET payments"), "{list}");
    assert!(list.contains("prerequisite payments set"), "{list}");
    for approver in [&bob, &carol] {
        let (_, html) = page(approver, &web.url("/requests")).await;
        let csrf = field(&html, None, "csrf");
        let (s, _, body) = post(
            &web,
            approver,
            "/requests/1",
            &[("csrf".into(), csrf), ("decision".into(), "approve".into())],
        )
        .await;
        assert_eq!(s, 303, "{body}");
    }
    assert_eq!(prereqs(&redis, b"f"), ["payments"]);
}
