//! Running one test binary: the command for each runner, and the loop that
//! streams its output into the scanner, enforces the timeout and always
//! leaves no process behind.

use crate::report::Attempt;
use crate::scan::{Decision, Exit, ScanConfig, Scanner};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tflm_targets::{RunnerKind, Target};

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("target {target} cannot run with the {runner} runner (it supports: {supported})")]
    Unsupported {
        target: String,
        runner: RunnerKind,
        supported: String,
    },
    #[error("{tool} not found: {hint}")]
    MissingTool { tool: String, hint: String },
    #[error("could not start {program}: {error}")]
    Spawn {
        program: String,
        error: std::io::Error,
    },
    #[error("{0}")]
    NotHere(String),
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
}

/// Where `program` is on the PATH, if it is.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// The Debian package that provides a QEMU binary.
fn qemu_package(system: &str) -> &'static str {
    if system.ends_with("-arm") {
        "qemu-system-arm"
    } else {
        "qemu-system-misc"
    }
}

/// QEMU's command line for `elf` on `target`: no display, no serial, output
/// and exit through semihosting.
pub fn qemu_args(target: &Target, elf: &Path) -> Option<Vec<String>> {
    let q = target.qemu.as_ref()?;
    let mut args = vec![
        "-machine".to_string(),
        q.machine.clone(),
        "-display".into(),
        "none".into(),
        "-serial".into(),
        "null".into(),
        "-monitor".into(),
        "none".into(),
        "-semihosting-config".into(),
        "enable=on,target=native".into(),
    ];
    if target.triple.starts_with("riscv") {
        // No firmware: the ELF is loaded at its link address and started.
        args.push("-bios".into());
        args.push("none".into());
    }
    args.extend(q.args.iter().cloned());
    args.push("-kernel".into());
    args.push(elf.display().to_string());
    Some(args)
}

/// Checks that `runner` can run `target`'s binaries on this machine.
pub fn check_available(target: &Target, runner: RunnerKind) -> Result<(), RunnerError> {
    if !target.supports(runner) {
        return Err(RunnerError::Unsupported {
            target: target.name.clone(),
            runner,
            supported: target
                .runners
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    match runner {
        RunnerKind::Native => Ok(()),
        RunnerKind::Qemu => {
            let q = target
                .qemu
                .as_ref()
                .ok_or_else(|| RunnerError::NotHere("no qemu settings".into()))?;
            match which(&q.system) {
                Some(_) => Ok(()),
                None => Err(RunnerError::MissingTool {
                    tool: q.system.clone(),
                    hint: format!(
                        "install it (Debian/Ubuntu: apt-get install {})",
                        qemu_package(&q.system)
                    ),
                }),
            }
        }
        // Renode runs in a Docker container (see `docker`).
        RunnerKind::Renode => crate::docker::check(target, runner).map_err(|e| match e {
            crate::docker::DockerError::NoDaemon { .. } => {
                RunnerError::NotHere(format!("the renode runner runs Renode in Docker: {e}"))
            }
            e => e.into(),
        }),
        // Real hardware: available when a debug probe is attached.
        RunnerKind::ProbeRs => {
            if crate::probe::list_probes().is_empty() {
                Err(RunnerError::Probe(crate::probe::ProbeError::NoProbe))
            } else {
                Ok(())
            }
        }
    }
}

/// The command that runs `elf` with `runner`.
pub fn command(target: &Target, runner: RunnerKind, elf: &Path) -> Result<Command, RunnerError> {
    check_available(target, runner)?;
    match runner {
        RunnerKind::Native => Ok(Command::new(elf)),
        RunnerKind::Qemu => {
            let q = target
                .qemu
                .as_ref()
                .ok_or_else(|| RunnerError::NotHere("no qemu settings".into()))?;
            let mut cmd = Command::new(&q.system);
            cmd.args(qemu_args(target, elf).unwrap_or_default());
            Ok(cmd)
        }
        RunnerKind::Renode => Err(RunnerError::NotHere(
            "the renode runner runs in Docker: give the session docker settings".into(),
        )),
        RunnerKind::ProbeRs => Err(RunnerError::NotHere(
            "the probe-rs runner flashes the board itself: give the session probe settings".into(),
        )),
    }
}

/// Every child process and container still running, so that Ctrl-C can
/// end them.
#[derive(Clone, Default)]
pub struct Children {
    processes: Arc<Mutex<Vec<Arc<Mutex<Child>>>>>,
    containers: crate::docker::Containers,
    interrupted: Arc<std::sync::atomic::AtomicBool>,
}

impl Children {
    fn add(&self, child: Arc<Mutex<Child>>) {
        if let Ok(mut list) = self.processes.lock() {
            list.push(child);
        }
    }

    fn remove(&self, child: &Arc<Mutex<Child>>) {
        if let Ok(mut list) = self.processes.lock() {
            list.retain(|c| !Arc::ptr_eq(c, child));
        }
    }

    /// The Docker containers of this session.
    pub fn containers(&self) -> &crate::docker::Containers {
        &self.containers
    }

    /// Whether [`Children::kill_all`] was called: results that come back
    /// after it are cut short by the interruption, not the tests' own.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Kills every child and its process group, and removes every container
    /// (used on Ctrl-C).
    pub fn kill_all(&self) {
        self.interrupted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(list) = self.processes.lock() {
            for c in list.iter() {
                kill(c);
            }
        }
        self.containers.remove_all();
    }
}

/// Limits of one run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Host wall-clock limit for the whole run.
    pub timeout: Duration,
    /// After the pass marker, how long to wait for an exit status.
    pub grace: Duration,
}

/// Ends a child and everything it started (its process group).
fn kill(child: &Arc<Mutex<Child>>) {
    if let Ok(mut c) = child.lock() {
        #[cfg(unix)]
        {
            use nix::sys::signal::{killpg, Signal};
            use nix::unistd::Pid;
            let _ = killpg(Pid::from_raw(c.id() as i32), Signal::SIGKILL);
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// How many chunks of output (of up to 8 KiB) may wait to be scanned.
const QUEUED_CHUNKS: usize = 32;

/// How long output is still taken after a verdict stops a run, before and
/// after the kill: enough for the other pipe to catch up, short enough that
/// a flood cannot hold the run.
const STOP_DRAIN: Duration = Duration::from_millis(100);

/// Passes on chunks that arrive within `window`, until the pipes close.
fn take_for(rx: &mpsc::Receiver<Chunk>, window: Duration, mut take: impl FnMut(Chunk)) {
    let until = Instant::now() + window;
    while let Ok(chunk) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
        take(chunk);
    }
}

/// Which pipe a chunk of output came from.
enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
}

/// Runs `cmd`, feeding its output to a scanner, until a verdict.
/// `on_output` sees each chunk as it arrives (for streaming to a terminal).
/// The child runs in its own process group, which is killed on a verdict, a
/// timeout or Ctrl-C ([`Children::kill_all`]), so nothing is left behind.
pub fn execute(
    mut cmd: Command,
    limits: Limits,
    children: &Children,
    mut on_output: impl FnMut(&[u8]),
) -> Result<Attempt, RunnerError> {
    let program = format!("{:?}", cmd.get_program());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|error| RunnerError::Spawn { program, error })?;
    // Bounded: a binary that floods its output waits (its pipe fills up)
    // until the scanner has taken what came before, rather than the
    // chunks piling up in memory faster than they are scanned.
    let (tx, rx) = mpsc::sync_channel::<Chunk>(QUEUED_CHUNKS);
    let out = child
        .stdout
        .take()
        .map(|p| Box::new(p) as Box<dyn Read + Send>);
    let err = child
        .stderr
        .take()
        .map(|p| Box::new(p) as Box<dyn Read + Send>);
    for (pipe, is_err) in [(out, false), (err, true)] {
        let Some(mut pipe) = pipe else { continue };
        let tx = tx.clone();
        // Detached: a reader ends when its pipe closes, which the kill
        // ensures, or when the verdict is in and nothing receives any more.
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                let chunk = buf[..n].to_vec();
                let msg = if is_err {
                    Chunk::Err(chunk)
                } else {
                    Chunk::Out(chunk)
                };
                if n == 0 || tx.send(msg).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let child = Arc::new(Mutex::new(child));
    children.add(child.clone());
    let mut scanner = Scanner::new(ScanConfig {
        grace: limits.grace,
        ..ScanConfig::default()
    });
    let mut feed = |scanner: &mut Scanner, chunk: Chunk, at: Duration| match chunk {
        Chunk::Out(b) => {
            on_output(&b);
            scanner.feed(&b, at)
        }
        Chunk::Err(b) => {
            on_output(&b);
            scanner.feed_stderr(&b, at)
        }
    };
    let mut pipes_open = true;
    let verdict = loop {
        let now = start.elapsed();
        if now >= limits.timeout {
            kill(&child);
            break scanner.timed_out(now);
        }
        if pipes_open {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(chunk) => {
                    if let Some(Decision::Stop(v)) = feed(&mut scanner, chunk, start.elapsed()) {
                        // The other pipe may still hold what was printed
                        // before the verdict line (e.g. the test that was
                        // running when QEMU's fatal error came on stderr):
                        // take it for the log, briefly, then stop the child.
                        take_for(&rx, STOP_DRAIN, |c| {
                            feed(&mut scanner, c, start.elapsed());
                        });
                        kill(&child);
                        take_for(&rx, STOP_DRAIN, |c| {
                            feed(&mut scanner, c, start.elapsed());
                        });
                        break v;
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => pipes_open = false,
            }
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(Decision::Stop(v)) = scanner.tick(start.elapsed()) {
            kill(&child);
            break v;
        }
        let exited = child
            .lock()
            .ok()
            .and_then(|mut c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            // Take what is still in the pipes (briefly) before judging.
            let drain_until = Instant::now() + Duration::from_millis(200);
            let mut stopped = None;
            while let Ok(chunk) =
                rx.recv_timeout(drain_until.saturating_duration_since(Instant::now()))
            {
                if let Some(Decision::Stop(v)) = feed(&mut scanner, chunk, start.elapsed()) {
                    stopped = Some(v);
                    break;
                }
            }
            kill(&child); // whatever it left running in its group
            break match stopped {
                Some(v) => v,
                None => scanner.exited(Exit::from(status), start.elapsed()),
            };
        }
    };
    children.remove(&child);
    Ok(Attempt::from_scanner(&scanner, verdict, start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tflm_targets::Targets;

    #[test]
    fn qemu_command_line_uses_semihosting_and_no_display() {
        let t = Targets::builtin();
        let args = qemu_args(t.get("bluepill").unwrap(), Path::new("/fw/add")).unwrap();
        let joined = args.join(" ");
        assert!(joined.starts_with("-machine netduino2"), "{joined}");
        assert!(joined.contains("-semihosting-config enable=on,target=native"));
        assert!(joined.ends_with("-kernel /fw/add"));
        let rv = qemu_args(t.get("riscv32-virt").unwrap(), Path::new("x")).unwrap();
        assert!(rv.join(" ").contains("-bios none"));
        assert!(qemu_args(t.get("native").unwrap(), Path::new("x")).is_none());
    }

    #[test]
    fn unsupported_runner_says_what_the_target_supports() {
        let t = Targets::builtin();
        let e = check_available(t.get("microbit").unwrap(), RunnerKind::ProbeRs).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target microbit cannot run with the probe-rs runner (it supports: qemu)"
        );
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    fn limits(timeout_ms: u64) -> Limits {
        Limits {
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(200),
        }
    }

    #[test]
    fn a_passing_binary_passes() {
        let ex = execute(
            sh("echo 'Testing a'; echo '1/1 tests passed'; echo '~~~ALL TESTS PASSED~~~'"),
            limits(5000),
            &Children::default(),
            |_| {},
        )
        .unwrap();
        assert!(ex.verdict.passed(), "{:?}", ex.verdict);
    }

    #[test]
    fn the_fail_marker_stops_the_run_at_once() {
        let t0 = Instant::now();
        let ex = execute(
            sh("echo '~~~SOME TESTS FAILED~~~'; sleep 30"),
            limits(20_000),
            &Children::default(),
            |_| {},
        )
        .unwrap();
        assert!(!ex.verdict.passed());
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "waited {:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn silence_times_out_and_the_process_is_killed() {
        let t0 = Instant::now();
        let ex = execute(sh("sleep 30"), limits(300), &Children::default(), |_| {}).unwrap();
        assert!(!ex.verdict.passed());
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn pass_marker_without_exit_passes_after_the_grace_period() {
        let t0 = Instant::now();
        let ex = execute(
            sh("echo '~~~ALL TESTS PASSED~~~'; sleep 30"),
            limits(20_000),
            &Children::default(),
            |_| {},
        )
        .unwrap();
        assert!(ex.verdict.passed(), "{:?}", ex.verdict);
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn pass_marker_then_failure_exit_fails() {
        let ex = execute(
            sh("echo '~~~ALL TESTS PASSED~~~'; exit 3"),
            limits(5000),
            &Children::default(),
            |_| {},
        )
        .unwrap();
        assert!(!ex.verdict.passed(), "{:?}", ex.verdict);
    }
}
