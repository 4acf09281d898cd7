//! Secrets, systematically: a canary API key and canary provider tokens (GITHUB_TOKEN,
//! GITLAB_TOKEN, CIRCLE_TOKEN, each with its look-up pointed at a local server that fails in
//! some way, one of them by echoing the token back in its error), every command foldup has,
//! debug logs on (`RUST_LOG=trace`), through the fault and hostile cases. The canaries must
//! appear nowhere: not in stdout, stderr, error sentences, warnings, `GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY` or the archive (read entry by entry). The one exception is GitHub's
//! `::add-mask::<key>` line, which the runner consumes.
//!
//! Each look-up server records what it received, so the tests also prove the token really was
//! sent to it (and only to it): the scans are not vacuous.

use std::path::Path;
use std::time::Duration;

use crate::support::*;
use foldup_testserver::{Fault, RunPlan, ServerConfig, TestServer};

const CI_CONFIG_ID: &str = "4242";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// Every command, as a CI job would run it.
const COMMANDS: [&[&str]; 7] = [
    &["upload", "--ci-config-id", CI_CONFIG_ID],
    &["dbt", "upload", "--ci-config-id", CI_CONFIG_ID],
    &["dbt", "upload-and-wait", "--ci-config-id", CI_CONFIG_ID],
    &["check", "--ci-config-id", CI_CONFIG_ID],
    &["env"],
    &["env", "--json"],
    &["config"],
];

/// The commands that talk to Datafold.
fn talks_to_datafold(args: &[&str]) -> bool {
    !matches!(args.first(), Some(&"env") | Some(&"config"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    GitHub,
    GitLab,
    CircleCi,
}

impl Provider {
    const ALL: [Provider; 3] = [Provider::GitHub, Provider::GitLab, Provider::CircleCi];

    /// The token this provider's look-up sends, and how it sends it.
    fn token(self) -> &'static str {
        match self {
            Provider::GitHub => CANARY_GITHUB_TOKEN,
            Provider::GitLab => CANARY_GITLAB_TOKEN,
            Provider::CircleCi => CANARY_CIRCLE_TOKEN,
        }
    }

    /// A build whose run type only the provider's API could settle, so foldup asks it (at
    /// `lookup_url`), with the token; `dir` holds the event payload GitHub needs.
    fn env(self, lookup_url: &str, dir: &Path) -> Vec<(String, String)> {
        let vars: Vec<(&str, String)> = match self {
            Provider::GitHub => {
                let payload = dir.join("push.json");
                std::fs::write(
                    &payload,
                    format!(
                        r#"{{"ref": "refs/heads/feature", "after": "{SHA}", "repository": {{"full_name": "acme/dbt", "default_branch": "main"}}}}"#
                    ),
                )
                .unwrap();
                vec![
                    ("GITHUB_ACTIONS", "true".into()),
                    ("GITHUB_EVENT_NAME", "push".into()),
                    ("GITHUB_EVENT_PATH", payload.display().to_string()),
                    ("GITHUB_SHA", SHA.into()),
                    ("GITHUB_REF", "refs/heads/feature".into()),
                    ("GITHUB_REF_NAME", "feature".into()),
                    ("GITHUB_REPOSITORY", "acme/dbt".into()),
                    ("GITHUB_SERVER_URL", "https://github.com".into()),
                    ("GITHUB_RUN_ID", "7".into()),
                    ("GITHUB_API_URL", lookup_url.into()),
                    ("GITHUB_TOKEN", CANARY_GITHUB_TOKEN.into()),
                ]
            }
            Provider::GitLab => vec![
                ("GITLAB_CI", "true".into()),
                ("CI_PIPELINE_SOURCE", "push".into()),
                ("CI_COMMIT_SHA", SHA.into()),
                ("CI_COMMIT_BRANCH", "feature".into()),
                ("CI_COMMIT_REF_NAME", "feature".into()),
                ("CI_PROJECT_PATH", "data/dbt".into()),
                ("CI_PROJECT_ID", "42".into()),
                ("CI_DEFAULT_BRANCH", "main".into()),
                ("CI_SERVER_URL", lookup_url.into()),
                ("GITLAB_TOKEN", CANARY_GITLAB_TOKEN.into()),
            ],
            Provider::CircleCi => vec![
                ("CIRCLECI", "true".into()),
                ("CIRCLE_SHA1", SHA.into()),
                ("CIRCLE_BRANCH", "feature".into()),
                ("CIRCLE_PROJECT_USERNAME", "acme".into()),
                ("CIRCLE_PROJECT_REPONAME", "dbt".into()),
                (
                    "CIRCLE_REPOSITORY_URL",
                    "git@github.com:acme/dbt.git".into(),
                ),
                (
                    "CIRCLE_PIPELINE_ID",
                    "5034460f-c7c4-4c43-9457-de07e2029e7b".into(),
                ),
                ("FOLDUP_CIRCLECI_API_URL", lookup_url.into()),
                ("CIRCLE_TOKEN", CANARY_CIRCLE_TOKEN.into()),
            ],
        };
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// How a provider's API fails.
#[derive(Clone, Debug)]
enum Lookup {
    /// A server with this fault.
    Fault(Fault),
    /// Nothing listens.
    Refused,
}

/// A failing provider API: its URL, and the server when there is one.
fn lookup_server(lookup: &Lookup) -> (String, Option<TestServer>) {
    match lookup {
        Lookup::Refused => (refused_url(), None),
        Lookup::Fault(fault) => {
            let server = TestServer::start(ServerConfig::new("provider-api", 1));
            server.set_fault(fault.clone());
            (server.url(), Some(server))
        }
    }
}

impl Job {
    /// `args` in this job with every secret set, debug logs on and small budgets.
    fn run(&self, vars: &[(String, String)], datafold: &str, args: &[&str]) -> Run {
        let run = Foldup::new(self.dir.path())
            .owned_envs(vars)
            .env("DATAFOLD_API_KEY", CANARY_KEY)
            .env("DATAFOLD_HOST", datafold)
            .env("FOLDUP_RUN_TYPE", "pull_request")
            .env("FOLDUP_OUTPUT", &self.archive)
            .env("FOLDUP_RETRY_ATTEMPTS", "2")
            .env("FOLDUP_RETRY_MAX_SECONDS", "3")
            .env("FOLDUP_REQUEST_TIMEOUT_SECONDS", "1")
            .env("FOLDUP_CONNECT_TIMEOUT_SECONDS", "1")
            .env("FOLDUP_LOOKUP_TIMEOUT_SECONDS", "1")
            .env("FOLDUP_WAIT_POLL_SECONDS", "1")
            .env("FOLDUP_TIMEOUT", "20s")
            .env("GITHUB_OUTPUT", &self.outputs)
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("RUST_LOG", "trace")
            .deadline(Duration::from_secs(120))
            .args(args.iter().copied())
            .run();
        run.assert_no_leak_in(&[&self.outputs, &self.summary, &self.archive]);
        assert!(
            !run.stderr.contains("panicked"),
            "{args:?} panicked:\n{}",
            run.stderr
        );
        assert!(
            run.elapsed < Duration::from_secs(60),
            "{args:?} took {:?}",
            run.elapsed
        );
        run
    }
}

fn datafold() -> TestServer {
    TestServer::start(ServerConfig::new(CANARY_KEY, 4242))
}

/// Asserts the token went to the look-up server (so the scans above had something to find), as
/// a credential header and nowhere else.
fn assert_token_was_sent(provider: Provider, lookup: &Lookup, server: Option<&TestServer>) {
    let Some(server) = server else { return };
    let requests = server.requests();
    if matches!(lookup, Lookup::Fault(Fault::NotHttp)) && requests.is_empty() {
        panic!("{provider:?}: foldup never asked the provider's API");
    }
    let carried = requests.iter().any(|r| {
        r.headers
            .iter()
            .any(|(_, value)| value.contains(provider.token()))
    });
    assert!(
        carried,
        "{provider:?} {lookup:?}: the look-up did not carry the token: {requests:?}"
    );
}

/// Every command, for one provider whose API fails as `lookup` says, against a healthy Datafold:
/// all succeed, with a warning about the look-up, and leak nothing.
fn every_command_with_a_failing_lookup(provider: Provider, lookup: Lookup) {
    let (url, server) = lookup_server(&lookup);
    let datafold = datafold();
    let job = Job::new();
    let vars = provider.env(&url, job.dir.path());
    for args in COMMANDS {
        let run = job.run(&vars, &datafold.url(), args);
        assert_eq!(
            run.code, 0,
            "{provider:?} {lookup:?} {args:?}:\n{}",
            run.stderr
        );
        if args != ["config"] {
            let warned = run.stderr.lines().any(|l| {
                let l = strip_ansi(l);
                !is_log_line(&l) && l.contains("warning")
            });
            assert!(
                warned,
                "{provider:?} {lookup:?} {args:?}: no warning about the failed look-up:\n{}",
                run.stderr
            );
        }
    }
    assert_token_was_sent(provider, &lookup, server.as_ref());
    assert!(
        datafold
            .requests()
            .iter()
            .all(|r| !r.headers.iter().any(|(_, v)| v.contains(provider.token()))),
        "a provider token went to Datafold"
    );
}

/// One test per way a provider's look-up fails (a 401 or a 500 echoing the token, a hang, an
/// answer that is not HTTP, a refused connection), so that the runner spreads them over its
/// threads: each is seven runs of the binary, and the hanging look-up waits out its timeout in
/// every one.
macro_rules! failing_lookup_tests {
    ($module:ident, $provider:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn echoes_the_token_in_a_401() {
                every_command_with_a_failing_lookup(
                    $provider,
                    Lookup::Fault(Fault::EchoHeaders { status: 401 }),
                );
            }

            #[test]
            fn echoes_the_token_in_a_500() {
                every_command_with_a_failing_lookup(
                    $provider,
                    Lookup::Fault(Fault::EchoHeaders { status: 500 }),
                );
            }

            #[test]
            fn hangs() {
                every_command_with_a_failing_lookup($provider, Lookup::Fault(Fault::Hang));
            }

            #[test]
            fn does_not_speak_http() {
                every_command_with_a_failing_lookup($provider, Lookup::Fault(Fault::NotHttp));
            }

            #[test]
            fn refuses_connections() {
                every_command_with_a_failing_lookup($provider, Lookup::Refused);
            }
        }
    };
}

failing_lookup_tests!(
    github_token_never_leaks_when_the_pull_request_lookup,
    Provider::GitHub
);
failing_lookup_tests!(
    gitlab_token_never_leaks_when_the_merge_request_lookup,
    Provider::GitLab
);
failing_lookup_tests!(
    circle_token_never_leaks_when_the_project_lookup,
    Provider::CircleCi
);

/// How Datafold fails, and the exit code the commands that talk to it must end with.
fn datafold_faults() -> Vec<(&'static str, Option<Fault>, i32)> {
    vec![
        (
            "echoes the key in a 401",
            Some(Fault::EchoHeaders { status: 401 }),
            4,
        ),
        (
            "echoes the key in a 422",
            Some(Fault::EchoHeaders { status: 422 }),
            5,
        ),
        ("500", Some(Fault::InternalError), 6),
        ("hang", Some(Fault::Hang), 6),
        ("silent", Some(Fault::Silent { times: None }), 6),
        ("reset", Some(Fault::ResetMidBody { times: None }), 6),
        ("close", Some(Fault::CloseWithoutAnswer { times: None }), 6),
        ("html 502", Some(Fault::HtmlErrorPage { status: 502 }), 6),
        ("html 200", Some(Fault::HtmlErrorPage { status: 200 }), 6),
        ("one 503", Some(Fault::Unavailable { times: 1 }), 0),
        ("refused", None, 6),
    ]
}

/// The commands that talk to Datafold, through every third Datafold fault (from `part`), each
/// with one of the providers in turn, whose API echoes its token: the documented exit code, one
/// sentence, and no canary anywhere.
fn datafold_faults_part(part: usize) {
    let (lookup_url, lookup) = lookup_server(&Lookup::Fault(Fault::EchoHeaders { status: 401 }));
    for (index, (name, fault, code)) in datafold_faults().into_iter().enumerate() {
        if index % 3 != part {
            continue;
        }
        let provider = Provider::ALL[(index / 3) % 3];
        let datafold = datafold();
        let host = match &fault {
            Some(_) => datafold.url(),
            None => refused_url(),
        };
        let job = Job::new();
        let vars = provider.env(&lookup_url, job.dir.path());
        for args in COMMANDS.iter().filter(|a| talks_to_datafold(a)) {
            if let Some(fault) = &fault {
                datafold.set_fault(fault.clone());
            }
            let run = job.run(&vars, &host, args);
            assert_eq!(
                run.code, code,
                "{provider:?}, Datafold {name}, {args:?}:\n{}",
                run.stderr
            );
            if code != 0 {
                run.expect_one_sentence(" ");
            }
        }
        assert_token_was_sent(provider, &Lookup::Fault(Fault::Hang), lookup.as_ref());
        lookup.as_ref().unwrap().clear_requests();
    }
}

#[test]
fn nothing_leaks_through_datafold_faults_part_1() {
    datafold_faults_part(0);
}

#[test]
fn nothing_leaks_through_datafold_faults_part_2() {
    datafold_faults_part(1);
}

#[test]
fn nothing_leaks_through_datafold_faults_part_3() {
    datafold_faults_part(2);
}

#[test]
fn nothing_leaks_through_tls_failures_or_redirects() {
    let (lookup_url, _lookup) = lookup_server(&Lookup::Fault(Fault::EchoHeaders { status: 401 }));
    let (_, identity) = throwaway_ca("foldup e2e throwaway CA");
    let mut config = ServerConfig::new(CANARY_KEY, 4242);
    config.tls = Some(identity);
    let unknown_ca = TestServer::start(config);

    let elsewhere = TestServer::start(ServerConfig::new("not-the-key", 4242));
    let redirecting = datafold();
    redirecting.set_fault(Fault::RedirectTo {
        base_url: format!("http://localhost:{}", elsewhere.address().port()),
        status: 307,
    });
    for (provider, (host, code)) in Provider::ALL.into_iter().zip([
        (unknown_ca.url(), 6),
        (redirecting.url(), 2),
        (unknown_ca.url(), 6),
    ]) {
        let job = Job::new();
        let vars = provider.env(&lookup_url, job.dir.path());
        for args in COMMANDS.iter().filter(|a| talks_to_datafold(a)) {
            let run = job.run(&vars, &host, args);
            assert_eq!(
                run.code, code,
                "{provider:?} {host} {args:?}:\n{}",
                run.stderr
            );
        }
    }
    assert!(unknown_ca.requests().is_empty());
    assert!(
        elsewhere.requests().is_empty(),
        "the key followed a redirect to another host"
    );
}

/// A way to break a job's input, named.
type Breakage = (&'static str, fn(&Job));

/// Hostile branch names (and titles), broken manifests, a broken payload and a broken config,
/// through every command with every secret set and debug logs on: no canary, no forged line.
#[test]
fn nothing_leaks_and_nothing_is_forged_on_hostile_input() {
    let (lookup_url, lookup) = lookup_server(&Lookup::Fault(Fault::EchoHeaders { status: 401 }));
    let datafold = datafold();
    datafold.set_run_plan(RunPlan::default());
    for provider in Provider::ALL {
        let job = Job::new();
        let mut vars = provider.env(&lookup_url, job.dir.path());
        for (name, value) in vars.iter_mut() {
            if matches!(
                name.as_str(),
                "CI_COMMIT_BRANCH" | "CI_COMMIT_REF_NAME" | "CIRCLE_BRANCH" | "GITHUB_REF_NAME"
            ) {
                *value = hostile("feature");
            }
        }
        if provider == Provider::GitHub {
            let payload = job.dir.path().join("push.json");
            let hostile_payload = serde_json::json!({
                "ref": format!("refs/heads/{}", hostile("feature")),
                "after": SHA,
                "head_commit": {"message": hostile("fix")},
                "repository": {"full_name": "acme/dbt", "default_branch": hostile("main")},
            });
            std::fs::write(&payload, hostile_payload.to_string()).unwrap();
            for (name, value) in vars.iter_mut() {
                if name == "GITHUB_REF" {
                    *value = format!("refs/heads/{}", hostile("feature"));
                }
            }
        }
        for args in COMMANDS {
            let run = job.run(&vars, &datafold.url(), args);
            assert_inert(&run);
            assert!(
                matches!(run.code, 0 | 3),
                "{provider:?} {args:?}:\n{}",
                run.stderr
            );
        }
    }
    assert_token_was_sent(
        Provider::GitLab,
        &Lookup::Fault(Fault::Hang),
        lookup.as_ref(),
    );

    // Broken inputs: each command refuses with one sentence and leaks nothing.
    let broken: [Breakage; 3] = [
        ("a truncated manifest", |job: &Job| {
            let manifest = job.dir.path().join("target/manifest.json");
            let real = std::fs::read(&manifest).unwrap();
            std::fs::write(&manifest, &real[..real.len() / 3]).unwrap();
        }),
        ("a config file with a hostile key", |job: &Job| {
            std::fs::write(
                job.dir.path().join("foldup.toml"),
                "\"k\\n::set-output name=x::PWNED\" = 1\n",
            )
            .unwrap();
        }),
        ("a secret in the config file", |job: &Job| {
            std::fs::write(
                job.dir.path().join("foldup.toml"),
                format!("github_token = \"{CANARY_GITHUB_TOKEN}\"\n"),
            )
            .unwrap();
        }),
    ];
    for (what, breaks) in broken {
        for provider in Provider::ALL {
            let job = Job::new();
            breaks(&job);
            let vars = provider.env(&lookup_url, job.dir.path());
            for args in COMMANDS {
                let run = job.run(&vars, &datafold.url(), args);
                assert_inert(&run);
                let manifest_only = what == "a truncated manifest";
                if manifest_only && !args.contains(&"upload") && !args.contains(&"upload-and-wait")
                {
                    continue;
                }
                assert!(
                    matches!(run.code, 2 | 3),
                    "{what}, {provider:?}, {args:?}:\n{}",
                    run.stderr
                );
                run.expect_one_sentence(" ");
            }
        }
    }
}
