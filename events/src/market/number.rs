//! Fast paths for the numbers of market data files: plain decimals such as `117043.4` and
//! plain integers such as `1758240000000`, parsed straight from bytes.
//!
//! Each returns `None` for anything else (a sign, an exponent, too many digits, spaces), and
//! the caller falls back to the standard library's parser, so the result is always the same
//! as `str::parse` would give.

/// Powers of ten that an f64 holds exactly.
const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Largest integer below which every integer is exact in an f64.
const EXACT_INTEGERS: u64 = 1 << 53;

/// Parses `digits[.digits]` when its digits form an integer below 2^53 and it has at most 22
/// decimal places. Both the digits and the power of ten are then exact f64 values, and IEEE
/// division rounds their quotient correctly, which is the value the decimal text denotes
/// rounded once, as `str::parse::<f64>` returns it.
pub(super) fn plain_decimal(field: &[u8]) -> Option<f64> {
    let mut decimal = PlainDecimal::default();
    for &byte in field {
        decimal.push(byte)?;
    }
    decimal.value()
}

/// The digits of a plain decimal read so far.
#[derive(Default)]
struct PlainDecimal {
    mantissa: u64,
    digits: usize,
    /// Digits after the point, once a point was read.
    places: Option<usize>,
}

impl PlainDecimal {
    /// Takes one more byte; `None` for anything but a digit or a first point, or an overflow.
    fn push(&mut self, byte: u8) -> Option<()> {
        match byte {
            b'0'..=b'9' => {
                self.mantissa = self
                    .mantissa
                    .checked_mul(10)?
                    .checked_add(u64::from(byte - b'0'))?;
                self.digits += 1;
                if let Some(places) = self.places.as_mut() {
                    *places += 1;
                }
                Some(())
            }
            b'.' if self.places.is_none() => {
                self.places = Some(0);
                Some(())
            }
            _ => None,
        }
    }

    /// Returns the value when it is exact as described at [`plain_decimal`].
    fn value(&self) -> Option<f64> {
        let places = self.places.unwrap_or(0);
        let exact = self.digits > 0 && self.mantissa < EXACT_INTEGERS;
        (exact && places < POWERS_OF_TEN.len())
            .then(|| self.mantissa as f64 / POWERS_OF_TEN[places])
    }
}

/// Parses a field of ASCII digits only, without overflow.
pub(super) fn plain_integer(field: &[u8]) -> Option<i64> {
    if field.is_empty() || field.len() > 18 {
        return None;
    }
    let mut value: i64 = 0;
    for &byte in field {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

/// Reads one row of the kline layout in a single pass, when it has the common form: plain
/// integers and decimals, empty or plain optional columns, no spaces, times in milliseconds,
/// and prices in order. Returns the candle and the bytes used, its line end included. Anything
/// else returns `None`, so the caller parses the line field by field, which also words the
/// error.
pub(super) fn common_row(input: &[u8]) -> Option<(super::Candle, usize)> {
    let mut cursor = Cursor { input, at: 0 };
    let open_time_ms = cursor.integer()?;
    let open = cursor.decimal()?;
    let high = cursor.decimal()?;
    let low = cursor.decimal()?;
    let close = cursor.decimal()?;
    let volume = cursor.decimal()?;
    let close_time_ms = cursor.integer()?;
    for optional in 0..4 {
        if cursor.peek() == Some(b',') {
            cursor.at += 1;
        } else if optional == 1 {
            cursor.integer()?;
        } else {
            cursor.decimal()?;
        }
    }
    let used = cursor.line_end()?;

    let times_valid = open_time_ms <= super::MAX_TIME_MS
        && close_time_ms <= super::MAX_TIME_MS
        && close_time_ms >= open_time_ms;
    let prices_valid =
        low > 0.0 && high >= low && high >= open && high >= close && low <= open && low <= close;
    let candle = super::Candle {
        open_time_ms,
        open,
        high,
        low,
        close,
        volume,
    };
    (times_valid && prices_valid).then_some((candle, used))
}

/// A position in the input, reading comma-terminated fields.
struct Cursor<'a> {
    input: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    /// Reads digits up to and including the next comma.
    fn integer(&mut self) -> Option<i64> {
        let start = self.at;
        let mut value: i64 = 0;
        while let Some(&byte) = self.input.get(self.at) {
            self.at += 1;
            match byte {
                b'0'..=b'9' => {
                    value = value.checked_mul(10)?.checked_add(i64::from(byte - b'0'))?
                }
                b',' if self.at - 1 > start => return Some(value),
                _ => return None,
            }
        }
        None
    }

    /// Reads `digits[.digits]` up to and including the next comma, with the rules of
    /// [`plain_decimal`].
    fn decimal(&mut self) -> Option<f64> {
        let mut decimal = PlainDecimal::default();
        while let Some(&byte) = self.input.get(self.at) {
            self.at += 1;
            if byte == b',' {
                return decimal.value();
            }
            decimal.push(byte)?;
        }
        None
    }

    /// Skips the last column (which the parser ignores) to the end of the line, and returns
    /// the bytes used with the line end. A comma there means a 13th column.
    fn line_end(&mut self) -> Option<usize> {
        let rest = &self.input[self.at..];
        match rest.iter().position(|&byte| byte == b'\n' || byte == b',') {
            Some(index) if rest[index] == b'\n' => Some(self.at + index + 1),
            Some(_) => None,
            None => Some(self.input.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_match_the_standard_parser() {
        let cases = [
            "117043.4",
            "0.085497",
            "64628.01000000",
            "1",
            "0",
            "0.0",
            "360.735",
            ".5",
            "5.",
            "0.00000231",
            "9007199254740991",
            "123456789.123456",
            "0.1",
            "0.2",
            "0.3",
            "99999.99999999",
        ];
        for text in cases {
            let expected: f64 = text.parse().unwrap();
            assert_eq!(plain_decimal(text.as_bytes()), Some(expected), "{text}");
        }
    }

    #[test]
    fn decimal_fast_path_declines_other_forms() {
        let cases = [
            "",
            ".",
            "-1",
            "+1",
            "1e5",
            "1..2",
            " 1",
            "NaN",
            "inf",
            "9007199254740993",
            "1.00000000000000000000001",
        ];
        for text in cases {
            assert_eq!(plain_decimal(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn decimals_agree_on_a_sweep_of_prices() {
        for cents in (0..2_000_000_u64).step_by(7) {
            let text = format!("{}.{:02}", cents / 100 + 60_000, cents % 100);
            let expected: f64 = text.parse().unwrap();
            assert_eq!(plain_decimal(text.as_bytes()), Some(expected), "{text}");
        }
    }

    #[test]
    fn integers_parse_digits_only() {
        assert_eq!(plain_integer(b"1758240000000"), Some(1_758_240_000_000));
        assert_eq!(plain_integer(b"0"), Some(0));
        for text in ["", "-1", "+1", "1.5", "1_0", "1234567890123456789"] {
            assert_eq!(plain_integer(text.as_bytes()), None, "{text}");
        }
    }
}
