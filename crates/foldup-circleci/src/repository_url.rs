//! The host and path of the repository URLs CircleCI hands out: `CIRCLE_REPOSITORY_URL` is in scp
//! form (`git@github.com:acme/dbt.git`), pull request URLs are https.

/// Splits `git@host:path`, `https://host/path`, `ssh://git@host:22/path` into host and path.
fn host_and_path(url: &str) -> Option<(&str, &str)> {
    let url = url.trim();
    let (authority, path) = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/').unwrap_or((rest, ""))
    } else {
        // scp form: user@host:path (no scheme, a colon before any slash).
        let (authority, path) = url.split_once(':')?;
        if authority.contains('/') {
            return None;
        }
        (authority, path)
    };
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some((host, path))
}

/// CircleCI's short VCS name for a project slug, from a repository or pull request URL on
/// github.com (`gh`) or bitbucket.org (`bb`); other hosts have no such slug.
pub(crate) fn vcs_slug(url: &str) -> Option<&'static str> {
    let (host, _) = host_and_path(url)?;
    match host.to_ascii_lowercase().as_str() {
        "github.com" | "www.github.com" => Some("gh"),
        "bitbucket.org" | "www.bitbucket.org" => Some("bb"),
        _ => None,
    }
}

/// `owner/name` from a repository URL, without `.git`.
pub(crate) fn owner_and_name(url: &str) -> Option<String> {
    let (_, path) = host_and_path(url)?;
    let parts: Vec<&str> = path
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        [owner, name] => Some(format!("{owner}/{name}")),
        _ => None,
    }
}

/// A repository URL reduced for comparison: host and path, lowercase, without `.git`.
pub(crate) fn comparable(url: &str) -> Option<String> {
    let (host, path) = host_and_path(url)?;
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    Some(format!("{host}/{path}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_urls_in_every_form_circleci_uses() {
        assert_eq!(
            vcs_slug("git@github.com:j256/simplelogging.git"),
            Some("gh")
        );
        assert_eq!(
            vcs_slug("https://github.com/j256/simplelogging"),
            Some("gh")
        );
        assert_eq!(vcs_slug("git@bitbucket.org:acme/warehouse.git"), Some("bb"));
        assert_eq!(
            vcs_slug("https://bitbucket.org/acme/warehouse/pull-requests/3"),
            Some("bb")
        );
        assert_eq!(vcs_slug("ssh://git@github.com:22/o/r.git"), Some("gh"));
        assert_eq!(vcs_slug("https://gitlab.com/o/r"), None);
        assert_eq!(vcs_slug("not a url"), None);
        assert_eq!(
            owner_and_name("git@github.com:j256/simplelogging.git").as_deref(),
            Some("j256/simplelogging")
        );
        assert_eq!(
            owner_and_name("https://bitbucket.org/acme/warehouse/").as_deref(),
            Some("acme/warehouse")
        );
        assert_eq!(owner_and_name("https://github.com/only-owner"), None);
    }

    #[test]
    fn comparable_ignores_case_scheme_and_dot_git() {
        assert_eq!(
            comparable("https://github.com/Acme/DBT.git"),
            comparable("git@github.com:acme/dbt")
        );
        assert_ne!(
            comparable("https://github.com/alice/dbt"),
            comparable("https://github.com/acme/dbt")
        );
    }
}
