//! hanoi-web in a real browser: headless Chromium driven by chromedriver
//! (WebDriver, through fantoccini). Saves screenshots of the main pages
//! under target/screenshots/ (docs/screenshots/ with
//! `HANOI_UPDATE_SCREENSHOTS=1`, for the README).
//!
//! Without chromedriver the test says so and passes, except under CI (`CI`
//! set), where it must run: `.ci/run` installs Debian's `chromium` and
//! `chromium-driver`.

mod harness;

use fantoccini::{Client, ClientBuilder, Locator};
use harness::{
    flag_field, free_port, fresh_dir, listens_on, parse_csv, reply_field, two_envs, Redis, Web,
    ALICE, VICTOR,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

/// chromedriver, or None (the test says it is skipped) when it is not on
/// the PATH; under CI it must be.
fn chromedriver(test: &str) -> Option<PathBuf> {
    let found = find_on_path("chromedriver");
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser test: install chromium and chromium-driver"
        );
        eprintln!("SKIPPED {test}: no chromedriver on the PATH");
    }
    found
}

struct Driver {
    port: u16,
    child: Child,
    /// The browsers' profile directories, removed on drop.
    profiles: std::sync::Mutex<Vec<PathBuf>>,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it listens there
    /// itself (`listens_on`): when another test's process took the port
    /// first, chromedriver exits, and it starts again on a new one.
    fn start(path: &PathBuf) -> Driver {
        let start = Instant::now();
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "chromedriver did not start"
            );
            let port = free_port();
            use std::os::unix::process::CommandExt;
            // A process group of its own: dropping the driver ends the
            // browsers it started too, even when a test failed before
            // closing them.
            let child = Command::new(path)
                .process_group(0)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver");
            let mut driver = Driver {
                port,
                child,
                profiles: Default::default(),
            };
            let tried = Instant::now();
            while tried.elapsed() < Duration::from_secs(20)
                && !matches!(driver.child.try_wait(), Ok(Some(_)))
            {
                if listens_on(driver.child.id(), port) {
                    return driver;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    async fn browser(&self) -> Client {
        let profile = fresh_dir();
        self.profiles.lock().unwrap().push(profile.clone());
        let mut options = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        });
        if let Some(bin) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .iter()
            .find(|p| std::path::Path::new(p).exists())
        {
            options["binary"] = json!(bin);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a WebDriver session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for dir in self.profiles.lock().map(|p| p.clone()).unwrap_or_default() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `target/screenshots/`, or the README's `docs/screenshots/` when
/// `HANOI_UPDATE_SCREENSHOTS` is set (so a plain test run leaves the work
/// tree clean).
fn screenshots() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = if std::env::var_os("HANOI_UPDATE_SCREENSHOTS").is_some() {
        root.join("docs/screenshots")
    } else {
        root.join("target/screenshots")
    };
    std::fs::create_dir_all(&dir).expect("screenshots folder");
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(name), png).expect("save screenshot");
}

async fn login(c: &Client, web: &Web, who: (&str, &str)) {
    c.goto(&web.url("/login")).await.expect("login page");
    c.find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys(who.0)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(who.1)
        .await
        .unwrap();
    submit(c, "login", "flags").await;
}

async fn text(c: &Client, id: &str) -> String {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("no #{id}"))
        .text()
        .await
        .unwrap()
}

async fn set(c: &Client, id: &str, value: &str) {
    let e = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("no #{id}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// Clicks a submit button and waits for the page it leads to.
async fn submit(c: &Client, id: &str, then: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("no #{id}"))
        .click()
        .await
        .unwrap();
    arrived(c, old, then).await;
}

/// Clicks a button whose form asks for a confirmation, accepts it, and
/// waits for the page it leads to.
async fn submit_confirmed(c: &Client, id: &str, then: &str) -> String {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let question = c.get_alert_text().await.expect("a confirmation");
    c.accept_alert().await.unwrap();
    arrived(c, old, then).await;
    question
}

/// Waits until the page `old` belonged to is gone (so an element found next
/// is on the new page), then for the element `then`.
async fn arrived(c: &Client, old: fantoccini::elements::Element, then: &str) {
    let start = Instant::now();
    while old.attr("lang").await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the page did not change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id(then))
        .await
        .unwrap_or_else(|_| panic!("no #{then} on the new page"));
}

/// Picks `value` in the `<select>` with id `id`.
async fn choose(c: &Client, id: &str, value: &str) {
    c.find(Locator::Css(&format!("#{id} option[value='{value}']")))
        .await
        .unwrap_or_else(|_| panic!("no {value} in #{id}"))
        .click()
        .await
        .unwrap();
}

/// Clicks what `css` finds (a link or a button) and waits for `then`.
async fn click(c: &Client, css: &str, then: &str) {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"))
        .click()
        .await
        .unwrap();
    arrived(c, old, then).await;
}

/// Adds a rule with the builder: its name, then a row per condition
/// (attribute, operator, values), "add a condition" between rows.
async fn add_rule(c: &Client, name: &str, rows: &[(&str, &str, &str)]) {
    set(c, "rule-name", name).await;
    for (i, (attr, op, values)) in rows.iter().enumerate() {
        if i > 0 {
            submit(c, "add-condition", &format!("cond-attr-{i}")).await;
        }
        set(c, &format!("cond-attr-{i}"), attr).await;
        choose(c, &format!("cond-op-{i}"), op).await;
        set(c, &format!("cond-values-{i}"), values).await;
    }
    submit(c, "save-rule", "ok").await;
}

/// What sticks out of the window's width (a horizontal scroll), if
/// anything: `scrollWidth` against the width without the scroll bar.
async fn sticking_out(c: &Client) -> String {
    let out = c
        .execute(
            "var d = document.documentElement;
             if (d.scrollWidth <= d.clientWidth && d.scrollWidth <= window.innerWidth) return '';
             var wide = [];
             document.querySelectorAll('body *').forEach(function (e) {
               var r = e.getBoundingClientRect();
               if (r.right > d.clientWidth + 0.5) wide.push(e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(r.right));
             });
             return 'scrollWidth ' + d.scrollWidth + ' > ' + d.clientWidth + ': ' + wide.slice(0, 8).join(', ');",
            vec![],
        )
        .await
        .unwrap();
    out.as_str().unwrap_or_default().to_owned()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn create_flag(c: &Client, web: &Web, name: &str) {
    c.goto(&web.url("/flags/new")).await.unwrap();
    set(c, "flag-name", name).await;
    submit(c, "create", "flag-title").await;
}

#[tokio::test]
async fn the_ui_in_a_real_browser() {
    let Some(driver_path) = chromedriver("the_ui_in_a_real_browser") else {
        return;
    };
    let redis = Redis::start(&[]);
    let web = Web::start(&redis);
    let driver = Driver::start(&driver_path);
    let c = driver.browser().await;

    // Log in; create a flag.
    c.goto(&web.url("/login")).await.unwrap();
    shot(&c, "login.png").await;
    login(&c, &web, ALICE).await;
    c.goto(&web.url("/flags/new")).await.unwrap();
    set(&c, "flag-name", "checkout").await;
    for (field, value) in [
        ("description", "The new checkout flow"),
        ("owner", "payments"),
        ("tags", "checkout, web"),
    ] {
        c.find(Locator::Css(&format!("input[name={field}]")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    submit(&c, "create", "flag-title").await;
    assert!(text(&c, "flag-title").await.contains("checkout"));
    assert!(text(&c, "flag-title").await.contains("on"));

    // Switch it off, with the confirmation.
    let question = submit_confirmed(&c, "switch", "ok").await;
    assert!(question.contains("OFF"), "{question}");
    assert!(text(&c, "flag-title").await.contains("off"));

    // A percentage.
    set(&c, "percentage-input", "25").await;
    submit(&c, "set-percentage", "ok").await;
    assert_eq!(text(&c, "percentage").await, "25 %");

    // Typed values: a row per variant. A value that is not JSON is shown
    // at its field, announced, and everything typed stays.
    for (id, value) in [
        ("variant-0-input", "small"),
        ("value-0-input", "10"),
        ("variant-1-input", "big"),
        ("value-1-input", "lots"),
        ("default-input", "small"),
    ] {
        set(&c, id, value).await;
    }
    submit(&c, "save-variants", "value-1-input-error").await;
    let error = text(&c, "value-1-input-error").await;
    assert!(error.contains("not JSON"), "{error}");
    let alert = c
        .find(Locator::Id("value-1-input-error"))
        .await
        .unwrap()
        .attr("role")
        .await
        .unwrap();
    assert_eq!(alert.as_deref(), Some("alert"));
    let typed = |id: &'static str| {
        let c = c.clone();
        async move {
            let e = c.find(Locator::Id(id)).await.unwrap();
            e.prop("value").await.unwrap().unwrap_or_default()
        }
    };
    assert_eq!(typed("value-1-input").await, "lots");
    assert_eq!(typed("variant-1-input").await, "big");
    assert_eq!(typed("default-input").await, "small");
    set(&c, "value-1-input", "250.5").await;
    submit(&c, "save-variants", "ok").await;
    assert!(text(&c, "flag-type").await.contains("number"));

    // Paste 1,000 ids.
    let ids: Vec<String> = (0..1000).map(|i| format!("id-{i}")).collect();
    let area = c.find(Locator::Id("users-add")).await.unwrap();
    c.execute(
        "arguments[0].value = arguments[1];",
        vec![serde_json::to_value(&area).unwrap(), json!(ids.join("\n"))],
    )
    .await
    .unwrap();
    submit(&c, "register", "ok").await;
    assert!(text(&c, "users").await.contains("Users (1000)"));

    // Rules with the builder, then "try it".
    submit_confirmed(&c, "switch", "ok").await;
    add_rule(&c, "germany", &[("country", "EQ", "DE")]).await;
    assert!(text(&c, "rules-table").await.contains("country EQ DE"));
    add_rule(
        &c,
        "pros",
        &[("plan", "IN", "pro, team"), ("country", "EQ", "AT")],
    )
    .await;
    let rules = text(&c, "rules-table").await;
    assert!(
        rules.contains("IF plan IN 2 pro team AND country EQ AT"),
        "{rules}"
    );
    click(&c, "button[aria-label='Move rule pros up']", "ok").await;
    let rules = text(&c, "rules-table").await;
    assert!(rules.find("pros") < rules.find("germany"), "{rules}");
    click(&c, "a[aria-label='Edit rule pros']", "editing-rule").await;
    assert_eq!(text(&c, "editing-rule").await, "pros");
    let values = c
        .find(Locator::Id("cond-values-0"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(values.as_deref(), Some("pro, team"));
    shot(&c, "rule-builder.png").await;
    click(&c, "#cancel-edit", "rule-form").await;
    assert_eq!(text(&c, "rule-form-title").await, "Add a rule");
    // A refused rule says why where it was typed, and keeps it.
    set(&c, "rule-name", "old").await;
    set(&c, "cond-attr-0", "version").await;
    choose(&c, "cond-op-0", "SEMVER_GE").await;
    set(&c, "cond-values-0", "not-a-version").await;
    submit(&c, "save-rule", "rule-error").await;
    assert!(text(&c, "rule-error").await.starts_with("Not saved"));
    let typed = c
        .find(Locator::Id("cond-values-0"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(typed.as_deref(), Some("not-a-version"));
    set(&c, "try-id", "someone").await;
    set(&c, "try-attrs", "country=DE").await;
    submit(&c, "try-button", "try-result").await;
    let answer = text(&c, "try-result").await;
    assert!(
        answer.contains("on") && answer.contains("rule") && answer.contains("germany"),
        "{answer}"
    );
    set(&c, "try-id", "id-7").await;
    c.find(Locator::Id("try-attrs"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    submit(&c, "try-button", "try-result").await;
    assert!(text(&c, "try-result")
        .await
        .contains("this id is registered"));
    set(&c, "try-attrs", "country: DE").await;
    submit(&c, "try-button", "try-attrs-error").await;
    assert!(text(&c, "try-attrs-error").await.contains("not attr=value"));

    // A ramp: the state says where it is; setting a percentage asks first.
    let hour = 3_600_000;
    for (id, value) in [
        ("ramp-from", "10".to_owned()),
        ("ramp-to", "100".to_owned()),
        ("ramp-start", (now_ms() - hour).to_string()),
        ("ramp-end", (now_ms() + hour).to_string()),
    ] {
        set(&c, id, &value).await;
    }
    submit(&c, "set-ramp", "ok").await;
    let state = text(&c, "ramp-state").await;
    assert!(state.starts_with("ramping 10 % → 100 %, now "), "{state}");
    set(&c, "percentage-input", "25").await;
    let question = submit_confirmed(&c, "set-percentage", "ok").await;
    assert!(
        question.contains("ends the ramp from 10 % to 100 %"),
        "{question}"
    );
    assert_eq!(text(&c, "percentage").await, "25 %");

    // The history names the UI user.
    let history = text(&c, "history").await;
    assert!(history.contains("alice via hanoi-web"), "{history}");
    assert!(history.contains("percentage 0 % → 25 %"), "{history}");
    assert!(history.contains("registered 1,000 ids"), "{history}");
    assert!(
        history.contains("rule germany set: If country is DE: on for all of them."),
        "{history}"
    );
    shot(&c, "flag.png").await;

    // A user's view: every flag's answer for one id.
    click(&c, "#user-view", "user-form").await;
    set(&c, "user-id", "someone").await;
    set(&c, "user-attrs", "country=DE").await;
    submit(&c, "user-button", "user-answers").await;
    let answers = text(&c, "user-answers").await;
    assert!(
        answers.contains("checkout") && answers.contains("rule germany matched"),
        "{answers}"
    );
    shot(&c, "user.png").await;

    // A phone's width: nothing scrolls sideways.
    c.set_window_size(390, 844).await.unwrap();
    for path in [
        format!("/f/{}", harness::hex(b"checkout")),
        "/flags/new".to_owned(),
        "/flags".to_owned(),
        format!("/f/{}/ids?list=users", harness::hex(b"checkout")),
        "/user?id=someone&attrs=country%3DDE".to_owned(),
    ] {
        c.goto(&web.url(&path)).await.unwrap();
        let wide = sticking_out(&c).await;
        assert!(wide.is_empty(), "{path} scrolls sideways at 390 px: {wide}");
    }
    c.goto(&web.url(&format!("/f/{}", harness::hex(b"checkout"))))
        .await
        .unwrap();
    shot(&c, "flag-phone.png").await;
    c.set_window_size(1280, 1000).await.unwrap();

    // A flag named like markup shows as text: no alert, no element.
    let evil = "<img src=x onerror=alert(1)>";
    create_flag(&c, &web, evil).await;
    assert_eq!(
        text(&c, "flag-title")
            .await
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        evil
    );
    c.goto(&web.url("/flags")).await.unwrap();
    assert!(c.get_alert_text().await.is_err(), "an alert opened");
    let imgs = c
        .execute("return document.querySelectorAll('img').length;", vec![])
        .await
        .unwrap();
    assert_eq!(imgs, json!(0));
    assert!(text(&c, "flags").await.contains("The new checkout flow"));
    let link = c
        .find(Locator::LinkText(evil))
        .await
        .expect("the name as a link's text");
    assert_eq!(link.text().await.unwrap(), evil);
    shot(&c, "flags.png").await;

    // Two sessions edit one flag: the second save is refused.
    let d = driver.browser().await;
    d.set_window_size(390, 844).await.unwrap();
    d.goto(&web.url("/login")).await.unwrap();
    let wide = sticking_out(&d).await;
    assert!(
        wide.is_empty(),
        "the login scrolls sideways at 390 px: {wide}"
    );
    d.set_window_size(1280, 1000).await.unwrap();
    login(&d, &web, ALICE).await;
    let page = web.url(&format!("/f/{}", harness::hex(b"checkout")));
    c.goto(&page).await.unwrap();
    d.goto(&page).await.unwrap();
    set(&c, "percentage-input", "30").await;
    submit(&c, "set-percentage", "ok").await;
    set(&d, "percentage-input", "60").await;
    submit(&d, "set-percentage", "conflict").await;
    let conflict = text(&d, "conflict").await;
    assert!(conflict.contains("Not saved"), "{conflict}");
    assert!(conflict.contains("percentage set to 30 %"), "{conflict}");
    assert_eq!(text(&d, "percentage").await, "30 %");
    shot(&d, "conflict.png").await;

    // A viewer finds no way to write.
    d.find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    d.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("login"))
        .await
        .unwrap();
    login(&d, &web, VICTOR).await;
    assert!(d.find(Locator::Id("new-flag")).await.is_err());
    d.goto(&page).await.unwrap();
    assert!(text(&d, "flag-title").await.contains("checkout"));
    for form in d.find_all(Locator::Css("form")).await.unwrap() {
        let method = form.attr("method").await.unwrap().unwrap_or_default();
        let action = form.attr("action").await.unwrap().unwrap_or_default();
        assert!(
            method != "post" || action == "/logout",
            "a viewer can post to {action}"
        );
    }
    for id in [
        "switch",
        "percentage-form",
        "rule-form",
        "users-add-form",
        "delete-form",
    ] {
        assert!(
            d.find(Locator::Id(id)).await.is_err(),
            "a viewer sees #{id}"
        );
    }
    shot(&d, "viewer.png").await;

    d.close().await.unwrap();
    c.close().await.unwrap();
}

/// `web/tests/js`'s packages, installed once into `target/web-npm` with
/// `npm ci` (the versions pinned by its package-lock.json).
fn npm_packages(npm: &std::path::Path) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/web-npm");
    std::fs::create_dir_all(&dir).expect("target/web-npm");
    let lock = std::fs::read(src.join("package-lock.json")).expect("package-lock.json");
    let fresh = std::fs::read(dir.join("package-lock.json")).ok().as_deref() == Some(&lock[..])
        && dir
            .join("node_modules/@openfeature/ofrep-web-provider/package.json")
            .exists();
    if !fresh {
        std::fs::copy(src.join("package.json"), dir.join("package.json"))
            .expect("copy package.json");
        std::fs::write(dir.join("package-lock.json"), &lock).expect("copy package-lock.json");
        // Twice at most: a registry's hiccup is not the test's failure.
        let installed = (0..2).any(|_| {
            Command::new(npm)
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("run npm ci")
                .success()
        });
        assert!(installed, "npm ci failed");
    }
    dir.join("node_modules/@openfeature")
}

/// A page from another origin that loads OpenFeature's web SDK and OFREP
/// web provider as ES modules (an import map, no bundler) and evaluates
/// flags through hanoi-web; it writes what it got into `#done`.
fn sdk_page(base: &str, key: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>OpenFeature web SDK</title>
<script type="importmap">{{"imports": {{
  "@openfeature/core": "/m/core/dist/esm/index.js",
  "@openfeature/web-sdk": "/m/web-sdk/dist/esm/index.js",
  "@openfeature/ofrep-core": "/m/ofrep-core/index.esm.js",
  "@openfeature/ofrep-web-provider": "/m/ofrep-web-provider/index.esm.js"
}}}}</script></head><body>
<script type="module">
import {{ OpenFeature }} from '@openfeature/web-sdk';
import {{ OFREPWebProvider }} from '@openfeature/ofrep-web-provider';
const out = {{}};
try {{
  const provider = new OFREPWebProvider({{ baseUrl: {base:?}, headers: [['X-API-Key', {key:?}]] }});
  await OpenFeature.setProviderAndWait(provider, {{ targetingKey: 'u2', country: 'DE' }});
  const c = OpenFeature.getClient();
  const pick = (d) => ({{ value: d.value, reason: d.reason, variant: d.variant ?? null, errorCode: d.errorCode ?? null }});
  out.targeted = pick(c.getBooleanDetails('targeted', false));
  out.colour = pick(c.getStringDetails('colour', 'grey'));
  out.colourOff = pick(c.getStringDetails('colour-off', 'grey'));
  out.missing = pick(c.getBooleanDetails('missing', true));
  out.limit = pick(c.getNumberDetails('limit', 0));
  out.ratio = pick(c.getNumberDetails('ratio', 0));
  out.layout = pick(c.getObjectDetails('layout', {{}}));
  out.limitOff = pick(c.getNumberDetails('limit-off', 0));
  out.colourAsNumber = pick(c.getNumberDetails('colour', 7));
  out.limitAsBoolean = pick(c.getBooleanDetails('limit', false));
  out.layoutAsString = pick(c.getStringDetails('layout', 'plain'));
}} catch (e) {{
  out.error = String(e);
}}
const done = document.createElement('pre');
done.id = 'done';
done.textContent = JSON.stringify(out);
document.body.append(done);
</script></body></html>"#
    )
}

#[tokio::test]
async fn openfeature_web_sdk_in_the_browser() {
    let (Some(driver_path), Some(npm)) = (find_on_path("chromedriver"), find_on_path("npm")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the browser tests: install chromium, chromium-driver and npm"
        );
        eprintln!("SKIPPED openfeature_web_sdk_in_the_browser: no chromedriver or npm on the PATH");
        return;
    };
    let modules = npm_packages(&npm);
    let redis = Redis::start(&[]);
    harness::define_ofrep_flags(&redis);
    // Typed values: an integer, a float, an object, and an off number flag
    // with a DEFAULT variant.
    for c in [
        "HANOI.DEFINE limit PERCENTAGE 100 VARIANTS 1 ten VALUES 10",
        "HANOI.DEFINE ratio PERCENTAGE 100 VARIANTS 1 half VALUES 0.5",
        r#"HANOI.DEFINE layout PERCENTAGE 100 VARIANTS 1 grid VALUES {"columns":2,"promo":true}"#,
        "HANOI.DEFINE limit-off DISABLED VARIANTS 2 ten five VALUES 10 5 DEFAULT five",
    ] {
        let words: Vec<&[u8]> = c.split(' ').map(str::as_bytes).collect();
        redis.cmd(&words);
    }

    // The app's own origin: a static server for the page and the modules.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_origin = format!("http://{}", listener.local_addr().unwrap());
    let web = Web::start_with(&redis, &format!("cors_origins = [{app_origin:?}]"));
    let page = sdk_page(&web.base, harness::ALL_KEY);
    let files = modules.clone();
    let router = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(page) }),
        )
        .route(
            "/m/{*path}",
            axum::routing::get(
                move |axum::extract::Path(path): axum::extract::Path<String>| async move {
                    if path.split('/').any(|p| p == "..") {
                        return Err(axum::http::StatusCode::NOT_FOUND);
                    }
                    let body = std::fs::read(files.join(&path))
                        .map_err(|_| axum::http::StatusCode::NOT_FOUND)?;
                    Ok((
                        [(axum::http::header::CONTENT_TYPE, "text/javascript")],
                        body,
                    ))
                },
            ),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let driver = Driver::start(&driver_path);
    let c = driver.browser().await;
    c.goto(&format!("{app_origin}/")).await.unwrap();
    let done = c
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("done"))
        .await
        .expect("the page's results");
    let got: serde_json::Value = serde_json::from_str(&done.text().await.unwrap()).unwrap();
    assert!(got.get("error").is_none(), "{got}");
    assert_eq!(got["targeted"]["value"], true, "{got}");
    assert_eq!(got["targeted"]["reason"], "TARGETING_MATCH");
    assert_eq!(got["colour"]["value"], "blue");
    assert_eq!(got["colour"]["variant"], "blue");
    assert_eq!(
        got["colourOff"]["value"], "grey",
        "an off string flag: the code default"
    );
    assert_eq!(got["colourOff"]["reason"], "DISABLED");
    assert_eq!(got["missing"]["value"], true);
    assert_eq!(got["missing"]["errorCode"], "FLAG_NOT_FOUND");
    // Typed values, as the SDK's typed getters see them.
    assert_eq!(got["limit"]["value"], 10, "{got}");
    assert_eq!(got["limit"]["variant"], "ten");
    assert_eq!(got["limit"]["reason"], "STATIC");
    assert_eq!(got["ratio"]["value"], 0.5);
    assert_eq!(
        got["layout"]["value"],
        serde_json::json!({"columns": 2, "promo": true})
    );
    assert_eq!(got["limitOff"]["value"], 5, "the DEFAULT variant's value");
    assert_eq!(got["limitOff"]["variant"], "five");
    assert_eq!(got["limitOff"]["reason"], "DISABLED");
    for (name, default) in [
        ("colourAsNumber", serde_json::json!(7)),
        ("limitAsBoolean", serde_json::json!(false)),
        ("layoutAsString", serde_json::json!("plain")),
    ] {
        assert_eq!(got[name]["value"], default, "{name}: {got}");
        assert_eq!(got[name]["errorCode"], "TYPE_MISMATCH", "{name}: {got}");
    }
    c.close().await.unwrap();
}

/// Environments, as a person clicks through them: the list's column per
/// environment, a flag's tab for the protected production (its name typed
/// before the switch), the comparison, a copy back to staging.
#[tokio::test]
async fn environments_in_a_real_browser() {
    let Some(driver_path) = chromedriver("environments_in_a_real_browser") else {
        return;
    };
    let staging = Redis::start(&[]);
    let production = Redis::start(&[]);
    staging.cmd(&[b"HANOI.DEFINE", b"checkout", b"PERCENTAGE", b"50"]);
    staging.cmd(&[b"HANOI.META", b"checkout", b"SET", b"owner", b"payments"]);
    production.cmd(&[
        b"HANOI.DEFINE",
        b"checkout",
        b"DISABLED",
        b"PERCENTAGE",
        b"5",
    ]);
    let config = two_envs(&staging, &production, "protected = true");
    let web = Web::start_with(&staging, &config);
    let driver = Driver::start(&driver_path);
    let c = driver.browser().await;
    login(&c, &web, ALICE).await;
    let cells = c
        .find_all(Locator::Css("#flags td.env-state"))
        .await
        .unwrap();
    assert_eq!(cells.len(), 2);
    assert!(cells[1].text().await.unwrap().contains("5 %"));
    shot(&c, "environments-list.png").await;

    // The flag in staging, then its production tab.
    click(&c, "#flags td.name a", "env-tabs").await;
    assert!(text(&c, "switch").await.contains("in staging"));
    click(&c, "#env-tabs a.tab", "flag-title").await;
    assert!(text(&c, "flag-env").await.contains("production"));
    assert!(text(&c, "switch").await.contains("Switch on in production"));
    // Protected, and a typo in its name (issue 33): the percentage comes
    // back at its form, the percentage and the typo kept; corrected there,
    // it saves.
    set(&c, "confirm-env-page", "prodution").await;
    set(&c, "percentage-input", "33").await;
    submit(&c, "set-percentage", "percentage-error").await;
    assert!(text(&c, "percentage-error")
        .await
        .contains("is not its name"));
    let value = |css: &'static str| {
        let c = c.clone();
        async move {
            c.find(Locator::Css(css))
                .await
                .unwrap()
                .prop("value")
                .await
                .unwrap()
                .unwrap_or_default()
        }
    };
    assert_eq!(value("#percentage-input").await, "33");
    assert_eq!(
        value("#percentage-form input[name=confirm_env]").await,
        "prodution"
    );
    let own = c
        .find(Locator::Css("#percentage-form input[name=confirm_env]"))
        .await
        .unwrap();
    own.clear().await.unwrap();
    own.send_keys("production").await.unwrap();
    submit(&c, "set-percentage", "ok").await;
    assert!(text(&c, "percentage").await.contains("33 %"));
    // Protected: the name typed, then the switch (and its confirmation).
    // One confirmation field for the page, sent with the form saved.
    c.find(Locator::Css("#confirm-env-page"))
        .await
        .unwrap()
        .send_keys("production")
        .await
        .unwrap();
    submit_confirmed(&c, "switch", "ok").await;
    assert!(text(&c, "flag-title").await.contains("on"));

    // Compare with staging; copy production's definition back to staging.
    click(&c, "#compare-staging", "compare").await;
    assert!(text(&c, "differences").await.contains("difference"));
    shot(&c, "environments-compare.png").await;
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css("#copy-to-staging button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let question = c.get_alert_text().await.expect("a confirmation");
    assert!(question.contains("to staging"), "{question}");
    c.accept_alert().await.unwrap();
    arrived(&c, old, "ok").await;
    assert!(text(&c, "ok").await.contains("Copied from production"));
    assert!(text(&c, "percentage").await.contains("33"));
    c.close().await.unwrap();
}

/// A Chrome DevTools command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp(&'static str, serde_json::Value);

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({"cmd": self.0, "params": self.1});
        (http::Method::POST, Some(body.to_string()))
    }
}

/// A phone's viewport (`width` CSS px), by device-metrics emulation: a
/// headless window is not made narrower than about 500 px.
async fn phone(c: &Client, width: u32) {
    c.issue_cmd(Cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    ))
    .await
    .expect("Emulation.setDeviceMetricsOverride");
}

async fn desktop(c: &Client) {
    c.issue_cmd(Cdp("Emulation.clearDeviceMetricsOverride", json!({})))
        .await
        .expect("Emulation.clearDeviceMetricsOverride");
}

/// Clicks what `css` finds, accepts the confirmation it asks, and waits
/// for `then`: the question.
async fn click_confirmed(c: &Client, css: &str, then: &str) -> String {
    let old = c.find(Locator::Css("html")).await.unwrap();
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"))
        .click()
        .await
        .unwrap();
    let question = c.get_alert_text().await.expect("a confirmation");
    c.accept_alert().await.unwrap();
    arrived(c, old, then).await;
    question
}

/// The `value` of the input `css` finds.
async fn value_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"))
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}

/// Types into the input `css` finds (what was there cleared).
async fn type_in(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// A same-origin download, fetched by the page (the session's cookie
/// with it): its status and body.
async fn download(c: &Client, path: &str) -> (u64, String, String) {
    let got = c
        .execute_async(
            "var done = arguments[arguments.length - 1];
             fetch(arguments[0]).then(function (r) {
               return r.text().then(function (t) {
                 done([r.status, r.headers.get('content-type') || '', t]);
               });
             }).catch(function (e) { done([0, '', String(e)]); });",
            vec![json!(path)],
        )
        .await
        .expect("fetch in the page");
    (
        got[0].as_u64().unwrap(),
        got[1].as_str().unwrap().to_owned(),
        got[2].as_str().unwrap().to_owned(),
    )
}

fn pct(redis: &Redis, key: &[u8]) -> redis::Value {
    flag_field(redis, key, "percentage")
}

const BOB: (&str, &str) = ("bob", "bob-password-1");

/// Proposes a percentage for `checkout` in production as `c` (the page's
/// confirmation typed): lands on the list, saying which request it is.
async fn propose(c: &Client, web: &Web, pct: &str, comment: &str) -> String {
    c.goto(&web.url(&format!("/f/{}?env=production", harness::hex(b"checkout"))))
        .await
        .unwrap();
    set(c, "confirm-env-page", "production").await;
    set(c, "percentage-input", pct).await;
    type_in(c, "#percentage-form input[name=comment]", comment).await;
    submit(c, "set-percentage", "ok").await;
    text(c, "ok").await
}

/// Approves request `id` in production as `c`: the message it ends with.
async fn approve(c: &Client, web: &Web, id: u32) -> String {
    c.goto(&web.url("/requests?env=production")).await.unwrap();
    set(c, "confirm-env-page", "production").await;
    let question = click_confirmed(c, &format!("#approve-{id} button"), "ok").await;
    assert!(question.contains(&format!("#{id}")), "{question}");
    text(c, "ok").await
}

/// Issue 33 as people click through it: two Redis servers (staging, and a
/// protected production with `approvals = 1`), two writers (alice, bob),
/// two browser sessions.
#[tokio::test]
async fn change_requests_and_the_audit_in_a_real_browser() {
    let Some(driver_path) = chromedriver("change_requests_and_the_audit_in_a_real_browser") else {
        return;
    };
    let staging = Redis::start(&[]);
    let production = Redis::start(&[]);
    staging.cmd(&[b"HANOI.DEFINE", b"checkout", b"PERCENTAGE", b"50"]);
    staging.cmd(&[b"HANOI.DEFINE", b"fresh", b"PERCENTAGE", b"40"]);
    production.cmd(&[b"HANOI.DEFINE", b"checkout", b"PERCENTAGE", b"10"]);
    let config = two_envs(&staging, &production, "protected = true\napprovals = 1")
        + &format!(
            "\n[[user]]\nname = \"{}\"\npassword_hash = \"{}\"\nrole = \"admin\"\n",
            BOB.0,
            harness::hash_password(BOB.1)
        );
    let web = Web::start_with(&staging, &config);
    let driver = Driver::start(&driver_path);
    let a = driver.browser().await;
    let b = driver.browser().await;
    login(&a, &web, ALICE).await;
    login(&b, &web, BOB).await;

    // 1. alice's change in production is a request, nothing written.
    let ok = propose(&a, &web, "20", "more traffic, step 2").await;
    assert!(ok.contains("Change request #1 proposed"), "{ok}");
    assert_eq!(pct(&production, b"checkout"), redis::Value::Int(10));
    let card = text(&a, "request-1").await;
    assert!(
        card.contains("more traffic, step 2")
            && card.contains("HANOI.PERCENTAGE checkout 20")
            && card.contains("percentage 10 % → 20 %"),
        "{card}"
    );
    // Her own: no approve button, the card says why; posted anyway (the
    // withdraw form, as an approval), the list says it is refused.
    assert!(a.find(Locator::Id("approve-1")).await.is_err());
    let own = text(&a, "own-1").await;
    assert!(own.contains("another writer"), "{own}");
    set(&a, "confirm-env-page", "production").await;
    let old = a.find(Locator::Css("html")).await.unwrap();
    a.execute(
        "var f = document.getElementById('reject-1');
         f.elements['decision'].value = 'approve';
         f.requestSubmit();",
        vec![],
    )
    .await
    .unwrap();
    arrived(&a, old, "refused").await;
    let refused = text(&a, "refused").await;
    assert!(
        refused.contains("another writer must approve it"),
        "{refused}"
    );
    assert_eq!(pct(&production, b"checkout"), redis::Value::Int(10));
    // bob approves: applied.
    let ok = approve(&b, &web, 1).await;
    assert!(ok.contains("Approved and applied"), "{ok}");
    assert_eq!(pct(&production, b"checkout"), redis::Value::Int(20));
    let card = text(&b, "request-1").await;
    assert!(
        card.contains("Proposed by alice") && card.contains("Approved by bob"),
        "{card}"
    );
    let history = format!("{:?}", production.cmd(&[b"HANOI.HISTORY", b"checkout"]));
    // The history names the proposer, the request and its approver.
    assert!(history.contains("hanoi-web:alice:cr-1:by-bob"), "{history}");
    b.goto(&web.url(&format!("/f/{}?env=production", harness::hex(b"checkout"))))
        .await
        .unwrap();
    let history = text(&b, "history").await;
    assert!(
        history.contains("alice via hanoi-web (change request #1, approved by bob)")
            && history.contains("percentage 10 % → 20 %"),
        "{history}"
    );

    // 2. A stale request: the flag changed meanwhile (redis-cli).
    let ok = propose(&a, &web, "30", "step 3").await;
    assert!(ok.contains("#2"), "{ok}");
    production.cmd(&[b"HANOI.PERCENTAGE", b"checkout", b"5"]);
    let ok = approve(&b, &web, 2).await;
    assert!(ok.contains("the flag changed"), "{ok}");
    assert!(text(&b, "request-2").await.contains("stale"));
    assert_eq!(pct(&production, b"checkout"), redis::Value::Int(5));

    // 3. A pending request survives a restart of hanoi-web.
    let ok = propose(&a, &web, "40", "before the restart").await;
    assert!(ok.contains("#3"), "{ok}");
    drop(web);
    let web = Web::start_with(&staging, &config);
    login(&a, &web, ALICE).await;
    login(&b, &web, BOB).await;
    a.goto(&web.url("/requests?env=production")).await.unwrap();
    let pending = text(&a, "pending").await;
    assert!(
        pending.contains("#3") && pending.contains("before the restart"),
        "{pending}"
    );
    shot(&a, "requests.png").await;

    // 4. The audit: the applied change with its comment; both exports.
    a.goto(&web.url("/audit?env=production")).await.unwrap();
    let audit = text(&a, "audit").await;
    assert!(
        audit.contains("HANOI.PERCENTAGE checkout 20") && audit.contains("more traffic, step 2"),
        "{audit}"
    );
    assert!(
        !audit.contains("checkout 30"),
        "stale: not applied: {audit}"
    );
    shot(&a, "audit.png").await;
    let jsonl = a
        .find(Locator::Id("export-jsonl"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("the JSON lines link");
    let (status, _, body) = download(&a, &jsonl).await;
    assert_eq!(status, 200, "{body}");
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let entry = lines
        .iter()
        // What changed: before → after in words, then the commands.
        .find(|l| l["what"] == "percentage 10 % → 20 %: HANOI.PERCENTAGE checkout 20")
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(entry["user"], "alice");
    assert_eq!(entry["comment"], "more traffic, step 2");
    assert_eq!(entry["request"], "1");
    assert_eq!(entry["approvers"], "bob");
    let csv = a
        .find(Locator::Id("export-csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("the CSV link");
    let (status, kind, body) = download(&a, &csv).await;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("text/csv"), "{kind}");
    let rows = parse_csv(&body);
    assert_eq!(
        rows[0][..6],
        ["id", "time", "user", "flag", "what", "comment"]
    );
    assert!(
        rows.iter().skip(1).any(|r| r[2] == "alice"
            && r[4] == "percentage 10 % → 20 %: HANOI.PERCENTAGE checkout 20"
            && r[5] == "more traffic, step 2"
            && r[7] == "bob"),
        "{rows:?}"
    );

    // 5. A copy to production of a flag new there: off unless ticked; a
    // request, approved by bob; it arrives off.
    a.goto(&web.url(&format!(
        "/f/{}/compare?env=staging&with=production",
        harness::hex(b"fresh")
    )))
    .await
    .unwrap();
    assert!(text(&a, "copy-new-production")
        .await
        .contains("switched off"));
    let switch = a
        .find(Locator::Css("#copy-to-production input[name=copy_switch]"))
        .await
        .unwrap();
    assert!(!switch.is_selected().await.unwrap(), "the switch is ticked");
    type_in(
        &a,
        "#copy-to-production input[name=confirm_env]",
        "production",
    )
    .await;
    type_in(
        &a,
        "#copy-to-production input[name=comment]",
        "ship it dark",
    )
    .await;
    shot(&a, "copy.png").await;
    let question = click_confirmed(&a, "#copy-to-production button[type=submit]", "ok").await;
    assert!(question.contains("to production"), "{question}");
    let ok = text(&a, "ok").await;
    assert!(ok.contains("#4"), "{ok}");
    assert_eq!(production.cmd(&[b"EXISTS", b"fresh"]), redis::Value::Int(0));
    let ok = approve(&b, &web, 4).await;
    assert!(ok.contains("Approved and applied"), "{ok}");
    let got = production.cmd(&[b"HANOI.GET", b"fresh"]);
    assert_eq!(
        reply_field(&got, "enabled"),
        redis::Value::Int(0),
        "{got:?}"
    );
    assert_eq!(reply_field(&got, "percentage"), redis::Value::Int(40));

    // 6. Drafts kept: a mistyped environment name comes back with what
    // was typed in its fields.
    a.goto(&web.url(&format!("/f/{}?env=production", harness::hex(b"checkout"))))
        .await
        .unwrap();
    set(&a, "confirm-env-page", "prodution").await;
    type_in(&a, "#meta-form input[name=description]", "the new checkout").await;
    type_in(&a, "#meta-form input[name=comment]", "describe it").await;
    click(&a, "#meta-form button[type=submit]", "meta-error").await;
    assert!(text(&a, "meta-error").await.contains("is not its name"));
    assert_eq!(
        value_of(&a, "#meta-form input[name=description]").await,
        "the new checkout"
    );
    assert_eq!(
        value_of(&a, "#meta-form input[name=comment]").await,
        "describe it"
    );
    assert_eq!(
        value_of(&a, "#meta-form input[name=confirm_env]").await,
        "prodution"
    );
    let get = format!("{:?}", production.cmd(&[b"HANOI.GET", b"checkout"]));
    assert!(!get.contains("the new checkout"), "{get}");

    // 7. At 390 px: the list and the audit do not scroll sideways.
    phone(&a, 390).await;
    for path in ["/requests?env=production", "/audit?env=production"] {
        a.goto(&web.url(path)).await.unwrap();
        let width = a
            .execute("return window.innerWidth;", vec![])
            .await
            .unwrap();
        assert_eq!(width, json!(390), "the emulated width");
        let wide = sticking_out(&a).await;
        assert!(wide.is_empty(), "{path} scrolls sideways at 390 px: {wide}");
    }
    desktop(&a).await;

    b.close().await.unwrap();
    a.close().await.unwrap();
}

#[tokio::test]
async fn segments_and_prerequisites_in_a_real_browser() {
    let Some(driver_path) = chromedriver("segments_and_prerequisites_in_a_real_browser") else {
        return;
    };
    let redis = Redis::start(&[]);
    redis.cmd(&[b"HANOI.DEFINE", b"new_payments", b"PERCENTAGE", b"0"]);
    redis.cmd(&[b"HANOI.REGISTER", b"new_payments", b"USER", b"anna"]);
    let web = Web::start(&redis);
    let driver = Driver::start(&driver_path);
    let c = driver.browser().await;
    login(&c, &web, ALICE).await;

    // A segment, from the nav's Segments page; two members on its page.
    click(&c, "#segments-link", "segment-form").await;
    set(&c, "segment-name", "beta_testers").await;
    submit(&c, "create-segment", "segment-badge").await;
    set(&c, "users-add", "anna\nzed").await;
    submit(&c, "register", "ok").await;
    assert!(text(&c, "segment").await.contains("2 registered ids"));

    // A flag whose rule uses it, through the builder: typing `segment`
    // offers the segments' names.
    create_flag(&c, &web, "checkout").await;
    set(&c, "rule-name", "betas").await;
    type_in(&c, "#cond-attr-0", "segment").await;
    assert_eq!(
        c.find(Locator::Id("cond-values-0"))
            .await
            .unwrap()
            .attr("list")
            .await
            .unwrap()
            .as_deref(),
        Some("rule-segments")
    );
    choose(&c, "cond-op-0", "IN").await;
    set(&c, "cond-values-0", "beta_testers").await;
    submit(&c, "save-rule", "ok").await;
    assert!(text(&c, "rules-table")
        .await
        .contains("If the id is in one of the segments beta_testers: on for all of them."));

    // A prerequisite, with the picker.
    choose(&c, "prereq-key", "new_payments").await;
    submit(&c, "add-prereq", "ok").await;
    assert!(text(&c, "prereq-table").await.contains("new_payments"));

    // Try it explains both.
    set(&c, "try-id", "zed").await;
    submit(&c, "try-button", "try-result").await;
    let said = text(&c, "try-result").await;
    assert!(
        said.contains("off, because prerequisite new_payments is off for this user"),
        "{said}"
    );
    set(&c, "try-id", "anna").await;
    submit(&c, "try-button", "try-result").await;
    let said = text(&c, "try-result").await;
    assert!(said.contains("on, because rule betas matched"), "{said}");
    c.execute(
        "document.getElementById('prerequisites').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "prerequisites.png").await;

    // The Segments page: members, rules, the flag that uses it.
    click(&c, "#segments-link", "segments").await;
    let table = text(&c, "segments").await;
    assert!(
        table.contains("beta_testers") && table.contains("checkout"),
        "{table}"
    );
    shot(&c, "segments.png").await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn an_experiment_in_a_real_browser() {
    let Some(driver_path) = chromedriver("an_experiment_in_a_real_browser") else {
        return;
    };
    let redis = Redis::start(&[]);
    #[rustfmt::skip]
    redis.cmd(&[b"HANOI.DEFINE", b"checkout", b"PERCENTAGE", b"100", b"VARIANTS", b"2", b"one_page", b"two_pages"]);
    let web = Web::start(&redis);
    let driver = Driver::start(&driver_path);
    let c = driver.browser().await;
    login(&c, &web, ALICE).await;

    // From the flag's page to its experiment; started with the form.
    c.goto(&web.url("/f/636865636b6f7574")).await.unwrap();
    click(&c, "#experiment-link a", "start-form").await;
    choose(&c, "control", "one_page").await;
    set(&c, "metrics", "bought\nrevenue").await;
    submit(&c, "start-button", "ok").await;
    assert!(text(&c, "experiment-status").await.contains("running"));

    // Traffic: 600 ids exposed; two_pages converts more and spends more.
    for i in 0..600u64 {
        let id = format!("user-{i}");
        let redis::Value::Array(r) = redis.cmd(&[b"HANOI.ASSIGN", b"checkout", id.as_bytes()])
        else {
            panic!("ASSIGN");
        };
        let two = r[1] == redis::Value::BulkString(b"two_pages".to_vec());
        if i % if two { 4 } else { 6 } == 0 {
            redis.cmd(&[b"HANOI.TRACK", b"checkout", id.as_bytes(), b"bought"]);
            let v = (1500 + (i % 13) * 100).to_string();
            redis.cmd(&[
                b"HANOI.TRACK",
                b"checkout",
                id.as_bytes(),
                b"revenue",
                v.as_bytes(),
            ]);
        }
    }
    c.refresh().await.unwrap();
    c.wait()
        .for_element(Locator::Id("metric-0"))
        .await
        .expect("the results");
    let bought = text(&c, "metric-0").await;
    assert!(
        bought.contains("two_pages") && bought.contains("pp") && bought.contains("95 %"),
        "{bought}"
    );
    let revenue = text(&c, "metric-1").await;
    assert!(
        revenue.contains("Mean") || revenue.contains("MEAN"),
        "{revenue}"
    );
    assert!(text(&c, "results").await.contains("mean per exposed id"));
    c.find(Locator::Css("#exposures-chart svg rect"))
        .await
        .expect("bars in the chart");
    assert!(text(&c, "exposures-total").await.contains("600"));
    c.execute(
        "document.getElementById('results').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "experiment.png").await;
    c.close().await.unwrap();
}
