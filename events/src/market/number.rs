//! Fast paths for the numbers of market data files: plain decimals such as `117043.4` and
//! plain integers such as `1758240000000`, parsed straight from bytes.
//!
//! Each returns `None` for anything else (a sign, an exponent, too many digits, spaces), and
//! the caller falls back to the standard library's parser, so the result is always the same
//! as `str::parse` would give.

/// Powers of ten that an f64 holds exactly.
pub(super) const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Largest integer below which every integer is exact in an f64.
const EXACT_INTEGERS: u64 = 1 << 53;

/// Most digits a decimal or an integer may have on the fast paths: 10^18 fits an i64 and
/// 10^19 a u64, so the digits are summed without overflow checks.
const MAX_INTEGER_DIGITS: usize = 18;
const MAX_DECIMAL_DIGITS: usize = 19;

/// Parses `digits[.digits]` when its digits form an integer below 2^53. Both the digits and the
/// power of ten are then exact f64 values, and IEEE division rounds their quotient correctly,
/// which is the value the decimal text denotes rounded once, as `str::parse::<f64>` returns it.
pub(super) fn plain_decimal(field: &[u8]) -> Option<f64> {
    let (value, end) = decimal_at(field, 0)?;
    (end == field.len()).then_some(value)
}

/// Parses a field of ASCII digits only, without overflow.
pub(super) fn plain_integer(field: &[u8]) -> Option<i64> {
    let (value, end) = integer_at(field, 0)?;
    (end == field.len()).then_some(value)
}

/// Returns the value of the ASCII digit at `at`, if there is one.
#[inline(always)]
fn digit_at(input: &[u8], at: usize) -> Option<u64> {
    let digit = input.get(at)?.wrapping_sub(b'0');
    (digit < 10).then_some(u64::from(digit))
}

/// Reads the ASCII digits from `at` up to the first other byte into `value`, eight at a time
/// while eight digits follow and then byte by byte. Returns the index of that byte. `value`
/// wraps when the run has more than 19 digits, which the callers reject.
///
/// The last digits of a run go byte by byte: on kline rows, whose prices and times end with one
/// to seven such digits, this loop measured faster than shifting a part of a chunk into place.
#[inline(always)]
fn digit_run(input: &[u8], mut at: usize, value: &mut u64) -> usize {
    while let Some(bytes) = input.get(at..at + 8) {
        let Ok(bytes) = <[u8; 8]>::try_from(bytes) else {
            break;
        };
        let chunk = u64::from_le_bytes(bytes);
        // A byte's high bit is set in `below | above` when it is under b'0' or over b'9'. That
        // holds for the first such byte, as no borrow or carry reaches it from a digit, so the
        // mask is zero exactly when all eight bytes are digits.
        let below = chunk.wrapping_sub(0x3030_3030_3030_3030);
        let above = chunk.wrapping_add(0x4646_4646_4646_4646);
        if (below | above) & 0x8080_8080_8080_8080 != 0 {
            break;
        }
        *value = value
            .wrapping_mul(100_000_000)
            .wrapping_add(eight_digits(below));
        at += 8;
    }
    while let Some(digit) = digit_at(input, at) {
        *value = value.wrapping_mul(10).wrapping_add(digit);
        at += 1;
    }
    at
}

/// Returns the number that eight digit values (0 to 9) form, the first in the lowest byte.
#[inline(always)]
pub(super) fn eight_digits(chunk: u64) -> u64 {
    // Byte 2k of `pairs` is the pair of digits 2k and 2k + 1 (at most 99, so no byte carries),
    // and the odd bytes are not used.
    let pairs = chunk * 10 + (chunk >> 8);
    // Each multiply takes two pairs, one in each 32-bit half, and leaves in the high half the
    // sum of both scaled by their powers of ten. The low halves add up to less than 2^32.
    let first_and_third = (pairs & 0x0000_00ff_0000_00ff).wrapping_mul(100 + (1_000_000 << 32));
    let second_and_fourth =
        ((pairs >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32));
    (first_and_third + second_and_fourth) >> 32
}

/// Reads digits from `at` up to the first other byte. Returns the value and the index of that
/// byte, or `None` without digits or with more than [`MAX_INTEGER_DIGITS`].
#[inline(always)]
fn integer_at(input: &[u8], start: usize) -> Option<(i64, usize)> {
    let mut value: u64 = 0;
    let at = digit_run(input, start, &mut value);
    let digits = at - start;
    let valid = digits > 0 && digits <= MAX_INTEGER_DIGITS;
    valid.then_some((value as i64, at))
}

/// Reads `digits[.digits]` from `at` up to the first other byte, with the rules of
/// [`plain_decimal`]. Returns the value and the index of that byte.
#[inline(always)]
pub(super) fn decimal_at(input: &[u8], start: usize) -> Option<(f64, usize)> {
    let mut mantissa: u64 = 0;
    let mut at = digit_run(input, start, &mut mantissa);
    let mut digits = at - start;
    let mut places = 0;
    if input.get(at) == Some(&b'.') {
        let fraction_start = at + 1;
        at = digit_run(input, fraction_start, &mut mantissa);
        places = at - fraction_start;
        digits += places;
    }
    // At most 19 digits, so `places` indexes the table and the mantissa did not wrap.
    let exact = digits > 0 && digits <= MAX_DECIMAL_DIGITS && mantissa < EXACT_INTEGERS;
    exact.then(|| (mantissa as f64 / POWERS_OF_TEN[places], at))
}

/// Returns the index after the comma at `at`, if there is one.
#[inline(always)]
fn after_comma(input: &[u8], at: usize) -> Option<usize> {
    (input.get(at) == Some(&b',')).then_some(at + 1)
}

/// Reads one row of the kline layout in a single pass, when it has the common form: plain
/// integers and decimals, empty or plain optional columns, no spaces, and prices in order.
/// Returns the candle and the bytes used, its line end included. Anything else returns `None`,
/// so the caller parses the line field by field, which also words the error.
pub(super) fn common_row(input: &[u8]) -> Option<(super::Candle, usize)> {
    let (open_time, at) = integer_at(input, 0)?;
    let (open, at) = decimal_at(input, after_comma(input, at)?)?;
    let (high, at) = decimal_at(input, after_comma(input, at)?)?;
    let (low, at) = decimal_at(input, after_comma(input, at)?)?;
    let (close, at) = decimal_at(input, after_comma(input, at)?)?;
    let (volume, at) = decimal_at(input, after_comma(input, at)?)?;
    let (close_time, at) = integer_at(input, after_comma(input, at)?)?;
    let mut at = after_comma(input, at)?;
    for optional in 0..4 {
        if input.get(at) != Some(&b',') {
            at = if optional == 1 {
                integer_at(input, at)?.1
            } else {
                decimal_at(input, at)?.1
            };
        }
        at = after_comma(input, at)?;
    }
    let used = line_end(input, at)?;
    let prices = [open, high, low, close, volume];
    Some((checked_candle(open_time, close_time, prices)?, used))
}

/// Builds the candle of a row read on a fast path, or returns `None` when a time is out of
/// range or the prices are out of order, so that the field-by-field parser words the error.
/// `prices` are open, high, low, close and volume, in file order.
#[inline(always)]
pub(super) fn checked_candle(
    open_time: i64,
    close_time: i64,
    prices: [f64; 5],
) -> Option<super::Candle> {
    let [open, high, low, close, volume] = prices;
    let open_time_ms = super::time_to_ms(open_time);
    let close_time_ms = super::time_to_ms(close_time);
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
    (times_valid && prices_valid).then_some(candle)
}

/// Skips the last column (which the parser ignores) from `at` to the end of the line, and
/// returns the bytes used with the line end. A comma there means a 13th column.
#[inline(always)]
pub(super) fn line_end(input: &[u8], at: usize) -> Option<usize> {
    let rest = input.get(at..)?;
    match rest.iter().position(|&byte| byte == b'\n' || byte == b',') {
        Some(index) if rest[index] == b'\n' => Some(at + index + 1),
        Some(_) => None,
        None => Some(input.len()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Short decimals take the fast path, and long mantissas (up to 40 digits) leave it;
        /// either way the value is the one `str::parse` returns.
        #[test]
        fn random_decimals_match_the_standard_parser(
            text in "[0-9]{0,20}(\\.[0-9]{0,20})?|[0-9]{1,6}\\.[0-9]{1,8}",
        ) {
            let expected = text.parse::<f64>().ok();
            let fast = plain_decimal(text.as_bytes());
            if let Some(value) = fast {
                prop_assert_eq!(Some(value.to_bits()), expected.map(f64::to_bits), "{}", text);
            }
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            let mantissa_fits = text
                .replace('.', "")
                .parse::<u64>()
                .is_ok_and(|mantissa| mantissa < EXACT_INTEGERS);
            let takes_fast_path = digits > 0 && digits <= MAX_DECIMAL_DIGITS && mantissa_fits;
            prop_assert_eq!(fast.is_some(), takes_fast_path, "{}", text);
        }
    }

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
    fn digit_runs_match_byte_by_byte_reading() {
        let inputs = [
            "1758240000000,",
            "0",
            "12345678",
            "123456789",
            "9876543210123456789",
            "7.",
            "42",
            "1234567,",
            "12345678,9",
            "",
            "1234/5678",
            "1234:5678",
            "123456789012\u{e9}9",
            "0000000000000000000001",
        ];
        for text in inputs {
            let bytes = text.as_bytes();
            let mut value = 0;
            let end = digit_run(bytes, 0, &mut value);
            let expected_end = bytes
                .iter()
                .position(|byte| !byte.is_ascii_digit())
                .unwrap_or(bytes.len());
            assert_eq!(end, expected_end, "{text}");
            let expected = text[..end].parse::<u64>().unwrap_or(0);
            assert_eq!(value, expected, "{text}");
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
