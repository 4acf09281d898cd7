//! A tiny static HTTP server on 127.0.0.1 that serves a folder laid out like the release downloads
//! (`v<version>/foldup-<version>-<target>.tar.gz`, `.sha256`, `install.sh`), so that `install.sh`,
//! the orb, the GitLab component and the GitHub Action install foldup exactly as users do, but from
//! this machine. GET only; everything else is 405; paths with `..` are 404.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

pub struct ReleaseMirror {
    url: String,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl ReleaseMirror {
    /// Serves `root` until the mirror is dropped.
    pub fn serve(root: &Path) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let stopping = Arc::clone(&stop);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let root = root.clone();
                    thread::spawn(move || {
                        let _ = answer(stream, &root);
                    });
                }
            }
        });
        Ok(Self {
            url: format!("http://{addr}"),
            stop,
            addr,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ReleaseMirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn answer(stream: TcpStream, root: &Path) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("/");
    let mut stream = stream;
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, "405 Method Not Allowed", b"", method == "HEAD");
    }
    match resolve(root, target) {
        Some(file) if file.is_file() => {
            let body = std::fs::read(&file)?;
            respond(&mut stream, "200 OK", &body, method == "HEAD")
        }
        _ => respond(
            &mut stream,
            "404 Not Found",
            b"not found\n",
            method == "HEAD",
        ),
    }
}

fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?.trim_start_matches('/');
    let relative = Path::new(path);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(root.join(relative))
}

fn respond(stream: &mut TcpStream, status: &str, body: &[u8], head_only: bool) -> Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()?;
    Ok(())
}
