//! The governance rules plugged into the gate.
//!
//! [`mirror_governance::rules`] decides what a governance record may not be
//! by itself (a proposal that violates an invariant, a guardian signature
//! that does not verify, a second founding genesis); this module turns a
//! commons [`Record`] into the ledger's [`Entry`] and the verdict into a
//! gate refusal. What depends on other records (membership, windows,
//! guardian sets) is the ledger's to decide, never the gate's, so that
//! every node accepts the same set whatever order records arrive in.

use mirror_constitution::compliance::Checker;
use mirror_governance::ledger::Entry;
use mirror_governance::payload::{Hex, TelemetryPacket, parse_any};

use crate::gate::{RuleRefusal, Rules};
use crate::record::{Kind, Record};

/// The rules of one commons. Every one is a function of the record alone
/// (see [`Rules`]): the checker is the genesis constitution's, the same on
/// every node of this protocol, and telemetry packets are checked only for
/// what holds under any registry; whether their metrics are the ones the
/// registry version they declare lists is decided when they are counted
/// ([`mirror_governance::telemetry::aggregate`]), so a node that has not yet
/// applied a release keeps the new packets, uncounted, instead of refusing
/// them and banning the honest nodes that sent them.
pub struct GovernanceRules {
    commons: Hex<32>,
    founding_root_version: u64,
    checker: Checker,
}

impl GovernanceRules {
    /// `commons` is the commons id (64 hex digits); `founding_root_version`
    /// the genesis root version if the genesis is known (else 1); `checker`
    /// the genesis constitution's compliance checker (never a node's amended
    /// copy: an amendment applied at different times on different nodes
    /// must not split them).
    pub fn new(commons: &str, founding_root_version: u64, checker: Checker) -> GovernanceRules {
        let mut id = [0u8; 32];
        // An id that is not hex matches no genesis record: every genesis
        // must then be a rotation, which no guardian set can sign.
        let _ = hex::decode_to_slice(commons, &mut id);
        GovernanceRules {
            commons: Hex(id),
            founding_root_version: founding_root_version.max(1),
            checker,
        }
    }
}

/// The ledger's view of an accepted record (None for a payload that does
/// not parse, which the gate's schema check has already refused).
pub fn entry(record: &Record) -> Option<Entry> {
    let payload = parse_any(record.kind.as_str(), &record.payload).ok()?;
    Some(Entry {
        id: Hex(record.id().0),
        author: Hex(record.author),
        created_at: record.created_at,
        payload,
    })
}

impl Rules for GovernanceRules {
    fn check(&self, record: &Record) -> Result<(), RuleRefusal> {
        if record.kind == Kind::TelemetryPacket {
            let packet = mirror_governance::payload::parse::<TelemetryPacket>(&record.payload)
                .map_err(|e| RuleRefusal {
                    name: "schema",
                    detail: e.to_string(),
                })?;
            return mirror_governance::telemetry::check_packet_shape(&packet).map_err(|detail| {
                RuleRefusal {
                    name: "bad_metric",
                    detail,
                }
            });
        }
        let Some(entry) = entry(record) else {
            return Err(RuleRefusal {
                name: "schema",
                detail: "payload does not parse".into(),
            });
        };
        mirror_governance::rules::check(
            &entry,
            &self.commons,
            self.founding_root_version,
            &self.checker,
        )
        .map_err(|v| RuleRefusal {
            name: v.reason(),
            detail: v.to_string(),
        })
    }
}
