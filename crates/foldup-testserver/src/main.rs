//! `foldup-testserver`: the Datafold-compatible test server as a process, for scripts, the demo,
//! the datafold-sdk contract test and gitlab-ci-local.
//!
//! Prints its URL as the first line of stdout, then serves until killed. `GET /__admin/requests`
//! lists what it received; `POST /__admin/fault` and `POST /__admin/runs` change its behaviour
//! (JSON as in the library's `Fault` and `RunPlan`).
//!
//! An upload is answered once its body has arrived and the zip's central directory is read; its
//! entries are inflated and hashed afterwards, and `GET /__admin/requests` waits for that. With
//! `--record FILE`, answers wait for it instead, so FILE is complete once a client has its answer.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use foldup_testserver::{Fault, RunOutcome, RunPlan, ServerConfig, TestServer};

#[derive(Parser)]
#[command(
    name = "foldup-testserver",
    version,
    about = "A Datafold-compatible HTTP server that records requests and injects faults.",
    long_about = "A Datafold-compatible HTTP server that records requests and injects faults.\n\n\
        An upload is answered as soon as its body has arrived and the zip's central directory is \
        read (not a zip, or no manifest.json at its root: 400). Its entries are inflated and \
        hashed after answering, as a real service stores an upload and answers; corrupt entry \
        content found then sets the recorded archive's zip_error. GET /__admin/requests waits \
        for those inspections, so it never lists an entry without its hash."
)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on (0.0.0.0 lets containers reach it).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// An accepted API key (repeatable).
    #[arg(long = "api-key", required = true)]
    api_keys: Vec<String>,
    /// A CI config id that exists (repeatable).
    #[arg(long = "ci-config-id", required = true)]
    ci_config_ids: Vec<u64>,
    /// Write every recorded request as JSON to FILE after each request. Each upload's answer
    /// then waits until its archive's entries are hashed, so FILE is complete by the time the
    /// client has its answer (without --record, uploads are answered before that).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Write the URL to FILE once listening.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// A fault to start with, as JSON, e.g. '{"kind":"unavailable","times":2}'.
    #[arg(long, value_name = "JSON")]
    fault: Option<String>,
    /// How CI runs end.
    #[arg(long, value_enum, default_value = "done")]
    run_outcome: Outcome,
    /// The poll at which a CI run reaches its outcome.
    #[arg(long, default_value_t = 1)]
    run_after_polls: u32,
    /// Refuse bodies larger than this many bytes with 413.
    #[arg(long, default_value_t = 4 * 1024 * 1024 * 1024)]
    max_upload_bytes: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Outcome {
    Done,
    Failed,
    Cancelled,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let fault = match &args.fault {
        Some(json) => serde_json::from_str::<Fault>(json)
            .with_context(|| format!("--fault {json} is not a fault; example: '{{\"kind\":\"unavailable\",\"times\":2}}'"))?,
        None => Fault::None,
    };
    let config = ServerConfig {
        api_keys: args.api_keys,
        ci_config_ids: args.ci_config_ids,
        bind: args.bind,
        port: args.port,
        fault,
        run_plan: RunPlan {
            outcome: match args.run_outcome {
                Outcome::Done => RunOutcome::Done,
                Outcome::Failed => RunOutcome::Failed,
                Outcome::Cancelled => RunOutcome::Cancelled,
            },
            after_polls: args.run_after_polls,
            ..RunPlan::default()
        },
        // Whoever reads the file reads it when their client is done: it must be complete then.
        inspect_before_answering: args.record.is_some(),
        record_file: args.record,
        max_upload_bytes: args.max_upload_bytes,
        tls: None,
    };
    let server = TestServer::try_start(config)?;
    let url = server.url();
    // The ready file first, so that whoever reads the URL line can rely on it too.
    if let Some(path) = &args.ready_file {
        // Through a rename, so a script polling for the file never reads it half-written.
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        std::fs::write(&partial, format!("{url}\n"))
            .and_then(|()| std::fs::rename(&partial, path))
            .with_context(|| format!("could not write the ready file {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{url}").context("could not print the URL")?;
    stdout.flush().context("could not print the URL")?;
    drop(stdout);
    // Serve until the process is killed; the server runs on its own thread.
    loop {
        std::thread::park();
    }
}
