//! `foldup impact`'s engine: which resources a change modifies, by the rules of dbt's own
//! `--select state:modified`, what `state:modified+` adds downstream through the manifest's
//! `child_map`, and which resources are gone.
//!
//! The rules are dbt-core 1.10's (`StateSelectorMethod` and the `same_*` methods of its node
//! classes); docs/DECISIONS.md says where they follow the manifest's `dbt_version` and flags.

mod manifest;
mod render;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

pub use manifest::{Facts, Kind, MacroFacts, Manifest, Squeeze};
pub use render::{markdown, MARKDOWN_LIMIT};
use serde::Serialize;

/// A manifest that cannot be read or is not a dbt manifest.
#[derive(Debug, thiserror::Error)]
pub enum ImpactError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a usable dbt manifest: {detail}")]
    Invalid { path: String, detail: String },
}

/// Reads the manifest at `path`, streaming it.
pub fn read_manifest(path: &Path) -> Result<Manifest, ImpactError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| ImpactError::Io {
        path: shown.clone(),
        source,
    })?;
    Manifest::from_buf_read(BufReader::with_capacity(1 << 18, file)).map_err(
        |(source, squeezed)| {
            if source.is_io() {
                ImpactError::Io {
                    path: shown,
                    source: source.into(),
                }
            } else {
                ImpactError::Invalid {
                    path: shown,
                    detail: describe(&source, squeezed),
                }
            }
        },
    )
}

/// serde's message, without its line and column when they are not the file's.
fn describe(e: &serde_json::Error, squeezed: bool) -> String {
    let text = e.to_string();
    if squeezed {
        if let Some(at) = text.rfind(" at line ") {
            return text[..at].to_owned();
        }
    }
    text
}

/// Why dbt counts a resource as modified; the names of dbt's `state:modified.*` sub-selectors,
/// plus `new` and three for comparisons that have no sub-selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    New,
    Body,
    Configs,
    Relation,
    PersistedDescriptions,
    Macros,
    Contract,
    /// The resource moved in the project (its `fqn` changed).
    Fqn,
    /// A model's `access`, `latest_version` or `deprecation_date` changed.
    Reference,
    /// Another compared property of a source, exposure, metric, semantic model or saved query.
    Properties,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Body => "body",
            Reason::Configs => "configs",
            Reason::Relation => "relation",
            Reason::PersistedDescriptions => "persisted_descriptions",
            Reason::Macros => "macros",
            Reason::Contract => "contract",
            Reason::Fqn => "fqn",
            Reason::Reference => "reference",
            Reason::Properties => "properties",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Modified {
    pub unique_id: String,
    pub resource_type: String,
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Impacted {
    pub unique_id: String,
    pub resource_type: String,
    /// The modified resource it descends from (the nearest one).
    pub via: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub unique_id: String,
    pub resource_type: String,
}

/// The comparison's result, each list sorted by unique id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Impact {
    pub modified: Vec<Modified>,
    pub impacted: Vec<Impacted>,
    pub removed: Vec<Removed>,
}

/// The reasons `new` differs from `old` by, in dbt's rules for the resource's kind; empty when
/// dbt counts them the same. Macros are checked separately.
fn content_reasons(old: &Facts, new: &Facts) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let mut check = |same: bool, reason: Reason| {
        if !same && !reasons.contains(&reason) {
            reasons.push(reason);
        }
    };
    match new.kind {
        Kind::Model | Kind::Seed | Kind::OtherNode | Kind::SingularTest => {
            check(old.body == new.body, Reason::Body);
            check(old.config == new.config, Reason::Configs);
            check(
                same_persisted_description(old, new),
                Reason::PersistedDescriptions,
            );
            check(old.fqn == new.fqn, Reason::Fqn);
            check(old.relation == new.relation, Reason::Relation);
            if new.kind == Kind::Model && old.kind == Kind::Model {
                check(same_contract(old, new), Reason::Contract);
                check(old.reference == new.reference, Reason::Reference);
            }
        }
        Kind::GenericTest => {
            check(old.config == new.config, Reason::Configs);
            check(old.fqn == new.fqn, Reason::Fqn);
        }
        Kind::Source => {
            check(old.relation == new.relation, Reason::Relation);
            check(old.fqn == new.fqn, Reason::Fqn);
            check(old.config == new.config, Reason::Configs);
            check(old.properties == new.properties, Reason::Properties);
        }
        Kind::Exposure => {
            check(old.fqn == new.fqn, Reason::Fqn);
            check(old.properties == new.properties, Reason::Properties);
            check(old.config == new.config, Reason::Configs);
        }
        Kind::Metric | Kind::SemanticModel | Kind::SavedQuery => {
            check(old.properties == new.properties, Reason::Properties);
            check(old.config == new.config, Reason::Configs);
        }
        Kind::UnitTest => check(old.body == new.body, Reason::Body),
    }
    reasons
}

/// `ParsedNode.same_persisted_description`: the new node's `persist_docs` decides what counts.
fn same_persisted_description(old: &Facts, new: &Facts) -> bool {
    (!new.persist_relation_docs || old.description == new.description)
        && (!new.persist_column_docs || old.column_descriptions == new.column_descriptions)
}

/// `ModelNode.same_contract`.
fn same_contract(old: &Facts, new: &Facts) -> bool {
    match (old.contract_enforced, new.contract_enforced) {
        (false, false) => true,
        (false, true) => false,
        (true, true) => old.contract_checksum == new.contract_checksum,
        (true, false) => false,
    }
}

/// Whether dbt would select a resource that has no counterpart in the base: dbt's `same_contents`
/// of sources, exposures, metrics, semantic models and saved queries answers "same" when there
/// is no old one, so only nodes and unit tests are `new`.
fn new_counts(kind: Kind) -> bool {
    !matches!(
        kind,
        Kind::Source | Kind::Exposure | Kind::Metric | Kind::SemanticModel | Kind::SavedQuery
    )
}

/// Macros that are new, changed or removed, and every macro that calls one of them, directly or
/// through other macros (dbt's `recursively_check_macros_modified`, computed once for all).
fn tainted_macros(base: &Manifest, pr: &Manifest) -> HashSet<String> {
    let mut tainted: HashSet<String> = HashSet::new();
    for (id, facts) in &pr.macros {
        if base.macros.get(id).is_none_or(|old| old.sql != facts.sql) {
            tainted.insert(id.clone());
        }
    }
    for id in base.macros.keys() {
        if !pr.macros.contains_key(id) {
            tainted.insert(id.clone());
        }
    }
    if tainted.is_empty() {
        return tainted;
    }
    // Callers of each macro, then a walk up from the modified ones (cycles stop at `tainted`).
    let mut callers: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, facts) in &pr.macros {
        for callee in &facts.macros {
            callers
                .entry(callee.as_str())
                .or_default()
                .push(id.as_str());
        }
    }
    let mut queue: VecDeque<String> = tainted.iter().cloned().collect();
    while let Some(id) = queue.pop_front() {
        for caller in callers.get(id.as_str()).into_iter().flatten() {
            if tainted.insert((*caller).to_owned()) {
                queue.push_back((*caller).to_owned());
            }
        }
    }
    tainted
}

/// Compares the PR's manifest with the base's.
pub fn compare(base: &Manifest, pr: &Manifest) -> Impact {
    let tainted = tainted_macros(base, pr);
    let mut modified = Vec::new();
    for (id, new) in &pr.entries {
        let mut reasons = match base.entries.get(id) {
            Some(old) => content_reasons(old, new),
            None if new_counts(new.kind) => vec![Reason::New],
            None => Vec::new(),
        };
        if new.macros.iter().any(|m| tainted.contains(m)) {
            reasons.push(Reason::Macros);
        }
        if !reasons.is_empty() {
            reasons.sort();
            modified.push(Modified {
                unique_id: id.clone(),
                resource_type: new.resource_type.clone(),
                reasons,
            });
        }
    }
    modified.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));

    // Breadth first from every modified resource at once, in unique-id order: each descendant is
    // reached first from its nearest modified ancestor. `seen` makes cycles harmless.
    let mut via: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen: HashSet<&str> = modified.iter().map(|m| m.unique_id.as_str()).collect();
    let mut queue: VecDeque<(&str, &str)> = modified
        .iter()
        .map(|m| (m.unique_id.as_str(), m.unique_id.as_str()))
        .collect();
    while let Some((id, origin)) = queue.pop_front() {
        for child in pr.child_map.get(id).into_iter().flatten() {
            // Only what the PR's project holds can be selected.
            if !pr.entries.contains_key(child.as_str()) {
                continue;
            }
            if seen.insert(child.as_str()) {
                via.insert(child.as_str(), origin);
                queue.push_back((child.as_str(), origin));
            }
        }
    }
    let impacted = via
        .into_iter()
        .map(|(id, origin)| Impacted {
            unique_id: id.to_owned(),
            resource_type: pr.entries[id].resource_type.clone(),
            via: origin.to_owned(),
        })
        .collect();

    let mut removed: Vec<Removed> = base
        .entries
        .iter()
        .filter(|(id, _)| !pr.entries.contains_key(id.as_str()))
        .map(|(id, facts)| Removed {
            unique_id: id.clone(),
            resource_type: facts.resource_type.clone(),
        })
        .collect();
    removed.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    Impact {
        modified,
        impacted,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> Manifest {
        Manifest::from_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn cycles_in_child_map_end() {
        let base = manifest(
            r#"{"nodes": {"model.p.a": {"resource_type": "model", "raw_code": "1"},
                           "model.p.b": {"resource_type": "model", "raw_code": "2"}}}"#,
        );
        let pr = manifest(
            r#"{"nodes": {"model.p.a": {"resource_type": "model", "raw_code": "changed"},
                           "model.p.b": {"resource_type": "model", "raw_code": "2"}},
                "child_map": {"model.p.a": ["model.p.b"], "model.p.b": ["model.p.a", "model.p.b"]}}"#,
        );
        let impact = compare(&base, &pr);
        assert_eq!(impact.modified.len(), 1);
        assert_eq!(impact.modified[0].reasons, [Reason::Body]);
        assert_eq!(impact.impacted.len(), 1);
        assert_eq!(impact.impacted[0].via, "model.p.a");
    }

    #[test]
    fn macro_cycles_end_and_taint_callers() {
        let base = manifest(
            r#"{"nodes": {"model.p.a": {"resource_type": "model", "depends_on": {"macros": ["macro.p.x"]}}},
                "macros": {"macro.p.x": {"macro_sql": "x", "depends_on": {"macros": ["macro.p.y"]}},
                           "macro.p.y": {"macro_sql": "y", "depends_on": {"macros": ["macro.p.x", "macro.p.z"]}},
                           "macro.p.z": {"macro_sql": "z"}}}"#,
        );
        let pr = manifest(
            r#"{"nodes": {"model.p.a": {"resource_type": "model", "depends_on": {"macros": ["macro.p.x"]}}},
                "macros": {"macro.p.x": {"macro_sql": "x", "depends_on": {"macros": ["macro.p.y"]}},
                           "macro.p.y": {"macro_sql": "y", "depends_on": {"macros": ["macro.p.x", "macro.p.z"]}},
                           "macro.p.z": {"macro_sql": "z changed"}}}"#,
        );
        let impact = compare(&base, &pr);
        assert_eq!(impact.modified[0].reasons, [Reason::Macros]);
        assert!(compare(&base, &base).modified.is_empty());
    }

    #[test]
    fn squeezing_whitespace_keeps_strings_whole() {
        use std::io::Read;
        let spaces = " ".repeat(5000);
        let json = format!("{spaces}{{\"a\\\"{spaces}\": [1,{spaces}\"x\\\\\"{spaces}]}}\n\n\t");
        // Small buffers put run ends and escapes across buffer boundaries.
        for capacity in [1, 2, 3, 7, 64, 1 << 16] {
            let mut out = String::new();
            Squeeze::new(std::io::BufReader::with_capacity(capacity, json.as_bytes()))
                .read_to_string(&mut out)
                .unwrap();
            let a: serde_json::Value = serde_json::from_str(&json).unwrap();
            let b: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(a, b, "buffer of {capacity}");
            if capacity >= 64 {
                assert!(
                    out.len() < json.len() - 5000,
                    "buffer of {capacity}: {}",
                    out.len()
                );
            }
        }
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        for bad in [
            "",
            "[]",
            "{\"nodes\": 3}",
            "{\"nodes\": {\"a\": {\"raw_code\": 5}}}",
            "{\"metadata\": {}}",
            "{\"nodes\": {}",
        ] {
            assert!(Manifest::from_slice(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let deep = format!(
            "{{\"nodes\": {{\"a\": {{\"config\": {}{}}}}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(Manifest::from_slice(deep.as_bytes()).is_err());
    }
}
