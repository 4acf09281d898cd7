//! What the server saw of each request, and the listing of an uploaded archive.

use std::fs::File;
use std::io::{BufReader, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tempfile::TempPath;

/// Entries whose full content is kept, so that tests can compare them byte for byte.
const TEXT_ENTRIES: [&str; 2] = ["manifest.json", "run_results.json"];
/// Beyond this size the content of a [`TEXT_ENTRIES`] entry is summarised by its hash only.
const MAX_TEXT_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// One request to the Datafold API, as received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// 1 for the first request the server received, then 2, 3, …
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// Headers in arrival order, names lowercase, values as sent (the `authorization` value
    /// included: tests compare it).
    pub headers: Vec<(String, String)>,
    /// Text fields: multipart text parts or `application/x-www-form-urlencoded` pairs.
    pub fields: Vec<(String, String)>,
    /// The multipart file part named `artifacts`.
    pub archive: Option<RecordedArchive>,
    /// Body bytes received (for a reset: before the reset).
    pub body_bytes: u64,
    /// Why the body could not be read completely or parsed, if it could not.
    pub body_error: Option<String>,
    /// The fault applied to this request (`Fault::name`), if any.
    pub fault: Option<String>,
    /// The status the server answered; `None` when it hung or reset the connection.
    pub response_status: Option<u16>,
}

impl RecordedRequest {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a text field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(self.query.as_deref().unwrap_or("")).ok()?;
        pairs.into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// An uploaded file part and, when it is a zip, its entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedArchive {
    /// The multipart part name (`artifacts`).
    pub part_name: String,
    /// The `filename` of the part's Content-Disposition.
    pub file_name: Option<String>,
    /// The part's own Content-Type header, if it sent one.
    pub content_type: Option<String>,
    pub size: u64,
    /// Lowercase hex SHA-256 of the whole part.
    pub sha256: String,
    pub entries: Vec<ArchiveEntry>,
    /// Why the part could not be read as a zip archive, if it could not. An unreadable central
    /// directory is found before answering (the upload gets 400, `entries` is empty); what is
    /// found while inflating the entries after answering leaves the answer as it was: an
    /// unreadable local header (`entries` is empty), or entry content that does not inflate (a
    /// bad CRC, corrupt deflate data; that entry's `sha256` is empty).
    pub zip_error: Option<String>,
}

impl RecordedArchive {
    /// The entry with exactly this name.
    pub fn entry(&self, name: &str) -> Option<&ArchiveEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The entry names, in archive order.
    pub fn entry_names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }
}

/// One entry of an uploaded zip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveEntry {
    /// The name as stored in the archive, unnormalised.
    pub name: String,
    /// Uncompressed size.
    pub size: u64,
    pub compressed_size: u64,
    /// The compression method, e.g. `Deflated` or `Stored`.
    pub compression: String,
    /// Lowercase hex SHA-256 of the uncompressed content; empty when the content could not be
    /// inflated (the archive's `zip_error` says why).
    pub sha256: String,
    /// The content of `manifest.json` and `run_results.json` at the archive root, when it is
    /// UTF-8 and not huge.
    pub text: Option<String>,
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An uploaded zip whose central directory has been read, but not yet its entries' content.
pub(crate) struct OpenedZip {
    archive: zip::ZipArchive<BufReader<File>>,
    /// The spooled upload; deleted when the inspection is over.
    _spool: TempPath,
}

/// What inflating every entry of an archive found.
pub(crate) struct Inspection {
    pub entries: Vec<ArchiveEntry>,
    pub zip_error: Option<String>,
}

impl Inspection {
    pub(crate) fn failed(error: impl Into<String>) -> Self {
        Self {
            entries: Vec::new(),
            zip_error: Some(error.into()),
        }
    }
}

/// Why hashing one entry stopped.
enum Stop {
    Cancelled,
    Failed(String),
}

impl OpenedZip {
    /// Reads the central directory of the zip spooled at `spool`: the cheap part of looking at an
    /// upload, enough to answer it. Blocking.
    pub(crate) fn open(spool: TempPath) -> Result<Self, String> {
        let file = File::open(&spool).map_err(|e| e.to_string())?;
        // A small buffer: the central directory is read in small pieces, and every entry is a
        // seek, which empties the buffer (64 KiB made reading 32,000 entries slower).
        let archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| e.to_string())?;
        Ok(Self {
            archive,
            _spool: spool,
        })
    }

    /// Whether the central directory names an entry with exactly this name.
    pub(crate) fn has_entry(&self, name: &str) -> bool {
        self.archive.index_for_name(name).is_some()
    }

    /// Inflates and hashes every entry, in archive order, reading 64 KiB at a time. Blocking;
    /// gives up as soon as `cancelled()` is true.
    ///
    /// An entry whose content cannot be inflated (a bad CRC, corrupt deflate data, an unsupported
    /// method) is listed with an empty `sha256`, and `zip_error` names the first one. A local
    /// header that cannot be read leaves no listing at all, as an unreadable central directory does.
    pub(crate) fn inspect(mut self, cancelled: &dyn Fn() -> bool) -> Inspection {
        let mut entries = Vec::with_capacity(self.archive.len());
        let mut first_error: Option<String> = None;
        let mut failures = 0usize;
        let mut buffer = vec![0u8; 64 * 1024];
        for index in 0..self.archive.len() {
            if cancelled() {
                return Inspection::failed("the inspection was cancelled");
            }
            let listed = self.archive.by_index_raw(index).map(|raw| ArchiveEntry {
                name: raw.name().to_owned(),
                size: raw.size(),
                compressed_size: raw.compressed_size(),
                compression: format!("{:?}", raw.compression()),
                sha256: String::new(),
                text: None,
            });
            let mut entry = match listed {
                Ok(entry) => entry,
                Err(e) => {
                    let name = self.archive.name_for_index(index).unwrap_or("?");
                    return Inspection::failed(format!("entry {name}: {e}"));
                }
            };
            let keep_text =
                TEXT_ENTRIES.contains(&entry.name.as_str()) && entry.size <= MAX_TEXT_ENTRY_BYTES;
            let hashed = match self.archive.by_index(index) {
                Ok(mut content) => hash(&mut content, keep_text, &mut buffer, cancelled),
                Err(e) => Err(Stop::Failed(e.to_string())),
            };
            match hashed {
                Ok((sha256, kept)) => {
                    entry.sha256 = sha256;
                    entry.text = kept.and_then(|bytes| String::from_utf8(bytes).ok());
                }
                Err(Stop::Cancelled) => return Inspection::failed("the inspection was cancelled"),
                Err(Stop::Failed(e)) => {
                    failures += 1;
                    first_error.get_or_insert(format!("entry {}: {e}", entry.name));
                }
            }
            entries.push(entry);
        }
        let zip_error = first_error.map(|first| match failures {
            0 | 1 => first,
            n => format!("{first} (and {} more entries)", n - 1),
        });
        Inspection { entries, zip_error }
    }
}

/// The SHA-256 of everything `reader` yields, and the bytes themselves when `keep` is set.
fn hash(
    reader: &mut impl Read,
    keep: bool,
    buffer: &mut [u8],
    cancelled: &dyn Fn() -> bool,
) -> Result<(String, Option<Vec<u8>>), Stop> {
    let mut hasher = Sha256::new();
    let mut kept = keep.then(Vec::new);
    loop {
        if cancelled() {
            return Err(Stop::Cancelled);
        }
        let read = reader
            .read(buffer)
            .map_err(|e| Stop::Failed(e.to_string()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        if let Some(kept) = kept.as_mut() {
            kept.extend_from_slice(&buffer[..read]);
        }
    }
    Ok((hex(&hasher.finalize()), kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        let request = RecordedRequest {
            seq: 1,
            method: "GET".into(),
            path: "/".into(),
            query: Some("pr_sha=ab%2Fc&limit=1".into()),
            headers: vec![("authorization".into(), "Key k".into())],
            fields: vec![],
            archive: None,
            body_bytes: 0,
            body_error: None,
            fault: None,
            response_status: Some(200),
        };
        assert_eq!(request.query_param("pr_sha").as_deref(), Some("ab/c"));
        assert_eq!(request.query_param("limit").as_deref(), Some("1"));
        assert_eq!(request.query_param("offset"), None);
        assert_eq!(request.header("Authorization"), Some("Key k"));
    }

    #[test]
    fn hashes_are_lowercase_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
