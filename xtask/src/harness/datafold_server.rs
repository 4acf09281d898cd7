//! Runs the `foldup-testserver` binary (a Datafold-compatible server on 127.0.0.1) as a child
//! process, killed when dropped, and reads back what it received through its `/__admin` API.
//! The one launcher of the demo, the bench and the packaging tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

/// The key and CI config the packaging tests' server accepts.
pub const API_KEY: &str = "foldup-ci-packaging-canary-key";
pub const CI_CONFIG_ID: u64 = 4242;

pub struct DatafoldServer {
    child: Child,
    url: String,
    admin: reqwest::blocking::Client,
}

impl DatafoldServer {
    /// Starts the workspace's debug build of the server with the packaging tests' key and CI
    /// config.
    pub fn start() -> Result<Self> {
        let binary = crate::base::repo::debug_binary("foldup-testserver")?;
        Self::start_binary(&binary, API_KEY, &CI_CONFIG_ID.to_string())
    }

    /// Starts `binary` (a build of `foldup-testserver`), accepting `api_key` for `ci_config_id`.
    pub fn start_binary(binary: &Path, api_key: &str, ci_config_id: &str) -> Result<Self> {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--api-key", api_key, "--ci-config-id"])
            .arg(ci_config_id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("the test server has no stdout")?;
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .context("reading the test server's URL")?;
        let url = first_line.trim().trim_end_matches('/').to_owned();
        if !url.starts_with("http://") {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "foldup-testserver printed '{url}' instead of its URL; run it by hand to see why"
            );
        }
        // Listing waits until every upload received is inspected; a large archive takes a while.
        let admin = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .context("building an HTTP client for the test server's admin API")?;
        Ok(Self { child, url, admin })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received since the start or the last [`Self::clear_requests`].
    pub fn requests(&self) -> Result<Vec<Value>> {
        let response = self
            .admin
            .get(format!("{}/__admin/requests", self.url))
            .send()
            .context("listing the test server's requests")?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "listing the test server's requests answered {status}"
        );
        match response
            .json::<Value>()
            .context("the test server's request list is not JSON")?
        {
            Value::Array(items) => Ok(items),
            other => bail!("the test server's request list is not a list: {other}"),
        }
    }

    /// Forgets the requests recorded so far, so that the server's memory does not grow with the
    /// number of uploads it receives.
    pub fn clear_requests(&self) -> Result<()> {
        let response = self
            .admin
            .delete(format!("{}/__admin/requests", self.url))
            .send()
            .context("clearing the test server's requests")?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "clearing the test server's requests answered {status}"
        );
        Ok(())
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
