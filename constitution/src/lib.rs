//! # The Mirror constitution
//!
//! Mirror's behaviour is bounded by a short constitution: seven documents
//! written for people (`documents/*.md`), the machine-readable invariants
//! I1–I7 (`documents/invariants.toml`), and the lexicon of the compliance
//! checker (`documents/compliance.toml`). This crate owns those files, their
//! hash, and the checks that hold the engine's words to them.
//!
//! **The genesis hash.** A constitution is identified by blake3 over a
//! canonical encoding of all its files (see [`Constitution::hash`]). The
//! files embedded in this crate are the genesis constitution, and
//! [`GENESIS_HASH`] is their hash, checked by a test. A node refuses to run
//! on a constitution whose hash is neither the genesis nor one the commons
//! ratified by amendment, so a quietly edited constitution cannot change
//! what the engine may say.
//!
//! **Layering.** This crate sits at the bottom of the dependency graph
//! (constitution → governance → commons → node) and does no I/O: callers
//! read files and hand their contents in.
//!
//! * [`text`]: the word tokenizer every reader of text shares;
//! * [`compliance`]: the checker every text the engine produces must pass;
//! * [`Invariant`]: the invariants, parsed.

pub mod compliance;
pub mod text;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

pub use compliance::{Checker, Flag, FlagKind, Report};

/// The compliance lexicon of the genesis constitution.
pub const COMPLIANCE_TOML: &str = include_str!("../documents/compliance.toml");

/// The genesis constitution's files: (path, contents).
pub const GENESIS_FILES: &[(&str, &str)] = &[
    (
        "01-core-principle.md",
        include_str!("../documents/01-core-principle.md"),
    ),
    (
        "02-data-sovereignty.md",
        include_str!("../documents/02-data-sovereignty.md"),
    ),
    (
        "03-what-the-mirror-may-say.md",
        include_str!("../documents/03-what-the-mirror-may-say.md"),
    ),
    (
        "04-evolution-and-consensus.md",
        include_str!("../documents/04-evolution-and-consensus.md"),
    ),
    (
        "05-guardians-and-amendments.md",
        include_str!("../documents/05-guardians-and-amendments.md"),
    ),
    (
        "06-no-lock-in-no-regression.md",
        include_str!("../documents/06-no-lock-in-no-regression.md"),
    ),
    (
        "07-care-in-a-crisis.md",
        include_str!("../documents/07-care-in-a-crisis.md"),
    ),
    ("compliance.toml", COMPLIANCE_TOML),
    (
        "invariants.toml",
        include_str!("../documents/invariants.toml"),
    ),
];

/// blake3 of the genesis constitution ([`Constitution::hash`] of
/// [`GENESIS_FILES`]), in hex.
pub const GENESIS_HASH: &str = "549b2595be1295a625572eda08665a7451c70ae1ab28c50099f39c1660b0b027";

/// Genesis constitutions this build's genesis replaces, oldest first: the
/// documents a node may have been set up with before the genesis was
/// amended in the code (the first genesis had six documents and I1–I6; the
/// safety clause, document 07 and I7, came after; the second had no
/// `[indirect_advice]` in its compliance lexicon). A node whose home holds
/// one of these, unratified, upgrades it in place to [`GENESIS_HASH`] and
/// records that it did (`Home::constitution` in the node), so no home is
/// stranded by an amendment it never voted against.
pub const SUPERSEDED_GENESIS: &[&str] = &[
    "cdbca1dd01f54157ef8f1b6c37721e5444f1b45b1d8cd686fac3fa18bf7bca7d",
    "9236b9f9b7793f69d76082da093cb65d419bf661f553bdc8f1735d1209ad62d6",
];

/// A constitution's identity: blake3 of its canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConstitutionHash(pub [u8; 32]);

impl ConstitutionHash {
    pub fn to_hex(self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    pub fn from_hex(text: &str) -> Option<ConstitutionHash> {
        blake3::Hash::from_hex(text.trim())
            .ok()
            .map(|h| ConstitutionHash(*h.as_bytes()))
    }

    pub fn genesis() -> ConstitutionHash {
        // GENESIS_HASH is a literal checked by a test; a malformed one would
        // fail that test, and matches nothing here.
        ConstitutionHash::from_hex(GENESIS_HASH).unwrap_or(ConstitutionHash([0; 32]))
    }

    /// Whether this is a genesis an earlier build shipped, replaced by this
    /// build's ([`SUPERSEDED_GENESIS`]).
    pub fn is_superseded_genesis(self) -> bool {
        SUPERSEDED_GENESIS
            .iter()
            .any(|h| ConstitutionHash::from_hex(h) == Some(self))
    }
}

impl fmt::Display for ConstitutionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ConstitutionHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConstitutionHash({})", self.to_hex())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConstitutionError {
    #[error("the constitution is missing {0}")]
    MissingFile(String),
    #[error("constitution file {path:?} has an unsafe or unsupported name")]
    BadPath { path: String },
    #[error(
        "the constitution's hash is {found}, which is neither the genesis ({genesis}) nor a ratified amendment; the node will not run on it"
    )]
    Unrecognised {
        found: ConstitutionHash,
        genesis: ConstitutionHash,
    },
    #[error("invariants.toml: {0}")]
    Invariants(String),
    #[error(transparent)]
    Lexicon(#[from] compliance::LexiconError),
}

/// Files every constitution must have.
pub const REQUIRED_FILES: &[&str] = &["compliance.toml", "invariants.toml"];

/// One invariant, as written in `invariants.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Invariant {
    pub id: String,
    pub name: String,
    pub statement: String,
    pub checks: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvariantsFile {
    invariant: Vec<Invariant>,
}

/// A set of constitution files, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constitution {
    files: BTreeMap<String, String>,
}

impl Constitution {
    /// The genesis constitution, as compiled into this build.
    pub fn genesis() -> Constitution {
        Constitution {
            files: GENESIS_FILES
                .iter()
                .map(|(p, c)| (p.to_string(), c.to_string()))
                .collect(),
        }
    }

    /// A constitution from files a caller read (paths relative to the
    /// constitution's directory, `/`-separated).
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Constitution, ConstitutionError> {
        let files: BTreeMap<String, String> = files.into_iter().collect();
        for path in files.keys() {
            let ok = !path.is_empty()
                && !path.starts_with('/')
                && path
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..");
            if !ok {
                return Err(ConstitutionError::BadPath { path: path.clone() });
            }
        }
        for required in REQUIRED_FILES {
            if !files.contains_key(*required) {
                return Err(ConstitutionError::MissingFile(required.to_string()));
            }
        }
        Ok(Constitution { files })
    }

    pub fn files(&self) -> impl Iterator<Item = (&str, &str)> {
        self.files.iter().map(|(p, c)| (p.as_str(), c.as_str()))
    }

    /// The canonical encoding: a version line, then for every file in
    /// byte-order of its path, the path and the contents, each preceded by
    /// its length as a big-endian u64. Unambiguous (no separator can be
    /// forged), and the same on every platform.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = b"mirror-constitution-v1\n".to_vec();
        for (path, contents) in &self.files {
            out.extend_from_slice(&(path.len() as u64).to_be_bytes());
            out.extend_from_slice(path.as_bytes());
            out.extend_from_slice(&(contents.len() as u64).to_be_bytes());
            out.extend_from_slice(contents.as_bytes());
        }
        out
    }

    pub fn hash(&self) -> ConstitutionHash {
        ConstitutionHash(*blake3::hash(&self.canonical_bytes()).as_bytes())
    }

    /// Refuse a constitution that is neither the genesis nor in `ratified`.
    pub fn verify(
        &self,
        ratified: &[ConstitutionHash],
    ) -> Result<ConstitutionHash, ConstitutionError> {
        let found = self.hash();
        let genesis = ConstitutionHash::genesis();
        if found == genesis || ratified.contains(&found) {
            Ok(found)
        } else {
            Err(ConstitutionError::Unrecognised { found, genesis })
        }
    }

    /// The compliance checker this constitution defines.
    pub fn checker(&self) -> Result<Checker, ConstitutionError> {
        let lexicon = self
            .files
            .get("compliance.toml")
            .ok_or_else(|| ConstitutionError::MissingFile("compliance.toml".into()))?;
        Ok(Checker::from_toml(lexicon)?)
    }

    /// The invariants, in order; I1–I6 must all be there (I7, the safety
    /// clause, is in every genesis since its amendment; a ratified
    /// amendment may carry it or not).
    pub fn invariants(&self) -> Result<Vec<Invariant>, ConstitutionError> {
        let text = self
            .files
            .get("invariants.toml")
            .ok_or_else(|| ConstitutionError::MissingFile("invariants.toml".into()))?;
        let file: InvariantsFile =
            toml::from_str(text).map_err(|e| ConstitutionError::Invariants(e.message().into()))?;
        for id in ["I1", "I2", "I3", "I4", "I5", "I6"] {
            if !file.invariant.iter().any(|i| i.id == id) {
                return Err(ConstitutionError::Invariants(format!("{id} is missing")));
            }
        }
        Ok(file.invariant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hash_matches_the_embedded_files() {
        let found = Constitution::genesis().hash().to_hex();
        assert_eq!(
            found, GENESIS_HASH,
            "the constitution's files changed: if that is intended (an amendment), set GENESIS_HASH to {found}"
        );
    }

    /// The first genesis, rebuilt from this one without the safety clause:
    /// its hash is the one [`SUPERSEDED_GENESIS`] names, so homes set up
    /// with it are recognised and upgraded.
    #[test]
    fn the_superseded_genesis_is_the_first_genesis() {
        let genesis = Constitution::genesis();
        // The second genesis: this one without the indirect-advice lexicon
        // (appended last to compliance.toml).
        let without_indirect = |p: &str, c: &str| {
            if p == "compliance.toml" {
                c[..c
                    .find("\n\n[indirect_advice]")
                    .expect("[indirect_advice] is appended last")]
                    .to_string()
                    + "\n"
            } else {
                c.to_string()
            }
        };
        let second = Constitution::from_files(
            genesis
                .files()
                .map(|(p, c)| (p.to_string(), without_indirect(p, c))),
        )
        .unwrap();
        assert_eq!(second.hash().to_hex(), SUPERSEDED_GENESIS[1]);
        assert!(second.hash().is_superseded_genesis());
        // It still loads, and checks without the section.
        assert!(second.checker().is_ok());
        let files = genesis
            .files()
            .filter(|(p, _)| *p != "07-care-in-a-crisis.md")
            .map(|(p, c)| {
                let c = if p == "invariants.toml" {
                    c[..c
                        .find("\n\n[[invariant]]\nid = \"I7\"")
                        .expect("I7 is appended last")]
                        .to_string()
                        + "\n"
                } else {
                    without_indirect(p, c)
                };
                (p.to_string(), c)
            });
        let first = Constitution::from_files(files).unwrap();
        assert_eq!(first.hash().to_hex(), SUPERSEDED_GENESIS[0]);
        assert!(first.hash().is_superseded_genesis());
        assert!(!ConstitutionHash::genesis().is_superseded_genesis());
        // The first genesis had I1–I6 only, and still loads.
        assert_eq!(first.invariants().unwrap().len(), 6);
    }

    #[test]
    fn any_change_changes_the_hash_and_is_refused() {
        let genesis = Constitution::genesis();
        assert!(genesis.verify(&[]).is_ok());
        let mut files: Vec<(String, String)> = genesis
            .files()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        files[0].1.push(' ');
        let edited = Constitution::from_files(files.clone()).unwrap();
        assert_ne!(edited.hash(), genesis.hash());
        assert!(matches!(
            edited.verify(&[]),
            Err(ConstitutionError::Unrecognised { .. })
        ));
        // A ratified amendment is accepted.
        assert!(edited.verify(&[edited.hash()]).is_ok());
        // Moving bytes between a path and its contents changes the hash too.
        let a = Constitution::from_files([
            ("ab".to_string(), "c".to_string()),
            ("compliance.toml".into(), String::new()),
            ("invariants.toml".into(), String::new()),
        ])
        .unwrap();
        let b = Constitution::from_files([
            ("a".to_string(), "bc".to_string()),
            ("compliance.toml".into(), String::new()),
            ("invariants.toml".into(), String::new()),
        ])
        .unwrap();
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn invariants_and_checker_load() {
        let c = Constitution::genesis();
        let invariants = c.invariants().unwrap();
        assert_eq!(
            invariants.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["I1", "I2", "I3", "I4", "I5", "I6", "I7"]
        );
        assert_eq!(c.checker().unwrap().threshold(), 0.15);
    }

    #[test]
    fn unsafe_paths_and_missing_files_are_refused() {
        assert!(matches!(
            Constitution::from_files([("../x".to_string(), String::new())]),
            Err(ConstitutionError::BadPath { .. })
        ));
        assert!(matches!(
            Constitution::from_files([("a.md".to_string(), String::new())]),
            Err(ConstitutionError::MissingFile(_))
        ));
    }
}
