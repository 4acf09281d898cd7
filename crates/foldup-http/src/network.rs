//! Proxies and CA certificates as the environment snapshot states them.

use std::path::PathBuf;

use reqwest::Url;

/// The network settings a client honours, read by the caller from its environment snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSettings {
    /// For `https://` addresses: `HTTPS_PROXY` / `https_proxy`, else `ALL_PROXY` / `all_proxy`.
    pub https_proxy: Option<String>,
    /// For `http://` addresses: `http_proxy` / `HTTP_PROXY`, else `ALL_PROXY` / `all_proxy`.
    pub http_proxy: Option<String>,
    /// `NO_PROXY` / `no_proxy`: hosts reached directly.
    pub no_proxy: Option<String>,
    /// `SSL_CERT_FILE`: a PEM bundle of CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
}

impl NetworkSettings {
    /// Reads the usual variables through `get`, which answers a variable's value when it is set
    /// and not empty (as `foldup_core::Env::get` does).
    pub fn from_variables<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| get(name))
                .map(|value| value.trim().to_owned())
        };
        Self {
            https_proxy: first(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            http_proxy: first(&["http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"]),
            no_proxy: first(&["NO_PROXY", "no_proxy"]),
            ca_file: first(&["SSL_CERT_FILE"]).map(PathBuf::from),
        }
    }
}

/// `scheme://host[:port]`, without credentials, path or query: what a message may show of an
/// address.
pub fn origin_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// Whether `url` names this machine (`localhost`, `127.0.0.0/8`, `::1`).
pub fn is_loopback(url: &Url) -> bool {
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_read_in_curls_order() {
        let vars = [
            ("https_proxy", "http://lower:1"),
            ("HTTPS_PROXY", "http://upper:1"),
            ("ALL_PROXY", "http://all:1"),
            ("no_proxy", "internal.example.com"),
            ("SSL_CERT_FILE", "/etc/ca.pem"),
        ];
        let get = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let settings = NetworkSettings::from_variables(get);
        assert_eq!(settings.https_proxy.as_deref(), Some("http://upper:1"));
        assert_eq!(settings.http_proxy.as_deref(), Some("http://all:1"));
        assert_eq!(settings.no_proxy.as_deref(), Some("internal.example.com"));
        assert_eq!(settings.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(
            NetworkSettings::from_variables(|_| None),
            NetworkSettings::default()
        );
    }

    #[test]
    fn loopback_means_this_machine_only() {
        for url in [
            "http://localhost:9",
            "http://127.0.0.1",
            "http://127.1.2.3",
            "http://[::1]:80",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://example.com",
            "http://10.0.0.1",
            "http://localhost.example.com",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }

    #[test]
    fn origins_leave_out_credentials_and_paths() {
        let url = Url::parse("https://user:pw@host.example.com:8443/a?token=x").unwrap();
        assert_eq!(origin_of(&url), "https://host.example.com:8443");
    }
}
