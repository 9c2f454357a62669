//! The certificate checks behind `cert::…`: a certificate's fields (`Cert`), `inspect`,
//! the key pair, the fullchain (leaf first, each issued by the next, nothing missing or
//! expired), host coverage, the renewal checks, and trust (the chain verifies to the
//! system's trust store or the customer's CA, as a client set up by `http::connect` would
//! decide).
//!
//! Signatures between the certificates of a chain are verified with ring.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use ring::signature as sig;
use serde::Serialize;
use x509_parser::prelude::*;

use super::CertError;
use super::pem::{self, read};
use crate::http::connect;

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

/// Every certificate of a PEM file, in file order.
pub fn load(path: &Path) -> Result<Vec<Cert>, CertError> {
    parse_pem(&path.display().to_string(), &read(path)?)
}

/// Every certificate of PEM text (`label` names it in errors).
pub fn parse_pem(label: &str, data: &[u8]) -> Result<Vec<Cert>, CertError> {
    pem::certificates(label, data, Cert::from_der)
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

/// Whether the key in `key_path` belongs to the first certificate of `cert_path`.
pub fn check_pair(cert_path: &Path, key_path: &Path) -> Result<(), CertError> {
    let certs = load(cert_path)?;
    let public = pem::public_key_of(key_path)?;
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
        match pem::public_key_of(k) {
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
    if let Err(e) = verify_chain(r.ca, &presented, &name) {
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

/// Whether a chain (leaf first, DER) verifies for `name`, now, to a root of the system's
/// trust store or of the customer's CA certificates (PEM).
pub fn verify_chain(ca: Option<&[u8]>, presented: &[Vec<u8>], name: &str) -> Result<(), String> {
    connect::verify_chain(connect::system_roots_and(ca)?, presented, name)
}

#[cfg(test)]
mod tests;
