use std::path::Path;

use rcgen::{CertificateParams, KeyPair, date_time_ymd};

use super::*;
use crate::tls::testing::Pki;

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
