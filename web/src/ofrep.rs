//! The OpenFeature Remote Evaluation Protocol (OFREP): single and bulk
//! evaluation over `HANOI.EXPORT key NOIDS` (read through hanoi-core) +
//! `HANOI.RESOLVE`, pipelined.
//!
//! What an answer is:
//! - a flag without variants is a boolean flag: `value` is whether it is on
//!   for the context, `variant` is `"on"` or `"off"`;
//! - a flag with variants serves the variant's value, typed (its name for a
//!   string flag without values; a number, a boolean, an object as the
//!   module keeps its JSON text); off for the context, the flag's DEFAULT
//!   variant's value, and without one no value (OFREP's "code default"):
//!   the application's default applies, with the reason telling why, and
//!   the variant is `""` (no variant has that name);
//! - no (or an empty) `targetingKey` is the module's keyless evaluation;
//!   `needs_id` (the answer depends on the id) is `TARGETING_KEY_MISSING`;
//! - reasons: `disabled`/`inactive` → `DISABLED`; `user`/`regex`/`rule`/
//!   `blocked` (a deny list is user targeting) → `TARGETING_MATCH`;
//!   `percentage` → `SPLIT`; `all` (100 %) → `STATIC`; `outside` → `DEFAULT`;
//!   `prerequisite` → `PREREQUISITE_FAILED` (off: the DEFAULT's value or
//!   none, no error code, the metadata's `prerequisite` names the one that
//!   failed); `error` (references past a bound) → OFREP's `GENERAL` error
//!   with the module's detail;
//! - segments are not features: the bulk answer leaves them out.
//! - an API key limited to a prefix: a flag outside it is `403` on the
//!   single endpoint and simply absent from the bulk answer.
//! - every error is an [`OfrepError`], rendered in OFREP's shapes: a single
//!   flag's error names its key (`{"key", "errorCode", "errorDetails"}`), a
//!   bulk request's error is `{"errorCode", "errorDetails"}`, a missing or
//!   unknown API key and the bulk endpoint's internal error are
//!   `{"errorDetails"}`.
//!
//! The bodies are serde structs below. Their fields are declared in
//! alphabetical order: serde_json's map sorts its keys, and the bytes (and
//! so the bulk answer's ETag) stay what they were when the bodies were built
//! as maps.

use crate::store;
use crate::App;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hanoi_core::{Description, Reason};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as JsonValue};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- the bodies --------------------------------------------------------------

/// A request's body, on both endpoints: `{"context": {...}}`, every field
/// optional (an empty body is an empty context).
#[derive(Deserialize, Default)]
struct EvaluationRequest {
    /// `targetingKey` (the id) and the attributes for `WITH`.
    #[serde(default)]
    context: Option<Map<String, JsonValue>>,
}

/// A flag's value: a boolean flag's on/off; otherwise the served variant's
/// value, its JSON text exactly as stored (a number keeps its digits).
#[derive(Serialize)]
#[serde(untagged)]
pub enum FlagValue {
    Bool(bool),
    Json(Box<serde_json::value::RawValue>),
}

/// The flag's metadata OFREP passes on: every `HANOI.META` field, as
/// strings (bytes that are not UTF-8 shown as U+FFFD), and `type`, the
/// flag's type: `boolean`, `string`, `number` or `object` (a metadata field
/// named `type` gives way to it). Sorted by name.
pub type Metadata = std::collections::BTreeMap<String, String>;

/// OFREP's `evaluationSuccess`. No `value` when a string flag is off for
/// the context: the code default applies.
#[derive(Serialize)]
pub struct EvaluationSuccess {
    key: String,
    metadata: Metadata,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<FlagValue>,
    variant: String,
}

/// One entry of the bulk answer: a flag's evaluation or its failure.
#[derive(Serialize)]
#[serde(untagged)]
enum BulkEntry {
    Success(EvaluationSuccess),
    Failure(ErrorBody),
}

/// OFREP's `bulkEvaluationSuccess`.
#[derive(Serialize)]
struct BulkResponse {
    flags: Vec<BulkEntry>,
}

/// OpenFeature's error codes, as OFREP sends them.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ParseError,
    TargetingKeyMissing,
    InvalidContext,
    FlagNotFound,
    General,
}

/// Every error body: with a key, OFREP's `evaluationFailure` or
/// `flagNotFound`; without one, its `bulkEvaluationFailure`; without a code
/// either, its `generalErrorResponse`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<ErrorCode>,
    error_details: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

// ---- the errors --------------------------------------------------------------

const UNREACHABLE: &str = "the flag store (Redis) is unreachable";

/// The largest request body (64 KiB): more is 413, before any Redis work.
pub const MAX_BODY: usize = 64 * 1024;
/// The most attributes a context may have: more is `INVALID_CONTEXT`.
pub const MAX_ATTRIBUTES: usize = 256;
/// OFREP requests evaluated at once; the others wait their turn...
pub const SLOTS: usize = 8;
/// ... at most this long, then 503.
const WAIT_FOR_SLOT: Duration = Duration::from_secs(5);

/// Every way an OFREP request or one flag's evaluation fails. `key` is the
/// flag's key on the single endpoint and for a flag in the bulk answer,
/// None for the bulk request as a whole.
#[derive(Debug)]
pub enum OfrepError {
    /// 401: no API key in the request.
    NoApiKey,
    /// 401: an API key the config does not know.
    UnknownApiKey,
    /// 403: the API key's prefix does not cover the flag.
    Forbidden { key: String },
    /// The path's flag key is not valid (400: not UTF-8 once decoded).
    /// `key` is the path's last segment as sent.
    BadPath {
        status: StatusCode,
        key: String,
        details: String,
    },
    /// The body could not be read; 413 when it is larger than the limit.
    Body {
        status: StatusCode,
        key: Option<String>,
        details: String,
    },
    /// 400: the body is not a JSON object.
    Parse {
        key: Option<String>,
        details: String,
    },
    /// 400: the context cannot be the module's attributes, or the module
    /// refused them.
    InvalidContext {
        key: Option<String>,
        details: String,
    },
    /// 400: the flag needs an id to be evaluated.
    TargetingKeyMissing { key: String },
    /// 404: no such flag (a key that is not a flag answers the same).
    NotFound { key: String, details: String },
    /// 503: Redis is unreachable, or answered with its state (MOVED,
    /// LOADING, NOPERM, ...) instead of an answer.
    Unavailable {
        key: Option<String>,
        details: String,
    },
    /// 500: Redis answered with an error.
    Internal {
        key: Option<String>,
        details: String,
    },
}

impl OfrepError {
    /// A Redis error: unreachable (503) or anything else (500).
    fn redis(e: &redis::RedisError, key: Option<&str>) -> OfrepError {
        let key = key.map(str::to_owned);
        if store::is_unavailable(e) {
            OfrepError::Unavailable {
                key,
                details: UNREACHABLE.into(),
            }
        } else {
            OfrepError::Internal {
                key,
                details: store::error_text(e),
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            OfrepError::NoApiKey | OfrepError::UnknownApiKey => StatusCode::UNAUTHORIZED,
            OfrepError::Forbidden { .. } => StatusCode::FORBIDDEN,
            OfrepError::BadPath { status, .. } | OfrepError::Body { status, .. } => *status,
            OfrepError::Parse { .. }
            | OfrepError::InvalidContext { .. }
            | OfrepError::TargetingKeyMissing { .. } => StatusCode::BAD_REQUEST,
            OfrepError::NotFound { .. } => StatusCode::NOT_FOUND,
            OfrepError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            OfrepError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(self) -> ErrorBody {
        let (code, details, key) = match self {
            OfrepError::NoApiKey => (
                None,
                "an API key is required (Authorization: Bearer <key> or X-API-Key)".into(),
                None,
            ),
            OfrepError::UnknownApiKey => (None, "unknown API key".into(), None),
            OfrepError::Forbidden { key } => (
                Some(ErrorCode::General),
                "this API key may not evaluate this flag".into(),
                Some(key),
            ),
            OfrepError::BadPath { key, details, .. } => {
                (Some(ErrorCode::General), details, Some(key))
            }
            OfrepError::Body { key, details, .. } => (Some(ErrorCode::General), details, key),
            OfrepError::Parse { key, details } => (Some(ErrorCode::ParseError), details, key),
            OfrepError::InvalidContext { key, details } => {
                (Some(ErrorCode::InvalidContext), details, key)
            }
            OfrepError::TargetingKeyMissing { key } => (
                Some(ErrorCode::TargetingKeyMissing),
                "context.targetingKey (the id) is required to evaluate this flag".into(),
                Some(key),
            ),
            OfrepError::NotFound { key, details } => {
                (Some(ErrorCode::FlagNotFound), details, Some(key))
            }
            OfrepError::Unavailable { key, details } => (Some(ErrorCode::General), details, key),
            // A flag's internal error has OFREP's GENERAL code; the whole
            // request's is OFREP's general error (details only).
            OfrepError::Internal { key, details } => {
                (key.is_some().then_some(ErrorCode::General), details, key)
            }
        };
        ErrorBody {
            error_code: code,
            error_details: details,
            key,
        }
    }

    /// The same error about the flag `key` (a request's error seen from the
    /// single endpoint).
    fn for_flag(self, key: &str) -> OfrepError {
        let k = Some(key.to_owned());
        match self {
            OfrepError::Body {
                status, details, ..
            } => OfrepError::Body {
                status,
                key: k,
                details,
            },
            OfrepError::Parse { details, .. } => OfrepError::Parse { key: k, details },
            OfrepError::InvalidContext { details, .. } => {
                OfrepError::InvalidContext { key: k, details }
            }
            OfrepError::Unavailable { details, .. } => OfrepError::Unavailable { key: k, details },
            OfrepError::Internal { details, .. } => OfrepError::Internal { key: k, details },
            other => other,
        }
    }
}

impl IntoResponse for OfrepError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

impl From<BytesRejection> for OfrepError {
    fn from(r: BytesRejection) -> OfrepError {
        OfrepError::Body {
            status: r.status(),
            key: None,
            details: r.body_text(),
        }
    }
}

/// `Path<String>`'s refusal (a key that is not UTF-8 once decoded), with
/// the key as the path sent it.
fn bad_path(uri: &Uri, r: &PathRejection) -> OfrepError {
    OfrepError::BadPath {
        status: r.status(),
        key: uri.path().rsplit('/').next().unwrap_or("").to_owned(),
        details: r.body_text(),
    }
}

// ---- the API key ---------------------------------------------------------------

/// The request's API key (`Authorization: Bearer <key>` or `X-API-Key`),
/// checked against the config: what the key may evaluate.
pub struct ApiKey {
    /// Flags whose key starts with this (empty: every flag).
    pub prefix: String,
    /// The one environment it evaluates in (an index of `App::envs`).
    pub env: usize,
}

impl FromRequestParts<Arc<App>> for ApiKey {
    type Rejection = OfrepError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<ApiKey, OfrepError> {
        let headers = &parts.headers;
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|h| h.to_str().ok()));
        let Some(given) = given.map(str::trim) else {
            return Err(OfrepError::NoApiKey);
        };
        for k in &app.config.api_key {
            if crate::auth::constant_eq(k.key.as_bytes(), given.as_bytes()) {
                // Checked at start: a named environment exists.
                let env = k
                    .environment
                    .as_deref()
                    .and_then(|e| app.env_index(e))
                    .unwrap_or(0);
                return Ok(ApiKey {
                    prefix: k.prefix.clone(),
                    env,
                });
            }
        }
        Err(OfrepError::UnknownApiKey)
    }
}

// ---- the context ---------------------------------------------------------------

/// The evaluation context: the id and the attributes for `WITH`.
struct Context {
    id: Option<String>,
    attrs: Vec<(String, String)>,
}

/// Reads a request's body (its errors name no flag: the single endpoint
/// adds its key).
fn context(body: &[u8]) -> Result<Context, OfrepError> {
    let request: EvaluationRequest = if body.iter().all(u8::is_ascii_whitespace) {
        EvaluationRequest::default()
    } else {
        let parsed: JsonValue = serde_json::from_slice(body).map_err(|e| OfrepError::Parse {
            key: None,
            details: e.to_string(),
        })?;
        if !parsed.is_object() {
            return Err(OfrepError::Parse {
                key: None,
                details: "the body must be a JSON object".into(),
            });
        }
        serde_json::from_value(parsed).map_err(|_| OfrepError::InvalidContext {
            key: None,
            details: "context must be an object".into(),
        })?
    };
    let mut id = None;
    let mut attrs = Vec::new();
    for (k, v) in request.context.unwrap_or_default() {
        let value = match v {
            JsonValue::Null => continue,
            JsonValue::String(s) => s,
            JsonValue::Bool(b) => b.to_string(),
            JsonValue::Number(n) => n.to_string(),
            JsonValue::Array(_) | JsonValue::Object(_) => {
                return Err(OfrepError::InvalidContext {
                    key: None,
                    details: format!("context field {k:?} is a list or an object; rules compare strings and numbers only"),
                })
            }
        };
        if k == "targetingKey" {
            // An empty targeting key is no targeting key (OpenFeature's, and
            // the Python provider's, reading).
            id = (!value.is_empty()).then_some(value);
        } else if k == "id" {
            // The module's own `id` attribute is the targeting key.
            continue;
        } else {
            attrs.push((k, value));
            if attrs.len() > MAX_ATTRIBUTES {
                return Err(OfrepError::InvalidContext {
                    key: None,
                    details: format!("a context has at most {MAX_ATTRIBUTES} attributes"),
                });
            }
        }
    }
    Ok(Context { id, attrs })
}

// ---- evaluating ----------------------------------------------------------------

/// A value's JSON text, as the module keeps it (checked JSON: anything
/// else, from a server this hanoi-web does not know, serves no value).
fn raw_json(text: Option<&[u8]>) -> Option<Box<serde_json::value::RawValue>> {
    let text = std::str::from_utf8(text?).ok()?;
    serde_json::value::RawValue::from_string(text.to_owned()).ok()
}

fn metadata(flag: &Description) -> Metadata {
    let mut m: Metadata = flag
        .metadata
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    m.insert("type".to_owned(), flag.value_type.as_str().to_owned());
    m
}

/// Appends the commands that evaluate one flag: `HANOI.EXPORT key NOIDS`
/// (its description, decoded by hanoi-core) unless it is cached, then
/// `HANOI.RESOLVE` (the answer, its value and reason, one evaluation) when
/// there is an id.
/// Returns how many were added.
fn queue(pipe: &mut redis::Pipeline, key: &[u8], ctx: &Context, get: bool) -> usize {
    let mut n = 0;
    if get {
        pipe.cmd("HANOI.EXPORT").arg(key).arg("NOIDS");
        n += 1;
    }
    // No targeting key is the empty id: the module answers what does not
    // depend on the id, and `needs_id` for the rest.
    let id = ctx.id.as_deref().unwrap_or("");
    let explain = pipe.cmd("HANOI.RESOLVE").arg(key).arg(id);
    if !ctx.attrs.is_empty() {
        explain.arg("WITH");
        for (k, v) in &ctx.attrs {
            explain.arg(k).arg(v);
        }
    }
    n + 1
}

/// What `HANOI.EXPORT key NOIDS` said about a key.
#[derive(Clone)]
pub enum Shape {
    Flag(Arc<Description>),
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
    match store::flag_from_export(get) {
        Some(f) => Shape::Flag(Arc::new(f)),
        None => Shape::Missing,
    }
}

/// Flag descriptions (`HANOI.EXPORT NOIDS`: variants or not, metadata, switch) kept
/// for `ofrep_cache_ms` (default 1 s), and the bulk endpoint's list of flag
/// keys per prefix for as long: an answer's value and reason always come
/// from `HANOI.EXPLAIN` at that moment; a flag's type, metadata and the
/// list of flags follow changes within that time.
/// Entries by key, with the time each was stored.
type Timed<T> = HashMap<Vec<u8>, (Instant, T)>;

pub struct Cache {
    ttl: Duration,
    flags: std::sync::Mutex<Timed<Arc<Description>>>,
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

    fn flag(&self, key: &[u8]) -> Option<Arc<Description>> {
        let map = self.flags.lock().ok()?;
        map.get(key)
            .filter(|(t, _)| t.elapsed() < self.ttl)
            .map(|(_, f)| f.clone())
    }

    fn put_flag(&self, key: &[u8], f: &Arc<Description>) {
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

/// Evaluates keys: one pipeline per server with `HANOI.RESOLVE` for each
/// (and `HANOI.EXPORT NOIDS` for those whose description is not cached).
async fn evaluate(
    env: &crate::Env,
    keys: &[Vec<u8>],
    ctx: &Context,
) -> Result<Vec<(Shape, Option<redis::Value>)>, redis::RedisError> {
    let cached: Vec<Option<Arc<Description>>> = keys.iter().map(|k| env.cache.flag(k)).collect();
    evaluate_known(env, keys, ctx, cached).await
}

/// Each key's description: from the cache, else `HANOI.EXPORT NOIDS`
/// (pipelined, one pipeline per server; stored in the cache).
async fn describe(env: &crate::Env, keys: &[Vec<u8>]) -> Result<Vec<Shape>, redis::RedisError> {
    let cached: Vec<Option<Arc<Description>>> = keys.iter().map(|k| env.cache.flag(k)).collect();
    let missing: Vec<Vec<u8>> = keys
        .iter()
        .zip(&cached)
        .filter(|(_, c)| c.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    let replies = env
        .ofrep_store
        .per_key(&missing, |p, k| {
            p.cmd("HANOI.EXPORT").arg(k).arg("NOIDS");
            1
        })
        .await?;
    let mut replies = replies.into_iter();
    let mut out = Vec::with_capacity(keys.len());
    for (k, c) in keys.iter().zip(cached) {
        out.push(match c {
            Some(f) => Shape::Flag(f),
            None => {
                let shape = replies
                    .next()
                    .and_then(|r| r.into_iter().next())
                    .map_or(Shape::Missing, |v| shape_of(&v));
                if let Shape::Flag(f) = &shape {
                    env.cache.put_flag(k, f);
                }
                shape
            }
        });
    }
    Ok(out)
}

/// [`evaluate`] with the descriptions already known (None: read them).
async fn evaluate_known(
    env: &crate::Env,
    keys: &[Vec<u8>],
    ctx: &Context,
    cached: Vec<Option<Arc<Description>>>,
) -> Result<Vec<(Shape, Option<redis::Value>)>, redis::RedisError> {
    let index: HashMap<&[u8], usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_slice(), i))
        .collect();
    let replies = env
        .ofrep_store
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
                    env.cache.put_flag(k, f);
                }
                shape
            }
        };
        out.push((shape, r.next()));
    }
    Ok(out)
}

/// One flag's answer, or its failure.
fn answer(
    key: &str,
    shape: &Shape,
    explain: Option<&redis::Value>,
) -> Result<EvaluationSuccess, OfrepError> {
    let not_found = || OfrepError::NotFound {
        key: key.to_owned(),
        details: format!("flag {key} was not found"),
    };
    let flag = match shape {
        Shape::Flag(f) => f,
        // A key of another type answers as no key at all: an API key must
        // not learn which other keys exist under its prefix.
        Shape::NotAFlag | Shape::Missing => return Err(not_found()),
        Shape::Error(e) => {
            return Err(OfrepError::Internal {
                key: Some(key.to_owned()),
                details: e.clone(),
            })
        }
    };
    let boolean = flag.variants.is_empty();
    let resolved = match explain {
        Some(v) => match store::resolve_reply(v) {
            Some(r) => r,
            None => {
                if let redis::Value::ServerError(e) = v {
                    let details = format!("{} {}", e.code(), e.details().unwrap_or(""));
                    let key = Some(key.to_owned());
                    // The module refuses attributes with ERR; anything else
                    // (MOVED, LOADING, NOPERM, ...) is the server's state,
                    // not the client's context.
                    if e.code() == "ERR" {
                        return Err(OfrepError::InvalidContext { key, details });
                    }
                    return Err(OfrepError::Unavailable { key, details });
                }
                return Err(not_found());
            }
        },
        None => return Err(not_found()),
    };
    let ex = &resolved.explanation;
    let detail = ex.detail.as_ref().map(store::detail_text);
    // Every reason the core has (a new one is a compile error here): the
    // ones that are an error, and the failed prerequisite the metadata
    // names.
    let failed_prerequisite = match ex.reason {
        Reason::Undefined => return Err(not_found()),
        Reason::NeedsId => {
            return Err(OfrepError::TargetingKeyMissing {
                key: key.to_owned(),
            })
        }
        // Following references went past a bound (too deep, a cycle): the
        // flag cannot be evaluated, OFREP's GENERAL error with the module's
        // words.
        Reason::Error => {
            return Err(OfrepError::Internal {
                key: Some(key.to_owned()),
                details: detail.unwrap_or_else(|| "the flag could not be evaluated".to_owned()),
            })
        }
        Reason::Prerequisite => detail,
        Reason::Disabled
        | Reason::Inactive
        | Reason::Blocked
        | Reason::All
        | Reason::User
        | Reason::Regex
        | Reason::Rule
        | Reason::Percentage
        | Reason::Outside => None,
    };
    let (value, variant) = if boolean {
        let variant = if ex.enabled { "on" } else { "off" };
        (Some(FlagValue::Bool(ex.enabled)), variant.to_owned())
    } else if let (Some(v), Some(text)) = (&ex.variant, raw_json(resolved.value.as_deref())) {
        // The served variant (the DEFAULT one when off) and its value.
        let v = String::from_utf8_lossy(v).into_owned();
        (Some(FlagValue::Json(text)), v)
    } else {
        // Off without a DEFAULT: no value (the code default applies) and
        // the empty variant, a name no flag can have (providers expect the
        // field).
        (None, String::new())
    };
    let mut metadata = metadata(flag);
    // A failed prerequisite: off (the DEFAULT's value, or the code
    // default), no error code, the metadata names it (a metadata field
    // named `prerequisite` gives way to it).
    if let Some(p) = failed_prerequisite {
        metadata.insert("prerequisite".to_owned(), p);
    }
    Ok(EvaluationSuccess {
        key: key.to_owned(),
        metadata,
        reason: ex.reason.openfeature(),
        value,
        variant,
    })
}

// ---- the endpoints -------------------------------------------------------------

pub async fn evaluate_one(
    State(app): State<Arc<App>>,
    api_key: ApiKey,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EvaluationSuccess>, OfrepError> {
    let Path(key) = path.map_err(|r| bad_path(&uri, &r))?;
    if !key.starts_with(&api_key.prefix) {
        return Err(OfrepError::Forbidden { key });
    }
    let body = body.map_err(|r| OfrepError::from(r).for_flag(&key))?;
    let ctx = context(&body).map_err(|e| e.for_flag(&key))?;
    let _slot = slot(&app).await.map_err(|e| e.for_flag(&key))?;
    let keys = [key.as_bytes().to_vec()];
    let env = &app.envs[api_key.env];
    let (shape, explain) = evaluate(env, &keys, &ctx)
        .await
        .map_err(|e| OfrepError::redis(&e, Some(&key)))?
        .pop()
        .ok_or_else(|| OfrepError::Unavailable {
            key: Some(key.clone()),
            details: UNREACHABLE.into(),
        })?;
    answer(&key, &shape, explain.as_ref()).map(Json)
}

/// A turn to evaluate (see [`SLOTS`]).
async fn slot(app: &App) -> Result<tokio::sync::SemaphorePermit<'_>, OfrepError> {
    let busy = || OfrepError::Unavailable {
        key: None,
        details: "too many evaluations at once: try again".into(),
    };
    match tokio::time::timeout(WAIT_FOR_SLOT, app.ofrep_slots.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(busy()),
    }
}

/// Any other path under `/ofrep/`, or another method: OFREP's JSON error.
pub async fn no_such_route(method: axum::http::Method, uri: Uri) -> Response {
    let (status, details) =
        if method == axum::http::Method::POST || method == axum::http::Method::OPTIONS {
            (
                StatusCode::NOT_FOUND,
                format!("no OFREP endpoint at {}", uri.path()),
            )
        } else {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} is not allowed: OFREP evaluates with POST"),
            )
        };
    let body = ErrorBody {
        error_code: None,
        error_details: details,
        key: None,
    };
    (status, Json(body)).into_response()
}

/// `/ofrep/v1/evaluate/flags/`: a path with an empty flag key.
pub async fn evaluate_no_key(_: ApiKey) -> OfrepError {
    OfrepError::NotFound {
        key: String::new(),
        details: "the path names no flag".into(),
    }
}

pub async fn evaluate_all(
    State(app): State<Arc<App>>,
    api_key: ApiKey,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OfrepError> {
    let ctx = context(&body?)?;
    let _slot = slot(&app).await?;
    let mut pattern = store::glob_escape(api_key.prefix.as_bytes());
    pattern.push(b'*');
    let env = &app.envs[api_key.env];
    let keys = match env.cache.keys(&pattern) {
        Some(k) => k,
        None => {
            let keys = env
                .ofrep_store
                .all_flags(&pattern)
                .await
                .map_err(|e| OfrepError::redis(&e, None))?;
            // OFREP keys are JSON strings: names that are not UTF-8 are left out.
            let keys: Arc<Vec<String>> = Arc::new(
                keys.into_iter()
                    .filter_map(|k| String::from_utf8(k).ok())
                    .collect(),
            );
            env.cache.put_keys(&pattern, &keys);
            keys
        }
    };
    // Segments are not features: their descriptions are read first (most
    // often cached) and they are neither evaluated nor answered.
    let all: Vec<Vec<u8>> = keys.iter().map(|k| k.as_bytes().to_vec()).collect();
    let shapes = describe(env, &all)
        .await
        .map_err(|e| OfrepError::redis(&e, None))?;
    let (mut names, mut raw, mut known) = (Vec::new(), Vec::new(), Vec::new());
    for ((name, k), shape) in keys.iter().zip(all).zip(shapes) {
        match shape {
            Shape::Flag(f) if f.segment => continue,
            Shape::Flag(f) => known.push(Some(f)),
            // Gone meanwhile, not a flag, an error: evaluated as before
            // (its answer says so).
            _ => known.push(None),
        }
        names.push(name);
        raw.push(k);
    }
    let results = evaluate_known(env, &raw, &ctx, known)
        .await
        .map_err(|e| OfrepError::redis(&e, None))?;
    let mut flags = Vec::with_capacity(names.len());
    for (k, (shape, explain)) in names.into_iter().zip(&results) {
        match answer(k, shape, explain.as_ref()) {
            Ok(success) => flags.push(BulkEntry::Success(success)),
            // A flag deleted since it was listed is simply gone.
            Err(e) if e.status() == StatusCode::NOT_FOUND => {}
            Err(e) => flags.push(BulkEntry::Failure(e.body())),
        }
    }
    let body =
        serde_json::to_string(&BulkResponse { flags }).map_err(|e| OfrepError::Internal {
            key: None,
            details: e.to_string(),
        })?;
    let etag = format!("\"{}\"", store::hex(&Sha256::digest(body.as_bytes())[..16]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            // RFC 9110 13.1.2: If-None-Match compares weakly (W/ ignored).
            h.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
            })
        });
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response())
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
