//! `foldup.toml`: any text is either accepted or refused with one printable line that names the
//! file (and, for a problem in a key, its line).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = foldup_core::settings::check_config_text(Path::new("foldup.toml"), text) {
        foldup_testkit::context_checks::assert_one_line("the config error", &error.0);
        assert!(error.0.contains("foldup.toml"), "{}", error.0);
    }
});
