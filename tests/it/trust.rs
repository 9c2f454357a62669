//! Certificates chain to a trust root: `ssl_renew` refuses a self-signed certificate and a
//! complete chain from an unknown root before anything changes; a served certificate no
//! client trusts is a problem for `maintenance_status` and a violation for the simulator.

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};

use crate::harness::{Cluster, tree};

const HOST: &str = "vantiq.acme.example.com";

fn leaf_params() -> CertificateParams {
    let mut p = CertificateParams::new(vec![HOST.to_owned()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, HOST);
    p.not_before = date_time_ymd(2025, 1, 1);
    p.not_after = date_time_ymd(2090, 1, 1);
    p
}

/// A self-signed certificate and its key (PEM).
pub(crate) fn self_signed() -> (String, String) {
    let k = KeyPair::generate().unwrap();
    (leaf_params().self_signed(&k).unwrap().pem(), k.serialize_pem())
}

/// A complete chain (leaf, root) from a root nobody trusts, and the leaf's key.
fn unknown_root_chain() -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "Unknown Root CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.not_after = date_time_ymd(2095, 1, 1);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let k = KeyPair::generate().unwrap();
    let leaf = leaf_params().signed_by(&k, &issuer).unwrap();
    (format!("{}{}", leaf.pem(), ca_cert.pem()), k.serialize_pem())
}

#[test]
fn ssl_renew_refuses_self_signed_and_unknown_root_chains_before_any_change() {
    let c = Cluster::start();
    let sensitive = c.tools().join("targetCluster/deploy/sensitive");
    let before = tree(&sensitive);
    let dir = tempfile::tempdir().unwrap();
    for (what, (chain, key)) in [("self-signed", self_signed()), ("unknown root", unknown_root_chain())] {
        let (cp, kp) = (dir.path().join("fullchain.crt"), dir.path().join("private.key"));
        std::fs::write(&cp, &chain).unwrap();
        std::fs::write(&kp, &key).unwrap();
        let out = c.run(
            "ssl_renew",
            &[("fullchain", cp.to_str().unwrap()), ("private_key", kp.to_str().unwrap())],
        );
        assert_eq!(out.code, 1, "{what}: {}", out.all());
        assert!(out.stderr.contains("does not chain to a trusted root"), "{what}: {}", out.all());
        assert!(out.stderr.contains("0. Check the new certificate and key"), "{what}: {}", out.all());
        assert_eq!(tree(&sensitive), before, "{what}: the sensitive dir changed");
    }
    c.assert_no_violation();
}

#[test]
fn an_untrusted_served_certificate_is_a_problem_and_a_violation() {
    let c = Cluster::start();
    // Installed by hand, past vscript's checks.
    let (chain, key) = self_signed();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut sec = c.get("Secret", "shared", "default-ssl-cert").unwrap();
    sec["data"]["tls.crt"] = b64(&chain).into();
    sec["data"]["tls.key"] = b64(&key).into();
    c.store()
        .update(vscript_sim::store::res("Secret"), "shared", "default-ssl-cert", sec, false)
        .unwrap();
    let v = c.violations();
    assert!(v.iter().any(|x| x.rule == "untrusted-certificate-served"), "{v:#?}");
    let out = c.run_with("maintenance_status", &[("fail_when_due", "true")], &["--yes", "--output", "json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("the served SSL certificate is not trusted"), "{}", out.all());
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["findings"]["ssl"]["status"], "UNTRUSTED", "{report:#}");
}
