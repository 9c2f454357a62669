//! The simulator's clock: every delay is a realistic duration divided by the speed
//! factor, so a rehearsal keeps the order and proportions of a real maintenance
//! window while finishing in seconds.

use std::time::Duration;

/// Realistic durations, in seconds, before scaling.
pub mod real {
    /// Scheduling a pod onto the node.
    pub const SCHEDULE: f64 = 1.0;
    /// Pulling an image the node already has.
    pub const PULL_CACHED: f64 = 3.0;
    /// Pulling an image the node has never pulled (a new Vantiq version).
    pub const PULL_NEW: f64 = 90.0;
    /// Starting a container.
    pub const START: f64 = 2.0;
    /// Readiness of a vantiq container after it starts.
    pub const READY_VANTIQ: f64 = 20.0;
    /// Readiness of other containers.
    pub const READY_OTHER: f64 = 8.0;
    /// `load-model` when the schema is already current.
    pub const LOAD_MODEL: f64 = 5.0;
    /// A whole schema migration (logged in 8 steps).
    pub const MIGRATION: f64 = 90.0;
    /// Graceful termination of a vantiq pod.
    pub const TERMINATE_VANTIQ: f64 = 10.0;
    /// Graceful termination of other pods.
    pub const TERMINATE_OTHER: f64 = 2.0;
    /// A mongodump or mongorestore job.
    pub const BACKUP: f64 = 60.0;
    /// The volume expansion by the CSI resizer.
    pub const RESIZE: f64 = 10.0;
    /// The file system expansion on the node.
    pub const FS_RESIZE: f64 = 4.0;
    /// The first crash-loop back-off.
    pub const BACKOFF: f64 = 10.0;
    /// How often a ready vantiq server writes application data.
    pub const APP_WRITE_PERIOD: f64 = 30.0;
}

/// Pulling a new image never takes less than this much wall time, whatever the speed:
/// it is the operator's reaction window in the minor upgrade (scale vantiq to 1 right
/// after `deployVantiq`), which no speed factor can shorten.
pub const MIN_NEW_PULL: Duration = Duration::from_millis(1500);

/// The default speed factor.
pub const DEFAULT_SPEED: f64 = 60.0;

/// Scales realistic durations.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub speed: f64,
}

impl Clock {
    pub fn new(speed: f64) -> Clock {
        Clock {
            speed: if speed.is_finite() && speed > 0.0 { speed } else { DEFAULT_SPEED },
        }
    }
    /// The wall-clock duration of `secs` realistic seconds.
    pub fn d(&self, secs: f64) -> Duration {
        Duration::from_secs_f64((secs / self.speed).max(0.0))
    }
    /// Sleeps `secs` realistic seconds.
    pub async fn sleep(&self, secs: f64) {
        tokio::time::sleep(self.d(secs)).await;
    }
}
