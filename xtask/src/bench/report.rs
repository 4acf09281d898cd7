//! `docs/BENCHMARKS.md`, written from one run's measurements.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::measure::Summary;
use super::run::{names, Results, WorkloadResult};

/// One line for the console: median wall, CPU and RSS.
pub fn short(summary: &Summary) -> String {
    match &summary.error {
        Some(error) => format!("FAILED: {}", error.lines().next().unwrap_or_default()),
        None => format!(
            "{} wall, {} CPU, {} peak RSS",
            seconds(summary.wall),
            summary.cpu.map_or("–".into(), cpu),
            summary.rss_kib.map_or("–".into(), mib)
        ),
    }
}

pub(super) fn seconds(value: f64) -> String {
    if value.is_nan() {
        "–".into()
    } else if value < 0.1 {
        format!("{:.1} ms", value * 1000.0)
    } else {
        format!("{value:.2} s")
    }
}

pub(super) fn mib(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        return "–".into();
    }
    let r = a / b;
    if r >= 0.095 {
        format!("{r:.2}×")
    } else if r >= 0.0095 {
        format!("{r:.3}×")
    } else {
        format!("{r:.4}×")
    }
}

/// CPU seconds from GNU time, which counts in 10 ms steps.
fn cpu(value: f64) -> String {
    if value < 0.005 {
        "< 10 ms".into()
    } else {
        seconds(value)
    }
}

pub(super) fn find<'a>(summaries: &'a [Summary], name: &str) -> Option<&'a Summary> {
    summaries.iter().find(|s| s.name == name && s.ok())
}

/// A goal, what was measured, and whether it holds.
struct Goal {
    goal: String,
    measured: String,
    met: Option<bool>,
    margin: String,
}

fn goals(results: &Results) -> Vec<Goal> {
    let mut goals = Vec::new();
    let dbt: Vec<&WorkloadResult> = results
        .workloads
        .iter()
        .filter(|w| !w.workload.label.contains("synthetic"))
        .collect();
    for result in dbt
        .iter()
        .filter(|w| w.workload.models.unwrap_or(0) >= 4000)
    {
        let all = find(&result.summaries, names::ALL_FILES);
        let sdk = find(&result.summaries, names::DATAFOLD);
        let (measured, met, margin) = match (all, sdk) {
            (Some(all), Some(sdk)) => {
                let r = all.wall / sdk.wall;
                (
                    format!("{} vs {} = {:.3}×", seconds(all.wall), seconds(sdk.wall), r),
                    Some(r <= 0.2),
                    margin_ratio(r, 0.2),
                )
            }
            _ => ("not measured (a run failed)".into(), None, String::new()),
        };
        goals.push(Goal {
            goal: format!(
                "`foldup upload --all-files` ≤ 0.2× datafold-sdk wall, {}",
                result.workload.label
            ),
            measured,
            met,
            margin,
        });
    }
    if let Some(largest) = dbt.iter().max_by_key(|w| w.workload.models.unwrap_or(0)) {
        let all = find(&largest.summaries, names::ALL_FILES);
        let gzip = find(&largest.summaries, names::GZIP);
        let (measured, met, margin) = match (all, gzip) {
            (Some(all), Some(gzip)) => {
                let r = all.wall / gzip.wall;
                (
                    format!(
                        "{} vs {} = {:.2}×",
                        seconds(all.wall),
                        seconds(gzip.wall),
                        r
                    ),
                    Some(r <= 1.0),
                    margin_ratio(r, 1.0),
                )
            }
            _ => ("not measured (a run failed)".into(), None, String::new()),
        };
        goals.push(Goal {
            goal: format!(
                "`foldup upload --all-files` ≤ 1.0× single-core `gzip -1`, {}",
                largest.workload.label
            ),
            measured,
            met,
            margin,
        });
    }
    let mut worst: Option<(u64, String)> = None;
    for result in &results.workloads {
        for name in [names::ALL_FILES, names::DROP_IN, names::DEFAULT] {
            if let Some(summary) = find(&result.summaries, name) {
                let rss = summary.rss_kib.unwrap_or(0);
                if worst.as_ref().is_none_or(|(w, _)| rss > *w) {
                    worst = Some((rss, format!("{}, {}", name, result.workload.label)));
                }
            }
        }
    }
    if let Some((rss, which)) = worst {
        let limit = 32_000_000.0;
        let bytes = rss as f64 * 1024.0;
        goals.push(Goal {
            goal: "peak RSS ≤ 32 MB, every foldup upload, every target".into(),
            measured: format!("largest {} ({which})", mib(rss)),
            met: Some(bytes <= limit),
            margin: margin_ratio(bytes / limit, 1.0),
        });
    }
    for (name, limit) in [(names::ENV_GITHUB, 0.005), (names::VERSION, 0.002)] {
        if let Some(summary) = find(&results.startup, name) {
            goals.push(Goal {
                goal: format!("`{name}` ≤ {} ms", limit * 1000.0),
                measured: seconds(summary.wall),
                met: Some(summary.wall <= limit),
                margin: margin_ratio(summary.wall / limit, 1.0),
            });
        }
    }
    if let Some(summary) = find(&results.install, names::TARBALL) {
        goals.push(Goal {
            goal: "install ≤ 1 s from a local mirror".into(),
            measured: seconds(summary.wall),
            met: Some(summary.wall <= 1.0),
            margin: margin_ratio(summary.wall, 1.0),
        });
    }
    goals
}

/// How far a measured ratio is from its limit, as a sentence fragment.
fn margin_ratio(value: f64, limit: f64) -> String {
    if value <= limit {
        format!("met, {:.0}% under the limit", (1.0 - value / limit) * 100.0)
    } else {
        format!(
            "missed by {:.0}% ({:.2}× the limit)",
            (value / limit - 1.0) * 100.0,
            value / limit
        )
    }
}

pub fn render(results: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "<!-- Written by `cargo xtask bench`; do not edit by hand: run it again. -->\n"
    );
    let _ = writeln!(
        md,
        "Written by `{}` on {} (the run took {}). Every number below comes from that run: medians of \
         the repetitions, interleaved (each round runs every command once, each round starting one \
         command further along, after one untimed warm-up round).\n",
        results.command,
        results.started,
        super::workload::duration(results.elapsed_seconds)
    );

    let _ = writeln!(md, "## Goals\n");
    let _ = writeln!(md, "| goal | measured | verdict |\n|---|---|---|");
    for goal in goals(results) {
        let verdict = match goal.met {
            Some(true) => format!("**met** — {}", goal.margin),
            Some(false) => format!("**missed** — {}", goal.margin),
            None => "not measured".into(),
        };
        let _ = writeln!(md, "| {} | {} | {verdict} |", goal.goal, goal.measured);
    }
    md.push('\n');

    let _ = writeln!(md, "## Machine\n\n| | |\n|---|---|");
    for (key, value) in &results.machine {
        let _ = writeln!(md, "| {key} | {value} |");
    }
    let _ = writeln!(
        md,
        "\nThe machine may be shared with other work while the bench runs; the load average at the \
         start and the end of the run shows how busy it was (with 2 cores, a load of 2 keeps both \
         busy). foldup and datafold-sdk always run under the same conditions, interleaved, so the \
         ratios hold up better than the absolute times."
    );
    let _ = writeln!(md, "\n## Versions\n\n| | |\n|---|---|");
    for (key, value) in &results.versions {
        let _ = writeln!(md, "| {key} | {value} |");
    }

    let _ = writeln!(md, "\n## Workloads\n");
    let _ = writeln!(
        md,
        "Generated by the bench itself and cached outside the repository (`$FOLDUP_BENCH_CACHE`, \
         default `~/.cache/foldup-bench/workloads/`). A dbt workload is a synthetic dbt project of N \
         models — a quarter staging views over four sources (seeds), half intermediate views joining \
         two staging models, a quarter marts tables aggregating three intermediate models; every \
         model and column documented (with `{{% docs %}}` blocks) and one `not_null` test per model — \
         run through `dbt seed`, `dbt parse`, `dbt compile` and `dbt docs generate` on DuckDB. The \
         target folder dbt leaves is what is uploaded.\n"
    );
    let _ = writeln!(
        md,
        "| workload | files | bytes | how it was made |\n|---|---|---|---|"
    );
    for result in &results.workloads {
        let w = &result.workload;
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} MB | {} |",
            w.label,
            w.files,
            w.bytes as f64 / 1e6,
            w.provenance
        );
    }

    let _ = writeln!(md, "\n## Start-up\n");
    let _ = writeln!(
        md,
        "{} runs each. Wall time is measured around a direct spawn (no wrapper), output to \
         /dev/null; CPU and peak RSS come from GNU time (`/usr/bin/time -f '%e %U %S %M'`) in a \
         second run of each round.\n",
        results.startup_reps
    );
    let _ = writeln!(
        md,
        "| command | wall (median) | min – max | CPU | peak RSS | vs `datafold --help` |\n|---|---|---|---|---|---|"
    );
    let sdk_help = find(&results.startup, names::DATAFOLD_HELP).map_or(f64::NAN, |s| s.wall);
    for summary in &results.startup {
        row(&mut md, summary, &[sdk_help]);
    }
    let _ = writeln!(md, "\nCommands:\n");
    for summary in &results.startup {
        let _ = writeln!(md, "- {}: `{}`", summary.name, summary.shown);
    }

    for result in &results.workloads {
        workload_section(&mut md, result);
    }
    breakdown(&mut md, results);
    misses(&mut md, results);

    if !results.install.is_empty() {
        let _ = writeln!(md, "\n## Install\n");
        let _ = writeln!(md, "{}\n", results.install_note);
        let _ = writeln!(
            md,
            "| command | wall (median) | min – max | CPU | peak RSS | vs pip |\n|---|---|---|---|---|---|"
        );
        let pip = find(&results.install, names::PIP).map_or(f64::NAN, |s| s.wall);
        for summary in &results.install {
            row(&mut md, summary, &[pip]);
        }
        let _ = writeln!(md, "\n| installed | size on disk |\n|---|---|");
        for (name, bytes) in &results.install_sizes {
            let _ = writeln!(md, "| {name} | {:.1} MB |", *bytes as f64 / 1e6);
        }
        let _ = writeln!(md, "\nCommands:\n");
        for summary in &results.install {
            let _ = writeln!(md, "- {}: `{}`", summary.name, summary.shown);
        }
    }

    if let Some(state) = &results.state {
        md.push('\n');
        md.push_str(&super::state::section(state));
    }
    if let Some(impact) = &results.impact {
        md.push('\n');
        md.push_str(&super::impact::section(impact));
    }

    if !results.notes.is_empty() {
        let _ = writeln!(md, "\n## Notes\n");
        for note in &results.notes {
            let _ = writeln!(md, "- {note}");
        }
    }
    // Paths inside the bench cache read the same on every machine.
    md.replace(
        results.cache.to_string_lossy().as_ref(),
        "$FOLDUP_BENCH_CACHE",
    )
}

/// Where foldup's upload time goes, from the rows above: building the archive alone (`--dry-run
/// --output`), the rest (sending it and the server's work), and what the test server takes for a
/// prebuilt archive sent by curl.
fn breakdown(md: &mut String, results: &Results) {
    let _ = writeln!(md, "\n## Where the upload time goes\n");
    let _ = writeln!(
        md,
        "From the medians above. *archive* is `foldup upload --all-files --dry-run --output FILE` \
         (locate, validate, read and deflate every file on every core, write the zip to a file); \
         *send + server* is the rest of `foldup upload --all-files` (client set-up, sending the \
         archive, the test server's work on receipt); *curl floor* is the same server's answer to a \
         prebuilt archive: the part of every uploader's wall time that the test server spends \
         receiving the archive and reading its central directory before it answers (it inflates \
         and hashes the entries after answering). *budget* is 0.2× datafold-sdk's wall time.\n"
    );
    let _ = writeln!(
        md,
        "| workload | foldup --all-files | archive | send + server | curl floor | budget (0.2× datafold-sdk) | CPU / wall of the archive step |\n|---|---|---|---|---|---|---|"
    );
    for result in &results.workloads {
        let get = |name| find(&result.summaries, name);
        let (Some(all), Some(archive)) = (get(names::ALL_FILES), get(names::ARCHIVE_ONLY)) else {
            continue;
        };
        let curl = get(names::CURL).map_or(f64::NAN, |s| s.wall);
        let budget = get(names::DATAFOLD).map_or(f64::NAN, |s| s.wall * 0.2);
        let parallelism = archive.cpu.map_or(f64::NAN, |cpu| cpu / archive.wall);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {:.2} |",
            result.workload.label,
            seconds(all.wall),
            seconds(archive.wall),
            seconds(all.wall - archive.wall),
            seconds(curl),
            seconds(budget),
            parallelism
        );
    }
}

/// Why each missed goal is missed, in numbers from this run.
fn misses(md: &mut String, results: &Results) {
    let mut why = Vec::new();
    let cores = results
        .machine
        .iter()
        .find(|(key, _)| key.starts_with("cores"))
        .map_or("?".to_string(), |(_, value)| value.clone());
    let dbt: Vec<&WorkloadResult> = results
        .workloads
        .iter()
        .filter(|w| !w.workload.label.contains("synthetic"))
        .collect();
    for result in &dbt {
        let get = |name| find(&result.summaries, name);
        let (Some(all), Some(sdk), Some(archive), Some(curl)) = (
            get(names::ALL_FILES),
            get(names::DATAFOLD),
            get(names::ARCHIVE_ONLY),
            get(names::CURL),
        ) else {
            continue;
        };
        let label = &result.workload.label;
        let budget = sdk.wall * 0.2;
        if result.workload.models.unwrap_or(0) >= 4000 && all.wall > budget {
            why.push(format!(
                "**0.2× datafold-sdk, {label}**: datafold-sdk takes {}, so the budget is {}. The test \
                 server alone needs {} to answer a prebuilt archive sent by curl (it spools the upload \
                 and reads the zip's central directory before it answers): {:.0}% of the budget. \
                 foldup's archive step (locate, read and deflate {:.0} MB on {cores} cores, write the \
                 zip) takes {} as a dry run (an upper bound: the dry run also prints every file \
                 name). The two alone add up to {} = {:.2}× datafold-sdk. They add up rather than \
                 overlap because foldup sends the archive once it is complete, with a Content-Length \
                 as datafold-sdk's request has; sending while compressing (chunked) was tried and was \
                 no faster on 2 cores, where the receiving server competes with compression for the \
                 same cores (docs/DECISIONS.md).",
                seconds(sdk.wall),
                seconds(budget),
                seconds(curl.wall),
                curl.wall / budget * 100.0,
                result.workload.bytes as f64 / 1e6,
                seconds(archive.wall),
                seconds(archive.wall + curl.wall),
                (archive.wall + curl.wall) / sdk.wall,
            ));
        }
    }
    if let Some(largest) = dbt.iter().max_by_key(|w| w.workload.models.unwrap_or(0)) {
        let get = |name| find(&largest.summaries, name);
        if let (Some(all), Some(gzip), Some(archive), Some(curl)) = (
            get(names::ALL_FILES),
            get(names::GZIP),
            get(names::ARCHIVE_ONLY),
            get(names::CURL),
        ) {
            if all.wall > gzip.wall {
                why.push(format!(
                    "**1.0× `gzip -1`, {}**: foldup's archive step alone takes {} ({:.2}× gzip, \
                     which only compresses and writes nothing anywhere); the other {} are the upload \
                     and the test server's answer, which for a prebuilt archive takes {} (curl floor).",
                    largest.workload.label,
                    seconds(archive.wall),
                    archive.wall / gzip.wall,
                    seconds(all.wall - archive.wall),
                    seconds(curl.wall),
                ));
            }
        }
    }
    // Peak memory grows with the number of files, not with their size: compare the smallest and
    // the largest dbt target.
    let rss_points: Vec<(u64, u64)> = results
        .workloads
        .iter()
        .filter_map(|w| {
            find(&w.summaries, names::ALL_FILES)
                .and_then(|s| s.rss_kib)
                .map(|rss| (w.workload.files, rss))
        })
        .collect();
    if let (Some(small), Some(large)) = (
        rss_points.iter().min_by_key(|(files, _)| *files),
        rss_points.iter().max_by_key(|(files, rss)| (*files, *rss)),
    ) {
        if large.0 > small.0 {
            let per_file = (large.1 as f64 - small.1 as f64) * 1024.0 / (large.0 - small.0) as f64;
            why.push(format!(
                "**Peak RSS** depends on the number of files, not on their size: {} for {} files, \
                 {} for {} files, about {:.0} bytes per file (the file list and the zip's central \
                 directory, both kept until the archive ends); the file contents pass through \
                 fixed buffers, so the ≥1 GiB target with as many files as the 16,000-model one \
                 peaks at the same level.",
                mib(small.1),
                small.0,
                mib(large.1),
                large.0,
                per_file
            ));
        }
    }
    for (name, limit) in [(names::ENV_GITHUB, 0.005), (names::VERSION, 0.002)] {
        if let Some(summary) = find(&results.startup, name) {
            if summary.wall > limit {
                why.push(format!(
                    "**`{name}`** takes {} (median) against {} ms; its fastest run took {}. The \
                     figure includes the spawn itself (fork and exec from the bench process), and \
                     millisecond timings move with the machine's load (see Machine).",
                    seconds(summary.wall),
                    limit * 1000.0,
                    seconds(summary.wall_min),
                ));
            }
        }
    }
    if why.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Why\n");
    for line in why {
        let _ = writeln!(md, "- {line}");
    }
}

fn workload_section(md: &mut String, result: &WorkloadResult) {
    let w = &result.workload;
    let _ = writeln!(
        md,
        "\n## Upload: {} ({} files, {:.1} MB)\n",
        w.label,
        w.files,
        w.bytes as f64 / 1e6
    );
    let _ = writeln!(
        md,
        "{} rounds. Every upload goes to the same `foldup-testserver` on 127.0.0.1, which spools the \
         archive to a file and reads its central directory before it answers, then inflates and \
         hashes every entry (its requests are cleared between runs, which waits for that work). Wall time is measured around the command; CPU (user + system) and \
         peak RSS come from GNU time.\n",
        result.reps
    );
    let _ = writeln!(
        md,
        "| command | wall (median) | min – max | CPU | peak RSS | vs datafold-sdk | vs `gzip -1` |\n|---|---|---|---|---|---|---|"
    );
    let sdk = find(&result.summaries, names::DATAFOLD).map_or(f64::NAN, |s| s.wall);
    let gzip = find(&result.summaries, names::GZIP).map_or(f64::NAN, |s| s.wall);
    for summary in &result.summaries {
        row(md, summary, &[sdk, gzip]);
    }
    if !result.entries.is_empty() {
        let listed: Vec<String> = result
            .entries
            .iter()
            .map(|listing| {
                format!(
                    "{}: {} entries, {:.1} MB",
                    listing.name,
                    listing.entries,
                    listing.bytes as f64 / 1e6
                )
            })
            .collect();
        let _ = writeln!(md, "\nArchives the server received: {}.", listed.join("; "));
    }
    let _ = writeln!(
        md,
        "\nCommands (`$TARGET` = `{}`, `$SERVER` = the test server started with \
         `foldup-testserver --port 0 --api-key $KEY --ci-config-id 1`):\n",
        w.target.display()
    );
    for summary in &result.summaries {
        let _ = writeln!(md, "- {}: `{}`", summary.name, summary.shown);
    }
}

pub(super) fn row(md: &mut String, summary: &Summary, bases: &[f64]) {
    if let Some(error) = &summary.error {
        let first = error.lines().next().unwrap_or_default().replace('|', "\\|");
        let _ = write!(md, "| {} | failed: {first} |", summary.name);
        for _ in 0..bases.len() + 3 {
            md.push_str(" |");
        }
        md.push('\n');
        return;
    }
    let _ = write!(
        md,
        "| {} | {} | {} – {} | {} | {} |",
        summary.name,
        seconds(summary.wall),
        seconds(summary.wall_min),
        seconds(summary.wall_max),
        summary.cpu.map_or("–".into(), cpu),
        summary.rss_kib.map_or("–".into(), mib),
    );
    for base in bases {
        let _ = write!(md, " {} |", ratio(summary.wall, *base));
    }
    md.push('\n');
}

/// A section of the report that `cargo xtask bench --impact` / `--state` can rewrite alone: `body`
/// between the markers named `name`.
pub fn marked(name: &str, body: &str) -> String {
    format!(
        "<!-- bench:{name} (written by `cargo xtask bench`, or alone by `cargo xtask bench --{name}`) -->\n{}\n<!-- /bench:{name} -->\n",
        body.trim_end()
    )
}

/// Puts a [`marked`] section into the report at `out`: in place of the one already there, else
/// at the end (a report that does not exist yet is the section alone).
pub fn splice(out: &Path, name: &str, section: &str) -> Result<()> {
    let existing = fs::read_to_string(out).unwrap_or_default();
    let start_marker = format!("<!-- bench:{name} ");
    let end_marker = format!("<!-- /bench:{name} -->\n");
    let text = match (existing.find(&start_marker), existing.find(&end_marker)) {
        (Some(start), Some(end)) if start < end => format!(
            "{}{section}{}",
            &existing[..start],
            &existing[end + end_marker.len()..]
        ),
        _ if existing.is_empty() => section.to_owned(),
        _ => format!("{}\n\n{section}", existing.trim_end()),
    };
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    println!("== wrote the {name} section of {}", out.display());
    Ok(())
}
