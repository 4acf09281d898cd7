//! The server's shared, mutable state: configuration, fault, uploads, runs and the record.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::fault::{ActiveFault, Fault, RunPlan};
use crate::record::{Inspection, RecordedRequest};
use crate::ServerConfig;

/// An upload Datafold accepted.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub ci_config_id: u64,
    pub commit_sha: String,
    pub run_type: String,
}

/// A recorded request, and whether its archive's entries are still being inflated and hashed.
struct Recorded {
    request: RecordedRequest,
    inspecting: bool,
}

pub(crate) struct ServerState {
    pub api_keys: Vec<String>,
    pub ci_config_ids: Vec<u64>,
    pub max_upload_bytes: u64,
    /// Hold each answer until its archive is inspected (see `ServerConfig`).
    pub inspect_before_answering: bool,
    record_file: Option<PathBuf>,
    fault: Mutex<ActiveFault>,
    run_plan: Mutex<RunPlan>,
    /// Polls of the runs list per (CI config, pr_sha).
    polls: Mutex<HashMap<(u64, String), u32>>,
    uploads: Mutex<Vec<Upload>>,
    requests: Mutex<Vec<Recorded>>,
    /// Signalled whenever a request stops being inspected (its inspection ended, or it was
    /// cleared).
    inspected: Condvar,
    /// Counts the clears, so that an inspection can tell its request is gone and stop early.
    generation: AtomicU64,
    next_seq: AtomicU64,
}

/// A poisoned lock only means another request panicked; the data is still usable for a test
/// server, and refusing every later request would hide the first failure.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ServerState {
    pub fn new(config: &ServerConfig) -> Self {
        Self {
            api_keys: config.api_keys.clone(),
            ci_config_ids: config.ci_config_ids.clone(),
            max_upload_bytes: config.max_upload_bytes,
            inspect_before_answering: config.inspect_before_answering,
            record_file: config.record_file.clone(),
            fault: Mutex::new(ActiveFault::new(config.fault.clone())),
            run_plan: Mutex::new(config.run_plan.clone()),
            polls: Mutex::new(HashMap::new()),
            uploads: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            inspected: Condvar::new(),
            generation: AtomicU64::new(0),
            next_seq: AtomicU64::new(1),
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::SeqCst)
    }

    pub fn set_fault(&self, fault: Fault) {
        *lock(&self.fault) = ActiveFault::new(fault);
    }

    pub fn next_fault(&self) -> Option<Fault> {
        lock(&self.fault).next_for_request()
    }

    /// The fault below HTTP that new connections meet, if one is due.
    pub fn raw_fault_armed(&self) -> Option<Fault> {
        lock(&self.fault).raw_armed()
    }

    /// Counts one application of the fault below HTTP and returns it, if one is still due.
    pub fn claim_raw_fault(&self) -> Option<Fault> {
        lock(&self.fault).claim_raw()
    }

    pub fn set_run_plan(&self, plan: RunPlan) {
        *lock(&self.run_plan) = plan;
        lock(&self.polls).clear();
    }

    pub fn run_plan(&self) -> RunPlan {
        lock(&self.run_plan).clone()
    }

    /// Counts one poll of the runs of `pr_sha` and returns how many there have been.
    pub fn count_poll(&self, ci_config_id: u64, pr_sha: &str) -> u32 {
        let mut polls = lock(&self.polls);
        let count = polls.entry((ci_config_id, pr_sha.to_owned())).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    pub fn add_upload(&self, upload: Upload) {
        lock(&self.uploads).push(upload);
    }

    pub fn uploads(&self) -> Vec<Upload> {
        lock(&self.uploads).clone()
    }

    /// Appends a request to the record and rewrites the record file, if any (and if no
    /// inspection is under way).
    pub fn record(&self, request: RecordedRequest) {
        let mut requests = lock(&self.requests);
        requests.push(Recorded {
            request,
            inspecting: false,
        });
        self.write_record_file_if_complete(&requests);
    }

    /// Appends a request whose archive is still to be inspected; [`Self::finish_inspection`]
    /// completes it. Until then every reader of the record waits, and the record file is not
    /// rewritten. Returns the generation to hand to [`Self::cleared_since`].
    pub fn record_inspecting(&self, request: RecordedRequest) -> u64 {
        let mut requests = lock(&self.requests);
        requests.push(Recorded {
            request,
            inspecting: true,
        });
        // Read under the lock, so that a clear either removed this request or comes later.
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether the record was cleared since `generation`, taking any request of that generation
    /// with it.
    pub fn cleared_since(&self, generation: u64) -> bool {
        self.generation.load(Ordering::SeqCst) != generation
    }

    /// Fills in the archive of request `seq` with what its inspection found, and rewrites the
    /// record file once no inspection is under way. A request cleared meanwhile stays forgotten.
    pub fn finish_inspection(&self, seq: u64, inspection: Inspection) {
        let mut requests = lock(&self.requests);
        let Some(recorded) = requests
            .iter_mut()
            .find(|r| r.inspecting && r.request.seq == seq)
        else {
            return;
        };
        if let Some(archive) = recorded.request.archive.as_mut() {
            archive.entries = inspection.entries;
            archive.zip_error = inspection.zip_error;
        }
        recorded.inspecting = false;
        self.inspected.notify_all();
        self.write_record_file_if_complete(&requests);
    }

    /// Every request recorded, once none is being inspected: no reader sees an archive whose
    /// entries are not yet hashed. Blocking.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let requests = self
            .inspected
            .wait_while(lock(&self.requests), |requests| {
                requests.iter().any(|r| r.inspecting)
            })
            .unwrap_or_else(PoisonError::into_inner);
        requests.iter().map(|r| r.request.clone()).collect()
    }

    /// Forgets every request, those being inspected included: their inspections stop early and
    /// their results are dropped.
    pub fn clear_requests(&self) {
        let mut requests = lock(&self.requests);
        requests.clear();
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.inspected.notify_all();
        self.write_record_file_if_complete(&requests);
    }

    /// Creates the record file, empty.
    pub fn start_record_file(&self) {
        self.write_record_file(&[]);
    }

    fn write_record_file_if_complete(&self, requests: &[Recorded]) {
        if !requests.iter().any(|r| r.inspecting) {
            let requests: Vec<&RecordedRequest> = requests.iter().map(|r| &r.request).collect();
            self.write_record_file(&requests);
        }
    }

    /// Writes the whole record as JSON, through a temporary file and a rename so that a reader
    /// never sees half a file. Called with the record locked, so writers never interleave.
    fn write_record_file(&self, requests: &[&RecordedRequest]) {
        let Some(path) = &self.record_file else {
            return;
        };
        let mut temporary = path.clone().into_os_string();
        temporary.push(".partial");
        let written = serde_json::to_vec_pretty(requests)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&temporary, json))
            .and_then(|()| std::fs::rename(&temporary, path));
        if let Err(e) = written {
            eprintln!(
                "foldup-testserver: could not write the record file {}: {e}",
                path.display()
            );
        }
    }
}
