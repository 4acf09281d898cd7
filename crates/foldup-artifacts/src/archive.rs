//! The zip archive, written as a stream by rawzip: each entry's local header, its deflated bytes,
//! then a data descriptor with the CRC and sizes, and the central directory at the end (zip64
//! where sizes, offsets or the entry count need it). Nothing is ever sought back to, so the output
//! can be a pipe or an HTTP request body.
//!
//! The deflating happens on every core (`deflate.rs`); this module frames the pieces it hands
//! back, in order, as entries named as [`crate::locate_artifacts`] named the files.

use std::io::{self, Write};

use flate2::Crc;
use rawzip::path::{EntryPath, ZipFilePath};
use rawzip::{CompressionMethod, DataDescriptorOutput, ZipArchiveWriter};

use crate::error::shown;
use crate::{ArtifactError, ArtifactFile, ArtifactSet};

/// Compressed bytes handed to the output in one write, at most.
const WRITE_BYTES: usize = 64 * 1024;
/// Every entry is a regular file, readable by all: the mode an extracted file gets.
const REGULAR_FILE_MODE: u32 = 0o100644;

/// What went into an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArchiveSummary {
    /// Number of entries (files) in the archive.
    pub entries: usize,
    /// Total size of the files as read.
    pub uncompressed_bytes: u64,
    /// Size of the whole archive as written, headers and directory included.
    pub compressed_bytes: u64,
}

/// Writes `set`'s files to `out` as a zip archive, entries named by [`ArtifactFile::name`] in the
/// set's order, while another thread proves the manifest whole
/// ([`ArtifactSet::check_manifest_whole`]). A broken manifest fails the archive before its
/// central directory is written, so no usable archive comes out of it.
///
/// Every entry is deflated (level 1) and dated 1980-01-01, so the same files always make the same
/// archive. Fails when a file cannot be read, when its size differs from the one found when it
/// was located (dbt still writing it), or when `out` fails.
pub fn write_archive<W: Write>(set: &ArtifactSet, out: W) -> Result<ArchiveSummary, ArtifactError> {
    let (manifest_check, written) = std::thread::scope(|scope| {
        let manifest_check = scope.spawn(|| set.check_manifest_whole());
        let written = write_entries(&set.files, out);
        (manifest_check.join(), written)
    });
    match manifest_check {
        Ok(checked) => checked?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    let (zip, uncompressed_bytes) = written?;
    let mut out = zip.finish().map_err(zip_error)?;
    out.flush()
        .map_err(|reason| ArtifactError::ArchiveWrite { reason })?;
    Ok(ArchiveSummary {
        entries: set.files.len(),
        uncompressed_bytes,
        compressed_bytes: out.written,
    })
}

/// Writes every entry of `files`, deflated on every core, and returns the archive with its
/// central directory still to write (the caller writes it once the manifest is known whole) and
/// the bytes read.
fn write_entries<W: Write>(
    files: &[ArtifactFile],
    out: W,
) -> Result<(ZipArchiveWriter<Counting<W>>, u64), ArtifactError> {
    let mut zip = ZipArchiveWriter::builder()
        .with_capacity(files.len())
        .build(Counting {
            inner: out,
            written: 0,
        });
    let mut uncompressed_bytes = 0;
    crate::deflate::in_order(files, |pieces| {
        for (index, file) in files.iter().enumerate() {
            let (mut entry, _) = zip
                .new_file(entry_path(&file.name))
                .compression_method(CompressionMethod::DEFLATE)
                .unix_permissions(REGULAR_FILE_MODE)
                .start()
                .map_err(zip_error)?;
            let mut crc = Crc::new();
            let mut size = 0;
            loop {
                let piece = pieces.next().unwrap_or_else(|| {
                    Err(ArtifactError::ArchiveWrite {
                        reason: io::Error::other(format!(
                            "the compressed data of {} went missing",
                            shown(&file.path)
                        )),
                    })
                })?;
                debug_assert_eq!(piece.file, index);
                for chunk in piece.compressed.chunks(WRITE_BYTES) {
                    entry
                        .write_all(chunk)
                        .map_err(|reason| ArtifactError::ArchiveWrite { reason })?;
                }
                crc.combine(&piece.crc);
                size += piece.uncompressed;
                if piece.last {
                    break;
                }
            }
            entry
                .finish(DataDescriptorOutput::new(crc.sum(), size))
                .map_err(zip_error)?;
            uncompressed_bytes += size;
        }
        Ok(())
    })?;
    Ok((zip, uncompressed_bytes))
}

/// The name of an entry as given, with the UTF-8 flag where it needs one. rawzip rewrites names
/// that hold `\` or `:` (as in a path from Windows), which a file name on Unix may hold: those
/// are written byte for byte instead.
fn entry_path(name: &str) -> EntryPath<'_> {
    if ZipFilePath::from_str(name).as_str() == name {
        EntryPath::conformant(name)
    } else {
        EntryPath::verbatim(name.as_bytes())
    }
}

/// A failure of the output as the output reported it; rawzip's own refusals as they are.
fn zip_error(error: rawzip::Error) -> ArtifactError {
    let reason = match error.into_kind() {
        rawzip::ErrorKind::IO(reason) => reason,
        other => io::Error::other(rawzip::Error::from(other)),
    };
    ArtifactError::ArchiveWrite { reason }
}

/// The output, counted.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
