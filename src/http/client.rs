//! The HTTP client behind the `http` script module: one reqwest request per call, TLS set
//! up by `connect` (rustls, ring; verification on unless `insecure`), errors that name the
//! method, the URL (without credentials) and the reason.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::http::connect::{self, Verify};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: {reason}")]
    Request { method: String, url: String, reason: String },
    #[error("{method} {url}: expected status {expected}, got {status}{body}")]
    Status {
        method: String,
        url: String,
        expected: String,
        status: String,
        body: String,
    },
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Text(String),
}

/// Everything one request needs.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub bearer: Option<String>,
    pub basic: Option<(String, String)>,
    pub body: Option<Body>,
    pub timeout: Duration,
    /// Extra trusted root certificates (PEM).
    pub ca: Option<Vec<u8>>,
    pub insecure: bool,
    /// `host` → socket address overrides (like curl's `--resolve`).
    pub resolve: Vec<(String, SocketAddr)>,
    /// Statuses accepted; empty = any.
    pub expect: Vec<u16>,
    /// Follow redirects only to `https://` URLs (requests carrying credentials): a redirect
    /// to plain http fails the request instead of sending anything there.
    pub https_redirects_only: bool,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            headers: vec![],
            bearer: None,
            basic: None,
            body: None,
            timeout: Duration::from_secs(30),
            ca: None,
            insecure: false,
            resolve: vec![],
            expect: vec![],
            https_redirects_only: false,
        }
    }
}

/// A response, as scripts see it.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
}

/// The URL without user name and password, for messages.
pub fn public_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() || u.password().is_some() {
                let _ = u.set_username("");
                let _ = u.set_password(None);
            }
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// The error text of reqwest's source chain, without the URL (which we show ourselves).
fn reason_of(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", crate::engine::host::humantime(timeout));
    }
    let mut parts: Vec<String> = vec![];
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        let m = s.to_string();
        if !m.is_empty() && !parts.iter().any(|p| p.contains(&m)) {
            parts.push(m);
        }
        src = s.source();
    }
    let all = parts.join(": ");
    let lower = all.to_ascii_lowercase();
    let kind = if lower.contains("connection refused") {
        "connection refused"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        "TLS error"
    } else if lower.contains("dns") || lower.contains("failed to lookup") || lower.contains("name or service not known") {
        "cannot resolve the host"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        ""
    };
    // the root cause is the informative part ("invalid peer certificate: UnknownIssuer")
    let root = parts.last().cloned().unwrap_or_default();
    match kind {
        "connection refused" => kind.to_owned(),
        "" if root.is_empty() => "request failed".to_owned(),
        "" => root,
        k if root.is_empty() => k.to_owned(),
        k => format!("{k}: {root}"),
    }
}

/// A client for the request's TLS settings, built once per process and reused (with its
/// pooled connections).
fn client_for(req: &Request) -> Result<reqwest::Client, String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CLIENTS: OnceLock<Mutex<HashMap<String, reqwest::Client>>> = OnceLock::new();
    // Per runtime too: a client's pooled connections live on the runtime that opened them.
    let rt = tokio::runtime::Handle::try_current()
        .map(|h| format!("{:?}", h.id()))
        .unwrap_or_default();
    let key = format!("{rt}|{:?}|{}|{:?}|{}", req.ca, req.insecure, req.resolve, req.https_redirects_only);
    let cache = CLIENTS.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap().get(&key) {
        return Ok(c.clone());
    }
    // Like `curl --cacert`: a given CA replaces the system roots.
    let ca = req.ca.as_deref().map(connect::ca_roots).transpose()?;
    let verify = match (req.insecure, ca) {
        (true, _) => Verify::AcceptAny,
        (false, Some(roots)) => Verify::Roots(roots),
        (false, None) => Verify::Roots(connect::system_roots_and(None)?),
    };
    let mut tls = connect::client_config(verify).map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    // What reqwest offers itself for HTTP/1 only.
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut b = reqwest::Client::builder()
        .connect_timeout(req.timeout.min(Duration::from_secs(10)))
        .tls_backend_preconfigured(tls);
    for (h, a) in &req.resolve {
        b = b.resolve(h, *a);
    }
    if req.https_redirects_only {
        b = b.redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.url().scheme() != "https" {
                let to = public_url(attempt.url().as_str());
                attempt.error(format!(
                    "redirected to {to}: refusing to follow a redirect to plain http with credentials"
                ))
            } else if attempt.previous().len() >= 5 {
                attempt.error("more than 5 redirects")
            } else {
                attempt.follow()
            }
        }));
    }
    let client = b
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {}", reason_of(&e, req.timeout)))?;
    cache.lock().unwrap().insert(key, client.clone());
    Ok(client)
}

/// Sends one request.
pub async fn send(req: Request) -> Result<Response, HttpError> {
    let shown = public_url(&req.url);
    let err = |reason: String| HttpError::Request {
        method: req.method.clone(),
        url: shown.clone(),
        reason,
    };
    let client = client_for(&req).map_err(&err)?;
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).map_err(|_| err("invalid method".into()))?;
    let url = reqwest::Url::parse(&req.url).map_err(|e| err(format!("invalid URL: {e}")))?;
    let mut rb = client.request(method, url).timeout(req.timeout);
    for (k, v) in &req.headers {
        rb = rb.header(k, v);
    }
    if let Some(t) = &req.bearer {
        rb = rb.bearer_auth(t);
    }
    if let Some((u, p)) = &req.basic {
        rb = rb.basic_auth(u, Some(p));
    }
    match &req.body {
        Some(Body::Json(v)) => rb = rb.json(v),
        Some(Body::Text(s)) => rb = rb.body(s.clone()),
        None => {}
    }
    let resp = rb.send().await.map_err(|e| err(reason_of(&e, req.timeout)))?;
    let status = resp.status();
    let mut headers = BTreeMap::new();
    for (k, v) in resp.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers
            .entry(k.as_str().to_owned())
            .and_modify(|x: &mut String| {
                x.push_str(", ");
                x.push_str(&v)
            })
            .or_insert(v);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| err(format!("reading the response: {}", reason_of(&e, req.timeout))))?;
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str::<Value>(&body).ok();
    if !req.expect.is_empty() && !req.expect.contains(&status.as_u16()) {
        let snippet: String = body.chars().take(300).collect();
        return Err(HttpError::Status {
            method: req.method.clone(),
            url: shown,
            expected: req.expect.iter().map(u16::to_string).collect::<Vec<_>>().join(" or "),
            status: status.to_string(),
            body: if snippet.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", snippet.trim())
            },
        });
    }
    Ok(Response {
        status: status.as_u16(),
        headers,
        body,
        json,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A tiny HTTP/1.1 server on 127.0.0.1: `/json`, `/auth` (Bearer `sekret-token-123`
    /// or Basic ops:pa55word), `/slow` (3 s), `/echo`, `/status/<n>`.
    pub(crate) async fn serve() -> SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 4096];
                    let head_end = loop {
                        let n = s.read(&mut tmp).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let n = s.read(&mut tmp).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                    }
                    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
                    let mut lines = head.lines();
                    let first = lines.next().unwrap_or_default().to_owned();
                    let path = first.split(' ').nth(1).unwrap_or("/").to_owned();
                    let method = first.split(' ').next().unwrap_or("").to_owned();
                    let headers: BTreeMap<String, String> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let auth = headers.get("authorization").cloned().unwrap_or_default();
                    let (status, ctype, out) = match path.as_str() {
                        "/json" => (
                            200,
                            "application/json",
                            r#"{"serverBuildVersion":"1.40.0","replicas":3}"#.to_owned(),
                        ),
                        "/auth" if auth == "Bearer sekret-token-123" || auth == "Basic b3BzOnBhNTV3b3Jk" => {
                            (200, "text/plain", "welcome".into())
                        }
                        "/auth" => (401, "text/plain", "unauthorized".into()),
                        "/slow" => {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            (200, "text/plain", "late".into())
                        }
                        "/echo" => (
                            200,
                            "application/json",
                            serde_json::json!({ "method": method, "headers": headers, "body": body }).to_string(),
                        ),
                        p if p.starts_with("/status/") => (p[8..].parse().unwrap_or(500), "text/plain", format!("status {}", &p[8..])),
                        _ => (404, "text/plain", "not found".into()),
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\nx-test: a\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}",
                        out.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn get_returns_status_headers_body_and_json() {
        let a = serve().await;
        let r = send(Request::new("GET", &format!("http://{a}/json"))).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["x-test"], "a");
        assert_eq!(r.json.unwrap()["serverBuildVersion"], "1.40.0");
        let r = send(Request::new("GET", &format!("http://{a}/status/404"))).await.unwrap();
        assert_eq!((r.status, r.json), (404, None));
    }

    #[tokio::test]
    async fn expect_fails_on_another_status() {
        let a = serve().await;
        let mut req = Request::new("get", &format!("http://{a}/status/503"));
        req.expect = vec![200];
        let e = send(req).await.unwrap_err().to_string();
        assert_eq!(
            e,
            format!("GET http://{a}/status/503: expected status 200, got 503 Service Unavailable: status 503")
        );
    }

    #[tokio::test]
    async fn bearer_and_basic_auth_are_sent() {
        let a = serve().await;
        let url = format!("http://{a}/auth");
        assert_eq!(send(Request::new("GET", &url)).await.unwrap().status, 401);
        let mut req = Request::new("GET", &url);
        req.bearer = Some("sekret-token-123".into());
        assert_eq!(send(req).await.unwrap().body, "welcome");
        let mut req = Request::new("GET", &url);
        req.basic = Some(("ops".into(), "pa55word".into()));
        assert_eq!(send(req).await.unwrap().status, 200);
    }

    #[tokio::test]
    async fn post_sends_json_and_headers() {
        let a = serve().await;
        let mut req = Request::new("POST", &format!("http://{a}/echo"));
        req.body = Some(Body::Json(serde_json::json!({ "name": "vantiq" })));
        req.headers.push(("X-Run".into(), "42".into()));
        let r = send(req).await.unwrap().json.unwrap();
        assert_eq!(r["method"], "POST");
        assert_eq!(r["headers"]["x-run"], "42");
        assert_eq!(r["headers"]["content-type"], "application/json");
        assert_eq!(r["body"], r#"{"name":"vantiq"}"#);
    }

    #[tokio::test]
    async fn timeouts_and_refused_connections_are_named() {
        let a = serve().await;
        let mut req = Request::new("GET", &format!("http://{a}/slow"));
        req.timeout = Duration::from_secs(1);
        let e = send(req).await.unwrap_err().to_string();
        assert_eq!(e, format!("GET http://{a}/slow: timed out after 1s"));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed = l.local_addr().unwrap();
        drop(l);
        let e = send(Request::new("GET", &format!("http://ops:hunter2@{closed}/x")))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("GET http://{closed}/x: connection refused")), "{e}");
        assert!(!e.contains("hunter2"));
    }

    #[tokio::test]
    async fn resolve_sends_a_host_name_to_a_chosen_address() {
        let a = serve().await;
        let mut req = Request::new("GET", &format!("http://vantiq.example.test:{}/json", a.port()));
        req.resolve
            .push(connect::parse_resolve(&format!("vantiq.example.test:{}={a}", a.port()), 443).unwrap());
        assert_eq!(send(req).await.unwrap().status, 200);
    }

    #[tokio::test]
    async fn tls_is_verified_unless_insecure() {
        let pki = crate::tls::testing::Pki::new();
        let (leaf, key) = pki.leaf(&["vantiq.example.test"], 2024, 2080);
        let a = crate::tls::testing::serve_tls(&[&leaf, &pki.inter], &key).await;
        let url = format!("https://vantiq.example.test:{}/", a.port());
        let req = || {
            let mut r = Request::new("GET", &url);
            r.resolve.push(("vantiq.example.test".into(), a));
            r
        };
        let e = send(req()).await.unwrap_err().to_string();
        assert!(e.starts_with(&format!("GET {url}: TLS error")), "{e}");
        assert!(
            e.contains("UnknownIssuer") || e.contains("unknown issuer") || e.contains("not trusted"),
            "{e}"
        );
        let mut r = req();
        r.ca = Some(pki.root.clone().into_bytes());
        assert_eq!(send(r).await.unwrap().body, "ok");
        let mut r = req();
        r.insecure = true;
        assert_eq!(send(r).await.unwrap().status, 200);
    }

    #[tokio::test]
    async fn a_ca_file_without_certificates_fails_the_request_even_when_insecure() {
        let a = serve().await;
        for insecure in [false, true] {
            let mut r = Request::new("GET", &format!("http://{a}/json"));
            r.ca = Some(b"not a certificate\n".to_vec());
            r.insecure = insecure;
            let e = send(r).await.unwrap_err().to_string();
            assert_eq!(e, format!("GET http://{a}/json: the `ca` file holds no PEM certificate"));
        }
    }
}
