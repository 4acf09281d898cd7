//! foldup's messages in GitLab's job log idiom: collapsible sections and coloured warnings.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use foldup_core::{sanitize_line, Reporter};

const YELLOW: &str = "\x1b[33;1m";
const RED: &str = "\x1b[31;1m";
const RESET: &str = "\x1b[0m";
/// GitLab's job log clears the line with this before and after a section marker.
const ERASE_LINE: &str = "\x1b[0K";

/// Writes to stderr (or any writer, for tests) using GitLab's collapsible log sections.
pub struct GitLabReporter {
    out: Mutex<Box<dyn Write + Send>>,
    state: Mutex<Sections>,
}

#[derive(Default)]
struct Sections {
    /// Names of the sections still open, innermost last.
    open: Vec<String>,
    /// Counts sections so every name is unique within the job log.
    started: usize,
}

impl GitLabReporter {
    pub fn stderr() -> Self {
        Self::to_writer(Box::new(std::io::stderr()))
    }

    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: Mutex::new(out),
            state: Mutex::new(Sections::default()),
        }
    }

    fn write_raw(&self, text: &str) {
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// One log line per line of `message`, each sanitised and prefixed.
    fn lines(&self, prefix: &str, message: &str) {
        let mut text = String::new();
        for line in message.lines() {
            text.push_str(prefix);
            text.push_str(&sanitize_line(line));
            text.push('\n');
        }
        self.write_raw(&text);
    }
}

/// A section name GitLab accepts, from a title: lowercase `[a-z0-9_]`, made unique by `number`.
fn section_name(number: usize, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            slug.push(c);
        } else if !slug.ends_with('_') {
            slug.push('_');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_matches('_');
    if slug.is_empty() {
        format!("foldup_{number}")
    } else {
        format!("foldup_{number}_{slug}")
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

impl Reporter for GitLabReporter {
    fn group_start(&self, title: &str) {
        let name = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.started += 1;
            let name = section_name(state.started, title);
            state.open.push(name.clone());
            name
        };
        let title = sanitize_line(title);
        self.write_raw(&format!(
            "{ERASE_LINE}section_start:{}:{name}[collapsed=true]\r{ERASE_LINE}{title}\n",
            unix_seconds()
        ));
    }

    fn group_end(&self) {
        let name = self
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open
            .pop();
        if let Some(name) = name {
            self.write_raw(&format!(
                "{ERASE_LINE}section_end:{}:{name}\r{ERASE_LINE}\n",
                unix_seconds()
            ));
        }
    }

    fn info(&self, message: &str) {
        self.lines("", message);
    }

    fn warning(&self, message: &str) {
        self.lines(&format!("{YELLOW}warning:{RESET} "), message);
    }

    fn error(&self, message: &str) {
        self.lines(&format!("{RED}error:{RESET} "), message);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[derive(Clone, Default)]
    struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedBuffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn reporter() -> (GitLabReporter, SharedBuffer) {
        let buffer = SharedBuffer::default();
        (GitLabReporter::to_writer(Box::new(buffer.clone())), buffer)
    }

    fn text(buffer: &SharedBuffer) -> String {
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    /// (start or end, timestamp, name) of every section marker in a log, parsed the way GitLab's
    /// log renderer finds them: after an erase-line, up to `\r` + erase-line.
    fn markers(log: &str) -> Vec<(String, u64, String)> {
        let mut found = Vec::new();
        for piece in log.split(ERASE_LINE).skip(1) {
            let Some(marker) = piece.strip_suffix('\r') else {
                continue;
            };
            let mut parts = marker.splitn(3, ':');
            let (Some(kind), Some(ts), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let Some(kind) = kind.strip_prefix("section_") {
                let name = name.trim_end_matches("[collapsed=true]");
                found.push((kind.to_owned(), ts.parse().unwrap(), name.to_owned()));
            }
        }
        found
    }

    #[test]
    fn sections_are_collapsed_balanced_and_named_in_gitlabs_alphabet() {
        let (reporter, buffer) = reporter();
        let before = unix_seconds();
        reporter.group_start("Detected CI context (GitLab CI)");
        reporter.info("commit_sha 4e2f503ed8152238e481f588cdbe3b3496f1ddd3");
        reporter.group_start("Artifacts: target/");
        reporter.group_end();
        reporter.group_end();
        reporter.group_end(); // one too many: ignored, not a stray marker
        let log = text(&buffer);

        assert!(log.starts_with("\x1b[0Ksection_start:"));
        assert!(log.contains(
            "foldup_1_detected_ci_context_gitlab_ci[collapsed=true]\r\x1b[0KDetected CI context (GitLab CI)\n"
        ), "{log:?}");
        let found = markers(&log);
        let kinds_and_names: Vec<(&str, &str)> = found
            .iter()
            .map(|(kind, _, name)| (kind.as_str(), name.as_str()))
            .collect();
        assert_eq!(
            kinds_and_names,
            vec![
                ("start", "foldup_1_detected_ci_context_gitlab_ci"),
                ("start", "foldup_2_artifacts_target"),
                ("end", "foldup_2_artifacts_target"),
                ("end", "foldup_1_detected_ci_context_gitlab_ci"),
            ]
        );
        for (_, timestamp, name) in &found {
            assert!(*timestamp >= before && *timestamp <= unix_seconds() + 1);
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
    }

    #[test]
    fn a_branch_name_cannot_forge_a_section_or_a_line() {
        let (reporter, buffer) = reporter();
        let hostile = "feat\r\x1b[0Ksection_end:1:foldup_1\r\x1b[0K\nerror: forged";
        reporter.group_start(&format!("Branch {hostile}"));
        reporter.warning(&format!("branch '{hostile}' has no merge request"));
        reporter.group_end();
        let log = text(&buffer);

        let found = markers(&log);
        assert_eq!(found.len(), 2, "only our own start and end: {log:?}");
        assert_eq!(found[0].0, "start");
        assert_eq!(found[1].0, "end");
        assert_eq!(found[0].2, found[1].2);
        // The warning's second line is still marked as ours, not a free-standing forged line.
        for line in log.lines().filter(|l| l.contains("forged")) {
            assert!(
                line.starts_with("\x1b[33;1mwarning:\x1b[0m ") || line.contains("section_start"),
                "{line:?}"
            );
        }
    }

    #[test]
    fn warnings_and_errors_are_prefixed_coloured_lines() {
        let (reporter, buffer) = reporter();
        reporter.warning("no open merge request\nsecond line");
        reporter.error("upload refused");
        reporter.info("plain");
        assert_eq!(
            text(&buffer),
            "\x1b[33;1mwarning:\x1b[0m no open merge request\n\x1b[33;1mwarning:\x1b[0m second line\n\x1b[31;1merror:\x1b[0m upload refused\nplain\n"
        );
    }

    #[test]
    fn section_names_fall_back_when_a_title_has_no_letters() {
        assert_eq!(section_name(3, "→ ✓"), "foldup_3");
        assert_eq!(section_name(1, "Upload"), "foldup_1_upload");
        assert!(section_name(2, &"x".repeat(500)).len() <= "foldup_2_".len() + 40);
    }
}
