//! The one place foldup makes outside text (a branch name, a server's message, a file name, an
//! error chain) safe to print on one log line.
//!
//! One policy everywhere:
//! - [`one_line`]: control characters (CR, LF, NEL, ESC, …) and the Unicode line and paragraph
//!   separators become `\u{..}` escapes, so a value can never start a forged log line, a CI
//!   workflow command or a terminal escape sequence. Nothing is cut.
//! - [`shown`]: [`one_line`], cut to [`MAX_SHOWN_CHARS`] characters with `…`. For a value quoted
//!   inside a sentence.
//! - [`prose`]: runs of whitespace (line breaks included) become one space first, then [`shown`].
//!   For a server's message or an error chain, which are multi-line text meant to be read.
//! - [`redact`]: a secret blanked out, whatever layer echoed it.

/// The most characters of one outside value a message quotes.
pub const MAX_SHOWN_CHARS: usize = 300;

/// Secrets shorter than this are not blanked out: they would blank ordinary words, and no real
/// API key or token is this short.
const MIN_REDACTED_LEN: usize = 6;

/// What a blanked-out secret reads as: what `Secret` displays and GitHub's masking shows.
pub const REDACTED: &str = "***";

/// Escapes everything that could break a log line; see the module documentation.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
}

/// [`one_line`], at most [`MAX_SHOWN_CHARS`] characters of it (then `…`); an escape is never
/// cut in half.
pub fn shown(text: &str) -> String {
    let mut out = String::new();
    let mut count = 0;
    for c in text.chars() {
        let piece = one_line(c.encode_utf8(&mut [0; 4]));
        let length = piece.chars().count();
        if count + length > MAX_SHOWN_CHARS {
            out.truncate(out.trim_end().len());
            out.push('…');
            break;
        }
        count += length;
        out.push_str(&piece);
    }
    out
}

/// Multi-line text read as one sentence: whitespace runs become one space, then [`shown`].
pub fn prose(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    shown(&joined)
}

/// `text` with every occurrence of `secret` replaced by [`REDACTED`].
pub fn redact(text: &str, secret: &str) -> String {
    let secret = secret.trim();
    if secret.len() < MIN_REDACTED_LEN || !text.contains(secret) {
        return text.to_owned();
    }
    text.replace(secret, REDACTED)
}

/// An error and its causes on one line (`outer: inner: innermost`), each cause said once.
/// Not yet escaped: pass the result through [`prose`] (and [`redact`]) before printing.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

/// The innermost cause of an error: the part that says what happened ("Connection refused").
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_escapes_and_separators_are_neutralised() {
        let s = one_line("feat\r\n::set-output name=x::y\x1b[31m");
        assert!(!s.contains('\n') && !s.contains('\r') && !s.contains('\x1b'));
        assert!(s.contains("\\u{a}::set-output"));
        let s = one_line("a\u{2028}::warning::x\u{2029}b\u{85}c\td");
        assert_eq!(s, "a\\u{2028}::warning::x\\u{2029}b\\u{85}c\td");
    }

    #[test]
    fn shown_values_are_bounded() {
        assert_eq!(shown("short"), "short");
        let long = "x".repeat(1000);
        let cut = shown(&long);
        assert_eq!(cut.chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            shown(&"y".repeat(MAX_SHOWN_CHARS)).chars().count(),
            MAX_SHOWN_CHARS
        );
    }

    #[test]
    fn prose_joins_lines_and_stays_one_line() {
        assert_eq!(prose("bad\r\n  request\x1b[31m"), "bad request\\u{1b}[31m");
    }

    #[test]
    fn secrets_are_blanked_but_short_words_are_not() {
        assert_eq!(
            redact("key=canary-123456 again canary-123456", "canary-123456"),
            "key=*** again ***"
        );
        assert_eq!(redact("a b c", "a"), "a b c");
        assert_eq!(redact("text", ""), "text");
    }

    #[test]
    fn chains_name_each_cause_once() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|l| l as _)
            }
        }
        let error = Layer(
            "sending failed: refused",
            Some(Box::new(Layer(
                "refused",
                Some(Box::new(Layer("os error 111", None))),
            ))),
        );
        assert_eq!(error_chain(&error), "sending failed: refused: os error 111");
        assert_eq!(root_cause(&error), "os error 111");
    }
}
