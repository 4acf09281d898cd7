use std::collections::BTreeMap;
use std::ffi::OsString;

/// A snapshot of environment variables.
///
/// Plugins and settings read this, never `std::env`, so that every CI case is a plain table of
/// variables in a test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// Builds a snapshot from `(name, value)` pairs; later pairs win.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Builds a snapshot from `std::env::vars_os()`; variables that are not UTF-8 are dropped
    /// (no CI variable foldup reads can be non-UTF-8 and still be meaningful).
    pub fn from_os(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Self {
        Self {
            vars: vars
                .into_iter()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// The value of `name` when it is set and not empty (CI systems often set empty variables,
    /// which mean "not applicable").
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The value of `name` as set, even when empty.
    pub fn get_raw(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Whether `name` is set at all, empty or not.
    pub fn is_set(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }

    /// Whether `name` is set to a true-ish value (`true`, `1`, `yes`, any case).
    pub fn is_true(&self, name: &str) -> bool {
        matches!(
            self.get(name)
                .map(|v| v.trim().to_ascii_lowercase())
                .as_deref(),
            Some("true" | "1" | "yes")
        )
    }

    /// Returns a copy with `name` set to `value`.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The proxies and CA bundle this snapshot names (`HTTPS_PROXY`, `NO_PROXY`,
    /// `SSL_CERT_FILE`, …): every HTTP client foldup builds takes them from here.
    pub fn network(&self) -> foldup_http::NetworkSettings {
        foldup_http::NetworkSettings::from_variables(|name| self.get(name))
    }

    /// All variables, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_read_as_unset_but_remain_visible_raw() {
        let env = Env::from_pairs([("A", ""), ("B", "x"), ("C", "TRUE")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get_raw("A"), Some(""));
        assert!(env.is_set("A"));
        assert_eq!(env.get("B"), Some("x"));
        assert!(env.is_true("C"));
        assert!(!env.is_true("B"));
    }
}
