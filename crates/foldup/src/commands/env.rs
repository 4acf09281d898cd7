//! `foldup env [--json]`.

use std::io::Write;

use crate::failure::Failure;
use crate::Session;

pub async fn run(session: &Session, json: bool) -> Result<(), Failure> {
    let ctx = super::detect_context(session).await?;
    let text = if json {
        format!("{}\n", ctx.to_json())
    } else {
        ctx.to_human()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .map_err(|e| Failure::usage(format!("cannot write to standard output: {e}")))
}
