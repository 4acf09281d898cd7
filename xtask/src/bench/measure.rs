//! Running one command and measuring it: wall time from this process, CPU time and peak resident
//! memory from the kernel's rusage of the child, as GNU time (`/usr/bin/time`) reports it.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

/// GNU time: elapsed, user and system seconds, and peak RSS in KiB.
const TIME: &str = "/usr/bin/time";
const TIME_FORMAT: &str = "%e %U %S %M";

/// One measured thing: a program and its arguments, in a controlled environment.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name used in the report.
    pub name: String,
    /// The command as a reader would type it to reproduce the row.
    pub shown: String,
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(String, OsString)>,
    pub cwd: PathBuf,
}

impl Case {
    pub fn new(name: &str, shown: impl Into<String>, program: impl Into<OsString>) -> Self {
        Self {
            name: name.to_string(),
            shown: shown.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: std::env::temp_dir(),
        }
    }

    /// A shell pipeline, run by `sh -c`.
    pub fn shell(name: &str, script: impl Into<String>) -> Self {
        let script = script.into();
        let mut case = Self::new(name, script.clone(), "sh");
        case.args = vec!["-c".into(), script.into()];
        case
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn envs(mut self, vars: &[(String, OsString)]) -> Self {
        self.env.extend(vars.iter().cloned());
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = dir.to_path_buf();
        self
    }

    /// `program leading... case.program case.args...` (or the case alone when `program` is
    /// `None`), with a clean environment: PATH, HOME, TMPDIR, LANG and the case's own.
    fn command(&self, wrapper: Option<(&str, &[OsString])>) -> Command {
        let mut command = match wrapper {
            Some((program, leading)) => {
                let mut command = Command::new(program);
                command.args(leading).arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command.args(&self.args);
        command.env_clear();
        for name in ["PATH", "HOME", "TMPDIR"] {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        command.env("LANG", "C.UTF-8");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command.current_dir(&self.cwd);
        command
    }
}

/// What one run cost.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub wall: f64,
    /// User + system CPU seconds (10 ms resolution).
    pub cpu: f64,
    pub rss_kib: u64,
}

/// Runs `case` under GNU time: wall time as seen from here, CPU and peak RSS from rusage.
/// Fails when the command fails, showing its output.
pub fn timed(case: &Case, scratch: &Path) -> Result<Sample> {
    let report = scratch.join("time.out");
    let _ = fs::remove_file(&report);
    let leading: Vec<OsString> = vec![
        "-f".into(),
        TIME_FORMAT.into(),
        "-o".into(),
        report.clone().into_os_string(),
    ];
    let mut command = case.command(Some((TIME, &leading)));
    command.stdin(Stdio::null());
    let started = Instant::now();
    let output = command.output().with_context(|| {
        format!(
            "running {} (is GNU time installed? apt-get install time)",
            case.shown
        )
    })?;
    let wall = started.elapsed().as_secs_f64();
    if !output.status.success() {
        bail!(
            "`{}` failed ({}):\n{}{}",
            case.shown,
            output.status,
            tail(&output.stdout),
            tail(&output.stderr)
        );
    }
    let text = fs::read_to_string(&report).context("GNU time wrote no report")?;
    let line = text.lines().last().unwrap_or_default();
    let fields: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("unexpected GNU time output {text:?}"))?;
    ensure!(fields.len() == 4, "unexpected GNU time output {text:?}");
    Ok(Sample {
        wall,
        cpu: fields[1] + fields[2],
        rss_kib: fields[3] as u64,
    })
}

/// Runs `case` directly (no GNU time in between) and returns the wall time: for start-up, where
/// a millisecond matters. Output goes to /dev/null.
pub fn direct(case: &Case) -> Result<f64> {
    let mut command = case.command(None);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("running {}", case.shown))?;
    let wall = started.elapsed().as_secs_f64();
    ensure!(status.success(), "`{}` failed ({status})", case.shown);
    Ok(wall)
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(25);
    lines[start..].join("\n") + "\n"
}

/// The median of some numbers (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// Medians and spread of a case's samples.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub name: String,
    pub shown: String,
    pub runs: usize,
    pub wall: f64,
    pub wall_min: f64,
    pub wall_max: f64,
    pub cpu: Option<f64>,
    pub rss_kib: Option<u64>,
    /// Why the case has no numbers, when it failed.
    pub error: Option<String>,
}

impl Summary {
    pub fn from_samples(case: &Case, samples: &[Sample], with_rusage: bool) -> Self {
        let walls: Vec<f64> = samples.iter().map(|s| s.wall).collect();
        let cpus: Vec<f64> = samples.iter().map(|s| s.cpu).collect();
        let rss: Vec<f64> = samples.iter().map(|s| s.rss_kib as f64).collect();
        Self {
            name: case.name.clone(),
            shown: case.shown.clone(),
            runs: samples.len(),
            wall: median(&walls),
            wall_min: walls.iter().copied().fold(f64::INFINITY, f64::min),
            wall_max: walls.iter().copied().fold(0.0, f64::max),
            cpu: with_rusage.then(|| median(&cpus)),
            rss_kib: with_rusage.then(|| median(&rss) as u64),
            error: None,
        }
    }

    pub fn failed(case: &Case, error: String) -> Self {
        Self {
            name: case.name.clone(),
            shown: case.shown.clone(),
            error: Some(error),
            wall: f64::NAN,
            ..Self::default()
        }
    }

    pub fn ok(&self) -> bool {
        self.error.is_none() && self.runs > 0
    }
}

/// Runs every case `reps` times, interleaved (one round runs each case once, each round starting
/// one case further along), after one untimed warm-up round. A case that fails is reported with
/// its error and left out of later rounds; the others go on.
/// `between` runs, untimed, before every run (e.g. to clear what the test server recorded).
pub fn interleaved(
    cases: &[Case],
    reps: usize,
    scratch: &Path,
    direct_wall: bool,
    between: &dyn Fn() -> Result<()>,
) -> Vec<Summary> {
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); cases.len()];
    let mut errors: Vec<Option<String>> = vec![None; cases.len()];
    let run_one = |case: &Case| -> Result<Sample> {
        between()?;
        if direct_wall {
            // Start-up: wall time without GNU time's own exec in between, rusage from a second run.
            let mut sample = timed(case, scratch)?;
            sample.wall = direct(case)?;
            Ok(sample)
        } else {
            timed(case, scratch)
        }
    };
    for (index, case) in cases.iter().enumerate() {
        if let Err(error) = run_one(case) {
            println!("     {} failed: {error:#}", case.name);
            errors[index] = Some(format!("{error:#}"));
        }
    }
    for round in 0..reps {
        for offset in 0..cases.len() {
            let index = (round + offset) % cases.len();
            if errors[index].is_some() {
                continue;
            }
            match run_one(&cases[index]) {
                Ok(sample) => samples[index].push(sample),
                Err(error) => {
                    println!("     {} failed: {error:#}", cases[index].name);
                    errors[index] = Some(format!("{error:#}"));
                }
            }
        }
        print!("     round {}/{reps} done\r", round + 1);
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    }
    println!();
    cases
        .iter()
        .zip(samples)
        .zip(errors)
        .map(|((case, samples), error)| match error {
            Some(error) => Summary::failed(case, error),
            None => Summary::from_samples(case, &samples, true),
        })
        .collect()
}
