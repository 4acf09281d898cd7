//! `cargo xtask bench [--quick] [--models N,...] [--reps N] [--big-mb N] [--no-install] [--out FILE]
//! [--impact] [--state]`
//!
//! Measures foldup against datafold-sdk 0.4.1 and against the hardware floor, on dbt target
//! folders written by dbt itself, and writes the results to `docs/BENCHMARKS.md`.
//! See `docs/BENCHMARKS.md` for what each row measures and how to reproduce it.

mod impact;
mod measure;
mod python;
mod report;
mod run;
mod state;
mod workload;

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// The options of one bench run.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub models: Vec<usize>,
    /// Repetitions of each upload measurement (start-up gets more).
    pub reps: usize,
    /// Size of the synthetic target in MiB; 0 skips it.
    pub big_mb: u64,
    /// Repetitions of the install measurement; 0 skips it.
    pub install_reps: usize,
    pub out: PathBuf,
    pub cache: PathBuf,
    pub python: String,
    /// Only generate the workloads (dbt runs), measure nothing.
    pub generate_only: bool,
    /// Only write the report again, from the measurements the last run saved.
    pub render_only: bool,
    /// Use this foldup binary instead of building the release one.
    pub foldup: Option<PathBuf>,
    /// Only `foldup impact` against `dbt ls --select state:modified+` (bench/impact.rs).
    pub impact_only: bool,
    /// Only `foldup state push` / `pull` against boto3 (bench/state.rs).
    pub state_only: bool,
    /// Leave the state rows out of a full run (`--no-state`).
    pub skip_state: bool,
    /// Leave the impact rows out of a full run (`--no-impact`).
    pub skip_impact: bool,
}

const USAGE: &str = "usage: cargo xtask bench [--quick] [--models N,N,...] [--reps N] [--big-mb N] \
[--install-reps N] [--out FILE] [--python PYTHON] [--generate-only] [--render-only] [--impact] [--state] [--no-impact] [--no-state]\n\
  --impact and --state measure only those rows (--state on the largest workload of --models) and rewrite only their section of the report\n\
  environment: FOLDUP_BENCH_CACHE (default ~/.cache/foldup-bench), FOLDUP_BENCH_BIN (a foldup binary to measure), FOLDUP_BENCH_TESTSERVER (a foldup-testserver binary)";

pub fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    if options.render_only {
        return run::render_only(&options);
    }
    if options.impact_only || options.state_only {
        let foldup = options
            .foldup
            .clone()
            .unwrap_or_else(|| crate::repo_root().join("target/release/foldup"));
        if options.foldup.is_none() {
            crate::base::step::run_step(
                "release build",
                "cargo",
                &["build", "--release", "--quiet", "-p", "foldup"],
            )?;
        }
        if options.impact_only {
            impact::run(&options, &foldup)?;
        }
        if options.state_only {
            state::run(&options, &foldup)?;
        }
        return Ok(());
    }
    run::run(&options)
}

fn parse(args: &[String]) -> Result<Options> {
    let root = crate::repo_root();
    let quick = args.iter().any(|arg| arg == "--quick");
    let cache = match std::env::var_os("FOLDUP_BENCH_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home =
                std::env::var_os("HOME").context("HOME is not set; set FOLDUP_BENCH_CACHE")?;
            PathBuf::from(home).join(".cache/foldup-bench")
        }
    };
    let mut options = Options {
        quick,
        models: if quick {
            vec![5, 400]
        } else {
            vec![5, 4000, 16000]
        },
        reps: if quick { 3 } else { 5 },
        big_mb: if quick { 0 } else { 1024 },
        install_reps: if quick { 1 } else { 3 },
        out: if quick {
            root.join("target/bench/BENCHMARKS.md")
        } else {
            root.join("docs/BENCHMARKS.md")
        },
        cache,
        python: "python3".into(),
        generate_only: false,
        render_only: false,
        foldup: std::env::var_os("FOLDUP_BENCH_BIN").map(PathBuf::from),
        impact_only: false,
        state_only: false,
        skip_state: false,
        skip_impact: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .with_context(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--quick" => {}
            "--models" => {
                options.models = value("--models")?
                    .split(',')
                    .map(|n| n.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .context("--models takes numbers separated by commas")?;
            }
            "--reps" => options.reps = value("--reps")?.parse().context("--reps takes a number")?,
            "--big-mb" => {
                options.big_mb = value("--big-mb")?
                    .parse()
                    .context("--big-mb takes a number")?;
            }
            "--install-reps" => {
                options.install_reps = value("--install-reps")?
                    .parse()
                    .context("--install-reps takes a number")?;
            }
            "--no-install" => options.install_reps = 0,
            "--out" => options.out = PathBuf::from(value("--out")?),
            "--python" => options.python = value("--python")?,
            "--generate-only" => options.generate_only = true,
            "--render-only" => options.render_only = true,
            "--impact" => options.impact_only = true,
            "--state" => options.state_only = true,
            "--no-state" => options.skip_state = true,
            "--no-impact" => options.skip_impact = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if options.reps == 0 {
        bail!("--reps must be at least 1");
    }
    Ok(options)
}
