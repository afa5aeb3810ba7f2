//! The experiment page in hanoi-web (issue 35), against real redis-servers
//! with the module: start (control, metrics), stop and reset from the page
//! through the write path (revision check, history, audit, change requests),
//! the results per arm with the right numbers for an experiment seeded with
//! HANOI.ASSIGN and HANOI.TRACK, the sample-ratio-mismatch warning for a
//! skewed split, the exposures chart and the CSV download.

mod harness;

use harness::{
    field, hex, page, parse_csv, post_form as post, submit_form as submit, Redis, Web, ALICE,
    VICTOR,
};

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// `HANOI.ASSIGN key id`: the arm (the variant, or on/off).
fn assign(redis: &Redis, key: &[u8], id: &str) -> String {
    let redis::Value::Array(r) = redis.cmd(&[b"HANOI.ASSIGN", key, id.as_bytes()]) else {
        panic!("ASSIGN");
    };
    match &r[1] {
        redis::Value::Nil => if r[0] == redis::Value::Int(1) {
            "on"
        } else {
            "off"
        }
        .to_owned(),
        v => text(v),
    }
}

fn track(redis: &Redis, key: &[u8], id: &str, metric: &str, value: u64) {
    let v = value.to_string();
    let r = redis.cmd(&[
        b"HANOI.TRACK",
        key,
        id.as_bytes(),
        metric.as_bytes(),
        v.as_bytes(),
    ]);
    assert_eq!(r, redis::Value::Int(1), "TRACK {id} {metric}");
}

fn experiment_state(redis: &Redis, key: &[u8]) -> String {
    format!("{:?}", redis.cmd(&[b"HANOI.GET", key]))
}

/// The text of a table's row (`data-arm`) in the metric table `id`, tags
/// stripped.
fn row(html: &str, table: &str, arm: &str) -> String {
    let t = &html[html
        .find(&format!("id=\"{table}\""))
        .unwrap_or_else(|| panic!("no #{table}"))..];
    let t = &t[..t.find("</table>").unwrap()];
    let r = &t[t
        .find(&format!("data-arm=\"{arm}\""))
        .unwrap_or_else(|| panic!("no row {arm}"))..];
    let r = &r[..r.find("</tr>").unwrap()];
    let mut out = String::new();
    let mut tag = false;
    for ch in r.chars() {
        match ch {
            '<' => tag = true,
            '>' => {
                tag = false;
                out.push(' ');
            }
            c if !tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn start_stop_and_reset_from_the_page() {
    let redis = Redis::start(&[]);
    #[rustfmt::skip]
    redis.cmd(&[b"HANOI.DEFINE", b"checkout", b"PERCENTAGE", b"100", b"VARIANTS", b"2", b"one_page", b"two_pages"]);
    let web = Web::start(&redis);
    let c = web.login(ALICE).await;
    let url = format!("/f/{}/experiment", hex(b"checkout"));

    // Linked from the flag page; none yet.
    let (_, flag) = page(&c, &web.url(&format!("/f/{}", hex(b"checkout")))).await;
    assert!(flag.contains(&format!("href=\"{url}\"")), "no link");
    let (status, html) = page(&c, &web.url(&url)).await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"no-experiment\""));
    assert!(
        html.contains("<option value=\"one_page\"") && html.contains("<option value=\"two_pages\"")
    );

    // No metric: refused at the form, nothing sent.
    let (status, _, body) = submit(&web, &c, &html, &url, "start-form", &[("metrics", " ")]).await;
    assert_eq!(status, 400);
    assert!(body.contains("name at least one metric"), "{body}");

    // Start, control two_pages, two metrics.
    let (status, location, _) = submit(
        &web,
        &c,
        &html,
        &url,
        "start-form",
        &[("control", "two_pages"), ("metrics", "bought\nrevenue")],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("{url}?done=start").as_str())
    );
    let state = experiment_state(&redis, b"checkout");
    assert!(
        state.contains("running") && state.contains("revenue"),
        "{state}"
    );
    let (_, html) = page(&c, &web.url(&format!("{url}?done=start"))).await;
    assert!(html.contains("Experiment started."));
    assert!(html.contains("id=\"control-arm\">two_pages<"), "control");
    assert!(html.contains("id=\"stop-form\"") && !html.contains("id=\"start-form\""));
    // In the flag's history (by hanoi-web:alice) and the audit log.
    let history = format!("{:?}", redis.cmd(&[b"HANOI.HISTORY", b"checkout"]));
    assert!(
        history.contains("hanoi-web:alice") && history.contains("EXPERIMENT"),
        "{history}"
    );
    let audit = format!(
        "{:?}",
        redis.cmd(&[b"XRANGE", b"hanoi-web:audit", b"-", b"+"])
    );
    assert!(
        audit
            .contains("HANOI.EXPERIMENT checkout START CONTROL two_pages METRICS 2 bought revenue"),
        "{audit}"
    );

    for i in 0..20 {
        assign(&redis, b"checkout", &format!("u{i}"));
    }

    // A stale page: the flag changed since (a percentage), refused (409).
    redis.cmd(&[b"HANOI.PERCENTAGE", b"checkout", b"90"]);
    let (status, _, body) = submit(&web, &c, &html, &url, "stop-form", &[]).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("id=\"conflict\""));
    assert!(experiment_state(&redis, b"checkout").contains("running"));

    // Stop: the data stays.
    let (_, html) = page(&c, &web.url(&url)).await;
    let (status, location, _) = submit(&web, &c, &html, &url, "stop-form", &[]).await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("{url}?done=stop").as_str())
    );
    let (_, html) = page(&c, &web.url(&url)).await;
    assert!(
        html.contains("stopped") && html.contains("id=\"exposures-total\">20<"),
        "{html}"
    );
    assert!(html.contains("id=\"reset-fields\""));

    // Start again without RESET: the module refuses, in words, nothing changed.
    let (status, _, body) = submit(
        &web,
        &c,
        &html,
        &url,
        "start-form",
        &[("metrics", "bought")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("id=\"experiment-error\""), "{body}");
    assert!(experiment_state(&redis, b"checkout").contains("stopped"));
    // RESET without the flag's name typed: refused.
    let (status, _, body) = submit(
        &web,
        &c,
        &html,
        &url,
        "start-form",
        &[("metrics", "bought"), ("reset", "1"), ("confirm", "nope")],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("type the flag&#39;s exact name")
            || body.contains("type the flag's exact name"),
        "{body}"
    );
    // With it: the data dropped, a new experiment running.
    let (status, _, _) = submit(
        &web,
        &c,
        &html,
        &url,
        "start-form",
        &[
            ("metrics", "bought"),
            ("reset", "1"),
            ("confirm", "checkout"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, html) = page(&c, &web.url(&url)).await;
    assert!(
        html.contains("running") && html.contains("id=\"exposures-total\">0<"),
        "{html}"
    );
    let audit = format!(
        "{:?}",
        redis.cmd(&[b"XRANGE", b"hanoi-web:audit", b"-", b"+"])
    );
    assert!(audit.contains("METRICS 1 bought RESET"), "{audit}");

    // A viewer sees the page, no forms, and cannot post.
    let v = web.login(VICTOR).await;
    let (status, vhtml) = page(&v, &web.url(&url)).await;
    assert_eq!(status, 200);
    assert!(!vhtml.contains("id=\"stop-form\"") && !vhtml.contains("id=\"start-form\""));
    let csrf = field(&vhtml, None, "csrf");
    let form = vec![
        ("csrf".to_owned(), csrf),
        ("op".to_owned(), "stop".to_owned()),
    ];
    let (status, _, _) = post(&web, &v, &url, &form).await;
    assert_eq!(status, 403);
    assert!(experiment_state(&redis, b"checkout").contains("running"));
}

/// Wald's interval of a difference of proportions, as the page writes it.
fn wald(ca: f64, na: f64, cb: f64, nb: f64) -> (String, String, String) {
    let (pa, pb) = (ca / na, cb / nb);
    let se = (pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb).sqrt();
    let d = pb - pa;
    let s = |x: f64| {
        let t = format!("{:.2}", (x * 100.0).abs());
        if x < 0.0 {
            format!("−{t}")
        } else {
            format!("+{t}")
        }
    };
    (
        s(d),
        s(d - 1.959_963_984_540_054 * se),
        s(d + 1.959_963_984_540_054 * se),
    )
}

#[tokio::test]
async fn results_srm_chart_and_csv_of_a_seeded_experiment() {
    let redis = Redis::start(&[]);
    #[rustfmt::skip]
    redis.cmd(&[b"HANOI.DEFINE", b"checkout", b"PERCENTAGE", b"100", b"VARIANTS", b"2", b"a", b"b"]);
    #[rustfmt::skip]
    redis.cmd(&[b"HANOI.EXPERIMENT", b"checkout", b"START", b"CONTROL", b"a", b"METRICS", b"2", b"bought", b"revenue"]);
    // 2000 ids: in a, every 10th buys; in b, every 5th; revenue 100 + i % 7.
    let (mut n, mut c, mut sum, mut sq) = ([0u64; 2], [0u64; 2], [0u64; 2], [0u64; 2]);
    let mut arms = Vec::new();
    for i in 0..2000u64 {
        let id = format!("u{i}");
        let arm = assign(&redis, b"checkout", &id);
        let k = usize::from(arm == "b");
        n[k] += 1;
        if (k == 0 && i % 10 == 0) || (k == 1 && i % 5 == 0) {
            track(&redis, b"checkout", &id, "bought", 1);
            let v = 100 + i % 7;
            track(&redis, b"checkout", &id, "revenue", v);
            c[k] += 1;
            sum[k] += v;
            sq[k] += v * v;
        }
        arms.push((id, arm));
    }
    // An id a spreadsheet would take for a formula.
    let evil = assign(&redis, b"checkout", "=HYPERLINK(\"x\")");
    let k = usize::from(evil == "b");
    n[k] += 1;

    let web = Web::start(&redis);
    let cl = web.login(ALICE).await;
    let url = format!("/f/{}/experiment", hex(b"checkout"));
    let (status, html) = page(&cl, &web.url(&url)).await;
    assert_eq!(status, 200);

    // bought: a conversion rate, with the numbers.
    assert!(html.contains("conversion rate") && html.contains("mean per exposed id"));
    let a = row(&html, "metric-0", "a");
    let b = row(&html, "metric-0", "b");
    assert!(
        a.contains(&format!("{:.2} %", 100.0 * c[0] as f64 / n[0] as f64)),
        "{a}"
    );
    assert!(a.contains("baseline"), "{a}");
    let (d, lo, hi) = wald(c[0] as f64, n[0] as f64, c[1] as f64, n[1] as f64);
    assert!(
        b.contains(&format!("{:.2} %", 100.0 * c[1] as f64 / n[1] as f64)),
        "{b}"
    );
    assert!(
        b.contains(&format!("{d} pp")) && b.contains(&format!("95 %: {lo} to {hi}")),
        "{b} vs {d} {lo} {hi}"
    );
    // 20 % against 10 % on ~1000 each: B surely beats A.
    assert!(b.contains("100.0 %"), "{b}");
    // revenue: a mean per exposed id (ids that did not buy count 0).
    let rb = row(&html, "metric-1", "b");
    assert!(
        rb.contains(&format!("{:.2}", sum[1] as f64 / n[1] as f64)),
        "{rb}"
    );
    assert!(rb.contains(&sum[1].to_string()), "{rb}");
    // The split is even: no warning.
    assert!(html.contains("id=\"srm-ok\"") && !html.contains("id=\"srm-warning\""));
    // The chart.
    assert!(html.contains("id=\"exposures-chart\"") && html.contains("class=\"series-1\""));

    // The CSV: every exposure once, its arm, the formula guarded.
    let r = cl.get(web.url(&format!("{url}.csv"))).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("hanoi-exposures-checkout"));
    let rows = parse_csv(&r.text().await.unwrap());
    assert_eq!(rows[0], ["id", "arm", "time", "time_ms"]);
    assert_eq!(rows.len(), 1 + 2001);
    for (row, (id, arm)) in rows[1..].iter().zip(&arms) {
        assert_eq!((&row[0], &row[1]), (id, arm));
        assert!(row[2].ends_with('Z') || row[2].contains('T'), "{row:?}");
    }
    assert_eq!(rows[2001][0], "'=HYPERLINK(\"x\")");

    // A skewed split: a boolean flag at 50 %, raised to 90 % midway.
    redis.cmd(&[b"HANOI.DEFINE", b"banner", b"PERCENTAGE", b"50"]);
    #[rustfmt::skip]
    redis.cmd(&[b"HANOI.EXPERIMENT", b"banner", b"START", b"METRICS", b"1", b"clicked"]);
    for i in 0..1000 {
        assign(&redis, b"banner", &format!("v{i}"));
    }
    let (_, html) = page(&cl, &web.url(&format!("/f/{}/experiment", hex(b"banner")))).await;
    assert!(html.contains("id=\"srm-ok\""), "an even split first");
    redis.cmd(&[b"HANOI.PERCENTAGE", b"banner", b"90"]);
    for i in 1000..2000 {
        assign(&redis, b"banner", &format!("v{i}"));
    }
    let (_, html) = page(&cl, &web.url(&format!("/f/{}/experiment", hex(b"banner")))).await;
    assert!(html.contains("id=\"srm-warning\""), "no SRM warning");
    assert!(html.contains("Sample ratio mismatch"));
    // The arms table shows the configured split now.
    assert!(html.contains("90.0 %") && html.contains("10.0 %"));
}

#[tokio::test]
async fn starting_needs_approvals_where_changes_do() {
    let redis = Redis::start(&[]);
    #[rustfmt::skip]
    redis.cmd(&[b"HANOI.DEFINE", b"f", b"PERCENTAGE", b"50"]);
    let extra = format!(
        "[[environment]]\nname = \"production\"\nredis = \"{}\"\napprovals = 1\n",
        redis.url()
    );
    let web = Web::start_with(&redis, &extra);
    let c = web.login(ALICE).await;
    let url = format!("/f/{}/experiment?env=production", hex(b"f"));
    let (_, html) = page(&c, &web.url(&url)).await;
    assert!(html.contains("id=\"needs-approval\""));
    // Without a comment: refused.
    let (status, _, _) = submit(
        &web,
        &c,
        &html,
        &url,
        "start-form",
        &[("metrics", "clicked")],
    )
    .await;
    assert_eq!(status, 400);
    let (status, location, _) = submit(
        &web,
        &c,
        &html,
        &url,
        "start-form",
        &[("metrics", "clicked"), ("comment", "A/B the banner")],
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.contains("/requests?proposed="), "{location}");
    // Proposed, not applied.
    assert!(!experiment_state(&redis, b"f").contains("running"));
    let (_, reqs) = page(&c, &web.url("/requests?env=production")).await;
    assert!(reqs.contains("start the experiment"), "{reqs}");
}
