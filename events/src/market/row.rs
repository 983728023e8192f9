//! Reader of kline rows of the common form that finds the fields of a row from a bit mask of
//! its commas, 64 bytes at a time, and reads each number from one or two 8-byte loads.
//!
//! Reading a row byte by byte costs a few instructions per byte. Here SSE2 compares (through
//! the safe wrappers of `safe_arch`) mark the commas, so each field's end is one bit scan
//! away, and a field of up to 8 bytes is checked and converted in one 64-bit word. Rows that
//! this reader declines go to [`super::number::common_row`] and then to the field-by-field
//! parser, so results and errors do not depend on which reader took a row.

use super::Candle;
use super::number::{POWERS_OF_TEN, checked_candle, decimal_at, eight_digits, line_end};

/// Bytes covered by one comma mask, one bit per byte.
const BLOCK: usize = 64;

/// Commas are looked for in the first bytes of a row only, so that a long run of bytes
/// without one is not scanned again for every line. Longer rows take the other readers.
const MAX_ROW_BYTES: usize = 4 * BLOCK;

/// How far ahead of a row the processor is asked to load the file. The start of each row
/// depends on the bytes of the row before, so without this hint each row of a file larger than
/// the cache waits for memory. On a 78 MB file of futures rows, measured in one process, rows
/// took 76 ns without the hint and 38 ns with it.
const PREFETCH_DISTANCE: usize = 1024;

/// Maximum length of an optional decimal column checked here, in bytes. Binance spot quote
/// volumes such as `26455812.84497370` have 17, and longer ones take the other readers.
const MAX_FIELD_BYTES: usize = 32;

/// Maximum digits in one run that [`digit_run_value`] reads, with two 8-byte loads.
const MAX_RUN_DIGITS: usize = 16;

/// The dot, `b'.'`, after the XOR with `b'0'` that maps digits to their values.
const DOT_VALUE: u8 = b'.' ^ b'0';

/// Reads one row of the kline layout when it has the common form, like
/// [`super::number::common_row`]: plain integers and decimals, empty or plain optional columns,
/// no spaces, and prices in order. Returns the candle and the bytes used, its line end
/// included. It also declines rows too close to the end of `input` for its 64-byte and 8-byte
/// loads, rows with commas beyond [`MAX_ROW_BYTES`], integers of more than 16 digits and
/// optional decimals longer than [`MAX_FIELD_BYTES`].
pub(super) fn common_row(input: &[u8]) -> Option<(Candle, usize)> {
    prefetch_ahead(input);
    let mut fields = Fields::new(input)?;
    let open_time = fields.next()?.integer(input)?;
    let open = fields.next()?.decimal(input)?;
    let high = fields.next()?.decimal(input)?;
    let low = fields.next()?.decimal(input)?;
    let close = fields.next()?.decimal(input)?;
    let volume = fields.next()?.decimal(input)?;
    let close_time = fields.next()?.integer(input)?;
    if input.get(fields.start..fields.start + 4) == Some(b",,,,") {
        // The four optional columns are empty, as in Binance futures files, and the commas
        // that follow are not needed.
        fields.start += 4;
    } else {
        fields.check_optional(input)?;
    }
    let used = line_end(input, fields.start)?;
    let prices = [open, high, low, close, volume];
    Some((checked_candle(open_time, close_time, prices)?, used))
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_ahead(input: &[u8]) {
    if let Some(ahead) = input.get(PREFETCH_DISTANCE) {
        safe_arch::prefetch_t0(ahead);
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_ahead(_input: &[u8]) {}

/// The fields of a row in order, each ending at the next comma.
struct Fields<'a> {
    commas: Commas<'a>,
    /// Start of the next field.
    start: usize,
}

impl<'a> Fields<'a> {
    fn new(input: &'a [u8]) -> Option<Self> {
        let commas = Commas::new(input)?;
        Some(Self { commas, start: 0 })
    }

    #[inline(always)]
    fn next(&mut self) -> Option<Field> {
        let end = self.commas.next()?;
        let field = Field {
            start: self.start,
            end,
        };
        self.start = end + 1;
        Some(field)
    }

    /// Checks the optional columns 8 to 11, which may be empty and are not kept.
    #[inline(always)]
    fn check_optional(&mut self, input: &[u8]) -> Option<()> {
        for optional in 0..4 {
            let field = self.next()?;
            let valid = field.is_empty()
                || if optional == 1 {
                    field.integer(input).is_some()
                } else {
                    field.is_plain_decimal(input)
                };
            if !valid {
                return None;
            }
        }
        Some(())
    }
}

/// Bounds of one field, bytes `start..end`, which are not checked yet.
#[derive(Clone, Copy, Debug)]
struct Field {
    start: usize,
    end: usize,
}

impl Field {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    /// Reads a field of 1 to [`MAX_RUN_DIGITS`] ASCII digits.
    #[inline(always)]
    fn integer(&self, input: &[u8]) -> Option<i64> {
        if self.is_empty() {
            return None;
        }
        // At most 16 digits, so the value fits an i64.
        digit_run_value(input, self.start, self.len()).map(|value| value as i64)
    }

    /// Reads `digits[.digits]` with at least one digit, with the rules of
    /// [`super::number::plain_decimal`]: an integer of at most 19 digits below 2^53, divided
    /// by a power of ten. So the value is the one that `str::parse::<f64>` returns.
    #[inline(always)]
    fn decimal(&self, input: &[u8]) -> Option<f64> {
        match self.len() {
            0 => None,
            1..=8 => {
                let (mantissa, places) = short_decimal_digits(input, self.start, self.len())?;
                // At most 8 digits, so the mantissa is exact.
                Some(mantissa as f64 / POWERS_OF_TEN[places])
            }
            _ => {
                let (value, end) = decimal_at(input, self.start)?;
                (end == self.end).then_some(value)
            }
        }
    }

    /// Checks `digits[.digits]` with at least one digit, in a column whose value is not kept.
    /// `str::parse::<f64>` reads any such text of fewer than 300 digits as a finite number that
    /// is not negative, so these columns need no value.
    #[inline(always)]
    fn is_plain_decimal(&self, input: &[u8]) -> bool {
        match self.len() {
            0 => false,
            1..=8 => short_decimal_digits(input, self.start, self.len()).is_some(),
            _ => long_decimal_parts(input, self.start, self.len()).is_some(),
        }
    }
}

/// Positions of the commas of a row, in order.
struct Commas<'a> {
    input: &'a [u8],
    /// Offset of the 64 bytes that `bits` covers.
    base: usize,
    /// Commas not returned yet, one bit per byte from `base`.
    bits: u64,
}

impl<'a> Commas<'a> {
    fn new(input: &'a [u8]) -> Option<Self> {
        Some(Self {
            input,
            base: 0,
            bits: comma_mask(block_at(input, 0)?),
        })
    }

    /// Returns the position of the next comma, or `None` past [`MAX_ROW_BYTES`] or when
    /// fewer than 64 bytes of `input` remain to be searched.
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.base += BLOCK;
            if self.base >= MAX_ROW_BYTES {
                return None;
            }
            self.bits = comma_mask(block_at(self.input, self.base)?);
        }
        let at = self.base + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(at)
    }
}

#[inline(always)]
fn block_at(input: &[u8], at: usize) -> Option<&[u8; BLOCK]> {
    input.get(at..at + BLOCK)?.try_into().ok()
}

/// Returns a mask with bit `i` set when byte `i` of `block` is a comma.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn comma_mask(block: &[u8; BLOCK]) -> u64 {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };

    let commas = set_splat_i8_m128i(b',' as i8);
    let (chunks, _) = block.as_chunks::<16>();
    let mut mask = 0;
    for (index, chunk) in chunks.iter().enumerate() {
        let found = cmp_eq_mask_i8_m128i(load_unaligned_m128i(chunk), commas);
        // The mask has one bit for each of the 16 bytes, in its low 16 bits.
        let bits = move_mask_i8_m128i(found) as u16;
        mask |= u64::from(bits) << (16 * index);
    }
    mask
}

/// Returns a mask with bit `i` set when byte `i` of `block` is a comma.
#[cfg(not(target_arch = "x86_64"))]
fn comma_mask(block: &[u8; BLOCK]) -> u64 {
    comma_mask_bytewise(block)
}

#[cfg_attr(target_arch = "x86_64", cfg(test))]
fn comma_mask_bytewise(block: &[u8; BLOCK]) -> u64 {
    let mut mask = 0;
    for (index, &byte) in block.iter().enumerate() {
        mask |= u64::from(byte == b',') << index;
    }
    mask
}

/// Reads `digits[.digits]` of `len` (1 to 8) bytes from `start`, with at least one digit,
/// with one load. Returns the integer of its digits and the number of digits after the dot.
#[inline(always)]
fn short_decimal_digits(input: &[u8], start: usize, len: usize) -> Option<(u64, usize)> {
    let bytes: [u8; 8] = input.get(start..start + 8)?.try_into().ok()?;
    let values = u64::from_le_bytes(bytes) ^ 0x3030_3030_3030_3030;
    let field = u64::MAX >> (64 - 8 * len);
    let not_digits = over_nine(values) & field;
    if not_digits == 0 {
        let aligned = values << (8 * (8 - len));
        return Some((eight_digits(aligned), 0));
    }
    let dot = only_dot(values, not_digits)?;
    let digits = len - 1;
    if digits == 0 {
        return None;
    }
    // The fraction's bytes move down by one over the dot, and the shift then drops the bytes
    // after the field and fills the low bytes with zeros, which read as leading zeros.
    let integer_bytes = (1_u64 << (8 * dot)) - 1;
    let joined = (values & integer_bytes) | ((values >> 8) & !integer_bytes);
    let aligned = joined << (8 * (8 - digits));
    Some((eight_digits(aligned), digits - dot))
}

/// Checks `digits[.digits]` of `len` (9 to [`MAX_FIELD_BYTES`]) bytes from `start`, eight
/// bytes at a time. Returns the number of digits before and after the dot.
#[inline(always)]
fn long_decimal_parts(input: &[u8], start: usize, len: usize) -> Option<(usize, usize)> {
    if len > MAX_FIELD_BYTES {
        return None;
    }
    let mut dot = None;
    for offset in (0..len).step_by(8) {
        let at = start + offset;
        let bytes: [u8; 8] = input.get(at..at + 8)?.try_into().ok()?;
        let values = u64::from_le_bytes(bytes) ^ 0x3030_3030_3030_3030;
        let field = u64::MAX >> (64 - 8 * (len - offset).min(8));
        let not_digits = over_nine(values) & field;
        if not_digits != 0 {
            if dot.is_some() {
                return None;
            }
            dot = Some(offset + only_dot(values, not_digits)?);
        }
    }
    Some(match dot {
        Some(dot) => (dot, len - dot - 1),
        None => (len, 0),
    })
}

/// Returns the byte index of the one flagged byte of `not_digits` when it is a dot.
#[inline(always)]
fn only_dot(values: u64, not_digits: u64) -> Option<usize> {
    let dot = not_digits.trailing_zeros() as usize / 8;
    let single = not_digits & (not_digits - 1) == 0;
    (single && (values >> (8 * dot)) as u8 == DOT_VALUE).then_some(dot)
}

/// Returns a mask with the high bit set on each byte of `values` over 9. A byte over 0x88 may
/// also carry into the next byte and flag it, but is flagged itself, so a single flagged byte
/// is the only one over 9, and no flag at all means only digit values.
#[inline(always)]
fn over_nine(values: u64) -> u64 {
    (values | values.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080
}

/// Reads the `digits` (0 to [`MAX_RUN_DIGITS`]) bytes from `start` as a decimal integer, or
/// returns `None` if one is not an ASCII digit or fewer than 8 bytes follow `start`.
#[inline(always)]
fn digit_run_value(input: &[u8], start: usize, digits: usize) -> Option<u64> {
    match digits {
        0 => Some(0),
        1..=8 => Some(eight_digits(digit_values(input, start, digits)?)),
        9..=MAX_RUN_DIGITS => {
            let high = eight_digits(digit_values(input, start, digits - 8)?);
            let low = eight_digits(digit_values(input, start + digits - 8, 8)?);
            Some(high * 100_000_000 + low)
        }
        _ => None,
    }
}

/// Loads the `count` (1 to 8) bytes from `start` as digit values, placed as
/// [`eight_digits`] reads them: the last in the top byte and zeros below the first. Returns
/// `None` if one is not an ASCII digit.
#[inline(always)]
fn digit_values(input: &[u8], start: usize, count: usize) -> Option<u64> {
    let bytes: [u8; 8] = input.get(start..start + 8)?.try_into().ok()?;
    // XOR maps b'0'..=b'9' to 0..=9. The shift drops the bytes after the run and fills
    // the low bytes with zeros, which read as leading zeros.
    let values = (u64::from_le_bytes(bytes) ^ 0x3030_3030_3030_3030) << (8 * (8 - count));
    (over_nine(values) == 0).then_some(values)
}

#[cfg(test)]
mod tests;
