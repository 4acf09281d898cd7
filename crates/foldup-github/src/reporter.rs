//! Talking to the GitHub Actions runner: workflow commands on stderr (masks, groups,
//! annotations), step outputs in `GITHUB_OUTPUT`, Markdown in `GITHUB_STEP_SUMMARY`.
//!
//! The runner reads any log line that starts with `::` (after leading whitespace) as a workflow
//! command, and any line containing `##[` as a legacy one. Values foldup prints (branch names,
//! PR titles, server messages) come from people who may want to forge one, so every line that
//! is not foldup's own command is made inert.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use foldup_core::{sanitize_line, CiContext, Env, Reporter};

/// The reporter for GitHub Actions.
pub struct GitHubReporter {
    log: Mutex<Box<dyn Write + Send>>,
    output_file: Option<PathBuf>,
    summary_file: Option<PathBuf>,
}

impl std::fmt::Debug for GitHubReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubReporter")
            .field("output_file", &self.output_file)
            .field("summary_file", &self.summary_file)
            .finish_non_exhaustive()
    }
}

impl GitHubReporter {
    /// Writes to stderr, and to the files `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` name.
    pub fn new(env: &Env) -> Self {
        Self::with_log(env, Box::new(std::io::stderr()))
    }

    /// Writes the log to `log` instead of stderr (tests and embedding).
    pub fn with_log(env: &Env, log: Box<dyn Write + Send>) -> Self {
        Self {
            log: Mutex::new(log),
            output_file: env.get("GITHUB_OUTPUT").map(PathBuf::from),
            summary_file: env.get("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        }
    }

    fn write_line(&self, line: &str) {
        let mut log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(log, "{line}");
    }

    /// One workflow command; `data` is escaped so it stays on this line.
    fn command(&self, name: &str, data: &str) {
        self.write_line(&format!("::{name}::{}", escape_data(data)));
    }

    /// An annotation keeps its line breaks (the runner shows `%0A` as one) but no other control
    /// character, so no terminal escape reaches the log.
    fn annotation(&self, name: &str, message: &str) {
        let text: Vec<String> = message.lines().map(sanitize_line).collect();
        self.command(name, &text.join("\n"));
    }

    fn append(&self, file: Option<&PathBuf>, variable: &str, text: &str) {
        let Some(path) = file else {
            return;
        };
        let written = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(error) = written {
            self.annotation(
                "warning",
                &format!(
                    "Could not append to {variable} ({}): {error}; check that the step can write there.",
                    path.display()
                ),
            );
        }
    }
}

impl Reporter for GitHubReporter {
    /// `::add-mask::` per line: the runner masks line by line, so a multi-line secret needs each.
    fn mask(&self, secret: &str) {
        for line in secret.lines().filter(|l| !l.trim().is_empty()) {
            self.command("add-mask", line);
        }
    }

    fn group_start(&self, title: &str) {
        self.command("group", &sanitize_line(title));
    }

    fn group_end(&self) {
        self.write_line("::endgroup::");
    }

    fn info(&self, message: &str) {
        for line in message.lines() {
            self.write_line(&inert_line(&sanitize_line(line)));
        }
    }

    fn warning(&self, message: &str) {
        self.annotation("warning", message);
    }

    fn error(&self, message: &str) {
        self.annotation("error", message);
    }

    /// A `::notice::` annotation: shown on the run's summary page, neither warning nor error.
    fn notice(&self, message: &str) {
        self.annotation("notice", message);
    }

    /// Every value is one line by construction (hex, an enum, a number), so the simple
    /// `name=value` form cannot be broken into a forged output.
    fn outputs(&self, context: &CiContext) {
        let text = format!(
            "commit_sha={}\nrun_type={}\npr_number={}\n",
            context
                .commit_sha
                .get()
                .map(|s| s.as_str())
                .unwrap_or_default(),
            context
                .run_type
                .get()
                .map(|r| r.as_str())
                .unwrap_or_default(),
            context
                .pr_number
                .get()
                .map(u64::to_string)
                .unwrap_or_default(),
        );
        self.append(self.output_file.as_ref(), "GITHUB_OUTPUT", &text);
    }

    fn summary(&self, markdown: &str) {
        let mut text = markdown.to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.append(self.summary_file.as_ref(), "GITHUB_STEP_SUMMARY", &text);
    }
}

/// GitHub's escaping for a workflow command's data (`escapeData` in @actions/core).
fn escape_data(data: &str) -> String {
    data.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A line (already free of control characters) that the runner will not read as a command:
/// a `\` goes before a leading `::` (the runner skips leading whitespace, and which Unicode
/// characters count as whitespace differs between runtimes, so anything but visible ASCII
/// before it counts as leading), and `##[` is broken up.
fn inert_line(line: &str) -> String {
    let mut line = line.replace("##[", "##\\[");
    if let Some(at) = line.find("::") {
        if !line[..at].chars().any(|c| c.is_ascii_graphic()) {
            line.insert(0, '\\');
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use foldup_core::{RunType, Sourced};

    use super::*;

    /// A log that the test can read back after the reporter wrote to it.
    #[derive(Clone, Default)]
    struct CapturedLog(Arc<Mutex<Vec<u8>>>);

    impl Write for CapturedLog {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl CapturedLog {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    fn reporter(env: &Env) -> (GitHubReporter, CapturedLog) {
        let log = CapturedLog::default();
        (GitHubReporter::with_log(env, Box::new(log.clone())), log)
    }

    /// What a hostile branch name or PR title may carry.
    const HOSTILE: &[&str] = &[
        "::set-output name=run_type::production",
        "  ::add-mask::",
        "\t::error::forged",
        "feature\r\n::warning::forged\r\n",
        "x\r::stop-commands::tok",
        "\u{1b}[31mred\u{1b}[0m::endgroup::",
        "\u{2003}::group::em space",
        "\u{180e}::group::mongolian vowel separator",
        "\u{feff}::notice::byte order mark",
        "title ##[set-output name=x;]y",
        "%0A::set-output name=x::y",
        "\u{85}::error::next line",
        "\u{2028}::error::line separator",
    ];

    /// The runner's own test: after trimming whitespace a line must not start with `::`.
    fn is_command(line: &str) -> bool {
        line.trim_start_matches(|c: char| c.is_whitespace() || !c.is_ascii())
            .starts_with("::")
            || line.contains("##[")
    }

    #[test]
    fn info_never_prints_a_workflow_command_or_a_forged_line() {
        let (reporter, log) = reporter(&Env::default());
        for hostile in HOSTILE {
            reporter.info(&format!("branch: {hostile}"));
            reporter.info(hostile);
        }
        let lines = log.lines();
        assert!(!lines.is_empty());
        for line in &lines {
            assert!(!is_command(line), "info printed a command: {line:?}");
            assert!(
                !line.contains(['\r', '\u{1b}', '\u{85}', '\u{2028}', '\u{2029}']),
                "control character in {line:?}"
            );
        }
        // `lines()` splits `\r\n`, so the forged part is its own line, but inert.
        assert!(
            lines.contains(&"\\::warning::forged".to_owned()),
            "{lines:?}"
        );
        assert!(lines.contains(&"\\::set-output name=run_type::production".to_owned()));
        assert!(lines.contains(&"title ##\\[set-output name=x;]y".to_owned()));
    }

    #[test]
    fn annotations_and_groups_are_one_line_each_whatever_they_carry() {
        let (reporter, log) = reporter(&Env::default());
        for hostile in HOSTILE {
            reporter.warning(hostile);
            reporter.error(hostile);
            reporter.notice(hostile);
            reporter.group_start(hostile);
            reporter.group_end();
        }
        let lines = log.lines();
        assert_eq!(lines.len(), HOSTILE.len() * 5);
        let own = [
            "::warning::",
            "::error::",
            "::notice::",
            "::group::",
            "::endgroup::",
        ];
        for (i, line) in lines.iter().enumerate() {
            assert!(line.starts_with(own[i % 5]), "{line:?}");
            assert!(
                !line.contains(['\r', '\n', '\u{1b}', '\u{2028}']),
                "{line:?}"
            );
        }
        assert_eq!(
            lines[15], "::warning::feature%0A::warning::forged",
            "a multi-line warning keeps its breaks escaped"
        );
        assert_eq!(lines[50], "::warning::%250A::set-output name=x::y");
    }

    #[test]
    fn mask_escapes_data_and_masks_each_line() {
        let (reporter, log) = reporter(&Env::default());
        reporter.mask("dfk_50%off");
        reporter.mask("line-one\nline-two\n");
        reporter.mask("   ");
        assert_eq!(
            log.lines(),
            [
                "::add-mask::dfk_50%25off",
                "::add-mask::line-one",
                "::add-mask::line-two"
            ]
        );
    }

    #[test]
    fn outputs_and_summary_append_to_the_runner_files() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output");
        let summary = dir.path().join("summary");
        std::fs::write(&output, "earlier=1\n").unwrap();
        let env = Env::from_pairs([
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ]);
        let (reporter, log) = reporter(&env);
        let mut ctx = CiContext::new("github-actions");
        ctx.commit_sha = Sourced::new(
            "ec26c3e57ca3a959ca5aad62de7213c562f8c821".parse().unwrap(),
            "GITHUB_EVENT_PATH pull_request.head.sha",
        );
        ctx.run_type = Sourced::new(RunType::PullRequest, "GITHUB_EVENT_NAME=pull_request");
        ctx.pr_number = Sourced::new(2, "GITHUB_EVENT_PATH pull_request.number");
        reporter.outputs(&ctx);
        reporter.outputs(&CiContext::new("github-actions"));
        reporter.summary("## foldup\n\nUploaded.");
        reporter.summary("Second part.\n");
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            "earlier=1\n\
             commit_sha=ec26c3e57ca3a959ca5aad62de7213c562f8c821\nrun_type=pull_request\npr_number=2\n\
             commit_sha=\nrun_type=\npr_number=\n"
        );
        assert_eq!(
            std::fs::read_to_string(&summary).unwrap(),
            "## foldup\n\nUploaded.\nSecond part.\n"
        );
        assert!(
            log.lines().is_empty(),
            "nothing on the log: {:?}",
            log.lines()
        );
    }

    #[test]
    fn an_unwritable_output_file_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("GITHUB_OUTPUT", dir.path().to_str().unwrap())]);
        let (reporter, log) = reporter(&env);
        reporter.outputs(&CiContext::new("github-actions"));
        let lines = log.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("::warning::Could not append to GITHUB_OUTPUT"),
            "{lines:?}"
        );
    }

    #[test]
    fn without_runner_files_outputs_and_summary_do_nothing() {
        let (reporter, log) = reporter(&Env::default());
        reporter.outputs(&CiContext::new("github-actions"));
        reporter.summary("text");
        assert!(log.lines().is_empty());
    }
}
