//! The OpenFeature Remote Evaluation Protocol (OFREP): single and bulk
//! evaluation over `HANOI.GET` + `HANOI.EXPLAIN`, pipelined.
//!
//! What an answer is:
//! - a flag without variants is a boolean flag: `value` is whether it is on
//!   for the context, `variant` is `"on"` or `"off"`;
//! - a flag with variants is a string flag: when it is on, `value` and
//!   `variant` are the variant; when it is off for the context there is no
//!   value (OFREP's "code default"): the application's default applies, with
//!   the reason telling why, and the variant is `""` (no variant has that
//!   name);
//! - reasons: `disabled`/`inactive` → `DISABLED`; `user`/`regex`/`rule`/
//!   `blocked` (a deny list is user targeting) → `TARGETING_MATCH`;
//!   `percentage` → `SPLIT`; `all` (100 %) → `STATIC`; `outside` → `DEFAULT`.
//! - an API key limited to a prefix: a flag outside it is `403` on the
//!   single endpoint and simply absent from the bulk answer.

use crate::store::{self, Explain, FlagView};
use crate::App;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn reply(status: StatusCode, body: Json) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn failure(status: StatusCode, key: Option<&str>, code: &str, details: &str) -> Response {
    let mut body = Map::new();
    if let Some(k) = key {
        body.insert("key".into(), json!(k));
    }
    body.insert("errorCode".into(), json!(code));
    body.insert("errorDetails".into(), json!(details));
    reply(status, Json::Object(body))
}

fn unavailable(key: Option<&str>) -> Response {
    failure(
        StatusCode::SERVICE_UNAVAILABLE,
        key,
        "GENERAL",
        "the flag store (Redis) is unreachable",
    )
}

/// The API key's prefix, or the refusal.
fn authorize(app: &App, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|h| h.to_str().ok()));
    let Some(given) = given.map(str::trim) else {
        return Err(Box::new(reply(
            StatusCode::UNAUTHORIZED,
            json!({"errorDetails": "an API key is required (Authorization: Bearer <key> or X-API-Key)"}),
        )));
    };
    for k in &app.config.api_key {
        if crate::auth::constant_eq(k.key.as_bytes(), given.as_bytes()) {
            return Ok(k.prefix.clone());
        }
    }
    Err(Box::new(reply(
        StatusCode::UNAUTHORIZED,
        json!({"errorDetails": "unknown API key"}),
    )))
}

/// The evaluation context: the id and the attributes for `WITH`.
struct Context {
    id: Option<String>,
    attrs: Vec<(String, String)>,
}

/// Reads the request body; the error is (status, code, details).
fn context(body: &[u8]) -> Result<Context, (StatusCode, &'static str, String)> {
    let parsed: Json = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| (StatusCode::BAD_REQUEST, "PARSE_ERROR", e.to_string()))?
    };
    let Json::Object(obj) = parsed else {
        return Err((
            StatusCode::BAD_REQUEST,
            "PARSE_ERROR",
            "the body must be a JSON object".into(),
        ));
    };
    let ctx = match obj.get("context") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => {
            return Err((
                StatusCode::BAD_REQUEST,
                "INVALID_CONTEXT",
                "context must be an object".into(),
            ))
        }
    };
    let mut id = None;
    let mut attrs = Vec::new();
    for (k, v) in ctx {
        let value = match v {
            Json::Null => continue,
            Json::String(s) => s,
            Json::Bool(b) => b.to_string(),
            Json::Number(n) => n.to_string(),
            Json::Array(_) | Json::Object(_) => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    "INVALID_CONTEXT",
                    format!("context field {k:?} is a list or an object; rules compare strings and numbers only"),
                ))
            }
        };
        if k == "targetingKey" {
            id = Some(value);
        } else if k == "id" {
            // The module's own `id` attribute is the targeting key.
            continue;
        } else {
            attrs.push((k, value));
        }
    }
    Ok(Context { id, attrs })
}

fn reason(module: &str) -> &'static str {
    match module {
        "disabled" | "inactive" => "DISABLED",
        "user" | "regex" | "rule" | "blocked" => "TARGETING_MATCH",
        "percentage" => "SPLIT",
        "all" => "STATIC",
        "outside" => "DEFAULT",
        _ => "UNKNOWN",
    }
}

fn metadata(flag: &FlagView) -> Json {
    let mut m = Map::new();
    for name in ["description", "owner", "tags"] {
        if let Some(v) = flag.meta(name) {
            m.insert(name.into(), json!(v));
        }
    }
    Json::Object(m)
}

/// Appends the commands that evaluate one flag: `HANOI.GET` unless its
/// description is cached, then `HANOI.EXPLAIN` when there is an id.
/// Returns how many were added.
fn queue(pipe: &mut redis::Pipeline, key: &[u8], ctx: &Context, get: bool) -> usize {
    let mut n = 0;
    if get {
        pipe.cmd("HANOI.GET").arg(key);
        n += 1;
    }
    let Some(id) = &ctx.id else {
        return n;
    };
    let explain = pipe.cmd("HANOI.EXPLAIN").arg(key).arg(id);
    if !ctx.attrs.is_empty() {
        explain.arg("WITH");
        for (k, v) in &ctx.attrs {
            explain.arg(k).arg(v);
        }
    }
    n + 1
}

/// What `HANOI.GET` said about a key.
#[derive(Clone)]
pub enum Shape {
    Flag(Arc<FlagView>),
    Missing,
    NotAFlag,
    Error(String),
}

fn shape_of(get: &redis::Value) -> Shape {
    if let redis::Value::ServerError(e) = get {
        if e.code() == "WRONGTYPE" {
            return Shape::NotAFlag;
        }
        return Shape::Error(format!("{} {}", e.code(), e.details().unwrap_or("")));
    }
    match FlagView::from_get(get) {
        Some(f) => Shape::Flag(Arc::new(f)),
        None => Shape::Missing,
    }
}

/// Flag descriptions (`HANOI.GET`: variants or not, metadata, switch) kept
/// for `ofrep_cache_ms` (default 1 s), and the bulk endpoint's list of flag
/// keys per prefix for as long: an answer's value and reason always come
/// from `HANOI.EXPLAIN` at that moment; a flag's type, metadata and the
/// list of flags follow changes within that time.
/// Entries by key, with the time each was stored.
type Timed<T> = HashMap<Vec<u8>, (Instant, T)>;

pub struct Cache {
    ttl: Duration,
    flags: std::sync::Mutex<Timed<Arc<FlagView>>>,
    keys: std::sync::Mutex<Timed<Arc<Vec<String>>>>,
}

impl Cache {
    pub fn new(ttl_ms: u64) -> Cache {
        Cache {
            ttl: Duration::from_millis(ttl_ms),
            flags: std::sync::Mutex::new(HashMap::new()),
            keys: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn flag(&self, key: &[u8]) -> Option<Arc<FlagView>> {
        let map = self.flags.lock().ok()?;
        map.get(key)
            .filter(|(t, _)| t.elapsed() < self.ttl)
            .map(|(_, f)| f.clone())
    }

    fn put_flag(&self, key: &[u8], f: &Arc<FlagView>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.flags.lock() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.insert(key.to_vec(), (Instant::now(), f.clone()));
        }
    }

    fn keys(&self, pattern: &[u8]) -> Option<Arc<Vec<String>>> {
        let map = self.keys.lock().ok()?;
        map.get(pattern)
            .filter(|(t, _)| t.elapsed() < self.ttl)
            .map(|(_, k)| k.clone())
    }

    fn put_keys(&self, pattern: &[u8], keys: &Arc<Vec<String>>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.keys.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(pattern.to_vec(), (Instant::now(), keys.clone()));
        }
    }
}

/// Evaluates keys: one pipeline per server with `HANOI.EXPLAIN` for each
/// (and `HANOI.GET` for those whose description is not cached).
async fn evaluate(
    app: &App,
    keys: &[Vec<u8>],
    ctx: &Context,
) -> Result<Vec<(Shape, Option<redis::Value>)>, redis::RedisError> {
    let cached: Vec<Option<Arc<FlagView>>> = keys.iter().map(|k| app.cache.flag(k)).collect();
    let index: HashMap<&[u8], usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_slice(), i))
        .collect();
    let replies = app
        .store
        .per_key(keys, |p, k| {
            let need_get = index.get(k).is_none_or(|&i| cached[i].is_none());
            queue(p, k, ctx, need_get)
        })
        .await?;
    let mut out = Vec::with_capacity(keys.len());
    for ((k, c), r) in keys.iter().zip(cached).zip(replies) {
        let mut r = r.into_iter();
        let shape = match c {
            Some(f) => Shape::Flag(f),
            None => {
                let shape = r.next().map_or(Shape::Missing, |v| shape_of(&v));
                if let Shape::Flag(f) = &shape {
                    app.cache.put_flag(k, f);
                }
                shape
            }
        };
        out.push((shape, r.next()));
    }
    Ok(out)
}

/// One flag's answer: (HTTP status, body).
fn answer(key: &str, shape: &Shape, explain: Option<&redis::Value>) -> (StatusCode, Json) {
    let err = |status, code: &str, details: String| {
        (
            status,
            json!({"key": key, "errorCode": code, "errorDetails": details}),
        )
    };
    let flag = match shape {
        Shape::Flag(f) => f,
        Shape::NotAFlag => {
            return err(
                StatusCode::NOT_FOUND,
                "FLAG_NOT_FOUND",
                format!("{key} is not a flag"),
            )
        }
        Shape::Missing => {
            return err(
                StatusCode::NOT_FOUND,
                "FLAG_NOT_FOUND",
                format!("flag {key} was not found"),
            )
        }
        Shape::Error(e) => return err(StatusCode::INTERNAL_SERVER_ERROR, "GENERAL", e.clone()),
    };
    let boolean = flag.variants.is_empty();
    let ex = match explain {
        Some(v) => match Explain::from_reply(v) {
            Some(e) => e,
            None => {
                if let redis::Value::ServerError(e) = v {
                    let text = format!("{} {}", e.code(), e.details().unwrap_or(""));
                    // The module refuses attributes with ERR; anything else
                    // (MOVED, LOADING, NOPERM, ...) is the server's state,
                    // not the client's context.
                    if e.code() == "ERR" {
                        return err(StatusCode::BAD_REQUEST, "INVALID_CONTEXT", text);
                    }
                    return err(StatusCode::SERVICE_UNAVAILABLE, "GENERAL", text);
                }
                return err(
                    StatusCode::NOT_FOUND,
                    "FLAG_NOT_FOUND",
                    format!("flag {key} was not found"),
                );
            }
        },
        // No id: only a flag switched off answers without one.
        None if !flag.enabled => Explain {
            enabled: false,
            variant: None,
            reason: "disabled".into(),
            detail: None,
            percentage: None,
        },
        None => {
            return err(
                StatusCode::BAD_REQUEST,
                "TARGETING_KEY_MISSING",
                "context.targetingKey (the id) is required to evaluate this flag".into(),
            )
        }
    };
    if ex.reason == "undefined" {
        return err(
            StatusCode::NOT_FOUND,
            "FLAG_NOT_FOUND",
            format!("flag {key} was not found"),
        );
    }
    let mut body = Map::new();
    body.insert("key".into(), json!(key));
    body.insert("reason".into(), json!(reason(&ex.reason)));
    if boolean {
        body.insert("value".into(), json!(ex.enabled));
        body.insert(
            "variant".into(),
            json!(if ex.enabled { "on" } else { "off" }),
        );
    } else if let (true, Some(v)) = (ex.enabled, &ex.variant) {
        let v = String::from_utf8_lossy(v).into_owned();
        body.insert("value".into(), json!(v));
        body.insert("variant".into(), json!(v));
    } else {
        // Off: no value (the code default applies) and the empty variant,
        // a name no flag can have (providers expect the field).
        body.insert("variant".into(), json!(""));
    }
    body.insert("metadata".into(), metadata(flag));
    (StatusCode::OK, Json::Object(body))
}

pub async fn evaluate_one(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prefix = match authorize(&app, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if !key.starts_with(&prefix) {
        return failure(
            StatusCode::FORBIDDEN,
            Some(&key),
            "GENERAL",
            "this API key may not evaluate this flag",
        );
    }
    let ctx = match context(&body) {
        Ok(c) => c,
        Err((status, code, details)) => return failure(status, Some(&key), code, &details),
    };
    let keys = [key.as_bytes().to_vec()];
    let (shape, explain) = match evaluate(&app, &keys, &ctx).await {
        Ok(mut r) => match r.pop() {
            Some(one) => one,
            None => return unavailable(Some(&key)),
        },
        Err(e) if store::is_unavailable(&e) => return unavailable(Some(&key)),
        Err(e) => {
            return failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(&key),
                "GENERAL",
                &store::error_text(&e),
            )
        }
    };
    let (status, body) = answer(&key, &shape, explain.as_ref());
    reply(status, body)
}

pub async fn evaluate_all(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let prefix = match authorize(&app, &headers) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let ctx = match context(&body) {
        Ok(c) => c,
        Err((status, code, details)) => {
            return reply(status, json!({"errorCode": code, "errorDetails": details}))
        }
    };
    let mut pattern = store::glob_escape(prefix.as_bytes());
    pattern.push(b'*');
    let keys = match app.cache.keys(&pattern) {
        Some(k) => k,
        None => match app.store.all_flags(&pattern).await {
            Ok(keys) => {
                // OFREP keys are JSON strings: names that are not UTF-8 are left out.
                let keys: Arc<Vec<String>> = Arc::new(
                    keys.into_iter()
                        .filter_map(|k| String::from_utf8(k).ok())
                        .collect(),
                );
                app.cache.put_keys(&pattern, &keys);
                keys
            }
            Err(e) if store::is_unavailable(&e) => return unavailable(None),
            Err(e) => {
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"errorDetails": store::error_text(&e)}),
                )
            }
        },
    };
    let raw: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    let results = match evaluate(&app, &raw, &ctx).await {
        Ok(r) => r,
        Err(e) if store::is_unavailable(&e) => return unavailable(None),
        Err(e) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"errorDetails": store::error_text(&e)}),
            )
        }
    };
    let mut flags = Vec::with_capacity(keys.len());
    for (k, (shape, explain)) in keys.iter().zip(&results) {
        let (status, body) = answer(k, shape, explain.as_ref());
        // A flag deleted since it was listed is simply gone.
        if status != StatusCode::NOT_FOUND {
            flags.push(body);
        }
    }
    let body = json!({ "flags": flags }).to_string();
    let etag = format!("\"{}\"", store::hex(&Sha256::digest(body.as_bytes())[..16]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// CORS for browser apps on the OFREP routes: a preflight (`OPTIONS`) is
/// answered here, and every answer names the allowed origin. Origins come
/// from the config's `cors_origins`; without it no CORS header is sent.
pub async fn cors(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let allowed = origin.filter(|o| {
        app.config
            .cors_origins
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(o))
    });
    let preflight = req.method() == axum::http::Method::OPTIONS;
    let mut resp = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let Some(o) = allowed.and_then(|o| header::HeaderValue::from_str(&o).ok()) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, header::HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::HeaderValue::from_static("ETag"),
        );
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                header::HeaderValue::from_static("POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                header::HeaderValue::from_static(
                    "Authorization, X-API-Key, Content-Type, If-None-Match",
                ),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                header::HeaderValue::from_static("600"),
            );
        }
    }
    resp
}
