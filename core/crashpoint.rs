//! Named points where a test can make the process die abruptly, to prove that work
//! interrupted there is neither lost nor done twice. Armed only by the environment variable
//! `LOGGVAKT_CRASH_AT=<point>:<n>`, which aborts the process the n-th time it passes the
//! point; unset (always, outside tests) it costs one relaxed atomic load.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Armed {
    point: String,
    after: u64,
    seen: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let raw = std::env::var("LOGGVAKT_CRASH_AT").ok()?;
            let (point, after) = raw.rsplit_once(':')?;
            Some(Armed {
                point: point.to_owned(),
                after: after.parse().ok()?,
                seen: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Passes the named point; aborts if a test armed it and its count is reached.
pub fn pass(point: &str) {
    if let Some(a) = armed().filter(|a| a.point == point)
        && a.seen.fetch_add(1, Ordering::Relaxed) + 1 >= a.after
    {
        eprintln!("crash point '{point}' reached: aborting as LOGGVAKT_CRASH_AT asks");
        std::process::abort();
    }
}
