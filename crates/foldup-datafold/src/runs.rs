//! Datafold's CI runs (`ApiCiRun` in Datafold's OpenAPI) and their states.

use serde::{Deserialize, Deserializer, Serialize};

/// One CI run as `GET /api/v1/ci/{ci_config_id}/runs` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CiRun {
    pub id: u64,
    /// The pull request number; Datafold sends it as a string.
    #[serde(default, deserialize_with = "string_or_number")]
    pub pr_num: Option<String>,
    /// `done`, `failed`, `cancelled`, or a state of a run still going.
    pub status: String,
    #[serde(default)]
    pub pr_sha: Option<String>,
    #[serde(default)]
    pub pr_branch: Option<String>,
    #[serde(default)]
    pub base_branch: Option<String>,
    #[serde(default)]
    pub base_sha: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// Where a run is, by the three final statuses datafold-sdk knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    InProgress,
    Done,
    Failed,
    Cancelled,
}

impl CiRun {
    pub fn state(&self) -> RunState {
        match self.status.as_str() {
            "done" => RunState::Done,
            "failed" => RunState::Failed,
            "cancelled" => RunState::Cancelled,
            _ => RunState::InProgress,
        }
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrNumber {
        String(String),
        Number(serde_json::Number),
    }
    Ok(
        Option::<StringOrNumber>::deserialize(deserializer)?.map(|value| match value {
            StringOrNumber::String(s) => s,
            StringOrNumber::Number(n) => n.to_string(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_parse_as_datafold_sends_them() {
        let run: CiRun = serde_json::from_str(
            r#"{"id":5,"base_branch":"main","base_sha":"b","pr_branch":"f","pr_sha":"a","pr_num":"42","status":"done","source":"api"}"#,
        )
        .unwrap();
        assert_eq!(run.pr_num.as_deref(), Some("42"));
        assert_eq!(run.state(), RunState::Done);
        let numeric: CiRun =
            serde_json::from_str(r#"{"id":6,"pr_num":7,"status":"running"}"#).unwrap();
        assert_eq!(numeric.pr_num.as_deref(), Some("7"));
        assert_eq!(numeric.state(), RunState::InProgress);
        let bare: CiRun =
            serde_json::from_str(r#"{"id":6,"pr_num":null,"status":"cancelled"}"#).unwrap();
        assert_eq!(
            (bare.pr_num.as_deref(), bare.state()),
            (None, RunState::Cancelled)
        );
    }
}
