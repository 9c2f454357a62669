//! What a run shows while it waits: the one place that knows "a wait is going on".
//!
//! [`Host::block`](super::Host::block) begins a wait (what is awaited, its limit) and
//! ticks it while the future runs; the waits add the latest relevant event (a pod phase,
//! a job's log line). After a short grace (a wait of a second shows nothing):
//! - on a terminal (stderr, NO_COLOR unset), a live indicatif line: what is awaited,
//!   elapsed / limit, the latest event;
//! - otherwise, a plain line with the same facts, then one every `[output]
//!   progress_seconds` of vscript.toml (default 10 s).
//!
//! Progress goes to stderr only (`--output json` keeps stdout for the report), through
//! [`err_line`], which never panics on a closed pipe and keeps the live line intact.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A wait shorter than this shows no progress.
pub const GRACE: Duration = Duration::from_secs(2);

/// How often a plain progress line is written by default (`[output] progress_seconds`).
pub const DEFAULT_EVERY: Duration = Duration::from_secs(10);

/// The live line being shown, if any: every stderr line is written around it.
static LIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes one line to stderr: never panics (a closed pipe drops it), and a live progress
/// line is cleared first and drawn again after.
pub fn err_line(line: &str) {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    let write = || {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    };
    let live = LIVE.lock().map(|l| l.clone()).unwrap_or(None);
    match live {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A live line redrawn in place (a terminal).
    Live,
    /// A plain line now and then (a pipe, a file, CI, NO_COLOR).
    Plain,
    /// Nothing (tests of other output, `quiet`).
    Off,
}

impl Style {
    /// Live on a terminal that accepts escape codes, plain otherwise.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() && !dumb {
            Style::Live
        } else {
            Style::Plain
        }
    }
}

/// One wait being shown.
#[derive(Debug)]
struct Wait {
    id: u64,
    what: String,
    limit: Duration,
    started: Instant,
    event: Option<String>,
    bar: Option<ProgressBar>,
    /// When the next plain line is due.
    next_plain: Instant,
}

/// The progress of a run's waits.
#[derive(Debug)]
pub struct Progress {
    style: Style,
    every: Duration,
    current: Mutex<Option<Wait>>,
    next_id: Mutex<u64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new(Style::detect(), DEFAULT_EVERY)
    }
}

/// `0:42`, `12:05`, `1:02:03`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

impl Progress {
    pub fn new(style: Style, every: Duration) -> Self {
        Progress {
            style,
            every: every.max(Duration::from_millis(100)),
            current: Mutex::new(None),
            next_id: Mutex::new(0),
        }
    }

    pub fn style(&self) -> Style {
        self.style
    }

    /// How often a plain line is written.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// How often [`Progress::tick`] should be called while a wait goes on.
    pub fn tick_interval(&self) -> Duration {
        match self.style {
            Style::Live => Duration::from_millis(200),
            _ => Duration::from_millis(500),
        }
    }

    /// A wait starts; returns its id for [`Progress::end`] (0: an outer wait is already
    /// shown, this one is part of it).
    pub fn begin(&self, what: &str, limit: Duration) -> u64 {
        if self.style == Style::Off {
            return 0;
        }
        let mut cur = self.current.lock().unwrap();
        if cur.is_some() {
            return 0;
        }
        let id = {
            let mut n = self.next_id.lock().unwrap();
            *n += 1;
            *n
        };
        let now = Instant::now();
        *cur = Some(Wait {
            id,
            what: what.to_owned(),
            limit,
            started: now,
            event: None,
            bar: None,
            next_plain: now + GRACE,
        });
        id
    }

    /// The wait `id` ended: its live line is cleared.
    pub fn end(&self, id: u64) {
        if id == 0 {
            return;
        }
        let mut cur = self.current.lock().unwrap();
        if cur.as_ref().is_some_and(|w| w.id == id)
            && let Some(w) = cur.take()
            && let Some(bar) = w.bar
        {
            *LIVE.lock().unwrap() = None;
            bar.finish_and_clear();
        }
    }

    /// The latest relevant event of the running wait (a pod phase, a log line): its first
    /// line, at most 120 characters. `redact` is applied before it is shown.
    pub fn event(&self, text: &str) {
        let first = text.lines().next().unwrap_or("").trim();
        let shown: String = if first.chars().count() > 120 {
            format!("{}…", first.chars().take(119).collect::<String>())
        } else {
            first.to_owned()
        };
        if let Some(w) = self.current.lock().unwrap().as_mut() {
            w.event = (!shown.is_empty()).then_some(shown);
        }
    }

    /// Whether a wait is being shown now.
    pub fn waiting(&self) -> Option<String> {
        self.current.lock().unwrap().as_ref().map(|w| w.what.clone())
    }

    /// Shows the running wait, if it is due: the live line is redrawn, a plain line is
    /// written every [`Progress::every`]. `redact` removes secrets from what is shown.
    pub fn tick(&self, redact: &dyn Fn(&str) -> String) {
        let mut cur = self.current.lock().unwrap();
        let Some(w) = cur.as_mut() else { return };
        let elapsed = w.started.elapsed();
        if elapsed < GRACE {
            return;
        }
        let event = w.event.as_deref().map(|e| format!(" — {}", redact(e))).unwrap_or_default();
        let facts = format!("{} / {}", clock(elapsed), clock(w.limit));
        match self.style {
            Style::Off => {}
            Style::Live => {
                let bar = w.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {wide_msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner())
                            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
                    );
                    *LIVE.lock().unwrap() = Some(bar.clone());
                    bar
                });
                bar.set_message(format!("{} [{facts}]{event}", w.what));
                bar.tick();
            }
            Style::Plain => {
                let now = Instant::now();
                if now >= w.next_plain {
                    w.next_plain = now + self.every;
                    let line = format!("  ⋯ {} [{facts}]{event}", w.what);
                    drop(cur);
                    err_line(&line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_shows_minutes_and_hours() {
        assert_eq!(clock(Duration::from_secs(5)), "0:05");
        assert_eq!(clock(Duration::from_secs(605)), "10:05");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn a_wait_is_shown_once_the_grace_is_over_and_events_are_bounded() {
        let p = Progress::new(Style::Plain, Duration::from_secs(10));
        let id = p.begin("waiting for Job `acme/x` to complete", Duration::from_secs(60));
        assert_ne!(id, 0);
        assert_eq!(p.begin("an inner request", Duration::from_secs(1)), 0, "one wait at a time");
        p.event(&"x".repeat(300));
        let shown = p.current.lock().unwrap().as_ref().unwrap().event.clone().unwrap();
        assert_eq!(shown.chars().count(), 120);
        p.end(id);
        assert!(p.waiting().is_none());
    }
}
