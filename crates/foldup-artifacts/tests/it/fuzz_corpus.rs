//! The committed corpus of the `manifest_metadata` fuzz target (fuzz/corpus/<target>, crash
//! reproducers included), replayed with the target's checks on every test run.

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
