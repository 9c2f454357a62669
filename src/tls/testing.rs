//! Test support for certificates and TLS: a test PKI (root → intermediate → leaves) and
//! TLS servers presenting its certificates.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test PKI: root → intermediate → leaves, written as PEM files in a temp dir.
pub(crate) struct Pki {
    pub dir: tempfile::TempDir,
    pub root: String,
    pub inter: String,
    inter_issuer: Issuer<'static, KeyPair>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2090, 1, 1);
    p
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let root_key = KeyPair::generate().unwrap();
        let rp = ca_params("Test Root CA");
        let root = rp.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(rp, root_key);
        let inter_key = KeyPair::generate().unwrap();
        let ip = ca_params("Test Intermediate CA");
        let inter = ip.signed_by(&inter_key, &root_issuer).unwrap();
        Pki {
            dir: tempfile::tempdir().unwrap(),
            root: root.pem(),
            inter: inter.pem(),
            inter_issuer: Issuer::new(ip, inter_key),
        }
    }

    /// A leaf for `names`, valid between the years given; returns (cert PEM, key PEM).
    pub(crate) fn leaf(&self, names: &[&str], from: i32, to: i32) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.not_before = date_time_ymd(from, 1, 1);
        p.not_after = date_time_ymd(to, 1, 1);
        (p.signed_by(&key, &self.inter_issuer).unwrap().pem(), key.serialize_pem())
    }

    pub(crate) fn write(&self, name: &str, parts: &[&str]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, parts.concat()).unwrap();
        p
    }
}

/// A server configuration presenting `chain` (PEM, leaf first) with `key` (PEM).
pub(crate) fn server_config(chain: &[&str], key: &str) -> Arc<rustls::ServerConfig> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(chain.concat().as_bytes())
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(crate::http::connect::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// A TLS server on 127.0.0.1 presenting `chain`, answering every connection.
pub(crate) async fn serve_tls(chain: &[&str], key: &str) -> std::net::SocketAddr {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(chain, key));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let a = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = a.accept(s).await {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buf = [0u8; 4096];
                    let _ = tokio::time::timeout(std::time::Duration::from_millis(500), tls.read(&mut buf)).await;
                    let _ = tls
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                        .await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}
