//! Reads a test binary's output as it arrives and decides its verdict.
//!
//! Test binaries print in TFLM's style: `Testing <name>` before each test
//! case, failure lines (`file:line: message`, or TFLM's
//! `<expr> failed at file:line` and `FAIL: <message>`), a summary
//! `N/M tests passed`, then `~~~ALL TESTS PASSED~~~` or
//! `~~~SOME TESTS FAILED~~~`, and exit with a status (0 = pass). A panic
//! prints a line starting `*** PANIC:`, a hard fault one starting
//! `*** HARD FAULT:`.
//!
//! The [`Scanner`] is pure: it starts no process or thread and never reads a
//! clock. The runner feeds it raw byte chunks as they come (from an
//! emulator's stdout/stderr or a probe), tells it when the process ended or
//! the host timeout hit, and calls [`Scanner::tick`] now and then; every call
//! carries the time since the run started. Chunks may split lines anywhere,
//! hold invalid UTF-8 (decoded lossily), use `\r\n`, carry Renode's log
//! prefixes (stripped before matching) and QEMU's own messages, or flood
//! without a newline: a line is cut at [`ScanConfig::max_line`] bytes and
//! the kept log at [`ScanConfig::max_log`] bytes, so memory stays bounded
//! whatever the binary prints.
//!
//! # Rules
//!
//! | What the binary did | Verdict | When |
//! |---|---|---|
//! | pass marker, then exit 0 | Passed | at exit |
//! | pass marker, no exit within `grace` (or before the host timeout) | Passed, "the binary did not exit" | [`Scanner::tick`] / [`Scanner::timed_out`] |
//! | pass marker, then exit status N ≠ 0 | Failed | at exit |
//! | pass marker, then killed by a signal or the emulator crashed | Crashed | at exit |
//! | pass marker printed more than once | Passed, with a note | as above |
//! | pass marker but the summary says N/M with N < M, or a case printed a failure line | Failed (inconsistent) | at once |
//! | fail marker | Failed, naming the failing tests | at once |
//! | fail marker after the pass marker | Failed | at once |
//! | `*** PANIC:` / `*** HARD FAULT:` line | Failed, with that line | at once |
//! | `qemu: fatal:` line, or Renode's `CPU abort` error | Crashed | at once |
//! | exit 0 without a marker | Failed | at exit |
//! | exit N ≠ 0 without a marker | Failed with the status (Crashed if the emulator printed an error such as `qemu-system-arm: …`) | at exit |
//! | killed by a signal, or the runner reports a crash, without a marker | Crashed | at exit |
//! | QEMU printed `qemu-system-…: terminating on signal N` (stopped from outside; it then exits 0), with or without a marker | Crashed | at exit |
//! | host timeout, nothing printed | TimedOut, "no output in 30 s" | [`Scanner::timed_out`] |
//! | host timeout, only emulator messages printed | TimedOut, with the emulator's last line | [`Scanner::timed_out`] |
//! | host timeout, output but no marker | TimedOut, with the test in progress and the last line | [`Scanner::timed_out`] |
//!
//! The first verdict decided stands: later output is still logged, and every
//! later call returns that same verdict.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The line a test binary prints when every test passed.
pub const PASS_MARKER: &str = "~~~ALL TESTS PASSED~~~";
/// The line a test binary prints when some test failed.
pub const FAIL_MARKER: &str = "~~~SOME TESTS FAILED~~~";

const PANIC_PREFIX: &str = "*** PANIC:";
const HARD_FAULT_PREFIX: &str = "*** HARD FAULT:";
const QEMU_FATAL_PREFIX: &str = "qemu: fatal:";

/// At most this many test cases are kept (a flood of `Testing` lines must
/// not grow memory without bound).
const MAX_CASES: usize = 10_000;
/// At most this many failure lines are kept over all test cases.
const MAX_FAILURE_LINES: usize = 1_000;
/// Test names and failure lines are kept up to this many characters.
const MAX_KEPT_CHARS: usize = 512;
/// A verdict's reason is cut at this many characters.
const MAX_REASON_CHARS: usize = 300;
/// The smallest [`ScanConfig::max_line`] honoured, so that markers fit.
const MIN_LINE: usize = 64;
/// At most this many failing test names are listed in a reason.
const MAX_NAMES_IN_REASON: usize = 5;

/// How the scanner bounds its memory and how long it waits for an exit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanConfig {
    /// After the pass marker, how long to wait for the binary to exit before
    /// calling it passed anyway (TFLM's bluepill binaries never exit).
    pub grace: Duration,
    /// The longest line matched, in bytes (at least 64). Longer lines are
    /// matched and logged by their first and last `max_line` bytes.
    pub max_line: usize,
    /// The most log kept, in bytes: the first and the last half, with a
    /// `[... N bytes skipped ...]` line between them.
    pub max_log: usize,
}

impl Default for ScanConfig {
    /// A 2 s grace, 4 KiB lines and a 128 KiB log.
    fn default() -> Self {
        ScanConfig {
            grace: Duration::from_secs(2),
            max_line: 4 * 1024,
            max_log: 128 * 1024,
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The tests passed.
    Passed,
    /// A test failed, the binary panicked or faulted, or it ended without a
    /// consistent result.
    Failed,
    /// The host timeout hit before a verdict.
    TimedOut,
    /// The emulator or the process died abnormally (signal, emulator abort).
    Crashed,
}

impl Outcome {
    /// `passed`, `failed`, `timed_out` or `crashed`, as in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Crashed => "crashed",
        }
    }

    /// Whether this is [`Outcome::Passed`].
    pub fn is_pass(self) -> bool {
        self == Outcome::Passed
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A run's verdict: its outcome and one line a person understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Passed, failed, timed out or crashed.
    pub outcome: Outcome,
    /// Why, on one line (no newlines, at most a few hundred characters).
    pub reason: String,
}

impl Verdict {
    /// A verdict; the reason is put on one line and cut to a few hundred
    /// characters.
    pub fn new(outcome: Outcome, reason: impl AsRef<str>) -> Self {
        Verdict {
            outcome,
            reason: one_line(reason.as_ref(), MAX_REASON_CHARS),
        }
    }

    /// Whether the outcome is [`Outcome::Passed`].
    pub fn passed(&self) -> bool {
        self.outcome.is_pass()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.outcome, self.reason)
    }
}

/// What the runner should do after [`Scanner::feed`] or [`Scanner::tick`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Kill the process now: this is the verdict. (Output still buffered may
    /// be fed afterwards; it is logged but the verdict stands.)
    Stop(Verdict),
    /// The pass marker was seen: give the process [`ScanConfig::grace`] to
    /// exit, calling [`Scanner::tick`] meanwhile. Returned once.
    AwaitExit,
}

/// How the process ended, for [`Scanner::exited`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// It was killed by this signal.
    Signal(i32),
    /// The runner saw the emulator, container or probe die abnormally; a
    /// short description. (Use this rather than [`Exit::Code`] when the
    /// status is the emulator's and not the test binary's, e.g. a Renode
    /// container dying.)
    Crashed(String),
}

impl From<std::process::ExitStatus> for Exit {
    fn from(status: std::process::ExitStatus) -> Self {
        if let Some(code) = status.code() {
            return Exit::Code(code);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(signal) = status.signal() {
                return Exit::Signal(signal);
            }
        }
        Exit::Crashed(format!(
            "the process ended without an exit status ({status})"
        ))
    }
}

/// One test case, from a `Testing <name>` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// The name after `Testing `.
    pub name: String,
    /// False when a failure line, a panic or a fault came while it ran, or
    /// when the run ended badly before it finished.
    pub passed: bool,
    /// The failure lines printed while it ran (Renode prefixes stripped).
    pub failures: Vec<String>,
    /// From its `Testing` line to the next one, the summary or the end, as
    /// seen by the host (approximate: output arrives in chunks).
    pub duration: Duration,
}

/// Which output stream a chunk came from; each has its own line buffer so
/// that interleaved chunks don't mix lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Out = 0,
    Err = 1,
}

/// Reads a test binary's output and decides its verdict. See the module
/// documentation for the rules.
#[derive(Clone, Debug)]
pub struct Scanner {
    config: ScanConfig,
    lines: [LineBuf; 2],
    log: LogBuf,
    tests: Vec<TestCase>,
    /// The test case running: its index in `tests` and when it started.
    open_case: Option<(usize, Duration)>,
    failure_lines_kept: usize,
    summary: Option<(u32, u32)>,
    pass_markers: u32,
    /// When the pass marker was first seen.
    pass_at: Option<Duration>,
    /// Whether any line came from the binary (not the emulator).
    output_seen: bool,
    last_output: Option<String>,
    last_emulator: Option<String>,
    emulator_error: Option<String>,
    /// QEMU's note that a signal from outside stopped it (it then exits
    /// with status 0, which is not the binary's).
    emulator_stopped: Option<String>,
    decided: Option<Verdict>,
}

impl Scanner {
    /// A scanner that has seen nothing yet.
    pub fn new(config: ScanConfig) -> Self {
        let max_line = config.max_line.max(MIN_LINE);
        let log = LogBuf::new(config.max_log);
        Scanner {
            config: ScanConfig { max_line, ..config },
            lines: [LineBuf::default(), LineBuf::default()],
            log,
            tests: Vec::new(),
            open_case: None,
            failure_lines_kept: 0,
            summary: None,
            pass_markers: 0,
            pass_at: None,
            output_seen: false,
            last_output: None,
            last_emulator: None,
            emulator_error: None,
            emulator_stopped: None,
            decided: None,
        }
    }

    /// Scans a chunk of the binary's output (stdout, a serial port, a probe
    /// channel, or everything merged), `at` this long after the start.
    /// Returns `Some` when the runner should act: stop now, or await the exit.
    pub fn feed(&mut self, bytes: &[u8], at: Duration) -> Option<Decision> {
        self.feed_stream(Stream::Out, bytes, at)
    }

    /// Like [`Scanner::feed`], for a second stream read separately (the
    /// emulator's stderr), kept in its own line buffer.
    pub fn feed_stderr(&mut self, bytes: &[u8], at: Duration) -> Option<Decision> {
        self.feed_stream(Stream::Err, bytes, at)
    }

    /// Called now and then while the process runs: ends the grace period
    /// after the pass marker. Returns `Some(Stop)` once a verdict is decided.
    pub fn tick(&mut self, at: Duration) -> Option<Decision> {
        if self.decided.is_none() {
            if let Some(pass_at) = self.pass_at {
                if at.saturating_sub(pass_at) >= self.config.grace {
                    let verdict = self.passed_without_exit();
                    self.decide(verdict, at);
                }
            }
        }
        self.decided.clone().map(Decision::Stop)
    }

    /// The process ended with `status`, `at` this long after the start.
    /// Output not yet ended by a newline is scanned first.
    pub fn exited(&mut self, status: Exit, at: Duration) -> Verdict {
        self.flush(at);
        if let Some(verdict) = &self.decided {
            return verdict.clone();
        }
        let status = match (status, &self.emulator_stopped) {
            (Exit::Code(_), Some(note)) => {
                Exit::Crashed(format!("the emulator was stopped from outside: {note}"))
            }
            (status, _) => status,
        };
        let verdict = if self.pass_at.is_some() {
            match &status {
                Exit::Code(0) => self.passed_verdict(""),
                Exit::Code(code) => Verdict::new(
                    Outcome::Failed,
                    format!(
                        "printed the pass marker but exited with status {}",
                        code_text(*code)
                    ),
                ),
                Exit::Signal(signal) => Verdict::new(
                    Outcome::Crashed,
                    format!(
                        "printed the pass marker but was killed by {}",
                        signal_text(*signal)
                    ),
                ),
                Exit::Crashed(what) => Verdict::new(
                    Outcome::Crashed,
                    format!("printed the pass marker but then crashed: {what}"),
                ),
            }
        } else {
            match &status {
                Exit::Code(code) => match &self.emulator_error {
                    Some(error) if *code != 0 => Verdict::new(
                        Outcome::Crashed,
                        format!("the emulator failed (status {}): {error}", code_text(*code)),
                    ),
                    _ => Verdict::new(
                        Outcome::Failed,
                        format!(
                            "exited with status {} without printing a test result marker{}",
                            code_text(*code),
                            self.where_it_stopped()
                        ),
                    ),
                },
                Exit::Signal(signal) => Verdict::new(
                    Outcome::Crashed,
                    format!(
                        "killed by {}{}",
                        signal_text(*signal),
                        self.where_it_stopped()
                    ),
                ),
                Exit::Crashed(what) => Verdict::new(
                    Outcome::Crashed,
                    format!("{what}{}", self.where_it_stopped()),
                ),
            }
        };
        self.decide(verdict.clone(), at);
        verdict
    }

    /// The host timeout hit, `at` this long after the start; the runner
    /// kills the process. The log keeps what was printed.
    pub fn timed_out(&mut self, at: Duration) -> Verdict {
        self.flush(at);
        if let Some(verdict) = &self.decided {
            return verdict.clone();
        }
        let secs = secs_text(at);
        let verdict = if self.pass_at.is_some() {
            self.passed_without_exit()
        } else if self.output_seen {
            let in_test = match self.open_case {
                Some((index, _)) => format!(" (in test {})", self.tests[index].name),
                None => String::new(),
            };
            let last = self.last_output.as_deref().unwrap_or("");
            Verdict::new(
                Outcome::TimedOut,
                format!("no test result marker after {secs} s{in_test}; last line: \"{last}\""),
            )
        } else if let Some(last) = &self.last_emulator {
            Verdict::new(
                Outcome::TimedOut,
                format!(
                    "no output from the binary in {secs} s; the emulator's last line: \"{last}\""
                ),
            )
        } else {
            Verdict::new(Outcome::TimedOut, format!("no output in {secs} s"))
        };
        self.decide(verdict.clone(), at);
        verdict
    }

    /// The verdict, once one is decided.
    pub fn verdict(&self) -> Option<&Verdict> {
        self.decided.as_ref()
    }

    /// The output so far, lossily decoded, one line per line, Renode's
    /// prefixes kept; at most about [`ScanConfig::max_log`] bytes (the start
    /// and the end, with a `[... N bytes skipped ...]` line between).
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// The test cases seen, in order.
    pub fn tests(&self) -> &[TestCase] {
        &self.tests
    }

    /// The `N/M tests passed` summary, if printed.
    pub fn summary(&self) -> Option<(u32, u32)> {
        self.summary
    }

    fn feed_stream(&mut self, stream: Stream, bytes: &[u8], at: Duration) -> Option<Decision> {
        let was_awaiting = self.pass_at.is_some();
        let max_line = self.config.max_line;
        let mut rest = bytes;
        while !rest.is_empty() {
            let (segment, newline) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rest = if newline {
                &rest[segment.len() + 1..]
            } else {
                &[]
            };
            if let Some(head) = self.lines[stream as usize].push(segment, max_line) {
                self.piece(&head, Piece::Head, at);
            }
            if newline {
                self.end_line(stream, at);
            }
        }
        if let Some(verdict) = &self.decided {
            Some(Decision::Stop(verdict.clone()))
        } else if self.pass_at.is_some() && !was_awaiting {
            Some(Decision::AwaitExit)
        } else {
            None
        }
    }

    /// Scans what is left in the line buffers, as if a newline followed.
    fn flush(&mut self, at: Duration) {
        for stream in [Stream::Out, Stream::Err] {
            if self.lines[stream as usize].is_pending() {
                self.end_line(stream, at);
            }
        }
    }

    fn end_line(&mut self, stream: Stream, at: Duration) {
        let (bytes, skipped) = self.lines[stream as usize].take(self.config.max_line);
        let piece = match skipped {
            None => Piece::Whole,
            Some(skipped) => Piece::Tail { skipped },
        };
        self.piece(&bytes, piece, at);
    }

    /// Logs and scans one line, or the start or end of an overlong one.
    fn piece(&mut self, bytes: &[u8], piece: Piece, at: Duration) {
        let decoded = String::from_utf8_lossy(bytes);
        let text = decoded.trim_matches('\r');
        match piece {
            Piece::Whole | Piece::Head => {
                self.log.push(text);
                self.log.push("\n");
            }
            Piece::Tail { skipped } => {
                self.log.push(&format!(
                    "[... line continues, {skipped} bytes skipped ...] "
                ));
                self.log.push(text);
                self.log.push("\n");
            }
        }
        match piece {
            Piece::Whole | Piece::Head => self.line(text, at),
            // The end of an overlong line: only the markers can be found in it.
            Piece::Tail { .. } => {
                let content = text.trim();
                if !content.is_empty() {
                    self.note_output(content, false);
                    self.markers(content, at);
                }
            }
        }
    }

    fn line(&mut self, text: &str, at: Duration) {
        let (content, renode) = strip_renode(text);
        let content = content.trim();
        if content.is_empty() {
            return;
        }
        let from_emulator = match &renode {
            Some(renode) => !renode.is_serial(),
            None => is_qemu_message(content),
        };
        self.note_output(content, from_emulator);
        if from_emulator && renode.is_none() && is_emulator_error(content) {
            self.emulator_error = Some(one_line(content, MAX_REASON_CHARS));
        }
        if from_emulator && renode.is_none() && is_emulator_stopped(content) {
            self.emulator_stopped = Some(one_line(content, MAX_REASON_CHARS));
        }

        if content.starts_with(QEMU_FATAL_PREFIX) {
            self.fail_open_case(content);
            self.decide(
                Verdict::new(Outcome::Crashed, format!("QEMU crashed: {content}")),
                at,
            );
            return;
        }
        if let Some(renode) = &renode {
            if renode.level == "ERROR" && content.contains("CPU abort") {
                self.fail_open_case(content);
                self.decide(
                    Verdict::new(Outcome::Crashed, format!("Renode: {content}")),
                    at,
                );
                return;
            }
        }
        if content.starts_with(PANIC_PREFIX) || content.starts_with(HARD_FAULT_PREFIX) {
            let in_test = match self.open_case {
                Some((index, _)) => format!(" (in test {})", self.tests[index].name),
                None => String::new(),
            };
            self.fail_open_case(content);
            self.decide(
                Verdict::new(Outcome::Failed, format!("{content}{in_test}")),
                at,
            );
            return;
        }
        if self.markers(content, at) {
            return;
        }
        if let Some(summary) = parse_summary(content) {
            self.close_case(at);
            self.summary = Some(summary);
            if self.pass_at.is_some() && summary.0 < summary.1 {
                let verdict = self.inconsistent_pass().unwrap_or_else(|| {
                    Verdict::new(
                        Outcome::Failed,
                        "printed the pass marker but not all tests passed",
                    )
                });
                self.decide(verdict, at);
            }
            return;
        }
        if let Some(name) = parse_testing(content) {
            self.close_case(at);
            if self.tests.len() < MAX_CASES {
                self.tests.push(TestCase {
                    name: one_line(name, MAX_KEPT_CHARS),
                    passed: true,
                    failures: Vec::new(),
                    duration: Duration::ZERO,
                });
                self.open_case = Some((self.tests.len() - 1, at));
                // Output drained after a failing verdict (stdout and stderr
                // can arrive out of order): this case cannot have finished.
                if let Some(verdict) = self.decided.clone() {
                    if !verdict.outcome.is_pass() {
                        self.fail_open_case(&format!("did not finish: {}", verdict.reason));
                    }
                    self.close_case(at);
                }
            }
            return;
        }
        if is_failure_line(content) {
            self.fail_open_case(content);
        }
    }

    /// Handles the pass and fail markers; returns whether one was found.
    fn markers(&mut self, content: &str, at: Duration) -> bool {
        if content.contains(FAIL_MARKER) {
            self.close_case(at);
            let verdict = if self.pass_at.is_some() {
                Verdict::new(
                    Outcome::Failed,
                    "printed the fail marker after the pass marker",
                )
            } else {
                self.fail_marker_verdict()
            };
            self.decide(verdict, at);
            return true;
        }
        if content.contains(PASS_MARKER) {
            self.close_case(at);
            self.pass_markers = self.pass_markers.saturating_add(1);
            if self.pass_at.is_none() {
                self.pass_at = Some(at);
                if let Some(verdict) = self.inconsistent_pass() {
                    self.decide(verdict, at);
                }
            }
            return true;
        }
        false
    }

    fn note_output(&mut self, content: &str, from_emulator: bool) {
        let kept = one_line(content, MAX_KEPT_CHARS);
        if from_emulator {
            self.last_emulator = Some(kept);
        } else {
            self.output_seen = true;
            self.last_output = Some(kept);
        }
    }

    /// Records a verdict, unless one is already decided, and closes the test
    /// case still running (failing it if the run did not pass).
    fn decide(&mut self, verdict: Verdict, at: Duration) {
        if self.decided.is_some() {
            return;
        }
        if let Some((index, _)) = self.open_case {
            if !verdict.outcome.is_pass() && self.tests[index].passed {
                let why = format!("did not finish: {}", verdict.reason);
                self.fail_open_case(&why);
            }
        }
        self.close_case(at);
        self.decided = Some(verdict);
    }

    fn close_case(&mut self, at: Duration) {
        if let Some((index, start)) = self.open_case.take() {
            self.tests[index].duration = at.saturating_sub(start);
        }
    }

    /// Marks the running test case failed with this line, if one runs.
    fn fail_open_case(&mut self, line: &str) {
        let Some((index, _)) = self.open_case else {
            return;
        };
        let case = &mut self.tests[index];
        case.passed = false;
        if self.failure_lines_kept < MAX_FAILURE_LINES {
            case.failures.push(one_line(line, MAX_KEPT_CHARS));
        } else if self.failure_lines_kept == MAX_FAILURE_LINES {
            case.failures
                .push("[... further failure lines not kept ...]".to_string());
        }
        self.failure_lines_kept = self.failure_lines_kept.saturating_add(1);
    }

    /// Why a pass marker can't be believed, if it can't.
    fn inconsistent_pass(&self) -> Option<Verdict> {
        if let Some((passed, total)) = self.summary {
            if passed < total {
                return Some(Verdict::new(
                    Outcome::Failed,
                    format!("printed the pass marker but the summary says {passed}/{total} tests passed"),
                ));
            }
        }
        let failed = self.tests.iter().find(|case| !case.passed)?;
        let first = failed.failures.first().map(String::as_str).unwrap_or("");
        Some(Verdict::new(
            Outcome::Failed,
            format!(
                "printed the pass marker but test {} printed a failure line: {first}",
                failed.name
            ),
        ))
    }

    fn fail_marker_verdict(&self) -> Verdict {
        let failed: Vec<&TestCase> = self.tests.iter().filter(|case| !case.passed).collect();
        let mut reason = match self.summary {
            Some((passed, total)) if passed < total => {
                format!("{} of {total} tests failed", total - passed)
            }
            Some((passed, total)) => {
                format!(
                    "printed the fail marker though the summary says {passed}/{total} tests passed"
                )
            }
            None if !failed.is_empty() => format!("{} tests failed", failed.len()),
            None => "printed the fail marker".to_string(),
        };
        if !failed.is_empty() {
            let names: Vec<&str> = failed
                .iter()
                .take(MAX_NAMES_IN_REASON)
                .map(|case| case.name.as_str())
                .collect();
            reason.push_str(": ");
            reason.push_str(&names.join(", "));
            if failed.len() > MAX_NAMES_IN_REASON {
                reason.push_str(&format!(" and {} more", failed.len() - MAX_NAMES_IN_REASON));
            }
            if let Some(first) = failed[0].failures.first() {
                reason.push_str(&format!("; first failure: {first}"));
            }
        }
        Verdict::new(Outcome::Failed, reason)
    }

    fn passed_verdict(&self, note: &str) -> Verdict {
        let mut reason = match self.summary {
            Some((passed, total)) => format!("{passed}/{total} tests passed"),
            None if !self.tests.is_empty() => format!("{} tests passed", self.tests.len()),
            None => "passed".to_string(),
        };
        reason.push_str(note);
        if self.pass_markers > 1 {
            reason.push_str(&format!(
                "; note: the pass marker was printed {} times",
                self.pass_markers
            ));
        }
        Verdict::new(Outcome::Passed, reason)
    }

    fn passed_without_exit(&self) -> Verdict {
        self.passed_verdict("; the binary did not exit, as TFLM's bluepill binaries don't")
    }

    /// `; last line: "…"` or `; in test X; last line: "…"`, or nothing.
    fn where_it_stopped(&self) -> String {
        let mut text = String::new();
        if let Some((index, _)) = self.open_case {
            text.push_str(&format!(" (in test {})", self.tests[index].name));
        }
        match &self.last_output {
            Some(last) => text.push_str(&format!("; last line: \"{last}\"")),
            None => text.push_str("; it printed nothing"),
        }
        text
    }
}

/// Which part of a line a piece of output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    /// A whole line.
    Whole,
    /// The first `max_line` bytes of an overlong line.
    Head,
    /// The last bytes of an overlong line, after `skipped` bytes not kept.
    Tail { skipped: u64 },
}

/// Bytes of the line being received. Bounded: once a line passes `max_line`
/// bytes its head is handed out and only a window of its last bytes is kept.
#[derive(Clone, Debug, Default)]
struct LineBuf {
    buf: Vec<u8>,
    /// `Some(bytes skipped so far)` once the line overflowed.
    overflow: Option<u64>,
}

impl LineBuf {
    /// Appends bytes of the current line (no newline among them); returns
    /// the line's head when it just overflowed.
    fn push(&mut self, mut segment: &[u8], max: usize) -> Option<Vec<u8>> {
        let mut head = None;
        if self.overflow.is_none() {
            let room = max.saturating_sub(self.buf.len());
            if segment.len() <= room {
                self.buf.extend_from_slice(segment);
                return None;
            }
            self.buf.extend_from_slice(&segment[..room]);
            segment = &segment[room..];
            head = Some(std::mem::take(&mut self.buf));
        }
        let skipped = self.overflow.get_or_insert(0);
        if segment.len() >= max {
            let dropped = self.buf.len() + (segment.len() - max);
            *skipped = skipped.saturating_add(dropped as u64);
            self.buf.clear();
            self.buf.extend_from_slice(&segment[segment.len() - max..]);
        } else {
            self.buf.extend_from_slice(segment);
            if self.buf.len() > max.saturating_mul(2) {
                let dropped = self.buf.len() - max;
                self.buf.drain(..dropped);
                *skipped = skipped.saturating_add(dropped as u64);
            }
        }
        head
    }

    fn is_pending(&self) -> bool {
        !self.buf.is_empty() || self.overflow.is_some()
    }

    /// Ends the line: its bytes (or its last `max` bytes) and, if it
    /// overflowed, how many bytes were skipped before them.
    fn take(&mut self, max: usize) -> (Vec<u8>, Option<u64>) {
        let mut bytes = std::mem::take(&mut self.buf);
        let mut overflow = self.overflow.take();
        if let Some(skipped) = overflow.as_mut() {
            if bytes.len() > max {
                let dropped = bytes.len() - max;
                bytes.drain(..dropped);
                *skipped = skipped.saturating_add(dropped as u64);
            }
        }
        (bytes, overflow)
    }
}

/// The kept log: the first half up to `max_log / 2` bytes, then a rolling
/// window of the last bytes.
#[derive(Clone, Debug)]
struct LogBuf {
    head: String,
    head_cap: usize,
    head_full: bool,
    tail: String,
    tail_cap: usize,
    /// Bytes dropped from the front of `tail` so far.
    skipped: u64,
}

impl LogBuf {
    fn new(max_log: usize) -> Self {
        let head_cap = max_log / 2;
        LogBuf {
            head: String::new(),
            head_cap,
            head_full: false,
            tail: String::new(),
            tail_cap: max_log - head_cap,
            skipped: 0,
        }
    }

    fn push(&mut self, mut text: &str) {
        if !self.head_full {
            let room = self.head_cap - self.head.len();
            if text.len() <= room {
                self.head.push_str(text);
                return;
            }
            let cut = floor_char_boundary(text, room);
            self.head.push_str(&text[..cut]);
            text = &text[cut..];
            self.head_full = true;
        }
        if self.tail_cap == 0 {
            self.skipped = self.skipped.saturating_add(text.len() as u64);
            return;
        }
        self.tail.push_str(text);
        if self.tail.len() > self.tail_cap.saturating_mul(2) {
            let start = self.tail_start();
            self.tail.drain(..start);
            self.skipped = self.skipped.saturating_add(start as u64);
        }
    }

    /// Where the kept part of `tail` starts: its last `tail_cap` bytes, from
    /// the next line start if one is near.
    fn tail_start(&self) -> usize {
        let excess = self.tail.len().saturating_sub(self.tail_cap);
        if excess == 0 {
            return 0;
        }
        let start = ceil_char_boundary(&self.tail, excess);
        match self.tail[start..].find('\n') {
            Some(i) if i < self.tail_cap / 2 => start + i + 1,
            _ => start,
        }
    }

    fn text(&self) -> String {
        let start = self.tail_start();
        let skipped = self.skipped.saturating_add(start as u64);
        let kept = &self.tail[start..];
        let mut text = String::with_capacity(self.head.len() + kept.len() + 40);
        text.push_str(&self.head);
        if skipped > 0 {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("[... {skipped} bytes skipped ...]\n"));
        }
        text.push_str(kept);
        text
    }
}

/// What a Renode log prefix said about a line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RenodeLine<'a> {
    level: &'a str,
    /// The logging peripheral, e.g. `sysbus.uart` or `cpu.uartSemihosting`.
    source: Option<&'a str>,
}

impl RenodeLine<'_> {
    /// Whether the line is the firmware's serial output rather than a
    /// message of Renode's own.
    fn is_serial(&self) -> bool {
        let Some(source) = self.source else {
            return false;
        };
        let source = source.to_ascii_lowercase();
        [
            "uart",
            "usart",
            "semihosting",
            "serial",
            "console",
            "terminal",
            "rtt",
        ]
        .iter()
        .any(|word| source.contains(word))
    }
}

const RENODE_LEVELS: [&str; 5] = ["NOISY", "DEBUG", "INFO", "WARNING", "ERROR"];

/// Strips Renode's `HH:MM:SS.ffff [LEVEL] source: [timing] ` prefix (the
/// timestamp, source and timing block each optional, the level not).
fn strip_renode(line: &str) -> (&str, Option<RenodeLine<'_>>) {
    let after_time = strip_timestamp(line).unwrap_or(line);
    let Some(bracketed) = after_time.strip_prefix('[') else {
        return (line, None);
    };
    let Some(close) = bracketed.find(']') else {
        return (line, None);
    };
    let level = &bracketed[..close];
    let rest = &bracketed[close + 1..];
    if !RENODE_LEVELS.contains(&level) || !(rest.is_empty() || rest.starts_with(' ')) {
        return (line, None);
    }
    let mut rest = rest.trim_start();
    let mut source = None;
    let name_end = rest
        .find(": ")
        .or_else(|| rest.ends_with(':').then(|| rest.len() - 1));
    if let Some(end) = name_end {
        let name = &rest[..end];
        if !name.is_empty() && !name.contains(char::is_whitespace) {
            source = Some(name);
            rest = rest.get(end + 2..).unwrap_or("");
        }
    }
    let trimmed = rest.trim_start();
    if let Some(block) = trimmed.strip_prefix('[') {
        if let Some(close) = block.find(']') {
            let timing = &block[..close];
            if timing.contains("host") || timing.contains("virt") {
                rest = &block[close + 1..];
            }
        }
    }
    (rest, Some(RenodeLine { level, source }))
}

/// Strips a leading `HH:MM:SS[.fff] `.
fn strip_timestamp(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    for group in 0..3 {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 2 {
            return None;
        }
        if group < 2 {
            if bytes.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
        }
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if bytes.get(i) != Some(&b' ') {
        return None;
    }
    Some(line[i..].trim_start_matches(' '))
}

/// QEMU's own messages, not the binary's output.
fn is_qemu_message(content: &str) -> bool {
    content == "Timer with period zero, disabling"
        || content.starts_with("qemu-system-")
        || content.starts_with("qemu: ")
}

/// A QEMU message that explains why QEMU itself failed (not a warning, not
/// the note it prints when killed).
fn is_emulator_error(content: &str) -> bool {
    content.starts_with("qemu-system-")
        && !content.contains("warning:")
        && !content.contains("terminating on signal")
}

/// QEMU's note that SIGTERM, SIGINT or SIGHUP stopped it, e.g.
/// `qemu-system-arm: terminating on signal 15 from pid 4242 (bash)`.
fn is_emulator_stopped(content: &str) -> bool {
    content.starts_with("qemu-system-") && content.contains(": terminating on signal ")
}

/// `N/M tests passed`.
fn parse_summary(content: &str) -> Option<(u32, u32)> {
    let counts = content.strip_suffix(" tests passed")?;
    let (passed, total) = counts.split_once('/')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(passed) || !digits(total) {
        return None;
    }
    Some((passed.parse().ok()?, total.parse().ok()?))
}

/// `Testing <name>`, the name one word.
fn parse_testing(content: &str) -> Option<&str> {
    let name = content.strip_prefix("Testing ")?.trim();
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some(name)
}

/// `file.ext:line: message`, `file.ext:line:col: message`,
/// `<expr> failed at file.ext:line…` (TFLM's EXPECT macros) or `FAIL: …`.
fn is_failure_line(content: &str) -> bool {
    if content.starts_with("FAIL: ") {
        return true;
    }
    if let Some(at) = content.find(" failed at ") {
        let location = &content[at + " failed at ".len()..];
        let location = location.split_whitespace().next().unwrap_or("");
        if let Some((file, line)) = location.rsplit_once(':') {
            if is_source_path(file) && !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())
            {
                return true;
            }
        }
    }
    let Some(first) = content.split_whitespace().next() else {
        return false;
    };
    // `file.ext:12:` or `file.ext:12:3:` followed by a message.
    let Some(location) = first.strip_suffix(':') else {
        return false;
    };
    if content.len() == first.len() {
        return false;
    }
    let mut parts = location.splitn(3, ':');
    let (Some(file), Some(line)) = (parts.next(), parts.next()) else {
        return false;
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    is_source_path(file) && numeric(line) && parts.next().is_none_or(numeric)
}

/// A path ending in `.ext`, the extension 1 to 4 letters or digits with at
/// least one letter (so `03:27:32.4838` is no path).
fn is_source_path(file: &str) -> bool {
    let Some((stem, ext)) = file.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && (1..=4).contains(&ext.len())
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && ext.bytes().any(|b| b.is_ascii_alphabetic())
}

/// The text on one line (control characters as spaces), cut at `max` chars.
fn one_line(text: &str, max: usize) -> String {
    let mut line = String::with_capacity(text.len().min(max * 4));
    for (count, c) in text.chars().enumerate() {
        if count == max {
            line.push('…');
            break;
        }
        line.push(if c.is_control() { ' ' } else { c });
    }
    line
}

/// `30`, `2.5`, `0.04`: seconds with up to 3 decimals.
fn secs_text(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn code_text(code: i32) -> String {
    if code < 0 {
        // Windows' NTSTATUS codes read better in hex.
        format!("{code} (0x{:08X})", code as u32)
    } else {
        code.to_string()
    }
}

fn signal_text(signal: i32) -> String {
    let name = match signal {
        2 => Some("SIGINT"),
        4 => Some("SIGILL"),
        6 => Some("SIGABRT"),
        8 => Some("SIGFPE"),
        9 => Some("SIGKILL"),
        11 => Some("SIGSEGV"),
        13 => Some("SIGPIPE"),
        15 => Some("SIGTERM"),
        _ => None,
    };
    match name {
        Some(name) => format!("signal {signal} ({name})"),
        None => format!("signal {signal}"),
    }
}

fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QEMU run (mps2-an386, semihosting), passing; QEMU's own noise first.
    const QEMU_RUN: &str = "Timer with period zero, disabling\n\
        Testing SimpleAddInt8\n\
        Testing BroadcastAddInt8\n\
        Testing AddInt8Saturates\n\
        3/3 tests passed\n\
        ~~~ALL TESTS PASSED~~~\n\
        \n";

    /// A native run with a failing test.
    const NATIVE_FAIL: &str = "Testing SimpleAddInt8\n\
        Testing BroadcastAddInt8\n\
        runtime/tests/add.rs:88: output[3]: expected 12, got 13\n\
        runtime/tests/add.rs:89: output[4]: expected -3, got -2\n\
        Testing AddInt8Saturates\n\
        2/3 tests passed\n\
        ~~~SOME TESTS FAILED~~~\n\
        \n";

    /// A Renode log (bluepill, TFLM's semihosting UART), `\r\n` endings; the
    /// binary never exits.
    const RENODE_LOG: &str = "03:27:31.1205 [INFO] Loaded monitor commands from: /opt/renode/scripts/monitor.py\r\n\
        03:27:31.2764 [INFO] Including script: /tmp/renode/bluepill.resc\r\n\
        03:27:31.3021 [INFO] System bus created.\r\n\
        03:27:32.0112 [INFO] bluepill: Machine started.\r\n\
        03:27:32.0214 [WARNING] sysbus: [cpu: 0x8000A14] ReadDoubleWord from non existing peripheral at 0x40021000.\r\n\
        03:27:32.3212 [DEBUG] cpu.uartSemihosting: [+0.2ms host +0s virt 0s virt from start]   Testing ReshapeInt8\r\n\
        03:27:32.3698 [DEBUG] cpu.uartSemihosting: [+0.1ms host +0s virt 0s virt from start]   Testing ReshapeFloat\r\n\
        03:27:32.4512 [DEBUG] cpu.uartSemihosting: [+0.3ms host +0s virt 0s virt from start]   2/2 tests passed\r\n\
        03:27:32.4838 [DEBUG] cpu.uartSemihosting: [+0.4ms host +0s virt 0s virt from start]   ~~~ALL TESTS PASSED~~~\r\n\
        03:27:32.4839 [DEBUG] cpu.uartSemihosting: [+0.0ms host +0s virt 0s virt from start]\r\n";

    /// Renode with the `[INFO] sysbus.uart: ` style, stuck in a test.
    const RENODE_STUCK: &str =
        "[INFO] Loaded monitor commands from: /opt/renode/scripts/monitor.py\n\
        [INFO] sysbus: Loading segment of 41232 bytes length at 0x8000000.\n\
        [INFO] sysbus.usart2: Testing ConvInt8\n\
        [INFO] sysbus.usart2: Testing ConvInt8Stride2\n";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn scanner() -> Scanner {
        Scanner::new(ScanConfig::default())
    }

    fn stop(decision: Option<Decision>) -> Verdict {
        match decision {
            Some(Decision::Stop(verdict)) => verdict,
            other => panic!("expected Stop, got {other:?}"),
        }
    }

    fn names(scanner: &Scanner) -> Vec<&str> {
        scanner
            .tests()
            .iter()
            .map(|case| case.name.as_str())
            .collect()
    }

    #[test]
    fn qemu_run_passes_on_exit_zero() {
        let mut sc = scanner();
        // Split anywhere, even inside the marker.
        let (a, b) = QEMU_RUN.split_at(QEMU_RUN.find("ALL TESTS").unwrap());
        assert_eq!(sc.feed(a.as_bytes(), ms(100)), None);
        assert_eq!(sc.feed(b.as_bytes(), ms(200)), Some(Decision::AwaitExit));
        assert_eq!(sc.tick(ms(300)), None);
        let verdict = sc.exited(Exit::Code(0), ms(300));
        assert_eq!(verdict, Verdict::new(Outcome::Passed, "3/3 tests passed"));
        assert_eq!(sc.summary(), Some((3, 3)));
        assert_eq!(
            names(&sc),
            ["SimpleAddInt8", "BroadcastAddInt8", "AddInt8Saturates"]
        );
        assert!(sc
            .tests()
            .iter()
            .all(|case| case.passed && case.failures.is_empty()));
        assert!(sc
            .log()
            .starts_with("Timer with period zero, disabling\nTesting SimpleAddInt8\n"));
        assert!(sc.log().contains("~~~ALL TESTS PASSED~~~\n"));
    }

    #[test]
    fn fail_marker_stops_at_once_naming_the_failed_tests() {
        let mut sc = scanner();
        let (a, b) = NATIVE_FAIL.split_at(NATIVE_FAIL.find("~~~SOME").unwrap());
        assert_eq!(sc.feed(a.as_bytes(), ms(10)), None);
        let verdict = stop(sc.feed(b.as_bytes(), ms(20)));
        assert_eq!(verdict.outcome, Outcome::Failed);
        assert_eq!(
            verdict.reason,
            "1 of 3 tests failed: BroadcastAddInt8; first failure: \
             runtime/tests/add.rs:88: output[3]: expected 12, got 13"
        );
        let failed = &sc.tests()[1];
        assert!(!failed.passed);
        assert_eq!(failed.failures.len(), 2);
        assert!(sc.tests()[0].passed && sc.tests()[2].passed);
        // The exit that follows the kill changes nothing.
        assert_eq!(sc.exited(Exit::Code(1), ms(30)), verdict);
        assert_eq!(sc.exited(Exit::Signal(9), ms(30)), verdict);
    }

    #[test]
    fn fail_marker_without_cases_or_summary() {
        let mut sc = scanner();
        let verdict = stop(sc.feed(b"~~~SOME TESTS FAILED~~~\n", ms(1)));
        assert_eq!(
            verdict,
            Verdict::new(Outcome::Failed, "printed the fail marker")
        );
    }

    #[test]
    fn fail_marker_lists_at_most_five_names() {
        let mut sc = scanner();
        let mut out = String::new();
        for i in 0..8 {
            out.push_str(&format!("Testing T{i}\nt.rs:{i}: bad\n"));
        }
        out.push_str("0/8 tests passed\n~~~SOME TESTS FAILED~~~\n");
        let verdict = stop(sc.feed(out.as_bytes(), ms(1)));
        assert!(
            verdict.reason.starts_with(
                "8 of 8 tests failed: T0, T1, T2, T3, T4 and 3 more; first failure: t.rs:0: bad"
            ),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn renode_log_passes_after_grace_without_exit() {
        let mut sc = scanner();
        let marker_at = RENODE_LOG.find("03:27:32.4838").unwrap();
        let (a, b) = RENODE_LOG.split_at(marker_at + 30);
        assert_eq!(sc.feed(a.as_bytes(), secs(1)), None);
        assert_eq!(sc.feed(b.as_bytes(), secs(2)), Some(Decision::AwaitExit));
        assert_eq!(sc.tick(ms(3999)), None);
        let verdict = stop(sc.tick(secs(4)));
        assert_eq!(
            verdict,
            Verdict::new(
                Outcome::Passed,
                "2/2 tests passed; the binary did not exit, as TFLM's bluepill binaries don't"
            )
        );
        assert_eq!(names(&sc), ["ReshapeInt8", "ReshapeFloat"]);
        assert_eq!(sc.summary(), Some((2, 2)));
        // The kill that follows changes nothing; the log keeps Renode's prefixes.
        assert_eq!(sc.exited(Exit::Signal(9), secs(4)), verdict);
        assert!(sc
            .log()
            .contains("03:27:32.3212 [DEBUG] cpu.uartSemihosting: [+0.2ms host"));
        assert!(!sc.log().contains('\r'));
    }

    #[test]
    fn renode_stuck_in_a_test_times_out_naming_it() {
        let mut sc = scanner();
        assert_eq!(sc.feed(RENODE_STUCK.as_bytes(), secs(1)), None);
        let verdict = sc.timed_out(secs(30));
        assert_eq!(
            verdict,
            Verdict::new(
                Outcome::TimedOut,
                "no test result marker after 30 s (in test ConvInt8Stride2); last line: \"Testing ConvInt8Stride2\""
            )
        );
        let stuck = &sc.tests()[1];
        assert!(!stuck.passed);
        assert_eq!(stuck.duration, secs(29));
        assert!(stuck.failures[0].starts_with("did not finish: no test result marker after 30 s"));
        assert!(sc.tests()[0].passed);
    }

    #[test]
    fn renode_cpu_abort_crashes_at_once() {
        let mut sc = scanner();
        sc.feed(b"[INFO] sysbus.uart: Testing ConvInt8\n", ms(1));
        let verdict = stop(sc.feed(
            b"12:00:01.0000 [ERROR] cpu: CPU abort [PC=0x8001234]: Trying to execute code outside RAM or ROM.\n",
            ms(2),
        ));
        assert_eq!(verdict.outcome, Outcome::Crashed);
        assert!(verdict
            .reason
            .starts_with("Renode: CPU abort [PC=0x8001234]"));
        assert!(!sc.tests()[0].passed);
    }

    #[test]
    fn pass_marker_then_host_timeout_is_a_pass() {
        let mut sc = scanner();
        sc.feed(b"Testing A\n~~~ALL TESTS PASSED~~~\n", secs(29));
        let verdict = sc.timed_out(secs(30));
        assert_eq!(verdict.outcome, Outcome::Passed);
        assert!(verdict.reason.contains("did not exit"));
    }

    #[test]
    fn pass_marker_then_nonzero_exit_fails() {
        let mut sc = scanner();
        sc.feed(b"1/1 tests passed\n~~~ALL TESTS PASSED~~~\n", ms(5));
        assert_eq!(
            sc.exited(Exit::Code(3), ms(6)),
            Verdict::new(
                Outcome::Failed,
                "printed the pass marker but exited with status 3"
            )
        );
    }

    #[test]
    fn pass_marker_then_signal_crashes() {
        let mut sc = scanner();
        sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(5));
        assert_eq!(
            sc.exited(Exit::Signal(11), ms(6)),
            Verdict::new(
                Outcome::Crashed,
                "printed the pass marker but was killed by signal 11 (SIGSEGV)"
            )
        );
    }

    #[test]
    fn pass_marker_twice_passes_with_a_note() {
        let mut sc = scanner();
        assert_eq!(
            sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(1)),
            Some(Decision::AwaitExit)
        );
        assert_eq!(sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(2)), None);
        assert_eq!(
            sc.exited(Exit::Code(0), ms(3)),
            Verdict::new(
                Outcome::Passed,
                "passed; note: the pass marker was printed 2 times"
            )
        );
    }

    #[test]
    fn fail_marker_after_pass_marker_fails() {
        let mut sc = scanner();
        sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(1));
        assert_eq!(
            stop(sc.feed(b"~~~SOME TESTS FAILED~~~\n", ms(2))),
            Verdict::new(
                Outcome::Failed,
                "printed the fail marker after the pass marker"
            )
        );
    }

    #[test]
    fn pass_marker_with_a_short_summary_fails() {
        let mut sc = scanner();
        let verdict = stop(sc.feed(
            b"Testing A\nTesting B\n1/2 tests passed\n~~~ALL TESTS PASSED~~~\n",
            ms(1),
        ));
        assert_eq!(
            verdict,
            Verdict::new(
                Outcome::Failed,
                "printed the pass marker but the summary says 1/2 tests passed"
            )
        );
        // Also when the summary comes after the marker.
        let mut sc = scanner();
        assert_eq!(
            sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(1)),
            Some(Decision::AwaitExit)
        );
        assert_eq!(
            stop(sc.feed(b"4/5 tests passed\n", ms(2))).outcome,
            Outcome::Failed
        );
    }

    #[test]
    fn pass_marker_after_a_failure_line_fails() {
        let mut sc = scanner();
        let verdict = stop(sc.feed(
            b"Testing A\nsrc/a.cc:12: expected 1, got 2\n~~~ALL TESTS PASSED~~~\n",
            ms(1),
        ));
        assert_eq!(
            verdict,
            Verdict::new(
                Outcome::Failed,
                "printed the pass marker but test A printed a failure line: src/a.cc:12: expected 1, got 2"
            )
        );
    }

    #[test]
    fn panic_fails_at_once_with_the_line() {
        let mut sc = scanner();
        sc.feed(b"Testing Softmax\n", ms(1));
        let verdict = stop(sc.feed(
            b"*** PANIC: panicked at runtime/src/arena.rs:40:9: arena too small\nmore\n",
            ms(2),
        ));
        assert_eq!(
            verdict,
            Verdict::new(
                Outcome::Failed,
                "*** PANIC: panicked at runtime/src/arena.rs:40:9: arena too small (in test Softmax)"
            )
        );
        let case = &sc.tests()[0];
        assert!(!case.passed);
        assert_eq!(
            case.failures,
            ["*** PANIC: panicked at runtime/src/arena.rs:40:9: arena too small"]
        );
        // Stop is repeated and output is still logged.
        assert_eq!(stop(sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(3))), verdict);
        assert_eq!(stop(sc.tick(secs(100))), verdict);
        assert_eq!(sc.timed_out(secs(100)), verdict);
        assert!(sc.log().ends_with("more\n~~~ALL TESTS PASSED~~~\n"));
    }

    #[test]
    fn hard_fault_fails_at_once() {
        let mut sc = scanner();
        let verdict = stop(sc.feed(b"*** HARD FAULT: PC=0x08001a2c LR=0xfffffff9\n", ms(1)));
        assert_eq!(
            verdict,
            Verdict::new(
                Outcome::Failed,
                "*** HARD FAULT: PC=0x08001a2c LR=0xfffffff9"
            )
        );
    }

    #[test]
    fn exit_zero_without_a_marker_fails() {
        let mut sc = scanner();
        sc.feed(b"Testing A\n1/1 tests passed\n", ms(1));
        assert_eq!(
            sc.exited(Exit::Code(0), ms(2)),
            Verdict::new(
                Outcome::Failed,
                "exited with status 0 without printing a test result marker; last line: \"1/1 tests passed\""
            )
        );
        let mut sc = scanner();
        assert_eq!(
            sc.exited(Exit::Code(0), ms(2)).reason,
            "exited with status 0 without printing a test result marker; it printed nothing"
        );
    }

    #[test]
    fn nonzero_exit_without_a_marker_fails_with_the_status() {
        let mut sc = scanner();
        sc.feed(b"Testing A\nTesting B\n", ms(1));
        let verdict = sc.exited(Exit::Code(2), ms(2));
        assert_eq!(
            verdict,
            Verdict::new(
                Outcome::Failed,
                "exited with status 2 without printing a test result marker (in test B); last line: \"Testing B\""
            )
        );
        assert!(sc.tests()[0].passed);
        assert!(!sc.tests()[1].passed);
        assert_eq!(sc.exited(Exit::Code(-1073741819), ms(2)), verdict);
        let mut sc = scanner();
        assert!(sc
            .exited(Exit::Code(-1073741819), ms(2))
            .reason
            .starts_with("exited with status -1073741819 (0xC0000005)"));
    }

    #[test]
    fn signal_without_a_marker_crashes() {
        let mut sc = scanner();
        sc.feed(b"Testing A\n", ms(1));
        assert_eq!(
            sc.exited(Exit::Signal(6), ms(2)),
            Verdict::new(
                Outcome::Crashed,
                "killed by signal 6 (SIGABRT) (in test A); last line: \"Testing A\""
            )
        );
    }

    #[test]
    fn runner_reported_crash_is_a_crash() {
        let mut sc = scanner();
        let verdict = sc.exited(
            Exit::Crashed("the Renode container exited with status 137".into()),
            ms(2),
        );
        assert_eq!(verdict.outcome, Outcome::Crashed);
        assert!(verdict
            .reason
            .starts_with("the Renode container exited with status 137"));
        let mut sc = scanner();
        sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(1));
        assert_eq!(
            sc.exited(Exit::Crashed("probe lost".into()), ms(2)).outcome,
            Outcome::Crashed
        );
    }

    #[test]
    fn qemu_fatal_crashes_at_once() {
        let mut sc = scanner();
        sc.feed(b"Testing Conv2DInt8\n", ms(1));
        let verdict = stop(sc.feed(
            b"qemu: fatal: Lockup: can't escalate 3 to HardFault (current priority -1)\n\nR00=00000000 R01=20000fd8\n",
            ms(2),
        ));
        assert_eq!(
            verdict,
            Verdict::new(
                Outcome::Crashed,
                "QEMU crashed: qemu: fatal: Lockup: can't escalate 3 to HardFault (current priority -1)"
            )
        );
        assert!(!sc.tests()[0].passed);
        assert_eq!(sc.exited(Exit::Signal(6), ms(3)), verdict);
    }

    #[test]
    fn a_test_printed_after_the_fatal_error_arrives_did_not_finish() {
        // stdout and stderr are read apart: the test that was running can
        // arrive after QEMU's fatal line on stderr.
        let mut sc = scanner();
        let verdict = stop(sc.feed_stderr(
            b"qemu: fatal: Lockup: can't escalate 3 to HardFault (current priority -1)\n",
            ms(1),
        ));
        assert_eq!(verdict.outcome, Outcome::Crashed);
        sc.feed(b"Testing Conv2DInt8\n", ms(2));
        let case = &sc.tests()[0];
        assert_eq!(case.name, "Conv2DInt8");
        assert!(!case.passed);
        assert!(
            case.failures[0].starts_with("did not finish: QEMU crashed"),
            "{case:?}"
        );
        assert_eq!(sc.verdict(), Some(&verdict));
    }

    #[test]
    fn qemu_error_then_failing_exit_crashes() {
        let mut sc = scanner();
        sc.feed_stderr(
            b"qemu-system-arm: warning: nic lan9118.0 has no peer\n",
            ms(1),
        );
        sc.feed_stderr(
            b"qemu-system-arm: -kernel add_test.elf: could not load kernel\n",
            ms(2),
        );
        assert_eq!(
            sc.exited(Exit::Code(1), ms(3)),
            Verdict::new(
                Outcome::Crashed,
                "the emulator failed (status 1): qemu-system-arm: -kernel add_test.elf: could not load kernel"
            )
        );
    }

    #[test]
    fn qemu_stopped_from_outside_crashes_though_it_exits_zero() {
        let stopped = "qemu-system-arm: terminating on signal 15 from pid 4242 (bash)";
        let mut sc = scanner();
        sc.feed(b"Testing A\n", ms(1));
        sc.feed_stderr(format!("{stopped}\n").as_bytes(), ms(2));
        assert_eq!(
            sc.exited(Exit::Code(0), ms(3)),
            Verdict::new(
                Outcome::Crashed,
                format!(
                    "the emulator was stopped from outside: {stopped} (in test A); last line: \"Testing A\""
                )
            )
        );
        assert!(!sc.tests()[0].passed);
        // After the pass marker too: the binary did not get to exit.
        let mut sc = scanner();
        sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(1));
        sc.feed_stderr(format!("{stopped}\n").as_bytes(), ms(2));
        let verdict = sc.exited(Exit::Code(0), ms(3));
        assert_eq!(verdict.outcome, Outcome::Crashed);
        assert!(verdict
            .reason
            .starts_with("printed the pass marker but then crashed: the emulator was stopped"));
        // The binary printing such a line is not QEMU stopping.
        let mut sc = scanner();
        sc.feed(b"terminating on signal 15\n~~~ALL TESTS PASSED~~~\n", ms(1));
        assert_eq!(sc.exited(Exit::Code(0), ms(2)).outcome, Outcome::Passed);
    }

    #[test]
    fn silent_timeout() {
        let mut sc = scanner();
        assert_eq!(sc.tick(secs(10)), None);
        assert_eq!(
            sc.timed_out(secs(30)),
            Verdict::new(Outcome::TimedOut, "no output in 30 s")
        );
        let mut sc = scanner();
        assert_eq!(sc.timed_out(ms(2500)).reason, "no output in 2.5 s");
    }

    #[test]
    fn timeout_with_only_emulator_noise() {
        let mut sc = scanner();
        sc.feed_stderr(b"Timer with period zero, disabling\n", ms(1));
        assert_eq!(
            sc.timed_out(secs(30)).reason,
            "no output from the binary in 30 s; the emulator's last line: \"Timer with period zero, disabling\""
        );
        let mut sc = scanner();
        let startup: String = RENODE_STUCK
            .lines()
            .take(2)
            .map(|l| format!("{l}\n"))
            .collect();
        sc.feed(startup.as_bytes(), ms(1));
        assert_eq!(
            sc.timed_out(secs(30)).reason,
            "no output from the binary in 30 s; the emulator's last line: \
             \"Loading segment of 41232 bytes length at 0x8000000.\""
        );
    }

    #[test]
    fn timeout_with_output_names_the_last_line() {
        let mut sc = scanner();
        sc.feed(
            b"Testing A\nTesting B\n2/2 tests passed\nsome trailing line\npartial",
            ms(1),
        );
        assert_eq!(
            sc.timed_out(secs(30)),
            Verdict::new(
                Outcome::TimedOut,
                "no test result marker after 30 s; last line: \"partial\""
            )
        );
        assert!(sc.tests().iter().all(|case| case.passed));
    }

    #[test]
    fn marker_without_a_final_newline_counts_at_exit() {
        let mut sc = scanner();
        assert_eq!(sc.feed(b"Testing A\n~~~ALL TESTS PASSED~~~", ms(1)), None);
        assert_eq!(sc.exited(Exit::Code(0), ms(2)).outcome, Outcome::Passed);
        assert_eq!(sc.log(), "Testing A\n~~~ALL TESTS PASSED~~~\n");
    }

    #[test]
    fn byte_by_byte_feeding_gives_the_same_result() {
        for sample in [QEMU_RUN, NATIVE_FAIL, RENODE_LOG, RENODE_STUCK] {
            let mut whole = scanner();
            whole.feed(sample.as_bytes(), ms(1));
            let mut bytewise = scanner();
            for byte in sample.as_bytes() {
                bytewise.feed(std::slice::from_ref(byte), ms(1));
            }
            assert_eq!(
                whole.exited(Exit::Code(0), ms(2)),
                bytewise.exited(Exit::Code(0), ms(2))
            );
            assert_eq!(whole.tests(), bytewise.tests());
            assert_eq!(whole.log(), bytewise.log());
        }
    }

    #[test]
    fn separate_streams_keep_their_own_lines() {
        let mut sc = scanner();
        sc.feed(b"Testing Fo", ms(1));
        sc.feed_stderr(b"Timer with period zero, disabling\n", ms(1));
        sc.feed(b"o\n", ms(1));
        assert_eq!(names(&sc), ["Foo"]);
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let mut sc = scanner();
        sc.feed(b"Testing A\n\xff\xfe garbage \xc3\n", ms(1));
        // A multi-byte character split across chunks survives.
        sc.feed(b"caf\xc3", ms(1));
        sc.feed(b"\xa9\n~~~ALL TESTS PASSED~~~\n", ms(1));
        assert_eq!(sc.exited(Exit::Code(0), ms(2)).outcome, Outcome::Passed);
        assert!(sc
            .log()
            .contains("\u{fffd}\u{fffd} garbage \u{fffd}\ncafé\n"));
    }

    #[test]
    fn newline_carriage_return_endings() {
        let mut sc = scanner();
        sc.feed(
            b"Testing A\n\rTesting B\n\r2/2 tests passed\n\r~~~ALL TESTS PASSED~~~\n\r",
            ms(1),
        );
        assert_eq!(names(&sc), ["A", "B"]);
        assert_eq!(sc.exited(Exit::Code(0), ms(2)).reason, "2/2 tests passed");
    }

    #[test]
    fn flood_without_newline_stays_bounded_and_scanning_goes_on() {
        let config = ScanConfig {
            max_line: 4096,
            max_log: 16 * 1024,
            ..ScanConfig::default()
        };
        let mut sc = Scanner::new(config);
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..160 {
            // 10 MiB on one line
            assert_eq!(sc.feed(&chunk, ms(1)), None);
            assert!(sc.lines[0].buf.len() <= 2 * 4096);
        }
        // The marker at the end of the flooded line is still found.
        assert_eq!(
            sc.feed(b"~~~ALL TESTS PASSED~~~\n", ms(2)),
            Some(Decision::AwaitExit)
        );
        sc.feed(b"Testing After\n", ms(3));
        assert_eq!(names(&sc), ["After"]);
        let log = sc.log();
        assert!(log.len() <= 16 * 1024 + 100, "{}", log.len());
        assert!(log.contains("bytes skipped ...]"));
        assert!(log.ends_with("~~~ALL TESTS PASSED~~~\nTesting After\n"));
        assert_eq!(sc.exited(Exit::Code(0), ms(4)).outcome, Outcome::Passed);
    }

    #[test]
    fn one_huge_chunk_is_cut_too() {
        let mut sc = Scanner::new(ScanConfig {
            max_line: 100,
            max_log: 1000,
            ..ScanConfig::default()
        });
        let mut big = vec![b'y'; 1_000_000];
        big.extend_from_slice(b"~~~SOME TESTS FAILED~~~\nnext\n");
        assert_eq!(stop(sc.feed(&big, ms(1))).outcome, Outcome::Failed);
        assert!(sc.log().len() <= 1100);
        assert!(sc.log().ends_with("~~~SOME TESTS FAILED~~~\nnext\n"));
    }

    #[test]
    fn long_logs_keep_the_start_and_the_end() {
        let mut sc = Scanner::new(ScanConfig {
            max_log: 4096,
            ..ScanConfig::default()
        });
        let mut out = String::new();
        for i in 0..10_000 {
            out.push_str(&format!("line {i}\n"));
        }
        sc.feed(out.as_bytes(), ms(1));
        let log = sc.log();
        assert!(log.starts_with("line 0\nline 1\n"));
        assert!(log.ends_with("line 9998\nline 9999\n"));
        assert!(log.len() <= 4096 + 40);
        let marker = log.lines().find(|line| line.starts_with("[...")).unwrap();
        let skipped: usize = marker.split(' ').nth(1).unwrap().parse().unwrap();
        // Everything is either kept or counted as skipped (give or take the
        // newline put before the marker when the head ends mid-line).
        let accounted = log.len() - marker.len() - 1 + skipped;
        assert!(
            accounted.abs_diff(out.len()) <= 1,
            "{accounted} vs {}",
            out.len()
        );
    }

    #[test]
    fn tiny_or_zero_limits_do_not_break() {
        let mut sc = Scanner::new(ScanConfig {
            grace: Duration::ZERO,
            max_line: 0,
            max_log: 0,
        });
        assert_eq!(
            sc.feed(QEMU_RUN.as_bytes(), ms(1)),
            Some(Decision::AwaitExit)
        );
        assert_eq!(stop(sc.tick(ms(1))).outcome, Outcome::Passed);
        assert!(sc.log().starts_with("[... "));
        let mut sc = Scanner::new(ScanConfig {
            max_log: 1,
            ..ScanConfig::default()
        });
        sc.feed("é\né\n".as_bytes(), ms(1));
        let _ = sc.log();
    }

    #[test]
    fn random_input_never_panics() {
        // A small xorshift generator: no dependency, same bytes every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let pieces: [&[u8]; 12] = [
            b"\n",
            b"\r",
            b"Testing X",
            b"~~~ALL TESTS PASSED~~~",
            b"~~~SOME TESTS FAILED~~~",
            b"*** PANIC: x",
            b"1/2 tests passed",
            b"a.cc:1: bad",
            b"[INFO] sysbus.uart: ",
            b"03:27:32.4838 [ERROR] cpu: CPU abort",
            b"\xff\xc3",
            "é€😀".as_bytes(),
        ];
        for round in 0..300 {
            let config = ScanConfig {
                grace: ms(next() % 50),
                max_line: (next() % 200) as usize,
                max_log: (next() % 3000) as usize,
            };
            let mut sc = Scanner::new(config);
            let mut at = Duration::ZERO;
            for _ in 0..(next() % 200) {
                let mut chunk = Vec::new();
                for _ in 0..(next() % 8) {
                    if next() % 3 == 0 {
                        chunk.extend((0..next() % 300).map(|_| next() as u8));
                    } else {
                        chunk.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
                    }
                }
                at += ms(next() % 20);
                if next() % 2 == 0 {
                    sc.feed(&chunk, at);
                } else {
                    sc.feed_stderr(&chunk, at);
                }
                sc.tick(at);
            }
            let verdict = match round % 4 {
                0 => sc.exited(Exit::Code((next() % 3) as i32), at),
                1 => sc.exited(Exit::Signal(9), at),
                2 => sc.exited(Exit::Crashed("gone".into()), at),
                _ => sc.timed_out(at),
            };
            assert!(!verdict.reason.is_empty() && !verdict.reason.contains('\n'));
            assert!(sc.log().len() <= sc.config.max_log + sc.config.max_line * 2 + 100);
        }
    }

    #[test]
    fn huge_limits_do_not_overflow() {
        let mut sc = Scanner::new(ScanConfig {
            grace: Duration::MAX,
            max_line: usize::MAX,
            max_log: usize::MAX,
        });
        sc.feed(QEMU_RUN.as_bytes(), Duration::MAX);
        assert_eq!(sc.tick(Duration::MAX), None);
        assert_eq!(
            sc.exited(Exit::Code(0), Duration::MAX).outcome,
            Outcome::Passed
        );
    }

    #[test]
    fn test_case_and_failure_floods_are_capped() {
        let mut sc = scanner();
        let mut out = String::new();
        for i in 0..(MAX_CASES + 50) {
            out.push_str(&format!("Testing T{i}\nf.c:1: bad\n"));
        }
        sc.feed(out.as_bytes(), ms(1));
        assert_eq!(sc.tests().len(), MAX_CASES);
        let kept: usize = sc.tests().iter().map(|case| case.failures.len()).sum();
        assert_eq!(kept, MAX_FAILURE_LINES + 1);
        assert!(sc.tests().iter().all(|case| !case.passed));
    }

    #[test]
    fn case_durations_come_from_the_feed_times() {
        let mut sc = scanner();
        sc.feed(b"Testing A\n", ms(100));
        sc.feed(b"Testing B\n", ms(350));
        sc.feed(b"2/2 tests passed\n", ms(400));
        let durations: Vec<Duration> = sc.tests().iter().map(|case| case.duration).collect();
        assert_eq!(durations, [ms(250), ms(50)]);
    }

    #[test]
    fn reasons_stay_on_one_line() {
        let mut sc = scanner();
        let long = format!("*** PANIC: a\tb\x1b[31m{}\n", "z".repeat(1000));
        let verdict = stop(sc.feed(long.as_bytes(), ms(1)));
        assert!(!verdict.reason.contains(['\n', '\r', '\t', '\x1b']));
        assert!(verdict.reason.chars().count() <= MAX_REASON_CHARS + 1);
    }

    #[test]
    fn renode_prefixes_are_stripped() {
        let cases = [
            (
                "03:27:32.4838 [DEBUG] cpu.uartSemihosting: [+0.4ms host +0s virt 0s virt from start]   ~~~ALL TESTS PASSED~~~",
                "   ~~~ALL TESTS PASSED~~~",
                Some(("DEBUG", Some("cpu.uartSemihosting"))),
            ),
            ("[INFO] sysbus.uart: Testing A", "Testing A", Some(("INFO", Some("sysbus.uart")))),
            (
                "14:20:06.9360 [INFO] sysbus.uart0: [host: 0.35s (+0.35s)|virt: 0.1ms (+0.1ms)] Testing A",
                " Testing A",
                Some(("INFO", Some("sysbus.uart0"))),
            ),
            (
                "[WARNING] sysbus: [cpu: 0x8000A14] ReadDoubleWord from non existing peripheral",
                "[cpu: 0x8000A14] ReadDoubleWord from non existing peripheral",
                Some(("WARNING", Some("sysbus"))),
            ),
            (
                "[INFO] Loaded monitor commands from: x.py",
                "Loaded monitor commands from: x.py",
                Some(("INFO", None)),
            ),
            ("[INFO] sysbus.uart:", "", Some(("INFO", Some("sysbus.uart")))),
            ("Testing A", "Testing A", None),
            ("[NOTALEVEL] x: y", "[NOTALEVEL] x: y", None),
            ("12:00:00 no level", "12:00:00 no level", None),
            ("[INFO", "[INFO", None),
            ("[INFO]x", "[INFO]x", None),
        ];
        for (line, content, renode) in cases {
            let (got, got_renode) = strip_renode(line);
            assert_eq!(got, content, "{line}");
            assert_eq!(got_renode.map(|r| (r.level, r.source)), renode, "{line}");
        }
    }

    #[test]
    fn failure_lines_are_recognised() {
        for line in [
            "runtime/tests/add.rs:88: expected 12, got 13",
            "add_test.cc:12:5: mismatch",
            "output_data[i] == expected[i] failed at tensorflow/lite/micro/kernels/add_test.cc:88 (1 vs 2)",
            "FAIL: no kernel for op",
        ] {
            assert!(is_failure_line(line), "{line}");
        }
        for line in [
            "03:27:32.4838 [DEBUG] x",
            "tensorflow/lite/micro/kernels/conv.cc:123 input->type == kTfLiteInt8 was not true.",
            "note: something",
            "a.cc:12:",
            "a.cc:x: y",
            "12:30: lunch",
            "qemu-system-arm: -kernel x.elf: could not load kernel",
            "",
        ] {
            assert!(!is_failure_line(line), "{line}");
        }
    }

    #[test]
    fn summary_and_testing_lines_are_strict() {
        assert_eq!(parse_summary("3/5 tests passed"), Some((3, 5)));
        assert_eq!(parse_summary("3/ tests passed"), None);
        assert_eq!(parse_summary("99999999999/1 tests passed"), None);
        assert_eq!(parse_summary("+3/5 tests passed"), None);
        assert_eq!(parse_testing("Testing Conv2D"), Some("Conv2D"));
        assert_eq!(parse_testing("Testing model with 3 inputs"), None);
        assert_eq!(parse_testing("Testing "), None);
    }

    #[cfg(unix)]
    #[test]
    fn exit_from_exit_status() {
        use std::os::unix::process::ExitStatusExt;
        use std::process::ExitStatus;
        assert_eq!(Exit::from(ExitStatus::from_raw(0)), Exit::Code(0));
        assert_eq!(Exit::from(ExitStatus::from_raw(3 << 8)), Exit::Code(3));
        assert_eq!(Exit::from(ExitStatus::from_raw(11)), Exit::Signal(11));
    }

    #[test]
    fn outcome_names() {
        let all = [
            Outcome::Passed,
            Outcome::Failed,
            Outcome::TimedOut,
            Outcome::Crashed,
        ];
        let names: Vec<String> = all.iter().map(Outcome::to_string).collect();
        assert_eq!(names, ["passed", "failed", "timed_out", "crashed"]);
        assert_eq!(
            serde_json::to_string(&Outcome::TimedOut).unwrap(),
            "\"timed_out\""
        );
    }
}
