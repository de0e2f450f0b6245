//! The libp2p behaviour a commons node runs, and the swarm around it.
//!
//! Everything that names the commons on the wire is derived from its
//! genesis hash here, in one place, so nodes of two different commons never
//! share a gossip topic, never speak the same sync protocol, and tell each
//! other apart in identify.
//!
//! This is public so that a test harness (or a simulation) can build a
//! swarm that speaks exactly the protocols a real node speaks, including a
//! misbehaving one.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libp2p::gossipsub::{
    self, IdentTopic, IdentityTransform, MessageAuthenticity, MessageId, PeerScoreParams,
    PeerScoreThresholds, TopicScoreParams, ValidationMode, WhitelistSubscriptionFilter,
    score_parameter_decay,
};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, Swarm, SwarmBuilder, allow_block_list, connection_limits, identify, mdns,
    noise, ping, tcp, yamux,
};

use super::{NetConfig, NetError};
use crate::record::MAX_ANY_RECORD_BYTES;
use crate::service::{SyncRequest, SyncResponse};

/// Gossip messages are one Automerge change carrying one record (at most
/// [`MAX_ANY_RECORD_BYTES`], a release; 64 KiB for every other kind) plus
/// the change's overhead; anything larger is not from an honest node, and
/// refusing it at the transport keeps it from costing a decode. The gate
/// then holds each kind to its own limit.
pub const MAX_GOSSIP_BYTES: usize = MAX_ANY_RECORD_BYTES + 32 * 1024;
/// A sync request or response carries one Automerge sync message, which the
/// core bounds at 16 MiB; the codec refuses to buffer more than that.
pub const MAX_SYNC_BYTES: u64 = 16 * 1024 * 1024 + 64 * 1024;
/// Gossipsub's graylist threshold: a peer scored below it is ignored by
/// gossipsub, and the driver disconnects and bans it.
pub const GRAYLIST_THRESHOLD: f64 = -80.0;
/// How much each strike (see the driver) lowers a peer's gossipsub score,
/// through the application-specific score.
pub const SCORE_PER_STRIKE: f64 = -5.0;

/// The gossip topic every node of the commons subscribes to.
pub fn topic(commons_id: &str) -> IdentTopic {
    IdentTopic::new(format!("mirror/commons/{commons_id}/records/1"))
}

/// The request-response protocol carrying Automerge sync messages. Only a
/// prefix of the id fits comfortably in a protocol name; the full id is
/// still checked in every request and in identify.
pub fn sync_protocol(commons_id: &str) -> Result<StreamProtocol, NetError> {
    let prefix: String = commons_id.chars().take(16).collect();
    StreamProtocol::try_from_owned(format!("/mirror/commons/{prefix}/sync/1"))
        .map_err(|e| NetError::Config(format!("sync protocol name: {e}")))
}

/// What identify announces; a peer announcing another commons is cut off.
pub fn identify_version(commons_id: &str) -> String {
    format!("mirror/commons/{commons_id}/1")
}

/// Whether an identify protocol version names this commons. Anything that
/// is not a Mirror commons version string at all is foreign too.
pub fn is_same_commons(protocol_version: &str, commons_id: &str) -> bool {
    protocol_version
        .strip_prefix("mirror/commons/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(id, _)| id == commons_id)
}

/// Gossipsub messages are identified by blake3 of their data: with
/// anonymous messages there is no source and sequence number to tell two
/// copies apart, and identical bytes are the same change anyway.
fn message_id(message: &gossipsub::Message) -> MessageId {
    MessageId::from(blake3::hash(&message.data).as_bytes().to_vec())
}

/// The gossipsub configured for a commons.
pub type Gossipsub = gossipsub::Behaviour<IdentityTransform, WhitelistSubscriptionFilter>;
/// The sync protocol's request-response behaviour.
pub type SyncBehaviour = request_response::cbor::Behaviour<SyncRequest, SyncResponse>;

/// Everything a commons node runs on a connection.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Denies banned peers before any other behaviour sees them.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub limits: connection_limits::Behaviour,
    /// Pending incoming connections per remote IP (see `pending`).
    pub pending: super::pending::PendingPerIp,
    pub gossipsub: Gossipsub,
    pub sync: SyncBehaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Peer scoring for small networks. Gossipsub's defaults assume a busy
/// network: the "mesh message deliveries" penalty punishes peers that
/// deliver fewer than 20 messages in a window, which in a commons that sees
/// a few records a day would graylist every honest peer. So delivery
/// penalties are off, positive credit is small and capped, and the only
/// strong signal is the one that matters here: messages the gate rejected.
pub fn score_params(topic: &IdentTopic) -> (PeerScoreParams, PeerScoreThresholds) {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        // Up to +10 after about 17 minutes in the mesh.
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 1000.0,
        // Up to +10 for being first with valid records.
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: score_parameter_decay(Duration::from_secs(3600)),
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // Squared: one rejected message costs 10, two 40, three 90 (past
        // the graylist even with full credit). Forgotten over about an hour,
        // so a rare honest disagreement (clock skew, rules seen in a
        // different order) does not add up to a ban.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: score_parameter_decay(Duration::from_secs(3600)),
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        topic_score_cap: 20.0,
        app_specific_weight: 1.0,
        // Nodes on one machine (development, tests) share an address; many
        // peers behind one public address are still penalised.
        ip_colocation_factor_threshold: 8.0,
        ip_colocation_factor_whitelist: HashSet::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        behaviour_penalty_weight: -5.0,
        behaviour_penalty_threshold: 6.0,
        ..PeerScoreParams::default()
    };
    params.topics.insert(topic.hash(), topic_params);
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: GRAYLIST_THRESHOLD,
        accept_px_threshold: 10.0,
        opportunistic_graft_threshold: 2.0,
    };
    (params, thresholds)
}

/// Build the behaviour for `commons_id` (subscribed to its topic).
pub fn build_behaviour(
    keypair: &Keypair,
    commons_id: &str,
    config: &NetConfig,
) -> Result<Behaviour, NetError> {
    let topic = topic(commons_id);
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(MAX_GOSSIP_BYTES)
        .heartbeat_interval(Duration::from_secs(1))
        // Small networks: a few mesh peers are the whole network.
        .mesh_n_low(2)
        .mesh_n(4)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .build()
        .map_err(|e| NetError::Config(format!("gossipsub: {e}")))?;
    let filter = WhitelistSubscriptionFilter(HashSet::from([topic.hash()]));
    let mut gossipsub = Gossipsub::new_with_subscription_filter(
        MessageAuthenticity::Anonymous,
        gossip_config,
        filter,
    )
    .map_err(|e| NetError::Config(format!("gossipsub: {e}")))?;
    let (params, thresholds) = score_params(&topic);
    gossipsub
        .with_peer_score(params, thresholds)
        .map_err(|e| NetError::Config(format!("peer scoring: {e}")))?;
    gossipsub
        .subscribe(&topic)
        .map_err(|e| NetError::Config(format!("subscribe: {e}")))?;

    let codec = request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
        .set_request_size_maximum(MAX_SYNC_BYTES)
        .set_response_size_maximum(MAX_SYNC_BYTES);
    let sync = SyncBehaviour::with_codec(
        codec,
        [(sync_protocol(commons_id)?, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(config.request_timeout)
            .with_max_concurrent_streams(16),
    );

    let identify = identify::Behaviour::new(
        identify::Config::new(identify_version(commons_id), keypair.public())
            .with_agent_version(format!("mirror/{}", env!("CARGO_PKG_VERSION"))),
    );

    let mdns = if config.mdns {
        let m = mdns::tokio::Behaviour::new(mdns::Config::default(), keypair.public().to_peer_id())
            .map_err(|e| NetError::Config(format!("mdns: {e}")))?;
        Toggle::from(Some(m))
    } else {
        Toggle::from(None)
    };

    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(config.max_connections))
        .with_max_established_per_peer(Some(config.max_per_peer))
        .with_max_pending_incoming(Some(config.max_pending_incoming));

    Ok(Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        limits: connection_limits::Behaviour::new(limits),
        pending: super::pending::PendingPerIp::new(config.max_pending_per_ip),
        gossipsub,
        sync,
        identify,
        ping: ping::Behaviour::default(),
        mdns,
    })
}

/// Build the swarm: TCP + Noise + Yamux, QUIC when configured, DNS when the
/// system resolver configuration can be read (without it, `/dns` addresses
/// cannot be dialed, but everything else works, so it is not fatal).
pub fn build_swarm(config: &NetConfig, commons_id: &str) -> Result<Swarm<Behaviour>, NetError> {
    match build_swarm_with(config, commons_id, true) {
        Err(NetError::Dns(e)) => {
            tracing::warn!(error = %e, "system DNS configuration unreadable; /dns addresses will not resolve");
            build_swarm_with(config, commons_id, false)
        }
        other => other,
    }
}

fn build_swarm_with(
    config: &NetConfig,
    commons_id: &str,
    dns: bool,
) -> Result<Swarm<Behaviour>, NetError> {
    let idle = config.idle_timeout;
    let behaviour = build_behaviour(&config.keypair, commons_id, config)?;
    let tcp_config = tcp::Config::default().nodelay(true);
    let transport_err = |e: noise::Error| NetError::Transport(e.to_string());
    let base = SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(tcp_config, noise::Config::new, yamux::Config::default)
        .map_err(transport_err)?;
    // Each arm has its own builder type; they all end in `Swarm<Behaviour>`.
    macro_rules! finish {
        ($builder:expr) => {{
            let Ok(b) = $builder.with_behaviour(|_| behaviour);
            b.with_swarm_config(|c| c.with_idle_connection_timeout(idle))
                .build()
        }};
    }
    let swarm = match (config.quic, dns) {
        (true, true) => finish!(
            base.with_quic()
                .with_dns()
                .map_err(|e| NetError::Dns(e.to_string()))?
        ),
        (true, false) => finish!(base.with_quic()),
        (false, true) => finish!(base.with_dns().map_err(|e| NetError::Dns(e.to_string()))?),
        (false, false) => finish!(base),
    };
    Ok(swarm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_versions_name_the_commons() {
        let id = "ab".repeat(32);
        assert!(is_same_commons(&identify_version(&id), &id));
        assert!(!is_same_commons(&identify_version(&"cd".repeat(32)), &id));
        assert!(!is_same_commons("ipfs/0.1.0", &id));
        assert!(!is_same_commons("mirror/commons/", &id));
    }

    #[test]
    fn score_parameters_are_valid() {
        let (p, t) = score_params(&topic("x"));
        p.validate().unwrap();
        t.validate().unwrap();
    }
}
