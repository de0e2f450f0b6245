//! The control API's accept loop, built to hold under a hostile local
//! client.
//!
//! axum's own `serve` waits forever for a request's headers and accepts any
//! number of connections, so 300 sockets trickling headers, or 1,100 idle
//! ones, could keep the node's own CLI out. Here:
//!
//! * a connection must deliver a request's headers within
//!   [`Limits::header_timeout`] (hyper's header read timeout);
//! * a connection lives at most [`Limits::connection_lifetime`] in all, which
//!   bounds a slowly sent body and an idle keep-alive alike (the CLI's
//!   requests take milliseconds);
//! * at most [`Limits::max_connections`] are open at once. At the cap, a new
//!   connection is not refused: the oldest connection that has not yet sent
//!   a complete request is closed to make room. A real client sends its
//!   request at once, so it is never the oldest for long, while a flood of
//!   silent sockets only ever displaces itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// The control API's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub connection_lifetime: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            header_timeout: Duration::from_secs(2),
            connection_lifetime: Duration::from_secs(10),
        }
    }
}

/// One open connection: whether it has sent a request, and how to close it.
struct Open {
    served: Arc<AtomicBool>,
    abort: tokio::task::AbortHandle,
}

#[derive(Default)]
struct Table {
    /// By arrival order (a counter), so the first entry is the oldest.
    open: BTreeMap<u64, Open>,
}

/// Serve `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let table = Arc::new(Mutex::new(Table::default()));
    let counter = AtomicU64::new(0);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                // Out of file descriptors and the like: pause, do not spin.
                Err(e) => {
                    tracing::warn!(error = %e, "control API: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let id = counter.fetch_add(1, Ordering::Relaxed);
        let served = Arc::new(AtomicBool::new(false));
        let flag = served.clone();
        let app = app.clone().layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                flag.store(true, Ordering::Relaxed);
                next.run(req)
            },
        ));
        // Held while the task is spawned and entered, so a task that ends
        // at once cannot remove itself before it is in the table.
        let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
        while t.open.len() >= limits.max_connections {
            let victim = t
                .open
                .iter()
                .find(|(_, o)| !o.served.load(Ordering::Relaxed))
                .map(|(k, _)| *k)
                .or_else(|| t.open.keys().next().copied());
            let Some(victim) = victim else { break };
            if let Some(o) = t.open.remove(&victim) {
                o.abort.abort();
            }
        }
        let table_for_task = table.clone();
        let task = tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
            let _ = tokio::time::timeout(limits.connection_lifetime, conn).await;
            table_for_task
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open
                .remove(&id);
        });
        t.open.insert(
            id,
            Open {
                served,
                abort: task.abort_handle(),
            },
        );
        drop(t);
    }
    // Stop: close what is still open (requests take milliseconds).
    let open = std::mem::take(&mut table.lock().unwrap_or_else(|p| p.into_inner()).open);
    for (_, o) in open {
        o.abort.abort();
    }
    Ok(())
}
