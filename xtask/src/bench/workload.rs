//! Benchmark workloads: dbt target folders written by dbt itself for a generated project of N
//! models, and a synthetic target of at least 1 GiB built around a real manifest.
//!
//! Everything lives in the bench cache (outside the repository) and is reused while the generator
//! version and the model count match: generating 16,000 models takes dbt many minutes.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;

use super::python::Venvs;

/// Bump when the generated project changes, so cached workloads are rebuilt.
const GENERATOR_VERSION: u32 = 1;

/// The dbt commands that produce a workload's target folder, in order. `seed` loads the CSVs the
/// sources point at (docs generate reads the DuckDB catalog), then the three commands the issue
/// names; each rewrites manifest.json, partial parsing carries over between them.
const DBT_COMMANDS: [&[&str]; 4] = [&["seed"], &["parse"], &["compile"], &["docs", "generate"]];

/// The seeds the sources read; every one has the same columns, so every layer does too.
const SEEDS: [&str; 4] = ["customers", "orders", "payments", "products"];
const SEED_ROWS: usize = 40;
/// Models per folder (and per schema file), as a large real project groups them.
const GROUP: usize = 100;

/// A ready workload: the target folder to upload and what it holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Workload {
    pub label: String,
    pub models: Option<usize>,
    pub target: PathBuf,
    pub files: u64,
    pub bytes: u64,
    /// How the workload was made (dbt command timings, or the synthetic recipe).
    pub provenance: String,
}

impl Workload {
    /// The dbt project folder that wrote the target, when there is one (the synthetic workload
    /// has only a target folder).
    pub fn project(&self) -> Option<&Path> {
        self.target
            .parent()
            .filter(|dir| dir.join("dbt_project.yml").is_file())
    }
}

/// Where a workload with `models` models is kept.
fn model_dir(cache: &Path, models: usize) -> PathBuf {
    cache.join(format!("workloads/dbt-{models}"))
}

/// Returns the dbt workload with `models` models, generating it with dbt when it is missing.
pub fn dbt_workload(cache: &Path, venvs: &Venvs, models: usize) -> Result<Workload> {
    let dir = model_dir(cache, models);
    let stamp = dir.join("complete.json");
    let project = dir.join("project");
    let target = project.join("target");
    let provenance = match read_stamp(&stamp) {
        Some(provenance) => provenance,
        None => {
            generate(cache, venvs, models, &dir)?;
            read_stamp(&stamp).context("the workload stamp was not written")?
        }
    };
    let (files, bytes) = tree_size(&target)?;
    Ok(Workload {
        label: format!("{models} models"),
        models: Some(models),
        target,
        files,
        bytes,
        provenance,
    })
}

fn read_stamp(stamp: &Path) -> Option<String> {
    let text = fs::read_to_string(stamp).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    (value["generator"].as_u64() == Some(u64::from(GENERATOR_VERSION)))
        .then(|| value["provenance"].as_str().map(str::to_string))
        .flatten()
}

fn generate(_cache: &Path, venvs: &Venvs, models: usize, dir: &Path) -> Result<()> {
    ensure!(
        models >= 3,
        "a workload needs at least 3 models (one per layer)"
    );
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let project = dir.join("project");
    println!(
        "   generating a dbt project of {models} models in {}",
        project.display()
    );
    write_project(&project, models)?;
    let log = dir.join("dbt-output.log");
    let mut timings = Vec::new();
    for command in DBT_COMMANDS {
        let started = Instant::now();
        println!("   dbt {} ({models} models) …", command.join(" "));
        let mut dbt = Command::new("nice");
        dbt.args(["-n", "10"])
            .arg(venvs.dbt())
            .args(command)
            .args(["--profiles-dir", "."])
            .arg("--log-path")
            .arg(dir.join("logs"))
            .current_dir(&project)
            .env("BENCH_DUCKDB_PATH", dir.join("bench.duckdb"));
        let output = crate::harness::dbt::quiet(&mut dbt)
            .output()
            .with_context(|| format!("running {}", venvs.dbt().display()))?;
        let seconds = started.elapsed().as_secs_f64();
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)?;
        writeln!(file, "== dbt {} ({seconds:.1} s)", command.join(" "))?;
        file.write_all(&output.stdout)?;
        file.write_all(&output.stderr)?;
        if !output.status.success() {
            bail!(
                "`dbt {}` failed ({}) on the {models}-model project; see {}",
                command.join(" "),
                output.status,
                log.display()
            );
        }
        println!("     {seconds:.1} s");
        timings.push(format!("`dbt {}` {}", command.join(" "), duration(seconds)));
    }
    let provenance = format!(
        "dbt-core {} + dbt-duckdb {}: {}",
        venvs.dbt_core_version,
        venvs.dbt_duckdb_version,
        timings.join(", ")
    );
    fs::write(
        dir.join("complete.json"),
        serde_json::to_string_pretty(&json!({
            "generator": GENERATOR_VERSION,
            "models": models,
            "provenance": provenance,
        }))?,
    )?;
    Ok(())
}

pub fn duration(seconds: f64) -> String {
    if seconds >= 90.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{seconds:.1} s")
    }
}

/// How many models each layer gets: a quarter staging, a quarter marts, the rest intermediate.
fn layers(models: usize) -> (usize, usize, usize) {
    let staging = (models / 4).max(1);
    let marts = (models / 4).max(1);
    (staging, models - staging - marts, marts)
}

fn write_project(project: &Path, models: usize) -> Result<()> {
    let (staging, intermediate, marts) = layers(models);
    fs::create_dir_all(project.join("seeds"))?;
    fs::create_dir_all(project.join("models"))?;
    write(
        &project.join("dbt_project.yml"),
        "name: bench\nversion: \"1.0.0\"\nconfig-version: 2\nprofile: bench\n\
         model-paths: [\"models\"]\nseed-paths: [\"seeds\"]\n\
         seeds:\n  bench:\n    +schema: raw\n    +column_types:\n      created_at: timestamp\n\
         models:\n  bench:\n    staging:\n      +materialized: view\n    intermediate:\n      +materialized: view\n    marts:\n      +materialized: table\n",
    )?;
    write(
        &project.join("profiles.yml"),
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: \"{{ env_var('BENCH_DUCKDB_PATH', 'bench.duckdb') }}\"\n      schema: main\n      threads: 2\n",
    )?;
    for (index, seed) in SEEDS.iter().enumerate() {
        let mut csv = String::from("id,customer_id,amount,status,created_at\n");
        for row in 0..SEED_ROWS {
            let status = ["placed", "shipped", "returned", "completed"][(row + index) % 4];
            writeln!(
                csv,
                "{},{},{}.{:02},{status},2024-0{}-{:02} 10:00:00",
                row + 1,
                row % 13 + 1,
                (row * 37 + index * 11) % 500,
                row % 100,
                row % 9 + 1,
                row % 28 + 1
            )?;
        }
        write(&project.join(format!("seeds/raw_{seed}.csv")), &csv)?;
    }
    write(&project.join("models/docs.md"), DOCS_BLOCKS)?;
    write(&project.join("models/staging/_sources.yml"), &sources_yml())?;
    write_layer(project, "staging", "stg", staging, |index| {
        staging_sql(index)
    })?;
    write_layer(project, "intermediate", "int", intermediate, |index| {
        intermediate_sql(index, staging)
    })?;
    write_layer(project, "marts", "mart", marts, |index| {
        mart_sql(index, intermediate)
    })?;
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

const DOCS_BLOCKS: &str = r#"{% docs layer_staging %}
Staging models rename and type the raw rows exactly once, so that every later model reads clean,
consistently named columns. They never join and never aggregate.
{% enddocs %}

{% docs layer_intermediate %}
Intermediate models combine staging models into the building blocks the marts need: joins,
de-duplication and business rules live here, away from the presentation layer.
{% enddocs %}

{% docs layer_marts %}
Marts are the tables analysts and dashboards read: one row per business entity, aggregated,
documented and tested, rebuilt on every production run.
{% enddocs %}

{% docs column_amount %}
The amount in US dollars, with cents, after refunds. Null amounts are treated as zero upstream.
{% enddocs %}
"#;

fn sources_yml() -> String {
    let mut yml = String::from(
        "version: 2\n\nsources:\n  - name: raw\n    schema: main_raw\n    description: Raw rows as the shop's application database exports them, loaded from seeds.\n    tables:\n",
    );
    for seed in SEEDS {
        let _ = write!(
            yml,
            "      - name: raw_{seed}\n        description: Raw {seed} rows, one per event, as exported nightly.\n        columns:\n          - name: id\n            description: The primary key of the raw {seed} row.\n            data_tests: [not_null]\n          - name: customer_id\n            description: The customer the row belongs to.\n"
        );
    }
    yml
}

fn model_name(prefix: &str, index: usize) -> String {
    format!("{prefix}_model_{index:05}")
}

/// Writes one layer's models in folders of [`GROUP`], each folder with one schema file that
/// documents every model and every column and adds one test per model.
fn write_layer(
    project: &Path,
    layer: &str,
    prefix: &str,
    count: usize,
    sql: impl Fn(usize) -> String,
) -> Result<()> {
    for group in 0..count.div_ceil(GROUP) {
        let folder = project.join(format!("models/{layer}/group_{group:03}"));
        fs::create_dir_all(&folder)?;
        let mut yml = String::from("version: 2\n\nmodels:\n");
        for index in group * GROUP..((group + 1) * GROUP).min(count) {
            let name = model_name(prefix, index);
            write(&folder.join(format!("{name}.sql")), &sql(index))?;
            let _ = write!(
                yml,
                "  - name: {name}\n    description: >\n      {{{{ doc('layer_{layer}') }}}}\n      Model {index} of the {layer} layer, owned by team {team}. It keeps one row per\n      customer event and is refreshed on every run of the {layer} job.\n    meta:\n      owner: team-{team}\n      tier: {tier}\n    columns:\n      - name: id\n        description: The primary key, unique within this model.\n        data_tests: [not_null]\n      - name: customer_id\n        description: The customer this row belongs to; joins to the customers mart.\n      - name: amount\n        description: \"{{{{ doc('column_amount') }}}}\"\n      - name: status\n        description: The order status, lower-cased (placed, shipped, returned, completed).\n      - name: created_at\n        description: When the source row was created, in UTC.\n",
                team = index % 17,
                tier = index % 3 + 1,
            );
        }
        write(&folder.join("_models.yml"), &yml)?;
    }
    Ok(())
}

fn staging_sql(index: usize) -> String {
    let seed = SEEDS[index % SEEDS.len()];
    format!(
        "-- Staging model {index}: renames and types the raw {seed} rows.\n\
         with source as (\n    select * from {{{{ source('raw', 'raw_{seed}') }}}}\n),\n\n\
         renamed as (\n    select\n        id,\n        customer_id,\n        cast(amount as double) as amount,\n        lower(status) as status,\n        cast(created_at as timestamp) as created_at\n    from source\n    where id % 7 <> {skip}\n)\n\n\
         select * from renamed\n",
        skip = index % 7
    )
}

fn intermediate_sql(index: usize, staging: usize) -> String {
    let left = model_name("stg", index % staging);
    let right = model_name("stg", (index * 7 + 3) % staging);
    format!(
        "-- Intermediate model {index}: combines {left} with {right}.\n\
         with left_side as (\n    select * from {{{{ ref('{left}') }}}}\n),\n\n\
         right_side as (\n    select customer_id, sum(amount) as amount\n    from {{{{ ref('{right}') }}}}\n    group by customer_id\n),\n\n\
         joined as (\n    select\n        left_side.id,\n        left_side.customer_id,\n        left_side.amount + coalesce(right_side.amount, 0) as amount,\n        left_side.status,\n        left_side.created_at\n    from left_side\n    left join right_side using (customer_id)\n)\n\n\
         select * from joined\n"
    )
}

fn mart_sql(index: usize, intermediate: usize) -> String {
    let parents: Vec<String> = (0..3)
        .map(|k| model_name("int", (index * 3 + k * 11) % intermediate))
        .collect();
    let mut sql = format!(
        "-- Mart {index}: one row per customer from {}.\n{{{{ config(materialized='table') }}}}\n\nwith unioned as (\n",
        parents.join(", ")
    );
    for (position, parent) in parents.iter().enumerate() {
        let union = if position == 0 { "" } else { "    union all\n" };
        let _ = writeln!(sql, "{union}    select * from {{{{ ref('{parent}') }}}}");
    }
    sql.push_str(
        ")\n\nselect\n    customer_id as id,\n    customer_id,\n    sum(amount) as amount,\n    max(status) as status,\n    max(created_at) as created_at\nfrom unioned\ngroup by customer_id\n",
    );
    sql
}

/// Number of regular files and their total size under `dir` (symlinks not followed).
pub fn tree_size(dir: &Path) -> Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in
            fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files += 1;
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok((files, bytes))
}

/// A target folder of at least `megabytes` MiB: the artifacts of `base` (a real dbt target:
/// manifest, run results, catalog, compiled SQL) plus generated files made of that manifest's
/// own text: one single file of half the size (one entry that must stream) and copies of the
/// manifest for the rest, as a target folder that keeps old runs' artifacts grows.
pub fn big_workload(cache: &Path, base: &Workload, megabytes: u64) -> Result<Workload> {
    let dir = cache.join(format!("workloads/big-{megabytes}mb"));
    let target = dir.join("target");
    let stamp = dir.join("complete.json");
    let base_label = base.label.clone();
    let provenance = format!(
        "the {base_label} target, plus a {} MiB file and copies of its manifest.json up to {megabytes} MiB",
        megabytes / 2
    );
    let fresh = fs::read_to_string(&stamp)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|value| {
            value["generator"].as_u64() == Some(u64::from(GENERATOR_VERSION))
                && value["provenance"].as_str() == Some(provenance.as_str())
        });
    if !fresh {
        println!(
            "   building a {megabytes} MiB target in {}",
            target.display()
        );
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        crate::base::tree::copy_tree(&base.target, &target)?;
        let manifest = fs::read(base.target.join("manifest.json"))
            .context("the base workload has no manifest.json")?;
        ensure!(!manifest.is_empty(), "the base manifest is empty");
        let goal = megabytes * 1024 * 1024;
        let (_, mut bytes) = tree_size(&target)?;
        // One large file of half the goal: the archive must stream it, not hold it.
        let history = target.join("history");
        fs::create_dir_all(&history)?;
        let mut large = fs::File::create(history.join("manifests-concatenated.json"))?;
        let half = goal / 2;
        let mut written = 0u64;
        while written < half {
            large.write_all(&manifest)?;
            written += manifest.len() as u64;
        }
        bytes += written;
        let mut copy = 0;
        while bytes < goal {
            fs::write(history.join(format!("manifest-{copy:04}.json")), &manifest)?;
            bytes += manifest.len() as u64;
            copy += 1;
        }
        fs::write(
            &stamp,
            serde_json::to_string_pretty(&json!({
                "generator": GENERATOR_VERSION,
                "provenance": provenance,
            }))?,
        )?;
    }
    let (files, bytes) = tree_size(&target)?;
    Ok(Workload {
        label: format!("{} MiB synthetic", bytes / (1024 * 1024)),
        models: base.models,
        target,
        files,
        bytes,
        provenance,
    })
}
