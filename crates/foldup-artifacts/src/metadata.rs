//! Reads the `metadata` object of a dbt artifact with serde_json, from a stream.
//!
//! Manifests reach hundreds of megabytes, and dbt writes `metadata` as their first key. serde_json
//! visits the top-level object key by key: `metadata` is deserialized into [`ArtifactMetadata`],
//! a value before it is skipped with [`IgnoredAny`] (without building anything and without
//! recursion, so no depth overflows the stack), and the visit stops once `metadata` is read.
//! While serde_json reads a key or `metadata`, the only values it holds, it may read at most
//! [`METADATA_LIMIT`] bytes, so a hostile file cannot make it hold much.
//!
//! For a manifest, [`crate::ArtifactSet::check_manifest_whole`] also reads the rest of the file
//! ([`Extent::WholeFile`]), so that a manifest cut short anywhere — even right after a `}` — is
//! caught before it is uploaded. That rest is skimmed by [`skim_rest`] rather than by
//! serde_json: see there for why.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::error::shown_text;

/// The most bytes a `metadata` object (or a top-level key) may take. dbt writes a few hundred; a
/// megabyte leaves room for many `DBT_ENV_CUSTOM_ENV_*` variables while bounding what a hostile
/// file can make us hold.
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
    NotAnObject {
        found: u8,
    },
    Truncated,
    NoMetadata,
    MetadataNotAnObject {
        line: usize,
        column: usize,
        found: u8,
    },
    MetadataTooLarge,
    KeyTooLarge,
    Malformed(serde_json::Error),
    MoreAfterTheEnd,
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
            Self::MetadataNotAnObject {
                line,
                column,
                found,
            } => write!(
                f,
                "its `metadata` (line {line}, column {column}) is not a JSON object (it starts with {})",
                describe_byte(*found)
            ),
            Self::MetadataTooLarge => write!(
                f,
                "its `metadata` object is larger than {} KiB, far more than dbt ever writes",
                METADATA_LIMIT / 1024
            ),
            Self::KeyTooLarge => write!(
                f,
                "it has a top-level key longer than {} KiB, far more than dbt ever writes",
                METADATA_LIMIT / 1024
            ),
            Self::Malformed(error) => write!(f, "it is not valid JSON ({error})"),
            Self::MoreAfterTheEnd => write!(
                f,
                "it is not valid JSON: there is more after its closing brace"
            ),
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
    /// Read `metadata`, then the rest to the end, to prove the file is whole.
    WholeFile,
}

/// Reads the `metadata` object of the dbt artifact in `file`.
pub(crate) fn read_metadata(
    file: File,
    extent: Extent,
) -> Result<ArtifactMetadata, MetadataProblem> {
    read(file, extent)
}

/// Reads a whole dbt manifest from any reader as [`crate::locate_artifacts`] reads
/// `manifest.json` (its `metadata` parsed, the rest skipped to catch truncation), in bounded
/// memory. Returns `metadata.dbt_schema_version`, or the reason it is not a manifest (the text
/// that follows "… is not a dbt manifest: "). For fuzzing and tools.
pub fn read_manifest_metadata(input: impl Read) -> Result<Option<String>, String> {
    read(input, Extent::WholeFile)
        .map(|metadata| metadata.dbt_schema_version)
        .map_err(|problem| problem.to_string())
}

fn read(input: impl Read, extent: Extent) -> Result<ArtifactMetadata, MetadataProblem> {
    let shared = Shared {
        input: RefCell::new(BufReader::with_capacity(READ_BUFFER_BYTES, input)),
        limit: Cell::new(None),
        capped: Cell::new(false),
    };
    // What serde_json would report less plainly: nothing at all, a byte order mark, no object.
    match peek_significant_byte(&mut *shared.input.borrow_mut()).map_err(MetadataProblem::Io)? {
        None => return Err(MetadataProblem::Empty),
        Some(0xEF) => return Err(MetadataProblem::ByteOrderMark("UTF-8")),
        Some(0xFE | 0xFF) => return Err(MetadataProblem::ByteOrderMark("UTF-16")),
        Some(b'{') => {}
        Some(found) => return Err(MetadataProblem::NotAnObject { found }),
    }
    let visit = TopLevel {
        shared: &shared,
        extent,
        stage: Cell::new(Stage::BeforeMetadata),
        found: RefCell::new(None),
        not_an_object: Cell::new(None),
        problem: RefCell::new(None),
    };
    let mut json = serde_json::Deserializer::from_reader(&shared);
    let visited =
        de::Deserializer::deserialize_map(&mut json, &visit).and_then(|()| match extent {
            Extent::WholeFile => json.end(),
            Extent::MetadataOnly => Ok(()),
        });
    if let Some(problem) = visit.problem.take() {
        return Err(problem);
    }
    let stage = visit.stage.get();
    if let Some(metadata) = visit.found.take() {
        // Read and, for the whole file, followed by nothing but whitespace; or the visit stopped
        // on purpose once `metadata` was read (and, for the whole file, the rest skimmed).
        if visited.is_ok() || stage == Stage::Stopped {
            return Ok(metadata);
        }
    }
    let error = match visited {
        Ok(()) => return Err(MetadataProblem::NoMetadata),
        Err(error) => error,
    };
    Err(match (stage, visit.not_an_object.get()) {
        (Stage::InMetadata, Some(found)) => MetadataProblem::MetadataNotAnObject {
            line: error.line(),
            column: error.column(),
            found,
        },
        (Stage::InMetadata, None) if shared.capped.get() => MetadataProblem::MetadataTooLarge,
        (Stage::InKey, _) if shared.capped.get() => MetadataProblem::KeyTooLarge,
        _ if error.is_io() => MetadataProblem::Io(error.into()),
        (Stage::InMetadata, None) => MetadataProblem::Json(error),
        _ if error.is_eof() => MetadataProblem::Truncated,
        _ => MetadataProblem::Malformed(error),
    })
}

/// The next byte that is not JSON whitespace, left unread; the whitespace before it is consumed.
fn peek_significant_byte(input: &mut impl BufRead) -> io::Result<Option<u8>> {
    loop {
        let buffer = input.fill_buf()?;
        let Some(&byte) = buffer.first() else {
            return Ok(None);
        };
        if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            return Ok(Some(byte));
        }
        input.consume(1);
    }
}

/// The artifact's bytes, buffered once and shared: serde_json reads the keys and `metadata`
/// through it, and the skim reads the rest straight from the buffer.
struct Shared<R> {
    input: RefCell<BufReader<R>>,
    /// While serde_json reads a top-level key or `metadata` (the values it holds in memory), how
    /// many more bytes it may read; at the limit it sees the end of the file.
    limit: Cell<Option<u64>>,
    /// Whether reading stopped at the limit.
    capped: Cell<bool>,
}

impl<R> Shared<R> {
    fn cap(&self) {
        self.limit.set(Some(METADATA_LIMIT));
    }

    fn uncap(&self) {
        self.limit.set(None);
    }
}

impl<R: Read> Read for &Shared<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut input = self.input.borrow_mut();
        let buffer = input.fill_buf()?;
        let mut count = buffer.len().min(out.len());
        if let Some(left) = self.limit.get() {
            if left == 0 && count > 0 {
                self.capped.set(true);
            }
            count = count.min(usize::try_from(left).unwrap_or(usize::MAX));
            self.limit.set(Some(left - count as u64));
        }
        out[..count].copy_from_slice(&buffer[..count]);
        input.consume(count);
        Ok(count)
    }
}

/// Reads the rest of the top-level object after `metadata` to its closing brace, then proves only
/// whitespace follows. It tracks strings and bracket depth only, which is all it takes to find
/// where the object ends, and crosses strings with `memchr`: serde_json skipping the same bytes
/// took 3.4× the CPU (159 MB manifest: 0.37 s against 0.11 s), on the path every upload waits on.
fn skim_rest(input: &mut impl BufRead) -> Result<(), MetadataProblem> {
    let mut skim = Skim {
        depth: 1,
        in_string: false,
        escaped: false,
    };
    loop {
        let buffer = input.fill_buf().map_err(MetadataProblem::Io)?;
        if buffer.is_empty() {
            return Err(MetadataProblem::Truncated);
        }
        let length = buffer.len();
        if let Some(end) = skim.advance(buffer) {
            input.consume(end);
            break;
        }
        input.consume(length);
    }
    match peek_significant_byte(input).map_err(MetadataProblem::Io)? {
        None => Ok(()),
        Some(_) => Err(MetadataProblem::MoreAfterTheEnd),
    }
}

/// Where a skim stands between two buffers.
struct Skim {
    depth: u64,
    in_string: bool,
    escaped: bool,
}

impl Skim {
    /// Moves through `bytes`; returns the index just past the object when it ends within them.
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

/// Where the visit of the top-level object stands: it tells what an error from serde_json means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    BeforeMetadata,
    InKey,
    InMetadata,
    AfterMetadata,
    /// `metadata` was read and the visit stopped there on purpose.
    Stopped,
}

/// Visits the top-level object: `metadata` parsed, everything else skipped.
struct TopLevel<'a, R> {
    shared: &'a Shared<R>,
    extent: Extent,
    stage: Cell<Stage>,
    found: RefCell<Option<ArtifactMetadata>>,
    /// How `metadata`'s value starts, when it is not an object.
    not_an_object: Cell<Option<u8>>,
    /// What the skim after `metadata` found wrong.
    problem: RefCell<Option<MetadataProblem>>,
}

impl<'de, R: Read> Visitor<'de> for &TopLevel<'_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        loop {
            let before = self.stage.get();
            self.stage.set(Stage::InKey);
            self.shared.cap();
            let key = map.next_key_seed(IsMetadata)?;
            self.shared.uncap();
            self.stage.set(before);
            match key {
                None => return Ok(()),
                Some(true) if before == Stage::BeforeMetadata => {
                    self.stage.set(Stage::InMetadata);
                    self.shared.cap();
                    let metadata = map.next_value_seed(MetadataValue(&self.not_an_object))?;
                    self.shared.uncap();
                    *self.found.borrow_mut() = Some(metadata);
                    self.stage.set(Stage::AfterMetadata);
                    if self.extent == Extent::WholeFile {
                        // serde_json holds no byte past `metadata`'s closing brace here.
                        let rest = skim_rest(&mut *self.shared.input.borrow_mut());
                        if let Err(problem) = rest {
                            *self.problem.borrow_mut() = Some(problem);
                            return Err(de::Error::custom("the rest of the file is not whole"));
                        }
                    }
                    // An error is the only way to stop serde_json before the end.
                    self.stage.set(Stage::Stopped);
                    return Err(de::Error::custom("stopped after `metadata`"));
                }
                // Any other key, or `metadata` again: the first one counts, as in dbt's readers.
                Some(_) => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
    }
}

/// A top-level key, compared with `metadata` and never kept.
struct IsMetadata;

impl<'de> DeserializeSeed<'de> for IsMetadata {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for IsMetadata {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == "metadata")
    }
}

/// The value of `metadata`: an object read into [`ArtifactMetadata`], or refused with what it
/// starts with.
struct MetadataValue<'a>(&'a Cell<Option<u8>>);

impl<'de> DeserializeSeed<'de> for MetadataValue<'_> {
    type Value = ArtifactMetadata;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<ArtifactMetadata, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetadataValue<'_> {
    type Value = ArtifactMetadata;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ArtifactMetadata, A::Error> {
        ArtifactMetadata::deserialize(de::value::MapAccessDeserializer::new(map))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<ArtifactMetadata, A::Error> {
        self.refuse(b'[')
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<ArtifactMetadata, E> {
        self.refuse(b'"')
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<ArtifactMetadata, E> {
        self.refuse(if value { b't' } else { b'f' })
    }

    fn visit_unit<E: de::Error>(self) -> Result<ArtifactMetadata, E> {
        self.refuse(b'n')
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<ArtifactMetadata, E> {
        // serde_json gives i64 to negative integers only.
        self.refuse(b'-')
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<ArtifactMetadata, E> {
        self.refuse(value.to_string().as_bytes()[0])
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<ArtifactMetadata, E> {
        // A JSON number starts with a minus sign or a digit.
        let first = if value.is_sign_negative() {
            b'-'
        } else {
            value.to_string().as_bytes()[0]
        };
        self.refuse(first)
    }
}

impl MetadataValue<'_> {
    fn refuse<E: de::Error>(&self, found: u8) -> Result<ArtifactMetadata, E> {
        self.0.set(Some(found));
        Err(E::custom("`metadata` is not an object"))
    }
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
        read(bytes, extent)
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
            "metad\u0061tb": 1, "metadataX": 2,
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
            (
                br#"{nodes: 1}"#,
                "not valid JSON (key must be a string at line 1 column 2)",
            ),
            (br#"{"a" 1}"#, "not valid JSON (expected `:`"),
            (br#"{"a": 1 "b": 2}"#, "not valid JSON (expected `,` or `}`"),
            (
                br#"{"metadata": {}} {}"#,
                "not valid JSON: there is more after its closing brace",
            ),
            (br#"{"a": ?}"#, "not valid JSON (expected value"),
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
        // Up to the limit, it is read.
        let mut text = br#"{"metadata": {"env": {"X": ""#.to_vec();
        text.extend(std::iter::repeat_n(b'a', METADATA_LIMIT as usize - 100));
        text.extend(br#""}}}"#);
        assert!(scan(&text).is_ok());
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
