//! hanoi-web in front of a three-primary Redis Cluster (`--cluster`): it
//! reads and writes every flag on the primary that holds it.

mod harness;

use harness::{hex, Redis, Web, ALICE, ALL_KEY};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn int(v: &redis::Value) -> i64 {
    match v {
        redis::Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn cluster() -> Vec<Redis> {
    let nodes: Vec<Redis> = (0..3)
        .map(|_| Redis::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"]))
        .collect();
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    for (n, (lo, hi)) in nodes.iter().zip(ranges) {
        let (lo, hi) = (lo.to_string(), hi.to_string());
        n.cmd(&[b"CLUSTER", b"ADDSLOTSRANGE", lo.as_bytes(), hi.as_bytes()]);
    }
    for n in &nodes[1..] {
        let port = n.port.to_string();
        nodes[0].cmd(&[b"CLUSTER", b"MEET", b"127.0.0.1", port.as_bytes()]);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in &nodes {
        loop {
            let info = text(&n.cmd(&[b"CLUSTER", b"INFO"]));
            if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                break;
            }
            assert!(Instant::now() < deadline, "the cluster did not form");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    nodes
}

/// One key per primary: (key, index of its node).
fn keys_on_each(nodes: &[Redis], prefix: &str) -> Vec<(String, usize)> {
    let owner = |slot: i64| match slot {
        0..=5460 => 0,
        5461..=10922 => 1,
        _ => 2,
    };
    let mut keys: Vec<(String, usize)> = Vec::new();
    for i in 0.. {
        let k = format!("{prefix}{i}");
        let o = owner(int(&nodes[0].cmd(&[b"CLUSTER", b"KEYSLOT", k.as_bytes()])));
        if !keys.iter().any(|(_, n)| *n == o) {
            keys.push((k, o));
        }
        if keys.len() == 3 {
            break;
        }
    }
    keys
}

fn field(html: &str, form_id: &str, name: &str) -> String {
    harness::field(html, Some(form_id), name)
}

#[tokio::test]
async fn every_primary_is_read_and_written() {
    let nodes = cluster();
    let keys = keys_on_each(&nodes, "flag:");
    for (k, o) in &keys {
        nodes[*o].cmd(&[b"HANOI.DEFINE", k.as_bytes(), b"PERCENTAGE", b"100"]);
    }
    let web = Web::start_opts(&nodes[0], "", &["--cluster"]);

    // OFREP: bulk sees the flags of every primary; single reaches each.
    let body = json!({"context": {"targetingKey": "u"}}).to_string();
    let c = reqwest::Client::new();
    let r = c
        .post(web.url("/ofrep/v1/evaluate/flags"))
        .header("X-API-Key", ALL_KEY)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let mut got: Vec<String> = v["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    want.sort();
    assert_eq!(got, want);
    for (k, _) in &keys {
        let r = c
            .post(web.url(&format!("/ofrep/v1/evaluate/flags/{k}")))
            .header("X-API-Key", ALL_KEY)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{k}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["value"], true);
    }

    // The UI lists them all and writes each on its own primary.
    let alice = web.login(ALICE).await;
    let list = alice
        .get(web.url("/flags"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (k, _) in &keys {
        assert!(
            list.contains(&format!(">{k}</a>")),
            "{k} missing from the list"
        );
    }
    for (k, o) in &keys {
        let url = format!("/f/{}", hex(k.as_bytes()));
        let html = alice
            .get(web.url(&url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let form: Vec<(&str, String)> = ["csrf", "version", "seen", "op"]
            .iter()
            .map(|n| (*n, field(&html, "percentage-form", n)))
            .chain([("percentage", "42".to_owned())])
            .collect();
        let r = alice
            .post(web.url(&url))
            .header("Origin", &web.base)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{k}");
        let hist = format!(
            "{:?}",
            nodes[*o].cmd(&[b"HANOI.HISTORY", k.as_bytes(), b"COUNT", b"1"])
        );
        assert!(
            hist.contains("hanoi-web:alice") && hist.contains("42"),
            "{hist}"
        );
    }

    // A new flag lands on the primary that owns its slot.
    let fresh = keys_on_each(&nodes, "new:");
    let (name, owner) = &fresh[2];
    let html = alice
        .get(web.url("/flags/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = harness::field(&html, None, "csrf");
    let r = alice
        .post(web.url("/flags/new"))
        .header("Origin", &web.base)
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", name.as_str()),
            ("enabled", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        text(&nodes[*owner].cmd(&[b"TYPE", name.as_bytes()])),
        "hanoiflag"
    );
}

/// An environment that is a cluster (`cluster = true`) beside a standalone
/// one: its column, OFREP with its key and a copy from staging reach every
/// primary; /healthz checks every primary (the module on each).
#[tokio::test]
async fn an_environment_that_is_a_cluster() {
    let nodes = cluster();
    let staging = Redis::start(&[]);
    let keys = keys_on_each(&nodes, "env:");
    for (k, o) in &keys {
        nodes[*o].cmd(&[b"HANOI.DEFINE", k.as_bytes(), b"PERCENTAGE", b"77"]);
        staging.cmd(&[b"HANOI.DEFINE", k.as_bytes(), b"PERCENTAGE", b"12"]);
    }
    let config = format!(
        "[[environment]]\nname = \"staging\"\nredis = \"{}\"\n\n[[environment]]\nname = \"production\"\nredis = \"{}\"\ncluster = true\n\n[[api_key]]\nkey = \"production-key-0123456789\"\nenvironment = \"production\"\n",
        staging.url(),
        nodes[0].url()
    );
    let web = Web::start_with(&staging, &config);
    let c = reqwest::Client::new();
    for (k, _) in &keys {
        let r = c
            .post(web.url(&format!("/ofrep/v1/evaluate/flags/{k}")))
            .header("X-API-Key", "production-key-0123456789")
            .body(json!({"context": {"targetingKey": "u"}}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{k}");
    }
    let r = c.get(web.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
    let alice = web.login(ALICE).await;
    let h: Value = alice
        .get(web.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok", "{h}");
    let list = alice
        .get(web.url("/flags"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(list.matches("77 %").count(), 3, "{list}");
    assert_eq!(list.matches("12 %").count(), 3, "{list}");
    // A copy from staging to each primary.
    for (k, o) in &keys {
        let url = format!("/f/{}", hex(k.as_bytes()));
        let page = alice
            .get(web.url(&format!("{url}/compare?with=production")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut form: Vec<(String, String)> = ["csrf", "from", "source_version", "target_version"]
            .iter()
            .map(|n| (n.to_string(), field(&page, "copy-to-production", n)))
            .collect();
        // The parts a copy takes are ticked (issue 33): the percentage here.
        form.push(("copy_percentage".into(), "1".into()));
        let r = alice
            .post(web.url(&format!("{url}/copy?env=production")))
            .header("Origin", &web.base)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{k}");
        let got = format!("{:?}", nodes[*o].cmd(&[b"HANOI.GET", k.as_bytes()]));
        assert!(got.to_lowercase().contains("int(12)"), "{k}: {got}");
    }
    // Each copy is in production's audit log: in a cluster the entry is
    // written right after the change, on the stream's own primary.
    let audit = alice
        .get(web.url("/audit.jsonl?env=production"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(audit.lines().count(), keys.len(), "{audit}");
}
