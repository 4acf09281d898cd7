//! The client, its options, and the errors it answers with.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use foldup_logtext::{prose, redact, root_cause};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{
    redirect, Certificate, IntoUrl, Method, NoProxy, Proxy, RequestBuilder, StatusCode, Url,
};

use crate::network::{is_loopback, origin_of, NetworkSettings};

/// A header that carries a secret (`Authorization: Key …`, `PRIVATE-TOKEN: …`). Its `Debug`
/// never shows the value.
#[derive(Clone)]
pub struct Credential {
    header: HeaderName,
    value: String,
}

impl Credential {
    /// `header: value`; `value` is sent as given and blanked out of every error.
    pub fn new(header: HeaderName, value: impl Into<String>) -> Self {
        Self {
            header,
            value: value.into(),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}: <redacted>)", self.header)
    }
}

/// How a client connects; see the crate documentation for what it always does.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `foldup/<version>`.
    pub user_agent: String,
    /// How long one TCP (+ TLS) connection may take to establish.
    pub connect_timeout: Duration,
    /// Proxies and extra CA certificates, from the environment snapshot.
    pub network: NetworkSettings,
    /// Headers sent with every request (`Accept`, an API version).
    pub default_headers: HeaderMap,
    /// The secret header sent with every request, if any.
    pub credential: Option<Credential>,
    /// Allow the credential over plain `http://` to a machine other than this one.
    pub allow_insecure_http: bool,
    /// The most of an answer's body read; a longer answer is [`HttpError::TooLarge`].
    pub max_answer_bytes: usize,
}

impl ClientOptions {
    /// Options with foldup's defaults: 10 s to connect, answers up to 1 MiB, no credential.
    pub fn new(network: NetworkSettings) -> Self {
        Self {
            user_agent: concat!("foldup/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: Duration::from_secs(10),
            network,
            default_headers: HeaderMap::new(),
            credential: None,
            allow_insecure_http: false,
            max_answer_bytes: 1024 * 1024,
        }
    }
}

/// Why a client could not be built. Each names what to fix; none holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the {header} value cannot be sent in an HTTP header (it holds a line break or another character headers cannot carry)")]
    UnsendableCredential { header: String },

    #[error("{variable} '{value}' is not a usable proxy address")]
    BadProxy {
        variable: &'static str,
        value: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("SSL_CERT_FILE {path} could not be read")]
    CaFileUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("SSL_CERT_FILE {path} is not a bundle of PEM certificates")]
    CaFileInvalid {
        path: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("the HTTPS client could not be set up")]
    Build {
        #[source]
        source: reqwest::Error,
    },
}

/// Why an exchange gave no answer. Each message is a clause (`… could not be reached (…)`) a
/// caller completes with what to do; none holds the credential.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{origin} is plain http:// to another machine, so foldup does not send its credential there")]
    PlainHttpToOtherHost { origin: String },

    #[error("{origin} did not answer within {:.1} s", timeout.as_secs_f64())]
    TimedOut { origin: String, timeout: Duration },

    #[error("the TLS certificate of {origin} could not be verified ({reason})")]
    Certificate {
        origin: String,
        reason: String,
        #[source]
        source: reqwest::Error,
    },

    #[error("{origin} could not be reached ({reason})")]
    Unreachable {
        origin: String,
        /// The innermost cause, cleaned: what happened (`Connection refused (os error 111)`).
        reason: String,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "{origin} answered with more than {limit} bytes, which is not the answer foldup asked for"
    )]
    TooLarge { origin: String, limit: usize },

    #[error("the request to {origin} could not be built ({reason})")]
    Request {
        origin: String,
        reason: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A whole answer: status, headers and the body (at most the client's cap).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// A header's value, when it is present and text.
    pub fn header(&self, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP client; cheap to clone.
#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    secret: Option<String>,
    sends_credential: bool,
    allow_insecure_http: bool,
    max_answer_bytes: usize,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("sends_credential", &self.sends_credential)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("max_answer_bytes", &self.max_answer_bytes)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the client; no request is made.
    pub fn new(options: ClientOptions) -> Result<Self, SetupError> {
        let mut headers = options.default_headers;
        let secret = match &options.credential {
            Some(credential) => {
                let mut value = HeaderValue::from_str(&credential.value).map_err(|_| {
                    SetupError::UnsendableCredential {
                        header: credential.header.to_string(),
                    }
                })?;
                value.set_sensitive(true);
                headers.insert(credential.header.clone(), value);
                Some(credential.value.clone())
            }
            None => None,
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(options.user_agent)
            .default_headers(headers)
            .connect_timeout(options.connect_timeout)
            .redirect(redirect::Policy::none())
            // Proxies come from the snapshot only, never from the process or the platform.
            .no_proxy();
        let network = &options.network;
        let no_proxy = network.no_proxy.as_deref().and_then(NoProxy::from_string);
        if let Some(url) = &network.https_proxy {
            let proxy = Proxy::https(url).map_err(|source| SetupError::BadProxy {
                variable: "HTTPS_PROXY",
                value: foldup_logtext::shown(url),
                source,
            })?;
            builder = builder.proxy(proxy.no_proxy(no_proxy.clone()));
        }
        if let Some(url) = &network.http_proxy {
            let proxy = Proxy::http(url).map_err(|source| SetupError::BadProxy {
                variable: "HTTP_PROXY",
                value: foldup_logtext::shown(url),
                source,
            })?;
            builder = builder.proxy(proxy.no_proxy(no_proxy));
        }
        if let Some(path) = &network.ca_file {
            let shown = foldup_logtext::shown(&path.to_string_lossy());
            let pem = std::fs::read(path).map_err(|source| SetupError::CaFileUnreadable {
                path: shown.clone(),
                source,
            })?;
            let certificates =
                Certificate::from_pem_bundle(&pem).map_err(|source| SetupError::CaFileInvalid {
                    path: shown,
                    source,
                })?;
            builder = builder.tls_certs_merge(certificates);
        }
        let inner = builder
            .build()
            .map_err(|source| SetupError::Build { source })?;
        Ok(Self {
            inner,
            sends_credential: secret.is_some(),
            secret,
            allow_insecure_http: options.allow_insecure_http,
            max_answer_bytes: options.max_answer_bytes,
        })
    }

    /// A request to `url`; send it with [`Self::send`]. A `url` that does not parse is an
    /// [`HttpError::Request`] when sent.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        self.inner.request(method, url)
    }

    /// A `GET` of `url`.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `POST` to `url`.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// Refuses to send the credential over plain `http://` to another machine.
    pub fn check_destination(&self, url: &Url) -> Result<(), HttpError> {
        if self.sends_credential
            && !self.allow_insecure_http
            && url.scheme().eq_ignore_ascii_case("http")
            && !is_loopback(url)
        {
            return Err(HttpError::PlainHttpToOtherHost {
                origin: origin_of(url),
            });
        }
        Ok(())
    }

    /// Sends `request` and reads its whole answer, all within `timeout`.
    pub async fn send(
        &self,
        request: RequestBuilder,
        timeout: Duration,
    ) -> Result<Answer, HttpError> {
        let request = request.build().map_err(|source| HttpError::Request {
            origin: source.url().map(origin_of).unwrap_or_default(),
            reason: self.clean(&root_cause(&source)),
            source: Box::new(source),
        })?;
        self.execute(request, timeout).await
    }

    /// [`Self::send`] for a request in the `http` crate's types, as libraries with typed
    /// endpoints (the `gitlab` crate) build them; the answer comes back in the same types.
    pub async fn send_http(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>, HttpError> {
        let unbuildable =
            |origin: String, source: Box<dyn std::error::Error + Send + Sync>| HttpError::Request {
                origin,
                reason: self.clean(&root_cause(source.as_ref())),
                source,
            };
        let origin = request
            .uri_ref()
            .map(|uri| {
                format!(
                    "{}://{}",
                    uri.scheme_str().unwrap_or(""),
                    uri.authority().map(|a| a.as_str()).unwrap_or("")
                )
            })
            .unwrap_or_default();
        let request = request
            .body(body)
            .map_err(|e| unbuildable(origin.clone(), Box::new(e)))?;
        let request = reqwest::Request::try_from(request)
            .map_err(|e| unbuildable(origin.clone(), Box::new(e)))?;
        let answer = self.execute(request, timeout).await?;
        let mut response = http::Response::new(answer.body);
        *response.status_mut() = answer.status;
        *response.headers_mut() = answer.headers;
        Ok(response)
    }

    /// [`Self::send`] for a request built elsewhere (the `gitlab` crate's endpoints).
    pub async fn execute(
        &self,
        mut request: reqwest::Request,
        timeout: Duration,
    ) -> Result<Answer, HttpError> {
        let origin = origin_of(request.url());
        self.check_destination(request.url())?;
        *request.timeout_mut() = Some(timeout);
        let exchange = async {
            let mut response = self.inner.execute(request).await?;
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                if body.len() + chunk.len() > self.max_answer_bytes {
                    return Ok(None);
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Some(Answer {
                status,
                headers,
                body: Bytes::from(body),
            }))
        };
        // reqwest's timeout covers connecting, the headers and the body; the outer one makes sure
        // no path outlives it.
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(HttpError::TimedOut { origin, timeout }),
            Ok(Ok(Some(answer))) => Ok(answer),
            Ok(Ok(None)) => Err(HttpError::TooLarge {
                origin,
                limit: self.max_answer_bytes,
            }),
            Ok(Err(source)) => Err(self.transport_error(origin, timeout, source)),
        }
    }

    fn transport_error(
        &self,
        origin: String,
        timeout: Duration,
        source: reqwest::Error,
    ) -> HttpError {
        if source.is_timeout() {
            return HttpError::TimedOut { origin, timeout };
        }
        let reason = self.clean(&root_cause(&source));
        let chain = foldup_logtext::error_chain(&source).to_ascii_lowercase();
        if source.is_connect() && chain.contains("certificate") {
            return HttpError::Certificate {
                origin,
                reason,
                source,
            };
        }
        HttpError::Unreachable {
            origin,
            reason,
            source,
        }
    }

    /// Outside text (a server's message, an error's cause) as one clean log line without the
    /// credential.
    pub fn clean(&self, text: &str) -> String {
        match &self.secret {
            Some(secret) => prose(&redact(text, secret)),
            None => prose(text),
        }
    }
}
