//! Deflating the files of an archive on every core, handed back in order, in bounded memory.
//!
//! The files are cut into jobs: runs of whole small files (many to a job, so that a target of tens
//! of thousands of files is not tens of thousands of hand-offs), and blocks of [`BLOCK_BYTES`] of
//! the larger ones. Each job runs on a rayon pool: it reads its bytes and deflates them with
//! flate2 (zlib-rs). The caller receives the jobs' pieces in file order while at most
//! [`IN_FLIGHT_PER_WORKER`] jobs per worker exist, read or compressed, so memory stays the same
//! whatever the files' sizes.
//!
//! A block is deflated with the 32 KiB that precede it in its file as the dictionary and ends with
//! a sync flush (the last block of a file ends the stream instead), so the blocks of one file
//! concatenate into one deflate stream, as pigz makes them. Every job starts from a new deflate
//! state and job boundaries depend only on the files' sizes, so the archive is the same on every
//! run, whichever thread ran which job.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use crate::error::shown;
use crate::{ArtifactError, ArtifactFile};

/// Uncompressed bytes per block of a large file, and at most per job of small files.
pub(crate) const BLOCK_BYTES: usize = 256 * 1024;
/// Deflate looks back at most 32 KiB.
const DICTIONARY_BYTES: u64 = 32 * 1024;
/// Files up to this size are read whole and deflated in a job with their neighbours.
const SMALL_FILE_BYTES: u64 = 64 * 1024;
/// At most this many files in one job.
const JOB_FILES: usize = 512;
/// More threads than this buy little for a few hundred MB and cost memory.
const MAX_WORKERS: usize = 8;
const IN_FLIGHT_PER_WORKER: usize = 4;

/// Deflate level 1: artifacts are JSON, which compresses well even at level 1, and CI time is
/// paid for on every pull request.
fn level() -> Compression {
    Compression::fast()
}

/// Part of one file's deflate stream, in file order: a whole small file, or one block.
pub(crate) struct Piece {
    /// Index of the file in the slice given to [`in_order`].
    pub file: usize,
    pub compressed: Vec<u8>,
    /// CRC-32 of this piece's uncompressed bytes.
    pub crc: Crc,
    pub uncompressed: u64,
    /// Whether the file's stream ends with this piece.
    pub last: bool,
}

/// One unit of work.
enum Job {
    /// Whole small files, by index.
    Files(Range<usize>),
    /// `length` bytes at `offset` of a larger file.
    Block {
        file: usize,
        offset: u64,
        length: usize,
    },
}

/// Cuts `files` into jobs: consecutive small files together, larger ones in blocks.
fn plan(files: &[ArtifactFile]) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut run: Option<(Range<usize>, u64)> = None;
    for (index, file) in files.iter().enumerate() {
        if file.size <= SMALL_FILE_BYTES {
            match &mut run {
                Some((range, bytes))
                    if *bytes + file.size <= BLOCK_BYTES as u64 && range.len() < JOB_FILES =>
                {
                    range.end = index + 1;
                    *bytes += file.size;
                }
                _ => {
                    if let Some((range, _)) = run.replace((index..index + 1, file.size)) {
                        jobs.push(Job::Files(range));
                    }
                }
            }
            continue;
        }
        if let Some((range, _)) = run.take() {
            jobs.push(Job::Files(range));
        }
        let mut offset = 0;
        while offset < file.size {
            let length = (file.size - offset).min(BLOCK_BYTES as u64);
            jobs.push(Job::Block {
                file: index,
                offset,
                length: length as usize,
            });
            offset += length;
        }
    }
    if let Some((range, _)) = run {
        jobs.push(Job::Files(range));
    }
    jobs
}

/// How many threads deflate: one per core, at most [`MAX_WORKERS`].
fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_WORKERS)
}

/// Deflates `files` on a pool of threads and lets `consume` take the pieces in file order. A
/// piece is an error when its file could not be read, or its size is not the one it was located
/// with; `consume` decides to stop, and the jobs under way are then finished and dropped.
pub(crate) fn in_order<T>(
    files: &[ArtifactFile],
    consume: impl FnOnce(&mut Pieces<'_, '_>) -> Result<T, ArtifactError>,
) -> Result<T, ArtifactError> {
    let workers = workers();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|index| format!("foldup-deflate-{index}"))
        .build()
        .map_err(|error| ArtifactError::ArchiveWrite {
            reason: io::Error::other(format!("could not start the compression threads: {error}")),
        })?;
    pool.in_place_scope(|scope| {
        let mut pieces = Pieces {
            files,
            scope,
            jobs: plan(files).into_iter(),
            running: VecDeque::new(),
            in_flight: workers * IN_FLIGHT_PER_WORKER,
            ready: Vec::new().into_iter(),
        };
        consume(&mut pieces)
    })
}

/// The deflated pieces of the files, in order; see [`in_order`].
pub(crate) struct Pieces<'scope, 'files> {
    files: &'files [ArtifactFile],
    scope: &'scope rayon::Scope<'files>,
    jobs: std::vec::IntoIter<Job>,
    /// The jobs started and not yet handed out, oldest first.
    running: VecDeque<Receiver<Result<Vec<Piece>, ArtifactError>>>,
    in_flight: usize,
    /// The pieces of the oldest job, being handed out.
    ready: std::vec::IntoIter<Piece>,
}

impl<'files> Pieces<'_, 'files> {
    /// The next piece in file order, `None` after the last.
    pub(crate) fn next(&mut self) -> Option<Result<Piece, ArtifactError>> {
        loop {
            if let Some(piece) = self.ready.next() {
                return Some(Ok(piece));
            }
            while self.running.len() < self.in_flight {
                let Some(job) = self.jobs.next() else {
                    break;
                };
                let (sender, receiver) = sync_channel(1);
                let files: &'files [ArtifactFile] = self.files;
                self.scope.spawn(move |_| {
                    // The receiver is gone only when the archive already stopped.
                    let _ = sender.send(run(files, job));
                });
                self.running.push_back(receiver);
            }
            let oldest = self.running.pop_front()?;
            match oldest.recv() {
                Ok(Ok(pieces)) => self.ready = pieces.into_iter(),
                Ok(Err(error)) => return Some(Err(error)),
                Err(_) => {
                    return Some(Err(ArtifactError::ArchiveWrite {
                        reason: io::Error::other("a compression thread stopped early"),
                    }))
                }
            }
        }
    }
}

fn run(files: &[ArtifactFile], job: Job) -> Result<Vec<Piece>, ArtifactError> {
    match job {
        Job::Files(range) => deflate_small_files(files, range),
        Job::Block {
            file,
            offset,
            length,
        } => deflate_block(files, file, offset, length).map(|piece| vec![piece]),
    }
}

/// Deflates each file of `range` into a stream of its own, with one deflate state reset between
/// files.
fn deflate_small_files(
    files: &[ArtifactFile],
    range: Range<usize>,
) -> Result<Vec<Piece>, ArtifactError> {
    let mut deflate = Compress::new(level(), false);
    let mut input = Vec::with_capacity(SMALL_FILE_BYTES as usize + 1);
    let mut scratch = Vec::with_capacity(SMALL_FILE_BYTES as usize);
    let mut pieces = Vec::with_capacity(range.len());
    for index in range {
        let file = &files[index];
        input.clear();
        let content = File::open(&file.path).map_err(|reason| unreadable(file, reason))?;
        // One byte past the expected size is enough to notice a file that grew.
        content
            .take(file.size + 1)
            .read_to_end(&mut input)
            .map_err(|reason| unreadable(file, reason))?;
        if input.len() as u64 != file.size {
            return Err(changed(file, input.len() as u64));
        }
        deflate.reset();
        scratch.clear();
        deflate_into(&mut deflate, &input, FlushCompress::Finish, &mut scratch)?;
        let mut crc = Crc::new();
        crc.update(&input);
        pieces.push(Piece {
            file: index,
            // Exactly as large as it is: thousands of these wait to be written at once.
            compressed: scratch.to_vec(),
            crc,
            uncompressed: file.size,
            last: true,
        });
    }
    Ok(pieces)
}

/// Deflates `length` bytes at `offset` of a large file, with the 32 KiB before them as the
/// dictionary; the stream ends with the file's last block.
fn deflate_block(
    files: &[ArtifactFile],
    index: usize,
    offset: u64,
    length: usize,
) -> Result<Piece, ArtifactError> {
    thread_local! {
        /// Each thread's input and output buffers, kept from block to block: allocating them
        /// afresh for every block of a large file raised peak memory by a megabyte or two.
        static BUFFERS: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
    }
    BUFFERS.with_borrow_mut(|(input, output)| {
        deflate_block_with(files, index, offset, length, input, output)
    })
}

fn deflate_block_with(
    files: &[ArtifactFile],
    index: usize,
    offset: u64,
    length: usize,
    input: &mut Vec<u8>,
    output: &mut Vec<u8>,
) -> Result<Piece, ArtifactError> {
    let file = &files[index];
    let unreadable = |reason| unreadable(file, reason);
    let mut content = File::open(&file.path).map_err(unreadable)?;
    let start = offset.saturating_sub(DICTIONARY_BYTES);
    content.seek(SeekFrom::Start(start)).map_err(unreadable)?;
    let wanted = (offset - start) as usize + length;
    input.clear();
    input.reserve(wanted + 1);
    let last = offset + length as u64 == file.size;
    // The last block reads one byte more, to notice a file that grew.
    let limit = if last { wanted + 1 } else { wanted };
    (&mut content)
        .take(limit as u64)
        .read_to_end(input)
        .map_err(unreadable)?;
    if input.len() != wanted {
        return Err(changed(file, start + input.len() as u64));
    }
    let (dictionary, block) = input.split_at((offset - start) as usize);
    let mut deflate = Compress::new(level(), false);
    if !dictionary.is_empty() {
        deflate
            .set_dictionary(dictionary)
            .map_err(|error| deflate_failed(format!("deflate refused a dictionary: {error}")))?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    output.clear();
    deflate_into(&mut deflate, block, flush, output)?;
    let mut crc = Crc::new();
    crc.update(block);
    Ok(Piece {
        file: index,
        // Exactly as large as it is, to wait in line.
        compressed: output.to_vec(),
        crc,
        uncompressed: block.len() as u64,
        last,
    })
}

/// Deflates all of `input` onto the end of `out`, then flushes as `flush` says.
fn deflate_into(
    deflate: &mut Compress,
    input: &[u8],
    flush: FlushCompress,
    out: &mut Vec<u8>,
) -> Result<(), ArtifactError> {
    let start = deflate.total_in();
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(16 * 1024));
        }
        let consumed = (deflate.total_in() - start) as usize;
        let status = deflate
            .compress_vec(&input[consumed..], out, flush)
            .map_err(|error| deflate_failed(format!("deflate failed: {error}")))?;
        let consumed = (deflate.total_in() - start) as usize;
        let room_left = out.capacity() > out.len();
        match (flush, status) {
            (FlushCompress::Finish, Status::StreamEnd) => return Ok(()),
            (FlushCompress::Finish, _) => {}
            // A sync flush is complete once all input is in and deflate left room unused.
            _ if consumed == input.len() && room_left => return Ok(()),
            _ => {}
        }
    }
}

fn unreadable(file: &ArtifactFile, reason: io::Error) -> ArtifactError {
    ArtifactError::Unreadable {
        path: shown(&file.path),
        reason,
    }
}

fn changed(file: &ArtifactFile, actual: u64) -> ArtifactError {
    ArtifactError::ChangedWhileArchiving {
        path: shown(&file.path),
        expected: file.size,
        actual,
    }
}

fn deflate_failed(reason: String) -> ArtifactError {
    ArtifactError::ArchiveWrite {
        reason: io::Error::other(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> ArtifactFile {
        ArtifactFile {
            path: "unused".into(),
            name: "unused".into(),
            size,
        }
    }

    #[test]
    fn small_files_share_jobs_and_large_ones_are_cut_into_blocks() {
        let block = BLOCK_BYTES as u64;
        let files = [
            file(0),
            file(10),
            file(SMALL_FILE_BYTES),
            file(2 * block + 1),
            file(1),
        ];
        let jobs: Vec<String> = plan(&files)
            .iter()
            .map(|job| match job {
                Job::Files(range) => format!("files {range:?}"),
                Job::Block {
                    file,
                    offset,
                    length,
                } => format!("file {file} at {offset} for {length}"),
            })
            .collect();
        assert_eq!(
            jobs,
            [
                "files 0..3".to_owned(),
                format!("file 3 at 0 for {block}"),
                format!("file 3 at {block} for {block}"),
                format!("file 3 at {} for 1", 2 * block),
                "files 4..5".to_owned(),
            ]
        );
    }

    #[test]
    fn a_job_of_small_files_stops_at_a_block_or_its_file_count() {
        let full: Vec<ArtifactFile> = (0..5).map(|_| file(SMALL_FILE_BYTES)).collect();
        let sizes: Vec<usize> = plan(&full)
            .iter()
            .map(|job| match job {
                Job::Files(range) => range.len(),
                Job::Block { .. } => 0,
            })
            .collect();
        assert_eq!(sizes, [4, 1]);
        let many: Vec<ArtifactFile> = (0..JOB_FILES + 1).map(|_| file(1)).collect();
        assert_eq!(plan(&many).len(), 2);
    }
}
