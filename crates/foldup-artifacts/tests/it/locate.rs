//! Locating and checking real dbt targets: the bundled example's (dbt 1.10, manifest v12) and
//! dbt 1.7's (manifest v11), both written by dbt itself.
#![cfg(unix)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::fixture::{files_under, options, project_with, repo_path, V11, V12};
use foldup_artifacts::{locate_artifacts, ArtifactError};

fn names(set: &foldup_artifacts::ArtifactSet) -> Vec<&str> {
    set.files.iter().map(|file| file.name.as_str()).collect()
}

const DEFAULT_FILES: [&str; 5] = [
    "catalog.json",
    "manifest.json",
    "run_results.json",
    "semantic_manifest.json",
    "sources.json",
];

#[test]
fn finds_the_default_artifacts_of_a_dbt_1_10_target() {
    let set = locate_artifacts(&options(&repo_path("examples/shop"))).unwrap();
    assert_eq!(names(&set), DEFAULT_FILES);
    assert_eq!(set.target_source, "dbt's default target folder");
    assert_eq!(set.manifest.schema_version, 12);
    assert!(set
        .manifest
        .dbt_version
        .as_deref()
        .unwrap()
        .starts_with("1.10."));
    assert_eq!(
        set.manifest.invocation_id.as_deref().map(str::len),
        Some(36)
    );
    assert!(set.manifest.generated_at.is_some());
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);
    for file in &set.files {
        assert_eq!(file.size, fs::metadata(&file.path).unwrap().len());
    }
}

#[test]
fn finds_the_default_artifacts_of_a_dbt_1_7_target() {
    let project = project_with(V11);
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(names(&set), DEFAULT_FILES);
    assert_eq!(set.manifest.schema_version, 11);
    assert!(set
        .manifest
        .dbt_version
        .as_deref()
        .unwrap()
        .starts_with("1.7."));
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);
}

#[test]
fn all_files_takes_the_whole_target_folder() {
    let project = project_with(V12);
    let mut options = options(project.path());
    options.all_files = true;
    let set = locate_artifacts(&options).unwrap();
    let expected = files_under(&project.path().join("target"));
    assert!(expected
        .iter()
        .any(|name| name.starts_with("compiled/shop/models/")));
    assert_eq!(names(&set), expected);
}

#[test]
fn include_globs_add_files_and_a_glob_that_matches_nothing_is_reported() {
    let project = project_with(V11);
    let mut options = options(project.path());
    options.include = vec![
        "./compiled/**/marts/*.sql".to_string(),
        "graph_summary.json".to_string(),
        "*.msgpack".to_string(),
    ];
    let set = locate_artifacts(&options).unwrap();
    let names = names(&set);
    assert!(names.contains(&"compiled/shop/models/marts/orders.sql"));
    assert!(names.contains(&"graph_summary.json"));
    assert!(!names.iter().any(|name| name.contains("staging")));
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    assert!(set.warnings[0].contains("--include `*.msgpack` matched no file"));
}

#[test]
fn a_star_does_not_cross_folders() {
    let project = project_with(V11);
    let mut options = options(project.path());
    options.include = vec!["*.sql".to_string()];
    let set = locate_artifacts(&options).unwrap();
    assert_eq!(names(&set), DEFAULT_FILES);
    assert!(set.warnings[0].contains("matched no file"));
}

#[test]
fn an_invalid_glob_is_an_error_that_names_it() {
    let project = project_with(V11);
    let mut options = options(project.path());
    options.include = vec!["compiled/[".to_string()];
    let error = locate_artifacts(&options).unwrap_err();
    assert!(matches!(error, ArtifactError::BadGlob { .. }), "{error}");
    assert!(error
        .to_string()
        .starts_with("--include `compiled/[` is not a valid glob"));
}

/// A project folder whose dbt_project.yml sets `target-path: build`, and which has a `build`
/// folder (the v11 target) and a `target` folder (the v12 one), so the chosen folder shows.
fn project_with_target_path() -> tempfile::TempDir {
    let project = project_with(V12);
    crate::fixture::copy_tree(&repo_path(V11), &project.path().join("build"));
    crate::fixture::copy_tree(&repo_path(V12), &project.path().join("elsewhere"));
    fs::write(
        project.path().join("dbt_project.yml"),
        "name: shop\nprofile: shop\ntarget-path: \"build\"  # moved\n",
    )
    .unwrap();
    project
}

#[test]
fn target_path_in_dbt_project_yml_is_honoured() {
    let project = project_with_target_path();
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(set.target, project.path().join("build"));
    assert_eq!(set.manifest.schema_version, 11);
    assert!(set.target_source.starts_with("target-path in "));
    assert!(set.target_source.ends_with("dbt_project.yml"));
}

#[test]
fn dbt_target_path_beats_dbt_project_yml_and_an_explicit_folder_beats_both() {
    let project = project_with_target_path();
    let mut options = options(project.path());
    options.dbt_target_path = Some(PathBuf::from("target"));
    let set = locate_artifacts(&options).unwrap();
    assert_eq!(set.target, project.path().join("target"));
    assert_eq!(set.target_source, "DBT_TARGET_PATH");

    options.target_folder = Some((PathBuf::from("elsewhere"), "flag --target-folder".into()));
    let set = locate_artifacts(&options).unwrap();
    assert_eq!(set.target, project.path().join("elsewhere"));
    assert_eq!(set.target_source, "flag --target-folder");

    let absolute = project.path().join("build");
    options.target_folder = Some((absolute.clone(), "FOLDUP_TARGET_FOLDER".into()));
    assert_eq!(locate_artifacts(&options).unwrap().target, absolute);
}

#[test]
fn an_empty_dbt_target_path_counts_as_unset() {
    let project = project_with(V12);
    let mut options = options(project.path());
    options.dbt_target_path = Some(PathBuf::new());
    let set = locate_artifacts(&options).unwrap();
    assert_eq!(set.target, project.path().join("target"));
}

#[test]
fn a_target_path_foldup_cannot_render_is_a_warning_and_the_default_is_used() {
    let project = project_with(V12);
    fs::write(
        project.path().join("dbt_project.yml"),
        "target-path: \"{{ env_var('DBT_TARGET', 'target') }}\"\n",
    )
    .unwrap();
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(set.target, project.path().join("target"));
    assert_eq!(set.warnings.len(), 1);
    assert!(
        set.warnings[0].contains("uses Jinja"),
        "{}",
        set.warnings[0]
    );
    assert!(set.warnings[0].contains("pass --target-folder"));
}

#[test]
fn a_missing_target_says_to_run_dbt() {
    let project = tempfile::tempdir().unwrap();
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::TargetMissing { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("(from dbt's default target folder)"),
        "{message}"
    );
    assert!(message.contains("run `dbt build` first"), "{message}");
}

#[test]
fn a_target_that_is_a_file_is_refused() {
    let project = tempfile::tempdir().unwrap();
    fs::write(project.path().join("target"), "not a folder").unwrap();
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::TargetIsNotAFolder { .. }),
        "{error}"
    );
}

#[test]
fn a_target_without_a_manifest_is_refused() {
    let project = project_with(V12);
    fs::remove_file(project.path().join("target/manifest.json")).unwrap();
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    assert!(
        matches!(error, ArtifactError::ManifestMissing { .. }),
        "{error}"
    );
    assert!(error
        .to_string()
        .contains("has no manifest.json — run `dbt build`"));
}

#[test]
fn missing_optional_artifacts_are_fine() {
    let project = project_with(V12);
    for name in [
        "catalog.json",
        "sources.json",
        "semantic_manifest.json",
        "run_results.json",
    ] {
        fs::remove_file(project.path().join("target").join(name)).unwrap();
    }
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(names(&set), ["manifest.json"]);
    assert!(set.warnings.is_empty());
}

#[test]
fn run_results_from_another_invocation_are_reported() {
    let project = project_with(V12);
    // dbt 1.7's run results next to dbt 1.10's manifest: another invocation.
    fs::copy(
        repo_path(V11).join("run_results.json"),
        project.path().join("target/run_results.json"),
    )
    .unwrap();
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    assert!(set.warnings[0].contains("comes from dbt invocation"));
    assert!(set.warnings[0].contains(set.manifest.invocation_id.as_deref().unwrap()));
}

#[test]
fn corrupt_run_results_are_a_warning_not_a_failure() {
    let project = project_with(V12);
    fs::write(
        project.path().join("target/run_results.json"),
        "{\"metadata\": ",
    )
    .unwrap();
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert!(names(&set).contains(&"run_results.json"));
    assert!(set.warnings[0].contains("is not readable as dbt run results"));
}

#[test]
fn old_artifacts_are_reported_with_their_age() {
    let project = project_with(V12);
    let mut options = options(project.path());
    options.max_age = Some(Duration::from_secs(3600));
    assert!(locate_artifacts(&options).unwrap().warnings.is_empty());

    options.now = SystemTime::now() + Duration::from_secs(3 * 3600);
    let set = locate_artifacts(&options).unwrap();
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    assert!(set.warnings[0].contains("was written 3 h ago, more than the maximum age of 1 h"));
}

#[test]
fn a_manifest_of_a_newer_schema_is_uploaded_with_a_warning() {
    let project = project_with(V12);
    let manifest = project.path().join("target/manifest.json");
    let text = fs::read_to_string(&manifest).unwrap();
    fs::write(
        &manifest,
        text.replacen("/manifest/v12.json", "/manifest/v13.json", 1),
    )
    .unwrap();
    let set = locate_artifacts(&options(project.path())).unwrap();
    assert_eq!(set.manifest.schema_version, 13);
    assert!(set.warnings[0].contains("uses manifest schema v13, newer than the v1–v12"));
}

#[test]
fn run_results_renamed_to_manifest_is_not_a_manifest() {
    let project = project_with(V12);
    let target = project.path().join("target");
    fs::copy(
        target.join("run_results.json"),
        target.join("manifest.json"),
    )
    .unwrap();
    let error = locate_artifacts(&options(project.path())).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("manifest.json is not a dbt manifest: its metadata.dbt_schema_version is `https://schemas.getdbt.com/dbt/run-results/v6.json`"), "{message}");
    assert!(message.ends_with("or point --target-folder at dbt's target folder"));
}

fn target_of(project: &Path) -> PathBuf {
    project.join("target")
}

#[test]
fn a_symlink_inside_the_target_is_read_through() {
    let project = project_with(V12);
    let target = target_of(project.path());
    fs::rename(
        target.join("catalog.json"),
        target.join("compiled/catalog-real.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink("compiled/catalog-real.json", target.join("catalog.json")).unwrap();
    let set = locate_artifacts(&options(project.path())).unwrap();
    let catalog = set
        .files
        .iter()
        .find(|file| file.name == "catalog.json")
        .unwrap();
    assert!(catalog.path.ends_with("compiled/catalog-real.json"));
    assert_eq!(catalog.size, fs::metadata(&catalog.path).unwrap().len());
}
