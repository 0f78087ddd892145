//! Per-system misbehaviour: what the next request gets instead of an honest answer.

use std::time::Duration;

use tokio::time::Instant;

use crate::SystemFaults;
use crate::rng::Rng;
use crate::world::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Proceed,
    /// Accept and never answer.
    Hang,
    /// Over `rate_limit_per_sec`; the client is told to come back in this many seconds.
    RateLimited {
        retry_after_secs: u64,
    },
    /// An injected failure with this HTTP status (SMTP answers 451 whatever it is).
    Fail(u16),
}

pub(crate) struct FaultState {
    pub(crate) faults: SystemFaults,
    fail_left: u32,
    window: Option<(Instant, u32)>,
    /// Seeded, so that a run with an error rate fails the same requests every time.
    rng: Rng,
}

impl FaultState {
    pub(crate) fn new(seed: u64, kind: Kind, faults: SystemFaults) -> Self {
        FaultState {
            fail_left: faults.fail_next,
            faults,
            window: None,
            rng: Rng::new(seed, &["fel", kind.name()]),
        }
    }

    pub(crate) fn set(&mut self, faults: SystemFaults) {
        self.fail_left = faults.fail_next;
        self.faults = faults;
    }

    /// What to do with one request, and how long to wait before answering.
    pub(crate) fn decide(&mut self) -> (Duration, Verdict) {
        if self.faults.hang {
            return (Duration::ZERO, Verdict::Hang);
        }
        if let Some(limit) = self.faults.rate_limit_per_sec {
            let now = Instant::now();
            let (start, count) = match self.window {
                Some((start, count)) if now.duration_since(start) < Duration::from_secs(1) => {
                    (start, count)
                }
                _ => (now, 0),
            };
            if count >= limit {
                self.window = Some((start, count));
                // A gateway in front answers at once, before any slowness of the service.
                return (
                    Duration::ZERO,
                    Verdict::RateLimited {
                        retry_after_secs: 1,
                    },
                );
            }
            self.window = Some((start, count + 1));
        }
        let latency = self.faults.latency;
        if self.fail_left > 0 {
            self.fail_left -= 1;
            return (latency, Verdict::Fail(503));
        }
        if self.faults.error_rate > 0.0 && self.rng.chance(self.faults.error_rate) {
            let status = *self.rng.pick(&[500, 502, 503]);
            return (latency, Verdict::Fail(status));
        }
        (latency, Verdict::Proceed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_then_success_and_rate_limit() {
        let mut f = FaultState::new(
            1,
            Kind::Sesam2,
            SystemFaults {
                fail_next: 2,
                rate_limit_per_sec: Some(3),
                ..Default::default()
            },
        );
        assert_eq!(f.decide().1, Verdict::Fail(503));
        assert_eq!(f.decide().1, Verdict::Fail(503));
        assert_eq!(f.decide().1, Verdict::Proceed);
        assert!(matches!(f.decide().1, Verdict::RateLimited { .. }));
    }

    #[test]
    fn error_rate_is_roughly_honoured() {
        let mut f = FaultState::new(
            1,
            Kind::Treserva,
            SystemFaults {
                error_rate: 0.25,
                ..Default::default()
            },
        );
        let failed = (0..4000)
            .filter(|_| matches!(f.decide().1, Verdict::Fail(_)))
            .count();
        assert!((800..1200).contains(&failed), "{failed}");
    }
}
