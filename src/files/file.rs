//! `file`: atomic writes, dated backups that never overwrite, install-with-backup and
//! rollback, as the runbook does by hand ("rename old files with a date suffix, then put
//! the new ones in place").
//!
//! `backup` **copies** (the file stays in place, e.g. before editing `deploy.yaml`);
//! `replace` **renames** the old file to its backup name and installs a copy of the new
//! one; `restore` renames a backup back, keeping the current file as
//! `path.rollback-yyyyMMddHHmmss` so nothing is ever lost.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a file operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("cannot write `{path}`: {reason}")]
    Write { path: String, reason: String },
    #[error("`{path}` does not exist")]
    NotFound { path: String },
    #[error("`{path}` is not a backup of `{of}` (expected `{of}.yyyyMMdd` or `{of}.yyyyMMdd-N`)")]
    NotABackup { path: String, of: String },
    #[error("cannot list `{path}`: {reason}")]
    List { path: String, reason: String },
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Reads a whole file as bytes.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, FileError> {
    fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FileError::NotFound { path: show(path) },
        _ => FileError::Read {
            path: show(path),
            reason: io_reason(&e),
        },
    })
}

/// Reads a whole file as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String, FileError> {
    let b = read_bytes(path)?;
    String::from_utf8(b).map_err(|_| FileError::Read {
        path: show(path),
        reason: "not UTF-8 text".into(),
    })
}

/// The file's contents, or `None` when it does not exist.
pub fn read_opt(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    match read_bytes(path) {
        Ok(b) => Ok(Some(b)),
        Err(FileError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes atomically: a temp file in the same directory, fsync, keep the original's
/// permissions, rename over the target, fsync the directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), FileError> {
    let werr = |e: std::io::Error| FileError::Write {
        path: show(path),
        reason: io_reason(&e),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let perms = fs::metadata(path).ok().map(|m| m.permissions());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ))
        .suffix(".vscript-tmp")
        .tempfile_in(&dir)
        .map_err(werr)?;
    tmp.write_all(data).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    if let Some(p) = perms {
        fs::set_permissions(tmp.path(), p).map_err(werr)?;
    }
    tmp.persist(path).map_err(|e| werr(e.error))?;
    if let Ok(d) = fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `path.<date>`, or `path.<date>-2`, `-3`… when taken.
pub fn free_name(path: &Path, suffix: &str) -> PathBuf {
    let base = path.as_os_str().to_string_lossy().into_owned();
    let first = PathBuf::from(format!("{base}.{suffix}"));
    if fs::symlink_metadata(&first).is_err() {
        return first;
    }
    (2..)
        .map(|n| PathBuf::from(format!("{base}.{suffix}-{n}")))
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap()
}

/// Copies `path` to its dated backup name (`path.yyyyMMdd`, never overwriting); returns it.
pub fn backup_copy(path: &Path, date: &str) -> Result<PathBuf, FileError> {
    let data = read_bytes(path)?;
    let to = free_name(path, date);
    write_atomic(&to, &data)?;
    if let Ok(m) = fs::metadata(path) {
        let _ = fs::set_permissions(&to, m.permissions());
    }
    Ok(to)
}

/// Renames `path` to its dated backup name; returns it.
pub fn backup_rename(path: &Path, date: &str) -> Result<PathBuf, FileError> {
    if !path.exists() {
        return Err(FileError::NotFound { path: show(path) });
    }
    let to = free_name(path, date);
    fs::rename(path, &to).map_err(|e| FileError::Write {
        path: show(path),
        reason: io_reason(&e),
    })?;
    Ok(to)
}

/// The backups of `path` (`path.yyyyMMdd[-n]`), oldest first.
pub fn backups(path: &Path) -> Result<Vec<PathBuf>, FileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Ok(vec![]);
    };
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(FileError::List {
                path: show(&dir),
                reason: io_reason(&e),
            });
        }
    };
    let mut found: Vec<((String, u32), PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            backup_key(&name, &n).map(|k| (k, dir.join(&n)))
        })
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// `(date, n)` when `candidate` is `name.yyyyMMdd` (n = 1) or `name.yyyyMMdd-n`.
fn backup_key(name: &str, candidate: &str) -> Option<(String, u32)> {
    let rest = candidate.strip_prefix(name)?.strip_prefix('.')?;
    let (date, n) = match rest.split_once('-') {
        Some((d, n)) => (d, n.parse::<u32>().ok().filter(|n| *n >= 2)?),
        None => (rest, 1),
    };
    (date.len() == 8 && date.bytes().all(|c| c.is_ascii_digit())).then(|| (date.to_owned(), n))
}

/// The newest backup of `path`, if any.
pub fn latest_backup(path: &Path) -> Result<Option<PathBuf>, FileError> {
    Ok(backups(path)?.pop())
}

/// Checks that `backup` is a backup of `path`.
pub fn check_backup_of(path: &Path, backup: &Path) -> Result<(), FileError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let bname = backup.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = |p: &Path| {
        let d = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::canonicalize(d).unwrap_or_else(|_| d.to_owned())
    };
    if backup_key(&name, &bname).is_none() || dir(backup) != dir(path) {
        return Err(FileError::NotABackup {
            path: show(backup),
            of: show(path),
        });
    }
    if !backup.exists() {
        return Err(FileError::NotFound { path: show(backup) });
    }
    Ok(())
}

/// What `restore` did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// Where the file that was in place went (`path.rollback-yyyyMMddHHmmss`).
    pub kept: Option<PathBuf>,
}

/// Rolls back: keeps the current file as `path.rollback-<stamp>`, renames `backup` to `path`.
pub fn restore(path: &Path, backup: &Path, stamp: &str) -> Result<Restored, FileError> {
    check_backup_of(path, backup)?;
    let kept = if fs::symlink_metadata(path).is_ok() {
        let to = free_name(path, &format!("rollback-{stamp}"));
        fs::rename(path, &to).map_err(|e| FileError::Write {
            path: show(path),
            reason: io_reason(&e),
        })?;
        Some(to)
    } else {
        None
    };
    fs::rename(backup, path).map_err(|e| FileError::Write {
        path: show(path),
        reason: io_reason(&e),
    })?;
    if let Ok(d) = fs::File::open(path.parent().unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    Ok(Restored { kept })
}

/// What `replace` did.
#[derive(Debug, Clone)]
pub struct Replaced {
    pub backup: Option<PathBuf>,
    pub installed: PathBuf,
}

/// Renames the old file (if any) to its dated backup, then installs a copy of `new_file`
/// atomically (with the old file's permissions).
pub fn replace(path: &Path, new_file: &Path, date: &str) -> Result<Replaced, FileError> {
    let data = read_bytes(new_file)?;
    let perms = fs::metadata(path).ok().map(|m| m.permissions());
    let backup = if fs::symlink_metadata(path).is_ok() {
        Some(backup_rename(path, date)?)
    } else {
        None
    };
    if let Err(e) = write_atomic(path, &data) {
        // put the old file back so the operator is not left without one
        if let Some(b) = &backup {
            let _ = fs::rename(b, path);
        }
        return Err(e);
    }
    if let Some(p) = perms {
        let _ = fs::set_permissions(path, p);
    }
    Ok(Replaced {
        backup,
        installed: path.to_owned(),
    })
}

/// SHA-256 of a file, lowercase hex.
/// `replace` with its backup's name fixed beforehand (`backup`; `None` when there was no
/// file to keep). `again`: the same replace may have been (partly) made by an attempt
/// that crashed: what it finished is not done twice, and the old file is never backed
/// up as if the new one were it.
pub fn replace_planned(path: &Path, new_file: &Path, backup: Option<&Path>, again: bool) -> Result<Replaced, FileError> {
    let data = read_bytes(new_file)?;
    let cur = read_opt(path)?;
    let done = |backup: Option<&Path>| Replaced {
        backup: backup.map(Path::to_owned),
        installed: path.to_owned(),
    };
    if again {
        let kept = backup.is_some_and(|b| fs::symlink_metadata(b).is_ok());
        match (&cur, backup) {
            // Renamed and written: done.
            (Some(c), Some(_)) if *c == data && kept => return Ok(done(backup)),
            (Some(c), None) if *c == data => return Ok(done(None)),
            // Renamed, not written yet.
            (None, Some(b)) if kept => {
                let perms = fs::metadata(b).ok().map(|m| m.permissions());
                write_atomic(path, &data)?;
                if let Some(p) = perms {
                    let _ = fs::set_permissions(path, p);
                }
                return Ok(done(backup));
            }
            _ => {}
        }
    }
    let perms = fs::metadata(path).ok().map(|m| m.permissions());
    let backup = match (&cur, backup) {
        (None, _) => None,
        // The planned name is free: keep the old file there. (Taken by someone else
        // meanwhile: the next free name; never overwrite a backup.)
        (Some(_), Some(b)) if fs::symlink_metadata(b).is_err() => Some(b.to_owned()),
        (Some(_), _) => Some(free_name(path, &backup_suffix(path, backup))),
    };
    if let Some(b) = &backup {
        fs::rename(path, b).map_err(|e| FileError::Write {
            path: show(path),
            reason: io_reason(&e),
        })?;
    }
    if let Err(e) = write_atomic(path, &data) {
        // put the old file back so the operator is not left without one
        if let Some(b) = &backup {
            let _ = fs::rename(b, path);
        }
        return Err(e);
    }
    if let Some(p) = perms {
        let _ = fs::set_permissions(path, p);
    }
    Ok(Replaced {
        backup,
        installed: path.to_owned(),
    })
}

/// The date suffix of a planned backup name (`path.20260115-2` → `20260115`), or today's.
fn backup_suffix(path: &Path, backup: Option<&Path>) -> String {
    let base = format!("{}.", path.display());
    backup
        .and_then(|b| b.to_str()?.strip_prefix(&base).map(|s| s.split('-').next().unwrap_or(s).to_owned()))
        .unwrap_or_else(|| chrono::Local::now().format("%Y%m%d").to_string())
}

/// `restore` with the name the current file is kept under fixed beforehand. `again`:
/// the same restore may have been (partly) made by an attempt that crashed.
pub fn restore_planned(path: &Path, backup: &Path, kept: Option<&Path>, again: bool) -> Result<Restored, FileError> {
    let exists = |p: &Path| fs::symlink_metadata(p).is_ok();
    if again {
        match (exists(backup), exists(path)) {
            // The backup was renamed back already: done.
            (false, true) => {
                return Ok(Restored {
                    kept: kept.map(Path::to_owned),
                });
            }
            // The current file was kept, the backup not renamed yet.
            (true, false) => {
                fs::rename(backup, path).map_err(|e| FileError::Write {
                    path: show(path),
                    reason: io_reason(&e),
                })?;
                return Ok(Restored {
                    kept: kept.map(Path::to_owned),
                });
            }
            _ => {}
        }
    }
    check_backup_of(path, backup)?;
    let kept = if exists(path) {
        let to = match kept {
            Some(k) if !exists(k) => k.to_owned(),
            _ => free_name(path, &format!("rollback-{}", chrono::Local::now().format("%Y%m%d%H%M%S"))),
        };
        fs::rename(path, &to).map_err(|e| FileError::Write {
            path: show(path),
            reason: io_reason(&e),
        })?;
        Some(to)
    } else {
        None
    };
    fs::rename(backup, path).map_err(|e| FileError::Write {
        path: show(path),
        reason: io_reason(&e),
    })?;
    if let Ok(d) = fs::File::open(path.parent().unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    Ok(Restored { kept })
}

/// `backup_copy` to a name fixed beforehand; `again`: a copy already there with the same
/// bytes is the one a crashed attempt made.
pub fn backup_copy_planned(path: &Path, to: &Path, again: bool) -> Result<PathBuf, FileError> {
    let data = read_bytes(path)?;
    if fs::symlink_metadata(to).is_ok() {
        if again && read_bytes(to)? == data {
            return Ok(to.to_owned());
        }
        let to = free_name(path, &backup_suffix(path, Some(to)));
        return backup_copy_to(path, &to, &data);
    }
    backup_copy_to(path, to, &data)
}

fn backup_copy_to(path: &Path, to: &Path, data: &[u8]) -> Result<PathBuf, FileError> {
    write_atomic(to, data)?;
    if let Ok(m) = fs::metadata(path) {
        let _ = fs::set_permissions(to, m.permissions());
    }
    Ok(to.to_owned())
}

pub fn sha256(path: &Path) -> Result<String, FileError> {
    Ok(hex(ring::digest::digest(&ring::digest::SHA256, &read_bytes(path)?).as_ref()))
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Names in a directory, sorted.
pub fn list(dir: &Path) -> Result<Vec<String>, FileError> {
    let rd = fs::read_dir(dir).map_err(|e| FileError::List {
        path: show(dir),
        reason: io_reason(&e),
    })?;
    let mut v: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    Ok(v)
}

/// Whether a file holds key or license material whose content must never be printed.
/// Whether a path holds secrets by where it is or what it is called: the sensitive files
/// and the generated secrets of a tools dir, key and keystore files, token, password and
/// credential files, kubeconfigs.
pub fn is_secret_path(path: &Path) -> bool {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_ascii_lowercase())
        .collect();
    if parts
        .windows(2)
        .any(|w| w[0] == "deploy" && (w[1] == "sensitive" || w[1] == "secrets"))
        || parts.iter().any(|p| p == ".kube")
    {
        return true;
    }
    let name = parts.last().cloned().unwrap_or_default();
    ["token", "password", "passwd", "credential", "secret", "kubeconfig"]
        .iter()
        .any(|w| name.contains(w))
        || is_secret(path, b"")
}

pub fn is_secret(path: &Path, content: &[u8]) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if matches!(ext.as_str(), "key" | "pem" | "p12" | "pfx" | "jks" | "keystore") {
        return true;
    }
    // backups (`private.key.20260101`) are secrets too
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if [".key.", ".pem.", ".p12.", ".jks."].iter().any(|x| name.contains(x)) {
        return true;
    }
    let text = String::from_utf8_lossy(content);
    text.contains("PRIVATE KEY") || std::str::from_utf8(content).is_err()
}

/// A unified diff of two texts with `a/` and `b/` labels (empty when equal).
pub fn unified_diff(label: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{label}"), &format!("b/{label}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_never_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fullchain.crt");
        fs::write(&p, "one").unwrap();
        let b1 = backup_copy(&p, "20260101").unwrap();
        assert_eq!(b1, d.path().join("fullchain.crt.20260101"));
        fs::write(&p, "two").unwrap();
        let b2 = backup_copy(&p, "20260101").unwrap();
        assert_eq!(b2, d.path().join("fullchain.crt.20260101-2"));
        let b3 = backup_copy(&p, "20260101").unwrap();
        assert_eq!(b3, d.path().join("fullchain.crt.20260101-3"));
        assert_eq!(fs::read_to_string(&b1).unwrap(), "one");
        assert_eq!(fs::read_to_string(&b2).unwrap(), "two");
        assert_eq!(fs::read_to_string(&p).unwrap(), "two");
        fs::write(d.path().join("fullchain.crt.20251231"), "old").unwrap();
        fs::write(d.path().join("fullchain.crt.rollback-20260101120000"), "x").unwrap();
        fs::write(d.path().join("fullchain.crt.2026010"), "x").unwrap();
        let all = backups(&p).unwrap();
        let names: Vec<String> = all.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(
            names,
            [
                "fullchain.crt.20251231",
                "fullchain.crt.20260101",
                "fullchain.crt.20260101-2",
                "fullchain.crt.20260101-3"
            ]
        );
        assert_eq!(latest_backup(&p).unwrap().unwrap(), b3);
    }

    #[test]
    fn backup_sorts_numbered_suffixes_numerically() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a");
        for n in ["a.20260101", "a.20260101-2", "a.20260101-10", "a.20260101-9"] {
            fs::write(d.path().join(n), "").unwrap();
        }
        assert_eq!(latest_backup(&p).unwrap().unwrap(), d.path().join("a.20260101-10"));
    }

    #[test]
    fn atomic_write_keeps_permissions_and_leaves_no_temp_files() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("private.key");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(list(d.path()).unwrap(), ["private.key"]);
    }

    #[test]
    fn replace_renames_old_and_installs_copy() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("license.key");
        let n = d.path().join("new.key");
        fs::write(&p, "old").unwrap();
        fs::write(&n, "new").unwrap();
        let r = replace(&p, &n, "20260102").unwrap();
        assert_eq!(r.backup.as_deref(), Some(d.path().join("license.key.20260102").as_path()));
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(fs::read_to_string(d.path().join("license.key.20260102")).unwrap(), "old");
        assert!(n.exists(), "the new file is copied, not moved");
        // a file that did not exist is simply installed
        let q = d.path().join("public.pem");
        let r = replace(&q, &n, "20260102").unwrap();
        assert!(r.backup.is_none());
        assert_eq!(
            list(d.path()).unwrap(),
            ["license.key", "license.key.20260102", "new.key", "public.pem"]
        );
    }

    #[test]
    fn restore_keeps_the_current_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fullchain.crt");
        fs::write(&p, "new").unwrap();
        let b = d.path().join("fullchain.crt.20260101");
        fs::write(&b, "old").unwrap();
        let r = restore(&p, &b, "20260102030405").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "old");
        let kept = r.kept.unwrap();
        assert_eq!(kept, d.path().join("fullchain.crt.rollback-20260102030405"));
        assert_eq!(fs::read_to_string(kept).unwrap(), "new");
        assert!(!b.exists());
        // not a backup of this file
        let other = d.path().join("other.20260101");
        fs::write(&other, "x").unwrap();
        assert!(restore(&p, &other, "1").unwrap_err().to_string().contains("is not a backup"));
    }

    #[test]
    fn secrets_are_recognised() {
        assert!(is_secret(Path::new("private.key"), b"x"));
        assert!(is_secret(Path::new("public.pem"), b"x"));
        assert!(is_secret(Path::new("private.key.20260101"), b"x"));
        assert!(is_secret(Path::new("notes.txt"), b"-----BEGIN PRIVATE KEY-----"));
        assert!(!is_secret(Path::new("deploy.yaml"), b"a: 1"));
    }

    #[test]
    fn sha256_is_hex() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        fs::write(&p, "abc").unwrap();
        assert_eq!(
            sha256(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
