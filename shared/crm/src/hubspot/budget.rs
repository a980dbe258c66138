//! The HubSpot rate-limit budget: what the last `X-HubSpot-RateLimit-*`
//! headers said; and the client's own log of its sends ([`SendLog`]),
//! which keeps it under the rolling window however many calls are in flight
//! at once. When HubSpot counts more calls in its window than the log holds
//! (a request's arrival lags its send, or another process of the app calls
//! too), the log takes the difference in as sends made just now
//! ([`SendLog::reconcile`]), so that the next call waits for the oldest
//! sends to leave the window rather than for a whole window.
//!
//! Owns header parsing and the wait decision only (pure, with the time
//! passed in); the client applies it.

use reqwest::header::HeaderMap;
use std::collections::VecDeque;
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
    /// Returns the window's remaining requests when the response said them.
    pub fn observe(&mut self, headers: &HeaderMap, now: Instant) -> Option<u32> {
        let remaining = header::<u32>(headers, "x-hubspot-ratelimit-remaining");
        let daily_remaining = header::<u64>(headers, "x-hubspot-ratelimit-daily-remaining");
        if remaining.is_none() && daily_remaining.is_none() {
            return None;
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
        remaining
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

/// Requests per 10 s assumed before HubSpot has said (the lowest tier's
/// burst limit for a private app).
pub const DEFAULT_WINDOW_MAX: u32 = 100;

/// The requests this client sent within the last window, so that it never
/// sends more than the window allows within any rolling window (HubSpot
/// counts a rolling 10 s per app): a call waits until the oldest send
/// leaves the window. A fiftieth of the allowance is kept back for the
/// time a request takes to arrive.
#[derive(Debug, Default)]
pub struct SendLog {
    sent: VecDeque<Instant>,
}

impl SendLog {
    /// How long to wait before the next send when `max` requests are
    /// allowed per `interval`; `None`: it may go now.
    pub fn wait_before_send(&mut self, now: Instant, max: u32, interval: Duration) -> Option<Duration> {
        self.forget_left(now, interval);
        let allowed = (max - max / 50).max(1) as usize;
        if self.sent.len() < allowed {
            return None;
        }
        // Once the oldest `len - allowed + 1` sends have left, one is free.
        let frees = self.sent[self.sent.len() - allowed] + interval;
        Some(frees.saturating_duration_since(now))
    }

    /// Drops the sends that have left the window ending at `now`.
    fn forget_left(&mut self, now: Instant, interval: Duration) {
        while self.sent.front().is_some_and(|&t| now.saturating_duration_since(t) >= interval) {
            self.sent.pop_front();
        }
    }

    /// Notes a send made at `now`.
    pub fn record(&mut self, now: Instant) {
        self.sent.push_back(now);
    }

    /// Moves a send made at `sent_at` to `answered_at`: HubSpot counted it
    /// when it arrived, at the latest when it answered, so the log holds it
    /// no shorter than HubSpot does.
    pub fn answered(&mut self, sent_at: Instant, answered_at: Instant) {
        if let Some(i) = self.sent.iter().position(|&t| t == sent_at) {
            self.sent.remove(i);
            let at = self.sent.partition_point(|&t| t <= answered_at);
            self.sent.insert(at, answered_at);
        }
    }

    /// Takes in what HubSpot answered at `now`: `remaining` of `max` left in
    /// its window. Sends it counted that the log does not hold are noted as
    /// made at `now` (the latest they can have been made), so that the log
    /// never allows more than HubSpot has left. Sends in flight, in the log
    /// and not yet counted by HubSpot, add nothing.
    pub fn reconcile(&mut self, now: Instant, max: u32, remaining: u32, interval: Duration) {
        self.forget_left(now, interval);
        let counted = max.saturating_sub(remaining) as usize;
        while self.sent.len() < counted {
            self.sent.push_back(now);
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
    fn the_headers_give_the_allowance_and_what_is_left() {
        let now = Instant::now();
        let mut b = RateBudget::default();
        let remaining = b.observe(
            &headers(&[
                ("x-hubspot-ratelimit-max", "190"),
                ("x-hubspot-ratelimit-remaining", "0"),
                ("x-hubspot-ratelimit-interval-milliseconds", "10000"),
                ("x-hubspot-ratelimit-daily", "1000"),
                ("x-hubspot-ratelimit-daily-remaining", "900"),
            ]),
            now,
        );
        assert_eq!((remaining, b.interval_max, b.daily_remaining), (Some(0), Some(190), Some(900)));
        assert_eq!(b.interval, Duration::from_secs(10));
    }

    /// HubSpot counting more than the log (arrivals lagging sends at the
    /// window's edge): the next send waits for the oldest sends to leave,
    /// not for a whole window; with nothing unknown to the log, nothing
    /// changes.
    #[test]
    fn a_window_hubspot_says_is_full_waits_for_the_oldest_sends_not_a_whole_window() {
        let start = Instant::now();
        let interval = Duration::from_secs(10);
        let mut log = SendLog::default();
        // 100 sends over the first second, 86 over the ninth.
        for i in 0..100u64 {
            log.record(start + Duration::from_millis(i * 10));
        }
        for i in 0..86u64 {
            log.record(start + Duration::from_millis(8_000 + i * 10));
        }
        let now = start + Duration::from_millis(9_000);
        assert_eq!(log.wait_before_send(now, 190, interval), None, "186 of 187 allowed");
        log.reconcile(now, 190, 4, interval);
        assert_eq!(log.wait_before_send(now, 190, interval), None, "HubSpot counts what the log holds");
        log.reconcile(now, 190, 0, interval);
        let wait = log.wait_before_send(now, 190, interval).expect("the window is full");
        assert_eq!(wait, Duration::from_millis(1_030), "until the fourth oldest send leaves");
        // Sends in flight (in the log, not yet counted) add nothing.
        let mut log = SendLog::default();
        for _ in 0..10 {
            log.record(start);
        }
        log.reconcile(start, 190, 185, interval);
        assert_eq!(log.sent.len(), 10);
    }

    #[test]
    fn responses_without_rate_headers_leave_the_budget_unchanged() {
        let now = Instant::now();
        let mut b = RateBudget::default();
        b.observe(&headers(&[("x-hubspot-ratelimit-remaining", "5")]), now);
        b.observe(&HeaderMap::new(), now);
        assert_eq!(b.interval_remaining, Some(5));
        b.spend_one();
        assert_eq!(b.interval_remaining, Some(4));
    }

    /// Sends at the times the log allows, `callers` at once: no rolling
    /// window ever holds more than the allowance.
    #[test]
    fn the_send_log_keeps_every_rolling_window_within_the_allowance() {
        let start = Instant::now();
        let interval = Duration::from_secs(10);
        for (max, callers) in [(4_u32, 8_usize), (190, 400), (100, 1)] {
            let mut log = SendLog::default();
            let mut sends = Vec::new();
            let mut now = start;
            let mut waiting = callers * 3;
            while waiting > 0 {
                match log.wait_before_send(now, max, interval) {
                    None => {
                        log.record(now);
                        sends.push(now);
                        waiting -= 1;
                    }
                    Some(wait) => {
                        assert!(wait > Duration::ZERO && wait <= interval);
                        now += wait;
                    }
                }
            }
            let allowed = (max - max / 50) as usize;
            for (i, &t) in sends.iter().enumerate() {
                let within = sends[i..].iter().take_while(|&&u| u.duration_since(t) < interval).count();
                assert!(within <= allowed, "max {max}: {within} sends within one window");
            }
            // And it does not wait for nothing: the first window is full.
            assert_eq!(sends.iter().filter(|&&t| t.duration_since(start) < interval).count(), allowed.min(callers * 3));
        }
    }

    /// A send leaves the log a window after its answer, not after its send:
    /// HubSpot counted it on arrival, which may come later than the send.
    #[test]
    fn a_send_is_held_until_a_window_after_its_answer() {
        let start = Instant::now();
        let interval = Duration::from_secs(10);
        let mut log = SendLog::default();
        log.record(start);
        log.record(start + Duration::from_millis(100));
        log.answered(start, start + Duration::from_millis(500));
        let at = start + Duration::from_millis(10_200);
        assert_eq!(log.wait_before_send(at, 1, interval), Some(Duration::from_millis(300)));
        assert_eq!(log.wait_before_send(start + Duration::from_millis(10_500), 1, interval), None);
    }

    #[test]
    fn a_lower_allowance_learnt_later_waits_for_enough_sends_to_leave() {
        let start = Instant::now();
        let mut log = SendLog::default();
        for i in 0..5 {
            log.record(start + Duration::from_secs(i));
        }
        let now = start + Duration::from_secs(5);
        // 5 sends in the window and only 2 allowed: the fourth send to
        // leave (at 13 s) makes room.
        assert_eq!(log.wait_before_send(now, 2, Duration::from_secs(10)), Some(Duration::from_secs(8)));
        assert_eq!(log.wait_before_send(start + Duration::from_secs(13), 2, Duration::from_secs(10)), None);
    }
}
