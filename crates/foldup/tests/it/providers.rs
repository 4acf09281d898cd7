//! Providers defined as data, through the real binary: a long-tail CI detected from its
//! documented variables, and a user's own `[providers.NAME]` from foldup.toml — valid ones
//! detected like any other, invalid ones refused with exit 2 and a sentence naming the key.

use crate::support::*;

const HEAD: &str = "4f2c1b9e8d7a6f5e4d3c2b1a09f8e7d6c5b4a392";
const MERGE: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d";

#[test]
fn azure_pull_request_reports_the_head_not_the_merge_commit() {
    let dir = tempfile::tempdir().unwrap();
    let run = Foldup::new(dir.path())
        .envs([
            ("TF_BUILD", "True"),
            ("BUILD_BUILDID", "2718"),
            ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/acme/"),
            ("SYSTEM_TEAMPROJECT", "data"),
            ("BUILD_REASON", "PullRequest"),
            ("BUILD_SOURCEVERSION", MERGE),
            ("BUILD_SOURCEBRANCH", "refs/pull/42/merge"),
            ("BUILD_REPOSITORY_NAME", "acme/analytics"),
            ("SYSTEM_PULLREQUEST_PULLREQUESTNUMBER", "42"),
            (
                "SYSTEM_PULLREQUEST_SOURCEBRANCH",
                "refs/heads/feature/orders",
            ),
            ("SYSTEM_PULLREQUEST_TARGETBRANCH", "refs/heads/main"),
            ("SYSTEM_PULLREQUEST_SOURCECOMMITID", HEAD),
        ])
        .args(["env", "--json"])
        .run()
        .expect_code(0);
    let json = run.json();
    assert_eq!(json["provider"], "azure-pipelines");
    assert_eq!(json["commit_sha"], HEAD);
    assert_eq!(json["run_type"], "pull_request");
    assert_eq!(json["pr_number"], 42);
    assert_eq!(json["branch"], "feature/orders");
    assert_eq!(json["base_branch"], "main");
    assert_eq!(json["repository"], "acme/analytics");
    assert_eq!(
        json["sources"]["commit_sha"],
        "SYSTEM_PULLREQUEST_SOURCECOMMITID"
    );
}

const ACME_CI: &str = r#"
production_branch = "trunk"

# Our in-house CI.
[providers.acme-ci]
display = "Acme CI"
detect = { equals = { ACME_CI = "yes" } }
event = { var = "ACME_TRIGGER", map = { mr = "pull_request", commit = "push", nightly = "schedule" } }
pr_number = { var = "ACME_CHANGE", capture = "^change/(\\d+)$" }
branch = [{ var = "ACME_SOURCE_REF", strip_prefix = "refs/heads/" }, { var = "ACME_REF", strip_prefix = "refs/heads/" }]
base_branch = { var = "ACME_TARGET_REF", strip_prefix = "refs/heads/" }
repository = { var = "ACME_REPO" }
build_url = { template = "https://ci.acme.dev/{ACME_REPO}/runs/{ACME_RUN}" }

[providers.acme-ci.commit]
built = { var = "ACME_REVISION" }
pull_request_head = { first = ["ACME_SOURCE_REVISION"] }
built_on_pull_request = "merge"
"#;

fn acme(dir: &std::path::Path, extra: &[(&str, &str)]) -> Run {
    std::fs::write(dir.join("foldup.toml"), ACME_CI).unwrap();
    Foldup::new(dir)
        .envs([
            ("ACME_CI", "yes"),
            ("ACME_REPO", "acme/analytics"),
            ("ACME_RUN", "991"),
        ])
        .envs(extra.iter().copied())
        .args(["env", "--json"])
        .run()
}

#[test]
fn a_users_own_provider_is_detected_and_composed_by_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let pr = acme(
        dir.path(),
        &[
            ("ACME_TRIGGER", "mr"),
            ("ACME_CHANGE", "change/57"),
            ("ACME_REVISION", MERGE),
            ("ACME_SOURCE_REVISION", HEAD),
            ("ACME_SOURCE_REF", "refs/heads/feature/orders"),
            ("ACME_TARGET_REF", "refs/heads/trunk"),
        ],
    )
    .expect_code(0);
    let json = pr.json();
    assert_eq!(json["provider"], "acme-ci");
    assert_eq!(json["commit_sha"], HEAD);
    assert_eq!(json["run_type"], "pull_request");
    assert_eq!(json["pr_number"], 57);
    assert_eq!(json["branch"], "feature/orders");
    assert_eq!(json["base_branch"], "trunk");
    assert_eq!(
        json["build_url"],
        "https://ci.acme.dev/acme/analytics/runs/991"
    );

    // The configured production branch decides, as for every provider.
    let push = acme(
        dir.path(),
        &[
            ("ACME_TRIGGER", "commit"),
            ("ACME_REVISION", HEAD),
            ("ACME_REF", "refs/heads/trunk"),
        ],
    )
    .expect_code(0);
    let json = push.json();
    assert_eq!(json["run_type"], "production");
    assert_eq!(json["commit_sha"], HEAD);

    // Without its variables, it is not this CI.
    std::fs::write(dir.path().join("foldup.toml"), ACME_CI).unwrap();
    let local = Foldup::new(dir.path())
        .args(["env", "--json"])
        .run()
        .expect_code(0);
    assert_eq!(local.json()["provider"], "local");

    // `foldup env` shows it like any other, and --provider names it.
    let human = Foldup::new(dir.path())
        .env("ACME_REVISION", HEAD)
        .args(["env", "--provider", "acme-ci"])
        .run()
        .expect_code(0);
    assert!(human.stdout.contains("acme-ci"), "{}", human.stdout);
    assert!(human.stdout.contains("ACME_REVISION"), "{}", human.stdout);
}

/// Each kind of bad definition: exit 2, one sentence that names the key.
#[test]
fn a_bad_user_provider_is_refused_naming_the_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[providers.acme]\ndetect = { all = [\"ACME\"] }\ncommit = { built = { var = \"REV\" } }\nbranch = { var = \"B\", strip = \"refs/heads/\" }\n",
            "providers.acme.branch: unknown transform 'strip'",
        ),
        (
            "[providers.acme]\ndetect = { all = [\"ACME\"] }\nbranch = { var = \"B\" }\n",
            "providers.acme.commit is missing",
        ),
        (
            "[providers.acme]\ndetect = { all = [\"ACME\"] }\n[providers.acme.commit]\npull_request_head = { var = \"HEAD_REV\" }\n",
            "providers.acme.commit.built is missing",
        ),
        (
            "[providers.acme]\ncommit = { built = { var = \"REV\" } }\n",
            "providers.acme.detect is missing",
        ),
        (
            "[providers.acme]\ndetect = { all = [\"ACME\"] }\ncommit = { built = { var = \"REV\" } }\npr_number = { var = \"PR\", capture = \"pr/(\\\\d+\" }\n",
            "providers.acme.pr_number.capture is not a valid pattern",
        ),
        (
            "[providers.acme]\ndetect = { all = [\"ACME\"] }\ncommit = { built = { var = \"REV\" } }\nevent = { var = \"E\", map = { mr = \"merge_request\" } }\n",
            "providers.acme.event: 'merge_request' is not an event kind",
        ),
        (
            "[providers.jenkins]\ndetect = { all = [\"ACME\"] }\ncommit = { built = { var = \"REV\" } }\n",
            "providers.jenkins: 'jenkins' is a built-in provider",
        ),
        (
            "[providers.acme]\ndetect = { all = [\"ACME\"] }\ncommit = { built = { var = \"REV\" } }\nbranchh = { var = \"B\" }\n",
            "providers.acme: unknown key 'branchh'",
        ),
        ("providers = 3\n", "key 'providers' must hold one table per CI"),
    ];
    for (text, hint) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("foldup.toml"), text).unwrap();
        let run = Foldup::new(dir.path())
            .args(["env", "--json"])
            .run()
            .expect_code(2);
        run.expect_one_sentence(hint);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

/// Dependabot's pull requests get no Actions secrets although they are not forks: without an API
/// key the upload is skipped with a notice (exit 0), as for forks, and nothing is sent.
#[test]
fn a_dependabot_pull_request_without_a_key_is_skipped_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let run = Foldup::new(dir.path())
        .env("DATAFOLD_HOST", refused_url())
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_ACTOR", "dependabot[bot]")
        .args(["upload", "--ci-config-id", "4242"])
        .run()
        .expect_code(0);
    assert!(run.stderr.contains("Skipping the upload"), "{}", run.stderr);
    assert!(run.stderr.contains("dependabot[bot]"), "{}", run.stderr);
    assert!(run.stderr.contains("Dependabot secrets"), "{}", run.stderr);
}
