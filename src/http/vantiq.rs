//! The Vantiq REST API as the public Vantiq SDKs use it (vantiq-sdk-java, vantiq-sdk-node,
//! vantiq-python-sdk; see docs/assumptions.md):
//!
//! * login: `GET /authenticate` with HTTP Basic `user:password` → `200 {"accessToken", "idToken"}`;
//!   a long-lived access token may be used instead of a login;
//! * authenticated calls: `Authorization: Bearer <token>` to `/api/v1/resources/<resource>`;
//!   `?count=true` answers the number of records in the `X-Total-Count` header;
//! * errors: a JSON list `[{"code", "message", "params"}]` (or `{"error": …}`).
//!
//! "The IDE login works" = that login, then one authenticated count. Credentials come from a
//! file or an environment variable named in vscript.toml, are registered as secrets before
//! anything is sent, travel only over https (unless `allow_insecure_http_credentials`), and
//! never appear in an error: errors name the URL, the user and the server's reason.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::engine::Host;
use crate::http::client::{self as c, Request, Response};
use crate::http::connect;

/// The resource the login check counts unless `[vantiq] check_resource` says otherwise: the
/// SDKs' own tests make their first authenticated call on `types`.
pub const DEFAULT_CHECK_RESOURCE: &str = "types";

/// How requests are authenticated.
pub enum Auth {
    /// `GET /authenticate` with these, then the access token it answers.
    Password { user: String, password: String },
    /// A long-lived access token, used as is.
    Token { token: String },
    /// Nothing configured: requests go without `Authorization`.
    None,
}

/// A usable configuration: base URL, credentials (already registered as secrets).
pub struct Plan {
    pub base: reqwest::Url,
    pub auth: Auth,
    pub resource: String,
}

impl Plan {
    /// `base` + `path` (the base URL's own path kept, like the Java SDK).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base.as_str().trim_end_matches('/'), path.trim_start_matches('/'))
    }
    pub fn user(&self) -> Option<&str> {
        match &self.auth {
            Auth::Password { user, .. } => Some(user),
            _ => None,
        }
    }
    pub fn auth_kind(&self) -> &'static str {
        match self.auth {
            Auth::Password { .. } => "password",
            Auth::Token { .. } => "token",
            Auth::None => "none",
        }
    }
}

/// What a successful login check saw.
#[derive(Debug, Clone, Serialize)]
pub struct LoginResult {
    pub url: String,
    /// The user logged in as (`()` with a token).
    pub user: Option<String>,
    /// `password` or `token`.
    pub auth: String,
    pub resource: String,
    /// `X-Total-Count` of the count call (`()` when the server did not send it).
    pub count: Option<i64>,
}

/// Reads one secret from a file (relative to the tools dir) or an environment variable.
fn read_secret(h: &Host, file: Option<&std::path::Path>, env: Option<&str>, what: &str) -> Result<Option<String>, String> {
    let value = match (file, env) {
        (Some(f), _) => {
            let p = h.path(&f.display().to_string());
            let text = std::fs::read_to_string(&p).map_err(|e| {
                format!(
                    "cannot read the {what} file `{}` ([vantiq] {what}_file): {}",
                    h.show_path(&p),
                    match e.kind() {
                        std::io::ErrorKind::NotFound => "no such file".to_owned(),
                        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
                        _ => "not readable text".to_owned(),
                    }
                )
            })?;
            let v = text.trim_end_matches(['\n', '\r']).to_owned();
            if v.contains('\n') {
                return Err(format!(
                    "the {what} file `{}` ([vantiq] {what}_file) holds more than one line",
                    h.show_path(&p)
                ));
            }
            if v.is_empty() {
                return Err(format!("the {what} file `{}` ([vantiq] {what}_file) is empty", h.show_path(&p)));
            }
            v
        }
        (None, Some(name)) => match std::env::var(name) {
            Ok(v) if !v.is_empty() => v,
            Ok(_) => return Err(format!("the environment variable `{name}` ([vantiq] {what}_env) is empty")),
            Err(_) => return Err(format!("the environment variable `{name}` ([vantiq] {what}_env) is not set")),
        },
        (None, None) => return Ok(None),
    };
    h.secrets().add(&value);
    Ok(Some(value))
}

/// The configuration of the Vantiq endpoint, with the credentials read; or why the login
/// cannot be checked (nothing is sent either way).
pub fn plan(h: &Host) -> Result<Plan, String> {
    let v = &h.vantiq();
    let url = v
        .url
        .as_deref()
        .ok_or("no Vantiq URL is configured ([vantiq] url in vscript.toml)")?;
    let base = reqwest::Url::parse(url).map_err(|e| format!("[vantiq] url `{}` is not a URL: {e}", c::public_url(url)))?;
    let auth = if let Some(pw) = read_secret(h, v.password_file.as_deref(), v.password_env.as_deref(), "password")? {
        let user = v
            .user
            .clone()
            .filter(|u| !u.trim().is_empty())
            .ok_or("a password is configured but no `user` ([vantiq] user)")?;
        // The Basic header value is as secret as the password.
        use base64::Engine as _;
        h.secrets()
            .add(&base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}")));
        Auth::Password { user, password: pw }
    } else if let Some(token) = read_secret(h, v.token_file.as_deref(), v.token_env.as_deref(), "token")? {
        Auth::Token { token }
    } else {
        Auth::None
    };
    match base.scheme() {
        "https" => {}
        "http" if v.allow_insecure_http_credentials || matches!(auth, Auth::None) => {}
        "http" => {
            return Err(format!(
                "[vantiq] url `{}` is plain http: vscript sends the Vantiq credentials only over https. Use the https:// URL, or set `allow_insecure_http_credentials = true` in [vantiq] to send them unencrypted",
                c::public_url(url)
            ));
        }
        s => return Err(format!("[vantiq] url must be https://, not `{s}://`")),
    }
    Ok(Plan {
        base,
        auth,
        resource: v.check_resource.clone().unwrap_or_else(|| DEFAULT_CHECK_RESOURCE.to_owned()),
    })
}

/// The plan of a login check: like [`plan`], and credentials must be configured.
pub fn login_plan(h: &Host) -> Result<Plan, String> {
    let p = plan(h)?;
    if matches!(p.auth, Auth::None) {
        return Err(
            "no Vantiq credentials are configured: set `user` with `password_file` or `password_env` (or `token_file`/`token_env`) in [vantiq] of vscript.toml"
                .into(),
        );
    }
    Ok(p)
}

/// Sends requests for the configured host to its configured address (`[vantiq] connect`:
/// `host:port=addr:port` or just `addr:port`) and trusts its CA (`[vantiq] ca`).
pub fn apply_endpoint(h: &Host, req: &mut Request) {
    let Some((url_host, url_port)) = host_port(&req.url) else { return };
    let vantiq_host = h.vantiq().url.as_deref().and_then(host_port);
    if let Some(conn) = h.vantiq().connect.as_deref() {
        let spec = match (conn.contains('='), &vantiq_host) {
            (true, _) => Some(conn.to_owned()),
            (false, Some((vh, vp))) => Some(format!("{vh}:{vp}={conn}")),
            (false, None) => None,
        };
        if let Some((rh, addr)) = spec.and_then(|s| connect::parse_resolve(&s, url_port).ok())
            && rh == url_host
            && !req.resolve.iter().any(|(x, _)| *x == rh)
        {
            req.resolve.push((rh, addr));
        }
    }
    if req.ca.is_none()
        && vantiq_host.as_ref().is_some_and(|(vh, _)| *vh == url_host)
        && let Some(ca) = &h.vantiq().ca
    {
        req.ca = std::fs::read(h.path(&ca.display().to_string())).ok();
    }
}

/// The URL's host and port (default port by scheme).
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let u = reqwest::Url::parse(url).ok()?;
    Some((u.host_str()?.to_ascii_lowercase(), u.port_or_known_default()?))
}

/// The server's reason in an error response: the SDKs' `[{"code","message"}]` or
/// `{"error"}`, an HTML page's title (the ingress), or the start of the text.
pub fn server_reason(r: &Response) -> String {
    let one = |v: &Value| -> Option<String> {
        let code = v["code"].as_str();
        let msg = v["message"].as_str().or(v["error"].as_str());
        match (code, msg) {
            (Some(c), Some(m)) => Some(format!("{c}: {m}")),
            (None, Some(m)) => Some(m.to_owned()),
            (Some(c), None) => Some(c.to_owned()),
            _ => None,
        }
    };
    let from_json = match &r.json {
        Some(Value::Array(a)) => a.iter().find_map(one),
        Some(v @ Value::Object(_)) => one(v),
        _ => None,
    };
    if let Some(m) = from_json {
        return m;
    }
    let body = r.body.trim();
    if let (Some(a), Some(b)) = (body.find("<title>"), body.find("</title>"))
        && a + 7 <= b
    {
        return body[a + 7..b].trim().to_owned();
    }
    let s: String = body.chars().take(200).collect();
    if s.is_empty() { "no body".into() } else { s }
}

fn status_text(code: u16) -> String {
    match reqwest::StatusCode::from_u16(code) {
        Ok(s) => s.to_string(),
        Err(_) => code.to_string(),
    }
}

/// One GET to the Vantiq host, with credentials only as the plan allows.
fn get(h: &Host, plan: &Plan, path: &str, auth: RequestAuth<'_>, timeout: Duration) -> Result<Response, String> {
    let url = plan.url(path);
    let mut req = Request::new("GET", &url);
    req.timeout = timeout;
    req.https_redirects_only = !h.vantiq().allow_insecure_http_credentials;
    match auth {
        RequestAuth::Basic(u, p) => req.basic = Some((u.to_owned(), p.to_owned())),
        RequestAuth::Bearer(t) => req.bearer = Some(t.to_owned()),
        RequestAuth::None => {}
    }
    if plan.base.scheme() == "http" && !matches!(auth, RequestAuth::None) {
        h.warn_trust(
            "sending Vantiq credentials over plain http (allow_insecure_http_credentials = true): anyone on the network path can read them",
        );
    }
    apply_endpoint(h, &mut req);
    let what = format!("GET {}", c::public_url(&url));
    h.block(&what, timeout + Duration::from_secs(5), c::send(req))
        .map_err(|e| h.secrets().redact(&e.to_string()))
}

enum RequestAuth<'a> {
    Basic(&'a str, &'a str),
    Bearer(&'a str),
    None,
}

/// An access token: the configured one, or a fresh one from `GET /authenticate`.
pub fn access_token(h: &Host, plan: &Plan) -> Result<Option<String>, String> {
    let (user, password) = match &plan.auth {
        Auth::Token { token } => return Ok(Some(token.clone())),
        Auth::None => return Ok(None),
        Auth::Password { user, password } => (user, password),
    };
    let url = plan.url("/authenticate");
    let r = get(
        h,
        plan,
        "/authenticate",
        RequestAuth::Basic(user, password),
        Duration::from_secs(30),
    )
    .map_err(|e| format!("the IDE login as `{user}` failed: {e}"))?;
    if r.status != 200 {
        return Err(h.secrets().redact(&format!(
            "the IDE login as `{user}` failed: GET {} answered {} ({})",
            c::public_url(&url),
            status_text(r.status),
            server_reason(&r)
        )));
    }
    let token = r
        .json
        .as_ref()
        .and_then(|j| j["accessToken"].as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            format!(
                "the IDE login as `{user}`: GET {} answered {} without an `accessToken`: is [vantiq] url the Vantiq server?",
                c::public_url(&url),
                status_text(r.status)
            )
        })?
        .to_owned();
    h.secrets().add(&token);
    if let Some(id) = r.json.as_ref().and_then(|j| j["idToken"].as_str()) {
        h.secrets().add(id);
    }
    Ok(Some(token))
}

/// The login check: authenticate, then count `plan.resource` with the access token.
pub fn login(h: &Host) -> Result<LoginResult, String> {
    let plan = login_plan(h)?;
    let token = access_token(h, &plan)?.unwrap_or_default();
    let who = plan.user().map(|u| format!("`{u}`")).unwrap_or_else(|| "the access token".into());
    let path = format!("/api/v1/resources/{}?count=true&limit=1&props=%5B%22_id%22%5D", plan.resource);
    let url = plan.url(&path);
    let r = get(h, &plan, &path, RequestAuth::Bearer(&token), Duration::from_secs(30))
        .map_err(|e| format!("the authenticated call as {who} failed: {e}"))?;
    if r.status != 200 {
        return Err(h.secrets().redact(&format!(
            "the authenticated call as {who} failed: GET {} answered {} ({})",
            c::public_url(&url),
            status_text(r.status),
            server_reason(&r)
        )));
    }
    Ok(LoginResult {
        url: c::public_url(plan.base.as_str()),
        user: plan.user().map(str::to_owned),
        auth: plan.auth_kind().to_owned(),
        resource: plan.resource.clone(),
        count: r.headers.get("x-total-count").and_then(|v| v.trim().parse().ok()),
    })
}

/// GET `path` on the Vantiq host, authenticated as configured (a login first with user and
/// password, the configured token, or nothing when no credentials are configured).
pub fn authenticated_get(h: &Host, plan: &Plan, path: &str, timeout: Duration) -> Result<Response, String> {
    let token = access_token(h, plan)?;
    let auth = match &token {
        Some(t) => RequestAuth::Bearer(t),
        None => RequestAuth::None,
    };
    get(h, plan, path, auth, timeout)
}

/// What the configured About endpoint (`[vantiq.about]`, not in the public SDKs) says.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct About {
    pub path: String,
    pub server_version: Option<String>,
    pub license_expiration: Option<String>,
    pub license_issued_to: Option<String>,
    pub license_id: Option<String>,
}

fn field(v: &Value, dotted: &str) -> Option<String> {
    let mut cur = v;
    for part in dotted.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `Ok(None)` when no About endpoint is configured.
pub fn about(h: &Host) -> Result<Option<About>, String> {
    let Some(cfg) = h.vantiq().about.clone() else { return Ok(None) };
    let plan = plan(h)?;
    let r = authenticated_get(h, &plan, &cfg.path, Duration::from_secs(30))?;
    let shown = c::public_url(&plan.url(&cfg.path));
    if r.status != 200 {
        return Err(format!(
            "GET {shown} ([vantiq.about] path) answered {} ({})",
            status_text(r.status),
            server_reason(&r)
        ));
    }
    let j = r
        .json
        .ok_or_else(|| format!("GET {shown} ([vantiq.about] path) did not answer JSON"))?;
    Ok(Some(About {
        path: cfg.path.clone(),
        server_version: field(&j, &cfg.server_version),
        license_expiration: field(&j, &cfg.license_expiration),
        license_issued_to: field(&j, &cfg.license_issued_to),
        license_id: field(&j, &cfg.license_id),
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

    use super::*;

    /// One request a test server received.
    #[derive(Debug, Clone)]
    pub(crate) struct Seen {
        pub method: String,
        pub path: String,
        pub headers: BTreeMap<String, String>,
    }

    pub(crate) type Log = Arc<Mutex<Vec<Seen>>>;
    type Answer = Arc<dyn Fn(&Seen) -> (u16, Vec<(String, String)>, String) + Send + Sync>;

    async fn handle<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, seen: Log, answer: Answer) {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        loop {
            let n = s.read(&mut tmp).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&tmp[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let mut lines = head.lines();
        let first = lines.next().unwrap_or_default().to_owned();
        let req = Seen {
            method: first.split(' ').next().unwrap_or("").to_owned(),
            path: first.split(' ').nth(1).unwrap_or("/").to_owned(),
            headers: lines
                .take_while(|l| !l.is_empty())
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect(),
        };
        seen.lock().unwrap().push(req.clone());
        let (status, headers, body) = answer(&req);
        let mut resp = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
        for (k, v) in headers {
            resp.push_str(&format!("{k}: {v}\r\n"));
        }
        resp.push_str("\r\n");
        resp.push_str(&body);
        let _ = s.write_all(resp.as_bytes()).await;
        let _ = s.shutdown().await;
    }

    /// A plain-HTTP listener that records every request and answers with `answer`.
    pub(crate) async fn capture(answer: Answer) -> (SocketAddr, Log) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let seen: Log = Default::default();
        let s2 = seen.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(handle(s, s2.clone(), answer.clone()));
            }
        });
        (addr, seen)
    }

    /// The same over TLS with a certificate for `vantiq.example.test` from `pki`.
    pub(crate) async fn capture_tls(pki: &crate::tls::testing::Pki, answer: Answer) -> (SocketAddr, Log) {
        let (leaf, key) = pki.leaf(&["vantiq.example.test"], 2024, 2080);
        let acceptor = tokio_rustls::TlsAcceptor::from(crate::tls::testing::server_config(&[&leaf, &pki.inter], &key));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let seen: Log = Default::default();
        let s2 = seen.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let (a, seen, answer) = (acceptor.clone(), s2.clone(), answer.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = a.accept(s).await {
                        handle(tls, seen, answer).await;
                    }
                });
            }
        });
        (addr, seen)
    }

    /// Answers like Vantiq for `ops` / `pa55word-secret`, token `tok-123456789`.
    pub(crate) fn vantiq_like() -> Answer {
        use base64::Engine as _;
        let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ops:pa55word-secret"));
        Arc::new(move |r: &Seen| {
            let auth = r.headers.get("authorization").cloned().unwrap_or_default();
            let json = vec![("content-type".to_owned(), "application/json".to_owned())];
            let unauthorized = r#"[{"code":"io.vantiq.authentication.failed","message":"Unauthorized","params":[]}]"#.to_owned();
            if r.path == "/authenticate" {
                return if auth == basic {
                    (200, json, r#"{"accessToken":"tok-123456789","idToken":"id-987654321"}"#.into())
                } else {
                    (401, json, unauthorized)
                };
            }
            if r.path.starts_with("/api/v1/resources/types?count=true") {
                return if auth == "Bearer tok-123456789" {
                    let mut h = json.clone();
                    h.push(("x-total-count".into(), "17".into()));
                    (200, h, r#"[{"_id":"a"}]"#.into())
                } else {
                    (401, json, unauthorized)
                };
            }
            (
                404,
                json,
                r#"[{"code":"io.vantiq.resource.not.found","message":"nope","params":[]}]"#.into(),
            )
        })
    }

    fn host(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> Host {
        let mut h = Host::new(rt.handle().clone());
        h.out_mut().quiet = true;
        h.target_mut().tools_dir = Some(dir.to_owned());
        h.reset_sandbox();
        h
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn login_authenticates_then_counts_with_the_token_over_https() {
        let rt = rt();
        let pki = crate::tls::testing::Pki::new();
        let (addr, seen) = rt.block_on(capture_tls(&pki, vantiq_like()));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "pa55word-secret\n").unwrap();
        std::fs::write(dir.path().join("ca.pem"), &pki.root).unwrap();
        let mut h = host(&rt, dir.path());
        h.opts_mut().vantiq.url = Some(format!("https://vantiq.example.test:{}", addr.port()));
        h.opts_mut().vantiq.connect = Some(format!("vantiq.example.test={addr}"));
        h.opts_mut().vantiq.ca = Some("ca.pem".into());
        h.opts_mut().vantiq.user = Some("ops".into());
        h.opts_mut().vantiq.password_file = Some("pw".into());
        let r = login(&h).unwrap();
        assert_eq!((r.user.as_deref(), r.count, r.resource.as_str()), (Some("ops"), Some(17), "types"));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("GET", "/authenticate"));
        assert!(seen[0].headers["authorization"].starts_with("Basic "));
        assert_eq!(seen[1].path, "/api/v1/resources/types?count=true&limit=1&props=%5B%22_id%22%5D");
        assert_eq!(seen[1].headers["authorization"], "Bearer tok-123456789");
        assert_eq!(h.secrets().redact("pa55word-secret tok-123456789"), "*** ***");

        // A wrong password: the server's reason, never the password.
        std::fs::write(dir.path().join("pw"), "wrong-password-42\n").unwrap();
        let e = login(&h).unwrap_err();
        assert!(
            e.contains("the IDE login as `ops` failed") && e.contains("401 Unauthorized (io.vantiq.authentication.failed: Unauthorized)"),
            "{e}"
        );
        assert!(!e.contains("wrong-password-42"), "{e}");

        // The same with a long-lived token instead.
        let mut h = host(&rt, dir.path());
        h.opts_mut().vantiq.url = Some(format!("https://vantiq.example.test:{}", addr.port()));
        h.opts_mut().vantiq.connect = Some(format!("vantiq.example.test={addr}"));
        h.opts_mut().vantiq.ca = Some(dir.path().join("ca.pem"));
        std::fs::write(dir.path().join("token"), "tok-123456789").unwrap();
        h.opts_mut().vantiq.token_file = Some("token".into());
        let r = login(&h).unwrap();
        assert_eq!((r.user, r.auth.as_str(), r.count), (None, "token", Some(17)));
    }

    #[test]
    fn no_credentials_or_unreadable_ones_are_named_without_sending_anything() {
        let rt = rt();
        let (addr, seen) = rt.block_on(capture(vantiq_like()));
        let dir = tempfile::tempdir().unwrap();
        let mut h = host(&rt, dir.path());
        assert!(login(&h).unwrap_err().contains("no Vantiq URL is configured"));
        h.opts_mut().vantiq.url = Some(format!("https://127.0.0.1:{}", addr.port()));
        assert!(login(&h).unwrap_err().contains("no Vantiq credentials are configured"));
        h.opts_mut().vantiq.user = Some("ops".into());
        h.opts_mut().vantiq.password_file = Some("missing".into());
        let e = login(&h).unwrap_err();
        assert!(
            e.contains("cannot read the password file `missing`") && e.contains("no such file"),
            "{e}"
        );
        h.opts_mut().vantiq.password_file = None;
        h.opts_mut().vantiq.password_env = Some("VSCRIPT_TEST_SURELY_UNSET_PW".into());
        let e = login(&h).unwrap_err();
        assert!(
            e.contains("`VSCRIPT_TEST_SURELY_UNSET_PW` ([vantiq] password_env) is not set"),
            "{e}"
        );
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn credentials_never_go_over_plain_http_without_the_opt_in() {
        let rt = rt();
        let (addr, seen) = rt.block_on(capture(vantiq_like()));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "pa55word-secret\n").unwrap();
        let mut h = host(&rt, dir.path());
        h.opts_mut().vantiq.url = Some(format!("http://127.0.0.1:{}", addr.port()));
        h.opts_mut().vantiq.user = Some("ops".into());
        h.opts_mut().vantiq.password_file = Some("pw".into());
        let e = login(&h).unwrap_err();
        assert!(e.contains("is plain http") && e.contains("allow_insecure_http_credentials"), "{e}");
        // An About endpoint, like any call, is refused the same way.
        h.opts_mut().vantiq.about = Some(crate::config::AboutConfig::at("/api/v1/about"));
        assert!(about(&h).unwrap_err().contains("is plain http"));
        assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
        // With the opt-in they go, as asked.
        h.opts_mut().vantiq.allow_insecure_http_credentials = true;
        assert_eq!(login(&h).unwrap().count, Some(17));
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_redirect_from_https_to_http_fails_and_sends_nothing_there() {
        let rt = rt();
        let pki = crate::tls::testing::Pki::new();
        let (plain, plain_seen) = rt.block_on(capture(vantiq_like()));
        let to = format!("http://127.0.0.1:{}", plain.port());
        let redirect: Answer = Arc::new(move |r: &Seen| (302, vec![("location".into(), format!("{to}{}", r.path))], String::new()));
        let (addr, tls_seen) = rt.block_on(capture_tls(&pki, redirect));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "pa55word-secret\n").unwrap();
        std::fs::write(dir.path().join("ca.pem"), &pki.root).unwrap();
        let mut h = host(&rt, dir.path());
        h.opts_mut().vantiq.url = Some(format!("https://vantiq.example.test:{}", addr.port()));
        h.opts_mut().vantiq.connect = Some(format!("vantiq.example.test={addr}"));
        h.opts_mut().vantiq.ca = Some("ca.pem".into());
        h.opts_mut().vantiq.user = Some("ops".into());
        h.opts_mut().vantiq.password_file = Some("pw".into());
        let e = login(&h).unwrap_err();
        assert!(
            e.contains(&format!("redirected to http://127.0.0.1:{}/authenticate", plain.port()))
                && e.contains("refusing to follow a redirect to plain http"),
            "{e}"
        );
        assert!(!e.contains("pa55word-secret"));
        assert_eq!(tls_seen.lock().unwrap().len(), 1, "the https server got the login");
        assert!(plain_seen.lock().unwrap().is_empty(), "nothing reached the http listener");
    }

    #[test]
    fn the_about_endpoint_is_read_only_when_configured() {
        let rt = rt();
        let answer: Answer = Arc::new(|r: &Seen| {
            let ok = r.headers.get("authorization").map(String::as_str) == Some("Bearer tok-123456789");
            match (r.path.as_str(), ok) {
                ("/x/about", true) => (
                    200,
                    vec![("content-type".into(), "application/json".into())],
                    r#"{"build":{"version":"1.40.2"},"license":{"expires":"2030-01-02T03:04:05Z","to":"Acme"}}"#.into(),
                ),
                _ => (401, vec![], "no".into()),
            }
        });
        let (addr, seen) = rt.block_on(capture(answer));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "tok-123456789\n").unwrap();
        let mut h = host(&rt, dir.path());
        h.opts_mut().vantiq.url = Some(format!("http://127.0.0.1:{}", addr.port()));
        h.opts_mut().vantiq.allow_insecure_http_credentials = true;
        h.opts_mut().vantiq.token_file = Some("token".into());
        assert_eq!(about(&h).unwrap(), None);
        assert!(seen.lock().unwrap().is_empty());
        h.opts_mut().vantiq.about = Some(crate::config::AboutConfig {
            path: "/x/about".into(),
            server_version: "build.version".into(),
            license_expiration: "license.expires".into(),
            license_issued_to: "license.to".into(),
            license_id: "license.id".into(),
        });
        let a = about(&h).unwrap().unwrap();
        assert_eq!(a.server_version.as_deref(), Some("1.40.2"));
        assert_eq!(a.license_expiration.as_deref(), Some("2030-01-02T03:04:05Z"));
        assert_eq!((a.license_issued_to.as_deref(), a.license_id), (Some("Acme"), None));
    }
}
