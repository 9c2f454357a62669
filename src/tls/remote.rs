//! `cert::remote`: what a TLS server presents. The connection is set up like every other
//! here (`http::connect`: the ring provider, TLS 1.2/1.3, the connect override) except
//! that the handshake accepts any certificate — it inspects, it does not trust — so that a
//! chain nobody trusts can still be shown. The chain is then judged with the same
//! verification as the renewal checks (`checks::verify_chain`: the system's trust store
//! plus the customer's CA) and reported as `trusted`, with the reason when it is not.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use serde::Serialize;

use super::CertError;
use super::checks::{Cert, CertInfo, verify_chain};
use crate::http::connect::{self, Verify};

/// Options of `remote`.
#[derive(Debug, Clone, Default)]
pub struct RemoteOpts {
    /// Server name to send (default: the host of `host:port`).
    pub sni: Option<String>,
    /// Connect to this `addr:port` instead of resolving the host.
    pub connect: Option<String>,
    /// CA certificates (PEM) to judge the served chain against (reported as `trusted`).
    pub ca: Option<Vec<u8>>,
}

/// What a TLS server presents.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteReport {
    #[serde(flatten)]
    pub first: CertInfo,
    pub chain_length: usize,
    pub chain: Vec<CertInfo>,
    pub server_name: String,
    pub connected_to: String,
    pub protocol: String,
    /// With `ca`: whether the served chain verifies for the server name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_error: Option<String>,
}

/// Connects, completes a TLS handshake and returns the presented chain.
pub async fn remote(target: &str, opts: &RemoteOpts) -> Result<RemoteReport, CertError> {
    let err = |reason: String| CertError::Remote {
        target: target.to_owned(),
        reason,
    };
    let (host, port) = connect::split_host_port(target);
    let sni = opts.sni.clone().unwrap_or_else(|| host.clone());
    let addr = connect::dial_addr(&host, port, opts.connect.as_deref());
    let config = connect::client_config(Verify::AcceptAny).map_err(&err)?;
    let server_name = ServerName::try_from(sni.clone()).map_err(|_| err(format!("invalid server name `{sni}`")))?;
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| err(format!("cannot connect to {addr}: {}", connect_reason(&e))))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = connector
        .connect(server_name.clone(), tcp)
        .await
        .map_err(|e| err(format!("TLS handshake failed: {e}")))?;
    let (_, conn) = tls.get_ref();
    let presented: Vec<Vec<u8>> = conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.as_ref().to_vec())
        .collect();
    let protocol = conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
    if presented.is_empty() {
        return Err(err("the server presented no certificate".into()));
    }
    let mut certs = vec![];
    for (i, der) in presented.iter().enumerate() {
        certs.push(Cert::from_der(der).map_err(|r| err(format!("certificate #{} is malformed: {r}", i + 1)))?);
    }
    // Judged against the system's trust store and the configured CA, as a browser would.
    let (trusted, trust_error) = match verify_chain(opts.ca.as_deref(), &presented, &sni) {
        Ok(()) => (Some(true), None),
        Err(e) => (Some(false), Some(e)),
    };
    Ok(RemoteReport {
        first: certs[0].info.clone(),
        chain_length: certs.len(),
        chain: certs.iter().map(|c| c.info.clone()).collect(),
        server_name: sni,
        connected_to: addr,
        protocol,
        trusted,
        trust_error,
    })
}

fn connect_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::checks::parse_pem;
    use crate::tls::testing::{Pki, serve_tls};

    #[tokio::test]
    async fn remote_reports_what_the_server_presents() {
        let pki = Pki::new();
        let (leaf, key) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let addr = serve_tls(&[&leaf, &pki.inter], &key).await;
        let opts = RemoteOpts {
            connect: Some(addr.to_string()),
            ..Default::default()
        };
        let r = remote("vantiq.example.com:443", &opts).await.unwrap();
        assert_eq!(r.first.subject, "CN=vantiq.example.com");
        assert_eq!(r.chain_length, 2);
        assert_eq!(r.first.sha256, parse_pem("x", leaf.as_bytes()).unwrap()[0].info.sha256);
        assert_eq!(r.trusted, Some(false), "an unknown root: {:?}", r.trust_error);
        let opts = RemoteOpts {
            connect: Some(addr.to_string()),
            ca: Some(pki.root.clone().into_bytes()),
            ..Default::default()
        };
        assert_eq!(remote("vantiq.example.com:443", &opts).await.unwrap().trusted, Some(true));
        let opts = RemoteOpts {
            connect: Some(addr.to_string()),
            ca: Some(pki.root.clone().into_bytes()),
            sni: Some("other.example.com".into()),
        };
        assert_eq!(remote("vantiq.example.com:443", &opts).await.unwrap().trusted, Some(false));
        // nothing listening
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = l.local_addr().unwrap();
        drop(l);
        let e = remote(&closed.to_string(), &RemoteOpts::default()).await.unwrap_err().to_string();
        assert!(e.contains("connection refused"), "{e}");
    }
}
