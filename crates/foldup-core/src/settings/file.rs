//! Reading a user's config file: every mistake names the file, the line and the key.

use std::path::Path;

use toml_edit::{Item, Value};

use super::options::{self, Kind};
use crate::ConfigError;

/// Checks a config file's text against the option table before figment sees it, so that an
/// error can say where it is.
pub(crate) fn validate(path: &Path, text: &str) -> Result<(), ConfigError> {
    // The path, keys and parser messages are the user's text: made safe for one log line.
    let shown = crate::sanitize_line(&path.display().to_string());
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        ConfigError(format!(
            "{shown} line {line}: this is not valid TOML ({}); fix the syntax or compare with `foldup config`",
            crate::sanitize_line(e.message().trim())
        ))
    })?;
    for (raw_key, item) in doc.iter() {
        let line = doc
            .get_key_value(raw_key)
            .and_then(|(k, _)| k.span())
            .map(|s| line_of(text, s.start))
            .unwrap_or(1);
        let key = crate::sanitize_line(raw_key);
        // `[providers.NAME]`: the user's own CI definitions, checked by the binary's registry
        // (their format belongs to foldup-providers).
        if raw_key == "providers" {
            if !item
                .as_table_like()
                .is_some_and(|t| t.iter().all(|(_, v)| v.is_table_like()))
            {
                return Err(ConfigError(format!(
                    "{shown} line {line}: key 'providers' must hold one table per CI, like [providers.my-ci]"
                )));
            }
            continue;
        }
        let Some(spec) = options::find(raw_key) else {
            return Err(ConfigError(format!(
                "{shown} line {line}: unknown key '{key}'; the keys foldup reads are listed by `foldup config`"
            )));
        };
        if !spec.allowed_in_file() {
            let var = spec
                .env_vars()
                .into_iter()
                .nth(1)
                .unwrap_or_else(|| spec.env_vars()[0].clone());
            return Err(ConfigError(format!(
                "{shown} line {line}: key '{key}' is a secret and does not belong in a file; remove it and set {var} in your CI's secret settings"
            )));
        }
        if let Some(expected) = type_mismatch(spec.kind, item) {
            return Err(ConfigError(format!(
                "{shown} line {line}: key '{key}' must be {expected}"
            )));
        }
    }
    Ok(())
}

/// `Some(description of the expected value)` when `item` does not fit `kind`.
fn type_mismatch(kind: Kind, item: &Item) -> Option<String> {
    let value = item.as_value();
    let fits = match kind {
        Kind::Text | Kind::Path => value.is_some_and(Value::is_str),
        Kind::Number => value.and_then(Value::as_integer).is_some_and(|n| n >= 0),
        Kind::Minutes => {
            value.and_then(Value::as_integer).is_some_and(|n| n >= 0)
                || value
                    .and_then(Value::as_str)
                    .is_some_and(|s| super::parse_duration(s).is_ok())
        }
        Kind::Switch => value.is_some_and(Value::is_bool),
        Kind::List => value
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().all(Value::is_str)),
        Kind::Choice(words) => value
            .and_then(Value::as_str)
            .is_some_and(|s| words.contains(&s)),
        Kind::Secret => false,
    };
    (!fits).then(|| super::describe_kind(kind))
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> String {
        validate(Path::new("foldup.toml"), text).unwrap_err().0
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = check("run_type = \"auto\"\n\nci_config_id = \"abc\"\n");
        assert_eq!(
            e,
            "foldup.toml line 3: key 'ci_config_id' must be a whole number (for example 1234)"
        );
        let e = check("wait = true\nciconfigid = 3\n");
        assert!(
            e.starts_with("foldup.toml line 2: unknown key 'ciconfigid'"),
            "{e}"
        );
        let e = check("run_type = \"nightly\"\n");
        assert!(
            e.contains("line 1: key 'run_type' must be one of auto, pull_request, production"),
            "{e}"
        );
        let e = check("api_key = \"x\"\n");
        assert!(
            e.contains("line 1: key 'api_key' is a secret") && e.contains("DATAFOLD_API_KEY"),
            "{e}"
        );
        let e = check("wait = \n");
        assert!(
            e.starts_with("foldup.toml line 1: this is not valid TOML"),
            "{e}"
        );
    }

    #[test]
    fn the_shipped_defaults_are_valid() {
        validate(Path::new("config/foldup.toml"), super::super::DEFAULTS).unwrap();
    }
}
