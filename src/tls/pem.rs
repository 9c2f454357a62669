//! Reading certificates and private keys from PEM files, with rustls-pki-types' PEM
//! reader: each certificate's DER in file order (parsed by the caller, errors naming the
//! file and the certificate's place in it), and the public key of a private key (PKCS#8,
//! SEC1 or PKCS#1) to compare with a certificate's. Key material never appears in an error.

use std::borrow::Cow;
use std::path::Path;

use ring::signature::{self as sig, KeyPair as _};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::{self, PemObject, SectionKind};

use super::CertError;

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

/// Every certificate of PEM text, in file order, each parsed by `parse` (`label` names the
/// text in errors; certificate #n counts certificates only). Other blocks are skipped.
pub fn certificates<T>(label: &str, data: &[u8], parse: impl Fn(&[u8]) -> Result<T, String>) -> Result<Vec<T>, CertError> {
    let malformed = |index, reason| CertError::Malformed {
        path: label.into(),
        index,
        reason,
    };
    let mut out = vec![];
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(&trusted_as_plain(data)) {
        let index = out.len() + 1;
        let (kind, der) = item.map_err(|e| malformed(index, format!("bad PEM: {e}")))?;
        if kind == SectionKind::Certificate {
            out.push(parse(&der).map_err(|reason| malformed(index, reason))?);
        }
    }
    if out.is_empty() {
        return Err(CertError::NoCertificate { path: label.into() });
    }
    Ok(out)
}

/// OpenSSL's trusted form (`TRUSTED CERTIFICATE`: a certificate's DER followed by its trust
/// settings, as in some distributions' CA bundles) is read as the certificate it starts with.
fn trusted_as_plain(data: &[u8]) -> Cow<'_, [u8]> {
    const MARK: &[u8] = b" TRUSTED CERTIFICATE-----";
    if !data.windows(MARK.len()).any(|w| w == MARK) {
        return Cow::Borrowed(data);
    }
    let text = String::from_utf8_lossy(data)
        .replace("-----BEGIN TRUSTED CERTIFICATE-----", "-----BEGIN CERTIFICATE-----")
        .replace("-----END TRUSTED CERTIFICATE-----", "-----END CERTIFICATE-----");
    Cow::Owned(text.into_bytes())
}

/// The public key bits of a PEM private key (PKCS#8, SEC1 or PKCS#1), comparable to a
/// certificate's SubjectPublicKeyInfo bits.
pub fn public_key_of(path: &Path) -> Result<Vec<u8>, CertError> {
    let label = path.display().to_string();
    let bad = |reason: &str| CertError::BadKey {
        path: label.clone(),
        reason: reason.to_owned(),
    };
    let data = read(path)?;
    let key = PrivateKeyDer::from_pem_slice(&data).map_err(|e| match e {
        pem::Error::NoItemsFound => bad("no `PRIVATE KEY` PEM block (expected PKCS#8, `EC PRIVATE KEY` or `RSA PRIVATE KEY`)"),
        _ => bad("malformed PEM"),
    })?;
    let rng = ring::rand::SystemRandom::new();
    match key {
        PrivateKeyDer::Pkcs8(k) => {
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
        PrivateKeyDer::Pkcs1(k) => sig::RsaKeyPair::from_der(k.secret_pkcs1_der())
            .map(|kp| kp.public_key().as_ref().to_vec())
            .map_err(|e| bad(&format!("unusable RSA key ({e})"))),
        PrivateKeyDer::Sec1(k) => sec1_public_key(k.secret_sec1_der())
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

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::tls::checks::Cert;
    use crate::tls::testing::Pki;

    fn der_of(pem_text: &str) -> Vec<u8> {
        certificates("x", pem_text.as_bytes(), |d| Ok(d.to_vec())).unwrap().remove(0)
    }

    #[test]
    fn certificates_are_counted_and_other_blocks_skipped() {
        let pki = Pki::new();
        let (leaf, key) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let text = format!("{key}{leaf}{}", pki.inter);
        let subjects = certificates("x", text.as_bytes(), |d| Cert::from_der(d).map(|c| c.info.subject)).unwrap();
        assert_eq!(subjects, ["CN=vantiq.example.com", "CN=Test Intermediate CA"]);
        // The broken one is the second certificate, after a key block.
        let broken = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
        let e = certificates("f.crt", format!("{key}{leaf}{broken}").as_bytes(), Cert::from_der)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("`f.crt`: certificate #2 is malformed: "), "{e}");
        let unterminated = format!("{leaf}-----BEGIN CERTIFICATE-----\nMIIB\n");
        let e = certificates("f.crt", unterminated.as_bytes(), Cert::from_der)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("`f.crt`: certificate #2 is malformed: bad PEM: "), "{e}");
        let e = certificates("k.pem", key.as_bytes(), Cert::from_der).unwrap_err().to_string();
        assert_eq!(e, "`k.pem` holds no PEM certificate (expected `-----BEGIN CERTIFICATE-----`)");
    }

    #[test]
    fn a_trusted_certificate_reads_as_the_certificate_it_starts_with() {
        let pki = Pki::new();
        let (leaf, _) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let der = der_of(&leaf);
        // openssl x509 -trustout: the DER, then the trust settings (here an empty SEQUENCE)
        let mut trusted = der.clone();
        trusted.extend_from_slice(&[0x30, 0x00]);
        let text = format!(
            "-----BEGIN TRUSTED CERTIFICATE-----\n{}\n-----END TRUSTED CERTIFICATE-----\n{}",
            STANDARD.encode(&trusted),
            pki.inter
        );
        let certs = certificates("ca-bundle.trust.crt", text.as_bytes(), Cert::from_der).unwrap();
        assert_eq!(certs.len(), 2);
        assert_eq!(certs[0].info.subject, "CN=vantiq.example.com");
        assert!(certs[0].der.starts_with(&der));
    }

    #[test]
    fn unreadable_keys_are_named_without_their_content() {
        let pki = Pki::new();
        let (leaf, key) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        let bad_base64 = pki.write(
            "bad.key",
            &["-----BEGIN PRIVATE KEY-----\n!!!!secret!!!!\n-----END PRIVATE KEY-----\n"],
        );
        let e = public_key_of(&bad_base64).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("`{}` is not a readable private key: malformed PEM", bad_base64.display())
        );
        let no_key = pki.write("leaf.crt", &[&leaf]);
        let e = public_key_of(&no_key).unwrap_err().to_string();
        assert!(
            e.ends_with("no `PRIVATE KEY` PEM block (expected PKCS#8, `EC PRIVATE KEY` or `RSA PRIVATE KEY`)"),
            "{e}"
        );
        // A PKCS#8 EC key gives the certificate's public key.
        let k = pki.write("ok.key", &[&key]);
        let der = der_of(&leaf);
        let (_, c) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(public_key_of(&k).unwrap(), c.public_key().subject_public_key.data.to_vec());
        assert!(
            public_key_of(&pki.dir.path().join("missing.key"))
                .unwrap_err()
                .to_string()
                .contains("no such file")
        );
    }
}
