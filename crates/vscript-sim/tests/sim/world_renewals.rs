//! SSL and license renewals by hand (files from `incoming/`, generateSecrets,
//! deployVantiq, deployNginx, rollout restart), checked on the HTTPS endpoint, and the
//! invariants that catch a bad certificate or license.

use std::path::Path;

use crate::world_support::T;
use serde_json::Value;
use vscript_sim::{SeedOptions, license, pki};

/// `GET path` with `auth` on the Vantiq endpoint: served leaf SHA-256, status, JSON body.
fn https_get(t: &T, path: &str, auth: &str) -> (String, u16, Value) {
    let r = crate::vantiq_api::https_get(t, path, auth);
    (r.sha256, r.status, r.json)
}

fn token(t: &T) -> String {
    std::fs::read_to_string(&t.sim().info.token_file).unwrap()
}

fn install(t: &T, file: &str) {
    let sensitive = t.target().join("deploy/sensitive");
    std::fs::rename(sensitive.join(file), sensitive.join(format!("{file}.20261125"))).unwrap();
    std::fs::copy(Path::new(&t.sim().info.incoming_dir).join(file), sensitive.join(file)).unwrap();
}

fn served_sha(t: &T) -> String {
    https_get(t, "/api/v1/resources/types?count=true", &format!("Bearer {}", token(t))).0
}

/// Serves the About endpoint (not in the public SDKs) at `/api/v1/about`.
fn with_about(t: &T) {
    std::fs::write(t.sim().dir.join("vantiq-api.json"), r#"{"about_path": "/api/v1/about"}"#).unwrap();
}

#[test]
fn ssl_renewal_serves_the_new_certificate_after_deploy_nginx() {
    let t = T::start(SeedOptions::default(), 200.0);
    with_about(&t);
    let (before, code, about) = https_get(&t, "/api/v1/about", &format!("Bearer {}", token(&t)));
    assert_eq!(code, 200, "{about}");
    assert_eq!(about["serverBuildVersion"], "1.30.10");
    let incoming = std::fs::read_to_string(Path::new(&t.sim().info.incoming_dir).join("fullchain.crt")).unwrap();
    let new = pki::leaf_info(&incoming).unwrap();
    assert_ne!(before, new.sha256);

    install(&t, "fullchain.crt");
    install(&t, "private.key");
    t.gradle("generateSecrets");
    t.gradle("deployVantiq");
    let ns = t.ns();
    let vs = t.k(&["get", "secret", "-n", &ns, "vantiq-ssl-cert", "-o", "jsonpath={.data.tls\\.crt}"]);
    assert!(pki::leaf_info(&String::from_utf8(base64_decode(&vs)).unwrap()).unwrap().sha256 == new.sha256);
    assert_eq!(served_sha(&t), before, "nginx still serves the old one");
    t.gradle("deployNginx");
    assert_eq!(served_sha(&t), new.sha256);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());

    // Rollback: the dated backups go back.
    let sensitive = t.target().join("deploy/sensitive");
    for f in ["fullchain.crt", "private.key"] {
        std::fs::rename(sensitive.join(format!("{f}.20261125")), sensitive.join(f)).unwrap();
    }
    for task in ["generateSecrets", "deployVantiq", "deployNginx"] {
        t.gradle(task);
    }
    assert_eq!(served_sha(&t), before);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s.trim()).unwrap()
}

#[test]
fn license_renewal_needs_the_rollout_restart() {
    let t = T::start(SeedOptions::default(), 200.0);
    let ns = t.ns();
    let (_, code, _) = https_get(&t, "/api/v1/about", &format!("Bearer {}", token(&t)));
    assert_eq!(code, 404, "no About endpoint unless a test configures one");
    with_about(&t);
    let (_, code, about) = https_get(&t, "/api/v1/about", &format!("Bearer {}", token(&t)));
    assert_eq!(code, 200);
    let old_id = about["licenseId"].as_str().unwrap().to_owned();
    let new_key = std::fs::read_to_string(Path::new(&t.sim().info.incoming_dir).join("license.key")).unwrap();
    let new_claims = license::claims(&new_key).unwrap();

    install(&t, "public.pem");
    install(&t, "license.key");
    t.gradle("generateSecrets");
    let gen_before = t.get("StatefulSet", &ns, "vantiq").unwrap()["metadata"]["generation"].clone();
    t.gradle("deployVantiq");
    assert_eq!(
        t.get("StatefulSet", &ns, "vantiq").unwrap()["metadata"]["generation"],
        gen_before,
        "a license-only change leaves the template alone"
    );
    t.k(&["rollout", "restart", "sts", "-n", &ns, "vantiq"]);
    t.k(&["rollout", "status", "sts", "-n", &ns, "vantiq", "--timeout=60s"]);
    let (_, code, about) = https_get(&t, "/api/v1/about", &format!("Bearer {}", token(&t)));
    assert_eq!(code, 200);
    assert_eq!(about["licenseId"], new_claims.jti.as_str());
    assert_ne!(about["licenseId"], old_id.as_str());
    assert_eq!(about["licenseIssuedTo"], "Acme Corp");
    let log = t.k(&["logs", "-n", &ns, "vantiq-0", "-c", "vantiq"]);
    assert!(log.contains("License verified: issued to Acme Corp"), "{log}");
    assert!(t.violations().is_empty(), "{:#?}", t.violations());

    // Login: basic auth with the generated password; a wrong one is refused.
    let pw = std::fs::read_to_string(&t.sim().info.password_file).unwrap();
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("system:{pw}"));
    let (_, code, body) = https_get(&t, "/authenticate", &format!("Basic {basic}"));
    assert_eq!(code, 200);
    let session = body["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(session, token(&t), "a login gets a fresh token");
    let (_, code, _) = https_get(&t, "/api/v1/about", &format!("Bearer {session}"));
    assert_eq!(code, 200);
    let (_, code, _) = https_get(&t, "/authenticate", "Basic c3lzdGVtOndyb25n");
    assert_eq!(code, 401);
    let (_, code, _) = https_get(&t, "/api/v1/about", "Bearer nope");
    assert_eq!(code, 401);
}

#[test]
fn invalid_license_and_expired_certificate_are_violations() {
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    let ns = t.ns();
    let sensitive = t.target().join("deploy/sensitive");
    let bad = license::issue_invalid("Acme Corp", chrono::Utc::now() + chrono::Duration::days(365)).unwrap();
    std::fs::write(sensitive.join("public.pem"), &bad.public_pem).unwrap();
    std::fs::write(sensitive.join("license.key"), &bad.license_key).unwrap();
    t.gradle("generateSecrets");
    t.gradle("deployVantiq");
    assert!(t.rules().contains(&"license-invalid".to_owned()), "{:#?}", t.violations());
    t.k(&["rollout", "restart", "sts", "-n", &ns, "vantiq"]);
    t.wait_for("vantiq-2 crash-looping", 30, |t| {
        t.get("Pod", &ns, "vantiq-2")
            .is_some_and(|p| p["status"]["containerStatuses"][0]["restartCount"].as_u64().unwrap_or(0) >= 1)
    });
    let log = t.k(&["logs", "-n", &ns, "vantiq-2", "-c", "vantiq"]);
    assert!(
        log.contains("invalid license: the license signature does not verify with public.pem"),
        "{log}"
    );
    assert!(t.ready(&ns, "vantiq") < 3);

    // An expired certificate deployed to nginx.
    let ca = pki::Ca::from_pem(
        &std::fs::read_to_string(&t.sim().info.ca_file).unwrap(),
        &std::fs::read_to_string(t.sim().dir.join(".pki/ca.key")).unwrap(),
    )
    .unwrap();
    let old = pki::expired_chain(&ca, "vantiq.acme.example.com", 2).unwrap();
    std::fs::write(sensitive.join("fullchain.crt"), old.fullchain_pem()).unwrap();
    std::fs::write(sensitive.join("private.key"), &old.key_pem).unwrap();
    t.gradle("generateSecrets");
    t.gradle("deployNginx");
    let v = t
        .violations()
        .into_iter()
        .find(|v| v.rule == "bad-certificate-served")
        .expect("bad-certificate-served");
    assert!(
        v.message.contains("shared/default-ssl-cert") && v.message.contains("expired"),
        "{}",
        v.message
    );
}
