//! A progress bar on standard error, drawn only when standard error is a terminal.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shortest time between two redraws.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

const WIDTH: usize = 30;

/// A bar counting up to a known total.
pub struct Progress {
    total: usize,
    unit: &'static str,
    last_draw: Mutex<Option<Instant>>,
}

impl Progress {
    /// Returns a bar when standard error is a terminal, and `None` otherwise so that logs and
    /// pipes stay clean.
    pub fn on_terminal(total: usize, unit: &'static str) -> Option<Self> {
        std::io::stderr().is_terminal().then(|| Self {
            total,
            unit,
            last_draw: Mutex::new(None),
        })
    }

    /// Redraws the bar for `done` units, at most every 100 ms.
    pub fn update(&self, done: usize) {
        let Ok(mut last_draw) = self.last_draw.lock() else {
            return;
        };
        let now = Instant::now();
        if last_draw.is_some_and(|last| now - last < REDRAW_EVERY) && done < self.total {
            return;
        }
        *last_draw = Some(now);
        let line = render(done, self.total, self.unit);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r{line}");
        let _ = stderr.flush();
    }

    /// Erases the bar.
    pub fn finish(&self) {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r{:width$}\r", "", width = WIDTH + 40);
        let _ = stderr.flush();
    }
}

fn render(done: usize, total: usize, unit: &str) -> String {
    let fraction = if total == 0 {
        1.0
    } else {
        (done as f64 / total as f64).min(1.0)
    };
    let filled = (fraction * WIDTH as f64).round() as usize;
    let bar: String = "#".repeat(filled) + &".".repeat(WIDTH - filled);
    format!("[{bar}] {:>3.0}% {done}/{total} {unit}", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_shows_share_done() {
        assert_eq!(
            render(50, 200, "bars"),
            format!("[{}{}]  25% 50/200 bars", "#".repeat(8), ".".repeat(22))
        );
        assert!(render(300, 200, "runs").contains("100% 300/200 runs"));
    }
}
