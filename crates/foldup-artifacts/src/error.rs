use std::path::Path;

/// What to tell a user whose artifacts cannot be uploaded. Each message is one sentence that says
/// what is wrong and what to do; the binary maps every variant to exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("there is no dbt target folder at {target} (from {origin}) — run `dbt build` first, or point --target-folder at dbt's target folder")]
    TargetMissing { target: String, origin: String },

    #[error("{target} (from {origin}) is a file, not dbt's target folder — point --target-folder at the folder that holds manifest.json")]
    TargetIsNotAFolder { target: String, origin: String },

    #[error("{target} has no manifest.json — run `dbt build` (or `dbt compile`) first, or point --target-folder at dbt's target folder")]
    ManifestMissing { target: String },

    #[error("{path} is not a dbt manifest: {problem} — run `dbt build` (or `dbt compile`) first, or point --target-folder at dbt's target folder")]
    NotAManifest { path: String, problem: String },

    #[error("{path} is {kind}, not a file — remove it, or run `dbt build` again so dbt writes a fresh one")]
    NotAFile { path: String, kind: &'static str },

    #[error("cannot read {path}: {reason} — check that the user running foldup may read it")]
    Unreadable {
        path: String,
        reason: std::io::Error,
    },

    #[error("{link} is a symlink to {destination}, outside the target folder, and foldup never follows links out of it — copy the file into the target folder instead")]
    SymlinkOutsideTarget { link: String, destination: String },

    #[error(
        "{link} is a symlink that loops back on itself — remove it or point it at a real file"
    )]
    SymlinkLoop { link: String },

    #[error("{link} is a symlink to {destination}, which does not exist — remove it, or run `dbt build` again")]
    SymlinkDangling { link: String, destination: String },

    #[error("--include {glob} is not a valid glob ({reason}) — use *, ** and ? as in a shell, relative to the target folder, and quote it")]
    BadGlob { glob: String, reason: String },

    #[error("{path} changed while it was being archived ({expected} bytes when found, {actual} when read) — run foldup after dbt has finished writing its artifacts")]
    ChangedWhileArchiving {
        path: String,
        expected: u64,
        actual: u64,
    },

    #[error("could not write the archive: {reason} — check that there is space left where it is written")]
    ArchiveWrite { reason: std::io::Error },
}

/// A path as it can be shown in a message or a log line: control characters such as newlines are
/// escaped, so a hostile file name cannot forge a line of output (or a CI workflow command).
pub(crate) fn shown(path: &Path) -> String {
    shown_text(&path.to_string_lossy())
}

/// Text from a file, escaped like [`shown`] and cut to a length that fits in one message.
pub(crate) fn shown_text(text: &str) -> String {
    const LONGEST: usize = 200;
    let mut out = String::new();
    for (count, character) in text.chars().enumerate() {
        if count == LONGEST {
            out.push('…');
            break;
        }
        if character.is_control() {
            out.extend(character.escape_default());
        } else {
            out.push(character);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_escapes_in_names_cannot_start_a_new_output_line() {
        let name = Path::new("target/a\n::error::forged\r\u{1b}[31m.json");
        let shown = shown(name);
        assert!(!shown.contains('\n') && !shown.contains('\r') && !shown.contains('\u{1b}'));
        assert_eq!(shown, "target/a\\n::error::forged\\r\\u{1b}[31m.json");
    }

    #[test]
    fn long_text_is_cut() {
        let shown = shown_text(&"x".repeat(1000));
        assert_eq!(shown.chars().count(), 201);
        assert!(shown.ends_with('…'));
    }
}
