//! Simulated Vantiq licenses. A license is a pair of files, as Vantiq support sends them:
//! `public.pem`, a PEM `PUBLIC KEY` (ECDSA P-256 SubjectPublicKeyInfo), and
//! `license.key`, a compact JWT signed ES256 by the matching private key with claims
//! `{"iss":"Vantiq","sub":<issued to>,"jti":<uuid>,"iat":<unix>,"exp":<unix>}`.
//! The simulated server accepts a license in this format only when the signature verifies
//! with the `public.pem` next to it and `exp` is in the future. A license it cannot read
//! (real Vantiq licenses, any other format) is accepted as valid with an unknown expiry, as
//! vscript treats license files by default (opaque); empty or missing files are refused.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};

/// DER prefix of an uncompressed P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1).
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
    0x07, 0x03, 0x42, 0x00,
];

/// The claims of a license.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    /// Issued to, e.g. `Acme Corp`.
    pub sub: String,
    /// The license id.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl Claims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or_default()
    }
}

/// The two license files.
#[derive(Debug, Clone)]
pub struct License {
    /// `public.pem`
    pub public_pem: String,
    /// `license.key`
    pub license_key: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

fn new_key() -> Result<EcdsaKeyPair> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("cannot generate a license key"))?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| anyhow::anyhow!("cannot load the license key"))
}

fn public_pem(key: &EcdsaKeyPair) -> String {
    let mut der = P256_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.public_key().as_ref());
    pem("PUBLIC KEY", &der)
}

fn sign(key: &EcdsaKeyPair, claims: &Claims) -> Result<String> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?);
    let input = format!("{header}.{body}");
    let sig = key
        .sign(&SystemRandom::new(), input.as_bytes())
        .map_err(|_| anyhow::anyhow!("cannot sign the license"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
}

/// Issues a valid license to `issued_to`, valid from `issued_at` until `expires`.
pub fn issue(issued_to: &str, issued_at: DateTime<Utc>, expires: DateTime<Utc>) -> Result<License> {
    let key = new_key()?;
    let claims = Claims {
        iss: "Vantiq".into(),
        sub: issued_to.into(),
        jti: uuid::Uuid::new_v4().to_string(),
        iat: issued_at.timestamp(),
        exp: expires.timestamp(),
    };
    Ok(License {
        public_pem: public_pem(&key),
        license_key: sign(&key, &claims)?,
    })
}

/// A license whose `license.key` was signed by a different key than `public.pem`
/// (what a mixed-up pair of files looks like).
pub fn issue_invalid(issued_to: &str, expires: DateTime<Utc>) -> Result<License> {
    let good = issue(issued_to, Utc::now(), expires)?;
    let other = new_key()?;
    Ok(License {
        public_pem: public_pem(&other),
        license_key: good.license_key,
    })
}

/// Why a license was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LicenseError {
    #[error("public.pem is not a P-256 public key: {0}")]
    BadPublicKey(String),
    #[error("license.key is not a signed license: {0}")]
    Malformed(String),
    #[error("the license signature does not verify with public.pem")]
    BadSignature,
    #[error("the license issued to {sub} expired at {at}")]
    Expired { sub: String, at: String },
}

/// Reads the claims without checking anything (for reports).
pub fn claims(license_key: &str) -> Result<Claims> {
    let mut parts = license_key.trim().split('.');
    let (Some(_), Some(body), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        bail!("expected three dot-separated parts");
    };
    let raw = URL_SAFE_NO_PAD.decode(body).context("claims are not base64url")?;
    serde_json::from_slice(&raw).context("claims are not the expected JSON")
}

/// Verifies a license pair at `now`; returns its claims.
pub fn verify(public_pem: &str, license_key: &str, now: DateTime<Utc>) -> Result<Claims, LicenseError> {
    let der = pem_body(public_pem, "PUBLIC KEY").ok_or_else(|| LicenseError::BadPublicKey("no PUBLIC KEY block".into()))?;
    let point = der
        .strip_prefix(&P256_SPKI_PREFIX[..])
        .filter(|p| p.len() == 65)
        .ok_or_else(|| LicenseError::BadPublicKey("not an uncompressed P-256 key".into()))?;
    let token = license_key.trim();
    let (input, sig) = token
        .rsplit_once('.')
        .ok_or_else(|| LicenseError::Malformed("no signature".into()))?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| LicenseError::Malformed("signature is not base64url".into()))?;
    let c = claims(token).map_err(|e| LicenseError::Malformed(format!("{e:#}")))?;
    ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| LicenseError::BadSignature)?;
    if c.exp <= now.timestamp() {
        return Err(LicenseError::Expired {
            sub: c.sub.clone(),
            at: c.expires_at().to_rfc3339(),
        });
    }
    Ok(c)
}

/// Whether `license_key` is in the simulator's format: a three-part token whose header
/// says ES256 and whose claims parse.
pub fn is_sim_format(license_key: &str) -> bool {
    let token = license_key.trim();
    let mut parts = token.split('.');
    let header_ok = parts
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|h| h["alg"] == "ES256");
    header_ok && claims(token).is_ok()
}

/// What the simulated Vantiq makes of a license pair at `now`: `Ok(Some(claims))` for a
/// valid license in the simulator's format, `Ok(None)` for a license it cannot read
/// (accepted: expiry unknown), `Err` for an empty file or a license in its format that does
/// not verify or has expired.
pub fn assess(public_pem: &str, license_key: &str, now: DateTime<Utc>) -> Result<Option<Claims>, LicenseError> {
    if license_key.trim().is_empty() {
        return Err(LicenseError::Malformed("license.key is empty".into()));
    }
    if public_pem.trim().is_empty() {
        return Err(LicenseError::BadPublicKey("public.pem is empty".into()));
    }
    if !is_sim_format(license_key) {
        return Ok(None);
    }
    verify(public_pem, license_key, now).map(Some)
}

fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem[start..].find(&end)? + start;
    let b64: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_invalid_and_expired_licenses() {
        let now = Utc::now();
        let ok = issue("Acme Corp", now, now + chrono::Duration::days(90)).unwrap();
        let c = verify(&ok.public_pem, &ok.license_key, now).unwrap();
        assert_eq!((c.iss.as_str(), c.sub.as_str()), ("Vantiq", "Acme Corp"));
        let bad = issue_invalid("Acme Corp", now + chrono::Duration::days(90)).unwrap();
        assert_eq!(verify(&bad.public_pem, &bad.license_key, now), Err(LicenseError::BadSignature));
        let old = issue("Acme Corp", now - chrono::Duration::days(400), now - chrono::Duration::days(1)).unwrap();
        assert!(matches!(
            verify(&old.public_pem, &old.license_key, now),
            Err(LicenseError::Expired { .. })
        ));
        assert!(matches!(verify("nope", &ok.license_key, now), Err(LicenseError::BadPublicKey(_))));
    }

    #[test]
    fn a_license_in_another_format_is_accepted_with_unknown_expiry() {
        let now = Utc::now();
        let ok = issue("Acme Corp", now, now + chrono::Duration::days(90)).unwrap();
        assert_eq!(assess(&ok.public_pem, &ok.license_key, now).unwrap().unwrap().sub, "Acme Corp");
        // an opaque blob, a token of another algorithm: not the simulator's format
        assert_eq!(
            assess(&ok.public_pem, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", now),
            Ok(None)
        );
        let hs = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"exp":1}"#)
        );
        assert_eq!(assess(&ok.public_pem, &hs, now), Ok(None));
        // the simulator's format is still verified
        let bad = issue_invalid("Acme Corp", now + chrono::Duration::days(90)).unwrap();
        assert_eq!(assess(&bad.public_pem, &bad.license_key, now), Err(LicenseError::BadSignature));
        assert!(assess(&ok.public_pem, " \n", now).is_err());
        assert!(assess("", "opaque", now).is_err());
    }
}
