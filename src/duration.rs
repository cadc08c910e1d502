//! Durations as people write them: the one parser behind every setting and
//! command-line option that takes one (`REQUEST_TIMEOUT`, the S3 timeouts,
//! `--timeout`, `--poll-interval`, `--expires`).
//!
//! The grammar is `humantime`'s: one or more spans, each a number and a unit
//! (`90s`, `15m`, `2h`, `250ms`, `1h 30m`, `2.5s`), with the units `ms`, `s`,
//! `m`, `h` and `d` (and their longer names: `sec`, `min`, `hour`, `day`, …),
//! in any case. One rule is ours: **a bare number is seconds** (`7`, `2.5`).
//! Weeks, months and years are not taken: months and years have no fixed
//! length, and no setting needs them.
//!
//! Each use says, in a [`Form`], how much of the grammar it takes: whether a
//! bare number is allowed, whether a number may have a fraction, and the
//! largest unit. A use's range (say 0.1 to 900 s) is the caller's to check.

use std::time::Duration;

/// A unit a span may have, smallest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unit {
    /// `ms`, `msec`.
    Millisecond,
    /// `s`, `sec`, `second`, `seconds`.
    Second,
    /// `m`, `min`, `minute`, `minutes`.
    Minute,
    /// `h`, `hr`, `hour`, `hours`.
    Hour,
    /// `d`, `day`, `days`.
    Day,
}

impl Unit {
    /// The unit a (lowercase) suffix names.
    fn from_suffix(suffix: &str) -> Option<Unit> {
        Some(match suffix {
            "ms" | "msec" => Unit::Millisecond,
            "s" | "sec" | "second" | "seconds" => Unit::Second,
            "m" | "min" | "minute" | "minutes" => Unit::Minute,
            "h" | "hr" | "hour" | "hours" => Unit::Hour,
            "d" | "day" | "days" => Unit::Day,
            _ => return None,
        })
    }
}

/// How much of the grammar one use takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    /// Whether a bare number (seconds) is taken.
    pub bare_seconds: bool,
    /// Whether a number may have a fraction (`2.5s`, `1.5`).
    pub fractions: bool,
    /// The largest unit taken.
    pub largest: Unit,
}

impl Form {
    /// The whole grammar.
    pub const ALL: Form = Form {
        bare_seconds: true,
        fractions: true,
        largest: Unit::Day,
    };
}

/// Reads a duration written in `form`; `None` when it is not one.
pub fn parse(text: &str, form: Form) -> Option<Duration> {
    let text = text.trim().to_ascii_lowercase();
    let number = |c: char| c.is_ascii_digit() || c == '.';
    let mut units = text
        .split(|c: char| number(c) || c.is_ascii_whitespace())
        .filter(|s| !s.is_empty())
        .peekable();
    let bare = units.peek().is_none();
    for unit in units {
        if Unit::from_suffix(unit)? > form.largest {
            return None;
        }
    }
    if text.is_empty() || (!form.fractions && text.contains('.')) {
        return None;
    }
    if bare {
        // Only digits and dots are left: `f64` reads no exponent or sign here.
        return match form.bare_seconds {
            true => Duration::try_from_secs_f64(text.parse().ok()?).ok(),
            false => None,
        };
    }
    humantime::parse_duration(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHOLE_HOURS: Form = Form {
        bare_seconds: true,
        fractions: false,
        largest: Unit::Hour,
    };

    #[test]
    fn the_grammar() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("7", ms(7000)),
            ("2.5", ms(2500)),
            (".5", ms(500)),
            ("0", ms(0)),
            ("90s", ms(90_000)),
            ("15m", ms(900_000)),
            ("2h", ms(7_200_000)),
            ("7d", ms(604_800_000)),
            ("250ms", ms(250)),
            ("2.5s", ms(2500)),
            ("500MS", ms(500)),
            ("2S", ms(2000)),
            (" 1h 30m ", ms(5_400_000)),
            ("1h30m", ms(5_400_000)),
            ("3 sec", ms(3000)),
            ("2 hours", ms(7_200_000)),
        ] {
            assert_eq!(parse(text, Form::ALL), Some(want), "{text:?}");
        }
        for bad in [
            "", " ", "s", "m", "-1s", "-1", "+1", "1e2", "inf", "nan", "1w", "1y", "2.5.5", "1.s",
            "1 2", "10x", "1h-", "٣s", "１s", "3µs", "1ns",
        ] {
            assert_eq!(parse(bad, Form::ALL), None, "{bad:?}");
        }
    }

    #[test]
    fn a_form_takes_part_of_it() {
        assert_eq!(parse("7", WHOLE_HOURS), Some(Duration::from_secs(7)));
        for bad in ["5d", "1.5s", "1.5"] {
            assert_eq!(parse(bad, WHOLE_HOURS), None, "{bad}");
        }
        let lifetime = Form {
            bare_seconds: false,
            ..Form::ALL
        };
        assert_eq!(parse("5", lifetime), None);
        assert_eq!(parse("5s", lifetime), Some(Duration::from_secs(5)));
    }

    #[test]
    fn hostile_text_is_refused_without_panicking() {
        // Generated: every short string over an alphabet of digits, units,
        // signs, dots, spaces and multi-byte characters, and huge numbers.
        let alphabet = [
            "1", "9", ".", " ", "s", "m", "h", "d", "ms", "-", "é", "٣", "\u{0}",
        ];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for t in &texts {
                for a in alphabet {
                    next.push(format!("{t}{a}"));
                }
            }
            texts.extend(next);
        }
        texts.push("9".repeat(400));
        texts.push(format!("{}s", "9".repeat(400)));
        texts.push(format!("{}.5", "9".repeat(400)));
        texts.push("18446744073709551616d".into());
        for t in &texts {
            if let Some(d) = parse(t, Form::ALL) {
                // What is taken is only digits, dots, spaces and units.
                assert!(
                    t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == ' '),
                    "{t:?} -> {d:?}"
                );
            }
        }
    }
}
