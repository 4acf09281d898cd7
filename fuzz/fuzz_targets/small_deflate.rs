//! foldup's own deflate encoder for small files (`small_deflate`), which writes most entries of a
//! large target's archive: every stream must inflate, with an independent decoder, to exactly the
//! file it was made from, and never be larger than the file stored.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte separates the files in the rest, so any byte can be in a file.
    let Some((&separator, rest)) = data.split_first() else {
        return;
    };
    let files: Vec<&[u8]> = rest.split(|&byte| byte == separator).collect();
    let streams = foldup_artifacts::deflate_small_files(&files);
    assert_eq!(streams.len(), files.len());
    for (file, stream) in files.iter().zip(&streams) {
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(stream.as_slice())
            .read_to_end(&mut inflated)
            .expect("a stream that inflates");
        assert_eq!(&inflated, file);
        // Stored blocks: 5 bytes of header per 65,535 bytes.
        assert!(stream.len() <= file.len() + 5 * file.len().div_ceil(0xFFFF).max(1));
    }
});
