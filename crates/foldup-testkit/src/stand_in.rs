//! Local stand-ins for the servers foldup talks to: a provider API served from an `axum` router,
//! an address where nothing listens, and a throwaway certificate authority for TLS tests. The
//! Datafold stand-in is `foldup_testserver::TestServer`.

use std::net::{IpAddr, Ipv4Addr};

use foldup_testserver::TlsIdentity;

/// Serves `app` on 127.0.0.1 (a free port) on the current runtime until the test ends; returns
/// its base URL, `http://127.0.0.1:<port>`.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port on 127.0.0.1");
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

/// An address on 127.0.0.1 where nothing listens: connections are refused at once.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port on 127.0.0.1");
    let port = listener.local_addr().expect("a bound address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A certificate authority called `name`, made for one test, and a certificate for `localhost`
/// and 127.0.0.1 signed by it: (the authority's certificate as PEM, for `SSL_CERT_FILE` or a
/// client's root store; the identity a `foldup_testserver::TestServer` serves TLS with).
pub fn throwaway_ca(name: &str) -> (String, TlsIdentity) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, name);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let cert = params.signed_by(&key, &ca).unwrap();
    (
        ca.pem(),
        TlsIdentity {
            cert_chain: vec![cert.der().to_vec()],
            private_key_pkcs8: key.serialize_der(),
        },
    )
}
