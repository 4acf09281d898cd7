//! Hostile input through the real binary: broken and enormous manifests, a 2 GB artifact, odd
//! targets (a file, FIFOs, folders, symlink loops, symlinks out), file names with control
//! characters, malformed/huge/deeply nested event payloads, branch names that try to forge
//! workflow commands or log lines in GitHub, GitLab and CircleCI, and invalid config files.
//! Each ends with its documented exit code and one sentence (or a warning and a working
//! fallback), never a panic, a hang or a forged line; nothing is sent when the input is refused.
//!
//! docs/RELIABILITY.md lists these cases.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use foldup_testserver::{ServerConfig, TestServer};

const CI_CONFIG_ID: &str = "4242";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn server() -> TestServer {
    TestServer::start(ServerConfig::new(CANARY_KEY, 4242))
}

/// A dbt project holding a copy of the bundled example's target.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&example_target(), &dir.path().join("target"));
    dir
}

fn target(project: &tempfile::TempDir) -> PathBuf {
    project.path().join("target")
}

/// foldup in `dir`, outside any CI, uploading production artifacts of [`SHA`] to `server`.
fn foldup(dir: &Path, server: &TestServer) -> Foldup {
    Foldup::new(dir)
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .env("DATAFOLD_HOST", server.url())
        .env("FOLDUP_RETRY_MAX_SECONDS", "10")
        .env("FOLDUP_RUN_TYPE", "production")
        .env("FOLDUP_COMMIT_SHA", SHA)
        .deadline(Duration::from_secs(120))
}

fn upload(dir: &Path, server: &TestServer, extra: &[&str]) -> Run {
    let run = foldup(dir, server)
        .args(["upload", "--ci-config-id", CI_CONFIG_ID])
        .args(extra.iter().copied())
        .run();
    run.assert_no_leak();
    run
}

/// Refused before any request: exit 3, one sentence naming `hint`, the server untouched.
fn assert_refused(run: &Run, server: &TestServer, hint: &str) {
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.expect_one_sentence(hint);
    assert!(server.requests().is_empty(), "a refused upload was sent");
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

// --- Manifests ----------------------------------------------------------------------------

#[test]
fn a_truncated_manifest_is_refused_before_any_request() {
    let server = server();
    let dir = project();
    let manifest = target(&dir).join("manifest.json");
    let real = fs::read(&manifest).unwrap();
    fs::write(&manifest, &real[..real.len() / 2]).unwrap();
    let run = upload(dir.path(), &server, &[]);
    assert_refused(&run, &server, "ends before its closing brace");

    // With --output, the archive already there stays as it was and no partial file is left.
    let kept = dir.path().join("kept.zip");
    fs::write(&kept, b"the archive of an earlier run").unwrap();
    let run = upload(dir.path(), &server, &["--output", "kept.zip"]);
    assert_refused(&run, &server, "ends before its closing brace");
    assert_eq!(fs::read(&kept).unwrap(), b"the archive of an earlier run");
    let partial: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("partial"))
        .collect();
    assert!(partial.is_empty(), "left behind: {partial:?}");
}

#[test]
fn a_non_utf8_manifest_is_refused() {
    let server = server();
    let dir = project();
    let mut latin1 = br#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": "caf"#.to_vec();
    latin1.extend(b"\xe9\"}}");
    fs::write(target(&dir).join("manifest.json"), latin1).unwrap();
    let run = upload(dir.path(), &server, &[]);
    assert_refused(&run, &server, "manifest.json is not a dbt manifest");
}

#[test]
fn a_deeply_nested_manifest_neither_overflows_nor_stops_a_valid_upload() {
    let server = server();
    let dir = project();
    let depth = 2_000_000;
    let mut manifest = b"{\"nodes\": ".to_vec();
    manifest.extend(std::iter::repeat_n(b'[', depth));
    manifest.extend(std::iter::repeat_n(b']', depth));
    manifest.extend(
        br#", "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}}"#,
    );
    fs::write(target(&dir).join("manifest.json"), &manifest).unwrap();
    upload(dir.path(), &server, &[]).expect_code(0);
    assert_eq!(server.requests().len(), 1);

    // Nested where dbt keeps a string: refused with a sentence, not a stack overflow.
    let mut manifest = b"{\"metadata\": {\"dbt_schema_version\": ".to_vec();
    manifest.extend(std::iter::repeat_n(b'[', depth));
    manifest.extend(std::iter::repeat_n(b']', depth));
    manifest.extend(b"}}");
    fs::write(target(&dir).join("manifest.json"), &manifest).unwrap();
    server.clear_requests();
    let run = upload(dir.path(), &server, &[]);
    assert_refused(&run, &server, "manifest.json is not a dbt manifest");
}

#[test]
fn enormous_numbers_in_a_manifest_are_skimmed_not_parsed() {
    let server = server();
    let dir = project();
    let huge = "9".repeat(20_000_000);
    let manifest = format!(
        "{{\"n\": -{huge}.{huge}e+{huge}, \"metadata\": {{\"dbt_schema_version\": \"https://schemas.getdbt.com/dbt/manifest/v12.json\", \"env\": {{\"x\": 1e999999}}}}, \"m\": 1e-999999}}"
    );
    fs::write(target(&dir).join("manifest.json"), manifest).unwrap();
    let run = upload(dir.path(), &server, &[]).expect_code(0);
    assert!(
        run.peak_rss_kib.is_some_and(|kib| kib < 64 * 1024),
        "peak RSS {:?} KiB for a 60 MB manifest",
        run.peak_rss_kib
    );
    assert_eq!(server.requests().len(), 1);
}

/// A sparse 2 GB file costs no disk; archiving it must take bounded memory and bounded time.
#[test]
fn a_2_gb_artifact_is_archived_in_bounded_memory() {
    let server = server();
    let dir = project();
    let huge = target(&dir).join("compiled/huge.bin");
    let file = fs::File::create(&huge).unwrap();
    file.set_len(2 * 1024 * 1024 * 1024).unwrap();
    drop(file);
    let archive = dir.path().join("kept.zip");
    let limit = Duration::from_secs(20 * 60);
    let run = foldup(dir.path(), &server)
        .deadline(limit)
        .args([
            "upload",
            "--ci-config-id",
            CI_CONFIG_ID,
            "--all-files",
            "--dry-run",
            "--output",
        ])
        .args([archive.to_str().unwrap()])
        .run();
    run.assert_no_leak();
    let run = run.expect_code(0);
    let peak = run.peak_rss_kib.expect("the child's memory was seen");
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB while archiving 2 GB");
    assert!(run.elapsed < limit, "took {:?}", run.elapsed);
    assert!(server.requests().is_empty(), "--dry-run sent something");
    let mut zip = zip::ZipArchive::new(fs::File::open(&archive).unwrap()).unwrap();
    let index = zip
        .index_for_name("compiled/huge.bin")
        .expect("the big file is in the archive");
    assert_eq!(
        zip.by_index_raw(index).unwrap().size(),
        2 * 1024 * 1024 * 1024
    );
}

// --- Targets that are not what they seem --------------------------------------------------

#[test]
fn a_target_that_is_a_file_is_refused() {
    let server = server();
    let dir = project();
    let run = upload(
        dir.path(),
        &server,
        &["--target-folder", "target/manifest.json"],
    );
    assert_refused(&run, &server, "manifest.json");
}

#[test]
fn a_folder_or_a_fifo_where_an_artifact_should_be_is_refused_without_hanging() {
    let server = server();
    for name in ["manifest.json", "run_results.json"] {
        for fifo in [false, true] {
            let dir = project();
            let path = target(&dir).join(name);
            fs::remove_file(&path).unwrap();
            if fifo {
                mkfifo(&path);
            } else {
                fs::create_dir(&path).unwrap();
            }
            let run = upload(dir.path(), &server, &[]);
            assert_refused(&run, &server, name);
        }
    }
}

#[test]
fn a_fifo_inside_the_target_is_skipped_by_all_files_with_a_warning() {
    let server = server();
    let dir = project();
    mkfifo(&target(&dir).join("compiled/pipe"));
    let run = upload(dir.path(), &server, &["--all-files"]).expect_code(0);
    assert!(run.stderr.contains("compiled/pipe"), "{}", run.stderr);
    let archive = server.requests()[0].archive.clone().unwrap();
    assert!(!archive.entry_names().iter().any(|n| n.contains("pipe")));
}

#[test]
fn symlink_loops_are_refused_without_hanging() {
    let server = server();
    let dir = project();
    let target = target(&dir);
    symlink("loop-b", target.join("loop-a")).unwrap();
    symlink("loop-a", target.join("loop-b")).unwrap();
    symlink(".", target.join("compiled/self")).unwrap();
    let run = upload(dir.path(), &server, &["--all-files"]);
    assert_refused(&run, &server, "loop");

    let dir = project();
    fs::remove_file(target_of(&dir, "catalog.json")).unwrap();
    symlink("catalog.json", target_of(&dir, "catalog.json")).unwrap();
    let run = upload(dir.path(), &server, &[]);
    assert_refused(&run, &server, "catalog.json");
}

fn target_of(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    target(dir).join(name)
}

#[test]
fn symlinks_out_of_the_target_are_refused_for_files_and_folders() {
    let server = server();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.json"), CANARY_KEY).unwrap();

    let dir = project();
    symlink(outside.path(), target(&dir).join("compiled/elsewhere")).unwrap();
    let run = upload(dir.path(), &server, &["--all-files"]);
    assert_refused(&run, &server, "outside");

    let dir = project();
    symlink("../..", target(&dir).join("run/up")).unwrap();
    let run = upload(dir.path(), &server, &["--include", "run/**"]);
    assert_refused(&run, &server, "outside");

    let dir = project();
    symlink(
        outside.path().join("secret.json"),
        target(&dir).join("extra.json"),
    )
    .unwrap();
    let run = upload(dir.path(), &server, &["--include", "*.json"]);
    assert_refused(&run, &server, "outside");
}

#[test]
fn file_names_with_control_characters_are_archived_as_named_and_shown_inert() {
    let server = server();
    let dir = project();
    let weird = "a\n::error::PWNED\r\u{1b}[2K\u{7}.sql";
    fs::write(target(&dir).join("compiled").join(weird), "select 1").unwrap();
    let outputs = dir.path().join("github_output");
    let run = foldup(dir.path(), &server)
        .owned_envs(&github_pull_request_env())
        .env_remove("FOLDUP_RUN_TYPE")
        .env_remove("FOLDUP_COMMIT_SHA")
        .env("GITHUB_OUTPUT", &outputs)
        .args(["upload", "--ci-config-id", CI_CONFIG_ID, "--all-files"])
        .run()
        .expect_code(0);
    run.assert_no_leak_in(&[&outputs]);
    assert_inert(&run);
    let archive = server.requests()[0].archive.clone().unwrap();
    assert!(archive
        .entry_names()
        .contains(&format!("compiled/{weird}").as_str()));
}

// --- Event payloads -----------------------------------------------------------------------

/// `foldup env --json` on a GitHub pull request whose payload file holds `payload`: the
/// variables still answer, with a warning, in bounded time.
fn env_with_payload(payload: &Path) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let run = Foldup::new(dir.path())
        .owned_envs(&github_pull_request_env())
        .env("GITHUB_EVENT_PATH", payload)
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .deadline(Duration::from_secs(60))
        .args(["env", "--json"])
        .run();
    run.assert_no_leak();
    assert_inert(&run);
    let run = run.expect_code(0);
    let json = run.json();
    assert_eq!(json["provider"], "github-actions");
    assert_eq!(json["pr_number"], 2, "GITHUB_REF still names the PR");
    assert!(
        run.stderr.contains("::warning::") && run.stderr.contains("event payload"),
        "{}",
        run.stderr
    );
    assert!(
        run.elapsed < Duration::from_secs(30),
        "took {:?}",
        run.elapsed
    );
    run
}

#[test]
fn malformed_huge_and_deeply_nested_event_payloads_fall_back_to_the_variables() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "not-json.json",
            b"{\"pull_request\": {\"number\": 2,".to_vec(),
        ),
        ("binary.json", vec![0xff, 0xfe, 0x00, 0x7b, 0x1b, 0x5b]),
        (
            "wrong-types.json",
            br#"{"pull_request": {"number": "two", "head": {"sha": 7}}}"#.to_vec(),
        ),
        ("nested.json", {
            let depth = 1_000_000;
            let mut p = b"{\"pull_request\": {\"head\": ".to_vec();
            p.extend(std::iter::repeat_n(b'[', depth));
            p.extend(std::iter::repeat_n(b']', depth));
            p.extend(b"}}");
            p
        }),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        env_with_payload(&path);
    }

    // Bigger than GitHub's 25 MiB cap: refused by its size, without being read (sparse).
    let huge = dir.path().join("huge.json");
    fs::File::create(&huge)
        .unwrap()
        .set_len(4 * 1024 * 1024 * 1024)
        .unwrap();
    let run = env_with_payload(&huge);
    assert!(run.stderr.contains("larger than"), "{}", run.stderr);

    // Something that is not a file at all: a FIFO would block a reader forever.
    let fifo = dir.path().join("fifo.json");
    mkfifo(&fifo);
    env_with_payload(&fifo);
    env_with_payload(dir.path());
}

#[test]
fn a_payload_nested_just_below_serdes_limit_in_a_field_foldup_reads_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.json");
    let depth = 127;
    let mut payload = b"{\"pull_request\": {\"head\": {\"ref\": ".to_vec();
    payload.extend(std::iter::repeat_n(b'[', depth));
    payload.extend(std::iter::repeat_n(b']', depth));
    payload.extend(b"}}}");
    fs::write(&path, payload).unwrap();
    env_with_payload(&path);
}

// --- Branch names and titles that try to forge lines --------------------------------------

/// Every command that prints the context, in one CI's variables.
fn assert_every_command_inert(vars: &[(String, String)]) {
    let server = server();
    let dir = project();
    let outputs = dir.path().join("github_output");
    let summary = dir.path().join("step_summary");
    let commands: [&[&str]; 6] = [
        &["env"],
        &["env", "--json"],
        &["config"],
        &["upload", "--ci-config-id", CI_CONFIG_ID, "--dry-run"],
        &["upload", "--ci-config-id", CI_CONFIG_ID],
        &["check", "--ci-config-id", CI_CONFIG_ID],
    ];
    for args in commands {
        let run = Foldup::new(dir.path())
            .owned_envs(vars)
            .env("DATAFOLD_API_KEY", CANARY_KEY)
            .env("DATAFOLD_HOST", server.url())
            .env("GITHUB_OUTPUT", &outputs)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .deadline(Duration::from_secs(120))
            .args(args.iter().copied())
            .run();
        run.assert_no_leak_in(&[&outputs, &summary]);
        assert_inert(&run);
        assert!(
            run.code == 0,
            "{args:?} failed on a hostile branch name:\n{}",
            run.stderr
        );
        if args == ["env", "--json"] {
            let json = run.json();
            assert!(json["branch"].as_str().unwrap().contains("PWNED"));
        }
    }
    for file in [&outputs, &summary] {
        let text = fs::read_to_string(file).unwrap_or_default();
        for line in text.lines() {
            assert!(
                !line.contains("PWNED"),
                "a hostile value reached {}: {line}",
                file.display()
            );
        }
    }
    let check = server
        .requests()
        .into_iter()
        .find(|r| r.path.contains("post_upload_check"))
        .expect("check asked Datafold");
    assert!(
        check.field("branch").is_some_and(|b| b.contains("PWNED")),
        "the branch is sent as it is, to Datafold only"
    );
}

fn strings(vars: &[(&str, String)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn hostile_branch_names_and_titles_stay_inert_on_github() {
    let dir = tempfile::tempdir().unwrap();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&fs::read(github_pr_payload()).unwrap()).unwrap();
    payload["pull_request"]["head"]["ref"] = hostile("feature").into();
    payload["pull_request"]["base"]["ref"] = hostile("main").into();
    payload["pull_request"]["title"] = hostile("Add orders").into();
    payload["repository"]["default_branch"] = hostile("main").into();
    let path = dir.path().join("event.json");
    fs::write(&path, serde_json::to_vec(&payload).unwrap()).unwrap();
    let mut vars = github_pull_request_env();
    vars.retain(|(k, _)| k != "GITHUB_EVENT_PATH" && k != "GITHUB_HEAD_REF");
    vars.extend(strings(&[
        ("GITHUB_EVENT_PATH", path.display().to_string()),
        ("GITHUB_HEAD_REF", hostile("feature")),
    ]));
    assert_every_command_inert(&vars);
}

#[test]
fn hostile_branch_names_and_titles_stay_inert_on_gitlab() {
    assert_every_command_inert(&strings(&[
        ("GITLAB_CI", "true".into()),
        ("CI_PIPELINE_SOURCE", "merge_request_event".into()),
        ("CI_COMMIT_SHA", SHA.into()),
        ("CI_MERGE_REQUEST_IID", "12".into()),
        ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", hostile("orders")),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", hostile("main")),
        ("CI_MERGE_REQUEST_TITLE", hostile("Add orders")),
        ("CI_COMMIT_REF_NAME", hostile("orders")),
        ("CI_PROJECT_PATH", "data/dbt".into()),
        ("CI_MERGE_REQUEST_SOURCE_PROJECT_PATH", "data/dbt".into()),
        ("CI_DEFAULT_BRANCH", hostile("main")),
        ("CI_OPEN_MERGE_REQUESTS", hostile("data/dbt!12")),
    ]));
}

#[test]
fn hostile_branch_names_stay_inert_on_circleci() {
    assert_every_command_inert(&strings(&[
        ("CIRCLECI", "true".into()),
        ("CIRCLE_SHA1", SHA.into()),
        ("CIRCLE_BRANCH", hostile("feature")),
        ("CIRCLE_PROJECT_USERNAME", "acme".into()),
        ("CIRCLE_PROJECT_REPONAME", "dbt".into()),
        (
            "CIRCLE_PULL_REQUEST",
            "https://github.com/acme/dbt/pull/31".into(),
        ),
    ]));
}

#[test]
fn hostile_values_in_foldup_variables_stay_inert() {
    let dir = project();
    let server = server();
    let run = Foldup::new(dir.path())
        .env("FOLDUP_BRANCH", hostile("b"))
        .env("FOLDUP_PRODUCTION_BRANCH", hostile("p"))
        .env("FOLDUP_RUN_ID", hostile("r"))
        .env("DATAFOLD_HOST", server.url())
        .args(["config"])
        .run()
        .expect_code(0);
    assert_inert(&run);
    let run = Foldup::new(dir.path())
        .env("FOLDUP_RUN_ID", hostile("r"))
        .env("FOLDUP_COMMIT_SHA", SHA)
        .env("DATAFOLD_API_KEY", CANARY_KEY)
        .env("DATAFOLD_HOST", server.url())
        .args([
            "upload",
            "--ci-config-id",
            CI_CONFIG_ID,
            "--run-type",
            "production",
            "--dry-run",
        ])
        .run()
        .expect_code(0);
    run.assert_no_leak();
    assert_inert(&run);
    // Where a value is refused, the refusal is inert too.
    let settled: &[&str] = &["--run-type", "production", "--commit-sha", SHA];
    for (var, value, extra) in [
        ("FOLDUP_PR_NUMBER", hostile("1"), &[][..]),
        ("FOLDUP_COMMIT_SHA", hostile("abc"), &[]),
        ("FOLDUP_RUN_TYPE", hostile("pull_request"), &[]),
        ("DATAFOLD_HOST", hostile("https://x"), settled),
    ] {
        let run = Foldup::new(dir.path())
            .env(var, &value)
            .env("DATAFOLD_API_KEY", CANARY_KEY)
            .args(["upload", "--ci-config-id", CI_CONFIG_ID])
            .args(extra.iter().copied())
            .run();
        run.assert_no_leak();
        assert_inert(&run);
        assert_eq!(run.code, 2, "{var}: {}", run.stderr);
        run.expect_one_sentence(var);
    }
}

// --- Config files -------------------------------------------------------------------------

/// `foldup config` with `foldup.toml` holding `text`: exit 2 and one sentence naming the file,
/// the line and `hint`.
fn assert_config_refused(text: &[u8], line: usize, hint: &str) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("foldup.toml"), text).unwrap();
    for args in [&["config"][..], &["upload", "--dry-run"][..], &["env"][..]] {
        let run = Foldup::new(dir.path())
            .env("DATAFOLD_API_KEY", CANARY_KEY)
            .deadline(Duration::from_secs(60))
            .args(args.iter().copied())
            .run();
        run.assert_no_leak();
        assert_inert(&run);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        run.expect_one_sentence(hint);
        let error = &run.error_lines()[0];
        assert!(
            error.contains(&format!("foldup.toml line {line}")),
            "{error}"
        );
    }
}

#[test]
fn invalid_config_files_name_file_line_and_key() {
    assert_config_refused(
        b"# ours\nhost = \"https://x\"\nretry_attempts = \"many\"\n",
        3,
        "key 'retry_attempts' must be a whole number",
    );
    assert_config_refused(
        b"run_type = \"auto\"\nwiat = true\n",
        2,
        "unknown key 'wiat'",
    );
    assert_config_refused(
        b"\n\napi_key = \"dfk-canary-7f3a9c1e5b2d4e6f\"\n",
        3,
        "key 'api_key' is a secret",
    );
    assert_config_refused(b"wait = \n", 1, "not valid TOML");
    // Found by fuzzing: this made toml_edit 0.23 panic.
    assert_config_refused(b"wait = = true\nwait.x = 1\n", 1, "not valid TOML");
    // A key that tries to forge a line, and a value nested far deeper than anyone writes.
    let key = toml_escape(&hostile("k"));
    assert_config_refused(format!("\"{key}\" = 1\n").as_bytes(), 1, "unknown key");
    let mut deep = b"include = ".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    deep.extend(std::iter::repeat_n(b']', 100_000));
    assert_config_refused(&deep, 1, "not valid TOML");
}

/// `text` as the inside of a TOML basic string: control characters as `\uXXXX` escapes.
fn toml_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => format!("\\{c}"),
            c if c.is_control() => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

#[test]
fn a_config_file_that_is_not_utf8_or_not_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("latin1.toml"), b"branch = \"caf\xe9\"\n").unwrap();
    fs::create_dir(dir.path().join("folder.toml")).unwrap();
    mkfifo(&dir.path().join("fifo.toml"));
    for (file, hint) in [
        ("latin1.toml", "UTF-8"),
        ("folder.toml", "folder.toml"),
        ("fifo.toml", "fifo.toml"),
    ] {
        let run = Foldup::new(dir.path())
            .deadline(Duration::from_secs(60))
            .args(["config", "--config", file])
            .run();
        assert_eq!(run.code, 2, "{file}: {}", run.stderr);
        run.expect_one_sentence(hint);
    }
}
