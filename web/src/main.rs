//! hanoi-web: an admin UI for people and the OpenFeature remote evaluation
//! API (OFREP) for programs, over the hanoi module's commands.

mod auth;
mod config;
mod ofrep;
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

pub struct App {
    pub config: config::Config,
    /// The UI's connections to Redis.
    pub store: store::Store,
    /// OFREP's, apart: a flood of evaluations does not queue the UI's
    /// requests behind it.
    pub ofrep_store: store::Store,
    /// OFREP requests evaluated at once (the others wait their turn, for a
    /// while): what one caller can cost is bounded.
    pub ofrep_slots: tokio::sync::Semaphore,
    pub keys: auth::Keys,
    pub limiter: auth::LoginLimiter,
    /// Password checks running at once (argon2 is memory- and CPU-hard).
    pub login_slots: tokio::sync::Semaphore,
    pub dummy_hash: String,
    pub cache: ofrep::Cache,
    /// The rule builder's attribute suggestions.
    pub attributes: ui::KnownAttributes,
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
        .route("/healthz", get(|| async { "ok" }))
        .merge(ui::routes())
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            pinned_host,
        ))
        .with_state(app)
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
    let mut info = match redis::IntoConnectionInfo::into_connection_info(cli.redis.as_str()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("hanoi-web: bad --redis URL: {e}");
            std::process::exit(2);
        }
    };
    if let Some(u) = &config.redis_username {
        info.redis.username = Some(u.clone());
    }
    if let Some(p) = &config.redis_password {
        info.redis.password = Some(p.clone());
    }
    let (store, ofrep_store) = match (
        store::Store::new(info.clone(), cli.cluster),
        store::Store::new(info, cli.cluster),
    ) {
        (Ok(s), Ok(o)) => (s, o),
        (Err(e), _) | (_, Err(e)) => {
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
            login_slots: tokio::sync::Semaphore::new(2),
            dummy_hash: auth::dummy_hash(),
            cache: ofrep::Cache::new(config.ofrep_cache_ms),
            store,
            ofrep_store,
            ofrep_slots: tokio::sync::Semaphore::new(ofrep::SLOTS),
            attributes: ui::KnownAttributes::default(),
            config,
        });
        let listener = match tokio::net::TcpListener::bind(cli.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("hanoi-web: cannot listen on {}: {e}", cli.listen);
                std::process::exit(1);
            }
        };
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
