//! `genesis`: founds a commons, or rotates its guardians (a later root version).

use super::*;

/// `genesis`: the founding record of a commons. Its record id identifies the
/// commons.
///
/// Beyond the schema: `guardian_threshold` and `attestations_required` are
/// at most the number of guardians; the supermajority is more than half and
/// at most one (`d/2 < n ≤ d`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// A name for people, single line.
    pub name: String,
    /// The constitution this commons starts from
    /// (`mirror_constitution::GENESIS_HASH` for the genesis documents).
    pub constitution_hash: Hash,
    /// The guardian keys, distinct, at least one.
    pub guardians: Vec<PublicKey>,
    /// How many distinct guardians must sign (k of n).
    pub guardian_threshold: u32,
    /// How many distinct guardians' attestations admit a member (default 1).
    #[serde(default = "one")]
    pub attestations_required: u32,
    pub voting: VotingRules,
    /// The version of the guardians' TUF root at genesis; each rotation is
    /// exactly one more.
    pub root_version: u64,
}

/// How votes are counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VotingRules {
    /// How long voting stays open, in milliseconds (1 ms to 366 days): the
    /// window every proposal gets, and with `max_period_ms` the shortest.
    pub period_ms: u64,
    /// The longest window a proposer may choose for their proposal (at
    /// least `period_ms`, at most 366 days). Absent: every window lasts
    /// exactly `period_ms` (a genesis from before this field keeps its id).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_period_ms: Option<u64>,
    /// Approve + abstain votes needed, as a percentage (1–100) of the members
    /// when voting opens (rounded up).
    pub quorum_percent: u32,
    /// A constitutional amendment needs approve / (approve + reject) of at
    /// least numerator / denominator, e.g. 2/3.
    pub supermajority_numerator: u32,
    pub supermajority_denominator: u32,
}

impl VotingRules {
    /// Whether a proposal's voting window may last `ms`: exactly the
    /// period, or between it and the longest the genesis allows.
    pub fn window_allowed(&self, ms: u64) -> bool {
        ms >= self.period_ms && ms <= self.max_period_ms.unwrap_or(self.period_ms)
    }
}

impl Payload for Genesis {
    const KIND: &'static str = "genesis";

    fn check(&self) -> Result<(), PayloadError> {
        let c = Check(Self::KIND);
        c.text("name", &self.name, limits::NAME_CHARS, Lines::Single)?;
        c.count("guardians", self.guardians.len(), 1, limits::GUARDIANS)?;
        c.unique("guardians", &self.guardians)?;
        let n = u64::try_from(self.guardians.len()).unwrap_or(u64::MAX);
        c.int(
            "guardian_threshold",
            self.guardian_threshold.into(),
            1,
            n,
            "between 1 and the number of guardians",
        )?;
        c.int(
            "attestations_required",
            self.attestations_required.into(),
            1,
            n,
            "between 1 and the number of guardians",
        )?;
        let v = &self.voting;
        c.int(
            "voting.period_ms",
            v.period_ms,
            1,
            limits::VOTING_PERIOD_MS,
            "between 1 ms and 366 days",
        )?;
        if let Some(max) = v.max_period_ms {
            c.int(
                "voting.max_period_ms",
                max,
                v.period_ms,
                limits::VOTING_PERIOD_MS,
                "between voting.period_ms and 366 days",
            )?;
        }
        c.int(
            "voting.quorum_percent",
            v.quorum_percent.into(),
            1,
            100,
            "a percentage from 1 to 100",
        )?;
        let terms = u64::from(limits::SUPERMAJORITY_TERMS);
        c.int(
            "voting.supermajority_numerator",
            v.supermajority_numerator.into(),
            1,
            terms,
            "between 1 and 100",
        )?;
        c.int(
            "voting.supermajority_denominator",
            v.supermajority_denominator.into(),
            1,
            terms,
            "between 1 and 100",
        )?;
        let (num, den) = (v.supermajority_numerator, v.supermajority_denominator);
        if 2 * num <= den || num > den {
            return Err(c.range(
                "voting.supermajority_numerator",
                format!("{num}/{den}; must be more than half and at most one"),
            ));
        }
        c.int(
            "root_version",
            self.root_version,
            1,
            MAX_SAFE_INTEGER,
            "at least 1",
        )
    }
}
