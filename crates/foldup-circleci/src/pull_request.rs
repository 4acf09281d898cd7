//! Pull request numbers as CircleCI spells them: a bare number (`CIRCLE_PR_NUMBER`), a URL
//! (`CIRCLE_PULL_REQUEST`: GitHub `…/pull/N`, Bitbucket `…/pull-requests/N`), or the branch name
//! CircleCI gives fork and by-number builds (`pull/N`, `pull/N/head`).

/// A pull request number: digits only, not zero (GitHub and Bitbucket count from 1).
pub(crate) fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim().trim_start_matches('#');
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| *n > 0)
}

/// Where in a pull request URL the number sat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumberPosition {
    /// The last path segment, as GitHub and Bitbucket print the URL.
    LastSegment,
    /// After `/pull/` or `/pull-requests/`, with more path behind it (`…/pull/7/files`).
    AfterMarker,
}

impl NumberPosition {
    /// Words for a `sources` entry about `variable`.
    pub(crate) fn describe(self, variable: &str) -> String {
        match self {
            NumberPosition::LastSegment => format!("last path segment of {variable}"),
            NumberPosition::AfterMarker => format!("the segment after /pull/ in {variable}"),
        }
    }
}

/// The number of a GitHub (`https://github.com/o/r/pull/7`) or Bitbucket
/// (`https://bitbucket.org/o/r/pull-requests/7`) pull request URL. Trailing slashes, a query and a
/// fragment are tolerated. The error is a sentence naming `variable`.
pub(crate) fn number_from_url(url: &str, variable: &str) -> Result<(u64, NumberPosition), String> {
    let without_fragment = url.split(['#', '?']).next().unwrap_or_default();
    let path = without_fragment
        .split_once("://")
        .map_or(without_fragment, |(_, rest)| rest);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // Skip the host: a host is never the number.
    let segments = segments.get(1..).unwrap_or_default();
    let found = match segments.last().and_then(|s| parse_number(s)) {
        Some(n) => Some((n, NumberPosition::LastSegment)),
        None => segments
            .iter()
            .rposition(|s| matches!(*s, "pull" | "pull-requests"))
            .and_then(|i| segments.get(i + 1))
            .and_then(|s| parse_number(s))
            .map(|n| (n, NumberPosition::AfterMarker)),
    };
    found.ok_or_else(|| {
        format!(
            "{variable} '{}' does not end in a pull request number (expected …/pull/N or …/pull-requests/N); ignoring it",
            shorten(url)
        )
    })
}

/// The number in the branch name CircleCI gives a fork pull request (`pull/7`) or a pipeline
/// triggered for a PR by number (`pull/7/head`, `pull/7/merge`).
pub(crate) fn number_from_branch(branch: &str) -> Option<u64> {
    let rest = branch.strip_prefix("pull/")?;
    let (number, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if matches!(tail, "" | "head" | "merge") {
        parse_number(number)
    } else {
        None
    }
}

/// A user value made safe and short for a warning.
pub(crate) fn shorten(text: &str) -> String {
    foldup_core::log_text::shown(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_from_github_and_bitbucket_urls() {
        let cases = [
            ("https://github.com/j256/simplelogging/pull/7", 7),
            ("https://github.com/j256/simplelogging/pull/7/", 7),
            ("https://github.com/j256/simplelogging/pull/7//", 7),
            (
                "https://bitbucket.org/acme/warehouse/pull-requests/118",
                118,
            ),
            (
                "https://bitbucket.org/acme/warehouse/pull-requests/118/",
                118,
            ),
            ("https://github.com/o/r/pull/12#issuecomment-1", 12),
            ("https://github.example.com/o/r/pull/3?w=1", 3),
        ];
        for (url, expected) in cases {
            let (n, pos) = number_from_url(url, "CIRCLE_PULL_REQUEST").unwrap();
            assert_eq!((n, pos), (expected, NumberPosition::LastSegment), "{url}");
        }
        let (n, pos) =
            number_from_url("https://github.com/o/r/pull/9/files", "CIRCLE_PULL_REQUEST").unwrap();
        assert_eq!((n, pos), (9, NumberPosition::AfterMarker));
    }

    #[test]
    fn odd_urls_are_a_sentence_not_a_panic() {
        for url in [
            "https://github.com/o/r/pull/abc",
            "https://github.com/o/r",
            "https://12345/",
            "",
            "pull/",
            "https://github.com/o/r/pull/99999999999999999999999",
            "https://github.com/o/r/pull/0",
            "https://github.com/o/r/pull/-3",
        ] {
            let err = number_from_url(url, "CIRCLE_PULL_REQUEST").unwrap_err();
            assert!(err.starts_with("CIRCLE_PULL_REQUEST '"), "{err}");
            assert!(err.contains("ignoring it"), "{err}");
        }
    }

    #[test]
    fn control_characters_in_a_bad_url_cannot_forge_log_lines() {
        let err = number_from_url("https://x/o/r/pull/\n::error::boom", "CIRCLE_PULL_REQUEST")
            .unwrap_err();
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn numbers_from_circleci_pr_branches() {
        assert_eq!(number_from_branch("pull/42"), Some(42));
        assert_eq!(number_from_branch("pull/42/head"), Some(42));
        assert_eq!(number_from_branch("pull/42/merge"), Some(42));
        assert_eq!(number_from_branch("pull/42/other"), None);
        assert_eq!(number_from_branch("pull/x"), None);
        assert_eq!(number_from_branch("feature/pull/42"), None);
    }

    #[test]
    fn bare_numbers() {
        assert_eq!(parse_number("42"), Some(42));
        assert_eq!(parse_number(" #42 "), Some(42));
        assert_eq!(parse_number("4 2"), None);
        assert_eq!(parse_number("0"), None);
        assert_eq!(parse_number("+4"), None);
    }
}
