//! `CI_OPEN_MERGE_REQUESTS`: GitLab's list of up to four open merge requests whose source is the
//! pipeline's branch, newest first, each written as a full reference such as
//! `gitlab-org/gitlab!333`.

use crate::quoted;

/// One entry of `CI_OPEN_MERGE_REQUESTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequestReference {
    /// The full path of the project the merge request belongs to (its target project); empty
    /// for the short form `!57`, which GitLab uses for the current project.
    pub project_path: String,
    pub iid: u64,
}

impl MergeRequestReference {
    /// Whether the merge request belongs to the project at `project_path`. GitLab paths are
    /// case-insensitive; the short form `!57` always means the current project.
    pub fn belongs_to(&self, project_path: &str) -> bool {
        self.project_path.is_empty() || self.project_path.eq_ignore_ascii_case(project_path)
    }
}

/// What `CI_OPEN_MERGE_REQUESTS` holds: the references in GitLab's order, and the entries that
/// are not references (each already phrased as a warning).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenMergeRequests {
    pub references: Vec<MergeRequestReference>,
    pub warnings: Vec<String>,
}

impl OpenMergeRequests {
    /// The references that belong to `project_path`, newest first.
    pub fn for_project<'a>(
        &'a self,
        project_path: &'a str,
    ) -> impl Iterator<Item = &'a MergeRequestReference> + 'a {
        self.references
            .iter()
            .filter(move |reference| reference.belongs_to(project_path))
    }
}

/// Parses the value of `CI_OPEN_MERGE_REQUESTS`. Never fails: an entry that is not
/// `path!number` is skipped with a warning.
pub fn parse_open_merge_requests(value: &str) -> OpenMergeRequests {
    let mut parsed = OpenMergeRequests::default();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match parse_reference(entry) {
            Some(reference) => parsed.references.push(reference),
            None => parsed.warnings.push(format!(
                "ignoring '{}' in CI_OPEN_MERGE_REQUESTS: it is not a merge request reference like group/project!57",
                quoted(entry)
            )),
        }
    }
    parsed
}

fn parse_reference(entry: &str) -> Option<MergeRequestReference> {
    let (project_path, iid) = entry.rsplit_once('!')?;
    let project_path = project_path.trim();
    let path_is_plausible = project_path
        .split('/')
        .all(|segment| !segment.is_empty() && !segment.chars().any(char::is_whitespace));
    if !project_path.is_empty() && !path_is_plausible {
        return None;
    }
    Some(MergeRequestReference {
        project_path: project_path.to_owned(),
        iid: parse_iid(iid)?,
    })
}

/// A merge request IID: a positive decimal number, nothing else.
pub(crate) fn parse_iid(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&iid| iid > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(project_path: &str, iid: u64) -> MergeRequestReference {
        MergeRequestReference {
            project_path: project_path.to_owned(),
            iid,
        }
    }

    #[test]
    fn parses_the_documented_example_in_order() {
        // The example from GitLab's predefined variables reference.
        let parsed = parse_open_merge_requests("gitlab-org/gitlab!333,gitlab-org/gitlab-foss!11");
        assert_eq!(
            parsed.references,
            vec![
                reference("gitlab-org/gitlab", 333),
                reference("gitlab-org/gitlab-foss", 11)
            ]
        );
        assert!(parsed.warnings.is_empty());
    }

    #[test]
    fn picks_the_entries_of_one_project_among_several() {
        let parsed = parse_open_merge_requests(
            "upstream/dbt-warehouse!12,acme/analytics/dbt-warehouse!57,acme/analytics/dbt-warehouse!41",
        );
        let ours: Vec<u64> = parsed
            .for_project("acme/analytics/dbt-warehouse")
            .map(|r| r.iid)
            .collect();
        assert_eq!(ours, vec![57, 41]);
        assert_eq!(parsed.for_project("acme/analytics").count(), 0);
        assert_eq!(
            parsed
                .for_project("ACME/Analytics/DBT-Warehouse")
                .map(|r| r.iid)
                .next(),
            Some(57),
            "GitLab paths are case-insensitive"
        );
    }

    #[test]
    fn short_references_mean_the_current_project() {
        let parsed = parse_open_merge_requests("!789");
        assert_eq!(
            parsed.for_project("any/project").next().map(|r| r.iid),
            Some(789)
        );
    }

    #[test]
    fn malformed_entries_become_warnings_and_the_rest_still_counts() {
        let parsed = parse_open_merge_requests(
            " acme/x!7 , acme/x!seven,acme/x!,acme/x!-3,acme/x!0,no-bang,a//b!4,acme/x!99999999999999999999999,, acme/x!8 ",
        );
        assert_eq!(
            parsed.references,
            vec![reference("acme/x", 7), reference("acme/x", 8)]
        );
        assert_eq!(parsed.warnings.len(), 7, "{:#?}", parsed.warnings);
        assert!(parsed.warnings[0].contains("'acme/x!seven'"));
        assert!(parsed.warnings[0].contains("group/project!57"));
    }

    #[test]
    fn hostile_entries_cannot_smuggle_control_characters_into_warnings() {
        let parsed = parse_open_merge_requests("acme/x!1\n::error::forged,\u{1b}[31mred!2x");
        assert_eq!(parsed.references.len(), 0);
        for warning in &parsed.warnings {
            assert!(
                !warning.contains('\n') && !warning.contains('\u{1b}'),
                "{warning}"
            );
        }
    }

    #[test]
    fn empty_or_blank_values_hold_nothing() {
        assert_eq!(parse_open_merge_requests(""), OpenMergeRequests::default());
        assert_eq!(
            parse_open_merge_requests(" , ,"),
            OpenMergeRequests::default()
        );
    }

    #[test]
    fn iids_are_positive_decimal_numbers_only() {
        assert_eq!(parse_iid("57"), Some(57));
        assert_eq!(parse_iid(" 57 "), Some(57));
        for bad in [
            "",
            "0",
            "-1",
            "+5",
            "5.0",
            "0x1f",
            "fifty",
            "18446744073709551616",
        ] {
            assert_eq!(parse_iid(bad), None, "{bad}");
        }
    }
}
