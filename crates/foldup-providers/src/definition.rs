//! A provider definition: how one CI's documented variables map to facts. Read from TOML (the
//! built-in `providers/*.toml`, or a user's `[providers.NAME]` in foldup.toml) and checked so that
//! every mistake names its key.

use std::sync::OnceLock;

use regex::Regex;
use toml::{Table, Value};

use foldup_core::EventKind;

/// A definition that does not hold together, as one sentence naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError(pub String);

impl std::fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DefinitionError {}

/// The facts a definition may map, besides `commit` and `detect`.
pub const FACT_KEYS: [&str; 9] = [
    "event",
    "pr_number",
    "branch",
    "base_branch",
    "tag",
    "default_branch",
    "repository",
    "build_url",
    "fork",
];

const TOP_KEYS: [&str; 5] = ["name", "docs", "detect", "commit", "display"];
const SOURCE_KEYS: [&str; 5] = ["var", "first", "template", "value", "differs"];
const TRANSFORM_KEYS: [&str; 5] = ["absent", "strip_prefix", "capture", "map", "when"];

/// How the CI is recognised: every variable of `all` set and not empty, and every `equals`
/// variable set to its value (any case).
#[derive(Debug, Clone)]
pub struct Detect {
    pub all: Vec<String>,
    pub equals: Vec<(String, String)>,
}

/// Where a rule's value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The first of these variables that gives a value after the transforms.
    Vars(Vec<String>),
    /// Text with `{VARIABLE}` holes; every variable must be set.
    Template { text: String, vars: Vec<String> },
    /// A fixed value, for a rule with `when`.
    Value(String),
    /// `true` when both variables are set and differ (after the transforms), `false` when equal.
    Differs(String, String),
}

/// One way to read a fact: a source and the transforms applied to its value, in this order:
/// `absent`, `strip_prefix`, `capture`, `map`. `when` decides whether the rule applies at all.
#[derive(Debug, Clone)]
pub struct Rule {
    pub source: Source,
    pub when: Vec<(String, String)>,
    pub absent: Vec<String>,
    pub strip_prefix: Option<String>,
    pub capture: Option<Capture>,
    pub map: Vec<(String, String)>,
}

/// A `capture` pattern, compiled the first time a value goes through it: compiling all the
/// built-in definitions' patterns at start-up took 83% of `foldup env`'s instructions in a GitHub
/// Actions job, where none of them is used (docs/DECISIONS.md, "Provider patterns").
#[derive(Debug, Clone)]
pub struct Capture {
    pattern: String,
    /// How errors name the rule (`providers.acme.pr_number[1]`).
    at: String,
    compiled: OnceLock<Regex>,
}

impl Capture {
    fn new(pattern: &str, at: &str) -> Self {
        Self {
            pattern: pattern.to_owned(),
            at: at.to_owned(),
            compiled: OnceLock::new(),
        }
    }

    /// Compiles the pattern now and checks that it has exactly one group.
    pub fn check(&self) -> Result<&Regex, DefinitionError> {
        if let Some(regex) = self.compiled.get() {
            return Ok(regex);
        }
        let at = &self.at;
        let regex = Regex::new(&self.pattern).map_err(|e| {
            err(format!(
                "{at}.capture is not a valid pattern: {}",
                foldup_core::sanitize_line(&e.to_string())
            ))
        })?;
        if regex.captures_len() != 2 {
            return Err(err(format!(
                "{at}.capture must have exactly one group in parentheses, the part to keep"
            )));
        }
        Ok(self.compiled.get_or_init(|| regex))
    }

    /// The part of `value` the group keeps, if the pattern matches. A pattern that does not
    /// compile matches nothing; [`Definition::check_patterns`] reports it when the definition is
    /// read, and a test checks every built-in one.
    pub fn first_group<'v>(&self, value: &'v str) -> Option<&'v str> {
        Some(self.check().ok()?.captures(value)?.get(1)?.as_str())
    }
}

/// A fact: its rules, the first that gives a value wins.
#[derive(Debug, Clone, Default)]
pub struct Fact {
    pub rules: Vec<Rule>,
}

/// What `built` is on a pull request build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltOnPullRequest {
    /// The pull request's own head commit.
    Head,
    /// A merge commit the CI made: never the commit to report.
    Merge,
}

#[derive(Debug, Clone)]
pub struct CommitSpec {
    /// The commit the build checked out.
    pub built: Fact,
    /// The pull request's head, where the CI names it apart from `built`.
    pub pull_request_head: Fact,
    pub built_on_pull_request: BuiltOnPullRequest,
}

/// One CI.
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    /// The human name (`Bitbucket Pipelines`).
    pub display: String,
    /// The CI's documented variables page.
    pub docs: Option<String>,
    pub detect: Detect,
    pub commit: CommitSpec,
    pub facts: Vec<(&'static str, Fact)>,
}

impl Definition {
    pub fn fact(&self, key: &str) -> Option<&Fact> {
        self.facts.iter().find(|(k, _)| *k == key).map(|(_, f)| f)
    }

    /// Compiles every `capture` pattern now, so that a user's bad pattern is reported when
    /// foldup.toml is read rather than never matching. Built-in patterns wait for first use.
    pub fn check_patterns(&self) -> Result<(), DefinitionError> {
        let commit = [&self.commit.built, &self.commit.pull_request_head];
        commit
            .into_iter()
            .chain(self.facts.iter().map(|(_, fact)| fact))
            .flat_map(|fact| &fact.rules)
            .filter_map(|rule| rule.capture.as_ref())
            .try_for_each(|capture| capture.check().map(|_| ()))
    }

    /// Reads a definition from a TOML table; `at` is how errors name it (`providers.acme`,
    /// `providers/jenkins.toml`).
    pub fn from_table(name: &str, table: &Table, at: &str) -> Result<Definition, DefinitionError> {
        check_name(name, at)?;
        for key in table.keys() {
            if !TOP_KEYS.contains(&key.as_str()) && !FACT_KEYS.contains(&key.as_str()) {
                return Err(err(format!(
                    "{at}: unknown key '{key}'; a provider definition has detect, commit, docs, display and the facts {}",
                    FACT_KEYS.join(", ")
                )));
            }
        }
        let text = |key: &str| -> Result<Option<String>, DefinitionError> {
            match table.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(err(format!("{at}.{key} must be text"))),
            }
        };
        if let Some(given) = text("name")? {
            if given != name {
                return Err(err(format!(
                    "{at}.name is '{given}' but the definition is named '{name}'; make them equal"
                )));
            }
        }
        let display = text("display")?.unwrap_or_else(|| name.to_owned());
        let docs = text("docs")?;
        let detect = detect(table.get("detect"), &format!("{at}.detect"))?;
        let commit = commit(table.get("commit"), &format!("{at}.commit"))?;
        let mut facts = Vec::new();
        for key in FACT_KEYS {
            if let Some(value) = table.get(key) {
                let fact = fact(value, &format!("{at}.{key}"))?;
                if key == "event" {
                    check_event_values(&fact, &format!("{at}.event"))?;
                }
                facts.push((key, fact));
            }
        }
        Ok(Definition {
            name: name.to_owned(),
            display,
            docs,
            detect,
            commit,
            facts,
        })
    }
}

fn err(message: String) -> DefinitionError {
    DefinitionError(message)
}

fn check_name(name: &str, at: &str) -> Result<(), DefinitionError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_lowercase();
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "{at}: provider name '{}' must be lowercase letters, digits and dashes, starting with a letter",
            foldup_core::sanitize_line(name)
        )))
    }
}

fn detect(value: Option<&Value>, at: &str) -> Result<Detect, DefinitionError> {
    let Some(value) = value else {
        return Err(err(format!(
            "{at} is missing: say which variables only this CI sets, for example detect = {{ all = [\"MY_CI_BUILD_ID\"] }}"
        )));
    };
    let Value::Table(table) = value else {
        return Err(err(format!(
            "{at} must be a table with all = [variables] and/or equals = {{ VARIABLE = \"value\" }}"
        )));
    };
    let mut all = Vec::new();
    let mut equals = Vec::new();
    for (key, value) in table {
        match key.as_str() {
            "all" => all = names(value, &format!("{at}.all"))?,
            "equals" => equals = pairs(value, &format!("{at}.equals"))?,
            other => {
                return Err(err(format!(
                    "{at}: unknown key '{other}'; detect takes all and equals"
                )))
            }
        }
    }
    if all.is_empty() && equals.is_empty() {
        return Err(err(format!(
            "{at} names no variable; list the variables only this CI sets in all or equals"
        )));
    }
    Ok(Detect { all, equals })
}

fn commit(value: Option<&Value>, at: &str) -> Result<CommitSpec, DefinitionError> {
    let Some(Value::Table(table)) = value else {
        return Err(err(format!(
            "{at} is missing: a provider needs a commit source, for example [commit] built = {{ var = \"MY_CI_COMMIT\" }}"
        )));
    };
    for key in table.keys() {
        if !["built", "pull_request_head", "built_on_pull_request"].contains(&key.as_str()) {
            return Err(err(format!(
                "{at}: unknown key '{key}'; commit takes built, pull_request_head and built_on_pull_request"
            )));
        }
    }
    let Some(built) = table.get("built") else {
        return Err(err(format!(
            "{at}.built is missing: a provider needs a commit source, the variable holding the commit the build checked out"
        )));
    };
    let built = fact(built, &format!("{at}.built"))?;
    let pull_request_head = match table.get("pull_request_head") {
        Some(v) => fact(v, &format!("{at}.pull_request_head"))?,
        None => Fact::default(),
    };
    let built_on_pull_request = match table.get("built_on_pull_request") {
        None => BuiltOnPullRequest::Head,
        Some(Value::String(s)) if s == "head" => BuiltOnPullRequest::Head,
        Some(Value::String(s)) if s == "merge" => BuiltOnPullRequest::Merge,
        Some(_) => {
            return Err(err(format!(
                "{at}.built_on_pull_request must be \"head\" or \"merge\""
            )))
        }
    };
    Ok(CommitSpec {
        built,
        pull_request_head,
        built_on_pull_request,
    })
}

/// A fact is one rule (a table) or several (an array of tables, the first that gives a value
/// wins).
fn fact(value: &Value, at: &str) -> Result<Fact, DefinitionError> {
    let rules = match value {
        Value::Table(table) => vec![rule(table, at)?],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Table(table) => rule(table, &format!("{at}[{i}]")),
                _ => Err(err(format!(
                    "{at}[{i}] must be a table like {{ var = \"NAME\" }}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(err(format!(
                "{at} must be a rule like {{ var = \"NAME\" }} or a list of rules"
            )))
        }
    };
    Ok(Fact { rules })
}

fn rule(table: &Table, at: &str) -> Result<Rule, DefinitionError> {
    for key in table.keys() {
        if !SOURCE_KEYS.contains(&key.as_str()) && !TRANSFORM_KEYS.contains(&key.as_str()) {
            return Err(err(format!(
                "{at}: unknown transform '{}'; a rule has one source ({}) and the transforms {}",
                foldup_core::sanitize_line(key),
                SOURCE_KEYS.join(", "),
                TRANSFORM_KEYS.join(", ")
            )));
        }
    }
    let given: Vec<&str> = SOURCE_KEYS
        .into_iter()
        .filter(|k| table.contains_key(*k))
        .collect();
    let source = match given.as_slice() {
        ["var"] => Source::Vars(vec![name(&table["var"], &format!("{at}.var"))?]),
        ["first"] => {
            let vars = names(&table["first"], &format!("{at}.first"))?;
            if vars.is_empty() {
                return Err(err(format!("{at}.first names no variable")));
            }
            Source::Vars(vars)
        }
        ["template"] => {
            let Value::String(text) = &table["template"] else {
                return Err(err(format!(
                    "{at}.template must be text with {{VARIABLE}} holes"
                )));
            };
            let vars = template_vars(text, &format!("{at}.template"))?;
            Source::Template {
                text: text.clone(),
                vars,
            }
        }
        ["value"] => {
            let value = match &table["value"] {
                Value::String(s) => s.clone(),
                Value::Boolean(b) => b.to_string(),
                _ => return Err(err(format!("{at}.value must be text or true/false"))),
            };
            if !table.contains_key("when") {
                return Err(err(format!(
                    "{at}: a fixed value needs when = {{ VARIABLE = \"value\" }} to say when it applies"
                )));
            }
            Source::Value(value)
        }
        ["differs"] => {
            let vars = names(&table["differs"], &format!("{at}.differs"))?;
            let [a, b] = <[String; 2]>::try_from(vars)
                .map_err(|_| err(format!("{at}.differs must name exactly two variables")))?;
            Source::Differs(a, b)
        }
        [] => {
            return Err(err(format!(
                "{at} has no source; give one of {}",
                SOURCE_KEYS.join(", ")
            )))
        }
        several => {
            return Err(err(format!(
                "{at} has several sources ({}); give exactly one, or a list of rules",
                several.join(", ")
            )))
        }
    };
    let absent = match table.get("absent") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(err(format!("{at}.absent must be a list of text"))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(err(format!(
                "{at}.absent must be a list of text, like [\"false\"]"
            )))
        }
    };
    let strip_prefix = match table.get("strip_prefix") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(err(format!("{at}.strip_prefix must be text"))),
    };
    let capture = match table.get("capture") {
        None => None,
        Some(Value::String(pattern)) => Some(Capture::new(pattern, at)),
        Some(_) => return Err(err(format!("{at}.capture must be text (a pattern)"))),
    };
    let map = match table.get("map") {
        None => Vec::new(),
        Some(value) => pairs(value, &format!("{at}.map"))?,
    };
    let when = match table.get("when") {
        None => Vec::new(),
        Some(value) => pairs(value, &format!("{at}.when"))?,
    };
    Ok(Rule {
        source,
        when,
        absent,
        strip_prefix,
        capture,
        map,
    })
}

fn check_event_values(fact: &Fact, at: &str) -> Result<(), DefinitionError> {
    for rule in &fact.rules {
        let mut words: Vec<&str> = rule.map.iter().map(|(_, to)| to.as_str()).collect();
        if let Source::Value(value) = &rule.source {
            words.push(value);
        }
        for word in words {
            if !EventKind::WORDS.contains(&word) {
                return Err(err(format!(
                    "{at}: '{}' is not an event kind; use one of {}",
                    foldup_core::sanitize_line(word),
                    EventKind::WORDS.join(", ")
                )));
            }
        }
    }
    Ok(())
}

fn is_variable_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

fn name(value: &Value, at: &str) -> Result<String, DefinitionError> {
    match value {
        Value::String(s) if is_variable_name(s) => Ok(s.clone()),
        Value::String(s) => Err(err(format!(
            "{at}: '{}' is not a variable name (letters, digits and _)",
            foldup_core::sanitize_line(s)
        ))),
        _ => Err(err(format!("{at} must be a variable name in quotes"))),
    }
}

fn names(value: &Value, at: &str) -> Result<Vec<String>, DefinitionError> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| name(v, &format!("{at}[{i}]")))
            .collect(),
        _ => Err(err(format!("{at} must be a list of variable names"))),
    }
}

fn pairs(value: &Value, at: &str) -> Result<Vec<(String, String)>, DefinitionError> {
    let Value::Table(table) = value else {
        return Err(err(format!(
            "{at} must be a table like {{ NAME = \"value\" }}"
        )));
    };
    table
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(err(format!("{at}.{k} must be text"))),
        })
        .collect()
}

fn template_vars(text: &str, at: &str) -> Result<Vec<String>, DefinitionError> {
    let mut vars = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(err(format!("{at}: a '{{' is not closed")));
        };
        let var = &after[..close];
        if !is_variable_name(var) {
            return Err(err(format!(
                "{at}: '{{{}}}' does not name a variable",
                foldup_core::sanitize_line(var)
            )));
        }
        vars.push(var.to_owned());
        rest = &after[close + 1..];
    }
    if vars.is_empty() {
        return Err(err(format!("{at} has no {{VARIABLE}} hole")));
    }
    Ok(vars)
}
