//! Shared helpers for the end-to-end tests: run the real foldup binary in a controlled
//! environment and check what it printed and wrote.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use foldup_testkit::canary::*;
pub use foldup_testkit::stand_in::{refused_url, throwaway_ca};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// What a run of foldup produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// From start to exit.
    pub elapsed: Duration,
    /// The highest resident set size the child reached (VmHWM), in KiB, as last seen while it ran.
    pub peak_rss_kib: Option<u64>,
}

impl Run {
    /// Panics with the full output when the exit code is not `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", self.stdout))
    }

    /// Asserts no canary (the API key or a provider token) appears in stdout or stderr, except
    /// inside GitHub's `::add-mask::` command, which the runner consumes and never shows.
    pub fn assert_no_leak(&self) -> &Run {
        assert_text_has_no_canary("stdout", &self.stdout);
        assert_text_has_no_canary("stderr", &self.stderr);
        self
    }

    /// [`Run::assert_no_leak`], and the same for files foldup may have written (missing ones are
    /// fine): `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, the `--output` archive…
    pub fn assert_no_leak_in(&self, files: &[&Path]) -> &Run {
        self.assert_no_leak();
        for file in files {
            assert_file_has_no_canary(file);
        }
        self
    }

    /// The lines of the error foldup ended with: `error: …` (plain, and GitLab's in red) or
    /// `::error::…` (GitHub), colours removed.
    pub fn error_lines(&self) -> Vec<String> {
        self.stderr
            .lines()
            .map(strip_ansi)
            .filter(|l| l.starts_with("error: ") || l.starts_with("::error::"))
            .collect()
    }

    /// Asserts the run failed with one error line, a sentence that mentions `hint`, and no panic
    /// or debug dump.
    pub fn expect_one_sentence(&self, hint: &str) -> &Run {
        let lines = self.error_lines();
        assert_eq!(
            lines.len(),
            1,
            "one error line, got {lines:?}\n--- stderr\n{}",
            self.stderr
        );
        let line = &lines[0];
        assert!(
            line.contains(hint),
            "the error does not mention {hint:?}: {line}"
        );
        assert!(
            line.split_whitespace().count() >= 6,
            "not a sentence: {line}"
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "a panic:\n{}",
            self.stderr
        );
        // Debug formatting has no place in what foldup itself says (debug logs aside).
        for line in self.foldup_lines() {
            for noise in ["Error {", "kind: ", "Custom {", "Os {"] {
                assert!(!line.contains(noise), "{noise} in: {line}");
            }
        }
        self
    }

    /// stderr without the debug log lines `RUST_LOG` adds (those start with a timestamp).
    pub fn foldup_lines(&self) -> Vec<String> {
        self.stderr
            .lines()
            .map(strip_ansi)
            .filter(|l| !is_log_line(l))
            .collect()
    }
}

/// A foldup invocation with an empty environment (plus PATH and HOME) and its own working dir.
pub struct Foldup {
    command: Command,
    /// The run is killed, and the test fails, if it lasts longer: nothing hangs the suite.
    deadline: Duration,
}

impl Foldup {
    pub fn new(cwd: &Path) -> Foldup {
        let mut command = Command::new(env!("CARGO_BIN_EXE_foldup"));
        command
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", cwd)
            .stdin(Stdio::null());
        Foldup {
            command,
            deadline: Duration::from_secs(600),
        }
    }

    /// Fails the test (after killing foldup) if the run lasts longer than `limit`.
    pub fn deadline(mut self, limit: Duration) -> Foldup {
        self.deadline = limit;
        self
    }

    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> Foldup {
        self.command.env(name, value);
        self
    }

    pub fn env_remove(mut self, name: &str) -> Foldup {
        self.command.env_remove(name);
        self
    }

    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Foldup {
        for (k, v) in vars {
            self.command.env(k, v);
        }
        self
    }

    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Foldup {
        self.command.args(args);
        self
    }

    /// Runs foldup to its end, reading its output and watching its peak memory meanwhile.
    pub fn run(mut self) -> Run {
        let started = Instant::now();
        let mut child = self
            .command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("foldup starts");
        let pipe = |mut source: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = source.read_to_end(&mut bytes);
                String::from_utf8_lossy(&bytes).into_owned()
            })
        };
        let stdout = pipe(Box::new(child.stdout.take().unwrap()));
        let stderr = pipe(Box::new(child.stderr.take().unwrap()));
        let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
        let mut peak_rss_kib = None;
        let status = loop {
            if let Some(peak) = vm_hwm_kib(&status_file) {
                peak_rss_kib = Some(peak_rss_kib.unwrap_or(0).max(peak));
            }
            if let Some(status) = child.try_wait().expect("waiting for foldup") {
                break status;
            }
            if started.elapsed() > self.deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "foldup ran longer than {:?} and was killed\n--- stderr\n{}",
                    self.deadline,
                    stderr.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let run = Run {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
            elapsed: started.elapsed(),
            peak_rss_kib,
        };
        // Every run of every end-to-end test is scanned for the canary secrets.
        run.assert_no_leak();
        run
    }
}

/// Copies a folder tree (a dbt target) into `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The real GitHub webhook payload (from @octokit/webhooks-examples) the GitHub tests use.
pub fn github_pr_payload() -> PathBuf {
    repo_root().join("crates/foldup-github/tests/fixtures/pull_request.opened.json")
}

/// The head sha, PR number and repository of [`github_pr_payload`], read from the payload itself.
pub fn github_pr_facts() -> (String, u64, String) {
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(github_pr_payload()).unwrap()).unwrap();
    (
        payload["pull_request"]["head"]["sha"]
            .as_str()
            .unwrap()
            .to_owned(),
        payload["number"].as_u64().unwrap(),
        payload["repository"]["full_name"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

/// The variables GitHub Actions sets for a `pull_request` event, with its real payload. GitHub's
/// `GITHUB_SHA` for a pull request is the merge commit, which foldup must not send.
pub fn github_pull_request_env() -> Vec<(String, String)> {
    let (_, number, repository) = github_pr_facts();
    [
        ("GITHUB_ACTIONS", "true".to_owned()),
        ("CI", "true".to_owned()),
        ("GITHUB_EVENT_NAME", "pull_request".to_owned()),
        (
            "GITHUB_EVENT_PATH",
            github_pr_payload().display().to_string(),
        ),
        ("GITHUB_SHA", GITHUB_MERGE_COMMIT.to_owned()),
        ("GITHUB_REF", format!("refs/pull/{number}/merge")),
        ("GITHUB_HEAD_REF", "changes".to_owned()),
        ("GITHUB_BASE_REF", "master".to_owned()),
        ("GITHUB_REPOSITORY", repository),
        ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
        ("GITHUB_RUN_ID", "1658821493".to_owned()),
        ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A merge commit sha as GitHub would create for the PR (nobody wrote it).
pub const GITHUB_MERGE_COMMIT: &str = "9a1c3b6e0f2d4a8b7c5e3f1a9b8c7d6e5f4a3b2c";

/// The bundled example's dbt target (dbt 1.10, manifest v12), produced by dbt itself.
pub fn example_target() -> PathBuf {
    repo_root().join("examples/shop/target")
}

impl Foldup {
    pub fn owned_envs(mut self, vars: &[(String, String)]) -> Foldup {
        for (k, v) in vars {
            self.command.env(k, v);
        }
        self
    }
}

/// `VmHWM` (peak resident set) of a running process, in KiB.
fn vm_hwm_kib(status_file: &Path) -> Option<u64> {
    let status = std::fs::read_to_string(status_file).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a line (colours removed) comes from the `tracing` subscriber: `2024-01-01T…Z LEVEL …`.
pub fn is_log_line(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() > 20
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[10] == b'T'
}

/// After each line break, text that would be a workflow command, a GitHub legacy command, a
/// forged error line or a terminal trick if printed raw. `PWNED` marks every piece.
pub fn hostile(prefix: &str) -> String {
    format!(
        "{prefix}\n::set-output name=pwned::PWNED\r\n::add-mask::PWNED\n##[error]PWNED\r\nerror: PWNED\u{1b}[2K\u{1b}[1A\u{1b}]0;PWNED\u{7}\u{2028}::warning::PWNED\u{85}::notice::PWNED"
    )
}

/// The pieces [`hostile`] tries to put at the start of a line.
pub const FORGED_LINE_STARTS: [&str; 6] = [
    "::set-output",
    "::add-mask::PWNED",
    "##[error]PWNED",
    "error: PWNED",
    "::warning::PWNED",
    "::notice::PWNED",
];

/// Asserts no hostile piece starts a line (however a viewer breaks lines) and no terminal
/// escape or bell from a hostile value reached the output.
pub fn assert_inert(run: &Run) {
    for (name, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        for raw in ["\u{1b}[2K", "\u{1b}[1A", "\u{1b}]0;", "\u{7}"] {
            assert!(
                !text.contains(raw),
                "a raw {raw:?} from a hostile value reached {name}:\n{text}"
            );
        }
        for line in text.split(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}']) {
            let start = line.trim_start();
            for forged in FORGED_LINE_STARTS {
                assert!(
                    !start.starts_with(forged),
                    "a hostile value forged a line in {name}: {line:?}\n{text}"
                );
            }
        }
    }
}

/// A job folder: the bundled example's target, and the files a GitHub step may write (each test
/// module adds the methods it drives the job with).
pub struct Job {
    pub dir: tempfile::TempDir,
    pub outputs: PathBuf,
    pub summary: PathBuf,
    pub archive: PathBuf,
}

impl Job {
    pub fn new() -> Job {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&example_target(), &dir.path().join("target"));
        Job {
            outputs: dir.path().join("github_output"),
            summary: dir.path().join("step_summary"),
            archive: dir.path().join("kept.zip"),
            dir,
        }
    }
}
