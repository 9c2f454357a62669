//! Authentication as the real API server does it, and the cluster PKI behind it.
//!
//! * **Client certificates** (x509): verified in the TLS handshake against the cluster CA;
//!   the subject's CN is the user name and each O a group. The identity is read once per
//!   connection, not per request.
//! * **Bearer tokens**: static tokens (the admin's, the exec plugin's) and ServiceAccount
//!   tokens the simulator mints; a ServiceAccount token stops working when its account is
//!   deleted, as a bound token does.
//! * **Anonymous** requests are accepted only on `/healthz`, `/livez` and `/readyz` (the
//!   `AnonymousAuthConfigurableEndpoints` configuration of Kubernetes 1.32 that managed
//!   clusters use); anything else without valid credentials is a 401 `Unauthorized`.
//!
//! Like kube-apiserver's union authenticator, a client certificate is tried first, then
//! the bearer token. Every authenticated user is in `system:authenticated`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use axum::http::HeaderMap;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;

use crate::store::{Store, res};

/// The group whose members may do anything (kube-apiserver's privileged group).
pub const MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const ANONYMOUS: &str = "system:anonymous";

/// Paths an anonymous request may reach (then RBAC decides: `system:public-info-viewer`).
pub const ANONYMOUS_PATHS: [&str; 3] = ["/healthz", "/livez", "/readyz"];

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// An authenticated user in `groups` (plus `system:authenticated`).
    pub fn new(name: &str, groups: &[&str]) -> UserInfo {
        let mut g: Vec<String> = groups.iter().map(|s| (*s).to_owned()).collect();
        if !g.iter().any(|x| x == AUTHENTICATED) {
            g.push(AUTHENTICATED.to_owned());
        }
        UserInfo {
            name: name.to_owned(),
            uid: String::new(),
            groups: g,
        }
    }

    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: ANONYMOUS.to_owned(),
            uid: String::new(),
            groups: vec![UNAUTHENTICATED.to_owned()],
        }
    }

    /// `system:serviceaccount:<ns>:<name>` in `system:serviceaccounts` and
    /// `system:serviceaccounts:<ns>`.
    pub fn service_account(ns: &str, name: &str, uid: &str) -> UserInfo {
        UserInfo {
            name: service_account_user(ns, name),
            uid: uid.to_owned(),
            groups: vec![
                "system:serviceaccounts".to_owned(),
                format!("system:serviceaccounts:{ns}"),
                AUTHENTICATED.to_owned(),
            ],
        }
    }

    pub fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
}

/// The user name of a ServiceAccount.
pub fn service_account_user(ns: &str, name: &str) -> String {
    format!("system:serviceaccount:{ns}:{name}")
}

/// The identity of a TLS connection's verified client certificate, if it sent one.
#[derive(Debug, Clone, Default)]
pub struct PeerIdentity(pub Option<Arc<UserInfo>>);

impl PeerIdentity {
    /// Reads CN (user) and O (groups) of a client certificate the handshake verified.
    pub fn from_cert(der: &[u8]) -> PeerIdentity {
        let Ok((_, c)) = x509_parser::parse_x509_certificate(der) else {
            return PeerIdentity(None);
        };
        let subject = c.subject();
        let Some(cn) = subject.iter_common_name().next().and_then(|a| a.as_str().ok()) else {
            return PeerIdentity(None);
        };
        let groups: Vec<&str> = subject.iter_organization().filter_map(|a| a.as_str().ok()).collect();
        PeerIdentity(Some(Arc::new(UserInfo::new(cn, &groups))))
    }
}

enum TokenOwner {
    User(Arc<UserInfo>),
    ServiceAccount { ns: String, name: String },
}

/// Bearer tokens the API server accepts.
#[derive(Default)]
pub struct Authenticator {
    tokens: RwLock<HashMap<String, TokenOwner>>,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthenticated;

impl Authenticator {
    pub fn new() -> Authenticator {
        Authenticator::default()
    }

    /// Accepts `token` for `user` (a static token, as `--token-auth-file` does).
    pub fn add_token(&self, token: &str, user: UserInfo) {
        if let Ok(mut t) = self.tokens.write() {
            t.insert(token.to_owned(), TokenOwner::User(Arc::new(user)));
        }
    }

    /// A new token for the ServiceAccount `ns/name`; valid while the account exists.
    pub fn mint_service_account_token(&self, ns: &str, name: &str) -> String {
        let token = random_token();
        if let Ok(mut t) = self.tokens.write() {
            t.insert(
                token.clone(),
                TokenOwner::ServiceAccount {
                    ns: ns.to_owned(),
                    name: name.to_owned(),
                },
            );
        }
        token
    }

    /// The user of a request: its client certificate, else its bearer token, else
    /// anonymous where `path` allows it.
    pub(crate) fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<&PeerIdentity>,
        path: &str,
        store: &Store,
    ) -> Result<Arc<UserInfo>, Unauthenticated> {
        if let Some(PeerIdentity(Some(u))) = peer {
            return Ok(u.clone());
        }
        if let Some(v) = headers.get(axum::http::header::AUTHORIZATION) {
            let v = v.to_str().map_err(|_| Unauthenticated)?;
            let (scheme, token) = v.split_once(' ').ok_or(Unauthenticated)?;
            let token = token.trim();
            if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
                return Err(Unauthenticated);
            }
            let tokens = self.tokens.read().map_err(|_| Unauthenticated)?;
            return match tokens.get(token) {
                Some(TokenOwner::User(u)) => Ok(u.clone()),
                Some(TokenOwner::ServiceAccount { ns, name }) => {
                    let sa = store.get(res("ServiceAccount"), ns, name).ok_or(Unauthenticated)?;
                    let uid = sa["metadata"]["uid"].as_str().unwrap_or("");
                    Ok(Arc::new(UserInfo::service_account(ns, name, uid)))
                }
                None => Err(Unauthenticated),
            };
        }
        if ANONYMOUS_PATHS.contains(&path) {
            return Ok(Arc::new(UserInfo::anonymous()));
        }
        Err(Unauthenticated)
    }
}

/// 48 random hex digits.
pub fn random_token() -> String {
    let mut s = String::new();
    while s.len() < 48 {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(48);
    s
}

// ---- the cluster PKI ----------------------------------------------------------------------

const CLUSTER_CA_CN: &str = "vscript-sim-kubernetes-ca";

/// The cluster CA (it signs the API server's certificate and the client certificates, as
/// kubeadm's `ca.crt` does) and the API server's serving certificate.
pub struct ClusterPki {
    /// The CA certificate, PEM: clients trust it (`certificate-authority-data`, `ca.crt`).
    pub ca_pem: String,
    ca_key_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
}

fn odt(t: chrono::DateTime<chrono::Utc>) -> Result<time::OffsetDateTime> {
    Ok(time::OffsetDateTime::from_unix_timestamp(t.timestamp())?)
}

fn ca_params() -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CLUSTER_CA_CN);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = chrono::Utc::now();
    p.not_before = odt(now - chrono::Duration::days(1))?;
    p.not_after = odt(now + chrono::Duration::days(3650))?;
    Ok(p)
}

impl ClusterPki {
    /// A new CA and a serving certificate for `127.0.0.1`, `::1`, `localhost` and the
    /// in-cluster names (`kubernetes`, `kubernetes.default.svc`, ...).
    pub fn generate() -> Result<ClusterPki> {
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params()?.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params()?, KeyPair::from_pem(&ca_key.serialize_pem())?);
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(vec![
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
            "kubernetes.default.svc.cluster.local".to_owned(),
        ])?;
        p.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        p.subject_alt_names.push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        p.distinguished_name = dn;
        let now = chrono::Utc::now();
        p.not_before = odt(now - chrono::Duration::days(1))?;
        p.not_after = odt(now + chrono::Duration::days(365))?;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&key, &issuer)?;
        Ok(ClusterPki {
            ca_pem: ca_cert.pem(),
            ca_key_pem: ca_key.serialize_pem(),
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
        })
    }

    /// A client certificate for `user` in `groups` (CN and O), signed by the cluster CA:
    /// `(certificate PEM, private key PEM)`.
    pub fn issue_client_cert(&self, user: &str, groups: &[&str]) -> Result<(String, String)> {
        let issuer = Issuer::new(ca_params()?, KeyPair::from_pem(&self.ca_key_pem)?);
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        // rcgen keeps one value per attribute type: the second O goes in under its OID
        // spelled as a custom type (the same attribute on the wire).
        match groups {
            [] => {}
            [a] => dn.push(DnType::OrganizationName, *a),
            [a, b] => {
                dn.push(DnType::OrganizationName, *a);
                dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), *b);
            }
            _ => anyhow::bail!("a simulated client certificate carries at most two groups"),
        }
        dn.push(DnType::CommonName, user);
        p.distinguished_name = dn;
        let now = chrono::Utc::now();
        p.not_before = odt(now - chrono::Duration::days(1))?;
        p.not_after = odt(now + chrono::Duration::days(365))?;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// The TLS configuration of the API server: HTTP/1.1, the serving certificate, client
    /// certificates optional but verified against the cluster CA when sent.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).context("cluster CA certificate")?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca)?;
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(self.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .context("serving certificate")?;
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).context("serving key")?;
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

// ---- kubeconfigs ------------------------------------------------------------------------

/// How a kubeconfig's user authenticates.
pub enum KubeconfigUser<'a> {
    /// `token:`
    Token(&'a str),
    /// `client-certificate-data` / `client-key-data` (PEM).
    ClientCert { cert_pem: &'a str, key_pem: &'a str },
    /// `exec:` a credential plugin printing an `ExecCredential`.
    Exec { command: &'a str },
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// A kubeconfig for the simulated cluster: context and cluster `cluster`, user
/// `<cluster>-admin`, the server's CA inline.
pub fn kubeconfig(cluster: &str, server: &str, ca_pem: &str, user: &KubeconfigUser) -> String {
    let user_yaml = match user {
        KubeconfigUser::Token(t) => format!("    token: {t}\n"),
        KubeconfigUser::ClientCert { cert_pem, key_pem } => format!(
            "    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(cert_pem),
            b64(key_pem)
        ),
        KubeconfigUser::Exec { command } => format!(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {command}\n      interactiveMode: Never\n      provideClusterInfo: false\n"
        ),
    };
    format!(
        "apiVersion: v1\nkind: Config\n# Simulated cluster written by vscript sim: loopback only.\nclusters:\n- name: {cluster}\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {cluster}\n  context:\n    cluster: {cluster}\n    user: {cluster}-admin\ncurrent-context: {cluster}\nusers:\n- name: {cluster}-admin\n  user:\n{user_yaml}",
        ca = b64(ca_pem)
    )
}

/// A credential plugin (POSIX shell) that prints an `ExecCredential` with the token in
/// `token_file`, as cloud plugins (kubelogin, aws eks get-token, gke-gcloud-auth-plugin) do.
pub fn exec_plugin_script(token_file: &str) -> String {
    format!(
        "#!/bin/sh\n# Credential plugin written by vscript sim (client.authentication.k8s.io/v1).\nset -e\ntoken=$(cat '{}')\nexpiry=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT23:59:59Z)\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}}}\\n' \"$token\" \"$expiry\"\n",
        token_file.replace('\'', "'\\''")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_carry_user_and_groups() {
        let pki = ClusterPki::generate().unwrap();
        let (cert, _key) = pki.issue_client_cert("jane", &["system:masters", "ops"]).unwrap();
        let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let PeerIdentity(Some(u)) = PeerIdentity::from_cert(&der) else {
            panic!("no identity")
        };
        assert_eq!(u.name, "jane");
        assert_eq!(u.groups, ["system:masters", "ops", AUTHENTICATED]);
        pki.server_config().unwrap();
    }

    #[test]
    fn tokens_service_accounts_and_anonymous() {
        let store = Store::new();
        store
            .create(res("Namespace"), "", serde_json::json!({"metadata": {"name": "demo"}}), false)
            .unwrap();
        let a = Authenticator::new();
        a.add_token("admin-token", UserInfo::new("admin", &[MASTERS]));
        let sa = a.mint_service_account_token("demo", "robot");
        let hdr = |t: &str| {
            let mut h = HeaderMap::new();
            h.insert("authorization", format!("Bearer {t}").parse().unwrap());
            h
        };
        assert_eq!(a.authenticate(&hdr("admin-token"), None, "/api", &store).unwrap().name, "admin");
        assert_eq!(a.authenticate(&hdr("nope"), None, "/healthz", &store), Err(Unauthenticated));
        // The account does not exist yet: its token is not valid.
        assert_eq!(a.authenticate(&hdr(&sa), None, "/api", &store), Err(Unauthenticated));
        store
            .create(
                res("ServiceAccount"),
                "demo",
                serde_json::json!({"metadata": {"name": "robot"}}),
                false,
            )
            .unwrap();
        let u = a.authenticate(&hdr(&sa), None, "/api", &store).unwrap();
        assert_eq!(u.name, "system:serviceaccount:demo:robot");
        assert!(u.in_group("system:serviceaccounts:demo") && u.in_group(AUTHENTICATED));
        assert!(!u.uid.is_empty());
        assert_eq!(a.authenticate(&HeaderMap::new(), None, "/api", &store), Err(Unauthenticated));
        assert_eq!(a.authenticate(&HeaderMap::new(), None, "/healthz", &store).unwrap().name, ANONYMOUS);
    }
}
