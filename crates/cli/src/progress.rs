//! Progress bars on stderr, shown only when stderr is a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A spinner counting rows, or a bar when the total is known. Hidden when
/// stderr is not a terminal (pipes, CI, tests).
pub fn rows(label: &str, total: Option<u64>) -> ProgressBar {
    let pb = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
        return pb;
    }
    let style = match total {
        Some(_) => ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {human_pos}/{human_len} ({per_sec}, eta {eta})",
        ),
        None => ProgressStyle::with_template("{msg:>12} {spinner} {human_pos} rows ({per_sec})"),
    }
    .expect("static progress template")
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(label.to_string());
    pb
}
