//! Closed sets of values, each spelled once.
//!
//! Every enum here is written as a lowercase string in JSON (bundles, CLI
//! output) and as a one-byte index in the store. Bytes are positional:
//! **variants may only ever be appended**, never reordered or removed, or old
//! databases would decode to the wrong value.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ValidationError;

macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in storage order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every value's spelling, for error messages and help text.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            /// The field name used in validation errors.
            pub const FIELD: &'static str = $field;

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn to_byte(self) -> u8 {
                // ALL is in declaration order, so the position is the byte.
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0) as u8
            }

            pub fn from_byte(byte: u8) -> Result<Self, ValidationError> {
                Self::ALL.get(usize::from(byte)).copied().ok_or_else(|| {
                    ValidationError::InvalidValue {
                        field: $field,
                        value: format!("#{byte}"),
                        allowed: Self::NAMES,
                    }
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(ValidationError::InvalidValue {
                        field: $field,
                        value: other.chars().take(64).collect(),
                        allowed: Self::NAMES,
                    }),
                }
            }
        }

        // The command line lists the values in help and in its errors.
        impl clap::ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                Self::ALL
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.as_str()))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(self.as_str())
                } else {
                    serializer.serialize_u8(self.to_byte())
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    $name::from_byte(u8::deserialize(deserializer)?)
                        .map_err(serde::de::Error::custom)
                }
            }
        }
    };
}

string_enum! {
    /// Who may ever see a reflection beyond this node.
    Visibility, field = "visibility" {
        /// Never leaves the node. The default.
        LocalOnly = "local_only",
        /// Only an anonymised summary may be shared, with consent.
        SyncSummary = "sync_summary",
        /// The person chose to publish the full text.
        SyncFullPublic = "sync_full_public",
    }
}

string_enum! {
    ContentType, field = "content_type" {
        PlainText = "text/plain",
        Markdown = "text/markdown",
    }
}

string_enum! {
    /// How a reflection reached the node.
    Source, field = "source" {
        Cli = "cli",
        Stdin = "stdin",
        Editor = "editor",
        Api = "api",
        Import = "import",
    }
}

string_enum! {
    TensionOrigin, field = "origin" {
        SystemSeed = "system_seed",
        LlmSuggested = "llm_suggested",
        UserCreated = "user_created",
    }
}

string_enum! {
    TensionSyncMode, field = "sync_mode" {
        LocalOnly = "local_only",
        ShareAnonymized = "share_anonymized",
    }
}

string_enum! {
    ThreadStatus, field = "status" {
        Active = "active",
        Paused = "paused",
        Archived = "archived",
    }
}

string_enum! {
    /// Which engine produced a mirrorback.
    EngineMode, field = "engine" {
        /// The built-in, offline mirror.
        Manual = "manual",
        Ollama = "ollama",
        Anthropic = "anthropic",
        OpenAi = "openai",
    }
}

string_enum! {
    /// What a person can say was wrong (or right) with a mirrorback.
    FeedbackFlag, field = "flag" {
        TooDirective = "too_directive",
        MissedThePoint = "missed_the_point",
        WrongPattern = "wrong_pattern",
        WrongTension = "wrong_tension",
        TooLong = "too_long",
        TooShort = "too_short",
        FeltJudgmental = "felt_judgmental",
        Insightful = "insightful",
    }
}

string_enum! {
    /// Kinds of data collection that need the person's consent.
    ConsentCategory, field = "category" {
        Telemetry = "telemetry",
        EvolutionFeedback = "evolution_feedback",
        SharingReflections = "sharing_reflections",
        /// Sending reflection text to a language model off this machine.
        RemoteEngine = "remote_engine",
    }
}

impl ConsentCategory {
    /// What granting this category lets leave the node, for people (the
    /// CLI and the web app say the same).
    pub fn describe(self) -> &'static str {
        match self {
            ConsentCategory::Telemetry => "anonymous usage statistics shared with a commons",
            ConsentCategory::EvolutionFeedback => {
                "your ratings of mirrorbacks, shared to improve the engine"
            }
            ConsentCategory::SharingReflections => {
                "reflections you mark for sharing, sent to a commons"
            }
            ConsentCategory::RemoteEngine => {
                "reflection text sent to a language model off this machine"
            }
        }
    }
}

string_enum! {
    /// Where a suggested tension stands.
    SuggestionStatus, field = "status" {
        Pending = "pending",
        Accepted = "accepted",
        Dismissed = "dismissed",
    }
}

string_enum! {
    EvolutionEventKind, field = "kind" {
        Finding = "finding",
        ProposalDrafted = "proposal_drafted",
        ReleaseApplied = "release_applied",
        ReleaseRolledBack = "release_rolled_back",
        ParametersChanged = "parameters_changed",
    }
}

string_enum! {
    EvolutionAction, field = "action" {
        Applied = "applied",
        RolledBack = "rolled_back",
    }
}

string_enum! {
    IntegrationKind, field = "kind" {
        Ollama = "ollama",
        Anthropic = "anthropic",
        OpenAiCompatible = "openai_compatible",
        Commons = "commons",
        /// A journal imported from jrnl's JSON export.
        Jrnl = "jrnl",
        /// A journal imported from Day One's JSON export.
        DayOne = "day_one",
        /// A journal imported from a folder of dated Markdown files.
        Markdown = "markdown",
    }
}

string_enum! {
    /// What kind of data left the node (see the egress log).
    EgressKind, field = "kind" {
        LlmRequest = "llm_request",
        TelemetryPacket = "telemetry_packet",
        CommonsRecord = "commons_record",
        SyncMessage = "sync_message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_name_the_field_and_the_allowed_values() {
        let err = "public".parse::<Visibility>().unwrap_err().to_string();
        assert!(err.contains("visibility"), "{err}");
        assert!(
            err.contains("local_only, sync_summary, sync_full_public"),
            "{err}"
        );
    }

    #[test]
    fn bytes_and_strings_round_trip() {
        for v in ThreadStatus::ALL {
            assert_eq!(ThreadStatus::from_byte(v.to_byte()).unwrap(), *v);
            assert_eq!(v.as_str().parse::<ThreadStatus>().unwrap(), *v);
        }
        assert!(ThreadStatus::from_byte(200).is_err());
    }

    #[test]
    fn json_uses_strings_and_binary_uses_bytes() {
        assert_eq!(
            serde_json::to_string(&Visibility::SyncSummary).unwrap(),
            "\"sync_summary\""
        );
        assert_eq!(postcard::to_stdvec(&Visibility::SyncSummary).unwrap(), [1]);
        let err = serde_json::from_str::<Visibility>("\"everyone\"").unwrap_err();
        assert!(err.to_string().contains("visibility"));
    }
}
