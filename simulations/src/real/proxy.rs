//! Links with latency between real daemons on loopback: one TCP proxy per
//! link, which holds every chunk it reads for the link's latency before
//! passing it on, in both directions, and counts the bytes.
//!
//! Why a proxy: the harness was meant to use network namespaces with
//! `tc netem delay`, but the machines' kernel has no `netem` qdisc (nor
//! `fq`, `prio`...: only `tbf`, `htb` and `pfifo`, which shape and cannot
//! delay). A proxy per link gives each link exactly the simulator's
//! latency for that link, and its byte counts are what the daemons sent
//! (libp2p's framing, Noise and yamux included; TCP/IP headers not).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::RealError;

/// One link: a listener the dialling node is told to dial, forwarding to
/// the dialled node's listen port with `latency` each way.
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub latency: Duration,
    pub listen_port: u16,
    listener: TcpListener,
    target: SocketAddr,
}

/// Bytes forwarded on all links since the start.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Every link's proxy, running until [`Proxies::stop`] (or drop).
pub struct Proxies {
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
    pub bytes: Counter,
}

/// Bind a listener for the link `from` → `to` (whose daemon listens on
/// `target_port`).
pub fn bind(
    from: usize,
    to: usize,
    latency: Duration,
    target_port: u16,
) -> Result<Link, RealError> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(RealError::io("binding a link proxy"))?;
    listener
        .set_nonblocking(true)
        .map_err(RealError::io("a nonblocking proxy listener"))?;
    let listen_port = listener
        .local_addr()
        .map_err(RealError::io("a proxy's address"))?
        .port();
    Ok(Link {
        from,
        to,
        latency,
        listen_port,
        listener,
        target: SocketAddr::from(([127, 0, 0, 1], target_port)),
    })
}

impl Proxies {
    /// Accept on every link (one thread polls all listeners; every accepted
    /// connection gets a pump per direction).
    pub fn start(links: Vec<Link>) -> Proxies {
        let stop = Arc::new(AtomicBool::new(false));
        let bytes = Counter::default();
        let (s, b) = (stop.clone(), bytes.clone());
        let acceptor = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut idle = true;
                for link in &links {
                    if let Ok((inbound, _)) = link.listener.accept() {
                        idle = false;
                        connect(link, inbound, &b);
                    }
                }
                if idle {
                    thread::sleep(Duration::from_millis(10));
                }
            }
        });
        Proxies {
            stop,
            acceptor: Some(acceptor),
            bytes,
        }
    }

    /// Stop accepting (pumps end when their connections close).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Connect an accepted connection to the link's target and pump both ways.
/// A target that does not answer closes the inbound side: the dialler's
/// bootstrap retry dials again.
fn connect(link: &Link, inbound: TcpStream, bytes: &Counter) {
    let _ = inbound.set_nonblocking(false);
    let Ok(outbound) = TcpStream::connect_timeout(&link.target, Duration::from_secs(2)) else {
        let _ = inbound.shutdown(Shutdown::Both);
        return;
    };
    for s in [&inbound, &outbound] {
        let _ = s.set_nodelay(true);
    }
    let (Ok(in2), Ok(out2)) = (inbound.try_clone(), outbound.try_clone()) else {
        return;
    };
    pump(inbound, out2, link.latency, bytes.clone());
    pump(outbound, in2, link.latency, bytes.clone());
}

/// Copy `src` to `dst`, each chunk written `latency` after it was read (a
/// reader and a writer thread joined by a queue, so a slow link still
/// carries back-to-back chunks in one latency, as a wire does).
fn pump(mut src: TcpStream, mut dst: TcpStream, latency: Duration, bytes: Counter) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let spawn = |f: Box<dyn FnOnce() + Send>| {
        thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(f)
            .is_ok()
    };
    spawn(Box::new(move || {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match src.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + latency, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        // Dropping `tx` tells the writer the stream ended.
    }));
    spawn(Box::new(move || {
        while let Ok((due, chunk)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if dst.write_all(&chunk).is_err() {
                break;
            }
            bytes.0.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        let _ = dst.shutdown(Shutdown::Write);
    }));
}
