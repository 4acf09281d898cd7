//! `/__admin/…`: how scripts and other processes drive the server. Never recorded, never
//! faulted, no key needed (the server only ever listens where the test put it).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::fault::{Fault, RunPlan};
use crate::state::ServerState;

pub(crate) fn routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route(
            "/__admin/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/__admin/fault", post(set_fault))
        .route("/__admin/runs", post(set_run_plan))
}

/// Waits, off the async workers, for the archives still being inspected, so the list never
/// holds an entry without its hash.
async fn list_requests(State(state): State<Arc<ServerState>>) -> Response {
    match tokio::task::spawn_blocking(move || state.requests()).await {
        Ok(requests) => Json(requests).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": format!("listing the requests failed: {e}") })),
        )
            .into_response(),
    }
}

async fn clear_requests(State(state): State<Arc<ServerState>>) -> StatusCode {
    state.clear_requests();
    StatusCode::NO_CONTENT
}

fn bad_json(rejection: JsonRejection) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": rejection.body_text() })),
    )
        .into_response()
}

async fn set_fault(
    State(state): State<Arc<ServerState>>,
    fault: Result<Json<Fault>, JsonRejection>,
) -> Response {
    match fault {
        Ok(Json(fault)) => {
            state.set_fault(fault.clone());
            Json(fault).into_response()
        }
        Err(rejection) => bad_json(rejection),
    }
}

async fn set_run_plan(
    State(state): State<Arc<ServerState>>,
    plan: Result<Json<RunPlan>, JsonRejection>,
) -> Response {
    match plan {
        Ok(Json(plan)) => {
            state.set_run_plan(plan.clone());
            Json(plan).into_response()
        }
        Err(rejection) => bad_json(rejection),
    }
}
