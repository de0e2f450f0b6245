//! `mirror ui`: the journal as a local web app, in the person's browser.
//!
//! A thin adapter: each page runs the CLI's own commands in-process
//! ([`worker`]) and renders their JSON answer as HTML on the server (maud,
//! escaping by default). No JavaScript is needed: every action is a plain
//! form. [`guard`] keeps everyone but the person who started it out.
//!
//! Invariants (ARCHITECTURE.md, "web"): it binds 127.0.0.1 only; no request
//! is answered without this run's session cookie, and none changes state
//! without also the CSRF token and this origin; nothing is loaded from
//! elsewhere (CSP `default-src 'self'`).

mod commons;
mod guard;
mod journal;
mod layout;
mod lookback;
mod organize;
mod settings;
mod timeline;
mod worker;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::home::Home;
pub use worker::Worker;

/// What every handler reaches: the command thread and this run's keys.
pub struct App {
    pub worker: Worker,
    /// Where the node lives (for files a command writes, e.g. a release).
    pub home: Home,
    keys: Arc<guard::Keys>,
    /// The bundle last uploaded on the settings page, kept (in a private
    /// file) between its preview and the import; deleted when replaced,
    /// imported, or when the app stops.
    upload: std::sync::Mutex<Option<tempfile::TempPath>>,
}

impl App {
    /// This run's CSRF token, for the forms of a page.
    pub fn csrf(&self) -> &str {
        &self.keys.csrf
    }
}

/// A started app: its address (with the secret) and the server, which
/// runs until [`Running::wait`] sees Ctrl-C or SIGTERM.
pub struct Running {
    /// `http://127.0.0.1:PORT/login?secret=…`
    pub url: String,
    runtime: tokio::runtime::Runtime,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Serve until Ctrl-C or SIGTERM.
    pub fn wait(self) -> anyhow::Result<()> {
        self.runtime.block_on(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                done = self.server => done.context("the web server stopped")?.context("serving")?,
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
            Ok(())
        })
    }
}

/// Bind 127.0.0.1:`port` (0: any free port) and start serving `home`.
pub fn start(home: Home, port: u16) -> anyhow::Result<Running> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the web server's runtime")?;
    let worker = Worker::start(home.clone())?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            port,
        ))))
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    let port = listener.local_addr()?.port();
    let keys = Arc::new(guard::Keys::new(port)?);
    let url = format!("http://127.0.0.1:{port}/login?secret={}", keys.secret);
    let app = Arc::new(App {
        worker,
        home,
        keys: keys.clone(),
        upload: std::sync::Mutex::new(None),
    });
    let router = router(app, keys);
    let server = runtime.spawn(async move { axum::serve(listener, router).await });
    Ok(Running {
        url,
        runtime,
        server,
    })
}

/// Open `url` in the person's browser (best effort: the address is printed
/// either way).
pub fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => tracing::warn!("could not open a browser ({opener}): {e}"),
    }
}

fn router(app: Arc<App>, keys: Arc<guard::Keys>) -> Router {
    Router::new()
        .route("/static/style.css", get(style))
        .route("/static/app.js", get(script))
        .merge(journal::routes())
        .merge(timeline::routes())
        .merge(organize::routes())
        .merge(lookback::routes())
        .merge(settings::routes())
        .merge(commons::routes())
        .with_state(app)
        .route("/login", get(guard::login).with_state(keys.clone()))
        .layer(axum::middleware::from_fn_with_state(keys, guard::check))
        .layer(axum::extract::DefaultBodyLimit::max(guard::MAX_FORM))
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/style.css"),
    )
}
