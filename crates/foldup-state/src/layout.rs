//! Where things live in a store, and the two JSON documents foldup writes beside dbt's files.
//!
//! ```text
//! <prefix>/<repository>/-/<dbt project>/commits/<sha>/manifest.json        (dbt's bytes)
//! <prefix>/<repository>/-/<dbt project>/commits/<sha>/foldup-state.json    (the record)
//! <prefix>/<repository>/-/<dbt project>/branches/<branch>.json             (the pointer)
//! ```

use object_store::path::{Path as ObjectPath, PathPart};
use serde::{Deserialize, Serialize};

use crate::StateError;

/// The record's file name, in the commit's folder (and in a pulled folder).
pub const RECORD_FILE: &str = "foldup-state.json";
/// The `format` of a record.
pub const RECORD_FORMAT: &str = "foldup-state-record/1";
/// The `format` of a branch pointer.
pub const POINTER_FORMAT: &str = "foldup-state-pointer/1";

/// What a state is keyed by: the repository and the dbt project's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `owner/name`, or `group/subgroup/project`.
    pub repository: String,
    /// `name` in `dbt_project.yml`.
    pub project: String,
}

impl Key {
    pub fn new(repository: &str, project: &str) -> Result<Key, StateError> {
        let parts: Vec<&str> = repository.split('/').filter(|p| !p.is_empty()).collect();
        let ok = |s: &str| !s.is_empty() && s != "." && s != ".." && s != "-";
        if parts.is_empty() || !parts.iter().all(|p| ok(p)) {
            return Err(StateError::usage(format!(
                "cannot key the state by the repository '{}'; run in the CI (or a git clone with a remote) or set the repository",
                foldup_core::sanitize_line(repository)
            )));
        }
        if !ok(project) || project.contains('/') {
            return Err(StateError::usage(format!(
                "cannot key the state by the dbt project name '{}'; give dbt_project.yml a plain `name:`",
                foldup_core::sanitize_line(project)
            )));
        }
        Ok(Key {
            repository: parts.join("/"),
            project: project.to_owned(),
        })
    }

    fn base(&self, prefix: &ObjectPath) -> ObjectPath {
        let mut path = prefix.clone();
        for part in self.repository.split('/') {
            path = path.clone().join(PathPart::from(part));
        }
        path.clone()
            .join("-")
            .clone()
            .join(PathPart::from(self.project.as_str()))
    }

    /// The folder of one commit's state.
    pub(crate) fn commit_dir(&self, prefix: &ObjectPath, sha: &str) -> ObjectPath {
        self.base(prefix)
            .clone()
            .join("commits")
            .clone()
            .join(PathPart::from(sha))
    }

    /// One file of one commit's state.
    pub(crate) fn file(&self, prefix: &ObjectPath, sha: &str, name: &str) -> ObjectPath {
        let mut path = self.commit_dir(prefix, sha);
        for part in name.split('/') {
            path = path.clone().join(PathPart::from(part));
        }
        path
    }

    /// A branch's pointer; a `/` in the branch name is kept inside one key segment (as `%2F`).
    pub(crate) fn pointer(&self, prefix: &ObjectPath, branch: &str) -> ObjectPath {
        self.base(prefix)
            .clone()
            .join("branches")
            .clone()
            .join(PathPart::from(format!("{branch}.json").as_str()))
    }
}

/// One stored file in a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordFile {
    /// Relative to the dbt target folder, `/`-separated.
    pub name: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// The per-commit record: every file with its size and sha256, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub format: String,
    pub repository: String,
    pub project: String,
    pub commit: String,
    pub branch: String,
    /// The committer time of the commit, seconds since the epoch, when git knew it.
    pub commit_time: Option<i64>,
    pub dbt_version: Option<String>,
    pub build_url: Option<String>,
    /// When the push happened, RFC 3339 UTC.
    pub pushed_at: String,
    pub files: Vec<RecordFile>,
}

/// A branch's pointer to its latest state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    pub format: String,
    pub branch: String,
    pub commit: String,
    /// What orders pushes: the commit's committer time (else the push time), seconds since epoch.
    pub order: i64,
    /// Where `order` came from: `commit time` or `push time`.
    pub order_source: String,
    pub pushed_at: String,
    pub build_url: Option<String>,
}

/// Whether `name` is a safe relative file name to store and to write into a folder.
pub(crate) fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != RECORD_FILE
        && !name.starts_with('/')
        && !name.contains('\\')
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.chars().any(char::is_control))
}

/// Whether `text` is a full 40-digit commit sha.
pub fn is_full_sha(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_repository_then_project_and_keep_branches_in_one_segment() {
        let key = Key::new("acme/analytics", "shop").unwrap();
        let prefix = ObjectPath::from("ci/state");
        assert_eq!(
            key.file(&prefix, "abc", "manifest.json").as_ref(),
            "ci/state/acme/analytics/-/shop/commits/abc/manifest.json"
        );
        assert_eq!(
            key.pointer(&prefix, "release/2024").as_ref(),
            "ci/state/acme/analytics/-/shop/branches/release%2F2024.json"
        );
        assert!(Key::new("a/../b", "shop").is_err());
        assert!(Key::new("a/b", "x/y").is_err());
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in [
            "",
            "../x",
            "a/../b",
            "/etc/passwd",
            "a\\b",
            RECORD_FILE,
            "a//b",
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
        assert!(safe_name("manifest.json"));
        assert!(safe_name("compiled/x.sql"));
    }
}
