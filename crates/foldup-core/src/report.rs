use std::io::Write;

use foldup_logtext::one_line as sanitize_line;

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

/// An open collapsible section of the log: opened by [`LogGroup::open`], closed when dropped, so
/// it is closed on every path out of the code that opened it, errors included.
pub struct LogGroup<'a> {
    reporter: &'a dyn Reporter,
}

impl<'a> LogGroup<'a> {
    pub fn open(reporter: &'a dyn Reporter, title: &str) -> Self {
        reporter.group_start(title);
        Self { reporter }
    }
}

impl Drop for LogGroup<'_> {
    fn drop(&mut self) {
        self.reporter.group_end();
    }
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
