//! The Markdown report: counts first, the modified resources with their reasons, the downstream
//! grouped by kind, long lists folded, never longer than a GitHub comment allows.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::{Impact, Reason};

/// GitHub's limit on a comment's body, in characters.
pub const MARKDOWN_LIMIT: usize = 65_536;

/// Room kept for the closing lines whatever the lists take.
const RESERVE: usize = 1_500;
/// Lists longer than this are folded into `<details>`.
const FOLD_AFTER: usize = 10;

/// A list of lines that stops at its budget and says how many it left out.
struct Budgeted<'a> {
    out: &'a mut String,
    limit: usize,
    omitted: usize,
}

impl Budgeted<'_> {
    fn push(&mut self, line: &str) {
        if self.omitted == 0 && self.out.len() + line.len() < self.limit {
            self.out.push_str(line);
            self.out.push('\n');
        } else {
            self.omitted += 1;
        }
    }

    fn finish(self) {
        if self.omitted > 0 {
            let _ = writeln!(
                self.out,
                "\n… and {} more (`foldup impact --format json` lists them all)",
                count(self.omitted)
            );
        }
    }
}

/// The plural heading for a resource type.
fn kind_heading(resource_type: &str) -> String {
    match resource_type {
        "analysis" => "analyses".to_owned(),
        "unit_test" => "unit tests".to_owned(),
        "semantic_model" => "semantic models".to_owned(),
        "saved_query" => "saved queries".to_owned(),
        other => format!("{other}s"),
    }
}

/// A count with thousands separators: 29,484.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Escapes what would break a table cell or a code span.
fn code(id: &str) -> String {
    format!("`{}`", id.replace('`', "'").replace('|', "\\|"))
}

fn reasons(list: &[Reason]) -> String {
    list.iter()
        .map(|r| r.as_str().replace('_', " "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the report; `base` says where the base manifest came from.
pub fn markdown(impact: &Impact, base: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### foldup impact\n");
    let _ = writeln!(
        out,
        "**{} modified · {} downstream · {} removed** (compared with {})\n",
        count(impact.modified.len()),
        count(impact.impacted.len()),
        count(impact.removed.len()),
        base.replace(['\n', '\r'], " ")
    );
    if impact.modified.is_empty() && impact.removed.is_empty() {
        out.push_str(
            "Nothing in the dbt project changed in a way dbt's `state:modified` selects.\n",
        );
        return out;
    }
    let body_limit = MARKDOWN_LIMIT - RESERVE;

    if !impact.modified.is_empty() {
        let folded = impact.modified.len() > FOLD_AFTER;
        let _ = writeln!(out, "#### Modified ({})\n", count(impact.modified.len()));
        if folded {
            let _ = writeln!(
                out,
                "<details><summary>{} modified resources</summary>\n",
                count(impact.modified.len())
            );
        }
        out.push_str("| Resource | Type | Why |\n|---|---|---|\n");
        // The modified list may take up to 55% of the comment; the rest is for downstream.
        let mut list = Budgeted {
            limit: body_limit * 55 / 100,
            out: &mut out,
            omitted: 0,
        };
        for m in &impact.modified {
            list.push(&format!(
                "| {} | {} | {} |",
                code(&m.unique_id),
                m.resource_type,
                reasons(&m.reasons)
            ));
        }
        list.finish();
        if folded {
            out.push_str("\n</details>\n");
        }
        out.push('\n');
    }

    if !impact.impacted.is_empty() {
        let mut by_kind: BTreeMap<&str, Vec<&crate::Impacted>> = BTreeMap::new();
        for i in &impact.impacted {
            by_kind.entry(i.resource_type.as_str()).or_default().push(i);
        }
        let _ = writeln!(out, "#### Downstream ({})\n", count(impact.impacted.len()));
        let counts: Vec<String> = by_kind
            .iter()
            .map(|(kind, list)| format!("{} {}", count(list.len()), kind_heading(kind)))
            .collect();
        let _ = writeln!(out, "{}\n", counts.join(" · "));
        let kinds = by_kind.len();
        for (n, (kind, list)) in by_kind.into_iter().enumerate() {
            let folded = list.len() > FOLD_AFTER;
            let heading = format!("{} {}", count(list.len()), kind_heading(kind));
            if folded {
                let _ = writeln!(out, "<details><summary>{heading}</summary>\n");
            } else {
                let _ = writeln!(out, "**{heading}**\n");
            }
            // Each kind may take an even share of what is left for the lists.
            let share = (body_limit * 95 / 100).saturating_sub(out.len()) / (kinds - n);
            let mut lines = Budgeted {
                limit: out.len() + share,
                out: &mut out,
                omitted: 0,
            };
            for i in list {
                lines.push(&format!("- {} via {}", code(&i.unique_id), code(&i.via)));
            }
            lines.finish();
            if folded {
                out.push_str("\n</details>\n");
            }
            out.push('\n');
        }
    }

    if !impact.removed.is_empty() {
        let _ = writeln!(out, "#### Removed ({})\n", count(impact.removed.len()));
        let folded = impact.removed.len() > FOLD_AFTER;
        if folded {
            let _ = writeln!(
                out,
                "<details><summary>{} removed resources</summary>\n",
                count(impact.removed.len())
            );
        }
        let mut lines = Budgeted {
            limit: body_limit,
            out: &mut out,
            omitted: 0,
        };
        for r in &impact.removed {
            lines.push(&format!("- {} ({})", code(&r.unique_id), r.resource_type));
        }
        lines.finish();
        if folded {
            out.push_str("\n</details>\n");
        }
    }
    debug_assert!(out.chars().count() <= MARKDOWN_LIMIT);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_have_thousands_separators() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (29_484, "29,484"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(super::count(n), text);
        }
    }
}
