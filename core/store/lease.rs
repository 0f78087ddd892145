//! The value of SQLite's tick lease row: `expiry|host|pid`, and whether it is free.

use chrono::{DateTime, Utc};

/// A lease held by this process until `expires`.
pub(super) fn value(expires: DateTime<Utc>) -> String {
    format!(
        "{}|{}|{}",
        expires.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        host(),
        std::process::id()
    )
}

/// Whether a lease row `value` may be taken at `now`: empty (released), unreadable, expired,
/// or held by a process of this host that no longer runs.
pub(super) fn is_free(value: &str, now: DateTime<Utc>) -> bool {
    let mut parts = value.splitn(3, '|');
    let (Some(expires), Some(holder_host), Some(pid)) = (parts.next(), parts.next(), parts.next())
    else {
        return true;
    };
    let Ok(expires) = DateTime::parse_from_rfc3339(expires) else {
        return true;
    };
    if expires <= now {
        return true;
    }
    holder_host == host() && pid.parse::<u32>().is_ok_and(|pid| !running(pid))
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// Whether a process runs on this host (Linux's `/proc`; elsewhere assumed running, so the
/// lease waits for its expiry).
fn running(pid: u32) -> bool {
    let proc = std::path::Path::new("/proc");
    !proc.exists() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_free_when_released_expired_or_its_process_is_gone() {
        let now = Utc::now();
        assert!(is_free("", now));
        assert!(is_free("garbage", now));
        assert!(!is_free(&value(now + chrono::TimeDelta::minutes(5)), now));
        assert!(is_free(&value(now - chrono::TimeDelta::seconds(1)), now));
        let gone = format!(
            "{}|{}|{}",
            (now + chrono::TimeDelta::minutes(5)).to_rfc3339(),
            host(),
            u32::MAX
        );
        assert!(is_free(&gone, now), "a holder that no longer runs");
        let elsewhere = format!(
            "{}|another-host|{}",
            (now + chrono::TimeDelta::minutes(5)).to_rfc3339(),
            u32::MAX
        );
        assert!(
            !is_free(&elsewhere, now),
            "another host's holder waits for expiry"
        );
    }
}
