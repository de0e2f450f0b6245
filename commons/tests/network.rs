//! Real libp2p swarms on 127.0.0.1, each node a tokio task in this process:
//! propagation across three nodes, catch-up after being offline (and
//! across a restart), and a malicious peer speaking the real protocols.
//!
//! Every wait is bounded, so a broken network fails the test instead of
//! hanging it. Set `RUST_LOG=mirror_commons=debug` to watch.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use automerge::sync::{ChunkList, Message, MessageVersion};
use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use ed25519_dalek::SigningKey;
use futures::StreamExt;
use libp2p::gossipsub;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use mirror_commons::doc::{Class, DocKey};
use mirror_commons::gate::Gate;
use mirror_commons::net::{
    self, BanReason, BannedPeer, Behaviour, BehaviourEvent, NetConfig, NetHandle, PeerInfo,
};
use mirror_commons::record::{Kind, MAX_RECORD_BYTES, Record, RecordId};
use mirror_commons::service::{Commons, SyncRequest, SyncResponse};
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);

fn commons_id() -> String {
    blake3::hash(b"mirror network test commons")
        .to_hex()
        .to_string()
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn open(path: &Path) -> Arc<Mutex<Commons>> {
    Arc::new(Mutex::new(
        Commons::open(path, commons_id(), Gate::default()).expect("open commons"),
    ))
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// A vote on a made-up proposal: distinct for each `n`.
fn vote(n: u64, created_at: i64, key: &SigningKey) -> Record {
    let proposal = blake3::hash(&n.to_le_bytes()).to_hex().to_string();
    Record::sign(
        Kind::Vote,
        created_at,
        object(json!({"proposal": proposal, "choice": "approve"})),
        key,
    )
    .unwrap()
}

fn author() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn count(c: &Mutex<Commons>) -> usize {
    c.lock().unwrap().accepted_count()
}

fn ids(c: &Mutex<Commons>) -> BTreeSet<RecordId> {
    c.lock().unwrap().accepted_ids()
}

fn reasons(c: &Mutex<Commons>, peer: &PeerId) -> Vec<&'static str> {
    c.lock()
        .unwrap()
        .rejections()
        .0
        .get(&peer.to_string())
        .map(|m| m.keys().copied().collect())
        .unwrap_or_default()
}

struct Node {
    commons: Arc<Mutex<Commons>>,
    handle: NetHandle,
    task: JoinHandle<()>,
    /// Listen address with `/p2p/<peer id>`.
    addr: Multiaddr,
}

impl Node {
    async fn start(commons: Arc<Mutex<Commons>>, config: NetConfig) -> Node {
        let (handle, task) = net::spawn(config, commons.clone()).await.expect("spawn");
        let addr = handle
            .listen_addrs()
            .await
            .expect("listen addresses")
            .into_iter()
            .next()
            .expect("a listen address")
            .with(Protocol::P2p(handle.local_peer_id()));
        Node {
            commons,
            handle,
            task,
            addr,
        }
    }

    async fn peers(&self) -> Vec<PeerInfo> {
        self.handle.peers().await.expect("network running")
    }

    async fn banned(&self) -> Vec<BannedPeer> {
        self.handle.banned().await.expect("network running")
    }

    async fn peer_count(&self) -> usize {
        self.peers().await.len()
    }

    async fn stop(self) -> Arc<Mutex<Commons>> {
        self.handle.shutdown().await.expect("shutdown");
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("network task stops")
            .expect("network task did not panic");
        self.commons
    }
}

fn config(bootstrap: Vec<Multiaddr>, sync_interval: Duration) -> NetConfig {
    let mut c = NetConfig::loopback(Keypair::generate_ed25519());
    c.bootstrap = bootstrap;
    c.sync_interval = sync_interval;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_published_on_one_node_is_accepted_by_the_other_two() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    // Sync rounds only at connect and then once a minute: within the
    // test's time, records travel by gossip.
    let slow = Duration::from_secs(600);
    let a = Node::start(open(&dir.path().join("a.redb")), config(vec![], slow)).await;
    let b = Node::start(
        open(&dir.path().join("b.redb")),
        config(vec![a.addr.clone()], slow),
    )
    .await;
    let c = Node::start(
        open(&dir.path().join("c.redb")),
        config(vec![a.addr.clone()], slow),
    )
    .await;
    wait_until("A to see B and C", WAIT, || async {
        a.peer_count().await == 2
    })
    .await;

    let key = author();
    let first = vote(1, now_ms(), &key);
    let id = a.handle.publish(first.bytes().to_vec()).await.unwrap();
    assert_eq!(id, first.id());
    wait_until("B and C to accept A's record", WAIT, || async {
        count(&b.commons) == 1 && count(&c.commons) == 1
    })
    .await;

    // From a leaf: C → A (which validates, then forwards) → B.
    let second = vote(2, now_ms(), &key);
    c.handle.publish(second.bytes().to_vec()).await.unwrap();
    wait_until("A and B to accept C's record", WAIT, || async {
        count(&a.commons) == 2 && count(&b.commons) == 2
    })
    .await;
    let expected = BTreeSet::from([first.id(), second.id()]);
    for n in [&a, &b, &c] {
        assert_eq!(ids(&n.commons), expected);
    }
    // Publishing the same record again is refused locally.
    assert!(a.handle.publish(first.bytes().to_vec()).await.is_err());
    for n in [a, b, c] {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_node_catches_up_and_keeps_its_state_across_a_restart() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let fast = Duration::from_secs(2);
    let a = Node::start(open(&dir.path().join("a.redb")), config(vec![], fast)).await;
    let b = Node::start(
        open(&dir.path().join("b.redb")),
        config(vec![a.addr.clone()], fast),
    )
    .await;
    let c_path: PathBuf = dir.path().join("c.redb");
    let c_key = Keypair::generate_ed25519();
    let c_config = || {
        let mut cfg = config(vec![a.addr.clone()], fast);
        cfg.keypair = c_key.clone();
        cfg
    };
    // C joins, then goes offline.
    let c = Node::start(open(&c_path), c_config()).await;
    wait_until("A to see B and C", WAIT, || async {
        a.peer_count().await == 2
    })
    .await;
    let c_commons = c.stop().await;
    assert_eq!(Arc::strong_count(&c_commons), 1);
    drop(c_commons);
    wait_until("A to see C gone", WAIT, || async {
        a.peer_count().await == 1
    })
    .await;

    let key = author();
    let base = now_ms() - 60_000;
    for n in 0..500u64 {
        let r = vote(n, base + i64::try_from(n).unwrap(), &key);
        a.handle.publish(r.bytes().to_vec()).await.unwrap();
    }
    assert_eq!(count(&a.commons), 500);
    // B gets them by gossip (past its per-peer rate, by sync).
    wait_until("B to hold all 500", Duration::from_secs(60), || async {
        count(&b.commons) == 500
    })
    .await;

    // C comes back with the same identity and data and catches up by sync.
    let c = Node::start(open(&c_path), c_config()).await;
    wait_until("C to catch up all 500", Duration::from_secs(60), || async {
        count(&c.commons) == 500
    })
    .await;
    let expected = ids(&a.commons);
    assert_eq!(ids(&c.commons), expected);
    assert_eq!(ids(&b.commons), expected);
    // Nobody was penalised for any of this.
    for n in [&a, &b, &c] {
        assert!(n.banned().await.is_empty());
    }

    // C restarts without any network: its accepted state is all there.
    let c_commons = c.stop().await;
    assert_eq!(Arc::strong_count(&c_commons), 1);
    drop(c_commons);
    let reopened = open(&c_path);
    assert_eq!(count(&reopened), 500);
    assert_eq!(ids(&reopened), expected);
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------
// The malicious peer
// ---------------------------------------------------------------------------

/// A raw swarm with the real behaviour, driven by the test: it can send
/// any gossip message and any sync request.
struct Attacker {
    peer_id: PeerId,
    commands: mpsc::Sender<AttackCommand>,
    state: Arc<Mutex<AttackState>>,
    task: JoinHandle<()>,
}

#[derive(Default, Debug)]
struct AttackState {
    connected: bool,
    /// The target subscribed to the topic (gossip can be sent).
    subscribed: bool,
    /// The connection was closed after being up.
    closed: bool,
}

enum AttackCommand {
    Gossip(Vec<u8>, oneshot::Sender<Result<(), String>>),
    Sync(SyncRequest, oneshot::Sender<Option<SyncResponse>>),
    Dial(Multiaddr),
}

impl Attacker {
    async fn connect(target: &Multiaddr) -> Attacker {
        let cfg = NetConfig::loopback(Keypair::generate_ed25519());
        let mut swarm = net::build_swarm(&cfg, &commons_id()).expect("attacker swarm");
        let peer_id = *swarm.local_peer_id();
        swarm.dial(target.clone()).expect("dial");
        let (tx, rx) = mpsc::channel(16);
        let state = Arc::new(Mutex::new(AttackState::default()));
        let task = tokio::spawn(drive(swarm, rx, state.clone()));
        let a = Attacker {
            peer_id,
            commands: tx,
            state,
            task,
        };
        wait_until(
            "the attacker to connect and see the topic",
            WAIT,
            || async {
                let s = a.state.lock().unwrap();
                s.connected && s.subscribed
            },
        )
        .await;
        a
    }

    async fn gossip(&self, data: Vec<u8>) {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(AttackCommand::Gossip(data, tx))
            .await
            .unwrap();
        rx.await.unwrap().expect("gossip sent");
    }

    async fn sync(&self, request: SyncRequest) -> Option<SyncResponse> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(AttackCommand::Sync(request, tx))
            .await
            .unwrap();
        tokio::time::timeout(WAIT, rx).await.unwrap().unwrap()
    }

    fn closed(&self) -> bool {
        self.state.lock().unwrap().closed
    }

    fn connected(&self) -> bool {
        self.state.lock().unwrap().connected
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn drive(
    mut swarm: Swarm<Behaviour>,
    mut commands: mpsc::Receiver<AttackCommand>,
    state: Arc<Mutex<AttackState>>,
) {
    let topic = net::topic(&commons_id());
    let mut pending = std::collections::HashMap::new();
    loop {
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { .. } => {
                    state.lock().unwrap().connected = true;
                }
                SwarmEvent::ConnectionClosed { num_established: 0, .. } => {
                    let mut s = state.lock().unwrap();
                    s.connected = false;
                    s.subscribed = false;
                    s.closed = true;
                }
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                    gossipsub::Event::Subscribed { .. },
                )) => {
                    state.lock().unwrap().subscribed = true;
                }
                SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                    message: request_response::Message::Response { request_id, response },
                    ..
                })) => {
                    if let Some(reply) = pending.remove(&request_id) {
                        let _: Result<(), _> = oneshot::Sender::send(reply, Some(response));
                    }
                }
                SwarmEvent::Behaviour(BehaviourEvent::Sync(
                    request_response::Event::OutboundFailure { request_id, .. },
                )) => {
                    if let Some(reply) = pending.remove(&request_id) {
                        let _: Result<(), _> = oneshot::Sender::send(reply, None);
                    }
                }
                // The honest node's own sync requests go unanswered.
                _ => {}
            },
            command = commands.recv() => match command {
                Some(AttackCommand::Gossip(data, reply)) => {
                    let r = swarm
                        .behaviour_mut()
                        .gossipsub
                        .publish(topic.clone(), data)
                        .map(|_| ())
                        .map_err(|e| e.to_string());
                    let _ = reply.send(r);
                }
                Some(AttackCommand::Sync(request, reply)) => {
                    let peer = swarm.connected_peers().next().copied();
                    match peer {
                        Some(p) => {
                            let id = swarm.behaviour_mut().sync.send_request(&p, request);
                            pending.insert(id, reply);
                        }
                        None => {
                            let _ = reply.send(None);
                        }
                    }
                }
                Some(AttackCommand::Dial(addr)) => {
                    let _ = swarm.dial(addr);
                }
                None => return,
            },
        }
    }
}

/// An Automerge document with the commons' genesis for `key`, built here
/// from the crate's documented shape (not from its code), as an attacker
/// with its own Automerge would.
struct ForgedDoc {
    doc: Automerge,
}

impl ForgedDoc {
    fn new(key: DocKey) -> ForgedDoc {
        let mut doc = Automerge::new().with_actor(ActorId::from(vec![0u8; 16]));
        let mut tx = doc.transaction();
        tx.put(ROOT, "commons", commons_id()).unwrap();
        tx.put(ROOT, "doc", key.to_string()).unwrap();
        for kind in Kind::ALL {
            let class = if kind == Kind::TelemetryPacket {
                Class::Telemetry
            } else {
                Class::Governance
            };
            if class == key.class {
                tx.put_object(ROOT, kind.as_str(), ObjType::Map).unwrap();
            }
        }
        tx.commit_with(CommitOptions::default().with_time(0));
        ForgedDoc { doc }
    }

    fn map(&self, kind: Kind) -> ObjId {
        match self.doc.get(ROOT, kind.as_str()).unwrap() {
            Some((_, id)) => id,
            None => panic!("no {kind} map"),
        }
    }

    /// One change by a fresh actor, made by `ops`; returns its bytes.
    fn change(&mut self, ops: impl FnOnce(&mut Transaction<'_>)) -> Vec<u8> {
        self.doc.set_actor(ActorId::random());
        let mut tx = self.doc.transaction();
        ops(&mut tx);
        let (hash, _) = tx.commit_with(CommitOptions::default().with_time(0));
        self.doc
            .get_change_by_hash(&hash.expect("a change"))
            .expect("change stored")
            .raw_bytes()
            .to_vec()
    }

    /// A sync message carrying `changes` outright.
    fn sync_message(&self, changes: Vec<Vec<u8>>) -> Vec<u8> {
        Message {
            heads: self.doc.get_heads(),
            need: Vec::new(),
            have: Vec::new(),
            changes: ChunkList::from(changes),
            flags: None,
            version: MessageVersion::V1,
        }
        .encode()
    }
}

/// The gossip change an honest node would make for `bytes` under `key`.
fn insert_change(record_bytes: &[u8], kind: Kind, created_at: i64, key_hex: &str) -> Vec<u8> {
    let key = DocKey {
        class: Class::Governance,
        month: mirror_commons::doc::month_of(created_at),
    };
    let mut doc = ForgedDoc::new(key);
    let map = doc.map(kind);
    let bytes = record_bytes.to_vec();
    doc.change(|tx| {
        tx.put(&map, key_hex, ScalarValue::Bytes(bytes)).unwrap();
    })
}

/// Flip one payload character so the bytes stay canonical but the
/// signature no longer matches.
fn forge(record: &Record) -> Vec<u8> {
    let text = String::from_utf8(record.bytes().to_vec()).unwrap();
    let forged = text.replacen("\"approve\"", "\"reject\"", 1);
    assert_ne!(forged, text);
    forged.into_bytes()
}

async fn gossip_attack(target: &Node, data: Vec<u8>, reason: &str) -> Attacker {
    let attacker = Attacker::connect(&target.addr).await;
    attacker.gossip(data).await;
    let peer = attacker.peer_id;
    wait_until(&format!("a {reason} rejection"), WAIT, || async {
        reasons(&target.commons, &peer).contains(&reason)
    })
    .await;
    assert_eq!(reasons(&target.commons, &peer), vec![reason]);
    // Its score at the target has dropped below zero.
    wait_until("the attacker's score to drop", WAIT, || async {
        target
            .peers()
            .await
            .iter()
            .any(|p| p.peer_id == peer && p.score < 0.0 && p.rejections >= 1)
    })
    .await;
    attacker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_peer_is_rejected_penalised_and_cut_off() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let fast = Duration::from_secs(2);
    let a = Node::start(open(&dir.path().join("a.redb")), config(vec![], fast)).await;
    let b = Node::start(
        open(&dir.path().join("b.redb")),
        config(vec![a.addr.clone()], fast),
    )
    .await;
    wait_until("A and B to connect", WAIT, || async {
        a.peer_count().await == 1
    })
    .await;

    // The honest history: two fresh records and one made 10 minutes ago
    // (old enough that gossiping it again is a replay).
    let key = author();
    let now = now_ms();
    let honest = [
        vote(1, now, &key),
        vote(2, now, &key),
        vote(3, now - 10 * 60 * 1000, &key),
    ];
    for r in &honest {
        a.handle.publish(r.bytes().to_vec()).await.unwrap();
    }
    let expected: BTreeSet<RecordId> = honest.iter().map(Record::id).collect();
    wait_until("B to hold the honest records", WAIT, || async {
        ids(&b.commons) == expected
    })
    .await;

    // Each gossip attack comes from a fresh identity: after two or three
    // rejected messages a peer is graylisted, and gossipsub would drop the
    // rest unseen, so one identity could not show every reason.
    let forged = forge(&vote(10, now, &key));
    let forged_id = RecordId::of(&forged).to_hex();
    let _forger = gossip_attack(
        &a,
        insert_change(&forged, Kind::Vote, now, &forged_id),
        "bad_signature",
    )
    .await;

    let valid = vote(11, now, &key);
    let wrong_key = RecordId::of(b"some other bytes").to_hex();
    let _liar = gossip_attack(
        &a,
        insert_change(valid.bytes(), Kind::Vote, now, &wrong_key),
        "wrong_id",
    )
    .await;

    let big = Record::sign(
        Kind::Vote,
        now,
        object(json!({
            "proposal": "ab".repeat(32),
            "choice": "approve",
            "padding": "x".repeat(MAX_RECORD_BYTES),
        })),
        &key,
    )
    .unwrap();
    assert!(big.bytes().len() > MAX_RECORD_BYTES);
    let _bloater = gossip_attack(
        &a,
        insert_change(big.bytes(), Kind::Vote, now, &big.id().to_hex()),
        "too_large",
    )
    .await;

    let old = &honest[2];
    let _replayer = gossip_attack(
        &a,
        insert_change(old.bytes(), Kind::Vote, old.created_at, &old.id().to_hex()),
        "replay",
    )
    .await;

    // Sync messages whose changes delete or overwrite a key: refused whole,
    // and the sender is banned at once.
    let doc_key = DocKey::for_record(&honest[0]);
    let target = honest[0].clone();
    for (what, second_op) in [("delete", true), ("overwrite", false)] {
        let attacker = Attacker::connect(&a.addr).await;
        let mut doc = ForgedDoc::new(doc_key);
        let map = doc.map(Kind::Vote);
        let id_hex = target.id().to_hex();
        let bytes = target.bytes().to_vec();
        let put = {
            let (map, id_hex, bytes) = (map.clone(), id_hex.clone(), bytes.clone());
            doc.change(move |tx| {
                tx.put(&map, id_hex.as_str(), ScalarValue::Bytes(bytes))
                    .unwrap();
            })
        };
        // The overwrite puts another valid record's bytes under the key
        // (the same bytes again would be no change at all).
        let other = honest[1].bytes().to_vec();
        let attack = doc.change(move |tx| {
            if second_op {
                tx.delete(&map, id_hex.as_str()).unwrap();
            } else {
                tx.put(&map, id_hex.as_str(), ScalarValue::Bytes(other))
                    .unwrap();
            }
        });
        let response = attacker
            .sync(SyncRequest::Sync {
                commons: commons_id(),
                doc: doc_key.to_string(),
                message: doc.sync_message(vec![put, attack]),
            })
            .await;
        // The refusal gets out before the connection closes (issue #14).
        assert_eq!(
            response,
            Some(SyncResponse::Refused {
                reason: "forbidden_op".into()
            }),
            "{what}"
        );
        let peer = attacker.peer_id;
        assert_eq!(reasons(&a.commons, &peer), vec!["forbidden_op"], "{what}");
        wait_until(
            &format!("the {what} attacker to be cut off"),
            WAIT,
            || async { attacker.closed() },
        )
        .await;
        let banned = a.banned().await;
        let ban = banned.iter().find(|b| b.peer_id == peer).expect("banned");
        assert_eq!(ban.reason, BanReason::BadSync("forbidden_op"), "{what}");
    }

    // One identity that keeps sending forgeries: its score falls past the
    // graylist, it is disconnected and banned, and cannot come back.
    let persistent = Attacker::connect(&a.addr).await;
    let peer = persistent.peer_id;
    for n in 20..30u64 {
        if persistent.closed() {
            break;
        }
        let f = forge(&vote(n, now, &key));
        let id = RecordId::of(&f).to_hex();
        // Once A has cut it off there is nobody left to publish to.
        let (tx, rx) = oneshot::channel();
        persistent
            .commands
            .send(AttackCommand::Gossip(
                insert_change(&f, Kind::Vote, now, &id),
                tx,
            ))
            .await
            .unwrap();
        let _ = rx.await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_until("the persistent attacker to be cut off", WAIT, || async {
        persistent.closed()
    })
    .await;
    let banned = a.banned().await;
    let ban = banned.iter().find(|b| b.peer_id == peer).expect("banned");
    assert!(
        matches!(ban.reason, BanReason::Score | BanReason::Strikes),
        "{:?}",
        ban.reason
    );
    assert!(reasons(&a.commons, &peer).contains(&"bad_signature"));
    persistent
        .commands
        .send(AttackCommand::Dial(a.addr.clone()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!persistent.connected() || !a.peers().await.iter().any(|p| p.peer_id == peer));
    assert!(!a.peers().await.iter().any(|p| p.peer_id == peer));

    // The honest nodes' state is exactly the honest history, and they
    // still talk to each other.
    b.handle.sync_now().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ids(&a.commons), expected);
    assert_eq!(ids(&b.commons), expected);
    assert!(
        a.peers()
            .await
            .iter()
            .any(|p| p.peer_id == b.handle.local_peer_id())
    );
    assert!(
        !b.banned()
            .await
            .iter()
            .any(|x| x.peer_id == a.handle.local_peer_id())
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_commons_is_cut_off_and_never_synced() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let fast = Duration::from_secs(1);
    let a = Node::start(open(&dir.path().join("a.redb")), config(vec![], fast)).await;
    let key = author();
    a.handle
        .publish(vote(1, now_ms(), &key).bytes().to_vec())
        .await
        .unwrap();
    let other_id = blake3::hash(b"another commons").to_hex().to_string();
    let foreign = Node::start(
        Arc::new(Mutex::new(Commons::in_memory(other_id, Gate::default()))),
        config(vec![], fast),
    )
    .await;
    foreign.handle.dial(a.addr.clone()).await.unwrap();
    let foreign_id = foreign.handle.local_peer_id();
    let a_id = a.handle.local_peer_id();
    // Whichever hears the other's identify first cuts the connection.
    wait_until("one side to cut the other off", WAIT, || async {
        let by_a = a
            .banned()
            .await
            .iter()
            .any(|b| b.peer_id == foreign_id && b.reason == BanReason::ForeignCommons);
        let by_foreign = foreign
            .banned()
            .await
            .iter()
            .any(|b| b.peer_id == a_id && b.reason == BanReason::ForeignCommons);
        by_a || by_foreign
    })
    .await;
    wait_until("the foreign node to be disconnected", WAIT, || async {
        foreign.peer_count().await == 0 && a.peer_count().await == 0
    })
    .await;
    // Several sync intervals later, nothing has crossed either way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&foreign.commons), 0);
    assert_eq!(count(&a.commons), 1);
    assert_eq!(a.peer_count().await, 0);
    a.stop().await;
    foreign.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_dials_are_retried_until_the_peer_comes_up() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    // A's identity and port are known before A runs.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let a_key = Keypair::generate_ed25519();
    let a_listen: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let a_addr = a_listen
        .clone()
        .with(Protocol::P2p(a_key.public().to_peer_id()));
    let slow = Duration::from_secs(600);
    let b = Node::start(open(&dir.path().join("b.redb")), config(vec![a_addr], slow)).await;
    // B's first dials fail; A comes up a little later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(b.peer_count().await, 0);
    let mut a_config = config(vec![], slow);
    a_config.keypair = a_key;
    a_config.listen = vec![a_listen];
    let a = Node::start(open(&dir.path().join("a.redb")), a_config).await;
    let r = vote(1, now_ms(), &author());
    a.handle.publish(r.bytes().to_vec()).await.unwrap();
    // B connects on a retry and catches up by the sync round on connect.
    wait_until("B to reach A and catch up", WAIT, || async {
        count(&b.commons) == 1
    })
    .await;
    assert_eq!(ids(&b.commons), BTreeSet::from([r.id()]));
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_travel_over_quic_too() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let quic = |bootstrap: Vec<Multiaddr>| {
        let mut c = config(bootstrap, Duration::from_secs(600));
        c.quic = true;
        c.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()];
        c
    };
    let a = Node::start(open(&dir.path().join("a.redb")), quic(vec![])).await;
    assert!(
        a.addr.iter().any(|p| matches!(p, Protocol::QuicV1)),
        "{}",
        a.addr
    );
    let b = Node::start(open(&dir.path().join("b.redb")), quic(vec![a.addr.clone()])).await;
    wait_until("A and B to connect over QUIC", WAIT, || async {
        a.peer_count().await == 1
    })
    .await;
    let r = vote(1, now_ms(), &author());
    a.handle.publish(r.bytes().to_vec()).await.unwrap();
    wait_until("B to accept A's record", WAIT, || async {
        count(&b.commons) == 1
    })
    .await;
    a.stop().await;
    b.stop().await;
}

/// Issue #14, bug 5: the network driver drops telemetry epochs when their
/// retention ends, with nothing arriving to prompt it. The clock is the
/// test's: time jumps four months and the running node forgets the epoch
/// (in memory and on disk).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_node_drops_expired_telemetry_epochs() {
    use std::sync::atomic::{AtomicI64, Ordering};
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.redb");
    let start = now_ms();
    let packet = Record::sign(
        Kind::TelemetryPacket,
        start,
        object(json!({
            "registry_version": 1,
            "period": start / 86_400_000,
            "metrics": [{"name": "reflections.count", "kind": "counter", "values": [1]}]
        })),
        &SigningKey::from_bytes(&[9; 32]),
    )
    .unwrap();
    let commons = open(&path);
    commons
        .lock()
        .unwrap()
        .publish(packet.bytes(), start)
        .unwrap();
    commons
        .lock()
        .unwrap()
        .publish(vote(1, start, &author()).bytes(), start)
        .unwrap();
    let clock = Arc::new(AtomicI64::new(start));
    let mut c = config(vec![], Duration::from_secs(600));
    let read = clock.clone();
    c.clock = Arc::new(move || read.load(Ordering::SeqCst));
    let a = Node::start(commons, c).await;
    // A tick at the present month keeps everything (waited for, not slept
    // on: the check means something only once the tick has looked).
    let month = mirror_commons::doc::month_of(start);
    wait_until("the first expiry look", WAIT, || async {
        a.commons.lock().unwrap().expired_through() == Some(month)
    })
    .await;
    assert_eq!(count(&a.commons), 2);
    clock.store(start + 4 * 31 * 86_400_000, Ordering::SeqCst);
    wait_until("the telemetry epoch to expire", WAIT, || async {
        count(&a.commons) == 1
    })
    .await;
    let commons = a.stop().await;
    drop(commons);
    let reopened = Commons::open(&path, commons_id(), Gate::default()).unwrap();
    assert_eq!(reopened.accepted_count(), 1);
    assert_eq!(reopened.records_of(Kind::TelemetryPacket).len(), 0);
}

/// A peer that connects but never answers identify (here: one that runs
/// nothing but ping) is cut off once the identify timeout passes: identify
/// is what tells commons apart, so silence is not a pass (issue #14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_identifies_is_cut_off() {
    use libp2p::swarm::NetworkBehaviour;
    #[derive(NetworkBehaviour)]
    struct Silent {
        ping: libp2p::ping::Behaviour,
    }
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(vec![], Duration::from_secs(600));
    c.identify_timeout = Duration::from_secs(2);
    let a = Node::start(open(&dir.path().join("a.redb")), c).await;
    let mut silent = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| Silent {
            ping: libp2p::ping::Behaviour::default(),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let peer = *silent.local_peer_id();
    silent.dial(a.addr.clone()).unwrap();
    let closed = Arc::new(Mutex::new((false, false)));
    let flags = closed.clone();
    let task = tokio::spawn(async move {
        loop {
            match silent.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => flags.lock().unwrap().0 = true,
                SwarmEvent::ConnectionClosed { .. } => flags.lock().unwrap().1 = true,
                _ => {}
            }
        }
    });
    wait_until("the silent peer to connect", WAIT, || async {
        closed.lock().unwrap().0
    })
    .await;
    wait_until("the silent peer to be cut off", WAIT, || async {
        closed.lock().unwrap().1
    })
    .await;
    let banned = a.banned().await;
    let ban = banned.iter().find(|b| b.peer_id == peer).expect("banned");
    assert_eq!(ban.reason, BanReason::NoIdentify);
    task.abort();
    a.stop().await;
}
