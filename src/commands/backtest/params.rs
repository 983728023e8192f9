//! Window parameters of the command line: one number of bars, or a range that runs a sweep.

use std::str::FromStr;

/// Largest number of values one range may expand to, so that a typo cannot start millions of
/// runs.
const MAX_RANGE_VALUES: usize = 10_000;

/// `N`, or `A..B` with an optional `:STEP` (both ends included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowParam {
    Single(usize),
    Range {
        start: usize,
        end: usize,
        step: Option<usize>,
    },
}

impl FromStr for WindowParam {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| format!("{part:?} in {text:?} is not a whole number of bars"))
        };
        let Some((start, rest)) = text.split_once("..") else {
            return Ok(Self::Single(number(text)?));
        };
        let (end, step) = match rest.split_once(':') {
            Some((end, step)) => (end, Some(number(step)?)),
            None => (rest, None),
        };
        let (start, end) = (number(start)?, number(end)?);
        if end < start {
            return Err(format!(
                "range {text:?} ends before it starts; write A..B with A <= B"
            ));
        }
        if step == Some(0) {
            return Err(format!("range {text:?} has a step of 0; use 1 or more"));
        }
        Ok(Self::Range { start, end, step })
    }
}

impl WindowParam {
    /// Whether this parameter is a range, which runs a sweep.
    pub fn is_range(self) -> bool {
        matches!(self, Self::Range { .. })
    }

    /// Returns the values, using `default_step` for a range without its own step.
    ///
    /// # Errors
    /// Fails when the range expands to more than 10,000 values.
    pub fn values(self, default_step: usize) -> Result<Vec<usize>, String> {
        let (start, end, step) = match self {
            Self::Single(bars) => return Ok(vec![bars]),
            Self::Range { start, end, step } => (start, end, step.unwrap_or(default_step)),
        };
        let count = (end - start) / step.max(1) + 1;
        if count > MAX_RANGE_VALUES {
            return Err(format!(
                "range {start}..{end}:{step} has {count} values; at most {MAX_RANGE_VALUES}"
            ));
        }
        Ok((start..=end).step_by(step.max(1)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_and_ranges() {
        let cases = [
            ("10", WindowParam::Single(10)),
            (
                "5..50",
                WindowParam::Range {
                    start: 5,
                    end: 50,
                    step: None,
                },
            ),
            (
                "20..200:10",
                WindowParam::Range {
                    start: 20,
                    end: 200,
                    step: Some(10),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<WindowParam>(), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejects_broken_ranges() {
        for text in ["x", "5..", "50..5", "5..50:0", "5..50:x", "-3"] {
            assert!(text.parse::<WindowParam>().is_err(), "{text}");
        }
    }

    #[test]
    fn expands_with_own_or_default_step() {
        let range = WindowParam::Range {
            start: 5,
            end: 20,
            step: None,
        };
        assert_eq!(range.values(5), Ok(vec![5, 10, 15, 20]));
        let stepped = WindowParam::Range {
            start: 5,
            end: 21,
            step: Some(8),
        };
        assert_eq!(stepped.values(1), Ok(vec![5, 13, 21]));
        let huge = WindowParam::Range {
            start: 1,
            end: 1_000_000,
            step: None,
        };
        assert!(huge.values(1).is_err());
    }
}
