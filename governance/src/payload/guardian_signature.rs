//! `guardian_signature`: a guardian's signature over a content hash.

use super::*;

/// Prefixed to what a guardian signature signs, so it can never be replayed
/// as any other Mirror signature.
pub const GUARDIAN_SIGNING_DOMAIN: &str = "mirror/governance/guardian/v1\n";

/// `guardian_signature`: a guardian's signature over a content hash (an
/// amendment's proposal id, a new root's record id; releases carry their own TUF signatures). The
/// guardian is the record's author; `signature` is the author's ed25519
/// signature over [`GuardianSignature::signed_message`], so it can be
/// checked apart from the record that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianSignature {
    pub target_hash: Hash,
    pub purpose: SignaturePurpose,
    pub signature: SignatureBytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignaturePurpose {
    Amendment,
    RootRotation,
}

impl GuardianSignature {
    /// The bytes a guardian signs: [`GUARDIAN_SIGNING_DOMAIN`], the purpose's
    /// wire name, a newline, and the target hash in lowercase hex.
    pub fn signed_message(purpose: SignaturePurpose, target_hash: &Hash) -> Vec<u8> {
        format!(
            "{GUARDIAN_SIGNING_DOMAIN}{}\n{}",
            wire(&purpose),
            target_hash.to_hex()
        )
        .into_bytes()
    }

    /// [`GuardianSignature::signed_message`] for this signature.
    pub fn message(&self) -> Vec<u8> {
        Self::signed_message(self.purpose, &self.target_hash)
    }
}

impl Payload for GuardianSignature {
    const KIND: &'static str = "guardian_signature";

    fn check(&self) -> Result<(), PayloadError> {
        Ok(())
    }
}
