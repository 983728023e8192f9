//! End-to-end tests of `keyward backtest` through the built binary, on small kline CSV files
//! written into a temporary folder.

use std::path::Path;
use std::process::{Command, Output};

const HEADER: &str = "open_time,open,high,low,close,volume,close_time,quote_volume,count,\
                      taker_buy_volume,taker_buy_quote_volume,ignore";
const START_MS: i64 = 1_758_240_000_000;
const STEP_MS: i64 = 300_000;

/// Writes `count` 5-minute candles starting at bar `first`, closing on a sine wave of period
/// 40 bars so that a 3/8 SMA crossover trades several times.
fn kline_rows(first: usize, count: usize) -> Vec<String> {
    let close = |index: usize| 100.0 + 10.0 * (index as f64 * std::f64::consts::TAU / 40.0).sin();
    (first..first + count)
        .map(|index| {
            let open_time = START_MS + index as i64 * STEP_MS;
            let open = close(index.saturating_sub(1));
            let close = close(index);
            let high = open.max(close) + 0.5;
            let low = open.min(close) - 0.5;
            let close_time = open_time + STEP_MS - 1;
            format!("{open_time},{open:.2},{high:.2},{low:.2},{close:.2},12.5,{close_time},,,,,0")
        })
        .collect()
}

fn write_csv(path: &Path, rows: &[String]) {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Runs `keyward backtest --data DATA --strategy sma` with extra flags, adding
/// `--fast 3 --slow 8` unless they set `--fast`.
fn backtest(data: &Path, extra: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
    command
        .arg("backtest")
        .arg("--data")
        .arg(data)
        .args(["--strategy", "sma"]);
    if !extra.contains(&"--fast") {
        command.args(["--fast", "3", "--slow", "8"]);
    }
    command
        .args(extra)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|err| panic!("last line {last:?}: {err}"))
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a backtest of `data` with each case's flags and checks that it exits with 2 and an
/// error containing the case's text.
fn assert_rejected(data: &Path, cases: &[(&[&str], &str)]) {
    for (extra, expected) in cases {
        let output = backtest(data, extra);
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        let stderr = stderr_of(&output);
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
}

#[test]
fn json_report_of_small_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 200));

    let output = backtest(&file, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("200 bars"));

    let output_json = backtest(&file, &["--json"]);
    let code = output_json.status.code();
    assert_eq!(code, Some(0), "{}", stderr_of(&output_json));

    let report = json_of(&output_json);
    assert_eq!(report["bars"], 200);
    let trades = report["trades"].as_u64().unwrap();
    assert!(trades > 3, "only {trades} trades");
    let listed = report["trade_list"].as_array().unwrap().len();
    assert_eq!(listed as u64, trades);
    assert!(report["risk_checks"].as_u64().unwrap() >= trades);
    assert!(report["final_equity"].as_f64().unwrap() > 0.0);
    assert!(report["total_return"].is_f64());
    let drawdown = report["max_drawdown"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&drawdown), "{drawdown}");
    assert_eq!(report["first_bar_time"], "2025-09-19T00:00:00Z");

    let first_trade = &report["trade_list"][0];
    let fields = [
        "side",
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "quantity",
    ];
    for field in fields {
        let present = !first_trade[field].is_null();
        assert!(present, "trade lacks {field}: {first_trade}");
    }
}

#[test]
fn json_output_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 120));

    let first = backtest(&file, &["--json"]);
    let second = backtest(&file, &["--json"]);
    assert!(first.status.success(), "{}", stderr_of(&first));
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn folder_is_read_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("b.csv"), &kline_rows(60, 40));
    write_csv(&dir.path().join("a.csv"), &kline_rows(0, 60));
    std::fs::write(dir.path().join("notes.txt"), "not a kline file").unwrap();

    let output = backtest(dir.path(), &["--json"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(json_of(&output)["bars"], 100);
}

#[test]
fn hidden_files_in_folder_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("a.csv"), &kline_rows(0, 60));
    // A metadata file as macOS writes it beside each file: not kline data.
    std::fs::write(dir.path().join("._a.csv"), [0_u8, 5, 22, 7, 0, 2]).unwrap();

    let output = backtest(dir.path(), &["--json"]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(json_of(&output)["bars"], 60);
}

#[test]
fn overlapping_folder_files_name_both() {
    let dir = tempfile::tempdir().unwrap();
    // Sorted by name, "b.csv" comes second but starts before "a.csv" ends.
    write_csv(&dir.path().join("a.csv"), &kline_rows(30, 40));
    write_csv(&dir.path().join("b.csv"), &kline_rows(0, 40));

    let output = backtest(dir.path(), &["--json"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("b.csv: line 2: open_time"), "{stderr}");
    assert!(stderr.contains("last row of"), "{stderr}");
    assert!(stderr.contains("a.csv"), "{stderr}");
    assert!(
        stderr.contains("byte-wise order of their names"),
        "{stderr}"
    );
}

#[test]
fn overlap_names_file_with_rows() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("a.csv"), &kline_rows(0, 40));
    write_csv(&dir.path().join("b.csv"), &[]);
    write_csv(&dir.path().join("c.csv"), &kline_rows(39, 10));

    let output = backtest(dir.path(), &["--json"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("c.csv: line 2: open_time"), "{stderr}");
    assert!(stderr.contains("last row of"), "{stderr}");
    assert!(stderr.contains("a.csv"), "{stderr}");
    assert!(!stderr.contains("b.csv"), "{stderr}");
}

#[test]
fn closed_output_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 200));

    for flags in [&["--json"][..], &[]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args([
                "backtest",
                "--strategy",
                "sma",
                "--fast",
                "3",
                "--slow",
                "8",
            ])
            .arg("--data")
            .arg(&file)
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before anything is written, as `| head -c 0` would.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(0), "{flags:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
    }
}

#[test]
fn broken_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.csv");
    let mut rows = kline_rows(0, 50);
    rows[20] = rows[20].replacen(",12.5,", ",lots,", 1);
    write_csv(&file, &rows);

    let output = backtest(&file, &["--json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = stderr_of(&output);
    assert!(stderr.contains("broken.csv"), "{stderr}");
    let expected = r#"line 22, column volume: "lots" is not a number"#;
    assert!(stderr.contains(expected), "{stderr}");
}

#[test]
fn bad_input_exits_with_two() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 50));
    let missing = dir.path().join("missing.csv");

    let cases: [(&Path, &[&str], &str); 7] = [
        (Path::new("/dev/zero"), &[], "not a regular file or folder"),
        (&file, &["--fast", "8", "--slow", "3"], "--slow 3"),
        (&file, &["--fee", "4"], "--fee 4"),
        (&file, &["--leverage", "0.5"], "--leverage 0.5"),
        (&file, &["--cash", "-1"], "--cash -1"),
        (&file, &["--stop-loss-pct", "100"], "--stop-loss-pct 100"),
        (&missing, &[], "missing.csv"),
    ];
    for (data, extra, expected) in cases {
        let output = backtest(data, extra);
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains(expected),
            "{extra:?}: {stderr:?} lacks {expected:?}"
        );
    }
}

#[test]
fn plot_never_overwrites_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 50));
    let before = std::fs::read(&file).unwrap();
    let funding = dir.path().join("funding.txt");
    std::fs::write(
        &funding,
        "calc_time,funding_interval_hours,last_funding_rate\n",
    )
    .unwrap();
    let file_text = file.to_str().unwrap();
    let funding_text = funding.to_str().unwrap();
    let other_csv = dir.path().join("picture.CSV");

    let cases: [(&[&str], &str); 3] = [
        (&["--plot", file_text], "ends in .csv"),
        (&["--plot", other_csv.to_str().unwrap()], "ends in .csv"),
        (
            &["--funding", funding_text, "--plot", funding_text],
            "is the --funding file",
        ),
    ];
    assert_rejected(&file, &cases);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert!(!other_csv.exists());
    assert!(
        std::fs::read_to_string(&funding)
            .unwrap()
            .starts_with("calc_time")
    );
}

#[test]
fn funding_folder_is_named_as_funding() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 50));
    let output = backtest(&file, &["--funding", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(stderr.contains("funding data"), "{stderr}");
    assert!(
        stderr.contains("give one funding-rate CSV file"),
        "{stderr}"
    );
}

#[test]
fn sweep_prints_ranked_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 400));

    let output = backtest(
        &file,
        &["--fast", "2..6:2", "--slow", "8..12", "--step", "2"],
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("9 runs over 400 bars, ranked by Return"),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout.lines().skip(2).collect();
    assert_eq!(rows.len(), 9, "{stdout}");
    assert!(rows[0].trim_start().starts_with("1 "), "{stdout}");

    let json = backtest(&file, &["--fast", "2..6:2", "--slow", "8..12:2", "--json"]);
    let sweep = json_of(&json);
    assert_eq!(sweep["runs"], 9);
    let returns: Vec<f64> = sweep["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["total_return"].as_f64().unwrap())
        .collect();
    assert!(
        returns.windows(2).all(|pair| pair[0] >= pair[1]),
        "{returns:?}"
    );
    assert!(sweep["results"][0]["trade_list_hash"].is_string());
}

#[test]
fn sweep_ranges_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 50));
    let cases: [(&[&str], &str); 6] = [
        (&["--fast", "9..3", "--slow", "20"], "ends before it starts"),
        (
            &["--fast", "1..10000", "--slow", "2..10000"],
            "at most 100000 fit in one sweep",
        ),
        (
            &["--fast", "1..2", "--slow", "3..4", "--plot", "curve.svg"],
            "--plot draws one run",
        ),
        (
            &["--fast", "1..2", "--slow", "3..4", "--step", "0"],
            "a step of 0",
        ),
        (
            &["--fast", "20..30", "--slow", "5..10"],
            "no pair with fast below slow",
        ),
        (
            &["--fast", "1..2", "--slow", "3", "--rank-by", "luck"],
            "is not a ranking",
        ),
    ];
    assert_rejected(&file, &cases);
}

#[test]
fn plot_writes_equity_svg() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 300));
    let svg = dir.path().join("equity.svg");

    let output = backtest(&file, &["--plot", svg.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg"), "{picture}");
    assert!(picture.contains("<polyline"));
    assert!(picture.contains("drawdown"));
}

#[test]
fn progress_bar_absent_off_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 200));
    let output = backtest(&file, &["--json"]);
    assert!(output.status.success());
    let stderr = stderr_of(&output);
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(!stderr.contains("bars ["), "{stderr:?}");
}

#[test]
fn funding_file_is_charged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 400));
    let funding = dir.path().join("funding.csv");
    let mut text = "calc_time,funding_interval_hours,last_funding_rate\n".to_owned();
    for hour in (0..33).step_by(8) {
        text.push_str(&format!("{},8,0.001\n", START_MS + hour * 3_600_000));
    }
    std::fs::write(&funding, text).unwrap();

    let without = json_of(&backtest(&file, &["--json"]));
    let with = json_of(&backtest(
        &file,
        &["--json", "--funding", funding.to_str().unwrap()],
    ));
    assert_eq!(without["funding_paid"], 0.0);
    assert_ne!(with["funding_paid"], 0.0);
    assert!(with["funding_hash"].is_string());
    assert_ne!(with["final_equity"], without["final_equity"]);

    let broken = dir.path().join("broken.csv");
    std::fs::write(
        &broken,
        "calc_time,funding_interval_hours,last_funding_rate\n1,8,x\n",
    )
    .unwrap();
    let output = backtest(&file, &["--funding", broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("line 2, column last_funding_rate"),
        "{stderr}"
    );
}

#[test]
fn report_has_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 400));
    let report = json_of(&backtest(&file, &["--json", "--slippage-bps", "2"]));
    for field in [
        "sharpe",
        "sortino",
        "win_rate",
        "profit_factor",
        "exposure",
        "fees_paid",
        "funding_paid",
        "trade_list_hash",
        "config_hash",
        "data_hash",
    ] {
        let present = report.as_object().unwrap().contains_key(field);
        assert!(present, "{field} missing: {report}");
    }
    // The sine wave never loses, so there is no profit factor to divide by.
    assert_eq!(report["win_rate"], 1.0);
    assert!(report["profit_factor"].is_null());
    assert!(report["sharpe"].as_f64().unwrap() > 0.0);
}

/// Runs a small sweep under `script`, which gives the process a pseudo-terminal, and checks
/// that the progress bar is drawn there.
#[test]
fn progress_bar_on_a_terminal() {
    let has_script = Command::new("script").arg("--version").output();
    if !has_script.is_ok_and(|output| output.status.success()) {
        eprintln!("skipped: the `script` command (util-linux) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("klines.csv");
    write_csv(&file, &kline_rows(0, 300));
    let command = format!(
        "{} backtest --data {} --strategy sma --fast 2..4 --slow 8 >/dev/null",
        env!("CARGO_BIN_EXE_keyward"),
        file.display()
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let terminal = String::from_utf8_lossy(&output.stdout);
    assert!(terminal.contains("3/3 runs"), "{terminal:?}");
    assert!(terminal.contains('\r'), "{terminal:?}");
}
