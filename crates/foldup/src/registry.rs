//! The list of CI plugins. Adding a CI is one crate and one line here.

use foldup_core::{CiProvider, Env};

/// Every plugin, in detection order; `local` comes last because it is always active.
pub fn providers() -> Vec<Box<dyn CiProvider>> {
    vec![
        Box::new(foldup_github::GitHubActions),
        Box::new(foldup_gitlab::GitLabCi),
        Box::new(foldup_circleci::CircleCi),
        Box::new(foldup_local::Local),
    ]
}

/// The plugin to use: the one named (by `--provider`), else the first active one.
pub fn select(env: &Env, named: Option<&str>) -> Result<Box<dyn CiProvider>, String> {
    let mut all = providers();
    match named {
        Some(name) => {
            let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
            let joined = known.join(", ");
            match all.iter().position(|p| p.name() == name) {
                Some(i) => Ok(all.swap_remove(i)),
                None => Err(format!(
                    "there is no provider named '{name}'; use one of: {joined}"
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
    fn detection_picks_the_running_ci_and_falls_back_to_local() {
        let pick = |pairs: &[(&str, &str)]| {
            select(&Env::from_pairs(pairs.iter().copied()), None)
                .unwrap()
                .name()
        };
        assert_eq!(pick(&[("GITHUB_ACTIONS", "true")]), "github-actions");
        assert_eq!(pick(&[("GITLAB_CI", "false")]), "gitlab-ci");
        assert_eq!(pick(&[("CIRCLECI", "true")]), "circleci");
        assert_eq!(pick(&[]), "local");
    }

    #[test]
    fn the_provider_option_documents_every_plugin() {
        let doc = foldup_core::settings::options::find("provider")
            .unwrap()
            .doc;
        for provider in providers() {
            assert!(
                doc.contains(provider.name()),
                "the provider option's doc does not name {}",
                provider.name()
            );
        }
    }

    #[test]
    fn a_named_provider_wins_and_an_unknown_one_is_explained() {
        let env = Env::from_pairs([("GITHUB_ACTIONS", "true")]);
        assert_eq!(select(&env, Some("circleci")).unwrap().name(), "circleci");
        let e = select(&env, Some("jenkins")).err().unwrap();
        assert_eq!(e, "there is no provider named 'jenkins'; use one of: github-actions, gitlab-ci, circleci, local");
    }
}
