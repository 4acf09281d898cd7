//! Finds, checks and archives the dbt artifacts that foldup uploads to Datafold.
//!
//! [`locate_artifacts`] resolves dbt's target folder, picks the files, refuses symlinks out of the
//! folder, and reads the manifest's metadata (never the whole manifest); [`write_archive`] streams
//! the files as a zip archive to any writer in bounded memory, while another thread proves the
//! manifest whole.

mod archive;
mod dbt_project;
mod deflate;
mod error;
mod locate;
mod metadata;

pub use archive::{write_archive, ArchiveSummary};
pub use dbt_project::read_project_name;
pub use error::ArtifactError;
pub use locate::{
    locate_artifacts, ArtifactFile, ArtifactSet, LocateOptions, ManifestInfo, DEFAULT_ARTIFACTS,
    KNOWN_MANIFEST_VERSIONS,
};
pub use metadata::read_manifest_metadata;
