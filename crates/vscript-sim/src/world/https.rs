//! The HTTPS endpoint standing in for the Vantiq server (what the ingress serves): it
//! presents the certificate currently in `shared/default-ssl-cert`, read from the store
//! on every handshake (so a renewal shows right after `deployNginx`), and answers
//! `GET /authenticate` (HTTP Basic) and `GET /api/v1/about` (Bearer) from the running
//! vantiq pods' image and the license secret.

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
    pub token: String,
}

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
    let certs: Vec<_> = rustls_pemfile::certs(&mut crt.as_bytes()).filter_map(|c| c.ok()).collect();
    let key = rustls_pemfile::private_key(&mut key.as_bytes()).ok()??;
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
    loop {
        let (tcp, _) = tokio::select! {
            () = cancel.cancelled() => return,
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
        };
        let (acceptor, w, creds, cancel) = (acceptor.clone(), w.clone(), creds.clone(), cancel.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let svc = hyper::service::service_fn(move |req| {
                let (w, creds) = (w.clone(), creds.clone());
                async move { Ok::<_, Infallible>(handle(&w, &creds, &req)) }
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

fn handle(w: &World, creds: &Credentials, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let auth = req.headers().get("authorization").and_then(|h| h.to_str().ok()).unwrap_or("");
    let ready = running_version(w).is_some();
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/authenticate") => {
            let ok = auth
                .strip_prefix("Basic ")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
                .is_some_and(|raw| raw == format!("{}:{}", creds.user, creds.password).as_bytes());
            if !ok {
                return reply(StatusCode::UNAUTHORIZED, json!({"error": "invalid username or password"}));
            }
            if !ready {
                return reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "no vantiq server is ready"}));
            }
            w.note_login();
            reply(
                StatusCode::OK,
                json!({"accessToken": creds.token, "idToken": format!("id.{}", &creds.token[..16.min(creds.token.len())]), "expiresIn": 3600}),
            )
        }
        ("GET", "/api/v1/about") => {
            if auth.strip_prefix("Bearer ").map(str::trim) != Some(creds.token.as_str()) {
                return reply(StatusCode::UNAUTHORIZED, json!({"error": "invalid or missing access token"}));
            }
            match about(w) {
                Some(v) => {
                    w.note_login();
                    reply(StatusCode::OK, v)
                }
                None => reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "no vantiq server is ready"})),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no such resource: {}", req.uri().path())}),
        ),
    }
}
