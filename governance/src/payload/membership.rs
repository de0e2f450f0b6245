//! `membership_attestation` and `membership_revocation`.

use super::*;

/// `membership_attestation`: a guardian (the author) vouches for a member
/// key. The genesis says how many distinct guardians admit a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipAttestation {
    pub member: PublicKey,
    /// Multi-line, at most 500 characters.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub note: Option<String>,
}

impl Payload for MembershipAttestation {
    const KIND: &'static str = "membership_attestation";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        match &self.note {
            Some(note) => c.text("note", note, limits::NOTE_CHARS, Lines::Multi),
            None => Ok(()),
        }
    }
}

/// `membership_revocation`: a guardian (the author) removes a member key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipRevocation {
    pub member: PublicKey,
    /// Multi-line, at most 500 characters.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<String>,
}

impl Payload for MembershipRevocation {
    const KIND: &'static str = "membership_revocation";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        match &self.reason {
            Some(reason) => c.text("reason", reason, limits::NOTE_CHARS, Lines::Multi),
            None => Ok(()),
        }
    }
}
