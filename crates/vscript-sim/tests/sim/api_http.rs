//! The simulated API server on the wire, below kubectl: discovery content types,
//! error Status objects, conflicts, server-side apply, injected faults, the audit
//! log and the request counter.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use vscript_sim::api::{self, ApiOptions, FaultRule};
use vscript_sim::store::{Store, res};

struct Server {
    port: u16,
    store: Arc<Store>,
    opts: ApiOptions,
    shutdown: CancellationToken,
    _rt: tokio::runtime::Runtime,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn start(opts: ApiOptions) -> Server {
    let store = Arc::new(Store::new());
    store
        .create(res("Namespace"), "", json!({"metadata": {"name": "demo"}}), false)
        .unwrap();
    store
        .create(
            res("ConfigMap"),
            "demo",
            json!({"metadata": {"name": "cm"}, "data": {"a": "1"}}),
            false,
        )
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    // As a real cluster: HTTPS with its own CA, a bearer token, RBAC.
    let pki = api::auth::ClusterPki::generate().unwrap();
    let authn = Arc::new(api::auth::Authenticator::new());
    authn.add_token(TOKEN, api::auth::UserInfo::new("admin", &[api::auth::MASTERS]));
    let mut opts = opts;
    opts.auth = Some(authn);
    let app = api::router(store.clone(), opts.clone());
    rt.spawn(api::serve_tls(listener, app, pki.server_config().unwrap(), shutdown.clone()));
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    CLIENTS.lock().unwrap().insert(port, Arc::new(client));
    Server {
        port,
        store,
        opts,
        shutdown,
        _rt: rt,
    }
}

/// The admin's bearer token on every test server.
const TOKEN: &str = "api-http-admin-token";

/// The TLS client configuration (trusting the server's CA) per server port.
static CLIENTS: std::sync::Mutex<std::collections::BTreeMap<u16, Arc<rustls::ClientConfig>>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

struct Resp {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 request over TLS on a fresh connection, with the admin's token.
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Resp> {
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let cfg = CLIENTS.lock().unwrap().get(&port).cloned().expect("a server started by start()");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(cfg, name).map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    // A server that closes without close_notify after answering is fine; one that drops
    // the connection before answering leaves `raw` empty (an error below).
    if let Err(e) = s.read_to_end(&mut raw)
        && (e.kind() != std::io::ErrorKind::UnexpectedEof || raw.is_empty())
    {
        return Err(e);
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no response head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok(Resp {
        status,
        headers: head,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 4 + n..];
    }
    out
}

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

#[test]
fn discovery_answers_aggregated_or_legacy_by_accept_header() {
    let s = start(ApiOptions::default());
    let r = http(s.port, "GET", "/apis?timeout=32s", &[("Accept", AGGREGATED)], b"").unwrap();
    assert_eq!(
        r.header("content-type"),
        Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    );
    assert_eq!(r.json()["kind"], "APIGroupDiscoveryList");
    let r = http(s.port, "GET", "/apis", &[("Accept", "application/json, */*")], b"").unwrap();
    assert_eq!(
        (r.header("content-type"), r.json()["kind"].as_str()),
        (Some("application/json"), Some("APIGroupList"))
    );
    let r = http(s.port, "GET", "/api", &[], b"").unwrap();
    assert_eq!(r.json()["kind"], "APIVersions");
    let r = http(s.port, "GET", "/healthz", &[], b"").unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
}

#[test]
fn bad_requests_get_status_objects_not_panics() {
    let s = start(ApiOptions::default());
    let ct = [("Content-Type", "application/json")];
    let r = http(s.port, "POST", "/api/v1/namespaces/demo/configmaps", &ct, b"{not json").unwrap();
    assert_eq!((r.status, r.json()["reason"].as_str()), (400, Some("BadRequest")));
    let r = http(s.port, "GET", "/apis/apps/v1/namespaces/demo/foos", &[], b"").unwrap();
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some("the server could not find the requested resource"))
    );
    let r = http(
        s.port,
        "PATCH",
        "/api/v1/namespaces/demo/configmaps/cm",
        &[("Content-Type", "text/plain")],
        b"{}",
    )
    .unwrap();
    assert_eq!((r.status, r.json()["reason"].as_str()), (415, Some("UnsupportedMediaType")));
    let r = http(
        s.port,
        "PATCH",
        "/api/v1/namespaces/demo/configmaps/nope",
        &[("Content-Type", "application/merge-patch+json")],
        b"{}",
    )
    .unwrap();
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some(r#"configmaps "nope" not found"#))
    );
    let pb = [("Content-Type", "application/vnd.kubernetes.protobuf")];
    let r = http(
        s.port,
        "POST",
        "/api/v1/namespaces/demo/pods",
        &pb,
        b"k8s\0\x0a\x07\x0a\x02v1\x12\x01P",
    )
    .unwrap();
    assert_eq!(r.status, 415);
    let r = http(s.port, "GET", "/api/v1/namespaces/demo/configmaps?dryRun=Some", &[], b"").unwrap();
    assert_eq!(r.status, 200, "dryRun only matters on writes");
    let r = http(s.port, "DELETE", "/api/v1/namespaces/demo/configmaps/cm?dryRun=Some", &[], b"").unwrap();
    assert_eq!(r.status, 400);
}

#[test]
fn update_with_a_stale_version_conflicts_and_apply_creates_then_merges() {
    let s = start(ApiOptions::default());
    let path = "/api/v1/namespaces/demo/configmaps/cm";
    let cur = http(s.port, "GET", path, &[], b"").unwrap().json();
    let mut stale = cur.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["data"]["a"] = json!("2");
    let ct = [("Content-Type", "application/json")];
    let r = http(s.port, "PUT", path, &ct, stale.to_string().as_bytes()).unwrap();
    assert_eq!((r.status, r.json()["reason"].as_str()), (409, Some("Conflict")));
    let mut fresh = cur;
    fresh["data"]["a"] = json!("2");
    let r = http(s.port, "PUT", path, &ct, fresh.to_string().as_bytes()).unwrap();
    assert_eq!((r.status, r.json()["data"]["a"].as_str()), (200, Some("2")));

    let apply = [("Content-Type", "application/apply-patch+yaml")];
    let yaml = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  x: \"1\"\n";
    let r = http(
        s.port,
        "PATCH",
        "/api/v1/namespaces/demo/configmaps/applied?fieldManager=vscript&force=true",
        &apply,
        yaml,
    )
    .unwrap();
    assert_eq!(r.status, 201);
    let r = http(
        s.port,
        "PATCH",
        "/api/v1/namespaces/demo/configmaps/applied?fieldManager=vscript",
        &apply,
        br#"{"data": {"y": "2"}}"#,
    )
    .unwrap();
    assert_eq!((r.status, r.json()["data"].clone()), (200, json!({"x": "1", "y": "2"})));
}

#[test]
fn faults_audit_log_and_counter() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let opts = ApiOptions {
        audit_log: Some(audit.clone()),
        ..ApiOptions::default()
    };
    let s = start(opts);
    let rule = |v: Value| serde_json::from_value::<FaultRule>(v).unwrap();
    s.opts.faults.set(vec![
        rule(json!({"verb": "get", "path_contains": "/configmaps/cm", "after": 1, "times": 1, "action": "status:500"})),
        rule(json!({"method": "DELETE", "action": "reset"})),
    ]);
    let path = "/api/v1/namespaces/demo/configmaps/cm";
    assert_eq!(http(s.port, "GET", path, &[], b"").unwrap().status, 200);
    let r = http(s.port, "GET", path, &[], b"").unwrap();
    assert_eq!((r.status, r.json()["reason"].as_str()), (500, Some("InternalError")));
    assert_eq!(http(s.port, "GET", path, &[], b"").unwrap().status, 200);
    assert!(
        http(s.port, "DELETE", path, &[], b"").is_err(),
        "connection dropped without a response"
    );
    assert!(s.store.get(res("ConfigMap"), "demo", "cm").is_some());
    assert_eq!(http(s.port, "DELETE", &format!("{path}?dryRun=All"), &[], b"").unwrap().status, 200);
    assert_eq!(s.opts.stats.requests(), 5);

    let lines: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        (
            lines[1]["verb"].as_str(),
            lines[1]["resource"].as_str(),
            lines[1]["status"].as_u64()
        ),
        (Some("get"), Some("configmaps"), Some(500))
    );
    assert_eq!(
        (lines[4]["verb"].as_str(), lines[4]["dry_run"].as_bool(), lines[4]["name"].as_str()),
        (Some("delete"), Some(true), Some("cm"))
    );
    assert_eq!(lines[0]["namespace"], "demo");
}

#[test]
fn watch_over_http_streams_events_then_ends_at_the_timeout() {
    let s = start(ApiOptions::default());
    let rv = s.store.resource_version();
    let store = s.store.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        store
            .write(res("ConfigMap"), "demo", "cm", false, |v| {
                v["data"]["a"] = json!("3");
                Ok(())
            })
            .unwrap();
    });
    let r = http(
        s.port,
        "GET",
        &format!("/api/v1/namespaces/demo/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=1"),
        &[],
        b"",
    )
    .unwrap();
    writer.join().unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let events: Vec<Value> = r
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0]["type"].as_str(), events[0]["object"]["data"]["a"].as_str()),
        (Some("MODIFIED"), Some("3"))
    );
    assert_eq!(events[0]["object"]["kind"], "ConfigMap");
}
