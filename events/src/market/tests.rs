//! Table tests of the kline CSV parser.

use super::*;

const HEADER: &str = "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
                      taker_buy_volume,taker_buy_quote_volume,ignore";
const ROW_1: &str = "1758240000000,117017.1,117100.0,117010.8,117043.4,360.735,1758240299999,,,,,0";
const ROW_2: &str = "1758240300000,117043.5,117090.6,117026.0,117047.5,178.95,1758240599999,,,,,0";
const SPOT_ROW: &str = "1722470400000,64628.01000000,64705.98000000,64601.00000000,\
                        64674.01000000,134.16525000,1722470699999,8674537.06641910,11714,\
                        57.81370000,3737985.72872000,0";

fn parse(text: &str) -> Result<Vec<Candle>, KlineCsvError> {
    parse_klines(text.as_bytes())
}

fn error_message(text: &str) -> String {
    match parse(text) {
        Ok(candles) => panic!("expected an error, parsed {} candles", candles.len()),
        Err(err) => err.to_string(),
    }
}

#[test]
fn accepted_inputs_give_expected_candles() {
    let cases: &[(&str, String, usize)] = &[
        ("header", format!("{HEADER}\n{ROW_1}\n{ROW_2}\n"), 2),
        ("no header", format!("{ROW_1}\n{ROW_2}"), 2),
        (
            "crlf endings",
            format!("{HEADER}\r\n{ROW_1}\r\n{ROW_2}\r\n"),
            2,
        ),
        ("byte order mark", format!("\u{feff}{HEADER}\n{ROW_1}\n"), 1),
        ("blank lines", format!("\n{HEADER}\n\n{ROW_1}\n\n"), 1),
        ("all columns filled", format!("{HEADER}\n{SPOT_ROW}\n"), 1),
        ("header only", format!("{HEADER}\n"), 0),
        ("empty input", String::new(), 0),
    ];
    for (name, text, expected) in cases {
        let candles = parse(text).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(candles.len(), *expected, "{name}");
    }
}

#[test]
fn row_values_are_parsed() {
    let candles = parse(&format!("{HEADER}\n{ROW_1}\n")).unwrap();
    let expected = Candle {
        open_time_ms: 1_758_240_000_000,
        open: 117_017.1,
        high: 117_100.0,
        low: 117_010.8,
        close: 117_043.4,
        volume: 360.735,
    };
    assert_eq!(candles, [expected]);
}

#[test]
fn microsecond_times_become_milliseconds() {
    let row = "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1735689899999999,\
               768978.3,1247,4.3,402600.1,0";
    let candles = parse(row).unwrap();
    assert_eq!(candles[0].open_time_ms, 1_735_689_600_000);
}

#[test]
fn second_times_become_milliseconds() {
    let row = "1758240000,117017.1,117100.0,117010.8,117043.4,360.735,1758240299,,,,,0";
    for text in [row.to_owned(), format!("{HEADER}\n{row}\n")] {
        let candles = parse(&text).unwrap();
        assert_eq!(candles[0].open_time_ms, 1_758_240_000_000);
        let field_by_field = parse_field_by_field(&text).unwrap();
        assert_eq!(field_by_field, candles);
    }
}

#[test]
fn time_units_are_told_apart_by_digits() {
    let cases = [
        (1_758_240_000, 1_758_240_000_000),
        (99_999_999_999, 99_999_999_999_000),
        (1_758_240_000_000, 1_758_240_000_000),
        (1_735_689_600_000_000, 1_735_689_600_000),
        (300_000, 300_000),
        (999_999_999, 999_999_999),
        (100_000_000_000, 100_000_000_000),
        (9_999_999_999_999_999, 9_999_999_999_999),
        (17_000_000_000_000_000, i64::MAX),
        (1_758_240_000_000_000_000, i64::MAX),
    ];
    for (value, expected) in cases {
        assert_eq!(time_to_ms(value), expected, "{value}");
    }
}

#[test]
fn pieces_ending_at_lines_count_lines_as_whole() {
    let text = format!("\u{feff}{HEADER}\r\n{ROW_1}\n\n{ROW_2}\n");
    let whole = parse(&text).unwrap();
    let bytes = text.as_bytes();
    let mut parser = KlineParser::new();
    let mut candles = Vec::new();
    let mut start = 0;
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'\n' {
            parser
                .parse_lines(&bytes[start..=index], &mut candles)
                .unwrap();
            start = index + 1;
        }
    }
    assert_eq!(candles, whole);
    assert_eq!(parser.lines(), 4);
    assert_eq!(parser.first_row_line(), Some(2));
}

#[test]
fn reader_and_slice_agree() {
    let text = format!("{HEADER}\r\n{ROW_1}\n\n{ROW_2}");
    let from_slice = parse(&text).unwrap();
    let from_reader = read_klines(text.as_bytes()).unwrap();
    assert_eq!(from_reader, from_slice);
}

#[test]
fn broken_rows_name_line_column_and_value() {
    let bad_close = ROW_2.replace("117047.5", "abc");
    let cases: &[(&str, String, &str)] = &[
        (
            "close not a number",
            format!("{HEADER}\n{ROW_1}\n{bad_close}\n"),
            r#"line 3, column close: "abc" is not a number"#,
        ),
        (
            "open time not an integer",
            ROW_1.replacen("1758240000000", "17582400000.5", 1),
            r#"line 1, column open_time: "17582400000.5" is not an integer"#,
        ),
        (
            "empty volume",
            ROW_1.replace("360.735", ""),
            r#"line 1, column volume: "" is not a number"#,
        ),
        (
            "negative volume",
            ROW_1.replace("360.735", "-1"),
            r#"line 1, column volume: "-1" is negative"#,
        ),
        (
            "nan open",
            ROW_1.replace("117017.1", "NaN"),
            r#"column open: "NaN" is not a number"#,
        ),
        (
            "zero low",
            ROW_1.replace("117010.8", "0"),
            r#"column low: "0" is not a positive price"#,
        ),
        (
            "high below low",
            ROW_1.replace("117100.0", "117000.0"),
            r#"column high: "117000.0" is below the row's low (117010.8)"#,
        ),
        (
            "low above open",
            ROW_1.replace("117010.8", "117020.0"),
            r#"column low: "117020.0" is above the row's open (117017.1)"#,
        ),
        (
            "close time before open time",
            ROW_1.replace("1758240299999", "1758239999999"),
            r#"column close_time: "1758239999999" is before the row's open_time"#,
        ),
        (
            "optional column garbage",
            ROW_1.replacen(",,,,,0", ",x,,,,0", 1),
            r#"line 1, column quote_volume: "x" is not a number"#,
        ),
        (
            "trade count fractional",
            ROW_1.replacen(",,,,,0", ",,1.5,,,0", 1),
            r#"column count: "1.5" is not an integer"#,
        ),
        (
            "time after year 9999",
            ROW_1.replacen("1758240000000", "999999999999999", 1),
            r#"column open_time: "999999999999999" is after the year 9999; times must be"#,
        ),
        (
            "huge field",
            ROW_1.replacen("360.735", &"9x".repeat(50_000), 1),
            r#"column volume: "9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x9x... (100000 bytes)" is not a number"#,
        ),
        (
            "time of 17 digits",
            ROW_1.replacen("1758240000000", "17000000000000000", 1),
            r#"column open_time: "17000000000000000" is after the year 9999; times must be"#,
        ),
        (
            "time in nanoseconds",
            ROW_1.replacen("1758240000000", "1758240000000000000", 1),
            r#""1758240000000000000" is after the year 9999; times must be seconds (10 or 11 digits), milliseconds (12 to 15 digits) or microseconds (16 digits), not nanoseconds"#,
        ),
        (
            "too few columns",
            format!("{ROW_1}\n1,2,3"),
            "line 2: expected 12 columns, found 3",
        ),
        (
            "too many columns",
            format!("{ROW_1},7"),
            "line 1: expected 12 columns, found 13",
        ),
        (
            "foreign header",
            HEADER.replace("high", "hi"),
            r#"line 1: header column 3 is "hi", expected "high""#,
        ),
        (
            "second header",
            format!("{HEADER}\n{HEADER}\n"),
            r#"line 2, column open_time: "open_time" is not an integer"#,
        ),
    ];
    for (name, text, expected) in cases {
        let message = error_message(text);
        assert!(
            message.contains(expected),
            "{name}: {message:?} lacks {expected:?}"
        );
    }
}

#[test]
fn out_of_order_rows_are_rejected() {
    let cases: &[(&str, String, &str)] = &[
        (
            "descending",
            format!("{ROW_2}\n{ROW_1}\n"),
            "line 2, column open_time",
        ),
        (
            "duplicate",
            format!("{HEADER}\n{ROW_1}\n{ROW_1}\n"),
            "line 3, column open_time",
        ),
    ];
    for (name, text, expected) in cases {
        let message = error_message(text);
        assert!(
            message.contains(expected),
            "{name}: {message:?} lacks {expected:?}"
        );
        assert!(
            message.contains("ascending time order"),
            "{name}: {message:?}"
        );
    }
}

#[test]
fn continuing_parser_checks_order_across_files() {
    let mut candles = Vec::new();
    let mut first = KlineParser::new();
    first.parse_slice(ROW_2.as_bytes(), &mut candles).unwrap();

    let last = candles[0].open_time_ms;
    let mut next = KlineParser::continuing_after(last);
    let err = next
        .parse_slice(ROW_1.as_bytes(), &mut candles)
        .unwrap_err();
    assert!(
        matches!(
            err,
            KlineCsvError::Field {
                line: 1,
                column: "open_time",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(candles.len(), 1);
}

#[test]
fn reader_failure_names_the_line() {
    struct FailingReader;
    impl std::io::Read for FailingReader {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk gone"))
        }
    }
    let err = read_klines(std::io::BufReader::new(FailingReader)).unwrap_err();
    assert_eq!(err.to_string(), "line 1: read failed: disk gone");
}

#[test]
fn real_kline_files_parse_completely() {
    let files = [
        (
            "data/market/binance_um_BTCUSDT_5m_2025-09-19_2025-10-27.csv",
            11_123,
        ),
        ("data/market/binance_spot_BTCUSDT_5m_2024-08.csv", 8_928),
        (
            "data/market/bybit_linear_BTCUSDT_5m_2024-07-01_2024-08-09.csv",
            11_396,
        ),
    ];
    for (relative, expected) in files {
        let Some(text) = keyward_testkit::read_shared(relative) else {
            return;
        };
        let candles = parse(&text).unwrap_or_else(|err| panic!("{relative}: {err}"));
        assert_eq!(candles.len(), expected, "{relative}");
        let steps_are_5m = candles
            .windows(2)
            .all(|w| w[1].open_time_ms - w[0].open_time_ms == 300_000);
        assert!(steps_are_5m, "{relative}");
    }
}

/// Parses line by line through `parse_line` alone, which the single-pass reader must match.
pub(super) fn parse_field_by_field(text: &str) -> Result<Vec<Candle>, KlineCsvError> {
    let mut parser = KlineParser::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut candles = Vec::new();
    for line in text.as_bytes().split(|&byte| byte == b'\n') {
        if let Some(candle) = parser.parse_line(line)? {
            candles.push(candle);
        }
    }
    Ok(candles)
}

#[test]
fn single_pass_reader_matches_field_by_field_parsing() {
    let micro = "1735689600000000,93576.00,93610.93,93537.50,93610.93,8.21827,1735689899999999,\
                 768978.3,1247,4.3,402600.1,0";
    let spaced = ROW_2.replace(",117090.6,", ", 117090.6,");
    let signed = ROW_2.replace(",178.95,", ",+178.95,");
    let texts = [
        format!("{HEADER}\n{ROW_1}\n{ROW_2}\n"),
        format!("{ROW_1}\r\n{ROW_2}"),
        format!("\u{feff}{HEADER}\r\n\n{ROW_1}\n\n"),
        format!("{HEADER}\n{SPOT_ROW}\n"),
        format!("{micro}\n"),
        format!("{ROW_1}\n{spaced}\n{signed}\n"),
        format!("{ROW_1}\n{ROW_1}\n"),
        format!("{ROW_1},extra\n"),
        format!("{ROW_1}\n{}\n", ROW_2.replace("117090.6", "117000.0")),
        format!("{ROW_1}\n{}\n", ROW_2.replace(",178.95,", ",,")),
        format!(
            "{ROW_1}\n{}",
            ROW_2.replacen(",,,,,0", ",1.5,7,2.5,3.5,0", 1)
        ),
        format!("{ROW_1}\n{}", ROW_2.replacen(",,,,,0", ",,7.5,,,0", 1)),
        String::new(),
    ];
    for text in &texts {
        let single_pass = parse(text).map_err(|err| err.to_string());
        let by_field = parse_field_by_field(text).map_err(|err| err.to_string());
        assert_eq!(single_pass, by_field, "{text:?}");
    }
}

#[test]
fn single_pass_reader_matches_on_real_files() {
    for relative in [
        "data/market/binance_um_BTCUSDT_5m_2025-09-19_2025-10-27.csv",
        "data/market/binance_spot_BTCUSDT_5m_2024-08.csv",
    ] {
        let Some(text) = keyward_testkit::read_shared(relative) else {
            return;
        };
        let single_pass = parse(&text).unwrap();
        let by_field = parse_field_by_field(&text).unwrap();
        assert_eq!(single_pass, by_field, "{relative}");
    }
}

#[test]
fn single_pass_reader_counts_lines_like_splitting() {
    for text in [
        ROW_1.to_string(),
        format!("{ROW_1}\n"),
        format!("{HEADER}\n{ROW_1}\n{ROW_2}"),
        format!("{HEADER}\r\n{ROW_1}\r\n{ROW_2}\r\n\n"),
    ] {
        let mut parser = KlineParser::new();
        parser
            .parse_slice(text.as_bytes(), &mut Vec::new())
            .unwrap();
        assert_eq!(parser.lines(), text.split('\n').count(), "{text:?}");
    }
}

proptest::proptest! {
    /// Rows whose prices and volume are random decimal texts, short enough for the single-pass
    /// reader or with mantissas too long for it, give exactly the values of `str::parse`.
    #[test]
    fn random_row_numbers_match_the_standard_parser(
        price in "[0-9]{1,12}(\\.[0-9]{1,12})?|[0-9]{10,20}\\.[0-9]{5,20}",
        volume in "[0-9]{0,10}\\.[0-9]{1,14}|[0-9]{1,25}",
    ) {
        let expected_price: f64 = price.parse().unwrap();
        proptest::prop_assume!(expected_price > 0.0);
        let row = format!(
            "1758240000000,{price},{price},{price},{price},{volume},1758240299999,,,,,0\n"
        );
        let candles = parse(&row).unwrap();
        let candle = candles[0];
        for value in [candle.open, candle.high, candle.low, candle.close] {
            proptest::prop_assert_eq!(value.to_bits(), expected_price.to_bits(), "{}", row);
        }
        let expected_volume: f64 = volume.parse().unwrap();
        proptest::prop_assert_eq!(candle.volume.to_bits(), expected_volume.to_bits(), "{}", row);
        proptest::prop_assert_eq!(parse_field_by_field(&row).unwrap(), candles);
    }
}
