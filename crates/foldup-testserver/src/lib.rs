//! A Datafold-compatible HTTP server for foldup's tests, scripts and demo.
//!
//! It speaks the three endpoints datafold-sdk 0.4.1 uses (upload, post-upload check, CI runs)
//! on 127.0.0.1, records every request it receives (headers, form fields, and the uploaded
//! zip's entries with their hashes), and misbehaves on demand ([`Fault`]). Rust tests use
//! [`TestServer`]; other processes use the `foldup-testserver` binary and its `/__admin`
//! endpoints.
//!
//! An upload is answered as soon as its body has arrived and the zip's central directory has been
//! read, as a real service stores an upload and answers: an unreadable central directory or a
//! missing root `manifest.json` still gets its 400 at once. Inflating and hashing every entry
//! happens afterwards, on a blocking thread, and completes the recorded request; corrupt entry
//! content found then sets the archive's `zip_error` but cannot change the answer already sent.
//! Every way to read the record waits for the inspections under way, so nobody sees an archive
//! half hashed: [`TestServer::requests`], `GET /__admin/requests`, and the record file, which is
//! rewritten only when no inspection is under way. [`ServerConfig::inspect_before_answering`]
//! holds each answer until its inspection is done instead, for readers of the record file that
//! read it as soon as their client has its answer (the binary sets it with `--record`).
//!
//! ```no_run
//! use foldup_testserver::{Fault, ServerConfig, TestServer};
//!
//! let server = TestServer::start(ServerConfig::new("canary-key", 1));
//! server.set_fault(Fault::Unavailable { times: 2 });
//! // … run the client against server.url() …
//! assert_eq!(server.requests().len(), 3);
//! ```

mod admin;
mod api;
mod fault;
mod listener;
mod record;
mod state;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::response::Response;

pub use fault::{Fault, RunOutcome, RunPlan};
pub use record::{sha256_hex, ArchiveEntry, RecordedArchive, RecordedRequest};

use listener::FaultAwareListener;
use state::ServerState;

/// How a server starts. Faults and the run plan can be changed while it runs.
#[derive(Clone)]
pub struct ServerConfig {
    /// Keys accepted in `Authorization: Key <key>`.
    pub api_keys: Vec<String>,
    /// CI config ids that exist; others get Datafold's 404.
    pub ci_config_ids: Vec<u64>,
    /// Address to listen on; 127.0.0.1 unless a container must reach the server.
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    pub fault: Fault,
    pub run_plan: RunPlan,
    /// Where to write every recorded request as JSON after each request (once the inspection of
    /// its archive is done).
    pub record_file: Option<PathBuf>,
    /// Hold the answer to an upload until its archive's entries are inflated and hashed, so that
    /// the record (and the record file) is complete by the time the client has its answer. Off by
    /// default: the answer goes out once the central directory is read, and readers of the record
    /// wait for the inspection instead. The answer itself is the same either way.
    pub inspect_before_answering: bool,
    /// Bodies larger than this are refused with 413.
    pub max_upload_bytes: u64,
    /// Serve HTTPS with this certificate instead of plain HTTP.
    pub tls: Option<TlsIdentity>,
}

/// A certificate chain and its private key (DER; the key in PKCS#8), for serving HTTPS. Tests
/// make a throwaway CA and a certificate for `127.0.0.1` with `rcgen` and trust the CA through
/// `SSL_CERT_FILE`, or deliberately do not.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The server's certificate first, then any intermediates.
    pub cert_chain: Vec<Vec<u8>>,
    pub private_key_pkcs8: Vec<u8>,
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field(
                "cert_chain",
                &format_args!("[{} certificates]", self.cert_chain.len()),
            )
            .field("private_key_pkcs8", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, TestServerError> {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let tls_error = |e: rustls::Error| TestServerError::Tls(e.to_string());
        // The provider named explicitly, so no process-wide default is needed or changed.
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs = self
            .cert_chain
            .iter()
            .map(|der| CertificateDer::from(der.clone()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.private_key_pkcs8.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(tls_error)?;
        // HTTP/1.1 only, so that `Connection: close` gives each request its own connection.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

impl ServerConfig {
    /// A server that accepts one key and knows one CI config, on a free port of 127.0.0.1.
    pub fn new(api_key: impl Into<String>, ci_config_id: u64) -> Self {
        Self {
            api_keys: vec![api_key.into()],
            ci_config_ids: vec![ci_config_id],
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            fault: Fault::None,
            run_plan: RunPlan::default(),
            record_file: None,
            inspect_before_answering: false,
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
            tls: None,
        }
    }
}

// Keys stay out of Debug output, like everywhere else in foldup.
impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field(
                "api_keys",
                &format_args!("[{} redacted]", self.api_keys.len()),
            )
            .field("ci_config_ids", &self.ci_config_ids)
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("fault", &self.fault)
            .field("run_plan", &self.run_plan)
            .field("record_file", &self.record_file)
            .field("inspect_before_answering", &self.inspect_before_answering)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum TestServerError {
    #[error(
        "The test server could not listen on {address}: {source}. Pick another --port or --bind."
    )]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("The test server could not start its runtime: {0}.")]
    Runtime(std::io::Error),
    #[error("The test server could not use its TLS certificate: {0}.")]
    Tls(String),
}

/// A running server on its own thread and runtime; stops when dropped.
pub struct TestServer {
    address: SocketAddr,
    tls: bool,
    state: Arc<ServerState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server, or panics with the reason: for tests, where that is the right failure.
    pub fn start(config: ServerConfig) -> TestServer {
        match Self::try_start(config) {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts a server on its own thread, returning once it listens.
    pub fn try_start(config: ServerConfig) -> Result<TestServer, TestServerError> {
        let requested = SocketAddr::new(config.bind, config.port);
        let bind_error = |source| TestServerError::Bind {
            address: requested,
            source,
        };
        let tls = config.tls.as_ref().map(TlsIdentity::acceptor).transpose()?;
        let serves_tls = tls.is_some();
        let std_listener = std::net::TcpListener::bind(requested).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let address = std_listener.local_addr().map_err(bind_error)?;

        let state = Arc::new(ServerState::new(&config));
        state.start_record_file();
        // A runtime of its own, so the server works under any test harness (sync or async) and
        // everything it runs, hung handlers included, ends with it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("foldup-testserver")
            .enable_all()
            .build()
            .map_err(TestServerError::Runtime)?;
        let (shutdown, shutdown_signal) = tokio::sync::oneshot::channel::<()>();
        let (started, started_signal) = std::sync::mpsc::channel::<Result<(), std::io::Error>>();
        let server_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("foldup-testserver".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener)
                        .and_then(|l| FaultAwareListener::spawn(l, server_state.clone(), tls))
                    {
                        Ok(listener) => listener,
                        Err(e) => {
                            let _ = started.send(Err(e));
                            return;
                        }
                    };
                    let _ = started.send(Ok(()));
                    let app = admin::routes()
                        .fallback(api::handle)
                        .with_state(server_state)
                        .layer(DefaultBodyLimit::disable())
                        .layer(axum::middleware::map_response(close_connection));
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = shutdown_signal => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(TestServerError::Runtime)?;
        match started_signal.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(bind_error(e)),
            Err(_) => {
                return Err(TestServerError::Runtime(std::io::Error::other(
                    "the server thread stopped",
                )))
            }
        }
        Ok(TestServer {
            address,
            tls: serves_tls,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, or `https://…` when serving TLS (no trailing slash).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.address)
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Every request received so far, in arrival order. Waits for the archives still being
    /// inspected, so every recorded entry has its hash.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Forgets the requests received so far. An inspection under way stops, and its request
    /// stays forgotten.
    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// Replaces the fault in force; counted faults start counting afresh.
    pub fn set_fault(&self, fault: Fault) {
        self.state.set_fault(fault);
    }

    /// Replaces how CI runs end; poll counts start afresh.
    pub fn set_run_plan(&self, plan: RunPlan) {
        self.state.set_run_plan(plan);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One request per connection, so that a fault set between two requests always meets the
/// second one on a fresh connection (see `listener`).
async fn close_connection(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
