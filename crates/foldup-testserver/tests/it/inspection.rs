//! Uploads are answered once the body has arrived and the zip's central directory is read; the
//! entries are inflated and hashed afterwards. These tests check, over real HTTP on 127.0.0.1,
//! that the answer does not wait for that, that every reader of the record does, that corrupt
//! entry content found late lands in `zip_error`, and that a clear is final.
//!
//! The slow archives are made by hand: one entry of zeros, deflated with fixed Huffman codes into
//! 13 bits per 258 bytes, so a small upload takes the server a long while to inflate and hash.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use foldup_testserver::{sha256_hex, RecordedRequest, ServerConfig, TestServer};
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

const KEY: &str = "test-key-0123456789";
const CI: u64 = 7;
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const MANIFEST: &[u8] =
    br#"{"metadata":{"dbt_schema_version":"https://schemas.getdbt.com/dbt/manifest/v12.json"}}"#;
/// Inflates to 258 MB: seconds of work for the server, well over what answering takes.
const SLOW_MATCHES: usize = 1_000_000;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

const CRC_POLYNOMIAL: u32 = 0xEDB8_8320;

/// The zip CRC-32 of `data`.
fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &byte| {
        (0..8).fold(crc ^ u32::from(byte), |c, _| {
            if c & 1 == 1 {
                CRC_POLYNOMIAL ^ (c >> 1)
            } else {
                c >> 1
            }
        })
    })
}

/// The zip CRC-32 of `size` zero bytes, in a few steps rather than one per byte (zlib's
/// `crc32_combine` trick: feeding a zero bit is a linear map over GF(2), so feeding `8 * size`
/// of them is that map's power, computed by repeated squaring).
fn crc32_of_zeros(size: u64) -> u32 {
    /// Applies the 32×32 bit matrix (one column per bit) to `vector`.
    fn times(matrix: &[u32; 32], vector: u32) -> u32 {
        (0..32)
            .filter(|bit| vector >> bit & 1 == 1)
            .fold(0, |sum, bit| sum ^ matrix[bit])
    }
    // One zero bit: shift right, and fold in the polynomial when a one falls out.
    let mut power: [u32; 32] = std::array::from_fn(|bit| {
        if bit == 0 {
            CRC_POLYNOMIAL
        } else {
            1 << (bit - 1)
        }
    });
    let mut state = !0u32;
    let mut bits = size * 8;
    while bits > 0 {
        if bits & 1 == 1 {
            state = times(&power, state);
        }
        let current = power;
        power = std::array::from_fn(|bit| times(&current, current[bit]));
        bits >>= 1;
    }
    !state
}

/// A raw deflate stream of `1 + 258 * matches` zero bytes, with fixed Huffman codes.
fn deflated_zeros(matches: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        count: u32,
    }
    impl Bits {
        /// Plain values go least significant bit first.
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.count;
            self.count += bits;
            while self.count >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.count -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u32, bits: u32) {
            let reversed = code.reverse_bits() >> (32 - bits);
            self.put(u64::from(reversed), bits);
        }
    }
    let mut bits = Bits {
        out: Vec::with_capacity(matches * 13 / 8 + 16),
        acc: 0,
        count: 0,
    };
    bits.put(1, 1); // the final block
    bits.put(1, 2); // fixed Huffman codes
    bits.code(0x30, 8); // literal 0
    for _ in 0..matches {
        bits.code(0b1100_0101, 8); // length 258 (code 285)
        bits.code(0, 5); // distance 1
    }
    bits.code(0, 7); // end of block (code 256)
    bits.put(0, 7); // pad to a byte
    bits.out
}

/// One entry of a hand-made zip: its name, compression method (0 stored, 8 deflated), the
/// stored bytes, and the CRC and size it declares.
struct Entry {
    name: &'static str,
    method: u16,
    data: Vec<u8>,
    crc: u32,
    size: u32,
}

impl Entry {
    fn stored(name: &'static str, content: &[u8]) -> Self {
        Entry {
            name,
            method: 0,
            data: content.to_vec(),
            crc: crc32(content),
            size: content.len() as u32,
        }
    }

    /// `1 + 258 * matches` zeros, deflated.
    fn zeros(name: &'static str, matches: usize) -> Self {
        let size = 1 + 258 * matches;
        Entry {
            name,
            method: 8,
            data: deflated_zeros(matches),
            crc: crc32_of_zeros(size as u64),
            size: size as u32,
        }
    }
}

/// A zip archive of `entries`, local headers, central directory and all.
fn zip_of(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = out.len() as u32;
        let name = entry.name.as_bytes();
        let common = |buffer: &mut Vec<u8>| {
            buffer.extend_from_slice(&20u16.to_le_bytes()); // version needed
            buffer.extend_from_slice(&0u16.to_le_bytes()); // flags
            buffer.extend_from_slice(&entry.method.to_le_bytes());
            buffer.extend_from_slice(&0u16.to_le_bytes()); // time
            buffer.extend_from_slice(&0x21u16.to_le_bytes()); // 1980-01-01
            buffer.extend_from_slice(&entry.crc.to_le_bytes());
            buffer.extend_from_slice(&(entry.data.len() as u32).to_le_bytes());
            buffer.extend_from_slice(&entry.size.to_le_bytes());
            buffer.extend_from_slice(&(name.len() as u16).to_le_bytes());
            buffer.extend_from_slice(&0u16.to_le_bytes()); // extra field length
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name);
        out.extend_from_slice(&entry.data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // this disk
    out.extend_from_slice(&0u16.to_le_bytes()); // the central directory's disk
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // comment length
    out
}

/// A manifest and 258 MB of zeros: a valid archive of 1.6 MB that takes seconds to inspect.
fn slow_archive() -> Vec<u8> {
    zip_of(&[
        Entry::stored("manifest.json", MANIFEST),
        Entry::zeros("zeros.bin", SLOW_MATCHES),
    ])
}

async fn submit(url: &str, archive: Vec<u8>) -> StatusCode {
    let form = Form::new()
        .text("commit_sha", SHA)
        .text("run_type", "pull_request")
        .part("artifacts", Part::bytes(archive).file_name("artifacts.zip"));
    client()
        .post(format!("{url}/api/v1/dbt/submit_artifacts/{CI}"))
        .header("Authorization", format!("Key {KEY}"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .status()
}

fn read_record(path: &Path) -> Vec<RecordedRequest> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn recording_server(path: &Path, inspect_before_answering: bool) -> TestServer {
    let mut config = ServerConfig::new(KEY, CI);
    config.record_file = Some(path.to_path_buf());
    config.inspect_before_answering = inspect_before_answering;
    TestServer::start(config)
}

fn assert_hashed(request: &RecordedRequest) {
    let archive = request.archive.as_ref().expect("no archive recorded");
    assert_eq!(archive.zip_error, None);
    assert!(!archive.entries.is_empty());
    for entry in &archive.entries {
        assert_eq!(entry.sha256.len(), 64, "{} has no hash", entry.name);
    }
}

#[test]
fn the_crc_of_zeros_is_the_crc_of_zeros() {
    for size in [0, 1, 7, 258, 1000, 65_537] {
        assert_eq!(crc32_of_zeros(size as u64), crc32(&vec![0; size]), "{size}");
    }
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[tokio::test]
async fn an_upload_is_answered_before_its_entries_are_inflated() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let server = recording_server(&record, false);
    let started = Instant::now();
    assert_eq!(submit(&server.url(), slow_archive()).await, StatusCode::OK);
    let answered = started.elapsed();
    // Written only once the inspection is done, which is seconds away: had the server inflated
    // the archive before answering, the upload would be here already.
    assert!(
        read_record(&record).is_empty(),
        "the record file has the upload right after the answer ({answered:?}): the server \
         inspected the archive before answering"
    );
    // Cancels the inspection, so the test does not wait for it.
    server.clear_requests();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn every_reader_of_the_record_waits_for_the_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let server = recording_server(&record, false);
    // 13 MB of zeros: long enough to inflate and hash that a reader that did not wait would
    // see the entries without their hashes.
    let archive = zip_of(&[
        Entry::stored("manifest.json", MANIFEST),
        Entry::zeros("zeros.bin", 50_000),
    ]);
    assert_eq!(submit(&server.url(), archive).await, StatusCode::OK);

    let listed: Vec<RecordedRequest> = client()
        .get(format!("{}/__admin/requests", server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_hashed(&listed[0]);
    let archive = listed[0].archive.as_ref().unwrap();
    assert_eq!(archive.entry_names(), ["manifest.json", "zeros.bin"]);
    let manifest = archive.entry("manifest.json").unwrap();
    assert_eq!(manifest.sha256, sha256_hex(MANIFEST));
    assert_eq!(manifest.text.as_deref().map(str::as_bytes), Some(MANIFEST));
    let zeros = archive.entry("zeros.bin").unwrap();
    assert_eq!(
        (zeros.size, zeros.compression.as_str()),
        (1 + 258 * 50_000, "Deflated")
    );

    assert_eq!(server.requests(), listed);
    // The file is rewritten before the inspection counts as done.
    assert_eq!(read_record(&record), listed);
}

#[tokio::test]
async fn corrupt_entry_content_is_accepted_then_recorded_as_a_zip_error() {
    let server = TestServer::start(ServerConfig::new(KEY, CI));
    let mut bad_crc = Entry::stored("run_results.json", b"{\"results\":[]}");
    bad_crc.crc ^= 1;
    let archive = zip_of(&[
        Entry::stored("manifest.json", MANIFEST),
        bad_crc,
        Entry {
            name: "broken.bin",
            method: 8,
            // Block type 3 does not exist.
            data: vec![0xFF; 64],
            crc: 0,
            size: 1000,
        },
        Entry::stored("models/orders.sql", b"select 1"),
    ]);
    // The central directory is fine, so the answer is too; a real service would find out later.
    assert_eq!(submit(&server.url(), archive).await, StatusCode::OK);

    let requests = server.requests();
    let archive = requests[0].archive.as_ref().unwrap();
    let error = archive.zip_error.as_deref().expect("no zip_error recorded");
    assert!(error.starts_with("entry run_results.json: "), "{error}");
    assert!(error.ends_with("(and 1 more entries)"), "{error}");
    assert_eq!(
        archive.entry_names(),
        [
            "manifest.json",
            "run_results.json",
            "broken.bin",
            "models/orders.sql"
        ]
    );
    let hash = |name: &str| archive.entry(name).unwrap().sha256.clone();
    assert_eq!(hash("manifest.json"), sha256_hex(MANIFEST));
    assert_eq!(hash("run_results.json"), "");
    assert_eq!(hash("broken.bin"), "");
    assert_eq!(hash("models/orders.sql"), sha256_hex(b"select 1"));
    assert_eq!(archive.entry("run_results.json").unwrap().text, None);
}

#[tokio::test]
async fn a_clear_during_an_inspection_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let server = recording_server(&record, false);
    assert_eq!(submit(&server.url(), slow_archive()).await, StatusCode::OK);
    let cleared = client()
        .delete(format!("{}/__admin/requests", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);

    let small = zip_of(&[Entry::stored("manifest.json", MANIFEST)]);
    assert_eq!(submit(&server.url(), small).await, StatusCode::OK);
    // The cleared upload's inspection stops at the clear and ends by finding its request gone;
    // give it every chance to bring the request back.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let requests = server.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        assert_eq!(requests[0].seq, 2);
        assert_hashed(&requests[0]);
        assert_eq!(read_record(&record), requests);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn inspecting_before_answering_completes_the_record_file_by_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let server = recording_server(&record, true);
    let archive = zip_of(&[
        Entry::stored("manifest.json", MANIFEST),
        Entry::zeros("zeros.bin", 50_000),
    ]);
    assert_eq!(submit(&server.url(), archive).await, StatusCode::OK);
    let recorded = read_record(&record);
    assert_eq!(recorded.len(), 1);
    assert_hashed(&recorded[0]);
}

#[test]
fn the_binary_with_a_record_file_answers_once_the_file_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_foldup-testserver"))
        .args(["--port", "0", "--api-key", KEY, "--ci-config-id", "7"])
        .arg("--record")
        .arg(&record)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let archive = zip_of(&[
        Entry::stored("manifest.json", MANIFEST),
        Entry::zeros("zeros.bin", 50_000),
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(submit(url.trim(), archive));
    // Read before stopping the server, as a script reads it once its client has exited.
    let recorded = read_record(&record);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recorded.len(), 1);
    assert_hashed(&recorded[0]);
}
