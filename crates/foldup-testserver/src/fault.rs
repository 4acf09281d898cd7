//! What the server should do wrong, and how CI runs end.
//!
//! Both are plain serde types so that the binary's `/__admin/fault` and `/__admin/runs`
//! endpoints and `--fault` flag accept the same JSON that Rust tests build as values.

use serde::{Deserialize, Serialize};

/// A misbehaviour applied to Datafold API requests (never to `/__admin/…`).
///
/// Faults with a `times` count apply to that many requests after being set, then the server
/// answers normally again; the others last until replaced. JSON form: `{"kind": "unavailable",
/// "times": 2}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer like Datafold.
    #[default]
    None,
    /// `503 Service Unavailable` for the next `times` requests.
    Unavailable { times: u32 },
    /// `429 Too Many Requests` with `Retry-After: <retry_after>` (seconds or an HTTP date, sent
    /// verbatim) for the next `times` requests.
    RateLimited { times: u32, retry_after: String },
    /// `500 Internal Server Error` on every request.
    InternalError,
    /// `401` on every request, whatever the key.
    Unauthorized,
    /// `403` on every request.
    Forbidden,
    /// `404` on every request.
    NotFound,
    /// `413` on every request, after reading the whole body.
    PayloadTooLarge,
    /// Any status with a Datafold-style JSON `detail`, for `times` requests or forever.
    Status {
        status: u16,
        #[serde(default)]
        times: Option<u32>,
    },
    /// The normal answer, after `delay_ms`.
    Slow { delay_ms: u64 },
    /// The normal answer, its body sent one byte every `interval_ms`.
    Trickle { interval_ms: u64 },
    /// Read the whole request, then never answer.
    Hang,
    /// Reset the TCP connection (RST) while the request body is still arriving, for `times`
    /// connections or forever.
    ResetMidBody {
        #[serde(default)]
        times: Option<u32>,
    },
    /// Accept the TCP connection, then never read from it or answer (not even a TLS handshake),
    /// as a black-holed load balancer does; for `times` connections or forever. Admin requests
    /// over plain HTTP still get through.
    Silent {
        #[serde(default)]
        times: Option<u32>,
    },
    /// Read the request head, then close the connection (FIN) without an answer, as a crashing
    /// server or an idle-timeout proxy does; for `times` connections or forever. Plain HTTP only.
    CloseWithoutAnswer {
        #[serde(default)]
        times: Option<u32>,
    },
    /// Read the request head, then answer with bytes that are not HTTP, as another service on
    /// the port would. Plain HTTP only.
    NotHttp,
    /// An HTML error page, as a proxy or load balancer in front of the API sends it.
    HtmlErrorPage { status: u16 },
    /// A redirect to `base_url` + the request's own path and query.
    RedirectTo { base_url: String, status: u16 },
    /// `status` with a JSON body whose `detail` and `message` repeat every request header, the
    /// credentials included, as careless APIs and proxies do in their error pages: whatever
    /// prints the error must redact them.
    EchoHeaders { status: u16 },
}

impl Fault {
    /// How many requests the fault applies to; `None` for "until replaced".
    pub fn times(&self) -> Option<u32> {
        match self {
            Fault::Unavailable { times } | Fault::RateLimited { times, .. } => Some(*times),
            Fault::Status { times, .. }
            | Fault::ResetMidBody { times }
            | Fault::Silent { times }
            | Fault::CloseWithoutAnswer { times } => *times,
            _ => None,
        }
    }

    /// The snake_case name used in JSON and in recorded requests.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Unavailable { .. } => "unavailable",
            Fault::RateLimited { .. } => "rate_limited",
            Fault::InternalError => "internal_error",
            Fault::Unauthorized => "unauthorized",
            Fault::Forbidden => "forbidden",
            Fault::NotFound => "not_found",
            Fault::PayloadTooLarge => "payload_too_large",
            Fault::Status { .. } => "status",
            Fault::Slow { .. } => "slow",
            Fault::Trickle { .. } => "trickle",
            Fault::Hang => "hang",
            Fault::ResetMidBody { .. } => "reset_mid_body",
            Fault::Silent { .. } => "silent",
            Fault::CloseWithoutAnswer { .. } => "close_without_answer",
            Fault::NotHttp => "not_http",
            Fault::HtmlErrorPage { .. } => "html_error_page",
            Fault::RedirectTo { .. } => "redirect_to",
            Fault::EchoHeaders { .. } => "echo_headers",
        }
    }

    /// Whether the fault happens below HTTP, in the listener, instead of in a response.
    pub fn is_below_http(&self) -> bool {
        matches!(
            self,
            Fault::ResetMidBody { .. }
                | Fault::Silent { .. }
                | Fault::CloseWithoutAnswer { .. }
                | Fault::NotHttp
        )
    }
}

/// The fault in force and how many requests it has been applied to.
#[derive(Debug, Default)]
pub(crate) struct ActiveFault {
    fault: Fault,
    hits: u32,
}

impl ActiveFault {
    pub(crate) fn new(fault: Fault) -> Self {
        Self { fault, hits: 0 }
    }

    fn has_budget(&self) -> bool {
        self.fault != Fault::None && self.fault.times().is_none_or(|times| self.hits < times)
    }

    /// The fault to apply to the next HTTP request, counting it. Faults below HTTP are claimed
    /// by the listener instead, before HTTP parsing starts.
    pub(crate) fn next_for_request(&mut self) -> Option<Fault> {
        if self.fault.is_below_http() || !self.has_budget() {
            return None;
        }
        self.hits += 1;
        Some(self.fault.clone())
    }

    /// The fault below HTTP that new connections must be inspected for, if one is due.
    pub(crate) fn raw_armed(&self) -> Option<Fault> {
        (self.fault.is_below_http() && self.has_budget()).then(|| self.fault.clone())
    }

    /// Claims one application of the fault below HTTP, if one is still due.
    pub(crate) fn claim_raw(&mut self) -> Option<Fault> {
        let fault = self.raw_armed()?;
        self.hits += 1;
        Some(fault)
    }
}

/// How the CI run that Datafold starts for an uploaded commit ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    #[default]
    Done,
    Failed,
    Cancelled,
}

impl RunOutcome {
    pub fn status(self) -> &'static str {
        match self {
            RunOutcome::Done => "done",
            RunOutcome::Failed => "failed",
            RunOutcome::Cancelled => "cancelled",
        }
    }
}

/// The script of the CI run listed for a commit once artifacts for it were uploaded: the first
/// `after_polls - 1` polls see it `running`, poll number `after_polls` and later see `outcome`.
/// Commits without an upload have no run (an empty list), as before Datafold starts one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunPlan {
    pub outcome: RunOutcome,
    pub after_polls: u32,
    /// The pull request number Datafold reports (a string in Datafold's API).
    pub pr_num: String,
}

impl Default for RunPlan {
    fn default() -> Self {
        Self {
            outcome: RunOutcome::Done,
            after_polls: 1,
            pr_num: "1".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_faults_stop_after_their_budget() {
        let mut active = ActiveFault::new(Fault::Unavailable { times: 2 });
        assert!(active.next_for_request().is_some());
        assert!(active.next_for_request().is_some());
        assert_eq!(active.next_for_request(), None);
    }

    #[test]
    fn persistent_faults_keep_applying() {
        let mut active = ActiveFault::new(Fault::InternalError);
        for _ in 0..10 {
            assert_eq!(active.next_for_request(), Some(Fault::InternalError));
        }
    }

    #[test]
    fn resets_are_claimed_by_the_listener_only() {
        let mut active = ActiveFault::new(Fault::ResetMidBody { times: Some(1) });
        assert_eq!(active.next_for_request(), None);
        assert!(active.claim_raw().is_some());
        assert_eq!(active.claim_raw(), None);
        assert_eq!(active.raw_armed(), None);
        let mut silent = ActiveFault::new(Fault::Silent { times: None });
        assert_eq!(silent.next_for_request(), None);
        for _ in 0..3 {
            assert_eq!(silent.claim_raw(), Some(Fault::Silent { times: None }));
        }
    }

    #[test]
    fn faults_round_trip_through_json() {
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"rate_limited","times":1,"retry_after":"2"}"#).unwrap();
        assert_eq!(
            fault,
            Fault::RateLimited {
                times: 1,
                retry_after: "2".into()
            }
        );
        let reset: Fault = serde_json::from_str(r#"{"kind":"reset_mid_body"}"#).unwrap();
        assert_eq!(reset, Fault::ResetMidBody { times: None });
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"explode"}"#).is_err());
        let plan: RunPlan =
            serde_json::from_str(r#"{"outcome":"failed","after_polls":3}"#).unwrap();
        assert_eq!(plan.outcome, RunOutcome::Failed);
        assert_eq!(plan.pr_num, "1");
    }
}
