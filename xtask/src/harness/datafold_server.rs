//! Runs the `foldup-testserver` binary (a Datafold-compatible server on 127.0.0.1) for the CI
//! packaging tests, and reads back what it received.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

pub const API_KEY: &str = "foldup-ci-packaging-canary-key";
pub const CI_CONFIG_ID: u64 = 4242;

pub struct DatafoldServer {
    child: Child,
    url: String,
    record: PathBuf,
}

impl DatafoldServer {
    /// Starts the server; `scratch` holds its record file.
    pub fn start(scratch: &Path) -> Result<Self> {
        let binary = crate::dist::debug_binary("foldup-testserver")?;
        let record = scratch.join("datafold-requests.json");
        let mut child = Command::new(&binary)
            .args(["--port", "0", "--api-key", API_KEY, "--ci-config-id"])
            .arg(CI_CONFIG_ID.to_string())
            .arg("--record")
            .arg(&record)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("the test server has no stdout")?;
        let mut first_line = String::new();
        BufReader::new(stdout).read_line(&mut first_line)?;
        let url = first_line.trim().to_owned();
        if !url.starts_with("http://") {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "foldup-testserver printed '{url}' instead of its URL; run it by hand to see why"
            );
        }
        Ok(Self { child, url, record })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far (the record file's JSON array).
    pub fn requests(&self) -> Result<Vec<Value>> {
        if !self.record.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&self.record)?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", self.record.display()))?;
        match value {
            Value::Array(items) => Ok(items),
            other => bail!("the test server's record is not a list: {other}"),
        }
    }

    /// The upload requests received so far.
    pub fn uploads(&self) -> Result<Vec<Upload>> {
        Ok(self
            .requests()?
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("/api/v1/dbt/submit_artifacts/")
            })
            .map(Upload::from_record)
            .collect())
    }
}

impl Drop for DatafoldServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one `submit_artifacts` request carried.
#[derive(Debug)]
pub struct Upload {
    pub path: String,
    pub authorization: Option<String>,
    pub commit_sha: Option<String>,
    pub run_type: Option<String>,
    pub entries: Vec<String>,
    pub status: Option<u64>,
}

impl Upload {
    fn from_record(record: &Value) -> Self {
        let pair_value = |list: &Value, name: &str| -> Option<String> {
            list.as_array()?.iter().find_map(|pair| {
                let pair = pair.as_array()?;
                let key = pair.first()?.as_str()?;
                key.eq_ignore_ascii_case(name)
                    .then(|| pair.get(1)?.as_str().map(str::to_owned))
                    .flatten()
            })
        };
        Self {
            path: record["path"].as_str().unwrap_or("").to_owned(),
            authorization: pair_value(&record["headers"], "authorization"),
            commit_sha: pair_value(&record["fields"], "commit_sha"),
            run_type: pair_value(&record["fields"], "run_type"),
            entries: record["archive"]["entries"]
                .as_array()
                .map(|entries| {
                    entries
                        .iter()
                        .filter_map(|e| e["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            status: record["response_status"].as_u64(),
        }
    }

    /// Fails unless this is an accepted upload of the bundled example for `sha` and `run_type`.
    pub fn expect(&self, what: &str, sha: &str, run_type: &str) -> Result<()> {
        let expected_path = format!("/api/v1/dbt/submit_artifacts/{CI_CONFIG_ID}");
        let expected_auth = format!("Key {API_KEY}");
        let mut wrong = Vec::new();
        if self.path != expected_path {
            wrong.push(format!("path {} (expected {expected_path})", self.path));
        }
        if self.authorization.as_deref() != Some(expected_auth.as_str()) {
            wrong.push("the Authorization header is not the configured key".to_owned());
        }
        if self.commit_sha.as_deref() != Some(sha) {
            wrong.push(format!("commit_sha {:?} (expected {sha})", self.commit_sha));
        }
        if self.run_type.as_deref() != Some(run_type) {
            wrong.push(format!(
                "run_type {:?} (expected {run_type})",
                self.run_type
            ));
        }
        if !self.entries.iter().any(|e| e == "manifest.json") {
            wrong.push(format!(
                "the archive has no manifest.json (entries: {:?})",
                self.entries
            ));
        }
        if self.status != Some(200) {
            wrong.push(format!("the server answered {:?}", self.status));
        }
        if !wrong.is_empty() {
            bail!(
                "{what}: the test server received a wrong upload: {}",
                wrong.join("; ")
            );
        }
        eprintln!("    ok: {what}: server received commit_sha={sha} run_type={run_type}");
        Ok(())
    }
}

/// Fails unless exactly one upload arrived since `before` uploads, and returns it.
pub fn single_new_upload(server: &DatafoldServer, before: usize, what: &str) -> Result<Upload> {
    let mut uploads = server.uploads()?;
    if uploads.len() != before + 1 {
        bail!(
            "{what}: expected one new upload at the test server, found {}",
            uploads.len().saturating_sub(before)
        );
    }
    Ok(uploads.pop().expect("one upload"))
}
