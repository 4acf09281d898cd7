//! foldup's one way to speak HTTP, shared by the Datafold client and every CI look-up.
//!
//! An [`HttpClient`] is built from [`ClientOptions`]:
//! - proxies and extra CA certificates come from [`NetworkSettings`], which the caller fills from
//!   the environment *snapshot* (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`,
//!   `SSL_CERT_FILE`), never from the process environment;
//! - redirects are never followed: a 3xx is an answer like any other, so a credential can never
//!   follow one to another host;
//! - a credential header (an API key, a CI token) is marked sensitive, is never sent over plain
//!   `http://` to another machine (unless the caller explicitly allows it), and is blanked out of
//!   every error;
//! - every exchange is bounded in time (connect and whole-answer timeouts) and in size (the body
//!   is read up to a cap).

mod client;
mod network;

pub use client::{Answer, ClientOptions, Credential, HttpClient, HttpError, SetupError};
pub use network::{is_loopback, origin_of, NetworkSettings};

/// The answer body type, so that callers name one `bytes`.
pub use bytes::Bytes;
/// The types callers use to build requests, so that every crate names one `reqwest`.
pub use reqwest::{header, IntoUrl, Method, RequestBuilder, StatusCode, Url};
