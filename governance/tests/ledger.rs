//! The governance checklist, as pure functions over records: membership and
//! its timing, the voting window, one vote per member, quorum and majority,
//! amendments and their guardians, rotations, and order independence.

use std::collections::BTreeSet;

use ed25519_dalek::{Signer, SigningKey};
use mirror_governance::invariants::Invariant;
use mirror_governance::ledger::{Entry, Ledger};
use mirror_governance::payload::{
    AnyPayload, Change, ChangeTarget, Choice, Edit, EvolutionProposal, Flags, Genesis,
    GuardianSignature, Hash, Hex, MembershipAttestation, MembershipRevocation, ProposalState,
    ProposalTransition, ProposalType, PublicKey, SignaturePurpose, Vote, VotingRules,
};
use mirror_governance::rules::{self, RuleViolation};
use proptest::prelude::*;
use serde_json::json;

const T0: i64 = 1_795_000_000_000;
const PERIOD: u64 = 86_400_000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn pk(n: u8) -> PublicKey {
    Hex(key(n).verifying_key().to_bytes())
}

fn checker() -> mirror_constitution::compliance::Checker {
    mirror_constitution::Constitution::genesis()
        .checker()
        .unwrap()
}

/// Builds entries with distinct ids.
struct World {
    serial: u64,
    entries: Vec<Entry>,
    genesis: Hash,
}

impl World {
    /// Guardians 1 and 2 (threshold 2 of 2), quorum 50%, 2/3 supermajority.
    fn new() -> World {
        let mut w = World {
            serial: 0,
            entries: Vec::new(),
            genesis: Hex([0; 32]),
        };
        w.genesis = w.add(1, T0, AnyPayload::Genesis(genesis(&[1, 2], 2, 1)));
        w
    }

    fn add(&mut self, author: u8, at: i64, payload: AnyPayload) -> Hash {
        self.serial += 1;
        let id = Hex(*blake3::hash(&self.serial.to_le_bytes()).as_bytes());
        self.entries.push(Entry {
            id,
            author: pk(author),
            created_at: at,
            payload,
        });
        id
    }

    fn attest(&mut self, guardian: u8, member: u8, at: i64) -> Hash {
        self.add(
            guardian,
            at,
            AnyPayload::MembershipAttestation(MembershipAttestation {
                member: pk(member),
                note: None,
            }),
        )
    }

    fn revoke(&mut self, guardian: u8, member: u8, at: i64) -> Hash {
        self.add(
            guardian,
            at,
            AnyPayload::MembershipRevocation(MembershipRevocation {
                member: pk(member),
                reason: None,
            }),
        )
    }

    fn propose(&mut self, author: u8, at: i64, kind: ProposalType) -> Hash {
        self.add(author, at, AnyPayload::EvolutionProposal(proposal(kind)))
    }

    fn step(&mut self, author: u8, at: i64, proposal: Hash, to: ProposalState) -> Hash {
        self.add(
            author,
            at,
            AnyPayload::ProposalTransition(ProposalTransition {
                proposal,
                to,
                voting_opens_at: None,
                voting_closes_at: None,
            }),
        )
    }

    /// Submit and move to voting, opening at `opens`.
    fn open_voting(&mut self, author: u8, proposal: Hash, opens: i64) {
        self.step(author, opens - 3, proposal, ProposalState::Testing);
        self.step(author, opens - 2, proposal, ProposalState::Review);
        self.add(
            author,
            opens - 1,
            AnyPayload::ProposalTransition(ProposalTransition {
                proposal,
                to: ProposalState::Voting,
                voting_opens_at: Some(opens as u64),
                voting_closes_at: Some(opens as u64 + PERIOD),
            }),
        );
    }

    fn vote(&mut self, member: u8, at: i64, proposal: Hash, choice: Choice) -> Hash {
        self.add(member, at, AnyPayload::Vote(Vote { proposal, choice }))
    }

    fn sign(&mut self, guardian: u8, at: i64, purpose: SignaturePurpose, target: Hash) -> Hash {
        let message = GuardianSignature::signed_message(purpose, &target);
        let signature = Hex(key(guardian).sign(&message).to_bytes());
        self.add(
            guardian,
            at,
            AnyPayload::GuardianSignature(GuardianSignature {
                target_hash: target,
                purpose,
                signature,
            }),
        )
    }

    fn ledger(&self) -> Ledger {
        Ledger::from_entries(self.genesis, self.entries.clone(), checker()).unwrap()
    }
}

fn genesis(guardians: &[u8], threshold: u32, root_version: u64) -> Genesis {
    Genesis {
        name: "test commons".into(),
        constitution_hash: Hex([7; 32]),
        guardians: guardians.iter().map(|g| pk(*g)).collect(),
        guardian_threshold: threshold,
        attestations_required: 1,
        voting: VotingRules {
            period_ms: PERIOD,
            max_period_ms: None,
            quorum_percent: 50,
            supermajority_numerator: 2,
            supermajority_denominator: 3,
        },
        root_version,
    }
}

fn flags() -> Flags {
    Flags {
        data_collection: false,
        user_consent_required: false,
        removes_export: false,
        breaking_change: false,
        migration_path: None,
    }
}

fn proposal(kind: ProposalType) -> EvolutionProposal {
    let change = match kind {
        ProposalType::ConstitutionalAmendment => Change {
            target: ChangeTarget::Constitution,
            edits: vec![Edit {
                path: "01-core-principle.md".into(),
                before: Some(json!("old")),
                after: Some(json!("The Mirror reflects what a person writes.")),
            }],
        },
        _ => Change {
            target: ChangeTarget::Params,
            edits: vec![Edit {
                path: "/patterns/absolute_thinking/rules/0/cues".into(),
                before: None,
                after: Some(json!(["always", "every single time"])),
            }],
        },
    };
    EvolutionProposal {
        proposal_type: kind,
        title: "Notice more absolutes".into(),
        description: "Adds a cue seen in the dev set.".into(),
        change,
        evidence: vec![],
        flags: flags(),
    }
}

/// Members 10..10+n, admitted before T0 + 100.
fn with_members(n: u8) -> World {
    let mut w = World::new();
    for m in 0..n {
        w.attest(1, 10 + m, T0 + 10 + i64::from(m));
    }
    w
}

const OPENS: i64 = T0 + 1_000;
const AFTER: i64 = OPENS + PERIOD as i64 + 1;

#[test]
fn a_proposal_walks_its_lifecycle_and_is_approved() {
    let mut w = with_members(4);
    let p = w.propose(10, T0 + 500, ProposalType::PatternDetection);
    assert_eq!(
        w.ledger().proposal(&p, T0 + 600).unwrap().state,
        ProposalState::Draft
    );
    w.open_voting(10, p, OPENS);
    let during = w.ledger().proposal(&p, OPENS + 5).unwrap();
    assert_eq!(during.state, ProposalState::Voting);
    w.vote(10, OPENS + 10, p, Choice::Approve);
    w.vote(11, OPENS + 11, p, Choice::Approve);
    w.vote(12, OPENS + 12, p, Choice::Reject);
    let status = w.ledger().proposal(&p, AFTER).unwrap();
    let t = status.tally.unwrap();
    assert_eq!(
        (t.members, t.quorum, t.approve, t.reject, t.abstain),
        (4, 2, 2, 1, 0)
    );
    assert!(t.approved, "{:?}", t.reasons);
    assert_eq!(status.state, ProposalState::Approved);
}

#[test]
fn votes_that_do_not_count_are_held_with_a_reason() {
    let mut w = with_members(3);
    let p = w.propose(10, T0 + 500, ProposalType::PatternDetection);
    w.open_voting(10, p, OPENS);
    // A non-member, and a member admitted after voting opened.
    let stranger = w.vote(99, OPENS + 5, p, Choice::Approve);
    w.attest(1, 50, OPENS + 1);
    let late_member = w.vote(50, OPENS + 6, p, Choice::Approve);
    // Before the window and after it.
    let early = w.vote(10, OPENS - 1, p, Choice::Approve);
    let late = w.vote(11, OPENS + PERIOD as i64 + 1, p, Choice::Approve);
    // A double vote: the later one counts.
    let first = w.vote(12, OPENS + 7, p, Choice::Approve);
    w.vote(12, OPENS + 8, p, Choice::Reject);
    let t = w.ledger().tally(&p, AFTER).unwrap();
    let reasons: Vec<(Hash, &str)> = t
        .ignored_votes
        .iter()
        .map(|i| (i.record, i.reason.as_str()))
        .collect();
    for (id, why) in [
        (stranger, "not a member when voting opened"),
        (late_member, "not a member when voting opened"),
        (early, "cast before voting opened"),
        (late, "cast after voting closed"),
        (first, "replaced by a later vote of the same member"),
    ] {
        assert!(reasons.contains(&(id, why)), "{why}: {reasons:?}");
    }
    assert_eq!((t.approve, t.reject), (0, 1));
    assert!(!t.approved);
}

#[test]
fn equal_times_are_broken_by_record_id() {
    let mut w = with_members(2);
    let p = w.propose(10, T0 + 500, ProposalType::PatternDetection);
    w.open_voting(10, p, OPENS);
    let a = w.vote(10, OPENS + 9, p, Choice::Approve);
    let b = w.vote(10, OPENS + 9, p, Choice::Reject);
    let t = w.ledger().tally(&p, AFTER).unwrap();
    let expected = if a > b { (1, 0) } else { (0, 1) };
    assert_eq!((t.approve, t.reject), expected);
}

#[test]
fn a_tie_is_rejected_and_quorum_counts_approve_and_abstain() {
    let mut w = with_members(4);
    let p = w.propose(10, T0 + 500, ProposalType::PatternDetection);
    w.open_voting(10, p, OPENS);
    w.vote(10, OPENS + 1, p, Choice::Approve);
    w.vote(11, OPENS + 2, p, Choice::Reject);
    let t = w.ledger().tally(&p, AFTER).unwrap();
    // Quorum 2 of 4: one approve, the reject does not count toward it.
    assert!(!t.quorum_met);
    assert!(t.reasons.iter().any(|r| r.contains("quorum not met")));
    // An abstention meets quorum but does not break the tie.
    w.vote(12, OPENS + 3, p, Choice::Abstain);
    let t = w.ledger().tally(&p, AFTER).unwrap();
    assert!(t.quorum_met);
    assert!(!t.approved);
    assert!(
        t.reasons.iter().any(|r| r.contains("tie")),
        "{:?}",
        t.reasons
    );
    // One more approve carries it.
    w.vote(13, OPENS + 4, p, Choice::Approve);
    assert!(w.ledger().tally(&p, AFTER).unwrap().approved);
    // Before the window closes, nothing is final.
    let open = w.ledger().tally(&p, OPENS + 10).unwrap();
    assert!(!open.closed && !open.approved);
}

#[test]
fn an_amendment_needs_a_supermajority_and_the_guardian_threshold() {
    let mut w = with_members(3);
    let p = w.propose(10, T0 + 500, ProposalType::ConstitutionalAmendment);
    w.open_voting(10, p, OPENS);
    w.vote(10, OPENS + 1, p, Choice::Approve);
    w.vote(11, OPENS + 2, p, Choice::Approve);
    w.vote(12, OPENS + 3, p, Choice::Reject);
    // 2/3 approve: the supermajority holds, but no guardian has signed (I4).
    let t = w.ledger().tally(&p, AFTER).unwrap();
    assert!(!t.approved);
    assert!(
        t.reasons.iter().any(|r| r.starts_with("I4")),
        "{:?}",
        t.reasons
    );
    // One guardian, twice, and a non-guardian: still below 2 of 2.
    w.sign(1, OPENS + 4, SignaturePurpose::Amendment, p);
    w.sign(1, OPENS + 5, SignaturePurpose::Amendment, p);
    w.sign(9, OPENS + 6, SignaturePurpose::Amendment, p);
    // A signature over another hash, and one for another purpose.
    w.sign(2, OPENS + 7, SignaturePurpose::Amendment, Hex([5; 32]));
    w.sign(2, OPENS + 8, SignaturePurpose::RootRotation, p);
    let t = w.ledger().tally(&p, AFTER).unwrap();
    assert_eq!(t.guardian_signatures, Some(1));
    assert!(!t.approved);
    w.sign(2, OPENS + 9, SignaturePurpose::Amendment, p);
    let t = w.ledger().tally(&p, AFTER).unwrap();
    assert_eq!(t.guardian_signatures, Some(2));
    assert!(t.approved, "{:?}", t.reasons);

    // Below the supermajority: 1 approve of 2.
    let mut w = with_members(2);
    let q = w.propose(10, T0 + 500, ProposalType::ConstitutionalAmendment);
    w.open_voting(10, q, OPENS);
    w.vote(10, OPENS + 1, q, Choice::Approve);
    w.vote(11, OPENS + 2, q, Choice::Reject);
    w.sign(1, OPENS + 4, SignaturePurpose::Amendment, q);
    w.sign(2, OPENS + 5, SignaturePurpose::Amendment, q);
    let t = w.ledger().tally(&q, AFTER).unwrap();
    assert!(t.reasons.iter().any(|r| r.contains("supermajority")));
    assert!(!t.approved);
}

#[test]
fn a_forged_guardian_signature_does_not_count() {
    let mut w = with_members(1);
    let p = w.propose(10, T0 + 500, ProposalType::ConstitutionalAmendment);
    // Guardian 2's record carrying guardian 1's signature bytes.
    let message = GuardianSignature::signed_message(SignaturePurpose::Amendment, &p);
    let forged = GuardianSignature {
        target_hash: p,
        purpose: SignaturePurpose::Amendment,
        signature: Hex(key(1).sign(&message).to_bytes()),
    };
    let id = w.add(2, OPENS, AnyPayload::GuardianSignature(forged.clone()));
    let l = w.ledger();
    assert!(
        l.guardian_signers(SignaturePurpose::Amendment, &p, &l.guardians())
            .is_empty()
    );
    // And the gate refuses it on arrival.
    let entry = w.entries.iter().find(|e| e.id == id).unwrap();
    assert_eq!(
        rules::check(entry, &w.genesis, 1, &checker()),
        Err(RuleViolation::BadGuardianSignature)
    );
}

#[test]
fn membership_follows_attestations_revocations_and_the_guardian_set() {
    let mut w = World::new();
    w.attest(1, 10, T0 + 10);
    w.attest(9, 11, T0 + 10); // not a guardian
    w.revoke(2, 10, T0 + 20);
    w.attest(2, 10, T0 + 30); // readmitted
    let l = w.ledger();
    assert_eq!(l.members_at(T0 + 15), BTreeSet::from([pk(10)]));
    assert!(l.members_at(T0 + 25).is_empty());
    assert_eq!(l.members_at(T0 + 35), BTreeSet::from([pk(10)]));
    // A revocation by a non-guardian does nothing.
    w.revoke(9, 10, T0 + 40);
    assert_eq!(w.ledger().members_at(T0 + 45), BTreeSet::from([pk(10)]));
}

#[test]
fn rotations_take_effect_only_with_both_thresholds_and_the_next_version() {
    let mut w = World::new();
    // Version 3 skips 2: signed by both founding guardians, never in force
    // (and once version 2 is, its guardians have not signed it).
    let skip = w.add(1, T0 + 5, AnyPayload::Genesis(genesis(&[1, 2], 1, 3)));
    for g in [1, 2] {
        w.sign(g, T0 + 6, SignaturePurpose::RootRotation, skip);
    }
    // Version 2, new guardians 3 and 4 (threshold 1).
    let next = w.add(1, T0 + 10, AnyPayload::Genesis(genesis(&[3, 4], 1, 2)));
    w.sign(1, T0 + 11, SignaturePurpose::RootRotation, next);
    w.sign(3, T0 + 12, SignaturePurpose::RootRotation, next);
    // Only one of the two old guardians: not yet.
    assert_eq!(w.ledger().guardians().version, 1);
    w.sign(2, T0 + 13, SignaturePurpose::RootRotation, next);
    let l = w.ledger();
    let current = l.guardians();
    assert_eq!(current.version, 2);
    assert_eq!(current.keys, BTreeSet::from([pk(3), pk(4)]));
    assert_eq!(current.since, T0 + 13);
    assert_eq!(l.guardians_at(T0 + 12).version, 1);
    // An old guardian no longer admits members; a new one does.
    w.attest(1, 20, T0 + 20);
    w.attest(3, 21, T0 + 20);
    assert_eq!(w.ledger().members_at(T0 + 21), BTreeSet::from([pk(21)]));
    // And the gate: a second genesis at the founding version is refused.
    let again = w.add(1, T0, AnyPayload::Genesis(genesis(&[1], 1, 1)));
    let entry = w.entries.iter().find(|e| e.id == again).unwrap();
    assert_eq!(
        rules::check(entry, &w.genesis, 1, &checker()),
        Err(RuleViolation::SecondGenesis(1))
    );
}

#[test]
fn a_rotation_drafted_from_the_ledger_is_the_next_version_and_keeps_the_rest() {
    let mut w = World::new();
    let r = w.ledger().rotation(vec![pk(3), pk(4)], 1, None);
    assert_eq!(r.root_version, 2);
    assert_eq!(r.guardians, vec![pk(3), pk(4)]);
    assert_eq!(r.guardian_threshold, 1);
    // Everything else is the genesis's, so a node that knows only the
    // genesis reads the same commons.
    let founding = genesis(&[1, 2], 2, 1);
    assert_eq!(r.name, founding.name);
    assert_eq!(r.voting, founding.voting);
    assert_eq!(r.constitution_hash, founding.constitution_hash);
    assert_eq!(r.attestations_required, founding.attestations_required);
    let id = w.add(1, T0 + 10, AnyPayload::Genesis(r));
    for g in [1, 2, 3] {
        w.sign(g, T0 + 11, SignaturePurpose::RootRotation, id);
    }
    let l = w.ledger();
    assert_eq!(l.guardians().version, 2);
    // The next rotation counts from the set in force, and may change the
    // attestations a member needs.
    let next = l.rotation(vec![pk(5)], 1, Some(1));
    assert_eq!(next.root_version, 3);
    assert_eq!(next.attestations_required, 1);
}

#[test]
fn transitions_only_forward_by_the_proposer_and_cancel_before_voting() {
    let mut w = with_members(2);
    let p = w.propose(10, T0 + 500, ProposalType::PatternDetection);
    let wrong_author = w.step(11, T0 + 501, p, ProposalState::Testing);
    let skip = w.step(10, T0 + 502, p, ProposalState::Voting);
    let claim = w.step(10, T0 + 503, p, ProposalState::Approved);
    w.step(10, T0 + 504, p, ProposalState::Testing);
    w.step(10, T0 + 505, p, ProposalState::Cancelled);
    let late = w.step(10, T0 + 506, p, ProposalState::Review);
    let s = w.ledger().proposal(&p, T0 + 600).unwrap();
    assert_eq!(s.state, ProposalState::Cancelled);
    let ignored: Vec<Hash> = s.ignored_transitions.iter().map(|i| i.record).collect();
    for id in [wrong_author, skip, claim, late] {
        assert!(ignored.contains(&id));
    }
    // A window that is not the commons' period is ignored.
    let mut w = with_members(2);
    let q = w.propose(10, T0 + 500, ProposalType::PatternDetection);
    w.step(10, T0 + 501, q, ProposalState::Testing);
    w.step(10, T0 + 502, q, ProposalState::Review);
    w.add(
        10,
        T0 + 503,
        AnyPayload::ProposalTransition(ProposalTransition {
            proposal: q,
            to: ProposalState::Voting,
            voting_opens_at: Some((T0 + 600) as u64),
            voting_closes_at: Some((T0 + 700) as u64),
        }),
    );
    let s = w.ledger().proposal(&q, T0 + 800).unwrap();
    assert_eq!(s.state, ProposalState::Review);
    assert!(s.tally.is_none());
}

#[test]
fn each_invariant_violation_is_refused_by_the_gate_and_named() {
    let c = checker();
    let w = World::new();
    let mut cases: Vec<(Invariant, EvolutionProposal)> = Vec::new();
    let mut p = proposal(ProposalType::PatternDetection);
    p.flags.data_collection = true;
    cases.push((Invariant::I1, p));
    let mut p = proposal(ProposalType::PromptAdjustment);
    p.change.edits = vec![Edit {
        path: "/prompts/system".into(),
        before: None,
        after: Some(json!("You must do this now.")),
    }];
    cases.push((Invariant::I2, p));
    let mut p = proposal(ProposalType::PatternDetection);
    p.description = "Maximise engagement and user retention.".into();
    cases.push((Invariant::I3, p));
    let mut p = proposal(ProposalType::PatternDetection);
    p.flags.removes_export = true;
    cases.push((Invariant::I5, p));
    let mut p = proposal(ProposalType::PatternDetection);
    p.flags.breaking_change = true;
    cases.push((Invariant::I6, p));
    for (invariant, p) in cases {
        let entry = Entry {
            id: Hex([1; 32]),
            author: pk(10),
            created_at: T0,
            payload: AnyPayload::EvolutionProposal(p),
        };
        match rules::check(&entry, &w.genesis, 1, &c) {
            Err(RuleViolation::Invariants(text)) => {
                assert!(text.contains(invariant.as_str()), "{invariant:?}: {text}")
            }
            other => panic!("{invariant:?} not refused: {other:?}"),
        }
    }
}

#[test]
fn an_approved_proposal_whose_content_now_fails_is_rejected_at_approval() {
    // Content that slipped past submission (as if the lexicon changed since)
    // is checked again when the tally closes: here an I6 violation held in a
    // ledger that never went through the gate.
    let mut w = with_members(2);
    let mut bad = proposal(ProposalType::PatternDetection);
    bad.flags.breaking_change = true;
    let p = w.add(10, T0 + 500, AnyPayload::EvolutionProposal(bad));
    w.open_voting(10, p, OPENS);
    w.vote(10, OPENS + 1, p, Choice::Approve);
    w.vote(11, OPENS + 2, p, Choice::Approve);
    let t = w.ledger().tally(&p, AFTER).unwrap();
    assert!(!t.approved);
    assert!(
        t.reasons.iter().any(|r| r.starts_with("I6")),
        "{:?}",
        t.reasons
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever order the records are inserted in, every node computes the
    /// same members, states and tallies.
    #[test]
    fn the_tally_does_not_depend_on_arrival_order(
        votes in proptest::collection::vec((0u8..6, 0i64..(PERIOD as i64 + 2_000), 0u8..3), 0..30),
        seed in any::<u64>(),
    ) {
        let mut w = with_members(5);
        let p = w.propose(10, T0 + 500, ProposalType::PatternDetection);
        w.open_voting(10, p, OPENS);
        w.revoke(1, 14, OPENS + 50);
        for (member, offset, choice) in votes {
            let choice = [Choice::Approve, Choice::Reject, Choice::Abstain][choice as usize];
            w.vote(10 + member, OPENS - 1_000 + offset, p, choice);
        }
        let reference = w.ledger().proposal(&p, AFTER).unwrap();
        // A deterministic shuffle from the seed.
        let mut entries = w.entries.clone();
        let mut state = seed | 1;
        for i in (1..entries.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            entries.swap(i, (state % (i as u64 + 1)) as usize);
        }
        // Duplicates change nothing either.
        let mut with_dups = entries.clone();
        with_dups.extend(entries.iter().take(5).cloned());
        let shuffled = Ledger::from_entries(w.genesis, with_dups, checker()).unwrap();
        prop_assert_eq!(shuffled.proposal(&p, AFTER).unwrap(), reference);
    }
}

/// A genesis may let each proposal choose its window, between its period
/// and its longest; without that, every window is exactly the period.
#[test]
fn a_proposal_window_may_be_chosen_within_the_genesis_bounds() {
    let open_with = |max: Option<u64>, length: u64| {
        let mut w = World {
            serial: 0,
            entries: Vec::new(),
            genesis: Hex([0; 32]),
        };
        let mut g = genesis(&[1, 2], 2, 1);
        g.voting.max_period_ms = max;
        w.genesis = w.add(1, T0, AnyPayload::Genesis(g));
        w.attest(1, 10, T0 + 1);
        let p = w.propose(10, T0 + 500, ProposalType::PatternDetection);
        w.step(10, T0 + 501, p, ProposalState::Testing);
        w.step(10, T0 + 502, p, ProposalState::Review);
        w.add(
            10,
            T0 + 503,
            AnyPayload::ProposalTransition(ProposalTransition {
                proposal: p,
                to: ProposalState::Voting,
                voting_opens_at: Some((T0 + 600) as u64),
                voting_closes_at: Some((T0 + 600) as u64 + length),
            }),
        );
        w.ledger().proposal(&p, T0 + 601).unwrap().state
    };
    let bounded = Some(3 * PERIOD);
    assert_eq!(open_with(bounded, PERIOD), ProposalState::Voting);
    assert_eq!(open_with(bounded, 2 * PERIOD), ProposalState::Voting);
    assert_eq!(open_with(bounded, 3 * PERIOD), ProposalState::Voting);
    assert_eq!(open_with(bounded, 3 * PERIOD + 1), ProposalState::Review);
    assert_eq!(open_with(bounded, PERIOD - 1), ProposalState::Review);
    assert_eq!(open_with(None, PERIOD), ProposalState::Voting);
    assert_eq!(open_with(None, 2 * PERIOD), ProposalState::Review);
    // A longest window shorter than the period is not a valid genesis.
    let mut g = genesis(&[1, 2], 2, 1);
    g.voting.max_period_ms = Some(PERIOD - 1);
    assert_eq!(
        mirror_governance::payload::Payload::check(&g)
            .unwrap_err()
            .field(),
        Some("voting.max_period_ms")
    );
}

/// The next release's plan, from the ledger alone: the approved proposal,
/// applied to the genesis pack, as version 1; nothing to release before
/// approval.
#[test]
fn the_next_release_is_planned_from_the_ledger() {
    use mirror_governance::plan::{self, PlanError};
    let mut w = with_members(4);
    let mut p = proposal(ProposalType::PatternDetection);
    p.change.edits = vec![Edit {
        path: "/thresholds/max_regenerations".into(),
        before: Some(json!(2)),
        after: Some(json!(3)),
    }];
    let id = w.add(10, T0 + 500, AnyPayload::EvolutionProposal(p));
    let docs = std::collections::BTreeMap::new();
    assert_eq!(
        plan::plan(&w.ledger(), T0 + 600, &[], &docs).unwrap_err(),
        PlanError::NothingToRelease
    );
    assert!(matches!(
        plan::plan(&w.ledger(), T0 + 600, &[id], &docs).unwrap_err(),
        PlanError::NotApproved { .. }
    ));
    w.open_voting(10, id, OPENS);
    for m in 10..13 {
        w.vote(m, OPENS + 10, id, Choice::Approve);
    }
    let planned = plan::plan(&w.ledger(), AFTER, &[], &docs).unwrap();
    assert_eq!(planned.version, 1);
    assert_eq!(planned.previous, None);
    assert_eq!(planned.proposals, vec![id]);
    assert_eq!(planned.params.thresholds.max_regenerations, 3);
    assert!(planned.constitution.is_none());
}

/// Releases across a rotation, as `mirror release build` makes them from
/// the ledger: the first root is carried unchanged into the chain, the
/// guardians' copies of a candidate merge, the candidate is ready only once
/// the old guardians' threshold has signed the new root too, and the
/// published release holds against the guardian history.
#[test]
fn release_candidates_gather_signatures_across_a_rotation() {
    use mirror_governance::params::EngineParams;
    use mirror_governance::payload::{ReleaseCandidate, ReleaseManifest};
    use mirror_governance::release::{self, BuildSpec, chain};
    let params = EngineParams::genesis().unwrap();
    let build = |l: &Ledger, version: u64, previous: Option<Hash>| -> ReleaseManifest {
        let mut history = l.guardian_history();
        let current = history.pop().unwrap();
        release::build(&BuildSpec {
            version,
            previous,
            proposals: vec![],
            params: &params,
            constitution: None,
            guardians: &current,
            earlier_guardians: &history,
            earlier_roots: &chain::carried_roots(l),
            expires_ms: T0 + 365 * PERIOD as i64,
            root_expires_ms: T0 + chain::ROOT_LIFETIME_MS,
        })
        .unwrap()
    };
    let signed = |m: &ReleaseManifest, by: &[u8]| {
        by.iter()
            .fold(m.clone(), |m, g| release::sign(&m, &key(*g)).unwrap().0)
    };

    // Release 1 under guardians 1 and 2.
    let mut w = World::new();
    let r1 = signed(&build(&w.ledger(), 1, None), &[1, 2]);
    let r1_id = w.add(1, T0 + 20, AnyPayload::ReleaseManifest(r1.clone()));
    let l = w.ledger();
    assert!(l.releases()[0].1.is_ok());

    // Rotation to guardians 2 and 3 (2 of 2), signed by both sets.
    let next = w.add(2, T0 + 30, AnyPayload::Genesis(genesis(&[2, 3], 2, 2)));
    for g in [1, 2, 3] {
        w.sign(g, T0 + 31, SignaturePurpose::RootRotation, next);
    }
    let l = w.ledger();
    assert_eq!(l.guardians().version, 2);
    let r2 = build(&l, 2, Some(r1_id));
    assert_eq!(r2.tuf_metadata["1.root"], r1.tuf_metadata["root"]);

    // Guardians 2 and 3 sign their own copies over the commons.
    w.add(
        2,
        T0 + 40,
        AnyPayload::ReleaseCandidate(ReleaseCandidate(signed(&r2, &[2]))),
    );
    w.add(
        3,
        T0 + 41,
        AnyPayload::ReleaseCandidate(ReleaseCandidate(signed(&r2, &[3]))),
    );
    let candidates = w.ledger().release_candidates();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].records.len(), 2);
    let e = candidates[0].verdict.as_ref().unwrap_err();
    assert!(e.to_string().contains("by 1.root's keys"), "{e}");
    // Guardian 1, rotated out, signs the new root: ready.
    w.add(
        1,
        T0 + 42,
        AnyPayload::ReleaseCandidate(ReleaseCandidate(signed(&r2, &[1]))),
    );
    let c = w.ledger().release_candidates().remove(0);
    c.verdict.as_ref().unwrap();
    assert_eq!(c.published, None);
    let r2_id = w.add(3, T0 + 50, AnyPayload::ReleaseManifest(c.release.clone()));
    let l = w.ledger();
    assert_eq!(l.release_candidates()[0].published, Some(r2_id));
    let verdicts: Vec<_> = l.releases().into_iter().map(|(_, v)| v.is_ok()).collect();
    assert_eq!(verdicts, vec![true, true]);
    // The gate takes each copy from its signer, and not from anyone else.
    let forged = w.add(
        4,
        T0 + 60,
        AnyPayload::ReleaseCandidate(ReleaseCandidate(signed(&r2, &[2]))),
    );
    let entry = w.entries.iter().find(|e| e.id == forged).unwrap();
    assert!(rules::check(entry, &w.genesis, 1, &checker()).is_err());
}
