//! The kube-rs client behind the `k8s` module. Async; the script surface bridges it
//! with `Host::block`. Waits are watch-based (`kube::runtime::watcher`), never polling.

use std::collections::BTreeMap;
use std::path::Path;

use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use serde_json::{Value, json};

use super::kinds::{self, Kind};
use crate::target::Target;

/// What went wrong talking to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("{kind} `{name}` not found in namespace `{ns}`")]
    NotFound { kind: String, name: String, ns: String },
    #[error("unknown kind `{0}` (known: {known})", known = kinds::names().join(", "))]
    UnknownKind(String),
    #[error("cannot use kubeconfig: {0}")]
    Config(String),
    #[error("{op} failed: {reason}")]
    Api {
        op: String,
        reason: String,
        /// The server or the connection failed, not the request: trying again may work.
        transient: bool,
    },
    #[error("{0}")]
    Condition(String),
}

fn api_err_at(server: &str, op: impl Into<String>, e: kube::Error) -> K8sError {
    let reason = match &e {
        // The server's own words name the user, the verb and the resource refused.
        kube::Error::Api(s) if s.code == 403 => format!(
            "{} (Forbidden: the user's Roles do not grant this verb on this resource)",
            s.message
        ),
        kube::Error::Api(s) if s.code == 401 => "the cluster did not accept the credentials (401 Unauthorized): the kubeconfig \
             user's token, client certificate or credential plugin, or the service account token, is missing, expired or wrong"
            .to_owned(),
        kube::Error::Api(s) => format!("{} ({})", s.message, s.reason),
        _ if tls_failure(&e).is_some() => format!("{} ({server})", tls_failure(&e).unwrap_or_default()),
        kube::Error::HyperError(h) => format!("cannot reach the cluster: {h}"),
        other => {
            let s = other.to_string();
            if s.contains("Connection refused") || s.contains("client error (Connect)") {
                format!("cannot reach the cluster: {s}")
            } else {
                s
            }
        }
    };
    K8sError::Api {
        op: op.into(),
        reason,
        transient: transient(&e),
    }
}

/// A TLS failure in an error's chain, said as what it is: the API server's certificate
/// is not trusted, expired, or for another name (rustls's error, found under the
/// connector's and the I/O layer's wrappers).
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::{CertificateError, Error as Tls};
    let t = find_tls(e, 0)?;
    let why = match t {
        Tls::InvalidCertificate(CertificateError::UnknownIssuer) => "its certificate is not trusted: unknown issuer (it does not chain \
             to the kubeconfig's certificate-authority, or to the system's roots when the kubeconfig names none)"
            .to_owned(),
        Tls::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "its certificate has expired".to_owned()
        }
        Tls::InvalidCertificate(CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. }) => {
            "its certificate is not valid yet (is this machine's clock right?)".to_owned()
        }
        Tls::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => {
            "its certificate is for another name than the kubeconfig's server (or tls-server-name)".to_owned()
        }
        Tls::InvalidCertificate(c) => format!("its certificate was refused: {c:?}"),
        other => format!("the TLS handshake failed: {other}"),
    };
    Some(format!("TLS failure with the API server: {why}"))
}

/// The credentials a kubeconfig user would send in requests (a client certificate is
/// not sent over plain http: there is no TLS to carry it).
fn credentials_of(a: &kube::config::AuthInfo) -> Option<&'static str> {
    if a.token.is_some() || a.token_file.is_some() {
        Some("bearer token")
    } else if a.password.is_some() {
        Some("password (HTTP Basic)")
    } else if a.exec.is_some() {
        Some("credential plugin's token")
    } else if a.auth_provider.is_some() {
        Some("auth provider's token")
    } else {
        None
    }
}

/// Whether a watch error may go away by itself (the watcher lists again): a transient
/// failure, a resource version gone (410). Not: 401, 403, 404, a TLS failure.
fn watch_retryable(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(k) | watcher::Error::WatchStartFailed(k) | watcher::Error::WatchFailed(k) => {
            transient(k) || matches!(k, kube::Error::Api(s) if s.code == 410)
        }
        watcher::Error::WatchError(s) => !matches!(s.code, 401 | 403 | 404),
        watcher::Error::NoResourceVersion => false,
    }
}

/// rustls's error under the wrappers (an io::Error's `source()` skips the error it wraps:
/// its `get_ref()` is looked into).
fn find_tls<'a>(e: &'a (dyn std::error::Error + 'static), depth: usize) -> Option<&'a rustls::Error> {
    if depth > 16 {
        return None;
    }
    if let Some(t) = e.downcast_ref::<rustls::Error>() {
        return Some(t);
    }
    if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
        && let Some(t) = find_tls(inner, depth + 1)
    {
        return Some(t);
    }
    find_tls(e.source()?, depth + 1)
}

impl K8sError {
    /// Whether trying again may work (a 5xx or 429 answer, a broken connection).
    pub fn is_transient(&self) -> bool {
        matches!(self, K8sError::Api { transient: true, .. })
    }

    /// Whether the server said the object already exists (HTTP 409 AlreadyExists).
    pub fn already_exists(&self) -> bool {
        matches!(self, K8sError::Api { reason, .. } if reason.contains("AlreadyExists"))
    }
}

/// Whether an API error is transient: the server or the connection failed, not the request.
fn transient(e: &kube::Error) -> bool {
    if find_tls(e, 0).is_some() {
        return false;
    }
    match e {
        kube::Error::Api(s) => matches!(s.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// Retries an idempotent request on transient errors, with exponential backoff
/// (0.1 s, 0.2 s, … up to 5 attempts). Non-transient errors return at once.
async fn retry<T, Fut>(f: impl FnMut() -> Fut) -> Result<T, kube::Error>
where
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    retry_if(ATTEMPTS, f, transient).await
}

/// How many times an idempotent request is tried on transient errors.
const ATTEMPTS: u32 = 5;

/// A write conflict: the object changed between the server's read and write. A merge patch
/// without a resourceVersion precondition is applied to the current object, so sending it
/// again is the "re-read and retry".
fn conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "Conflict")
}

async fn retry_if<T, Fut>(attempts: u32, mut f: impl FnMut() -> Fut, retryable: impl Fn(&kube::Error) -> bool) -> Result<T, kube::Error>
where
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut delay = std::time::Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if attempt < attempts && retryable(&e) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// A connected client and what it points at.
#[derive(Clone)]
pub struct K8sClient {
    client: kube::Client,
    /// The context in use (`(in-cluster)` inside a pod).
    pub context: String,
    /// The API server URL.
    pub server: String,
    /// What weakens this connection's trust (TLS verification off, credentials over
    /// plain http allowed by vscript.toml): to say on every run.
    pub warnings: Vec<String>,
}

/// How a watched condition ended.
pub enum Check<T> {
    Pending,
    Done(T),
    Failed(String),
}

impl K8sClient {
    /// Builds a client from the target's kubeconfig and context, or the usual inference
    /// (KUBECONFIG, ~/.kube/config, in-cluster service account) when none is given.
    /// Must run inside the runtime (the client spawns its buffer task there).
    pub async fn connect(target: &Target) -> Result<Self, K8sError> {
        let opts = KubeConfigOptions {
            context: target.context.clone(),
            cluster: None,
            user: None,
        };
        let (config, context) = match &target.kubeconfig {
            Some(path) => {
                let kc = read_kubeconfig(path)?;
                let ctx = target.context.clone().or_else(|| kc.current_context.clone()).unwrap_or_default();
                let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
                    .await
                    .map_err(|e| K8sError::Config(format!("{}: {e}", path.display())))?;
                (cfg, ctx)
            }
            None => match kube::Config::from_kubeconfig(&opts).await {
                Ok(cfg) => (cfg, target.context.clone().unwrap_or_else(|| "(current)".into())),
                Err(kerr) => match incluster_config() {
                    Ok(cfg) => (cfg, "(in-cluster)".into()),
                    // Inside a pod, the in-cluster error is the one that explains the failure.
                    Err(ierr) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                        return Err(K8sError::Config(format!(
                            "in-cluster configuration failed: {ierr} (and no kubeconfig: {kerr})"
                        )));
                    }
                    Err(_) => return Err(K8sError::Config(format!("no kubeconfig given and none found: {kerr}"))),
                },
            },
        };
        let server = config.cluster_url.to_string();
        let mut config = config;
        let mut warnings = Vec::new();
        if let Some(what) = credentials_of(&config.auth_info)
            && config.cluster_url.scheme_str() == Some("http")
        {
            let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
            if !target.http_credentials_allowed.iter().any(|u| norm(u) == norm(&server)) {
                return Err(K8sError::Config(format!(
                    "refusing to send the kubeconfig's {what} to {server} over plain http: anyone on the network path \
                     could read it. Use the cluster's https address, or allow this URL deliberately with \
                     `[kubernetes] allow_insecure_http_credentials = [\"{}\"]` in vscript.toml",
                    server.trim_end_matches('/')
                )));
            }
            warnings.push(format!(
                "sending the kubeconfig's {what} to {server} over plain http (allowed by [kubernetes] \
                 allow_insecure_http_credentials): anyone on the network path can read it"
            ));
        }
        if config.accept_invalid_certs {
            warnings.push(format!(
                "the kubeconfig sets insecure-skip-tls-verify: the API server at {server} is not authenticated, \
                 anyone on the network path can impersonate it and read the credentials"
            ));
        }
        // A plain-http API server (the simulator, a local proxy) never verifies a
        // certificate; without a CA, kube-rs would still load the system trust store
        // for its TLS connector (a few ms per run). An empty root store skips that.
        if config.cluster_url.scheme_str() == Some("http") && config.root_cert.is_none() {
            config.root_cert = Some(Vec::new());
        }
        let client = kube::Client::try_from(config).map_err(|e| K8sError::Config(e.to_string()))?;
        Ok(K8sClient {
            client,
            context,
            server,
            warnings,
        })
    }

    fn api(&self, kind: &Kind, ns: &str) -> Api<DynamicObject> {
        if kind.namespaced {
            Api::namespaced_with(self.client.clone(), ns, &kind.ar)
        } else {
            Api::all_with(self.client.clone(), &kind.ar)
        }
    }

    /// Resolves a kind name.
    pub fn kind(name: &str) -> Result<Kind, K8sError> {
        kinds::kind(name).ok_or_else(|| K8sError::UnknownKind(name.to_owned()))
    }

    pub async fn get(&self, kind: &Kind, ns: &str, name: &str) -> Result<Option<Value>, K8sError> {
        let api = self.api(kind, ns);
        let o = retry(|| api.get_opt(name))
            .await
            .map_err(|e| self.api_err(format!("get {} `{name}`", kind.ar.kind), e))?;
        Ok(o.map(to_value))
    }

    pub async fn get_required(&self, kind: &Kind, ns: &str, name: &str) -> Result<Value, K8sError> {
        self.get(kind, ns, name).await?.ok_or_else(|| K8sError::NotFound {
            kind: kind.ar.kind.clone(),
            name: name.to_owned(),
            ns: ns.to_owned(),
        })
    }

    pub async fn list(&self, kind: &Kind, ns: &str, selector: &str) -> Result<Vec<Value>, K8sError> {
        let mut lp = ListParams::default();
        if !selector.is_empty() {
            lp = lp.labels(selector);
        }
        let api = self.api(kind, ns);
        let l = retry(|| api.list(&lp))
            .await
            .map_err(|e| self.api_err(format!("list {}", kind.ar.plural), e))?;
        Ok(l.items.into_iter().map(to_value).collect())
    }

    /// A JSON merge patch; returns the object after it.
    pub async fn patch(&self, kind: &Kind, ns: &str, name: &str, patch: &Value, dry_run: bool) -> Result<Value, K8sError> {
        let mut pp = PatchParams::default();
        pp.dry_run = dry_run;
        let api = self.api(kind, ns);
        let mp = Patch::Merge(patch);
        // With a resourceVersion precondition (the lock), a conflict is the answer, not a hiccup.
        let precondition = !patch["metadata"]["resourceVersion"].is_null();
        let o = retry_if(
            ATTEMPTS,
            || api.patch(name, &pp, &mp),
            |e| transient(e) || (!precondition && conflict(e)),
        )
        .await
        .map_err(|e| self.not_found_or(e, kind, ns, name, format!("patch {} `{name}`", kind.ar.kind)))?;
        Ok(to_value(o))
    }

    /// Sets `spec.replicas` through the `/scale` subresource, as `kubectl scale` does.
    pub async fn scale(&self, kind: &Kind, ns: &str, name: &str, replicas: i32, dry_run: bool) -> Result<(), K8sError> {
        self.scale_tries(kind, ns, name, replicas, dry_run, ATTEMPTS).await
    }

    /// `scale` with one try only: a caller that retries itself, quickly and for longer
    /// (a write that guards an invariant), does not wait out this client's back-off.
    pub async fn scale_once(&self, kind: &Kind, ns: &str, name: &str, replicas: i32, dry_run: bool) -> Result<(), K8sError> {
        self.scale_tries(kind, ns, name, replicas, dry_run, 1).await
    }

    async fn scale_tries(&self, kind: &Kind, ns: &str, name: &str, replicas: i32, dry_run: bool, attempts: u32) -> Result<(), K8sError> {
        let mut pp = PatchParams::default();
        pp.dry_run = dry_run;
        let api = self.api(kind, ns);
        let body = json!({ "spec": { "replicas": replicas } });
        let mp = Patch::Merge(&body);
        retry_if(attempts, || api.patch_scale(name, &pp, &mp), |e| transient(e) || conflict(e))
            .await
            .map_err(|e| self.not_found_or(e, kind, ns, name, format!("scale {} `{name}`", kind.ar.kind)))?;
        Ok(())
    }

    pub async fn create(&self, kind: &Kind, ns: &str, obj: Value, dry_run: bool) -> Result<Value, K8sError> {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let o: DynamicObject =
            serde_json::from_value(obj).map_err(|e| K8sError::Condition(format!("not a valid {} object: {e}", kind.ar.kind)))?;
        let pp = PostParams {
            dry_run,
            field_manager: Some("vscript".into()),
        };
        // A transient failure may have hidden a successful create: when the retry then finds
        // the object already there, the first attempt is taken to have created it.
        let api = self.api(kind, ns);
        let mut retried = false;
        let mut delay = std::time::Duration::from_millis(100);
        for attempt in 1..=5 {
            match api.create(&pp, &o).await {
                Ok(o) => return Ok(to_value(o)),
                Err(e) if attempt < 5 && transient(&e) => {
                    retried = true;
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(kube::Error::Api(s)) if retried && s.code == 409 => {
                    let got = retry(|| api.get(&name))
                        .await
                        .map_err(|e| self.api_err(format!("read {} `{name}`", kind.ar.kind), e))?;
                    return Ok(to_value(got));
                }
                Err(e) => return Err(self.api_err(format!("create {} `{name}`", kind.ar.kind), e)),
            }
        }
        unreachable!("the last attempt returns")
    }

    pub async fn delete(&self, kind: &Kind, ns: &str, name: &str, propagation: Option<&str>, dry_run: bool) -> Result<(), K8sError> {
        let mut dp = DeleteParams {
            dry_run,
            ..Default::default()
        };
        dp.propagation_policy = match propagation.map(str::to_ascii_lowercase).as_deref() {
            Some("orphan") => Some(PropagationPolicy::Orphan),
            Some("foreground") => Some(PropagationPolicy::Foreground),
            Some("background") | None => Some(PropagationPolicy::Background),
            Some(other) => {
                return Err(K8sError::Condition(format!(
                    "unknown propagation `{other}` (Orphan, Background, Foreground)"
                )));
            }
        };
        let api = self.api(kind, ns);
        let mut retried = false;
        let mut delay = std::time::Duration::from_millis(100);
        for attempt in 1..=5 {
            match api.delete(name, &dp).await {
                Ok(_) => return Ok(()),
                Err(e) if attempt < 5 && transient(&e) => {
                    retried = true;
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                // Gone after a retry: the first attempt deleted it.
                Err(kube::Error::Api(s)) if retried && s.code == 404 => return Ok(()),
                Err(e) => return Err(self.not_found_or(e, kind, ns, name, format!("delete {} `{name}`", kind.ar.kind))),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Deletes an object only if it still has this uid; gone or replaced is not an error.
    pub async fn delete_if_uid(&self, kind: &Kind, ns: &str, name: &str, uid: &str) -> Result<(), K8sError> {
        let dp = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            }),
            ..Default::default()
        };
        let api = self.api(kind, ns);
        match retry(|| api.delete(name, &dp)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(self.api_err(format!("delete {} `{name}`", kind.ar.kind), e)),
        }
    }

    /// Watches one object until `check` says done or failed. `check` sees `None` while
    /// the object does not exist. The watch is re-established when it breaks.
    pub async fn wait_for<T>(
        &self,
        kind: &Kind,
        ns: &str,
        name: &str,
        mut check: impl FnMut(Option<&Value>) -> Check<T>,
    ) -> Result<T, K8sError> {
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        self.watch_until(kind, ns, cfg, &format!("`{name}`"), |objs| check(objs.get(name)))
            .await
    }

    /// Watches the objects matching a label selector until `check` (given all of them)
    /// says done or failed: one watch however many objects there are.
    pub async fn wait_for_selected<T>(
        &self,
        kind: &Kind,
        ns: &str,
        selector: &str,
        mut check: impl FnMut(&[Value]) -> Check<T>,
    ) -> Result<T, K8sError> {
        let cfg = watcher::Config::default().labels(selector);
        self.watch_until(kind, ns, cfg, &format!("`{selector}`"), |objs| {
            let all: Vec<Value> = objs.values().cloned().collect();
            check(&all)
        })
        .await
    }

    /// The watch loop behind the waits: keeps the watched objects by name (from the initial
    /// list, then every change) and asks `check` after the list and after each change.
    /// A lost watch is re-established by the watcher (it relists); errors only pause it.
    async fn watch_until<T>(
        &self,
        kind: &Kind,
        ns: &str,
        cfg: watcher::Config,
        what: &str,
        mut check: impl FnMut(&BTreeMap<String, Value>) -> Check<T>,
    ) -> Result<T, K8sError> {
        let mut stream = std::pin::pin!(watcher(self.api(kind, ns), cfg));
        let (mut objs, mut init) = (BTreeMap::<String, Value>::new(), BTreeMap::<String, Value>::new());
        let mut listed = false;
        let name = |o: &DynamicObject| o.metadata.name.clone().unwrap_or_default();
        while let Some(ev) = stream.next().await {
            let ev = match ev {
                Ok(ev) => ev,
                // Refused (credentials, RBAC, TLS): no retry will do; say so now rather
                // than at the wait's timeout.
                Err(e) if !watch_retryable(&e) => {
                    let op = format!("watch {} {what}", kind.ar.plural);
                    return Err(match e {
                        watcher::Error::InitialListFailed(k) | watcher::Error::WatchStartFailed(k) | watcher::Error::WatchFailed(k) => {
                            self.api_err(op, k)
                        }
                        watcher::Error::WatchError(s) => self.api_err(op, kube::Error::Api(s)),
                        other @ watcher::Error::NoResourceVersion => K8sError::Condition(format!("{op} failed: {other}")),
                    });
                }
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            let changed = match ev {
                watcher::Event::Init => {
                    init.clear();
                    false
                }
                watcher::Event::InitApply(o) => {
                    init.insert(name(&o), to_value(o));
                    false
                }
                watcher::Event::InitDone => {
                    objs = std::mem::take(&mut init);
                    listed = true;
                    true
                }
                watcher::Event::Apply(o) => {
                    objs.insert(name(&o), to_value(o));
                    listed
                }
                watcher::Event::Delete(o) => {
                    objs.remove(&name(&o));
                    listed
                }
            };
            if changed {
                match check(&objs) {
                    Check::Pending => {}
                    Check::Done(t) => return Ok(t),
                    Check::Failed(why) => return Err(K8sError::Condition(why)),
                }
            }
        }
        Err(K8sError::Condition(format!("the watch on {} {what} ended", kind.ar.kind)))
    }

    /// A container's log (or its last `tail` lines).
    pub async fn logs(&self, ns: &str, pod: &str, container: &str, tail: Option<i64>) -> Result<String, K8sError> {
        self.logs_with(
            ns,
            pod,
            container,
            &LogOptions {
                tail,
                ..LogOptions::default()
            },
        )
        .await
    }

    /// A container's log, as `kubectl logs` reads it: the last `tail` lines, the lines of
    /// the last `since_seconds`, of the previous instance (`previous`).
    pub async fn logs_with(&self, ns: &str, pod: &str, container: &str, o: &LogOptions) -> Result<String, K8sError> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        let lp = LogParams {
            container: Some(container.to_owned()),
            tail_lines: o.tail,
            since_seconds: o.since_seconds,
            previous: o.previous,
            ..Default::default()
        };
        api.logs(pod, &lp)
            .await
            .map_err(|e| self.api_err(format!("read log of `{pod}` container `{container}`"), e))
    }

    /// Streams a container's log as `kubectl logs -f` does (with `tail`, `since_seconds`),
    /// until it ends or `on_line` returns `Some`; no waiting for the container, no
    /// reconnection: the console's follow.
    pub async fn stream_logs<T>(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        o: &LogOptions,
        mut on_line: impl FnMut(&str) -> Option<T>,
    ) -> Result<Option<T>, K8sError> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        let lp = LogParams {
            container: Some(container.to_owned()),
            follow: true,
            tail_lines: o.tail,
            since_seconds: o.since_seconds,
            ..Default::default()
        };
        let op = || format!("follow log of `{pod}` container `{container}`");
        let reader = api.log_stream(pod, &lp).await.map_err(|e| self.api_err(op(), e))?;
        let mut lines = std::pin::pin!(reader.lines());
        while let Some(line) = lines.try_next().await.map_err(|e| K8sError::Api {
            op: op(),
            reason: e.to_string(),
            transient: true,
        })? {
            if let Some(t) = on_line(&line) {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }

    /// Streams a container's log line by line, calling `on_line` for each; `on_line`
    /// returns `Some` to stop. Returns `None` when the log ended first.
    ///
    /// Only the current instance of the container counts: one that already failed when
    /// the follow starts (a resumed run after a fixed fault) is history — the follow waits
    /// for its restart. A stream broken by the network is opened again and continues
    /// after the lines already seen; a restart of the container starts over with its new log.
    pub async fn follow_logs<T>(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        mut on_line: impl FnMut(&str) -> Option<T>,
    ) -> Result<Option<T>, K8sError> {
        let pods = Self::kind("Pod")?;
        // The instance to follow: running, or ended successfully. A failed one is waited out.
        let mut instance = self
            .wait_for(&pods, ns, pod, |p| match p.and_then(|p| container_instance(p, container)) {
                Some((restarts, Instance::Running | Instance::Succeeded)) => Check::Done(restarts),
                _ => Check::Pending,
            })
            .await?;
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.client.clone(), ns);
        let lp = LogParams {
            container: Some(container.to_owned()),
            follow: true,
            ..Default::default()
        };
        let mut seen = 0usize;
        let mut breaks = 0u32;
        loop {
            let broken = match api.log_stream(pod, &lp).await {
                Err(e) if transient(&e) => Some(self.api_err(format!("follow log of `{pod}` container `{container}`"), e)),
                Err(e) => return Err(self.api_err(format!("follow log of `{pod}` container `{container}`"), e)),
                Ok(reader) => {
                    let mut lines = std::pin::pin!(reader.lines());
                    let mut n = 0usize;
                    loop {
                        match lines.try_next().await {
                            Ok(Some(line)) => {
                                n += 1;
                                // After a reconnect, the lines before the break were handled.
                                if n <= seen {
                                    continue;
                                }
                                seen = n;
                                breaks = 0;
                                if let Some(t) = on_line(&line) {
                                    return Ok(Some(t));
                                }
                            }
                            Ok(None) => break None,
                            Err(e) => {
                                break Some(K8sError::Api {
                                    op: format!("follow log of `{pod}`"),
                                    reason: e.to_string(),
                                    transient: true,
                                });
                            }
                        }
                    }
                }
            };
            // The stream ended or broke: the container ended, restarted, or the network failed.
            // (Read by a list of that one pod, as the waits do: the same permissions.)
            let now = self
                .wait_for(&pods, ns, pod, |p| Check::Done(p.and_then(|p| container_instance(p, container))))
                .await?;
            match now {
                Some((restarts, state)) if restarts != instance => {
                    // A new instance: its log starts over.
                    instance = restarts;
                    seen = 0;
                    if state == Instance::Failed {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
                Some((_, Instance::Running)) => {}
                // Ended (or the pod is gone) and nothing broke: the log is complete.
                _ if broken.is_none() => return Ok(None),
                _ => {}
            }
            if let Some(e) = broken {
                breaks += 1;
                if breaks > 10 {
                    return Err(e);
                }
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(breaks))).await;
            }
        }
    }

    /// Whether this client's identity may `verb` `resource[/subresource]` of `group` in
    /// `ns` (a SelfSubjectAccessReview, as `kubectl auth can-i`); with the server's reason.
    pub async fn can_i(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        subresource: &str,
        ns: &str,
        name: &str,
    ) -> Result<(bool, String), K8sError> {
        use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_owned()),
                    group: Some(group.to_owned()),
                    resource: Some(resource.to_owned()),
                    subresource: (!subresource.is_empty()).then(|| subresource.to_owned()),
                    namespace: (!ns.is_empty()).then(|| ns.to_owned()),
                    name: (!name.is_empty()).then(|| name.to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let pp = PostParams::default();
        let r = retry(|| api.create(&pp, &review))
            .await
            .map_err(|e| self.api_err("a SelfSubjectAccessReview", e))?;
        let status = r.status.unwrap_or_default();
        Ok((status.allowed, status.reason.or(status.evaluation_error).unwrap_or_default()))
    }

    /// The server's version (`v1.32.4`).
    pub async fn version(&self) -> Result<String, K8sError> {
        let v = self
            .client
            .apiserver_version()
            .await
            .map_err(|e| self.api_err("read the server version", e))?;
        Ok(v.git_version)
    }
}

impl K8sClient {
    fn api_err(&self, op: impl Into<String>, e: kube::Error) -> K8sError {
        api_err_at(&self.server, op, e)
    }

    fn not_found_or(&self, e: kube::Error, kind: &Kind, ns: &str, name: &str, op: String) -> K8sError {
        match &e {
            kube::Error::Api(s) if s.code == 404 => K8sError::NotFound {
                kind: kind.ar.kind.clone(),
                name: name.to_owned(),
                ns: ns.to_owned(),
            },
            _ => self.api_err(op, e),
        }
    }
}

/// Where a pod's service account credentials are mounted.
const SERVICEACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The in-cluster configuration, as `kube::Config::incluster` builds it: the API server
/// from `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT`, the CA (`ca.crt`), token
/// (`token`, re-read by kube-rs as it rotates) and namespace of the service account
/// directory, which `VSCRIPT_SERVICEACCOUNT_DIR` may move (tests, sidecar-mounted tokens).
fn incluster_config() -> Result<kube::Config, String> {
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let host = var("KUBERNETES_SERVICE_HOST")?;
    let port: u16 = var("KUBERNETES_SERVICE_PORT")?
        .parse()
        .map_err(|e| format!("KUBERNETES_SERVICE_PORT: {e}"))?;
    let dir = std::env::var_os("VSCRIPT_SERVICEACCOUNT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| SERVICEACCOUNT_DIR.into());
    let host = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host,
    };
    let ca_file = dir.join("ca.crt");
    let token_file = dir.join("token");
    let pem = std::fs::read(&ca_file).map_err(|e| format!("cannot read {}: {e}", ca_file.display()))?;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let roots: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", ca_file.display()))?;
    if roots.is_empty() {
        return Err(format!("{} holds no certificate", ca_file.display()));
    }
    if !token_file.is_file() {
        return Err(format!("no service account token at {}", token_file.display()));
    }
    let mut cfg = kube::Config::new(
        format!("https://{host}:{port}")
            .parse()
            .map_err(|e| format!("KUBERNETES_SERVICE_HOST/PORT: {e}"))?,
    );
    cfg.root_cert = Some(roots);
    cfg.root_cert_file = Some(ca_file);
    cfg.auth_info.token_file = Some(token_file.display().to_string());
    if let Ok(ns) = std::fs::read_to_string(dir.join("namespace")) {
        cfg.default_namespace = ns.trim().to_owned();
    }
    Ok(cfg)
}

fn read_kubeconfig(path: &Path) -> Result<Kubeconfig, K8sError> {
    if !path.is_file() {
        return Err(K8sError::Config(format!("kubeconfig `{}` does not exist", path.display())));
    }
    Kubeconfig::read_from(path).map_err(|e| K8sError::Config(format!("{}: {e}", path.display())))
}

/// The state of a container's current instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    Waiting,
    Running,
    Succeeded,
    Failed,
}

/// A pod's (init) container: its restart count (which instance) and that instance's state.
pub fn container_instance(pod: &Value, container: &str) -> Option<(i64, Instance)> {
    ["initContainerStatuses", "containerStatuses"].iter().find_map(|k| {
        let c = pod["status"][k].as_array()?.iter().find(|c| c["name"] == container)?;
        let state = &c["state"];
        let s = if state.get("running").is_some() {
            Instance::Running
        } else if let Some(t) = state.get("terminated") {
            if t["exitCode"].as_i64() == Some(0) {
                Instance::Succeeded
            } else {
                Instance::Failed
            }
        } else {
            Instance::Waiting
        };
        Some((c["restartCount"].as_i64().unwrap_or(0), s))
    })
}

/// How a log is read (`kubectl logs --tail --since --previous`).
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub tail: Option<i64>,
    pub since_seconds: Option<i64>,
    pub previous: bool,
}

/// A pod's phase as `kubectl get pods` would sum it up: `Running`, `Pending
/// (ContainerCreating)`, `Succeeded`…
pub fn pod_phase(pod: &Value) -> String {
    let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
    let waiting = ["initContainerStatuses", "containerStatuses"].iter().find_map(|k| {
        pod["status"][k]
            .as_array()
            .and_then(|cs| cs.iter().find_map(|c| c["state"]["waiting"]["reason"].as_str()))
    });
    match waiting {
        Some(r) => format!("{phase} ({r})"),
        None => phase.to_owned(),
    }
}

/// Whether a pod's (init) container is running or has run.
pub fn container_started(pod: &Value, container: &str) -> bool {
    ["initContainerStatuses", "containerStatuses"].iter().any(|k| {
        pod["status"][k].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["name"] == container && (c["state"].get("running").is_some() || c["state"].get("terminated").is_some()))
        })
    })
}

/// The object as JSON, as the API server sent it. Its fields besides the type and the
/// metadata (`spec`, `status`, `data`…) are already JSON in `o.data`: they are moved, not
/// serialized again (a rollout's watch turns every event into one of these).
fn to_value(o: DynamicObject) -> Value {
    let DynamicObject { types, metadata, data } = o;
    let Value::Object(mut map) = data else {
        return serde_json::to_value(DynamicObject { types, metadata, data }).unwrap_or(Value::Null);
    };
    if let Some(t) = types {
        map.insert("apiVersion".into(), Value::String(t.api_version));
        map.insert("kind".into(), Value::String(t.kind));
    }
    map.insert("metadata".into(), serde_json::to_value(metadata).unwrap_or(Value::Null));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use kube::api::DynamicObject;
    use serde_json::json;

    /// Moving the fields gives the same JSON as serializing the whole object.
    #[test]
    fn objects_become_the_json_the_server_sent() {
        let sent = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": { "name": "vantiq", "namespace": "acme", "generation": 3, "labels": { "app": "vantiq" } },
            "spec": { "replicas": 3, "template": { "spec": { "containers": [{ "name": "vantiq", "image": "vantiq:1.30.11" }] } } },
            "status": { "readyReplicas": 2, "observedGeneration": 3 },
        });
        let o: DynamicObject = serde_json::from_value(sent.clone()).unwrap();
        assert_eq!(serde_json::to_value(&o).unwrap(), sent);
        assert_eq!(super::to_value(o), sent);
        // Without type information (a list's items may come without it).
        let bare = json!({ "metadata": { "name": "x" }, "data": { "k": "v" } });
        let o: DynamicObject = serde_json::from_value(bare.clone()).unwrap();
        assert_eq!(super::to_value(o), bare);
    }
}
