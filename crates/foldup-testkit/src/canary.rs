//! The canary secrets: a fake API key and fake provider tokens that the end-to-end tests hand
//! foldup, and the scans that prove none of them appears in anything foldup prints or writes.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

/// The API key every test uses. It must never appear in anything foldup prints or writes.
pub const CANARY_KEY: &str = "dfk-canary-7f3a9c1e5b2d4e6f";
/// Provider tokens, as canaries too: foldup sends them to the provider's API and nowhere else.
pub const CANARY_GITHUB_TOKEN: &str = "ghp_canaryGH4c1d9e7a2b5f8036";
pub const CANARY_GITLAB_TOKEN: &str = "glpat-canaryGL8e2f4a6c9d1b";
pub const CANARY_CIRCLE_TOKEN: &str = "CCIPAT_canaryCC5b7d9f1e3a2c";
/// Every secret a test may hand foldup.
pub const CANARIES: [&str; 4] = [
    CANARY_KEY,
    CANARY_GITHUB_TOKEN,
    CANARY_GITLAB_TOKEN,
    CANARY_CIRCLE_TOKEN,
];
/// A leak of this many characters of a canary counts, so that a key cut short by a truncated
/// message is still caught.
pub const LEAK_WINDOW: usize = 12;

/// The canary (or a `LEAK_WINDOW`-long piece of one) found first in `bytes`. One pass over
/// `bytes` for every piece of every canary at once (Aho-Corasick): the scans run over every
/// output and archive of every end-to-end run, so their cost is the suite's.
pub fn find_canary(bytes: &[u8]) -> Option<&'static str> {
    static PIECES: OnceLock<(AhoCorasick, Vec<&'static str>)> = OnceLock::new();
    let (matcher, owners) = PIECES.get_or_init(|| {
        let (pieces, owners): (Vec<&[u8]>, Vec<&'static str>) = CANARIES
            .iter()
            .flat_map(|canary| {
                canary
                    .as_bytes()
                    .windows(LEAK_WINDOW)
                    .map(move |piece| (piece, *canary))
            })
            .unzip();
        let matcher = AhoCorasick::new(pieces).expect("the canary pieces make a matcher");
        (matcher, owners)
    });
    matcher
        .find(bytes)
        .map(|found| owners[found.pattern().as_usize()])
}

/// Asserts no canary appears in `text`, except in the one line GitHub's runner consumes and never
/// shows: `::add-mask::<that secret>`.
pub fn assert_text_has_no_canary(name: &str, text: &str) {
    for line in text.split(['\n', '\r']) {
        if CANARIES
            .iter()
            .any(|canary| line == format!("::add-mask::{canary}"))
        {
            continue;
        }
        if let Some(canary) = find_canary(line.as_bytes()) {
            panic!("a secret ({}…) leaked into {name}: {line}", &canary[..6]);
        }
    }
}

/// Asserts no canary appears in a file foldup wrote; a zip archive is also read entry by entry
/// (names and contents, decompressed), since deflate would hide a secret from a byte scan.
pub fn assert_file_has_no_canary(path: &Path) {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    };
    let shown = path.display().to_string();
    if bytes.starts_with(b"PK\x03\x04") {
        assert!(
            find_canary(&bytes).is_none(),
            "a secret leaked into the archive {shown}"
        );
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes))
            .unwrap_or_else(|e| panic!("{shown} is not a readable zip: {e}"));
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).unwrap();
            let name = entry.name().to_owned();
            assert!(
                find_canary(name.as_bytes()).is_none(),
                "a secret leaked into an entry name of {shown}: {name}"
            );
            assert_reader_has_no_canary(&mut entry, &format!("{shown}!{name}"));
        }
    } else {
        assert_text_has_no_canary(&shown, &String::from_utf8_lossy(&bytes));
    }
}

/// Scans a stream in pieces, overlapping so that nothing is missed at a piece's edge.
pub fn assert_reader_has_no_canary(reader: &mut impl Read, name: &str) {
    let mut buffer = vec![0u8; 1 << 20];
    let mut kept = 0;
    loop {
        let read = reader.read(&mut buffer[kept..]).unwrap();
        if read == 0 {
            break;
        }
        let filled = kept + read;
        assert!(
            find_canary(&buffer[..filled]).is_none(),
            "a secret leaked into {name}"
        );
        kept = filled.min(LEAK_WINDOW);
        buffer.copy_within(filled - kept..filled, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_of_leak_window_characters_is_found_anywhere_and_a_shorter_one_is_not() {
        for canary in CANARIES {
            let last = &canary[canary.len() - LEAK_WINDOW..];
            assert_eq!(find_canary(format!("…{last}").as_bytes()), Some(canary));
            assert_eq!(find_canary(&canary.as_bytes()[..LEAK_WINDOW]), Some(canary));
            let short = &canary[1..LEAK_WINDOW];
            assert_eq!(find_canary(format!("#{short}#").as_bytes()), None);
        }
        assert_eq!(find_canary(b""), None);
    }

    #[test]
    fn a_stream_is_scanned_across_its_read_boundaries() {
        // The key straddles the scan's 1 MiB buffer, where a piece-by-piece reader would cut it.
        let mut bytes = vec![b'.'; (1 << 20) - 5];
        bytes.extend_from_slice(CANARY_KEY.as_bytes());
        bytes.extend_from_slice(b"tail");
        let leaked = std::panic::catch_unwind(|| {
            assert_reader_has_no_canary(&mut bytes.as_slice(), "the stream")
        });
        assert!(leaked.is_err(), "the straddling key was missed");
        let clean = vec![b'.'; 3 << 20];
        assert_reader_has_no_canary(&mut clean.as_slice(), "a clean stream");
    }

    #[test]
    fn the_add_mask_line_is_the_one_exception() {
        assert_text_has_no_canary("stderr", &format!("ok\n::add-mask::{CANARY_KEY}\nok"));
        let leaked = std::panic::catch_unwind(|| {
            assert_text_has_no_canary("stderr", &format!("error: key {CANARY_KEY} refused"))
        });
        assert!(leaked.is_err());
    }
}
