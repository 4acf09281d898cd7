//! A zip archive written as a stream: each entry's local header, its deflated bytes, then a data
//! descriptor with the CRC and sizes, and the central directory at the end. Nothing is ever sought
//! back to, so the output can be a pipe or an HTTP request body, and memory stays at two fixed
//! buffers and one deflate state however large the files are.
//!
//! [`write_archive`] deflates on every core (`parallel.rs`): files are cut into blocks that
//! worker threads compress, and the blocks are written back in order, in bounded memory.
//! [`ArchiveWriter::add_entry`] compresses one entry on the caller's thread.

use std::fs::File;
use std::io::{self, Read, Write};

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::error::shown;
use crate::{ArtifactError, ArtifactFile, ArtifactSet};

const CHUNK_BYTES: usize = 64 * 1024;

const LOCAL_HEADER_SIGNATURE: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;
const CENTRAL_HEADER_SIGNATURE: u32 = 0x0201_4b50;
const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// General purpose flags: sizes follow the data (bit 3), the name is UTF-8 (bit 11).
const FLAGS: u16 = (1 << 3) | (1 << 11);
const METHOD_DEFLATE: u16 = 8;
const VERSION_DEFLATE: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Made by" Unix, so the external attributes carry a Unix file mode.
const MADE_BY_UNIX: u16 = 3 << 8;
const REGULAR_FILE_MODE: u32 = 0o100644;
/// 1980-01-01 00:00 in MS-DOS form: a fixed time keeps the archive a function of the files' bytes.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;

/// Above this size an entry is written in zip64 form. It leaves room below 4 GiB for deflate's
/// worst-case growth on incompressible data, which is far under 1%.
const ZIP64_ENTRY_THRESHOLD: u64 = 0xF000_0000;
const U32_LIMIT: u64 = 0xFFFF_FFFF;

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
pub fn write_archive<W: Write>(set: &ArtifactSet, out: W) -> Result<ArchiveSummary, ArtifactError> {
    let mut archive = ArchiveWriter::new(out);
    let (manifest_check, added) = std::thread::scope(|scope| {
        let manifest_check = scope.spawn(|| set.check_manifest_whole());
        let added = archive.add_files(&set.files);
        (manifest_check.join(), added)
    });
    match manifest_check {
        Ok(checked) => checked?,
        Err(panic) => std::panic::resume_unwind(panic),
    }
    added?;
    archive.finish()
}

/// Streams a zip archive to any writer, one entry at a time.
pub struct ArchiveWriter<W: Write> {
    out: CountingWriter<W>,
    compressor: EntryCompressor,
    level: Compression,
    entries: Vec<CentralEntry>,
    /// Every entry's name, end to end: one allocation instead of one per entry, which on a
    /// 32,000-file target is a megabyte of the memory budget.
    names: String,
    uncompressed_bytes: u64,
    force_zip64: bool,
}

/// What the central directory needs to know about one entry.
struct CentralEntry {
    /// Where the name is in [`ArchiveWriter::names`].
    name: std::ops::Range<usize>,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local_header_offset: u64,
    zip64: bool,
}

/// The outcome of compressing one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressedEntry {
    pub crc: u32,
    pub uncompressed: u64,
    pub compressed: u64,
}

/// Why compressing an entry stopped.
#[derive(Debug)]
pub enum CompressError {
    Read(io::Error),
    Write(io::Error),
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: CountingWriter {
                inner: out,
                written: 0,
            },
            compressor: EntryCompressor::new(Compression::fast()),
            level: Compression::fast(),
            entries: Vec::new(),
            names: String::new(),
            uncompressed_bytes: 0,
            force_zip64: false,
        }
    }

    /// Sets the deflate level (0–9). The default is 1: artifacts are JSON, which compresses well
    /// even at level 1, and CI time is paid for on every pull request.
    pub fn with_level(mut self, level: u32) -> Self {
        self.level = Compression::new(level.min(9));
        self.compressor = EntryCompressor::new(self.level);
        self
    }

    /// Writes every entry in zip64 form, as entries over 4 GiB are; readers must cope either way.
    pub fn with_zip64_always(mut self) -> Self {
        self.force_zip64 = true;
        self
    }

    /// Adds `files` in order, deflating them on every core (see `parallel.rs`). Fails as
    /// [`Self::add_file`] does.
    pub fn add_files(&mut self, files: &[ArtifactFile]) -> Result<(), ArtifactError> {
        let write_error = |reason| ArtifactError::ArchiveWrite { reason };
        let force_zip64 = self.force_zip64;
        let mut current: Option<(CompressedEntry, crc32fast::Hasher, u64, bool)> = None;
        crate::parallel::deflate_files(files, self.level, |block| {
            let file = &files[block.file];
            if block.first {
                let zip64 = force_zip64 || file.size >= ZIP64_ENTRY_THRESHOLD;
                let offset = self.out.written;
                write_local_header(&mut self.out, &file.name, zip64).map_err(write_error)?;
                let empty = CompressedEntry {
                    crc: 0,
                    uncompressed: 0,
                    compressed: 0,
                };
                current = Some((empty, crc32fast::Hasher::new(), offset, zip64));
            }
            let Some((entry, crc, offset, zip64)) = current.as_mut() else {
                return Err(write_error(io::Error::other(
                    "a block came before its entry",
                )));
            };
            // Pieces of at most one buffer, as the sequential writer writes them.
            for piece in block.compressed.chunks(CHUNK_BYTES) {
                self.out.write_all(piece).map_err(write_error)?;
            }
            crc.combine(block.crc);
            entry.uncompressed += block.uncompressed;
            entry.compressed += block.compressed.len() as u64;
            if block.last {
                entry.crc = crc.clone().finalize();
                if !*zip64 && entry.compressed > U32_LIMIT {
                    return Err(ArtifactError::Unreadable {
                        path: shown(&file.path),
                        reason: io::Error::other(
                            "it does not compress, and its compressed form passed 4 GiB",
                        ),
                    });
                }
                write_data_descriptor(&mut self.out, entry, *zip64).map_err(write_error)?;
                self.uncompressed_bytes += entry.uncompressed;
                let name = push_name(&mut self.names, &file.name);
                self.entries.push(CentralEntry {
                    name,
                    crc: entry.crc,
                    compressed: entry.compressed,
                    uncompressed: entry.uncompressed,
                    local_header_offset: *offset,
                    zip64: *zip64,
                });
                current = None;
            }
            Ok(())
        })
    }

    /// Adds one file. Fails when it cannot be read, or when its size differs from the one found
    /// when it was located (dbt still writing it).
    pub fn add_file(&mut self, file: &ArtifactFile) -> Result<(), ArtifactError> {
        let unreadable = |reason| ArtifactError::Unreadable {
            path: shown(&file.path),
            reason,
        };
        let content = File::open(&file.path).map_err(unreadable)?;
        // One byte past the expected size is enough to notice a file that grew.
        let entry = self
            .add_entry(
                &file.name,
                content.take(file.size.saturating_add(1)),
                file.size,
            )
            .map_err(|error| match error {
                CompressError::Read(reason) => unreadable(reason),
                CompressError::Write(reason) => ArtifactError::ArchiveWrite { reason },
            })?;
        if entry.uncompressed != file.size {
            return Err(ArtifactError::ChangedWhileArchiving {
                path: shown(&file.path),
                expected: file.size,
                actual: entry.uncompressed,
            });
        }
        Ok(())
    }

    /// Adds an entry named `name` with the bytes of `content`. `expected_size` decides whether the
    /// entry needs zip64 form; an entry that turns out larger than announced is refused.
    pub fn add_entry(
        &mut self,
        name: &str,
        content: impl Read,
        expected_size: u64,
    ) -> Result<CompressedEntry, CompressError> {
        let zip64 = self.force_zip64 || expected_size >= ZIP64_ENTRY_THRESHOLD;
        let local_header_offset = self.out.written;
        write_local_header(&mut self.out, name, zip64).map_err(CompressError::Write)?;
        let entry = self.compressor.compress(content, &mut self.out)?;
        if !zip64 && (entry.uncompressed > U32_LIMIT || entry.compressed > U32_LIMIT) {
            return Err(CompressError::Read(io::Error::other(format!(
                "it grew past 4 GiB while being read, after announcing {expected_size} bytes"
            ))));
        }
        write_data_descriptor(&mut self.out, &entry, zip64).map_err(CompressError::Write)?;
        self.uncompressed_bytes += entry.uncompressed;
        let name = push_name(&mut self.names, name);
        self.entries.push(CentralEntry {
            name,
            crc: entry.crc,
            compressed: entry.compressed,
            uncompressed: entry.uncompressed,
            local_header_offset,
            zip64,
        });
        Ok(entry)
    }

    /// Writes the central directory and flushes the output.
    pub fn finish(mut self) -> Result<ArchiveSummary, ArtifactError> {
        let write_error = |reason| ArtifactError::ArchiveWrite { reason };
        let directory_offset = self.out.written;
        for entry in &self.entries {
            let name = &self.names[entry.name.clone()];
            write_central_header(&mut self.out, entry, name).map_err(write_error)?;
        }
        let directory_size = self.out.written - directory_offset;
        write_end_records(
            &mut self.out,
            self.entries.len() as u64,
            directory_offset,
            directory_size,
            self.force_zip64,
        )
        .map_err(write_error)?;
        self.out.flush().map_err(write_error)?;
        Ok(ArchiveSummary {
            entries: self.entries.len(),
            uncompressed_bytes: self.uncompressed_bytes,
            compressed_bytes: self.out.written,
        })
    }
}

/// Raw deflate of one entry at a time, with fixed-size buffers reused from entry to entry.
pub struct EntryCompressor {
    deflate: Compress,
    input: Box<[u8]>,
    output: Box<[u8]>,
}

impl EntryCompressor {
    pub fn new(level: Compression) -> Self {
        Self {
            deflate: Compress::new(level, false),
            input: vec![0; CHUNK_BYTES].into_boxed_slice(),
            output: vec![0; CHUNK_BYTES].into_boxed_slice(),
        }
    }

    /// Deflates everything `content` yields into `out`, computing the CRC-32 on the way.
    pub fn compress(
        &mut self,
        mut content: impl Read,
        out: &mut impl Write,
    ) -> Result<CompressedEntry, CompressError> {
        self.deflate.reset();
        let mut crc = crc32fast::Hasher::new();
        loop {
            let read = match content.read(&mut self.input) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(CompressError::Read(error)),
            };
            crc.update(&self.input[..read]);
            let mut offset = 0;
            while offset < read {
                let (consumed, _) = self.deflate_into(out, offset, read, FlushCompress::None)?;
                offset += consumed;
            }
        }
        loop {
            let (_, status) = self.deflate_into(out, 0, 0, FlushCompress::Finish)?;
            if status == Status::StreamEnd {
                break;
            }
        }
        Ok(CompressedEntry {
            crc: crc.finalize(),
            uncompressed: self.deflate.total_in(),
            compressed: self.deflate.total_out(),
        })
    }

    /// Runs deflate once over `input[start..end]`, writes what it produced, and returns how many
    /// input bytes it took.
    fn deflate_into(
        &mut self,
        out: &mut impl Write,
        start: usize,
        end: usize,
        flush: FlushCompress,
    ) -> Result<(usize, Status), CompressError> {
        let (before_in, before_out) = (self.deflate.total_in(), self.deflate.total_out());
        let status = self
            .deflate
            .compress(&self.input[start..end], &mut self.output, flush)
            .map_err(|error| CompressError::Write(io::Error::other(error)))?;
        let consumed = (self.deflate.total_in() - before_in) as usize;
        let produced = (self.deflate.total_out() - before_out) as usize;
        if consumed == 0 && produced == 0 && status != Status::StreamEnd {
            // The output buffer is emptied after every call, so deflate always has room; a call
            // that does nothing would otherwise loop forever.
            return Err(CompressError::Write(io::Error::other(
                "the deflate compressor stopped making progress",
            )));
        }
        out.write_all(&self.output[..produced])
            .map_err(CompressError::Write)?;
        Ok((consumed, status))
    }
}

struct CountingWriter<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Little-endian fields of one zip record, gathered so each record is one write.
#[derive(Default)]
struct Record(Vec<u8>);

impl Record {
    fn u16(mut self, value: u16) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn u32(mut self, value: u32) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn u64(mut self, value: u64) -> Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn bytes(mut self, value: &[u8]) -> Self {
        self.0.extend_from_slice(value);
        self
    }
}

/// A field of at most 32 bits, or the marker that says "see the zip64 extra field".
fn u32_or_marker(value: u64) -> u32 {
    u32::try_from(value)
        .ok()
        .filter(|value| u64::from(*value) < U32_LIMIT)
        .unwrap_or(u32::MAX)
}

fn name_length(name: &str) -> io::Result<u16> {
    u16::try_from(name.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the entry name {} is longer than zip allows",
                crate::error::shown_text(name)
            ),
        )
    })
}

fn write_local_header(out: &mut impl Write, name: &str, zip64: bool) -> io::Result<()> {
    // With sizes in the data descriptor, the local header's CRC and sizes are zero; a zip64 entry
    // says so with 0xFFFFFFFF and an extra field holding zeros, as Python's zipfile does.
    let (version, size_field, extra) = if zip64 {
        let extra = Record::default().u16(ZIP64_EXTRA_ID).u16(16).u64(0).u64(0);
        (VERSION_ZIP64, u32::MAX, extra.0)
    } else {
        (VERSION_DEFLATE, 0, Vec::new())
    };
    let header = Record::default()
        .u32(LOCAL_HEADER_SIGNATURE)
        .u16(version)
        .u16(FLAGS)
        .u16(METHOD_DEFLATE)
        .u16(DOS_TIME)
        .u16(DOS_DATE)
        .u32(0)
        .u32(size_field)
        .u32(size_field)
        .u16(name_length(name)?)
        .u16(extra.len() as u16)
        .bytes(name.as_bytes())
        .bytes(&extra);
    out.write_all(&header.0)
}

fn write_data_descriptor(
    out: &mut impl Write,
    entry: &CompressedEntry,
    zip64: bool,
) -> io::Result<()> {
    let descriptor = Record::default()
        .u32(DATA_DESCRIPTOR_SIGNATURE)
        .u32(entry.crc);
    let descriptor = if zip64 {
        descriptor.u64(entry.compressed).u64(entry.uncompressed)
    } else {
        descriptor
            .u32(entry.compressed as u32)
            .u32(entry.uncompressed as u32)
    };
    out.write_all(&descriptor.0)
}

fn push_name(names: &mut String, name: &str) -> std::ops::Range<usize> {
    let start = names.len();
    names.push_str(name);
    start..names.len()
}

fn write_central_header(out: &mut impl Write, entry: &CentralEntry, name: &str) -> io::Result<()> {
    let sizes_in_extra = entry.zip64;
    let offset_in_extra = entry.local_header_offset >= U32_LIMIT;
    let mut extra = Record::default();
    if sizes_in_extra {
        extra = extra.u64(entry.uncompressed).u64(entry.compressed);
    }
    if offset_in_extra {
        extra = extra.u64(entry.local_header_offset);
    }
    let extra = if extra.0.is_empty() {
        Vec::new()
    } else {
        Record::default()
            .u16(ZIP64_EXTRA_ID)
            .u16(extra.0.len() as u16)
            .bytes(&extra.0)
            .0
    };
    let version = if sizes_in_extra || offset_in_extra {
        VERSION_ZIP64
    } else {
        VERSION_DEFLATE
    };
    let (compressed, uncompressed) = if sizes_in_extra {
        (u32::MAX, u32::MAX)
    } else {
        (entry.compressed as u32, entry.uncompressed as u32)
    };
    let header = Record::default()
        .u32(CENTRAL_HEADER_SIGNATURE)
        .u16(MADE_BY_UNIX | VERSION_ZIP64)
        .u16(version)
        .u16(FLAGS)
        .u16(METHOD_DEFLATE)
        .u16(DOS_TIME)
        .u16(DOS_DATE)
        .u32(entry.crc)
        .u32(compressed)
        .u32(uncompressed)
        .u16(name_length(name)?)
        .u16(extra.len() as u16)
        .u16(0) // comment length
        .u16(0) // disk number
        .u16(0) // internal attributes
        .u32(REGULAR_FILE_MODE << 16)
        .u32(u32_or_marker(entry.local_header_offset))
        .bytes(name.as_bytes())
        .bytes(&extra);
    out.write_all(&header.0)
}

fn write_end_records(
    out: &mut CountingWriter<impl Write>,
    entries: u64,
    directory_offset: u64,
    directory_size: u64,
    force_zip64: bool,
) -> io::Result<()> {
    let needs_zip64 = force_zip64
        || entries >= u64::from(u16::MAX)
        || directory_offset >= U32_LIMIT
        || directory_size >= U32_LIMIT;
    if needs_zip64 {
        let zip64_end_offset = out.written;
        let zip64_end = Record::default()
            .u32(ZIP64_END_SIGNATURE)
            .u64(44) // size of the rest of this record
            .u16(MADE_BY_UNIX | VERSION_ZIP64)
            .u16(VERSION_ZIP64)
            .u32(0) // this disk
            .u32(0) // disk with the directory
            .u64(entries)
            .u64(entries)
            .u64(directory_size)
            .u64(directory_offset);
        let locator = Record::default()
            .u32(ZIP64_LOCATOR_SIGNATURE)
            .u32(0)
            .u64(zip64_end_offset)
            .u32(1);
        out.write_all(&zip64_end.0)?;
        out.write_all(&locator.0)?;
    }
    let entries_field = u16::try_from(entries)
        .ok()
        .filter(|count| *count < u16::MAX)
        .unwrap_or(u16::MAX);
    let end = Record::default()
        .u32(END_SIGNATURE)
        .u16(0)
        .u16(0)
        .u16(entries_field)
        .u16(entries_field)
        .u32(u32_or_marker(directory_size))
        .u32(u32_or_marker(directory_offset))
        .u16(0);
    out.write_all(&end.0)
}
