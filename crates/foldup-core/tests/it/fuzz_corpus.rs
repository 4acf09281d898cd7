//! The committed corpus of the `config_file` fuzz target (fuzz/corpus/config_file, the
//! toml_edit panic it found included), replayed with the target's checks on every test run.

use std::path::Path;

use foldup_testkit::context_checks::is_one_line;
use foldup_testkit::corpus::corpus;

#[test]
fn the_config_corpus_is_accepted_or_refused_in_one_line_naming_the_file() {
    for (input, data) in corpus("config_file") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        if let Err(error) = foldup_core::settings::check_config_text(Path::new("foldup.toml"), text)
        {
            assert!(
                is_one_line(&error.0) && error.0.contains("foldup.toml"),
                "{}: {:?}",
                input.display(),
                error.0
            );
        }
    }
}
