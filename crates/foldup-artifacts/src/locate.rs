//! Finds dbt's target folder, picks the files to upload, and checks them before anything is sent.

use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use globset::{GlobBuilder, GlobMatcher};
use walkdir::WalkDir;

use crate::dbt_project::{read_target_path, TargetPathSetting};
use crate::error::shown;
use crate::metadata::{quoted, read_metadata, schema_version, Extent};
use crate::ArtifactError;

/// The files uploaded by default, when present. `manifest.json` is required.
pub const DEFAULT_ARTIFACTS: [&str; 5] = [
    MANIFEST,
    RUN_RESULTS,
    "catalog.json",
    "sources.json",
    "semantic_manifest.json",
];

/// The manifest schema versions foldup knows: dbt-core 0.19 wrote v1, dbt-core 1.8 to 1.10 write v12.
pub const KNOWN_MANIFEST_VERSIONS: std::ops::RangeInclusive<u32> = 1..=12;

const MANIFEST: &str = "manifest.json";
const RUN_RESULTS: &str = "run_results.json";

/// Where to look and what to take. Paths come from the caller, already read from flags, variables
/// and configuration.
#[derive(Debug, Clone)]
pub struct LocateOptions {
    /// An explicit target folder and where it came from, e.g. "flag --target-folder".
    pub target_folder: Option<(PathBuf, String)>,
    /// The value of `DBT_TARGET_PATH`, when set and not empty.
    pub dbt_target_path: Option<PathBuf>,
    /// The dbt project folder (`--project-dir`, `DBT_PROJECT_DIR`, or the current directory).
    /// Relative target folders are resolved against it, as dbt does.
    pub project_dir: PathBuf,
    /// Take every regular file under the target folder, as `datafold dbt upload` does.
    pub all_files: bool,
    /// Globs, relative to the target folder, of extra files to take.
    pub include: Vec<String>,
    /// Warn when an artifact was written longer ago than this.
    pub max_age: Option<Duration>,
    /// The time to measure artifact ages against.
    pub now: SystemTime,
}

/// The files to upload, checked and sorted by name.
#[derive(Debug, Clone)]
pub struct ArtifactSet {
    /// The target folder, as resolved (not canonicalized, so messages show what the user gave).
    pub target: PathBuf,
    /// Where the target folder came from, e.g. "DBT_TARGET_PATH".
    pub target_source: String,
    /// The files, sorted by name.
    pub files: Vec<ArtifactFile>,
    /// What the manifest says about itself.
    pub manifest: ManifestInfo,
    /// Things the user should know that do not stop the upload, each a sentence.
    pub warnings: Vec<String>,
}

impl ArtifactSet {
    /// Reads the whole manifest to prove it is one complete JSON object, so that a manifest cut
    /// short anywhere (even right after a `}`) is refused before it is uploaded. The scan holds
    /// none of the bytes; [`crate::write_archive`] runs it on its own thread beside the
    /// compression, since reading hundreds of megabytes first would delay everything else.
    pub fn check_manifest_whole(&self) -> Result<(), ArtifactError> {
        let Some(manifest) = named(&self.files, MANIFEST) else {
            return Err(ArtifactError::ManifestMissing {
                target: shown(&self.target),
            });
        };
        let file = File::open(&manifest.path).map_err(|reason| ArtifactError::Unreadable {
            path: shown(&manifest.path),
            reason,
        })?;
        read_metadata(file, Extent::WholeFile)
            .map(drop)
            .map_err(|problem| ArtifactError::NotAManifest {
                path: shown(&manifest.path),
                problem: problem.to_string(),
            })
    }
}

fn named<'a>(files: &'a [ArtifactFile], name: &str) -> Option<&'a ArtifactFile> {
    files.iter().find(|file| file.name == name)
}

/// One file to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Where to read it; for a symlink inside the target folder, the file it points to.
    pub path: PathBuf,
    /// Its name in the archive: relative to the target folder, '/'-separated. It may hold any
    /// character a file name can, newlines included: escape it before printing it.
    pub name: String,
    /// Its size when it was located.
    pub size: u64,
}

/// The manifest's own description, from its `metadata` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    /// The N of `https://schemas.getdbt.com/dbt/manifest/vN.json`.
    pub schema_version: u32,
    pub dbt_version: Option<String>,
    pub invocation_id: Option<String>,
    pub generated_at: Option<String>,
}

/// Finds the target folder, selects and checks the files to upload, and reads the manifest's
/// metadata. Nothing is sent anywhere; every problem found is an error or a warning.
pub fn locate_artifacts(options: &LocateOptions) -> Result<ArtifactSet, ArtifactError> {
    let mut warnings = Vec::new();
    let (target, target_source) = resolve_target(options, &mut warnings)?;
    tracing::debug!(target = %target.display(), source = %target_source, "target folder");
    let folder = TargetFolder::open(&target, &target_source)?;

    // A plain list, sorted at the end: a map keyed by name kept a second copy of every name,
    // which on a 32,000-file target cost megabytes of the memory budget.
    let mut files = Vec::new();
    for name in DEFAULT_ARTIFACTS {
        let path = target.join(name);
        let metadata = match fs::symlink_metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(reason) => {
                return Err(ArtifactError::Unreadable {
                    path: shown(&path),
                    reason,
                })
            }
        };
        match folder.admit(&path, name, &metadata, true)? {
            Admission::Take(file) => files.push(file),
            Admission::Skip(warning) => warnings.push(warning),
        }
    }
    let Some(manifest_file) = named(&files, MANIFEST) else {
        return Err(ArtifactError::ManifestMissing {
            target: shown(&target),
        });
    };
    let manifest = read_manifest_info(manifest_file, &mut warnings)?;
    if let Some(run_results) = named(&files, RUN_RESULTS) {
        check_run_results(run_results, &manifest, &mut warnings);
    }

    if options.all_files || !options.include.is_empty() {
        folder.walk(options, &mut files, &mut warnings)?;
    }
    if let Some(max_age) = options.max_age {
        check_age(&files, max_age, options.now, &mut warnings)?;
    }

    files.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(ArtifactSet {
        target,
        target_source,
        files,
        manifest,
        warnings,
    })
}

/// The target folder and where it came from, by PRODUCT.md's order.
fn resolve_target(
    options: &LocateOptions,
    warnings: &mut Vec<String>,
) -> Result<(PathBuf, String), ArtifactError> {
    let project_dir = &options.project_dir;
    if let Some((folder, source)) = &options.target_folder {
        return Ok((resolve_against(project_dir, folder), source.clone()));
    }
    if let Some(folder) = options
        .dbt_target_path
        .as_ref()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        return Ok((
            resolve_against(project_dir, folder),
            "DBT_TARGET_PATH".to_string(),
        ));
    }
    let project_file = resolve_against(project_dir, Path::new("dbt_project.yml"));
    let unreadable = |reason| ArtifactError::Unreadable {
        path: shown(&project_file),
        reason,
    };
    let setting = match File::open(&project_file) {
        Ok(file) => read_target_path(file).map_err(unreadable)?,
        Err(error) if error.kind() == io::ErrorKind::NotFound => TargetPathSetting::Absent,
        Err(reason) => return Err(unreadable(reason)),
    };
    let default = resolve_against(project_dir, Path::new("target"));
    match setting {
        TargetPathSetting::Path(folder) => Ok((
            resolve_against(project_dir, Path::new(&folder)),
            format!("target-path in {}", shown(&project_file)),
        )),
        TargetPathSetting::Absent => Ok((default, "dbt's default target folder".to_string())),
        TargetPathSetting::Unreadable(why) => {
            warnings.push(format!(
                "{} sets target-path, but {why}; foldup uses {} instead — pass --target-folder (or set DBT_TARGET_PATH) if dbt writes elsewhere",
                shown(&project_file),
                shown(&default)
            ));
            Ok((default, "dbt's default target folder".to_string()))
        }
    }
}

/// `path` relative to `base`, without a `./` in front when `base` is the current directory.
fn resolve_against(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() || base.as_os_str().is_empty() || base == Path::new(".") {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

struct TargetFolder {
    root: PathBuf,
    /// The real location of `root`, to tell whether a symlink stays inside it.
    canonical: PathBuf,
}

enum Admission {
    Take(ArtifactFile),
    Skip(String),
}

impl TargetFolder {
    fn open(root: &Path, source: &str) -> Result<Self, ArtifactError> {
        match fs::metadata(root) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => {
                return Err(ArtifactError::TargetIsNotAFolder {
                    target: shown(root),
                    origin: source.to_string(),
                })
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(ArtifactError::TargetMissing {
                    target: shown(root),
                    origin: source.to_string(),
                })
            }
            Err(reason) => {
                return Err(ArtifactError::Unreadable {
                    path: shown(root),
                    reason,
                })
            }
        }
        let canonical = fs::canonicalize(root).map_err(|reason| ArtifactError::Unreadable {
            path: shown(root),
            reason,
        })?;
        Ok(Self {
            root: root.to_path_buf(),
            canonical,
        })
    }

    /// Decides about one directory entry (`metadata` not following symlinks). `named` is true
    /// for a file the user or dbt's conventions asked for by name, which may not be skipped.
    fn admit(
        &self,
        path: &Path,
        name: &str,
        metadata: &Metadata,
        named: bool,
    ) -> Result<Admission, ArtifactError> {
        let file_type = metadata.file_type();
        if file_type.is_file() {
            return Ok(take_file(path, name, metadata));
        }
        if file_type.is_dir() {
            // The walk never asks about folders, so this is a named file that is a folder.
            return Err(ArtifactError::NotAFile {
                path: shown(path),
                kind: "a folder",
            });
        }
        if !file_type.is_symlink() {
            let kind = "a FIFO, socket or device";
            return if named {
                Err(ArtifactError::NotAFile {
                    path: shown(path),
                    kind,
                })
            } else {
                Ok(Admission::Skip(format!(
                    "{} is {kind}, not a file, so it is not uploaded",
                    shown(path)
                )))
            };
        }

        let destination = fs::read_link(path)
            .map(|destination| shown(&destination))
            .unwrap_or_else(|_| "?".to_string());
        let resolved = match fs::canonicalize(path) {
            Ok(resolved) => resolved,
            Err(error) if is_symlink_loop(&error) => {
                return Err(ArtifactError::SymlinkLoop { link: shown(path) })
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                if name == MANIFEST {
                    return Err(ArtifactError::SymlinkDangling {
                        link: shown(path),
                        destination,
                    });
                }
                return Ok(Admission::Skip(format!(
                    "{} is a symlink to {destination}, which does not exist, so it is not uploaded",
                    shown(path)
                )));
            }
            Err(reason) => {
                return Err(ArtifactError::Unreadable {
                    path: shown(path),
                    reason,
                })
            }
        };
        if !resolved.starts_with(&self.canonical) {
            return Err(ArtifactError::SymlinkOutsideTarget {
                link: shown(path),
                destination: shown(&resolved),
            });
        }
        let resolved_metadata =
            fs::metadata(&resolved).map_err(|reason| ArtifactError::Unreadable {
                path: shown(path),
                reason,
            })?;
        if resolved_metadata.is_file() {
            // Opened here, unlike a plain file, so that a failure names the link the user sees
            // rather than the file the archive step would read.
            File::open(&resolved).map_err(|reason| ArtifactError::Unreadable {
                path: shown(path),
                reason,
            })?;
            return Ok(take_file(&resolved, name, &resolved_metadata));
        }
        let kind = if resolved_metadata.is_dir() {
            "a folder"
        } else {
            "a FIFO, socket or device"
        };
        if named {
            return Err(ArtifactError::NotAFile {
                path: shown(path),
                kind,
            });
        }
        Ok(Admission::Skip(format!(
            "{} is a symlink to {kind} inside the target folder; it is not followed (a folder's files are uploaded under their own names)",
            shown(path)
        )))
    }

    /// Adds the files `--all-files` or `--include` ask for, walking the folder without following
    /// symlinks (each one is resolved and checked instead).
    fn walk(
        &self,
        options: &LocateOptions,
        files: &mut Vec<ArtifactFile>,
        warnings: &mut Vec<String>,
    ) -> Result<(), ArtifactError> {
        let globs = options
            .include
            .iter()
            .map(|glob| include_matcher(glob))
            .collect::<Result<Vec<_>, _>>()?;
        let mut glob_matched = vec![false; globs.len()];
        for entry in WalkDir::new(&self.root)
            .follow_links(false)
            .sort_by_file_name()
            .min_depth(1)
        {
            let entry = entry.map_err(|error| {
                let path = error.path().unwrap_or(&self.root).to_path_buf();
                ArtifactError::Unreadable {
                    path: shown(&path),
                    reason: error
                        .into_io_error()
                        .unwrap_or_else(|| io::Error::other("the folder could not be walked")),
                }
            })?;
            if entry.file_type().is_dir() {
                continue;
            }
            let Some(name) = entry_name(
                entry
                    .path()
                    .strip_prefix(&self.root)
                    .unwrap_or(entry.path()),
            ) else {
                warnings.push(format!(
                    "{} has a name that is not UTF-8, which a zip entry cannot carry, so it is not uploaded — rename it",
                    shown(entry.path())
                ));
                continue;
            };
            let mut wanted = options.all_files;
            for (glob, matched) in globs.iter().zip(glob_matched.iter_mut()) {
                if glob.is_match(&name) {
                    *matched = true;
                    wanted = true;
                }
            }
            // The default artifacts are in `files` already; a walk meets every other name once.
            if !wanted || DEFAULT_ARTIFACTS.contains(&name.as_str()) {
                continue;
            }
            let metadata = entry
                .metadata()
                .map_err(|error| ArtifactError::Unreadable {
                    path: shown(entry.path()),
                    reason: error
                        .into_io_error()
                        .unwrap_or_else(|| io::Error::other("its metadata could not be read")),
                })?;
            match self.admit(entry.path(), &name, &metadata, false)? {
                Admission::Take(file) => files.push(file),
                Admission::Skip(warning) => warnings.push(warning),
            }
        }
        for (glob, matched) in options.include.iter().zip(glob_matched) {
            if !matched {
                warnings.push(format!(
                    "--include {} matched no file in {} — globs are relative to the target folder, e.g. 'compiled/**/*.sql'",
                    quoted(glob),
                    shown(&self.root)
                ));
            }
        }
        Ok(())
    }
}

fn take_file(read_path: &Path, name: &str, metadata: &Metadata) -> Admission {
    // Not opened here: the archive step opens every file anyway, reports one it cannot read in the
    // same words, and finishes before any request is made. Opening each file twice cost a tenth of
    // a second on a 32,000-file target.
    Admission::Take(ArtifactFile {
        path: read_path.to_path_buf(),
        name: name.to_string(),
        size: metadata.len(),
    })
}

/// `std` maps ELOOP to an error kind that is not yet stable to name, so it is matched by its name.
fn is_symlink_loop(error: &io::Error) -> bool {
    format!("{:?}", error.kind()) == "FilesystemLoop"
}

/// A relative path as a '/'-separated archive entry name, or `None` when it is not UTF-8.
fn entry_name(relative: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in relative.components() {
        if let Component::Normal(part) = component {
            parts.push(part.to_str()?);
        }
    }
    Some(parts.join("/"))
}

fn include_matcher(glob: &str) -> Result<GlobMatcher, ArtifactError> {
    let relative = glob.strip_prefix("./").unwrap_or(glob);
    GlobBuilder::new(relative)
        .literal_separator(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|error| ArtifactError::BadGlob {
            glob: quoted(glob),
            reason: error.kind().to_string(),
        })
}

fn read_manifest_info(
    manifest: &ArtifactFile,
    warnings: &mut Vec<String>,
) -> Result<ManifestInfo, ArtifactError> {
    let not_a_manifest = |problem: String| ArtifactError::NotAManifest {
        path: shown(&manifest.path),
        problem,
    };
    let file = File::open(&manifest.path).map_err(|reason| ArtifactError::Unreadable {
        path: shown(&manifest.path),
        reason,
    })?;
    // Only the metadata: proving the rest whole means reading it all, which `write_archive` does
    // beside the compression instead of before it (see `ArtifactSet::check_manifest_whole`).
    let metadata = read_metadata(file, Extent::MetadataOnly)
        .map_err(|problem| not_a_manifest(problem.to_string()))?;
    let Some(url) = metadata.dbt_schema_version.as_deref() else {
        return Err(not_a_manifest(
            "its metadata has no dbt_schema_version".to_string(),
        ));
    };
    let Some(schema_version) = schema_version(url, "manifest") else {
        return Err(not_a_manifest(format!(
            "its metadata.dbt_schema_version is {}, not https://schemas.getdbt.com/dbt/manifest/vN.json",
            quoted(url)
        )));
    };
    if schema_version > *KNOWN_MANIFEST_VERSIONS.end() {
        warnings.push(format!(
            "{} uses manifest schema v{schema_version}, newer than the v{}–v{} this foldup knows; it is uploaded as it is — if Datafold rejects it, upgrade foldup",
            shown(&manifest.path),
            KNOWN_MANIFEST_VERSIONS.start(),
            KNOWN_MANIFEST_VERSIONS.end()
        ));
    }
    tracing::debug!(schema_version, dbt_version = ?metadata.dbt_version, "manifest metadata");
    Ok(ManifestInfo {
        schema_version,
        dbt_version: metadata.dbt_version,
        invocation_id: metadata.invocation_id,
        generated_at: metadata.generated_at,
    })
}

/// run_results.json is uploaded whatever it holds; what is odd about it is a warning.
fn check_run_results(
    run_results: &ArtifactFile,
    manifest: &ManifestInfo,
    warnings: &mut Vec<String>,
) {
    let path = shown(&run_results.path);
    let metadata = match File::open(&run_results.path)
        .map_err(|error| error.to_string())
        .and_then(|file| {
            read_metadata(file, Extent::MetadataOnly).map_err(|problem| problem.to_string())
        }) {
        Ok(metadata) => metadata,
        Err(problem) => {
            warnings.push(format!(
                "{path} is not readable as dbt run results ({problem}); it is uploaded as it is, but Datafold may not use it — run `dbt build` again"
            ));
            return;
        }
    };
    if let Some(url) = metadata.dbt_schema_version.as_deref() {
        if schema_version(url, "run-results").is_none() {
            warnings.push(format!(
                "{path} has metadata.dbt_schema_version {}, not a dbt run-results schema; it is uploaded as it is",
                quoted(url)
            ));
        }
    }
    if let (Some(ours), Some(manifests)) = (&metadata.invocation_id, &manifest.invocation_id) {
        if ours != manifests {
            warnings.push(format!(
                "{path} comes from dbt invocation {} but manifest.json from {} — the results may belong to another run; run foldup right after the `dbt build` whose results you mean to upload",
                quoted(ours),
                quoted(manifests)
            ));
        }
    }
}

fn check_age(
    files: &[ArtifactFile],
    max_age: Duration,
    now: SystemTime,
    warnings: &mut Vec<String>,
) -> Result<(), ArtifactError> {
    let mut oldest: Option<(Duration, &ArtifactFile)> = None;
    let defaults = files
        .iter()
        .filter(|file| DEFAULT_ARTIFACTS.contains(&file.name.as_str()));
    for file in defaults {
        let modified = fs::metadata(&file.path)
            .and_then(|metadata| metadata.modified())
            .map_err(|reason| ArtifactError::Unreadable {
                path: shown(&file.path),
                reason,
            })?;
        // A file from the future (clock skew) has no age to complain about.
        let Ok(age) = now.duration_since(modified) else {
            continue;
        };
        if age > max_age && oldest.is_none_or(|(oldest_age, _)| age > oldest_age) {
            oldest = Some((age, file));
        }
    }
    if let Some((age, file)) = oldest {
        warnings.push(format!(
            "{} was written {} ago, more than the maximum age of {} — run `dbt build` in this job before foldup, or raise the maximum age",
            shown(&file.path),
            human_duration(age),
            human_duration(max_age)
        ));
    }
    Ok(())
}

fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, _) => format!("{minutes} min"),
        (0, _, 0) => format!("{hours} h"),
        (0, _, _) => format!("{hours} h {minutes} min"),
        (1, _, _) => format!("1 day {hours} h"),
        _ => format!("{days} days {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_wrote_them() {
        assert_eq!(human_duration(Duration::from_secs(42)), "42 s");
        assert_eq!(human_duration(Duration::from_secs(3 * 60)), "3 min");
        assert_eq!(human_duration(Duration::from_secs(2 * 3600)), "2 h");
        assert_eq!(
            human_duration(Duration::from_secs(2 * 3600 + 5 * 60)),
            "2 h 5 min"
        );
        assert_eq!(
            human_duration(Duration::from_secs(86_400 + 3600)),
            "1 day 1 h"
        );
        assert_eq!(
            human_duration(Duration::from_secs(3 * 86_400)),
            "3 days 0 h"
        );
    }

    #[test]
    fn relative_folders_resolve_against_the_project() {
        let resolved = resolve_against(Path::new("shop"), Path::new("target"));
        assert_eq!(resolved, Path::new("shop/target"));
        assert_eq!(
            resolve_against(Path::new("."), Path::new("target")),
            Path::new("target")
        );
        assert_eq!(
            resolve_against(Path::new("shop"), Path::new("/abs")),
            Path::new("/abs")
        );
    }

    #[test]
    fn entry_names_use_forward_slashes() {
        assert_eq!(
            entry_name(Path::new("compiled/shop/a.sql")).unwrap(),
            "compiled/shop/a.sql"
        );
    }
}
