//! What the server saw of each request, and the listing of an uploaded archive.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// Why the part could not be read as a zip archive, if it could not.
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
    /// Lowercase hex SHA-256 of the uncompressed content.
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

/// Lists a zip file's entries with the hash of each entry's content. Blocking.
pub(crate) fn list_zip(path: &Path) -> Result<Vec<ArchiveEntry>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let mut entries = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
        let name = entry.name().to_owned();
        let keep_text =
            TEXT_ENTRIES.contains(&name.as_str()) && entry.size() <= MAX_TEXT_ENTRY_BYTES;
        let mut hasher = Sha256::new();
        let mut kept = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = entry
                .read(&mut buffer)
                .map_err(|e| format!("entry {name}: {e}"))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            if keep_text {
                kept.extend_from_slice(&buffer[..read]);
            }
        }
        entries.push(ArchiveEntry {
            size: entry.size(),
            compressed_size: entry.compressed_size(),
            compression: format!("{:?}", entry.compression()),
            sha256: hex(&hasher.finalize()),
            text: if keep_text {
                String::from_utf8(kept).ok()
            } else {
                None
            },
            name,
        });
    }
    Ok(entries)
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
