//! `cargo xtask bench --impact`: `foldup impact` against `dbt ls --select state:modified+` on the
//! dbt workloads, in the same run.
//!
//! For each workload, the base is the workload's own manifest (dbt wrote it); the PR is a copy of
//! the project with every hundredth model's SQL changed, parsed by dbt (not timed). Then, in turn:
//! `foldup impact --state BASE --target-folder PR --format json` and, in the PR project,
//! `dbt ls --select state:modified+ --state BASE --resource-type all --output json` (with dbt's
//! partial-parse file from the parse, which only helps dbt). Both selections are compared; a
//! disagreement fails the bench.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use super::measure::{self, Case, Sample};
use super::python::Venvs;
use super::workload::{self, Workload};

/// One workload's row.
#[derive(serde::Serialize, serde::Deserialize, Clone)]
pub struct Row {
    pub label: String,
    pub manifests_bytes: u64,
    pub changed_models: usize,
    pub selected: usize,
    pub foldup: Sample,
    pub dbt: Sample,
}

fn copy_project(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if name == "target" || name == "logs" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            copy_project(&path, &to.join(&name))?;
        } else {
            fs::copy(&path, to.join(&name))?;
        }
    }
    Ok(())
}

fn sql_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sql_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

fn selection(output: &[u8], json_lines: bool) -> Result<BTreeSet<String>> {
    let text = String::from_utf8_lossy(output);
    if json_lines {
        // dbt ls --output json: one object per line, among dbt's own log lines.
        return Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
            .filter_map(|v| v["unique_id"].as_str().map(str::to_owned))
            .collect());
    }
    let report: serde_json::Value =
        serde_json::from_str(&text).context("foldup impact --format json printed no JSON")?;
    let mut ids = BTreeSet::new();
    for key in ["modified", "impacted"] {
        for item in report[key].as_array().context("a list")? {
            ids.insert(item["unique_id"].as_str().context("unique_id")?.to_owned());
        }
    }
    Ok(ids)
}

/// Measures one workload (`reps` runs of each side, interleaved; medians).
pub fn measure(
    foldup: &Path,
    venvs: &Venvs,
    workload: &Workload,
    scratch: &Path,
    reps: usize,
) -> Result<Row> {
    let project = workload.project().with_context(|| {
        format!(
            "the impact rows need a dbt project; {} is only a target folder",
            workload.label
        )
    })?;
    let base = workload.target.clone();
    let pr = scratch.join(format!("impact-{}", workload.label.replace(' ', "-")));
    if pr.exists() {
        fs::remove_dir_all(&pr)?;
    }
    copy_project(project, &pr)?;
    let mut files = Vec::new();
    sql_files(&pr.join("models"), &mut files)?;
    files.sort();
    let mut changed_models = 0;
    for file in files.iter().step_by(100) {
        let mut sql = fs::read_to_string(file)?;
        sql.push_str("\n-- changed for the impact bench\n");
        fs::write(file, sql)?;
        changed_models += 1;
    }
    let duckdb = scratch.join("impact-bench.duckdb");
    let dbt_env = vec![
        (
            "BENCH_DUCKDB_PATH".to_owned(),
            duckdb.clone().into_os_string(),
        ),
        ("DBT_SEND_ANONYMOUS_USAGE_STATS".to_owned(), "false".into()),
    ];
    let status = Command::new(venvs.dbt())
        .args(["parse", "--quiet", "--profiles-dir", "."])
        .current_dir(&pr)
        .envs(dbt_env.iter().map(|(k, v)| (k, v)))
        .status()
        .context("running dbt parse")?;
    ensure!(status.success(), "dbt parse failed in {}", pr.display());

    let foldup_case = Case::new(
        "foldup impact",
        "foldup impact --state BASE --target-folder PR/target --format json",
        foldup,
    )
    .args([
        "impact".into(),
        "--state".into(),
        base.clone().into_os_string(),
        "--target-folder".into(),
        pr.join("target").into_os_string(),
        "--format".into(),
        "json".into(),
    ])
    .cwd(&pr);
    let dbt_case = Case::new(
        "dbt ls",
        "dbt ls --select state:modified+ --state BASE --resource-type all --output json",
        venvs.dbt(),
    )
    .args([
        "ls".into(),
        "--select".into(),
        "state:modified+".into(),
        "--state".into(),
        base.clone().into_os_string(),
        "--resource-type".into(),
        "all".into(),
        "--output".into(),
        "json".into(),
        "--output-keys".into(),
        "unique_id".into(),
        "--profiles-dir".into(),
        ".".into(),
    ])
    .envs(&dbt_env)
    .cwd(&pr);

    // Agreement first: the same selection, or no numbers.
    let run = |case: &Case| -> Result<Vec<u8>> {
        let output = Command::new(&case.program)
            .args(&case.args)
            .envs(case.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&case.cwd)
            .output()
            .with_context(|| format!("running {}", case.shown))?;
        ensure!(output.status.success(), "{} failed", case.shown);
        Ok(output.stdout)
    };
    let ours = selection(&run(&foldup_case)?, false)?;
    let dbts = selection(&run(&dbt_case)?, true)?;
    if ours != dbts {
        let only_ours: Vec<_> = ours.difference(&dbts).take(5).collect();
        let only_dbt: Vec<_> = dbts.difference(&ours).take(5).collect();
        bail!(
            "foldup and dbt disagree on {}: {} against {} selected; only foldup: {only_ours:?}; only dbt: {only_dbt:?}",
            workload.label,
            ours.len(),
            dbts.len()
        );
    }

    let mut foldup_samples = Vec::new();
    let mut dbt_samples = Vec::new();
    for _ in 0..reps {
        foldup_samples.push(measure::timed(&foldup_case, scratch)?);
        dbt_samples.push(measure::timed(&dbt_case, scratch)?);
    }
    let median = |samples: &[Sample]| Sample {
        wall: measure::median(&samples.iter().map(|s| s.wall).collect::<Vec<_>>()),
        cpu: measure::median(&samples.iter().map(|s| s.cpu).collect::<Vec<_>>()),
        rss_kib: samples.iter().map(|s| s.rss_kib).max().unwrap_or_default(),
    };
    let manifests_bytes = fs::metadata(base.join("manifest.json"))?.len()
        + fs::metadata(pr.join("target/manifest.json"))?.len();
    Ok(Row {
        label: workload.label.clone(),
        manifests_bytes,
        changed_models,
        selected: ours.len(),
        foldup: median(&foldup_samples),
        dbt: median(&dbt_samples),
    })
}

/// The impact rows of one run, and how to run it again.
#[derive(serde::Serialize, serde::Deserialize, Clone)]
pub struct ImpactResult {
    pub command: String,
    pub started: String,
    /// The 1-minute load average at the start and the end of these rows.
    pub load: String,
    pub reps: usize,
    pub rows: Vec<Row>,
}

/// Measures every workload in turn.
pub fn measure_all(
    foldup: &Path,
    venvs: &Venvs,
    workloads: &[Workload],
    scratch: &Path,
    reps: usize,
    command: &str,
) -> Result<ImpactResult> {
    let started = super::run::utc_now();
    let load_before = super::run::load_average();
    let mut rows = Vec::new();
    for workload in workloads {
        println!("== impact on {}", workload.label);
        rows.push(measure(foldup, venvs, workload, scratch, reps)?);
    }
    Ok(ImpactResult {
        command: command.to_owned(),
        started,
        load: format!("{load_before} / {}", super::run::load_average()),
        reps,
        rows,
    })
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| workload | changed models | selected (state:modified+) | foldup impact | dbt ls | speed-up | foldup peak RSS | both manifests |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.0}× | {:.1} MB | {:.1} MB |",
            row.label,
            row.changed_models,
            row.selected,
            workload::duration(row.foldup.wall),
            workload::duration(row.dbt.wall),
            row.dbt.wall / row.foldup.wall.max(1e-6),
            row.foldup.rss_kib as f64 * 1024.0 / 1e6,
            row.manifests_bytes as f64 / 1e6,
        );
    }
    out
}

/// The report's section for these rows (between the markers `--impact` rewrites).
pub fn section(result: &ImpactResult) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## `foldup impact` against `dbt ls --select state:modified+`\n"
    );
    let _ = writeln!(
        md,
        "`{}` (xtask/src/bench/impact.rs), {}, load average (1 min) at start / end {}. Base: each \
         workload's manifest (dbt 1.10 wrote it); PR: the project with every hundredth model's SQL \
         changed, parsed by dbt (not timed). Both commands run in the same bench, medians of {} \
         (peak RSS: the largest), and the bench fails unless their selections are equal. dbt ls \
         has dbt's partial-parse file, which only helps it.\n",
        result.command, result.started, result.load, result.reps
    );
    let _ = writeln!(
        md,
        "Goals (issue 14): at least 20× faster than dbt, and peak memory below the two manifests' \
         size on disk.\n"
    );
    md.push_str(&table(&result.rows));
    super::report::marked("impact", &md)
}

/// `cargo xtask bench --impact`: the impact rows alone, printed, written to
/// `target/bench/impact.md` and put in their section of the report (`--out`).
pub fn run(options: &super::Options, foldup: &Path) -> Result<()> {
    let venvs = Venvs::ensure(&options.cache, &options.python)?;
    let scratch = options.cache.join("scratch-impact");
    fs::create_dir_all(&scratch)?;
    let mut workloads = Vec::new();
    for models in options.models.iter().filter(|m| **m >= 100) {
        workloads.push(workload::dbt_workload(&options.cache, &venvs, *models)?);
    }
    let result = measure_all(
        foldup,
        &venvs,
        &workloads,
        &scratch,
        options.reps,
        &super::run::shown_command(options),
    )?;
    let text = section(&result);
    println!("{text}");
    let out = crate::repo_root().join("target/bench/impact.md");
    fs::create_dir_all(out.parent().context("a parent")?)?;
    fs::write(&out, &text)?;
    println!("wrote {}", out.display());
    super::report::splice(&options.out, "impact", &text)
}
