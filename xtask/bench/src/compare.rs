//! The arithmetic of comparing: medians and spreads over rounds, the ratio
//! of two servers measured at once, and the check that no result beats the
//! kernel's floor, which only a busy machine makes happen.

use serde::{Deserialize, Serialize};

/// The median of `values`: the middle one after sorting, or the mean of
/// the two middle ones; 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// What the rounds measured of one thing: their median, lowest and highest.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        Spread {
            median: median(values.to_vec()),
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
        .or_zero()
    }

    /// No rounds: all zero.
    fn or_zero(self) -> Spread {
        if self.min.is_finite() {
            self
        } else {
            Spread {
                median: 0.0,
                min: 0.0,
                max: 0.0,
            }
        }
    }

    /// How far apart the rounds were, as a fraction of their median:
    /// (highest − lowest) / median; 0 for a single round.
    pub fn relative(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

/// The ratio `first / second` of two rates measured at once, round by
/// round (the pairs of one round saw the same machine; different rounds
/// may not have), and its spread over the rounds.
pub fn ratios(rates: &[(f64, f64)]) -> Spread {
    let ratios: Vec<f64> = rates
        .iter()
        .map(|&(first, second)| first / second.max(f64::MIN_POSITIVE))
        .collect();
    Spread::of(&ratios)
}

/// How much a rate beats its floor (as a fraction: 0.05 is 5% faster),
/// where it beats it by more than its own spread over the rounds. Nothing
/// can be faster than the kernel alone doing the same; a server that is
/// measured faster, by more than its rounds differ from one another, was
/// measured at a moment when the machine was faster than when the floor
/// was (the floor measured while something else ran).
pub fn beats_floor(rate: Spread, floor: f64) -> Option<f64> {
    if floor <= 0.0 {
        return None;
    }
    let beat = rate.median / floor - 1.0;
    (beat > rate.relative()).then_some(beat)
}

/// A result that beat the kernel's floor: impossible on a quiet machine.
#[derive(Debug, PartialEq)]
pub struct TooBusy {
    /// What was measured: `select-server, 1000 idle`.
    pub what: String,
    /// By how much it beat the floor, as a fraction.
    pub beat: f64,
    /// Its own spread over the rounds, as a fraction.
    pub spread: f64,
}

/// What says so: one line, then one line for each result. With one
/// round there is no spread to allow for, and it says that instead.
pub fn too_busy_warning(found: &[TooBusy], rounds: usize) -> String {
    let mut warning = format!(
        "the machine was too busy during this run: {} result(s) beat the kernel's floor, \
         which nothing can; rerun on a quieter machine",
        found.len()
    );
    for too_busy in found {
        let allowed = if rounds > 1 {
            format!(
                ", more than its rounds' spread ({:.1}%)",
                100.0 * too_busy.spread
            )
        } else {
            String::new()
        };
        warning.push_str(&format!(
            "\n  {}: {:.1}% above the floor{allowed}",
            too_busy.what,
            100.0 * too_busy.beat
        ));
    }
    warning
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_rounds() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }

    #[test]
    fn a_spread_is_the_range_over_the_median() {
        let spread = Spread::of(&[10.0, 12.0, 9.0, 11.0, 10.0]);
        assert_eq!(
            spread,
            Spread {
                median: 10.0,
                min: 9.0,
                max: 12.0
            }
        );
        assert!((spread.relative() - 0.3).abs() < 1e-12);
        assert_eq!(Spread::of(&[7.0]).relative(), 0.0);
        assert_eq!(Spread::of(&[]).relative(), 0.0);
    }

    #[test]
    fn ratios_are_taken_round_by_round() {
        // Round by round, the first is twice as fast; the medians of the
        // rates alone (20 against 15) would say 1.33.
        let spread = ratios(&[(10.0, 5.0), (20.0, 10.0), (30.0, 15.0)]);
        assert_eq!(spread.median, 2.0);
        assert_eq!(spread.relative(), 0.0);
        let spread = ratios(&[(9.0, 10.0), (11.0, 10.0), (10.0, 10.0)]);
        assert_eq!(
            spread,
            Spread {
                median: 1.0,
                min: 0.9,
                max: 1.1
            }
        );
    }

    #[test]
    fn beating_the_floor_by_more_than_the_spread_is_too_busy() {
        let rates = |values: &[f64]| Spread::of(values);
        // Below the floor: fine.
        assert_eq!(beats_floor(rates(&[95.0, 99.0, 97.0]), 100.0), None);
        // Above it, but by less than the rounds differ: within the noise.
        assert_eq!(beats_floor(rates(&[96.0, 102.0, 106.0]), 100.0), None);
        // Above it by more than the rounds differ: impossible.
        let beat = beats_floor(rates(&[104.0, 105.0, 106.0]), 100.0).unwrap();
        assert!((beat - 0.05).abs() < 1e-12);
        // One round has no spread: any beat at all is too much.
        assert!(beats_floor(rates(&[100.5]), 100.0).is_some());
        assert_eq!(beats_floor(rates(&[100.0]), 100.0), None);
        // No floor measured: nothing to say.
        assert_eq!(beats_floor(rates(&[100.0]), 0.0), None);
    }

    #[test]
    fn the_warning_names_each_result_on_a_line_and_says_rerun() {
        let found = [
            TooBusy {
                what: "server1.c".to_string(),
                beat: 0.031,
                spread: 0.0,
            },
            TooBusy {
                what: "epoll-server, 1000 idle".to_string(),
                beat: 0.1,
                spread: 0.02,
            },
        ];
        assert_eq!(
            too_busy_warning(&found, 5),
            "the machine was too busy during this run: 2 result(s) beat the kernel's floor, \
             which nothing can; rerun on a quieter machine\n  \
             server1.c: 3.1% above the floor, more than its rounds' spread (0.0%)\n  \
             epoll-server, 1000 idle: 10.0% above the floor, more than its rounds' spread (2.0%)"
        );
        // One round has no spread to speak of.
        assert!(!too_busy_warning(&found, 1).contains("spread"));
    }
}
