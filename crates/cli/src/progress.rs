//! A progress indicator on standard error for work that runs more than a second: hidden
//! when standard error is not a terminal (indicatif's own check), with `--quiet`, and
//! for the first second (so quick commands print nothing).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

/// A bar (with a length) or a spinner (without).
pub struct Progress {
    bar: Option<ProgressBar>,
}

/// Show nothing before this much time has passed.
const DELAY: Duration = Duration::from_secs(1);

impl Progress {
    fn make(quiet: bool, len: Option<u64>, message: String) -> Self {
        if quiet {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
        let style = match len {
            Some(_) => ProgressStyle::with_template(
                "{spinner} {msg} [{elapsed_precise}] {wide_bar} {pos}/{len}",
            ),
            None => ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]"),
        };
        if let Ok(s) = style {
            bar.set_style(s);
        }
        bar.set_message(message);
        // Draw to standard error only after the delay; indicatif hides the bar itself
        // when standard error is not a terminal.
        let b = bar.clone();
        let start = Instant::now();
        std::thread::spawn(move || {
            while start.elapsed() < DELAY {
                if b.is_finished() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !b.is_finished() {
                b.set_draw_target(ProgressDrawTarget::stderr());
                b.enable_steady_tick(Duration::from_millis(200));
            }
        });
        Progress { bar: Some(bar) }
    }

    /// A spinner with a message.
    pub fn spinner(quiet: bool, message: String) -> Self {
        Self::make(quiet, None, message)
    }

    /// A bar over `len` steps.
    pub fn bar(quiet: bool, len: u64, message: String) -> Self {
        Self::make(quiet, Some(len), message)
    }

    /// One step done.
    pub fn inc(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Done: clear the line.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
