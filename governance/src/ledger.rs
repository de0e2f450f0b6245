//! The ledger: what a commons has decided, as a pure function of its
//! accepted records.
//!
//! Records arrive in any order, by gossip or by sync, and a node may hold a
//! vote before the proposal's voting transition, or an attestation signed
//! yesterday that reached it today. So nothing here depends on arrival:
//! every question ("is this key a member when voting opened?", "which votes
//! count?", "is the proposal approved?") is answered from the set of
//! records, each ordered by its own signed `created_at` and then its id. Two
//! nodes holding the same records give the same answers.
//!
//! This is also why the commons gate checks only what a record says by
//! itself ([`crate::rules`]): a rule that depended on other records would
//! accept a record on one node and refuse it on another, and since a sync
//! message is refused whole, the two would never converge. What depends on
//! other records is decided here, where a vote that does not count is still
//! held, and the tally says why it did not count.
//!
//! * **Guardians.** The genesis names the first guardian set and its
//!   threshold k. A rotation is a genesis record with `root_version` one
//!   more than the set in force, signed (guardian signatures with purpose
//!   `root_rotation` over its id) by k of the old guardians and by its own
//!   threshold of the new ones. It takes effect when its last needed
//!   signature was made. A version that skips never takes effect.
//! * **Membership.** A key is admitted when `attestations_required` distinct
//!   guardians (guardians at the time they signed) have attested it, at the
//!   time of the attestation that completed the count; a revocation by a
//!   guardian removes it from its time on, and attestations after it start
//!   a new count.
//! * **Proposals.** Submitted as a draft; the proposer moves it forward one
//!   step at a time (draft → testing → review → voting) or cancels it before
//!   voting. The voting transition fixes the window: it opens no earlier
//!   than the transition was signed and lasts exactly the genesis period.
//!   Once the window closes the tally decides approved or rejected; a
//!   release that lists an approved proposal makes it applied.
//! * **Tally.** Members at the moment voting opened vote once each: a later
//!   vote inside the window replaces an earlier one (equal times: the larger
//!   record id wins). Quorum counts approve + abstain against the members at
//!   opening (rounded up); approved needs quorum and approve > reject (a tie
//!   is rejected). An amendment needs approve ≥ the supermajority of
//!   approve + reject and k distinct current guardians' signatures on its
//!   id (I4). At approval the invariant checker runs again on the content.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{Signature, VerifyingKey};
use mirror_constitution::compliance::Checker;
use serde::Serialize;

use crate::invariants::{self, Invariant};
use crate::payload::{
    AnyPayload, Choice, EvolutionProposal, Genesis, GuardianSignature, Hash, ProposalState,
    ProposalType, PublicKey, SignaturePurpose,
};

/// A record as the ledger sees it: who signed it, when, and what it says.
/// The commons layer makes these from records that passed its gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: Hash,
    pub author: PublicKey,
    pub created_at: i64,
    pub payload: AnyPayload,
}

/// Order of events: signed time, then id.
type At = (i64, Hash);

/// (when, member, Some((guardian, attestations required then)) for an
/// attestation or None for a revocation).
type MembershipEvent = (At, PublicKey, Option<(PublicKey, u32)>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("no genesis record with id {0}")]
    NoGenesis(String),
    #[error("record {0} is not a genesis")]
    NotGenesis(String),
}

/// A guardian set in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuardianSet {
    /// The TUF root version this set is.
    pub version: u64,
    pub keys: BTreeSet<PublicKey>,
    pub threshold: u32,
    pub attestations_required: u32,
    /// The genesis or rotation record that made it.
    pub record: Hash,
    /// When it took effect.
    pub since: i64,
}

/// A release gathering guardian signatures over the commons.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// `release::content_id` of the release.
    pub content: Hash,
    /// Its `release_candidate` records, oldest first (the first names it).
    pub records: Vec<Hash>,
    /// Every copy merged: the release with all valid signatures so far.
    pub release: crate::payload::ReleaseManifest,
    /// Whether it would verify as a release now (threshold reached).
    pub verdict: Result<crate::release::Release, crate::release::ReleaseError>,
    /// The `release_manifest` record that published it.
    pub published: Option<Hash>,
}

/// Why a record is held but does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub record: Hash,
    pub reason: String,
}

/// The whole governance state of one commons.
#[derive(Debug, Clone)]
pub struct Ledger {
    genesis_id: Hash,
    genesis: Genesis,
    genesis_at: i64,
    entries: BTreeMap<Hash, Entry>,
    checker: Checker,
}

impl Ledger {
    /// A ledger for the commons founded by `genesis` (an entry whose payload
    /// is a genesis; its id is the commons id).
    pub fn new(genesis: Entry, checker: Checker) -> Result<Ledger, LedgerError> {
        let AnyPayload::Genesis(g) = &genesis.payload else {
            return Err(LedgerError::NotGenesis(genesis.id.to_hex()));
        };
        Ok(Ledger {
            genesis_id: genesis.id,
            genesis: g.clone(),
            genesis_at: genesis.created_at,
            entries: BTreeMap::new(),
            checker,
        })
    }

    /// A ledger from a set of entries, one of which is the genesis `id`.
    pub fn from_entries(
        genesis_id: Hash,
        entries: impl IntoIterator<Item = Entry>,
        checker: Checker,
    ) -> Result<Ledger, LedgerError> {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let genesis = entries
            .iter()
            .find(|e| e.id == genesis_id)
            .cloned()
            .ok_or_else(|| LedgerError::NoGenesis(genesis_id.to_hex()))?;
        let mut ledger = Ledger::new(genesis, checker)?;
        for e in entries {
            ledger.insert(e);
        }
        Ok(ledger)
    }

    /// Add an accepted record. Idempotent; order does not matter.
    pub fn insert(&mut self, entry: Entry) {
        if entry.id != self.genesis_id {
            self.entries.entry(entry.id).or_insert(entry);
        }
    }

    pub fn genesis_id(&self) -> Hash {
        self.genesis_id
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// Entries of one kind, in event order.
    fn of<'a, T>(
        &'a self,
        pick: impl Fn(&'a AnyPayload) -> Option<&'a T>,
    ) -> Vec<(&'a Entry, &'a T)> {
        let mut out: Vec<(&Entry, &T)> = self
            .entries
            .values()
            .filter_map(|e| pick(&e.payload).map(|p| (e, p)))
            .collect();
        out.sort_by_key(|(e, _)| (e.created_at, e.id));
        out
    }

    /// Valid guardian signatures with `purpose` over `target`, by signer,
    /// each the earliest such signature of that key, in event order.
    fn signatures(&self, purpose: SignaturePurpose, target: &Hash) -> Vec<(PublicKey, At)> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (e, sig) in self.of(|p| match p {
            AnyPayload::GuardianSignature(s) => Some(s),
            _ => None,
        }) {
            if sig.purpose == purpose
                && sig.target_hash == *target
                && signature_holds(&e.author, sig)
                && seen.insert(e.author)
            {
                out.push((e.author, (e.created_at, e.id)));
            }
        }
        out
    }

    /// Every guardian set that took effect, oldest first (the genesis set,
    /// then each rotation).
    pub fn guardian_history(&self) -> Vec<GuardianSet> {
        let g = &self.genesis;
        let mut history = vec![GuardianSet {
            version: g.root_version,
            keys: g.guardians.iter().copied().collect(),
            threshold: g.guardian_threshold,
            attestations_required: g.attestations_required,
            record: self.genesis_id,
            since: self.genesis_at,
        }];
        let rotations = self.of(|p| match p {
            AnyPayload::Genesis(g) => Some(g),
            _ => None,
        });
        loop {
            let current = &history[history.len() - 1];
            let next_version = current.version + 1;
            // Among the candidates for the next version, the one that took
            // effect first (then the smaller id).
            let best = rotations
                .iter()
                .filter(|(_, r)| r.root_version == next_version)
                .filter_map(|(e, r)| {
                    let sigs = self.signatures(SignaturePurpose::RootRotation, &e.id);
                    let new_keys: BTreeSet<PublicKey> = r.guardians.iter().copied().collect();
                    let old = completed_at(&sigs, &current.keys, current.threshold)?;
                    let new = completed_at(&sigs, &new_keys, r.guardian_threshold)?;
                    // Never before the set it replaces took effect.
                    let since = old.max(new).max(e.created_at).max(current.since);
                    Some((since, e.id, new_keys, *r))
                })
                .min_by_key(|(since, id, _, _)| (*since, *id));
            let Some((since, id, keys, r)) = best else {
                break;
            };
            history.push(GuardianSet {
                version: next_version,
                keys,
                threshold: r.guardian_threshold,
                attestations_required: r.attestations_required,
                record: id,
                since,
            });
        }
        history
    }

    /// The record that proposes the next guardian set: this commons'
    /// genesis (name, constitution, voting rules) with the new keys and
    /// threshold at the root version after the one in force, keeping the
    /// attestations a member needs unless `attestations` changes them. It
    /// takes effect once the current set's threshold and the new set's have
    /// signed it ([`Ledger::guardian_history`]).
    pub fn rotation(
        &self,
        guardians: Vec<PublicKey>,
        threshold: u32,
        attestations: Option<u32>,
    ) -> Genesis {
        let current = self.guardians();
        Genesis {
            guardians,
            guardian_threshold: threshold,
            attestations_required: attestations.unwrap_or(current.attestations_required),
            root_version: current.version + 1,
            ..self.genesis.clone()
        }
    }

    /// The guardian set in force now (the latest that took effect).
    pub fn guardians(&self) -> GuardianSet {
        let mut h = self.guardian_history();
        h.pop()
            .unwrap_or_else(|| unreachable_set(&self.genesis, self.genesis_id))
    }

    /// The guardian set in force at `t`.
    pub fn guardians_at(&self, t: i64) -> GuardianSet {
        let history = self.guardian_history();
        history
            .iter()
            .rev()
            .find(|s| s.since <= t)
            .or(history.first())
            .cloned()
            .unwrap_or_else(|| unreachable_set(&self.genesis, self.genesis_id))
    }

    fn guardian_at(history: &[GuardianSet], key: &PublicKey, t: i64) -> Option<u32> {
        history
            .iter()
            .rev()
            .find(|s| s.since <= t)
            .or(history.first())
            .filter(|s| s.keys.contains(key))
            .map(|s| s.attestations_required)
    }

    /// When each key was admitted and (if so) removed, as intervals.
    fn membership(&self) -> BTreeMap<PublicKey, Vec<(i64, Option<i64>)>> {
        let history = self.guardian_history();
        // Attestations and revocations by whoever was a guardian when they
        // signed, in event order. `None` marks a revocation.
        let mut stream: Vec<MembershipEvent> = Vec::new();
        for e in self.entries.values() {
            let Some(required) = Self::guardian_at(&history, &e.author, e.created_at) else {
                continue;
            };
            match &e.payload {
                AnyPayload::MembershipAttestation(a) => {
                    stream.push(((e.created_at, e.id), a.member, Some((e.author, required))));
                }
                AnyPayload::MembershipRevocation(r) => {
                    stream.push(((e.created_at, e.id), r.member, None));
                }
                _ => {}
            }
        }
        stream.sort_by_key(|(at, _, _)| *at);
        let mut attesters: BTreeMap<PublicKey, BTreeSet<PublicKey>> = BTreeMap::new();
        let mut out: BTreeMap<PublicKey, Vec<(i64, Option<i64>)>> = BTreeMap::new();
        for ((t, _), member, attestation) in stream {
            let intervals = out.entry(member).or_default();
            let open = intervals.last().is_some_and(|(_, end)| end.is_none());
            match attestation {
                Some((guardian, required)) => {
                    let set = attesters.entry(member).or_default();
                    set.insert(guardian);
                    if !open && set.len() >= required as usize {
                        intervals.push((t, None));
                    }
                }
                None => {
                    // A revocation ends membership and any count under way.
                    attesters.remove(&member);
                    if open && let Some(last) = intervals.last_mut() {
                        last.1 = Some(t);
                    }
                }
            }
        }
        out.retain(|_, intervals| !intervals.is_empty());
        out
    }

    /// The members at time `t`.
    pub fn members_at(&self, t: i64) -> BTreeSet<PublicKey> {
        self.membership()
            .into_iter()
            .filter(|(_, intervals)| {
                intervals
                    .iter()
                    .any(|(from, until)| *from <= t && until.is_none_or(|u| t < u))
            })
            .map(|(k, _)| k)
            .collect()
    }

    /// Every key ever admitted, with when it was admitted and removed.
    pub fn member_history(&self) -> BTreeMap<PublicKey, Vec<(i64, Option<i64>)>> {
        self.membership()
    }

    /// Proposal ids, oldest first.
    pub fn proposals(&self) -> Vec<Hash> {
        self.of(|p| match p {
            AnyPayload::EvolutionProposal(p) => Some(p),
            _ => None,
        })
        .into_iter()
        .map(|(e, _)| e.id)
        .collect()
    }

    /// A proposal's state and, once voting opened, its tally, as of `now`.
    pub fn proposal(&self, id: &Hash, now: i64) -> Option<ProposalStatus> {
        let entry = self.entries.get(id)?;
        let AnyPayload::EvolutionProposal(proposal) = &entry.payload else {
            return None;
        };
        let mut state = ProposalState::Draft;
        let mut window = None;
        let mut ignored = Vec::new();
        let mut history = vec![(entry.created_at, ProposalState::Draft, entry.id)];
        for (e, t) in self.of(|p| match p {
            AnyPayload::ProposalTransition(t) if t.proposal == *id => Some(t),
            _ => None,
        }) {
            let refuse = |reason: &str| Ignored {
                record: e.id,
                reason: reason.to_string(),
            };
            use ProposalState as S;
            let step = match (state, t.to) {
                (S::Draft, S::Testing) | (S::Testing, S::Review) | (S::Review, S::Voting) => Ok(()),
                (S::Draft | S::Testing | S::Review, S::Cancelled) => Ok(()),
                (_, S::Approved | S::Rejected | S::Applied) => {
                    Err("approved, rejected and applied follow from the tally and releases")
                }
                _ => Err("not the next step from the proposal's state"),
            };
            let step = step.and_then(|()| {
                if e.author != entry.author {
                    Err("only the proposer moves a proposal")
                } else if e.created_at < entry.created_at {
                    Err("signed before the proposal")
                } else {
                    Ok(())
                }
            });
            let step = step.and_then(|()| {
                if t.to != S::Voting {
                    return Ok(());
                }
                let (Some(opens), Some(closes)) = (t.voting_opens_at, t.voting_closes_at) else {
                    return Err("voting needs its window");
                };
                if (opens as i64) < e.created_at {
                    Err("voting cannot open before the transition that opens it")
                } else if !self.genesis.voting.window_allowed(closes.saturating_sub(opens)) {
                    Err("the window must last the commons' voting period (or, where the genesis allows, up to its longest)")
                } else {
                    window = Some(Window {
                        opens: opens as i64,
                        closes: closes as i64,
                    });
                    Ok(())
                }
            });
            match step {
                Ok(()) => {
                    state = t.to;
                    history.push((e.created_at, t.to, e.id));
                }
                Err(reason) => ignored.push(refuse(reason)),
            }
        }
        let tally = window.map(|w| self.tally_window(id, proposal, w, now));
        if let Some(t) = &tally
            && t.closed
        {
            state = if t.approved {
                ProposalState::Approved
            } else {
                ProposalState::Rejected
            };
            history.push((t.window.closes, state, *id));
        }
        if state == ProposalState::Approved
            && let Some((at, release)) = self.applied_by(id)
        {
            state = ProposalState::Applied;
            history.push((at, state, release));
        }
        Some(ProposalStatus {
            id: *id,
            proposer: entry.author,
            submitted_at: entry.created_at,
            proposal: proposal.clone(),
            state,
            history,
            ignored_transitions: ignored,
            tally,
        })
    }

    /// The first release that lists `id` and whose TUF metadata verifies
    /// under the guardian set in force when it was published.
    fn applied_by(&self, id: &Hash) -> Option<(i64, Hash)> {
        self.of(|p| match p {
            AnyPayload::ReleaseManifest(r) => Some(r),
            _ => None,
        })
        .into_iter()
        .filter(|(_, r)| r.proposals.contains(id))
        .filter(|(e, r)| self.release_holds(e, r).is_ok())
        .min_by_key(|(e, _)| (e.created_at, e.id))
        .map(|(e, _)| (e.created_at, e.id))
    }

    /// A release record's TUF metadata, checked by itself and against the
    /// guardian set at its time.
    pub fn release_holds(
        &self,
        entry: &Entry,
        manifest: &crate::payload::ReleaseManifest,
    ) -> Result<crate::release::Release, crate::release::ReleaseError> {
        let release = crate::release::verify(manifest)?;
        crate::release::check_guardians(&release, &self.guardians_at(entry.created_at))?;
        crate::release::check_chain(&release, &self.guardian_history())?;
        Ok(release)
    }

    /// Every release record, oldest first, with its verdict.
    pub fn releases(
        &self,
    ) -> Vec<(
        &Entry,
        Result<crate::release::Release, crate::release::ReleaseError>,
    )> {
        let mut out: Vec<_> = self
            .of(|p| match p {
                AnyPayload::ReleaseManifest(r) => Some(r),
                _ => None,
            })
            .into_iter()
            .map(|(e, r)| (e, self.release_holds(e, r)))
            .collect();
        out.sort_by_key(|(e, _)| (e.created_at, e.id));
        out
    }

    /// Release candidates (`release_candidate` records), one per release
    /// (copies with the same `release::content_id` merged, their valid
    /// signatures together), oldest first, each with its verdict as a
    /// release now and the `release_manifest` record that published it, if
    /// any.
    pub fn release_candidates(&self) -> Vec<Candidate> {
        let published: BTreeMap<Hash, Hash> = self
            .of(|p| match p {
                AnyPayload::ReleaseManifest(r) => Some(r),
                _ => None,
            })
            .into_iter()
            .filter_map(|(e, r)| Some((crate::release::content_id(r)?, e.id)))
            .collect();
        let mut out: Vec<Candidate> = Vec::new();
        for (e, c) in self.of(|p| match p {
            AnyPayload::ReleaseCandidate(c) => Some(c),
            _ => None,
        }) {
            let Some(content) = crate::release::content_id(&c.0) else {
                continue;
            };
            match out.iter_mut().find(|x| x.content == content) {
                Some(x) => {
                    if let Ok(merged) = crate::release::merge_signatures(&x.release, &c.0) {
                        x.release = merged;
                    }
                    x.records.push(e.id);
                }
                None => out.push(Candidate {
                    content,
                    records: vec![e.id],
                    // Its own signatures, checked like any other copy's.
                    release: crate::release::merge_signatures(&c.0, &c.0)
                        .unwrap_or_else(|_| c.0.clone()),
                    published: published.get(&content).copied(),
                    verdict: Err(crate::release::ReleaseError::Signing(String::new())),
                }),
            }
        }
        let history = self.guardian_history();
        for x in &mut out {
            x.verdict = crate::release::verify(&x.release).and_then(|r| {
                crate::release::check_guardians(&r, &self.guardians())?;
                crate::release::check_chain(&r, &history)?;
                Ok(r)
            });
        }
        out
    }

    /// The distinct keys of `guardians` that signed `target` for `purpose`.
    pub fn guardian_signers(
        &self,
        purpose: SignaturePurpose,
        target: &Hash,
        guardians: &GuardianSet,
    ) -> BTreeSet<PublicKey> {
        self.signatures(purpose, target)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| guardians.keys.contains(k))
            .collect()
    }

    fn tally_window(
        &self,
        id: &Hash,
        proposal: &EvolutionProposal,
        window: Window,
        now: i64,
    ) -> Tally {
        let eligible = self.members_at(window.opens);
        let mut ignored = Vec::new();
        // The latest vote per member inside the window.
        let mut counted: BTreeMap<PublicKey, (At, Choice)> = BTreeMap::new();
        for (e, v) in self.of(|p| match p {
            AnyPayload::Vote(v) if v.proposal == *id => Some(v),
            _ => None,
        }) {
            let reason = if !eligible.contains(&e.author) {
                Some("not a member when voting opened")
            } else if e.created_at < window.opens {
                Some("cast before voting opened")
            } else if e.created_at > window.closes {
                Some("cast after voting closed")
            } else {
                None
            };
            if let Some(reason) = reason {
                ignored.push(Ignored {
                    record: e.id,
                    reason: reason.into(),
                });
                continue;
            }
            let at = (e.created_at, e.id);
            if let Some((earlier, _)) = counted.insert(e.author, (at, v.choice)) {
                ignored.push(Ignored {
                    record: earlier.1,
                    reason: "replaced by a later vote of the same member".into(),
                });
            }
        }
        let (mut approve, mut reject, mut abstain) = (0u64, 0u64, 0u64);
        for (_, choice) in counted.values() {
            match choice {
                Choice::Approve => approve += 1,
                Choice::Reject => reject += 1,
                Choice::Abstain => abstain += 1,
            }
        }
        let voting = &self.genesis.voting;
        let members = eligible.len() as u64;
        let quorum = (members * u64::from(voting.quorum_percent)).div_ceil(100);
        let quorum_met = members > 0 && approve + abstain >= quorum;
        let closed = now > window.closes;
        let mut reasons = Vec::new();
        if !quorum_met {
            reasons.push(format!(
                "quorum not met: {} of {quorum} needed (approve + abstain, {}% of {members} members)",
                approve + abstain,
                voting.quorum_percent
            ));
        }
        let amendment = proposal.proposal_type == ProposalType::ConstitutionalAmendment;
        let mut guardian_signatures = None;
        if amendment {
            let (num, den) = (
                u64::from(voting.supermajority_numerator),
                u64::from(voting.supermajority_denominator),
            );
            if approve == 0 || approve * den < num * (approve + reject) {
                reasons.push(format!(
                    "no {num}/{den} supermajority: {approve} approve of {} approve + reject",
                    approve + reject
                ));
            }
            let guardians = self.guardians();
            let signers = self.guardian_signers(SignaturePurpose::Amendment, id, &guardians);
            if signers.len() < guardians.threshold as usize {
                reasons.push(format!(
                    "{}: {} of {} guardian signatures on the amendment",
                    Invariant::I4.as_str(),
                    signers.len(),
                    guardians.threshold
                ));
            }
            guardian_signatures = Some(signers.len());
        } else if approve <= reject {
            reasons.push(if approve == reject {
                format!("a tie ({approve} approve, {reject} reject) is rejected")
            } else {
                format!("{approve} approve against {reject} reject")
            });
        }
        // The invariants again, on the exact content voted on.
        let report = invariants::check(proposal, &self.checker);
        for v in &report.violations {
            reasons.push(v.to_string());
        }
        Tally {
            window,
            members,
            quorum,
            approve,
            reject,
            abstain,
            quorum_met,
            guardian_signatures,
            closed,
            approved: closed && reasons.is_empty(),
            reasons,
            ignored_votes: ignored,
        }
    }

    /// The tally of a proposal as of `now` (None before voting opened).
    pub fn tally(&self, id: &Hash, now: i64) -> Option<Tally> {
        self.proposal(id, now).and_then(|p| p.tally)
    }
}

fn unreachable_set(g: &Genesis, id: Hash) -> GuardianSet {
    GuardianSet {
        version: g.root_version,
        keys: g.guardians.iter().copied().collect(),
        threshold: g.guardian_threshold,
        attestations_required: g.attestations_required,
        record: id,
        since: i64::MIN,
    }
}

/// When `threshold` distinct keys of `keys` had signed: the time of the
/// signature that completed the count.
fn completed_at(
    sigs: &[(PublicKey, At)],
    keys: &BTreeSet<PublicKey>,
    threshold: u32,
) -> Option<i64> {
    let mut times: Vec<i64> = sigs
        .iter()
        .filter(|(k, _)| keys.contains(k))
        .map(|(_, (t, _))| *t)
        .collect();
    times.sort_unstable();
    let k = usize::try_from(threshold).ok()?.max(1);
    times.get(k - 1).copied()
}

/// Does a guardian signature hold for its author's key?
pub fn signature_holds(author: &PublicKey, sig: &GuardianSignature) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&author.0) else {
        return false;
    };
    let signature = Signature::from_bytes(&sig.signature.0);
    key.verify_strict(&sig.message(), &signature).is_ok()
}

/// A voting window, unix milliseconds, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub opens: i64,
    pub closes: i64,
}

/// Where a proposal stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProposalStatus {
    pub id: Hash,
    pub proposer: PublicKey,
    pub submitted_at: i64,
    pub proposal: EvolutionProposal,
    pub state: ProposalState,
    /// (when, state, the record that made it so).
    pub history: Vec<(i64, ProposalState, Hash)>,
    pub ignored_transitions: Vec<Ignored>,
    pub tally: Option<Tally>,
}

/// The count of a proposal's votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub window: Window,
    /// Members when voting opened.
    pub members: u64,
    /// Approve + abstain votes needed.
    pub quorum: u64,
    pub approve: u64,
    pub reject: u64,
    pub abstain: u64,
    pub quorum_met: bool,
    /// Distinct current guardians who signed (amendments only).
    pub guardian_signatures: Option<usize>,
    /// The window has closed: the result is final.
    pub closed: bool,
    pub approved: bool,
    /// Why it is not (or would not be) approved.
    pub reasons: Vec<String>,
    pub ignored_votes: Vec<Ignored>,
}
