//! A CI context as one JSON record, every field with its source, the fork flag and the warnings:
//! what the per-CI detection snapshot tests (`insta`) commit, so that a reviewer sees each field
//! a change moves.

use foldup_core::CiContext;
use serde_json::{json, Value};

/// `foldup env --json`'s object, plus `fork` (with its source) and `warnings`.
pub fn detection_record(ctx: &CiContext) -> Value {
    let mut record = ctx.to_json();
    let object = record.as_object_mut().expect("env --json is an object");
    object.insert(
        "fork".to_owned(),
        json!({ "value": ctx.fork.value, "source": ctx.fork.source }),
    );
    object.insert("warnings".to_owned(), json!(ctx.warnings));
    record
}

/// A case's name as a snapshot file name: lowercase words joined by `_`
/// (`"merge request pipeline (detached)"` → `merge_request_pipeline_detached`).
pub fn snapshot_name(case: &str) -> String {
    case.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("_")
}
