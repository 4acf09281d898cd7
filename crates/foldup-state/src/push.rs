//! `foldup state push`: a commit's files first, then its record, then the branch pointer with a
//! conditional write.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use object_store::path::Path as ObjectPath;
use object_store::{
    ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::layout::{
    safe_name, Key, Pointer, Record, RecordFile, POINTER_FORMAT, RECORD_FILE, RECORD_FORMAT,
};
use crate::{classify, is_not_found, StateError, StateErrorKind, Store};

/// Files up to this size go in one request; larger ones in parts of this size.
const PART: usize = 8 * 1024 * 1024;

/// What to push.
#[derive(Debug, Clone)]
pub struct PushInput {
    pub key: Key,
    pub commit: String,
    pub branch: String,
    /// The commit's committer time (seconds since epoch), when git knows it.
    pub commit_time: Option<i64>,
    pub dbt_version: Option<String>,
    pub build_url: Option<String>,
    /// `(name relative to the target folder, path on disk)`.
    pub files: Vec<(String, PathBuf)>,
}

/// What happened to the branch pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The pointer now names this commit; it named `previous` before.
    Moved { previous: Option<String> },
    /// The pointer names a newer commit, and stays.
    Kept { newer: Pointer },
}

/// Stores the files and the record of `input.commit`, then moves the branch pointer unless it
/// already names a newer commit.
pub async fn push(store: &Store, input: &PushInput) -> Result<(Record, PushOutcome), StateError> {
    let mut files = Vec::new();
    for (name, path) in &input.files {
        if !safe_name(name) {
            return Err(StateError::usage(format!(
                "cannot store the file '{}': its name is not a plain relative path",
                foldup_core::sanitize_line(name)
            )));
        }
        let location = input.key.file(&store.prefix, &input.commit, name);
        let (size, sha256) = upload_file(store, &location, path, name).await?;
        files.push(RecordFile {
            name: name.clone(),
            size,
            sha256,
        });
    }
    let pushed_at = crate::now_rfc3339();
    let record = Record {
        format: RECORD_FORMAT.to_owned(),
        repository: input.key.repository.clone(),
        project: input.key.project.clone(),
        commit: input.commit.clone(),
        branch: input.branch.clone(),
        commit_time: input.commit_time,
        dbt_version: input.dbt_version.clone(),
        build_url: input.build_url.clone(),
        pushed_at: pushed_at.clone(),
        files,
    };
    let record_path = input.key.file(&store.prefix, &input.commit, RECORD_FILE);
    let body = serde_json::to_vec_pretty(&record).expect("a record serializes");
    store
        .inner
        .put(&record_path, PutPayload::from(body))
        .await
        .map_err(|e| classify(store, "storing the state record", e))?;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let pointer = Pointer {
        format: POINTER_FORMAT.to_owned(),
        branch: input.branch.clone(),
        commit: input.commit.clone(),
        order: input.commit_time.unwrap_or(now),
        order_source: if input.commit_time.is_some() {
            "commit time"
        } else {
            "push time"
        }
        .to_owned(),
        pushed_at,
        build_url: input.build_url.clone(),
    };
    let location = input.key.pointer(&store.prefix, &input.branch);
    let outcome = if store.local.is_some() {
        move_pointer_locked(store, &location, &pointer).await?
    } else {
        move_pointer_conditional(store, &location, &pointer).await?
    };
    Ok((record, outcome))
}

/// Streams one file into the store, hashing it on the way.
async fn upload_file(
    store: &Store,
    location: &ObjectPath,
    path: &std::path::Path,
    name: &str,
) -> Result<(u64, String), StateError> {
    let unreadable = |e: std::io::Error| {
        StateError::new(
            StateErrorKind::NotFound,
            format!(
                "cannot read {} ({}): {e}; run `dbt build` (or `dbt compile`) before `foldup state push`",
                foldup_core::sanitize_line(name),
                path.display()
            ),
        )
    };
    let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut first = vec![0u8; PART];
    let filled = read_full(&mut file, &mut first).await.map_err(unreadable)?;
    hasher.update(&first[..filled]);
    size += filled as u64;
    let doing = format!("storing {}", foldup_core::sanitize_line(name));
    if filled < PART {
        first.truncate(filled);
        store
            .inner
            .put(location, PutPayload::from(first))
            .await
            .map_err(|e| classify(store, &doing, e))?;
        return Ok((size, hex(&hasher.finalize())));
    }
    let upload = store
        .inner
        .put_multipart(location)
        .await
        .map_err(|e| classify(store, &doing, e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    writer.write(&first);
    let mut buffer = first;
    loop {
        let read = read_full(&mut file, &mut buffer)
            .await
            .map_err(unreadable)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        size += read as u64;
        writer
            .wait_for_capacity(2)
            .await
            .map_err(|e| classify(store, &doing, e))?;
        writer.write(&buffer[..read]);
    }
    writer
        .finish()
        .await
        .map_err(|e| classify(store, &doing, e))?;
    Ok((size, hex(&hasher.finalize())))
}

/// Reads until `buffer` is full or the file ends.
async fn read_full(file: &mut tokio::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let read = file.read(&mut buffer[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pointer at `location`, with its version for a conditional write; `None` when absent.
async fn read_pointer(
    store: &Store,
    location: &ObjectPath,
) -> Result<Option<(Pointer, UpdateVersion)>, StateError> {
    let got = match store.inner.get(location).await {
        Ok(got) => got,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(classify(store, "reading the branch pointer", e)),
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let bytes = got
        .bytes()
        .await
        .map_err(|e| classify(store, "reading the branch pointer", e))?;
    let pointer: Pointer = serde_json::from_slice(&bytes).map_err(|e| {
        StateError::new(
            StateErrorKind::Integrity,
            format!(
                "the branch pointer {location} in {} is not foldup's ({e}); delete it, then push again",
                store.shown
            ),
        )
    })?;
    Ok(Some((pointer, version)))
}

/// Whether `current` must stay: it names another commit that is newer.
fn stays(current: &Pointer, new: &Pointer) -> bool {
    current.commit != new.commit && current.order > new.order
}

/// Moves the pointer with a conditional write (create-if-absent, or replace-if-unchanged),
/// re-reading and re-deciding when another push got there first.
async fn move_pointer_conditional(
    store: &Store,
    location: &ObjectPath,
    new: &Pointer,
) -> Result<PushOutcome, StateError> {
    let body = serde_json::to_vec_pretty(new).expect("a pointer serializes");
    for _ in 0..20 {
        let current = read_pointer(store, location).await?;
        if let Some((pointer, _)) = &current {
            if stays(pointer, new) {
                return Ok(PushOutcome::Kept {
                    newer: pointer.clone(),
                });
            }
        }
        let previous = current.as_ref().map(|(p, _)| p.commit.clone());
        let mode = match current {
            Some((_, version)) => PutMode::Update(version),
            None => PutMode::Create,
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match store
            .inner
            .put_opts(location, PutPayload::from(body.clone()), options)
            .await
        {
            Ok(_) => return Ok(PushOutcome::Moved { previous }),
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => {
                tracing::debug!("another push moved the pointer first; deciding again");
                tokio::time::sleep(Duration::from_millis(50 + fastrand_ms())).await;
            }
            Err(e) => return Err(classify(store, "moving the branch pointer", e)),
        }
    }
    Err(StateError::new(
        StateErrorKind::Unreachable,
        format!(
            "could not move the branch pointer in {}: other pushes kept changing it; run the job again",
            store.shown
        ),
    ))
}

/// A local folder has no conditional replace: a lock file, created exclusively, serializes the
/// read-decide-write of the pointer instead. A lock older than two minutes is a crashed push's.
async fn move_pointer_locked(
    store: &Store,
    location: &ObjectPath,
    new: &Pointer,
) -> Result<PushOutcome, StateError> {
    let lock = ObjectPath::from(format!("{location}.lock"));
    let started = Instant::now();
    loop {
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match store
            .inner
            .put_opts(
                &lock,
                PutPayload::from_static(b"foldup state push\n"),
                options,
            )
            .await
        {
            Ok(_) => break,
            Err(object_store::Error::AlreadyExists { .. }) => {
                let age = store
                    .local
                    .as_ref()
                    .and_then(|dir| std::fs::metadata(dir.join(lock.as_ref())).ok())
                    .and_then(|m| m.modified().ok())
                    .and_then(|m| m.elapsed().ok())
                    .unwrap_or_default();
                if age > Duration::from_secs(120) {
                    let _ = store.inner.delete(&lock).await;
                    continue;
                }
                if started.elapsed() > Duration::from_secs(60) {
                    return Err(StateError::new(
                        StateErrorKind::Unreachable,
                        format!("the branch pointer's lock {lock} in {} stayed taken for a minute; if no other push is running, delete it and run the job again", store.shown),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50 + fastrand_ms())).await;
            }
            Err(e) => return Err(classify(store, "locking the branch pointer", e)),
        }
    }
    let result = async {
        let current = read_pointer(store, location).await?;
        if let Some((pointer, _)) = &current {
            if stays(pointer, new) {
                return Ok(PushOutcome::Kept {
                    newer: pointer.clone(),
                });
            }
        }
        let body = serde_json::to_vec_pretty(new).expect("a pointer serializes");
        store
            .inner
            .put(location, PutPayload::from(body))
            .await
            .map_err(|e| classify(store, "moving the branch pointer", e))?;
        Ok(PushOutcome::Moved {
            previous: current.map(|(p, _)| p.commit),
        })
    }
    .await;
    let _ = store.inner.delete(&lock).await;
    result
}

/// A little jitter so that racing pushes do not retry in lockstep.
fn fastrand_ms() -> u64 {
    u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            % 100,
    )
}
