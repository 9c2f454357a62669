//! The HTTPS endpoint standing in for the Vantiq server (what the ingress serves): it
//! presents the certificate currently in `shared/default-ssl-cert`, read from the store
//! on every handshake (so a renewal shows right after `deployNginx`), and answers the REST
//! API as the public Vantiq SDKs use it (vantiq-sdk-java, vantiq-sdk-node, vantiq-python-sdk):
//!
//! * `GET /authenticate` with HTTP Basic → `{"accessToken", "idToken"}`, else 401 with the
//!   SDKs' error list `[{"code":"io.vantiq.authentication.failed","message":"Unauthorized","params":[]}]`;
//! * `GET /api/v1/resources/<resource>` with `Authorization: Bearer` (a token from
//!   `/authenticate`, or the long-lived `DIR/vantiq-token`) → the records; `count=true` adds
//!   `X-Total-Count`; `props` and `limit` as the SDKs send them;
//! * 503 from the ingress (an HTML page) while no vantiq pod is Ready.
//!
//! Only when a test configures it (`DIR/vantiq-api.json`: `{"about_path": "/api/v1/about"}`)
//! it also answers an About endpoint the public SDKs do not show, with the running vantiq
//! pods' image and the license secret.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{World, license, pki, pods, vantiq};
use crate::store::{Store, res};

/// Credentials of the simulated Vantiq server.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// The long-lived access token (`DIR/vantiq-token`).
    pub token: String,
}

/// The access tokens `/authenticate` issued.
type Sessions = Arc<Mutex<HashSet<String>>>;

struct StoreCert {
    store: Arc<Store>,
    cache: Mutex<Option<(String, Arc<CertifiedKey>)>>,
}

impl std::fmt::Debug for StoreCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCert(shared/default-ssl-cert)")
    }
}

fn secret_text(obj: &Value, key: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD.decode(obj["data"][key].as_str()?).ok()?;
    String::from_utf8(raw).ok()
}

fn certified(crt: &str, key: &str) -> Option<CertifiedKey> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(crt.as_bytes())
        .filter_map(|c| c.ok())
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).ok()?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).ok()?;
    (!certs.is_empty()).then(|| CertifiedKey::new(certs, signer))
}

impl ResolvesServerCert for StoreCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sec = self.store.get(res("Secret"), "shared", "default-ssl-cert")?;
        let version = super::rv(&sec);
        let mut cache = self.cache.lock().unwrap();
        if let Some((v, ck)) = cache.as_ref()
            && *v == version
        {
            return Some(ck.clone());
        }
        let ck = Arc::new(certified(&secret_text(&sec, "tls.crt")?, &secret_text(&sec, "tls.key")?)?);
        *cache = Some((version, ck.clone()));
        Some(ck)
    }
}

/// The SHA-256 fingerprint and expiry of the certificate served now.
pub fn served_cert(store: &Store) -> Option<pki::CertInfo> {
    let sec = store.get(res("Secret"), "shared", "default-ssl-cert")?;
    pki::leaf_info(&secret_text(&sec, "tls.crt")?).ok()
}

/// Serves the endpoint on `listener` until `cancel`.
pub async fn serve(listener: tokio::net::TcpListener, w: Arc<World>, creds: Credentials, cancel: CancellationToken) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = match rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(b) => b.with_no_client_auth().with_cert_resolver(Arc::new(StoreCert {
            store: w.store.clone(),
            cache: Mutex::new(None),
        })),
        Err(e) => {
            eprintln!("vscript sim: cannot configure TLS: {e}");
            return;
        }
    };
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let sessions: Sessions = Default::default();
    loop {
        let (tcp, _) = tokio::select! {
            () = cancel.cancelled() => return,
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
        };
        let (acceptor, w, creds, sessions, cancel) = (acceptor.clone(), w.clone(), creds.clone(), sessions.clone(), cancel.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let svc = hyper::service::service_fn(move |req| {
                let (w, creds, sessions) = (w.clone(), creds.clone(), sessions.clone());
                async move { Ok::<_, Infallible>(handle(&w, &creds, &sessions, &req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tls), svc);
            tokio::select! {
                () = cancel.cancelled() => {}
                _ = conn => {}
            }
        });
    }
}

fn reply(code: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

/// An error as the Vantiq server answers it: a list of `{code, message, params}`.
fn error(code: StatusCode, vantiq_code: &str, message: &str, params: Value) -> Response<Full<Bytes>> {
    reply(code, json!([{ "code": vantiq_code, "message": message, "params": params }]))
}

fn unauthorized() -> Response<Full<Bytes>> {
    error(
        StatusCode::UNAUTHORIZED,
        "io.vantiq.authentication.failed",
        "Unauthorized",
        json!([]),
    )
}

/// What ingress-nginx answers while no backend is ready.
fn unavailable() -> Response<Full<Bytes>> {
    let page = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .header("content-type", "text/html")
        .body(Full::new(Bytes::from(page)))
        .unwrap_or_default()
}

/// The About endpoint's path, when a test configured one (`DIR/vantiq-api.json`).
pub fn about_path(w: &World) -> Option<String> {
    let text = std::fs::read_to_string(w.dir.join("vantiq-api.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["about_path"].as_str().map(str::to_owned)
}

/// The records of the system resources the simulator knows (the SDKs' `SYSTEM_RESOURCES`).
fn records(w: &World, creds: &Credentials, resource: &str) -> Option<Vec<Value>> {
    let id = |kind: &str, name: &str| pki::hex(&Sha256::digest(format!("{kind}/{name}").as_bytes()))[..24].to_owned();
    let named =
        |kind: &str, key: &str, names: &[&str]| -> Vec<Value> { names.iter().map(|n| json!({ "_id": id(kind, n), key: n })).collect() };
    Some(match resource {
        "users" => named("users", "username", &[&creds.user]),
        "namespaces" => named("namespaces", "name", &["system", &w.ns]),
        "types" => named(
            "types",
            "name",
            &[
                "ArsAuditAlert",
                "ArsCollaboration",
                "ArsDocument",
                "ArsEventGenerator",
                "ArsNamespace",
                "ArsProcedure",
                "ArsProfile",
                "ArsRule",
                "ArsSource",
                "ArsTopic",
                "ArsType",
                "ArsUser",
            ],
        ),
        "profiles" => named("profiles", "name", &["system.admin", "system.user"]),
        "analyticsmodels" | "documents" | "configurations" | "nodes" | "procedures" | "rules" | "scalars" | "services" | "sources"
        | "topics" => vec![],
        _ => return None,
    })
}

/// `GET /api/v1/resources/<resource>[?count=true&props=[…]&limit=n]`.
fn resources(w: &World, creds: &Credentials, resource: &str, query: Option<&str>) -> Response<Full<Bytes>> {
    if let Some(t) = resource.strip_prefix("custom/") {
        let t = t.split('/').next().unwrap_or(t);
        return error(
            StatusCode::NOT_FOUND,
            "com.accessg2.ag2rs.type.not.found",
            &format!("The type: {t} is not defined in the current namespace."),
            json!([t]),
        );
    }
    let name = resource.split('/').next().unwrap_or(resource);
    let Some(all) = records(w, creds, name) else {
        return error(
            StatusCode::NOT_FOUND,
            "io.vantiq.type.system.resource.unknown",
            &format!(
                "The resource {name} is not recognized as a Vantiq system resource.  Either correct resource name or adjust access URI/prefix."
            ),
            json!([name]),
        );
    };
    let q = crate::api::Query::parse(query);
    let total = all.len();
    let props: Option<Vec<String>> = q.get("props").and_then(|p| serde_json::from_str(p).ok());
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(usize::MAX);
    let body: Vec<Value> = all
        .into_iter()
        .take(limit)
        .map(|r| match &props {
            Some(keep) => Value::Object(
                r.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| keep.contains(k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            None => r,
        })
        .collect();
    let mut resp = reply(StatusCode::OK, Value::Array(body));
    if q.flag("count")
        && let Ok(v) = hyper::header::HeaderValue::from_str(&total.to_string())
    {
        resp.headers_mut().insert("x-total-count", v);
    }
    resp
}

/// The image tag of the ready vantiq pods (the newest when several differ).
pub fn running_version(w: &World) -> Option<String> {
    let pods = w.store.list(res("Pod"), Some(&w.ns), Some("app=vantiq"), None).0;
    pods.iter()
        .filter(|p| pods::healthy(p))
        .filter_map(|p| pods::containers(&p["spec"], "containers").into_iter().find(|c| c.name == "vantiq"))
        .map(|c| vantiq::image_tag(&c.image).to_owned())
        .max_by_key(|t| vantiq::image_version(&format!("x:{t}")))
}

/// What the IDE's About dialog shows.
pub fn about(w: &World) -> Option<Value> {
    let version = running_version(w)?;
    let commit = pki::hex(&Sha256::digest(format!("vantiq-server {version}").as_bytes()))[..40].to_owned();
    let mut v = json!({
        "serverBuildVersion": version, "serverBuildCommit": commit,
        "serverBuildDate": build_date(&version),
    });
    if let Some(sec) = w.store.get(res("Secret"), &w.ns, "vantiq-license")
        && let Some(c) = secret_text(&sec, "license.key").and_then(|k| license::claims(&k).ok())
    {
        v["licenseIssuedTo"] = json!(c.sub);
        v["licenseExpiration"] = json!(c.expires_at().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        v["licenseId"] = json!(c.jti);
    }
    Some(v)
}

fn build_date(version: &str) -> String {
    let (maj, min, patch) = vantiq::image_version(&format!("x:{version}")).unwrap_or((1, 0, 0));
    let days = (maj * 365 + min * 120 + patch * 7) as i64;
    let base = chrono::DateTime::parse_from_rfc3339("2020-01-06T22:24:11Z")
        .map(|d| d.to_utc())
        .unwrap_or_default();
    (base + chrono::Duration::days(days - 365))
        .format("%a %b %d %H:%M:%S UTC %Y")
        .to_string()
}

fn handle(w: &World, creds: &Credentials, sessions: &Sessions, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let auth = req.headers().get("authorization").and_then(|h| h.to_str().ok()).unwrap_or("");
    let bearer_ok = || {
        auth.strip_prefix("Bearer ")
            .map(str::trim)
            .is_some_and(|t| t == creds.token || sessions.lock().unwrap().contains(t))
    };
    let path = req.uri().path();
    if path == "/authenticate" && req.method() == hyper::Method::GET {
        return authenticate(w, creds, sessions, auth);
    }
    // The ingress answers before Vantiq does: nothing gets through while no pod is ready.
    if running_version(w).is_none() {
        return unavailable();
    }
    match req.method().as_str() {
        "GET" if path.starts_with("/api/v1/resources/") => {
            if !bearer_ok() {
                return unauthorized();
            }
            resources(w, creds, &path["/api/v1/resources/".len()..], req.uri().query())
        }
        "GET" if about_path(w).as_deref() == Some(path) => {
            if !bearer_ok() {
                return unauthorized();
            }
            match about(w) {
                Some(v) => reply(StatusCode::OK, v),
                None => unavailable(),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "io.vantiq.resource.not.found",
            &format!("The requested resource {path} could not be found."),
            json!([path]),
        ),
    }
}

/// `GET /authenticate` (HTTP Basic): a fresh access token for the right user and password.
/// Downtime measurements hook in here (one place every login passes through).
fn authenticate(w: &World, creds: &Credentials, sessions: &Sessions, auth: &str) -> Response<Full<Bytes>> {
    if running_version(w).is_none() {
        return unavailable();
    }
    let ok = auth
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .is_some_and(|raw| raw == format!("{}:{}", creds.user, creds.password).as_bytes());
    if !ok {
        return unauthorized();
    }
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    sessions.lock().unwrap().insert(token.clone());
    let id_token = format!("id.{}", &token[..16]);
    // The first successful login after vantiq went down ends the downtime.
    w.note_login();
    reply(StatusCode::OK, json!({ "accessToken": token, "idToken": id_token }))
}
