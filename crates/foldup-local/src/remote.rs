//! The repository name (`owner/name`, or `group/subgroup/project` on GitLab) from a git remote
//! URL in any of the forms git accepts.

/// `owner/name` from `https://github.com/owner/name.git`, `git@github.com:owner/name.git`,
/// `ssh://git@host:22/owner/name`, … `None` for local paths and URLs without an owner.
/// Credentials in the URL are dropped with the host and never returned.
pub(crate) fn repository_path(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("file") {
            return None;
        }
        // Drop the authority (user:password@host:port).
        rest.split_once('/')?.1
    } else {
        // scp form, `[user@]host:path`; a path with a slash before the colon is a local path.
        let (authority, path) = url.split_once(':')?;
        if authority.is_empty() || authority.contains('/') || authority.contains('\\') {
            return None;
        }
        // A Windows drive letter (`C:\repo`) is a path, not a host.
        if authority.len() == 1 {
            return None;
        }
        path
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.len() < 2 || segments.iter().any(|s| *s == "." || *s == "..") {
        return None;
    }
    Some(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_remote_form_gives_owner_and_name() {
        let cases = [
            ("https://github.com/acme/warehouse.git", "acme/warehouse"),
            ("https://github.com/acme/warehouse", "acme/warehouse"),
            ("https://github.com/acme/warehouse/", "acme/warehouse"),
            ("git@github.com:acme/warehouse.git", "acme/warehouse"),
            ("github.com:acme/warehouse", "acme/warehouse"),
            ("ssh://git@github.com/acme/warehouse.git", "acme/warehouse"),
            (
                "ssh://git@gitlab.example.com:2222/data/dbt/warehouse.git",
                "data/dbt/warehouse",
            ),
            (
                "https://gitlab.com/data-team/analytics/dbt-project.git",
                "data-team/analytics/dbt-project",
            ),
            ("git@bitbucket.org:acme/warehouse.git", "acme/warehouse"),
            (
                "https://oauth2:glpat-SECRET@gitlab.com/acme/warehouse.git",
                "acme/warehouse",
            ),
            (
                "https://x-access-token:ghs_SECRET@github.com/acme/warehouse",
                "acme/warehouse",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(repository_path(url).as_deref(), Some(expected), "{url}");
        }
    }

    #[test]
    fn local_paths_and_odd_urls_have_no_repository() {
        for url in [
            "/srv/git/warehouse.git",
            "../warehouse",
            "file:///srv/git/acme/warehouse.git",
            "C:\\repos\\warehouse",
            "https://github.com/warehouse",
            "https://github.com",
            "",
            "git@github.com:",
            "https://github.com/acme/../warehouse",
        ] {
            assert_eq!(repository_path(url), None, "{url}");
        }
    }
}
