//! The client against a stand-in server on 127.0.0.1: what it sends, what it refuses, and how
//! it bounds answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use foldup_http::header::HeaderName;
use foldup_http::{
    ClientOptions, Credential, HttpClient, HttpError, NetworkSettings, SetupError, Url,
};

const TOKEN: &str = "canary-token-5f2a9c";

/// What reached the stand-in: the request line's target and the token header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

async fn start() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new()
        .route(
            "/redirect",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [("location", "http://elsewhere.invalid/")],
                )
                    .into_response()
            }),
        )
        .route("/big", get(|| async { "x".repeat(4096) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .fallback(move |uri: Uri, headers: HeaderMap| {
            let record = record.clone();
            async move {
                let token = headers
                    .get("private-token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                record.lock().unwrap().push((uri.to_string(), token));
                format!("echo {TOKEN}").into_response()
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), seen)
}

fn client(network: NetworkSettings) -> HttpClient {
    let mut options = ClientOptions::new(network);
    options.credential = Some(Credential::new(
        HeaderName::from_static("private-token"),
        TOKEN,
    ));
    options.max_answer_bytes = 1024;
    HttpClient::new(options).unwrap()
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn sends_the_credential_and_never_follows_a_redirect() {
    let (base, seen) = start().await;
    let http = client(NetworkSettings::default());
    let answer = http
        .send(
            http.get(Url::parse(&format!("{base}/redirect")).unwrap()),
            SECOND,
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 302);
    assert_eq!(answer.header("location"), Some("http://elsewhere.invalid/"));
    let answer = http
        .send(
            http.get(Url::parse(&format!("{base}/hello")).unwrap()),
            SECOND,
        )
        .await
        .unwrap();
    assert_eq!(&answer.body[..], format!("echo {TOKEN}").as_bytes());
    assert_eq!(
        seen.lock().unwrap()[0],
        ("/hello".to_owned(), Some(TOKEN.to_owned()))
    );
    assert_eq!(http.clean(&format!("said {TOKEN}\nthen")), "said *** then");
}

#[tokio::test]
async fn answers_and_time_are_bounded() {
    let (base, _) = start().await;
    let http = client(NetworkSettings::default());
    let error = http
        .send(
            http.get(Url::parse(&format!("{base}/big")).unwrap()),
            SECOND,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, HttpError::TooLarge { limit: 1024, .. }),
        "{error:?}"
    );
    let started = std::time::Instant::now();
    let error = http
        .send(
            http.get(Url::parse(&format!("{base}/slow")).unwrap()),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::TimedOut { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_credential_never_goes_over_plain_http_to_another_machine() {
    // The proxy (the stand-in) would record whatever foldup sent through it.
    let (proxy, seen) = start().await;
    let network = NetworkSettings {
        http_proxy: Some(proxy.clone()),
        ..NetworkSettings::default()
    };
    let http = client(network.clone());
    let error = http
        .send(
            http.get(Url::parse("http://api.example.com/pulls").unwrap()),
            SECOND,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, HttpError::PlainHttpToOtherHost { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("http://api.example.com"),
        "{error}"
    );
    assert!(seen.lock().unwrap().is_empty(), "the request went out");

    // Allowed explicitly, it goes through the snapshot's proxy.
    let mut options = ClientOptions::new(network);
    options.credential = Some(Credential::new(
        HeaderName::from_static("private-token"),
        TOKEN,
    ));
    options.allow_insecure_http = true;
    let http = HttpClient::new(options).unwrap();
    http.send(
        http.get(Url::parse("http://api.example.com/pulls").unwrap()),
        SECOND,
    )
    .await
    .unwrap();
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            "http://api.example.com/pulls".to_owned(),
            Some(TOKEN.to_owned())
        )
    );
}

#[tokio::test]
async fn a_refused_connection_names_the_cause_without_the_credential() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = client(NetworkSettings::default());
    let error = http
        .send(
            http.get(Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap()),
            SECOND,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Unreachable { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains(TOKEN));
}

#[test]
fn bad_settings_are_named() {
    let mut options = ClientOptions::new(NetworkSettings::default());
    options.credential = Some(Credential::new(
        HeaderName::from_static("private-token"),
        "a\nb",
    ));
    let error = HttpClient::new(options).unwrap_err();
    assert!(
        matches!(error, SetupError::UnsendableCredential { .. }),
        "{error}"
    );
    assert!(!format!("{error:?}").contains("a\nb"));

    let dir = tempfile::tempdir().unwrap();
    let missing = NetworkSettings {
        ca_file: Some(dir.path().join("none.pem")),
        ..NetworkSettings::default()
    };
    let error = HttpClient::new(ClientOptions::new(missing)).unwrap_err();
    assert!(
        matches!(error, SetupError::CaFileUnreadable { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("SSL_CERT_FILE"), "{error}");
}
