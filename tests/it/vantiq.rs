//! The Vantiq REST API as the public SDKs use it (the IDE login check, `vantiq::about()`),
//! login verification that cannot be skipped silently, and license files of any format —
//! against the simulator, a plain-HTTP capture server and an https server that redirects.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::harness::{Cluster, Output, cluster_objects, tmp_script, tree, vscript_env};

/// Makes the run a "real" one: without the tools dir's `.vscript/sim.json` vscript reaches
/// the simulated cluster through `targetCluster/kubeconfig` and the Vantiq server only as
/// vscript.toml says.
fn without_rehearsal_settings(c: &Cluster) {
    std::fs::remove_file(c.tools().join(".vscript/sim.json")).unwrap();
}

fn write_toml(c: &Cluster, text: &str) {
    std::fs::write(c.tools().join("vscript.toml"), text).unwrap();
}

/// `[vantiq]` for the simulator's endpoint, logging in as `system` with `password_file`.
fn vantiq_toml(c: &Cluster, password_file: &Path) -> String {
    let i = &c.sim().info;
    format!(
        "[vantiq]\nurl = \"{}\"\nconnect = \"{}={}\"\nca = \"{}\"\nuser = \"system\"\npassword_file = \"{}\"\n",
        i.vantiq_url,
        i.vantiq_host,
        i.vantiq_addr,
        i.ca_file,
        password_file.display()
    )
}

fn run_script(c: &Cluster, script: &str, env: &[(&str, &str)]) -> Output {
    let tools = c.tools().display().to_string();
    vscript_env(&["run", script, "--tools", &tools, "--yes"], c.dir.path(), env)
}

/// Every file a run left behind (journals included), for leak scans.
fn everything_written(dir: &Path) -> String {
    tree(dir)
        .into_values()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

const LOGIN_AND_ABOUT: &str = "//! login and about\nimport \"vantiq\" as vantiq;\n\
    print(`login: ${vantiq::verify_login()}`);\n\
    let a = vantiq::about();\n\
    print(`about: ${a.server_version}|${a.server_version_from}|${a.license_from}|${a.license_expiration}`);\n";

#[test]
fn the_login_check_uses_the_configured_credentials_and_never_prints_the_password() {
    let c = Cluster::start();
    without_rehearsal_settings(&c);
    let secrets = tempfile::tempdir().unwrap();
    let pw = secrets.path().join("vantiq-password");
    std::fs::copy(&c.sim().info.password_file, &pw).unwrap();
    write_toml(&c, &vantiq_toml(&c, &pw));
    let (_d, script) = tmp_script(LOGIN_AND_ABOUT);

    // Success: GET /authenticate as system, then a count of `types` with the token; the
    // version from the running image (no About endpoint configured).
    let out = run_script(&c, &script, &[]);
    out.ok();
    assert!(out.stdout.contains("login: true"), "{}", out.all());
    assert!(out.stderr.contains("Vantiq API login: OK (as system; types: 12)"), "{}", out.all());
    assert!(
        out.stdout.contains("about: 1.30.10|image of StatefulSet vantiq||"),
        "the version comes from the image, the license is unknown: {}",
        out.all()
    );
    let real = std::fs::read_to_string(&pw).unwrap();
    assert!(!out.all().contains(real.trim()) && !everything_written(&c.tools()).contains(real.trim()));

    // A wrong password: the server's reason, and the password nowhere.
    std::fs::write(&pw, "wrong-Passw0rd-4711\n").unwrap();
    let out = run_script(&c, &script, &[]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("the IDE login as `system` failed")
            && out
                .stderr
                .contains("401 Unauthorized (io.vantiq.authentication.failed: Unauthorized)"),
        "{}",
        out.all()
    );
    assert!(!out.all().contains("wrong-Passw0rd-4711"), "{}", out.all());
    assert!(
        !everything_written(&c.tools()).contains("wrong-Passw0rd-4711"),
        "a file holds the password"
    );

    // From an environment variable instead; unset, it is named (not the value).
    let toml = vantiq_toml(&c, &pw).replace(
        &format!("password_file = \"{}\"", pw.display()),
        "password_env = \"VSCRIPT_IT_VANTIQ_PASSWORD\"",
    );
    write_toml(&c, &toml);
    run_script(&c, &script, &[("VSCRIPT_IT_VANTIQ_PASSWORD", real.trim())]).ok();
    let out = run_script(&c, &script, &[]);
    assert!(
        out.stderr
            .contains("`VSCRIPT_IT_VANTIQ_PASSWORD` ([vantiq] password_env) is not set"),
        "{}",
        out.all()
    );

    // With an About endpoint configured (the simulator serves one only when told), the
    // version and the license come from it.
    std::fs::write(c.sim().dir.join("vantiq-api.json"), r#"{"about_path": "/api/v1/about"}"#).unwrap();
    write_toml(
        &c,
        &format!(
            "{}\n[vantiq.about]\npath = \"/api/v1/about\"\n",
            vantiq_toml(&c, Path::new(&c.sim().info.password_file))
        ),
    );
    let out = run_script(&c, &script, &[]);
    out.ok();
    let line = out.stdout.lines().find(|l| l.starts_with("about: ")).unwrap_or_default().to_owned();
    assert!(
        line.starts_with("about: 1.30.10|endpoint GET /api/v1/about|endpoint GET /api/v1/about|20"),
        "{}",
        out.all()
    );
}

/// `(script, params)` of every procedure that ends downtime with a login check.
fn login_procedures(c: &Cluster) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    vec![
        ("minor_upgrade", vec![("tag", "1.31.0".into())]),
        ("patch_upgrade", vec![("tag", "1.30.11".into())]),
        (
            "license_renew",
            vec![("public_pem", c.incoming("public.pem")), ("license_key", c.incoming("license.key"))],
        ),
        (
            "ssl_renew",
            vec![
                ("fullchain", c.incoming("fullchain.crt")),
                ("private_key", c.incoming("private.key")),
            ],
        ),
        (
            "minor_upgrade_rollback",
            vec![("tag", "1.29.5".into()), ("release", "1.29.2".into())],
        ),
        ("patch_upgrade_rollback", vec![("tag", "1.30.9".into())]),
        ("license_renew_rollback", vec![]),
        ("ssl_renew_rollback", vec![]),
    ]
}

#[test]
fn without_credentials_every_login_procedure_refuses_in_step_0_and_the_opt_out_is_reported() {
    let c = Cluster::start();
    without_rehearsal_settings(&c);
    let target = c.tools().join("targetCluster");
    let files = tree(&target);
    let objects = cluster_objects(c.store());
    for (script, params) in login_procedures(&c) {
        let sets: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = c.run(script, &sets);
        assert_ne!(out.code, 0, "{script}: {}", out.all());
        assert!(
            out.stderr.contains("the IDE login cannot be checked: no Vantiq URL is configured")
                && out.stderr.contains("--set verify_login=false"),
            "{script}: {}",
            out.all()
        );
        assert!(
            out.stderr.contains(&format!("{script} stopped before changing anything")),
            "{script}: {}",
            out.all()
        );
        assert!(tree(&target) == files, "{script} changed targetCluster");
        assert!(cluster_objects(c.store()) == objects, "{script} changed the cluster");
    }
    // Credentials configured but unreadable: the same refusal, naming the file.
    write_toml(&c, &vantiq_toml(&c, Path::new("/nonexistent/vantiq-password")));
    let out = c.run("patch_upgrade", &[("tag", "1.30.11")]);
    assert!(
        out.stderr
            .contains("cannot read the password file `/nonexistent/vantiq-password` ([vantiq] password_file): no such file"),
        "{}",
        out.all()
    );
    assert!(tree(&target) == files);
    std::fs::remove_file(c.tools().join("vscript.toml")).unwrap();

    // The explicit opt-out: the run goes on, warns, and the report does not claim a login.
    let out = c.run(
        "license_renew",
        &[
            ("public_pem", &c.incoming("public.pem")),
            ("license_key", &c.incoming("license.key")),
            ("verify_login", "false"),
        ],
    );
    out.ok();
    assert!(out.stderr.contains("this run will NOT verify the IDE login"), "{}", out.all());
    assert!(
        out.stdout.contains("login check") && out.stdout.contains("IDE login not verified (--set verify_login=false)"),
        "{}",
        out.all()
    );
    assert!(!out.stdout.contains("IDE login verified"), "{}", out.all());
    c.assert_no_violation();
}

/// A plain-HTTP listener that records every request's head and answers 401.
fn capture_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Default::default();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            s2.lock().unwrap().push(head);
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, seen)
}

/// An https server for `vantiq.redirect.test` (self-signed, the certificate written to
/// `ca`) that answers every request with a redirect to `to` + the path, recording heads.
fn redirecting_server(rt: &tokio::runtime::Runtime, ca: &Path, to: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["vantiq.redirect.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(ca, cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let seen: Arc<Mutex<Vec<String>>> = Default::default();
    let s2 = seen.clone();
    let l = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = l.local_addr().unwrap().port();
    rt.spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((s, _)) = l.accept().await {
            let (a, seen, to) = (acceptor.clone(), s2.clone(), to.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = a.accept(s).await else { return };
                let mut buf = vec![0u8; 8192];
                let n = tls.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                seen.lock().unwrap().push(head);
                let resp = format!("HTTP/1.1 302 Found\r\nlocation: {to}{path}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, seen)
}

#[test]
fn credentials_never_travel_over_plain_http_and_a_redirect_to_http_fails_the_check() {
    let (http_port, captured) = capture_server();
    let c = Cluster::start();
    without_rehearsal_settings(&c);
    let secrets = tempfile::tempdir().unwrap();
    let pw = secrets.path().join("pw");
    std::fs::write(&pw, "Sekr1t-capture-pw\n").unwrap();
    let plain = format!(
        "[vantiq]\nurl = \"http://127.0.0.1:{http_port}\"\nuser = \"ops\"\npassword_file = \"{}\"\n",
        pw.display()
    );
    write_toml(&c, &plain);
    let target = c.tools().join("targetCluster");
    let files = tree(&target);

    // A procedure refuses in step 0: nothing is sent, nothing changes.
    let out = c.run(
        "license_renew",
        &[
            ("public_pem", &c.incoming("public.pem")),
            ("license_key", &c.incoming("license.key")),
        ],
    );
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("is plain http: vscript sends the Vantiq credentials only over https")
            && out.stderr.contains("allow_insecure_http_credentials"),
        "{}",
        out.all()
    );
    assert!(tree(&target) == files);
    assert!(captured.lock().unwrap().is_empty(), "a request reached the http listener");

    // https that redirects to plain http: the check fails, nothing reaches the listener.
    let ca = secrets.path().join("redirect-ca.pem");
    let (https_port, redirected) = redirecting_server(&c.rt, &ca, format!("http://127.0.0.1:{http_port}"));
    write_toml(
        &c,
        &format!(
            "[vantiq]\nurl = \"https://vantiq.redirect.test:{https_port}\"\nconnect = \"vantiq.redirect.test=127.0.0.1:{https_port}\"\nca = \"{}\"\nuser = \"ops\"\npassword_file = \"{}\"\n",
            ca.display(),
            pw.display()
        ),
    );
    let (_d, script) = tmp_script("//! login only\n//! read-only\nimport \"vantiq\" as vantiq;\nvantiq::verify_login();\n");
    let out = run_script(&c, &script, &[]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "redirected to http://127.0.0.1:{http_port}/authenticate: refusing to follow a redirect to plain http"
        )),
        "{}",
        out.all()
    );
    let got = redirected.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "the https server got the login: {got:?}");
    assert!(got[0].to_ascii_lowercase().contains("authorization: basic "), "{got:?}");
    assert!(captured.lock().unwrap().is_empty(), "nothing reached the http listener");
    assert!(!out.all().contains("Sekr1t-capture-pw"));

    // The explicit opt-in sends them, with a warning.
    write_toml(&c, &format!("{plain}allow_insecure_http_credentials = true\n"));
    let out = run_script(&c, &script, &[]);
    assert_ne!(out.code, 0, "the capture server refuses every login");
    assert!(out.stderr.contains("sending Vantiq credentials over plain http"), "{}", out.all());
    let seen = captured.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].to_ascii_lowercase().contains("authorization: basic "), "{seen:?}");
    assert!(!out.all().contains("Sekr1t-capture-pw"));
}

// ---- license files of any format -------------------------------------------------------

/// Fixed bytes in no format anybody knows (not UTF-8, no key, no token).
fn opaque_blob() -> Vec<u8> {
    let mut x: u32 = 0x1234_5677;
    let mut out = vec![0xF1u8, 0x80];
    for _ in 0..600 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push((x >> 24) as u8);
    }
    out
}

fn license_secret(c: &Cluster) -> String {
    let s = c.get("Secret", &c.ns(), "vantiq-license").expect("license secret");
    s["data"]["license.key"].as_str().unwrap_or("").to_owned()
}

fn incoming_dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().to_owned();
    (d, p)
}

#[test]
fn license_renew_installs_a_license_in_an_unknown_format_and_says_its_expiry_is_unknown() {
    let c = Cluster::start();
    let (_d, dir) = incoming_dir();
    let key = dir.join("license.key");
    std::fs::write(&key, opaque_blob()).unwrap();
    let old_secret = license_secret(&c);
    let out = c.run(
        "license_renew",
        &[
            ("public_pem", &c.incoming("public.pem")),
            ("license_key", &key.display().to_string()),
        ],
    );
    out.ok();
    assert_eq!(
        std::fs::read(c.tools().join("targetCluster/deploy/sensitive/license.key")).unwrap(),
        opaque_blob()
    );
    assert_ne!(license_secret(&c), old_secret);
    assert!(out.stderr.contains("its expiry is unknown"), "{}", out.all());
    // Verified by the operator (--yes answers the question), and said so.
    assert!(
        out.stderr
            .contains("does \"Server License Expiration Date\" show the new license? yes (--yes)"),
        "{}",
        out.all()
    );
    for want in [
        "expiration after",
        "license verified by : operator confirmed (IDE About dialog)",
        "login check         : IDE login verified (as system at https://",
    ] {
        assert!(out.stdout.contains(want), "{want}: {}", out.all());
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("expiration after") && l.ends_with(": unknown")),
        "{}",
        out.all()
    );
    c.settle();
    let log = c
        .store()
        .read_log(&c.ns(), "vantiq-0", "vantiq", 0)
        .expect("vantiq-0 log")
        .0
        .join("\n");
    assert!(log.contains("License loaded (not in the simulator's format"), "{log}");
    c.assert_no_violation();
    // And back: the rollback restores the simulator's license.
    c.run("license_renew_rollback", &[]).ok();
    assert_eq!(license_secret(&c), old_secret);
    c.assert_no_violation();
}

#[test]
fn license_renew_refuses_keys_certificates_empty_and_installed_files_in_step_0() {
    let c = Cluster::start();
    let (_d, dir) = incoming_dir();
    let target = c.tools().join("targetCluster");
    let installed = target.join("deploy/sensitive/license.key");
    let files = tree(&target);
    let secret = license_secret(&c);
    let ec = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["vantiq.acme.example.com".into()])
        .unwrap()
        .self_signed(&ec)
        .unwrap();
    let good_pem = c.incoming("public.pem");
    let cases: Vec<(&str, Vec<u8>, Option<&str>, String)> = vec![
        (
            "private key",
            ec.serialize_pem().into_bytes(),
            None,
            "is not a license: it is a private key (`-----BEGIN PRIVATE KEY-----`)".into(),
        ),
        (
            "DER private key",
            ec.serialize_der(),
            None,
            "is not a license: it is a DER private key".into(),
        ),
        (
            "certificate",
            cert.pem().into_bytes(),
            None,
            "is not a license: it is a certificate".into(),
        ),
        ("empty", Vec::new(), None, "is empty".into()),
        (
            "installed",
            std::fs::read(&installed).unwrap(),
            None,
            "is identical to the installed `targetCluster/deploy/sensitive/license.key`: this license is already installed".into(),
        ),
        (
            "bad public.pem",
            opaque_blob(),
            Some("not a key at all\n"),
            "is not a PEM public key: no `-----BEGIN PUBLIC KEY-----` block".into(),
        ),
    ];
    for (what, content, public, want) in cases {
        let key = dir.join("license.key");
        std::fs::write(&key, &content).unwrap();
        let pem = match public {
            Some(text) => {
                let p = dir.join("public.pem");
                std::fs::write(&p, text).unwrap();
                p.display().to_string()
            }
            None => good_pem.clone(),
        };
        let out = c.run(
            "license_renew",
            &[("public_pem", &pem), ("license_key", &key.display().to_string())],
        );
        assert_ne!(out.code, 0, "{what}: {}", out.all());
        assert!(out.stderr.contains(&want), "{what}: {}", out.all());
        assert!(
            out.stderr.contains("license_renew stopped before changing anything"),
            "{what}: {}",
            out.all()
        );
        assert!(tree(&target) == files, "{what}: targetCluster changed");
        assert_eq!(license_secret(&c), secret, "{what}");
        if let Ok(text) = String::from_utf8(content)
            && let Some(body) = text.lines().find(|l| l.len() > 40 && !l.starts_with("-----"))
        {
            assert!(!out.all().contains(body), "{what}: content printed");
        }
    }
    c.assert_no_violation();
}

#[test]
fn the_jwt_check_verifies_signature_and_expiry_when_configured_and_the_installation_confirms() {
    let c = Cluster::start();
    std::fs::write(c.sim().dir.join("vantiq-api.json"), r#"{"about_path": "/api/v1/about"}"#).unwrap();
    write_toml(
        &c,
        "[license]\nformat = \"jwt-es256\"\n\n[vantiq.about]\npath = \"/api/v1/about\"\n",
    );
    let (_d, dir) = incoming_dir();
    let target = c.tools().join("targetCluster");
    let files = tree(&target);

    // A pair whose signature does not verify: refused in step 0.
    let bad = vscript_sim::license::issue_invalid("Acme Corp", chrono::Utc::now() + chrono::Duration::days(400)).unwrap();
    std::fs::write(dir.join("public.pem"), &bad.public_pem).unwrap();
    std::fs::write(dir.join("license.key"), &bad.license_key).unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    let out = c.run(
        "license_renew",
        &[("public_pem", &p("public.pem")), ("license_key", &p("license.key"))],
    );
    assert!(out.stderr.contains("the signature does not verify"), "{}", out.all());
    assert!(tree(&target) == files);
    // An expired one too.
    let now = chrono::Utc::now();
    let old = vscript_sim::license::issue("Acme Corp", now - chrono::Duration::days(400), now - chrono::Duration::days(2)).unwrap();
    std::fs::write(dir.join("public.pem"), &old.public_pem).unwrap();
    std::fs::write(dir.join("license.key"), &old.license_key).unwrap();
    let out = c.run(
        "license_renew",
        &[("public_pem", &p("public.pem")), ("license_key", &p("license.key"))],
    );
    assert!(out.stderr.contains("(issued to `Acme Corp`) expired on"), "{}", out.all());
    assert!(tree(&target) == files);
    assert!(
        !out.all().contains(old.license_key.split('.').nth(2).unwrap()),
        "the signature is never printed"
    );

    // The valid renewal: expiry known before and after, confirmed by the installation.
    let out = c.run(
        "license_renew",
        &[
            ("public_pem", &c.incoming("public.pem")),
            ("license_key", &c.incoming("license.key")),
        ],
    );
    out.ok();
    let new = vscript_sim::license::claims(&std::fs::read_to_string(c.incoming("license.key")).unwrap()).unwrap();
    let expires = new.expires_at().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(out.stderr.contains(&format!("expires {expires}")), "{}", out.all());
    assert!(
        out.stdout.contains("license verified by : the installation (GET /api/v1/about)"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("expiration after") && l.ends_with(&format!(": {expires}"))),
        "{}",
        out.all()
    );
    assert!(
        !out.stderr.contains("Server License Expiration Date"),
        "no question when the installation answers"
    );

    // A license the installation does not run (a renewal that did not take effect) fails.
    let (_s, script) = tmp_script(
        "//! verify\n//! read-only\nimport \"vantiq\" as vantiq;\nvantiq::verify_license(#{ expires: \"2099-01-01T00:00:00Z\", id: () });\n",
    );
    let out = run_script(&c, &script, &[]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(&format!(
            "the installation reports the license expiring {expires}, not the one just installed (2099-01-01T00:00:00Z)"
        )),
        "{}",
        out.all()
    );
    // The rollback is confirmed by the installation too.
    let out = c.run("license_renew_rollback", &[]);
    out.ok();
    assert!(
        out.stdout.contains("license verified by : the installation (GET /api/v1/about)"),
        "{}",
        out.all()
    );
    c.assert_no_violation();
}

#[test]
fn maintenance_status_says_the_license_expiry_is_unknown_without_a_format() {
    let c = Cluster::start();
    let out = c.run_with("maintenance_status", &[], &["--yes", "--output", "json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout[out.stdout.find("{\n").unwrap()..]).unwrap();
    let lic = &v["remembered"]["findings"]["license"];
    assert_eq!(lic["status"], "unknown", "{lic}");
    assert!(lic["expires"].is_null(), "{lic}");
    assert!(out.stderr.contains("the license expiry is unknown"), "{}", out.all());
    // With the simulator's format configured, the files tell.
    write_toml(&c, "[license]\nformat = \"jwt-es256\"\n");
    let out = c.run_with("maintenance_status", &[], &["--yes", "--output", "json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout[out.stdout.find("{\n").unwrap()..]).unwrap();
    let lic = &v["remembered"]["findings"]["license"];
    assert_eq!(
        (lic["status"].as_str(), lic["from"].as_str()),
        (Some("ok"), Some("license files (jwt-es256)")),
        "{lic}"
    );
}
