//! The long tail of CIs as data. Each CI is one definition (`providers/*.toml`, built into the
//! binary) that maps the CI's documented variables to facts; `foldup_core::compose` applies
//! PRODUCT.md's rules to them. Users define their own in foldup.toml as `[providers.NAME]`, in the
//! same format.

mod definition;

use foldup_core::{
    async_trait, compose, CiContext, CiProvider, CommitCandidate, CommitMeaning, DetectError,
    DetectOptions, Env, EventKind, Facts, Sourced,
};

pub use definition::{
    BuiltOnPullRequest, Capture, Definition, DefinitionError, Fact, Rule, Source,
};

/// The built-in definitions, in detection order: a CI whose variables another also sets comes
/// first (Harness sets Drone's variables, so it is asked before Drone).
pub const BUILTIN: [(&str, &str); 12] = [
    (
        "bitbucket-pipelines",
        include_str!("../providers/bitbucket-pipelines.toml"),
    ),
    (
        "azure-pipelines",
        include_str!("../providers/azure-pipelines.toml"),
    ),
    ("jenkins", include_str!("../providers/jenkins.toml")),
    ("buildkite", include_str!("../providers/buildkite.toml")),
    (
        "aws-codebuild",
        include_str!("../providers/aws-codebuild.toml"),
    ),
    (
        "google-cloud-build",
        include_str!("../providers/google-cloud-build.toml"),
    ),
    ("harness", include_str!("../providers/harness.toml")),
    ("drone", include_str!("../providers/drone.toml")),
    ("woodpecker", include_str!("../providers/woodpecker.toml")),
    ("travis-ci", include_str!("../providers/travis-ci.toml")),
    ("semaphore", include_str!("../providers/semaphore.toml")),
    ("bitrise", include_str!("../providers/bitrise.toml")),
];

/// A CI defined as data.
#[derive(Debug, Clone)]
pub struct DataProvider {
    definition: Definition,
    /// `CiProvider::name` is `&'static`: a provider's name lives as long as the process.
    name: &'static str,
}

impl DataProvider {
    pub fn new(definition: Definition) -> Self {
        let name: &'static str = Box::leak(definition.name.clone().into_boxed_str());
        Self { definition, name }
    }

    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// What the variables say, before any rule.
    pub fn facts(&self, env: &Env) -> Facts {
        let def = &self.definition;
        let mut facts = Facts::new(def.name.clone());
        let mut warnings = Vec::new();
        let text = |key: &str| -> Sourced<String> {
            def.fact(key)
                .and_then(|f| read(f, env))
                .map(|(v, s)| Sourced::new(v, s))
                .unwrap_or_default()
        };
        facts.branch = text("branch");
        facts.base_branch = text("base_branch");
        facts.tag = text("tag");
        facts.default_branch = text("default_branch");
        facts.repository = text("repository");
        facts.build_url = text("build_url");
        facts.event = match def.fact("event").and_then(|f| read(f, env)) {
            Some((word, source)) => {
                let kind = EventKind::from_word(&word);
                let source = if source.contains('=') {
                    source
                } else {
                    format!("{source}={}", foldup_core::sanitize_line(&word))
                };
                Sourced::new(kind, source)
            }
            None => Sourced::unknown(),
        };
        facts.pr_number = match def.fact("pr_number").and_then(|f| read(f, env)) {
            Some((raw, source)) => match raw.trim().trim_start_matches('#').parse::<u64>() {
                Ok(n) if n > 0 => Sourced::new(n, source),
                _ => {
                    warnings.push(format!(
                        "ignoring {source} '{}': it is not a pull request number",
                        foldup_core::sanitize_line(&raw)
                    ));
                    Sourced::unknown()
                }
            },
            None => Sourced::unknown(),
        };
        facts.fork = match def.fact("fork").and_then(|f| read(f, env)) {
            Some((raw, source)) => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Sourced::new(true, source),
                "false" | "0" | "no" => Sourced::new(false, source),
                _ => Sourced::unknown(),
            },
            None => Sourced::unknown(),
        };
        let is_pr = facts.event_kind().value == Some(EventKind::PullRequest);
        if let Some((sha, source)) = read(&def.commit.pull_request_head, env) {
            if is_pr {
                facts.commits.push(CommitCandidate {
                    sha,
                    meaning: CommitMeaning::PullRequestHead,
                    source,
                });
            }
        }
        if let Some((sha, source)) = read(&def.commit.built, env) {
            let meaning = match (is_pr, def.commit.built_on_pull_request) {
                (true, BuiltOnPullRequest::Merge) => CommitMeaning::MergeCommit,
                (true, BuiltOnPullRequest::Head) => CommitMeaning::PullRequestHead,
                (false, _) => CommitMeaning::Pushed,
            };
            facts.commits.push(CommitCandidate {
                sha,
                meaning,
                source,
            });
        }
        facts.warnings = warnings;
        facts
    }
}

#[async_trait]
impl CiProvider for DataProvider {
    fn name(&self) -> &'static str {
        self.name
    }

    fn is_active(&self, env: &Env) -> bool {
        let detect = &self.definition.detect;
        detect.all.iter().all(|v| env.get(v).is_some())
            && detect.equals.iter().all(|(var, value)| {
                env.get(var)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
            })
    }

    async fn detect(&self, env: &Env, options: &DetectOptions) -> Result<CiContext, DetectError> {
        Ok(compose(
            self.facts(env),
            options.production_branch.as_deref(),
        ))
    }
}

/// The first rule of `fact` that gives a value, with its source.
fn read(fact: &Fact, env: &Env) -> Option<(String, String)> {
    fact.rules.iter().find_map(|rule| apply(rule, env))
}

fn apply(rule: &Rule, env: &Env) -> Option<(String, String)> {
    let applies = rule.when.iter().all(|(var, want)| match env.get(var) {
        Some(got) => want == "*" || got.trim().eq_ignore_ascii_case(want),
        None => false,
    });
    if !applies {
        return None;
    }
    let when_source = || {
        rule.when
            .iter()
            .map(|(var, want)| {
                if want == "*" {
                    format!("{var} set")
                } else {
                    format!("{var}={want}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &rule.source {
        Source::Vars(vars) => vars.iter().find_map(|var| {
            let raw = env.get(var)?;
            let value = transform(rule, raw)?;
            // A mapped value (an event) keeps the CI's own word in its source.
            let source = if rule.map.is_empty() {
                var.clone()
            } else {
                format!("{var}={}", foldup_core::sanitize_line(raw.trim()))
            };
            Some((value, source))
        }),
        Source::Template { text, vars } => {
            let mut out = text.clone();
            for var in vars {
                let value = env.get(var)?.trim();
                out = out.replacen(&format!("{{{var}}}"), value, 1);
            }
            Some((transform(rule, &out)?, vars.join(", ")))
        }
        Source::Value(value) => Some((value.clone(), when_source())),
        Source::Differs(a, b) => {
            let (va, vb) = (transform(rule, env.get(a)?)?, transform(rule, env.get(b)?)?);
            let differs = !va.eq_ignore_ascii_case(&vb);
            let shown = |s: &str| foldup_core::sanitize_line(s);
            let source = if differs {
                format!("{a} '{}' differs from {b} '{}'", shown(&va), shown(&vb))
            } else {
                format!("{a} equals {b}")
            };
            Some((differs.to_string(), source))
        }
    }
}

/// `absent`, then `strip_prefix`, then `capture`, then `map`; `None` when the value is absent.
fn transform(rule: &Rule, raw: &str) -> Option<String> {
    let mut value = raw.trim().to_owned();
    if value.is_empty()
        || rule
            .absent
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(&value))
    {
        return None;
    }
    if let Some(prefix) = &rule.strip_prefix {
        if let Some(rest) = value.strip_prefix(prefix.as_str()) {
            value = rest.to_owned();
        }
    }
    if let Some(capture) = &rule.capture {
        value = capture.first_group(&value)?.to_owned();
    }
    if !rule.map.is_empty() {
        if let Some((_, to)) = rule.map.iter().find(|(from, _)| *from == value) {
            value = to.clone();
        }
    }
    (!value.trim().is_empty()).then_some(value)
}

/// The built-in providers, in detection order.
pub fn builtin() -> Vec<DataProvider> {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            let definition = parse_file(name, text)
                .unwrap_or_else(|e| panic!("built-in provider {name} is invalid: {e}"));
            DataProvider::new(definition)
        })
        .collect()
}

/// Reads one definition file.
pub fn parse_file(name: &str, text: &str) -> Result<Definition, DefinitionError> {
    let at = format!("providers/{name}.toml");
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| DefinitionError(format!("{at}: {}", e.message())))?;
    Definition::from_table(name, &table, &at)
}

/// The `[providers.NAME]` tables of a config file, each checked; `file` names the file in errors.
/// A user provider may not take a built-in provider's name.
pub fn from_config(file: &str, text: &str) -> Result<Vec<DataProvider>, DefinitionError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        DefinitionError(format!(
            "{file}: {}",
            foldup_core::sanitize_line(e.message())
        ))
    })?;
    let Some(providers) = table.get("providers") else {
        return Ok(Vec::new());
    };
    let toml::Value::Table(providers) = providers else {
        return Err(DefinitionError(format!(
            "{file}: providers must be tables, one per CI: [providers.my-ci]"
        )));
    };
    let reserved: Vec<&str> = BUILTIN
        .iter()
        .map(|(n, _)| *n)
        .chain(NATIVE_NAMES)
        .collect();
    providers
        .iter()
        .map(|(name, value)| {
            let at = format!("{file}: providers.{}", foldup_core::sanitize_line(name));
            if reserved.contains(&name.as_str()) {
                return Err(DefinitionError(format!(
                    "{at}: '{name}' is a built-in provider; give yours another name"
                )));
            }
            let toml::Value::Table(table) = value else {
                return Err(DefinitionError(format!(
                    "{at} must be a table: [providers.{name}]"
                )));
            };
            let definition = Definition::from_table(name, table, &at)?;
            definition.check_patterns()?;
            Ok(DataProvider::new(definition))
        })
        .collect()
}

/// The providers that are crates, whose names a user definition may not take.
pub const NATIVE_NAMES: [&str; 4] = ["github-actions", "gitlab-ci", "circleci", "local"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_definition_is_valid_and_cites_its_documented_variables() {
        for (name, text) in BUILTIN {
            let definition = parse_file(name, text).unwrap_or_else(|e| panic!("{e}"));
            // Built-in patterns compile on first use, so this is where a bad one shows.
            definition
                .check_patterns()
                .unwrap_or_else(|e| panic!("{e}"));
            let docs = definition
                .docs
                .as_deref()
                .unwrap_or_else(|| panic!("{name} has no docs URL"));
            assert!(docs.starts_with("https://"), "{name}: {docs}");
            assert!(
                text.lines()
                    .any(|l| l.starts_with("# https://") && l.trim_start_matches("# ") == docs),
                "{name}.toml does not cite {docs} in a comment"
            );
            assert!(!NATIVE_NAMES.contains(&name));
        }
    }

    fn user(text: &str) -> String {
        from_config("foldup.toml", text).unwrap_err().0
    }

    #[test]
    fn each_kind_of_bad_definition_names_its_key() {
        const OK: &str = "detect = { all = [\"A\"] }\ncommit = { built = { var = \"REV\" } }\n";
        let cases = [
            (
                format!("[providers.x]\n{OK}branch = {{ var = \"B\", strip = \"x\" }}\n"),
                "foldup.toml: providers.x.branch: unknown transform 'strip'",
            ),
            (
                "[providers.x]\ndetect = { all = [\"A\"] }\n".to_owned(),
                "foldup.toml: providers.x.commit is missing",
            ),
            (
                format!("[providers.x]\n{OK}tag = [{{ var = \"T\" }}, {{ value = \"v\" }}]\n"),
                "providers.x.tag[1]: a fixed value needs when",
            ),
            (
                format!(
                    "[providers.x]\n{OK}pr_number = {{ var = \"P\", capture = \"pr/\\\\d+\" }}\n"
                ),
                "providers.x.pr_number.capture must have exactly one group",
            ),
            (
                format!("[providers.x]\n{OK}branch = {{ var = \"B\", first = [\"C\"] }}\n"),
                "providers.x.branch has several sources (var, first)",
            ),
            (
                format!("[providers.x]\n{OK}build_url = {{ template = \"https://ci/{{BUILD\" }}\n"),
                "providers.x.build_url.template: a '{' is not closed",
            ),
            (
                format!("[providers.x]\n{OK}fork = {{ differs = [\"A\"] }}\n"),
                "providers.x.fork.differs must name exactly two variables",
            ),
            (
                format!("[providers.x]\n{OK}branch = {{ var = \"not a name\" }}\n"),
                "providers.x.branch.var: 'not a name' is not a variable name",
            ),
            (
                format!("[providers.X]\n{OK}"),
                "provider name 'X' must be lowercase",
            ),
            (
                format!("[providers.circleci]\n{OK}"),
                "'circleci' is a built-in provider",
            ),
        ];
        for (text, expected) in cases {
            let e = user(&text);
            assert!(e.contains(expected), "{text}\n→ {e}");
        }
    }

    #[test]
    fn transforms_apply_in_order_and_false_is_absent() {
        let text = "[providers.x]\ndetect = { all = [\"A\"] }\ncommit = { built = { var = \"REV\" } }\n\
                    pr_number = { first = [\"PR\", \"REF\"], absent = [\"false\"], capture = \"^(?:pr/)?(\\\\d+)$\" }\n\
                    branch = { var = \"REF\", strip_prefix = \"refs/heads/\" }\n";
        let provider = from_config("foldup.toml", text).unwrap().remove(0);
        let env = Env::from_pairs([("A", "1"), ("PR", "FALSE"), ("REF", "pr/12")]);
        let facts = provider.facts(&env);
        assert_eq!(facts.pr_number.value, Some(12));
        assert_eq!(facts.pr_number.source.as_deref(), Some("REF"));
        let env = Env::from_pairs([("A", "1"), ("REF", "refs/heads/feature/x")]);
        assert_eq!(
            provider.facts(&env).branch.value.as_deref(),
            Some("feature/x")
        );
        assert!(provider.is_active(&env));
        assert!(!provider.is_active(&Env::from_pairs([("A", " ")])));
    }
}
