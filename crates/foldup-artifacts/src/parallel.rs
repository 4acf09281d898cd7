//! Deflating many files on every core, handed back in order, in bounded memory.
//!
//! One reader thread reads larger files in order, in blocks of [`BLOCK_BYTES`]; small files
//! travel as batches (many to a job, to keep the hand-offs between threads few) that the worker
//! compressing them reads itself, so opening thousands of files is spread over the cores too.
//! At level 1 those batches are deflated by [`crate::small_deflate`], which sets up once per batch
//! rather than once per file. Job n goes to worker n % workers; the caller's thread receives the
//! compressed jobs in order.
//!
//! A block is deflated with the 32 KiB that precede it in its file as the dictionary and ends with
//! a sync flush (the last block of a file ends the stream instead), so the blocks of one file
//! concatenate into one deflate stream, as pigz makes them. Block and batch boundaries depend only
//! on the files' sizes, and each worker sees the same jobs in the same order, so the archive is
//! the same on every run with the same number of cores. At most [`IN_FLIGHT_PER_WORKER`] jobs per
//! worker exist at once, read or compressed: memory stays the same whatever the files' sizes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::error::shown;
use crate::small_deflate::SmallDeflater;
use crate::{ArtifactError, ArtifactFile};

/// Uncompressed bytes per block.
pub(crate) const BLOCK_BYTES: usize = 256 * 1024;
/// Deflate looks back at most 32 KiB.
const DICTIONARY_BYTES: usize = 32 * 1024;
/// More threads than this buy little for a few hundred MB and cost memory.
const MAX_WORKERS: usize = 8;
const IN_FLIGHT_PER_WORKER: usize = 4;
/// Files up to this size are read whole and batched with their neighbours.
const SMALL_FILE_BYTES: u64 = 64 * 1024;
/// At most this many files in one batch.
const BATCH_FILES: usize = 512;

/// One compressed block, handed to the caller in file order.
pub(crate) struct Block<'a> {
    /// Index of the file in the slice given to [`deflate_files`].
    pub file: usize,
    pub compressed: &'a [u8],
    /// CRC-32 of this block's uncompressed bytes.
    pub crc: &'a crc32fast::Hasher,
    pub uncompressed: u64,
    pub first: bool,
    pub last: bool,
}

/// A part of a job's input: a whole small file, or one block of a larger one.
struct Segment {
    file: usize,
    start: usize,
    end: usize,
    first: bool,
    last: bool,
}

struct Job {
    seq: u64,
    input: Vec<u8>,
    segments: Vec<Segment>,
    /// For a block that continues a file: the 32 KiB before it.
    dictionary: Vec<u8>,
    /// A batch of small files that the worker reads itself (so reading them is spread over the
    /// cores too); their segments are placed once read.
    unread: bool,
    /// The bytes the segments will hold.
    planned: u64,
}

/// A compressed segment: its range in the piece's output.
struct Done {
    file: usize,
    start: usize,
    end: usize,
    crc: crc32fast::Hasher,
    uncompressed: u64,
    first: bool,
    last: bool,
}

enum Piece {
    Blocks {
        compressed: Vec<u8>,
        done: Vec<Done>,
    },
    Unreadable {
        file: usize,
        reason: io::Error,
    },
    Changed {
        file: usize,
        actual: u64,
    },
    Deflate(String),
}

/// Buffers handed back and forth between the threads instead of being allocated per block.
struct Pool(Mutex<Vec<Vec<u8>>>);

impl Pool {
    fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buffer = self
            .0
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .unwrap_or_default();
        buffer.clear();
        buffer.reserve(capacity);
        buffer
    }

    fn give(&self, buffer: Vec<u8>) {
        if let Ok(mut pool) = self.0.lock() {
            pool.push(buffer);
        }
    }
}

/// How many threads deflate: one per core, at most [`MAX_WORKERS`].
fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_WORKERS)
}

/// Deflates `files` and calls `on_block` with their blocks, in order. Stops at the first error:
/// a file that cannot be read, a file whose size is not the one it was located with, or an error
/// `on_block` returns.
pub(crate) fn deflate_files(
    files: &[ArtifactFile],
    level: Compression,
    mut on_block: impl FnMut(Block<'_>) -> Result<(), ArtifactError>,
) -> Result<(), ArtifactError> {
    let workers = workers();
    let in_flight = workers * IN_FLIGHT_PER_WORKER;
    let inputs = Pool(Mutex::new(Vec::new()));
    let outputs = Pool(Mutex::new(Vec::new()));
    let (permit_sender, permits) = sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = permit_sender.send(());
    }
    let (piece_sender, pieces) = channel::<(u64, Piece)>();

    std::thread::scope(|scope| {
        // Job n goes to worker n % workers: each worker's compressor sees the same jobs in the
        // same order on every run, which keeps the archive a function of the files (zlib-rs's
        // reset leaves state behind that changes the output, though never its validity).
        let mut job_senders = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (job_sender, jobs) = sync_channel::<Job>(IN_FLIGHT_PER_WORKER);
            job_senders.push(job_sender);
            let piece_sender = piece_sender.clone();
            let (inputs, outputs) = (&inputs, &outputs);
            scope.spawn(move || deflate_jobs(files, level, &jobs, &piece_sender, inputs, outputs));
        }
        {
            let piece_sender = piece_sender.clone();
            let inputs = &inputs;
            scope.spawn(move || read_files(files, &permits, &job_senders, &piece_sender, inputs));
        }
        drop(piece_sender);
        let result = hand_out_in_order(files, &pieces, &permit_sender, &outputs, &mut on_block);
        // On an early return, these drops stop the other threads: the reader finds no permit,
        // the workers cannot hand in their blocks, and the scope can join them all.
        drop(permit_sender);
        drop(pieces);
        result
    })
}

fn hand_out_in_order(
    files: &[ArtifactFile],
    pieces: &Receiver<(u64, Piece)>,
    permits: &SyncSender<()>,
    outputs: &Pool,
    on_block: &mut impl FnMut(Block<'_>) -> Result<(), ArtifactError>,
) -> Result<(), ArtifactError> {
    let unreadable = |file: usize, reason| ArtifactError::Unreadable {
        path: shown(&files[file].path),
        reason,
    };
    let mut waiting = BTreeMap::new();
    let mut next = 0u64;
    let mut entries_done = 0;
    while entries_done < files.len() {
        let piece = match waiting.remove(&next) {
            Some(piece) => piece,
            None => {
                let Ok((seq, piece)) = pieces.recv() else {
                    return Err(ArtifactError::ArchiveWrite {
                        reason: io::Error::other("a compression thread stopped early"),
                    });
                };
                if seq != next {
                    waiting.insert(seq, piece);
                    continue;
                }
                piece
            }
        };
        next += 1;
        match piece {
            Piece::Blocks { compressed, done } => {
                for segment in &done {
                    on_block(Block {
                        file: segment.file,
                        compressed: &compressed[segment.start..segment.end],
                        crc: &segment.crc,
                        uncompressed: segment.uncompressed,
                        first: segment.first,
                        last: segment.last,
                    })?;
                    if segment.last {
                        entries_done += 1;
                    }
                }
                outputs.give(compressed);
                let _ = permits.send(());
            }
            Piece::Unreadable { file, reason } => return Err(unreadable(file, reason)),
            Piece::Changed { file, actual } => {
                return Err(ArtifactError::ChangedWhileArchiving {
                    path: shown(&files[file].path),
                    expected: files[file].size,
                    actual,
                })
            }
            Piece::Deflate(reason) => {
                return Err(ArtifactError::ArchiveWrite {
                    reason: io::Error::other(reason),
                })
            }
        }
    }
    Ok(())
}

/// Reads every file in order: small files whole, many to a job; larger ones in blocks. Each job
/// waits for a permit.
fn read_files(
    files: &[ArtifactFile],
    permits: &Receiver<()>,
    jobs: &[SyncSender<Job>],
    pieces: &Sender<(u64, Piece)>,
    inputs: &Pool,
) {
    let mut reader = Reader {
        permits,
        jobs,
        inputs,
        seq: 0,
        batch: None,
    };
    for (index, file) in files.iter().enumerate() {
        let read = if file.size <= SMALL_FILE_BYTES {
            reader.read_small(index, file)
        } else {
            reader.read_large(index, file)
        };
        if let Err(stop) = read {
            if let Some(failure) = stop {
                // Whatever was read before goes first, so the failure is reported in order.
                if reader.send_batch().is_ok() {
                    let _ = pieces.send((reader.seq, failure));
                }
            }
            return;
        }
    }
    let _ = reader.send_batch();
}

/// `Err(Some(piece))`: a file failed, report it; `Err(None)`: the other threads stopped.
type Step = Result<(), Option<Piece>>;

struct Reader<'a> {
    permits: &'a Receiver<()>,
    jobs: &'a [SyncSender<Job>],
    inputs: &'a Pool,
    seq: u64,
    batch: Option<Job>,
}

impl Reader<'_> {
    fn new_job(&mut self) -> Result<Job, Option<Piece>> {
        self.permits.recv().map_err(|_| None)?;
        Ok(Job {
            seq: 0,
            input: self.inputs.take(BLOCK_BYTES),
            segments: Vec::new(),
            dictionary: Vec::new(),
            unread: false,
            planned: 0,
        })
    }

    fn send(&mut self, mut job: Job) -> Step {
        job.seq = self.seq;
        let worker = (self.seq % self.jobs.len() as u64) as usize;
        self.jobs[worker].send(job).map_err(|_| None)?;
        self.seq += 1;
        Ok(())
    }

    fn send_batch(&mut self) -> Step {
        match self.batch.take() {
            Some(batch) => self.send(batch),
            None => Ok(()),
        }
    }

    /// Adds a small file to the current batch; the worker that takes the batch reads it.
    fn read_small(&mut self, index: usize, file: &ArtifactFile) -> Step {
        let full = self.batch.as_ref().is_some_and(|batch| {
            batch.planned + file.size > BLOCK_BYTES as u64 || batch.segments.len() >= BATCH_FILES
        });
        if full {
            self.send_batch()?;
        }
        if self.batch.is_none() {
            let mut batch = self.new_job()?;
            batch.unread = true;
            self.batch = Some(batch);
        }
        let Some(batch) = self.batch.as_mut() else {
            return Err(None);
        };
        batch.planned += file.size;
        batch.segments.push(Segment {
            file: index,
            start: 0,
            end: 0,
            first: true,
            last: true,
        });
        Ok(())
    }

    fn read_large(&mut self, index: usize, file: &ArtifactFile) -> Step {
        self.send_batch()?;
        let mut content = open(index, file)?;
        let mut offset = 0u64;
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let mut job = self.new_job()?;
            let wanted = (file.size - offset).min(BLOCK_BYTES as u64) as usize;
            read_exactly(index, &mut content, &mut job.input, wanted, offset)?;
            let first = offset == 0;
            offset += wanted as u64;
            let last = offset == file.size;
            if last {
                probe_end(index, file, &mut content)?;
            }
            job.dictionary = std::mem::take(&mut tail);
            if !last {
                let keep = job.input.len().saturating_sub(DICTIONARY_BYTES);
                tail = job.input[keep..].to_vec();
            }
            job.segments.push(Segment {
                file: index,
                start: 0,
                end: job.input.len(),
                first,
                last,
            });
            self.send(job)?;
            if last {
                return Ok(());
            }
        }
    }
}

fn open(index: usize, file: &ArtifactFile) -> Result<File, Option<Piece>> {
    File::open(&file.path).map_err(|reason| {
        Some(Piece::Unreadable {
            file: index,
            reason,
        })
    })
}

/// Appends exactly `wanted` bytes of `content` to `buffer`, or reports the file as changed (it
/// ended early) or unreadable.
fn read_exactly(
    index: usize,
    content: &mut File,
    buffer: &mut Vec<u8>,
    wanted: usize,
    offset: u64,
) -> Step {
    let read = read_up_to(content, buffer, wanted).map_err(|reason| {
        Some(Piece::Unreadable {
            file: index,
            reason,
        })
    })?;
    if read < wanted {
        let actual = offset + read as u64;
        return Err(Some(Piece::Changed {
            file: index,
            actual,
        }));
    }
    Ok(())
}

/// One byte more than announced means the file grew after it was located.
fn probe_end(index: usize, file: &ArtifactFile, content: &mut File) -> Step {
    let mut probe = [0u8; 1];
    match read_up_to_slice(content, &mut probe) {
        Ok(0) => Ok(()),
        Ok(_) => Err(Some(Piece::Changed {
            file: index,
            actual: file.size + 1,
        })),
        Err(reason) => Err(Some(Piece::Unreadable {
            file: index,
            reason,
        })),
    }
}

/// Appends up to `wanted` bytes of `content` to `buffer`; fewer only at the end of the file.
fn read_up_to(content: &mut File, buffer: &mut Vec<u8>, wanted: usize) -> io::Result<usize> {
    let start = buffer.len();
    buffer.resize(start + wanted, 0);
    let read = read_up_to_slice(content, &mut buffer[start..])?;
    buffer.truncate(start + read);
    Ok(read)
}

fn read_up_to_slice(content: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match content.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

fn deflate_jobs(
    files: &[ArtifactFile],
    level: Compression,
    jobs: &Receiver<Job>,
    pieces: &Sender<(u64, Piece)>,
    inputs: &Pool,
    outputs: &Pool,
) {
    let mut deflate = Compress::new(level, false);
    let mut small = SmallDeflater::new();
    loop {
        let Ok(mut job) = jobs.recv() else {
            return;
        };
        if job.unread {
            if let Err(failure) = read_batch(files, &mut job) {
                inputs.give(job.input);
                let Some(failure) = failure else {
                    return;
                };
                if pieces.send((job.seq, failure)).is_err() {
                    return;
                }
                continue;
            }
        }
        let mut compressed = outputs.take(job.input.len() / 2 + 1024);
        let mut done = Vec::with_capacity(job.segments.len());
        let mut failure = None;
        // A batch of whole small files: see `small_deflate` for why not zlib-rs.
        let small_files = job.unread && level.level() == 1;
        if small_files {
            small.start_batch();
        }
        for segment in &job.segments {
            let input = &job.input[segment.start..segment.end];
            let mut crc = crc32fast::Hasher::new();
            crc.update(input);
            let start = compressed.len();
            let deflated = if small_files {
                small.deflate(&job.input, segment.start, segment.end, &mut compressed);
                Ok(())
            } else {
                let dictionary = if segment.first {
                    &[][..]
                } else {
                    &job.dictionary[..]
                };
                deflate_block(
                    &mut deflate,
                    input,
                    dictionary,
                    segment.last,
                    &mut compressed,
                )
            };
            if let Err(reason) = deflated {
                failure = Some(reason);
                break;
            }
            done.push(Done {
                file: segment.file,
                start,
                end: compressed.len(),
                crc,
                uncompressed: input.len() as u64,
                first: segment.first,
                last: segment.last,
            });
        }
        let piece = match failure {
            None => Piece::Blocks { compressed, done },
            Some(reason) => Piece::Deflate(reason),
        };
        inputs.give(job.input);
        if pieces.send((job.seq, piece)).is_err() {
            return;
        }
    }
}

/// Reads the small files of a batch into its input, in order, placing their segments.
fn read_batch(files: &[ArtifactFile], job: &mut Job) -> Step {
    for segment in &mut job.segments {
        let file = &files[segment.file];
        let mut content = open(segment.file, file)?;
        segment.start = job.input.len();
        read_exactly(
            segment.file,
            &mut content,
            &mut job.input,
            file.size as usize,
            0,
        )?;
        probe_end(segment.file, file, &mut content)?;
        segment.end = job.input.len();
    }
    Ok(())
}

/// Deflates `input` onto the end of `out`: the dictionary first, then the input, then a sync
/// flush, or the end of the stream when `last`.
fn deflate_block(
    deflate: &mut Compress,
    input: &[u8],
    dictionary: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    deflate.reset();
    if !dictionary.is_empty() {
        deflate
            .set_dictionary(dictionary)
            .map_err(|error| format!("deflate refused a dictionary: {error}"))?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut consumed = 0usize;
    loop {
        if out.capacity() - out.len() < 8 * 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let before = deflate.total_in();
        let status = deflate
            .compress_vec(&input[consumed..], out, flush)
            .map_err(|error| format!("deflate failed: {error}"))?;
        consumed += (deflate.total_in() - before) as usize;
        let room_left = out.capacity() > out.len();
        match (last, status) {
            (true, Status::StreamEnd) => return Ok(()),
            (false, _) if consumed == input.len() && room_left => return Ok(()),
            _ => {}
        }
    }
}
