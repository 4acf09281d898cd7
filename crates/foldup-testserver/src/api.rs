//! The Datafold API as datafold-sdk 0.4.1 speaks it, with faults applied on top.
//!
//! Shapes mirrored from Datafold: errors are FastAPI's `{"detail": …}` (a string, or a list of
//! `{loc, msg, type}` for validation errors, status 422); CI runs are `ApiCiRun` objects from
//! Datafold's OpenAPI (`id`, `base_branch`, `base_sha`, `pr_branch`, `pr_sha`, `pr_num` as a
//! string, `status`, `source`). datafold-sdk ignores the body of a successful upload and only
//! checks the status, so the upload answer `{"status": "ok"}` is ours.
//!
//! An uploaded zip is looked at in two steps. Its central directory is read before answering:
//! that is cheap, and enough for the 400s (not a zip, no root `manifest.json`). Its entries are
//! inflated and hashed after answering, on a blocking thread (`spawn_inspection`), as a real
//! service stores an upload and answers without unpacking it first; the recorded request is
//! completed when that is done, and readers of the record wait for it (`ServerState::requests`).

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::fault::Fault;
use crate::record::{hex, Inspection, OpenedZip, RecordedArchive, RecordedRequest};
use crate::state::{ServerState, Upload};

/// The body, as far as the server understood it.
#[derive(Default)]
struct ReceivedBody {
    fields: Vec<(String, String)>,
    /// Its `entries` are filled in by the inspection of `zip`.
    archive: Option<RecordedArchive>,
    /// The archive, when its central directory could be read: still to be inspected.
    zip: Option<OpenedZip>,
    bytes: u64,
    error: Option<String>,
    /// The upload limit was exceeded.
    too_large: bool,
}

/// Handles every request outside `/__admin`: record, fault, then Datafold's own answer.
pub(crate) async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let headers = request.headers().clone();
    let mut body = read_body(&state, request).await;

    let fault = state.next_fault();
    let mut response = match &fault {
        Some(Fault::EchoHeaders { status }) => echo_headers(*status, &method, &path, &headers),
        Some(fault) => fault_response(fault, &path, query.as_deref()).unwrap_or_else(|| {
            datafold_response(&state, &method, &path, query.as_deref(), &headers, &body)
        }),
        None => datafold_response(&state, &method, &path, query.as_deref(), &headers, &body),
    };
    let hangs = fault == Some(Fault::Hang);
    let zip = body.zip.take();
    let seq = state.next_seq();
    let recorded = RecordedRequest {
        seq,
        method: method.to_string(),
        path,
        query,
        headers: header_pairs(&headers),
        fields: body.fields,
        archive: body.archive,
        body_bytes: body.bytes,
        body_error: body.error,
        fault: fault.as_ref().map(|f| f.name().to_owned()),
        response_status: if hangs {
            None
        } else {
            Some(response.status().as_u16())
        },
    };
    match zip {
        None => state.record(recorded),
        Some(zip) => {
            let generation = state.record_inspecting(recorded);
            let inspection = spawn_inspection(state.clone(), seq, generation, zip);
            if state.inspect_before_answering {
                // The task cannot fail: the inspection's panics are caught inside it.
                let _ = inspection.await;
            }
        }
    }
    match fault {
        Some(Fault::Hang) => std::future::pending::<Response>().await,
        Some(Fault::Slow { delay_ms }) => {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            response
        }
        Some(Fault::Trickle { interval_ms }) => {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let interval = Duration::from_millis(interval_ms);
            let trickle = futures_util::stream::iter(bytes.to_vec()).then(move |byte| async move {
                tokio::time::sleep(interval).await;
                Ok::<_, std::io::Error>(vec![byte])
            });
            response = Response::from_parts(parts, Body::from_stream(trickle));
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
        _ => response,
    }
}

/// Inflates and hashes every entry of request `seq`'s archive on a blocking thread, then
/// completes the recorded request. Stops early if the record is cleared meanwhile (the request is
/// gone; its result is dropped). Always finishes the inspection, even if it panics, so that
/// readers of the record never wait forever.
fn spawn_inspection(
    state: Arc<ServerState>,
    seq: u64,
    generation: u64,
    zip: OpenedZip,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let cancelled = || state.cleared_since(generation);
        let inspection = std::panic::catch_unwind(AssertUnwindSafe(|| zip.inspect(&cancelled)))
            .unwrap_or_else(|_| {
                Inspection::failed("the server's inspection of the archive panicked")
            });
        state.finish_inspection(seq, inspection);
    })
}

pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// A refusal in FastAPI's shape: `{"detail": …}` with a status.
struct Refusal {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// FastAPI's error body.
fn detail(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        body: json!({ "detail": message.into() }),
    }
}

/// FastAPI's 422 for missing or invalid fields.
fn validation_error(location: &str, field: &str, message: &str, kind: &str) -> Refusal {
    let body = json!({ "detail": [{ "loc": [location, field], "msg": message, "type": kind }] });
    Refusal {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        body,
    }
}

/// An error answer that repeats the request's headers, credentials included.
fn echo_headers(status: u16, method: &Method, path: &str, headers: &HeaderMap) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let shown: Vec<String> = header_pairs(headers)
        .into_iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    let text = format!(
        "{method} {path} was refused; it came with {}",
        shown.join(", ")
    );
    let body = json!({ "detail": text, "message": text, "error": text });
    (status, axum::Json(body)).into_response()
}

/// The answer a fault replaces Datafold's with; `None` for faults that only delay or distort
/// the normal answer.
fn fault_response(fault: &Fault, path: &str, query: Option<&str>) -> Option<Response> {
    let response = match fault {
        Fault::None
        | Fault::Slow { .. }
        | Fault::Trickle { .. }
        | Fault::ResetMidBody { .. }
        | Fault::Silent { .. }
        | Fault::CloseWithoutAnswer { .. }
        | Fault::NotHttp
        | Fault::EchoHeaders { .. } => return None,
        Fault::Hang => StatusCode::GATEWAY_TIMEOUT.into_response(),
        Fault::Unavailable { .. } => detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable",
        )
        .into_response(),
        Fault::RateLimited { retry_after, .. } => {
            let mut response = detail(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests, slow down",
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(retry_after) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Fault::InternalError => {
            detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
        }
        Fault::Unauthorized => detail(StatusCode::UNAUTHORIZED, "Invalid API key").into_response(),
        Fault::Forbidden => detail(
            StatusCode::FORBIDDEN,
            "This API key may not access this CI config",
        )
        .into_response(),
        Fault::NotFound => detail(StatusCode::NOT_FOUND, "Not Found").into_response(),
        Fault::PayloadTooLarge => {
            detail(StatusCode::PAYLOAD_TOO_LARGE, "Request entity too large").into_response()
        }
        Fault::Status { status, .. } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            detail(status, status.canonical_reason().unwrap_or("Error")).into_response()
        }
        Fault::HtmlErrorPage { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
            let title = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Error")
            );
            let page = format!(
                "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n\
                 <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            );
            (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
        }
        Fault::RedirectTo { base_url, status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
            let mut location = format!("{}{path}", base_url.trim_end_matches('/'));
            if let Some(query) = query {
                location.push('?');
                location.push_str(query);
            }
            let mut response = status.into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
    };
    Some(response)
}

async fn read_body(state: &ServerState, request: Request) -> ReceivedBody {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        read_multipart(state, request).await
    } else {
        read_plain(
            state,
            request,
            content_type.starts_with("application/x-www-form-urlencoded"),
        )
        .await
    }
}

async fn read_plain(state: &ServerState, request: Request, urlencoded: bool) -> ReceivedBody {
    let mut received = ReceivedBody::default();
    let mut data = Vec::new();
    let mut stream = request.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                received.bytes += chunk.len() as u64;
                if received.bytes > state.max_upload_bytes {
                    received.too_large = true;
                    return received;
                }
                data.extend_from_slice(&chunk);
            }
            Err(e) => {
                received.error = Some(format!("the body stopped arriving: {e}"));
                return received;
            }
        }
    }
    if urlencoded {
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&data) {
            Ok(fields) => received.fields = fields,
            Err(e) => received.error = Some(format!("the form body is not urlencoded: {e}")),
        }
    }
    received
}

async fn read_multipart(state: &ServerState, request: Request) -> ReceivedBody {
    let mut received = ReceivedBody::default();
    let mut multipart = match Multipart::from_request(request, &()).await {
        Ok(multipart) => multipart,
        Err(e) => {
            received.error = Some(e.body_text());
            return received;
        }
    };
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                received.error = Some(e.body_text());
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let is_file = file_name.is_some();
        let mut spool = match is_file.then(tempfile::NamedTempFile::new).transpose() {
            Ok(spool) => spool,
            Err(e) => {
                received.error = Some(format!("the server could not spool the file part: {e}"));
                break;
            }
        };
        let mut text = Vec::new();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let failed = loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    size += chunk.len() as u64;
                    received.bytes += chunk.len() as u64;
                    if received.bytes > state.max_upload_bytes {
                        received.too_large = true;
                        break true;
                    }
                    if let Some(spool) = spool.as_mut() {
                        hasher.update(&chunk);
                        if let Err(e) = spool.write_all(&chunk) {
                            received.error =
                                Some(format!("the server could not spool the file part: {e}"));
                            break true;
                        }
                    } else {
                        text.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break false,
                Err(e) => {
                    received.error = Some(e.body_text());
                    break true;
                }
            }
        };
        if failed {
            break;
        }
        match spool {
            None => received
                .fields
                .push((name, String::from_utf8_lossy(&text).into_owned())),
            Some(spool) if name == "artifacts" && received.archive.is_none() => {
                // Only the central directory now; the entries are inflated after answering.
                let path = spool.into_temp_path();
                let opened = tokio::task::spawn_blocking(move || OpenedZip::open(path))
                    .await
                    .unwrap_or_else(|e| Err(format!("reading the archive failed: {e}")));
                let zip_error = match opened {
                    Ok(zip) => {
                        received.zip = Some(zip);
                        None
                    }
                    Err(e) => Some(e),
                };
                received.archive = Some(RecordedArchive {
                    part_name: name,
                    file_name,
                    content_type,
                    size,
                    sha256: hex(&hasher.finalize()),
                    entries: Vec::new(),
                    zip_error,
                });
            }
            // Other file parts are not part of Datafold's API: counted in `bytes`, not kept.
            Some(_) => {}
        }
    }
    received
}

/// The path of a Datafold endpoint this server speaks.
enum Endpoint {
    SubmitArtifacts(u64),
    CheckArtifacts(u64),
    ListRuns(u64),
}

fn route(method: &Method, path: &str) -> Result<Endpoint, Refusal> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (expected, id, make): (Method, &str, fn(u64) -> Endpoint) = match segments.as_slice() {
        ["api", "v1", "dbt", "submit_artifacts", id] => {
            (Method::POST, id, Endpoint::SubmitArtifacts)
        }
        ["api", "v1", "dbt", "post_upload_check_artifacts", id] => {
            (Method::POST, id, Endpoint::CheckArtifacts)
        }
        ["api", "v1", "ci", id, "runs"] => (Method::GET, id, Endpoint::ListRuns),
        _ => return Err(detail(StatusCode::NOT_FOUND, "Not Found")),
    };
    if method != expected {
        return Err(detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"));
    }
    match id.parse::<u64>() {
        Ok(id) => Ok(make(id)),
        Err(_) => Err(validation_error(
            "path",
            "ci_config_id",
            "Input should be a valid integer",
            "int_parsing",
        )),
    }
}

fn authorize(state: &ServerState, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(detail(StatusCode::UNAUTHORIZED, "Not authenticated"));
    };
    let presented = value.to_str().ok().and_then(|v| v.strip_prefix("Key "));
    match presented {
        Some(key) if state.api_keys.iter().any(|k| k == key) => Ok(()),
        _ => Err(detail(StatusCode::UNAUTHORIZED, "Invalid API key")),
    }
}

fn datafold_response(
    state: &ServerState,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &ReceivedBody,
) -> Response {
    answer(state, method, path, query, headers, body).unwrap_or_else(IntoResponse::into_response)
}

fn answer(
    state: &ServerState,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &ReceivedBody,
) -> Result<Response, Refusal> {
    if body.too_large {
        return Err(detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request entity too large",
        ));
    }
    let endpoint = route(method, path)?;
    authorize(state, headers)?;
    let ci_config_id = match endpoint {
        Endpoint::SubmitArtifacts(id) | Endpoint::CheckArtifacts(id) | Endpoint::ListRuns(id) => id,
    };
    if !state.ci_config_ids.contains(&ci_config_id) {
        let message = format!("CI config with id {ci_config_id} not found");
        return Err(detail(StatusCode::NOT_FOUND, message));
    }
    if let Some(error) = &body.error {
        let message = format!("There was an error parsing the body: {error}");
        return Err(detail(StatusCode::BAD_REQUEST, message));
    }
    match endpoint {
        Endpoint::SubmitArtifacts(id) => submit_artifacts(state, id, body),
        Endpoint::CheckArtifacts(id) => check_artifacts(state, id, body),
        Endpoint::ListRuns(id) => list_runs(state, id, query),
    }
}

fn field<'a>(body: &'a ReceivedBody, name: &str) -> Option<&'a str> {
    body.fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn required_field<'a>(body: &'a ReceivedBody, name: &str) -> Result<&'a str, Refusal> {
    match field(body, name) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(validation_error("body", name, "Field required", "missing")),
    }
}

fn required_run_type(body: &ReceivedBody) -> Result<&str, Refusal> {
    let run_type = required_field(body, "run_type")?;
    if run_type == "pull_request" || run_type == "production" {
        Ok(run_type)
    } else {
        let message = "Input should be 'pull_request' or 'production'";
        Err(validation_error("body", "run_type", message, "enum"))
    }
}

fn submit_artifacts(
    state: &ServerState,
    ci_config_id: u64,
    body: &ReceivedBody,
) -> Result<Response, Refusal> {
    let commit_sha = required_field(body, "commit_sha")?;
    let run_type = required_run_type(body)?;
    let Some(archive) = &body.archive else {
        return Err(validation_error(
            "body",
            "artifacts",
            "Field required",
            "missing",
        ));
    };
    if let Some(error) = &archive.zip_error {
        let message = format!("The artifacts file is not a valid zip archive: {error}");
        return Err(detail(StatusCode::BAD_REQUEST, message));
    }
    let has_manifest = body
        .zip
        .as_ref()
        .is_some_and(|zip| zip.has_entry("manifest.json"));
    if !has_manifest {
        let message = "The artifacts archive has no manifest.json at its root";
        return Err(detail(StatusCode::BAD_REQUEST, message));
    }
    state.add_upload(Upload {
        ci_config_id,
        commit_sha: commit_sha.to_owned(),
        run_type: run_type.to_owned(),
    });
    Ok(axum::Json(json!({ "status": "ok" })).into_response())
}

fn check_artifacts(
    state: &ServerState,
    ci_config_id: u64,
    body: &ReceivedBody,
) -> Result<Response, Refusal> {
    let commit_sha = required_field(body, "commit_sha")?;
    let run_type = required_run_type(body)?;
    required_field(body, "branch")?;
    let present = state.uploads().iter().any(|u| {
        u.ci_config_id == ci_config_id && u.commit_sha == commit_sha && u.run_type == run_type
    });
    let status = if present { "ok" } else { "missing" };
    Ok(axum::Json(json!({ "status": status })).into_response())
}

fn list_runs(
    state: &ServerState,
    ci_config_id: u64,
    query: Option<&str>,
) -> Result<Response, Refusal> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 100,
        Some(Ok(limit)) => limit,
        Some(Err(_)) => {
            let message = "Input should be a valid integer";
            return Err(validation_error("query", "limit", message, "int_parsing"));
        }
    };
    let plan = state.run_plan();
    // One run per uploaded commit, numbered in upload order so that ids stay stable.
    let mut shas: Vec<String> = Vec::new();
    for upload in state
        .uploads()
        .into_iter()
        .filter(|u| u.ci_config_id == ci_config_id)
    {
        if !shas.contains(&upload.commit_sha) {
            shas.push(upload.commit_sha);
        }
    }
    let pr_sha = param("pr_sha");
    let runs: Vec<Value> = shas
        .iter()
        .enumerate()
        .filter(|(_, sha)| pr_sha.is_none_or(|wanted| wanted == sha.as_str()))
        .take(limit)
        .map(|(index, sha)| {
            let polls = state.count_poll(ci_config_id, sha);
            let status = if polls >= plan.after_polls.max(1) {
                plan.outcome.status()
            } else {
                "running"
            };
            json!({
                "id": 1000 + index as u64,
                "base_branch": "main",
                "base_sha": "0".repeat(40),
                "pr_branch": "feature",
                "pr_sha": sha,
                "pr_num": plan.pr_num,
                "status": status,
                "source": "api",
            })
        })
        .collect();
    Ok(axum::Json(Value::Array(runs)).into_response())
}
