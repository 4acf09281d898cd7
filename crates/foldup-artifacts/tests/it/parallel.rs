//! The block-parallel writer: files cut at every block boundary (and around it) come back whole,
//! and the archive does not depend on how the threads were scheduled.
#![cfg(unix)]

use std::fs;
use std::io::{Cursor, Read};

use crate::fixture::{options, project_with, V12};
use foldup_artifacts::{locate_artifacts, write_archive};

/// The block size large files are cut into (`BLOCK_BYTES` in src/deflate.rs).
const BLOCK: usize = 256 * 1024;

/// Text that repeats at distances under and over deflate's 32 KiB window, so that matches reach
/// back across block boundaries into the dictionary.
fn content(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(size);
    let mut phrases: Vec<Vec<u8>> = Vec::new();
    while out.len() < size {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let phrase = if phrases.len() > 8 && state % 3 == 0 {
            phrases[(state >> 33) as usize % phrases.len()].clone()
        } else {
            let fresh = format!(
                "{{\"node\": \"model.bench.m{:x}\", \"n\": {}}},\n",
                state,
                state % 977
            );
            phrases.push(fresh.clone().into_bytes());
            fresh.into_bytes()
        };
        out.extend_from_slice(&phrase);
    }
    out.truncate(size);
    out
}

#[test]
fn files_cut_into_blocks_come_back_whole_and_the_archive_is_deterministic() {
    let project = project_with(V12);
    let folder = project.path().join("target/compiled/blocks");
    fs::create_dir_all(&folder).unwrap();
    let sizes = [
        0,
        1,
        BLOCK - 1,
        BLOCK,
        BLOCK + 1,
        2 * BLOCK,
        3 * BLOCK + 7,
        40_000,
    ];
    for (index, size) in sizes.iter().enumerate() {
        fs::write(
            folder.join(format!("f{index}.json")),
            content(*size, index as u64),
        )
        .unwrap();
    }
    let mut options = options(project.path());
    options.include = vec!["compiled/blocks/*".into()];
    let set = locate_artifacts(&options).unwrap();

    let mut first = Vec::new();
    let summary = write_archive(&set, &mut first).unwrap();
    assert_eq!(summary.entries, set.files.len());
    for _ in 0..3 {
        let mut again = Vec::new();
        write_archive(&set, &mut again).unwrap();
        assert!(again == first, "two archives of the same files differ");
    }

    let mut zip = zip::ZipArchive::new(Cursor::new(&first)).unwrap();
    assert_eq!(zip.len(), set.files.len());
    for file in &set.files {
        let mut entry = zip.by_name(&file.name).unwrap();
        let mut read = Vec::new();
        entry.read_to_end(&mut read).unwrap();
        assert!(
            read == fs::read(&file.path).unwrap(),
            "{} differs",
            file.name
        );
    }
}
