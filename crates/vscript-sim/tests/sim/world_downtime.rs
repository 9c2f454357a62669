//! The downtime record of a minor upgrade done by hand: from the moment no vantiq pod
//! serves (everything scaled to 0) to the first successful Vantiq login afterwards, in
//! wall-clock and realistic seconds, in `DIR/downtime.json` and at `GET /__sim/downtime`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::world_support::T;
use vscript_sim::SeedOptions;

/// `GET /authenticate` as the `system` user on the Vantiq endpoint; the HTTP status.
fn login(t: &T) -> u16 {
    let password = std::fs::read_to_string(&t.sim().info.password_file).unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("system:{password}"));
    get(t, "/authenticate", &format!("Basic {basic}"))
}

/// `GET path` with `auth` on the Vantiq endpoint (trusting `ca.crt`); the HTTP status.
fn get(t: &T, path: &str, auth: &str) -> u16 {
    let info = &t.sim().info;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&info.ca_file).unwrap() {
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
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n",
        info.vantiq_host
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = tls.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).split(' ').nth(1).unwrap().parse().unwrap()
}

fn scale(t: &T, sts: &str, n: u32) {
    let ns = t.ns();
    t.k(&["scale", "sts", "-n", &ns, sts, &format!("--replicas={n}")]);
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[test]
fn a_minor_upgrade_by_hand_records_its_downtime_until_the_first_login() {
    let speed = 100.0;
    let t = T::start(SeedOptions::default(), speed);
    let ns = t.ns();
    assert_eq!(login(&t), 200, "Vantiq serves before the upgrade");
    assert!(t.sim().world.downtime.windows().is_empty(), "a login while serving is no downtime");

    // Stop everything: the downtime starts when the last vantiq pod stops being Ready.
    let before_stop = Utc::now();
    let stop_wall = Instant::now();
    for s in ["vantiq", "metrics-collector", "vision-analytics"] {
        scale(&t, s, 0);
    }
    let after_stop = Utc::now();
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    assert_eq!(login(&t), 503, "no vantiq server is ready");
    t.k(&["create", "job", "-n", &ns, "backup-1", "--from=CronJob/mongobackup"]);
    t.k(&["wait", "-n", &ns, "--for=condition=complete", "job/backup-1", "--timeout=60s"]);
    t.edit(
        &t.target().join("deploy.yaml"),
        "    tag: 1.30.10\n  # Number",
        "    tag: 1.31.0\n  # Number",
    );
    t.gradle("deployVantiq");
    scale(&t, "vantiq", 1);
    scale(&t, "metrics-collector", 0);
    scale(&t, "vision-analytics", 0);
    t.k(&["wait", "-n", &ns, "--for=condition=Ready", "pod/vantiq-0", "--timeout=60s"]);
    let open = t.sim().world.downtime.windows();
    assert_eq!(open.len(), 1, "{open:#?}");
    assert!(
        open[0].ready_at.is_some() && open[0].end.is_none(),
        "Ready is not the end: {open:#?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let before_login = Utc::now();
    assert_eq!(login(&t), 200);
    let after_login = Utc::now();
    let wall = stop_wall.elapsed().as_secs_f64();
    assert_eq!(login(&t), 200); // a second login changes nothing

    let rec = vscript_sim::world::downtime::read(&t.sim().dir).unwrap();
    assert_eq!(rec.speed, speed);
    assert_eq!(rec.windows.len(), 1, "{rec:#?}");
    let w = &rec.windows[0];
    let start = at(&w.start);
    assert!(
        start >= before_stop && start <= after_stop + chrono::Duration::milliseconds(50),
        "{w:#?}"
    );
    let end = at(w.end.as_deref().unwrap());
    assert!(end >= before_login && end <= after_login, "{w:#?}");
    assert!(at(w.ready_at.as_deref().unwrap()) < before_login, "{w:#?}");
    let secs = w.wall_seconds.unwrap();
    assert!(secs > 0.5 && secs <= wall + 0.05 && secs > wall - 0.6, "{secs} vs {wall}");
    let realistic = w.realistic_seconds.unwrap();
    assert!((realistic - secs * speed).abs() < 1.0, "{realistic} vs {secs}");
    assert_eq!(w.procedure, None, "done by hand");

    // The admin route serves the same record.
    let body: serde_json::Value = ureq::get(&format!("{}/__sim/downtime", t.sim().info.admin))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    assert_eq!(body["windows"][0]["end"], serde_json::json!(w.end));
    assert_eq!(t.state()["downtime"][0]["start"], serde_json::json!(w.start));

    // A patch upgrade rolls one pod at a time: a vantiq pod serves throughout, no new window.
    scale(&t, "vantiq", 3);
    t.wait_for("three ready", 30, |t| t.ready(&ns, "vantiq") == 3);
    t.k(&["rollout", "restart", "sts", "-n", &ns, "vantiq"]);
    t.k(&["rollout", "status", "sts", "-n", &ns, "vantiq", "--timeout=60s"]);
    assert_eq!(vscript_sim::world::downtime::read(&t.sim().dir).unwrap().windows.len(), 1);
}

#[test]
fn a_downtime_during_a_procedure_names_it_and_stays_open_without_a_login() {
    let t = T::start(
        SeedOptions {
            metrics_collector: false,
            vision_analytics: false,
            ..SeedOptions::default()
        },
        200.0,
    );
    let ns = t.ns();
    let lease = serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "vscript-maintenance"},
        "spec": {"holderIdentity": "frank@bastion pid 9 run 9-minor_upgrade", "leaseDurationSeconds": 60},
    });
    t.store().create(vscript_sim::store::res("Lease"), &ns, lease, false).unwrap();
    scale(&t, "vantiq", 0);
    t.wait_for("vantiq pods gone", 20, |t| t.pods(&ns, "vantiq").is_empty());
    scale(&t, "vantiq", 3);
    t.wait_for("vantiq ready again", 30, |t| t.ready(&ns, "vantiq") == 3);
    let w = t.sim().world.downtime.windows();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0].procedure.as_deref(), Some("frank@bastion pid 9 run 9-minor_upgrade"));
    assert!(w[0].ready_at.is_some());
    assert!(
        w[0].end.is_none() && w[0].wall_seconds.is_none(),
        "open until someone logs in: {w:#?}"
    );
    // A refused login does not end it; the SDK's login (how vscript checks it) does.
    assert_eq!(get(&t, "/authenticate", "Basic d3Jvbmc6d3Jvbmc="), 401);
    assert!(t.sim().world.downtime.windows()[0].end.is_none(), "a refused login is no login");
    assert_eq!(login(&t), 200);
    let w = t.sim().world.downtime.windows();
    assert!(w[0].end.is_some() && w[0].realistic_seconds.is_some(), "{w:#?}");
}
