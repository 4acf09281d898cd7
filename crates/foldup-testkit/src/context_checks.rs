//! What every CI context must satisfy whatever the input, checked by the fuzz targets and by the
//! replay of their corpora (see docs/RELIABILITY.md).

use foldup_core::{CiContext, CiProvider, DetectOptions, Env};

/// A runtime for the plugins' async `detect`, made once per thread.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

/// Runs a plugin's detection (no tokens: no network) and checks the context it gives.
pub fn detect_and_check(provider: &dyn CiProvider, env: &Env) -> CiContext {
    let ctx = block_on(provider.detect(env, &DetectOptions::default()))
        .expect("detection of a CI's variables never fails");
    check_context(&ctx);
    ctx
}

/// Whether `text` is one printable line: no control character but a tab, no Unicode line
/// separator.
pub fn is_one_line(text: &str) -> bool {
    !text
        .chars()
        .any(|c| (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}'))
}

/// Text foldup prints must hold no character that could start a line of its own or drive a
/// terminal.
pub fn assert_one_line(what: &str, text: &str) {
    assert!(is_one_line(text), "{what} could forge a log line: {text:?}");
}

/// The context's human form is one line per field, its warnings one line each, and its JSON
/// form is JSON.
pub fn check_context(ctx: &CiContext) {
    let human = ctx.to_human();
    let fields = if ctx.is_fork() { 10 } else { 9 };
    assert_eq!(human.lines().count(), fields, "{human:?}");
    for line in human.lines() {
        assert_one_line("a line of `foldup env`", line);
    }
    for warning in &ctx.warnings {
        assert_one_line("a warning", warning);
    }
    let json = ctx.to_json().to_string();
    let back: serde_json::Value = serde_json::from_str(&json).expect("env --json is JSON");
    assert_eq!(back, ctx.to_json());
}

/// Bytes as a variable's value: environment variables cannot hold NUL, and foldup reads them
/// as (lossy) UTF-8.
pub fn as_variable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "")
}
