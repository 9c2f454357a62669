//! Vantiq license files: `public.pem` (an ECDSA P-256 `PUBLIC KEY`) and `license.key`
//! (a compact JWT signed ES256 by the matching private key, claims
//! `{iss, sub, jti, iat, exp}`). Verified with ring; the token itself never leaves this
//! module (not in results, errors or output).

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Why a license cannot be read or is not valid. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum LicenseError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("`{path}` is not a license public key: {reason}")]
    BadPublicKey { path: String, reason: String },
    #[error("`{path}` is not a readable license: {reason}")]
    BadToken { path: String, reason: String },
    #[error("license `{path}` is not signed by `{public}`: the signature does not verify (wrong public.pem, or the file was altered)")]
    BadSignature { path: String, public: String },
    #[error("license `{path}` (issued to `{issued_to}`) expired on {expires}")]
    Expired { path: String, issued_to: String, expires: String },
}

/// What a license says (no token, no key material).
#[derive(Debug, Clone, Serialize)]
pub struct LicenseInfo {
    pub issued_to: String,
    pub id: String,
    pub issuer: String,
    pub issued_at: String,
    pub expires: String,
    pub days_left: i64,
    pub signature_valid: bool,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    jti: String,
    #[serde(default)]
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

fn read(path: &Path) -> Result<Vec<u8>, LicenseError> {
    std::fs::read(path).map_err(|e| LicenseError::Read {
        path: path.display().to_string(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".into()
        } else {
            e.to_string()
        },
    })
}

/// Reads the token of a `license.key` (trimmed). The caller registers it as a secret.
pub fn read_token(path: &Path) -> Result<String, LicenseError> {
    let b = read(path)?;
    let s = String::from_utf8(b).map_err(|_| LicenseError::BadToken {
        path: path.display().to_string(),
        reason: "not text".into(),
    })?;
    Ok(s.trim().to_owned())
}

/// The uncompressed P-256 point of a `PUBLIC KEY` PEM.
pub fn read_public_key(path: &Path) -> Result<Vec<u8>, LicenseError> {
    let bad = |reason: &str| LicenseError::BadPublicKey {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    };
    let data = read(path)?;
    let pem = x509_parser::pem::Pem::iter_from_buffer(&data)
        .filter_map(Result::ok)
        .find(|p| p.label == "PUBLIC KEY")
        .ok_or_else(|| bad("no `-----BEGIN PUBLIC KEY-----` block"))?;
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&pem.contents).map_err(|_| bad("malformed key"))?;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    if spki.algorithm.algorithm.to_id_string() != "1.2.840.10045.2.1" || curve.as_deref() != Some("1.2.840.10045.3.1.7") {
        return Err(bad("expected an ECDSA P-256 key"));
    }
    Ok(spki.subject_public_key.data.to_vec())
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp(ts, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ts.to_string())
}

/// Decodes and verifies a token against a public key. `path`/`public` name the files in errors.
pub fn inspect_token(token: &str, public_key: &[u8], path: &str) -> Result<LicenseInfo, LicenseError> {
    let bad = |reason: &str| LicenseError::BadToken {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(bad("expected a signed token of three dot-separated parts"));
    }
    let header: Header = URL_SAFE_NO_PAD
        .decode(parts[0])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("malformed token header"))?;
    if header.alg != "ES256" {
        return Err(bad(&format!("signature algorithm `{}` (expected ES256)", header.alg)));
    }
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(parts[1])
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| bad("malformed token claims (needs at least `exp`)"))?;
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).map_err(|_| bad("malformed signature"))?;
    let signed = &token[..parts[0].len() + 1 + parts[1].len()];
    let signature_valid = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(signed.as_bytes(), &signature)
        .is_ok();
    Ok(LicenseInfo {
        issued_to: claims.sub,
        id: claims.jti,
        issuer: claims.iss,
        issued_at: rfc3339(claims.iat),
        expires: rfc3339(claims.exp),
        days_left: (claims.exp - chrono::Utc::now().timestamp()).div_euclid(86_400),
        signature_valid,
    })
}

/// `inspect`: reads both files; `(info, token)` so the caller can register the token.
pub fn inspect(public_pem: &Path, license_key: &Path) -> Result<(LicenseInfo, String), LicenseError> {
    let token = read_token(license_key)?;
    let key = read_public_key(public_pem)?;
    let info = inspect_token(&token, &key, &license_key.display().to_string())?;
    Ok((info, token))
}

/// `check`: fails when the signature does not verify or the license has expired.
pub fn check(info: &LicenseInfo, public_pem: &Path, license_key: &Path) -> Result<(), LicenseError> {
    let path = license_key.display().to_string();
    if !info.signature_valid {
        return Err(LicenseError::BadSignature {
            path,
            public: public_pem.display().to_string(),
        });
    }
    if info.days_left < 0 {
        return Err(LicenseError::Expired {
            path,
            issued_to: info.issued_to.clone(),
            expires: info.expires.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    use super::*;

    /// A license authority: its `public.pem` and a way to sign license tokens.
    pub(crate) struct Authority {
        key: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Authority {
        pub(crate) fn new() -> Authority {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
            Authority { key, rng }
        }

        pub(crate) fn public_pem(&self) -> String {
            let mut spki = vec![
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
                0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ];
            spki.extend_from_slice(self.key.public_key().as_ref());
            let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
            let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
            format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
        }

        pub(crate) fn token(&self, sub: &str, iat: i64, exp: i64) -> String {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
            let claims =
                serde_json::json!({ "iss": "Vantiq", "sub": sub, "jti": "a1585c60-7578-11eb-8d98-acde48001122", "iat": iat, "exp": exp });
            let p = URL_SAFE_NO_PAD.encode(claims.to_string());
            let signed = format!("{h}.{p}");
            let s = self.key.sign(&self.rng, signed.as_bytes()).unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(s.as_ref()))
        }
    }

    fn files(a: &Authority, token: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let pp = d.path().join("public.pem");
        let kp = d.path().join("license.key");
        std::fs::write(&pp, a.public_pem()).unwrap();
        std::fs::write(&kp, format!("{token}\n")).unwrap();
        (d, pp, kp)
    }

    fn year(y: i32) -> i64 {
        chrono::NaiveDate::from_ymd_opt(y, 2, 24)
            .unwrap()
            .and_hms_opt(1, 44, 12)
            .unwrap()
            .and_utc()
            .timestamp()
    }

    #[test]
    fn a_valid_license_is_read_and_checked() {
        let a = Authority::new();
        let token = a.token("Vantiq JP", year(2025), year(2090));
        let (_d, pp, kp) = files(&a, &token);
        let (info, t) = inspect(&pp, &kp).unwrap();
        assert_eq!(t, token);
        assert_eq!(info.issued_to, "Vantiq JP");
        assert_eq!(info.id, "a1585c60-7578-11eb-8d98-acde48001122");
        assert_eq!(info.expires, "2090-02-24T01:44:12Z");
        assert!(info.signature_valid && info.days_left > 10_000);
        check(&info, &pp, &kp).unwrap();
        let shown = serde_json::to_string(&info).unwrap();
        assert!(!token.split('.').any(|p| shown.contains(p)), "the token never appears in results");
    }

    #[test]
    fn a_tampered_license_fails_the_signature() {
        let a = Authority::new();
        let token = a.token("Vantiq JP", year(2025), year(2030));
        // extend the expiry without re-signing
        let parts: Vec<&str> = token.split('.').collect();
        let claims = serde_json::json!({ "iss": "Vantiq", "sub": "Vantiq JP", "jti": "x", "iat": year(2025), "exp": year(2099) });
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
        let (_d, pp, kp) = files(&a, &forged);
        let (info, _) = inspect(&pp, &kp).unwrap();
        assert!(!info.signature_valid);
        let e = check(&info, &pp, &kp).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "license `{}` is not signed by `{}`: the signature does not verify (wrong public.pem, or the file was altered)",
                kp.display(),
                pp.display()
            )
        );
        // and a license signed by someone else
        let other = Authority::new();
        let (_d2, pp2, kp2) = files(&a, &other.token("Vantiq JP", year(2025), year(2090)));
        let (info, _) = inspect(&pp2, &kp2).unwrap();
        assert!(check(&info, &pp2, &kp2).is_err());
    }

    #[test]
    fn an_expired_license_fails_check() {
        let a = Authority::new();
        let (_d, pp, kp) = files(&a, &a.token("Vantiq JP", year(2020), year(2021)));
        let (info, _) = inspect(&pp, &kp).unwrap();
        assert!(info.signature_valid && info.days_left < 0);
        let e = check(&info, &pp, &kp).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("license `{}` (issued to `Vantiq JP`) expired on 2021-02-24T01:44:12Z", kp.display())
        );
    }

    #[test]
    fn unreadable_files_fail_without_showing_content() {
        let a = Authority::new();
        let (_d, pp, kp) = files(&a, "not-a-token-secret-value");
        let e = inspect(&pp, &kp).unwrap_err().to_string();
        assert!(e.contains("is not a readable license") && !e.contains("secret-value"), "{e}");
        std::fs::write(&pp, "garbage").unwrap();
        std::fs::write(&kp, a.token("x", 0, year(2090))).unwrap();
        assert!(inspect(&pp, &kp).unwrap_err().to_string().contains("is not a license public key"));
    }
}
