//! A requests-per-minute limit shared by every task that calls one model: requests start at
//! least `60s / limit` apart, each task waiting asynchronously for its own slot.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Hands out start times spaced by a fixed interval (a token bucket holding one token).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    /// The earliest start time not yet handed out.
    next_slot: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter allowing `requests` per minute; `None` for no limit (`None` or 0).
    pub(crate) fn per_minute(requests: Option<u32>) -> Option<RateLimiter> {
        let requests = requests.filter(|requests| *requests > 0)?;
        Some(RateLimiter {
            interval: Duration::from_secs(60) / requests,
            next_slot: Mutex::new(None),
        })
    }

    /// Waits for this caller's slot. A caller that gives up while waiting still used its slot.
    pub(crate) async fn wait(&self) {
        let slot = {
            // A panic while holding this lock cannot leave the slot inconsistent: take it over.
            let mut next_slot = self
                .next_slot
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let slot = next_slot.map_or(now, |next| next.max(now));
            *next_slot = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_for_none_or_zero() {
        assert!(RateLimiter::per_minute(None).is_none());
        assert!(RateLimiter::per_minute(Some(0)).is_none());
    }

    #[tokio::test]
    async fn requests_are_spaced_by_the_interval() {
        let Some(limiter) = RateLimiter::per_minute(Some(1200)) else {
            panic!("1200 per minute is a limit");
        };
        let start = Instant::now();
        for _ in 0..5 {
            limiter.wait().await;
        }
        // The first starts at once, the other four 50 ms apart each.
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }
}
