//! The list of providers: the native plugin crates, the user's own `[providers.NAME]`
//! definitions, the built-in definitions of the long tail, and `local`.

use foldup_circleci::CircleCiSettings;
use foldup_core::{CiProvider, Env, Settings};
use foldup_github::GitHubSettings;
use foldup_gitlab::GitLabSettings;

/// The native plugins' own options (tokens, API addresses).
pub const PLUGIN_OPTIONS: &[&[foldup_core::settings::OptionSpec]] = &[
    foldup_github::OPTIONS,
    foldup_gitlab::OPTIONS,
    foldup_circleci::OPTIONS,
];

/// Adds the plugins' options to foldup's option table; called first thing in `main`.
pub fn register_plugin_options() {
    foldup_core::settings::options::register_plugin_options(PLUGIN_OPTIONS);
}

/// Every provider, in detection order: the native plugins first (their variables are the most
/// specific), then the user's own definitions, then the built-in long tail, and `local` last
/// because it is always active.
pub fn providers(settings: Option<&Settings>) -> Result<Vec<Box<dyn CiProvider>>, String> {
    let mut all: Vec<Box<dyn CiProvider>> = vec![
        Box::new(foldup_github::GitHubActions::new(
            settings.map(github_settings).unwrap_or_default(),
        )),
        Box::new(foldup_gitlab::GitLabCi::new(
            settings.map(gitlab_settings).unwrap_or_default(),
        )),
        Box::new(foldup_circleci::CircleCi::new(
            settings.map(circleci_settings).unwrap_or_default(),
        )),
    ];
    if let Some((path, text)) =
        settings.and_then(|s| s.config_file.as_ref().zip(s.config_text.as_ref()))
    {
        let shown = foldup_core::sanitize_line(&path.display().to_string());
        for provider in foldup_providers::from_config(&shown, text).map_err(|e| e.0)? {
            all.push(Box::new(provider));
        }
    }
    for provider in foldup_providers::builtin() {
        all.push(Box::new(provider));
    }
    all.push(Box::new(foldup_local::Local));
    Ok(all)
}

/// The GitHub plugin's settings, from the configuration (`github_token`, `GITHUB_TOKEN`).
pub fn github_settings(settings: &Settings) -> GitHubSettings {
    GitHubSettings {
        token: settings.secret_option("github_token"),
        timeout: settings.lookup_timeout,
    }
}

/// The GitLab plugin's settings, from the configuration (`gitlab_token`, `GITLAB_TOKEN`).
pub fn gitlab_settings(settings: &Settings) -> GitLabSettings {
    GitLabSettings {
        token: settings.secret_option("gitlab_token"),
        timeout: settings.lookup_timeout,
    }
}

/// The CircleCI plugin's settings, from the configuration (`circle_token`, `CIRCLE_TOKEN`,
/// `circleci_api_url`).
pub fn circleci_settings(settings: &Settings) -> CircleCiSettings {
    CircleCiSettings::new(
        settings.secret_option("circle_token"),
        settings
            .text_option("circleci_api_url")
            .as_deref()
            .unwrap_or(foldup_circleci::DEFAULT_API_URL),
        settings.lookup_timeout,
    )
}

/// The plugin to use: the one named (by `--provider`), else the first active one.
pub fn select(
    env: &Env,
    named: Option<&str>,
    settings: Option<&Settings>,
) -> Result<Box<dyn CiProvider>, String> {
    let mut all = providers(settings)?;
    match named {
        Some(name) => {
            let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
            let joined = known.join(", ");
            match all.iter().position(|p| p.name() == name) {
                Some(i) => Ok(all.swap_remove(i)),
                None => Err(format!(
                    "there is no provider named '{}'; use one of: {joined}",
                    foldup_core::sanitize_line(name)
                )),
            }
        }
        None => {
            let i = all
                .iter()
                .position(|p| p.is_active(env))
                .unwrap_or(all.len() - 1);
            Ok(all.swap_remove(i))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_configuration_reference_matches_every_option() {
        register_plugin_options();
        let readme = include_str!("../../../README.md");
        let begin =
            "<!-- options:begin (generated from crates/foldup-core/src/settings/options.rs) -->\n";
        let end = "<!-- options:end -->";
        let expected = foldup_core::settings::options::reference_markdown();
        let actual = readme
            .split_once(begin)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(table, _)| table);
        assert!(
            actual == Some(expected.as_str()),
            "README.md's configuration reference is out of date; run `cargo xtask docs`"
        );
    }

    #[test]
    fn every_plugin_option_is_documented_in_the_shipped_config_file() {
        let defaults = foldup_core::settings::DEFAULTS;
        for spec in PLUGIN_OPTIONS.iter().flat_map(|table| table.iter()) {
            assert!(
                defaults.contains(&format!("\n# {} =", spec.key))
                    || defaults.contains(&format!("\n# {}: not allowed here", spec.key)),
                "config/foldup.toml does not document '{}'",
                spec.key
            );
        }
    }

    fn pick(pairs: &[(&str, &str)]) -> &'static str {
        select(&Env::from_pairs(pairs.iter().copied()), None, None)
            .unwrap()
            .name()
    }

    #[test]
    fn detection_picks_the_running_ci_and_falls_back_to_local() {
        assert_eq!(pick(&[("GITHUB_ACTIONS", "true")]), "github-actions");
        assert_eq!(pick(&[("GITLAB_CI", "false")]), "gitlab-ci");
        assert_eq!(pick(&[("CIRCLECI", "true")]), "circleci");
        assert_eq!(pick(&[]), "local");
    }

    #[test]
    fn a_variable_two_cis_share_never_decides_which_ci_this_is() {
        // CI_COMMIT_SHA is GitLab's and Woodpecker's: only CI=woodpecker says Woodpecker.
        let sha = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
        assert_eq!(
            pick(&[("CI", "woodpecker"), ("CI_COMMIT_SHA", sha)]),
            "woodpecker"
        );
        assert_eq!(pick(&[("CI", "true"), ("CI_COMMIT_SHA", sha)]), "local");
        assert_eq!(
            pick(&[
                ("GITLAB_CI", "true"),
                ("CI", "true"),
                ("CI_COMMIT_SHA", sha)
            ]),
            "gitlab-ci"
        );
        // Harness sets Drone's variables too.
        assert_eq!(
            pick(&[
                ("DRONE", "true"),
                ("DRONE_BUILD_NUMBER", "7"),
                ("HARNESS_BUILD_ID", "7"),
                ("HARNESS_PIPELINE_ID", "dbt"),
            ]),
            "harness"
        );
        assert_eq!(
            pick(&[("DRONE", "true"), ("DRONE_BUILD_NUMBER", "7")]),
            "drone"
        );
        // A GitHub Actions job started by an Azure or Jenkins agent is still GitHub's.
        assert_eq!(
            pick(&[
                ("GITHUB_ACTIONS", "true"),
                ("JENKINS_URL", "x"),
                ("BUILD_ID", "1")
            ]),
            "github-actions"
        );
    }

    #[test]
    fn the_provider_option_documents_every_plugin() {
        let doc = foldup_core::settings::options::find("provider")
            .unwrap()
            .doc;
        for provider in providers(None).unwrap() {
            assert!(
                doc.contains(provider.name()),
                "the provider option's doc does not name {}",
                provider.name()
            );
        }
    }

    #[test]
    fn provider_names_are_product_md_s_in_its_order() {
        let names: Vec<&str> = providers(None).unwrap().iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "github-actions",
                "gitlab-ci",
                "circleci",
                "bitbucket-pipelines",
                "azure-pipelines",
                "jenkins",
                "buildkite",
                "aws-codebuild",
                "google-cloud-build",
                "harness",
                "drone",
                "woodpecker",
                "travis-ci",
                "semaphore",
                "bitrise",
                "local"
            ]
        );
    }

    #[test]
    fn a_named_provider_wins_and_an_unknown_one_is_explained() {
        let env = Env::from_pairs([("GITHUB_ACTIONS", "true")]);
        assert_eq!(
            select(&env, Some("circleci"), None).unwrap().name(),
            "circleci"
        );
        assert_eq!(
            select(&env, Some("jenkins"), None).unwrap().name(),
            "jenkins"
        );
        let e = select(&env, Some("teamcity"), None).err().unwrap();
        assert!(
            e.starts_with("there is no provider named 'teamcity'; use one of: github-actions, gitlab-ci, circleci, bitbucket-pipelines,"),
            "{e}"
        );
    }
}
