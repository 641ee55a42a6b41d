//! When a failed request is worth another try, and how long to wait first: exponential backoff
//! with full jitter, unless the server said how long with `Retry-After`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

/// The ceiling of the first backoff; it doubles with every retry.
const BASE_DELAY: Duration = Duration::from_millis(250);

/// No computed backoff is longer than this.
const MAX_DELAY: Duration = Duration::from_secs(20);

/// A server's `Retry-After` is obeyed up to this long; a longer one is cut to it.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether an HTTP status means "try again later": a request timeout, rate limiting, a server
/// error, a gateway failure, or Anthropic's 529 "overloaded".
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504 | 529)
}

/// How long to wait before retry number `retry` (0 for the first retry): a uniformly random
/// duration up to `BASE_DELAY * 2^retry`, capped at `MAX_DELAY` ("full jitter", which spreads
/// the retries of many concurrent callers instead of synchronising them).
pub(crate) fn backoff(retry: u32) -> Duration {
    let ceiling = BASE_DELAY
        .checked_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
        .map_or(MAX_DELAY, |delay| delay.min(MAX_DELAY));
    ceiling.mul_f64(fastrand::f64())
}

/// The wait a response asks for: OpenAI's `retry-after-ms`, else the standard `Retry-After` in
/// seconds or as an HTTP-date. Capped at [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let wait = text("retry-after-ms")
        .and_then(|milliseconds| parse_seconds(milliseconds).map(|wait| wait / 1000))
        .or_else(|| {
            text("retry-after").and_then(|value| parse_retry_after(value, SystemTime::now()))
        });
    wait.map(|wait| wait.min(MAX_RETRY_AFTER))
}

/// A `Retry-After` value: delay seconds (`120`, or `1.5` as some servers send) or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), which is measured from `now`. A date in the past means no
/// wait. Not capped.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Some(wait) = parse_seconds(value) {
        return Some(wait);
    }
    let date = parse_http_date(value)?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A non-negative, finite number of seconds.
fn parse_seconds(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    if seconds.is_finite() && seconds >= 0.0 {
        Duration::try_from_secs_f64(seconds).ok()
    } else {
        None
    }
}

/// An IMF-fixdate (RFC 9110 section 5.6.7), the only form senders may generate.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let mut parts = value.split_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|name| *name == month)? as u32 + 1;
    let mut clock = time.split(':').map(|part| part.parse::<u32>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if clock.next().is_some() || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let seconds = u64::try_from(seconds).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses() {
        for status in [429, 500, 502, 503, 504, 529] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 400, 401, 403, 404, 422] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for retry in 0..100 {
            let ceiling = if retry < 7 {
                BASE_DELAY * (1 << retry)
            } else {
                MAX_DELAY
            };
            assert!(backoff(retry) <= ceiling.min(MAX_DELAY), "retry {retry}");
        }
    }

    #[test]
    fn retry_after_in_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_as_a_date() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let expected = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_http_date(date), Some(expected));
        let now = expected - Duration::from_secs(30);
        assert_eq!(parse_retry_after(date, now), Some(Duration::from_secs(30)));
        let later = expected + Duration::from_secs(30);
        assert_eq!(parse_retry_after(date, later), Some(Duration::ZERO));
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49 GMT"), None);
    }

    #[test]
    fn retry_after_headers_are_capped() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "3600".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
    }
}
