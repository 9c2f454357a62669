//! Reading a git checkout without a `git` process where the layout allows it.

use std::path::Path;

/// The commit HEAD points at, read from `.git` directly (a loose or packed branch ref, or
/// a detached HEAD) — no `git` process for the common layout. `None` for anything else
/// (a worktree's `.git` file, reftable, a missing ref): the caller asks `git rev-parse`.
pub fn read_head(dir: &Path) -> Option<String> {
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

/// The branch a checkout is on (`ref: refs/heads/<branch>` in `.git/HEAD`).
pub fn branch(dir: &Path) -> Option<String> {
    let head = std::fs::read_to_string(dir.join(".git/HEAD")).ok()?;
    head.trim().strip_prefix("ref: refs/heads/").map(str::to_owned)
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
