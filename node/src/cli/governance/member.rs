//! `mirror member attest|revoke|list`: guardians admit and remove members;
//! anyone sees who is in.

use std::fmt::Write as _;

use mirror_governance::payload::{Hex, MembershipAttestation, MembershipRevocation};
use serde_json::json;

use super::{human_duration, ledger, my_key, now, publish, signer};
use crate::cli::{Context, Output, UsageError};

#[derive(Debug, clap::Subcommand)]
pub enum MemberCommand {
    /// Admit a member key (a guardian's act)
    Attest {
        /// The member's public key (hex, as `mirror member list` shows)
        key: String,
        /// Why, for the record
        #[arg(long)]
        note: Option<String>,
    },
    /// Remove a member key (a guardian's act)
    Revoke {
        /// The member's public key (hex)
        key: String,
        /// Why, for the record
        #[arg(long)]
        reason: Option<String>,
    },
    /// Members and guardians now, and this node's key
    List,
}

pub fn member(ctx: &Context, cmd: &MemberCommand) -> anyhow::Result<Output> {
    match cmd {
        MemberCommand::Attest { key, note } | MemberCommand::Revoke { key, reason: note } => {
            let member = Hex::from_hex(key)
                .ok_or_else(|| UsageError(format!("{key:?} is not a key (64 hex)")))?;
            let (ledger, _) = ledger(ctx)?;
            let signer = signer(ctx)?;
            if !ledger.guardians().keys.contains(&my_key(&signer)) {
                return Err(UsageError(
                    "this node's key is not a guardian's: only guardians attest or revoke members"
                        .into(),
                )
                .into());
            }
            let attest = matches!(cmd, MemberCommand::Attest { .. });
            let (id, how) = if attest {
                publish(
                    ctx,
                    &signer,
                    &MembershipAttestation {
                        member,
                        note: note.clone(),
                    },
                )?
            } else {
                publish(
                    ctx,
                    &signer,
                    &MembershipRevocation {
                        member,
                        reason: note.clone(),
                    },
                )?
            };
            let verb = if attest { "attested" } else { "revoked" };
            Output::new(
                json!({"id": id, "member": key, "action": verb}),
                format!("{verb} {key}: record {id} {how}"),
            )
        }
        MemberCommand::List => {
            let me = my_key(&signer(ctx)?);
            let ledger = match ledger(ctx) {
                Ok((ledger, _)) => ledger,
                Err(e) => {
                    // Before founding or joining, the key is what a person
                    // needs: to be named a guardian or attested a member.
                    return Output::new(
                        json!({"me": me, "members": [], "guardians": null, "note": e.to_string()}),
                        format!(
                            "this node  {}
{e}",
                            me.to_hex()
                        ),
                    );
                }
            };
            let t = now();
            let members = ledger.members_at(t);
            let guardians = ledger.guardians();
            let mut text = format!(
                "this node  {}{}{}\n",
                me.to_hex(),
                if members.contains(&me) {
                    "  member"
                } else {
                    ""
                },
                if guardians.keys.contains(&me) {
                    "  guardian"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                text,
                "guardians  {} of {} must sign (root version {})",
                guardians.threshold,
                guardians.keys.len(),
                guardians.version
            );
            for g in &guardians.keys {
                let _ = writeln!(text, "  {}", g.to_hex());
            }
            let _ = writeln!(text, "members    {}", members.len());
            for m in &members {
                let _ = writeln!(text, "  {}", m.to_hex());
            }
            let voting = &ledger.genesis().voting;
            let _ = writeln!(
                text,
                "voting     {}{}, quorum {}% (approve + abstain), amendments {}/{}",
                human_duration(voting.period_ms),
                voting.max_period_ms.map_or(String::new(), |m| format!(
                    " (a proposal may choose up to {})",
                    human_duration(m)
                )),
                voting.quorum_percent,
                voting.supermajority_numerator,
                voting.supermajority_denominator
            );
            Output::new(
                json!({"me": me, "members": members, "guardians": guardians, "voting": voting}),
                text.trim_end().to_string(),
            )
        }
    }
}
