//! The HubSpot rate-limit budget: what the last `X-HubSpot-RateLimit-*`
//! headers said, and how long to wait before the next call when the
//! 10-second window is spent.
//!
//! Owns header parsing and the wait decision only (pure, with the time
//! passed in); the client applies it.

use reqwest::header::HeaderMap;
use std::time::Duration;
use tokio::time::Instant;

/// The allowance HubSpot reported on its latest response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateBudget {
    /// Requests allowed per window (`X-HubSpot-RateLimit-Max`).
    pub interval_max: Option<u32>,
    /// Requests left in the window (`X-HubSpot-RateLimit-Remaining`).
    pub interval_remaining: Option<u32>,
    /// Window length (`X-HubSpot-RateLimit-Interval-Milliseconds`, normally 10 s).
    pub interval: Duration,
    /// Daily allowance (`X-HubSpot-RateLimit-Daily`).
    pub daily_max: Option<u64>,
    /// Requests left today (`X-HubSpot-RateLimit-Daily-Remaining`).
    pub daily_remaining: Option<u64>,
    /// When these figures were read; `None` before the first answer.
    pub observed_at: Option<Instant>,
}

impl Default for RateBudget {
    fn default() -> Self {
        Self {
            interval_max: None,
            interval_remaining: None,
            interval: Duration::from_secs(10),
            daily_max: None,
            daily_remaining: None,
            observed_at: None,
        }
    }
}

fn header<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

impl RateBudget {
    /// Updates the budget from a response; responses without the headers
    /// (search, errors from the edge) leave it as it was.
    pub fn observe(&mut self, headers: &HeaderMap, now: Instant) {
        let remaining = header::<u32>(headers, "x-hubspot-ratelimit-remaining");
        let daily_remaining = header::<u64>(headers, "x-hubspot-ratelimit-daily-remaining");
        if remaining.is_none() && daily_remaining.is_none() {
            return;
        }
        if let Some(ms) = header::<u64>(headers, "x-hubspot-ratelimit-interval-milliseconds") {
            self.interval = Duration::from_millis(ms);
        }
        if remaining.is_some() {
            self.interval_remaining = remaining;
            self.interval_max = header(headers, "x-hubspot-ratelimit-max").or(self.interval_max);
        }
        if daily_remaining.is_some() {
            self.daily_remaining = daily_remaining;
            self.daily_max = header(headers, "x-hubspot-ratelimit-daily").or(self.daily_max);
        }
        self.observed_at = Some(now);
    }

    /// How long to wait before the next call: until the window that was
    /// spent when last observed has rolled over, or nothing.
    pub fn wait_before_next(&self, now: Instant) -> Option<Duration> {
        let observed = self.observed_at?;
        if self.interval_remaining != Some(0) {
            return None;
        }
        let ready = observed + self.interval;
        (ready > now).then(|| ready - now)
    }

    /// Counts a call made since the last observation, so that a burst of
    /// concurrent calls does not all pass on one stale "remaining".
    pub fn spend_one(&mut self) {
        if let Some(r) = self.interval_remaining.as_mut() {
            *r = r.saturating_sub(1);
        }
        if let Some(d) = self.daily_remaining.as_mut() {
            *d = d.saturating_sub(1);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_spent_window_means_waiting_until_it_rolls_over() {
        let now = Instant::now();
        let mut b = RateBudget::default();
        b.observe(
            &headers(&[
                ("x-hubspot-ratelimit-max", "190"),
                ("x-hubspot-ratelimit-remaining", "0"),
                ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
                ("x-hubspot-ratelimit-daily", "1000"),
                ("x-hubspot-ratelimit-daily-remaining", "900"),
            ]),
            now,
        );
        assert_eq!(b.interval_max, Some(190));
        assert_eq!(b.daily_remaining, Some(900));
        assert_eq!(b.wait_before_next(now + Duration::from_secs(4)), Some(Duration::from_secs(6)));
        assert_eq!(b.wait_before_next(now + Duration::from_secs(10)), None);
    }

    #[test]
    fn responses_without_rate_headers_leave_the_budget_unchanged() {
        let now = Instant::now();
        let mut b = RateBudget::default();
        b.observe(&headers(&[("x-hubspot-ratelimit-remaining", "5")]), now);
        b.observe(&HeaderMap::new(), now);
        assert_eq!(b.interval_remaining, Some(5));
        assert_eq!(b.wait_before_next(now), None);
        b.spend_one();
        assert_eq!(b.interval_remaining, Some(4));
    }
}
