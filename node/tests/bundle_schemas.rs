//! The bundle schemas (`schemas/bundle/`) and the importer must agree: the
//! same records, mutated the ways the issue found them disagreeing, go
//! through python-jsonschema (Draft 2020-12, as another implementation
//! reads a bundle) and through the importer's own checks
//! (`bundle::check_record_line`, exactly what an import runs per line), and
//! every verdict must match. A few rules no JSON Schema can state (sizes in
//! bytes, a key given twice, comparing two fields) are the importer's
//! alone; they are listed here with why, and the test requires that the
//! importer refuses them and that the schema says so in its description.

use std::path::PathBuf;
use std::process::Command;

use mirror_node::bundle::check_record_line;
use mirror_node::model::Timestamp;
use serde_json::{Value, json};

const ID: &str = "0190f5a2-7b3c-7d4e-8f10-1a2b3c4d5e6f";
const ID2: &str = "0190f5a2-7b3c-7d4e-8f10-1a2b3c4d5e70";
const T: &str = "2026-01-02T03:04:05Z";
const LATER: &str = "2026-01-03T03:04:05Z";

fn python() -> Option<PathBuf> {
    let python = std::env::var_os("MIRROR_TUF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let usable = Command::new(&python)
        .args(["-c", "import jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "python-jsonschema is not available to {} (.ci/run installs it into target/tools-venv)",
        python.display()
    );
    eprintln!("SKIPPED bundle schema agreement: python-jsonschema is not available");
    None
}

fn public_key() -> String {
    hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[1; 32])
            .verifying_key()
            .to_bytes(),
    )
}

/// A valid record of each table the cases mutate.
fn base(table: &str) -> Value {
    match table {
        "identities" => {
            json!({"id": ID, "name": "Ana", "public_key": public_key(), "created_at": T})
        }
        "reflections" => json!({"id": ID, "identity_id": ID2, "content": "I keep circling back.",
            "content_type": "text/plain", "visibility": "local_only", "source": "cli", "created_at": T, "metadata": {}}),
        "engine_feedback" => {
            json!({"id": ID, "run_id": ID2, "rating": 4, "flags": [], "note": "kind", "created_at": T})
        }
        "tension_suggestions" => {
            json!({"id": ID, "identity_id": ID2, "reflection_id": ID2, "name": "Control and letting go",
            "axis_a": "control", "axis_b": "letting_go", "position": 0.5, "intensity": 0.5, "evidence": "I hold on.",
            "status": "pending", "tension_id": null, "created_at": T, "updated_at": LATER})
        }
        "threads" => json!({"id": ID, "identity_id": ID2, "title": "Work", "status": "active",
            "started_at": T, "last_active": LATER, "updated_at": LATER}),
        other => panic!("no base record for {other}"),
    }
}

fn with(table: &str, field: &str, value: Value) -> String {
    let mut v = base(table);
    v[field] = value;
    v.to_string()
}

struct Case {
    name: &'static str,
    table: &'static str,
    line: String,
    /// Why only the importer can refuse it (None: both must agree).
    importer_only: Option<&'static str>,
}

fn cases() -> Vec<Case> {
    let case = |name, table, line| Case {
        name,
        table,
        line,
        importer_only: None,
    };
    let only = |name, table, line, why| Case {
        name,
        table,
        line,
        importer_only: Some(why),
    };
    let mut out: Vec<Case> = [
        "identities",
        "reflections",
        "engine_feedback",
        "tension_suggestions",
        "threads",
    ]
    .into_iter()
    .map(|t| case("valid", t, base(t).to_string()))
    .collect();
    // Every text limit of these tables, at its length and one past it, in
    // two-byte characters: the importer and the schema count the same way
    // and stop at the same place.
    for (table, field, max) in [
        ("identities", "name", 100),
        ("reflections", "content", 1024 * 1024),
        ("engine_feedback", "note", 4000),
        ("tension_suggestions", "name", 100),
        ("tension_suggestions", "evidence", 4000),
        ("threads", "title", 200),
    ] {
        out.push(case(
            "text at its limit",
            table,
            with(table, field, json!("é".repeat(max))),
        ));
        out.push(case(
            "text past its limit",
            table,
            with(table, field, json!("é".repeat(max + 1))),
        ));
    }
    out.extend([
        case(
            "1969 timestamp",
            "reflections",
            with("reflections", "created_at", json!("1969-12-31T23:59:59Z")),
        ),
        case(
            "lowercase z",
            "reflections",
            with("reflections", "created_at", json!("2026-01-02T03:04:05z")),
        ),
        case(
            "uppercase uuid",
            "reflections",
            with("reflections", "id", json!(ID.to_uppercase())),
        ),
        case(
            "uppercase public key",
            "identities",
            with(
                "identities",
                "public_key",
                json!(public_key().to_uppercase()),
            ),
        ),
        case(
            "empty note",
            "engine_feedback",
            with("engine_feedback", "note", json!("")),
        ),
        case(
            "blank title",
            "threads",
            with("threads", "title", json!("   ")),
        ),
        case(
            "U+001C title",
            "threads",
            with("threads", "title", json!("\u{1c}")),
        ),
        case(
            "U+FEFF title",
            "threads",
            with("threads", "title", json!("\u{feff}")),
        ),
        case(
            "U+3000 title",
            "threads",
            with("threads", "title", json!("\u{3000}")),
        ),
        case(
            "100-character name",
            "identities",
            with("identities", "name", json!("é".repeat(100))),
        ),
        case(
            "101-character name",
            "identities",
            with("identities", "name", json!("a".repeat(101))),
        ),
        case(
            "200-character title",
            "threads",
            with("threads", "title", json!("é".repeat(200))),
        ),
        case(
            "201-character title",
            "threads",
            with("threads", "title", json!("a".repeat(201))),
        ),
        only(
            "70 KB of metadata",
            "reflections",
            with("reflections", "metadata", json!({"a": "x".repeat(70_000)})),
            "a size in bytes of the serialized metadata",
        ),
        only(
            "duplicate key",
            "reflections",
            base("reflections")
                .to_string()
                .replacen('{', &format!("{{\"id\":\"{ID2}\","), 1),
            "a key given twice (JSON parsers keep one of them)",
        ),
        only(
            "axis_a == axis_b",
            "tension_suggestions",
            with("tension_suggestions", "axis_b", json!("control")),
            "two fields compared",
        ),
        only(
            "updated_at before created_at",
            "tension_suggestions",
            with(
                "tension_suggestions",
                "updated_at",
                json!("2025-01-01T00:00:00Z"),
            ),
            "two fields compared",
        ),
    ]);
    out
}

#[test]
fn the_bundle_schemas_and_the_importer_give_the_same_verdicts() {
    let Some(python) = python() else {
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cases = cases();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.json");
    let listed: Vec<Value> = cases
        .iter()
        .map(|c| json!({"schema": root.join(format!("schemas/bundle/{}.schema.json", c.table)), "line": c.line}))
        .collect();
    std::fs::write(&input, serde_json::to_vec(&listed).unwrap()).unwrap();
    let out = Command::new(&python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bundle_schemas.py"))
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schema: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let now = Timestamp::parse_flexible("2030-01-01T00:00:00Z").unwrap();
    let mut disagreements = Vec::new();
    for (c, by_schema) in cases.iter().zip(&schema) {
        let by_importer = check_record_line(c.table, &c.line, now);
        // The probes mean something: the valid ones pass, the long ones not.
        match c.name {
            "valid" | "text at its limit" => {
                assert!(by_importer.is_ok(), "{}: {by_importer:?}", c.name)
            }
            "text past its limit" => assert!(by_importer.is_err(), "{} ({})", c.name, c.table),
            _ => {}
        }
        match c.importer_only {
            None if by_schema.is_null() != by_importer.is_ok() => disagreements.push(format!(
                "{} ({}): schema {}, importer {}",
                c.name,
                c.table,
                by_schema
                    .as_str()
                    .map_or("accepts".into(), |e| format!("refuses: {e}")),
                by_importer
                    .as_ref()
                    .map_or_else(|e| format!("refuses: {e}"), |()| "accepts".into()),
            )),
            None => {}
            Some(why) => {
                if by_importer.is_ok() {
                    disagreements
                        .push(format!("{} ({}): the importer accepts it", c.name, c.table));
                }
                let text = std::fs::read_to_string(
                    root.join(format!("schemas/bundle/{}.schema.json", c.table)),
                )
                .unwrap();
                let _ = why;
                if !text.contains("importer") {
                    disagreements.push(format!(
                        "{} ({}): the schema does not say the importer refuses more",
                        c.name, c.table
                    ));
                }
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
