//! Applying an approved proposal's edits.
//!
//! A proposal carries its change as edits with the value before and after
//! ([`Edit`]). Applying one checks every `before` against what is there now:
//! a release built on a pack that moved since the proposal was written is
//! refused, naming the edit, rather than silently overwriting someone else's
//! change. Edits apply in order and all or nothing.
//!
//! For the parameter pack, paths are JSON Pointers (RFC 6901) into the pack's
//! JSON form; adding into an array inserts at the index (`-` appends), as in
//! JSON Patch (RFC 6902). For the constitution, a path is a document's file
//! name and the values are whole texts.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::params::{EngineParams, ParamsError};
use crate::payload::{Change, ChangeTarget, Edit};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChangeError {
    #[error("edit {index} ({path}): {reason}")]
    Edit {
        index: usize,
        path: String,
        reason: String,
    },
    #[error("the change targets {found:?}, not {expected:?}")]
    WrongTarget {
        expected: ChangeTarget,
        found: ChangeTarget,
    },
    #[error("the edited pack is not valid: {0}")]
    Params(#[from] ParamsError),
}

/// The pack after `change`'s edits.
pub fn apply_to_params(
    params: &EngineParams,
    change: &Change,
) -> Result<EngineParams, ChangeError> {
    if change.target != ChangeTarget::Params {
        return Err(ChangeError::WrongTarget {
            expected: ChangeTarget::Params,
            found: change.target,
        });
    }
    let mut doc: Value = serde_json::from_slice(&params.canonical_json())
        .map_err(|e| ParamsError::Parse(e.to_string()))?;
    for (index, edit) in change.edits.iter().enumerate() {
        apply_pointer(&mut doc, edit).map_err(|reason| ChangeError::Edit {
            index,
            path: edit.path.clone(),
            reason,
        })?;
    }
    let bytes = serde_json::to_vec(&doc).map_err(|e| ParamsError::Parse(e.to_string()))?;
    Ok(EngineParams::from_json(&bytes)?)
}

/// The constitution documents (file name → text) after `change`'s edits.
pub fn apply_to_documents(
    documents: &BTreeMap<String, String>,
    change: &Change,
) -> Result<BTreeMap<String, String>, ChangeError> {
    if change.target != ChangeTarget::Constitution {
        return Err(ChangeError::WrongTarget {
            expected: ChangeTarget::Constitution,
            found: change.target,
        });
    }
    let mut out = documents.clone();
    for (index, edit) in change.edits.iter().enumerate() {
        let fail = |reason: &str| ChangeError::Edit {
            index,
            path: edit.path.clone(),
            reason: reason.to_string(),
        };
        let text = |v: &Value| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| fail("a document is a text"))
        };
        let current = out.get(&edit.path);
        match (&edit.before, current) {
            (None, Some(_)) => return Err(fail("adds a document that exists")),
            (Some(_), None) => return Err(fail("the document does not exist")),
            (Some(before), Some(now)) if text(before)? != *now => {
                return Err(fail("the document changed since the proposal was written"));
            }
            _ => {}
        }
        match &edit.after {
            Some(after) => {
                out.insert(edit.path.clone(), text(after)?);
            }
            None => {
                out.remove(&edit.path);
            }
        }
    }
    Ok(out)
}

/// RFC 6901 reference tokens of `pointer` (which must be empty or start
/// with `/`).
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err("a JSON Pointer starts with '/'".into());
    };
    rest.split('/')
        .map(|t| {
            let b = t.as_bytes();
            let escapes_ok = b
                .iter()
                .enumerate()
                .all(|(i, &c)| c != b'~' || matches!(b.get(i + 1), Some(b'0' | b'1')));
            if !escapes_ok {
                return Err(format!("bad escape in {t:?} (only ~0 and ~1)"));
            }
            Ok(t.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let index: usize = if valid {
        token.parse().map_err(|_| "index too large".to_string())?
    } else {
        return Err(format!("{token:?} is not an array index"));
    };
    let limit = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if index > limit || (!allow_end && len == 0) {
        return Err(format!("index {index} is out of range (length {len})"));
    }
    Ok(index)
}

fn apply_pointer(doc: &mut Value, edit: &Edit) -> Result<(), String> {
    let mut path = tokens(&edit.path)?;
    let Some(last) = path.pop() else {
        return Err("the whole pack cannot be replaced by one edit".into());
    };
    let mut parent = &mut *doc;
    for t in &path {
        parent = match parent {
            Value::Object(map) => map
                .get_mut(t)
                .ok_or_else(|| format!("{t:?} does not exist"))?,
            Value::Array(items) => {
                let i = array_index(t, items.len(), false)?;
                &mut items[i]
            }
            _ => {
                return Err(format!(
                    "{t:?} is inside a value that is neither object nor array"
                ));
            }
        };
    }
    let current: Option<&Value> = match &*parent {
        Value::Object(map) => map.get(&last),
        Value::Array(items) => match (
            &edit.before,
            array_index(&last, items.len(), edit.before.is_none()),
        ) {
            (None, Ok(_)) => None,
            (_, Ok(i)) => items.get(i),
            (_, Err(e)) => return Err(e),
        },
        _ => return Err("the parent is neither object nor array".into()),
    };
    match (&edit.before, current) {
        (None, Some(_)) => return Err("adds a value that exists".into()),
        (Some(_), None) => return Err("the value does not exist".into()),
        (Some(before), Some(now)) if before != now => {
            return Err("the value changed since the proposal was written".into());
        }
        _ => {}
    }
    match (parent, &edit.after) {
        (Value::Object(map), Some(after)) => {
            map.insert(last, after.clone());
        }
        (Value::Object(map), None) => {
            map.remove(&last);
        }
        (Value::Array(items), Some(after)) => {
            let i = array_index(&last, items.len(), edit.before.is_none())?;
            if edit.before.is_none() {
                items.insert(i, after.clone());
            } else {
                items[i] = after.clone();
            }
        }
        (Value::Array(items), None) => {
            let i = array_index(&last, items.len(), false)?;
            items.remove(i);
        }
        _ => return Err("the parent is neither object nor array".into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn edit(path: &str, before: Option<Value>, after: Option<Value>) -> Edit {
        Edit {
            path: path.into(),
            before,
            after,
        }
    }

    fn change(edits: Vec<Edit>) -> Change {
        Change {
            target: ChangeTarget::Params,
            edits,
        }
    }

    fn genesis() -> EngineParams {
        EngineParams::genesis().unwrap()
    }

    fn json_of(p: &EngineParams) -> Value {
        serde_json::from_slice(&p.canonical_json()).unwrap()
    }

    #[test]
    fn replaces_adds_and_removes_with_before_checked() {
        let p = genesis();
        let doc = json_of(&p);
        let (name, _) = doc["patterns"].as_object().unwrap().iter().next().unwrap();
        let cues = format!("/patterns/{name}/rules/0/cues");
        let old = doc.pointer(&cues).unwrap().clone();
        let mut new = old.clone();
        new.as_array_mut()
            .unwrap()
            .push(json!("kept circling back"));
        let out = apply_to_params(
            &p,
            &change(vec![edit(&cues, Some(old.clone()), Some(new.clone()))]),
        )
        .unwrap();
        assert_eq!(json_of(&out).pointer(&cues), Some(&new));
        assert_ne!(out.hash(), p.hash());

        // Appending with "-" and removing again gives back the pack.
        let appended = apply_to_params(
            &p,
            &change(vec![edit(
                &format!("{cues}/-"),
                None,
                Some(json!("round and round")),
            )]),
        )
        .unwrap();
        let len = json_of(&appended)
            .pointer(&cues)
            .unwrap()
            .as_array()
            .unwrap()
            .len();
        let back = apply_to_params(
            &appended,
            &change(vec![edit(
                &format!("{cues}/{}", len - 1),
                Some(json!("round and round")),
                None,
            )]),
        )
        .unwrap();
        assert_eq!(back.hash(), p.hash());

        // A stale before is refused, naming the edit; nothing is half applied.
        let err = apply_to_params(
            &p,
            &change(vec![
                edit(&format!("{cues}/-"), None, Some(json!("x y z"))),
                edit(&cues, Some(json!(["not", "there"])), Some(new)),
            ]),
        )
        .unwrap_err();
        assert!(matches!(err, ChangeError::Edit { index: 1, .. }), "{err}");
    }

    #[test]
    fn bad_pointers_and_invalid_results_are_refused() {
        let p = genesis();
        for bad in ["patterns", "/nope/x", "/patterns/~2", "/thresholds/01"] {
            assert!(
                apply_to_params(&p, &change(vec![edit(bad, None, Some(json!(1)))])).is_err(),
                "{bad}"
            );
        }
        // The result must still be a valid pack.
        let doc = json_of(&p);
        let (name, _) = doc["patterns"].as_object().unwrap().iter().next().unwrap();
        let cues = format!("/patterns/{name}/rules/0/cues/-");
        let err = apply_to_params(
            &p,
            &change(vec![edit(&cues, None, Some(json!("<bogus> word")))]),
        )
        .unwrap_err();
        assert!(matches!(err, ChangeError::Params(_)), "{err}");
    }

    #[test]
    fn documents_change_whole_texts() {
        let mut docs = BTreeMap::new();
        docs.insert("a.md".to_string(), "one".to_string());
        let c = Change {
            target: ChangeTarget::Constitution,
            edits: vec![
                edit("a.md", Some(json!("one")), Some(json!("two"))),
                edit("b.md", None, Some(json!("new"))),
            ],
        };
        let out = apply_to_documents(&docs, &c).unwrap();
        assert_eq!(out["a.md"], "two");
        assert_eq!(out["b.md"], "new");
        let stale = Change {
            target: ChangeTarget::Constitution,
            edits: vec![edit("a.md", Some(json!("zero")), Some(json!("two")))],
        };
        assert!(apply_to_documents(&docs, &stale).is_err());
        assert!(apply_to_params(&genesis(), &stale).is_err());
    }
}
