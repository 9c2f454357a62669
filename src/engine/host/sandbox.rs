//! Where a script may read and write: its installation, not the machine. Reads: the tools
//! dir, the run's temp dir, the files passed as parameters. Writes: `targetCluster/` and
//! the temp dir. `[files] allow_read` / `allow_write` in vscript.toml open more. Paths are
//! resolved (symlinks followed, `..` applied) before they are checked, so neither `..`
//! nor a symlink leads out.

use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The areas, as canonical paths.
#[derive(Debug, Default)]
pub struct Sandbox {
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    files: Mutex<Vec<PathBuf>>,
    temp: OnceLock<PathBuf>,
}

/// A path as the file system resolves it, one component at a time: each existing prefix
/// is canonicalized (symlinks followed) before the next component, and `..` steps out of
/// the real directory it follows — not out of the text of the path.
pub fn resolved(p: &Path) -> PathBuf {
    let mut cur = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Prefix(x) => cur.push(x.as_os_str()),
            Component::RootDir => cur.push("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                cur.pop();
            }
            Component::Normal(n) => {
                cur.push(n);
                if let Ok(real) = std::fs::canonicalize(&cur) {
                    cur = real;
                }
            }
        }
    }
    cur
}

impl Sandbox {
    /// The areas of a run on `tools` (or, without a tools dir, the working directory).
    pub fn new(tools: Option<&Path>, cwd: &Path, allow_read: &[PathBuf], allow_write: &[PathBuf]) -> Sandbox {
        let base = resolved(tools.unwrap_or(cwd));
        let mut read = vec![base.clone()];
        let mut write = vec![if tools.is_some() { base.join("targetCluster") } else { base }];
        read.extend(allow_read.iter().map(|p| resolved(p)));
        read.extend(allow_write.iter().map(|p| resolved(p)));
        write.extend(allow_write.iter().map(|p| resolved(p)));
        Sandbox {
            read,
            write,
            ..Sandbox::default()
        }
    }

    /// The run's temp dir (made at first use).
    pub fn temp_dir(&self) -> PathBuf {
        self.temp
            .get_or_init(|| {
                let d = tempfile::Builder::new()
                    .prefix("vscript-run-")
                    .tempdir()
                    .map(|d| d.keep())
                    .unwrap_or_else(|_| std::env::temp_dir());
                resolved(&d)
            })
            .clone()
    }

    /// The run's temp dir, if one was made (`None` also when making it failed and the
    /// system's temp dir stood in: that one is never removed).
    pub fn made_temp_dir(&self) -> Option<PathBuf> {
        self.temp
            .get()
            .filter(|t| t.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vscript-run-")))
            .cloned()
    }

    /// A file the operator passed as a parameter: readable.
    pub fn allow_file(&self, p: &Path) {
        self.files.lock().unwrap().push(resolved(p));
    }

    fn inside(&self, p: &Path, roots: &[PathBuf]) -> bool {
        roots.iter().any(|r| p.starts_with(r)) || self.temp.get().is_some_and(|t| p.starts_with(t))
    }

    /// `p` if a script may read it.
    pub fn readable(&self, p: &Path) -> Result<PathBuf, String> {
        let r = resolved(p);
        if self.inside(&r, &self.read) || self.files.lock().unwrap().contains(&r) {
            return Ok(p.to_owned());
        }
        Err(format!(
            "`{}` is outside this installation: scripts read the tools dir, the run's temp dir (temp_dir()) and the files passed as parameters ([files] allow_read in vscript.toml opens more)",
            p.display()
        ))
    }

    /// `p` if a script may write it.
    pub fn writable(&self, p: &Path) -> Result<PathBuf, String> {
        let r = resolved(p);
        if self.inside(&r, &self.write) {
            return Ok(p.to_owned());
        }
        Err(format!(
            "`{}` may not be written: scripts write targetCluster/ and the run's temp dir (temp_dir()) ([files] allow_write in vscript.toml opens more)",
            p.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotdot_and_symlinks_do_not_lead_out() {
        let d = tempfile::tempdir().unwrap();
        let tools = d.path().join("tools");
        std::fs::create_dir_all(tools.join("targetCluster")).unwrap();
        std::fs::write(tools.join("targetCluster/deploy.yaml"), "a: 1\n").unwrap();
        std::os::unix::fs::symlink("/etc", tools.join("targetCluster/etc")).unwrap();
        let s = Sandbox::new(Some(&tools), d.path(), &[], &[]);
        assert!(s.readable(&tools.join("targetCluster/deploy.yaml")).is_ok());
        assert!(s.readable(&tools.join("gradlew")).is_ok());
        assert!(s.writable(&tools.join("targetCluster/new.yaml")).is_ok());
        assert!(
            s.writable(&tools.join("gradlew")).is_err(),
            "the tools dir's own files are read-only"
        );
        assert!(s.readable(Path::new("/etc/passwd")).is_err());
        assert!(s.readable(&tools.join("targetCluster/../../../etc/passwd")).is_err());
        assert!(s.readable(&tools.join("targetCluster/etc/passwd")).is_err(), "a symlink out");
        assert!(s.writable(&tools.join("targetCluster/x/../../gradlew")).is_err());
        let t = s.temp_dir();
        assert!(s.writable(&t.join("copy.yaml")).is_ok());
        let outside = d.path().join("new.pem");
        std::fs::write(&outside, "x").unwrap();
        assert!(s.readable(&outside).is_err());
        s.allow_file(&outside);
        assert!(s.readable(&outside).is_ok(), "a parameter file");
    }
}
