//! The committed corpus of the `config_file` fuzz target (fuzz/corpus/config_file, the
//! toml_edit panic it found included), replayed with the target's checks on every test run.

use std::path::Path;

#[test]
fn the_config_corpus_is_accepted_or_refused_in_one_line_naming_the_file() {
    for (input, data) in corpus("config_file") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        if let Err(error) = foldup_core::settings::check_config_text(Path::new("foldup.toml"), text)
        {
            assert!(
                one_line(&error.0) && error.0.contains("foldup.toml"),
                "{}: {:?}",
                input.display(),
                error.0
            );
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
