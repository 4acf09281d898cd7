//! The committed corpora of the `manifest_metadata` and `small_deflate` fuzz targets
//! (fuzz/corpus/<target>, crash reproducers included), replayed with the targets' checks on every
//! test run.

use foldup_testkit::context_checks::is_one_line;
use foldup_testkit::corpus::corpus;

#[test]
fn the_manifest_corpus_is_read_or_refused_in_one_line() {
    for (input, data) in corpus("manifest_metadata") {
        if let Err(reason) = foldup_artifacts::read_manifest_metadata(data.as_slice()) {
            assert!(
                !reason.is_empty() && is_one_line(&reason),
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
