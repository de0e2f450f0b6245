//! The libp2p service: moves records and sync messages between nodes and
//! hands every one of them to the protocol core ([`crate::service`]).
//!
//! Nothing here decides whether a record is acceptable; the core (and its
//! gate) does. This layer's own decisions are about peers: whom to talk to,
//! how much to take from each, and whom to stop talking to.
//!
//! * **Gossip** (gossipsub, anonymous messages, `validate_messages`): each
//!   message's data goes to [`Commons::on_gossip`]; its verdict becomes
//!   gossipsub's Accept / Ignore / Reject, so only records the gate passed
//!   are forwarded and peers that send rejected ones lose score.
//! * **Sync** (request-response, CBOR): on the first connection to a peer
//!   and every [`NetConfig::sync_interval`], a catch-up round runs
//!   Automerge's sync protocol per epoch document.
//! * **Peers**: identify tells nodes of another commons apart (cut off at
//!   once); a token bucket bounds each peer's gossip; rejected gossip and
//!   floods are strikes, and enough strikes, a graylisted gossipsub score or
//!   any bad sync message is a ban (blocked and disconnected, never
//!   redialed). Bans last as long as the process.
//!
//! [`spawn`] runs all of it on one tokio task; [`NetHandle`] talks to it.
//! The core sits behind a `std::sync::Mutex` that is never held across an
//! `.await`, so the daemon can read it directly (status, records) while the
//! network runs.

mod behaviour;
mod driver;
mod limits;
pub mod pending;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use serde::ser::{Serialize, SerializeStruct, Serializer};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::record::RecordId;
use crate::service::{Commons, CommonsError};

pub use behaviour::{
    Behaviour, BehaviourEvent, GRAYLIST_THRESHOLD, Gossipsub, MAX_GOSSIP_BYTES, MAX_SYNC_BYTES,
    SCORE_PER_STRIKE, SyncBehaviour, build_behaviour, build_swarm, identify_version,
    is_same_commons, score_params, sync_protocol, topic,
};
pub use limits::{BURST_SECONDS, STRIKE_FORGIVENESS, Strikes, TokenBucket};

/// What time it is, in unix milliseconds. The driver reads every time it
/// hands the core through this, so tests can move time without waiting.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(driver::system_now_ms)
}

/// How the network runs. [`NetConfig::new`] gives the defaults.
#[derive(Clone)]
pub struct NetConfig {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start (and redial, with backoff, when the
    /// connection is lost). An address may end in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the LAN. mDNS does not announce loopback
    /// addresses, so nodes on one machine need bootstrap addresses.
    pub mdns: bool,
    /// Also run QUIC (dialable `/quic-v1` addresses; listen on them by
    /// adding them to `listen`).
    pub quic: bool,
    /// Established connections in total.
    pub max_connections: u32,
    /// Incoming connections still in their handshake, in total (counted
    /// apart from established ones).
    pub max_pending_incoming: u32,
    /// Incoming connections in their handshake from one IP address, so one
    /// host cannot take every pending slot.
    pub max_pending_per_ip: u32,
    /// Established connections per peer (two lets simultaneous dials
    /// both succeed).
    pub max_per_peer: u32,
    /// How often a catch-up round runs with every connected peer.
    pub sync_interval: Duration,
    /// Gossip messages a second each peer may send us (with a burst of
    /// [`BURST_SECONDS`] of it); past it, messages are ignored and the
    /// peer gets a strike.
    pub gossip_rate_per_sec: u32,
    /// Strikes (rejected gossip, floods) before a peer is banned.
    pub strikes_to_ban: u32,
    /// This node's libp2p identity. It is not the key that signs records:
    /// peer ids say nothing about who wrote what.
    pub keypair: Keypair,
    /// How long a connection with nothing going on stays open.
    pub idle_timeout: Duration,
    /// How long to wait for a sync response.
    pub request_timeout: Duration,
    /// Dial attempts per bootstrap address before giving up on it (the
    /// count restarts after each successful connection).
    pub bootstrap_attempts: u32,
    /// How long a connected peer has to identify as a node of this commons
    /// before it is cut off (a peer that never answers identify would
    /// otherwise never be checked).
    pub identify_timeout: Duration,
    /// The clock the core is handed (records' ages, epoch expiry).
    pub clock: Clock,
}

impl NetConfig {
    /// Defaults: TCP on every interface, an OS-chosen port; mDNS on; QUIC
    /// off; 64 connections, 2 per peer; sync every 60 s; 50 gossip
    /// messages a second per peer; a ban at 5 strikes.
    pub fn new(keypair: Keypair) -> NetConfig {
        NetConfig {
            listen: vec![tcp_any()],
            bootstrap: Vec::new(),
            mdns: true,
            quic: false,
            max_connections: 64,
            max_pending_incoming: 32,
            max_pending_per_ip: 4,
            max_per_peer: 2,
            sync_interval: Duration::from_secs(60),
            gossip_rate_per_sec: 50,
            strikes_to_ban: 5,
            keypair,
            idle_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            bootstrap_attempts: 10,
            identify_timeout: Duration::from_secs(10),
            clock: system_clock(),
        }
    }

    /// A configuration for tests and local runs: loopback only, no mDNS.
    pub fn loopback(keypair: Keypair) -> NetConfig {
        NetConfig {
            listen: vec![tcp_loopback()],
            mdns: false,
            ..NetConfig::new(keypair)
        }
    }
}

fn tcp_any() -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    Multiaddr::empty()
        .with(Protocol::Ip4(std::net::Ipv4Addr::UNSPECIFIED))
        .with(Protocol::Tcp(0))
}

fn tcp_loopback() -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    Multiaddr::empty()
        .with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
        .with(Protocol::Tcp(0))
}

impl fmt::Debug for NetConfig {
    /// Everything but the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetConfig")
            .field("peer_id", &self.keypair.public().to_peer_id())
            .field("listen", &self.listen)
            .field("bootstrap", &self.bootstrap)
            .field("mdns", &self.mdns)
            .field("quic", &self.quic)
            .field("max_connections", &self.max_connections)
            .field("max_pending_incoming", &self.max_pending_incoming)
            .field("max_pending_per_ip", &self.max_pending_per_ip)
            .field("max_per_peer", &self.max_per_peer)
            .field("sync_interval", &self.sync_interval)
            .field("gossip_rate_per_sec", &self.gossip_rate_per_sec)
            .field("strikes_to_ban", &self.strikes_to_ban)
            .field("idle_timeout", &self.idle_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("bootstrap_attempts", &self.bootstrap_attempts)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network configuration: {0}")]
    Config(String),
    #[error("transport: {0}")]
    Transport(String),
    #[error("DNS resolver: {0}")]
    Dns(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("cannot dial {addr}: {reason}")]
    Dial { addr: String, reason: String },
    /// The local core refused the record (the gate, or the store).
    #[error(transparent)]
    Commons(#[from] CommonsError),
    #[error("the network task has stopped")]
    Stopped,
}

/// A connected peer, for `mirror commons peers`.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    /// Addresses we know for it: the connection's remote address and what
    /// it announced in identify.
    pub addresses: Vec<Multiaddr>,
    pub connected_since: SystemTime,
    /// Records and sync messages of this peer the core rejected.
    pub rejections: u64,
    /// Its gossipsub score (0 before gossipsub has seen it).
    pub score: f64,
    /// Current strikes (see [`NetConfig::strikes_to_ban`]).
    pub strikes: u32,
    /// identify's agent version, once known.
    pub agent: Option<String>,
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// JSON for the daemon's API: ids and addresses as strings, times as unix
/// milliseconds.
impl Serialize for PeerInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("PeerInfo", 7)?;
        s.serialize_field("peer_id", &self.peer_id.to_string())?;
        let addresses: Vec<String> = self.addresses.iter().map(|a| a.to_string()).collect();
        s.serialize_field("addresses", &addresses)?;
        s.serialize_field("connected_since", &unix_ms(self.connected_since))?;
        s.serialize_field("rejections", &self.rejections)?;
        s.serialize_field("score", &self.score)?;
        s.serialize_field("strikes", &self.strikes)?;
        s.serialize_field("agent", &self.agent)?;
        s.end()
    }
}

/// Why a peer was banned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BanReason {
    /// Too many strikes (rejected gossip, floods).
    Strikes,
    /// Its gossipsub score fell below the graylist threshold.
    Score,
    /// It sent a sync message the core refused (reason as counted).
    BadSync(&'static str),
    /// It belongs to another commons.
    ForeignCommons,
    /// It did not identify as a node of this commons in time.
    NoIdentify,
}

impl fmt::Display for BanReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BanReason::Strikes => f.write_str("too many strikes"),
            BanReason::Score => f.write_str("gossip score below the graylist threshold"),
            BanReason::BadSync(r) => write!(f, "bad sync message ({r})"),
            BanReason::ForeignCommons => f.write_str("belongs to another commons"),
            BanReason::NoIdentify => f.write_str("did not identify as a node of this commons"),
        }
    }
}

/// A banned peer.
#[derive(Debug, Clone)]
pub struct BannedPeer {
    pub peer_id: PeerId,
    pub reason: BanReason,
    pub since: SystemTime,
}

impl Serialize for BannedPeer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("BannedPeer", 3)?;
        s.serialize_field("peer_id", &self.peer_id.to_string())?;
        s.serialize_field("reason", &self.reason.to_string())?;
        s.serialize_field("since", &unix_ms(self.since))?;
        s.end()
    }
}

pub(crate) enum Command {
    Publish {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<RecordId, NetError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Banned {
        reply: oneshot::Sender<Vec<BannedPeer>>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    SyncNow {
        reply: oneshot::Sender<()>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// A handle on the running network. Cheap to clone; when every clone is
/// dropped the network shuts down.
#[derive(Clone)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
    local_peer_id: PeerId,
}

impl fmt::Debug for NetHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetHandle")
            .field("local_peer_id", &self.local_peer_id)
            .finish()
    }
}

impl NetHandle {
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Publish a record made on this node: through the gate into the local
    /// state, then to peers by gossip. Having no peers is not an error: the
    /// record is kept and reaches others by sync when they connect.
    pub async fn publish(&self, record_bytes: Vec<u8>) -> Result<RecordId, NetError> {
        self.ask(|reply| Command::Publish {
            bytes: record_bytes,
            reply,
        })
        .await?
    }

    /// Connected peers, in peer id order.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Peers banned since the network started.
    pub async fn banned(&self) -> Result<Vec<BannedPeer>, NetError> {
        self.ask(|reply| Command::Banned { reply }).await
    }

    /// The addresses this node listens on, as bound (ports resolved).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|reply| Command::ListenAddrs { reply }).await
    }

    /// Dial an address once (may end in `/p2p/<peer id>`). `Ok` means the
    /// dial started; the connection itself shows up in [`NetHandle::peers`].
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Start a catch-up round with every connected peer now.
    pub async fn sync_now(&self) -> Result<(), NetError> {
        self.ask(|reply| Command::SyncNow { reply }).await
    }

    /// Close every connection and stop the network task. The core's state
    /// is already durable (every accepted record is committed before it is
    /// acknowledged), so nothing is lost.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.ask(|reply| Command::Shutdown { reply }).await
    }
}

/// Build the swarm, start listening, dial the bootstrap peers and run the
/// network on a tokio task. Returns once the listen addresses are bound.
pub async fn spawn(
    config: NetConfig,
    commons: Arc<Mutex<Commons>>,
) -> Result<(NetHandle, JoinHandle<()>), NetError> {
    let commons_id = driver::lock(&commons).commons_id().to_string();
    let swarm = build_swarm(&config, &commons_id)?;
    let local_peer_id = *swarm.local_peer_id();
    let (tx, rx) = mpsc::channel(64);
    let mut driver = driver::Driver::new(swarm, commons, commons_id, &config);
    driver.listen(&config.listen).await?;
    for addr in &config.bootstrap {
        driver.add_bootstrap(addr.clone());
    }
    let task = tokio::spawn(driver.run(rx));
    Ok((NetHandle { tx, local_peer_id }, task))
}
