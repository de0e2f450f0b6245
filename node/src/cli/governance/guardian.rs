//! `mirror guardian sign|rotate`: a guardian's signature on an amendment or
//! a root rotation, and proposing the next guardian set.

use mirror_governance::payload::{
    GuardianSignature, Hex, Payload as _, PublicKey, SignaturePurpose,
};
use serde_json::json;

use super::{ledger, my_key, parse_hash, publish, serde_enum, short, signer};
use crate::cli::{Context, Output, UsageError};

#[derive(Debug, clap::Subcommand)]
pub enum GuardianCommand {
    /// Sign a content hash as a guardian: an amendment's proposal id, or a
    /// root rotation's genesis record id
    Sign {
        /// The content hash to sign (64 hex digits)
        id: String,
        /// What the signature is for [possible values: amendment, root_rotation]
        #[arg(long, default_value = "amendment", value_parser = serde_enum::<SignaturePurpose>)]
        purpose: SignaturePurpose,
    },
    /// Propose the next guardian set (a rotation: the next TUF root
    /// version); it takes effect once the current guardians' threshold and
    /// the new set's have signed it with `mirror guardian sign ID --purpose
    /// root_rotation`
    Rotate {
        /// A guardian key of the new set (64 hex digits; repeat for each)
        #[arg(long = "guardian", value_name = "KEY", required = true)]
        guardians: Vec<String>,
        /// How many distinct guardians of the new set must sign (k of n)
        #[arg(long)]
        threshold: u32,
        /// How many guardians' attestations admit a member [default: as now]
        #[arg(long)]
        attestations: Option<u32>,
    },
}

pub fn guardian(ctx: &Context, cmd: &GuardianCommand) -> anyhow::Result<Output> {
    let (id, purpose) = match cmd {
        GuardianCommand::Sign { id, purpose } => (id, purpose),
        GuardianCommand::Rotate {
            guardians,
            threshold,
            attestations,
        } => return rotate(ctx, guardians, *threshold, *attestations),
    };
    let target = parse_hash(id, "id")?;
    let (ledger, _) = ledger(ctx)?;
    let key = signer(ctx)?;
    if !ledger.guardians().keys.contains(&my_key(&key)) {
        eprintln!(
            "mirror: note: this node's key is not in the current guardian set; the signature will not count"
        );
    }
    let message = GuardianSignature::signed_message(*purpose, &target);
    let signature = ed25519_dalek::Signer::sign(&key, &message).to_bytes();
    let sig = GuardianSignature {
        target_hash: target,
        purpose: *purpose,
        signature: Hex::<64>(signature),
    };
    let (rid, how) = publish(ctx, &key, &sig)?;
    Output::new(
        json!({"id": rid, "target": id, "purpose": purpose}),
        format!("signed {} as a guardian: record {rid} {how}", short(id)),
    )
}

/// Publish a rotation: the genesis of this commons with the new guardian
/// set, threshold and attestations, at the next root version.
fn rotate(
    ctx: &Context,
    guardians: &[String],
    threshold: u32,
    attestations: Option<u32>,
) -> anyhow::Result<Output> {
    let (ledger, _) = ledger(ctx)?;
    let current = ledger.guardians();
    let keys = guardians
        .iter()
        .map(|g| {
            Hex::from_hex(g)
                .ok_or_else(|| UsageError(format!("guardian key {g:?} is not 64 hex digits")))
        })
        .collect::<Result<Vec<PublicKey>, _>>()?;
    let g = ledger.rotation(keys, threshold, attestations);
    g.check().map_err(|e| UsageError(e.to_string()))?;
    let (id, how) = publish(ctx, &signer(ctx)?, &g)?;
    Output::new(
        json!({"id": id, "root_version": g.root_version, "threshold": threshold, "guardians": guardians}),
        format!(
            "rotation to root version {} proposed: record {id} {how}; it takes effect once {} of the current guardians and {threshold} of the new sign it with `mirror guardian sign {id} --purpose root_rotation`",
            g.root_version, current.threshold
        ),
    )
}
