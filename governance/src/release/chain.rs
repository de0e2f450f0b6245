//! The root chain a stateful TUF client walks.
//!
//! A TUF client (python-tuf's, tough's) keeps the root it trusts and, on
//! every update, fetches `N+1.root.json`, `N+2.root.json`, … each signed by
//! the threshold of the root before it and by its own. It never takes a root
//! of the version it already holds again, so re-issuing `root.json` as the
//! same version with a new expiry strands every such client once its first
//! root expires. Hence:
//!
//! * one root version per guardian set (the ledger's `root_version`): it is
//!   made once, by the first release built under that set, and every later
//!   release carries the same signed bytes (signatures merged), so a new root
//!   version appears only when the keys or the threshold change;
//! * a root lives long ([`ROOT_LIFETIME_MS`]) because renewing it takes a new
//!   version, that is a guardian rotation (to the same keys if need be);
//! * each release carries the roots before its own as `tuf_metadata`
//!   entries named `<k>.root` (the last [`MAX_CHAIN`] of them: a client older
//!   than that takes an older release first), exported as `<k>.root.json`
//!   beside `root.json` and `<N>.root.json`;
//! * root `k` (k ≥ 2) is signed by the threshold of root `k-1` and by its
//!   own; [`super::verify`] checks exactly what a TUF client checks, and
//!   [`super::check_chain`] that each carried root is the ledger's guardian
//!   set of that version.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::{ROLES, SPEC_VERSION, key_id, tuf_key};
use crate::ledger::{GuardianSet, Ledger};
use crate::payload::{AnyPayload, limits};

/// How long a root is valid from the release that first carries it.
pub const ROOT_LIFETIME_MS: i64 = 10 * 365 * 86_400_000;

/// How many earlier roots a release carries (the record holds at most
/// `limits::TUF_ROLES` metadata files, four of them the top-level roles).
pub const MAX_CHAIN: u64 = (limits::TUF_ROLES - ROLES.len()) as u64;

/// The `tuf_metadata` name of root version `k` in the chain.
pub fn name(k: u64) -> String {
    format!("{k}.root")
}

/// The root version a `tuf_metadata` name holds, if it is a chain entry
/// (`<k>.root`, k ≥ 1 written without leading zeros).
pub fn version_of(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".root")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|k| *k >= 1)
}

/// The first root version a release signed by root `n` carries.
pub fn first(n: u64) -> u64 {
    n.saturating_sub(MAX_CHAIN).max(1)
}

/// The signed part of a fresh root for `set`: every top-level role held by
/// the guardians with their threshold; consistent snapshots, as python-tuf
/// writes them (the export writes both layouts, so either client finds its
/// files).
pub(crate) fn fresh(set: &GuardianSet, expires: &str) -> Value {
    let key_ids: Vec<String> = set.keys.iter().map(key_id).collect();
    let keys: Map<String, Value> = set.keys.iter().map(|k| (key_id(k), tuf_key(k))).collect();
    let role = json!({"keyids": key_ids, "threshold": set.threshold});
    json!({
        "_type": "root",
        "spec_version": SPEC_VERSION,
        "consistent_snapshot": true,
        "version": set.version,
        "expires": expires,
        "keys": keys,
        "roles": {"root": role, "targets": role, "snapshot": role, "timestamp": role},
    })
}

/// Who a root's signed part trusts: its keys, and each role's key ids and
/// threshold (what a TUF client acts on; order and expiry aside).
type Trusts = (Value, BTreeMap<String, (BTreeSet<String>, u64)>);

fn trusts(signed: &Value) -> Option<Trusts> {
    let roles = signed["roles"]
        .as_object()?
        .iter()
        .map(|(role, r)| {
            let ids = r["keyids"]
                .as_array()?
                .iter()
                .map(|k| k.as_str().map(str::to_string))
                .collect::<Option<BTreeSet<_>>>()?;
            Some((role.clone(), (ids, r["threshold"].as_u64()?)))
        })
        .collect::<Option<_>>()?;
    Some((signed["keys"].clone(), roles))
}

/// Add `from`'s signatures by keys `into` has none from.
fn merge(into: &mut Value, from: &Value) {
    let Some(extra) = from["signatures"].as_array() else {
        return;
    };
    let Some(sigs) = into["signatures"].as_array_mut() else {
        return;
    };
    for s in extra {
        if !sigs.iter().any(|t| t["keyid"] == s["keyid"]) {
            sigs.push(s.clone());
        }
    }
}

/// The root for `set` that earlier releases carried (whole metadata files
/// in `roots`, any version, any order): the same version, keys and
/// thresholds; among several, the latest expiry, with the signatures of
/// every copy of it merged. None when no earlier release carried one.
pub(crate) fn earlier(set: &GuardianSet, roots: &[Vec<u8>]) -> Option<Value> {
    let want = trusts(&fresh(set, ""));
    let mut best: Option<Value> = None;
    for bytes in roots {
        let Ok(doc) = serde_json::from_slice::<Value>(bytes) else {
            continue;
        };
        let signed = &doc["signed"];
        if signed["_type"] != "root"
            || signed["version"].as_u64() != Some(set.version)
            || trusts(signed) != want
            || !doc["signatures"].is_array()
        {
            continue;
        }
        match &mut best {
            Some(b) if b["signed"] == *signed => merge(b, &doc),
            Some(b) if b["signed"]["expires"].as_str() >= signed["expires"].as_str() => {}
            _ => best = Some(doc),
        }
    }
    best
}

/// Every root file the ledger's verified releases carry (`root` and the
/// chain entries), for [`super::BuildSpec::earlier_roots`].
pub fn carried_roots(ledger: &Ledger) -> Vec<Vec<u8>> {
    ledger
        .releases()
        .into_iter()
        .filter(|(_, verdict)| verdict.is_ok())
        .filter_map(|(e, _)| match &e.payload {
            AnyPayload::ReleaseManifest(m) => Some(m),
            _ => None,
        })
        .flat_map(|m| {
            m.tuf_metadata
                .keys()
                .filter(|n| *n == "root" || version_of(n).is_some())
                .filter_map(|n| m.metadata_bytes(n))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_round_trip_and_refuse_look_alikes() {
        assert_eq!(version_of(&name(7)), Some(7));
        for bad in [
            "root",
            "0.root",
            "01.root",
            ".root",
            "1.roots",
            "x.root",
            "1.root.json",
        ] {
            assert_eq!(version_of(bad), None, "{bad}");
        }
        assert_eq!(first(1), 1);
        assert_eq!(first(5), 1);
        assert_eq!(first(MAX_CHAIN + 3), 3);
    }
}
