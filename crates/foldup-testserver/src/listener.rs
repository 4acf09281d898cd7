//! Accepting connections: TLS when the server has a certificate, and the faults that live below
//! HTTP (resets, silence, closing without an answer, answering something that is not HTTP).
//!
//! Those faults cannot be expressed in HTTP, so they happen before it: while one is armed, each
//! new connection is looked at here first. Admin requests and connections that no longer need a
//! fault are handed to the HTTP server with the bytes already read replayed in front of the
//! socket; the others meet the fault. Every response carries `Connection: close`, so each request
//! arrives on a fresh connection and meets the fault that is set when it arrives.
//!
//! On a TLS server only [`Fault::Silent`] applies below HTTP (it needs no plaintext); the others
//! read the request head, which TLS hides from the listener, and are not applied there.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::fault::Fault;
use crate::record::RecordedRequest;
use crate::state::ServerState;

/// The most of a request head the listener reads before giving up on finding its end.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most body the listener reads before resetting.
const MAX_BODY_BEFORE_RESET: u64 = 256 * 1024;
/// How long a slow client may take to send what the listener wants to see.
const READ_PATIENCE: Duration = Duration::from_secs(10);
/// How long the listener waits for a request line it only peeks at (silence).
const PEEK_PATIENCE: Duration = Duration::from_secs(1);
/// What a server that is not HTTP says first (an SSH daemon on the port, say).
const NOT_HTTP_GREETING: &[u8] = b"SSH-2.0-OpenSSH_9.6p1 foldup-testserver\r\n";

/// A TCP connection whose first bytes may already have been read by the listener.
pub(crate) struct ReplayStream {
    prefix: Vec<u8>,
    offset: usize,
    stream: TcpStream,
}

impl ReplayStream {
    fn new(prefix: Vec<u8>, stream: TcpStream) -> Self {
        Self {
            prefix,
            offset: 0,
            stream,
        }
    }
}

impl AsyncRead for ReplayStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.offset < self.prefix.len() {
            let take = (self.prefix.len() - self.offset).min(buf.remaining());
            let start = self.offset;
            buf.put_slice(&self.prefix[start..start + take]);
            self.offset += take;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ReplayStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A connection as the HTTP server sees it: plain, or inside TLS.
pub(crate) enum Connection {
    Plain(ReplayStream),
    Tls(Box<TlsStream<ReplayStream>>),
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Connection::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The listener handed to `axum::serve`: connections that reach HTTP.
pub(crate) struct FaultAwareListener {
    incoming: mpsc::Receiver<(Connection, SocketAddr)>,
    local_addr: SocketAddr,
}

impl FaultAwareListener {
    /// Starts accepting on `listener`, speaking TLS through `tls` when given; must run inside the
    /// server's runtime.
    pub(crate) fn spawn(
        listener: TcpListener,
        state: Arc<ServerState>,
        tls: Option<TlsAcceptor>,
    ) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (sender, incoming) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: wait instead of spinning.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if sender.is_closed() {
                    break;
                }
                let sender = sender.clone();
                let state = state.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let Some(stream) = misbehave_or_pass(stream, &state, tls.is_some()).await
                    else {
                        return;
                    };
                    let connection = match tls {
                        None => Connection::Plain(stream),
                        // A client that refuses the certificate ends here, as it would with any
                        // HTTPS server.
                        Some(acceptor) => {
                            match tokio::time::timeout(READ_PATIENCE, acceptor.accept(stream)).await
                            {
                                Ok(Ok(stream)) => Connection::Tls(Box::new(stream)),
                                _ => return,
                            }
                        }
                    };
                    let _ = sender.send((connection, peer)).await;
                });
            }
        });
        Ok(Self {
            incoming,
            local_addr,
        })
    }
}

impl axum::serve::Listener for FaultAwareListener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accept loop ended: the server is shutting down.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// A request head as the listener parsed it.
struct Head {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    /// Bytes of `buffer` that belong to the head, blank line included.
    length: usize,
}

fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
}

fn parse_head(buffer: &[u8], length: usize) -> Option<Head> {
    let text = String::from_utf8_lossy(&buffer[..length]);
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(Head {
        method,
        target,
        headers,
        length,
    })
}

/// The method and target of a request line, from the first bytes of a connection.
fn parse_request_line(bytes: &[u8]) -> Option<(String, String)> {
    let line_end = bytes.iter().position(|&b| b == b'\r' || b == b'\n')?;
    let text = std::str::from_utf8(&bytes[..line_end]).ok()?;
    let mut parts = text.split(' ');
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}

/// Applies the fault below HTTP that is due, if any; otherwise returns the connection for HTTP
/// with whatever was read replayed.
async fn misbehave_or_pass(
    stream: TcpStream,
    state: &ServerState,
    tls: bool,
) -> Option<ReplayStream> {
    match state.raw_fault_armed() {
        None => Some(ReplayStream::new(Vec::new(), stream)),
        Some(Fault::Silent { .. }) => stay_silent_or_pass(stream, state).await,
        // The others need the plaintext request head.
        Some(_) if tls => Some(ReplayStream::new(Vec::new(), stream)),
        Some(_) => misbehave_after_head_or_pass(stream, state).await,
    }
}

/// Holds the connection open without reading from it or answering, unless it is an admin
/// request (seen by peeking, which reads nothing) or no silence is due any more.
async fn stay_silent_or_pass(stream: TcpStream, state: &ServerState) -> Option<ReplayStream> {
    let mut peeked = [0u8; 256];
    let mut seen = 0;
    let give_up = tokio::time::Instant::now() + PEEK_PATIENCE;
    while tokio::time::Instant::now() < give_up {
        match tokio::time::timeout_at(give_up, stream.peek(&mut peeked)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(read)) => {
                seen = read;
                if peeked[..read].contains(&b'\n') || read == peeked.len() {
                    break;
                }
                // Part of a line: wait for more instead of spinning on the same bytes.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let request_line = parse_request_line(&peeked[..seen]);
    if request_line
        .as_ref()
        .is_some_and(|(_, target)| target.starts_with("/__admin"))
    {
        return Some(ReplayStream::new(Vec::new(), stream));
    }
    let Some(fault) = state.claim_raw_fault() else {
        return Some(ReplayStream::new(Vec::new(), stream));
    };
    let (method, target) = request_line.unwrap_or_default();
    record_raw(
        state,
        &fault,
        method,
        &target,
        Vec::new(),
        0,
        "the server never read or answered",
    );
    // Never read, never answer; the connection closes when the server stops.
    let _held = stream;
    std::future::pending::<()>().await;
    None
}

/// Reads the request head, then resets, closes or answers gibberish if such a fault is due and it
/// is an API request; otherwise returns the connection with what was read replayed.
async fn misbehave_after_head_or_pass(
    mut stream: TcpStream,
    state: &ServerState,
) -> Option<ReplayStream> {
    let mut buffer = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = find_head_end(&buffer) {
            break Some(end);
        }
        if buffer.len() > MAX_HEAD_BYTES {
            break None;
        }
        match tokio::time::timeout(READ_PATIENCE, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break None,
            Ok(Ok(read)) => buffer.extend_from_slice(&chunk[..read]),
        }
    };
    let head = head_end.and_then(|end| parse_head(&buffer, end));
    let Some(head) = head else {
        // Not HTTP as far as we can tell: let the HTTP server answer it.
        return Some(ReplayStream::new(buffer, stream));
    };
    if head.target.starts_with("/__admin") {
        return Some(ReplayStream::new(buffer, stream));
    }
    let Some(fault) = state.claim_raw_fault() else {
        return Some(ReplayStream::new(buffer, stream));
    };
    let mut body_bytes = (buffer.len() - head.length) as u64;
    match fault {
        Fault::ResetMidBody { .. } => {
            let header = |name: &str| {
                head.headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            let content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());
            let chunked = header("transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
            // Enough body to be sure the upload had started, never all of it.
            let wanted = match content_length {
                Some(length) if length > 0 => (length / 2).clamp(1, MAX_BODY_BEFORE_RESET),
                _ if chunked => 1,
                _ => 0,
            };
            while body_bytes < wanted {
                match tokio::time::timeout(READ_PATIENCE, stream.read(&mut chunk)).await {
                    Ok(Ok(read)) if read > 0 => body_bytes += read as u64,
                    _ => break,
                }
            }
            record_raw(
                state,
                &fault,
                head.method,
                &head.target,
                head.headers,
                body_bytes,
                "the server reset the connection",
            );
            // SO_LINGER 0: closing now sends RST instead of FIN.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Fault::CloseWithoutAnswer { .. } | Fault::NotHttp => {
            let (error, greeting) = if fault == Fault::NotHttp {
                (
                    "the server answered with bytes that are not HTTP",
                    NOT_HTTP_GREETING,
                )
            } else {
                (
                    "the server closed the connection without answering",
                    &b""[..],
                )
            };
            record_raw(
                state,
                &fault,
                head.method,
                &head.target,
                head.headers,
                body_bytes,
                error,
            );
            let _ = stream.write_all(greeting).await;
            // FIN, then drain what the client still sends so that closing does not turn into a
            // reset (unread data at close makes the kernel send RST).
            let _ = stream.shutdown().await;
            let drained = async {
                while let Ok(read) = stream.read(&mut chunk).await {
                    if read == 0 {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(READ_PATIENCE, drained).await;
        }
        // Claimed only for the faults above.
        _ => {}
    }
    None
}

/// Records a request that met a fault below HTTP.
fn record_raw(
    state: &ServerState,
    fault: &Fault,
    method: String,
    target: &str,
    headers: Vec<(String, String)>,
    body_bytes: u64,
    error: &str,
) {
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    };
    state.record(RecordedRequest {
        seq: state.next_seq(),
        method,
        path,
        query,
        headers,
        fields: Vec::new(),
        archive: None,
        body_bytes,
        body_error: Some(error.to_owned()),
        fault: Some(fault.name().to_owned()),
        response_status: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_parsed_with_lowercase_header_names() {
        let raw = b"POST /api/v1/x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nbody";
        let end = find_head_end(raw).unwrap();
        let head = parse_head(raw, end).unwrap();
        assert_eq!(head.method, "POST");
        assert_eq!(head.target, "/api/v1/x?a=1");
        assert_eq!(
            head.headers[1],
            ("content-length".to_owned(), "10".to_owned())
        );
        assert_eq!(&raw[end..], b"body");
    }

    #[test]
    fn request_lines_are_read_from_a_peek() {
        assert_eq!(
            parse_request_line(b"GET /__admin/requests HTTP/1.1\r\nHo"),
            Some(("GET".to_owned(), "/__admin/requests".to_owned()))
        );
        assert_eq!(parse_request_line(b"GET /__adm"), None);
        assert_eq!(parse_request_line(b"\x16\x03\x01\x02\x00"), None);
    }
}
