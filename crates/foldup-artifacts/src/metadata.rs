//! Reads the `metadata` object of a dbt artifact without reading the rest of it.
//!
//! Manifests reach hundreds of megabytes, and dbt writes `metadata` as their first key. A small
//! scanner walks the top-level object with constant memory (a depth counter, never a stack, and
//! keys compared byte by byte, never stored), skipping every value but `metadata`; serde_json
//! parses only the `metadata` value, from a reader capped at [`METADATA_LIMIT`] bytes.
//!
//! For a manifest, [`crate::ArtifactSet::check_manifest_whole`] has the scanner skim on to the end
//! of the file, so that a manifest cut short anywhere — even right after a `}` — is caught before
//! it is uploaded. Skimming tracks only strings and bracket depth: it reads the bytes once and
//! holds none of them.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use serde::Deserialize;

use crate::error::shown_text;

/// The most bytes a `metadata` object may take. dbt writes a few hundred; a megabyte leaves room
/// for many `DBT_ENV_CUSTOM_ENV_*` variables while bounding what a hostile file can make us hold.
pub(crate) const METADATA_LIMIT: u64 = 1024 * 1024;

const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The fields of dbt's artifact metadata that foldup uses; other fields are skipped.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ArtifactMetadata {
    pub dbt_schema_version: Option<String>,
    pub dbt_version: Option<String>,
    pub invocation_id: Option<String>,
    pub generated_at: Option<String>,
}

/// Why a file's metadata could not be read; shown after "… is not a dbt manifest: ".
#[derive(Debug)]
pub(crate) enum MetadataProblem {
    Empty,
    ByteOrderMark(&'static str),
    NotAnObject { found: u8 },
    Truncated,
    NoMetadata,
    MetadataNotAnObject { offset: u64, found: u8 },
    MetadataTooLarge,
    Malformed { offset: u64, what: &'static str },
    Json(serde_json::Error),
    Io(io::Error),
}

impl fmt::Display for MetadataProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "the file is empty"),
            Self::ByteOrderMark(encoding) => write!(
                f,
                "it starts with a {encoding} byte order mark, but dbt writes plain UTF-8 JSON"
            ),
            Self::NotAnObject { found } => write!(
                f,
                "it does not start with a JSON object (first byte {})",
                describe_byte(*found)
            ),
            Self::Truncated => write!(
                f,
                "it ends before its closing brace, so it was cut short (a full disk, or a dbt run that was killed?)"
            ),
            Self::NoMetadata => write!(f, "its top-level object has no `metadata` key"),
            Self::MetadataNotAnObject { offset, found } => write!(
                f,
                "its `metadata` (at byte {offset}) is not a JSON object (it starts with {})",
                describe_byte(*found)
            ),
            Self::MetadataTooLarge => write!(
                f,
                "its `metadata` object is larger than {} KiB, far more than dbt ever writes",
                METADATA_LIMIT / 1024
            ),
            Self::Malformed { offset, what } => {
                write!(f, "it is not valid JSON at byte {offset}: {what}")
            }
            Self::Json(error) if error.is_eof() => {
                write!(f, "it ends in the middle of its `metadata` object")
            }
            Self::Json(error) => write!(f, "its `metadata` is not what dbt writes ({error})"),
            Self::Io(error) => write!(f, "reading it failed ({error})"),
        }
    }
}

fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}'", byte as char)
    } else {
        format!("0x{byte:02x}")
    }
}

/// How much of an artifact to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extent {
    /// Stop once `metadata` is read.
    MetadataOnly,
    /// Read `metadata`, then skim to the end to prove the file is whole.
    WholeFile,
}

/// Reads the `metadata` object of the dbt artifact in `file`.
pub(crate) fn read_metadata(
    file: File,
    extent: Extent,
) -> Result<ArtifactMetadata, MetadataProblem> {
    TopLevelScanner {
        input: BufReader::with_capacity(READ_BUFFER_BYTES, file),
        offset: 0,
    }
    .read(extent)
}

/// Reads a whole dbt manifest from any reader as [`crate::locate_artifacts`] reads
/// `manifest.json` (its `metadata` parsed, the rest skimmed to catch truncation), in constant
/// memory. Returns `metadata.dbt_schema_version`, or the reason it is not a manifest (the text
/// that follows "… is not a dbt manifest: "). For fuzzing and tools.
pub fn read_manifest_metadata(input: impl Read) -> Result<Option<String>, String> {
    TopLevelScanner {
        input: BufReader::with_capacity(READ_BUFFER_BYTES, input),
        offset: 0,
    }
    .read(Extent::WholeFile)
    .map(|metadata| metadata.dbt_schema_version)
    .map_err(|problem| problem.to_string())
}

fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Walks the top level of one JSON object, byte by byte, in constant memory.
struct TopLevelScanner<R> {
    input: R,
    offset: u64,
}

impl<R: BufRead> TopLevelScanner<R> {
    fn read(&mut self, extent: Extent) -> Result<ArtifactMetadata, MetadataProblem> {
        match self.next_significant_byte()? {
            None => return Err(MetadataProblem::Empty),
            Some(0xEF) => return Err(MetadataProblem::ByteOrderMark("UTF-8")),
            Some(0xFE | 0xFF) => return Err(MetadataProblem::ByteOrderMark("UTF-16")),
            Some(b'{') => {}
            Some(found) => return Err(MetadataProblem::NotAnObject { found }),
        }
        let mut metadata = None;
        let mut first = true;
        loop {
            match self.next_significant_byte()? {
                Some(b'}') if first => break,
                Some(b'"') => {}
                Some(_) => return Err(self.malformed("expected a key in double quotes")),
                None => return Err(MetadataProblem::Truncated),
            }
            first = false;
            let is_metadata = self.read_key_is(b"metadata")?;
            match self.next_significant_byte()? {
                Some(b':') => {}
                Some(_) => return Err(self.malformed("expected ':' after a key")),
                None => return Err(MetadataProblem::Truncated),
            }
            if is_metadata && metadata.is_none() {
                let found = self.parse_metadata_value()?;
                if extent == Extent::MetadataOnly {
                    return Ok(found);
                }
                metadata = Some(found);
            } else {
                self.skip_value()?;
            }
            match self.next_significant_byte()? {
                Some(b',') => {}
                Some(b'}') => break,
                Some(_) => return Err(self.malformed("expected ',' or '}' after a value")),
                None => return Err(MetadataProblem::Truncated),
            }
        }
        let metadata = metadata.ok_or(MetadataProblem::NoMetadata)?;
        if self.next_significant_byte()?.is_some() {
            return Err(self.malformed("there is more after the closing brace"));
        }
        Ok(metadata)
    }

    fn parse_metadata_value(&mut self) -> Result<ArtifactMetadata, MetadataProblem> {
        let start = self.offset;
        match self.peek_significant_byte()? {
            Some(b'{') => {}
            Some(found) => {
                return Err(MetadataProblem::MetadataNotAnObject {
                    offset: start,
                    found,
                })
            }
            None => return Err(MetadataProblem::Truncated),
        }
        let mut capped = (&mut self.input).take(METADATA_LIMIT);
        let parsed =
            ArtifactMetadata::deserialize(&mut serde_json::Deserializer::from_reader(&mut capped));
        match parsed {
            Ok(metadata) => Ok(metadata),
            Err(error) if error.is_eof() && capped.limit() == 0 => {
                Err(MetadataProblem::MetadataTooLarge)
            }
            Err(error) if error.is_io() => Err(MetadataProblem::Io(error.into())),
            Err(error) => Err(MetadataProblem::Json(error)),
        }
    }

    /// Reads a key whose opening quote was consumed and tells whether it equals `wanted`. A key
    /// written with escapes never matches: dbt writes `metadata` plainly.
    fn read_key_is(&mut self, wanted: &[u8]) -> Result<bool, MetadataProblem> {
        let mut matches = true;
        let mut length = 0usize;
        loop {
            let Some(byte) = self.next_byte()? else {
                return Err(MetadataProblem::Truncated);
            };
            match byte {
                b'"' => return Ok(matches && length == wanted.len()),
                b'\\' => {
                    matches = false;
                    if self.next_byte()?.is_none() {
                        return Err(MetadataProblem::Truncated);
                    }
                }
                _ => {
                    matches &= wanted.get(length) == Some(&byte);
                    length = length.saturating_add(1);
                }
            }
        }
    }

    /// Skips one value of any size or depth. Only strings and bracket depth are tracked, which is
    /// all it takes to find where the value ends.
    fn skip_value(&mut self) -> Result<(), MetadataProblem> {
        match self.next_significant_byte()? {
            None => Err(MetadataProblem::Truncated),
            Some(b'"') => self.skip_string_rest(),
            Some(b'{' | b'[') => self.skip_container_rest(),
            Some(byte) if is_scalar_byte(byte) => self.skip_scalar_rest(),
            Some(_) => Err(self.malformed("expected a value")),
        }
    }

    fn skip_string_rest(&mut self) -> Result<(), MetadataProblem> {
        self.skim(Skim {
            depth: 0,
            in_string: true,
            escaped: false,
        })
    }

    fn skip_container_rest(&mut self) -> Result<(), MetadataProblem> {
        self.skim(Skim {
            depth: 1,
            in_string: false,
            escaped: false,
        })
    }

    fn skim(&mut self, mut skim: Skim) -> Result<(), MetadataProblem> {
        loop {
            let buffer = self.input.fill_buf().map_err(MetadataProblem::Io)?;
            if buffer.is_empty() {
                return Err(MetadataProblem::Truncated);
            }
            let length = buffer.len();
            match skim.advance(buffer) {
                Some(end) => {
                    self.consume(end);
                    return Ok(());
                }
                None => self.consume(length),
            }
        }
    }

    /// Skips the rest of a number, `true`, `false` or `null` of any length.
    fn skip_scalar_rest(&mut self) -> Result<(), MetadataProblem> {
        loop {
            let (consumed, done) = {
                let buffer = self.input.fill_buf().map_err(MetadataProblem::Io)?;
                if buffer.is_empty() {
                    return Err(MetadataProblem::Truncated);
                }
                match buffer.iter().position(|byte| !is_scalar_byte(*byte)) {
                    Some(end) => (end, true),
                    None => (buffer.len(), false),
                }
            };
            self.consume(consumed);
            if done {
                return Ok(());
            }
        }
    }

    fn next_byte(&mut self) -> Result<Option<u8>, MetadataProblem> {
        let byte = self
            .input
            .fill_buf()
            .map_err(MetadataProblem::Io)?
            .first()
            .copied();
        if byte.is_some() {
            self.consume(1);
        }
        Ok(byte)
    }

    fn peek_significant_byte(&mut self) -> Result<Option<u8>, MetadataProblem> {
        loop {
            let buffer = self.input.fill_buf().map_err(MetadataProblem::Io)?;
            let Some(&byte) = buffer.first() else {
                return Ok(None);
            };
            if !is_json_whitespace(byte) {
                return Ok(Some(byte));
            }
            self.consume(1);
        }
    }

    fn next_significant_byte(&mut self) -> Result<Option<u8>, MetadataProblem> {
        let byte = self.peek_significant_byte()?;
        if byte.is_some() {
            self.consume(1);
        }
        Ok(byte)
    }

    fn consume(&mut self, count: usize) {
        self.input.consume(count);
        self.offset += count as u64;
    }

    fn malformed(&self, what: &'static str) -> MetadataProblem {
        MetadataProblem::Malformed {
            offset: self.offset.saturating_sub(1),
            what,
        }
    }
}

/// Where a skim through a string or container stands between two buffers.
struct Skim {
    depth: u64,
    in_string: bool,
    escaped: bool,
}

impl Skim {
    /// Moves through `bytes`; returns the index just past the value when it ends within them.
    /// Strings, which are most of a manifest, are crossed with `memchr`, not byte by byte.
    fn advance(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut index = 0;
        while index < bytes.len() {
            if self.escaped {
                self.escaped = false;
            } else if self.in_string {
                index += memchr::memchr2(b'"', b'\\', &bytes[index..])?;
                if bytes[index] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Some(index + 1);
                    }
                }
            } else {
                match bytes[index] {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            return Some(index + 1);
                        }
                    }
                    _ => {}
                }
            }
            index += 1;
        }
        None
    }
}

fn is_scalar_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'+' | b'.')
}

/// The `N` of a dbt schema URL `https://schemas.getdbt.com/dbt/<kind>/vN.json`.
pub(crate) fn schema_version(url: &str, kind: &str) -> Option<u32> {
    let number = url
        .strip_prefix("https://schemas.getdbt.com/dbt/")?
        .strip_prefix(kind)?
        .strip_prefix("/v")?
        .strip_suffix(".json")?;
    if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    number.parse().ok().filter(|version| *version > 0)
}

/// A value from a file, made safe to quote in a message.
pub(crate) fn quoted(value: &str) -> String {
    format!("`{}`", shown_text(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_to(bytes: &[u8], extent: Extent) -> Result<ArtifactMetadata, MetadataProblem> {
        TopLevelScanner {
            input: io::BufReader::with_capacity(7, bytes),
            offset: 0,
        }
        .read(extent)
    }

    fn scan(bytes: &[u8]) -> Result<ArtifactMetadata, MetadataProblem> {
        scan_to(bytes, Extent::WholeFile)
    }

    #[test]
    fn reads_metadata_written_first_and_can_stop_there() {
        let cut = br#"{"metadata": {"invocation_id": "abc"}, "nodes": {"#;
        let metadata = scan_to(cut, Extent::MetadataOnly).unwrap();
        assert_eq!(metadata.invocation_id.as_deref(), Some("abc"));
        assert!(matches!(scan(cut), Err(MetadataProblem::Truncated)));
    }

    #[test]
    fn a_file_cut_right_after_a_closing_brace_is_caught() {
        let cut = br#"{"metadata": {"invocation_id": "abc"}, "nodes": {"a": {}}"#;
        assert!(matches!(scan(cut), Err(MetadataProblem::Truncated)));
        let whole = br#"{"metadata": {"invocation_id": "abc"}, "nodes": {"a": {}}}"#;
        assert!(scan(whole).is_ok());
    }

    #[test]
    fn skips_values_of_every_kind_before_metadata() {
        let text = br#" { "nodes" : {"a": [1, {"b": "}]\"{"}], "c": -1.5e+300},
            "n": 123456789012345678901234567890e99999, "t": true, "s": "x\\", "e": [],
            "metad\u0061ta": 1, "metadataX": 2,
            "metadata": {"invocation_id": "after", "env": {"X": [1, 2]}} }"#;
        assert_eq!(scan(text).unwrap().invocation_id.as_deref(), Some("after"));
    }

    #[test]
    fn explains_what_is_wrong() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"   ", "empty"),
            (
                b"[1, 2]",
                "does not start with a JSON object (first byte '[')",
            ),
            (b"\xef\xbb\xbf{}", "UTF-8 byte order mark"),
            (b"\xff\xfe{\x00", "UTF-16 byte order mark"),
            (b"{}", "no `metadata` key"),
            (br#"{"nodes": {}}"#, "no `metadata` key"),
            (
                br#"{"metadata": "v12"}"#,
                "is not a JSON object (it starts with '\"')",
            ),
            (br#"{"metadata": [1]}"#, "is not a JSON object"),
            (br#"{nodes: 1}"#, "not valid JSON at byte 1: expected a key"),
            (br#"{"a" 1}"#, "expected ':'"),
            (br#"{"a": 1 "b": 2}"#, "expected ',' or '}'"),
            (br#"{"metadata": {}} {}"#, "more after the closing brace"),
            (br#"{"a": ?}"#, "expected a value"),
            (br#"{"a": [[[["#, "cut short"),
            (
                br#"{"metadata": {"invocation_id": "#,
                "ends in the middle of its `metadata`",
            ),
            (
                br#"{"metadata": {"invocation_id": 5}}"#,
                "not what dbt writes (invalid type: integer `5`",
            ),
            (
                b"{\"metadata\": {\"dbt_version\": \"1.\xff\"}}",
                "not what dbt writes",
            ),
        ];
        for (input, expected) in cases {
            let problem = scan(input).unwrap_err().to_string();
            assert!(
                problem.contains(expected),
                "{:?}: {problem:?} lacks {expected:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn metadata_larger_than_the_limit_is_refused_not_buffered() {
        let mut text = br#"{"metadata": {"env": {"X": ""#.to_vec();
        text.extend(std::iter::repeat_n(b'a', METADATA_LIMIT as usize));
        text.extend(br#""}}}"#);
        let problem = scan(&text).unwrap_err();
        assert!(
            matches!(problem, MetadataProblem::MetadataTooLarge),
            "{problem}"
        );
    }

    #[test]
    fn nesting_far_deeper_than_any_parser_allows_is_skipped() {
        let depth = 1_000_000;
        let mut text = br#"{"deep": "#.to_vec();
        text.extend(std::iter::repeat_n(b'[', depth));
        text.extend(std::iter::repeat_n(b']', depth));
        text.extend(br#", "metadata": {"invocation_id": "deep"}}"#);
        assert_eq!(scan(&text).unwrap().invocation_id.as_deref(), Some("deep"));
    }

    #[test]
    fn schema_urls() {
        assert_eq!(
            schema_version(
                "https://schemas.getdbt.com/dbt/manifest/v12.json",
                "manifest"
            ),
            Some(12)
        );
        assert_eq!(
            schema_version(
                "https://schemas.getdbt.com/dbt/run-results/v6.json",
                "run-results"
            ),
            Some(6)
        );
        for wrong in [
            "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "https://schemas.getdbt.com/dbt/manifest/v.json",
            "https://schemas.getdbt.com/dbt/manifest/v0.json",
            "https://schemas.getdbt.com/dbt/manifest/v+1.json",
            "https://schemas.getdbt.com/dbt/manifest/v99999999999.json",
            "http://schemas.getdbt.com/dbt/manifest/v12.json",
            "https://schemas.getdbt.com/dbt/manifest/v12.json?",
            "",
        ] {
            assert_eq!(schema_version(wrong, "manifest"), None, "{wrong}");
        }
    }
}
