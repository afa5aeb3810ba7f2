//! Test harness: a real `redis-server` with the freshly built module and
//! the real `hanoi-web` binary, each on a free loopback port, with a
//! temporary config; both killed on drop.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ALICE: (&str, &str) = ("alice", "alice-password-1");
pub const VICTOR: (&str, &str) = ("victor", "victor-password-1");
pub const ALL_KEY: &str = "all-flags-key-0123456789";
pub const MOBILE_KEY: &str = "mobile-key-0123456789";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

// The module's path, the server binary, a free port and a fresh directory,
// and the server itself: the same files the module's own suites use.
#[path = "../../../tests/common/process.rs"]
mod process;
#[path = "../../../tests/common/server.rs"]
mod server;
pub use process::{free_port, fresh_dir, listens_on};
/// A real `redis-server` with the module: `tests/common/server.rs`.
pub use server::Server as Redis;

/// `hanoi-web hash-password` with the password on stdin.
pub fn hash_password(pw: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hanoi-web"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run hanoi-web hash-password");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{pw}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("hash-password output");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

fn hashes() -> &'static (String, String) {
    static H: OnceLock<(String, String)> = OnceLock::new();
    H.get_or_init(|| (hash_password(ALICE.1), hash_password(VICTOR.1)))
}

pub struct Web {
    pub port: u16,
    pub base: String,
    dir: PathBuf,
    child: Child,
}

impl Web {
    pub fn start(redis: &Redis) -> Web {
        Web::start_with(redis, "")
    }

    pub fn start_with(redis: &Redis, extra: &str) -> Web {
        Web::start_opts(redis, extra, &[])
    }

    /// With extra config lines and extra command-line arguments.
    pub fn start_opts(redis: &Redis, extra: &str, args: &[&str]) -> Web {
        let dir = fresh_dir();
        let (a, v) = hashes();
        let config = format!(
            r#"{extra}
[[user]]
name = "{}"
password_hash = "{a}"
role = "admin"

[[user]]
name = "{}"
password_hash = "{v}"
role = "viewer"

[[api_key]]
key = "{ALL_KEY}"
prefix = ""

[[api_key]]
key = "{MOBILE_KEY}"
prefix = "mobile:"
"#,
            ALICE.0, VICTOR.0
        );
        let path = dir.join("hanoi-web.toml");
        std::fs::write(&path, config).expect("write config");
        // Waits until hanoi-web itself listens on the port (`listens_on`):
        // when a parallel test's process took the "free" port first,
        // hanoi-web exits, and it starts again on a new one.
        let start = Instant::now();
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "hanoi-web did not start"
            );
            let port = free_port();
            let mut child = Command::new(env!("CARGO_BIN_EXE_hanoi-web"))
                .args([
                    "--redis",
                    &redis.url(),
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                ])
                .args(args)
                .arg("--config")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start hanoi-web");
            let tried = Instant::now();
            while tried.elapsed() < Duration::from_secs(30)
                && !matches!(child.try_wait(), Ok(Some(_)))
            {
                if listens_on(child.id(), port) {
                    return Web {
                        port,
                        base: format!("http://127.0.0.1:{port}"),
                        dir,
                        child,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// hanoi-web's resident memory (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// A client that keeps cookies and does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client")
    }

    /// A client logged in as `who`.
    pub async fn login(&self, who: (&str, &str)) -> reqwest::Client {
        let c = self.client();
        let r = c
            .post(self.url("/login"))
            .header("Origin", &self.base)
            .form(&[("name", who.0), ("password", who.1)])
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 303, "login as {} failed", who.0);
        c
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The value of the hidden field `name` in the form with `id` (or the first
/// form when `form_id` is None) of a page.
/// GET `url`: the status and the body.
pub async fn page(c: &reqwest::Client, url: &str) -> (u16, String) {
    let r = c.get(url).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// A small RFC 4180 reader: quoted cells, doubled quotes, CRLF rows.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        !quoted && cell.is_empty() && row.is_empty(),
        "unterminated CSV"
    );
    rows
}

pub fn field(html: &str, form_id: Option<&str>, name: &str) -> String {
    let from = match form_id {
        Some(id) => html
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no form {id} in the page")),
        None => 0,
    };
    let rest = &html[from..];
    let at = rest
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no field {name}"));
    let v = &rest[at + name.len() + 15..];
    v[..v.find('"').expect("closing quote")].to_owned()
}

/// Posts a form as a browser does (with its Origin): the status, the
/// Location header (empty when none) and the body.
pub async fn post_form(
    web: &Web,
    c: &reqwest::Client,
    action: &str,
    form: &[(String, String)],
) -> (u16, String, String) {
    let r = c
        .post(web.url(action))
        .header("Origin", &web.base)
        .form(form)
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    (status, location, r.text().await.expect("body"))
}

/// Posts the form `form_id` of a page's `html` as a browser would: its
/// hidden fields (csrf, version, seen, seen_same, op) and `extra`, which
/// replaces a field of the same name (a move or a removal posts its own
/// `op`).
pub async fn submit_form(
    web: &Web,
    c: &reqwest::Client,
    html: &str,
    action: &str,
    form_id: &str,
    extra: &[(&str, &str)],
) -> (u16, String, String) {
    let mut form: Vec<(String, String)> = ["csrf", "version", "seen", "seen_same", "op"]
        .iter()
        .map(|n| (n.to_string(), field(html, Some(form_id), n)))
        .collect();
    for (k, v) in extra {
        form.retain(|(f, _)| f != k);
        form.push((k.to_string(), v.to_string()));
    }
    post_form(web, c, action, &form).await
}

/// A form of the page posted as a browser does ([`submit_form`]): the
/// status and the body.
pub async fn submit(
    web: &Web,
    c: &reqwest::Client,
    html: &str,
    action: &str,
    form_id: &str,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let (status, _, body) = submit_form(web, c, html, action, form_id, extra).await;
    (status, body)
}

/// A field of a flat field/value reply (`HANOI.GET`, `HANOI.STATS`,
/// `XINFO STREAM`...).
pub fn reply_field(v: &redis::Value, name: &str) -> redis::Value {
    let redis::Value::Array(items) = v else {
        panic!("not a map: {v:?}");
    };
    items
        .chunks(2)
        .find(|p| p[0] == redis::Value::BulkString(name.as_bytes().to_vec()))
        .map(|p| p[1].clone())
        .unwrap_or_else(|| panic!("no {name} in {v:?}"))
}

/// A field of `HANOI.GET key`.
pub fn flag_field(redis: &Redis, key: &[u8], name: &str) -> redis::Value {
    reply_field(&redis.cmd(&[b"HANOI.GET", key]), name)
}

/// hanoi-web's config for two environments, `staging` and `production`
/// (`production_extra`: lines of production's table, e.g.
/// `"protected = true\napprovals = 1"`).
pub fn two_envs(staging: &Redis, production: &Redis, production_extra: &str) -> String {
    format!(
        "[[environment]]\nname = \"staging\"\nredis = \"{}\"\n\n[[environment]]\nname = \"production\"\nredis = \"{}\"\n{production_extra}\n",
        staging.url(),
        production.url()
    )
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The flags the OFREP tests evaluate (`http.rs`, `clients.rs`,
/// `browser.rs`), defined with the module's commands:
/// - `bool-on`: on for everyone (`STATIC`); description "all on", owner
///   "team-a", tags "x,y";
/// - `bool-off`: switched off (`DISABLED`) at 100 %;
/// - `targeted`: 0 %, `u1` registered, `u9` blocked, rule `de` (country EQ
///   DE): `TARGETING_MATCH` for those, `DEFAULT` for anyone else;
/// - `most`: 99 % (`SPLIT`: id `44488` is in bucket 88);
/// - `colour`: a string flag, one variant `blue`, on for everyone;
/// - `colour-off`: the same, switched off.
pub fn define_ofrep_flags(redis: &Redis) {
    let commands: [&[&[u8]]; 10] = [
        &[b"HANOI.DEFINE", b"bool-on", b"PERCENTAGE", b"100"],
        &[
            b"HANOI.META",
            b"bool-on",
            b"SET",
            b"description",
            b"all on",
            b"owner",
            b"team-a",
            b"tags",
            b"x,y",
        ],
        &[
            b"HANOI.DEFINE",
            b"bool-off",
            b"DISABLED",
            b"PERCENTAGE",
            b"100",
        ],
        &[b"HANOI.DEFINE", b"targeted"],
        &[b"HANOI.REGISTER", b"targeted", b"USER", b"u1"],
        &[b"HANOI.BLOCK", b"targeted", b"u9"],
        &[
            b"HANOI.RULE",
            b"targeted",
            b"SET",
            b"de",
            b"IF",
            b"country",
            b"EQ",
            b"DE",
        ],
        &[b"HANOI.DEFINE", b"most", b"PERCENTAGE", b"99"],
        &[
            b"HANOI.DEFINE",
            b"colour",
            b"PERCENTAGE",
            b"100",
            b"VARIANTS",
            b"1",
            b"blue",
        ],
        &[
            b"HANOI.DEFINE",
            b"colour-off",
            b"DISABLED",
            b"VARIANTS",
            b"1",
            b"blue",
        ],
    ];
    for c in commands {
        redis.cmd(c);
    }
}
