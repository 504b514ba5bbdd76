//! Run results as JUnit XML (for CI test tabs) and as JSON (for tools).
//!
//! The runner fills a [`RunReport`]: one [`BinaryResult`] per test binary,
//! holding the [`Attempt`] that decided it and the failed attempts before it
//! (retries). A binary that failed and then passed on a retry is *flaky*.
//!
//! JUnit: one `<testsuite>` per binary (its time, its log as
//! `<system-out>`, and properties `path`, `target`, `runner`, `outcome`,
//! `reason`, `attempts`, and `flaky` when it is), one `<testcase>` per
//! `Testing` case the scanner saw (failures carry their failure lines; a case
//! that failed before and passed on the retry carries `<flakyFailure>`
//! elements, one still failing `<rerunFailure>` ones). The binary's own
//! verdict is added as a testcase named after the binary when no case was
//! seen, when the binary did not pass but no case failed (a hang, a crash or
//! an exit status after the last case), or when it is flaky but no case
//! shows it. Timeouts and crashes are JUnit *errors*, failures *failures*.
//!
//! JSON (stable schema, see [`JsonReport`]):
//!
//! ```json
//! { "target": "…", "runner": "…",
//!   "binaries": [ { "name": "…", "path": "…",
//!                   "outcome": "passed|failed|timed_out|crashed", "reason": "…",
//!                   "duration_s": 1.234, "attempts": 1, "flaky": false,
//!                   "tests": [ { "name": "…", "passed": true, "failures": [] } ],
//!                   "log": "…" } ],
//!   "passed": 1, "failed": 0 }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCaseStatus, TestRerun, TestSuite};
use serde::{Deserialize, Serialize};

use crate::scan::{Outcome, Scanner, TestCase, Verdict};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The JUnit XML serializer failed.
    #[error("could not write the JUnit XML report: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    /// The JSON serializer failed.
    #[error("could not write the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}

/// One run of a binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The scanner's verdict.
    pub verdict: Verdict,
    /// Host time from start to verdict.
    pub duration: Duration,
    /// The `Testing` cases seen ([`Scanner::tests`]).
    pub tests: Vec<TestCase>,
    /// The (capped) output ([`Scanner::log`]).
    pub log: String,
}

impl Attempt {
    /// The attempt a scanner saw, with its verdict and duration.
    pub fn from_scanner(scanner: &Scanner, verdict: Verdict, duration: Duration) -> Self {
        Attempt {
            verdict,
            duration,
            tests: scanner.tests().to_vec(),
            log: scanner.log(),
        }
    }
}

/// What happened to one test binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinaryResult {
    /// The binary's name, e.g. `kernel_add_test`.
    pub name: String,
    /// Where the binary is.
    pub path: PathBuf,
    /// The last attempt, which decides the result.
    pub attempt: Attempt,
    /// Earlier attempts that did not pass, oldest first (retries).
    pub earlier_attempts: Vec<Attempt>,
}

impl BinaryResult {
    /// A binary run once.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>, attempt: Attempt) -> Self {
        BinaryResult {
            name: name.into(),
            path: path.into(),
            attempt,
            earlier_attempts: Vec::new(),
        }
    }

    /// How many times the binary ran.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.earlier_attempts.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// Whether it passed only after failing: the last attempt passed and an
    /// earlier one did not.
    pub fn flaky(&self) -> bool {
        self.attempt.verdict.passed()
            && self
                .earlier_attempts
                .iter()
                .any(|attempt| !attempt.verdict.passed())
    }

    /// The outcome of the deciding attempt.
    pub fn outcome(&self) -> Outcome {
        self.attempt.verdict.outcome
    }

    fn suite(&self, target: &str, runner: &str) -> TestSuite {
        let attempt = &self.attempt;
        let mut suite = TestSuite::new(xml_text(&self.name));
        suite.set_time(attempt.duration);
        suite.add_property(Property::new(
            "path",
            xml_text(&self.path.to_string_lossy()),
        ));
        suite.add_property(Property::new("target", xml_text(target)));
        suite.add_property(Property::new("runner", xml_text(runner)));
        suite.add_property(Property::new("outcome", attempt.verdict.outcome.as_str()));
        suite.add_property(Property::new("reason", xml_text(&attempt.verdict.reason)));
        suite.add_property(Property::new("attempts", self.attempts().to_string()));
        if self.flaky() {
            suite.add_property(Property::new("flaky", "true"));
        }
        if !attempt.log.is_empty() {
            suite.set_system_out(xml_text(&attempt.log));
        }

        let mut any_case_failed = false;
        let mut any_case_flaky = false;
        for case in &attempt.tests {
            let status = if case.passed {
                let mut status = TestCaseStatus::success();
                let flaky_runs = self.earlier_runs_of(&case.name);
                any_case_flaky |= !flaky_runs.is_empty();
                status.add_reruns(flaky_runs);
                status
            } else {
                any_case_failed = true;
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(xml_text(first_failure(case)));
                status.set_type("failure");
                status.set_description(xml_text(&case.failures.join("\n")));
                status.add_reruns(self.earlier_runs_of(&case.name));
                status
            };
            let mut test_case = quick_junit::TestCase::new(xml_text(&case.name), status);
            test_case.set_classname(xml_text(&self.name));
            test_case.set_time(case.duration);
            suite.add_test_case(test_case);
        }

        let passed = attempt.verdict.passed();
        let verdict_case_needed = attempt.tests.is_empty()
            || (!passed && !any_case_failed)
            || (self.flaky() && !any_case_flaky);
        if verdict_case_needed {
            suite.add_test_case(self.verdict_case());
        }
        suite
    }

    /// The binary's own verdict as a testcase, with earlier attempts as
    /// flaky runs or reruns.
    fn verdict_case(&self) -> quick_junit::TestCase {
        let verdict = &self.attempt.verdict;
        let mut status = match non_success_kind(verdict.outcome) {
            None => TestCaseStatus::success(),
            Some(kind) => {
                let mut status = TestCaseStatus::non_success(kind);
                status.set_message(xml_text(&verdict.reason));
                status.set_type(verdict.outcome.as_str());
                let lines: Vec<&str> = self
                    .attempt
                    .tests
                    .iter()
                    .flat_map(|case| case.failures.iter().map(String::as_str))
                    .collect();
                if !lines.is_empty() {
                    status.set_description(xml_text(&lines.join("\n")));
                }
                status
            }
        };
        status.add_reruns(self.earlier_attempts.iter().filter_map(|attempt| {
            let kind = non_success_kind(attempt.verdict.outcome)?;
            let mut rerun = TestRerun::new(kind);
            rerun.set_message(xml_text(&attempt.verdict.reason));
            rerun.set_type(attempt.verdict.outcome.as_str());
            rerun.set_time(attempt.duration);
            if !attempt.log.is_empty() {
                rerun.set_system_out(xml_text(&attempt.log));
            }
            Some(rerun)
        }));
        let mut test_case = quick_junit::TestCase::new(xml_text(&self.name), status);
        test_case.set_classname(xml_text(&self.name));
        test_case.set_time(self.attempt.duration);
        test_case
    }

    /// The earlier attempts' failed runs of the case called `name`.
    fn earlier_runs_of(&self, name: &str) -> Vec<TestRerun> {
        self.earlier_attempts
            .iter()
            .filter_map(|attempt| {
                let case = attempt
                    .tests
                    .iter()
                    .find(|case| case.name == name && !case.passed)?;
                let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                rerun.set_message(xml_text(first_failure(case)));
                rerun.set_type("failure");
                rerun.set_description(xml_text(&case.failures.join("\n")));
                rerun.set_time(case.duration);
                Some(rerun)
            })
            .collect()
    }

    fn to_json(&self) -> JsonBinary {
        let attempt = &self.attempt;
        JsonBinary {
            name: self.name.clone(),
            path: self.path.to_string_lossy().into_owned(),
            outcome: attempt.verdict.outcome,
            reason: attempt.verdict.reason.clone(),
            duration_s: seconds(attempt.duration),
            attempts: self.attempts(),
            flaky: self.flaky(),
            tests: attempt
                .tests
                .iter()
                .map(|case| JsonTest {
                    name: case.name.clone(),
                    passed: case.passed,
                    failures: case.failures.clone(),
                })
                .collect(),
            log: attempt.log.clone(),
        }
    }
}

/// The results of one `tflm test` run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// The target, e.g. `bluepill` or `native`.
    pub target: String,
    /// How the binaries ran, e.g. `native`, `qemu`, `renode`, `probe-rs`.
    pub runner: String,
    /// One result per binary, in the order run.
    pub results: Vec<BinaryResult>,
}

impl RunReport {
    /// How many binaries passed (flaky ones included).
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|result| result.outcome().is_pass())
            .count()
    }

    /// How many binaries did not pass (failed, timed out or crashed).
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }

    /// The report as a JUnit document (see the module documentation).
    pub fn to_junit(&self) -> Report {
        let mut report = Report::new(xml_text(&format!(
            "tflm test {} ({})",
            self.target, self.runner
        )));
        let total: Duration = self
            .results
            .iter()
            .map(|result| result.attempt.duration)
            .fold(Duration::ZERO, Duration::saturating_add);
        report.set_time(total);
        report.add_test_suites(
            self.results
                .iter()
                .map(|result| result.suite(&self.target, &self.runner)),
        );
        report
    }

    /// The report as JUnit XML.
    pub fn junit_xml(&self) -> Result<String, ReportError> {
        Ok(self.to_junit().to_string()?)
    }

    /// The report in the JSON schema.
    pub fn to_json(&self) -> JsonReport {
        JsonReport {
            target: self.target.clone(),
            runner: self.runner.clone(),
            binaries: self.results.iter().map(BinaryResult::to_json).collect(),
            passed: self.passed(),
            failed: self.failed(),
        }
    }

    /// The report as pretty-printed JSON.
    pub fn json(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(&self.to_json())?)
    }
}

/// The JSON report: `{ "target", "runner", "binaries": [...], "passed", "failed" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonReport {
    /// The target.
    pub target: String,
    /// The runner.
    pub runner: String,
    /// One entry per binary, in the order run.
    pub binaries: Vec<JsonBinary>,
    /// How many binaries passed (flaky ones included).
    pub passed: usize,
    /// How many did not.
    pub failed: usize,
}

/// One binary in the JSON report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JsonBinary {
    /// The binary's name.
    pub name: String,
    /// Its path (lossily as UTF-8).
    pub path: String,
    /// `passed`, `failed`, `timed_out` or `crashed`.
    pub outcome: Outcome,
    /// The verdict's one-line reason.
    pub reason: String,
    /// Seconds of the deciding attempt, to the millisecond.
    pub duration_s: f64,
    /// How many times it ran.
    pub attempts: u32,
    /// Whether it passed only on a retry.
    pub flaky: bool,
    /// The test cases of the deciding attempt.
    pub tests: Vec<JsonTest>,
    /// The (capped) log of the deciding attempt.
    pub log: String,
}

/// One test case in the JSON report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonTest {
    /// The name from its `Testing` line.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Its failure lines.
    pub failures: Vec<String>,
}

/// JUnit's kind for an outcome: none for a pass, an expected failure for a
/// failure, an unexpected error for a timeout or a crash.
fn non_success_kind(outcome: Outcome) -> Option<NonSuccessKind> {
    match outcome {
        Outcome::Passed => None,
        Outcome::Failed => Some(NonSuccessKind::Failure),
        Outcome::TimedOut | Outcome::Crashed => Some(NonSuccessKind::Error),
    }
}

fn first_failure(case: &TestCase) -> &str {
    case.failures
        .first()
        .map(String::as_str)
        .unwrap_or("failed")
}

fn seconds(duration: Duration) -> f64 {
    duration.as_millis() as f64 / 1000.0
}

/// Text XML 1.0 can hold: quick-junit drops control characters and ANSI
/// escapes; this also drops the non-characters U+FFFE and U+FFFF.
fn xml_text(text: &str) -> String {
    text.chars()
        .filter(|&c| c != '\u{FFFE}' && c != '\u{FFFF}')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{Exit, ScanConfig};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs `output` through a scanner, ending with `exit` (or a timeout).
    fn attempt(output: &str, exit: Option<Exit>, took: Duration) -> Attempt {
        let mut scanner = Scanner::new(ScanConfig::default());
        let mut verdict = None;
        for (i, line) in output.split_inclusive('\n').enumerate() {
            if let Some(crate::scan::Decision::Stop(v)) =
                scanner.feed(line.as_bytes(), ms(i as u64 * 10))
            {
                verdict.get_or_insert(v);
            }
        }
        let verdict = match (verdict, exit) {
            (Some(v), _) => v,
            (None, Some(exit)) => scanner.exited(exit, took),
            (None, None) => scanner.timed_out(took),
        };
        Attempt::from_scanner(&scanner, verdict, took)
    }

    fn sample() -> RunReport {
        let add = BinaryResult::new(
            "kernel_add_test",
            "target/thumbv7m-none-eabi/debug/kernel_add_test",
            attempt(
                "Testing AddInt8\nTesting AddFloat\n2/2 tests passed\n~~~ALL TESTS PASSED~~~\n",
                Some(Exit::Code(0)),
                ms(1500),
            ),
        );
        let conv = BinaryResult::new(
            "kernel_conv_test",
            "conv",
            attempt(
                "Testing ConvInt8\nconv.rs:40: output[2]: expected 7, got 9 <&>\nconv.rs:41: again\nTesting ConvFloat\n1/2 tests passed\n~~~SOME TESTS FAILED~~~\n",
                Some(Exit::Code(1)),
                ms(800),
            ),
        );
        let mut softmax = BinaryResult::new(
            "kernel_softmax_test",
            "softmax",
            attempt(
                "Testing SoftmaxInt8\nTesting SoftmaxFloat\n2/2 tests passed\n~~~ALL TESTS PASSED~~~\n",
                Some(Exit::Code(0)),
                ms(700),
            ),
        );
        softmax.earlier_attempts.push(attempt(
            "Testing SoftmaxInt8\nsoftmax.rs:12: sum is 255, not 256\nTesting SoftmaxFloat\n1/2 tests passed\n~~~SOME TESTS FAILED~~~\n",
            Some(Exit::Code(1)),
            ms(650),
        ));
        let hello = BinaryResult::new("hello_world_test", "hello", attempt("", None, ms(30_000)));
        let mut micro = BinaryResult::new(
            "micro_speech_test",
            "micro",
            attempt(
                "Testing Speech\n1/1 tests passed\n~~~ALL TESTS PASSED~~~\n",
                Some(Exit::Code(0)),
                ms(900),
            ),
        );
        micro
            .earlier_attempts
            .push(attempt("", Some(Exit::Signal(11)), ms(100)));
        RunReport {
            target: "lm3s6965".into(),
            runner: "qemu".into(),
            results: vec![add, conv, softmax, hello, micro],
        }
    }

    fn suite<'a>(report: &'a Report, name: &str) -> &'a TestSuite {
        report
            .test_suites
            .iter()
            .find(|suite| suite.name.as_str() == name)
            .unwrap()
    }

    fn property<'a>(suite: &'a TestSuite, name: &str) -> Option<&'a str> {
        suite
            .properties
            .iter()
            .find(|p| p.name.as_str() == name)
            .map(|p| p.value.as_str())
    }

    fn case_names(suite: &TestSuite) -> Vec<&str> {
        suite
            .test_cases
            .iter()
            .map(|case| case.name.as_str())
            .collect()
    }

    #[test]
    fn junit_xml_round_trips_with_failures_and_flaky_runs() {
        let report = sample();
        let xml = report.junit_xml().unwrap();
        assert!(xml.starts_with("<?xml"));
        assert!(xml.contains("<flakyFailure"), "{xml}");
        assert!(
            xml.contains("<rerunError") || xml.contains("<flakyError"),
            "{xml}"
        );
        assert!(xml.contains("expected 7, got 9 &lt;&amp;&gt;"), "{xml}");
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        // The reader trims text nodes; otherwise it gets back what was written.
        let mut expected = report.to_junit();
        for suite in &mut expected.test_suites {
            suite.system_out = suite.system_out.take().map(|out| out.trim_end().into());
        }
        assert_eq!(parsed, expected);
        assert_eq!(parsed.test_suites.len(), 5);
        assert_eq!(parsed.name.as_str(), "tflm test lm3s6965 (qemu)");

        let add = suite(&parsed, "kernel_add_test");
        assert_eq!(case_names(add), ["AddInt8", "AddFloat"]);
        assert_eq!(add.failures, 0);
        assert_eq!(property(add, "outcome"), Some("passed"));
        assert_eq!(property(add, "attempts"), Some("1"));
        assert_eq!(property(add, "flaky"), None);
        assert_eq!(
            property(add, "path"),
            Some("target/thumbv7m-none-eabi/debug/kernel_add_test")
        );
        assert!(add
            .system_out
            .as_ref()
            .unwrap()
            .contains("~~~ALL TESTS PASSED~~~"));
        assert_eq!(add.time, Some(ms(1500)));

        let conv = suite(&parsed, "kernel_conv_test");
        assert_eq!(case_names(conv), ["ConvInt8", "ConvFloat"]);
        assert_eq!(conv.failures, 1);
        match &conv.test_cases[0].status {
            TestCaseStatus::NonSuccess {
                kind,
                message,
                description,
                ..
            } => {
                assert_eq!(*kind, NonSuccessKind::Failure);
                assert_eq!(
                    message.as_deref(),
                    Some("conv.rs:40: output[2]: expected 7, got 9 <&>")
                );
                assert_eq!(
                    description.as_deref(),
                    Some("conv.rs:40: output[2]: expected 7, got 9 <&>\nconv.rs:41: again")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            conv.test_cases[0].classname.as_deref(),
            Some("kernel_conv_test")
        );

        let softmax = suite(&parsed, "kernel_softmax_test");
        assert_eq!(property(softmax, "flaky"), Some("true"));
        assert_eq!(property(softmax, "attempts"), Some("2"));
        assert_eq!(case_names(softmax), ["SoftmaxInt8", "SoftmaxFloat"]);
        match &softmax.test_cases[0].status {
            TestCaseStatus::Success { flaky_runs } => {
                assert_eq!(flaky_runs.len(), 1);
                assert_eq!(flaky_runs[0].kind, NonSuccessKind::Failure);
                assert_eq!(
                    flaky_runs[0].message.as_deref(),
                    Some("softmax.rs:12: sum is 255, not 256")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(softmax.test_cases[1].status, TestCaseStatus::success());

        // No cases: the verdict is the testcase, a timeout an error.
        let hello = suite(&parsed, "hello_world_test");
        assert_eq!(case_names(hello), ["hello_world_test"]);
        assert_eq!(hello.errors, 1);
        match &hello.test_cases[0].status {
            TestCaseStatus::NonSuccess {
                kind, message, ty, ..
            } => {
                assert_eq!(*kind, NonSuccessKind::Error);
                assert_eq!(message.as_deref(), Some("no output in 30 s"));
                assert_eq!(ty.as_deref(), Some("timed_out"));
            }
            other => panic!("{other:?}"),
        }
        assert!(hello.system_out.is_none());

        // Flaky without a case showing it: the verdict testcase carries it.
        let micro = suite(&parsed, "micro_speech_test");
        assert_eq!(case_names(micro), ["Speech", "micro_speech_test"]);
        match &micro.test_cases[1].status {
            TestCaseStatus::Success { flaky_runs } => {
                assert_eq!(flaky_runs.len(), 1);
                assert_eq!(flaky_runs[0].kind, NonSuccessKind::Error);
                assert!(flaky_runs[0]
                    .message
                    .as_deref()
                    .unwrap()
                    .contains("SIGSEGV"));
            }
            other => panic!("{other:?}"),
        }

        assert_eq!(parsed.tests, 2 + 2 + 2 + 1 + 2);
        assert_eq!(parsed.failures, 1);
        assert_eq!(parsed.errors, 1);
    }

    #[test]
    fn verdict_case_added_when_the_binary_failed_after_its_cases() {
        let report = RunReport {
            target: "native".into(),
            runner: "native".into(),
            results: vec![BinaryResult::new(
                "exit_test",
                "exit",
                attempt(
                    "Testing A\n1/1 tests passed\n~~~ALL TESTS PASSED~~~\n",
                    Some(Exit::Code(3)),
                    ms(5),
                ),
            )],
        };
        let parsed = Report::deserialize_from_str(&report.junit_xml().unwrap()).unwrap();
        let suite = &parsed.test_suites[0];
        assert_eq!(case_names(suite), ["A", "exit_test"]);
        assert_eq!(suite.failures, 1);
    }

    #[test]
    fn json_has_the_stable_schema() {
        let report = sample();
        let json = report.json().unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(
            keys(&value),
            ["binaries", "failed", "passed", "runner", "target"]
        );
        assert_eq!(value["target"], "lm3s6965");
        assert_eq!(value["runner"], "qemu");
        assert_eq!(value["passed"], 3);
        assert_eq!(value["failed"], 2);
        let binaries = value["binaries"].as_array().unwrap();
        assert_eq!(
            keys(&binaries[0]),
            [
                "attempts",
                "duration_s",
                "flaky",
                "log",
                "name",
                "outcome",
                "path",
                "reason",
                "tests"
            ]
        );
        assert_eq!(
            keys(&binaries[0]["tests"][0]),
            ["failures", "name", "passed"]
        );
        let outcomes: Vec<&str> = binaries
            .iter()
            .map(|b| b["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(
            outcomes,
            ["passed", "failed", "passed", "timed_out", "passed"]
        );
        assert_eq!(binaries[0]["duration_s"], 1.5);
        assert_eq!(binaries[0]["reason"], "2/2 tests passed");
        assert_eq!(binaries[1]["tests"][0]["passed"], false);
        assert_eq!(binaries[1]["tests"][0]["failures"][1], "conv.rs:41: again");
        assert_eq!(binaries[1]["tests"][1]["passed"], true);
        assert_eq!(binaries[2]["flaky"], true);
        assert_eq!(binaries[2]["attempts"], 2);
        assert_eq!(binaries[0]["flaky"], false);
        assert_eq!(binaries[3]["reason"], "no output in 30 s");
        assert_eq!(binaries[3]["tests"], serde_json::json!([]));
        assert!(binaries[1]["log"]
            .as_str()
            .unwrap()
            .contains("~~~SOME TESTS FAILED~~~"));
        // And it reads back into the typed schema.
        let typed: JsonReport = serde_json::from_str(&json).unwrap();
        assert_eq!(typed, report.to_json());
        assert_eq!(typed.binaries[3].outcome, Outcome::TimedOut);
    }

    #[test]
    fn hostile_logs_still_make_valid_xml_and_json() {
        let mut scanner = Scanner::new(ScanConfig::default());
        scanner.feed(
            b"Testing A\x1b[31m\n\x00\x07\xff\xfe \xef\xbf\xbe ]]> </system-out> &amp;\n",
            ms(1),
        );
        let verdict = scanner.exited(Exit::Code(0), ms(2));
        let report = RunReport {
            target: "t\u{1}".into(),
            runner: "r".into(),
            results: vec![BinaryResult::new(
                "b<&>",
                "p\"'",
                Attempt::from_scanner(&scanner, verdict, ms(2)),
            )],
        };
        let xml = report.junit_xml().unwrap();
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        let out = parsed.test_suites[0].system_out.as_ref().unwrap();
        assert!(out.contains("]]> </system-out> &amp;"));
        assert!(!out.contains('\u{FFFE}'));
        let json = report.json().unwrap();
        let back: JsonReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.binaries[0].name, "b<&>");
        assert_eq!(back.binaries[0].outcome, Outcome::Failed);
    }

    #[test]
    fn empty_report() {
        let report = RunReport::default();
        let parsed = Report::deserialize_from_str(&report.junit_xml().unwrap()).unwrap();
        assert!(parsed.test_suites.is_empty());
        let value: serde_json::Value = serde_json::from_str(&report.json().unwrap()).unwrap();
        assert_eq!(value["binaries"], serde_json::json!([]));
        assert_eq!(value["passed"], 0);
        assert_eq!(value["failed"], 0);
    }

    #[test]
    fn flaky_needs_a_failure_then_a_pass() {
        let pass = attempt("~~~ALL TESTS PASSED~~~\n", Some(Exit::Code(0)), ms(1));
        let fail = attempt("~~~SOME TESTS FAILED~~~\n", Some(Exit::Code(1)), ms(1));
        let mut result = BinaryResult::new("b", "b", pass.clone());
        assert!(!result.flaky());
        assert_eq!(result.attempts(), 1);
        result.earlier_attempts.push(fail.clone());
        assert!(result.flaky());
        assert_eq!(result.attempts(), 2);
        let mut still_failing = BinaryResult::new("b", "b", fail.clone());
        still_failing.earlier_attempts.push(fail);
        assert!(!still_failing.flaky());
        assert_eq!(still_failing.outcome(), Outcome::Failed);
    }
}
