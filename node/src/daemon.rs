//! `mirror node`: the long-running part of a node.
//!
//! The daemon owns the commons (its redb file and the libp2p service) and
//! nothing else. The person's own store stays with the CLI, which opens it
//! for the length of one command whether a daemon runs or not: writing a
//! reflection never waits on the network, and Layer 1 works the same with
//! the daemon stopped.
//!
//! The CLI reaches what the daemon owns through a loopback HTTP API
//! (127.0.0.1, a random port) guarded by a random bearer token. Both are in
//! `daemon.json` in the data directory, a 0600 file: whoever can read it can
//! already read the node's keys. The file is removed on a clean stop; a
//! stale one (after kill -9) is noticed by the CLI when the port does not
//! answer with the token.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mirror_commons::gate::Gate;
use mirror_commons::governance::GovernanceRules;
use mirror_commons::net::{self, NetConfig, NetHandle};
use mirror_commons::record::{Kind, RecordId};
use mirror_commons::service::Commons;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::home::{Home, write_atomic};

mod control;
pub use control::Limits as ControlLimits;

/// What the CLI reads from `daemon.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonFile {
    pub pid: u32,
    pub addr: SocketAddr,
    pub token: String,
}

/// Options from the command line; unset ones come from the config.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    pub listen: Vec<String>,
    pub bootstrap: Vec<String>,
    pub no_mdns: bool,
    /// The web app's address, when `--ui` serves it beside the node.
    pub web_url: Option<String>,
}

#[derive(Clone)]
struct AppState {
    commons: Arc<Mutex<Commons>>,
    net: NetHandle,
    token: Arc<String>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Run the daemon until SIGINT or SIGTERM.
pub fn run(home: &Home, options: &NodeOptions) -> anyhow::Result<()> {
    let report = home.init("me")?;
    if report.created {
        crate::cli::announce_init(&report);
    }
    // Refuse to run on a constitution that is not the genesis one, or on a
    // store that cannot be opened (a newer schema, a damaged file): better
    // to say so at start than at the first reflection.
    home.constitution()?;
    let reflections = home
        .open_store()?
        .counts()?
        .into_iter()
        .find(|(name, _)| *name == "reflections")
        .map_or(0, |(_, n)| n);
    let config = home.load_config()?;
    let commons_id = config.commons.commons_id();
    if commons_id.len() != 64 || !commons_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!("commons.id must be 64 hex digits (the hash of a commons genesis)");
    }
    let parse_addrs = |list: &[String], what: &str| -> anyhow::Result<Vec<libp2p::Multiaddr>> {
        list.iter()
            .map(|a| {
                a.parse::<libp2p::Multiaddr>()
                    .with_context(|| format!("{what} address {a:?} is not a multiaddr"))
            })
            .collect()
    };
    let listen = if options.listen.is_empty() {
        parse_addrs(&config.commons.listen, "listen")?
    } else {
        parse_addrs(&options.listen, "--listen")?
    };
    let mut bootstrap = parse_addrs(&config.commons.bootstrap, "bootstrap")?;
    bootstrap.extend(parse_addrs(&options.bootstrap, "--bootstrap")?);

    let seed = home.network_key()?;
    let keypair = libp2p::identity::Keypair::ed25519_from_bytes(seed)
        .context("the network key does not make an ed25519 key")?;
    let mut net_config = NetConfig::new(keypair);
    net_config.listen = listen;
    net_config.bootstrap = bootstrap;
    net_config.mdns = config.commons.mdns && !options.no_mdns;
    net_config.quic = config.commons.quic;
    net_config.sync_interval = Duration::from_secs(config.commons.sync_interval_secs.max(1));
    net_config.max_connections = config.commons.max_connections;

    let commons = Arc::new(Mutex::new(open_at(home, commons_id.clone())?));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(
        home,
        commons,
        net_config,
        &commons_id,
        reflections,
        options.web_url.as_deref(),
    ))
}

async fn serve(
    home: &Home,
    commons: Arc<Mutex<Commons>>,
    net_config: NetConfig,
    commons_id: &str,
    reflections: u64,
    web_url: Option<&str>,
) -> anyhow::Result<()> {
    let peer_id = net_config.keypair.public().to_peer_id();
    let (net, net_task) = net::spawn(net_config, commons.clone())
        .await
        .map_err(|e| anyhow::anyhow!("starting the network: {e}"))?;

    let mut token = [0u8; 32];
    getrandom::fill(&mut token).map_err(|e| anyhow::anyhow!("drawing a token: {e}"))?;
    let state = AppState {
        commons,
        net: net.clone(),
        token: Arc::new(hex::encode(token)),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let file = DaemonFile {
        pid: std::process::id(),
        addr,
        token: state.token.to_string(),
    };
    write_atomic(
        &home.daemon_file(),
        &serde_json::to_vec_pretty(&file)?,
        0o600,
    )?;

    // Wait (boundedly) for the swarm to bind, so the addresses printed are
    // real ones rather than whatever was bound after a fixed pause.
    let bound_by = tokio::time::Instant::now() + Duration::from_secs(5);
    let addrs = loop {
        let addrs = net.listen_addrs().await.unwrap_or_default();
        if !addrs.is_empty() || tokio::time::Instant::now() >= bound_by {
            break addrs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("mirror node: running from {}", home.dir().display());
    eprintln!(
        "  store    {} ({reflections} reflections)",
        home.db_path().display()
    );
    eprintln!("  commons  {commons_id}");
    eprintln!("  peer id  {peer_id}");
    for a in &addrs {
        eprintln!("  listening on {a}/p2p/{peer_id}");
    }
    eprintln!(
        "  control  http://{addr} (token in {})",
        home.daemon_file().display()
    );
    if let Some(url) = web_url {
        eprintln!("  web app  {url}");
    }
    eprintln!("  stop with Ctrl-C");

    let app = Router::new()
        .route("/status", get(status))
        .route("/peers", get(peers))
        .route("/banned", get(banned))
        .route("/records", get(records))
        .route("/records/{id}", get(show))
        .route("/publish", post(publish))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .with_state(state);
    let every = Duration::from_secs(home.load_config()?.commons.telemetry_check_secs.max(1));
    let telemetry_task = tokio::spawn(telemetry_loop(home.clone(), net.clone(), every));
    let backup_task = tokio::spawn(backup_loop(home.clone()));
    let result = control::serve(listener, app, control::Limits::default(), shutdown_signal()).await;
    telemetry_task.abort();
    backup_task.abort();
    tracing::info!("stopping");
    if let Err(e) = net.shutdown().await {
        tracing::warn!(error = %e, "network did not stop cleanly");
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), net_task).await;
    let _ = std::fs::remove_file(home.daemon_file());
    eprintln!("mirror node: stopped");
    result.map_err(Into::into)
}

/// The rolling daily backup while the node runs: checked at start and every
/// hour, taken when due (the CLI takes it too, after a writing command's
/// answer, so a journal written without a daemon is covered as well).
async fn backup_loop(home: Home) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let h = home.clone();
        match tokio::task::spawn_blocking(move || h.backup_if_due()).await {
            Ok(Ok(Some(path))) => tracing::info!(backup = %path.display(), "daily backup written"),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "daily backup"),
            Err(e) => tracing::warn!(error = %e, "daily backup task"),
        }
    }
}

/// Send the telemetry packet that is due, if any (consent and everything
/// else is decided by `telemetry::prepare`); the store is opened for each
/// step only, as everywhere in the daemon.
async fn telemetry_loop(home: Home, net: NetHandle, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let h = home.clone();
        let prepared = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let registry = h.engine_params()?.telemetry;
            let store = h.open_store()?;
            let Some(p) = crate::telemetry::prepare(&h, &store, &registry, now_ms())? else {
                return Ok(None);
            };
            crate::telemetry::log_departure(&h, &store, &p, "commons (gossip)")?;
            Ok(Some((p, registry)))
        })
        .await;
        let (pending, registry) = match prepared {
            Ok(Ok(Some(x))) => x,
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "telemetry not sent");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "telemetry task failed");
                continue;
            }
        };
        match net.publish(pending.record.clone().into_bytes()).await {
            Ok(id) => {
                tracing::info!(period = pending.period, record = %id.to_hex(), "telemetry packet sent");
                let h = home.clone();
                let done = tokio::task::spawn_blocking(move || {
                    crate::telemetry::mark_sent(&h, &registry, &pending)
                })
                .await;
                if let Ok(Err(e)) = done {
                    tracing::warn!(error = %e, "telemetry sent but its state not saved");
                }
            }
            Err(e) => tracing::warn!(error = %e, "telemetry packet refused; kept for the next try"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Every route wants the token; checked once, before any handler runs.
async fn require_token(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let expected = format!("Bearer {}", state.token);
    let given = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Compare in constant time: the token is the only thing between a local
    // process and the commons.
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        next.run(request).await
    } else {
        ApiError(StatusCode::UNAUTHORIZED, "bad token".into()).into_response()
    }
}

/// An error answer: a status and `{"error": "..."}`.
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, message.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

fn lock(commons: &Mutex<Commons>) -> Result<std::sync::MutexGuard<'_, Commons>, ApiError> {
    commons.lock().map_err(|_| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "commons state poisoned".into(),
        )
    })
}

async fn status(State(state): State<AppState>) -> ApiResult {
    let peers = state.net.peers().await.map(|p| p.len()).unwrap_or(0);
    let addrs = state.net.listen_addrs().await.unwrap_or_default();
    let commons = lock(&state.commons)?;
    Ok(Json(status_json(&commons, Some(peers), &addrs)))
}

/// The status of a commons, as both the daemon and the CLI show it.
pub fn status_json(c: &Commons, peers: Option<usize>, addrs: &[libp2p::Multiaddr]) -> Value {
    let s = c.status();
    json!({
        "commons_id": s.commons_id,
        "records": s.records,
        "records_by_kind": s.records_by_kind,
        "documents": s.documents,
        "rejections": s.rejections,
        "peers": peers,
        "listening": addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "daemon": peers.is_some(),
    })
}

async fn peers(State(state): State<AppState>) -> ApiResult {
    let peers = state
        .net
        .peers()
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(serde_json::to_value(peers).unwrap_or(Value::Null)))
}

async fn banned(State(state): State<AppState>) -> ApiResult {
    let banned = state
        .net
        .banned()
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(serde_json::to_value(banned).unwrap_or(Value::Null)))
}

#[derive(Deserialize)]
struct RecordsQuery {
    kind: Option<String>,
    /// Include each record's exact bytes (`raw`), for clients that fold
    /// them (the governance commands).
    #[serde(default)]
    full: bool,
}

async fn records(State(state): State<AppState>, Query(q): Query<RecordsQuery>) -> ApiResult {
    let kind = match q.kind.as_deref() {
        Some(k) => Some(
            Kind::parse(k)
                .ok_or_else(|| ApiError::bad_request(format!("unknown record kind {k:?}")))?,
        ),
        None => None,
    };
    let commons = lock(&state.commons)?;
    if q.full {
        return Ok(Json(full_records_json(&commons, kind)));
    }
    Ok(Json(records_json(&commons, kind)))
}

/// Accepted records (optionally of one kind), newest first.
pub fn records_json(c: &Commons, kind: Option<Kind>) -> Value {
    records_listing(c, kind, false)
}

/// The same listing with each record's exact bytes (`raw`, UTF-8 JSON
/// text), for clients that fold them (the governance commands).
pub fn full_records_json(c: &Commons, kind: Option<Kind>) -> Value {
    records_listing(c, kind, true)
}

fn records_listing(c: &Commons, kind: Option<Kind>, raw: bool) -> Value {
    let kinds: Vec<Kind> = kind.map_or_else(|| Kind::ALL.to_vec(), |k| vec![k]);
    let mut rows: Vec<Value> = kinds
        .into_iter()
        .flat_map(|k| c.records_of(k))
        .map(|r| {
            let mut row = json!({
                "id": r.id().to_hex(),
                "kind": r.kind.as_str(),
                "author": r.author_hex(),
                "created_at": r.created_at,
            });
            if raw {
                row["raw"] = Value::String(String::from_utf8_lossy(r.bytes()).into_owned());
            }
            row
        })
        .collect();
    rows.sort_by(|a, b| {
        b["created_at"]
            .as_i64()
            .cmp(&a["created_at"].as_i64())
            .then_with(|| a["id"].as_str().cmp(&b["id"].as_str()))
    });
    Value::Array(rows)
}

/// One record, whole, or None.
pub fn record_json(c: &Commons, id: &str) -> Result<Option<Value>, String> {
    let id = RecordId::from_hex(id).ok_or_else(|| format!("{id:?} is not a record id (64 hex)"))?;
    Ok(c.get(&id).map(|r| {
        serde_json::from_slice::<Value>(r.bytes())
            .map(|record| json!({"id": id.to_hex(), "record": record}))
            .unwrap_or(Value::Null)
    }))
}

async fn show(State(state): State<AppState>, UrlPath(id): UrlPath<String>) -> ApiResult {
    let found = record_json(&*lock(&state.commons)?, &id).map_err(ApiError::bad_request)?;
    found.map(Json).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!(
                "no accepted record {}",
                id.chars().take(64).collect::<String>()
            ),
        )
    })
}

async fn publish(State(state): State<AppState>, body: Bytes) -> ApiResult {
    let id = state
        .net
        .publish(body.to_vec())
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(json!({"id": id.to_hex()})))
}

/// A running daemon, if `daemon.json` names one that answers.
pub fn find(home: &Home) -> Option<DaemonFile> {
    let text = std::fs::read(home.daemon_file()).ok()?;
    let file: DaemonFile = serde_json::from_slice(&text).ok()?;
    // After a kill -9 the file stays behind; its process is gone (and its
    // port may be someone else's by now).
    if Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{}", file.pid)).exists() {
        return None;
    }
    std::net::TcpStream::connect_timeout(&file.addr, Duration::from_millis(300)).ok()?;
    Some(file)
}

/// Call the daemon's API (blocking; the CLI has no runtime of its own).
pub fn call(
    file: &DaemonFile,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()?;
        let url = format!("http://{}{}", file.addr, path);
        let request = match method {
            "POST" => client.post(&url).body(body.unwrap_or_default()),
            _ => client.get(&url),
        };
        let response = request
            .header("authorization", format!("Bearer {}", file.token))
            .send()
            .await
            .context("the daemon did not answer")?;
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            anyhow::bail!(
                "{}",
                value["error"]
                    .as_str()
                    .map_or_else(|| status.to_string(), str::to_string)
            )
        }
    })
}

/// Open the commons store directly (no daemon running).
pub fn open_local(home: &Home) -> anyhow::Result<Commons> {
    let config = home.load_config()?;
    open_at(home, config.commons.commons_id())
}

/// Open (creating if need be) the store of commons `id`, whichever commons
/// is configured: founding and joining fill the new commons' store before
/// the config names it.
pub fn open_commons(home: &Home, id: &str) -> anyhow::Result<Commons> {
    open_at(home, id.to_string())
}

/// The gate every record passes on this node: structure, signature, and the
/// governance rules. Every refusal is a function of the record alone, so it
/// reads nothing of this node's state: the checker is the genesis
/// constitution's (not an amended copy in the home) and the metric registry
/// is not consulted (packets are judged against the registry they declare
/// when counted).
fn gate(_home: &Home, commons_id: &str) -> anyhow::Result<Gate> {
    let checker = mirror_constitution::Constitution::genesis()
        .checker()
        .map_err(|e| anyhow::anyhow!("the constitution's compliance lexicon: {e}"))?;
    Ok(Gate::new(Box::new(GovernanceRules::new(
        commons_id, 1, checker,
    ))))
}

/// Move a store from before per-commons stores (`commons.redb`) to its
/// commons' own path. Best effort: a store that cannot be read is left
/// where it is, and said so in the log, rather than stopping every commons
/// command.
fn move_legacy_store(home: &Home) {
    let legacy = home.legacy_commons_db_path();
    if !legacy.exists() {
        return;
    }
    let found = match mirror_commons::store::Store::commons_id_at(&legacy) {
        Ok(Some(id)) => id,
        Ok(None) => {
            tracing::warn!(path = %legacy.display(), "a commons store that names no commons is left in place");
            return;
        }
        Err(e) => {
            tracing::warn!(path = %legacy.display(), error = %e, "a commons store that cannot be read is left in place");
            return;
        }
    };
    let target = home.commons_db_path(&found);
    if target.exists() {
        tracing::warn!(path = %legacy.display(), commons = %found, "commons {found} already has a store; the older file is left in place");
        return;
    }
    let moved = std::fs::create_dir_all(home.commons_dir())
        .and_then(|()| std::fs::rename(&legacy, &target));
    match moved {
        Ok(()) => {
            tracing::info!(commons = %found, to = %target.display(), "moved the commons store to its own path");
        }
        Err(e) => {
            tracing::warn!(path = %legacy.display(), error = %e, "could not move the commons store");
        }
    }
}

/// The commons whose state this node holds, by id (each in its own store).
pub fn held_commons(home: &Home) -> Vec<String> {
    move_legacy_store(home);
    let mut ids: Vec<String> = std::fs::read_dir(home.commons_dir())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let id = name.strip_suffix(".redb")?;
            (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
        })
        .collect();
    ids.sort();
    ids
}

fn open_at(home: &Home, id: String) -> anyhow::Result<Commons> {
    move_legacy_store(home);
    let dir = home.commons_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = home.commons_db_path(&id);
    let path = path.as_path();
    let gate = gate(home, &id)?;
    let commons = Commons::open(path, id, gate)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("opening {}", path.display()))?;
    // Records in the commons are public, but which ones this node holds,
    // and when it got them, is nobody else's business.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(commons)
}
