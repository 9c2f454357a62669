//! The downtime record: a window opens the moment no vantiq pod serves (the last Ready
//! vantiq pod of the installation stops being Ready) and closes at the first successful
//! Vantiq login afterwards: `GET /authenticate` answered 200 by the HTTPS endpoint, or an
//! authenticated API call answered 200 (`GET /api/v1/about` with the access token, which
//! is how vscript's `verify_login` checks the login). Each
//! window says which maintenance procedure (the lease holder) was running when it
//! opened, when a vantiq pod was Ready again, and how long it lasted in wall-clock and
//! in realistic seconds (wall × the clock's speed). Written to `DIR/downtime.json` on
//! every change and served at `GET /__sim/downtime`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One downtime window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Window {
    /// When the last Ready vantiq pod stopped being Ready (RFC 3339, milliseconds).
    pub start: String,
    /// When a vantiq pod was Ready again (the latest time, if it went unready again).
    pub ready_at: Option<String>,
    /// The first successful login after `ready_at`; `None` while the window is open.
    pub end: Option<String>,
    /// `end - start` in wall-clock seconds.
    pub wall_seconds: Option<f64>,
    /// `wall_seconds × speed`: what the downtime would be on a real cluster.
    pub realistic_seconds: Option<f64>,
    /// The maintenance procedure (lease holder) running when the window opened; `None`
    /// for changes made by hand.
    pub procedure: Option<String>,
}

/// What `DIR/downtime.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    /// The clock's speed factor.
    pub speed: f64,
    pub windows: Vec<Window>,
}

struct Open {
    started: tokio::time::Instant,
}

struct State {
    serving: bool,
    open: Option<Open>,
    windows: Vec<Window>,
}

/// The downtime windows of one simulator run.
pub struct Downtime {
    path: PathBuf,
    speed: f64,
    st: Mutex<State>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Downtime {
    /// An empty record at `DIR/downtime.json`.
    pub fn create(dir: &Path, speed: f64) -> Downtime {
        let d = Downtime {
            path: dir.join("downtime.json"),
            speed,
            st: Mutex::new(State {
                serving: false,
                open: None,
                windows: Vec::new(),
            }),
        };
        d.write(&[]);
        d
    }

    fn write(&self, windows: &[Window]) {
        let rec = Record {
            speed: self.speed,
            windows: windows.to_vec(),
        };
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(&rec).unwrap_or_default();
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &self.path);
        }
    }

    /// Whether a Ready vantiq pod serves now; `procedure` is the lease holder, if any.
    pub fn serving(&self, serving: bool, procedure: Option<String>) {
        let mut st = self.st.lock().unwrap();
        if st.serving == serving {
            return;
        }
        st.serving = serving;
        let now = ts(Utc::now());
        if !serving {
            if st.open.is_none() {
                st.open = Some(Open {
                    started: tokio::time::Instant::now(),
                });
                st.windows.push(Window {
                    start: now,
                    ready_at: None,
                    end: None,
                    wall_seconds: None,
                    realistic_seconds: None,
                    procedure,
                });
            }
        } else if st.open.is_some()
            && let Some(w) = st.windows.last_mut()
        {
            w.ready_at = Some(now);
        }
        let windows = st.windows.clone();
        drop(st);
        self.write(&windows);
    }

    /// A successful login: closes the open window (only a serving Vantiq answers one).
    pub fn login(&self) {
        let mut st = self.st.lock().unwrap();
        let Some(open) = st.open.take() else { return };
        let wall = open.started.elapsed().as_secs_f64();
        let speed = self.speed;
        if let Some(w) = st.windows.last_mut() {
            w.end = Some(ts(Utc::now()));
            w.wall_seconds = Some((wall * 1000.0).round() / 1000.0);
            w.realistic_seconds = Some((wall * speed * 10.0).round() / 10.0);
            if w.ready_at.is_none() {
                w.ready_at = w.end.clone();
            }
        }
        let windows = st.windows.clone();
        drop(st);
        self.write(&windows);
    }

    /// Every window so far (the last may be open).
    pub fn windows(&self) -> Vec<Window> {
        self.st.lock().unwrap().windows.clone()
    }

    pub fn record(&self) -> Record {
        Record {
            speed: self.speed,
            windows: self.windows(),
        }
    }
}

/// Reads `DIR/downtime.json` (written by the simulator that ran in `dir`).
pub fn read(dir: &Path) -> Result<Record> {
    let path = dir.join("downtime.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a downtime record", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_opens_when_nothing_serves_and_closes_at_the_first_login() {
        let dir = tempfile::tempdir().unwrap();
        let d = Downtime::create(dir.path(), 60.0);
        d.login(); // nothing open: no effect
        d.serving(true, None); // the seeded pods become ready: not a downtime
        assert!(d.windows().is_empty());
        d.serving(false, Some("op run 1".into()));
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        d.serving(true, None);
        assert!(d.windows()[0].end.is_none(), "ready again is not the end: the login is");
        d.login();
        d.login(); // a second login does not move the end
        let rec = read(dir.path()).unwrap();
        assert_eq!(rec.windows.len(), 1);
        let w = &rec.windows[0];
        assert_eq!(w.procedure.as_deref(), Some("op run 1"));
        let wall = w.wall_seconds.unwrap();
        assert!((0.12..2.0).contains(&wall), "{wall}");
        let realistic = w.realistic_seconds.unwrap();
        assert!((realistic - wall * 60.0).abs() < 0.2, "{realistic} vs {wall}");
        assert!(w.ready_at.is_some() && w.end.is_some());
    }
}
