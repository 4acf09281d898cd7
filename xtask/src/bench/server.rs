//! The servers a bench run talks to, all on 127.0.0.1: the Datafold-compatible test server (a
//! child process) and a tiny static file server that plays the release mirror for the install row.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

pub const API_KEY: &str = "bench-api-key-0123456789";
pub const CI_CONFIG_ID: &str = "1";

/// `foldup-testserver` running as a child process; killed when dropped.
pub struct TestServer {
    child: Child,
    pub url: String,
}

impl TestServer {
    pub fn start(binary: &Path) -> Result<Self> {
        let mut child = Command::new(binary)
            .args([
                "--port",
                "0",
                "--api-key",
                API_KEY,
                "--ci-config-id",
                CI_CONFIG_ID,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("no stdout from the test server")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the test server's URL")?;
        let url = line.trim().trim_end_matches('/').to_string();
        if !url.starts_with("http://") {
            let _ = child.kill();
            bail!("the test server printed {line:?} instead of its URL");
        }
        Ok(Self { child, url })
    }

    fn address(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Forgets the requests recorded so far, so that the server's memory does not grow with the
    /// number of uploads measured.
    pub fn clear_requests(&self) -> Result<()> {
        let (status, _) = http(self.address(), "DELETE", "/__admin/requests")?;
        ensure!(
            status == 204,
            "clearing the test server's requests answered {status}"
        );
        Ok(())
    }

    /// The requests recorded since the last clear, as JSON.
    pub fn requests(&self) -> Result<serde_json::Value> {
        let (status, body) = http(self.address(), "GET", "/__admin/requests")?;
        ensure!(
            status == 200,
            "listing the test server's requests answered {status}"
        );
        serde_json::from_slice(&body).context("the test server's request list is not JSON")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request with `Connection: close`; returns the status and the body.
fn http(address: &str, method: &str, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut stream =
        TcpStream::connect(address).with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("a response without headers")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("a response without a status")?;
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a broken chunked body")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("a broken chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        ensure!(data.len() >= size + 2, "a truncated chunked body");
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Serves one file to any GET on 127.0.0.1, one connection at a time, on a background thread
/// that lives as long as the bench.
pub struct FileServer {
    pub url: String,
}

impl FileServer {
    pub fn start(file: &Path) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let name = file
            .file_name()
            .context("a file to serve has a name")?
            .to_string_lossy()
            .into_owned();
        let file: PathBuf = file.to_path_buf();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &file);
            }
        });
        Ok(Self {
            url: format!("http://{address}/{name}"),
        })
    }
}

fn serve(mut stream: TcpStream, file: &Path) -> Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let body = std::fs::read(file)?;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}
