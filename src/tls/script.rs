//! The `cert` and `license` script modules: type conversion and secrets only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, Map, NativeCallContext};

use crate::engine::{Host, RhaiResultOf, fail, host};
use crate::files::shown;
use crate::http::connect::split_host_port;
use crate::tls::remote::{self, RemoteOpts};
use crate::tls::{checks as c, license as l, pem};

/// Registers a key file's content as a secret, so it can never be printed.
fn protect_key(h: &Host, path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        h.secrets().add(&text);
    }
}

fn to_map<T: serde::Serialize>(ctx: &NativeCallContext, v: T) -> RhaiResultOf<Dynamic> {
    rhai::serde::to_dynamic(v).map_err(|e| fail(ctx, e))
}

fn opt_str(ctx: &NativeCallContext, opts: &Map, key: &str) -> RhaiResultOf<Option<String>> {
    match opts.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.to_string())),
        Some(v) => Err(fail(ctx, format!("option `{key}` must be a string, not {}", v.type_name()))),
    }
}

fn check_keys(ctx: &NativeCallContext, f: &str, opts: &Map, known: &[&str]) -> RhaiResultOf<()> {
    match opts.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(fail(ctx, format!("unknown option `{k}` for {f} (known: {})", known.join(", ")))),
        None => Ok(()),
    }
}

/// A file a script reads: refused outside the installation (the sandbox).
fn resolve(ctx: &NativeCallContext, h: &Host, p: &str) -> RhaiResultOf<PathBuf> {
    h.sandbox().readable(&h.path(p)).map_err(|e| fail(ctx, shown(h, e)))
}

fn remote_impl(ctx: &NativeCallContext, target: &str, opts: &Map) -> RhaiResultOf<Dynamic> {
    let h = host(ctx)?;
    check_keys(ctx, "cert::remote", opts, &["sni", "connect", "ca", "timeout"])?;
    let timeout = match opts.get("timeout") {
        None => 15,
        Some(v) => v
            .as_int()
            .map_err(|t| fail(ctx, format!("option `timeout` must be seconds (an integer), not {t}")))?,
    };
    let mut o = RemoteOpts {
        sni: opt_str(ctx, opts, "sni")?,
        connect: opt_str(ctx, opts, "connect")?,
        ca: None,
    };
    if let Some(ca) = opt_str(ctx, opts, "ca")? {
        o.ca = Some(pem::read(&h.path(&ca)).map_err(|e| fail(ctx, shown(&h, e)))?);
    } else if let Some(ca) = &h.vantiq().ca {
        // The customer's CA ([vantiq] ca) besides the system's trust store, as their
        // browsers trust it.
        o.ca = std::fs::read(h.path(&ca.display().to_string())).ok();
    }
    // The Vantiq host goes where the configuration says (like curl --resolve).
    if o.connect.is_none()
        && let Some((name, addr)) = h.vantiq().connect.as_deref().and_then(|c| c.split_once('='))
    {
        let (th, tp) = split_host_port(target);
        let (nh, np) = split_host_port(name);
        if th.eq_ignore_ascii_case(&nh) && (!name.contains(':') || np == tp) {
            o.connect = Some(if addr.contains(':') {
                addr.to_owned()
            } else {
                format!("{addr}:{tp}")
            });
        }
    }
    let what = format!("getting the certificate of `{target}`");
    let secs = u64::try_from(timeout.max(1)).unwrap_or(15);
    let r = h
        .block(&what, Duration::from_secs(secs), remote::remote(target, &o))
        .map_err(|e| fail(ctx, e))?;
    to_map(ctx, r)
}

#[export_module]
pub mod cert {
    use super::*;

    /// The certificates of a PEM file: the first one's `subject`, `issuer`, `sans`,
    /// `not_before`, `not_after` (RFC 3339), `days_left`, `serial`, `sha256` (fingerprint),
    /// `is_ca`, `self_signed`, `key`, plus `chain_length` and `chain` (the same fields for each).
    /// ```rhai
    /// let c = cert::inspect("targetCluster/deploy/sensitive/fullchain.crt");
    /// info(`${c.subject} expires ${c.not_after} (${c.days_left} days)`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn inspect(ctx: NativeCallContext, file: &str) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        let r = c::inspect(&resolve(&ctx, &h, file)?).map_err(|e| fail(&ctx, shown(&h, e)))?;
        to_map(&ctx, r)
    }

    /// SHA-256 fingerprint of the first certificate (`AB:CD:…`, as `openssl x509 -fingerprint -sha256`);
    /// compare it with `cert::remote(...).sha256`.
    /// ```rhai
    /// let want = cert::fingerprint("targetCluster/deploy/sensitive/fullchain.crt");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn fingerprint(ctx: NativeCallContext, file: &str) -> RhaiResultOf<String> {
        let h = host(&ctx)?;
        let certs = c::load(&resolve(&ctx, &h, file)?).map_err(|e| fail(&ctx, shown(&h, e)))?;
        Ok(certs[0].info.sha256.clone())
    }

    /// `true` when the private key belongs to the (first) certificate; fails with
    /// "private key `…` does not match certificate `…`" otherwise. PKCS#8, SEC1
    /// (`EC PRIVATE KEY`) and PKCS#1 (`RSA PRIVATE KEY`) keys; key content is never shown.
    /// ```rhai
    /// cert::check_pair("new/fullchain.crt", "new/private.key");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check_pair(ctx: NativeCallContext, cert_file: &str, key_file: &str) -> RhaiResultOf<bool> {
        let h = host(&ctx)?;
        let key = resolve(&ctx, &h, key_file)?;
        protect_key(&h, &key);
        c::check_pair(&resolve(&ctx, &h, cert_file)?, &key).map_err(|e| fail(&ctx, shown(&h, e)))?;
        Ok(true)
    }

    /// Checks a full chain file: the server certificate first, each certificate issued
    /// (signature verified) by the next, no intermediate missing, none expired. Returns
    /// `#{ ok, length, leaf, ends_at, root_included, expires, days_left, problems }`; fails
    /// listing every problem.
    /// ```rhai
    /// let r = cert::check_chain("new/fullchain.crt");
    /// info(`chain of ${r.length}, ends at ${r.ends_at}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check_chain(ctx: NativeCallContext, fullchain: &str) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        let r = c::check_chain(&resolve(&ctx, &h, fullchain)?).map_err(|e| fail(&ctx, shown(&h, e)))?;
        to_map(&ctx, r)
    }

    /// Whether the certificate is valid for a host name (SANs; `*.example.com` matches one label).
    /// ```rhai
    /// if !cert::covers("new/fullchain.crt", "vantiq.example.com") { throw "wrong certificate"; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn covers(ctx: NativeCallContext, cert_file: &str, host_name: &str) -> RhaiResultOf<bool> {
        let h = host(&ctx)?;
        c::covers(&resolve(&ctx, &h, cert_file)?, host_name).map_err(|e| fail(&ctx, shown(&h, e)))
    }

    /// Every check an SSL renewal needs, before anything is installed:
    /// `#{ fullchain, private_key, host, current }` (all but `fullchain` optional) →
    /// complete ordered chain, not expired, key matches, covers `host`, expires later than
    /// `current`. Returns `#{ subject, sans, not_after, days_left, chain_length, key_matches,
    /// covers, current_not_after, gain_days, sha256 }`, or fails listing every problem at once.
    /// ```rhai
    /// let r = cert::check_renewal(#{
    ///     fullchain: "new/fullchain.crt",
    ///     private_key: "new/private.key",
    ///     host: "vantiq.example.com",
    ///     current: "targetCluster/deploy/sensitive/fullchain.crt",
    /// });
    /// info(`+${r.gain_days} days`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check_renewal(ctx: NativeCallContext, req: Map) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        check_keys(&ctx, "cert::check_renewal", &req, &["fullchain", "private_key", "host", "current"])?;
        let fullchain = opt_str(&ctx, &req, "fullchain")?.ok_or_else(|| fail(&ctx, "cert::check_renewal needs `fullchain`"))?;
        let fullchain = resolve(&ctx, &h, &fullchain)?;
        let key = opt_str(&ctx, &req, "private_key")?.map(|k| resolve(&ctx, &h, &k)).transpose()?;
        let current = opt_str(&ctx, &req, "current")?.map(|k| resolve(&ctx, &h, &k)).transpose()?;
        let host_name = opt_str(&ctx, &req, "host")?.filter(|s| !s.is_empty());
        if let Some(k) = &key {
            protect_key(&h, k);
        }
        // The customer's CA (for private CAs) besides the system's trust store.
        let ca = h
            .vantiq()
            .ca
            .as_ref()
            .and_then(|p| std::fs::read(h.path(&p.display().to_string())).ok());
        let r = c::Renewal {
            fullchain: &fullchain,
            private_key: key.as_deref(),
            host: host_name.as_deref(),
            current: current.as_deref(),
            ca: ca.as_deref(),
        };
        let report = c::check_renewal(&r).map_err(|e| fail(&ctx, shown(&h, e)))?;
        to_map(&ctx, report)
    }

    /// The certificate a TLS server presents (`host:port`, port 443 by default): the same
    /// fields as `inspect` plus `server_name`, `connected_to`, `protocol`. Any certificate
    /// is accepted — this inspects, it does not trust. The configured Vantiq host is
    /// reached at its configured address automatically.
    /// ```rhai
    /// let served = cert::remote("vantiq.example.com:443");
    /// print(served.sha256);
    /// ```
    #[rhai_fn(return_raw, name = "remote")]
    pub fn remote(ctx: NativeCallContext, host_port: &str) -> RhaiResultOf<Dynamic> {
        remote_impl(&ctx, host_port, &Map::new())
    }

    /// `remote` with options: `#{ sni: "name", connect: "addr:port", ca: "ca.pem", timeout: 15 }`.
    /// With `ca`, also reports `trusted` (and `trust_error`) for that CA.
    /// ```rhai
    /// let served = cert::remote("vantiq.example.com:443", #{ connect: "10.0.0.5:443", timeout: 5 });
    /// ```
    #[rhai_fn(return_raw, name = "remote")]
    pub fn remote_with(ctx: NativeCallContext, host_port: &str, opts: Map) -> RhaiResultOf<Dynamic> {
        remote_impl(&ctx, host_port, &opts)
    }
}

/// The license format `[license]` in vscript.toml chooses (`opaque` unless configured).
pub(crate) fn license_format(h: &Host) -> l::Format {
    let get = |k: &str| h.setting(&format!("license.{k}"));
    let cfg = crate::config::LicenseConfig {
        format: get("format").and_then(|v| v.as_str()).map(str::to_owned),
        check_command: get("check_command")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()),
        check_timeout: get("check_timeout").and_then(|v| v.as_u64()),
    };
    match l::Format::from_config(&cfg) {
        // A relative checker path is relative to the tools dir, like every path in vscript.toml.
        l::Format::Command { mut argv, timeout } => {
            if let Some(p) = argv.first_mut()
                && p.contains('/')
            {
                *p = h.path(p).display().to_string();
            }
            l::Format::Command { argv, timeout }
        }
        f => f,
    }
}

/// Registers the content of license files as secrets before anything can print it: the
/// whole `license.key`, its lines and token parts; a `public.pem` only when it (wrongly)
/// holds a private key.
fn protect_license(h: &Host, public_pem: &Path, license_key: &Path) {
    if let Ok(b) = std::fs::read(license_key) {
        let text = String::from_utf8_lossy(&b).into_owned();
        h.secrets().add(&text);
        // (not PEM armour lines: they are no secret, and errors name them)
        for part in text.trim().split(['.', '\n']).filter(|p| !p.trim().starts_with("-----")) {
            h.secrets().add(part);
        }
    }
    if let Ok(text) = std::fs::read_to_string(public_pem)
        && text.contains("PRIVATE KEY")
    {
        h.secrets().add(&text);
    }
}

/// A license error as scripts see it: paths relative to the tools dir, secrets masked.
fn license_fail(ctx: &NativeCallContext, h: &Host, e: impl std::fmt::Display) -> Box<rhai::EvalAltResult> {
    fail(ctx, h.secrets().redact(&shown(h, e)))
}

#[export_module]
pub mod license {
    use super::*;

    /// The license format vscript reads (`[license] format` in vscript.toml): `opaque` (the
    /// default: only the checks for every format), `jwt-es256` or `command`.
    /// ```rhai
    /// info(`license format: ${license::format()}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn format(ctx: NativeCallContext) -> RhaiResultOf<String> {
        Ok(license_format(&*host(&ctx)?).name().to_owned())
    }

    /// What a Vantiq license says, as far as the configured format tells: `#{ format,
    /// verified, expires (RFC 3339), days_left, issued_to, id, issuer, issued_at,
    /// signature_valid }` — `()` for what is unknown (everything but `format` when the
    /// format is `opaque`). Fails when a file fails the checks for every format (missing,
    /// empty, `public.pem` not a PEM public key, `license.key` a key or certificate) or the
    /// configured format cannot read it. The license content is never returned or printed.
    /// ```rhai
    /// let lic = license::inspect("targetCluster/deploy/sensitive/public.pem", "targetCluster/deploy/sensitive/license.key");
    /// info(`license expires ${lic.expires ?? "(unknown)"}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn inspect(ctx: NativeCallContext, public_pem: &str, license_key: &str) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        let (pp, kp) = (resolve(&ctx, &h, public_pem)?, resolve(&ctx, &h, license_key)?);
        protect_license(&h, &pp, &kp);
        let info = l::inspect(&license_format(&h), &pp, &kp).map_err(|e| license_fail(&ctx, &h, e))?;
        to_map(&ctx, info)
    }

    /// Like `inspect`, but also fails when what the format verifies does not hold: the
    /// signature (`jwt-es256`), the checker's verdict (`command`), an expiry in the past.
    /// ```rhai
    /// let lic = license::check("/home/ops/new/public.pem", "/home/ops/new/license.key");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check(ctx: NativeCallContext, public_pem: &str, license_key: &str) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        let (pp, kp) = (resolve(&ctx, &h, public_pem)?, resolve(&ctx, &h, license_key)?);
        protect_license(&h, &pp, &kp);
        let info = l::check(&license_format(&h), &pp, &kp).map_err(|e| license_fail(&ctx, &h, e))?;
        to_map(&ctx, info)
    }

    /// Every check of a license renewal, before anything is installed:
    /// `#{ public_pem, license_key, current_public_pem, current_license_key }` (the current
    /// ones optional) → the new files pass `check`, the new `license.key` is not the installed
    /// one, and when the format gives both expiries the new one is later. Returns the fields
    /// of `check` plus `current_expires`, `current_issued_to`, `current_unreadable`,
    /// `gain_days`; fails listing every problem at once.
    /// ```rhai
    /// let r = license::check_renewal(#{
    ///     public_pem: "new/public.pem",
    ///     license_key: "new/license.key",
    ///     current_public_pem: "targetCluster/deploy/sensitive/public.pem",
    ///     current_license_key: "targetCluster/deploy/sensitive/license.key",
    /// });
    /// info(`new license: expires ${r.expires ?? "(unknown)"}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check_renewal(ctx: NativeCallContext, req: Map) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        check_keys(
            &ctx,
            "license::check_renewal",
            &req,
            &["public_pem", "license_key", "current_public_pem", "current_license_key"],
        )?;
        let need = |k: &str| -> RhaiResultOf<PathBuf> {
            resolve(
                &ctx,
                &h,
                &opt_str(&ctx, &req, k)?.ok_or_else(|| fail(&ctx, format!("license::check_renewal needs `{k}`")))?,
            )
        };
        let (pp, kp) = (need("public_pem")?, need("license_key")?);
        let cp = opt_str(&ctx, &req, "current_public_pem")?
            .map(|p| resolve(&ctx, &h, &p))
            .transpose()?;
        let ck = opt_str(&ctx, &req, "current_license_key")?
            .map(|p| resolve(&ctx, &h, &p))
            .transpose()?;
        protect_license(&h, &pp, &kp);
        if let (Some(cp), Some(ck)) = (&cp, &ck) {
            protect_license(&h, cp, ck);
        }
        let r = l::check_renewal(&license_format(&h), &pp, &kp, cp.as_deref(), ck.as_deref()).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(|p| h.secrets().redact(&shown(&h, p))).collect();
            if lines.len() == 1 {
                fail(&ctx, &lines[0])
            } else {
                fail(&ctx, format!("the new license files are refused:\n  - {}", lines.join("\n  - ")))
            }
        })?;
        to_map(&ctx, r)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rhai::{Dynamic, Engine};

    use crate::engine::Host;
    use crate::tls::license::tests::Authority;
    use crate::tls::testing::Pki;

    #[test]
    fn scripts_see_reports_but_never_secrets() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let pki = Pki::new();
        let (leaf, key) = pki.leaf(&["vantiq.example.com"], 2024, 2080);
        pki.write("fullchain.crt", &[&leaf, &pki.inter]);
        pki.write("private.key", &[&key]);
        let a = Authority::new();
        let token = a.token("Vantiq JP", 1_700_000_000, 3_900_000_000);
        pki.write("public.pem", &[&a.public_pem()]);
        pki.write("license.key", &[&token]);
        let mut h = Host::new(rt.handle().clone());
        h.out_mut().quiet = true;
        h.target_mut().tools_dir = Some(pki.dir.path().to_owned());
        h.reset_sandbox();
        // The customer's CA: renewals must chain to it (or to the system's trust store).
        h.opts_mut().vantiq.ca = Some(pki.write("root.pem", &[&pki.root]));
        let host = Arc::new(h);
        let mut engine = Engine::new();
        engine.set_default_tag(Dynamic::from(host.clone()));
        crate::tls::register(&mut engine);

        // Opaque by default: checked, nothing read.
        let lic: rhai::Map = engine.eval(r#"license::check("public.pem", "license.key")"#).unwrap();
        assert_eq!(lic["format"].to_string(), "opaque");
        assert!(lic["expires"].is_unit() && lic["issued_to"].is_unit());
        assert_eq!(host.secrets().redact(&format!("token={token}")), "token=***");
        drop(engine);
        let mut h = Arc::into_inner(host).unwrap();
        h.opts_mut().settings.insert("license.format".into(), "jwt-es256".into());
        let host = Arc::new(h);
        let mut engine = Engine::new();
        engine.set_default_tag(Dynamic::from(host.clone()));
        crate::tls::register(&mut engine);
        let lic: rhai::Map = engine.eval(r#"license::check("public.pem", "license.key")"#).unwrap();
        assert_eq!(lic["issued_to"].to_string(), "Vantiq JP");
        assert!(!format!("{lic:?}").contains(token.split('.').nth(1).unwrap()));
        assert_eq!(host.secrets().redact(&format!("token={token}")), "token=***");

        let ok: bool = engine.eval(r#"cert::check_pair("fullchain.crt", "private.key")"#).unwrap();
        assert!(ok);
        let key_line = key.lines().nth(1).unwrap();
        assert!(
            !host.secrets().redact(key_line).contains(key_line),
            "the key is registered as a secret"
        );
        let r: rhai::Map = engine
            .eval(r#"cert::check_renewal(#{ fullchain: "fullchain.crt", private_key: "private.key", host: "vantiq.example.com" })"#)
            .unwrap();
        assert_eq!(r["chain_length"].as_int().unwrap(), 2);
        let e = engine
            .eval::<Dynamic>(r#"cert::check_pair("fullchain.crt", "public.pem")"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`private.key`") || e.contains("`public.pem` is not a readable private key"),
            "{e}"
        );
        let fp: String = engine.eval(r#"cert::fingerprint("fullchain.crt")"#).unwrap();
        let c: rhai::Map = engine.eval(r#"cert::inspect("fullchain.crt")"#).unwrap();
        assert_eq!(c["sha256"].to_string(), fp);
        assert_eq!(c["chain"].clone().into_array().unwrap().len(), 2);
    }
}
