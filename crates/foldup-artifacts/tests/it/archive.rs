//! The archive foldup uploads, read back by the `zip` crate and by Python's `zipfile` (the reader
//! on Datafold's side of datafold-sdk's uploads), byte for byte.
#![cfg(unix)]

use std::fs;
use std::io::{self, Cursor, Read, Write};
use std::process::Command;

use crate::fixture::{options, project_with, V11, V12};
use foldup_artifacts::{locate_artifacts, write_archive, ArtifactError, ArtifactFile, ArtifactSet};

/// A writer that cannot seek, takes at most 1000 bytes per call, and remembers its largest call:
/// an archive that streams never hands it more than one compression buffer at once.
#[derive(Default)]
struct PipeLike {
    bytes: Vec<u8>,
    largest_write: usize,
}

impl Write for PipeLike {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.largest_write = self.largest_write.max(bytes.len());
        let taken = bytes.len().min(1000);
        self.bytes.extend_from_slice(&bytes[..taken]);
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn all_files_of(fixture: &str) -> (tempfile::TempDir, ArtifactSet) {
    let project = project_with(fixture);
    let mut options = options(project.path());
    options.all_files = true;
    let set = locate_artifacts(&options).unwrap();
    (project, set)
}

/// Reads `archive` with the `zip` crate and checks it holds exactly `files`, in order.
fn assert_zip_crate_reads_back(archive: &[u8], files: &[ArtifactFile]) {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive)).unwrap();
    assert_eq!(zip.len(), files.len());
    for (index, file) in files.iter().enumerate() {
        let mut entry = zip.by_index(index).unwrap();
        assert_eq!(entry.name(), file.name);
        assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
        assert_eq!(entry.size(), file.size);
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert!(
            content == fs::read(&file.path).unwrap(),
            "{} differs",
            file.name
        );
    }
}

/// Has Python's zipfile test `archive` and extract every entry, then compares the entries with
/// `files` byte for byte.
fn assert_python_reads_back(archive: &[u8], files: &[ArtifactFile]) {
    let scratch = tempfile::tempdir().unwrap();
    let archive_path = scratch.path().join("artifacts.zip");
    fs::write(&archive_path, archive).unwrap();

    let test = Command::new("python3")
        .args(["-m", "zipfile", "-t"])
        .arg(&archive_path)
        .output()
        .expect("python3 runs");
    let said = String::from_utf8_lossy(&test.stdout);
    assert!(
        test.status.success() && said.contains("Done testing"),
        "{said}"
    );

    let extracted = scratch.path().join("entries");
    let script = r#"
import json, os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    assert archive.testzip() is None
    listing = []
    for index, info in enumerate(archive.infolist()):
        with open(os.path.join(sys.argv[2], str(index)), "wb") as out:
            out.write(archive.read(info))
        listing.append([info.filename, info.compress_type, info.file_size])
print(json.dumps(listing))
"#;
    fs::create_dir(&extracted).unwrap();
    let run = Command::new("python3")
        .args(["-c", script])
        .arg(&archive_path)
        .arg(&extracted)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let listing: Vec<(String, u32, u64)> = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(listing.len(), files.len());
    for (index, ((name, method, size), file)) in listing.iter().zip(files).enumerate() {
        assert_eq!(
            (name.as_str(), *method, *size),
            (file.name.as_str(), 8, file.size)
        );
        let content = fs::read(extracted.join(index.to_string())).unwrap();
        assert!(content == fs::read(&file.path).unwrap(), "{name} differs");
    }
}

#[test]
fn a_real_target_round_trips_through_the_zip_crate_and_python() {
    for fixture in [V12, V11] {
        let (_project, set) = all_files_of(fixture);
        let mut out = PipeLike::default();
        let summary = write_archive(&set, &mut out).unwrap();
        assert_eq!(summary.entries, set.files.len());
        assert_eq!(
            summary.uncompressed_bytes,
            set.files.iter().map(|file| file.size).sum::<u64>()
        );
        assert_eq!(summary.compressed_bytes, out.bytes.len() as u64);
        assert!(summary.compressed_bytes * 3 < summary.uncompressed_bytes);
        assert_zip_crate_reads_back(&out.bytes, &set.files);
        assert_python_reads_back(&out.bytes, &set.files);
    }
}

#[test]
fn the_default_set_is_what_the_archive_holds() {
    let project = project_with(V12);
    let set = locate_artifacts(&options(project.path())).unwrap();
    let mut archive = Vec::new();
    write_archive(&set, &mut archive).unwrap();
    let zip = zip::ZipArchive::new(Cursor::new(&archive)).unwrap();
    let names: Vec<&str> = zip.file_names().collect();
    assert_eq!(names.len(), 5);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn the_same_files_make_the_same_archive() {
    let (_project, set) = all_files_of(V11);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    write_archive(&set, &mut first).unwrap();
    write_archive(&set, &mut second).unwrap();
    assert!(first == second);
}

#[test]
fn a_large_file_streams_through_fixed_size_buffers() {
    let project = project_with(V12);
    // 24 MiB of manifest-like JSON that does not repeat exactly.
    let mut big = String::from("[");
    let mut state: u64 = 7;
    while big.len() < 24 << 20 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        big.push_str(&format!(
            "{{\"unique_id\": \"model.shop.m{}\", \"checksum\": \"{:016x}\"}},",
            state % 100_000,
            state
        ));
    }
    big.push_str("null]");
    fs::write(project.path().join("target/compiled/big.json"), &big).unwrap();
    let mut options = options(project.path());
    options.include = vec!["compiled/big.json".into()];
    let set = locate_artifacts(&options).unwrap();

    let mut out = PipeLike::default();
    write_archive(&set, &mut out).unwrap();
    assert!(
        out.largest_write <= 64 * 1024,
        "one write of {} bytes",
        out.largest_write
    );
    assert_zip_crate_reads_back(&out.bytes, &set.files);
    assert_python_reads_back(&out.bytes, &set.files);
}

#[test]
fn more_entries_than_a_plain_zip_can_count_switch_to_zip64() {
    let count = 65_536;
    let project = project_with(V12);
    let run = project.path().join("target/run/many");
    fs::create_dir_all(&run).unwrap();
    for index in 0..count {
        fs::write(run.join(format!("{index}.sql")), format!("select {index}")).unwrap();
    }
    let mut options = options(project.path());
    options.include = vec!["run/many/*.sql".into()];
    let set = locate_artifacts(&options).unwrap();
    assert!(set.files.len() > count);
    let mut out = Vec::new();
    assert_eq!(
        write_archive(&set, &mut out).unwrap().entries,
        set.files.len()
    );

    let mut zip = zip::ZipArchive::new(Cursor::new(&out)).unwrap();
    assert_eq!(zip.len(), set.files.len());
    let mut last = String::new();
    zip.by_name("run/many/65535.sql")
        .unwrap()
        .read_to_string(&mut last)
        .unwrap();
    assert_eq!(last, "select 65535");

    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("many.zip");
    fs::write(&path, &out).unwrap();
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n\
                  print(len(z.infolist()) - 65536, z.read('run/many/40000.sql').decode())";
    let run = Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        format!("{} select 40000", set.files.len() - count)
    );
}

#[test]
fn an_empty_file_is_a_valid_entry() {
    let project = project_with(V12);
    fs::write(project.path().join("target/compiled/empty.sql"), "").unwrap();
    let mut options = options(project.path());
    options.include = vec!["compiled/empty.sql".into()];
    let set = locate_artifacts(&options).unwrap();
    let mut out = Vec::new();
    write_archive(&set, &mut out).unwrap();
    assert_zip_crate_reads_back(&out, &set.files);
    assert_python_reads_back(&out, &set.files);
}

#[test]
fn names_a_windows_path_would_not_hold_are_kept_as_named() {
    let project = project_with(V12);
    let compiled = project.path().join("target/compiled");
    for name in [r"back\slash.sql", "co:lon.sql", "café.sql"] {
        fs::write(compiled.join(name), "select 1").unwrap();
    }
    let mut options = options(project.path());
    options.include = vec!["compiled/*.sql".into()];
    let set = locate_artifacts(&options).unwrap();
    for name in [
        r"compiled/back\slash.sql",
        "compiled/co:lon.sql",
        "compiled/café.sql",
    ] {
        assert!(set.files.iter().any(|file| file.name == name), "{name}");
    }
    let mut out = Vec::new();
    write_archive(&set, &mut out).unwrap();
    assert_zip_crate_reads_back(&out, &set.files);
    assert_python_reads_back(&out, &set.files);
}

#[test]
fn a_file_that_changes_after_it_was_located_is_refused() {
    let project = project_with(V12);
    let set = locate_artifacts(&options(project.path())).unwrap();
    let mut catalog = fs::OpenOptions::new()
        .append(true)
        .open(project.path().join("target/catalog.json"))
        .unwrap();
    catalog.write_all(b"\n").unwrap();
    let error = write_archive(&set, io::sink()).unwrap_err();
    assert!(
        matches!(error, ArtifactError::ChangedWhileArchiving { .. }),
        "{error}"
    );
    assert!(error
        .to_string()
        .contains("catalog.json changed while it was being archived"));

    fs::remove_file(project.path().join("target/catalog.json")).unwrap();
    let error = write_archive(&set, io::sink()).unwrap_err();
    assert!(matches!(error, ArtifactError::Unreadable { .. }), "{error}");
}

#[test]
fn a_failing_writer_is_reported_as_such() {
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let project = project_with(V12);
    let set = locate_artifacts(&options(project.path())).unwrap();
    let error = write_archive(&set, Full).unwrap_err();
    assert!(
        matches!(error, ArtifactError::ArchiveWrite { .. }),
        "{error}"
    );
    assert!(error
        .to_string()
        .starts_with("could not write the archive: no space left on device"));
}

#[test]
fn entries_keep_the_names_locate_gave_them() {
    let (_project, set) = all_files_of(V12);
    let names: Vec<&str> = set.files.iter().map(|file| file.name.as_str()).collect();
    assert!(names
        .iter()
        .all(|name| !name.starts_with('/') && !name.contains('\\')));
    assert!(names.windows(2).all(|pair| pair[0] < pair[1]));
}

#[cfg(target_os = "linux")]
#[test]
fn archiving_a_large_file_takes_bounded_memory() {
    const LARGE: u64 = 96 << 20;
    let project = project_with(V12);
    let large = project.path().join("target/compiled/large.json");
    // Sparse: the bytes are zeros, made without writing them.
    fs::File::create(&large).unwrap().set_len(LARGE).unwrap();
    let growth = crate::fixture::peak_memory_growth(
        "archive::archiving_a_large_file_takes_bounded_memory",
        project.path(),
        |folder| {
            let mut options = options(folder);
            options.all_files = true;
            let set = locate_artifacts(&options).unwrap();
            let summary = write_archive(&set, io::sink()).unwrap();
            assert!(summary.uncompressed_bytes > LARGE);
        },
    );
    // What the growth holds is the deflate threads' states and buffers and their allocator
    // arenas: 6–9 MiB from run to run on a 2-core machine, whatever the file's size (buffering
    // the file would take 96 MiB).
    if let Some(growth) = growth {
        assert!(
            growth < 12 * 1024,
            "archiving 96 MiB took {growth} KiB more memory"
        );
    }
}
