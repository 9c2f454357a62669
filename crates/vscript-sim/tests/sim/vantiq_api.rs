//! The simulated Vantiq REST API as the public Vantiq SDKs use it (login with HTTP Basic,
//! Bearer calls on `/api/v1/resources/…`, counts in `X-Total-Count`, the SDKs' error
//! bodies), the About endpoint only when configured, and licenses the simulator cannot read.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Value, json};
use vscript_sim::{SeedOptions, pki};

use crate::world_support::T;

/// A response of the Vantiq endpoint.
pub struct Got {
    /// SHA-256 of the served leaf certificate.
    pub sha256: String,
    pub status: u16,
    /// Lowercase names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// The body as JSON (`null` when it is not).
    pub json: Value,
}

/// `GET path` on the Vantiq endpoint trusting `ca.crt`, with `Authorization: auth` (none
/// when empty).
pub fn https_get(t: &T, path: &str, auth: &str) -> Got {
    let info = &t.sim().info;
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&std::fs::read(&info.ca_file).unwrap()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(info.vantiq_host.clone()).unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(&info.vantiq_addr).unwrap());
    let auth = if auth.is_empty() {
        String::new()
    } else {
        format!("Authorization: {auth}\r\n")
    };
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{auth}Connection: close\r\n\r\n",
        info.vantiq_host
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    let leaf = tls.conn.peer_certificates().unwrap()[0].to_vec();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Got {
        sha256: pki::cert_info(&leaf).unwrap().sha256,
        status,
        headers,
        body: body.to_owned(),
        json: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

fn small() -> SeedOptions {
    SeedOptions {
        metrics_collector: false,
        vision_analytics: false,
        ..SeedOptions::default()
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

const COUNT_TYPES: &str = "/api/v1/resources/types?count=true&limit=1&props=%5B%22_id%22%5D";

#[test]
fn the_sdk_login_then_a_bearer_count_and_errors_as_vantiq_answers_them() {
    let t = T::start(small(), 200.0);
    let info = t.sim().info.clone();
    assert_eq!(info.vantiq_user, "system");
    let pw = std::fs::read_to_string(&info.password_file).unwrap();

    // Login, as every SDK does it.
    let r = https_get(&t, "/authenticate", &basic("system", &pw));
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json["accessToken"].as_str().unwrap().to_owned();
    assert!(r.json["idToken"].is_string());

    // A count: the number in X-Total-Count, the records cut by `limit` and `props`.
    let r = https_get(&t, COUNT_TYPES, &format!("Bearer {token}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["x-total-count"], "12");
    let rows = r.json.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].as_object().unwrap().keys().collect::<Vec<_>>(), ["_id"]);
    let r = https_get(&t, "/api/v1/resources/namespaces", &format!("Bearer {token}"));
    assert!(!r.headers.contains_key("x-total-count"), "only with count=true");
    let names: Vec<&str> = r.json.as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["system", t.ns().as_str()]);
    let r = https_get(&t, "/api/v1/resources/users?count=true", &format!("Bearer {token}"));
    assert_eq!(
        (r.headers["x-total-count"].as_str(), r.json[0]["username"].as_str()),
        ("1", Some("system"))
    );
    // The long-lived token (the SDKs' accessToken setter) works as well.
    let long = std::fs::read_to_string(&info.token_file).unwrap();
    assert_eq!(https_get(&t, COUNT_TYPES, &format!("Bearer {long}")).status, 200);

    // Errors: the SDKs' list of {code, message, params}.
    let unauthorized = json!([{ "code": "io.vantiq.authentication.failed", "message": "Unauthorized", "params": [] }]);
    let r = https_get(&t, "/authenticate", &basic("system", "wrong"));
    assert_eq!((r.status, &r.json), (401, &unauthorized));
    for auth in ["", "Bearer nope", &basic("system", &pw)] {
        let r = https_get(&t, COUNT_TYPES, auth);
        assert_eq!((r.status, &r.json), (401, &unauthorized), "{auth}");
    }
    let r = https_get(&t, "/api/v1/resources/junkola", &format!("Bearer {token}"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json[0]["code"], "io.vantiq.type.system.resource.unknown");
    assert_eq!(r.json[0]["params"], json!(["junkola"]));
    let r = https_get(&t, "/api/v1/resources/custom/Sensor", &format!("Bearer {token}"));
    assert_eq!(
        (r.status, r.json[0]["message"].as_str()),
        (404, Some("The type: Sensor is not defined in the current namespace."))
    );
    // No About endpoint: the public SDKs show none.
    assert_eq!(https_get(&t, "/api/v1/about", &format!("Bearer {token}")).status, 404);

    // While no vantiq pod is ready the ingress answers 503 with its page, even to a login.
    let ns = t.ns();
    t.k(&["scale", "sts", "-n", &ns, "vantiq", "--replicas=0"]);
    t.wait_for("vantiq pods gone", 30, |t| t.pods(&ns, "vantiq").is_empty());
    let r = https_get(&t, "/authenticate", &basic("system", &pw));
    assert_eq!(r.status, 503);
    assert!(r.body.contains("<title>503 Service Temporarily Unavailable</title>"), "{}", r.body);
    assert_eq!(https_get(&t, COUNT_TYPES, &format!("Bearer {token}")).status, 503);
}

/// Fixed bytes that are no format anybody knows (not UTF-8, no key, no token).
fn opaque_blob() -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    let mut out = vec![0xC3u8, 0x28];
    for _ in 0..512 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push((x >> 24) as u8);
    }
    out
}

#[test]
fn a_license_the_simulator_cannot_read_is_accepted_with_unknown_expiry() {
    let t = T::start(small(), 200.0);
    let ns = t.ns();
    std::fs::write(t.sim().dir.join("vantiq-api.json"), r#"{"about_path": "/api/v1/about"}"#).unwrap();
    let sensitive = t.target().join("deploy/sensitive");
    std::fs::write(sensitive.join("license.key"), opaque_blob()).unwrap();
    t.gradle("generateSecrets");
    t.gradle("deployVantiq");
    t.k(&["rollout", "restart", "sts", "-n", &ns, "vantiq"]);
    t.k(&["rollout", "status", "sts", "-n", &ns, "vantiq", "--timeout=60s"]);
    assert!(t.violations().is_empty(), "{:#?}", t.violations());
    let log = t.k(&["logs", "-n", &ns, "vantiq-0", "-c", "vantiq"]);
    assert!(
        log.contains("License loaded (not in the simulator's format: expiry unknown)"),
        "{log}"
    );
    assert_eq!(t.state()["license"]["valid"], true, "{}", t.state());
    let token = std::fs::read_to_string(&t.sim().info.token_file).unwrap();
    let about = https_get(&t, "/api/v1/about", &format!("Bearer {token}"));
    assert_eq!(about.status, 200);
    assert!(about.json["serverBuildVersion"].is_string());
    assert!(about.json.get("licenseExpiration").is_none(), "{}", about.json);

    // An empty license is no license: a violation, and Vantiq does not start with it.
    std::fs::write(sensitive.join("license.key"), "").unwrap();
    t.gradle("generateSecrets");
    t.gradle("deployVantiq");
    assert!(t.rules().contains(&"license-invalid".to_owned()), "{:#?}", t.violations());
    assert!(Path::new(&t.sim().dir).join("violations.jsonl").exists());
}
