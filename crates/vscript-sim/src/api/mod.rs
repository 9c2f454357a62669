//! The Kubernetes REST surface of the simulator: what real kubectl (and kube-rs) send on
//! the wire and what they expect back (see kube-wire.md). This module routes requests,
//! counts and audits them, injects faults, and serves them on a loopback listener;
//! the object semantics live in the sibling modules.

mod admission;
pub mod auth;
mod discovery;
mod faults;
mod logs;
mod objects;
mod patch;
mod protobuf;
pub mod rbac;
mod table;
mod watch;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::any;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::store::{ApiError, Resource, Store};

pub use faults::{FaultRule, Faults};
pub use patch::{json_patch, merge_patch, strategic_merge_patch};

/// How the API server behaves beyond the object store.
#[derive(Clone)]
pub struct ApiOptions {
    /// `minor` reported by `/version`; "32" makes the Cloud SDK dispatcher run its
    /// built-in kubectl 1.32.4.
    pub k8s_minor: String,
    /// When set, one JSON line per request: `{"ts","method","path","query","verb",
    /// "resource","namespace","name","subresource","dry_run","status","user_agent"}`.
    pub audit_log: Option<PathBuf>,
    /// Injected API faults.
    pub faults: Arc<Faults>,
    /// Request counters (benchmarks read them).
    pub stats: Arc<Stats>,
    /// Authentication and RBAC authorization; `None` serves every request unchecked (as
    /// `--authorization-mode=AlwaysAllow` with no authenticator: for wire-level tests).
    pub auth: Option<Arc<auth::Authenticator>>,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            k8s_minor: "32".to_owned(),
            audit_log: None,
            faults: Arc::new(Faults::default()),
            stats: Arc::new(Stats::default()),
            auth: None,
        }
    }
}

/// Counts the requests the API server has answered.
#[derive(Debug, Default)]
pub struct Stats(AtomicU64);

impl Stats {
    /// Total requests served so far (Kubernetes paths only, faults included).
    pub fn requests(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub store: Arc<Store>,
    pub opts: ApiOptions,
    audit: Option<Arc<std::sync::Mutex<std::fs::File>>>,
}

/// The Kubernetes API routes over `store`. Only `/api`, `/apis`, `/version` and the
/// health paths are claimed, so the result merges with other routers (`/__sim/...`).
pub fn router(store: Arc<Store>, opts: ApiOptions) -> Router {
    let audit = opts.audit_log.as_ref().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
            .map(|f| Arc::new(std::sync::Mutex::new(f)))
    });
    let ctx = Ctx { store, opts, audit };
    Router::new()
        .route("/version", any(handle))
        .route("/healthz", any(health))
        .route("/readyz", any(health))
        .route("/livez", any(health))
        .route("/api", any(handle))
        .route("/api/{*rest}", any(handle))
        .route("/apis", any(handle))
        .route("/apis/{*rest}", any(handle))
        .fallback(unknown_path)
        .layer(axum::middleware::from_fn_with_state(ctx.clone(), observe))
        .with_state(ctx)
}

/// A response extension asking [`serve`] to drop the connection without answering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResetConnection;

#[derive(Debug)]
struct InjectedReset;

impl std::fmt::Display for InjectedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by an injected fault")
    }
}

impl std::error::Error for InjectedReset {}

/// Serves `app` on `listener` over plain HTTP until `shutdown` is cancelled: HTTP/1.1
/// with keep-alive, streaming responses flushed per chunk. Open connections get one
/// second to finish. (The simulator serves the API with [`serve_tls`]; plain HTTP is for
/// its loopback admin routes and wire-level tests.)
pub async fn serve(listener: tokio::net::TcpListener, app: Router, shutdown: CancellationToken) -> std::io::Result<()> {
    accept_loop(listener, app, None, shutdown).await
}

/// Serves `app` on `listener` over TLS with `tls` (see [`auth::ClusterPki::server_config`]):
/// one handshake per connection, then HTTP/1.1 keep-alive as [`serve`]. A verified client
/// certificate's identity is read once per connection and handed to every request on it.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    accept_loop(listener, app, Some(tokio_rustls::TlsAcceptor::from(tls)), shutdown).await
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        // Out of descriptors or an aborted handshake: try again shortly.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (app, shutdown) = (app.clone(), shutdown.clone());
                match &tls {
                    None => {
                        conns.spawn(serve_connection(stream, app, auth::PeerIdentity(None), shutdown));
                    }
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        conns.spawn(async move {
                            // A client that never finishes its handshake is dropped.
                            let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await else {
                                return;
                            };
                            let peer = tls
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map_or(auth::PeerIdentity(None), |c| auth::PeerIdentity::from_cert(c));
                            serve_connection(tls, app, peer, shutdown).await;
                        });
                    }
                }
            }
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
    Ok(())
}

async fn serve_connection<I>(io: I, app: Router, peer: auth::PeerIdentity, shutdown: CancellationToken)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer = Arc::new(peer);
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(peer.clone());
        async move {
            let resp = match app.oneshot(req).await {
                Ok(r) => r,
                Err(e) => match e {},
            };
            if resp.extensions().get::<ResetConnection>().is_some() {
                Err(InjectedReset)
            } else {
                Ok(resp)
            }
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

async fn health() -> Response {
    text_response(StatusCode::OK, "ok")
}

// ---- request parsing -------------------------------------------------------------------

/// Where a request points.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    Version,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1`, `/apis/apps/v1`
    GroupVersion(String, String),
    Object(Target),
    /// `POST` to a review resource (`selfsubjectaccessreviews`, ...): `(group, plural)`.
    Review(&'static str, &'static str),
    Unknown,
}

/// A resource, collection or subresource addressed by a request path.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub res: &'static Resource,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
    /// The deprecated `/watch/` path prefix was used.
    pub watch_prefix: bool,
}

pub(crate) fn parse_route(path: &str) -> Route {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Route::Version,
        ["api"] => return Route::CoreVersions,
        ["apis"] => return Route::Groups,
        ["apis", g] => return Route::Group((*g).to_owned()),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::Unknown,
    };
    if let [plural] = rest
        && let Some(v) = discovery::VIRTUAL
            .iter()
            .find(|v| v.group == group && v.version == version && v.plural == *plural)
    {
        return Route::Review(v.group, v.plural);
    }
    if !group_version_known(group, version) {
        return Route::Unknown;
    }
    if rest.is_empty() {
        return Route::GroupVersion(group.to_owned(), version.to_owned());
    }
    let (watch_prefix, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let find = |plural: &str| Resource::by_path(group, plural).filter(|r| r.version == version);
    let (ns, rest) = match rest {
        ["namespaces", ns, plural, ..] if find(plural).is_some_and(|r| r.namespaced) => (Some((*ns).to_owned()), &rest[2..]),
        _ => (None, rest),
    };
    let (res, name, sub) = match rest {
        [plural] => (find(plural), None, None),
        [plural, name] => (find(plural), Some(*name), None),
        [plural, name, sub] => (find(plural), Some(*name), Some(*sub)),
        _ => (None, None, None),
    };
    let Some(res) = res else { return Route::Unknown };
    if ns.is_some() != res.namespaced && (name.is_some() || !res.namespaced) {
        return Route::Unknown;
    }
    if let Some(s) = sub
        && !res.subresources.contains(&s)
    {
        return Route::Unknown;
    }
    Route::Object(Target {
        res,
        ns,
        name: name.map(str::to_owned),
        sub: sub.map(str::to_owned),
        watch_prefix,
    })
}

fn group_version_known(group: &str, version: &str) -> bool {
    crate::store::RESOURCES.iter().any(|r| r.group == group && r.version == version)
        || discovery::VIRTUAL.iter().any(|v| v.group == group && v.version == version)
}

/// Decoded query parameters (last value wins).
#[derive(Debug, Default, Clone)]
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(q: Option<&str>) -> Query {
        let mut m = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            m.insert(percent_decode(k), percent_decode(v));
        }
        Query(m)
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    /// `true`, `1` (as Go's strconv.ParseBool accepts).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True" | "TRUE" | "t" | "T"))
    }
    /// A non-empty value.
    pub fn non_empty(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|v| !v.is_empty())
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request, read fully (bodies are small).
pub(crate) struct Req {
    pub method: Method,
    /// The authenticated user (absent when the server runs without auth).
    pub user: Option<Arc<auth::UserInfo>>,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    /// The client asked for server-side printing (`as=Table`).
    pub fn wants_table(&self) -> bool {
        self.header("accept").contains("as=Table")
    }
    /// `dryRun=All`, or an error for any other value.
    pub fn dry_run(&self) -> Result<bool, ApiError> {
        match self.query.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(v) => Err(ApiError::new(
                400,
                "BadRequest",
                format!("dryRun: Unsupported value: \"{v}\": supported values: \"All\""),
            )),
        }
    }
}

/// The Kubernetes verb of a request, as RBAC names it.
pub(crate) fn verb_of(method: &Method, route: &Route, query: &Query) -> &'static str {
    let (item, watch_prefix) = match route {
        Route::Object(t) => (t.name.is_some(), t.watch_prefix),
        _ => (false, false),
    };
    match *method {
        Method::GET | Method::HEAD if watch_prefix || query.flag("watch") => "watch",
        Method::GET | Method::HEAD if item => "get",
        Method::GET | Method::HEAD => match route {
            Route::Object(_) => "list",
            _ => "get",
        },
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if item => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

// ---- middleware: counting, faults, audit ------------------------------------------------

/// The authenticated user of a request (absent when the server runs without auth).
#[derive(Debug, Clone)]
pub(crate) struct RequestUser(pub Arc<auth::UserInfo>);

/// `401 Unauthorized`, the body kube-apiserver sends (`apierrors.NewUnauthorized`).
fn unauthorized() -> Response {
    json_response(
        StatusCode::UNAUTHORIZED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}),
    )
}

/// Authenticates and authorizes a request: the user, or the 401/403 to send.
fn admit(ctx: &Ctx, req: &Request, path: &str, query: &Query) -> Result<Option<Arc<auth::UserInfo>>, Box<Response>> {
    let Some(authn) = &ctx.opts.auth else { return Ok(None) };
    let peer = req.extensions().get::<Arc<auth::PeerIdentity>>();
    let user = authn
        .authenticate(req.headers(), peer.map(AsRef::as_ref), path, &ctx.store)
        .map_err(|_| Box::new(unauthorized()))?;
    if !user.in_group(auth::MASTERS) {
        let attrs = rbac::Attributes::of_request(req.method().as_str(), path, query);
        if let Err(e) = rbac::check(&ctx.store, &user, &attrs) {
            return Err(Box::new(error_response(&e)));
        }
    }
    Ok(Some(user))
}

async fn observe(State(ctx): State<Ctx>, mut req: Request, next: Next) -> Response {
    ctx.opts.stats.0.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query_str = req.uri().query().unwrap_or("").to_owned();
    let query = Query::parse(Some(&query_str));
    let route = parse_route(&path);
    let verb = verb_of(&method, &route, &query);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let full = if query_str.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query_str}")
    };
    let (resp, user) = match admit(&ctx, &req, &path, &query) {
        Err(refused) => (*refused, None),
        Ok(user) => {
            if let Some(u) = &user {
                req.extensions_mut().insert(RequestUser(u.clone()));
            }
            let resp = match ctx.opts.faults.check(method.as_str(), &full, verb) {
                Some(action) => faults::respond(&action).await,
                None => next.run(req).await,
            };
            (resp, user)
        }
    };
    if let Some(audit) = &ctx.audit {
        let (resource, ns, name, sub) = match &route {
            Route::Object(t) => (t.res.plural, t.ns.clone(), t.name.clone(), t.sub.clone()),
            _ => ("", None, None, None),
        };
        let line = json!({
            "ts": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "method": method.as_str(), "path": path, "query": query_str, "verb": verb,
            "resource": resource, "namespace": ns, "name": name, "subresource": sub,
            "dry_run": query.get("dryRun") == Some("All"), "status": resp.status().as_u16(),
            "user_agent": user_agent, "user": user.as_ref().map(|u| u.name.as_str()),
        });
        if let Ok(mut f) = audit.lock() {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
    }
    resp
}

async fn unknown_path() -> Response {
    not_found_path()
}

// ---- dispatch ---------------------------------------------------------------------------

async fn handle(State(ctx): State<Ctx>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::new(400, "BadRequest", "unable to read the request body")),
    };
    let route = parse_route(parts.uri.path());
    let req = Req {
        user: parts.extensions.get::<RequestUser>().map(|u| u.0.clone()),
        method: parts.method,
        query: Query::parse(parts.uri.query()),
        headers: parts.headers,
        body,
    };
    match route {
        Route::Version => json_response(StatusCode::OK, &discovery::version(&ctx.opts.k8s_minor)),
        Route::CoreVersions | Route::Groups => {
            let core = matches!(route, Route::CoreVersions);
            if req.header("accept").contains("as=APIGroupDiscoveryList") {
                let mut r = json_response(StatusCode::OK, &discovery::aggregated(core));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(discovery::AGGREGATED_CONTENT_TYPE));
                r
            } else if core {
                let host = req.header("host").to_owned();
                json_response(StatusCode::OK, &discovery::api_versions(&host))
            } else {
                json_response(StatusCode::OK, &discovery::group_list())
            }
        }
        Route::Group(g) => match discovery::group(&g) {
            Some(v) => json_response(StatusCode::OK, &v),
            None => not_found_path(),
        },
        Route::GroupVersion(g, v) => json_response(StatusCode::OK, &discovery::resource_list(&g, &v)),
        Route::Object(t) => objects::handle(&ctx, &req, &t).await,
        Route::Review(group, plural) => review(&ctx, &req, group, plural),
        Route::Unknown => not_found_path(),
    }
}

/// The self reviews: who am I, may I, what may I.
fn review(ctx: &Ctx, req: &Req, group: &str, plural: &str) -> Response {
    if req.method != Method::POST {
        return error_response(&ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ));
    }
    // Without authentication every request is the cluster's admin.
    let user = req
        .user
        .clone()
        .unwrap_or_else(|| Arc::new(auth::UserInfo::new("system:admin", &[auth::MASTERS])));
    // kubectl's typed clients post these as protobuf.
    let decoded;
    let body: &[u8] = if req.header("content-type").starts_with(protobuf::CONTENT_TYPE) {
        match protobuf::decode(&req.body) {
            Ok(v) => {
                decoded = serde_json::to_vec(&v).unwrap_or_default();
                &decoded
            }
            Err(e) => return error_response(&ApiError::new(400, "BadRequest", e.to_string())),
        }
    } else {
        &req.body
    };
    let out = match (group, plural) {
        ("authentication.k8s.io", _) => Ok(rbac::self_subject_review(&user)),
        (_, "selfsubjectaccessreviews") => rbac::self_subject_access_review(&ctx.store, &user, body),
        _ => rbac::self_subject_rules_review(&ctx.store, &user, body),
    };
    match out {
        Ok(v) => json_response(StatusCode::CREATED, &v),
        Err(e) => error_response(&e),
    }
}

// ---- responses --------------------------------------------------------------------------

pub(crate) fn json_response(code: StatusCode, v: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap_or_default()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn text_response(code: StatusCode, s: &str) -> Response {
    let mut r = Response::new(Body::from(s.to_owned()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

pub(crate) fn error_response(e: &ApiError) -> Response {
    json_response(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &status_of(e),
    )
}

/// The `Status` of an error; a 422 also lists its cause, which kubectl prints as
/// `The Kind "name" is invalid: field: message`.
pub(crate) fn status_of(e: &ApiError) -> Value {
    let mut status = e.to_status();
    if e.code == 422
        && let Some((field, message)) = e.message.split_once(" is invalid: ").and_then(|(_, why)| why.split_once(": "))
    {
        let reason = match message {
            m if m.starts_with("Forbidden") => "FieldValueForbidden",
            m if m.starts_with("Required value") => "FieldValueRequired",
            m if m.starts_with("Unsupported value") => "FieldValueNotSupported",
            _ => "FieldValueInvalid",
        };
        status["details"]["causes"] = json!([{"reason": reason, "message": message, "field": field}]);
    }
    status
}

pub(crate) fn not_found_path() -> Response {
    error_response(&ApiError::new(404, "NotFound", "the server could not find the requested resource"))
}

/// A streaming response (watch events, logs): one chunk per stream item.
pub(crate) fn stream_response<S>(content_type: &'static str, stream: S) -> Response
where
    S: futures::Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
{
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_like_the_apiserver() {
        let Route::Object(t) = parse_route("/apis/apps/v1/namespaces/demo/statefulsets/vantiq/scale") else {
            panic!()
        };
        assert_eq!(
            (t.res.plural, t.ns.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            ("statefulsets", Some("demo"), Some("vantiq"), Some("scale"))
        );
        let Route::Object(t) = parse_route("/api/v1/namespaces/demo") else {
            panic!()
        };
        assert_eq!(
            (t.res.plural, t.ns.as_deref(), t.name.as_deref()),
            ("namespaces", None, Some("demo"))
        );
        let Route::Object(t) = parse_route("/api/v1/namespaces/demo/status") else {
            panic!()
        };
        assert_eq!(
            (t.res.plural, t.name.as_deref(), t.sub.as_deref()),
            ("namespaces", Some("demo"), Some("status"))
        );
        let Route::Object(t) = parse_route("/apis/apps/v1/statefulsets") else {
            panic!()
        };
        assert_eq!((t.res.plural, t.ns.as_deref(), t.name.as_deref()), ("statefulsets", None, None));
        let Route::Object(t) = parse_route("/api/v1/watch/namespaces/demo/pods") else {
            panic!()
        };
        assert!(t.watch_prefix);
        assert!(matches!(parse_route("/api/v1/pods/x"), Route::Unknown));
        assert!(matches!(parse_route("/apis/apps/v1/namespaces/demo/foos"), Route::Unknown));
        assert!(matches!(parse_route("/apis/apps/v2/statefulsets"), Route::Unknown));
        assert!(matches!(
            parse_route("/apis/apps/v1/namespaces/demo/statefulsets/x/log"),
            Route::Unknown
        ));
        assert!(matches!(parse_route("/apis/apps/v1"), Route::GroupVersion(..)));
    }

    #[test]
    fn query_decodes_percent_escapes() {
        let q = Query::parse(Some("fieldSelector=metadata.name%3Dvantiq&labelSelector=a+in+(b)&watch=1&x=%"));
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=vantiq"));
        assert_eq!(q.get("labelSelector"), Some("a in (b)"));
        assert!(q.flag("watch"));
        assert_eq!(q.get("x"), Some("%"));
    }
}
