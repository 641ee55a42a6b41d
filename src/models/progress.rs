//! `Progress`: a byte-counting progress bar on stderr (size, rate, time left), or nothing when
//! stderr is not a terminal or the caller asked for quiet.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One step's progress bar; drawing nothing when disabled. Cleared when dropped.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `length` bytes (unknown: a spinner with a byte count) labelled `message`, when
    /// `enabled` and stderr is a terminal.
    pub(crate) fn new(enabled: bool, message: &str, length: Option<u64>) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
        let template = if length.is_some() {
            "{msg} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} eta {eta}"
        } else {
            "{spinner} {msg} {decimal_bytes} {decimal_bytes_per_sec}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// Moves the bar by `bytes`.
    pub(crate) fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    /// Puts the bar at `bytes` (for progress measured from the outside, such as pip's file).
    pub(crate) fn set_position(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            if bar.length().is_some_and(|length| bytes > length) {
                bar.set_length(bytes);
            }
            bar.set_position(bytes);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
