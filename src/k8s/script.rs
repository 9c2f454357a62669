//! The `k8s` script module: type conversion and errors only; IO lives in `client.rs`.

use std::sync::Arc;
use std::time::Duration;

use kube_util::{Quantity, match_labels_selector};
use rhai::plugin::*;
use rhai::{Dynamic, Map, NativeCallContext};
use serde_json::{Value, json};

use super::client::{Check, K8sClient, K8sError};
use crate::engine::host::{BlockError, Host};
use crate::engine::{Change, Mode, OrFail, RhaiResultOf, fail, host};

/// The cluster client of a host, connected on first use (nothing at startup).
pub fn client(h: &Host) -> Result<K8sClient, BlockError<K8sError>> {
    h.clients().get_or_try_init(|| {
        let target = h.target().clone();
        let c = h.block("connecting to the cluster", Duration::from_secs(30), async move {
            K8sClient::connect(&target).await
        })?;
        for w in &c.warnings {
            h.warn_trust(w);
        }
        Ok(c)
    })
}

impl Host {
    /// The cluster client (see [`client`]).
    pub fn k8s_client(&self) -> Result<K8sClient, BlockError<K8sError>> {
        client(self)
    }
}

/// The namespace of a call: `opts.ns`, else the run's target namespace.
fn ns_of(h: &Host, opts: &Map) -> String {
    opts.get("ns")
        .map(|v| v.to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| h.target().namespace.clone())
}

fn secs(ctx: &NativeCallContext, timeout: i64) -> RhaiResultOf<Duration> {
    if timeout <= 0 {
        return Err(fail(ctx, format!("timeout must be a positive number of seconds, not {timeout}")));
    }
    Ok(Duration::from_secs(timeout as u64))
}

struct Call {
    h: Arc<Host>,
    c: K8sClient,
    ns: String,
}

fn call(ctx: &NativeCallContext, opts: &Map) -> RhaiResultOf<Call> {
    let h = host(ctx)?;
    let c = client(&h).or_fail(ctx)?;
    let ns = ns_of(&h, opts);
    Ok(Call { h, c, ns })
}

const REQUEST: Duration = Duration::from_secs(60);

impl Call {
    /// A read through the gate: journaled, and replayed in a re-entered step. Secrets are
    /// journaled without their value (and read again).
    fn read<T, F, Fut>(&self, ctx: &NativeCallContext, key: Value, what: &str, retry: Option<Duration>, mut make: F) -> RhaiResultOf<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, K8sError>>,
    {
        let secret = key
            .get(1)
            .is_some_and(|k| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case("secret")));
        let f = || self.retrying(what, retry, || self.h.block(what, REQUEST, make()));
        if secret {
            self.h.observe_secret(key, f)
        } else {
            self.h.observe(key, f)
        }
        .or_fail(ctx)
    }

    /// A change through the gate. `f` gets the mode (dry run or real) and the plan.
    fn write<T, E: std::fmt::Display>(
        &self,
        ctx: &NativeCallContext,
        change: Change,
        f: impl FnOnce(bool, &Value) -> Result<T, E>,
    ) -> RhaiResultOf<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        self.h.change(change, |mode, plan| f(mode == Mode::DryRun, plan)).or_fail(ctx)
    }

    /// Repeats a request that failed transiently (the API server restarting, a network
    /// blip) until `retry_for` has passed — as long as this run holds the lock and the
    /// operator has not interrupted. Writes that guard an invariant use this.
    fn retrying<T>(
        &self,
        what: &str,
        retry_for: Option<Duration>,
        mut f: impl FnMut() -> Result<T, BlockError<K8sError>>,
    ) -> Result<T, BlockError<K8sError>> {
        let Some(limit) = retry_for else { return f() };
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut said = false;
        loop {
            match f() {
                Err(BlockError::Inner(e)) if e.is_transient() && started.elapsed() < limit => {
                    if let Some(why) = self.h.state().lease.refusal() {
                        self.h.warn(&format!("{what}: giving up, {why}"));
                        return Err(BlockError::Inner(e));
                    }
                    if !said {
                        self.h.warn(&format!(
                            "{what}: {e}; retrying for up to {}",
                            crate::engine::host::humantime(limit)
                        ));
                        said = true;
                    }
                    let pause =
                        self.h
                            .block::<(), std::convert::Infallible>("waiting to retry", delay + Duration::from_secs(1), async move {
                                tokio::time::sleep(delay).await;
                                Ok(())
                            });
                    if let Err(BlockError::Cancelled(w)) = pause {
                        return Err(BlockError::Cancelled(w));
                    }
                    // Quick at first (the first second counts most), then every few seconds.
                    if started.elapsed() > Duration::from_secs(2) {
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
                r => return r,
            }
        }
    }
}

/// `opts.retry_for`: seconds to keep retrying a transient failure.
fn retry_for(ctx: &NativeCallContext, opts: &Map) -> RhaiResultOf<Option<Duration>> {
    match opts.get("retry_for") {
        None => Ok(None),
        Some(v) => match v.as_int() {
            Ok(n) if n > 0 => Ok(Some(Duration::from_secs(n as u64))),
            _ => Err(fail(
                ctx,
                format!("option `retry_for` must be a positive number of seconds, not {v}"),
            )),
        },
    }
}

/// The annotation naming the run that created a Job.
const CREATED_BY: &str = "vscript.vantiq.com/created-by-run";

fn to_dyn(v: Value) -> RhaiResultOf<Dynamic> {
    rhai::serde::to_dynamic(v)
}

/// A Secret object as a script sees it: its `data` (decoded) and `stringData` values are
/// secret values, registered with the redactor; the rest is plain.
fn secret_object(h: &Host, mut v: Value) -> RhaiResultOf<Dynamic> {
    use base64::Engine as _;
    let mut secrets = Map::new();
    for field in ["data", "stringData"] {
        let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) else {
            continue;
        };
        let mut out = Map::new();
        for (k, x) in std::mem::take(m) {
            let raw = match (field, x.as_str()) {
                ("data", Some(b)) => base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_else(|_| b.as_bytes().to_vec()),
                (_, Some(t)) => t.as_bytes().to_vec(),
                _ => x.to_string().into_bytes(),
            };
            out.insert(k.as_str().into(), Dynamic::from(crate::engine::register_secret(h, raw)));
        }
        secrets.insert(field.into(), out.into());
        v.as_object_mut().map(|o| o.remove(field));
    }
    let mut d = to_dyn(v)?;
    if let Some(mut m) = d.write_lock::<Map>() {
        m.extend(secrets);
    }
    Ok(d)
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// A Kubernetes quantity (`55Gi`, `500M`, `1073741824`) in bytes (exactly parsed).
pub fn quantity_bytes(q: &str) -> Option<f64> {
    Quantity::parse(q).map(Quantity::as_f64)
}

/// `"10m"`, `"2h"`, `"30s"`, `"1d"` or a number of seconds, in seconds.
fn since(v: &Dynamic) -> Option<i64> {
    if let Ok(n) = v.as_int() {
        return (n > 0).then_some(n);
    }
    let s = v.clone().into_string().ok()?;
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(n * mult)
}

/// The container `kubectl logs POD` reads: the `kubectl.kubernetes.io/default-container`
/// annotation, else the first container.
fn default_container(pod: &Value) -> Option<String> {
    pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
        .as_str()
        .or_else(|| pod["spec"]["containers"][0]["name"].as_str())
        .map(str::to_owned)
}

/// A follow that ended with an error: in the console, Ctrl-C is how a follow is ended —
/// a normal stop, said on stderr; anywhere else it is the error it is.
fn stopped_follow<E: std::fmt::Display>(ctx: &NativeCallContext, h: &Host, e: BlockError<E>) -> RhaiResultOf<()> {
    match e {
        BlockError::Cancelled(_) if h.opts().console => {
            h.info("stopped following (Ctrl-C)");
            Ok(())
        }
        e => Err(fail(ctx, e)),
    }
}

/// Streams the log of a Job's pod (its first container) while the Job runs, each line
/// printed and shown on the progress line; returns when the log ends.
async fn job_logs(h: &Host, c: &K8sClient, ns: &str, job: &str) {
    let Ok(pods) = K8sClient::kind("Pod") else { return };
    let sel = format!("job-name={job}");
    let found = c
        .wait_for_selected(&pods, ns, &sel, |all| {
            let started = all.iter().find_map(|p| {
                let container = p["spec"]["containers"][0]["name"].as_str()?;
                crate::k8s::client::container_started(p, container)
                    .then(|| (p["metadata"]["name"].as_str().unwrap_or("").to_owned(), container.to_owned()))
            });
            match started {
                Some(pc) => Check::Done(pc),
                None => {
                    if let Some(p) = all.first() {
                        h.progress_event(&format!(
                            "pod {}: {}",
                            p["metadata"]["name"].as_str().unwrap_or(""),
                            crate::k8s::client::pod_phase(p)
                        ));
                    }
                    Check::Pending
                }
            }
        })
        .await;
    let Ok((pod, container)) = found else { return };
    // Shown only: a plain stream (`kubectl logs -f`), without the reconnection of
    // `follow_logs` — a broken stream ends the display, not the wait.
    let o = crate::k8s::client::LogOptions::default();
    let _ = c
        .stream_logs(ns, &pod, &container, &o, |line| {
            h.say("  │", "2", line);
            h.progress_event(line);
            None::<()>
        })
        .await;
}

fn sts_ready(o: &Value) -> bool {
    let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
    let st = &o["status"];
    i(&st["observedGeneration"]) >= i(&o["metadata"]["generation"]) && i(&st["readyReplicas"]) == want && i(&st["replicas"]) == want
}

fn describe_sts(o: &Value) -> String {
    let st = &o["status"];
    format!(
        "replicas {}, ready {}, updated {}",
        i(&st["replicas"]),
        i(&st["readyReplicas"]),
        i(&st["updatedReplicas"])
    )
}

#[export_module]
pub mod k8s {
    use super::*;

    /// Options that point a call at another namespace: `k8s::get("Secret", "default-ssl-cert", k8s::ns("shared"))`.
    /// ```rhai
    /// let pvc = k8s::get("pvc", "influxdb-data-influxdb-0", k8s::ns("shared"));
    /// ```
    pub fn ns(name: &str) -> Map {
        let mut m = Map::new();
        m.insert("ns".into(), name.into());
        m
    }

    /// A storage quantity (`55Gi`, `500M`) in bytes; fails when it is not one.
    /// ```rhai
    /// if k8s::quantity("55Gi") <= k8s::quantity("50Gi") { throw "not bigger"; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn quantity(ctx: NativeCallContext, q: &str) -> RhaiResultOf<f64> {
        quantity_bytes(q).ok_or_else(|| fail(&ctx, format!("`{q}` is not a storage size (e.g. 55Gi)")))
    }

    /// The target namespace of this run (`vantiq.installation`).
    #[rhai_fn(return_raw)]
    pub fn namespace(ctx: NativeCallContext) -> RhaiResultOf<String> {
        Ok(host(&ctx)?.target().namespace.clone())
    }

    /// Reads one object; fails when it does not exist.
    /// ```rhai
    /// let sts = k8s::get("StatefulSet", "vantiq");
    /// print(sts.status?.readyReplicas ?? 0);
    /// ```
    #[rhai_fn(return_raw, name = "get")]
    pub fn get(ctx: NativeCallContext, kind: &str, name: &str) -> RhaiResultOf<Dynamic> {
        get_in(ctx, kind, name, Map::new())
    }

    /// Reads one object with options (`#{ ns: "shared" }`).
    #[rhai_fn(return_raw, name = "get")]
    pub fn get_in(ctx: NativeCallContext, kind: &str, name: &str, opts: Map) -> RhaiResultOf<Dynamic> {
        let k = K8sClient::kind(kind).or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let key = json!(["k8s.get", k.ar.kind, call.ns, name]);
        let retry = retry_for(&ctx, &opts)?;
        let v = call.read(&ctx, key, &format!("reading {kind} `{name}`"), retry, || {
            call.c.get_required(&k, &call.ns, name)
        })?;
        if k.ar.kind == "Secret" {
            secret_object(&call.h, v)
        } else {
            to_dyn(v)
        }
    }

    /// Whether an object exists.
    /// ```rhai
    /// if k8s::exists("StatefulSet", "metrics-collector") { print("configured"); }
    /// ```
    #[rhai_fn(return_raw, name = "exists")]
    pub fn exists(ctx: NativeCallContext, kind: &str, name: &str) -> RhaiResultOf<bool> {
        exists_in(ctx, kind, name, Map::new())
    }

    /// Whether an object exists, with options (`#{ ns: "shared" }`).
    #[rhai_fn(return_raw, name = "exists")]
    pub fn exists_in(ctx: NativeCallContext, kind: &str, name: &str, opts: Map) -> RhaiResultOf<bool> {
        let k = K8sClient::kind(kind).or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let key = json!(["k8s.exists", k.ar.kind, call.ns, name]);
        let c = &call.c;
        let ns = &call.ns;
        let retry = retry_for(&ctx, &opts)?;
        call.read(&ctx, key, &format!("reading {kind} `{name}`"), retry, || async {
            Ok(c.get(&k, ns, name).await?.is_some())
        })
    }

    /// Lists objects of a kind in the target namespace.
    /// ```rhai
    /// for p in k8s::list("Pod") { print(p.metadata.name); }
    /// ```
    #[rhai_fn(return_raw, name = "list")]
    pub fn list(ctx: NativeCallContext, kind: &str) -> RhaiResultOf<Dynamic> {
        list_in(ctx, kind, "", Map::new())
    }

    /// Lists objects matching a label selector (`app=vantiq`).
    #[rhai_fn(return_raw, name = "list")]
    pub fn list_sel(ctx: NativeCallContext, kind: &str, selector: &str) -> RhaiResultOf<Dynamic> {
        list_in(ctx, kind, selector, Map::new())
    }

    /// Lists objects matching a label selector, with options (`#{ ns: "shared" }`).
    #[rhai_fn(return_raw, name = "list")]
    pub fn list_in(ctx: NativeCallContext, kind: &str, selector: &str, opts: Map) -> RhaiResultOf<Dynamic> {
        let k = K8sClient::kind(kind).or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let key = json!(["k8s.list", k.ar.kind, call.ns, selector]);
        let retry = retry_for(&ctx, &opts)?;
        let v: Vec<Value> = call.read(&ctx, key, &format!("listing {kind}"), retry, || call.c.list(&k, &call.ns, selector))?;
        if k.ar.kind == "Secret" {
            return v
                .into_iter()
                .map(|o| secret_object(&call.h, o))
                .collect::<RhaiResultOf<rhai::Array>>()
                .map(Dynamic::from);
        }
        to_dyn(Value::Array(v))
    }

    /// The desired replica count (`spec.replicas`) of a StatefulSet.
    /// ```rhai
    /// let n = k8s::replicas("vantiq");
    /// ```
    #[rhai_fn(return_raw, name = "replicas")]
    pub fn replicas(ctx: NativeCallContext, sts: &str) -> RhaiResultOf<i64> {
        replicas_in(ctx, sts, Map::new())
    }

    /// The desired replica count, with options.
    #[rhai_fn(return_raw, name = "replicas")]
    pub fn replicas_in(ctx: NativeCallContext, sts: &str, opts: Map) -> RhaiResultOf<i64> {
        let k = K8sClient::kind("StatefulSet").or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let key = json!(["k8s.replicas", call.ns, sts]);
        let (c, ns) = (&call.c, &call.ns);
        let retry = retry_for(&ctx, &opts)?;
        call.read(&ctx, key, &format!("reading StatefulSet `{sts}`"), retry, || async {
            Ok(c.get_required(&k, ns, sts).await?["spec"]["replicas"].as_i64().unwrap_or(1))
        })
    }

    /// Scales a StatefulSet (like `kubectl scale sts NAME --replicas=N`); does not wait.
    /// ```rhai
    /// k8s::scale("vantiq", 1);
    /// ```
    #[rhai_fn(return_raw, name = "scale")]
    pub fn scale(ctx: NativeCallContext, sts: &str, replicas: i64) -> RhaiResultOf<()> {
        scale_in(ctx, sts, replicas, Map::new())
    }

    /// Scales a StatefulSet, with options (`#{ ns: "shared" }`).
    #[rhai_fn(return_raw, name = "scale")]
    pub fn scale_in(ctx: NativeCallContext, sts: &str, replicas: i64, opts: Map) -> RhaiResultOf<()> {
        let n = i32::try_from(replicas)
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| fail(&ctx, format!("replicas must be 0 or more, not {replicas}")))?;
        let k = K8sClient::kind("StatefulSet").or_fail(&ctx)?;
        let retry = retry_for(&ctx, &opts)?;
        let call = call(&ctx, &opts)?;
        let (h, c, ns) = (&call.h, &call.c, &call.ns);
        let what = format!("scaling StatefulSet `{ns}/{sts}` to {n}");
        // For the journal and the report only: a failed read leaves it out.
        let before = h
            .block(&format!("reading StatefulSet `{sts}`"), REQUEST, c.get_required(&k, ns, sts))
            .ok()
            .map(|o| json!(o["spec"]["replicas"].as_i64().unwrap_or(1)));
        let change = Change::new("k8s.scale", format!("StatefulSet {ns}/{sts}"))
            .detail(json!(n))
            .before(before)
            .after(json!(n));
        call.write(&ctx, change, |dry, _| match retry {
            // A guarding write retries at once, for as long as it may: the client's own
            // back-off (1.5 s over five tries) is longer than the migration's window.
            Some(_) => call.retrying(&what, retry, || h.block(&what, REQUEST, c.scale_once(&k, ns, sts, n, dry))),
            None => h.block(&what, REQUEST, c.scale(&k, ns, sts, n, dry)),
        })
    }

    /// Waits until a StatefulSet has all its desired replicas ready (and no extra pods),
    /// watch-based; `timeout` in seconds.
    /// ```rhai
    /// k8s::wait_ready("vantiq", 600);
    /// ```
    #[rhai_fn(return_raw, name = "wait_ready")]
    pub fn wait_ready(ctx: NativeCallContext, sts: &str, timeout: i64) -> RhaiResultOf<()> {
        wait_ready_in(ctx, sts, timeout, Map::new())
    }

    /// Waits until a StatefulSet is ready, with options.
    #[rhai_fn(return_raw, name = "wait_ready")]
    pub fn wait_ready_in(ctx: NativeCallContext, sts: &str, timeout: i64, opts: Map) -> RhaiResultOf<()> {
        let limit = secs(&ctx, timeout)?;
        let k = K8sClient::kind("StatefulSet").or_fail(&ctx)?;
        let Call { h, c, ns } = call(&ctx, &opts)?;
        if h.dry_run() {
            h.say("  ~", "36", &format!("would wait for StatefulSet {ns}/{sts} to be ready"));
            return Ok(());
        }
        let last = std::sync::Mutex::new(String::from("not seen yet"));
        let what = format!("waiting for StatefulSet `{ns}/{sts}` to be ready");
        let pods = K8sClient::kind("Pod").or_fail(&ctx)?;
        let key = json!(["k8s.wait_ready", ns, sts]);
        let r = h.observe(key, || {
            h.block(&what, limit, async {
                let o = c
                    .wait_for(&k, &ns, sts, |o| match o {
                        None => Check::Failed(format!("StatefulSet `{sts}` not found in namespace `{ns}`")),
                        Some(o) => {
                            {
                                let seen = describe_sts(o);
                                h.progress_event(&seen);
                                *last.lock().unwrap() = seen;
                            }
                            if sts_ready(o) { Check::Done(o.clone()) } else { Check::Pending }
                        }
                    })
                    .await?;
                // Scaled down: also wait until the removed pods have terminated, so that a
                // stopped component really is stopped (no pod still writing while it terminates).
                let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
                let selector = match_labels_selector(&o["spec"]["selector"]["matchLabels"]);
                if selector.is_empty() {
                    return Ok::<(), K8sError>(());
                }
                // One watch over the selected pods (not one per terminating pod).
                c.wait_for_selected(&pods, &ns, &selector, |all| {
                    let going = all.iter().find(|p| {
                        let name = p["metadata"]["name"].as_str().unwrap_or("");
                        let ordinal = name.rsplit('-').next().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
                        ordinal >= want || !p["metadata"]["deletionTimestamp"].is_null()
                    });
                    match going {
                        Some(p) => {
                            let seen = format!("pod `{}` still terminating", p["metadata"]["name"].as_str().unwrap_or(""));
                            h.progress_event(&seen);
                            *last.lock().unwrap() = seen;
                            Check::Pending
                        }
                        None => Check::Done(()),
                    }
                })
                .await
            })
        });
        r.map_err(|e| fail(&ctx, format!("{e} (last seen: {})", last.lock().unwrap())))
    }

    /// Waits for a rolling update or restart of a StatefulSet to finish (like
    /// `kubectl rollout status`): every pod updated to the newest revision and ready.
    /// ```rhai
    /// k8s::wait_rollout("vantiq", 900);
    /// ```
    #[rhai_fn(return_raw, name = "wait_rollout")]
    pub fn wait_rollout(ctx: NativeCallContext, sts: &str, timeout: i64) -> RhaiResultOf<()> {
        wait_rollout_in(ctx, sts, timeout, Map::new())
    }

    /// Waits for a rollout, with options.
    #[rhai_fn(return_raw, name = "wait_rollout")]
    pub fn wait_rollout_in(ctx: NativeCallContext, sts: &str, timeout: i64, opts: Map) -> RhaiResultOf<()> {
        let limit = secs(&ctx, timeout)?;
        let k = K8sClient::kind("StatefulSet").or_fail(&ctx)?;
        let Call { h, c, ns } = call(&ctx, &opts)?;
        if h.dry_run() {
            h.say("  ~", "36", &format!("would wait for the rollout of StatefulSet {ns}/{sts}"));
            return Ok(());
        }
        let last = std::sync::Mutex::new(String::from("not seen yet"));
        let what = format!("waiting for the rollout of StatefulSet `{ns}/{sts}`");
        let key = json!(["k8s.wait_rollout", ns, sts]);
        let r = h.observe(key, || {
            h.block(
                &what,
                limit,
                c.wait_for(&k, &ns, sts, |o| match o {
                    None => Check::Failed(format!("StatefulSet `{sts}` not found in namespace `{ns}`")),
                    Some(o) => {
                        {
                            let seen = describe_sts(o);
                            h.progress_event(&seen);
                            *last.lock().unwrap() = seen;
                        }
                        let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
                        let st = &o["status"];
                        let revs_ok = st["updateRevision"].is_null() || st["currentRevision"] == st["updateRevision"] || want == 0;
                        if sts_ready(o) && i(&st["updatedReplicas"]) == want && revs_ok {
                            Check::Done(())
                        } else {
                            Check::Pending
                        }
                    }
                }),
            )
        });
        r.map_err(|e| fail(&ctx, format!("{e} (last seen: {})", last.lock().unwrap())))
    }

    /// Restarts a StatefulSet's pods with a rolling update (like `kubectl rollout restart sts`).
    /// ```rhai
    /// k8s::rollout_restart("vantiq");
    /// k8s::wait_rollout("vantiq", 900);
    /// ```
    #[rhai_fn(return_raw, name = "rollout_restart")]
    pub fn rollout_restart(ctx: NativeCallContext, sts: &str) -> RhaiResultOf<()> {
        rollout_restart_in(ctx, sts, Map::new())
    }

    /// Restarts a StatefulSet, with options.
    #[rhai_fn(return_raw, name = "rollout_restart")]
    pub fn rollout_restart_in(ctx: NativeCallContext, sts: &str, opts: Map) -> RhaiResultOf<()> {
        let k = K8sClient::kind("StatefulSet").or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let (h, c, ns) = (&call.h, &call.c, &call.ns);
        // The restart's time is its plan: carried out again after a crash, the same
        // annotation restarts the pods once, not twice.
        let at = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let change = Change::new("k8s.rollout_restart", format!("StatefulSet {ns}/{sts}"))
            .after(json!(at))
            .plan(json!({ "restartedAt": at }));
        call.write(&ctx, change, |dry, plan| {
            let at = plan["restartedAt"].as_str().unwrap_or(&at).to_owned();
            let patch = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}});
            h.block(
                &format!("restarting StatefulSet `{sts}`"),
                REQUEST,
                c.patch(&k, ns, sts, &patch, dry),
            )
            .map(|_| ())
        })
    }

    /// Creates a Job from a CronJob's template (like `kubectl create job NAME --from=CronJob/CRON`).
    /// ```rhai
    /// let job = `mongobackup-${today("yyyyMMddHHmmss")}`;
    /// k8s::create_job_from_cronjob("mongobackup", job);
    /// ```
    #[rhai_fn(return_raw, name = "create_job_from_cronjob")]
    pub fn create_job_from_cronjob(ctx: NativeCallContext, cronjob: &str, job: &str) -> RhaiResultOf<()> {
        create_job_from_cronjob_in(ctx, cronjob, job, Map::new())
    }

    /// Creates a Job from a CronJob, with options.
    #[rhai_fn(return_raw, name = "create_job_from_cronjob")]
    pub fn create_job_from_cronjob_in(ctx: NativeCallContext, cronjob: &str, job: &str, opts: Map) -> RhaiResultOf<()> {
        let cj_kind = K8sClient::kind("CronJob").or_fail(&ctx)?;
        let job_kind = K8sClient::kind("Job").or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let (h, c, ns) = (&call.h, &call.c, &call.ns);
        let key = json!(["k8s.get", "CronJob", ns, cronjob]);
        let cj: Value = call.read(&ctx, key, &format!("reading CronJob `{cronjob}`"), None, || {
            c.get_required(&cj_kind, ns, cronjob)
        })?;
        let tpl = &cj["spec"]["jobTemplate"];
        let mut annotations = tpl["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
        annotations.insert("cronjob.kubernetes.io/instantiate".into(), json!("manual"));
        // Which run created it: a crashed attempt's Job is recognised as its own.
        let run = h.state().run_id().unwrap_or_default();
        let change = Change::new("k8s.create_job", format!("Job {ns}/{job}"))
            .after(json!(format!("from CronJob/{cronjob}")))
            .plan(json!({ "run": run }));
        call.write(&ctx, change, |dry, plan| {
            let run = plan["run"].as_str().unwrap_or("").to_owned();
            let mut annotations = annotations.clone();
            if !run.is_empty() {
                annotations.insert(CREATED_BY.into(), json!(run));
            }
            let obj = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": job, "namespace": ns,
                "labels": tpl["metadata"]["labels"].clone(),
                "annotations": annotations,
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": cronjob, "uid": cj["metadata"]["uid"].clone(), "controller": true}],
            },
            "spec": tpl["spec"].clone(),
            });
            match h.block(&format!("creating Job `{job}`"), REQUEST, c.create(&job_kind, ns, obj, dry)) {
                Ok(_) => Ok(()),
                // Carried out again after a crash: the Job the first attempt created is ours.
                Err(BlockError::Inner(e)) if e.already_exists() && !run.is_empty() => {
                    let existing = h.block(&format!("reading Job `{job}`"), REQUEST, c.get_required(&job_kind, ns, job))?;
                    if existing["metadata"]["annotations"][CREATED_BY] == json!(run) {
                        h.info(&format!("Job {ns}/{job} was already created by this run"));
                        Ok(())
                    } else {
                        Err(BlockError::Inner(e))
                    }
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Waits until a Job completes; fails when it fails (with the tail of its log).
    /// The Job's log is printed while it runs (like `kubectl logs -f job/NAME`).
    /// Returns `"Complete"`.
    /// ```rhai
    /// k8s::wait_job("mongobackup-manual", 1800);
    /// ```
    #[rhai_fn(return_raw, name = "wait_job")]
    pub fn wait_job(ctx: NativeCallContext, job: &str, timeout: i64) -> RhaiResultOf<String> {
        wait_job_in(ctx, job, timeout, Map::new())
    }

    /// Waits for a Job, with options: `ns`, `logs` (`false`: do not print the Job's log).
    #[rhai_fn(return_raw, name = "wait_job")]
    pub fn wait_job_in(ctx: NativeCallContext, job: &str, timeout: i64, opts: Map) -> RhaiResultOf<String> {
        let limit = secs(&ctx, timeout)?;
        let k = K8sClient::kind("Job").or_fail(&ctx)?;
        let Call { h, c, ns } = call(&ctx, &opts)?;
        if h.dry_run() {
            h.say("  ~", "36", &format!("would wait for Job {ns}/{job} to complete"));
            return Ok("Complete".into());
        }
        let cond = |o: &Value, t: &str| {
            o["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == t && c["status"] == "True").cloned())
        };
        let what = format!("waiting for Job `{ns}/{job}` to complete");
        let key = json!(["k8s.wait_job", ns, job]);
        // The job's log is streamed while it runs, as the runbook's `kubectl logs -f` shows it.
        let stream_logs = opts.get("logs").and_then(|v| v.as_bool().ok()).unwrap_or(true);
        let r = h.observe(key, || {
            h.block(&what, limit, async {
                let wait = c.wait_for(&k, &ns, job, |o| match o {
                    None => Check::Failed(format!("Job `{job}` not found in namespace `{ns}`")),
                    Some(o) => {
                        if cond(o, "Complete").is_some() {
                            Check::Done(())
                        } else if let Some(f) = cond(o, "Failed") {
                            Check::Failed(format!(
                                "Job `{job}` failed: {} {}",
                                f["reason"].as_str().unwrap_or(""),
                                f["message"].as_str().unwrap_or("")
                            ))
                        } else {
                            Check::Pending
                        }
                    }
                });
                if !stream_logs {
                    return wait.await;
                }
                let logs = job_logs(&h, &c, &ns, job);
                tokio::pin!(wait);
                tokio::pin!(logs);
                tokio::select! {
                    r = &mut wait => {
                        // The job ended: its log ends too; show its last lines.
                        let _ = tokio::time::timeout(Duration::from_secs(2), &mut logs).await;
                        r
                    }
                    () = &mut logs => wait.await,
                }
            })
        });
        match r {
            Ok(()) => Ok("Complete".into()),
            Err(crate::engine::GateError::Failed(BlockError::Inner(K8sError::Condition(why)))) => {
                // Add the tail of the job pod's log: what an operator would look at next.
                let pods = K8sClient::kind("Pod").or_fail(&ctx)?;
                let sel = format!("job-name={job}");
                let tail = h
                    .block("reading the job's log", Duration::from_secs(30), async {
                        let ps = c.list(&pods, &ns, &sel).await?;
                        let Some(p) = ps.last() else { return Ok(String::new()) };
                        let pod = p["metadata"]["name"].as_str().unwrap_or("").to_owned();
                        let container = p["spec"]["containers"][0]["name"].as_str().unwrap_or("").to_owned();
                        c.logs(&ns, &pod, &container, Some(10)).await
                    })
                    .unwrap_or_default();
                let tail = if tail.trim().is_empty() {
                    String::new()
                } else {
                    format!("\nlast log lines:\n{}", tail.trim_end())
                };
                Err(fail(&ctx, format!("{why}{tail}")))
            }
            Err(e) => Err(fail(&ctx, e)),
        }
    }

    /// A container's log as one string (`#{ tail: 20, ns: "..." }` optional).
    /// ```rhai
    /// print(k8s::logs("vantiq-0", "load-model"));
    /// ```
    #[rhai_fn(return_raw, name = "logs")]
    pub fn logs(ctx: NativeCallContext, pod: &str, container: &str) -> RhaiResultOf<String> {
        logs_in(ctx, pod, container, Map::new())
    }

    /// A pod's log, like `kubectl logs`: the default container (the pod's
    /// `kubectl.kubernetes.io/default-container`, else its first), or the options'.
    /// ```rhai
    /// k8s::logs("vantiq-0")
    /// ```
    #[rhai_fn(return_raw, name = "logs")]
    pub fn logs_pod(ctx: NativeCallContext, pod: &str) -> RhaiResultOf<String> {
        logs_in(ctx, pod, "", Map::new())
    }

    /// A pod's log with options, like `kubectl logs`: `container` (default: the pod's
    /// default container), `tail` (lines), `since` (`"10m"`, `"2h"`, `"30s"` or seconds),
    /// `previous` (the instance before the last restart), `follow` (print lines as they
    /// come until the log ends, `timeout` seconds pass — default a day — or Ctrl-C, which
    /// in the console is a normal stop), `ns`.
    /// ```rhai
    /// k8s::logs("vantiq-0", #{ container: "load-model", since: "10m", tail: 50 });
    /// k8s::logs("vantiq-0", #{ previous: true });
    /// k8s::logs("vantiq-0", #{ follow: true, tail: 20 });
    /// ```
    #[rhai_fn(return_raw, name = "logs")]
    pub fn logs_pod_in(ctx: NativeCallContext, pod: &str, opts: Map) -> RhaiResultOf<String> {
        let container = opts.get("container").map(|c| c.to_string()).unwrap_or_default();
        logs_in(ctx, pod, &container, opts)
    }

    /// A container's log, with options (`tail`, `since`, `previous`, `follow`, `ns`; see
    /// `k8s::logs(pod, options)`).
    #[rhai_fn(return_raw, name = "logs")]
    pub fn logs_in(ctx: NativeCallContext, pod: &str, container: &str, opts: Map) -> RhaiResultOf<String> {
        let tail = opts.get("tail").and_then(|v| v.as_int().ok());
        let since_seconds = match opts.get("since") {
            None => None,
            Some(v) => Some(since(v).ok_or_else(|| {
                fail(
                    &ctx,
                    format!("`since: {v}` is not a duration like \"10m\", \"2h\", \"30s\" or a number of seconds"),
                )
            })?),
        };
        let previous = opts.get("previous").and_then(|v| v.as_bool().ok()).unwrap_or(false);
        let follow = opts.get("follow").and_then(|v| v.as_bool().ok()).unwrap_or(false);
        let call = call(&ctx, &opts)?;
        let container = if container.is_empty() {
            let pods = K8sClient::kind("Pod").or_fail(&ctx)?;
            let key = json!(["k8s.get", "Pod", call.ns, pod]);
            let p: Value = call.read(&ctx, key, &format!("reading pod `{pod}`"), None, || {
                call.c.get_required(&pods, &call.ns, pod)
            })?;
            default_container(&p).ok_or_else(|| fail(&ctx, format!("pod `{pod}` has no container")))?
        } else {
            container.to_owned()
        };
        let o = crate::k8s::client::LogOptions {
            tail,
            since_seconds,
            previous,
        };
        if follow {
            let limit = secs(&ctx, opts.get("timeout").and_then(|v| v.as_int().ok()).unwrap_or(86_400))?;
            let h = &call.h;
            let what = format!("following the log of `{}/{pod}` container `{container}`", call.ns);
            let r = h.block(
                &what,
                limit,
                call.c.stream_logs(&call.ns, pod, &container, &o, |line| {
                    h.say("  │", "2", line);
                    h.progress_event(line);
                    None::<()>
                }),
            );
            return match r {
                Ok(_) => Ok(String::new()),
                Err(e) => stopped_follow(&ctx, h, e).map(|_| String::new()),
            };
        }
        let key = json!(["k8s.logs", call.ns, pod, container, tail, since_seconds, previous]);
        let s: String = call.read(&ctx, key, &format!("reading the log of `{pod}`"), None, || {
            call.c.logs_with(&call.ns, pod, &container, &o)
        })?;
        Ok(call.h.secrets().redact(&s))
    }

    /// A pod the way `kubectl describe pod` shows it: status, node, IP, each container's
    /// state, readiness, restarts and image, the conditions, and the pod's events.
    /// ```rhai
    /// k8s::describe("vantiq-0")
    /// ```
    #[rhai_fn(return_raw, name = "describe")]
    pub fn describe(ctx: NativeCallContext, pod: &str) -> RhaiResultOf<String> {
        describe_in(ctx, pod, Map::new())
    }

    /// A pod with its events, with options (`ns`).
    #[rhai_fn(return_raw, name = "describe")]
    pub fn describe_in(ctx: NativeCallContext, pod: &str, opts: Map) -> RhaiResultOf<String> {
        let pods = K8sClient::kind("Pod").or_fail(&ctx)?;
        let events = K8sClient::kind("Event").or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let key = json!(["k8s.get", "Pod", call.ns, pod]);
        let p: Value = call.read(&ctx, key, &format!("reading pod `{pod}`"), None, || {
            call.c.get_required(&pods, &call.ns, pod)
        })?;
        let key = json!(["k8s.list", "Event", call.ns, ""]);
        let all: Vec<Value> = call.read(&ctx, key, "reading the events", None, || call.c.list(&events, &call.ns, ""))?;
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|e| e["involvedObject"]["name"] == pod && e["involvedObject"]["kind"].as_str().is_none_or(|k| k == "Pod"))
            .collect();
        Ok(call.h.secrets().redact(&crate::k8s::describe::pod(&p, &mine)))
    }

    /// Follows a container's log (like `kubectl logs -f POD -c CONTAINER`), printing each
    /// line, until a line matches `until` (a regex; returned), the log ends, or `timeout`
    /// seconds pass. Waits for the pod and container to start first. An empty `until`
    /// follows to the end.
    /// ```rhai
    /// k8s::follow_logs("vantiq-0", "load-model", "COMPLETED", 1800);
    /// ```
    #[rhai_fn(return_raw, name = "follow_logs")]
    pub fn follow_logs(ctx: NativeCallContext, pod: &str, container: &str, until: &str, timeout: i64) -> RhaiResultOf<String> {
        follow_logs_in(ctx, pod, container, until, timeout, Map::new())
    }

    /// Follows a log, with options: `fail` (a regex: a matching line fails the call),
    /// `quiet` (don't print lines), `ns`.
    #[rhai_fn(return_raw, name = "follow_logs")]
    pub fn follow_logs_in(
        ctx: NativeCallContext,
        pod: &str,
        container: &str,
        until: &str,
        timeout: i64,
        opts: Map,
    ) -> RhaiResultOf<String> {
        let limit = secs(&ctx, timeout)?;
        let until_re = if until.is_empty() {
            None
        } else {
            Some(regex::Regex::new(until).map_err(|e| fail(&ctx, format!("bad regex `{until}`: {e}")))?)
        };
        let fail_re = match opts.get("fail").map(|v| v.to_string()) {
            Some(f) if !f.is_empty() => Some(regex::Regex::new(&f).map_err(|e| fail(&ctx, format!("bad regex `{f}`: {e}")))?),
            _ => None,
        };
        let quiet = opts.get("quiet").and_then(|v| v.as_bool().ok()).unwrap_or(false);
        let Call { h, c, ns } = call(&ctx, &opts)?;
        if h.dry_run() {
            h.say("  ~", "36", &format!("would follow the log of {ns}/{pod} container {container}"));
            return Ok(String::new());
        }
        let what = format!("following the log of `{ns}/{pod}` container `{container}` until /{until}/");
        let hh = h.clone();
        let key = json!([
            "k8s.follow_logs",
            ns,
            pod,
            container,
            until,
            opts.get("fail").map(|v| v.to_string())
        ]);
        let r = h.observe(key, || {
            h.block(
                &what,
                limit,
                c.follow_logs(&ns, pod, container, |line| {
                    if !quiet {
                        hh.say("  │", "2", line);
                    }
                    hh.progress_event(line);
                    if let Some(f) = &fail_re
                        && f.is_match(line)
                    {
                        return Some(Err(line.to_owned()));
                    }
                    match &until_re {
                        Some(u) if u.is_match(line) => Some(Ok(line.to_owned())),
                        _ => None,
                    }
                }),
            )
        });
        match r {
            Ok(Some(Ok(line))) => Ok(line),
            Ok(Some(Err(line))) => Err(fail(
                &ctx,
                format!(
                    "the log of `{pod}` container `{container}` reports a failure: {}",
                    h.secrets().redact(&line)
                ),
            )),
            Ok(None) if until_re.is_none() => Ok(String::new()),
            Ok(None) => Err(fail(
                &ctx,
                format!("the log of `{pod}` container `{container}` ended without a line matching /{until}/"),
            )),
            Err(crate::engine::GateError::Failed(e @ BlockError::Cancelled(_))) => stopped_follow(&ctx, &h, e).map(|_| String::new()),
            Err(e) => Err(fail(&ctx, e)),
        }
    }

    /// Applies a JSON merge patch (a map) to an object.
    /// ```rhai
    /// k8s::patch("StatefulSet", "vantiq", #{ metadata: #{ annotations: #{ note: "maintenance" } } });
    /// ```
    #[rhai_fn(return_raw, name = "patch")]
    pub fn patch(ctx: NativeCallContext, kind: &str, name: &str, patch: Map) -> RhaiResultOf<Dynamic> {
        patch_in(ctx, kind, name, patch, Map::new())
    }

    /// Applies a merge patch, with options.
    #[rhai_fn(return_raw, name = "patch")]
    pub fn patch_in(ctx: NativeCallContext, kind: &str, name: &str, patch: Map, opts: Map) -> RhaiResultOf<Dynamic> {
        let k = K8sClient::kind(kind).or_fail(&ctx)?;
        let p: Value = rhai::serde::from_dynamic(&Dynamic::from_map(patch))?;
        let call = call(&ctx, &opts)?;
        let (h, c, ns) = (&call.h, &call.c, &call.ns);
        let change = Change::new("k8s.patch", format!("{} {ns}/{name}", k.ar.kind))
            .detail(p.clone())
            .after(p.clone());
        let v: Value = call.write(&ctx, change, |dry, _| {
            h.block(&format!("patching {kind} `{name}`"), REQUEST, c.patch(&k, ns, name, &p, dry))
        })?;
        to_dyn(v)
    }

    /// Deletes an object (`#{ propagation: "Orphan" }` keeps its pods, like `--cascade=orphan`).
    /// ```rhai
    /// k8s::delete("StatefulSet", "influxdb", #{ ns: "shared", propagation: "Orphan" });
    /// ```
    #[rhai_fn(return_raw, name = "delete")]
    pub fn delete(ctx: NativeCallContext, kind: &str, name: &str) -> RhaiResultOf<()> {
        delete_in(ctx, kind, name, Map::new())
    }

    /// Deletes an object, with options (`ns`, `propagation`).
    #[rhai_fn(return_raw, name = "delete")]
    pub fn delete_in(ctx: NativeCallContext, kind: &str, name: &str, opts: Map) -> RhaiResultOf<()> {
        let k = K8sClient::kind(kind).or_fail(&ctx)?;
        let prop = opts.get("propagation").map(|v| v.to_string());
        let call = call(&ctx, &opts)?;
        let (h, c, ns) = (&call.h, &call.c, &call.ns);
        let change = Change::new("k8s.delete", format!("{} {ns}/{name}", k.ar.kind))
            .detail(json!(prop))
            .after(prop.as_ref().map(|p| json!(format!("propagation {p}"))));
        call.write(&ctx, change, |dry, plan| {
            match h.block(
                &format!("deleting {kind} `{name}`"),
                REQUEST,
                c.delete(&k, ns, name, prop.as_deref(), dry),
            ) {
                // Carried out again after a crash: the first attempt deleted it.
                Err(BlockError::Inner(K8sError::NotFound { .. })) if plan["again"] == true => Ok(()),
                r => r,
            }
        })
    }

    /// Waits until an object no longer exists.
    #[rhai_fn(return_raw, name = "wait_deleted")]
    pub fn wait_deleted(ctx: NativeCallContext, kind: &str, name: &str, timeout: i64, opts: Map) -> RhaiResultOf<()> {
        let limit = secs(&ctx, timeout)?;
        let k = K8sClient::kind(kind).or_fail(&ctx)?;
        let Call { h, c, ns } = call(&ctx, &opts)?;
        if h.dry_run() {
            return Ok(());
        }
        let key = json!(["k8s.wait_deleted", k.ar.kind, ns, name]);
        h.observe(key, || {
            h.block(
                &format!("waiting for {kind} `{ns}/{name}` to be deleted"),
                limit,
                c.wait_for(&k, &ns, name, |o| if o.is_none() { Check::Done(()) } else { Check::Pending }),
            )
        })
        .or_fail(&ctx)
    }

    /// Asks for a bigger PersistentVolumeClaim (`spec.resources.requests.storage`); the
    /// server refuses unless its StorageClass allows volume expansion.
    /// ```rhai
    /// k8s::pvc_resize("influxdb-data-influxdb-0", "55Gi", k8s::ns("shared"));
    /// ```
    #[rhai_fn(return_raw, name = "pvc_resize")]
    pub fn pvc_resize(ctx: NativeCallContext, pvc: &str, size: &str, opts: Map) -> RhaiResultOf<()> {
        if quantity_bytes(size).is_none() {
            return Err(fail(&ctx, format!("`{size}` is not a storage size (e.g. 55Gi)")));
        }
        let k = K8sClient::kind("pvc").or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let (h, c, ns) = (&call.h, &call.c, &call.ns);
        let before = h
            .block(
                &format!("reading PersistentVolumeClaim `{pvc}`"),
                REQUEST,
                c.get_required(&k, ns, pvc),
            )
            .ok()
            .map(|cur| cur["spec"]["resources"]["requests"]["storage"].clone());
        let p = json!({"spec": {"resources": {"requests": {"storage": size}}}});
        let change = Change::new("k8s.pvc_resize", format!("PersistentVolumeClaim {ns}/{pvc}"))
            .detail(json!(size))
            .before(before)
            .after(json!(size));
        call.write(&ctx, change, |dry, _| {
            h.block(
                &format!("resizing PersistentVolumeClaim `{pvc}`"),
                REQUEST,
                c.patch(&k, ns, pvc, &p, dry),
            )
            .map(|_| ())
        })
    }

    /// Waits until a PersistentVolumeClaim's `status.capacity.storage` reaches `size`.
    /// ```rhai
    /// k8s::wait_pvc_capacity("influxdb-data-influxdb-0", "55Gi", 600, k8s::ns("shared"));
    /// ```
    #[rhai_fn(return_raw, name = "wait_pvc_capacity")]
    pub fn wait_pvc_capacity(ctx: NativeCallContext, pvc: &str, size: &str, timeout: i64, opts: Map) -> RhaiResultOf<()> {
        let limit = secs(&ctx, timeout)?;
        let want = quantity_bytes(size).ok_or_else(|| fail(&ctx, format!("`{size}` is not a storage size (e.g. 55Gi)")))?;
        let k = K8sClient::kind("pvc").or_fail(&ctx)?;
        let Call { h, c, ns } = call(&ctx, &opts)?;
        if h.dry_run() {
            return Ok(());
        }
        let last = std::sync::Mutex::new(String::from("unknown"));
        let key = json!(["k8s.wait_pvc_capacity", ns, pvc, size]);
        let r = h.observe(key, || {
            h.block(
                &format!("waiting for PersistentVolumeClaim `{ns}/{pvc}` to reach {size}"),
                limit,
                c.wait_for(&k, &ns, pvc, |o| match o {
                    None => Check::Failed(format!("PersistentVolumeClaim `{pvc}` not found in namespace `{ns}`")),
                    Some(o) => {
                        let cap = o["status"]["capacity"]["storage"].as_str().unwrap_or("").to_owned();
                        let ok = quantity_bytes(&cap).is_some_and(|b| b >= want);
                        h.progress_event(&format!("capacity {}", if cap.is_empty() { "unknown" } else { &cap }));
                        *last.lock().unwrap() = cap;
                        if ok { Check::Done(()) } else { Check::Pending }
                    }
                }),
            )
        });
        r.map_err(|e| fail(&ctx, format!("{e} (capacity last seen: {})", last.lock().unwrap())))
    }

    /// Waits until a pod exists and is Ready.
    #[rhai_fn(return_raw, name = "wait_pod_ready")]
    pub fn wait_pod_ready(ctx: NativeCallContext, pod: &str, timeout: i64) -> RhaiResultOf<()> {
        let limit = secs(&ctx, timeout)?;
        let k = K8sClient::kind("Pod").or_fail(&ctx)?;
        let Call { h, c, ns } = call(&ctx, &Map::new())?;
        if h.dry_run() {
            return Ok(());
        }
        let key = json!(["k8s.wait_pod_ready", ns, pod]);
        h.observe(key, || {
            h.block(
                &format!("waiting for pod `{ns}/{pod}` to be ready"),
                limit,
                c.wait_for(&k, &ns, pod, |o| {
                    h.progress_event(&match o {
                        None => "not created yet".to_owned(),
                        Some(o) => format!("pod {}", crate::k8s::client::pod_phase(o)),
                    });
                    let ready = o
                        .and_then(|o| o["status"]["conditions"].as_array().cloned())
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True");
                    if ready { Check::Done(()) } else { Check::Pending }
                }),
            )
        })
        .or_fail(&ctx)
    }

    /// A Secret's data, decoded: `#{ "tls.crt": <secret>, ... }`. Each value is a secret:
    /// it shows as `<secret: N bytes, sha256 …>` and can be compared, fingerprinted or
    /// written to a file, never printed.
    /// ```rhai
    /// let keys = k8s::secret("vantiq-license").keys();
    /// ```
    #[rhai_fn(return_raw, name = "secret")]
    pub fn secret(ctx: NativeCallContext, name: &str) -> RhaiResultOf<Map> {
        secret_in(ctx, name, Map::new())
    }

    /// A Secret's decoded data, with options.
    #[rhai_fn(return_raw, name = "secret")]
    pub fn secret_in(ctx: NativeCallContext, name: &str, opts: Map) -> RhaiResultOf<Map> {
        let k = K8sClient::kind("Secret").or_fail(&ctx)?;
        let call = call(&ctx, &opts)?;
        let key = json!(["k8s.get", "Secret", call.ns, name]);
        let v: Value = call.read(&ctx, key, &format!("reading Secret `{name}`"), None, || {
            call.c.get_required(&k, &call.ns, name)
        })?;
        let obj = secret_object(&call.h, v)?;
        let data = obj.read_lock::<Map>().and_then(|m| m.get("data").cloned()).unwrap_or_default();
        Ok(data.try_cast::<Map>().unwrap_or_default())
    }

    /// The API server's version (`v1.32.4`).
    #[rhai_fn(return_raw)]
    pub fn server_version(ctx: NativeCallContext) -> RhaiResultOf<String> {
        let call = call(&ctx, &Map::new())?;
        call.read(&ctx, json!(["k8s.server_version"]), "reading the server version", None, || {
            call.c.version()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::quantity_bytes;

    #[test]
    fn quantities_compare_across_units() {
        assert_eq!(quantity_bytes("1Gi"), Some(1073741824.0));
        assert!(quantity_bytes("55Gi").unwrap() > quantity_bytes("50Gi").unwrap());
        assert!(quantity_bytes("1G").unwrap() < quantity_bytes("1Gi").unwrap());
        assert_eq!(quantity_bytes("bogus"), None);
    }
}
