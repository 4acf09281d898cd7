//! `foldup env [--json]`.

use std::io::Write;

use crate::failure::Failure;
use crate::Session;

pub async fn run(session: &Session, json: bool) -> Result<(), Failure> {
    let ctx = super::detect_context(session).await?;
    let text = if json {
        format!("{}\n", log_safe_json(&ctx.to_json().to_string()))
    } else {
        ctx.to_human()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .map_err(|e| Failure::usage(format!("cannot write to standard output: {e}")))
}

/// JSON text with the characters serde_json leaves raw but some log viewers and terminals break
/// lines at or act on (DEL, the C1 controls such as NEL, the line and paragraph separators)
/// written as `\uXXXX` escapes: still the same JSON, and a branch name cannot draw a line of its
/// own in a CI log. They can only occur inside strings, where the escape means the same.
fn log_safe_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}') {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_safe_json_is_the_same_json() {
        let value = serde_json::json!({"branch": "a\u{2028}::warning::x\u{85}y\u{7f}z\n"});
        let text = log_safe_json(&value.to_string());
        assert!(
            !text.contains(['\u{2028}', '\u{85}', '\u{7f}', '\n']),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }
}
