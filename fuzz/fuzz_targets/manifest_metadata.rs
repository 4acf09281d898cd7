//! Reading a dbt manifest's metadata with serde_json (the rest skipped), as `foldup upload` reads
//! `manifest.json`: never a panic, and a refusal is one printable line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(reason) = foldup_artifacts::read_manifest_metadata(data) {
        foldup_testkit::context_checks::assert_one_line("the manifest refusal", &reason);
        assert!(!reason.is_empty());
    }
});
