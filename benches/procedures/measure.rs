//! The bench's process measurer: `procedures measure [--self] [--append] OUT -- CMD [ARGS…]`
//! runs CMD and writes one JSON line to OUT about what it cost:
//!
//! * `wall`: seconds from spawning CMD to its exit; `end`: when it exited (epoch seconds);
//! * `cpu`: user+sys seconds of CMD and every descendant it waited for (`getrusage` of the
//!   reaped children: kubectl, sleep, grep, curl and sed in a bash script alike); with
//!   `--self`, everything this process cost as well — its CPU from its fork on, so a shell
//!   script that `exec`s into the measurer (the `./gradlew` shim, the `git` wrapper) is
//!   counted whole and can be subtracted whole;
//! * `hwm_kb`: CMD's own peak resident set (`VmHWM`), sampled every 5 ms (not with `--self`);
//! * `maxrss_kb`: the largest peak resident set of CMD's tree (`ru_maxrss`, exact);
//! * `code`: CMD's exit status, which is also the measurer's (128 + signal when killed).
//!
//! It is this bench binary itself (re-executed), not Python: a measurer must cost little
//! after its last reading. Python's interpreter teardown (about 1.4 ms here), and the
//! pyenv shim in front of `python3` (about 100 ms of bash and readlink processes) of the
//! earlier `bench/measure.py`, fell partly outside its own reading and so into the
//! measured tool's overhead, the same absolute amount for both tools. What this one still
//! costs after its reading (about 0.5 ms: the end of its process) is measured by the
//! driver at the start of each run and subtracted per wrapped call (`measurer_residue`).

use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::resource::{Usage, UsageWho, getrusage};

/// The first argument that selects this mode.
pub const MODE: &str = "measure";

fn seconds(u: &Usage) -> f64 {
    let t = |v: nix::sys::time::TimeVal| v.tv_sec() as f64 + v.tv_usec() as f64 / 1e6;
    t(u.user_time()) + t(u.system_time())
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the measurer with the arguments after `MODE`; never returns.
pub fn main(args: &[String]) -> ! {
    match run(args) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("procedures measure: {e}");
            std::process::exit(125);
        }
    }
}

fn run(args: &[String]) -> Result<i32, String> {
    let (mut add_self, mut append) = (false, false);
    let mut rest = args;
    while let Some(flag) = rest.first().filter(|a| a.starts_with("--") && *a != "--") {
        match flag.as_str() {
            "--self" => add_self = true,
            "--append" => append = true,
            other => return Err(format!("unknown option {other}")),
        }
        rest = &rest[1..];
    }
    let (out, rest) = rest.split_first().ok_or("usage: measure [--self] [--append] OUT -- CMD [ARGS…]")?;
    let cmd = match rest.split_first() {
        Some((dd, cmd)) if dd == "--" => cmd,
        _ => rest,
    };
    let (program, cmd_args) = cmd.split_first().ok_or("no command to measure")?;

    let t0 = Instant::now();
    let mut child = Command::new(program)
        .args(cmd_args)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let mut hwm = 0;
    let status = if add_self {
        child.wait().map_err(|e| e.to_string())?
    } else {
        loop {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                break st;
            }
            hwm = hwm.max(vm_hwm_kb(child.id()).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let wall = t0.elapsed().as_secs_f64();
    let end = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let kids = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| e.to_string())?;
    let mut cpu = seconds(&kids);
    if add_self {
        cpu += seconds(&getrusage(UsageWho::RUSAGE_SELF).map_err(|e| e.to_string())?);
    }
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    let line = serde_json::json!({
        "wall": wall, "cpu": cpu, "hwm_kb": hwm, "maxrss_kb": kids.max_rss(), "code": code, "end": end,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(out)
        .map_err(|e| format!("{out}: {e}"))?;
    writeln!(f, "{line}").map_err(|e| format!("{out}: {e}"))?;
    Ok(code)
}
