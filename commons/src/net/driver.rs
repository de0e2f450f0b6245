//! The event loop: swarm events and handle commands in, core calls and
//! swarm actions out. Everything runs on one task, so per-peer state needs
//! no locks; the core's mutex is taken for one call at a time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId, PublishError};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::behaviour::{
    Behaviour, BehaviourEvent, GRAYLIST_THRESHOLD, SCORE_PER_STRIKE, is_same_commons, topic,
};
use super::{BanReason, BannedPeer, Command, NetConfig, NetError, PeerInfo};
use crate::policy::{Action, Admission, BanCause, PeerPolicy};
use crate::service::{Commons, GossipVerdict, SyncRejection, SyncRequest, SyncResponse};
use crate::sync_peers::{PUSH_PEERS, SyncPeers};

/// How long `spawn` waits for the listen addresses to be bound.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Bootstrap redials back off exponentially up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long shutdown waits for connections to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a banned peer's connection stays open for its refusal to go
/// out.
const REFUSAL_GRACE: Duration = Duration::from_secs(2);
/// Addresses kept per peer (identify lists are the peer's to choose).
const MAX_ADDRESSES: usize = 8;

/// Lock the core. A panic inside a core call poisons the mutex; the core
/// commits each accepted record in one store transaction, so the state
/// behind a poisoned lock is still whole and the network keeps going.
pub(crate) fn lock(commons: &Mutex<Commons>) -> MutexGuard<'_, Commons> {
    commons.lock().unwrap_or_else(|poisoned| {
        tracing::error!("commons lock was poisoned by a panic; continuing");
        poisoned.into_inner()
    })
}

/// Core calls may write to disk (an fsync per accepted batch). On a
/// multi-threaded runtime, tell tokio so other tasks move off this thread;
/// on a current-thread runtime there is nowhere to move them.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The system clock in unix milliseconds (the default [`super::Clock`]).
pub(crate) fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A random number in `0..n` (for the sync policy's tie-breaks); 0 if the
/// OS has no randomness to give, which only makes the order less varied.
fn random_below(n: usize) -> usize {
    getrandom::u64().map_or(0, |r| (r % n.max(1) as u64) as usize)
}

fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(6)).min(MAX_BACKOFF)
}

struct PeerState {
    connected_since: SystemTime,
    addresses: Vec<Multiaddr>,
    /// Sync requests sent and not yet answered: a new round starts only
    /// when the previous one is over.
    in_flight: usize,
    agent: Option<String>,
}

impl PeerState {
    fn add_address(&mut self, addr: Multiaddr) {
        if !self.addresses.contains(&addr) && self.addresses.len() < MAX_ADDRESSES {
            self.addresses.push(addr);
        }
    }
}

struct Bootstrap {
    addr: Multiaddr,
    /// Known from the address's `/p2p` suffix or from the first connection.
    peer: Option<PeerId>,
    attempts: u32,
    next_at: Option<Instant>,
    dialing: Option<ConnectionId>,
    connected: bool,
    given_up: bool,
}

pub(crate) struct Driver {
    swarm: Swarm<Behaviour>,
    commons: Arc<Mutex<Commons>>,
    commons_id: String,
    topic: IdentTopic,
    sync_interval: Duration,
    bootstrap_attempts: u32,
    listeners: Vec<ListenerId>,
    peers: HashMap<PeerId, PeerState>,
    /// Strikes, bans and gossip rates: the core's peer policy.
    policy: PeerPolicy<PeerId>,
    /// Who answered sync requests: which peers a round asks (the core's
    /// choice, the one the simulator measures).
    sync_peers: SyncPeers<PeerId>,
    banned: HashMap<PeerId, BannedPeer>,
    bootstraps: Vec<Bootstrap>,
    identify_timeout: Duration,
    /// What time it is (unix ms): the system clock, or a test's.
    clock: super::Clock,
    /// Events that arrived while `listen` waited for addresses.
    early_events: Vec<SwarmEvent<BehaviourEvent>>,
    stopping: bool,
    /// Banned peers whose refusal is still on its way to them: their
    /// connections close [`REFUSAL_GRACE`] after it was sent (at once if
    /// sending failed). Meanwhile nothing of theirs is taken.
    closing: Vec<(PeerId, Instant)>,
}

impl Driver {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        commons: Arc<Mutex<Commons>>,
        commons_id: String,
        config: &NetConfig,
    ) -> Driver {
        Driver {
            swarm,
            commons,
            topic: topic(&commons_id),
            commons_id,
            sync_interval: config.sync_interval.max(Duration::from_millis(100)),
            bootstrap_attempts: config.bootstrap_attempts.max(1),
            listeners: Vec::new(),
            peers: HashMap::new(),
            policy: PeerPolicy::new(config.strikes_to_ban, config.gossip_rate_per_sec),
            sync_peers: SyncPeers::new(),
            banned: HashMap::new(),
            bootstraps: Vec::new(),
            early_events: Vec::new(),
            clock: config.clock.clone(),
            stopping: false,
            closing: Vec::new(),
            identify_timeout: config.identify_timeout,
        }
    }

    /// Start every listener and wait until each has bound an address, so
    /// the caller can learn the ports right away.
    pub(crate) async fn listen(&mut self, addrs: &[Multiaddr]) -> Result<(), NetError> {
        let mut waiting: HashMap<ListenerId, Multiaddr> = HashMap::new();
        for addr in addrs {
            let id = self
                .swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
            self.listeners.push(id);
            waiting.insert(id, addr.clone());
        }
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        while !waiting.is_empty() {
            let Ok(event) = tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await
            else {
                let addr = waiting
                    .into_values()
                    .next()
                    .unwrap_or_else(Multiaddr::empty);
                return Err(NetError::Listen {
                    addr,
                    reason: format!("no address bound within {LISTEN_TIMEOUT:?}"),
                });
            };
            match event {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    tracing::info!(%address, "listening");
                    waiting.remove(&listener_id);
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } if waiting.contains_key(&listener_id) => {
                    return Err(NetError::Listen {
                        addr: waiting
                            .remove(&listener_id)
                            .unwrap_or_else(Multiaddr::empty),
                        reason: match reason {
                            Ok(()) => "listener closed".into(),
                            Err(e) => e.to_string(),
                        },
                    });
                }
                SwarmEvent::ListenerError { listener_id, error }
                    if waiting.contains_key(&listener_id) =>
                {
                    return Err(NetError::Listen {
                        addr: waiting
                            .remove(&listener_id)
                            .unwrap_or_else(Multiaddr::empty),
                        reason: error.to_string(),
                    });
                }
                other => self.early_events.push(other),
            }
        }
        Ok(())
    }

    pub(crate) fn add_bootstrap(&mut self, addr: Multiaddr) {
        let peer = match addr.iter().last() {
            Some(Protocol::P2p(p)) => Some(p),
            _ => None,
        };
        self.bootstraps.push(Bootstrap {
            addr,
            peer,
            attempts: 0,
            next_at: Some(Instant::now()),
            dialing: None,
            connected: false,
            given_up: false,
        });
    }

    pub(crate) async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        for event in std::mem::take(&mut self.early_events) {
            self.on_swarm_event(event);
        }
        self.dial_due_bootstraps();
        let start = tokio::time::Instant::now();
        let mut sync_tick =
            tokio::time::interval_at(start + self.sync_interval, self.sync_interval);
        sync_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut maintenance = tokio::time::interval(Duration::from_secs(1));
        maintenance.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        self.close().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => {
                        tracing::info!("every network handle dropped; stopping");
                        self.close().await;
                        return;
                    }
                },
                _ = sync_tick.tick() => self.sync_all(),
                _ = maintenance.tick() => self.maintain(),
            }
        }
    }

    /// Stop listening, close every connection and wait (briefly) for the
    /// closes to go through, so peers see a clean goodbye.
    async fn close(&mut self) {
        self.stopping = true;
        for id in std::mem::take(&mut self.listeners) {
            self.swarm.remove_listener(id);
        }
        let connected: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in connected {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let deadline = tokio::time::Instant::now() + CLOSE_TIMEOUT;
        while self.swarm.network_info().num_peers() > 0 {
            match tokio::time::timeout_at(deadline, self.swarm.select_next_some()).await {
                Ok(event) => self.on_swarm_event(event),
                Err(_) => break,
            }
        }
        tracing::info!("network stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { bytes, reply } => {
                let _ = reply.send(self.publish(&bytes));
            }
            Command::Peers { reply } => {
                let _ = reply.send(self.peer_infos());
            }
            Command::Banned { reply } => {
                let _ = reply.send(self.banned.values().cloned().collect());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Dial { addr, reply } => {
                let _ = reply.send(self.dial(addr));
            }
            Command::SyncNow { reply } => {
                self.sync_all();
                let _ = reply.send(());
            }
            // Handled in `run`, which owns the loop.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn publish(&mut self, bytes: &[u8]) -> Result<crate::record::RecordId, NetError> {
        let span = tracing::debug_span!("publish", kind = "publish", bytes = bytes.len());
        let _enter = span.enter();
        let (id, change) = {
            let now = (self.clock)();
            blocking(|| lock(&self.commons).publish(bytes, now))
        }?;
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), change)
        {
            Ok(_) => tracing::debug!(record = %id, "published and gossiped"),
            // The record is durably accepted either way; peers that did not
            // get it by gossip get it from the next sync round.
            Err(PublishError::NoPeersSubscribedToTopic) => {
                tracing::debug!(record = %id, "published; no gossip peers yet, sync will carry it")
            }
            Err(e) => {
                tracing::warn!(record = %id, error = %e, "published but not gossiped; sync will carry it")
            }
        }
        self.push(None);
        Ok(id)
    }

    fn peer_infos(&mut self) -> Vec<PeerInfo> {
        let now = Instant::now();
        let mut out: Vec<PeerInfo> = {
            let core = lock(&self.commons);
            let gossipsub = &self.swarm.behaviour().gossipsub;
            self.peers
                .iter()
                .map(|(peer, state)| PeerInfo {
                    peer_id: *peer,
                    addresses: state.addresses.clone(),
                    connected_since: state.connected_since,
                    rejections: core.rejections().total_for(&peer.to_string()),
                    score: gossipsub.peer_score(peer).unwrap_or(0.0),
                    strikes: self.policy.strikes(peer, now),
                    agent: state.agent.clone(),
                })
                .collect()
        };
        out.sort_by_key(|p| p.peer_id.to_bytes());
        out
    }

    fn dial(&mut self, addr: Multiaddr) -> Result<(), NetError> {
        if let Some(Protocol::P2p(peer)) = addr.iter().last()
            && self.banned.contains_key(&peer)
        {
            return Err(NetError::Dial {
                addr: addr.to_string(),
                reason: "peer is banned".into(),
            });
        }
        self.swarm.dial(addr.clone()).map_err(|e| NetError::Dial {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.stopping || self.banned.contains_key(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                let state = self.peers.entry(peer_id).or_insert_with(|| PeerState {
                    connected_since: SystemTime::now(),
                    addresses: Vec::new(),
                    in_flight: 0,
                    agent: None,
                });
                state.add_address(endpoint.get_remote_address().clone());
                for b in &mut self.bootstraps {
                    if b.dialing == Some(connection_id) || b.peer == Some(peer_id) {
                        b.peer = Some(peer_id);
                        b.dialing = None;
                        b.connected = true;
                        b.attempts = 0;
                        b.next_at = None;
                    }
                }
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, address = %endpoint.get_remote_address(), "connected");
                    self.start_sync(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                if num_established > 0 {
                    return;
                }
                self.peers.remove(&peer_id);
                self.policy.gone(&peer_id);
                self.sync_peers.gone(&peer_id);
                let peer = peer_id.to_string();
                blocking(|| lock(&self.commons).peer_gone(&peer));
                match cause {
                    Some(e) => tracing::info!(peer = %peer_id, cause = %e, "disconnected"),
                    None => tracing::info!(peer = %peer_id, "disconnected"),
                }
                let banned = self.banned.contains_key(&peer_id);
                for b in &mut self.bootstraps {
                    if b.peer == Some(peer_id) && b.connected {
                        b.connected = false;
                        if banned || self.stopping {
                            b.given_up = true;
                        } else {
                            b.next_at = Some(Instant::now() + backoff(b.attempts));
                        }
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                tracing::debug!(peer = ?peer_id, error = %error, "dial failed");
                let denied = matches!(error, DialError::Denied { .. });
                let max = self.bootstrap_attempts;
                for b in &mut self.bootstraps {
                    if b.dialing != Some(connection_id) {
                        continue;
                    }
                    b.dialing = None;
                    let banned = b
                        .peer
                        .or(peer_id)
                        .is_some_and(|p| self.banned.contains_key(&p));
                    b.attempts += 1;
                    if denied || banned || b.attempts >= max {
                        b.given_up = true;
                        tracing::warn!(address = %b.addr, attempts = b.attempts, error = %error, "giving up on bootstrap peer");
                    } else {
                        b.next_at = Some(Instant::now() + backoff(b.attempts));
                        tracing::info!(address = %b.addr, attempts = b.attempts, error = %error, "bootstrap dial failed; will retry");
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(%error, "incoming connection failed");
            }
            _ => {}
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => self.on_gossip(propagation_source, message_id, message),
            BehaviourEvent::Gossipsub(other) => tracing::trace!(event = ?other, "gossipsub"),
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.on_sync_request(peer, request, channel),
                    request_response::Message::Response { response, .. } => {
                        self.on_sync_response(peer, response)
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer, error, ..
            }) => {
                self.request_done(&peer);
                tracing::debug!(%peer, %error, "sync request failed");
                self.on_sync_failure(peer, &error);
            }
            BehaviourEvent::Sync(request_response::Event::InboundFailure {
                peer, error, ..
            }) => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
                self.close_if_refused(&peer);
            }
            // A refusal counts as out a grace period after it was sent, not
            // at ResponseSent: closing the connection right then can still
            // drop the bytes on their way (the attacker test saw it).
            BehaviourEvent::Sync(request_response::Event::ResponseSent { .. }) => {}
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if !is_same_commons(&info.protocol_version, &self.commons_id) {
                    tracing::info!(peer = %peer_id, version = %info.protocol_version, "peer is not of this commons");
                    self.ban(peer_id, BanReason::ForeignCommons);
                    return;
                }
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    state.agent = Some(info.agent_version.chars().take(64).collect());
                    for addr in info.listen_addrs {
                        state.add_address(addr);
                    }
                }
            }
            BehaviourEvent::Identify(_) | BehaviourEvent::Ping(_) => {}
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    if self.banned.contains_key(&peer) || self.swarm.is_connected(&peer) {
                        continue;
                    }
                    let opts = DialOpts::peer_id(peer)
                        .addresses(vec![addr])
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    if let Err(e) = self.swarm.dial(opts) {
                        tracing::debug!(%peer, error = %e, "could not dial a peer found by mDNS");
                    }
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Expired(_)) => {}
            BehaviourEvent::Blocked(never) => match never {},
            BehaviourEvent::Limits(never) => match never {},
            BehaviourEvent::Pending(never) => match never {},
        }
    }

    fn on_gossip(&mut self, source: PeerId, message_id: MessageId, message: gossipsub::Message) {
        let span = tracing::debug_span!("gossip", peer = %source, kind = "gossip", bytes = message.data.len());
        let _enter = span.enter();
        if let Admission::Ignore { then } = self.policy.admit_gossip(&source, Instant::now()) {
            self.report(&message_id, &source, MessageAcceptance::Ignore);
            tracing::debug!("over the gossip rate; ignored");
            self.act(source, then, "flood");
            return;
        }
        let peer = source.to_string();
        let verdict = {
            let now = (self.clock)();
            blocking(|| lock(&self.commons).on_gossip(&peer, &message.data, now))
        };
        match verdict {
            GossipVerdict::Accept(id) => {
                tracing::debug!(record = %id, "accepted");
                self.report(&message_id, &source, MessageAcceptance::Accept);
                self.sync_peers.heard(&source);
                self.push(Some(source));
            }
            GossipVerdict::Ignore => {
                self.report(&message_id, &source, MessageAcceptance::Ignore);
                // A change whose parent we lack: the sender has it.
                if !blocking(|| lock(&self.commons).take_behind()).is_empty() {
                    tracing::debug!("behind the sender; syncing with it now");
                    self.start_sync(source);
                }
            }
            GossipVerdict::Reject(ref rejection) => {
                tracing::debug!(reason = rejection.reason(), "gossip rejected");
                self.report(&message_id, &source, MessageAcceptance::Reject);
                let action = self
                    .policy
                    .on_gossip_verdict(&source, &verdict, Instant::now());
                self.act(source, action, rejection.reason());
            }
        }
    }

    fn report(&mut self, id: &MessageId, source: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
    }

    fn on_sync_request(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        let kind = match &request {
            SyncRequest::Docs { .. } => "docs",
            SyncRequest::Sync { .. } => "sync",
        };
        let span = tracing::debug_span!("sync_request", %peer, kind);
        let _enter = span.enter();
        if self.banned.contains_key(&peer) {
            return;
        }
        let peer_s = peer.to_string();
        let (result, took_in) = {
            let now = (self.clock)();
            blocking(|| {
                let mut commons = lock(&self.commons);
                let before = commons.accepted_count();
                let result = commons.on_sync_request(&peer_s, request, now);
                (result, commons.accepted_count() > before)
            })
        };
        match result {
            Ok(response) => {
                self.sync_peers.heard(&peer);
                self.send_response(channel, response);
                if took_in {
                    self.push(Some(peer));
                }
            }
            Err(e) => {
                let refused = SyncResponse::Refused {
                    reason: e.reason().to_string(),
                };
                self.send_response(channel, refused);
                // If this is a ban, the connection stays open until the
                // refusal is out, so the peer learns why.
                self.closing.push((peer, Instant::now()));
                self.on_sync_rejection(peer, &e);
                if !self.banned.contains_key(&peer) {
                    self.closing.retain(|(p, _)| *p != peer);
                }
            }
        }
    }

    fn send_response(&mut self, channel: ResponseChannel<SyncResponse>, response: SyncResponse) {
        if self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response)
            .is_err()
        {
            tracing::debug!("the requester went away before the response");
        }
    }

    fn on_sync_response(&mut self, peer: PeerId, response: SyncResponse) {
        let kind = match &response {
            SyncResponse::Docs { .. } => "docs",
            SyncResponse::Sync { .. } => "sync",
            SyncResponse::Refused { .. } => "refused",
        };
        let span = tracing::debug_span!("sync_response", %peer, kind);
        let _enter = span.enter();
        self.request_done(&peer);
        if self.banned.contains_key(&peer) {
            return;
        }
        self.sync_peers.answered(&peer, Instant::now());
        let peer_s = peer.to_string();
        let (result, took_in) = {
            let now = (self.clock)();
            blocking(|| {
                let mut commons = lock(&self.commons);
                let before = commons.accepted_count();
                let result = commons.on_sync_response(&peer_s, response, now);
                (result, commons.accepted_count() > before)
            })
        };
        match result {
            Ok(follow_ups) => {
                for request in follow_ups {
                    self.send_sync(peer, request);
                }
                if took_in {
                    self.push(Some(peer));
                }
            }
            Err(e) => self.on_sync_rejection(peer, &e),
        }
    }

    /// What a refused sync message costs the peer. Honest nodes only ever
    /// send records they accepted and changes Automerge made, so a forged
    /// or malformed record, a wrong id or a forbidden operation is a ban.
    /// Two gate reasons can differ between honest nodes (a record dated
    /// ahead of our clock, a rule that depends on records we have not seen
    /// yet): those are strikes. Our own store failing is not the peer's
    /// fault at all.
    fn on_sync_rejection(&mut self, peer: PeerId, e: &SyncRejection) {
        if let SyncRejection::Store(_) = e {
            tracing::error!(%peer, error = %e, "store failed while syncing; peer not blamed");
        }
        let action = self.policy.on_sync_rejection(&peer, e, Instant::now());
        self.act(peer, action, e.reason());
    }

    /// A sync request got no answer. A timeout (or a peer that cannot
    /// speak the protocol) is a miss: a soft mark that lowers the peer's
    /// rank for sync and is forgiven in time, never a strike, since an
    /// honest peer may be slow or away. A closed connection or a failed
    /// dial is nobody's fault: the round just ends. Either way, if no
    /// peer answered since the round began, another peer is asked now
    /// rather than at the next tick.
    fn on_sync_failure(&mut self, peer: PeerId, error: &request_response::OutboundFailure) {
        let now = Instant::now();
        let since = self.sync_peers.pending_since(&peer);
        match error {
            request_response::OutboundFailure::DialFailure
            | request_response::OutboundFailure::ConnectionClosed => self.sync_peers.gone(&peer),
            _ => {
                let misses = self.sync_peers.timed_out(&peer, now);
                tracing::debug!(%peer, misses, "sync request unanswered");
            }
        }
        if let Some(since) = since
            && !self.sync_peers.answered_since(since)
        {
            self.sync_best(1);
        }
    }

    fn request_done(&mut self, peer: &PeerId) {
        if let Some(p) = self.peers.get_mut(peer) {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }

    fn send_sync(&mut self, peer: PeerId, request: SyncRequest) {
        self.swarm.behaviour_mut().sync.send_request(&peer, request);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.in_flight += 1;
        }
    }

    /// Begin a catch-up round with `peer`, unless one is still running.
    fn start_sync(&mut self, peer: PeerId) {
        if !self.can_start(&peer) {
            return;
        }
        let peer_s = peer.to_string();
        let request = blocking(|| lock(&self.commons).sync_start(&peer_s));
        tracing::debug!(%peer, "sync round started");
        self.send_sync(peer, request);
        self.sync_peers.started(&peer, Instant::now());
    }

    /// Connected peers with no round running, ranked by the sync policy
    /// (answered or untried first, then those with misses).
    fn ranked_idle_peers(&mut self) -> Vec<PeerId> {
        let idle = self.idle_peers();
        self.sync_peers.rank(&idle, Instant::now(), random_below)
    }

    /// Connected peers not banned and with no request of ours in flight.
    fn idle_peers(&self) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(peer, p)| p.in_flight == 0 && !self.banned.contains_key(*peer))
            .map(|(peer, _)| *peer)
            .collect()
    }

    /// Whether a round (or a push) with `peer` may begin now.
    fn can_start(&self, peer: &PeerId) -> bool {
        !self.stopping
            && !self.banned.contains_key(peer)
            && self.peers.get(peer).is_some_and(|p| p.in_flight == 0)
    }

    /// The tick's rounds: every idle peer in good standing (no unforgiven
    /// miss); if none is, the least bad one, so a node whose peers all
    /// timed out keeps trying.
    fn sync_all(&mut self) {
        let now = Instant::now();
        let ranked = self.ranked_idle_peers();
        let mut chosen: Vec<PeerId> = ranked
            .iter()
            .copied()
            .filter(|p| self.sync_peers.in_good_standing(p, now))
            .collect();
        if chosen.is_empty() {
            chosen.extend(ranked.first().copied());
        }
        for peer in chosen {
            self.start_sync(peer);
        }
    }

    /// Rounds with [`PUSH_PEERS`] peers that answer (or were not tried),
    /// after records came in by gossip or sync (`from` the peer that sent
    /// them, who has them) or one was published here: they carry it over links gossipsub's mesh may not
    /// use (see [`SyncPeers::push_targets`]).
    fn push(&mut self, from: Option<PeerId>) {
        let mut idle = self.idle_peers();
        idle.retain(|p| Some(*p) != from);
        let chosen = self
            .sync_peers
            .push_targets(&idle, PUSH_PEERS, Instant::now(), random_below);
        for peer in chosen {
            self.start_push(peer);
        }
    }

    /// A push to `peer`: a sync message for every live document at once,
    /// without the `Docs` step (see [`Commons::push_start`]), unless a
    /// round with it is running.
    fn start_push(&mut self, peer: PeerId) {
        if !self.can_start(&peer) {
            return;
        }
        let peer_s = peer.to_string();
        let requests = {
            let now = (self.clock)();
            blocking(|| lock(&self.commons).push_start(&peer_s, now))
        };
        if requests.is_empty() {
            return;
        }
        tracing::debug!(%peer, docs = requests.len(), "push started");
        for request in requests {
            self.send_sync(peer, request);
        }
        self.sync_peers.started(&peer, Instant::now());
    }

    /// Start rounds with the `n` best idle peers.
    fn sync_best(&mut self, n: usize) {
        let mut ranked = self.ranked_idle_peers();
        ranked.truncate(n);
        for peer in ranked {
            self.start_sync(peer);
        }
    }

    /// Carry out what the peer policy decided.
    fn act(&mut self, peer: PeerId, action: Action, why: &str) {
        match action {
            Action::Nothing => {}
            Action::Strike { count } => {
                // The strike also lowers the gossipsub score, so a peer with
                // strikes is the first to lose mesh slots.
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .set_application_score(&peer, f64::from(count) * SCORE_PER_STRIKE);
                tracing::info!(%peer, why, strikes = count, "strike");
            }
            Action::Ban(cause) => {
                let reason = match cause {
                    BanCause::Strikes => BanReason::Strikes,
                    BanCause::BadSync(r) => BanReason::BadSync(r),
                    BanCause::ForeignCommons => BanReason::ForeignCommons,
                };
                tracing::info!(%peer, why, "ban");
                self.ban(peer, reason);
            }
        }
    }

    /// Block the peer (no connection either way from now on), forget it in
    /// gossipsub and close its connections.
    fn ban(&mut self, peer: PeerId, reason: BanReason) {
        if self.banned.contains_key(&peer) {
            return;
        }
        self.policy.note_ban(&peer);
        self.sync_peers.gone(&peer);
        match reason {
            BanReason::ForeignCommons => tracing::info!(%peer, %reason, "peer cut off"),
            _ => tracing::warn!(%peer, %reason, "peer banned"),
        }
        self.banned.insert(
            peer,
            BannedPeer {
                peer_id: peer,
                reason,
                since: SystemTime::now(),
            },
        );
        self.swarm.behaviour_mut().gossipsub.blacklist_peer(&peer);
        if !self.closing.iter().any(|(p, _)| *p == peer) {
            self.cut_off(peer);
        }
        for b in &mut self.bootstraps {
            if b.peer == Some(peer) {
                b.given_up = true;
            }
        }
    }

    /// Block a banned peer and close its connections.
    fn cut_off(&mut self, peer: PeerId) {
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// A refusal to `peer` had its grace period (or failed to send): if it
    /// banned the peer, close now.
    fn close_if_refused(&mut self, peer: &PeerId) {
        let before = self.closing.len();
        self.closing.retain(|(p, _)| p != peer);
        if self.closing.len() != before && self.banned.contains_key(peer) {
            self.cut_off(*peer);
        }
    }

    /// Once a second: redial bootstrap peers that are due, and ban peers
    /// whose gossipsub score fell below the graylist (gossipsub already
    /// ignores them; there is no point keeping the connection).
    fn maintain(&mut self) {
        self.dial_due_bootstraps();
        // Rounds still unanswered a while after they began (and nobody
        // answered since) ask one more peer each.
        let late = self.sync_peers.take_late(Instant::now());
        if late > 0 && !self.stopping {
            tracing::debug!(late, "sync rounds unanswered; asking more peers");
            self.sync_best(late);
        }
        // A peer that has not identified as a node of this commons in time
        // is not one (identify's answer is what tells commons apart).
        let silent: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                p.agent.is_none()
                    && p.connected_since
                        .elapsed()
                        .is_ok_and(|e| e >= self.identify_timeout)
            })
            .map(|(peer, _)| *peer)
            .collect();
        for peer in silent {
            self.ban(peer, BanReason::NoIdentify);
        }
        let overdue: Vec<PeerId> = self
            .closing
            .iter()
            .filter(|(_, since)| since.elapsed() >= REFUSAL_GRACE)
            .map(|(p, _)| *p)
            .collect();
        for peer in overdue {
            self.close_if_refused(&peer);
        }
        // Old telemetry epochs go when their retention ends, whether or not
        // anything arrives (the core checks once per calendar month).
        let now = (self.clock)();
        if let Err(e) = blocking(|| lock(&self.commons).expire_due(now)) {
            tracing::error!(error = %e, "could not drop expired telemetry epochs");
        }
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let graylisted: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|p| {
                gossipsub
                    .peer_score(p)
                    .is_some_and(|s| s < GRAYLIST_THRESHOLD)
            })
            .copied()
            .collect();
        for peer in graylisted {
            self.ban(peer, BanReason::Score);
        }
    }

    fn dial_due_bootstraps(&mut self) {
        if self.stopping {
            return;
        }
        let now = Instant::now();
        let connected: HashSet<PeerId> = self.swarm.connected_peers().copied().collect();
        for b in &mut self.bootstraps {
            if b.given_up || b.connected || b.dialing.is_some() {
                continue;
            }
            if let Some(p) = b.peer {
                if self.banned.contains_key(&p) {
                    b.given_up = true;
                    continue;
                }
                if connected.contains(&p) {
                    b.connected = true;
                    continue;
                }
            }
            if b.next_at.is_none_or(|t| t > now) {
                continue;
            }
            let opts = match b.peer {
                Some(p) => DialOpts::peer_id(p)
                    .addresses(vec![b.addr.clone()])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
                None => DialOpts::unknown_peer_id().address(b.addr.clone()).build(),
            };
            let id = opts.connection_id();
            match self.swarm.dial(opts) {
                Ok(()) => {
                    tracing::debug!(address = %b.addr, "dialing bootstrap peer");
                    b.dialing = Some(id);
                    b.next_at = None;
                }
                Err(e) => {
                    b.attempts += 1;
                    if b.attempts >= self.bootstrap_attempts {
                        b.given_up = true;
                        tracing::warn!(address = %b.addr, error = %e, "giving up on bootstrap peer");
                    } else {
                        b.next_at = Some(now + backoff(b.attempts));
                    }
                }
            }
        }
    }
}
