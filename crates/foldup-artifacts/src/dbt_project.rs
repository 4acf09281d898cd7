//! Reads the one setting foldup needs from `dbt_project.yml`: the top-level `target-path`.
//!
//! A full YAML parser would be a large dependency for one scalar, so this reads lines: a key at
//! column 0 named `target-path` (bare or quoted), and a plain, single- or double-quoted value with
//! an optional trailing comment. Anything it cannot read with certainty — Jinja, block scalars,
//! anchors — is reported, so the caller can warn instead of guessing.

use std::io::{self, BufRead, Read};

/// A `dbt_project.yml` larger than this is not a dbt project file; only this much is read.
const PROJECT_FILE_LIMIT: u64 = 1024 * 1024;

/// What `dbt_project.yml` says about the target folder.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TargetPathSetting {
    /// No top-level `target-path` key (or an explicit null): dbt's default applies.
    Absent,
    /// The folder, as written (relative paths are relative to the project folder).
    Path(String),
    /// A value this reader cannot resolve, with the reason.
    Unreadable(String),
}

pub(crate) fn read_target_path(project_file: impl Read) -> io::Result<TargetPathSetting> {
    read_top_level(project_file, "target-path")
}

/// The dbt project's `name` from its `dbt_project.yml`, read as `target-path` is; `None` when the
/// file is missing or the name is absent or unreadable.
pub fn read_project_name(project_dir: &std::path::Path) -> Option<String> {
    let file = std::fs::File::open(project_dir.join("dbt_project.yml")).ok()?;
    match read_top_level(file, "name").ok()? {
        TargetPathSetting::Path(name) => Some(name),
        _ => None,
    }
}

/// A top-level scalar `key` of a `dbt_project.yml`.
fn read_top_level(project_file: impl Read, key: &str) -> io::Result<TargetPathSetting> {
    let mut lines = io::BufReader::new(project_file.take(PROJECT_FILE_LIMIT));
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            return Ok(TargetPathSetting::Absent);
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            continue;
        };
        if let Some(value) = key_value(text.trim_end_matches(['\n', '\r']), key) {
            return Ok(parse_value(value));
        }
    }
}

/// The text after `key:` when `line` holds that top-level key.
fn key_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let rest = [key.to_owned(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .find_map(|key| line.strip_prefix(key.as_str()))?;
    let rest = rest.trim_start_matches([' ', '\t']).strip_prefix(':')?;
    if rest.is_empty() || rest.starts_with([' ', '\t']) {
        Some(rest.trim_matches([' ', '\t']))
    } else {
        None
    }
}

fn parse_value(value: &str) -> TargetPathSetting {
    let unreadable = |why: &str| TargetPathSetting::Unreadable(why.to_string());
    let parsed = if let Some(rest) = value.strip_prefix('"') {
        double_quoted(rest)
    } else if let Some(rest) = value.strip_prefix('\'') {
        single_quoted(rest)
    } else {
        if value.is_empty() || value.starts_with('#') {
            return unreadable("its value is not on the same line");
        }
        if value.starts_with(['|', '>', '&', '*', '!', '{', '[', '@', '`', '%']) {
            return unreadable("its value is not a plain string");
        }
        let end = [" #", "\t#"]
            .iter()
            .filter_map(|comment| value.find(comment))
            .min()
            .unwrap_or(value.len());
        let plain = value[..end].trim_end();
        if matches!(plain, "null" | "Null" | "NULL" | "~") {
            return TargetPathSetting::Absent;
        }
        Some((plain.to_string(), ""))
    };
    let Some((text, after)) = parsed else {
        return unreadable("its quoted value is not closed on the same line");
    };
    let after = after.trim_start_matches([' ', '\t']);
    if !after.is_empty() && !after.starts_with('#') {
        return unreadable("there is text after its quoted value");
    }
    if text.contains("{{") || text.contains("{%") {
        return unreadable("its value uses Jinja, which foldup does not render");
    }
    if text.is_empty() {
        return unreadable("its value is empty");
    }
    TargetPathSetting::Path(text)
}

/// A double-quoted YAML scalar after its opening quote: the text and what follows the closing quote.
fn double_quoted(rest: &str) -> Option<(String, &str)> {
    let mut text = String::new();
    let mut characters = rest.char_indices();
    while let Some((index, character)) = characters.next() {
        match character {
            '"' => return Some((text, &rest[index + 1..])),
            '\\' => {
                let (_, escaped) = characters.next()?;
                text.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    '0' => '\0',
                    other => other,
                });
            }
            other => text.push(other),
        }
    }
    None
}

/// A single-quoted YAML scalar after its opening quote, where `''` stands for one quote.
fn single_quoted(rest: &str) -> Option<(String, &str)> {
    let mut text = String::new();
    let mut characters = rest.char_indices().peekable();
    while let Some((index, character)) = characters.next() {
        if character == '\'' {
            if characters.peek().map(|(_, next)| *next) == Some('\'') {
                characters.next();
                text.push('\'');
                continue;
            }
            return Some((text, &rest[index + 1..]));
        }
        text.push(character);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> TargetPathSetting {
        read_target_path(text.as_bytes()).unwrap()
    }

    fn path(text: &str) -> TargetPathSetting {
        TargetPathSetting::Path(text.to_string())
    }

    #[test]
    fn reads_the_top_level_key_in_its_usual_spellings() {
        assert_eq!(read("name: shop\ntarget-path: build\n"), path("build"));
        assert_eq!(
            read("target-path: \"out dir\" # where dbt writes\n"),
            path("out dir")
        );
        assert_eq!(read("target-path: 'it''s here'\n"), path("it's here"));
        assert_eq!(
            read("\"target-path\" : /abs/target\r\n"),
            path("/abs/target")
        );
        assert_eq!(read("target-path: build # comment\n"), path("build"));
        assert_eq!(read("target-path: a#b\n"), path("a#b"));
        assert_eq!(
            read("\u{feff}target-path: \"tab\\tname\"\n"),
            path("tab\tname")
        );
    }

    #[test]
    fn ignores_nested_commented_and_similar_keys() {
        let text = "name: shop\n# target-path: commented\nmodels:\n  target-path: nested\n\
                    target-paths: other\ntarget-path-x: other\n";
        assert_eq!(read(text), TargetPathSetting::Absent);
        assert_eq!(read("target-path: null\n"), TargetPathSetting::Absent);
        assert_eq!(
            read("target-path: ~ # default\n"),
            TargetPathSetting::Absent
        );
    }

    #[test]
    fn says_when_it_cannot_be_sure() {
        for (text, reason) in [
            (
                "target-path: \"{{ env_var('TARGET', 'target') }}\"\n",
                "Jinja",
            ),
            ("target-path: |\n  target\n", "not a plain string"),
            ("target-path:\n  target\n", "not on the same line"),
            ("target-path: \"open\n", "not closed"),
            ("target-path: 'a' b\n", "text after"),
            ("target-path: \"\"\n", "empty"),
            ("target-path: &anchor target\n", "not a plain string"),
        ] {
            match read(text) {
                TargetPathSetting::Unreadable(why) => {
                    assert!(why.contains(reason), "{text:?}: {why}")
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn reads_the_bundled_example_project() {
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/shop/dbt_project.yml"
        );
        let file = std::fs::File::open(example).unwrap();
        assert_eq!(read_target_path(file).unwrap(), TargetPathSetting::Absent);
    }
}
