//! Child processes (`./gradlew`, `git`): run in a directory with live output, killed
//! when the waiting future is dropped (Ctrl-C, timeout). Used by `gradle` and `git`.

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};

/// A child process that failed or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot start `{cmd}`: {reason}")]
    Spawn { cmd: String, reason: String },
    #[error("`{cmd}` failed with exit code {code}; last output:\n{tail}")]
    Failed { cmd: String, code: i32, tail: String },
}

/// Runs a program in `dir`, passing each output line (stdout and stderr) to `on_line`;
/// returns the last lines. The child is killed when the future is dropped (Ctrl-C, timeout).
pub async fn run_process(program: &str, args: &[String], dir: &Path, mut on_line: impl FnMut(&str)) -> Result<String, ProcError> {
    let cmd = format!("{program} {}", args.join(" "));
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ProcError::Spawn {
            cmd: cmd.clone(),
            reason: e.to_string(),
        })?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let out = child.stdout.take().map(BufReader::new);
    let err = child.stderr.take().map(BufReader::new);
    let t1 = tx.clone();
    let a = tokio::spawn(async move {
        if let Some(mut r) = out {
            let mut l = String::new();
            while r.read_line(&mut l).await.unwrap_or(0) > 0 {
                let _ = t1.send(l.trim_end().to_owned());
                l.clear();
            }
        }
    });
    let b = tokio::spawn(async move {
        if let Some(mut r) = err {
            let mut l = String::new();
            while r.read_line(&mut l).await.unwrap_or(0) > 0 {
                let _ = tx.send(l.trim_end().to_owned());
                l.clear();
            }
        }
    });
    let mut tail: VecDeque<String> = VecDeque::new();
    while let Some(line) = rx.recv().await {
        on_line(&line);
        tail.push_back(line);
        if tail.len() > 25 {
            tail.pop_front();
        }
    }
    let _ = (a.await, b.await);
    let status = child.wait().await.map_err(|e| ProcError::Spawn {
        cmd: cmd.clone(),
        reason: e.to_string(),
    })?;
    let tail = tail.into_iter().collect::<Vec<_>>().join("\n");
    if status.success() {
        Ok(tail)
    } else {
        Err(ProcError::Failed {
            cmd,
            code: status.code().unwrap_or(-1),
            tail,
        })
    }
}
