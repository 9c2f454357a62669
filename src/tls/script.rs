//! The `cert` and `license` script modules: type conversion and secrets only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, Map, NativeCallContext};

use crate::engine::{Host, RhaiResultOf, fail, host};
use crate::files::shown;
use crate::tls::{cert as c, license as l};

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
    let mut o = c::RemoteOpts {
        sni: opt_str(ctx, opts, "sni")?,
        connect: opt_str(ctx, opts, "connect")?,
        ca: None,
    };
    if let Some(ca) = opt_str(ctx, opts, "ca")? {
        o.ca = Some(c::read(&h.path(&ca)).map_err(|e| fail(ctx, shown(&h, e)))?);
    }
    // The Vantiq host goes where the configuration says (like curl --resolve).
    if o.connect.is_none()
        && let Some((name, addr)) = h.vantiq().connect.as_deref().and_then(|c| c.split_once('='))
    {
        let (th, tp) = c::split_host_port(target);
        let (nh, np) = c::split_host_port(name);
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
        .block(&what, Duration::from_secs(secs), c::remote(target, &o))
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
        let r = c::Renewal {
            fullchain: &fullchain,
            private_key: key.as_deref(),
            host: host_name.as_deref(),
            current: current.as_deref(),
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

fn license_read(ctx: &NativeCallContext, public_pem: &str, license_key: &str) -> RhaiResultOf<(l::LicenseInfo, PathBuf, PathBuf)> {
    let h = host(ctx)?;
    let (pp, kp) = (resolve(&ctx, &h, public_pem)?, resolve(&ctx, &h, license_key)?);
    // register the token before anything can print it
    if let Ok(token) = l::read_token(&kp) {
        h.secrets().add(&token);
        for part in token.split('.').skip(1) {
            h.secrets().add(part);
        }
    }
    let (info, _token) = l::inspect(&pp, &kp).map_err(|e| fail(ctx, shown(&h, e)))?;
    Ok((info, pp, kp))
}

#[export_module]
pub mod license {
    use super::*;

    /// What a Vantiq license says: `#{ issued_to, id, issuer, issued_at, expires (RFC 3339),
    /// days_left, signature_valid }`. Fails only when the files cannot be read. The license
    /// token is never returned or printed.
    /// ```rhai
    /// let lic = license::inspect("targetCluster/deploy/sensitive/public.pem", "targetCluster/deploy/sensitive/license.key");
    /// info(`license for ${lic.issued_to} expires ${lic.expires} (${lic.days_left} days)`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn inspect(ctx: NativeCallContext, public_pem: &str, license_key: &str) -> RhaiResultOf<Dynamic> {
        let (info, _, _) = license_read(&ctx, public_pem, license_key)?;
        to_map(&ctx, info)
    }

    /// Like `inspect`, but fails when the license cannot be read, its signature does not
    /// verify against `public_pem`, or it has expired.
    /// ```rhai
    /// let lic = license::check("new/public.pem", "new/license.key");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn check(ctx: NativeCallContext, public_pem: &str, license_key: &str) -> RhaiResultOf<Dynamic> {
        let h = host(&ctx)?;
        let (info, pp, kp) = license_read(&ctx, public_pem, license_key)?;
        l::check(&info, &pp, &kp).map_err(|e| fail(&ctx, shown(&h, e)))?;
        to_map(&ctx, info)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rhai::{Dynamic, Engine};

    use crate::engine::Host;
    use crate::tls::cert::tests::Pki;
    use crate::tls::license::tests::Authority;

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
