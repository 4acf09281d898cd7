//! Slim-CI state for foldup: a production build's dbt artifacts stored per commit in object
//! storage (S3 and S3-compatible stores, Google Cloud Storage, Azure Blob Storage, or a local
//! folder), and fetched back, verified, for a pull request's `dbt build --state DIR`.
//!
//! The layout, the record and the pointer rules are documented in `docs/STATE.md`.

mod error;
mod layout;
mod pull;
mod push;
mod store;

pub use error::{StateError, StateErrorKind};
pub use layout::{Key, Pointer, Record, RecordFile, POINTER_FORMAT, RECORD_FILE, RECORD_FORMAT};
pub use pull::{fetch_into, resolve_and_fetch, Choice, Fetched, Wanted};
pub use push::{push, PushInput, PushOutcome};
pub use store::{Network, Store};

use object_store::Error as OsError;

/// Turns a store error into the failure the user sees: what foldup was doing, why it failed (the
/// store's words, scrubbed of secrets) and what to do.
pub(crate) fn classify(store: &Store, doing: &str, error: OsError) -> StateError {
    let why = store.scrub.clean(&error.to_string());
    let lower = why.to_ascii_lowercase();
    let auth_words = [
        "403",
        "401",
        "forbidden",
        "unauthorized",
        "accessdenied",
        "access denied",
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "invalidclienttokenid",
        "authorizationfailure",
        "authenticationfailed",
        "credential",
        "invalid_grant",
    ];
    match error {
        OsError::PermissionDenied { .. } | OsError::Unauthenticated { .. } => auth(store, doing, &why),
        OsError::NotFound { .. } => StateError::new(
            StateErrorKind::NotFound,
            format!("{doing} in {}: not found ({why})", store.shown),
        ),
        _ if auth_words.iter().any(|w| lower.contains(w)) => auth(store, doing, &why),
        _ => StateError::new(
            StateErrorKind::Unreachable,
            format!(
                "{doing} in the state store {} failed after retries: {why}; check that the store is reachable from this job (and AWS_ENDPOINT_URL or the store URL), then run the job again",
                store.shown
            ),
        ),
    }
}

fn auth(store: &Store, doing: &str, why: &str) -> StateError {
    StateError::new(
        StateErrorKind::Auth,
        format!(
            "{doing} in the state store {}: the store rejected the credentials ({why}); give this job credentials for it through the cloud's standard variables (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*) or CI OIDC",
            store.shown
        ),
    )
}

/// A store error that is only "this object is not there".
pub(crate) fn is_not_found(error: &OsError) -> bool {
    matches!(error, OsError::NotFound { .. })
}

/// Now, as RFC 3339 UTC (`2026-12-06T17:04:05Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
