//! `foldup config`: the effective settings and where each came from.

use std::io::Write;

use foldup_core::sanitize_line;

use crate::failure::Failure;
use crate::Session;

pub fn run(session: &Session) -> Result<(), Failure> {
    let settings = &session.settings;
    let mut text = String::new();
    match &settings.config_file {
        Some(path) => text.push_str(&format!(
            "# config file: {}\n",
            sanitize_line(&path.display().to_string())
        )),
        None => text.push_str("# config file: none (./foldup.toml not found)\n"),
    }
    text.push_str(&format!("# provider: {}\n", session.provider.name()));
    for (key, value, source) in settings.describe() {
        let source = source
            .map(|s| format!("  # {}", sanitize_line(&s)))
            .unwrap_or_default();
        text.push_str(&format!("{key} = {}{source}\n", sanitize_line(&value)));
    }
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Failure::usage(format!("cannot write to standard output: {e}")))
}
