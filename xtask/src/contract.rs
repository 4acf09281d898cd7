//! `cargo xtask contract [--sdk-only] [--python PYTHON] [--target-folder DIR]`
//!
//! The contract test against Datafold's own client: the public datafold-sdk 0.4.1 (installed
//! with pip into `target/tools/venv-datafold-sdk`, reused when present) and foldup each upload
//! the same dbt target folder to `foldup-testserver`, with the same flags and variables; the two
//! requests the server recorded must agree on path, `Authorization`, content types, text fields,
//! and the archive's `manifest.json` and `run_results.json` entries. This is what proves that
//! the test server speaks what Datafold's client speaks, and that foldup speaks it too.
//!
//! The target is `examples/shop/target` when it exists, else a tiny valid one generated here.
//! Both clients run with a proxy that refuses every connection and `NO_PROXY` for the test
//! server, so neither can reach the internet (datafold-sdk otherwise asks PyPI for a newer
//! version, without a timeout). `--sdk-only` stops after datafold-sdk's half.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

const SDK_VERSION: &str = "0.4.1";
/// The unpinned dbt-core that datafold-sdk pulls in does not install without internet.
const SDK_REQUIREMENTS: [&str; 2] = ["datafold-sdk==0.4.1", "dbt-core==1.10.*"];
const API_KEY: &str = "contract-canary-key-5d1f0e7a9b3c";
const CI_CONFIG_ID: &str = "1";
const COMMIT_SHA: &str = "5eedc0de5eedc0de5eedc0de5eedc0de5eedc0de";
const COMPARED_ENTRIES: [&str; 2] = ["manifest.json", "run_results.json"];
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(180);
const PIP_TIMEOUT: Duration = Duration::from_secs(1200);

struct Options {
    sdk_only: bool,
    python: String,
    target_folder: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        sdk_only: false,
        python: "python3".to_owned(),
        target_folder: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sdk-only" => options.sdk_only = true,
            "--python" => options.python = args.next().context("--python needs a value")?.clone(),
            "--target-folder" => {
                options.target_folder = Some(PathBuf::from(args.next().context("--target-folder needs a value")?))
            }
            other => bail!(
                "unknown argument '{other}'; usage: cargo xtask contract [--sdk-only] [--python PYTHON] [--target-folder DIR]"
            ),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    let root = crate::repo_root();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let scratch = target_dir.join("contract");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)
            .with_context(|| format!("cannot clear {}", scratch.display()))?;
    }
    fs::create_dir_all(&scratch)?;

    step("building foldup-testserver");
    cargo_build(&root, "foldup-testserver")?;
    let venv = target_dir.join("tools/venv-datafold-sdk");
    let datafold = install_datafold_sdk(&options.python, &venv)?;
    let target = match &options.target_folder {
        Some(dir) => dir.clone(),
        None => choose_target(&root, &scratch)?,
    };
    ensure!(
        target.join("manifest.json").is_file(),
        "{} has no manifest.json to upload",
        target.display()
    );
    eprintln!("    target folder: {}", target.display());

    let server = TestServer::start(
        &target_dir.join("debug/foldup-testserver"),
        &scratch.join("requests.json"),
    )?;
    let env = ClientEnv::new(&server.url)?;
    let flags = upload_flags(&target);

    step(&format!("datafold-sdk {SDK_VERSION}: datafold dbt upload"));
    let mut sdk = Command::new(&datafold);
    sdk.args(&flags).current_dir(&scratch);
    env.apply(&mut sdk);
    run_client("datafold-sdk", sdk, &scratch.join("datafold-sdk"))?;
    let sdk_upload = server.single_upload(0, "datafold-sdk")?;
    ensure!(
        sdk_upload["response_status"].as_u64() == Some(200),
        "the test server refused datafold-sdk's upload with {}: it no longer accepts what Datafold's own client sends; \
         record: {}",
        sdk_upload["response_status"],
        redact(&sdk_upload.to_string())
    );
    eprintln!("    ok: the test server accepted datafold-sdk's upload");
    if options.sdk_only {
        eprintln!("contract: datafold-sdk half passed (--sdk-only: foldup not run)");
        return Ok(());
    }

    step("building foldup");
    cargo_build(&root, "foldup")?;
    step("foldup dbt upload");
    let mut foldup = Command::new(target_dir.join("debug/foldup"));
    foldup.args(&flags).current_dir(&scratch);
    env.apply(&mut foldup);
    run_client("foldup", foldup, &scratch.join("foldup"))?;
    let foldup_upload = server.single_upload(1, "foldup")?;

    let differences = compare(&sdk_upload, &foldup_upload);
    if !differences.is_empty() {
        bail!(
            "foldup's upload differs from datafold-sdk {SDK_VERSION}'s in {} way(s):\n{}\nBoth requests are in {}.",
            differences.len(),
            differences.join("\n"),
            server.record.display()
        );
    }
    eprintln!("contract: foldup's upload matches datafold-sdk {SDK_VERSION}'s (path, Authorization, content types, fields, manifest.json, run_results.json)");
    Ok(())
}

fn step(what: &str) {
    eprintln!("==> contract: {what}");
}

fn cargo_build(root: &Path, package: &str) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", package])
        .current_dir(root)
        .status()
        .context("cannot run cargo")?;
    ensure!(
        status.success(),
        "cargo build -p {package} failed (see above)"
    );
    Ok(())
}

/// Waits for `child`, killing it after `timeout`: nothing here may hang CI.
fn wait_bounded(
    mut child: Child,
    timeout: Duration,
    what: &str,
) -> Result<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{what} did not finish within {} s and was stopped",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The `datafold` executable of a virtualenv holding datafold-sdk 0.4.1, installing it first
/// unless the virtualenv already has it.
fn install_datafold_sdk(python: &str, venv: &Path) -> Result<PathBuf> {
    let venv_python = venv.join("bin/python");
    let datafold = venv.join("bin/datafold");
    let installed = || -> bool {
        datafold.is_file()
            && Command::new(&venv_python)
                .args([
                    "-c",
                    "import importlib.metadata as m; print(m.version('datafold-sdk'))",
                ])
                .output()
                .is_ok_and(|out| {
                    out.status.success()
                        && String::from_utf8_lossy(&out.stdout).trim() == SDK_VERSION
                })
    };
    if installed() {
        step(&format!(
            "datafold-sdk {SDK_VERSION} already in {}",
            venv.display()
        ));
        return Ok(datafold);
    }
    step(&format!(
        "installing {} into {}",
        SDK_REQUIREMENTS.join(" "),
        venv.display()
    ));
    if !venv_python.is_file() {
        let status = Command::new(python)
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .with_context(|| {
                format!(
                    "cannot run {python}; pass --python PATH to a Python 3.9+ with the venv module"
                )
            })?;
        ensure!(
            status.success(),
            "{python} -m venv {} failed; is the venv module installed (apt install python3-venv)?",
            venv.display()
        );
    }
    let log = venv.with_extension("log");
    let log_file = fs::File::create(&log)?;
    let child = Command::new(&venv_python)
        .args(["-m", "pip", "install", "--disable-pip-version-check"])
        .args(SDK_REQUIREMENTS)
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("cannot run {}", venv_python.display()))?;
    let status = wait_bounded(child, PIP_TIMEOUT, "pip install")?;
    if !status.success() || !installed() {
        bail!(
            "pip could not install {} (it needs PyPI); the end of {}:\n{}",
            SDK_REQUIREMENTS.join(" "),
            log.display(),
            tail(&log, 15)
        );
    }
    Ok(datafold)
}

/// `examples/shop/target`, or a tiny valid target written into `scratch`.
fn choose_target(root: &Path, scratch: &Path) -> Result<PathBuf> {
    let example = root.join("examples/shop/target");
    if example.join("manifest.json").is_file() {
        return Ok(example);
    }
    let target = scratch.join("target");
    fs::create_dir_all(&target)?;
    let invocation = "0c7a1f3e-2b4d-4e6f-8a9b-c0d1e2f3a4b5";
    let metadata = serde_json::json!({
        "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
        "dbt_version": "1.10.0",
        "generated_at": "2025-01-01T00:00:00.000000Z",
        "invocation_id": invocation,
        "env": {},
        "project_name": "contract",
        "adapter_type": "duckdb",
    });
    let manifest = serde_json::json!({
        "metadata": metadata,
        "nodes": {}, "sources": {}, "macros": {}, "docs": {}, "exposures": {}, "metrics": {},
        "groups": {}, "selectors": {}, "disabled": {}, "parent_map": {}, "child_map": {},
        "group_map": {}, "saved_queries": {}, "semantic_models": {}, "unit_tests": {},
    });
    let run_results = serde_json::json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": "1.10.0",
            "generated_at": "2025-01-01T00:00:01.000000Z",
            "invocation_id": invocation,
            "env": {},
        },
        "results": [],
        "elapsed_time": 0.1,
        "args": {},
    });
    fs::write(
        target.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    fs::write(
        target.join("run_results.json"),
        serde_json::to_vec_pretty(&run_results)?,
    )?;
    eprintln!("    examples/shop/target is missing: using a generated target");
    Ok(target)
}

/// `datafold dbt upload`'s flags, which `foldup dbt upload` accepts as they are.
fn upload_flags(target: &Path) -> Vec<String> {
    vec![
        "dbt".into(),
        "upload".into(),
        "--ci-config-id".into(),
        CI_CONFIG_ID.into(),
        "--run-type".into(),
        "pull_request".into(),
        "--target-folder".into(),
        target.display().to_string(),
        "--commit-sha".into(),
        COMMIT_SHA.into(),
    ]
}

/// The variables both clients run with.
struct ClientEnv {
    vars: Vec<(&'static str, String)>,
}

impl ClientEnv {
    fn new(server_url: &str) -> Result<Self> {
        // A port nothing listens on: the proxy that refuses everything but the test server.
        let refusing = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let proxy = format!("http://{refusing}");
        Ok(Self {
            vars: vec![
                ("DATAFOLD_API_KEY", API_KEY.to_owned()),
                ("DATAFOLD_HOST", server_url.to_owned()),
                ("HTTPS_PROXY", proxy.clone()),
                ("HTTP_PROXY", proxy.clone()),
                ("https_proxy", proxy.clone()),
                ("http_proxy", proxy),
                ("NO_PROXY", "127.0.0.1,localhost".to_owned()),
                ("no_proxy", "127.0.0.1,localhost".to_owned()),
            ],
        })
    }

    /// Sets the variables, and removes those that would make the two runs differ (foldup's own
    /// settings, the old key spelling, the CI the task itself may run in).
    fn apply(&self, command: &mut Command) {
        for (name, _) in std::env::vars_os().filter_map(|(n, v)| Some((n.into_string().ok()?, v))) {
            if name.starts_with("FOLDUP_")
                || name == "DATAFOLD_APIKEY"
                || name.starts_with("DATAFOLD_")
            {
                command.env_remove(&name);
            }
        }
        for (name, value) in &self.vars {
            command.env(name, value);
        }
    }
}

/// Runs one client with its output in `<log>.stdout`/`.stderr`; fails with its stderr.
fn run_client(what: &str, mut command: Command, log: &Path) -> Result<()> {
    let stdout = log.with_extension("stdout");
    let stderr = log.with_extension("stderr");
    let child = command
        .stdout(fs::File::create(&stdout)?)
        .stderr(fs::File::create(&stderr)?)
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let status = wait_bounded(child, UPLOAD_TIMEOUT, what)?;
    if !status.success() {
        bail!(
            "{what} dbt upload exited with {status}; the end of its output:\n{}\n{}",
            redact(&tail(&stdout, 10)),
            redact(&tail(&stderr, 20))
        );
    }
    let output = format!(
        "{}\n{}",
        fs::read_to_string(&stdout)?,
        fs::read_to_string(&stderr)?
    );
    ensure!(
        !output.contains(API_KEY),
        "{what} printed the API key; see {}",
        log.display()
    );
    Ok(())
}

fn redact(text: &str) -> String {
    text.replace(API_KEY, "<the API key>")
}

/// The `foldup-testserver` binary, stopped on drop.
struct TestServer {
    child: Child,
    url: String,
    record: PathBuf,
}

impl TestServer {
    fn start(binary: &Path, record: &Path) -> Result<Self> {
        let mut child = Command::new(binary)
            .args([
                "--port",
                "0",
                "--api-key",
                API_KEY,
                "--ci-config-id",
                CI_CONFIG_ID,
            ])
            .arg("--record")
            .arg(record)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut first_line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut first_line)?;
        }
        let url = first_line.trim().to_owned();
        let server = Self {
            child,
            url,
            record: record.to_path_buf(),
        };
        ensure!(
            server.url.starts_with("http://"),
            "foldup-testserver printed '{}' instead of its URL",
            server.url
        );
        Ok(server)
    }

    /// The upload requests received, from the record file.
    fn uploads(&self) -> Result<Vec<Value>> {
        let text = fs::read_to_string(&self.record)
            .with_context(|| format!("cannot read {}", self.record.display()))?;
        let requests: Vec<Value> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON list", self.record.display()))?;
        Ok(requests
            .into_iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/api/v1/dbt/submit_artifacts/"))
            })
            .collect())
    }

    /// The one upload that arrived after `before` earlier ones.
    fn single_upload(&self, before: usize, what: &str) -> Result<Value> {
        let mut uploads = self.uploads()?;
        ensure!(
            uploads.len() == before + 1,
            "{what} exited successfully, but the test server received {} upload(s) from it instead of one",
            uploads.len().saturating_sub(before)
        );
        Ok(uploads.remove(before))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first value of `name` in a recorded list of `[name, value]` pairs.
fn pair(list: &Value, name: &str) -> Option<String> {
    list.as_array()?.iter().find_map(|pair| {
        let pair = pair.as_array()?;
        pair.first()?
            .as_str()?
            .eq_ignore_ascii_case(name)
            .then(|| pair.get(1)?.as_str().map(str::to_owned))?
    })
}

/// A header value with the key masked, for printing.
fn shown_authorization(value: Option<&str>) -> String {
    match value {
        None => "(none)".to_owned(),
        Some(value) if value.contains(API_KEY) => value.replace(API_KEY, "<the API key>"),
        Some(value) => format!(
            "a {}-character value that is not 'Key <the API key>'",
            value.len()
        ),
    }
}

fn media_type(value: Option<String>) -> Option<String> {
    value.map(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

/// Every way the two recorded uploads disagree, one readable line (or block) each.
fn compare(sdk: &Value, foldup: &Value) -> Vec<String> {
    let mut differences = Vec::new();
    let mut check = |what: &str, sdk_value: String, foldup_value: String| {
        if sdk_value != foldup_value {
            differences.push(format!(
                "  {what}:\n    datafold-sdk: {sdk_value}\n    foldup:       {foldup_value}"
            ));
        }
    };
    check(
        "method and path",
        format!("{} {}", sdk["method"], sdk["path"]),
        format!("{} {}", foldup["method"], foldup["path"]),
    );
    check(
        "Authorization header",
        shown_authorization(pair(&sdk["headers"], "authorization").as_deref()),
        shown_authorization(pair(&foldup["headers"], "authorization").as_deref()),
    );
    check(
        "request content type",
        format!("{:?}", media_type(pair(&sdk["headers"], "content-type"))),
        format!("{:?}", media_type(pair(&foldup["headers"], "content-type"))),
    );
    let fields = |request: &Value| -> BTreeMap<String, String> {
        request["fields"]
            .as_array()
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|p| Some((p[0].as_str()?.to_owned(), p[1].as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    };
    check(
        "text fields",
        format!("{:?}", fields(sdk)),
        format!("{:?}", fields(foldup)),
    );
    let archive = |request: &Value, key: &str| request["archive"][key].clone();
    check(
        "file part name",
        archive(sdk, "part_name").to_string(),
        archive(foldup, "part_name").to_string(),
    );
    check(
        "file part content type",
        archive(sdk, "content_type").to_string(),
        archive(foldup, "content_type").to_string(),
    );
    check(
        "archive readable as zip",
        format!("zip error: {}", archive(sdk, "zip_error")),
        format!("zip error: {}", archive(foldup, "zip_error")),
    );
    for name in COMPARED_ENTRIES {
        let entry = |request: &Value| -> Option<Value> {
            request["archive"]["entries"]
                .as_array()?
                .iter()
                .find(|e| e["name"] == name)
                .cloned()
        };
        match (entry(sdk), entry(foldup)) {
            (None, None) => {}
            (Some(_), None) => {
                differences.push(format!("  {name}: datafold-sdk sent it, foldup did not"))
            }
            (None, Some(_)) => {
                differences.push(format!("  {name}: foldup sent it, datafold-sdk did not"))
            }
            (Some(a), Some(b)) if a["sha256"] != b["sha256"] => {
                differences.push(content_difference(name, &a, &b))
            }
            (Some(_), Some(_)) => {}
        }
    }
    differences
}

/// Where two versions of an entry first differ, with a little context from each.
fn content_difference(name: &str, sdk: &Value, foldup: &Value) -> String {
    let text = |entry: &Value| entry["text"].as_str().unwrap_or("").to_owned();
    let (a, b) = (text(sdk), text(foldup));
    let mut lines = vec![format!(
        "  {name} content differs: datafold-sdk sent {} bytes (sha256 {}), foldup {} bytes (sha256 {})",
        sdk["size"], sdk["sha256"], foldup["size"], foldup["sha256"]
    )];
    let first = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let excerpt = |s: &str| {
        let mut start = first.saturating_sub(40).min(s.len());
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (first + 40).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        s[start..end].replace('\n', "⏎")
    };
    lines.push(format!("    first difference at byte {first}:"));
    lines.push(format!("    datafold-sdk: …{}…", excerpt(&a)));
    lines.push(format!("    foldup:       …{}…", excerpt(&b)));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upload(field_value: &str, manifest_sha: &str) -> Value {
        json!({
            "method": "POST",
            "path": "/api/v1/dbt/submit_artifacts/1",
            "headers": [["authorization", format!("Key {API_KEY}")], ["content-type", "multipart/form-data; boundary=x"]],
            "fields": [["commit_sha", field_value], ["run_type", "pull_request"]],
            "archive": {
                "part_name": "artifacts", "content_type": null, "zip_error": null,
                "entries": [{"name": "manifest.json", "size": 10, "sha256": manifest_sha, "text": format!("{{\"a\": \"{manifest_sha}\"}}")}]
            }
        })
    }

    #[test]
    fn without_the_example_a_valid_target_is_generated() {
        let base = std::env::temp_dir().join(format!("foldup-contract-{}", std::process::id()));
        let (root, scratch) = (base.join("root"), base.join("scratch"));
        fs::create_dir_all(&root).unwrap();
        let target = choose_target(&root, &scratch).unwrap();
        let read = |name: &str| -> Value {
            serde_json::from_slice(&fs::read(target.join(name)).unwrap()).unwrap()
        };
        let (manifest, run_results) = (read("manifest.json"), read("run_results.json"));
        fs::remove_dir_all(&base).unwrap();
        assert_eq!(
            manifest["metadata"]["dbt_schema_version"],
            "https://schemas.getdbt.com/dbt/manifest/v12.json"
        );
        assert_eq!(
            manifest["metadata"]["invocation_id"],
            run_results["metadata"]["invocation_id"]
        );
    }

    #[test]
    fn equal_uploads_have_no_differences() {
        assert!(compare(&upload("abc", "1"), &upload("abc", "1")).is_empty());
    }

    #[test]
    fn differences_are_named_and_the_key_is_not_printed() {
        let mut other = upload("abd", "2");
        other["headers"][0][1] = json!("Key something-else");
        let differences = compare(&upload("abc", "1"), &other).join("\n");
        assert!(differences.contains("text fields"), "{differences}");
        assert!(
            differences.contains("manifest.json content differs"),
            "{differences}"
        );
        assert!(
            differences.contains("first difference at byte"),
            "{differences}"
        );
        assert!(
            differences.contains("Authorization header"),
            "{differences}"
        );
        assert!(!differences.contains(API_KEY), "{differences}");
    }
}
