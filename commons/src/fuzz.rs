//! Properties of the decoders that take bytes from peers, as plain
//! functions: the `fuzz/` targets call them with generated inputs and the
//! replay test (`tests/tests/fuzz_replay.rs`) with every corpus and crasher
//! file, so both check the same thing. Each panics only when a property
//! fails; refusing the input is fine.

use automerge::ActorId;
use futures::executor::block_on;
use libp2p::request_response::Codec;

use crate::doc::{DocKey, EpochDoc};
use crate::net::{MAX_SYNC_BYTES, sync_protocol};
use crate::record::{Kind, Record};
use crate::service::{SyncRequest, SyncResponse};

const COMMONS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The record envelope: decoding never panics, and what decodes is
/// canonical, so its bytes decode again to the same record.
pub fn record(data: &[u8]) {
    if let Ok(r) = Record::decode(data) {
        assert_eq!(r.bytes(), data, "a decoded record keeps its exact bytes");
        let again = Record::decode(r.bytes()).expect("a decoded record decodes again");
        assert_eq!(again.id(), r.id());
        let _ = r.verify_signature();
    }
}

fn doc() -> EpochDoc {
    EpochDoc::new(COMMONS, DocKey::of(Kind::Vote, 1_767_225_600_000))
}

/// An Automerge change from a peer: checking never panics and never
/// changes the document, and a change that passes the check applies
/// without a panic.
///
/// Fuzzing once found changes that passed `check_change` and then made
/// Automerge panic inside `apply_changes` (`fuzz/crashers/change/`: a
/// change naming an actor the document does not know); `check_change` now
/// refuses those, so applying what passes is part of the property again.
pub fn change(data: &[u8]) {
    let mut d = doc();
    let heads = d.heads();
    let checked = d.check_change(0, data);
    assert_eq!(d.heads(), heads, "a check leaves the document as it was");
    if checked.is_ok() {
        let _ = d.apply_change(data);
    }
}

/// An Automerge sync message from a peer: checking never panics and never
/// changes the document.
pub fn sync_message(data: &[u8]) {
    let mut d = doc();
    let record = Record::sign(
        Kind::Vote,
        1_767_225_600_000,
        serde_json::Map::new(),
        &ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    );
    if let Ok(r) = record {
        let _ = d.insert(&r, ActorId::from(&[1u8; 16][..]));
    }
    let heads = d.heads();
    let _ = d.check_sync_message(data);
    assert_eq!(d.heads(), heads, "a check leaves the document as it was");
}

/// The sync protocol's CBOR codec, as libp2p runs it on a stream: reading a
/// request or a response never panics, and what decodes encodes back to
/// something that decodes to the same value.
pub fn sync_codec(data: &[u8]) {
    let mut codec =
        libp2p::request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
            .set_request_size_maximum(MAX_SYNC_BYTES)
            .set_response_size_maximum(MAX_SYNC_BYTES);
    let protocol = sync_protocol(COMMONS).expect("a valid protocol name");
    let request = block_on(codec.read_request(&protocol, &mut futures::io::Cursor::new(data)));
    if let Ok(request) = request {
        let mut out = futures::io::Cursor::new(Vec::new());
        block_on(codec.write_request(&protocol, &mut out, request.clone())).expect("encodes");
        let back = block_on(
            codec.read_request(&protocol, &mut futures::io::Cursor::new(out.into_inner())),
        )
        .expect("decodes what it encoded");
        assert_eq!(back, request);
    }
    let response = block_on(codec.read_response(&protocol, &mut futures::io::Cursor::new(data)));
    if let Ok(response) = response {
        let mut out = futures::io::Cursor::new(Vec::new());
        block_on(codec.write_response(&protocol, &mut out, response.clone())).expect("encodes");
        let back = block_on(
            codec.read_response(&protocol, &mut futures::io::Cursor::new(out.into_inner())),
        )
        .expect("decodes what it encoded");
        assert_eq!(back, response);
    }
}
