//! The committed corpora of the `manifest_metadata` and `small_deflate` fuzz targets
//! (fuzz/corpus/<target>, crash reproducers included), replayed with the targets' checks on every
//! test run.

#[test]
fn the_manifest_corpus_is_read_or_refused_in_one_line() {
    for (input, data) in corpus("manifest_metadata") {
        if let Err(reason) = foldup_artifacts::read_manifest_metadata(data.as_slice()) {
            assert!(
                !reason.is_empty() && one_line(&reason),
                "{}: {reason:?}",
                input.display()
            );
        }
    }
}

/// The `small_deflate` corpus: every stream inflates to exactly its file, never larger than stored.
#[test]
fn the_small_deflate_corpus_round_trips() {
    use std::io::Read;
    for (input, data) in corpus("small_deflate") {
        let Some((&separator, rest)) = data.split_first() else {
            continue;
        };
        let files: Vec<&[u8]> = rest.split(|&byte| byte == separator).collect();
        let streams = foldup_artifacts::deflate_small_files(&files);
        for (file, stream) in files.iter().zip(&streams) {
            let mut inflated = Vec::new();
            flate2::read::DeflateDecoder::new(stream.as_slice())
                .read_to_end(&mut inflated)
                .unwrap_or_else(|e| panic!("{}: {e}", input.display()));
            assert_eq!(&inflated, file, "{}", input.display());
            assert!(stream.len() <= file.len() + 5 * file.len().div_ceil(0xFFFF).max(1));
        }
    }
}

/// Every input of the committed corpus of fuzz target `target` (crash reproducers included).
fn corpus(target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} is empty", dir.display());
    inputs
}

/// One printable line: no control character but a tab, no Unicode line separator.
fn one_line(text: &str) -> bool {
    !text
        .chars()
        .any(|c| (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}'))
}
