//! The node's home: one directory holding everything a person's node owns.
//!
//! ```text
//! <home>/
//!   mirror.redb        the store
//!   config.toml        the node's settings (never secrets)
//!   keys/<id>.key      ed25519 secret keys, one per identity, mode 0600
//!   backups/           database copies written before each migration
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

use crate::model::{Id, Identity, PublicKey, Timestamp};
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
}

type Result<T, E = HomeError> = std::result::Result<T, E>;

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
    #[serde(default)]
    pub import: ImportConfig,
}

/// Limits on bundles accepted by `mirror import`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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

    pub fn key_path(&self, identity: Id) -> PathBuf {
        self.keys_dir().join(format!("{identity}.key"))
    }

    /// Create the directory (0700) if needed.
    pub fn ensure_dir(&self) -> Result<()> {
        create_private_dir(&self.dir)
    }

    /// Open the store, creating the directory and database if needed.
    pub fn open_store(&self) -> Result<Store> {
        self.ensure_dir()?;
        Ok(Store::open(&self.db_path())?)
    }

    pub fn load_config(&self) -> Result<Config> {
        let path = self.config_path();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        };
        toml::from_str(&text).map_err(|e| HomeError::Config {
            path,
            reason: e.message().to_string(),
        })
    }

    /// Write the config atomically (temp file, fsync, rename).
    pub fn save_config(&self, config: &Config) -> Result<()> {
        let body = toml::to_string_pretty(config).map_err(|e| HomeError::Config {
            path: self.config_path(),
            reason: e.to_string(),
        })?;
        let text = format!(
            "# Mirror node configuration. `mirror status` shows where it lives.\n\
             # Secrets (API keys) never go here: they are read from the environment.\n\n{body}"
        );
        write_atomic(&self.config_path(), text.as_bytes(), 0o600)
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
    fn unknown_config_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        fs::write(home.config_path(), "identiy = \"x\"\n").unwrap();
        let err = home.load_config().unwrap_err().to_string();
        assert!(err.contains("identiy"), "{err}");
    }
}
