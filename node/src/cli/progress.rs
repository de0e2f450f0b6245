//! Spinners for work a person waits on at a terminal (a model thinking, a
//! bundle being read or written): on stderr, with what is happening and
//! how long it has taken, cleared when the work ends. Nothing is drawn when
//! stderr is not a terminal or the answer is JSON.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner, cleared when it is dropped (an error on the way out too).
pub struct Working(ProgressBar);

impl Working {
    pub fn finish_and_clear(&self) {
        self.0.finish_and_clear();
    }

    pub fn hidden() -> Working {
        Working(ProgressBar::hidden())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A spinner saying `what`, ticking on its own thread, or a hidden one.
pub fn spinner(what: impl Into<String>, json: bool) -> Working {
    Working(draw(what.into(), json))
}

fn draw(what: String, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
