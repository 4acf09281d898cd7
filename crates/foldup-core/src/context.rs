use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{json, Map, Value};

/// The kind of build Datafold is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunType {
    PullRequest,
    Production,
}

impl RunType {
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::PullRequest => "pull_request",
            RunType::Production => "production",
        }
    }
}

impl fmt::Display for RunType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pull_request" | "pull-request" | "pr" => Ok(RunType::PullRequest),
            "production" | "prod" => Ok(RunType::Production),
            other => Err(format!(
                "run type '{other}' is not one of pull_request, production (or auto to detect it)"
            )),
        }
    }
}

/// A full, lowercase, 40-hex-digit git commit id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CommitSha(String);

impl CommitSha {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for CommitSha {
    type Err = String;

    /// Accepts exactly 40 hex digits in any case; Datafold matches commits by the full id, so a
    /// short sha would silently never match.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(CommitSha(s.to_ascii_lowercase()))
        } else if s.bytes().all(|b| b.is_ascii_hexdigit()) && !s.is_empty() {
            Err(format!(
                "commit sha '{}' has {} hex digits; give the full 40-digit sha (git rev-parse HEAD prints it)",
                foldup_logtext::shown(s),
                s.len()
            ))
        } else {
            Err(format!(
                "commit sha '{}' is not a 40-digit hex git commit id; give the full sha (git rev-parse HEAD prints it)",
                foldup_logtext::shown(s)
            ))
        }
    }
}

/// A value together with where it came from, or why it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: Option<T>,
    /// For a value: where it came from (`"GITHUB_SHA"`, `"flag --commit-sha"`). For a missing
    /// value: why it is missing, when that is worth saying.
    pub source: Option<String>,
}

impl<T> Default for Sourced<T> {
    fn default() -> Self {
        Self {
            value: None,
            source: None,
        }
    }
}

impl<T> Sourced<T> {
    pub fn new(value: T, source: impl Into<String>) -> Self {
        Self {
            value: Some(value),
            source: Some(source.into()),
        }
    }

    /// A missing value with the reason it is missing.
    pub fn missing(reason: impl Into<String>) -> Self {
        Self {
            value: None,
            source: Some(reason.into()),
        }
    }

    pub fn unknown() -> Self {
        Self::default()
    }

    pub fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }

    pub fn is_some(&self) -> bool {
        self.value.is_some()
    }

    /// Keeps `self` when it has a value, else takes `other`.
    pub fn or(self, other: Sourced<T>) -> Sourced<T> {
        if self.value.is_some() {
            self
        } else {
            other
        }
    }
}

/// Everything foldup knows about the CI run, each value with its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiContext {
    /// The plugin's name: `github-actions`, `gitlab-ci`, `circleci`, `local`, …
    pub provider: String,
    pub commit_sha: Sourced<CommitSha>,
    pub run_type: Sourced<RunType>,
    pub pr_number: Sourced<u64>,
    pub branch: Sourced<String>,
    pub base_branch: Sourced<String>,
    pub default_branch: Sourced<String>,
    pub repository: Sourced<String>,
    pub build_url: Sourced<String>,
    /// Whether this is a pull request from a fork (secrets are withheld from those builds).
    pub fork: Sourced<bool>,
    /// Whether the CI withholds secrets from this build although it is not a fork (Dependabot's
    /// pull requests on GitHub): without an API key the upload is skipped with a notice, as for
    /// forks.
    pub secrets_withheld: Sourced<bool>,
    /// Things the user should know: fallbacks taken, look-ups that failed.
    pub warnings: Vec<String>,
}

impl CiContext {
    pub fn new(provider: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            ..Self::default()
        }
    }

    /// Whether this build is a pull request from a fork.
    pub fn is_fork(&self) -> bool {
        self.fork.value == Some(true)
    }

    /// The fields of the `env --json` schema, in order, with their values as JSON.
    fn schema_fields(&self) -> [(&'static str, Value, Option<&str>); 9] {
        fn field<'a, T: Serialize>(
            name: &'static str,
            s: &'a Sourced<T>,
        ) -> (&'static str, Value, Option<&'a str>) {
            (name, json!(s.value), s.source.as_deref())
        }
        [
            ("provider", json!(self.provider), None),
            field("commit_sha", &self.commit_sha),
            field("run_type", &self.run_type),
            field("pr_number", &self.pr_number),
            field("branch", &self.branch),
            field("base_branch", &self.base_branch),
            field("default_branch", &self.default_branch),
            field("repository", &self.repository),
            field("build_url", &self.build_url),
        ]
    }

    /// The `foldup env --json` object, exactly PRODUCT.md's schema.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        let mut sources = Map::new();
        for (name, value, source) in self.schema_fields() {
            out.insert(name.to_owned(), value);
            if let Some(source) = source {
                sources.insert(name.to_owned(), Value::String(source.to_owned()));
            }
        }
        out.insert("sources".to_owned(), Value::Object(sources));
        Value::Object(out)
    }

    /// The human form of `foldup env`: one line per value with its source. Values come from
    /// branch names and other text people choose, so each is made safe for one line: a line
    /// break in a branch name must not start a forged log line or workflow command.
    pub fn to_human(&self) -> String {
        let mut out = String::new();
        for (name, value, source) in self.schema_fields() {
            let shown = match &value {
                Value::Null => "(none)".to_owned(),
                Value::String(s) => crate::sanitize_line(s),
                other => other.to_string(),
            };
            out.push_str(&format!("{name:<15} {shown}"));
            if let Some(source) = source {
                out.push_str(&format!("    ← {}", crate::sanitize_line(source)));
            }
            out.push('\n');
        }
        if self.is_fork() {
            let source = crate::sanitize_line(self.fork.source.as_deref().unwrap_or(""));
            out.push_str(&format!("{:<15} yes    ← {source}\n", "fork"));
        }
        if self.secrets_withheld.value == Some(true) {
            let source =
                crate::sanitize_line(self.secrets_withheld.source.as_deref().unwrap_or(""));
            out.push_str(&format!("{:<15} yes    ← {source}\n", "no secrets"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_sha_accepts_only_full_hex_and_lowercases() {
        let sha: CommitSha = "ABCDEF0123456789abcdef0123456789ABCDEF01".parse().unwrap();
        assert_eq!(sha.as_str(), "abcdef0123456789abcdef0123456789abcdef01");
        let short = "abc1234".parse::<CommitSha>().unwrap_err();
        assert!(short.contains("7 hex digits"), "{short}");
        let bad = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
            .parse::<CommitSha>()
            .unwrap_err();
        assert!(bad.contains("not a 40-digit hex"), "{bad}");
    }

    #[test]
    fn json_has_exactly_the_schema_keys() {
        let mut ctx = CiContext::new("local");
        ctx.pr_number = Sourced::new(42, "FOO");
        ctx.run_type = Sourced::missing("tag build");
        let json = ctx.to_json();
        let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        let mut expected = vec![
            "provider",
            "commit_sha",
            "run_type",
            "pr_number",
            "branch",
            "base_branch",
            "default_branch",
            "repository",
            "build_url",
            "sources",
        ];
        expected.sort();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(keys_sorted, expected);
        assert_eq!(json["pr_number"], 42);
        assert_eq!(json["run_type"], Value::Null);
        assert_eq!(json["sources"]["run_type"], "tag build");
        assert_eq!(json["sources"]["pr_number"], "FOO");
    }

    #[test]
    fn run_type_parses_common_spellings_and_explains_bad_ones() {
        assert_eq!(
            "pull_request".parse::<RunType>().unwrap(),
            RunType::PullRequest
        );
        assert_eq!(
            "Production".parse::<RunType>().unwrap(),
            RunType::Production
        );
        assert!("nightly"
            .parse::<RunType>()
            .unwrap_err()
            .contains("pull_request, production"));
    }
}
