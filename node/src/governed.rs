//! The rule between this node's config and the governed parameter pack.
//!
//! The commons governs the engine's behaviour through the pack a release
//! puts in force (`mirror params show`). A few of those values also have a
//! setting in `config.toml`, because a person may want their own node to
//! behave differently. The rule, in one place:
//!
//! * unset in `config.toml` (the default): the pack's value is in force, so
//!   a release that changes it changes what this node does;
//! * set in `config.toml`: the person's value is in force on this node, and
//!   stays until they remove it (`mirror config unset KEY`). A person
//!   always decides for their own node; nothing from outside changes their
//!   config.
//!
//! `mirror config show` lists each such value with where it comes from.

use mirror_governance::params::EngineParams;
use serde::Serialize;
use serde_json::Value;

use crate::home::Config;

/// Config keys that shadow a pack value, with the pack's JSON Pointer.
pub const SHADOWED: &[(&str, &str)] =
    &[("engine.max_regenerations", "/thresholds/max_regenerations")];

/// Where a value in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The governed pack in force.
    Pack,
    /// The person's own setting in config.toml.
    Config,
}

/// One governed value as this node runs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Governed {
    pub key: &'static str,
    pub pointer: &'static str,
    pub in_force: Value,
    pub pack: Value,
    pub source: Source,
}

/// The person's own setting for `key`, if they made one.
fn configured(config: &Config, key: &str) -> Option<Value> {
    match key {
        "engine.max_regenerations" => config.engine.max_regenerations.map(Value::from),
        _ => None,
    }
}

/// Every shadowed value, as in force under `config` and `params`.
pub fn governed_values(config: &Config, params: &EngineParams) -> Vec<Governed> {
    let pack: Value = serde_json::to_value(params).unwrap_or(Value::Null);
    SHADOWED
        .iter()
        .map(|(key, pointer)| {
            let from_pack = pack.pointer(pointer).cloned().unwrap_or(Value::Null);
            let (in_force, source) = match configured(config, key) {
                Some(v) => (v, Source::Config),
                None => (from_pack.clone(), Source::Pack),
            };
            Governed {
                key,
                pointer,
                in_force,
                pack: from_pack,
                source,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_decides_unless_the_person_set_their_own() {
        let mut params = EngineParams::genesis().unwrap();
        params.thresholds.max_regenerations = 5;
        let mut config = Config::default();
        let v = governed_values(&config, &params);
        assert_eq!(v[0].in_force, Value::from(5));
        assert_eq!(v[0].source, Source::Pack);
        config.engine.max_regenerations = Some(1);
        let v = governed_values(&config, &params);
        assert_eq!(v[0].in_force, Value::from(1));
        assert_eq!(v[0].pack, Value::from(5));
        assert_eq!(v[0].source, Source::Config);
    }
}
