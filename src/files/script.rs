//! The `file`, `yaml` and `props` script modules: type conversion and effects only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::plugin::*;
use rhai::{Array, Dynamic, Map, NativeCallContext};
use serde_json::{Value, json};

use crate::engine::{Change, GateError, Host, Mode, OrFail, RhaiResultOf, fail, host};
use crate::files::{commit_write, file as f, props as p, stamp, today, yaml as y};

/// A path a script reads: resolved, and refused outside the installation (the sandbox).
fn resolve(ctx: &NativeCallContext, path: &str) -> RhaiResultOf<(Arc<Host>, PathBuf)> {
    let h = host(ctx)?;
    let p = h.sandbox().readable(&h.path(path)).map_err(|e| fail(ctx, shown(&h, e)))?;
    Ok((h, p))
}

/// A path a script writes: refused outside `targetCluster/` and the run's temp dir.
fn resolve_write(ctx: &NativeCallContext, path: &str) -> RhaiResultOf<(Arc<Host>, PathBuf)> {
    let h = host(ctx)?;
    let p = h.sandbox().writable(&h.path(path)).map_err(|e| fail(ctx, shown(&h, e)))?;
    Ok((h, p))
}

/// Reads a text file through the gate (a re-entered step sees what the first attempt
/// read), registering its content as a secret when it is key material (journaled then
/// without its content, and read again on replay).
fn read_text(ctx: &NativeCallContext, h: &Host, path: &Path) -> RhaiResultOf<String> {
    let key = json!(["file.read", h.show_path(path)]);
    let read = || f::read_text(path);
    let secret = f::is_secret_path(path);
    let text = if secret {
        h.observe_secret(key, read)
    } else {
        h.observe(key, read)
    }
    .map_err(|e| fail(ctx, shown_gate(h, e)))?;
    if f::is_secret(path, text.as_bytes()) {
        h.secrets().add(&text);
    }
    Ok(text)
}

/// A `cluster.properties`-style file's text, decoded as Java decodes it (ISO-8859-1).
fn read_props(ctx: &NativeCallContext, h: &Host, path: &Path) -> RhaiResultOf<String> {
    let key = json!(["props.read", h.show_path(path)]);
    h.observe(key, || {
        p::load(path).map_err(|e| f::FileError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    })
    .map_err(|e| fail(ctx, shown_gate(h, e)))
}

fn shown_gate(h: &Host, e: GateError<f::FileError>) -> String {
    match e {
        GateError::Failed(e) => shown(h, e),
        other => other.to_string(),
    }
}

use crate::files::shown;

fn to_scalar(ctx: &NativeCallContext, v: &Dynamic) -> RhaiResultOf<y::Scalar> {
    if v.is_unit() {
        Ok(y::Scalar::Null)
    } else if let Ok(b) = v.as_bool() {
        Ok(y::Scalar::Bool(b))
    } else if let Ok(i) = v.as_int() {
        Ok(y::Scalar::Int(i))
    } else if let Ok(x) = v.as_float() {
        Ok(y::Scalar::Float(x))
    } else if v.is_string() || v.is_char() {
        Ok(y::Scalar::Str(v.to_string()))
    } else {
        Err(fail(
            ctx,
            format!("cannot write a {} as a scalar value; pass a string, number or bool", v.type_name()),
        ))
    }
}

/// A value read from a secrets file: its scalars become secret values.
fn secret_values(h: &Host, v: Value) -> Dynamic {
    match v {
        Value::Object(m) => Dynamic::from_map(m.into_iter().map(|(k, x)| (k.into(), secret_values(h, x))).collect()),
        Value::Array(a) => Dynamic::from_array(a.into_iter().map(|x| secret_values(h, x)).collect()),
        Value::Null => Dynamic::UNIT,
        Value::String(s) => Dynamic::from(crate::engine::register_secret(h, s.into_bytes())),
        other => Dynamic::from(crate::engine::register_secret(h, other.to_string().into_bytes())),
    }
}

fn sha2_of(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

fn path_dyn(h: &Host, p: &Path) -> Dynamic {
    h.show_path(p).into()
}

fn is_date_suffix(s: &str) -> bool {
    let (d, n) = s.split_once('-').unwrap_or((s, "2"));
    d.len() == 8 && d.bytes().all(|c| c.is_ascii_digit()) && n.parse::<u32>().is_ok()
}

#[export_module]
pub mod file {
    use super::*;

    /// Reads a text file (relative paths are in the tools dir). Key and license files are
    /// registered as secrets, so their content never appears in output or the journal.
    /// ```rhai
    /// let text = file::read("targetCluster/deploy.yaml");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn read(ctx: NativeCallContext, path: &str) -> RhaiResultOf<Dynamic> {
        let (h, p) = resolve(&ctx, path)?;
        if f::is_secret_path(&p) {
            let key = json!(["file.read", h.show_path(&p)]);
            let bytes = h
                .observe_secret(key, || f::read_bytes(&p))
                .map_err(|e| fail(&ctx, shown_gate(&h, e)))?;
            return Ok(Dynamic::from(crate::engine::register_secret(&h, bytes)));
        }
        let text = read_text(&ctx, &h, &p)?;
        if f::is_secret(&p, text.as_bytes()) {
            return Ok(Dynamic::from(crate::engine::register_secret(&h, text.into_bytes())));
        }
        Ok(text.into())
    }

    /// Writes a secret (from a Secret object or a key file) to a file atomically; its
    /// bytes are never shown (the diff says "contents not shown").
    /// ```rhai
    /// let key = k8s::secret("vantiq-ssl-cert")["tls.key"];
    /// file::write(`${temp_dir()}/private.key`, key);
    /// ```
    #[rhai_fn(return_raw, name = "write")]
    pub fn write_secret(ctx: NativeCallContext, path: &str, secret: crate::engine::Secret) -> RhaiResultOf<()> {
        let (h, p) = resolve_write(&ctx, path)?;
        let old = f::read_opt(&p).map_err(|e| fail(&ctx, shown(&h, e)))?;
        let change = Change::new("file.write", h.show_path(&p))
            .detail(json!(secret.sha256()))
            .after(json!({ "bytes": secret.bytes().len(), "secret": true }));
        h.change(change, |mode, _| match mode {
            Mode::DryRun => {
                h.say("   ", "", &format!("{}: (contents not shown)", h.show_path(&p)));
                let _ = &old;
                Ok(())
            }
            Mode::Real => {
                f::write_atomic(&p, secret.bytes())?;
                h.state().wrote(crate::engine::host::sandbox_resolved(&p));
                Ok(())
            }
        })
        .map_err(|e| fail(&ctx, shown_gate(&h, e)))
    }

    /// Writes a text file atomically (temp file, fsync, rename), keeping the original's
    /// permissions. Under `--dry-run` shows the diff and writes nothing.
    /// ```rhai
    /// file::write("notes/upgrade.txt", `upgraded on ${today("yyyy-MM-dd")}\n`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn write(ctx: NativeCallContext, path: &str, text: &str) -> RhaiResultOf<()> {
        let (h, p) = resolve_write(&ctx, path)?;
        let old = f::read_opt(&p).map_err(|e| fail(&ctx, shown(&h, e)))?;
        if f::is_secret(&p, text.as_bytes()) {
            h.secrets().add(text);
        }
        let change = Change::new("file.write", h.show_path(&p))
            .detail(json!(f::hex(&sha2_of(text.as_bytes()))))
            .after(json!({ "bytes": text.len() }));
        commit_write(&h, change, &p, old.as_deref(), text.as_bytes()).map_err(|e| fail(&ctx, shown_gate(&h, e)))
    }

    /// Whether a file or directory exists.
    /// ```rhai
    /// if !file::exists("targetCluster/deploy/sensitive/fullchain.crt") { throw "no certificate"; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn exists(ctx: NativeCallContext, path: &str) -> RhaiResultOf<bool> {
        let (h, p) = resolve(&ctx, path)?;
        h.observe(json!(["file.exists", h.show_path(&p)]), || {
            Ok::<_, std::convert::Infallible>(p.exists())
        })
        .or_fail(&ctx)
    }

    /// Copies a file (atomic write of the destination, which is overwritten if present).
    /// ```rhai
    /// file::copy("targetCluster/deploy.yaml", `${temp_dir()}/deploy.yaml.before`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn copy(ctx: NativeCallContext, from: &str, to: &str) -> RhaiResultOf<()> {
        let (h, src) = resolve(&ctx, from)?;
        let dst = h.sandbox().writable(&h.path(to)).map_err(|e| fail(&ctx, shown(&h, e)))?;
        let data = f::read_bytes(&src).map_err(|e| fail(&ctx, shown(&h, e)))?;
        let old = f::read_opt(&dst).map_err(|e| fail(&ctx, shown(&h, e)))?;
        let change = Change::new("file.copy", h.show_path(&dst))
            .detail(json!(h.show_path(&src)))
            .before(json!({ "from": h.show_path(&src) }));
        commit_write(&h, change, &dst, old.as_deref(), &data).map_err(|e| fail(&ctx, shown_gate(&h, e)))
    }

    /// Copies a file to its dated backup `path.yyyyMMdd` (local date) and returns that
    /// path. Never overwrites: when the name is taken, `path.yyyyMMdd-2`, `-3`… The file
    /// itself stays in place (use `file::replace` to rename-and-install).
    /// ```rhai
    /// let saved = file::backup("targetCluster/deploy.yaml");
    /// info(`saved ${saved}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn backup(ctx: NativeCallContext, path: &str) -> RhaiResultOf<String> {
        let (h, p) = resolve_write(&ctx, path)?;
        if !p.exists() {
            return Err(fail(
                &ctx,
                shown(
                    &h,
                    f::FileError::NotFound {
                        path: p.display().to_string(),
                    },
                ),
            ));
        }
        let to = f::free_name(&p, &today());
        let change = Change::new("file.backup", h.show_path(&p))
            .after(json!(h.show_path(&to)))
            .plan(json!({ "to": to.display().to_string() }));
        h.change(change, |mode, plan| {
            let to = plan["to"].as_str().map(PathBuf::from).unwrap_or_else(|| to.clone());
            match mode {
                Mode::DryRun => Ok(h.show_path(&to)),
                Mode::Real => f::backup_copy_planned(&p, &to, plan["again"] == true).map(|to| h.show_path(&to)),
            }
        })
        .map_err(|e| fail(&ctx, shown_gate(&h, e)))
    }

    /// Installs a new file the runbook way: renames the current file (if any) to its dated
    /// backup (`path.yyyyMMdd`, never overwriting), then atomically puts a copy of
    /// `new_file` in place. Returns `#{ backup, installed }` (`backup` is `()` when there
    /// was no old file). Under `--dry-run` nothing moves.
    /// ```rhai
    /// let r = file::replace("targetCluster/deploy/sensitive/fullchain.crt", param_file("fullchain"));
    /// info(`old certificate kept as ${r.backup}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn replace(ctx: NativeCallContext, path: &str, new_file: &str) -> RhaiResultOf<Map> {
        let (h, p) = resolve_write(&ctx, path)?;
        let src = h.sandbox().readable(&h.path(new_file)).map_err(|e| fail(&ctx, shown(&h, e)))?;
        let data = f::read_bytes(&src).map_err(|e| fail(&ctx, shown(&h, e)))?;
        let old = f::read_opt(&p).map_err(|e| fail(&ctx, shown(&h, e)))?;
        if f::is_secret(&src, &data) {
            h.secrets().add(&String::from_utf8_lossy(&data));
        }
        // The backup's name is fixed before anything moves: a replace carried out again
        // after a crash keeps the old file under the same name, and never backs the new
        // one up as if it were the old.
        let planned = old.as_ref().map(|_| f::free_name(&p, &today()));
        let change = Change::new("file.replace", h.show_path(&p))
            .detail(json!(h.show_path(&src)))
            .before(json!({ "from": h.show_path(&src) }))
            .after(json!({ "backup": planned.as_ref().map(|b| h.show_path(b)) }))
            .plan(json!({ "backup": planned.as_ref().map(|b| b.display().to_string()) }));
        let backup: Option<String> = h
            .change(change, |mode, plan| {
                let planned = plan["backup"].as_str().map(PathBuf::from);
                match mode {
                    Mode::DryRun => {
                        crate::files::show_change(&h, &p, old.as_deref(), &data);
                        Ok(planned.map(|b| h.show_path(&b)))
                    }
                    Mode::Real => {
                        h.state().wrote(crate::engine::host::sandbox_resolved(&p));
                        f::replace_planned(&p, &src, planned.as_deref(), plan["again"] == true).map(|r| r.backup.map(|b| h.show_path(&b)))
                    }
                }
            })
            .map_err(|e| fail(&ctx, shown_gate(&h, e)))?;
        let mut out = Map::new();
        out.insert("installed".into(), path_dyn(&h, &p));
        out.insert("backup".into(), backup.map(Dynamic::from).unwrap_or(Dynamic::UNIT));
        Ok(out)
    }

    /// The newest dated backup of a file (`path.yyyyMMdd[-n]`), or `()` when there is none.
    /// ```rhai
    /// let b = file::latest_backup("targetCluster/deploy/sensitive/license.key");
    /// if b == () { throw "no backup to roll back to"; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn latest_backup(ctx: NativeCallContext, path: &str) -> RhaiResultOf<Dynamic> {
        let (h, p) = resolve(&ctx, path)?;
        let found: Option<String> = h
            .observe(json!(["file.latest_backup", h.show_path(&p)]), || {
                f::latest_backup(&p).map(|b| b.map(|b| h.show_path(&b)))
            })
            .map_err(|e| fail(&ctx, shown_gate(&h, e)))?;
        Ok(found.map(Dynamic::from).unwrap_or(Dynamic::UNIT))
    }

    /// Every dated backup of a file, oldest first.
    /// ```rhai
    /// for b in file::backups("targetCluster/deploy.yaml") { print(b); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn backups(ctx: NativeCallContext, path: &str) -> RhaiResultOf<Array> {
        let (h, p) = resolve(&ctx, path)?;
        let found: Vec<String> = h
            .observe(json!(["file.backups", h.show_path(&p)]), || {
                f::backups(&p).map(|bs| bs.iter().map(|b| h.show_path(b)).collect())
            })
            .map_err(|e| fail(&ctx, shown_gate(&h, e)))?;
        Ok(found.into_iter().map(Dynamic::from).collect())
    }

    /// Rolls a file back to a backup: the current file is kept as
    /// `path.rollback-yyyyMMddHHmmss` (nothing is lost), then the backup is renamed back.
    /// `backup` is a backup's path or just its date suffix (`"20260115"`, `"20260115-2"`).
    /// Returns `#{ restored, kept }`.
    /// ```rhai
    /// let key = "targetCluster/deploy/sensitive/private.key";
    /// file::restore(key, file::latest_backup(key));
    /// ```
    #[rhai_fn(return_raw)]
    pub fn restore(ctx: NativeCallContext, path: &str, backup: &str) -> RhaiResultOf<Map> {
        let (h, p) = resolve_write(&ctx, path)?;
        let b = if is_date_suffix(backup) {
            PathBuf::from(format!("{}.{backup}", p.display()))
        } else {
            h.sandbox().writable(&h.path(backup)).map_err(|e| fail(&ctx, shown(&h, e)))?
        };
        let replaying = h.state().replaying();
        if !replaying {
            f::check_backup_of(&p, &b).map_err(|e| fail(&ctx, shown(&h, e)))?;
        }
        let kept = p.exists().then(|| f::free_name(&p, &format!("rollback-{}", stamp())));
        let change = Change::new("file.restore", h.show_path(&p))
            .detail(json!(h.show_path(&b)))
            .before(json!({ "backup": h.show_path(&b) }))
            .after(json!({ "kept": kept.as_ref().map(|k| h.show_path(k)) }))
            .plan(json!({ "kept": kept.as_ref().map(|k| k.display().to_string()) }));
        let kept: Option<String> = h
            .change(change, |mode, plan| {
                let kept = plan["kept"].as_str().map(PathBuf::from);
                match mode {
                    Mode::DryRun => {
                        let old = f::read_opt(&p)?;
                        let new = f::read_bytes(&b)?;
                        crate::files::show_change(&h, &p, old.as_deref(), &new);
                        Ok(kept.map(|k| h.show_path(&k)))
                    }
                    Mode::Real => {
                        h.state().wrote(crate::engine::host::sandbox_resolved(&p));
                        f::restore_planned(&p, &b, kept.as_deref(), plan["again"] == true).map(|r| r.kept.map(|k| h.show_path(&k)))
                    }
                }
            })
            .map_err(|e| fail(&ctx, shown_gate(&h, e)))?;
        let mut out = Map::new();
        out.insert("restored".into(), path_dyn(&h, &b));
        out.insert("kept".into(), kept.map(Dynamic::from).unwrap_or(Dynamic::UNIT));
        Ok(out)
    }

    /// SHA-256 of a file's bytes, lowercase hex.
    /// ```rhai
    /// let before = file::sha256("targetCluster/deploy/sensitive/license.key");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn sha256(ctx: NativeCallContext, path: &str) -> RhaiResultOf<String> {
        let (h, p) = resolve(&ctx, path)?;
        h.observe(json!(["file.sha256", h.show_path(&p)]), || f::sha256(&p))
            .map_err(|e| fail(&ctx, shown_gate(&h, e)))
    }

    /// The names in a directory, sorted.
    /// ```rhai
    /// for name in file::list("targetCluster/deploy/sensitive") { print(name); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext, dir: &str) -> RhaiResultOf<Array> {
        let (h, p) = resolve(&ctx, dir)?;
        let names: Vec<String> = h
            .observe(json!(["file.list", h.show_path(&p)]), || f::list(&p))
            .map_err(|e| fail(&ctx, shown_gate(&h, e)))?;
        Ok(names.into_iter().map(Dynamic::from).collect())
    }
}

fn yaml_set_impl(ctx: &NativeCallContext, file: &str, path: &str, value: &Dynamic, create: bool) -> RhaiResultOf<Map> {
    let (h, p) = resolve_write(ctx, file)?;
    let label = h.show_path(&p);
    let text = read_text(ctx, &h, &p)?;
    let v = to_scalar(ctx, value)?;
    let edit = y::set(&label, &text, path, &v, create).or_fail(ctx)?;
    let mut out = Map::new();
    out.insert("before".into(), edit.before.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT));
    out.insert("after".into(), edit.after.clone().into());
    out.insert("added".into(), edit.added.into());
    let changed = edit.text != text;
    out.insert("changed".into(), changed.into());
    if !changed {
        h.info(&format!("{label}: `{path}` is already {}", edit.after));
        return Ok(out);
    }
    let change = Change::new("yaml.set", format!("{label}:{path}"))
        .detail(json!(edit.after))
        .before(edit.before.map(Value::String))
        .after(Value::String(edit.after.clone()));
    commit_write(&h, change, &p, Some(text.as_bytes()), edit.text.as_bytes()).map_err(|e| fail(ctx, shown_gate(&h, e)))?;
    Ok(out)
}

#[export_module]
pub mod yaml {
    use super::*;

    /// The value at a dotted path (`()` when absent): scalars as string/int/bool, mappings
    /// as maps, lists as arrays. Versions like `1.30` come back as written (a string).
    /// `a[0]` or `a.0` index lists; `a["x.y"]` addresses keys containing dots.
    /// ```rhai
    /// let tag = yaml::get("targetCluster/deploy.yaml", "vantiq.image.tag");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, file: &str, path: &str) -> RhaiResultOf<Dynamic> {
        let (h, p) = resolve(&ctx, file)?;
        let text = read_text(&ctx, &h, &p)?;
        match y::get(&h.show_path(&p), &text, path).or_fail(&ctx)? {
            // The generated secrets and sensitive files: every value is a secret.
            Some(v) if f::is_secret_path(&p) => Ok(secret_values(&h, v)),
            Some(v) => rhai::serde::to_dynamic(v),
            None => Ok(Dynamic::UNIT),
        }
    }

    /// Whether a dotted path exists.
    /// ```rhai
    /// if yaml::has("targetCluster/deploy.yaml", "vantiq.metricsCollector") { info("metrics collector configured"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn has(ctx: NativeCallContext, file: &str, path: &str) -> RhaiResultOf<bool> {
        let (h, p) = resolve(&ctx, file)?;
        let text = read_text(&ctx, &h, &p)?;
        y::has(&h.show_path(&p), &text, path).or_fail(&ctx)
    }

    /// Sets one scalar value, changing only that value's bytes: comments, order, quoting
    /// style, indentation and every other key stay exactly as they were. Fails when the path
    /// does not exist. Returns `#{ before, after, added, changed }`. Atomic; under
    /// `--dry-run` shows the diff and writes nothing.
    /// ```rhai
    /// let r = yaml::set("targetCluster/deploy.yaml", "vantiq.image.tag", "1.31.0");
    /// info(`vantiq.image.tag: ${r.before} -> ${r.after}`);
    /// ```
    #[rhai_fn(return_raw, name = "set")]
    pub fn set(ctx: NativeCallContext, file: &str, path: &str, value: Dynamic) -> RhaiResultOf<Map> {
        yaml_set_impl(&ctx, file, path, &value, false)
    }

    /// `set` with options: `#{ create: true }` adds a missing last key under its existing
    /// parent mapping, with the parent's child indentation.
    /// ```rhai
    /// yaml::set("targetCluster/deploy.yaml", "vantiq.resources.limits.memory", "8Gi", #{ create: true });
    /// ```
    #[rhai_fn(return_raw, name = "set")]
    pub fn set_with(ctx: NativeCallContext, file: &str, path: &str, value: Dynamic, opts: Map) -> RhaiResultOf<Map> {
        let create = match opts.get("create") {
            None => false,
            Some(v) => v
                .as_bool()
                .map_err(|t| fail(&ctx, format!("option `create` must be a bool, not {t}")))?,
        };
        if let Some(k) = opts.keys().find(|k| k.as_str() != "create") {
            return Err(fail(&ctx, format!("unknown option `{k}` for yaml::set (known: create)")));
        }
        yaml_set_impl(&ctx, file, path, &value, create)
    }
}

#[export_module]
pub mod props {
    use super::*;

    /// The value of a property (`()` when absent; the last occurrence wins, as in Java).
    /// ```rhai
    /// let release = props::get("targetCluster/cluster.properties", "vantiq_system_release");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, file: &str, key: &str) -> RhaiResultOf<Dynamic> {
        let (h, p) = resolve(&ctx, file)?;
        let text = read_props(&ctx, &h, &p)?;
        p::validate(&text).map_err(|e| fail(&ctx, format!("`{}`: {e}", h.show_path(&p))))?;
        Ok(p::get(&text, key).map(Dynamic::from).unwrap_or(Dynamic::UNIT))
    }

    /// Whether a property is set.
    /// ```rhai
    /// if !props::has("targetCluster/cluster.properties", "vantiq_system_release") { warn("no release set"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn has(ctx: NativeCallContext, file: &str, key: &str) -> RhaiResultOf<bool> {
        let (h, p) = resolve(&ctx, file)?;
        let text = read_props(&ctx, &h, &p)?;
        p::validate(&text).map_err(|e| fail(&ctx, format!("`{}`: {e}", h.show_path(&p))))?;
        Ok(p::get(&text, key).is_some())
    }

    /// Every property as a map.
    /// ```rhai
    /// let all = props::all("targetCluster/cluster.properties");
    /// print(all.keys());
    /// ```
    #[rhai_fn(return_raw)]
    pub fn all(ctx: NativeCallContext, file: &str) -> RhaiResultOf<Map> {
        let (h, p) = resolve(&ctx, file)?;
        let text = read_props(&ctx, &h, &p)?;
        p::validate(&text).map_err(|e| fail(&ctx, format!("`{}`: {e}", h.show_path(&p))))?;
        Ok(p::all(&text).into_iter().map(|(k, v)| (k.into(), Dynamic::from(v))).collect())
    }

    /// Sets a property, changing only its value (comments, separators, order and
    /// continuation lines elsewhere stay byte for byte). A missing key is appended at the
    /// end and reported as added. Returns `#{ before, after, added, changed }`. Atomic;
    /// under `--dry-run` shows the diff and writes nothing.
    /// ```rhai
    /// props::set("targetCluster/cluster.properties", "vantiq_system_release", "vantiq-system-1.31");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set(ctx: NativeCallContext, file: &str, key: &str, value: Dynamic) -> RhaiResultOf<Map> {
        let (h, p) = resolve_write(&ctx, file)?;
        let label = h.show_path(&p);
        let text = read_props(&ctx, &h, &p)?;
        p::validate(&text).map_err(|e| fail(&ctx, format!("`{}`: {e}", h.show_path(&p))))?;
        let value = if value.is_string() || value.is_char() || value.is_int() || value.is_bool() || value.is_float() {
            value.to_string()
        } else {
            return Err(fail(
                &ctx,
                format!(
                    "cannot write a {} as a property value; pass a string, number or bool",
                    value.type_name()
                ),
            ));
        };
        let edit = p::set(&text, key, &value).or_fail(&ctx)?;
        let mut out = Map::new();
        out.insert("before".into(), edit.before.clone().map(Dynamic::from).unwrap_or(Dynamic::UNIT));
        out.insert("after".into(), value.clone().into());
        out.insert("added".into(), edit.added.into());
        let changed = edit.text != text;
        out.insert("changed".into(), changed.into());
        if !changed {
            h.info(&format!("{label}: `{key}` is already {value}"));
            return Ok(out);
        }
        if edit.added {
            h.info(&format!("{label}: `{key}` added"));
        }
        let change = Change::new("props.set", format!("{label}:{key}"))
            .detail(json!(value))
            .before(edit.before.map(Value::String))
            .after(Value::String(value));
        commit_write(&h, change, &p, Some(&p::encode(&text)), &p::encode(&edit.text)).map_err(|e| fail(&ctx, shown_gate(&h, e)))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rhai::{Dynamic, Engine};

    use crate::engine::Host;

    const DEPLOY: &str = include_str!("../../tests/fixtures/files/deploy.yaml");
    const PROPS: &str = include_str!("../../tests/fixtures/files/cluster.properties");

    struct Env {
        _rt: tokio::runtime::Runtime,
        dir: tempfile::TempDir,
        host: Arc<Host>,
        engine: Engine,
    }

    fn env(dry_run: bool) -> Env {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("targetCluster/deploy/sensitive")).unwrap();
        std::fs::write(dir.path().join("targetCluster/deploy.yaml"), DEPLOY).unwrap();
        std::fs::write(dir.path().join("targetCluster/cluster.properties"), PROPS).unwrap();
        std::fs::write(
            dir.path().join("targetCluster/deploy/sensitive/private.key"),
            "-----BEGIN PRIVATE KEY-----\nold-secret-key-material\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("new.key"), "-----BEGIN PRIVATE KEY-----\nnew-secret-key-material\n").unwrap();
        let mut h = Host::new(rt.handle().clone());
        h.opts_mut().dry_run = dry_run;
        h.out_mut().quiet = true;
        h.target_mut().tools_dir = Some(dir.path().to_owned());
        h.reset_sandbox();
        let host = Arc::new(h);
        let mut engine = Engine::new();
        engine.set_default_tag(Dynamic::from(host.clone()));
        crate::files::register(&mut engine);
        Env {
            _rt: rt,
            dir,
            host,
            engine,
        }
    }

    /// Every file under the dir with its content.
    fn snapshot(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![];
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push((e.path().display().to_string(), std::fs::read(e.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    const EDITS: &str = r#"
        let r = yaml::set("targetCluster/deploy.yaml", "vantiq.image.tag", "1.40.0");
        props::set("targetCluster/cluster.properties", "vantiq_system_release", "vantiq-system-1.40");
        props::set("targetCluster/cluster.properties", "brand_new", "1");
        file::backup("targetCluster/deploy.yaml");
        file::replace("targetCluster/deploy/sensitive/private.key", "new.key");
        file::write("targetCluster/notes.txt", "hello");
        r
    "#;

    #[test]
    fn dry_run_touches_nothing_and_records_every_write() {
        let e = env(true);
        let before = snapshot(e.dir.path());
        let r: rhai::Map = e.engine.eval(EDITS).unwrap();
        assert_eq!(r["before"].to_string(), "1.39.7");
        assert_eq!(snapshot(e.dir.path()), before);
        let effects = e.host.state().effects();
        let actions: Vec<_> = effects
            .iter()
            .map(|x| (x.action.as_str(), x.target.as_str(), x.result.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("yaml.set", "targetCluster/deploy.yaml:vantiq.image.tag", "dry-run"),
                ("props.set", "targetCluster/cluster.properties:vantiq_system_release", "dry-run"),
                ("props.set", "targetCluster/cluster.properties:brand_new", "dry-run"),
                ("file.backup", "targetCluster/deploy.yaml", "dry-run"),
                ("file.replace", "targetCluster/deploy/sensitive/private.key", "dry-run"),
                ("file.write", "targetCluster/notes.txt", "dry-run"),
            ]
        );
    }

    #[test]
    fn real_run_edits_and_backs_up() {
        let e = env(false);
        e.engine.run(EDITS).unwrap();
        let t = e.dir.path().join("targetCluster");
        let deploy = std::fs::read_to_string(t.join("deploy.yaml")).unwrap();
        assert_eq!(
            deploy,
            DEPLOY.replacen("tag: 1.39.7               #", "tag: 1.40.0               #", 1)
        );
        let date = crate::files::today();
        // the backup was taken after the edit: a copy, with the file left in place
        assert_eq!(std::fs::read_to_string(t.join(format!("deploy.yaml.{date}"))).unwrap(), deploy);
        assert!(
            std::fs::read_to_string(t.join("deploy/sensitive/private.key"))
                .unwrap()
                .contains("new-secret")
        );
        assert!(
            std::fs::read_to_string(t.join(format!("deploy/sensitive/private.key.{date}")))
                .unwrap()
                .contains("old-secret")
        );
        // the key material read for the install is redacted from output
        assert_eq!(e.host.secrets().redact("x new-secret-key-material y"), "x *** y");
        // rollback via the date suffix keeps the current file
        let r: rhai::Map = e
            .engine
            .eval(&format!(r#"file::restore("targetCluster/deploy/sensitive/private.key", "{date}")"#))
            .unwrap();
        assert!(
            std::fs::read_to_string(t.join("deploy/sensitive/private.key"))
                .unwrap()
                .contains("old-secret")
        );
        let kept = e.host.path(&r["kept"].to_string());
        assert!(std::fs::read_to_string(kept).unwrap().contains("new-secret"));
        let latest: Dynamic = e
            .engine
            .eval(r#"file::latest_backup("targetCluster/deploy/sensitive/private.key")"#)
            .unwrap();
        assert!(latest.is_unit());
    }

    #[test]
    fn yaml_errors_leave_the_file_untouched() {
        let e = env(false);
        let err = e
            .engine
            .run(r#"yaml::set("targetCluster/deploy.yaml", "vantiq.image.tga", "1")"#)
            .unwrap_err();
        assert!(
            err.to_string().contains("`targetCluster/deploy.yaml` has no `vantiq.image.tga`"),
            "{err}"
        );
        std::fs::write(e.dir.path().join("targetCluster/bad.yaml"), "a:\n  b: [1\n").unwrap();
        let err = e.engine.run(r#"yaml::set("targetCluster/bad.yaml", "a.b", "1")"#).unwrap_err();
        assert!(err.to_string().contains("`targetCluster/bad.yaml`: malformed YAML at "), "{err}");
        assert_eq!(
            std::fs::read_to_string(e.dir.path().join("targetCluster/bad.yaml")).unwrap(),
            "a:\n  b: [1\n"
        );
        assert_eq!(
            std::fs::read_to_string(e.dir.path().join("targetCluster/deploy.yaml")).unwrap(),
            DEPLOY
        );
        assert!(e.host.state().effects().is_empty());
    }
}
