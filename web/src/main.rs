//! hanoi-web: an admin UI for people and the OpenFeature remote evaluation
//! API (OFREP) for programs, over the hanoi module's commands.

mod auth;
mod config;
mod ofrep;
mod stats;
mod store;
mod ui;

use axum::routing::{get, post};
use axum::Router;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "hanoi-web",
    version,
    about = "Admin UI and OFREP server for hanoi flags"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Redis URL, e.g. redis://127.0.0.1:6379 (user and password may be in it)
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// Redis Cluster: --redis names one node; every primary is found from it
    #[arg(long)]
    cluster: bool,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The TOML config file (accounts, API keys, settings)
    #[arg(long, default_value = "hanoi-web.toml")]
    config: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Reads a password (one line) on standard input, prints its argon2id hash for the config
    HashPassword,
}

/// One environment: its Redis, reached by the UI and by OFREP apart.
pub struct Env {
    pub name: String,
    /// Changes need the environment's name typed.
    pub protected: bool,
    /// Approvals a change needs (0: none, changes are made at once; else a
    /// change is a change request, and needs a comment).
    pub approvals: usize,
    /// The UI's connections to Redis.
    pub store: store::Store,
    /// OFREP's, apart: a flood of evaluations does not queue the UI's
    /// requests behind it.
    pub ofrep_store: store::Store,
    pub cache: ofrep::Cache,
    /// The rule builder's attribute suggestions, from this environment's
    /// flags.
    pub attributes: ui::KnownAttributes,
    /// Whether it answered the last check (`/healthz`, or every few
    /// seconds with more than one environment): pages name an unreachable
    /// environment in a banner.
    pub reachable: std::sync::atomic::AtomicBool,
}

impl Env {
    /// Checks every primary (it answers, the module is loaded); remembers
    /// and returns why it failed, if it did.
    pub async fn check(&self) -> Option<String> {
        let r = self.store.unreachable().await;
        self.reachable
            .store(r.is_none(), std::sync::atomic::Ordering::Relaxed);
        r
    }
}

pub struct App {
    pub config: config::Config,
    /// The environments, in the config's order (the first is the default);
    /// without `[[environment]]`, `--redis` as `default`.
    pub envs: Vec<Env>,
    /// OFREP requests evaluated at once (the others wait their turn, for a
    /// while): what one caller can cost is bounded.
    pub ofrep_slots: tokio::sync::Semaphore,
    pub keys: auth::Keys,
    pub limiter: auth::LoginLimiter,
    /// Sessions ended by a logout in this process (the first
    /// environment's Redis has every process's).
    pub revoked: auth::Revoked,
    /// Password checks running at once (argon2 is memory- and CPU-hard).
    pub login_slots: tokio::sync::Semaphore,
    pub dummy_hash: String,
}

impl App {
    /// The environment named `name`.
    pub fn env_index(&self, name: &str) -> Option<usize> {
        self.envs.iter().position(|e| e.name == name)
    }
}

/// The environments of the config (each `[[environment]]`), or `--redis`
/// as `default`.
fn make_envs(cli: &Cli, config: &config::Config) -> Result<Vec<Env>, String> {
    let mut specs = Vec::new();
    if config.environment.is_empty() {
        specs.push((
            "default".to_owned(),
            cli.redis.clone(),
            cli.cluster,
            config.redis_username.clone(),
            config.redis_password.clone(),
            false,
            0,
        ));
    } else {
        for e in &config.environment {
            specs.push((
                e.name.clone(),
                e.redis.clone(),
                e.cluster,
                e.redis_username.clone(),
                e.redis_password.clone(),
                e.protected,
                e.approvals,
            ));
        }
    }
    let mut envs = Vec::new();
    for (name, url, cluster, user, password, protected, approvals) in specs {
        let mut info =
            redis::IntoConnectionInfo::into_connection_info(url.as_str()).map_err(|e| {
                if config.environment.is_empty() {
                    format!("bad --redis URL: {e}")
                } else {
                    format!("environment {name}: bad Redis URL: {e}")
                }
            })?;
        if let Some(u) = user {
            info.redis.username = Some(u);
        }
        if let Some(p) = password {
            info.redis.password = Some(p);
        }
        let store = store::Store::new(info.clone(), cluster)
            .map_err(|e| format!("environment {name}: {e}"))?;
        let ofrep_store =
            store::Store::new(info, cluster).map_err(|e| format!("environment {name}: {e}"))?;
        envs.push(Env {
            name,
            protected,
            approvals,
            store,
            ofrep_store,
            cache: ofrep::Cache::new(config.ofrep_cache_ms),
            attributes: ui::KnownAttributes::default(),
            reachable: std::sync::atomic::AtomicBool::new(true),
        });
    }
    Ok(envs)
}

pub fn router(app: Arc<App>) -> Router {
    let ofrep_routes = Router::new()
        .route(
            "/ofrep/v1/evaluate/flags/{key}",
            post(ofrep::evaluate_one).options(|| async {}),
        )
        .route(
            "/ofrep/v1/evaluate/flags",
            post(ofrep::evaluate_all).options(|| async {}),
        )
        .route(
            "/ofrep/v1/evaluate/flags/",
            post(ofrep::evaluate_no_key).options(|| async {}),
        )
        .route("/ofrep/{*rest}", axum::routing::any(ofrep::no_such_route))
        .method_not_allowed_fallback(ofrep::no_such_route)
        .layer(axum::extract::DefaultBodyLimit::max(ofrep::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            ofrep::cors,
        ));
    Router::new()
        .merge(ofrep_routes)
        .route("/healthz", get(healthz))
        .merge(ui::routes().layer(axum::middleware::from_fn_with_state(
            app.clone(),
            ui::name_unreachable,
        )))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            pinned_host,
        ))
        .with_state(app)
}

/// `/healthz`: whether every environment is healthy: each primary
/// answers, and has the hanoi module loaded. To anyone: `200 ok` or `503
/// degraded`, plain text, nothing more (no environment names, no Redis
/// errors). With a logged-in session, the same status with the detail as
/// JSON: `{"status": "ok"|"degraded", "environments": [{"name",
/// "reachable", "error"?}]}`.
async fn healthz(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let checks = futures_util::future::join_all(app.envs.iter().map(|e| e.check())).await;
    let all_up = checks.iter().all(Option::is_none);
    let status = if all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if all_up { "ok" } else { "degraded" };
    let no_store = (header::CACHE_CONTROL, "no-store");
    if !ui::logged_in(&app, &headers).await {
        return (
            status,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                no_store,
            ],
            word,
        )
            .into_response();
    }
    let envs: Vec<serde_json::Value> = app
        .envs
        .iter()
        .zip(checks)
        .map(|(e, c)| match c {
            None => serde_json::json!({ "name": e.name, "reachable": true }),
            Some(err) => serde_json::json!({ "name": e.name, "reachable": false, "error": err }),
        })
        .collect();
    let body = serde_json::json!({ "status": word, "environments": envs });
    (status, [no_store], axum::Json(body)).into_response()
}

/// With `public_url` in the config, a request for another `Host` is
/// refused (421): hanoi-web answers only at the address it is published at.
async fn pinned_host(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if auth::host_allowed(req.headers(), &app.config) {
        return next.run(req).await;
    }
    let details = "this server answers at its public_url's host only";
    if req.uri().path().starts_with("/ofrep/") {
        let body = serde_json::json!({ "errorDetails": details });
        return (
            axum::http::StatusCode::MISDIRECTED_REQUEST,
            axum::Json(body),
        )
            .into_response();
    }
    (axum::http::StatusCode::MISDIRECTED_REQUEST, details).into_response()
}

fn main() {
    let cli = Cli::parse();
    if let Some(Command::HashPassword) = cli.command {
        // One line: typed at a terminal (Enter) or piped.
        let mut password = String::new();
        if let Err(e) = std::io::stdin().read_line(&mut password) {
            eprintln!("hanoi-web: cannot read standard input: {e}");
            std::process::exit(2);
        }
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            eprintln!("hanoi-web: empty password");
            std::process::exit(2);
        }
        match auth::hash_password(password) {
            Ok(h) => println!("{h}"),
            Err(e) => {
                eprintln!("hanoi-web: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let config = match config::Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hanoi-web: {e}");
            std::process::exit(2);
        }
    };
    let envs = match make_envs(&cli, &config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("hanoi-web: {e}");
            std::process::exit(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hanoi-web: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let app = Arc::new(App {
            keys: auth::Keys::new(config.session_secret.as_deref()),
            limiter: auth::LoginLimiter::new(config.login_attempts),
            revoked: auth::Revoked::default(),
            login_slots: tokio::sync::Semaphore::new(2),
            dummy_hash: auth::dummy_hash(),
            envs,
            ofrep_slots: tokio::sync::Semaphore::new(ofrep::SLOTS),
            config,
        });
        let listener = match tokio::net::TcpListener::bind(cli.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hanoi-web: cannot listen on {}: {e}", cli.listen);
                std::process::exit(1);
            }
        };
        if app.envs.len() > 1 {
            // Each environment checked every few seconds: the banner of an
            // unreachable one.
            let app = app.clone();
            tokio::spawn(async move {
                loop {
                    futures_util::future::join_all(app.envs.iter().map(|e| e.check())).await;
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            });
        }
        let addr = listener.local_addr().unwrap_or(cli.listen);
        println!("hanoi-web listening on http://{addr}");
        let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
        // Ctrl-C, or SIGTERM from systemd or Docker: finish what is in flight.
        let shutdown = async {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
            }
        };
        if let Err(e) = axum::serve(listener, service)
            .with_graceful_shutdown(shutdown)
            .await
        {
            eprintln!("hanoi-web: {e}");
            std::process::exit(1);
        }
    });
}
