//! `--work SECONDS`: how long a server pretends to work before it replies.

use std::time::Duration;

/// The longest work a server accepts: a day, so that a deadline of "now
/// plus the work" is always a time the clock can hold.
pub const MAX_WORK: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a number of seconds such as `5`, `0` or `0.5`, at most
/// [`MAX_WORK`], into a [`Duration`].
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    let work = Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("`{text}` is not a number of seconds from 0 up"))?;
    if work > MAX_WORK {
        return Err(format!("`{text}` is more than a day (86400 seconds)"));
    }
    Ok(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_whole_and_fractional_seconds() {
        assert_eq!(parse_seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("86400"), Ok(MAX_WORK));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["-1", "soon", "NaN", "inf", "", "86401", "1e300"] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
