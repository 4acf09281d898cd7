//! The test server's TLS mode and its faults below HTTP (silence, closing without an answer,
//! answering something that is not HTTP), over real sockets on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use foldup_testkit::stand_in::throwaway_ca;
use foldup_testserver::{Fault, ServerConfig, TestServer};
use reqwest::StatusCode;

const KEY: &str = "test-key-0123456789";
const CI: u64 = 7;

fn runs_url(server: &TestServer) -> String {
    format!("{}/api/v1/ci/{CI}/runs?pr_sha=abc&limit=1", server.url())
}

#[tokio::test]
async fn tls_mode_serves_https_to_clients_that_trust_its_ca_only() {
    let (ca_pem, identity) = throwaway_ca("foldup-testserver throwaway CA");
    let mut config = ServerConfig::new(KEY, CI);
    config.tls = Some(identity);
    let server = TestServer::start(config);
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );

    let trusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let answer = trusting
        .get(runs_url(&server))
        .header("Authorization", format!("Key {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(server.requests().len(), 1);

    let distrusting = reqwest::Client::builder().no_proxy().build().unwrap();
    let error = distrusting
        .get(runs_url(&server))
        .header("Authorization", format!("Key {KEY}"))
        .send()
        .await
        .expect_err("a client that does not know the CA connected");
    let mut chain = error.to_string();
    let mut cause: &dyn std::error::Error = &error;
    while let Some(source) = cause.source() {
        chain.push_str(&format!(": {source}"));
        cause = source;
    }
    assert!(chain.to_lowercase().contains("certificate"), "{chain}");
    assert_eq!(
        server.requests().len(),
        1,
        "no request gets past a refused handshake"
    );
}

#[test]
fn silence_accepts_and_never_reads_or_answers() {
    let server = TestServer::start(ServerConfig::new(KEY, CI));
    server.set_fault(Fault::Silent { times: Some(1) });
    let mut stream = TcpStream::connect(server.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    stream
        .write_all(b"GET /api/v1/ci/7/runs HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    let outcome = stream.read(&mut buffer);
    assert!(
        matches!(&outcome, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "a silent server answered: {outcome:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1000));
    let recorded = server.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].fault.as_deref(), Some("silent"));
    assert_eq!(recorded[0].path, "/api/v1/ci/7/runs");
    assert_eq!(recorded[0].response_status, None);

    // Once its count is spent, the next connection is served.
    let mut stream = TcpStream::connect(server.address()).unwrap();
    stream
        .write_all(b"GET /api/v1/ci/7/runs HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
}

#[test]
fn closing_without_an_answer_ends_the_connection_with_nothing() {
    let server = TestServer::start(ServerConfig::new(KEY, CI));
    server.set_fault(Fault::CloseWithoutAnswer { times: None });
    let mut stream = TcpStream::connect(server.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /api/v1/ci/7/runs HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
    let recorded = server.requests();
    assert_eq!(recorded[0].fault.as_deref(), Some("close_without_answer"));
}

#[test]
fn not_http_answers_a_greeting_that_is_not_http() {
    let server = TestServer::start(ServerConfig::new(KEY, CI));
    server.set_fault(Fault::NotHttp);
    let mut stream = TcpStream::connect(server.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /api/v1/ci/7/runs HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("SSH-2.0-"), "{answer}");
    assert_eq!(server.requests()[0].fault.as_deref(), Some("not_http"));
}

#[test]
fn admin_requests_get_past_faults_below_http() {
    for fault in [
        Fault::Silent { times: None },
        Fault::CloseWithoutAnswer { times: None },
        Fault::NotHttp,
    ] {
        let server = TestServer::start(ServerConfig::new(KEY, CI));
        server.set_fault(fault.clone());
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /__admin/requests HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{fault:?}: {answer}");
    }
}

#[tokio::test]
async fn echo_headers_repeats_the_credentials_in_the_error() {
    let server = TestServer::start(ServerConfig::new(KEY, CI));
    server.set_fault(Fault::EchoHeaders { status: 401 });
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(runs_url(&server))
        .header("Authorization", format!("Key {KEY}"))
        .header("PRIVATE-TOKEN", "glpat-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = answer.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("authorization: Key {KEY}")),
        "{detail}"
    );
    assert!(detail.contains("private-token: glpat-secret"), "{detail}");
    assert_eq!(body["message"], body["detail"]);
}
