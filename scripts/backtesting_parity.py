#!/usr/bin/env python3
"""Compare `keyward backtest` with the Python package `backtesting` on the same candles.

Run from the project's root:  python3 scripts/backtesting_parity.py
It creates a virtualenv (target/parity-venv) and installs `backtesting` from PyPI into it,
builds the release binary, then

1. parity: for each real kline file and each setting, runs a long-only SMA crossover through
   `keyward backtest` and through backtesting's FractionalBacktest, and checks that the trade
   counts are equal and the final equities agree within 0.1%;
2. speed: repeats the BTCUSDT file (times shifted) to a million bars and measures, in one run,
   backtesting's bars per second (its `Backtest.run` alone) against keyward's bars per second
   counting the whole `keyward backtest` process, CSV parsing included; the times of keyward's
   reading thread and run thread are reported apart from its log. The timed runs print the readable summary,
   which does not show the data's SHA-256, so they skip the hash. One more run with --json,
   which hashes the data on another thread, is timed apart.

Settings mapping (keyward flag <-> backtesting argument), the same in docs/benchmarks.md:
  --fee F                      <-> commission=F (a fraction of each fill's notional, both sides)
  next-open fills              <-> trade_on_close=False
  --long-only, one position    <-> exclusive_orders=True; buy() on a cross up, position.close()
                                   on a cross down
  --position-size 1            <-> buy() with its default size (all available equity); keyward
                                   leaves room for the fee, as backtesting's sizing does
  --leverage 1                 <-> margin=1
  --stop-loss-pct 99           <-> no stop loss (keyward's gate requires a stop; at 99% it
                                   never triggers)
  --final-fill last-open       <-> finalize_trades=True (backtesting closes open trades at the
                                   last bar's open)
  quantities to 8 decimals     <-> FractionalBacktest(fractional_unit=1e-8)
  --slippage-bps 0             <-> spread=0
  SMA: keyward's SmaCross      <-> pandas rolling mean with backtesting.lib.crossover

The script is not part of the test suite: it needs the network for PyPI and takes minutes.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("KEYWARD_SHARED_DIR", os.path.join(os.path.dirname(ROOT), "shared"))
MARKET = os.path.join(SHARED, "data", "market")
BINARY = os.path.join(ROOT, "target", "release", "keyward")
BACKTESTING_VERSION = "0.6.6"
PARITY_FILES = [
    "binance_um_BTCUSDT_5m_2025-09-19_2025-10-27.csv",
    "binance_um_ETHUSDT_5m_2025-09-27_2025-10-27.csv",
    "bybit_linear_BTCUSDT_5m_2024-07-01_2024-08-09.csv",
    "binance_spot_BTCUSDT_5m_2024-08.csv",
]
PARITY_SETTINGS = [(10, 30, 0.0004), (20, 60, 0.0004), (10, 30, 0.001), (5, 20, 0.0)]
TOLERANCE = 0.001

# Runs inside the virtualenv: one FractionalBacktest of a long-only SMA crossover.
REFERENCE = r"""
import json, sys, time, warnings
import pandas as pd
from backtesting import Strategy
from backtesting.lib import FractionalBacktest, crossover
warnings.filterwarnings("ignore")
path, fast, slow, fee = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

def sma(values, window):
    return pd.Series(values).rolling(window).mean()

class SmaCross(Strategy):
    def init(self):
        self.fast = self.I(sma, self.data.Close, fast)
        self.slow = self.I(sma, self.data.Close, slow)

    def next(self):
        if crossover(self.fast, self.slow):
            self.buy()
        elif crossover(self.slow, self.fast):
            self.position.close()

frame = pd.read_csv(path)
frame.index = pd.to_datetime(frame["open_time"], unit="ms")
frame = frame.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
backtest = FractionalBacktest(frame, SmaCross, cash=10_000, commission=fee, spread=0.0, margin=1.0,
                              trade_on_close=False, exclusive_orders=True, finalize_trades=True,
                              fractional_unit=1e-8)
started, started_cpu = time.perf_counter(), time.process_time()
stats = backtest.run()
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
print(json.dumps({"bars": len(frame), "trades": int(stats["# Trades"]),
                  "final_equity": float(stats["Equity Final [$]"]), "run_seconds": seconds,
                  "run_cpu_seconds": cpu_seconds}))
"""


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        fail(f"{' '.join(command[:4])} exited {result.returncode}: {result.stderr[-400:]}")
    return result


def virtualenv(folder):
    """Creates the virtualenv once and installs the pinned `backtesting` into it."""
    python = os.path.join(folder, "bin", "python")
    if not os.path.exists(python):
        run([sys.executable, "-m", "venv", folder])
    check = subprocess.run([python, "-c", "import backtesting; print(backtesting.__version__)"],
                           capture_output=True, text=True)
    if check.returncode != 0 or check.stdout.strip() != BACKTESTING_VERSION:
        run([python, "-m", "pip", "install", "--quiet", f"backtesting=={BACKTESTING_VERSION}"])
    return python


def keyward(path, fast, slow, fee, json_output=True):
    command = [BINARY, "--log-format", "json", "backtest", "--data", path, "--strategy", "sma",
               "--fast", str(fast), "--slow", str(slow), "--fee", str(fee), "--long-only",
               "--position-size", "1", "--leverage", "1", "--stop-loss-pct", "99",
               "--slippage-bps", "0", "--final-fill", "last-open"]
    if json_output:
        command.append("--json")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = run(command, env=dict(os.environ, RUST_LOG="info"))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    log = next(json.loads(line) for line in result.stderr.splitlines()
               if '"backtest finished"' in line)
    report = json.loads(result.stdout) if json_output else None
    return report, log, wall, cpu


def reference(python, path, fast, slow, fee):
    result = run([python, "-c", REFERENCE, path, str(fast), str(slow), str(fee)])
    return json.loads(result.stdout.strip().splitlines()[-1])


def parity(python):
    rows, worst = [], 0.0
    for name in PARITY_FILES:
        path = os.path.join(MARKET, name)
        for fast, slow, fee in PARITY_SETTINGS:
            ours, _, _, _ = keyward(path, fast, slow, fee)
            theirs = reference(python, path, fast, slow, fee)
            gap = abs(ours["final_equity"] - theirs["final_equity"]) / theirs["final_equity"]
            worst = max(worst, gap)
            ok = ours["trades"] == theirs["trades"] and gap <= TOLERANCE
            rows.append((name, f"{fast}/{slow}", fee, ours["bars"], ours["trades"],
                         theirs["trades"], ours["final_equity"], theirs["final_equity"], gap, ok))
    print("| file | SMA | fee | bars | trades keyward | trades backtesting | final equity keyward"
          " | final equity backtesting | difference | ok |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| `{row[0]}` | {row[1]} | {row[2]} | {row[3]} | {row[4]} | {row[5]} | "
              f"{row[6]:.6f} | {row[7]:.6f} | {row[8] * 100:.6f}% | {'yes' if row[9] else 'NO'} |")
    if not all(row[9] for row in rows):
        fail("keyward and backtesting disagree; see the rows marked NO")
    print(f"\nparity holds on {len(rows)} runs; largest final-equity difference "
          f"{worst * 100:.6f}% (limit 0.1%)\n")


def repeated_file(folder, bars):
    """Writes the BTCUSDT file repeated, with shifted times, up to `bars` rows."""
    source = os.path.join(MARKET, PARITY_FILES[0])
    with open(source) as handle:
        header, *rows = handle.read().splitlines()
    rows = [row.split(",") for row in rows if row]
    step = int(rows[1][0]) - int(rows[0][0])
    span = int(rows[-1][0]) - int(rows[0][0]) + step
    path = os.path.join(folder, f"BTCUSDT_5m_{bars}.csv")
    with open(path, "w") as out:
        out.write(header + "\n")
        for index in range(bars):
            row = list(rows[index % len(rows)])
            shift = (index // len(rows)) * span
            row[0] = str(int(row[0]) + shift)
            row[6] = str(int(row[6]) + shift)
            out.write(",".join(row) + "\n")
    return path


def speed(python, bars, rounds):
    with tempfile.TemporaryDirectory() as folder:
        path = repeated_file(folder, bars)
        # One untimed run of each first, so that neither pays for a cold cache or an idle CPU.
        keyward(path, 10, 30, 0.0004, json_output=False)
        reference(python, path, 10, 30, 0.0004)
        ours = [keyward(path, 10, 30, 0.0004, json_output=False) for _ in range(rounds)]
        theirs = [reference(python, path, 10, 30, 0.0004) for _ in range(rounds)]
        ours_json, _, json_wall, json_cpu = keyward(path, 10, 30, 0.0004)
    wall = statistics.median(run[2] for run in ours)
    cpu = statistics.median(run[3] for run in ours)
    load_ms = statistics.median(run[1]["load_ms"] for run in ours)
    run_ms = statistics.median(run[1]["run_ms"] for run in ours)
    reference_seconds = statistics.median(run["run_seconds"] for run in theirs)
    reference_cpu = statistics.median(run["run_cpu_seconds"] for run in theirs)
    if ours_json["trades"] != theirs[0]["trades"]:
        fail(f"on {bars} bars keyward made {ours_json['trades']} trades, backtesting "
             f"{theirs[0]['trades']}")
    ratio = reference_seconds / wall
    print(f"speed on {bars} bars (SMA 10/30, long only, median of {rounds}):")
    print(f"  backtesting {BACKTESTING_VERSION} Backtest.run: {reference_seconds:.3f} s wall "
          f"({reference_cpu:.3f} s CPU), {bars / reference_seconds:,.0f} bars/s")
    print(f"  keyward whole process: {wall:.3f} s wall ({cpu:.3f} s CPU), "
          f"{bars / wall:,.0f} bars/s")
    print(f"  keyward threads: reading thread {load_ms:.1f} ms, run thread (the run and the "
          f"pieces it parsed itself) {run_ms:.1f} ms")
    print(f"  keyward with --json, SHA-256 of the data included (one run): {json_wall:.3f} s "
          f"wall ({json_cpu:.3f} s CPU)")
    print(f"  ratio (keyward bars/s over backtesting bars/s): {ratio:.1f}x by wall time, "
          f"{reference_cpu / cpu:.1f}x by CPU time")
    return ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000, help="bars of the speed run")
    parser.add_argument("--rounds", type=int, default=5, help="repetitions of each speed run")
    parser.add_argument("--venv", default=os.path.join(ROOT, "target", "parity-venv"))
    parser.add_argument("--skip-speed", action="store_true", help="run the parity part only")
    parser.add_argument("--skip-parity", action="store_true", help="run the speed part only")
    args = parser.parse_args()
    if not os.path.isdir(MARKET):
        fail(f"market data folder {MARKET} is missing; set KEYWARD_SHARED_DIR")

    python = virtualenv(args.venv)
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{time.strftime('%Y-%m-%d')}\n")
    if not args.skip_parity:
        parity(python)
    if not args.skip_speed:
        speed(python, args.bars, args.rounds)


if __name__ == "__main__":
    main()
