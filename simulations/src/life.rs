//! A proposal's full life under churn: a commons founded by a genesis
//! record, its members admitted by guardian attestations, one evolution
//! proposal walked to voting, a vote from every member, and the guardians'
//! release applying it, while a tenth of the nodes leave and come back.
//!
//! Every record is the real one (signed, in the governance payload format)
//! and every node runs the daemon's gate with the governance rules
//! ([`mirror_commons::governance::GovernanceRules`] under the genesis
//! constitution, for this commons' own genesis id). The outcome on each
//! node is what `mirror governance` would show there: the governance
//! ledger ([`Ledger`]) built from that node's accepted records, and the
//! proposal's state and tally from it. The property is that every honest
//! node ends with the same accepted set and the same tally.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::SigningKey;
use mirror_commons::record::{Kind, Record};
use mirror_constitution::compliance::Checker;
use mirror_governance::ledger::{Ledger, Tally};
use mirror_governance::payload::{
    Change, ChangeTarget, Choice, Edit, EvolutionProposal, Flags, Genesis, Hash, Hex,
    MembershipAttestation, ProposalState, ProposalTransition, ProposalType, PublicKey, Vote,
    VotingRules,
};
use mirror_governance::release::{self, BuildSpec};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::sim::{Config, NodeId, Report, Sim, T0};

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct LifeConfig {
    pub nodes: usize,
    /// Members admitted and voting (member `i`'s key lives on node
    /// `i % nodes`).
    pub members: usize,
    /// The genesis voting period (every window lasts exactly this).
    pub period_ms: i64,
    /// Share of nodes that leave once and come back, in %.
    pub churn_pct: u64,
    pub seed: u64,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct LifeReport {
    /// Delivery, propagation and sets over every record of the run.
    pub report: Report,
    pub members: usize,
    /// Nodes that left and came back.
    pub churned: usize,
    /// Votes whose member's node was away at the drawn time, cast on its
    /// return instead (still inside the window).
    pub votes_cast_on_return: usize,
    /// The choices the scenario made its members cast (approve, reject,
    /// abstain): what a tally counting every vote must show.
    pub cast: (u64, u64, u64),
    /// Node 0's proposal state and tally at the end, from its ledger.
    pub state: Option<ProposalState>,
    pub tally: Option<Tally>,
    /// Honest nodes whose ledger gives exactly node 0's state and tally.
    pub nodes_agreeing: usize,
    /// Why the guardians' node could not plan and sign the release (None:
    /// it published it).
    pub release_error: Option<String>,
    /// From the release's publication to every node holding every record.
    pub converged_after_release_ms: Option<i64>,
}

impl LifeReport {
    /// Every honest node has the same state and tally as node 0.
    pub fn identical_tallies(&self) -> bool {
        self.tally.is_some() && self.nodes_agreeing == self.report.honest
    }
}

fn key(seed: u64, what: &str, i: usize) -> SigningKey {
    SigningKey::from_bytes(blake3::hash(format!("{what} {seed} {i}").as_bytes()).as_bytes())
}

fn public(key: &SigningKey) -> PublicKey {
    Hex(key.verifying_key().to_bytes())
}

/// A record of `kind` carrying `payload`, signed by `key` at `at` (unix ms).
fn signed<T: Serialize>(kind: Kind, at: i64, payload: &T, key: &SigningKey) -> Record {
    let map = match serde_json::to_value(payload) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    Record::sign(kind, at, map, key).expect("a governance record of the payload format signs")
}

/// A parameter change that passes the invariants: one more cue for
/// absolute thinking, over the genesis pack's list.
fn proposal() -> EvolutionProposal {
    let path = "/patterns/absolute_thinking/rules/0/cues";
    let before = mirror_governance::params::EngineParams::genesis()
        .ok()
        .and_then(|p| serde_json::from_slice::<Value>(&p.canonical_json()).ok())
        .and_then(|v| v.pointer(path).cloned());
    let mut after = before.clone().unwrap_or_else(|| json!([]));
    if let Some(cues) = after.as_array_mut() {
        cues.push(json!("every single time"));
    }
    EvolutionProposal {
        proposal_type: ProposalType::PatternDetection,
        title: "Notice more absolutes".into(),
        description: "Adds a cue for absolute thinking.".into(),
        change: Change {
            target: ChangeTarget::Params,
            edits: vec![Edit {
                path: path.into(),
                before,
                after: Some(after),
            }],
        },
        evidence: vec![],
        flags: Flags {
            data_collection: false,
            user_consent_required: false,
            removes_export: false,
            breaking_change: false,
            migration_path: None,
        },
    }
}

/// The ledger of what `node` holds, as `mirror governance` builds it.
fn ledger(sim: &Sim, node: NodeId, genesis: Hash, checker: &Checker) -> Option<Ledger> {
    let entries: Vec<_> = Kind::ALL
        .iter()
        .filter(|k| **k != Kind::TelemetryPacket)
        .flat_map(|k| sim.records_of(node, *k))
        .filter_map(|r| mirror_commons::governance::entry(&r))
        .collect();
    Ledger::from_entries(genesis, entries, checker.clone()).ok()
}

/// The release the guardians sign once the proposal is approved, planned
/// from the ledger of the node that publishes it (as `mirror release build`
/// does), signed by `signers`, as a `release_manifest` record by the first.
fn release_record(ledger: &Ledger, at: i64, signers: &[SigningKey]) -> Result<Record, String> {
    let documents: BTreeMap<String, String> = mirror_constitution::Constitution::genesis()
        .files()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    let plan =
        mirror_governance::plan::plan(ledger, at, &[], &documents).map_err(|e| e.to_string())?;
    let mut earlier = ledger.guardian_history();
    let guardians = earlier.pop().ok_or("no guardian set")?;
    let mut manifest = release::build(&BuildSpec {
        version: plan.version,
        previous: plan.previous,
        proposals: plan.proposals.clone(),
        params: &plan.params,
        constitution: plan.constitution.as_ref(),
        guardians: &guardians,
        earlier_guardians: &earlier,
        earlier_roots: &release::chain::carried_roots(ledger),
        expires_ms: at + 30 * 86_400_000,
        root_expires_ms: at + release::chain::ROOT_LIFETIME_MS,
    })
    .map_err(|e| e.to_string())?;
    for k in signers {
        manifest = release::sign(&manifest, k).map_err(|e| e.to_string())?.0;
    }
    let author = signers.first().ok_or("no signer")?;
    Ok(signed(Kind::ReleaseManifest, at, &manifest, author))
}

/// The next time from `t` at which `node` is online, given its one absence
/// `[leave, back)`: a node that is away publishes on its return.
fn when_online(away: &BTreeMap<NodeId, (i64, i64)>, node: NodeId, t: i64) -> i64 {
    match away.get(&node) {
        Some(&(leave, back)) if leave <= t && t < back => back + 1_000,
        _ => t,
    }
}

/// Run one proposal's life. Node 0 holds the guardians' keys and node 1 the
/// proposer's; they stay online (they publish the lifecycle records; the
/// guardians' attestations, the proposal and the release). Every other node
/// may leave once for 2 to 10 minutes before voting closes.
pub fn proposal_life(c: LifeConfig) -> LifeReport {
    let minute = 60_000;
    let period = c.period_ms.max(3 * minute);
    let guardians: Vec<SigningKey> = (0..3).map(|i| key(c.seed, "guardian", i)).collect();
    let members: Vec<SigningKey> = (0..c.members).map(|i| key(c.seed, "member", i)).collect();
    let genesis = signed(
        Kind::Genesis,
        T0,
        &Genesis {
            name: "simulated commons".into(),
            constitution_hash: Hex(mirror_constitution::ConstitutionHash::genesis().0),
            guardians: guardians.iter().map(public).collect(),
            guardian_threshold: 2,
            attestations_required: 1,
            voting: VotingRules {
                period_ms: period as u64,
                max_period_ms: None,
                quorum_percent: 50,
                supermajority_numerator: 2,
                supermajority_denominator: 3,
            },
            root_version: 1,
        },
        &guardians[0],
    );
    let genesis_id = Hex(genesis.id().0);
    let mut config = Config::new(c.seed, c.nodes);
    config.governance_rules = true;
    config.commons = genesis.id().to_hex();
    let mut sim = Sim::new(config);
    let checker = mirror_constitution::Constitution::genesis()
        .checker()
        .expect("the genesis constitution's lexicon loads");
    let holder = |member: usize| member % c.nodes.max(1);
    let guardian_node = 0;
    let proposer = 1.min(c.members.saturating_sub(1));
    let proposer_node = holder(proposer);

    // The timeline (simulated ms): the genesis, the attestations (ten a
    // second, under every peer's gossip rate), the proposal and its steps,
    // then the window.
    sim.publish_at(500, guardian_node, genesis);
    let spacing = 100;
    for (i, m) in members.iter().enumerate() {
        let at = 2_000 + i as i64 * spacing;
        let g = &guardians[i % 2];
        let attestation = MembershipAttestation {
            member: public(m),
            note: None,
        };
        let r = signed(Kind::MembershipAttestation, T0 + at, &attestation, g);
        sim.publish_at(at, guardian_node, r);
    }
    let submitted = 2_000 + c.members as i64 * spacing + 5_000;
    let proposal = signed(
        Kind::EvolutionProposal,
        T0 + submitted,
        &proposal(),
        &members[proposer],
    );
    let proposal_id = Hex(proposal.id().0);
    sim.publish_at(submitted, proposer_node, proposal);
    let opens = submitted + 4_000;
    let closes = opens + period;
    for (step, to) in [
        ProposalState::Testing,
        ProposalState::Review,
        ProposalState::Voting,
    ]
    .into_iter()
    .enumerate()
    {
        let at = submitted + 1_000 * (step as i64 + 1);
        let voting = to == ProposalState::Voting;
        let t = ProposalTransition {
            proposal: proposal_id,
            to,
            voting_opens_at: voting.then_some((T0 + opens) as u64),
            voting_closes_at: voting.then_some((T0 + closes) as u64),
        };
        let r = signed(Kind::ProposalTransition, T0 + at, &t, &members[proposer]);
        sim.publish_at(at, proposer_node, r);
    }

    // Churn: distinct nodes (not the two publishers) leave once before
    // the window's last three minutes and are back a minute before it
    // closes at the latest.
    let mut away: BTreeMap<NodeId, (i64, i64)> = BTreeMap::new();
    let eligible: Vec<NodeId> = (0..c.nodes)
        .filter(|n| *n != guardian_node && *n != proposer_node)
        .collect();
    let want = (c.nodes as u64 * c.churn_pct / 100) as usize;
    let mut picked = BTreeSet::new();
    let mut tries = 0;
    while picked.len() < want.min(eligible.len()) && tries < want * 20 {
        tries += 1;
        picked.insert(eligible[sim.random_below(eligible.len() as u64) as usize]);
    }
    for n in picked {
        let leave = sim.random_below((closes - 3 * minute) as u64) as i64;
        let back =
            (leave + 2 * minute + sim.random_below(8 * minute as u64) as i64).min(closes - minute);
        sim.set_online_at(leave, n, false);
        sim.set_online_at(back, n, true);
        away.insert(n, (leave, back));
    }

    // Every member votes once inside the window: 70% approve, 20% reject,
    // 10% abstain; a member whose node is away votes on its return.
    let mut cast = (0u64, 0u64, 0u64);
    let mut on_return = 0;
    for (i, m) in members.iter().enumerate() {
        let drawn = opens + 1_000 + sim.random_below((period - 2 * minute) as u64) as i64;
        let at = when_online(&away, holder(i), drawn);
        on_return += usize::from(at != drawn);
        let choice = match sim.random_below(10) {
            0..=6 => {
                cast.0 += 1;
                Choice::Approve
            }
            7..=8 => {
                cast.1 += 1;
                Choice::Reject
            }
            _ => {
                cast.2 += 1;
                Choice::Abstain
            }
        };
        let v = Vote {
            proposal: proposal_id,
            choice,
        };
        sim.publish_at(at, holder(i), signed(Kind::Vote, T0 + at, &v, m));
    }

    // A minute after the window closes, the guardians' node plans the
    // release from what it holds, two guardians sign it, and it goes out.
    let release_at = closes + minute;
    sim.run_until(release_at - 1);
    let release = ledger(&sim, guardian_node, genesis_id, &checker)
        .ok_or_else(|| "the guardians' node holds no genesis".to_string())
        .and_then(|l| release_record(&l, T0 + release_at, &guardians[..2]));
    let release_error = release.as_ref().err().cloned();
    if let Ok(r) = release {
        sim.publish_at(release_at, guardian_node, r);
    }
    let converged = sim.run_until_converged(1_000, release_at + 30 * minute);

    // The outcome on every honest node, from its own records, at one time.
    let now = T0 + sim.now();
    let outcome = |n: NodeId| {
        ledger(&sim, n, genesis_id, &checker)
            .and_then(|l| l.proposal(&proposal_id, now))
            .map(|p| (p.state, p.tally))
    };
    let reference = outcome(0);
    let nodes_agreeing = (0..c.nodes)
        .filter(|n| reference.is_some() && outcome(*n) == reference)
        .count();
    let (state, tally) = match reference {
        Some((s, t)) => (Some(s), t),
        None => (None, None),
    };
    LifeReport {
        report: sim.report(),
        members: c.members,
        churned: away.len(),
        votes_cast_on_return: on_return,
        cast,
        state,
        tally,
        nodes_agreeing,
        release_error,
        converged_after_release_ms: converged.map(|t| t - release_at),
    }
}
