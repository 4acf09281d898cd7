use std::io::Write;

use crate::CiContext;

/// Where foldup tells the user what happened, in its CI's idiom. Everything goes to stderr
/// (stdout is reserved for machine-readable output such as `env --json`).
pub trait Reporter: Send + Sync {
    /// Asks the CI to hide `secret` from its logs (GitHub's `::add-mask::`); most CIs mask
    /// secrets themselves and need nothing here.
    fn mask(&self, _secret: &str) {}

    /// Opens a collapsible section of details.
    fn group_start(&self, title: &str);
    fn group_end(&self);

    fn info(&self, message: &str);
    fn warning(&self, message: &str);
    fn error(&self, message: &str);

    /// Something the user should notice that is neither a warning nor an error (a build skipped
    /// by policy); GitHub shows it as a `::notice::` annotation, other CIs as a plain line.
    fn notice(&self, message: &str) {
        self.info(message);
    }

    /// Publishes the resolved context as step outputs, where the CI has them.
    fn outputs(&self, _context: &CiContext) {}

    /// Appends Markdown to the job's summary page, where the CI has one.
    fn summary(&self, _markdown: &str) {}
}

/// Makes a value safe to print on one log line: control characters (CR, LF, NEL, ESC, …) and the
/// Unicode line and paragraph separators (which some log viewers break lines at) become `\u{..}`
/// escapes, so a branch name or PR title can never start a forged log line, a workflow command or
/// a terminal escape sequence.
pub fn sanitize_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}') {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Plain text with clear headers: the local shell and CIs without a log idiom.
#[derive(Debug, Default)]
pub struct PlainReporter;

impl PlainReporter {
    fn line(&self, prefix: &str, message: &str) {
        let mut err = std::io::stderr().lock();
        for line in message.lines() {
            let _ = writeln!(err, "{prefix}{}", sanitize_line(line));
        }
    }
}

impl Reporter for PlainReporter {
    fn group_start(&self, title: &str) {
        self.line("", &format!("==> {title}"));
    }

    fn group_end(&self) {}

    fn info(&self, message: &str) {
        self.line("", message);
    }

    fn warning(&self, message: &str) {
        self.line("warning: ", message);
    }

    fn error(&self, message: &str) {
        self.line("error: ", message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_line_neutralises_line_breaks_and_escapes() {
        let s = sanitize_line("feat\r\n::set-output name=x::y\x1b[31m");
        assert!(!s.contains('\n') && !s.contains('\r') && !s.contains('\x1b'));
        assert!(s.contains("\\u{a}::set-output"));
        let s = sanitize_line("a\u{2028}::warning::x\u{2029}b\u{85}c");
        assert_eq!(s, "a\\u{2028}::warning::x\\u{2029}b\\u{85}c");
    }
}
