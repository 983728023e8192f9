use proptest::prelude::*;

use super::*;
use crate::market::KlineParser;
use crate::market::tests::parse_field_by_field;

/// Open time of the first generated row, in milliseconds; rows are 5 minutes apart.
const FIRST_OPEN_TIME_MS: i64 = 1_758_240_000_000;

/// Generates decimals of the forms found in kline files: short prices and volumes, spot
/// prices with eight places, and integers.
fn plain_decimal() -> impl Strategy<Value = String> {
    prop_oneof![
        "[1-9][0-9]{0,5}\\.[0-9]{1,2}",
        "[0-9]{1,4}\\.[0-9]{1,4}",
        "[1-9][0-9]{4}\\.[0-9]{8}",
        "[1-9][0-9]{0,7}",
        "[1-9]\\.|\\.[0-9]{1,3}",
    ]
}

/// Generates optional columns: empty, short decimals, 17-byte decimals like Binance spot quote
/// volumes, and runs of 20 to 40 digits, the longest of which the mask reader declines.
fn optional_decimal() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        plain_decimal(),
        "[1-9][0-9]{7}\\.[0-9]{8}",
        "[0-9]{20,40}",
    ]
}

/// Generates field texts that the fast readers decline. The field-by-field parser reads some
/// (spaces, a plus sign) and words an error for the others.
fn broken_field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(".".to_string()),
        Just("1.2.3".to_string()),
        Just("-1.5".to_string()),
        Just("+7".to_string()),
        Just(" 12.5".to_string()),
        Just("1e5".to_string()),
        Just("12\u{e9}4".to_string()),
        Just("0".to_string()),
        "[0-9]{17,22}",
        "[0-9a-z:/ ]{1,10}",
    ]
}

/// Generates the 12 fields of row `index`: ordered prices, times 5 minutes after the row
/// before, and optional columns that are empty or plain, as the fast readers take them.
fn plain_fields(index: i64) -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(plain_decimal(), 4),
        plain_decimal(),
        prop::collection::vec(optional_decimal(), 3),
        prop::option::of("[0-9]{1,8}"),
        "[0-9]{0,3}",
    )
        .prop_filter_map(
            "prices must be positive",
            move |(mut prices, volume, optional, count, ignore)| {
                prices.sort_by(|a, b| value(a).total_cmp(&value(b)));
                if value(&prices[0]) <= 0.0 {
                    return None;
                }
                let open_time = FIRST_OPEN_TIME_MS + index * 300_000;
                let [low, open, close, high] = [0, 1, 2, 3].map(|i| prices[i].clone());
                Some(vec![
                    open_time.to_string(),
                    open,
                    high,
                    low,
                    close,
                    volume,
                    (open_time + 299_999).to_string(),
                    optional[0].clone(),
                    count.unwrap_or_default(),
                    optional[1].clone(),
                    optional[2].clone(),
                    ignore,
                ])
            },
        )
}

/// Generates a row of [`plain_fields`] in which one field may be replaced by a broken text,
/// one extra comma may be added, or the high and low prices may be swapped.
fn any_row(index: i64) -> impl Strategy<Value = String> {
    (
        plain_fields(index),
        prop::option::weighted(0.3, (0..12_usize, broken_field())),
        prop::option::weighted(0.05, 0..12_usize),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(mut fields, broken, extra_comma, swap_prices)| {
            if let Some((column, text)) = broken {
                fields[column] = text;
            }
            if let Some(column) = extra_comma {
                fields[column].push(',');
            }
            if swap_prices {
                fields.swap(2, 3);
            }
            fields.join(",")
        })
}

fn value(text: &str) -> f64 {
    text.parse().unwrap()
}

/// Generates a file of 1 to 19 rows, maybe after a header, each ended by LF, CR LF or LF and a
/// blank line, and maybe no line end after the last.
fn any_file() -> impl Strategy<Value = String> {
    (1..20_i64)
        .prop_flat_map(|rows| {
            let lines: Vec<_> = (0..rows)
                .map(|index| (any_row(index), "\n|\r\n|\n\n", any::<bool>()))
                .collect();
            (lines, any::<bool>())
        })
        .prop_map(|(lines, final_line_end)| {
            let mut text = String::new();
            let count = lines.len();
            for (index, (row, line_end, header)) in lines.into_iter().enumerate() {
                if index == 0 && header {
                    text.push_str(&crate::market::KLINE_COLUMNS.join(","));
                    text.push('\n');
                }
                text.push_str(&row);
                if index + 1 < count || final_line_end {
                    text.push_str(&line_end);
                }
            }
            text
        })
}

/// Checks a row accepted by [`common_row`] against [`KlineParser::parse_line`] on the same line.
fn assert_matches_parse_line(input: &[u8], candle: Candle, used: usize) {
    let line_end = input.iter().position(|&byte| byte == b'\n');
    assert_eq!(used, line_end.map_or(input.len(), |end| end + 1));
    let line = &input[..line_end.unwrap_or(input.len())];
    let expected = KlineParser::for_later_part()
        .parse_line(line)
        .unwrap()
        .unwrap();
    assert_eq!(candle.open_time_ms, expected.open_time_ms);
    let pairs = [
        (candle.open, expected.open),
        (candle.high, expected.high),
        (candle.low, expected.low),
        (candle.close, expected.close),
        (candle.volume, expected.volume),
    ];
    for (value, expected) in pairs {
        assert_eq!(value.to_bits(), expected.to_bits());
    }
}

proptest! {
    #[test]
    fn comma_masks_match_bytewise(
        block in prop::collection::vec(prop_oneof![Just(b','), Just(b'.'), any::<u8>()], BLOCK),
    ) {
        let block: &[u8; BLOCK] = block.as_slice().try_into().unwrap();
        prop_assert_eq!(comma_mask(block), comma_mask_bytewise(block));
    }

    /// Every plain row followed by 64 more bytes is taken, with the values and length of the
    /// field-by-field parser.
    #[test]
    fn plain_rows_are_taken(fields in plain_fields(0), line_end in "\n|\r\n") {
        let row = fields.join(",");
        let long_optional = fields[7..11].iter().any(|field| field.len() > MAX_FIELD_BYTES);
        let input = format!("{row}{line_end}{}", "9".repeat(BLOCK));
        let taken = common_row(input.as_bytes());
        if !long_optional {
            prop_assert!(taken.is_some(), "{}", row);
        }
        if let Some((candle, used)) = taken {
            assert_matches_parse_line(input.as_bytes(), candle, used);
        }
    }

    /// A row that is taken has the values of the field-by-field parser, whatever follows it.
    #[test]
    fn accepted_rows_match_parse_line(row in any_row(0), rest in "[0-9,.\n\r]{0,100}") {
        let input = format!("{row}{rest}");
        if let Some((candle, used)) = common_row(input.as_bytes()) {
            assert_matches_parse_line(input.as_bytes(), candle, used);
        }
    }

    /// Whole files give the same candles, or the same error on the same line, as parsing each
    /// line field by field.
    #[test]
    fn random_files_match_field_by_field_parsing(text in any_file()) {
        let mut candles = Vec::new();
        let single_pass = KlineParser::new()
            .parse_slice(text.as_bytes(), &mut candles)
            .map(|()| candles)
            .map_err(|err| err.to_string());
        let by_field = parse_field_by_field(&text).map_err(|err| err.to_string());
        prop_assert_eq!(single_pass, by_field, "{:?}", text);
    }

    #[test]
    fn digit_runs_match_the_standard_parser(digits in "[0-9]{0,16}", junk in "[^0-9]?") {
        let input = format!("{digits}{junk}{}", "0".repeat(16));
        let value = digit_run_value(input.as_bytes(), 0, digits.len());
        prop_assert_eq!(value, Some(digits.parse().unwrap_or(0)));
    }
}

#[test]
fn short_decimals_give_digits_and_places() {
    let cases = [
        ("117017.1", Some((1_170_171, 1))),
        ("360.735", Some((360_735, 3))),
        ("12345678", Some((12_345_678, 0))),
        ("0", Some((0, 0))),
        ("5.", Some((5, 0))),
        (".5", Some((5, 1))),
        ("0.000001", Some((1, 6))),
        (".", None),
        ("1.2.3", None),
        ("12a4", None),
        ("-1", None),
        ("1 2", None),
        ("12\u{e9}", None),
    ];
    for (text, expected) in cases {
        let input = format!("{text},{}", "0".repeat(8));
        let found = short_decimal_digits(input.as_bytes(), 0, text.len());
        assert_eq!(found, expected, "{text}");
    }
}

#[test]
fn long_decimals_give_digit_counts() {
    let cases = [
        ("26455812.84497370", Some((8, 8))),
        ("64628.01000000", Some((5, 8))),
        ("123456789", Some((9, 0))),
        ("1234567890123.", Some((13, 0))),
        (".12345678901", Some((0, 11))),
        ("1234.5678.9", None),
        ("123456789x", None),
        ("12345678\u{e9}", None),
    ];
    for (text, expected) in cases {
        let input = format!("{text},{}", "0".repeat(8));
        let found = long_decimal_parts(input.as_bytes(), 0, text.len());
        assert_eq!(found, expected, "{text}");
    }
}

#[test]
fn digit_runs_reject_other_bytes() {
    for text in ["12345678901234/6", "1:", "/", "1234567\u{e9}", " 1"] {
        let input = format!("{text}{}", "0".repeat(16));
        let digits = text.len().min(MAX_RUN_DIGITS);
        assert_eq!(digit_run_value(input.as_bytes(), 0, digits), None, "{text}");
    }
}

#[test]
fn rows_near_the_end_of_input_are_declined() {
    let row = "1758240000000,117017.1,117100.0,117010.8,117043.4,360.735,1758240299999,,,,,0\n";
    assert!(common_row(row.as_bytes()).is_none());
    let followed = format!("{row}{row}");
    assert!(common_row(followed.as_bytes()).is_some());
}
