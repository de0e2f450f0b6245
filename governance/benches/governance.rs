//! Governance benchmarks: a tally over many members and votes, side by side
//! with the same tally in SQLite written as an expert would (the votes in an
//! indexed table, SQLite's `max()` bare-column rule to keep each member's
//! latest vote, the query plan printed, the counts asserted equal); and
//! checking a release, broken down into its parts. The breakdowns are parts
//! of the cost, not alternatives anyone would pick.
//!
//! `cargo bench -p mirror-governance --bench governance` prints Markdown
//! tables for BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use mirror_governance::ledger::{Entry, GuardianSet, Ledger};
use mirror_governance::params::EngineParams;
use mirror_governance::payload::{
    AnyPayload, Change, ChangeTarget, Choice, Edit, EvolutionProposal, Flags, Genesis, Hash, Hex,
    MembershipAttestation, ProposalState, ProposalTransition, ProposalType, PublicKey, Vote,
    VotingRules, decode_base64,
};
use mirror_governance::release::{self, BuildSpec};
use serde_json::json;

const T0: i64 = 1_795_000_000_000;
const PERIOD: u64 = 7 * 86_400_000;

fn member(i: u64) -> PublicKey {
    Hex(*blake3::hash(&i.to_le_bytes()).as_bytes())
}

fn id(i: u64) -> Hash {
    Hex(*blake3::hash(&(i ^ 0xdead_beef).to_le_bytes()).as_bytes())
}

fn guardian() -> PublicKey {
    Hex(SigningKey::from_bytes(&[1; 32]).verifying_key().to_bytes())
}

/// A commons with `members` members; one proposal in voting; every member
/// votes once and a tenth vote twice (the later vote replaces).
fn world(members: u64) -> (Vec<Entry>, Hash, Hash) {
    let mut entries = Vec::new();
    let mut serial = 0;
    let mut add = |author: PublicKey, at: i64, payload: AnyPayload| {
        serial += 1;
        let e = Entry {
            id: id(serial),
            author,
            created_at: at,
            payload,
        };
        let i = e.id;
        entries.push(e);
        i
    };
    let genesis = add(
        guardian(),
        T0,
        AnyPayload::Genesis(Genesis {
            name: "bench".into(),
            constitution_hash: Hex([7; 32]),
            guardians: vec![guardian()],
            guardian_threshold: 1,
            attestations_required: 1,
            voting: VotingRules {
                period_ms: PERIOD,
                max_period_ms: None,
                quorum_percent: 50,
                supermajority_numerator: 2,
                supermajority_denominator: 3,
            },
            root_version: 1,
        }),
    );
    for i in 0..members {
        add(
            guardian(),
            T0 + 1,
            AnyPayload::MembershipAttestation(MembershipAttestation {
                member: member(i),
                note: None,
            }),
        );
    }
    let proposal = add(
        member(0),
        T0 + 10,
        AnyPayload::EvolutionProposal(EvolutionProposal {
            proposal_type: ProposalType::PatternDetection,
            title: "Notice more absolutes".into(),
            description: String::new(),
            change: Change {
                target: ChangeTarget::Params,
                edits: vec![Edit {
                    path: "/patterns/absolute_thinking/rules/0/cues".into(),
                    before: None,
                    after: Some(json!(["always"])),
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
        }),
    );
    let opens = T0 + 100;
    for (at, to) in [
        (opens - 3, ProposalState::Testing),
        (opens - 2, ProposalState::Review),
    ] {
        add(
            member(0),
            at,
            AnyPayload::ProposalTransition(ProposalTransition {
                proposal,
                to,
                voting_opens_at: None,
                voting_closes_at: None,
            }),
        );
    }
    add(
        member(0),
        opens - 1,
        AnyPayload::ProposalTransition(ProposalTransition {
            proposal,
            to: ProposalState::Voting,
            voting_opens_at: Some(opens as u64),
            voting_closes_at: Some(opens as u64 + PERIOD),
        }),
    );
    for i in 0..members {
        let choice = [Choice::Approve, Choice::Reject, Choice::Abstain][(i % 3) as usize];
        add(
            member(i),
            opens + 1 + i as i64,
            AnyPayload::Vote(Vote { proposal, choice }),
        );
        if i % 10 == 0 {
            add(
                member(i),
                opens + 2 + i as i64,
                AnyPayload::Vote(Vote {
                    proposal,
                    choice: Choice::Approve,
                }),
            );
        }
    }
    (entries, genesis, proposal)
}

/// The same commons in SQLite: attestations and votes as rows, indexed for
/// the tally's one query. Built once; only the query is timed, as only the
/// tally is timed on our side (the ledger build is its own column).
fn sqlite_world(entries: &[Entry]) -> rusqlite::Connection {
    let db = rusqlite::Connection::open_in_memory().expect("sqlite");
    db.execute_batch(
        "CREATE TABLE attest(member BLOB NOT NULL, at INTEGER NOT NULL);
         CREATE TABLE votes(proposal BLOB NOT NULL, member BLOB NOT NULL,
                            at INTEGER NOT NULL, choice INTEGER NOT NULL);",
    )
    .expect("schema");
    let tx = db.unchecked_transaction().expect("tx");
    {
        let mut a = tx
            .prepare("INSERT INTO attest VALUES (?1, ?2)")
            .expect("prepare");
        let mut v = tx
            .prepare("INSERT INTO votes VALUES (?1, ?2, ?3, ?4)")
            .expect("prepare");
        for e in entries {
            match &e.payload {
                AnyPayload::MembershipAttestation(m) => {
                    a.execute(rusqlite::params![&m.member.0[..], e.created_at])
                        .expect("insert");
                }
                AnyPayload::Vote(vote) => {
                    v.execute(rusqlite::params![
                        &vote.proposal.0[..],
                        &e.author.0[..],
                        e.created_at,
                        vote.choice as i64
                    ])
                    .expect("insert");
                }
                _ => {}
            }
        }
    }
    tx.commit().expect("commit");
    db.execute_batch(
        "CREATE INDEX votes_by ON votes(proposal, member, at);
         CREATE INDEX attest_by ON attest(member, at);
         ANALYZE;",
    )
    .expect("index");
    db
}

/// Members attested before voting opened, each member's latest vote inside
/// the window. SQLite documents that with `max()` the bare columns come from
/// the row holding the maximum: one pass over the index, no window function.
const SQLITE_TALLY: &str = "
    SELECT choice, count(*) FROM (
        SELECT v.choice AS choice, max(v.at)
        FROM votes v
        WHERE v.proposal = ?1 AND v.at >= ?2 AND v.at < ?3
          AND EXISTS (SELECT 1 FROM attest a WHERE a.member = v.member AND a.at <= ?2)
        GROUP BY v.member)
    GROUP BY choice";

fn sqlite_tally(db: &rusqlite::Connection, proposal: &Hash, opens: i64, closes: i64) -> [u64; 3] {
    let mut stmt = db.prepare_cached(SQLITE_TALLY).expect("prepare");
    let mut counts = [0u64; 3];
    let rows = stmt
        .query_map(rusqlite::params![&proposal.0[..], opens, closes], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .expect("query");
    for row in rows {
        let (choice, n) = row.expect("row");
        counts[choice as usize] = n as u64;
    }
    counts
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{} µs", d.as_micros())
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1000.0)
    }
}

fn main() {
    let checker = mirror_constitution::Constitution::genesis()
        .checker()
        .unwrap_or_else(|e| {
            eprintln!("the genesis lexicon: {e}");
            std::process::exit(1)
        });

    println!("### Tallies (one proposal, every member votes, a tenth twice)\n");
    {
        let (entries, _, proposal) = world(10);
        let db = sqlite_world(&entries);
        let mut plan = db
            .prepare(&format!("EXPLAIN QUERY PLAN {SQLITE_TALLY}"))
            .expect("plan");
        let lines: Vec<String> = plan
            .query_map(rusqlite::params![&proposal.0[..], 0i64, 1i64], |r| {
                r.get::<_, String>(3)
            })
            .expect("plan")
            .filter_map(Result::ok)
            .collect();
        println!("SQLite's plan for the tally: {}\n", lines.join("; "));
    }
    println!(
        "| members | records | breakdown: count the choices | build the ledger | tally | side by side: SQLite tally (indexed, query only) |"
    );
    println!("|---|---|---|---|---|---|");
    for members in [1_000u64, 10_000, 50_000] {
        let (entries, genesis, proposal) = world(members);
        let baseline = best_of(5, || {
            let mut counts = [0u64; 3];
            for e in &entries {
                if let AnyPayload::Vote(v) = &e.payload {
                    counts[v.choice as usize] += 1;
                }
            }
            black_box(counts);
        });
        let mut ledger = None;
        let build = best_of(3, || {
            ledger = Some(
                Ledger::from_entries(genesis, entries.clone(), checker.clone())
                    .unwrap_or_else(|e| panic!("{e}")),
            );
        });
        let ledger = ledger.unwrap_or_else(|| std::process::exit(1));
        let now = T0 + 100 + PERIOD as i64 + 1;
        let tally = best_of(5, || {
            black_box(ledger.tally(&proposal, now));
        });
        let t = ledger
            .tally(&proposal, now)
            .unwrap_or_else(|| std::process::exit(1));
        assert_eq!(t.approve + t.reject + t.abstain, members);
        let db = sqlite_world(&entries);
        let (opens, closes) = (T0 + 100, T0 + 100 + PERIOD as i64);
        let counts = sqlite_tally(&db, &proposal, opens, closes);
        // Both sides must agree before either is timed.
        assert_eq!(
            counts,
            [t.approve, t.reject, t.abstain],
            "SQLite and the ledger disagree"
        );
        let sqlite = best_of(5, || {
            black_box(sqlite_tally(&db, &proposal, opens, closes));
        });
        println!(
            "| {members} | {} | {} | {} | {} | {} |",
            entries.len(),
            ms(baseline),
            ms(build),
            ms(tally),
            ms(sqlite)
        );
    }

    println!("\n### Checking a release (two guardians, the genesis pack)\n");
    let keys = [
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    ];
    let set = GuardianSet {
        version: 1,
        keys: keys
            .iter()
            .map(|k| Hex(k.verifying_key().to_bytes()))
            .collect(),
        threshold: 2,
        attestations_required: 1,
        record: Hex([0; 32]),
        since: T0,
    };
    let params = EngineParams::genesis().unwrap_or_else(|_| std::process::exit(1));
    let unsigned = release::build(&BuildSpec {
        version: 1,
        previous: None,
        proposals: vec![],
        params: &params,
        constitution: None,
        guardians: &set,
        expires_ms: T0 + 365 * 86_400_000,
        earlier_guardians: &[],
        earlier_roots: &[],
        root_expires_ms: T0 + 365 * 86_400_000,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let m = keys.iter().fold(unsigned, |m, k| {
        release::sign(&m, k).unwrap_or_else(|e| panic!("{e}")).0
    });
    let size = serde_json::to_vec(&mirror_governance::payload::to_payload(&m).unwrap_or_default())
        .map(|b| b.len())
        .unwrap_or(0);
    let baseline = best_of(50, || {
        for b in m.tuf_metadata.values().chain(m.targets.values()) {
            black_box(decode_base64(b));
        }
        black_box(EngineParams::from_json(&params.canonical_json()).ok());
    });
    let verify = best_of(50, || {
        black_box(release::verify(&m).ok());
    });
    let build = best_of(20, || {
        black_box(
            release::build(&BuildSpec {
                version: 1,
                previous: None,
                proposals: vec![],
                params: &params,
                constitution: None,
                guardians: &set,
                expires_ms: T0,
                earlier_guardians: &[],
                earlier_roots: &[],
                root_expires_ms: T0,
            })
            .ok(),
        );
    });
    println!("Release record: {size} bytes.\n");
    println!("| step | time |");
    println!("|---|---|");
    println!(
        "| breakdown: decode the files and parse the pack | {} |",
        ms(baseline)
    );
    println!(
        "| `release::verify` (signatures, chain, hashes, pack) | {} |",
        ms(verify)
    );
    println!(
        "| `release::build` (gzip the pack, write the metadata) | {} |",
        ms(build)
    );
}
