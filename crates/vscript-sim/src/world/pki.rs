//! Certificates for the simulated installation and for tests: a root CA, an
//! intermediate and a leaf for the Vantiq host, in the shapes a customer sends
//! (`fullchain.crt` = leaf then intermediate, `private.key` = PKCS#8 PEM), plus the
//! broken variants the runbook's checks must catch (expired, key mismatch, missing
//! intermediate). Also the small inspection helpers the simulator's invariants use.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

const ROOT_CN: &str = "Acme Simulated Root CA";
const INTERMEDIATE_CN: &str = "Acme Simulated Issuing CA R2";

fn odt(t: DateTime<Utc>) -> Result<time::OffsetDateTime> {
    Ok(time::OffsetDateTime::from_unix_timestamp(t.timestamp())?)
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationName, "Acme Simulated PKI");
    d.push(DnType::CommonName, cn);
    d
}

fn ca_params(cn: &str, path_len: Option<u8>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(match path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

/// A root certificate authority: clients trust its certificate (`DIR/ca.crt`).
pub struct Ca {
    /// The root certificate, PEM.
    pub cert_pem: String,
    key_pem: String,
}

impl Ca {
    /// A new root CA valid from a year ago for ten years.
    pub fn generate() -> Result<Ca> {
        let key = KeyPair::generate()?;
        let mut p = ca_params(ROOT_CN, None);
        let now = Utc::now();
        p.not_before = odt(now - chrono::Duration::days(365))?;
        p.not_after = odt(now + chrono::Duration::days(3650))?;
        let cert = p.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A CA saved earlier with [`Ca::cert_pem`] and [`Ca::key_pem`].
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca> {
        KeyPair::from_pem(key_pem).context("the CA key is not a PEM private key")?;
        Ok(Ca {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    /// The CA's private key (PEM); only for saving it next to the simulator's state.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues an intermediate CA and, under it, a leaf for `host` valid between the
    /// given instants (the intermediate covers a wider window).
    pub fn issue(&self, host: &str, not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> Result<Chain> {
        let root_key = KeyPair::from_pem(&self.key_pem)?;
        let root = Issuer::new(ca_params(ROOT_CN, None), root_key);

        let int_key = KeyPair::generate()?;
        let mut ip = ca_params(INTERMEDIATE_CN, Some(0));
        ip.not_before = odt(not_before - chrono::Duration::days(30))?;
        ip.not_after = odt(not_after + chrono::Duration::days(365))?;
        let int_cert = ip.signed_by(&int_key, &root)?;
        let intermediate = Issuer::new(ip, int_key);

        let leaf_key = KeyPair::generate()?;
        let mut lp = CertificateParams::new(vec![host.to_owned(), format!("*.{host}")])?;
        let mut ldn = DistinguishedName::new();
        ldn.push(DnType::CommonName, host);
        lp.distinguished_name = ldn;
        lp.not_before = odt(not_before)?;
        lp.not_after = odt(not_after)?;
        lp.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        lp.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        lp.use_authority_key_identifier_extension = true;
        let leaf = lp.signed_by(&leaf_key, &intermediate)?;
        Ok(Chain {
            leaf_pem: leaf.pem(),
            intermediate_pem: int_cert.pem(),
            root_pem: self.cert_pem.clone(),
            key_pem: leaf_key.serialize_pem(),
        })
    }
}

/// A certificate chain and the leaf's key.
pub struct Chain {
    pub leaf_pem: String,
    pub intermediate_pem: String,
    pub root_pem: String,
    /// The leaf's private key, PKCS#8 PEM (`private.key`).
    pub key_pem: String,
}

impl Chain {
    /// `fullchain.crt`: the leaf, then the intermediate.
    pub fn fullchain_pem(&self) -> String {
        format!("{}{}", self.leaf_pem, self.intermediate_pem)
    }
    /// A "chain" missing its intermediate (what the runbook's step 2 warns about).
    pub fn leaf_only_pem(&self) -> String {
        self.leaf_pem.clone()
    }
}

/// A fresh private key that matches no certificate (PKCS#8 PEM).
pub fn unrelated_key_pem() -> Result<String> {
    Ok(KeyPair::generate()?.serialize_pem())
}

/// A chain for `host` that expired `days_ago` days ago.
pub fn expired_chain(ca: &Ca, host: &str, days_ago: i64) -> Result<Chain> {
    let now = Utc::now();
    ca.issue(
        host,
        now - chrono::Duration::days(days_ago + 365),
        now - chrono::Duration::days(days_ago),
    )
}

/// What the simulator needs to know about a certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub dns_names: Vec<String>,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
}

/// Every certificate in a PEM bundle, as DER, in order.
pub fn pem_certs(pem: &str) -> Vec<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(|c| c.ok())
        .map(|c| c.to_vec())
        .collect()
}

/// Inspects one DER certificate.
pub fn cert_info(der: &[u8]) -> Result<CertInfo> {
    let (_, c) = x509_parser::parse_x509_certificate(der).map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
    let ts = |t: x509_parser::time::ASN1Time| DateTime::<Utc>::from_timestamp(t.timestamp(), 0).unwrap_or_default();
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                dns_names.push((*d).to_owned());
            }
        }
    }
    Ok(CertInfo {
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        not_before: ts(c.validity().not_before),
        not_after: ts(c.validity().not_after),
        dns_names,
        sha256: hex(&Sha256::digest(der)),
    })
}

/// Inspects the first certificate of a PEM bundle.
pub fn leaf_info(pem: &str) -> Result<CertInfo> {
    let certs = pem_certs(pem);
    let first = certs.first().context("no PEM certificate found")?;
    cert_info(first)
}

/// Does `key_pem` hold the private key of the first certificate in `cert_pem`?
pub fn key_matches(cert_pem: &str, key_pem: &str) -> bool {
    let Some(der) = pem_certs(cert_pem).into_iter().next() else {
        return false;
    };
    let Ok((_, c)) = x509_parser::parse_x509_certificate(&der) else {
        return false;
    };
    let Ok(key) = KeyPair::from_pem(key_pem) else { return false };
    c.public_key().subject_public_key.data.as_ref() == key.public_key_raw()
}

/// Is the bundle a complete chain: every certificate's issuer is the next one's
/// subject, and the last one is issued by a root (not an intermediate left out)?
/// `root_subjects` are the subjects of trusted roots.
pub fn chain_complete(pem: &str, root_subjects: &[String]) -> bool {
    let infos: Vec<CertInfo> = pem_certs(pem).iter().filter_map(|d| cert_info(d).ok()).collect();
    let Some(last) = infos.last() else { return false };
    let linked = infos.windows(2).all(|w| w[0].issuer == w[1].subject);
    linked && (last.issuer == last.subject || root_subjects.contains(&last.issuer))
}

/// Whether the last certificate of a chain was signed by the CA certificate `ca_pem`
/// (so that clients trusting that CA accept the chain).
pub fn issued_by(chain_pem: &str, ca_pem: &str) -> bool {
    let (Some(last), Some(ca)) = (pem_certs(chain_pem).pop(), pem_certs(ca_pem).pop()) else {
        return false;
    };
    let (Ok((_, last)), Ok((_, ca))) = (x509_parser::parse_x509_certificate(&last), x509_parser::parse_x509_certificate(&ca)) else {
        return false;
    };
    last.verify_signature(Some(ca.public_key())).is_ok()
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_verifies_and_broken_variants_are_detected() {
        let ca = Ca::generate().unwrap();
        let now = Utc::now();
        let chain = ca.issue("vantiq.acme.example.com", now, now + chrono::Duration::days(60)).unwrap();
        let root_subject = leaf_info(&ca.cert_pem).unwrap().subject;
        assert!(key_matches(&chain.fullchain_pem(), &chain.key_pem));
        assert!(!key_matches(&chain.fullchain_pem(), &unrelated_key_pem().unwrap()));
        assert!(chain_complete(&chain.fullchain_pem(), std::slice::from_ref(&root_subject)));
        assert!(!chain_complete(&chain.leaf_only_pem(), &[root_subject]));
        let info = leaf_info(&chain.fullchain_pem()).unwrap();
        assert!(info.dns_names.contains(&"vantiq.acme.example.com".to_owned()));
        assert!((info.not_after - now).num_days() >= 59);
        let old = expired_chain(&ca, "vantiq.acme.example.com", 3).unwrap();
        assert!(leaf_info(&old.fullchain_pem()).unwrap().not_after < now);
        let again = Ca::from_pem(&ca.cert_pem, ca.key_pem()).unwrap();
        again.issue("x.example.com", now, now + chrono::Duration::days(1)).unwrap();
    }
}
