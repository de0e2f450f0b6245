//! Bringing an existing journal: jrnl's JSON export, Day One's JSON export
//! (the `Journal.json` inside its archive, or the unpacked folder), and a
//! folder of dated Markdown files.
//!
//! Each entry becomes a reflection with its date kept (local dates read in
//! the person's zone; Day One's instants as they are). Ids are made from
//! the source: a UUIDv7 carrying the entry's time, its random bits a hash
//! of the source kind and the entry (Day One's uuid, or jrnl's and
//! Markdown's date and text), so importing the same export twice adds
//! nothing, and the import is one transaction through [`Store::import`]:
//! all or nothing, like a bundle. The source is recorded as an integration
//! (kind `jrnl`, `day_one` or `markdown`, never enabled: it is a record of
//! where writing came from, not a connection).

use std::path::{Path, PathBuf};

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::model::{
    ContentType, Id, Identity, Integration, IntegrationKind, Metadata, Reflection, Source,
    Timestamp,
};
use crate::store::{Batch, ImportReport, Store};
use crate::when;

#[derive(Debug, thiserror::Error)]
pub enum ForeignError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a {what} export: {reason}")]
    Format {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

/// Where a journal comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jrnl,
    DayOne,
    Markdown,
}

impl Format {
    fn kind(self) -> IntegrationKind {
        match self {
            Format::Jrnl => IntegrationKind::Jrnl,
            Format::DayOne => IntegrationKind::DayOne,
            Format::Markdown => IntegrationKind::Markdown,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Jrnl => "jrnl",
            Format::DayOne => "Day One",
            Format::Markdown => "Markdown folder",
        }
    }
}

/// One entry read from a foreign journal, before it is a reflection.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignEntry {
    /// What makes it this entry in its source (for a stable id).
    pub key: String,
    pub written: Timestamp,
    pub text: String,
    pub tags: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ForeignError + '_ {
    move |source| ForeignError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn bad(path: &Path, what: &'static str, reason: impl ToString) -> ForeignError {
    ForeignError::Format {
        path: path.to_path_buf(),
        what,
        reason: reason.to_string(),
    }
}

#[derive(Deserialize)]
struct JrnlExport {
    entries: Vec<JrnlEntry>,
}

#[derive(Deserialize)]
struct JrnlEntry {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    date: String,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// jrnl's `jrnl --export json`: entries with a local date and time, a
/// title (its first sentence) and a body.
pub fn read_jrnl(path: &Path, tz: &TimeZone) -> Result<Vec<ForeignEntry>, ForeignError> {
    const WHAT: &str = "jrnl JSON";
    let bytes = std::fs::read(path).map_err(io(path))?;
    let export: JrnlExport = serde_json::from_slice(&bytes).map_err(|e| bad(path, WHAT, e))?;
    export
        .entries
        .into_iter()
        .map(|e| {
            let date: Date = e
                .date
                .parse()
                .map_err(|err| bad(path, WHAT, format!("date {:?}: {err}", e.date)))?;
            let time: Time = match e.time.as_deref() {
                Some(t) => t
                    .parse()
                    .map_err(|err| bad(path, WHAT, format!("time {t:?}: {err}")))?,
                None => Time::midnight(),
            };
            let written = when::at_local(DateTime::from_parts(date, time), tz)
                .map_err(|err| bad(path, WHAT, err))?;
            let text = match (e.title.trim(), e.body.trim()) {
                (t, "") => t.to_string(),
                ("", b) => b.to_string(),
                (t, b) => format!("{t} {b}"),
            };
            Ok(ForeignEntry {
                key: format!("{} {}\n{text}", e.date, e.time.unwrap_or_default()),
                written,
                text,
                tags: e
                    .tags
                    .iter()
                    .filter_map(|t| crate::model::tags::normalise(t.trim_start_matches('@')))
                    .collect(),
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct DayOneExport {
    entries: Vec<DayOneEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DayOneEntry {
    uuid: String,
    creation_date: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    tags: Vec<String>,
}

/// Day One's JSON export: `Journal.json` (or any `*.json` journal in the
/// unpacked archive's folder), entries with a uuid, an instant and text.
pub fn read_day_one(path: &Path) -> Result<Vec<ForeignEntry>, ForeignError> {
    const WHAT: &str = "Day One JSON";
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io(path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(bad(path, WHAT, "no .json journal in the folder"));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).map_err(io(&file))?;
        let export: DayOneExport =
            serde_json::from_slice(&bytes).map_err(|e| bad(&file, WHAT, e))?;
        for e in export.entries {
            let instant: jiff::Timestamp = e.creation_date.parse().map_err(|err| {
                bad(
                    &file,
                    WHAT,
                    format!("creationDate {:?}: {err}", e.creation_date),
                )
            })?;
            let written = Timestamp::from_micros(instant.as_microsecond())
                .map_err(|err| bad(&file, WHAT, err))?;
            // Day One escapes Markdown punctuation in its export.
            let text = e
                .text
                .replace("\\.", ".")
                .replace("\\!", "!")
                .replace("\\-", "-");
            out.push(ForeignEntry {
                key: e.uuid,
                written,
                text: text.trim().to_string(),
                tags: e
                    .tags
                    .iter()
                    .filter_map(|t| crate::model::tags::normalise(t))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// A folder of Markdown files named by date (`2026-11-24.md`,
/// `2026-11-24-a-title.md`, `2026-11-24 2130.md`, in subfolders too):
/// each file one entry, dated by its name in local time (noon when the name
/// has no time). Files whose names do not start with a date are listed as
/// skipped.
pub fn read_markdown(
    dir: &Path,
    tz: &TimeZone,
) -> Result<(Vec<ForeignEntry>, Vec<PathBuf>), ForeignError> {
    const WHAT: &str = "Markdown folder";
    if !dir.is_dir() {
        return Err(bad(dir, WHAT, "not a folder"));
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let p = entry.map_err(io(&d))?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md" || x == "markdown") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for file in files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let Some(date) = stem.get(..10).and_then(|d| d.parse::<Date>().ok()) else {
            skipped.push(file);
            continue;
        };
        // An optional time right after the date: "2130", "21:30", "21-30".
        let rest: String = stem[10..]
            .trim_start_matches([' ', '_', '-', 'T'])
            .chars()
            .filter(|c| c.is_ascii_digit())
            .take(4)
            .collect();
        let time = if rest.len() == 4 {
            Time::new(
                rest[..2].parse().unwrap_or(12),
                rest[2..].parse().unwrap_or(0),
                0,
                0,
            )
            .unwrap_or(Time::constant(12, 0, 0, 0))
        } else {
            Time::constant(12, 0, 0, 0)
        };
        let text = std::fs::read_to_string(&file).map_err(io(&file))?;
        let text = strip_front_matter(&text).trim().to_string();
        if text.is_empty() {
            skipped.push(file);
            continue;
        }
        let written = when::at_local(DateTime::from_parts(date, time), tz)
            .map_err(|e| bad(&file, WHAT, e))?;
        let relative = file
            .strip_prefix(dir)
            .unwrap_or(&file)
            .display()
            .to_string();
        out.push(ForeignEntry {
            key: format!("{relative}\n{text}"),
            written,
            tags: crate::model::tags::in_text(&text),
            text,
        });
    }
    Ok((out, skipped))
}

/// Text without a leading `---` YAML block.
fn strip_front_matter(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("---\n") else {
        return text;
    };
    match rest.find("\n---\n") {
        Some(end) => &rest[end + 5..],
        None => text,
    }
}

/// A UUIDv7 at `written` whose random bits are a hash of `parts`: the same
/// entry always gets the same id.
fn stable_id(written: Timestamp, parts: &[&str]) -> Id {
    let mut hasher = blake3::Hasher::new();
    for p in parts {
        hasher.update(p.as_bytes());
        hasher.update(&[0]);
    }
    let hash = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.as_bytes()[..16]);
    let rand = u128::from_be_bytes(bytes);
    let ms = (written.as_micros().max(0) / 1000) as u128 & ((1 << 48) - 1);
    Id::from_u128(
        (ms << 80)
            | (0x7 << 76)
            | ((rand >> 64 & 0xfff) << 64)
            | (0b10 << 62)
            | (rand & ((1 << 62) - 1)),
    )
}

/// What bringing a journal did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForeignReport {
    pub format: &'static str,
    pub entries: usize,
    pub added: u64,
    pub unchanged: u64,
    /// Files a Markdown folder held that were not entries.
    pub skipped: Vec<PathBuf>,
    pub integration: Id,
    pub left_out: Vec<String>,
}

/// Read `path` as `format` and merge its entries into the store as
/// `identity`'s reflections, in one transaction.
pub fn import(
    store: &Store,
    identity: &Identity,
    format: Format,
    path: &Path,
    tz: &TimeZone,
) -> Result<ForeignReport, ForeignError> {
    let (entries, skipped) = match format {
        Format::Jrnl => (read_jrnl(path, tz)?, Vec::new()),
        Format::DayOne => (read_day_one(path)?, Vec::new()),
        Format::Markdown => read_markdown(path, tz)?,
    };
    let source = format.name();
    let now = Timestamp::now();
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut batch = Batch::default();
    for e in &entries {
        let mut metadata = Metadata::default();
        if !e.tags.is_empty() {
            metadata.0.insert(
                "tags".into(),
                serde_json::Value::Array(
                    e.tags
                        .iter()
                        .cloned()
                        .map(serde_json::Value::String)
                        .collect(),
                ),
            );
        }
        metadata.0.insert(
            "imported_from".into(),
            serde_json::Value::String(format.kind().to_string()),
        );
        batch.reflections.push(Reflection {
            id: stable_id(e.written, &[format.kind().as_str(), &e.key]),
            identity_id: identity.id,
            content: e.text.clone(),
            content_type: if format == Format::Markdown {
                ContentType::Markdown
            } else {
                ContentType::PlainText
            },
            visibility: crate::model::Visibility::LocalOnly,
            source: Source::Import,
            created_at: e.written,
            metadata,
        });
    }
    let integration_id = stable_id(
        Timestamp::from_micros(0).unwrap_or(now),
        &[format.kind().as_str(), &canonical.display().to_string()],
    );
    let mut settings = Metadata::default();
    settings.0.insert(
        "source".into(),
        serde_json::json!(canonical.display().to_string()),
    );
    settings
        .0
        .insert("entries".into(), serde_json::json!(entries.len()));
    let created_at = store
        .get::<Integration>(integration_id)?
        .map_or(now, |i| i.created_at);
    batch.integrations.push(Integration {
        id: integration_id,
        name: format!("{source} import").chars().take(100).collect(),
        kind: format.kind(),
        endpoint: None,
        enabled: false,
        settings,
        created_at,
        updated_at: now,
    });
    let report: ImportReport = store.import(&batch)?;
    let table = report
        .tables
        .get(<Reflection as crate::model::Record>::TABLE)
        .copied()
        .unwrap_or_default();
    Ok(ForeignReport {
        format: source,
        entries: entries.len(),
        added: table.added,
        unchanged: table.unchanged,
        skipped,
        integration: integration_id,
        left_out: report.left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_ids_are_v7_and_keep_the_time() {
        let t = Timestamp::from_micros(1_764_000_000_000_000).unwrap();
        let a = stable_id(t, &["jrnl", "x"]);
        assert_eq!(a, stable_id(t, &["jrnl", "x"]));
        assert_ne!(a, stable_id(t, &["jrnl", "y"]));
        assert_eq!(a.unix_millis(), Some(1_764_000_000_000));
        assert!(a.to_string().parse::<Id>().is_ok());
    }

    #[test]
    fn front_matter_is_not_the_entry() {
        assert_eq!(strip_front_matter("---\ntitle: x\n---\nHello"), "Hello");
        assert_eq!(strip_front_matter("Hello"), "Hello");
    }
}
