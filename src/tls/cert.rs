//! Certificates: inspect PEM files, check that a key matches, that a fullchain is complete
//! and ordered, that it covers a host, and what a TLS server presents.
//!
//! Signatures between certificates of a chain are verified with ring; the server check
//! (`remote`) accepts any certificate on purpose: it inspects, it does not trust.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use ring::signature as sig;
use serde::Serialize;
use x509_parser::prelude::*;

/// Why a certificate check failed. Messages never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("`{path}` holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----`)")]
    NoCertificate { path: String },
    #[error("`{path}`: certificate #{index} is malformed: {reason}")]
    Malformed { path: String, index: usize, reason: String },
    #[error("`{path}` is not a readable private key: {reason}")]
    BadKey { path: String, reason: String },
    #[error("private key `{key}` does not match certificate `{cert}`")]
    KeyMismatch { key: String, cert: String },
    #[error("`{path}`: {}", problems.join("; "))]
    Chain { path: String, problems: Vec<String> },
    #[error("the new certificate `{path}` is not ready to install:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Renewal { path: String, problems: Vec<String> },
    #[error("cannot get the certificate of `{target}`: {reason}")]
    Remote { target: String, reason: String },
}

/// One certificate, as scripts see it.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    pub days_left: i64,
    pub serial: String,
    /// SHA-256 fingerprint of the DER, `AB:CD:…` (as `openssl x509 -fingerprint -sha256`).
    pub sha256: String,
    pub is_ca: bool,
    pub self_signed: bool,
    /// `EC P-256`, `RSA 2048`, …
    pub key: String,
}

/// `inspect`: the first certificate's fields plus the whole chain.
#[derive(Debug, Clone, Serialize)]
pub struct Inspect {
    #[serde(flatten)]
    pub first: CertInfo,
    pub chain_length: usize,
    pub chain: Vec<CertInfo>,
}

/// A parsed certificate with what the checks need, owned.
#[derive(Debug, Clone)]
pub struct Cert {
    pub info: CertInfo,
    pub der: Vec<u8>,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    /// SubjectPublicKeyInfo: algorithm OID, curve OID, key bits.
    key_alg: String,
    key_curve: Option<String>,
    key_bits: Vec<u8>,
    tbs: Vec<u8>,
    sig_alg: String,
    signature: Vec<u8>,
    not_after_ts: i64,
    not_before_ts: i64,
    dns_names: Vec<String>,
    ip_addrs: Vec<std::net::IpAddr>,
    cn: Option<String>,
}

fn rfc3339(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| ts.to_string())
}

/// Days from now until `ts` (negative when past), rounded down.
pub fn days_until(ts: i64) -> i64 {
    (ts - Utc::now().timestamp()).div_euclid(86_400)
}

/// `AB:CD:…` SHA-256 of bytes.
pub fn fingerprint_of(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

const OID_EC: &str = "1.2.840.10045.2.1";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

impl Cert {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Cert, String> {
        let (_, c) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        let spki = c.public_key();
        let key_alg = spki.algorithm.algorithm.to_id_string();
        let key_curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        let key_bits = spki.subject_public_key.data.to_vec();
        let key = match (key_alg.as_str(), key_curve.as_deref()) {
            (OID_EC, Some(OID_P256)) => "EC P-256".to_owned(),
            (OID_EC, Some(OID_P384)) => "EC P-384".to_owned(),
            (OID_EC, _) => "EC".to_owned(),
            (OID_RSA, _) => match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("RSA {}", r.key_size()),
                _ => "RSA".to_owned(),
            },
            (OID_ED25519, _) => "Ed25519".to_owned(),
            (other, _) => other.to_owned(),
        };
        let mut dns_names = vec![];
        let mut ip_addrs = vec![];
        let mut sans = vec![];
        if let Ok(Some(ext)) = c.subject_alternative_name() {
            for n in &ext.value.general_names {
                match n {
                    GeneralName::DNSName(d) => {
                        dns_names.push(d.to_string());
                        sans.push(d.to_string());
                    }
                    GeneralName::IPAddress(b) => {
                        let ip = match b.len() {
                            4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                            16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            ip_addrs.push(ip);
                            sans.push(ip.to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        let cn = c
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned);
        let not_after_ts = c.validity().not_after.timestamp();
        let not_before_ts = c.validity().not_before.timestamp();
        let mut cert = Cert {
            info: CertInfo {
                subject: c.subject().to_string(),
                issuer: c.issuer().to_string(),
                sans,
                not_before: rfc3339(not_before_ts),
                not_after: rfc3339(not_after_ts),
                days_left: days_until(not_after_ts),
                serial: c.raw_serial_as_string(),
                sha256: fingerprint_of(der),
                is_ca: c.is_ca(),
                self_signed: false,
                key,
            },
            der: der.to_vec(),
            subject_raw: c.subject().as_raw().to_vec(),
            issuer_raw: c.issuer().as_raw().to_vec(),
            key_alg,
            key_curve,
            key_bits,
            tbs: c.tbs_certificate.as_ref().to_vec(),
            sig_alg: c.signature_algorithm.algorithm.to_id_string(),
            signature: c.signature_value.data.to_vec(),
            not_after_ts,
            not_before_ts,
            dns_names,
            ip_addrs,
            cn,
        };
        cert.info.self_signed = cert.subject_raw == cert.issuer_raw && cert.signed_by(&cert) != Some(false);
        Ok(cert)
    }

    /// Whether `issuer` signed this certificate: `Some(true/false)`, or `None` when the
    /// algorithm is not one we verify (then names alone decide).
    pub fn signed_by(&self, issuer: &Cert) -> Option<bool> {
        if self.issuer_raw != issuer.subject_raw {
            return Some(false);
        }
        let alg: &dyn sig::VerificationAlgorithm = match (self.sig_alg.as_str(), issuer.key_alg.as_str(), issuer.key_curve.as_deref()) {
            ("1.2.840.10045.4.3.2", OID_EC, Some(OID_P256)) => &sig::ECDSA_P256_SHA256_ASN1,
            ("1.2.840.10045.4.3.3", OID_EC, Some(OID_P256)) => &sig::ECDSA_P256_SHA384_ASN1,
            ("1.2.840.10045.4.3.2", OID_EC, Some(OID_P384)) => &sig::ECDSA_P384_SHA256_ASN1,
            ("1.2.840.10045.4.3.3", OID_EC, Some(OID_P384)) => &sig::ECDSA_P384_SHA384_ASN1,
            ("1.2.840.113549.1.1.11", OID_RSA, _) => &sig::RSA_PKCS1_2048_8192_SHA256,
            ("1.2.840.113549.1.1.12", OID_RSA, _) => &sig::RSA_PKCS1_2048_8192_SHA384,
            ("1.2.840.113549.1.1.13", OID_RSA, _) => &sig::RSA_PKCS1_2048_8192_SHA512,
            ("1.3.101.112", OID_ED25519, _) => &sig::ED25519,
            _ => return None,
        };
        Some(
            sig::UnparsedPublicKey::new(alg, &issuer.key_bits)
                .verify(&self.tbs, &self.signature)
                .is_ok(),
        )
    }

    fn issued(&self, child: &Cert) -> bool {
        child.signed_by(self) != Some(false)
    }

    /// Whether the certificate is valid for `host` (SANs, wildcards one label deep; the
    /// CN only when there are no SANs).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
            return self.ip_addrs.contains(&ip);
        }
        let names: Vec<&String> = if self.dns_names.is_empty() && self.ip_addrs.is_empty() {
            self.cn.iter().collect()
        } else {
            self.dns_names.iter().collect()
        };
        names.iter().any(|n| name_matches(&n.to_ascii_lowercase(), &host))
    }
}

/// DNS name matching with a leftmost `*` label matching exactly one label.
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(suffix) => match host.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == suffix,
            None => false,
        },
        None => pattern == host,
    }
}

/// Reads a file's bytes.
pub fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|e| CertError::Read {
        path: path.display().to_string(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".into()
        } else {
            e.to_string()
        },
    })
}

/// Every certificate of a PEM file, in file order.
pub fn load(path: &Path) -> Result<Vec<Cert>, CertError> {
    parse_pem(&path.display().to_string(), &read(path)?)
}

/// Every certificate of PEM text (`label` names it in errors).
pub fn parse_pem(label: &str, data: &[u8]) -> Result<Vec<Cert>, CertError> {
    let mut out = vec![];
    let mut index = 0;
    for item in x509_parser::pem::Pem::iter_from_buffer(data) {
        index += 1;
        let pem = item.map_err(|e| CertError::Malformed {
            path: label.into(),
            index,
            reason: format!("bad PEM: {e}"),
        })?;
        if pem.label != "CERTIFICATE" && pem.label != "TRUSTED CERTIFICATE" {
            index -= 1;
            continue;
        }
        let c = Cert::from_der(&pem.contents).map_err(|reason| CertError::Malformed {
            path: label.into(),
            index,
            reason,
        })?;
        out.push(c);
    }
    if out.is_empty() {
        return Err(CertError::NoCertificate { path: label.into() });
    }
    Ok(out)
}

/// `inspect`.
pub fn inspect(path: &Path) -> Result<Inspect, CertError> {
    Ok(inspect_chain(&load(path)?))
}

/// The inspect view of a list of certificates (non-empty).
pub fn inspect_chain(certs: &[Cert]) -> Inspect {
    Inspect {
        first: certs[0].info.clone(),
        chain_length: certs.len(),
        chain: certs.iter().map(|c| c.info.clone()).collect(),
    }
}

// ---------------------------------------------------------------------------------------
// private keys

/// The public key bits of a PEM private key (PKCS#8, SEC1 or PKCS#1), comparable to a
/// certificate's SubjectPublicKeyInfo bits.
pub fn public_key_of(path: &Path) -> Result<Vec<u8>, CertError> {
    let label = path.display().to_string();
    let bad = |reason: &str| CertError::BadKey {
        path: label.clone(),
        reason: reason.to_owned(),
    };
    let data = read(path)?;
    let key = rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|_| bad("malformed PEM"))?
        .ok_or_else(|| bad("no `PRIVATE KEY` PEM block (expected PKCS#8, `EC PRIVATE KEY` or `RSA PRIVATE KEY`)"))?;
    let rng = ring::rand::SystemRandom::new();
    use ring::signature::KeyPair;
    match key {
        rustls::pki_types::PrivateKeyDer::Pkcs8(k) => {
            let der = k.secret_pkcs8_der();
            for alg in [&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &sig::ECDSA_P384_SHA384_ASN1_SIGNING] {
                if let Ok(kp) = sig::EcdsaKeyPair::from_pkcs8(alg, der, &rng) {
                    return Ok(kp.public_key().as_ref().to_vec());
                }
            }
            if let Ok(kp) = sig::RsaKeyPair::from_pkcs8(der) {
                return Ok(kp.public_key().as_ref().to_vec());
            }
            if let Ok(kp) = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                return Ok(kp.public_key().as_ref().to_vec());
            }
            Err(bad(
                "unsupported PKCS#8 key type (supported: EC P-256/P-384, RSA ≥ 2048 bits, Ed25519)",
            ))
        }
        rustls::pki_types::PrivateKeyDer::Pkcs1(k) => sig::RsaKeyPair::from_der(k.secret_pkcs1_der())
            .map(|kp| kp.public_key().as_ref().to_vec())
            .map_err(|e| bad(&format!("unusable RSA key ({e})"))),
        rustls::pki_types::PrivateKeyDer::Sec1(k) => sec1_public_key(k.secret_sec1_der())
            .ok_or_else(|| bad("SEC1 EC key without its public key; convert it with `openssl pkcs8 -topk8 -nocrypt`")),
        _ => Err(bad("unsupported key format")),
    }
}

/// DER: (tag, content, rest).
fn der_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let l0 = *b.get(1)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let content = b.get(hdr..hdr + len)?;
    Some((tag, content, &b[hdr + len..]))
}

/// The `[1] publicKey` of a SEC1 `ECPrivateKey`.
fn sec1_public_key(der: &[u8]) -> Option<Vec<u8>> {
    let (0x30, seq, _) = der_tlv(der)? else { return None };
    let mut rest = seq;
    while !rest.is_empty() {
        let (tag, content, r) = der_tlv(rest)?;
        if tag == 0xa1 {
            let (0x03, bits, _) = der_tlv(content)? else { return None };
            // first byte of a BIT STRING is the count of unused bits
            return Some(bits.get(1..)?.to_vec());
        }
        rest = r;
    }
    None
}

/// Whether the key in `key_path` belongs to the first certificate of `cert_path`.
pub fn check_pair(cert_path: &Path, key_path: &Path) -> Result<(), CertError> {
    let certs = load(cert_path)?;
    let public = public_key_of(key_path)?;
    if certs[0].key_bits == public {
        Ok(())
    } else {
        Err(CertError::KeyMismatch {
            key: key_path.display().to_string(),
            cert: cert_path.display().to_string(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// chains

/// What `check_chain` found.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub ok: bool,
    pub length: usize,
    pub leaf: String,
    /// Subject of the last certificate in the file.
    pub ends_at: String,
    /// Whether the file ends with a self-signed root.
    pub root_included: bool,
    /// Earliest expiry in the chain (RFC 3339) and days until it.
    pub expires: String,
    pub days_left: i64,
    pub problems: Vec<String>,
}

/// Checks a fullchain: leaf first, each certificate issued by the next, no intermediate
/// missing, none expired or not yet valid.
pub fn chain_report(certs: &[Cert]) -> ChainReport {
    let now = Utc::now().timestamp();
    let mut problems = vec![];
    let n = certs.len();
    let name = |c: &Cert| format!("`{}`", c.info.subject);
    if certs[0].info.is_ca {
        match certs.iter().position(|c| !c.info.is_ca) {
            Some(i) => problems.push(format!(
                "the server certificate {} must come first, but it is #{} (the file starts with the CA certificate {})",
                name(&certs[i]),
                i + 1,
                name(&certs[0])
            )),
            None => problems.push(format!(
                "the file starts with the CA certificate {}; the server (leaf) certificate must come first",
                name(&certs[0])
            )),
        }
    } else if let Some(i) = certs.iter().skip(1).position(|c| !c.info.is_ca) {
        problems.push(format!(
            "certificate #{} {} is another server certificate; a fullchain holds one leaf and its CAs",
            i + 2,
            name(&certs[i + 1])
        ));
    }
    // order: each one issued by the next
    for i in 0..n.saturating_sub(1) {
        let (c, next) = (&certs[i], &certs[i + 1]);
        if c.info.self_signed {
            problems.push(format!(
                "{} (#{}) is a self-signed root but is followed by more certificates",
                name(c),
                i + 1
            ));
            continue;
        }
        if !next.issued(c) {
            match certs.iter().position(|o| o.issued(c) && o.subject_raw != c.subject_raw) {
                Some(k) => problems.push(format!(
                    "wrong order: {} (#{}) is issued by {} (#{}), which must come right after it",
                    name(c),
                    i + 1,
                    name(&certs[k]),
                    k + 1
                )),
                None => problems.push(format!(
                    "{} (#{}) is issued by `{}`, which is not in the file: append the intermediate certificate(s)",
                    name(c),
                    i + 1,
                    c.info.issuer
                )),
            }
        }
    }
    let last = &certs[n - 1];
    if !last.info.self_signed && !last.info.is_ca && !certs.iter().any(|o| o.issued(last) && o.subject_raw != last.subject_raw) {
        problems.push(format!(
            "the chain ends at {} whose issuer `{}` is not in the file: append the intermediate certificate(s)",
            name(last),
            last.info.issuer
        ));
    }
    for c in certs {
        if c.not_after_ts < now {
            problems.push(format!("{} expired on {}", name(c), c.info.not_after));
        } else if c.not_before_ts > now {
            problems.push(format!("{} is not valid before {}", name(c), c.info.not_before));
        }
    }
    let earliest = certs.iter().min_by_key(|c| c.not_after_ts).unwrap();
    ChainReport {
        ok: problems.is_empty(),
        length: n,
        leaf: certs[0].info.subject.clone(),
        ends_at: last.info.subject.clone(),
        root_included: last.info.self_signed && n > 1,
        expires: earliest.info.not_after.clone(),
        days_left: earliest.info.days_left,
        problems,
    }
}

/// `check_chain`: the report, or an error listing every problem.
pub fn check_chain(path: &Path) -> Result<ChainReport, CertError> {
    let r = chain_report(&load(path)?);
    if r.ok {
        Ok(r)
    } else {
        Err(CertError::Chain {
            path: path.display().to_string(),
            problems: r.problems,
        })
    }
}

/// `covers`.
pub fn covers(path: &Path, host: &str) -> Result<bool, CertError> {
    Ok(load(path)?[0].covers(host))
}

/// `check_renewal` inputs.
#[derive(Debug, Clone)]
pub struct Renewal<'a> {
    pub fullchain: &'a Path,
    pub private_key: Option<&'a Path>,
    pub host: Option<&'a str>,
    /// The certificate in use now (the new one must expire later).
    pub current: Option<&'a Path>,
    /// The customer's CA certificates (PEM) besides the system's trust store: the chain
    /// must verify to one of these roots.
    pub ca: Option<&'a [u8]>,
}

/// What `check_renewal` checked.
#[derive(Debug, Clone, Serialize)]
pub struct RenewalReport {
    pub subject: String,
    pub sans: Vec<String>,
    pub not_after: String,
    pub days_left: i64,
    pub chain_length: usize,
    pub key_matches: Option<bool>,
    pub covers: Option<String>,
    pub current_not_after: Option<String>,
    /// Days the new certificate adds over the current one.
    pub gain_days: Option<i64>,
    pub sha256: String,
}

/// Every check the SSL renewal needs, all problems reported at once.
pub fn check_renewal(r: &Renewal) -> Result<RenewalReport, CertError> {
    let path = r.fullchain.display().to_string();
    let certs = load(r.fullchain)?;
    let leaf = &certs[0];
    let mut problems = chain_report(&certs).problems;
    let mut key_matches = None;
    if let Some(k) = r.private_key {
        match public_key_of(k) {
            Ok(pk) if pk == leaf.key_bits => key_matches = Some(true),
            Ok(_) => {
                key_matches = Some(false);
                problems.push(
                    CertError::KeyMismatch {
                        key: k.display().to_string(),
                        cert: path.clone(),
                    }
                    .to_string(),
                );
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if let Some(h) = r.host
        && !leaf.covers(h)
    {
        problems.push(format!("it does not cover `{h}` (names: {})", leaf.info.sans.join(", ")));
    }
    // Every client must accept it: the chain verifies to a trusted root for the host.
    let name = r
        .host
        .map(str::to_owned)
        .or_else(|| leaf.info.sans.first().cloned())
        .unwrap_or_default();
    let presented: Vec<Vec<u8>> = certs.iter().map(|c| c.der.clone()).collect();
    if let Err(e) = trust_roots(r.ca).and_then(|roots| verify_chain(roots, &presented, &name)) {
        problems.push(format!(
            "it does not chain to a trusted root ({e}): self-signed, or issued by a CA neither the system nor [vantiq] ca in vscript.toml trusts"
        ));
    }
    let mut current_not_after = None;
    let mut gain_days = None;
    if let Some(cur) = r.current
        && cur.exists()
    {
        match load(cur) {
            Ok(c) => {
                let cur_leaf = &c[0];
                current_not_after = Some(cur_leaf.info.not_after.clone());
                gain_days = Some((leaf.not_after_ts - cur_leaf.not_after_ts).div_euclid(86_400));
                if leaf.not_after_ts <= cur_leaf.not_after_ts {
                    problems.push(format!(
                        "it expires {}, not later than the current certificate `{}` ({})",
                        leaf.info.not_after,
                        cur.display(),
                        cur_leaf.info.not_after
                    ));
                }
            }
            Err(e) => problems.push(format!("the current certificate cannot be read: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(CertError::Renewal { path, problems });
    }
    Ok(RenewalReport {
        subject: leaf.info.subject.clone(),
        sans: leaf.info.sans.clone(),
        not_after: leaf.info.not_after.clone(),
        days_left: leaf.info.days_left,
        chain_length: certs.len(),
        key_matches,
        covers: r.host.map(str::to_owned),
        current_not_after,
        gain_days,
        sha256: leaf.info.sha256.clone(),
    })
}

// ---------------------------------------------------------------------------------------
// remote

/// Accepts any server certificate: `remote` inspects what is served, it does not trust it.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

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

/// The ring provider, installed as the process default when none is.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

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

/// Connects, completes a TLS handshake and returns the presented chain.
pub async fn remote(target: &str, opts: &RemoteOpts) -> Result<RemoteReport, CertError> {
    let err = |reason: String| CertError::Remote {
        target: target.to_owned(),
        reason,
    };
    let (host, port) = split_host_port(target);
    let sni = opts.sni.clone().unwrap_or_else(|| host.clone());
    let addr = opts.connect.clone().unwrap_or_else(|| {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    });
    let prov = provider();
    let config = rustls::ClientConfig::builder_with_provider(prov.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(prov.clone())))
        .with_no_client_auth();
    let server_name = rustls::pki_types::ServerName::try_from(sni.clone()).map_err(|_| err(format!("invalid server name `{sni}`")))?;
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
    let (trusted, trust_error) = match verify_with_ca(opts.ca.as_deref().unwrap_or_default(), &presented, &server_name, prov) {
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

/// The roots a certificate must chain to: the system's trust store, plus the customer's
/// CA certificates (PEM) for private CAs.
pub fn trust_roots(extra_ca_pem: Option<&[u8]>) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);
    if let Some(pem) = extra_ca_pem {
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            roots
                .add(c.map_err(|e| format!("bad CA file: {e}"))?)
                .map_err(|e| format!("bad CA certificate: {e}"))?;
        }
    }
    Ok(roots)
}

/// Whether a chain (leaf first) verifies for `name` to one of `roots`, now.
pub fn verify_chain(roots: rustls::RootCertStore, presented: &[Vec<u8>], name: &str) -> Result<(), String> {
    let name = rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(|_| format!("invalid server name `{name}`"))?;
    verify_with_roots(roots, presented, &name, provider())
}

fn verify_with_ca(
    ca_pem: &[u8],
    presented: &[Vec<u8>],
    name: &rustls::pki_types::ServerName<'static>,
    prov: Arc<rustls::crypto::CryptoProvider>,
) -> Result<(), String> {
    verify_with_roots(trust_roots(Some(ca_pem))?, presented, name, prov)
}

fn verify_with_roots(
    roots: rustls::RootCertStore,
    presented: &[Vec<u8>],
    name: &rustls::pki_types::ServerName<'static>,
    prov: Arc<rustls::crypto::CryptoProvider>,
) -> Result<(), String> {
    if roots.is_empty() {
        return Err("no trusted root certificates (the system store is empty and no CA is configured)".into());
    }
    let v = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), prov)
        .build()
        .map_err(|e| e.to_string())?;
    let ee = rustls::pki_types::CertificateDer::from(presented[0].clone());
    let inter: Vec<_> = presented[1..]
        .iter()
        .map(|c| rustls::pki_types::CertificateDer::from(c.clone()))
        .collect();
    use rustls::client::danger::ServerCertVerifier;
    v.verify_server_cert(&ee, &inter, name, &[], rustls::pki_types::UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};

    use super::*;

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

    #[test]
    fn inspect_reports_the_first_certificate_and_the_chain() {
        let pki = Pki::new();
        let (leaf, _) = pki.leaf(&["vantiq.example.com", "*.apps.example.com"], 2024, 2080);
        let f = pki.write("fullchain.crt", &[&leaf, &pki.inter]);
        let r = inspect(&f).unwrap();
        assert_eq!(r.first.subject, "CN=vantiq.example.com");
        assert_eq!(r.first.issuer, "CN=Test Intermediate CA");
        assert_eq!(r.first.sans, ["vantiq.example.com", "*.apps.example.com"]);
        assert_eq!(r.first.not_after, "2080-01-01T00:00:00Z");
        assert!(r.first.days_left > 365 * 50);
        assert_eq!(r.chain_length, 2);
        assert!(r.chain[1].is_ca && !r.first.is_ca);
        assert_eq!(r.first.key, "EC P-256");
        assert_eq!(r.first.sha256.len(), 32 * 3 - 1);
    }

    #[test]
    fn a_complete_ordered_chain_passes() {
        let pki = Pki::new();
        let (leaf, _) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let r = check_chain(&pki.write("a.crt", &[&leaf, &pki.inter])).unwrap();
        assert!(r.ok && r.length == 2 && !r.root_included);
        assert_eq!(r.ends_at, "CN=Test Intermediate CA");
        let r = check_chain(&pki.write("b.crt", &[&leaf, &pki.inter, &pki.root])).unwrap();
        assert!(r.root_included);
    }

    #[test]
    fn a_missing_intermediate_is_named() {
        let pki = Pki::new();
        let (leaf, _) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let f = pki.write("leaf.crt", &[&leaf]);
        let e = check_chain(&f).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "`{}`: the chain ends at `CN=vantiq.example.com` whose issuer `CN=Test Intermediate CA` is not in the file: append the intermediate certificate(s)",
                f.display()
            )
        );
        let e = check_chain(&pki.write("gap.crt", &[&leaf, &pki.root])).unwrap_err().to_string();
        assert!(
            e.contains("`CN=vantiq.example.com` (#1) is issued by `CN=Test Intermediate CA`, which is not in the file: append the intermediate certificate(s)"),
            "{e}"
        );
    }

    #[test]
    fn a_wrong_order_is_reported() {
        let pki = Pki::new();
        let (leaf, _) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let e = check_chain(&pki.write("rev.crt", &[&pki.inter, &leaf])).unwrap_err().to_string();
        assert!(
            e.contains("the server certificate `CN=vantiq.example.com` must come first, but it is #2"),
            "{e}"
        );
        let e = check_chain(&pki.write("rev3.crt", &[&leaf, &pki.root, &pki.inter]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("wrong order: `CN=vantiq.example.com` (#1) is issued by `CN=Test Intermediate CA` (#3)"),
            "{e}"
        );
    }

    #[test]
    fn an_expired_certificate_fails_the_chain() {
        let pki = Pki::new();
        let (leaf, _) = pki.leaf(&["vantiq.example.com"], 2020, 2021);
        let e = check_chain(&pki.write("old.crt", &[&leaf, &pki.inter])).unwrap_err().to_string();
        assert!(e.ends_with("`CN=vantiq.example.com` expired on 2021-01-01T00:00:00Z"), "{e}");
    }

    #[test]
    fn keys_are_matched_against_the_certificate() {
        let pki = Pki::new();
        let (leaf, key) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let (_, other_key) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let c = pki.write("fullchain.crt", &[&leaf, &pki.inter]);
        let k = pki.write("private.key", &[&key]);
        let wrong = pki.write("other.key", &[&other_key]);
        check_pair(&c, &k).unwrap();
        let e = check_pair(&c, &wrong).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("private key `{}` does not match certificate `{}`", wrong.display(), c.display())
        );
        assert!(!e.contains("PRIVATE"));
        // SEC1 (`EC PRIVATE KEY`), RSA PKCS#8 and PKCS#1, from openssl
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        check_pair(&fx.join("ec.crt"), &fx.join("ec-sec1.key")).unwrap();
        check_pair(&fx.join("rsa.crt"), &fx.join("rsa.key")).unwrap();
        check_pair(&fx.join("rsa.crt"), &fx.join("rsa-pkcs1.key")).unwrap();
        assert!(check_pair(&fx.join("rsa.crt"), &fx.join("ec-sec1.key")).is_err());
        assert!(
            check_pair(&c, &fx.join("rsa-pkcs1.key"))
                .unwrap_err()
                .to_string()
                .contains("does not match")
        );
        assert_eq!(inspect(&fx.join("rsa.crt")).unwrap().first.key, "RSA 2048");
        // not a key at all
        let e = check_pair(&c, &c).unwrap_err().to_string();
        assert!(e.contains("is not a readable private key"), "{e}");
    }

    #[test]
    fn hosts_are_matched_with_wildcards() {
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(name_matches("vantiq.example.com", "vantiq.example.com"));
        let pki = Pki::new();
        let (leaf, _) = pki.leaf(&["vantiq.example.com", "*.apps.example.com"], 2024, 2080);
        let f = pki.write("c.crt", &[&leaf]);
        assert!(covers(&f, "vantiq.example.com").unwrap());
        assert!(covers(&f, "VANTIQ.example.com.").unwrap());
        assert!(covers(&f, "x.apps.example.com").unwrap());
        assert!(!covers(&f, "other.example.com").unwrap());
    }

    #[test]
    fn malformed_pem_names_the_file() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("broken.crt");
        std::fs::write(&f, "-----BEGIN CERTIFICATE-----\nMIIBnotreallyacert\n-----END CERTIFICATE-----\n").unwrap();
        let e = inspect(&f).unwrap_err().to_string();
        assert!(e.starts_with(&format!("`{}`: certificate #1 is malformed", f.display())), "{e}");
        std::fs::write(&f, "hello\n").unwrap();
        assert_eq!(
            inspect(&f).unwrap_err().to_string(),
            format!(
                "`{}` holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----`)",
                f.display()
            )
        );
        assert!(
            inspect(&d.path().join("nope.crt"))
                .unwrap_err()
                .to_string()
                .contains("no such file")
        );
    }

    #[test]
    fn renewal_checks_report_every_problem_at_once() {
        let pki = Pki::new();
        let (cur, _) = pki.leaf(&["vantiq.example.com"], 2024, 2070);
        let current = pki.write("current.crt", &[&cur, &pki.inter]);
        let (good, good_key) = pki.leaf(&["vantiq.example.com"], 2025, 2080);
        let chain = pki.write("new.crt", &[&good, &pki.inter]);
        let key = pki.write("new.key", &[&good_key]);
        let root = pki.root.as_bytes();
        let r = check_renewal(&Renewal {
            fullchain: &chain,
            private_key: Some(&key),
            host: Some("vantiq.example.com"),
            current: Some(&current),
            ca: Some(root),
        })
        .unwrap();
        // The same chain without the customer's CA: an unknown root.
        let e = check_renewal(&Renewal {
            fullchain: &chain,
            private_key: Some(&key),
            host: Some("vantiq.example.com"),
            current: Some(&current),
            ca: None,
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not chain to a trusted root"), "{e}");
        // A self-signed certificate, even with the customer's CA configured.
        let selfsigned = {
            let k = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(vec!["vantiq.example.com".to_owned()]).unwrap();
            p.not_after = date_time_ymd(2080, 1, 1);
            (p.self_signed(&k).unwrap().pem(), k.serialize_pem())
        };
        let ss = pki.write("self.crt", &[&selfsigned.0]);
        let ssk = pki.write("self.key", &[&selfsigned.1]);
        let e = check_renewal(&Renewal {
            fullchain: &ss,
            private_key: Some(&ssk),
            host: Some("vantiq.example.com"),
            current: Some(&current),
            ca: Some(root),
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not chain to a trusted root"), "{e}");
        assert_eq!(r.key_matches, Some(true));
        assert!(r.gain_days.unwrap() > 3000);
        assert_eq!(r.chain_length, 2);

        // wrong host, expired, no intermediate, someone else's key, older than the current one
        let (bad, _) = pki.leaf(&["other.example.com"], 2020, 2021);
        let bad_chain = pki.write("bad.crt", &[&bad]);
        let e = check_renewal(&Renewal {
            fullchain: &bad_chain,
            private_key: Some(&key),
            host: Some("vantiq.example.com"),
            current: Some(&current),
            ca: Some(root),
        })
        .unwrap_err()
        .to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(
            lines[0],
            format!("the new certificate `{}` is not ready to install:", bad_chain.display())
        );
        assert!(
            lines.iter().any(|l| l.contains("is not in the file: append the intermediate")),
            "{e}"
        );
        assert!(lines.iter().any(|l| l.contains("expired on 2021-01-01")), "{e}");
        assert!(lines.iter().any(|l| l.contains("does not match certificate")), "{e}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("does not cover `vantiq.example.com` (names: other.example.com)")),
            "{e}"
        );
        assert!(lines.iter().any(|l| l.contains("not later than the current certificate")), "{e}");
        assert!(lines.iter().any(|l| l.contains("does not chain to a trusted root")), "{e}");
        assert_eq!(lines.len(), 7, "{e}");
    }

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

    /// A TLS server on 127.0.0.1 presenting `chain`, answering every connection.
    pub(crate) async fn serve_tls(chain: &[&str], key: &str) -> std::net::SocketAddr {
        let certs: Vec<_> = rustls_pemfile::certs(&mut chain.concat().as_bytes()).map(Result::unwrap).collect();
        let key = rustls_pemfile::private_key(&mut key.as_bytes()).unwrap().unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
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
}
