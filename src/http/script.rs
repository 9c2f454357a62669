//! The `http` script module: options → `client::Request`, secrets, dry run.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, Map, NativeCallContext};
use serde_json::json;

use crate::engine::{Host, RhaiResultOf, fail, host};
use crate::files::shown;
use crate::http::client::{self as c, Body, Request};
use crate::http::connect;
use crate::http::vantiq as v;

const OPTIONS: &[&str] = &[
    "timeout",
    "headers",
    "bearer",
    "bearer_file",
    "basic",
    "json",
    "body",
    "ca",
    "insecure",
    "resolve",
    "expect",
];

fn opt_string(ctx: &NativeCallContext, v: &Dynamic, key: &str) -> RhaiResultOf<String> {
    if v.is_string() {
        Ok(v.to_string())
    } else {
        Err(fail(ctx, format!("option `{key}` must be a string, not {}", v.type_name())))
    }
}

fn read_secret_file(ctx: &NativeCallContext, h: &Host, path: &str, what: &str) -> RhaiResultOf<String> {
    let p = h.path(path);
    let s = std::fs::read_to_string(&p).map_err(|e| {
        fail(
            ctx,
            shown(h, format!("cannot read the {what} file `{}`: {}", p.display(), e.kind())),
        )
    })?;
    let s = s.trim().to_owned();
    h.secrets().add(&s);
    Ok(s)
}

/// Builds a request from script options.
fn build(ctx: &NativeCallContext, h: &Host, method: &str, url: &str, body: Option<Dynamic>, opts: &Map) -> RhaiResultOf<Request> {
    if let Some(k) = opts.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
        return Err(fail(ctx, format!("unknown option `{k}` for http (known: {})", OPTIONS.join(", "))));
    }
    let mut req = Request::new(method, url);
    let (_, url_port) = v::host_port(url).ok_or_else(|| fail(ctx, format!("invalid URL `{}`", c::public_url(url))))?;
    if let Some(t) = opts.get("timeout") {
        let secs = if let Ok(i) = t.as_int() {
            u64::try_from(i).map_err(|_| fail(ctx, "option `timeout` must be positive seconds"))? as f64
        } else {
            t.as_float()
                .map_err(|_| fail(ctx, format!("option `timeout` must be seconds, not {}", t.type_name())))?
        };
        if secs <= 0.0 {
            return Err(fail(ctx, "option `timeout` must be positive seconds"));
        }
        req.timeout = Duration::from_secs_f64(secs);
    }
    if let Some(hs) = opts.get("headers") {
        let m = hs
            .clone()
            .try_cast::<Map>()
            .ok_or_else(|| fail(ctx, "option `headers` must be a map"))?;
        for (k, v) in m {
            req.headers.push((k.to_string(), v.to_string()));
        }
    }
    if let Some(b) = opts.get("bearer") {
        let t = opt_string(ctx, b, "bearer")?;
        h.secrets().add(&t);
        req.bearer = Some(t);
    }
    if let Some(f) = opts.get("bearer_file") {
        req.bearer = Some(read_secret_file(ctx, h, &opt_string(ctx, f, "bearer_file")?, "token")?);
    }
    if let Some(b) = opts.get("basic") {
        let a = b
            .clone()
            .try_cast::<rhai::Array>()
            .filter(|a| a.len() == 2)
            .ok_or_else(|| fail(ctx, "option `basic` must be [user, password]"))?;
        let pass = a[1].to_string();
        h.secrets().add(&pass);
        req.basic = Some((a[0].to_string(), pass));
    }
    let body = body.or_else(|| opts.get("json").cloned()).or_else(|| opts.get("body").cloned());
    if let Some(b) = body {
        req.body = Some(if b.is_string() {
            Body::Text(b.to_string())
        } else {
            Body::Json(rhai::serde::from_dynamic(&b).map_err(|e| fail(ctx, format!("the request body cannot be sent as JSON: {e}")))?)
        });
    }
    if let Some(ca) = opts.get("ca") {
        let p = h.path(&opt_string(ctx, ca, "ca")?);
        req.ca =
            Some(std::fs::read(&p).map_err(|e| fail(ctx, shown(h, format!("cannot read the CA file `{}`: {}", p.display(), e.kind()))))?);
    }
    if let Some(i) = opts.get("insecure") {
        req.insecure = i
            .as_bool()
            .map_err(|t| fail(ctx, format!("option `insecure` must be a bool, not {t}")))?;
    }
    if let Some(r) = opts.get("resolve") {
        let specs: Vec<String> = match r.clone().try_cast::<rhai::Array>() {
            Some(a) => a.iter().map(|x| x.to_string()).collect(),
            None => vec![opt_string(ctx, r, "resolve")?],
        };
        for s in specs {
            req.resolve.push(connect::parse_resolve(&s, url_port).map_err(|e| fail(ctx, e))?);
        }
    }
    // The Vantiq host: reached where the configuration says, trusting its CA.
    v::apply_endpoint(h, &mut req);
    if let Some(e) = opts.get("expect") {
        let codes: Vec<Dynamic> = e.clone().try_cast::<rhai::Array>().unwrap_or_else(|| vec![e.clone()]);
        for c in codes {
            let i = c
                .as_int()
                .map_err(|_| fail(ctx, "option `expect` must be a status code or a list of them"))?;
            req.expect
                .push(u16::try_from(i).map_err(|_| fail(ctx, format!("`{i}` is not an HTTP status")))?);
        }
    }
    Ok(req)
}

/// Sends a request (reads always; writes recorded, and skipped under `--dry-run`).
fn send(ctx: &NativeCallContext, method: &str, url: &str, body: Option<Dynamic>, opts: &Map) -> RhaiResultOf<Dynamic> {
    let h = host(ctx)?;
    let req = build(ctx, &h, method, url, body, opts)?;
    send_req(ctx, &h, req)
}

fn send_req(ctx: &NativeCallContext, h: &Host, req: Request) -> RhaiResultOf<Dynamic> {
    let read_only = matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let target = c::public_url(&req.url);
    let action = format!("http.{}", req.method.to_ascii_lowercase());
    let what = format!("{} {target}", req.method);
    let limit = req.timeout + Duration::from_secs(5);
    if read_only {
        let resp = h
            .block(&what, limit, c::send(req))
            .map_err(|e| fail(ctx, h.secrets().redact(&e.to_string())))?;
        return rhai::serde::to_dynamic(resp);
    }
    let change = crate::engine::Change::new(&action, target.clone()).detail(json!(req.method));
    let resp = h
        .change(change, |mode, _| match mode {
            crate::engine::Mode::DryRun => Ok(None),
            crate::engine::Mode::Real => h
                .block(&what, limit, c::send(req))
                .map(|r| Some(serde_json::to_value(r).unwrap_or_default())),
        })
        .map_err(|e| fail(ctx, h.secrets().redact(&e.to_string())))?;
    match resp {
        Some(v) => rhai::serde::to_dynamic(v),
        None => {
            let mut m = Map::new();
            m.insert("status".into(), Dynamic::UNIT);
            m.insert("headers".into(), Map::new().into());
            m.insert("body".into(), "".into());
            m.insert("json".into(), Dynamic::UNIT);
            m.insert("dry_run".into(), true.into());
            Ok(m.into())
        }
    }
}

fn vantiq_impl(ctx: &NativeCallContext, path: &str, opts: &Map) -> RhaiResultOf<Dynamic> {
    let h = host(ctx)?;
    let plan = v::plan(&h).map_err(|e| fail(ctx, e))?;
    let url = plan.url(path);
    let mut req = build(ctx, &h, "GET", &url, None, opts)?;
    let explicit = req.bearer.is_some() || req.basic.is_some();
    if explicit && plan.base.scheme() == "http" && !h.vantiq().allow_insecure_http_credentials {
        return Err(fail(
            ctx,
            "credentials go to the Vantiq server only over https: [vantiq] url is plain http (set `allow_insecure_http_credentials = true` to allow it)",
        ));
    }
    if !explicit {
        req.bearer = v::access_token(&h, &plan).map_err(|e| fail(ctx, e))?;
    }
    req.https_redirects_only = !h.vantiq().allow_insecure_http_credentials;
    send_req(ctx, &h, req)
}

fn to_dynamic<T: serde::Serialize>(ctx: &NativeCallContext, v: T) -> RhaiResultOf<Dynamic> {
    rhai::serde::to_dynamic(v).map_err(|e| fail(ctx, e))
}

#[export_module]
pub mod http {
    use super::*;

    /// GET a URL → `#{ status, headers, body, json }` (`json` is `()` unless the body is JSON).
    /// Fails on timeouts (30 s), refused connections and TLS errors, not on HTTP statuses
    /// unless `expect` is given.
    /// ```rhai
    /// let r = http::get("https://vantiq.example.com/api/v1/about");
    /// print(r.status);
    /// ```
    #[rhai_fn(return_raw, name = "get")]
    pub fn get(ctx: NativeCallContext, url: &str) -> RhaiResultOf<Dynamic> {
        send(&ctx, "GET", url, None, &Map::new())
    }

    /// GET with options: `timeout` (seconds), `headers` (map), `bearer` or `bearer_file`
    /// (the token is read in Rust and never shown), `basic: [user, password]`, `ca` (extra
    /// root certificate PEM), `insecure: true` (no TLS verification), `resolve:
    /// "host:port=addr:port"`, `expect: 200` (or a list).
    /// ```rhai
    /// let r = http::get("https://vantiq.example.com/api/v1/about", #{ bearer_file: "secrets/token", expect: 200, timeout: 10 });
    /// print(r.json.serverBuildVersion);
    /// ```
    #[rhai_fn(return_raw, name = "get")]
    pub fn get_with(ctx: NativeCallContext, url: &str, opts: Map) -> RhaiResultOf<Dynamic> {
        send(&ctx, "GET", url, None, &opts)
    }

    /// POST a body: a string is sent as is, a map or array as JSON. Recorded as a side
    /// effect; under `--dry-run` it is not sent and `status` is `()`.
    /// ```rhai
    /// http::post("https://hooks.example.com/notify", #{ text: "maintenance started" });
    /// ```
    #[rhai_fn(return_raw, name = "post")]
    pub fn post(ctx: NativeCallContext, url: &str, body: Dynamic) -> RhaiResultOf<Dynamic> {
        send(&ctx, "POST", url, Some(body), &Map::new())
    }

    /// POST with the same options as `get`.
    /// ```rhai
    /// let r = http::post("https://hooks.example.com/notify", #{ text: "done" }, #{ bearer_file: "secrets/hook", expect: [200, 204] });
    /// ```
    #[rhai_fn(return_raw, name = "post")]
    pub fn post_with(ctx: NativeCallContext, url: &str, body: Dynamic, opts: Map) -> RhaiResultOf<Dynamic> {
        send(&ctx, "POST", url, Some(body), &opts)
    }

    /// Any method (`PUT`, `DELETE`, `PATCH`, `HEAD`…) with options; the body comes from
    /// `json` or `body`. Methods other than GET/HEAD/OPTIONS are skipped under `--dry-run`.
    /// ```rhai
    /// http::request("DELETE", "https://hooks.example.com/items/7", #{ expect: [200, 204] });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn request(ctx: NativeCallContext, method: &str, url: &str, opts: Map) -> RhaiResultOf<Dynamic> {
        send(&ctx, method, url, None, &opts)
    }

    /// GET on the Vantiq server: the configured URL + `path`, with its access token, CA
    /// and address (`[vantiq]` in vscript.toml, or the rehearsal's simulator).
    /// ```rhai
    /// let about = http::vantiq("/api/v1/about");
    /// ```
    #[rhai_fn(return_raw, name = "vantiq")]
    pub fn vantiq(ctx: NativeCallContext, path: &str) -> RhaiResultOf<Dynamic> {
        vantiq_impl(&ctx, path, &Map::new())
    }

    /// `vantiq(path)` with the options of `get`.
    /// ```rhai
    /// let about = http::vantiq("/api/v1/about", #{ expect: 200, timeout: 10 });
    /// print(about.json.serverBuildVersion);
    /// ```
    #[rhai_fn(return_raw, name = "vantiq")]
    pub fn vantiq_with(ctx: NativeCallContext, path: &str, opts: Map) -> RhaiResultOf<Dynamic> {
        vantiq_impl(&ctx, path, &opts)
    }

    /// Whether the IDE login can be checked, without sending anything: `#{ ready, problem,
    /// url, auth, user }` — `ready` is false and `problem` says why when no URL or no
    /// credentials are configured, a credentials file or variable cannot be read, or the URL
    /// is plain http without `allow_insecure_http_credentials`.
    /// ```rhai
    /// let s = http::vantiq_login_ready();
    /// if !s.ready { fail(`the IDE login cannot be checked: ${s.problem}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn vantiq_login_ready(ctx: NativeCallContext) -> RhaiResultOf<Map> {
        let h = host(&ctx)?;
        let mut m = Map::new();
        match v::login_plan(&h) {
            Ok(p) => {
                m.insert("ready".into(), true.into());
                m.insert("problem".into(), Dynamic::UNIT);
                m.insert("url".into(), c::public_url(p.base.as_str()).into());
                m.insert("auth".into(), p.auth_kind().into());
                m.insert(
                    "user".into(),
                    p.user().map(|u| Dynamic::from(u.to_owned())).unwrap_or(Dynamic::UNIT),
                );
            }
            Err(e) => {
                m.insert("ready".into(), false.into());
                m.insert("problem".into(), h.secrets().redact(&e).into());
                m.insert(
                    "url".into(),
                    h.vantiq()
                        .url
                        .as_deref()
                        .map(|u| Dynamic::from(c::public_url(u)))
                        .unwrap_or(Dynamic::UNIT),
                );
                m.insert("auth".into(), Dynamic::UNIT);
                m.insert("user".into(), h.vantiq().user.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT));
            }
        }
        Ok(m)
    }

    /// The IDE login check as the public Vantiq SDKs log in: `GET /authenticate` with the
    /// configured user and password (HTTP Basic; or the configured access token), then one
    /// authenticated `GET /api/v1/resources/<check_resource>?count=true`. Returns `#{ url,
    /// user, auth, resource, count }`; fails naming the URL and the server's reason, never
    /// a credential.
    /// ```rhai
    /// let r = http::vantiq_login();
    /// info(`logged in as ${r.user}: ${r.count} ${r.resource}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn vantiq_login(ctx: NativeCallContext) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        let r = v::login(&h).map_err(|e| fail(&ctx, h.secrets().redact(&e)))?;
        to_dynamic(&ctx, r)
    }

    /// What the configured About endpoint answers (`[vantiq.about]` in vscript.toml, an
    /// endpoint the public SDKs do not show): `#{ path, server_version, license_expiration,
    /// license_issued_to, license_id }` (`()` for a field it does not give), or `()` when no
    /// such endpoint is configured.
    /// ```rhai
    /// let a = http::vantiq_about();
    /// if a != () { info(`server ${a.server_version}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn vantiq_about(ctx: NativeCallContext) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        match v::about(&h).map_err(|e| fail(&ctx, h.secrets().redact(&e)))? {
            Some(a) => to_dynamic(&ctx, a),
            None => Ok(Dynamic::UNIT),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rhai::{Dynamic, Engine};

    use crate::engine::Host;

    fn engine(h: Host) -> (Engine, Arc<Host>) {
        let host = Arc::new(h);
        let mut engine = Engine::new();
        engine.set_default_tag(Dynamic::from(host.clone()));
        crate::http::register(&mut engine);
        (engine, host)
    }

    #[test]
    fn scripts_call_the_vantiq_api_with_the_token_file() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let addr = rt.block_on(crate::http::client::tests::serve());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "sekret-token-123\n").unwrap();
        let mut h = Host::new(rt.handle().clone());
        h.out_mut().quiet = true;
        h.target_mut().tools_dir = Some(dir.path().to_owned());
        h.reset_sandbox();
        h.opts_mut().vantiq.url = Some(format!("http://vantiq.example.test:{}", addr.port()));
        h.opts_mut().vantiq.connect = Some(format!("vantiq.example.test={addr}"));
        h.opts_mut().vantiq.token_file = Some(dir.path().join("token"));
        // The test server is plain http: credentials go there only with the opt-in.
        h.opts_mut().vantiq.allow_insecure_http_credentials = true;
        let (engine, host) = engine(h);
        let r: rhai::Map = engine.eval(r#"http::vantiq("/auth", #{ expect: 200 })"#).unwrap();
        assert_eq!(r["body"].to_string(), "welcome");
        let v: String = engine.eval(r#"http::vantiq("json").json.serverBuildVersion"#).unwrap();
        assert_eq!(v, "1.40.0");
        assert_eq!(host.secrets().redact("sekret-token-123"), "***");
        // a failing call names method and URL, never the token
        let e = engine
            .eval::<Dynamic>(r#"http::get("http://127.0.0.1:1/auth", #{ bearer: "sekret-token-123", timeout: 2 })"#)
            .expect_err("port 0 cannot be reached");
        assert!(e.to_string().contains("GET http://127.0.0.1:1/auth"), "{e}");
        assert!(!e.to_string().contains("sekret-token-123"), "{e}");
        let e = engine
            .eval::<Dynamic>(&format!(r#"http::get("http://{addr}/auth", #{{ expect: 200 }})"#))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("GET http://{addr}/auth: expected status 200, got 401 Unauthorized")),
            "{e}"
        );
        // a POST under dry run is recorded, not sent
        drop(engine);
        let mut h = Host::new(rt.handle().clone());
        h.out_mut().quiet = true;
        h.opts_mut().dry_run = true;
        let (engine, host) = self::engine(h);
        let r: rhai::Map = engine
            .eval(&format!(r#"http::post("http://{addr}/echo", #{{ a: 1 }}, #{{ expect: 200 }})"#))
            .unwrap();
        assert!(r["status"].is_unit());
        assert_eq!(host.state().effects()[0].result, "dry-run");
        let r: rhai::Map = engine
            .eval(&format!(
                r#"http::get("http://{addr}/json", #{{ headers: #{{ "X-A": "1" }}, timeout: 5 }})"#
            ))
            .unwrap();
        assert_eq!(r["status"].as_int().unwrap(), 200);
        let e = engine
            .eval::<Dynamic>(r#"http::get("http://x/", #{ tmeout: 5 })"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown option `tmeout`"), "{e}");
    }
}
