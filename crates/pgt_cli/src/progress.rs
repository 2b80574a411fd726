//! The progress line of a running refresh.
//!
//! A refresh is one function call; while it runs, a second connection watches the
//! refreshing backend in `pg_stat_activity` and reports the elapsed time and what the
//! backend waits for (a lock held by a writer, I/O, …). On a terminal the line is
//! redrawn in place; otherwise (`--progress` into a file or pipe) a line is written
//! every second.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::Config;
use postgres_native_tls::MakeTlsConnector;

use crate::SharedWriter;

pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts watching backend `pid` refreshing `name`. If the second connection cannot
    /// be made the refresh runs without a progress line (the refresh itself matters).
    pub fn start(
        cfg: &Config,
        tls: MakeTlsConnector,
        pid: i32,
        name: &str,
        err: SharedWriter,
        terminal: bool,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = cfg.connect(tls).ok().map(|mut client| {
            let stop = stop.clone();
            let name = name.to_string();
            std::thread::spawn(move || {
                let started = Instant::now();
                let poll = Duration::from_millis(if terminal { 200 } else { 100 });
                let mut last_poll: Option<Instant> = None;
                let mut last_line: Option<Instant> = None;
                let mut drawn = false;
                // Short steps, so that finishing never waits long for this thread; quiet
                // for the first half second, by when most refreshes are done.
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                    if started.elapsed() < Duration::from_millis(500)
                        || last_poll.is_some_and(|t| t.elapsed() < poll)
                    {
                        continue;
                    }
                    last_poll = Some(Instant::now());
                    let wait = client
                        .query_opt(
                            "SELECT a.wait_event_type, a.wait_event FROM pg_catalog.pg_stat_activity a \
                              WHERE a.pid OPERATOR(pg_catalog.=) $1",
                            &[&pid],
                        )
                        .ok()
                        .flatten()
                        .and_then(|r| {
                            let t: Option<String> = r.get(0);
                            let e: Option<String> = r.get(1);
                            t.map(|t| format!("{t}: {}", e.unwrap_or_default()))
                        });
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let line = describe(&name, started.elapsed(), wait.as_deref());
                    if let Ok(mut w) = err.lock() {
                        if terminal {
                            let _ = write!(w, "\r\x1b[K{line}");
                            let _ = w.flush();
                            drawn = true;
                        } else if last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                            let _ = writeln!(w, "{line}");
                            last_line = Some(Instant::now());
                        }
                    }
                }
                if drawn {
                    if let Ok(mut w) = err.lock() {
                        let _ = write!(w, "\r\x1b[K");
                        let _ = w.flush();
                    }
                }
            })
        });
        Progress { stop, thread }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `refreshing public.x: 3.2s (waiting for Lock: relation)`.
fn describe(name: &str, elapsed: Duration, wait: Option<&str>) -> String {
    let mut s = format!(
        "refreshing {name}: {}",
        crate::output::seconds(elapsed.as_secs_f64())
    );
    if let Some(w) = wait {
        s.push_str(&format!(" (waiting for {w})"));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_line_says_what_the_refresh_waits_for() {
        assert_eq!(
            super::describe(
                "public.t",
                std::time::Duration::from_millis(3_250),
                Some("Lock: relation")
            ),
            "refreshing public.t: 3.2s (waiting for Lock: relation)"
        );
        assert_eq!(
            super::describe("s.t", std::time::Duration::from_secs(75), None),
            "refreshing s.t: 1m 15s"
        );
    }
}
