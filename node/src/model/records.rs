//! The records themselves. Field names here are the field names in bundles
//! and in `schemas/bundle/*.schema.json`: change one, change the other.

use serde::{Deserialize, Serialize};

use super::*;

macro_rules! keyed {
    ($ty:ty) => {
        impl Keyed for $ty {
            fn id(&self) -> Id {
                self.id
            }
        }
    };
}

/// A person's identity on this node. The secret key lives in a 0600 file
/// beside the database, never in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    pub id: Id,
    pub name: String,
    pub public_key: PublicKey,
    pub created_at: Timestamp,
}

impl Record for Identity {
    const TABLE: &'static str = "identities";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("name", &self.name, 100)
    }
}
keyed!(Identity);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reflection {
    pub id: Id,
    pub identity_id: Id,
    pub content: String,
    pub content_type: ContentType,
    pub visibility: Visibility,
    pub source: Source,
    pub created_at: Timestamp,
    #[serde(default)]
    pub metadata: Metadata,
}

impl Record for Reflection {
    const TABLE: &'static str = "reflections";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("content", &self.content, MAX_CONTENT_CHARS)?;
        self.metadata.validate("metadata")
    }
}
keyed!(Reflection);

/// The Mirror's answer to a reflection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirrorback {
    pub id: Id,
    pub reflection_id: Id,
    pub text: String,
    pub engine_mode: EngineMode,
    pub engine_version: String,
    pub model: Option<String>,
    /// How many generations it took (1 when the first answer complied).
    pub attempts: u32,
    /// Whether the built-in mirror stood in for a failing or non-compliant LLM.
    pub fell_back: bool,
    /// Compliance flags raised along the way (by rejected attempts).
    pub flags: Vec<String>,
    pub created_at: Timestamp,
}

impl Record for Mirrorback {
    const TABLE: &'static str = "mirrorbacks";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("text", &self.text, MAX_MIRRORBACK_CHARS)?;
        check_text("engine_version", &self.engine_version, 64)?;
        if let Some(model) = &self.model {
            check_text("model", model, 200)?;
        }
        if self.attempts == 0 {
            return Err(ValidationError::OutOfRange {
                field: "attempts",
                value: 0.0,
                min: 1.0,
                max: f64::from(u32::MAX),
            });
        }
        self.flags.iter().try_for_each(|f| check_name("flags", f))
    }
}
keyed!(Mirrorback);

/// A tension the person holds between two poles, e.g. control ↔ surrender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tension {
    pub id: Id,
    pub identity_id: Id,
    pub name: String,
    pub axis_a: String,
    pub axis_b: String,
    /// -1 leans fully toward `axis_a`, +1 fully toward `axis_b`.
    pub position: f64,
    /// How strongly the tension is felt, 0 to 1.
    pub intensity: f64,
    pub origin: TensionOrigin,
    pub sync_mode: TensionSyncMode,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Record for Tension {
    const TABLE: &'static str = "tensions";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("name", &self.name, 100)?;
        check_name("axis_a", &self.axis_a)?;
        check_name("axis_b", &self.axis_b)?;
        if self.axis_a == self.axis_b {
            return Err(ValidationError::Invalid {
                field: "axis_b",
                reason: format!("must differ from axis_a ({})", self.axis_a),
            });
        }
        check_range("position", self.position, -1.0, 1.0)?;
        check_range("intensity", self.intensity, 0.0, 1.0)?;
        check_order(self.created_at, self.updated_at)
    }
}
keyed!(Tension);

/// Why a tension is believed: a passage of a reflection, or a position the
/// person set by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensionEvidence {
    pub id: Id,
    pub tension_id: Id,
    pub reflection_id: Option<Id>,
    pub excerpt: String,
    /// The position this evidence points to, when it moved the tension.
    pub position: Option<f64>,
    pub created_at: Timestamp,
}

impl Record for TensionEvidence {
    const TABLE: &'static str = "tension_evidence";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("excerpt", &self.excerpt, 4000)?;
        if let Some(p) = self.position {
            check_range("position", p, -1.0, 1.0)?;
        }
        Ok(())
    }
}
keyed!(TensionEvidence);

/// A tension the engine noticed in a reflection and offers to track. The
/// person accepts it (it becomes a [`Tension`]) or dismisses it (it is not
/// offered again for those two poles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensionSuggestion {
    pub id: Id,
    pub identity_id: Id,
    pub reflection_id: Id,
    pub name: String,
    pub axis_a: String,
    pub axis_b: String,
    pub position: f64,
    pub intensity: f64,
    /// The sentences that evoke the two poles.
    pub evidence: String,
    pub status: SuggestionStatus,
    /// The tension it became, once accepted.
    pub tension_id: Option<Id>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Record for TensionSuggestion {
    const TABLE: &'static str = "tension_suggestions";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("name", &self.name, 100)?;
        check_name("axis_a", &self.axis_a)?;
        check_name("axis_b", &self.axis_b)?;
        // A suggestion becomes a tension, which needs two poles.
        if self.axis_a == self.axis_b {
            return Err(ValidationError::Invalid {
                field: "axis_b",
                reason: format!("must differ from axis_a ({})", self.axis_a),
            });
        }
        check_range("position", self.position, -1.0, 1.0)?;
        check_range("intensity", self.intensity, 0.0, 1.0)?;
        check_text("evidence", &self.evidence, 4000)?;
        check_order(self.created_at, self.updated_at)
    }
}
keyed!(TensionSuggestion);

/// A thread groups reflections on one theme over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thread {
    pub id: Id,
    pub identity_id: Id,
    pub title: String,
    pub status: ThreadStatus,
    pub started_at: Timestamp,
    pub last_active: Timestamp,
    pub updated_at: Timestamp,
}

impl Record for Thread {
    const TABLE: &'static str = "threads";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("title", &self.title, 200)?;
        check_order(self.started_at, self.updated_at)
    }
}
keyed!(Thread);

/// A reflection's place in a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadMember {
    pub thread_id: Id,
    pub reflection_id: Id,
    pub added_at: Timestamp,
}

impl Record for ThreadMember {
    const TABLE: &'static str = "thread_members";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// One run of the reflection engine over one reflection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineRun {
    pub id: Id,
    pub reflection_id: Id,
    pub mode: EngineMode,
    pub model: Option<String>,
    pub duration_ms: u64,
    pub patterns: Vec<String>,
    pub flags: Vec<String>,
    /// False unless the person consented to share engine feedback.
    pub sync_allowed: bool,
    pub created_at: Timestamp,
}

impl Record for EngineRun {
    const TABLE: &'static str = "engine_runs";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        if let Some(model) = &self.model {
            check_text("model", model, 200)?;
        }
        self.patterns
            .iter()
            .try_for_each(|p| check_name("patterns", p))?;
        self.flags.iter().try_for_each(|f| check_name("flags", f))
    }
}
keyed!(EngineRun);

/// The person's rating of one engine run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineFeedback {
    pub id: Id,
    pub run_id: Id,
    pub rating: u8,
    pub flags: Vec<FeedbackFlag>,
    pub note: Option<String>,
    pub created_at: Timestamp,
}

impl Record for EngineFeedback {
    const TABLE: &'static str = "engine_feedback";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_range("rating", f64::from(self.rating), 1.0, 5.0)?;
        if let Some(note) = &self.note {
            check_text("note", note, 4000)?;
        }
        Ok(())
    }
}
keyed!(EngineFeedback);

/// Something the evolution engine noticed or did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvolutionEvent {
    pub id: Id,
    pub kind: EvolutionEventKind,
    pub summary: String,
    #[serde(default)]
    pub details: Metadata,
    pub created_at: Timestamp,
}

impl Record for EvolutionEvent {
    const TABLE: &'static str = "evolution_events";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("summary", &self.summary, 2000)?;
        self.details.validate("details")
    }
}
keyed!(EvolutionEvent);

/// One step in the history of the engine's parameters: a release applied or
/// rolled back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvolutionHistory {
    pub id: Id,
    pub action: EvolutionAction,
    pub version: u64,
    /// blake3 (hex) of the parameter pack now in force.
    pub pack_hash: String,
    pub previous_pack_hash: Option<String>,
    /// Content hashes of the approved proposals this release applies.
    pub proposal_ids: Vec<String>,
    pub at: Timestamp,
}

impl Record for EvolutionHistory {
    const TABLE: &'static str = "evolution_history";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_hash("pack_hash", &self.pack_hash)?;
        if let Some(prev) = &self.previous_pack_hash {
            check_hash("previous_pack_hash", prev)?;
        }
        self.proposal_ids
            .iter()
            .try_for_each(|p| check_hash("proposal_ids", p))
    }
}
keyed!(EvolutionHistory);

/// An outside service the node may talk to (never its secrets: API keys come
/// from environment variables only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    pub id: Id,
    pub name: String,
    pub kind: IntegrationKind,
    pub endpoint: Option<String>,
    pub enabled: bool,
    #[serde(default)]
    pub settings: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Record for Integration {
    const TABLE: &'static str = "integrations";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("name", &self.name, 100)?;
        if let Some(endpoint) = &self.endpoint {
            check_text("endpoint", endpoint, 2000)?;
        }
        self.settings.validate("settings")?;
        check_order(self.created_at, self.updated_at)
    }
}
keyed!(Integration);

/// The current consent for one category. Off unless the person said yes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentSetting {
    pub category: ConsentCategory,
    pub granted: bool,
    pub updated_at: Timestamp,
}

impl Record for ConsentSetting {
    const TABLE: &'static str = "consent";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// Every consent change, kept so the person can see when they said what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    pub id: Id,
    pub category: ConsentCategory,
    pub granted: bool,
    pub at: Timestamp,
}

impl Record for ConsentChange {
    const TABLE: &'static str = "consent_changes";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}
keyed!(ConsentChange);

/// One thing that left the node: what, when, to whom, how many bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRecord {
    pub id: Id,
    pub kind: EgressKind,
    pub destination: String,
    pub bytes: u64,
    /// blake3 (hex) of exactly what was sent.
    pub content_hash: String,
    pub summary: String,
    pub at: Timestamp,
}

impl Record for EgressRecord {
    const TABLE: &'static str = "egress_log";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("destination", &self.destination, 2000)?;
        check_hash("content_hash", &self.content_hash)?;
        check_text("summary", &self.summary, 2000)
    }
}
keyed!(EgressRecord);

fn check_order(created: Timestamp, updated: Timestamp) -> Result<(), ValidationError> {
    if updated < created {
        return Err(ValidationError::Invalid {
            field: "updated_at",
            reason: format!("{updated} is before the record was created ({created})"),
        });
    }
    Ok(())
}

/// A blake3 or sha256 digest in lowercase hex.
fn check_hash(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ValidationError::Invalid {
            field,
            reason: "expected 64 lowercase hex digits".into(),
        })
    }
}

/// A reflection's text before an edit (`mirror edit`): kept, so nothing a
/// person wrote is lost by changing it, and shown by `mirror show --history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReflectionRevision {
    pub id: Id,
    pub reflection_id: Id,
    /// The text as it was until `replaced_at`.
    pub content: String,
    pub replaced_at: Timestamp,
}

impl Record for ReflectionRevision {
    const TABLE: &'static str = "reflection_revisions";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        check_text("content", &self.content, MAX_CONTENT_CHARS)
    }
}
keyed!(ReflectionRevision);

/// What remains of a deleted reflection: its id and when, so that importing
/// an older bundle that still holds it does not bring it back unless asked.
/// Nothing of its text is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    /// The deleted reflection's id.
    pub id: Id,
    pub deleted_at: Timestamp,
}

impl Record for Tombstone {
    const TABLE: &'static str = "tombstones";
    const VERSION: u8 = 1;
    fn validate(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}
keyed!(Tombstone);
