//! The Kubernetes side of the trust boundaries: the kubeconfig's credentials never go
//! over plain http unless vscript.toml allows that URL (and then every run says so),
//! `insecure-skip-tls-verify` is warned about on every run and in the report, and TLS
//! failures are named as what they are, with the server.

use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::harness::Cluster;

/// A plain-TCP listener that records every byte it is sent (and answers nothing useful).
fn capture_server() -> (String, Arc<Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = c.set_read_timeout(Some(std::time::Duration::from_millis(500)));
            let mut buf = [0u8; 8192];
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s2.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            use std::io::Write;
            let _ = c.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (url, seen)
}

/// The cluster's kubeconfig with `edit` applied, written next to it.
fn kubeconfig_variant(c: &Cluster, name: &str, edit: impl Fn(String) -> String) -> String {
    let kc = std::fs::read_to_string(&c.sim().info.kubeconfig).unwrap();
    let path = std::path::Path::new(&c.sim().info.dir).join(name);
    std::fs::write(&path, edit(kc)).unwrap();
    path.display().to_string()
}

fn token_of(kubeconfig: &str) -> String {
    std::fs::read_to_string(kubeconfig)
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: ").map(str::to_owned))
        .unwrap()
}

fn json_report(out: &crate::harness::Output) -> Value {
    let start = out.stdout.find("\n{").map_or(0, |i| i + 1);
    serde_json::from_str(&out.stdout[start..]).unwrap_or_else(|e| panic!("{e}: {}", out.all()))
}

#[test]
fn the_kubeconfig_token_never_goes_over_plain_http_unless_allowed_for_that_url() {
    let c = Cluster::start();
    let token = token_of(&c.sim().info.kubeconfig);
    let (url, seen) = capture_server();
    // The same kubeconfig, its server swapped for a plain-http listener that records all.
    let api = c.sim().info.api.clone();
    let kc = kubeconfig_variant(&c, "kubeconfig-http", |k| {
        k.lines()
            .filter(|l| !l.contains("certificate-authority"))
            .collect::<Vec<_>>()
            .join("\n")
            .replace(&api, &url)
    });
    for script in ["maintenance_status", "mongo_backup"] {
        let out = c.run_with(script, &[], &["--yes", "--kubeconfig", &kc]);
        assert_ne!(out.code, 0, "{}", out.all());
        assert!(
            out.stderr
                .contains(&format!("refusing to send the kubeconfig's bearer token to {url}/ over plain http")),
            "{}",
            out.all()
        );
        assert!(out.stderr.contains("allow_insecure_http_credentials"), "{}", out.all());
        assert!(!out.all().contains(&token), "the token never shows");
    }
    let bytes = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(!bytes.to_ascii_lowercase().contains("authorization"), "sent over http: {bytes}");
    assert!(!bytes.contains(&token), "the token went over http: {bytes}");

    // Allowed for another URL: still refused. Allowed for this one: sent, and said.
    let toml = c.tools().join("vscript.toml");
    let before = std::fs::read_to_string(&toml).unwrap_or_default();
    std::fs::write(
        &toml,
        format!("{before}\n[kubernetes]\nallow_insecure_http_credentials = [\"http://10.0.0.5:8080\"]\n"),
    )
    .unwrap();
    let out = c.run_with("maintenance_status", &[], &["--yes", "--kubeconfig", &kc]);
    assert!(
        out.stderr.contains("refusing to send the kubeconfig's bearer token"),
        "{}",
        out.all()
    );
    assert!(
        String::from_utf8_lossy(&seen.lock().unwrap()).is_empty(),
        "nothing went to the listener"
    );
    std::fs::write(
        &toml,
        format!("{before}\n[kubernetes]\nallow_insecure_http_credentials = [\"{url}\"]\n"),
    )
    .unwrap();
    let out = c.run_with("maintenance_status", &[], &["--yes", "--kubeconfig", &kc, "--output", "json"]);
    assert_ne!(out.code, 0, "the listener is no API server: {}", out.all());
    assert!(
        out.stderr
            .contains(&format!("sending the kubeconfig's bearer token to {url}/ over plain http")),
        "{}",
        out.all()
    );
    let sent = String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    assert!(
        sent.to_ascii_lowercase().contains("authorization: bearer"),
        "allowed: the request carried the token: {sent}"
    );
    let report = json_report(&out);
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("over plain http")),
        "{report:#}"
    );
    assert!(!out.all().contains(&token), "the token never shows");
}

#[test]
fn insecure_skip_tls_verify_is_warned_on_every_run_and_in_the_report() {
    let c = Cluster::start();
    let kc = kubeconfig_variant(&c, "kubeconfig-insecure", |k| {
        k.lines()
            .map(|l| {
                if l.trim_start().starts_with("certificate-authority-data:") {
                    "    insecure-skip-tls-verify: true".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    for _ in 0..2 {
        let out = c.run_with("maintenance_status", &[], &["--yes", "--kubeconfig", &kc, "--output", "json"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert_eq!(
            out.stderr.matches("the kubeconfig sets insecure-skip-tls-verify").count(),
            1,
            "said once per run: {}",
            out.all()
        );
        let report = json_report(&out);
        assert!(
            report["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("insecure-skip-tls-verify")),
            "{report:#}"
        );
    }
    // With the cluster's CA: no warning.
    let out = c.run_with("maintenance_status", &[], &["--yes", "--output", "json"]);
    assert!(!out.stderr.contains("insecure-skip-tls-verify"), "{}", out.all());
    assert_eq!(json_report(&out)["warnings"], serde_json::json!([]));
    c.assert_no_violation();
}

#[test]
fn tls_failures_with_the_api_server_are_named_with_the_server() {
    let c = Cluster::start();
    let api = c.sim().info.api.clone();
    // Another CA than the one the API server's certificate chains to.
    let other_ca = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        std::fs::read(&c.sim().info.ca_file).unwrap(),
    );
    let wrong_ca = kubeconfig_variant(&c, "kubeconfig-wrong-ca", |k| {
        k.lines()
            .map(|l| match l.split_once("certificate-authority-data: ") {
                Some((indent, _)) => format!("{indent}certificate-authority-data: {other_ca}"),
                None => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let out = c.run_with("maintenance_status", &[], &["--yes", "--kubeconfig", &wrong_ca]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("TLS failure with the API server"), "{}", out.all());
    assert!(out.stderr.contains("unknown issuer"), "{}", out.all());
    assert!(out.stderr.contains(&api), "the server is named: {}", out.all());
    assert!(!out.stderr.contains("cannot reach the cluster"), "{}", out.all());
    // The right CA, but the certificate checked for another name.
    let wrong_name = kubeconfig_variant(&c, "kubeconfig-wrong-name", |k| {
        k.replace(
            &format!("server: {api}"),
            &format!("server: {api}\n    tls-server-name: api.other.example.com"),
        )
    });
    let out = c.run_with("maintenance_status", &[], &["--yes", "--kubeconfig", &wrong_name]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("its certificate is for another name"), "{}", out.all());
    assert!(out.stderr.contains(&api), "{}", out.all());
}
