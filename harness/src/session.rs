//! A test session: every binary of a target run with one runner, several at
//! once, failures retried, results gathered into a report.

use crate::report::{BinaryResult, RunReport};
use crate::runner::{command, execute, Children, Limits, RunnerError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tflm_targets::{RunnerKind, Target};

/// One binary to run.
#[derive(Clone, Debug)]
pub struct Job {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub target: Target,
    pub runner: RunnerKind,
    /// How many binaries run at once.
    pub jobs: usize,
    pub limits: Limits,
    /// Extra attempts for a binary that did not pass (a pass on retry is flaky).
    pub retries: u32,
    /// Run the emulator in Docker containers of this image (required for
    /// the renode runner; `--docker` for qemu).
    pub docker: Option<crate::docker::Settings>,
    /// The board to flash (the probe-rs runner).
    pub probe: Option<ProbeSettings>,
}

/// Which probe and chip the probe-rs runner uses.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    pub chip: String,
    pub selector: Option<crate::probe::ProbeSelector>,
    pub speed_khz: Option<u32>,
}

/// What the session reports as it goes, for progress output.
pub enum Event<'a> {
    Started { name: &'a str, attempt: u32 },
    Output { name: &'a str, bytes: &'a [u8] },
    Finished { result: &'a BinaryResult },
}

/// Runs every job; the report lists them in the order given.
pub fn run(
    config: &Config,
    jobs: &[Job],
    children: &Children,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Result<RunReport, RunnerError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<BinaryResult, RunnerError>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                let result = run_one(config, job, children, on_event);
                if let Ok(r) = &result {
                    on_event(Event::Finished { result: r });
                }
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(result);
                }
            });
        }
    });
    let mut report = RunReport {
        target: config.target.name.clone(),
        runner: config.runner.name().to_string(),
        results: Vec::new(),
    };
    for r in results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
    {
        report.results.push(r?);
    }
    Ok(report)
}

fn run_one(
    config: &Config,
    job: &Job,
    children: &Children,
    on_event: &(dyn Fn(Event<'_>) + Sync),
) -> Result<BinaryResult, RunnerError> {
    let mut earlier = Vec::new();
    let mut attempt_no = 1;
    loop {
        on_event(Event::Started {
            name: &job.name,
            attempt: attempt_no,
        });
        let on_output = |bytes: &[u8]| {
            on_event(Event::Output {
                name: &job.name,
                bytes,
            })
        };
        let attempt = match (&config.probe, &config.docker) {
            (Some(p), _) if config.runner == RunnerKind::ProbeRs => crate::probe::run_on_probe(
                &job.path,
                &p.chip,
                p.selector.as_ref(),
                p.speed_khz,
                config.limits,
                on_output,
            )?,
            (_, Some(docker)) => crate::docker::run_binary(
                docker,
                &config.target,
                config.runner,
                &job.path,
                config.limits,
                children,
                on_output,
            )?,
            _ => {
                let cmd = command(&config.target, config.runner, &job.path)?;
                execute(cmd, config.limits, children, on_output)?
            }
        };
        if attempt.verdict.passed() || attempt_no > config.retries {
            let mut result = BinaryResult::new(job.name.clone(), job.path.clone(), attempt);
            result.earlier_attempts = earlier;
            return Ok(result);
        }
        earlier.push(attempt);
        attempt_no += 1;
    }
}
