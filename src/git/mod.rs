//! `git`: the runbook's `git pull` in the tools dir, and read-only status.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rhai::NativeCallContext;
use rhai::plugin::*;

use crate::engine::{RhaiResultOf, fail, host};

/// Registers the `git` script module.
pub fn register(engine: &mut rhai::Engine) {
    engine.register_static_module("git", rhai::exported_module!(git).into());
}

fn tools(ctx: &NativeCallContext) -> RhaiResultOf<PathBuf> {
    host(ctx)?
        .target
        .tools_dir
        .clone()
        .ok_or_else(|| fail(ctx, "git needs a tools dir: pass --tools DIR"))
}

fn git_out(ctx: &NativeCallContext, args: &[&str], quiet: bool) -> RhaiResultOf<String> {
    let h = host(ctx)?;
    let dir = tools(ctx)?;
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let hh = h.clone();
    let r = h.block(&format!("running `git {}`", args.join(" ")), Duration::from_secs(300), async move {
        let mut all = Vec::new();
        let r = crate::gradle::run_process("git", &args, &dir, |l| {
            if !quiet {
                hh.say("  │", "2", l);
            }
            all.push(l.to_owned());
        })
        .await;
        r.map(|_| all.join("\n"))
    });
    r.map_err(|e| fail(ctx, e))
}

/// The commit HEAD points at, read from `.git` directly (a loose or packed branch ref, or
/// a detached HEAD) — no `git` process for the common layout. `None` for anything else
/// (a worktree's `.git` file, reftable, a missing ref): the caller asks `git rev-parse`.
fn read_head(dir: &Path) -> Option<String> {
    let git = dir.join(".git");
    let is_hash = |s: &str| (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(name) = head.strip_prefix("ref:").map(str::trim) else {
        return is_hash(head).then(|| head.to_owned());
    };
    if !name.starts_with("refs/") || name.split('/').any(|p| p == ".." || p.is_empty()) {
        return None;
    }
    if let Ok(loose) = std::fs::read_to_string(git.join(name)) {
        let loose = loose.trim();
        return is_hash(loose).then(|| loose.to_owned());
    }
    let packed = std::fs::read_to_string(git.join("packed-refs")).ok()?;
    packed.lines().find_map(|l| match l.split_once(' ') {
        Some((hash, r)) if r == name && is_hash(hash) => Some(hash.to_owned()),
        _ => None,
    })
}

fn head_commit(ctx: &NativeCallContext) -> RhaiResultOf<String> {
    match read_head(&tools(ctx)?) {
        Some(h) => Ok(h),
        None => git_out(ctx, &["rev-parse", "HEAD"], true),
    }
}

#[export_module]
pub mod git {
    use super::*;

    /// `git pull --ff-only` in the tools dir (runbook: update k8sdeploy_tools first).
    /// Under `--dry-run` it is listed, not run. Returns the new HEAD commit.
    /// ```rhai
    /// git::pull();
    /// ```
    #[rhai_fn(return_raw)]
    pub fn pull(ctx: NativeCallContext) -> RhaiResultOf<String> {
        let h = host(&ctx)?;
        let before = head_commit(&ctx)?;
        if h.dry_run {
            h.effect("git.pull", "tools dir", Some(before.clone().into()), None, "dry-run");
            return Ok(before);
        }
        git_out(&ctx, &["pull", "--ff-only"], false)?;
        let after = head_commit(&ctx)?;
        h.effect("git.pull", "tools dir", Some(before.into()), Some(after.clone().into()), "done");
        Ok(after)
    }

    /// `git status --porcelain` of the tools dir: an empty string when clean.
    #[rhai_fn(return_raw)]
    pub fn status(ctx: NativeCallContext) -> RhaiResultOf<String> {
        git_out(&ctx, &["status", "--porcelain"], true)
    }

    /// The commit the tools dir is on.
    #[rhai_fn(return_raw)]
    pub fn head(ctx: NativeCallContext) -> RhaiResultOf<String> {
        head_commit(&ctx)
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::read_head;

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn head_is_read_like_rev_parse_for_loose_packed_and_detached_refs() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        git(p, &["init", "-q", "-b", "main"]);
        assert_eq!(read_head(p), None, "an unborn branch has no commit");
        std::fs::write(p.join("a"), "1").unwrap();
        git(p, &["add", "a"]);
        git(p, &["commit", "-qm", "one"]);
        let one = git(p, &["rev-parse", "HEAD"]);
        assert_eq!(read_head(p).as_deref(), Some(one.as_str()), "loose ref");
        git(p, &["pack-refs", "--all"]);
        assert!(!p.join(".git/refs/heads/main").exists());
        assert_eq!(read_head(p).as_deref(), Some(one.as_str()), "packed ref");
        std::fs::write(p.join("a"), "2").unwrap();
        git(p, &["commit", "-qam", "two"]);
        let two = git(p, &["rev-parse", "HEAD"]);
        assert_ne!(one, two);
        assert_eq!(read_head(p).as_deref(), Some(two.as_str()), "a loose ref wins over the packed one");
        git(p, &["checkout", "-q", &one]);
        assert_eq!(read_head(p).as_deref(), Some(one.as_str()), "detached HEAD");
        // A worktree's `.git` is a file: left to `git rev-parse`.
        let w = tempfile::tempdir().unwrap();
        let wt = w.path().join("wt");
        git(p, &["worktree", "add", "-q", wt.to_str().unwrap(), "main"]);
        assert_eq!(read_head(&wt), None);
    }
}
