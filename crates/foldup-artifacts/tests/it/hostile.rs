//! Hostile and broken targets: every one ends in an error or warning that says what to do, never
//! a panic, a hang, or a read of a whole manifest.
#![cfg(unix)]

use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixture::{options, project_with, repo_path, V12};
use foldup_artifacts::{locate_artifacts, write_archive, ArtifactError, LocateOptions};

const REAL_METADATA: &str = r#"{"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": "1.10.0", "invocation_id": "11111111-2222-3333-4444-555555555555"}"#;

/// A project whose target holds the real v12 artifacts with `manifest.json` replaced by `bytes`.
fn project_with_manifest(bytes: &[u8]) -> tempfile::TempDir {
    let project = project_with(V12);
    fs::write(project.path().join("target/manifest.json"), bytes).unwrap();
    project
}

/// What the upload path does before any request: locate, then archive (which proves the
/// manifest whole beside the compression).
fn locate_and_archive(options: &LocateOptions) -> Result<(), ArtifactError> {
    let set = locate_artifacts(options)?;
    write_archive(&set, std::io::sink()).map(drop)
}

fn refusal(project: &Path) -> String {
    let error = locate_and_archive(&options(project)).unwrap_err();
    error.to_string()
}

fn assert_not_a_manifest(bytes: &[u8], problem: &str) {
    let project = project_with_manifest(bytes);
    let error = locate_and_archive(&options(project.path())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::NotAManifest { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("manifest.json is not a dbt manifest: "),
        "{message}"
    );
    assert!(message.contains(problem), "{message:?} lacks {problem:?}");
    assert!(message.ends_with(
        "— run `dbt build` (or `dbt compile`) first, or point --target-folder at dbt's target folder"
    ));
    assert!(!message.contains('\n'));
}

#[test]
fn a_truncated_real_manifest_is_refused() {
    let real = fs::read(repo_path(V12).join("manifest.json")).unwrap();
    // The metadata takes dbt's first few hundred bytes; every cut after it is caught too, even
    // one that leaves the file ending in a `}`.
    assert_eq!(real.last(), Some(&b'}'));
    for cut in [real.len() / 2, real.len() - 1, real.len() - 2, 2000] {
        assert_not_a_manifest(&real[..cut], "it ends before its closing brace");
    }
    for cut in [300, 40] {
        assert_not_a_manifest(
            &real[..cut],
            "it ends in the middle of its `metadata` object",
        );
    }
}

#[test]
fn non_utf8_manifests_are_refused() {
    let mut latin1 = br#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": "1.10 caf"#.to_vec();
    latin1.extend(b"\xe9\"}}");
    assert_not_a_manifest(&latin1, "not what dbt writes");

    let mut utf16 = vec![0xFF, 0xFE];
    for unit in "{\"metadata\": {}}".encode_utf16() {
        utf16.extend(unit.to_le_bytes());
    }
    assert_not_a_manifest(&utf16, "UTF-16 byte order mark");
    assert_not_a_manifest(b"\xef\xbb\xbf{\"metadata\": {}}", "UTF-8 byte order mark");
}

#[test]
fn manifests_that_are_not_objects_or_lack_metadata_are_refused() {
    assert_not_a_manifest(b"", "the file is empty");
    assert_not_a_manifest(b"[{\"metadata\": {}}]", "does not start with a JSON object");
    assert_not_a_manifest(b"{\"nodes\": {}}", "no `metadata` key");
    assert_not_a_manifest(b"{\"metadata\": null}", "is not a JSON object");
    assert_not_a_manifest(
        b"{\"metadata\": {}}",
        "its metadata has no dbt_schema_version",
    );
    assert_not_a_manifest(
        br#"{"metadata": {"dbt_schema_version": "https://example.com/manifest/v12.json"}}"#,
        "is `https://example.com/manifest/v12.json`, not https://schemas.getdbt.com/dbt/manifest/vN.json",
    );
}

#[test]
fn nesting_deeper_than_any_parser_allows_never_overflows_the_stack() {
    // Before the metadata: skipped with a counter, however deep.
    let depth = 5_000_000;
    let mut before = b"{\"nodes\": ".to_vec();
    before.extend(std::iter::repeat_n(b'[', depth));
    before.extend(std::iter::repeat_n(b']', depth));
    before.extend(format!(", \"metadata\": {REAL_METADATA}}}").as_bytes());
    let project = project_with_manifest(&before);
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(set.manifest.schema_version, 12);

    // Inside the metadata: skipped where dbt keeps free-form values, refused where it keeps a string.
    for (key, problem) in [
        ("env", "its metadata has no dbt_schema_version"),
        (
            "dbt_schema_version",
            "not what dbt writes (invalid type: sequence",
        ),
    ] {
        let mut inside = format!("{{\"metadata\": {{\"{key}\": ").into_bytes();
        inside.extend(std::iter::repeat_n(b'[', 200_000));
        inside.extend(std::iter::repeat_n(b']', 200_000));
        inside.extend(b"}}");
        assert_not_a_manifest(&inside, problem);
    }
}

#[test]
fn enormous_numbers_are_skipped_or_refused_but_never_parsed_into_memory() {
    let huge = "9".repeat(5_000_000);
    let large = "9".repeat(100_000);
    let text = format!(
        "{{\"n\": -{huge}.{huge}e+{huge}, \"metadata\": {{\"env\": {{\"n\": {large}e{large}}}, \"dbt_schema_version\": \"https://schemas.getdbt.com/dbt/manifest/v12.json\"}}, \"m\": 1e999999}}"
    );
    let project = project_with_manifest(text.as_bytes());
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(set.manifest.schema_version, 12);

    let wrong_type = format!("{{\"metadata\": {{\"generated_at\": {large}}}}}");
    assert_not_a_manifest(
        wrong_type.as_bytes(),
        "not what dbt writes (number out of range",
    );
    let too_large = format!("{{\"metadata\": {{\"env\": {huge}}}}}");
    assert_not_a_manifest(
        too_large.as_bytes(),
        "larger than 1024 KiB, far more than dbt ever writes",
    );
}

#[test]
fn metadata_after_other_keys_is_still_found() {
    // dbt writes `metadata` first; move it behind every other key (`child_map`, `nodes`, …), as a
    // tool that re-serializes the manifest might.
    let real = fs::read(repo_path(V12).join("manifest.json")).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&real).unwrap();
    let mut object = value.as_object().unwrap().clone();
    let metadata = object.remove("metadata").unwrap();
    object.insert("metadata".to_owned(), metadata);
    let reordered = serde_json::to_vec_pretty(&object).unwrap();
    let metadata_at = find(&reordered, b"\"metadata\"").unwrap();
    assert!(find(&reordered, b"\"child_map\"").unwrap() < metadata_at);
    let project = project_with_manifest(&reordered);
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(set.manifest.schema_version, 12);
    assert_eq!(
        set.manifest.invocation_id.as_deref(),
        value["metadata"]["invocation_id"].as_str()
    );
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

const HUGE: u64 = 256 << 20;

/// A project whose manifest is 256 MiB, nearly all of it a hole of NUL bytes inside a string:
/// no JSON parser accepts those, so locating passes only because it stops after `metadata`.
fn project_with_huge_manifest() -> tempfile::TempDir {
    let project = project_with(V12);
    let path = project.path().join("target/manifest.json");
    let mut file = File::create(&path).unwrap();
    write!(file, "{{\"metadata\": {REAL_METADATA}, \"nodes\": \"").unwrap();
    file.seek(SeekFrom::Start(HUGE)).unwrap();
    file.write_all(b"\"}\n").unwrap();
    project
}

#[cfg(target_os = "linux")]
#[test]
fn a_huge_manifest_is_checked_in_bounded_memory() {
    let project = project_with_huge_manifest();
    let growth = crate::fixture::peak_memory_growth(
        "hostile::a_huge_manifest_is_checked_in_bounded_memory",
        project.path(),
        |folder| {
            let set = locate_artifacts(&options(folder)).unwrap();
            assert_eq!(set.manifest.schema_version, 12);
            let manifest = set
                .files
                .iter()
                .find(|file| file.name == "manifest.json")
                .unwrap();
            assert_eq!(manifest.size, HUGE + 3);
        },
    );
    if let Some(growth) = growth {
        assert!(
            growth < 8 * 1024,
            "checking a 256 MiB manifest took {growth} KiB more memory"
        );
    }
}

#[test]
fn a_symlink_out_of_the_target_is_refused_and_named() {
    let project = project_with(V12);
    let outside = project.path().join("secrets.json");
    fs::write(&outside, "{\"api_key\": \"canary\"}").unwrap();
    let link = project.path().join("target/catalog.json");
    fs::remove_file(&link).unwrap();
    symlink(&outside, &link).unwrap();
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::SymlinkOutsideTarget { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("target/catalog.json is a symlink to"),
        "{message}"
    );
    assert!(
        message.contains("secrets.json, outside the target folder"),
        "{message}"
    );

    // The same link deep inside, reached only by --all-files or a glob, is refused too.
    fs::remove_file(&link).unwrap();
    let deep = project.path().join("target/compiled/escape.sql");
    symlink("../../secrets.json", &deep).unwrap();
    assert!(locate_artifacts(&options(project.path())).is_ok());
    let mut options = options(project.path());
    options.include = vec!["compiled/*.sql".into()];
    let error = locate_artifacts(&options).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("compiled/escape.sql is a symlink to"),
        "{error}"
    );
    options.include.clear();
    options.all_files = true;
    assert!(matches!(
        locate_artifacts(&options).unwrap_err(),
        ArtifactError::SymlinkOutsideTarget { .. }
    ));
}

#[test]
fn a_symlinked_target_folder_is_followed_as_the_user_chose_it() {
    let project = project_with(V12);
    let real = project.path().join("real-target");
    fs::rename(project.path().join("target"), &real).unwrap();
    symlink(&real, project.path().join("target")).unwrap();
    let mut options = options(project.path());
    options.all_files = true;
    let set = locate_artifacts(&options).unwrap();
    assert_eq!(set.manifest.schema_version, 12);
    assert!(set.files.len() > 5);
}

#[test]
fn symlink_loops_are_refused_without_hanging() {
    let project = project_with(V12);
    let target = project.path().join("target");
    fs::remove_file(target.join("sources.json")).unwrap();
    symlink("sources.json", target.join("sources.json")).unwrap();
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::SymlinkLoop { .. }),
        "{error}"
    );
    assert!(error
        .to_string()
        .contains("sources.json is a symlink that loops back on itself"));

    // A two-link loop, and a link to the folder itself, found by --all-files.
    fs::remove_file(target.join("sources.json")).unwrap();
    let mut options = options(project.path());
    options.all_files = true;
    symlink("..", target.join("compiled/up")).unwrap();
    let set = locate_artifacts(&options).unwrap();
    assert!(set
        .warnings
        .iter()
        .any(|warning| warning.contains("compiled/up is a symlink to a folder")));
    symlink("b.json", target.join("a.json")).unwrap();
    symlink("a.json", target.join("b.json")).unwrap();
    assert!(matches!(
        locate_artifacts(&options).unwrap_err(),
        ArtifactError::SymlinkLoop { .. }
    ));
}

#[test]
fn dangling_symlinks() {
    let project = project_with(V12);
    let target = project.path().join("target");
    fs::remove_file(target.join("catalog.json")).unwrap();
    symlink("gone.json", target.join("catalog.json")).unwrap();
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert!(!set.files.iter().any(|file| file.name == "catalog.json"));
    assert!(
        set.warnings[0].contains("catalog.json is a symlink to gone.json, which does not exist")
    );

    fs::rename(target.join("manifest.json"), target.join("moved.json")).unwrap();
    symlink("gone.json", target.join("manifest.json")).unwrap();
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::SymlinkDangling { .. }),
        "{error}"
    );
}

#[test]
fn a_folder_where_an_artifact_should_be_is_refused() {
    for name in ["manifest.json", "run_results.json"] {
        let project = project_with(V12);
        let path = project.path().join("target").join(name);
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        let message = refusal(project.path());
        assert!(
            message.contains(&format!("{name} is a folder, not a file")),
            "{message}"
        );
    }
}

#[test]
fn a_fifo_is_refused_or_skipped_and_never_opened() {
    // Opening a FIFO for reading blocks until someone writes to it; foldup must never do that.
    let project = project_with(V12);
    let target = project.path().join("target");
    fs::remove_file(target.join("run_results.json")).unwrap();
    mkfifo(&target.join("run_results.json"));
    let message = refusal(project.path());
    assert!(
        message.contains("run_results.json is a FIFO, socket or device, not a file"),
        "{message}"
    );

    fs::remove_file(target.join("run_results.json")).unwrap();
    mkfifo(&target.join("compiled/pipe"));
    let mut options = options(project.path());
    options.all_files = true;
    let set = locate_artifacts(&options).unwrap();
    assert!(set
        .warnings
        .iter()
        .any(|warning| warning.contains("compiled/pipe is a FIFO")));
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn an_unreadable_manifest_is_refused_where_permissions_apply() {
    use std::os::unix::fs::PermissionsExt;
    let project = project_with(V12);
    let manifest = project.path().join("target/manifest.json");
    fs::set_permissions(&manifest, fs::Permissions::from_mode(0o000)).unwrap();
    if File::open(&manifest).is_ok() {
        // Running as root, which reads any file: the folder and FIFO cases above cover the
        // unreadable path for root.
        return;
    }
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    assert!(matches!(error, ArtifactError::Unreadable { .. }), "{error}");
    assert!(error.to_string().contains("Permission denied"));
}

#[test]
fn file_names_with_newlines_are_archived_as_named_and_shown_escaped() {
    let project = project_with(V12);
    let target = project.path().join("target");
    let weird = "compiled/a\n::error::forged\r\u{1b}[31m.sql";
    fs::write(target.join(weird), "select 1").unwrap();
    symlink("../nowhere\nelse", target.join("run/b\nlink.sql")).unwrap();
    let mut options = options(project.path());
    options.all_files = true;
    let set = locate_artifacts(&options).unwrap();
    assert!(set.files.iter().any(|file| file.name == weird));
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    assert!(set.warnings[0].contains("run/b\\nlink.sql is a symlink to ../nowhere\\nelse"));
    assert!(!set.warnings[0].contains(['\n', '\r']));

    let mut archive = Vec::new();
    foldup_artifacts::write_archive(&set, &mut archive).unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let mut entry = zip.by_name(weird).unwrap();
    let mut content = String::new();
    std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
    assert_eq!(content, "select 1");
}

#[test]
fn a_non_utf8_file_name_is_reported_not_archived_under_a_mangled_name() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let project = project_with(V12);
    let target = project.path().join("target");
    let name = OsStr::from_bytes(b"compiled/caf\xe9.sql");
    if fs::write(target.join(name), "select 1").is_err() {
        return; // the file system itself refuses such names
    }
    let mut options = options(project.path());
    options.all_files = true;
    let set = locate_artifacts(&options).unwrap();
    assert!(!set.files.iter().any(|file| file.name.contains("caf")));
    assert!(
        set.warnings[0].contains("is not UTF-8"),
        "{:?}",
        set.warnings
    );
}

#[test]
fn a_dbt_project_yml_that_is_a_folder_is_refused() {
    let project = project_with(V12);
    fs::create_dir(project.path().join("dbt_project.yml")).unwrap();
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    assert!(matches!(error, ArtifactError::Unreadable { .. }), "{error}");
    assert!(error.to_string().contains("dbt_project.yml"));
}

#[test]
fn relative_target_folders_resolve_against_the_project_not_the_process() {
    let project = project_with(V12);
    let options = LocateOptions {
        target_folder: Some((PathBuf::from("target"), "flag --target-folder".into())),
        ..options(project.path())
    };
    assert_eq!(
        locate_artifacts(&options).unwrap().target,
        project.path().join("target")
    );
}
