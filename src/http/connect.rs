//! How an outgoing connection is made, in one place for `http::client` (reqwest) and
//! `tls::remote` (what a server presents): where it goes (the connect override, like
//! curl's `--resolve`) and its TLS — the crypto provider (ring), the root stores (the
//! system's trust store, the customer's CA), the server-certificate verifiers and the
//! rustls client configurations built from them. `tls::checks` judges a chain with the
//! same verifier a client would use.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

// ---------------------------------------------------------------------------------------
// where a connection goes

/// Splits `host:port` (default port 443; `[v6]:port`).
pub fn split_host_port(s: &str) -> (String, u16) {
    if let Some(rest) = s.strip_prefix('[')
        && let Some((h, p)) = rest.split_once(']')
    {
        return (h.to_owned(), p.trim_start_matches(':').parse().unwrap_or(443));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_owned(), p.parse().unwrap_or(443)),
        _ => (s.to_owned(), 443),
    }
}

/// The address to dial for `host:port`: `connect` when given, else the host itself
/// (`[v6]:port` for an IPv6 address).
pub fn dial_addr(host: &str, port: u16, connect: Option<&str>) -> String {
    match connect {
        Some(c) => c.to_owned(),
        None if host.contains(':') => format!("[{host}]:{port}"),
        None => format!("{host}:{port}"),
    }
}

/// `host[:port]=addr[:port]` → (host, socket address); the port defaults to the given one.
pub fn parse_resolve(spec: &str, default_port: u16) -> Result<(String, SocketAddr), String> {
    let bad = || format!("invalid `resolve` value `{spec}`: expected `host:port=address` (like `vantiq.example.com:443=10.0.0.5:443`)");
    let (name, addr) = spec.split_once('=').ok_or_else(bad)?;
    let (host, port) = match name.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse::<u16>().unwrap()),
        _ => (name, default_port),
    };
    let sa = match addr.parse::<SocketAddr>() {
        Ok(sa) => sa,
        Err(_) => SocketAddr::new(addr.trim_matches(['[', ']']).parse().map_err(|_| bad())?, port),
    };
    Ok((host.trim().to_ascii_lowercase(), sa))
}

// ---------------------------------------------------------------------------------------
// the provider and the roots

/// The ring provider, installed as the process default when none is.
pub fn provider() -> Arc<CryptoProvider> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// The system's trust store, read once per process (reading it costs more than most
/// requests here); certificates it cannot parse are left out.
fn system_certs() -> &'static [CertificateDer<'static>] {
    static CERTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    CERTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The roots a server certificate must chain to: the system's trust store, plus the
/// customer's CA certificates (PEM) for private CAs — as the customer's browsers trust it.
pub fn system_roots_and(extra_ca_pem: Option<&[u8]>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(system_certs().iter().cloned());
    if let Some(pem) = extra_ca_pem {
        for c in CertificateDer::pem_slice_iter(pem) {
            roots
                .add(c.map_err(|e| format!("bad CA file: {e}"))?)
                .map_err(|e| format!("bad CA certificate: {e}"))?;
        }
    }
    Ok(roots)
}

/// Only the given CA certificates (PEM), like `curl --cacert`: the system's roots are not
/// consulted.
pub fn ca_roots(pem: &[u8]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem) {
        roots
            .add(c.map_err(|e| format!("invalid `ca` file: {e}"))?)
            .map_err(|e| format!("invalid `ca` file: {e}"))?;
    }
    if roots.is_empty() {
        return Err("the `ca` file holds no PEM certificate".into());
    }
    Ok(roots)
}

// ---------------------------------------------------------------------------------------
// verifiers and client configurations

/// The WebPKI verifier for `roots` (names, validity, path to a root).
fn webpki(roots: RootCertStore) -> Result<Arc<WebPkiServerVerifier>, String> {
    if roots.is_empty() {
        return Err("no trusted root certificates (the system store is empty and no CA is configured)".into());
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| e.to_string())
}

/// Whether a chain (leaf first, DER) verifies for `name` to one of `roots`, now — what a
/// client using these roots would decide.
pub fn verify_chain(roots: RootCertStore, presented: &[Vec<u8>], name: &str) -> Result<(), String> {
    let name = ServerName::try_from(name.to_owned()).map_err(|_| format!("invalid server name `{name}`"))?;
    let Some((ee, rest)) = presented.split_first() else {
        return Err("no certificate".into());
    };
    let ee = CertificateDer::from(ee.as_slice());
    let inter: Vec<_> = rest.iter().map(|c| CertificateDer::from(c.as_slice())).collect();
    webpki(roots)?
        .verify_server_cert(&ee, &inter, &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Accepts any server certificate (the handshake's signatures are still checked): for
/// inspecting what a server presents, and for requests made with `insecure`.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a client checks the server's certificate against.
pub enum Verify {
    /// A chain to one of these roots, valid now, for the server name.
    Roots(RootCertStore),
    /// Nothing: any certificate is accepted.
    AcceptAny,
}

/// A rustls client configuration (the ring provider, TLS 1.2 and 1.3, no client
/// certificate) that checks the server as `verify` says.
pub fn client_config(verify: Verify) -> Result<ClientConfig, String> {
    let prov = provider();
    let builder = ClientConfig::builder_with_provider(prov.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match verify {
        Verify::Roots(roots) => builder.with_webpki_verifier(webpki(roots)?),
        Verify::AcceptAny => builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(prov))),
    };
    Ok(builder.with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_and_overrides_are_parsed() {
        assert_eq!(split_host_port("vantiq.example.com"), ("vantiq.example.com".into(), 443));
        assert_eq!(split_host_port("vantiq.example.com:8443"), ("vantiq.example.com".into(), 8443));
        assert_eq!(split_host_port("[::1]:8443"), ("::1".into(), 8443));
        assert_eq!(split_host_port("::1"), ("::1".into(), 443));
        assert_eq!(dial_addr("::1", 443, None), "[::1]:443");
        assert_eq!(dial_addr("h", 8443, None), "h:8443");
        assert_eq!(dial_addr("h", 443, Some("10.0.0.5:443")), "10.0.0.5:443");
        assert_eq!(
            parse_resolve("h=10.0.0.5", 443).unwrap(),
            ("h".into(), "10.0.0.5:443".parse().unwrap())
        );
        assert_eq!(
            parse_resolve("H:8443=[::1]", 443).unwrap(),
            ("h".into(), "[::1]:8443".parse().unwrap())
        );
        assert!(parse_resolve("nonsense", 443).unwrap_err().contains("expected `host:port=address`"));
        assert!(parse_resolve("h=not-an-address", 443).is_err());
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        assert_eq!(ca_roots(b"hello\n").unwrap_err(), "the `ca` file holds no PEM certificate");
        let broken = b"-----BEGIN CERTIFICATE-----\nMIIBnotreallyacert\n-----END CERTIFICATE-----\n";
        assert!(ca_roots(broken).unwrap_err().starts_with("invalid `ca` file: "));
        assert!(system_roots_and(Some(broken)).unwrap_err().starts_with("bad C"));
        assert_eq!(
            verify_chain(RootCertStore::empty(), &[vec![0x30]], "h").unwrap_err(),
            "no trusted root certificates (the system store is empty and no CA is configured)"
        );
    }
}
