//! Reading a manifest: only the fields dbt's state comparison looks at, streamed from the file.
//!
//! Each node is deserialized into a small owned record ([`RawEntry`]), reduced at once to its
//! [`Facts`] (digests of the compared fields, the flags the comparison needs and its macro
//! dependencies) and dropped, so memory holds the facts, never the manifest.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::Read;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// The parts of a manifest the comparison needs.
#[derive(Debug, Default)]
pub struct Manifest {
    pub dbt_version: Option<String>,
    pub adapter_type: Option<String>,
    /// Every selectable resource (nodes, sources, exposures, metrics, semantic models, saved
    /// queries, unit tests) by unique id.
    pub entries: HashMap<String, Facts>,
    /// Macro unique id → its facts.
    pub macros: HashMap<String, MacroFacts>,
    /// Unique ids of disabled resources.
    pub disabled: HashSet<String>,
    /// The manifest's `child_map`.
    pub child_map: HashMap<String, Vec<String>>,
}

/// The kinds of resource, as dbt's classes tell them apart for the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Model,
    /// Seeds, snapshots, analyses, hooks, SQL operations: dbt's `ParsedNode` rules.
    OtherNode,
    Seed,
    SingularTest,
    GenericTest,
    Source,
    Exposure,
    Metric,
    SemanticModel,
    SavedQuery,
    UnitTest,
}

/// What the comparison needs of one resource.
#[derive(Debug, Clone)]
pub struct Facts {
    pub resource_type: String,
    pub kind: Kind,
    /// `raw_code` (the seed's file checksum for seeds).
    pub body: u64,
    /// The unrendered config, with the keys dbt's config class leaves out of the comparison.
    pub config: u64,
    /// Database, schema and alias (or identifier) as configured.
    pub relation: u64,
    pub fqn: u64,
    /// Models: `latest_version`, `access`, `deprecation_date`.
    pub reference: u64,
    /// The kind's other compared properties (source quoting and freshness, exposure owner, …).
    pub properties: u64,
    pub description: u64,
    pub column_descriptions: u64,
    pub persist_relation_docs: bool,
    pub persist_column_docs: bool,
    pub contract_enforced: bool,
    pub contract_checksum: Option<String>,
    pub macros: Vec<String>,
}

/// What the comparison needs of one macro.
#[derive(Debug, Clone)]
pub struct MacroFacts {
    pub sql: u64,
    pub macros: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DependsOn {
    #[serde(default)]
    macros: Vec<String>,
    #[serde(default)]
    nodes: Vec<String>,
}

/// The owned fields of one resource, as read; reduced to [`Facts`] straight away.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawEntry {
    resource_type: String,
    raw_code: Option<String>,
    checksum: Value,
    config: Value,
    unrendered_config: Value,
    description: Option<String>,
    columns: Value,
    fqn: Value,
    latest_version: Value,
    access: Value,
    deprecation_date: Value,
    contract: Value,
    depends_on: Option<DependsOn>,
    test_metadata: Option<IgnoredAny>,
    // Sources.
    database: Value,
    schema: Value,
    identifier: Value,
    quoting: Value,
    freshness: Value,
    loaded_at_field: Value,
    external: Value,
    // Exposures, metrics, semantic models, saved queries.
    #[serde(rename = "type")]
    kind: Value,
    owner: Value,
    maturity: Value,
    url: Value,
    label: Value,
    model: Value,
    defaults: Value,
    entities: Value,
    dimensions: Value,
    measures: Value,
    primary_entity: Value,
    group: Value,
    query_params: Value,
    exports: Value,
    tags: Value,
}

/// Keys of `NodeAndTestConfig` that dbt marks `CompareBehavior.Exclude`.
const NODE_CONFIG_EXCLUDED: &[&str] = &["alias", "schema", "database", "tags", "group"];
/// The only keys `TestConfig.same_contents` compares.
const TEST_CONFIG_MODIFIERS: &[&str] = &[
    "severity",
    "where",
    "limit",
    "fail_calc",
    "warn_if",
    "error_if",
    "store_failures",
    "store_failures_as",
];

fn kind_of(raw: &RawEntry, collection: Collection) -> Kind {
    match collection {
        Collection::Sources => Kind::Source,
        Collection::Exposures => Kind::Exposure,
        Collection::Metrics => Kind::Metric,
        Collection::SemanticModels => Kind::SemanticModel,
        Collection::SavedQueries => Kind::SavedQuery,
        Collection::UnitTests => Kind::UnitTest,
        Collection::Nodes => match raw.resource_type.as_str() {
            "model" => Kind::Model,
            "seed" => Kind::Seed,
            "test" if raw.test_metadata.is_some() => Kind::GenericTest,
            "test" => Kind::SingularTest,
            _ => Kind::OtherNode,
        },
    }
}

impl RawEntry {
    fn into_facts(self, collection: Collection) -> Facts {
        let kind = kind_of(&self, collection);
        let config_digest = match kind {
            Kind::GenericTest | Kind::SingularTest => map_digest(&self.unrendered_config, |k| {
                TEST_CONFIG_MODIFIERS.contains(&k)
            }),
            Kind::Model | Kind::Seed | Kind::OtherNode => {
                map_digest(&self.unrendered_config, |k| {
                    !NODE_CONFIG_EXCLUDED.contains(&k)
                })
            }
            Kind::Metric => map_digest(&self.unrendered_config, |k| k != "group"),
            Kind::Source | Kind::Exposure => map_digest(&self.unrendered_config, |_| true),
            // These compare the rendered config.
            Kind::SemanticModel | Kind::SavedQuery => digest(&self.config),
            Kind::UnitTest => 0,
        };
        let relation = match kind {
            // The legacy rule of `state_modified_compare_more_unrendered_values` (off by default).
            Kind::Source => digest_all(&[&self.database, &self.schema, &self.identifier]),
            _ => {
                let get = |key: &str| -> &Value {
                    self.unrendered_config.get(key).unwrap_or(&Value::Null)
                };
                digest_all(&[get("database"), get("schema"), get("alias")])
            }
        };
        let body = match kind {
            Kind::Seed => digest(&self.checksum),
            Kind::UnitTest => digest(&self.checksum),
            _ => self.raw_code.as_deref().map_or(0, str_digest),
        };
        let properties = match kind {
            Kind::Source => digest_all(&[
                &self.quoting,
                &self.freshness,
                &self.loaded_at_field,
                &self.external,
            ]),
            Kind::Exposure => {
                let mut nodes: Vec<&str> = self
                    .depends_on
                    .as_ref()
                    .map(|d| d.nodes.iter().map(String::as_str).collect())
                    .unwrap_or_default();
                nodes.sort_unstable();
                nodes.dedup();
                let mut h = hasher();
                digest_into(&self.kind, &mut h);
                digest_into(&self.owner, &mut h);
                digest_into(&self.maturity, &mut h);
                digest_into(&self.url, &mut h);
                digest_into(&self.label, &mut h);
                self.description.hash(&mut h);
                nodes.hash(&mut h);
                h.finish()
            }
            Kind::Metric => {
                let mut h = hasher();
                digest_into(&self.kind, &mut h);
                digest_into(&self.label, &mut h);
                self.description.hash(&mut h);
                h.finish()
            }
            Kind::SemanticModel => {
                let mut h = hasher();
                for v in [
                    &self.model,
                    &self.defaults,
                    &self.entities,
                    &self.dimensions,
                    &self.measures,
                    &self.primary_entity,
                    &self.group,
                ] {
                    digest_into(v, &mut h);
                }
                self.description.hash(&mut h);
                h.finish()
            }
            Kind::SavedQuery => {
                let mut h = hasher();
                for key in ["metrics", "group_by", "where"] {
                    digest_into(self.query_params.get(key).unwrap_or(&Value::Null), &mut h);
                }
                digest_into(&self.label, &mut h);
                digest_into(&self.group, &mut h);
                digest_into(&self.tags, &mut h);
                self.description.hash(&mut h);
                let exports = self.exports.as_array().map(Vec::as_slice).unwrap_or(&[]);
                exports.len().hash(&mut h);
                for export in exports {
                    digest_into(export.get("name").unwrap_or(&Value::Null), &mut h);
                    let unrendered = export.get("unrendered_config");
                    for key in ["export_as", "schema", "alias"] {
                        let v = unrendered.and_then(|u| u.get(key)).unwrap_or(&Value::Null);
                        digest_into(v, &mut h);
                    }
                }
                h.finish()
            }
            _ => 0,
        };
        let persist = |key: &str| {
            self.config
                .get("persist_docs")
                .and_then(|p| p.get(key))
                .is_some_and(truthy)
        };
        let has_persist_docs = matches!(kind, Kind::Model | Kind::Seed | Kind::OtherNode);
        let column_descriptions = {
            let mut pairs: Vec<(&str, &Value)> = self
                .columns
                .as_object()
                .map(|columns| {
                    columns
                        .iter()
                        .map(|(name, col)| {
                            (
                                name.as_str(),
                                col.get("description").unwrap_or(&Value::Null),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let mut h = hasher();
            pairs.len().hash(&mut h);
            for (name, description) in pairs {
                name.hash(&mut h);
                digest_into(description, &mut h);
            }
            h.finish()
        };
        let reference = digest_all(&[&self.latest_version, &self.access, &self.deprecation_date]);
        let contract_enforced = self
            .contract
            .get("enforced")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let contract_checksum = self
            .contract
            .get("checksum")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Facts {
            kind,
            body,
            config: config_digest,
            relation,
            fqn: digest(&self.fqn),
            reference,
            properties,
            description: self.description.as_deref().map_or(0, str_digest),
            column_descriptions,
            persist_relation_docs: has_persist_docs && persist("relation"),
            persist_column_docs: has_persist_docs && persist("columns"),
            contract_enforced,
            contract_checksum,
            macros: self.depends_on.map(|d| d.macros).unwrap_or_default(),
            resource_type: self.resource_type,
        }
    }
}

/// Python's truthiness, for `bool(persist_docs.get(...))`.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn hasher() -> std::collections::hash_map::DefaultHasher {
    std::collections::hash_map::DefaultHasher::new()
}

fn str_digest(s: &str) -> u64 {
    let mut h = hasher();
    s.hash(&mut h);
    h.finish()
}

fn digest(v: &Value) -> u64 {
    let mut h = hasher();
    digest_into(v, &mut h);
    h.finish()
}

fn digest_all(values: &[&Value]) -> u64 {
    let mut h = hasher();
    for v in values {
        digest_into(v, &mut h);
    }
    h.finish()
}

/// The digest of the object's entries whose key passes `keep`, in key order (Python's dict
/// equality ignores order); a missing key and a key absent from the object are the same.
fn map_digest(v: &Value, keep: impl Fn(&str) -> bool) -> u64 {
    let mut h = hasher();
    if let Some(map) = v.as_object() {
        let mut keys: Vec<&String> = map.keys().filter(|k| keep(k)).collect();
        keys.sort_unstable();
        for key in keys {
            key.hash(&mut h);
            digest_into(&map[key.as_str()], &mut h);
        }
    }
    h.finish()
}

/// Feeds a JSON value to the hasher so that equal values (Python's equality: objects in any key
/// order) hash the same. Values are at most serde_json's nesting limit deep.
fn digest_into(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => {
            1u8.hash(h);
            b.hash(h);
        }
        Value::Number(n) => {
            2u8.hash(h);
            match n.as_f64() {
                // 1 and 1.0 are equal in Python.
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => (f as i64).hash(h),
                _ => n.to_string().hash(h),
            }
        }
        Value::String(s) => {
            3u8.hash(h);
            s.hash(h);
        }
        Value::Array(items) => {
            4u8.hash(h);
            items.len().hash(h);
            for item in items {
                digest_into(item, h);
            }
        }
        Value::Object(map) => {
            5u8.hash(h);
            map.len().hash(h);
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            for key in keys {
                key.hash(h);
                digest_into(&map[key.as_str()], h);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Collection {
    Nodes,
    Sources,
    Exposures,
    Metrics,
    SemanticModels,
    SavedQueries,
    UnitTests,
}

/// Deserializes one collection straight into the shared map of facts.
struct CollectionSeed<'m> {
    collection: Collection,
    into: &'m mut HashMap<String, Facts>,
}

impl<'de> serde::de::DeserializeSeed<'de> for CollectionSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for CollectionSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of resources by unique id")
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            let raw: RawEntry = map.next_value()?;
            self.into.insert(key, raw.into_facts(self.collection));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawMacro {
    #[serde(default)]
    macro_sql: String,
    #[serde(default)]
    depends_on: Option<DependsOn>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    dbt_version: Option<String>,
    adapter_type: Option<String>,
}

struct ManifestVisitor;

impl<'de> Visitor<'de> for ManifestVisitor {
    type Value = Manifest;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a dbt manifest (a JSON object with \"nodes\")")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Manifest, A::Error> {
        let mut manifest = Manifest::default();
        let mut saw_nodes = false;
        while let Some(key) = map.next_key::<String>()? {
            let collection = match key.as_str() {
                "nodes" => {
                    saw_nodes = true;
                    Some(Collection::Nodes)
                }
                "sources" => Some(Collection::Sources),
                "exposures" => Some(Collection::Exposures),
                "metrics" => Some(Collection::Metrics),
                "semantic_models" => Some(Collection::SemanticModels),
                "saved_queries" => Some(Collection::SavedQueries),
                "unit_tests" => Some(Collection::UnitTests),
                _ => None,
            };
            if let Some(collection) = collection {
                map.next_value_seed(CollectionSeed {
                    collection,
                    into: &mut manifest.entries,
                })?;
                continue;
            }
            match key.as_str() {
                "metadata" => {
                    let metadata: Option<Metadata> = map.next_value()?;
                    let metadata = metadata.unwrap_or_default();
                    manifest.dbt_version = metadata.dbt_version;
                    manifest.adapter_type = metadata.adapter_type;
                }
                "macros" => {
                    let macros: Option<HashMap<String, RawMacro>> = map.next_value()?;
                    manifest.macros = macros
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(id, m)| {
                            let facts = MacroFacts {
                                sql: str_digest(&m.macro_sql),
                                macros: m.depends_on.map(|d| d.macros).unwrap_or_default(),
                            };
                            (id, facts)
                        })
                        .collect();
                }
                "disabled" => {
                    let disabled: Option<HashMap<String, IgnoredAny>> = map.next_value()?;
                    manifest.disabled = disabled.unwrap_or_default().into_keys().collect();
                }
                "child_map" => {
                    let child_map: Option<HashMap<String, Vec<String>>> = map.next_value()?;
                    manifest.child_map = child_map.unwrap_or_default();
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !saw_nodes {
            return Err(serde::de::Error::custom(
                "it has no \"nodes\", so it is not a dbt manifest",
            ));
        }
        Ok(manifest)
    }
}

impl<'de> Deserialize<'de> for Manifest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ManifestVisitor)
    }
}

impl Manifest {
    /// Reads a manifest from a reader (wrap files in a `BufReader`).
    pub fn from_reader(reader: impl Read) -> Result<Manifest, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_reader(reader);
        let manifest = Manifest::deserialize(&mut de)?;
        de.end()?;
        Ok(manifest)
    }

    /// Reads a manifest from a buffered reader through [`Squeeze`]; the error says whether long
    /// runs of whitespace were squeezed (its line and column are then not the file's).
    pub fn from_buf_read(
        reader: impl std::io::BufRead,
    ) -> Result<Manifest, (serde_json::Error, bool)> {
        let mut squeeze = Squeeze::new(reader);
        let mut de = serde_json::Deserializer::from_reader(&mut squeeze);
        let result = Manifest::deserialize(&mut de).and_then(|m| de.end().map(|()| m));
        drop(de);
        result.map_err(|e| (e, squeeze.squeezed > 0))
    }

    /// Reads a manifest held in memory.
    pub fn from_slice(bytes: &[u8]) -> Result<Manifest, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Runs of JSON whitespace at least this long (outside strings) are handed on as one space.
const SQUEEZE_AFTER: usize = 64;

/// A reader that hands on JSON with long runs of whitespace between tokens squeezed to one space,
/// so that a file of a gigabyte of blanks costs a scan, not a gigabyte of parser steps.
/// Strings pass through untouched.
pub struct Squeeze<R> {
    inner: R,
    in_string: bool,
    escaped: bool,
    /// How many runs were squeezed: the parser's line and column numbers are then off.
    pub squeezed: u64,
}

impl<R: std::io::BufRead> Squeeze<R> {
    pub fn new(inner: R) -> Self {
        Squeeze {
            inner,
            in_string: false,
            escaped: false,
            squeezed: 0,
        }
    }
}

fn json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

impl<R: std::io::BufRead> Read for Squeeze<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            let mut used = 0;
            while used < buf.len() && written < out.len() {
                let b = buf[used];
                if self.in_string {
                    if self.escaped {
                        self.escaped = false;
                    } else if b == b'\\' {
                        self.escaped = true;
                    } else if b == b'"' {
                        self.in_string = false;
                    }
                } else if b == b'"' {
                    self.in_string = true;
                } else if json_whitespace(b) {
                    let run = buf[used..]
                        .iter()
                        .position(|b| !json_whitespace(*b))
                        .unwrap_or(buf.len() - used);
                    if run >= SQUEEZE_AFTER || used + run == buf.len() && run > 1 {
                        // Hand on one blank for the run (its end may lie in the next buffer,
                        // where it is squeezed again).
                        out[written] = b' ';
                        written += 1;
                        used += run;
                        self.squeezed += 1;
                        continue;
                    }
                }
                out[written] = b;
                written += 1;
                used += 1;
            }
            self.inner.consume(used);
        }
        Ok(written)
    }
}
