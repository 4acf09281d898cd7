//! One module per command.

pub mod base;
pub mod check;
pub mod config;
pub mod env;
pub mod impact;
pub mod state;
pub mod upload;

use foldup_core::CiContext;

use crate::failure::Failure;
use crate::Session;

/// Detects the CI context with the chosen plugin, applies the user's overrides, and shows the
/// plugin's warnings.
pub async fn detect_context(session: &Session) -> Result<CiContext, Failure> {
    let mut ctx = session
        .provider
        .detect(&session.env, &session.settings.detect_options())
        .await?;
    session.settings.apply_to(&mut ctx);
    for warning in &ctx.warnings {
        session.reporter.warning(warning);
    }
    Ok(ctx)
}

/// The Datafold client, configured from the settings and the environment snapshot's network
/// settings.
pub fn datafold_client(
    session: &Session,
    api_key: &foldup_core::Secret,
) -> Result<foldup_datafold::DatafoldClient, Failure> {
    let config = client_config(&session.settings, &session.env, api_key);
    Ok(foldup_datafold::DatafoldClient::new(config)?)
}

fn client_config(
    settings: &foldup_core::Settings,
    env: &foldup_core::Env,
    api_key: &foldup_core::Secret,
) -> foldup_datafold::ClientConfig {
    use foldup_datafold::{ClientConfig, RetryPolicy};
    ClientConfig {
        host: settings.host.clone(),
        api_key: api_key.expose().to_owned(),
        user_agent: format!("foldup/{}", env!("CARGO_PKG_VERSION")),
        connect_timeout: settings.connect_timeout,
        request_timeout: settings.request_timeout,
        retry: RetryPolicy {
            max_attempts: settings.retry_attempts,
            max_total: settings.retry_max,
            base_delay: std::time::Duration::from_millis(500),
        },
        allow_insecure_http: settings.allow_insecure_http,
        network: env.network(),
    }
}

/// The Datafold CI config id, or the sentence that says how to give it.
pub fn require_ci_config_id(settings: &foldup_core::Settings) -> Result<u64, Failure> {
    settings.ci_config_id.ok_or_else(|| {
        Failure::usage(
            "no Datafold CI config id: pass --ci-config-id N or set DATAFOLD_CI_CONFIG_ID (Datafold's CI settings screen shows the id)",
        )
    })
}

/// The failure for a missing API key (exit 4), shared by every command that talks to Datafold.
pub fn missing_api_key() -> Failure {
    Failure::new(
        crate::failure::ExitCode::Auth,
        "DATAFOLD_API_KEY is not set; add your Datafold API key as a CI secret and expose it to this job as DATAFOLD_API_KEY",
    )
}
