//! Opening a state store from its URL, with credentials taken only from the environment snapshot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use foldup_core::Env;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;

use crate::error::StateError;

/// How hard to try before calling a store unreachable.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    pub attempts: u32,
    pub total: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// An opened store: the backend, the key prefix inside it, and words for messages.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<dyn ObjectStore>,
    pub(crate) prefix: ObjectPath,
    /// The store as the user wrote it (URLs carry no secrets: credentials are never in them).
    pub(crate) shown: String,
    pub(crate) scrub: Scrubber,
    /// The local folder, for a local store.
    pub(crate) local: Option<PathBuf>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Store {
    /// Opens `url`: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`, a
    /// `file://` URL or a local path (relative to `cwd`). `create` makes a local folder that
    /// does not exist yet (push); without it a missing folder means nothing is stored (pull).
    pub fn open(
        url: &str,
        env: &Env,
        cwd: &Path,
        network: Network,
        create: bool,
    ) -> Result<Store, StateError> {
        let url = url.trim();
        let scrub = Scrubber::from_env(env);
        let bad = |why: &str| {
            StateError::usage(format!(
                "the state store '{}' {why}; set --store (or FOLDUP_STATE_STORE) to s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or a local folder",
                foldup_core::sanitize_line(url)
            ))
        };
        if url.is_empty() {
            return Err(bad("is empty"));
        }
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("path".to_owned(), url),
        };
        if scheme == "path" || scheme == "file" {
            let path = PathBuf::from(rest);
            let path = if path.is_absolute() {
                path
            } else {
                cwd.join(path)
            };
            return open_local(path, url, scrub, create);
        }
        #[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
        return open_cloud(url, &scheme, rest, env, network, scrub, &bad);
        #[cfg(not(any(feature = "aws", feature = "gcp", feature = "azure")))]
        {
            let _ = (env, network, scrub);
            Err(match scheme.as_str() {
                "s3" | "gs" | "az" => bad("needs a backend this foldup was built without"),
                _ => bad("has a scheme foldup does not know"),
            })
        }
    }

    /// The store as the user wrote it.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// A cloud store (`s3://`, `gs://`, `az://`), with the backends this foldup was built with.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn open_cloud(
    url: &str,
    scheme: &str,
    rest: &str,
    env: &Env,
    network: Network,
    scrub: Scrubber,
    bad: &dyn Fn(&str) -> StateError,
) -> Result<Store, StateError> {
    use object_store::{ClientOptions, RetryConfig};
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("names no bucket or container"));
    }
    let prefix = ObjectPath::parse(prefix.trim_matches('/'))
        .map_err(|_| bad("has a prefix that is not a valid object key"))?;
    let retry = RetryConfig {
        max_retries: network.attempts.saturating_sub(1) as usize,
        retry_timeout: network.total,
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
    };
    let options = |allow_http: bool| {
        ClientOptions::new()
            .with_connect_timeout(network.connect_timeout)
            .with_timeout(network.request_timeout)
            .with_allow_http(allow_http)
            .with_user_agent(
                format!("foldup/{}", env!("CARGO_PKG_VERSION"))
                    .parse()
                    .expect("a valid header value"),
            )
    };
    let built: Result<Arc<dyn ObjectStore>, object_store::Error> = match scheme {
        #[cfg(feature = "aws")]
        "s3" => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            let mut builder = AmazonS3Builder::new();
            let (settings, http) = cloud_settings(env, "AWS_", &AmazonS3ConfigKey::Endpoint);
            for (config, value) in settings {
                builder = builder.with_config(config, value);
            }
            builder
                .with_bucket_name(bucket)
                .with_retry(retry)
                .with_client_options(options(http))
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        #[cfg(feature = "gcp")]
        "gs" => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
            let mut builder = GoogleCloudStorageBuilder::new();
            let (settings, mut http) = cloud_settings(env, "GOOGLE_", &GoogleConfigKey::BaseUrl);
            for (config, value) in settings {
                builder = builder.with_config(config, value);
            }
            // The emulator convention of Google's own client libraries.
            if let Some(host) = env.get("STORAGE_EMULATOR_HOST") {
                let host = host.trim_end_matches('/');
                let host = if host.contains("://") {
                    host.to_owned()
                } else {
                    format!("http://{host}")
                };
                http = host.starts_with("http://");
                // Emulators take no credentials; object_store still asks for a token on
                // uploads, so hand it a placeholder rather than the metadata server's.
                builder = builder
                    .with_config(GoogleConfigKey::BaseUrl, host)
                    .with_config(GoogleConfigKey::BearerToken, "storage-emulator")
                    .with_skip_signature(true);
            }
            builder
                .with_bucket_name(bucket)
                .with_retry(retry)
                .with_client_options(options(http))
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        #[cfg(feature = "azure")]
        "az" => {
            use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
            let mut builder = MicrosoftAzureBuilder::new();
            let (settings, http) = cloud_settings(env, "AZURE_", &AzureConfigKey::Endpoint);
            for (config, value) in settings {
                builder = builder.with_config(config, value);
            }
            builder
                .with_container_name(bucket)
                .with_retry(retry)
                .with_client_options(options(http))
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        #[allow(unreachable_patterns)]
        "s3" | "gs" | "az" => {
            return Err(bad("needs a backend this foldup was built without"));
        }
        _ => return Err(bad("has a scheme foldup does not know")),
    };
    let inner = built.map_err(|e| {
        StateError::new(
            crate::error::StateErrorKind::Auth,
            format!(
                "cannot set up the state store {url}: {}; check the cloud's standard variables (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*) in this job",
                scrub.clean(&e.to_string())
            ),
        )
    })?;
    Ok(Store {
        inner,
        prefix,
        shown: url.to_owned(),
        scrub,
        local: None,
    })
}

fn open_local(
    path: PathBuf,
    shown: &str,
    scrub: Scrubber,
    create: bool,
) -> Result<Store, StateError> {
    if create {
        std::fs::create_dir_all(&path).map_err(|e| {
            StateError::usage(format!(
                "cannot create the state store folder {}: {e}; choose a writable folder with --store",
                path.display()
            ))
        })?;
    }
    let inner: Arc<dyn ObjectStore> = if path.is_dir() {
        Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(&path).map_err(|e| {
                StateError::usage(format!(
                    "cannot open the state store folder {}: {}; choose a readable folder with --store",
                    path.display(),
                    scrub.clean(&e.to_string())
                ))
            })?,
        )
    } else {
        // Nothing was ever pushed here: an empty store answers "not found" to everything.
        Arc::new(object_store::memory::InMemory::new())
    };
    Ok(Store {
        inner,
        prefix: ObjectPath::default(),
        shown: shown.to_owned(),
        scrub,
        local: Some(path),
    })
}

/// Removes every credential value of the environment from text before it is shown: a store's
/// error may quote a request or a configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Vec<String>,
}

impl Scrubber {
    pub(crate) fn from_env(env: &Env) -> Scrubber {
        let secret_words = ["SECRET", "KEY", "TOKEN", "PASSWORD", "CREDENTIAL", "SAS"];
        let secrets = env
            .iter()
            .filter(|(name, value)| {
                let name = name.to_ascii_uppercase();
                (name.starts_with("AWS_")
                    || name.starts_with("GOOGLE_")
                    || name.starts_with("AZURE_")
                    || name.starts_with("DATAFOLD_"))
                    && secret_words.iter().any(|w| name.contains(w))
                    && value.len() >= 6
            })
            .map(|(_, value)| value.to_owned())
            .collect();
        Scrubber { secrets }
    }

    /// `text` on one line, without secrets, cut to a readable length.
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut text = foldup_core::sanitize_line(text);
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "***");
        }
        if text.chars().count() > 300 {
            text = text.chars().take(300).collect::<String>() + "…";
        }
        text
    }
}

/// The snapshot's variables of one cloud (`prefix`: `AWS_`, `GOOGLE_`, `AZURE_`) that name a
/// setting of its object_store builder (`AWS_REGION` is `aws_region`), and whether the custom
/// endpoint among them (`endpoint`) is plain http, which the client must then allow.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn cloud_settings<K: std::str::FromStr + PartialEq>(
    env: &Env,
    prefix: &str,
    endpoint: &K,
) -> (Vec<(K, String)>, bool) {
    let mut http = false;
    let mut settings = Vec::new();
    for (key, value) in env
        .iter()
        .filter(|(k, v)| k.starts_with(prefix) && !v.is_empty())
    {
        if let Ok(config) = key.to_ascii_lowercase().parse::<K>() {
            if config == *endpoint {
                http = value.starts_with("http://");
            }
            settings.push((config, value.to_string()));
        }
    }
    (settings, http)
}
