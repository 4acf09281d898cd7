use std::fs;

use super::*;

fn load(
    env: &[(&str, &str)],
    file: Option<&str>,
    flags: &[(&'static str, &str)],
) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    if let Some(text) = file {
        fs::write(dir.path().join("foldup.toml"), text).unwrap();
    }
    let env = Env::from_pairs(env.iter().copied());
    Settings::load(SettingsInput {
        env: &env,
        cwd: dir.path(),
        config_file: None,
        flags: flags
            .iter()
            .map(|(k, v)| FlagValue {
                key: k,
                values: vec![(*v).to_owned()],
            })
            .collect(),
    })
}

#[test]
fn defaults_come_from_the_embedded_file() {
    let s = load(&[], None, &[]).unwrap();
    assert_eq!(s.host, "https://app.datafold.com");
    assert_eq!(s.run_type, None);
    assert_eq!(s.ci_config_id, None);
    assert_eq!(s.retry_attempts, 5);
    assert_eq!(s.source("host").as_deref(), Some("built-in default"));
    assert!(s.config_file.is_none());
}

#[test]
fn precedence_is_flag_then_foldup_var_then_datafold_var_then_file() {
    let file = Some("ci_config_id = 1\nhost = \"https://file.example\"\n");
    let s = load(&[], file, &[]).unwrap();
    assert_eq!(s.ci_config_id, Some(1));
    assert!(s
        .source("ci_config_id")
        .unwrap()
        .starts_with("config file "));

    let s = load(&[("DATAFOLD_CI_CONFIG_ID", "2")], file, &[]).unwrap();
    assert_eq!(
        (s.ci_config_id, s.source("ci_config_id").as_deref()),
        (Some(2), Some("DATAFOLD_CI_CONFIG_ID"))
    );

    let env = [("DATAFOLD_CI_CONFIG_ID", "2"), ("FOLDUP_CI_CONFIG_ID", "3")];
    let s = load(&env, file, &[]).unwrap();
    assert_eq!(
        (s.ci_config_id, s.source("ci_config_id").as_deref()),
        (Some(3), Some("FOLDUP_CI_CONFIG_ID"))
    );

    let s = load(&env, file, &[("ci_config_id", "4")]).unwrap();
    assert_eq!(
        (s.ci_config_id, s.source("ci_config_id").as_deref()),
        (Some(4), Some("flag --ci-config-id"))
    );
    assert_eq!(s.host, "https://file.example");
}

#[test]
fn api_key_comes_from_either_datafold_variable_and_is_redacted() {
    let s = load(&[("DATAFOLD_APIKEY", "old-canary")], None, &[]).unwrap();
    assert_eq!(s.api_key.as_ref().map(Secret::expose), Some("old-canary"));
    let s = load(
        &[
            ("DATAFOLD_APIKEY", "old-canary"),
            ("DATAFOLD_API_KEY", "new-canary"),
        ],
        None,
        &[],
    )
    .unwrap();
    assert_eq!(s.api_key.as_ref().map(Secret::expose), Some("new-canary"));
    let shown = format!("{:?}", s.describe());
    assert!(!shown.contains("canary"), "{shown}");
    assert!(shown.contains("*** (set)"));
}

#[test]
fn bad_values_name_their_source() {
    let e = load(&[("FOLDUP_CI_CONFIG_ID", "abc")], None, &[]).unwrap_err();
    assert_eq!(
        e.0,
        "FOLDUP_CI_CONFIG_ID must be a whole number (for example 1234), got 'abc'"
    );
    let e = load(&[], None, &[("commit_sha", "abc123")]).unwrap_err();
    assert!(
        e.0.contains("6 hex digits") && e.0.contains("flag --commit-sha"),
        "{}",
        e.0
    );
    let e = load(&[], None, &[("pr_number", "12a")]).unwrap_err();
    assert!(
        e.0.starts_with("flag --pr-number must be a whole number"),
        "{}",
        e.0
    );
    let e = load(&[("FOLDUP_RUN_TYPE", "nightly")], None, &[]).unwrap_err();
    assert!(
        e.0.contains("one of auto, pull_request, production"),
        "{}",
        e.0
    );
}

#[test]
fn a_missing_explicit_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env::default();
    let e = Settings::load(SettingsInput {
        env: &env,
        cwd: dir.path(),
        config_file: Some("nope.toml".into()),
        flags: vec![],
    })
    .unwrap_err();
    assert!(e.0.contains("nope.toml does not exist"), "{}", e.0);
}

#[test]
fn overrides_replace_detected_values_with_their_source() {
    let s = load(
        &[("FOLDUP_RUN_TYPE", "production")],
        None,
        &[("branch", "release")],
    )
    .unwrap();
    let mut ctx = crate::CiContext::new("local");
    ctx.branch = crate::Sourced::new("detected".to_owned(), "git");
    s.apply_to(&mut ctx);
    assert_eq!(ctx.run_type.value, Some(RunType::Production));
    assert_eq!(ctx.run_type.source.as_deref(), Some("FOLDUP_RUN_TYPE"));
    assert_eq!(ctx.branch.value.as_deref(), Some("release"));
    assert_eq!(ctx.branch.source.as_deref(), Some("flag --branch"));
}

#[test]
fn every_option_is_documented_in_the_shipped_config_file() {
    for spec in OPTIONS {
        assert!(
            DEFAULTS.contains(&format!("\n{} =", spec.key))
                || DEFAULTS.contains(&format!("\n# {} =", spec.key))
                || DEFAULTS.contains(&format!("\n# {}: not allowed here", spec.key)),
            "config/foldup.toml does not document '{}'",
            spec.key
        );
    }
}

#[test]
fn timeout_takes_minutes_or_a_unit() {
    assert_eq!(
        load(&[], None, &[]).unwrap().timeout,
        Duration::from_secs(3600)
    );
    assert_eq!(
        load(&[], None, &[("timeout", "5")]).unwrap().timeout,
        Duration::from_secs(300)
    );
    assert_eq!(
        load(&[], None, &[("timeout", "90s")]).unwrap().timeout,
        Duration::from_secs(90)
    );
    assert_eq!(
        load(&[("FOLDUP_TIMEOUT", "2h")], None, &[])
            .unwrap()
            .timeout,
        Duration::from_secs(7200)
    );
    assert_eq!(
        load(&[], Some("timeout = \"45s\"\n"), &[]).unwrap().timeout,
        Duration::from_secs(45)
    );
    let e = load(&[], None, &[("timeout", "soon")]).unwrap_err();
    assert!(
        e.0.starts_with("flag --timeout must be minutes, or a number with a unit"),
        "{}",
        e.0
    );
}

#[test]
fn config_text_is_checked_without_a_file() {
    use std::path::Path;
    let path = Path::new("foldup.toml");
    super::check_config_text(path, "run_type = \"production\"\nwait = true\n").unwrap();
    let error = super::check_config_text(path, "\n\"a\\nb\" = 1\n")
        .unwrap_err()
        .0;
    assert!(
        error.starts_with("foldup.toml line 2: unknown key 'a\\u{a}b'"),
        "{error}"
    );
    let error = super::check_config_text(path, "commit_sha = \"abc\"\n")
        .unwrap_err()
        .0;
    assert!(error.contains("config file foldup.toml"), "{error}");
}

/// Found by fuzzing (fuzz/fuzz_targets/config_file.rs): toml_edit 0.23.10 panicked with "all
/// items have spans" on a key given an invalid value and then extended with a dotted key, which
/// a mistyped `=` makes easy. Now it is a sentence naming the line.
#[test]
fn a_doubled_equals_sign_then_a_dotted_key_is_an_error_not_a_panic() {
    use std::path::Path;
    for text in [
        "wait = = true\nwait.x = 1\n",
        "in02621==\nin02621.=",
        "ci_coi_config_id =eouion\"\nin02621..==\x00\x01= [\"o included.\nin02621.=",
    ] {
        let error = super::check_config_text(Path::new("foldup.toml"), text)
            .expect_err(text)
            .0;
        assert!(
            error.starts_with("foldup.toml line ") && error.contains("not valid TOML"),
            "{error}"
        );
        assert!(!error.contains('\n'), "{error}");
    }
}
