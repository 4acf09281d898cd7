//! Accepting connections, and resetting them mid-body when that fault is set.
//!
//! A reset cannot be expressed in HTTP, so it happens below it: while the fault is armed, each
//! new connection's request head is read here first. Admin requests and connections that no
//! longer need a reset are handed to the HTTP server with the bytes already read replayed in
//! front of the socket; the others are read a little into their body and then closed with
//! `SO_LINGER` 0, which makes the kernel send a TCP RST. Every response carries
//! `Connection: close`, so each request arrives on a fresh connection and meets the fault that
//! is set when it arrives.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::record::RecordedRequest;
use crate::state::ServerState;

/// The most of a request head the listener reads before giving up on finding its end.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most body the listener reads before resetting.
const MAX_BODY_BEFORE_RESET: u64 = 256 * 1024;
/// How long a slow client may take to send what the listener wants to see.
const READ_PATIENCE: Duration = Duration::from_secs(10);

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

/// The listener handed to `axum::serve`: connections that reach HTTP.
pub(crate) struct FaultAwareListener {
    incoming: mpsc::Receiver<(ReplayStream, SocketAddr)>,
    local_addr: SocketAddr,
}

impl FaultAwareListener {
    /// Starts accepting on `listener`; must run inside the server's runtime.
    pub(crate) fn spawn(listener: TcpListener, state: Arc<ServerState>) -> io::Result<Self> {
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
                if state.reset_armed() {
                    let sender = sender.clone();
                    let state = state.clone();
                    tokio::spawn(async move {
                        if let Some(stream) = reset_or_pass(stream, &state).await {
                            let _ = sender.send((stream, peer)).await;
                        }
                    });
                } else if sender
                    .send((ReplayStream::new(Vec::new(), stream), peer))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(Self {
            incoming,
            local_addr,
        })
    }
}

impl axum::serve::Listener for FaultAwareListener {
    type Io = ReplayStream;
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

/// Resets the connection mid-body if a reset is due and it is an API request; otherwise
/// returns it for HTTP with what was read replayed.
async fn reset_or_pass(mut stream: TcpStream, state: &ServerState) -> Option<ReplayStream> {
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
    if head.target.starts_with("/__admin") || !state.claim_reset() {
        return Some(ReplayStream::new(buffer, stream));
    }

    let header = |name: &str| {
        head.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    // Enough body to be sure the upload had started, never all of it.
    let wanted = match content_length {
        Some(length) if length > 0 => (length / 2).clamp(1, MAX_BODY_BEFORE_RESET),
        _ if chunked => 1,
        _ => 0,
    };
    let mut body_bytes = (buffer.len() - head.length) as u64;
    while body_bytes < wanted {
        match tokio::time::timeout(READ_PATIENCE, stream.read(&mut chunk)).await {
            Ok(Ok(read)) if read > 0 => body_bytes += read as u64,
            _ => break,
        }
    }
    let (path, query) = match head.target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (head.target.clone(), None),
    };
    state.record(RecordedRequest {
        seq: state.next_seq(),
        method: head.method,
        path,
        query,
        headers: head.headers,
        fields: Vec::new(),
        archive: None,
        body_bytes,
        body_error: Some("the server reset the connection".to_owned()),
        fault: Some("reset_mid_body".to_owned()),
        response_status: None,
    });
    // SO_LINGER 0: closing now sends RST instead of FIN.
    let _ = stream.set_zero_linger();
    drop(stream);
    None
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
}
