//! `tflm test`: build the test firmware for a target, run every binary with
//! a runner, and report.

use crate::host::{runtime_error, Arena, BIG_ARENA};
use crate::tensor_io;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tflm_harness::docker;
use tflm_harness::firmware::{self, Binary};
use tflm_harness::report::{BinaryResult, RunReport};
use tflm_harness::runner::{check_available, Children, Limits};
use tflm_harness::session::{self, Event, Job};
use tflm_runtime::resolver::FastOpsResolver;
use tflm_runtime::schema::TensorType;
use tflm_runtime::{AllOpsResolver, Interpreter, Model, OpResolver};
use tflm_targets::{RunnerKind, Target};

#[derive(clap::Args)]
pub struct TestArgs {
    /// The target (`tflm targets` lists them).
    #[arg(long, default_value = "native")]
    pub target: String,
    /// native, qemu, renode or probe-rs (default: the target's first that
    /// works here; renode, when the target has it and its Docker image is
    /// ready).
    #[arg(long)]
    pub runner: Option<String>,
    /// Run the emulator in a Docker container (qemu; renode always runs
    /// in one). The image is built from docker/<runner>/ on first use.
    #[arg(long)]
    pub docker: bool,
    /// Build the runner's Docker image from this base image instead of
    /// its Dockerfile's (for machines that cannot pull from a registry).
    #[arg(long, value_name = "IMAGE")]
    pub base_image: Option<String>,
    /// Run only binaries whose name contains this (`*` is a wildcard); repeatable.
    #[arg(long = "filter", value_name = "PATTERN")]
    pub filters: Vec<String>,
    /// How many binaries run at once (default: the number of cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Seconds a binary may run before it is killed.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print the report as JSON (and nothing else on stdout).
    #[arg(long)]
    pub json: bool,
    /// Run these prebuilt ELF files instead of building the test firmware.
    #[arg(long = "binary", value_name = "ELF")]
    pub binaries: Vec<PathBuf>,
    /// Run a failing binary up to N more times; a pass on retry is reported as flaky.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retry_failed: u32,
    /// Build a firmware that embeds this model and checks its outputs on the target.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// With --model: input data (.npy or .bin), one per model input (default: seeded random).
    #[arg(long = "input", value_name = "FILE", requires = "model")]
    pub inputs: Vec<PathBuf>,
    /// With --model: expected outputs, one per model output (default: this host's run of the same runtime).
    #[arg(long = "expect", value_name = "FILE", requires = "model")]
    pub expects: Vec<PathBuf>,
    /// With --model: invoke it this many times on the target, every output
    /// checked each time, with reset() before each further run (a soak run).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "model")]
    pub repeat: u32,
    /// With --model: the kernels the firmware registers: the reference ones,
    /// or the optimized ones where the runtime has them (bit-exact with them).
    #[arg(long, value_name = "SET", default_value = "reference", value_parser = ["reference", "fast"], requires = "model")]
    pub kernels: String,
    /// With --model: count the instructions of one invocation, per
    /// operator, on a QEMU target (deterministic: QEMU runs with -icount;
    /// with --repeat, the mean over the invocations).
    #[arg(long, requires = "model")]
    pub profile: bool,
    /// Stream every binary's output as it runs.
    #[arg(long, short)]
    pub verbose: bool,
    /// probe-rs: the debug probe to use, as VID:PID[:SERIAL] (hex).
    #[arg(long, value_name = "VID:PID[:SERIAL]")]
    pub probe: Option<String>,
    /// probe-rs: the chip, overriding the target table's.
    #[arg(long)]
    pub chip: Option<String>,
    /// probe-rs: a bench map of target -> probe, chip, speed (default: ./hardware.toml if present).
    #[arg(long, value_name = "FILE")]
    pub hardware: Option<PathBuf>,
}

/// The probe-rs runner's settings: `--probe`/`--chip` first, then the
/// target's entry in the bench map (`--hardware`, default `hardware.toml`
/// when present), then the target table's chip.
fn probe_settings(target: &Target, args: &TestArgs) -> Result<session::ProbeSettings> {
    use tflm_harness::probe::{Bench, ProbeSelector};
    let bench_path = args.hardware.clone().or_else(|| {
        let p = PathBuf::from("hardware.toml");
        p.exists().then_some(p)
    });
    let bench = bench_path.map(|p| Bench::load(&p)).transpose()?;
    let entry = bench.as_ref().and_then(|b| b.for_target(&target.name).ok());
    let table_chip = target.probe_rs.as_ref().map(|p| p.chip.clone());
    let chip = args
        .chip
        .clone()
        .or_else(|| entry.and_then(|e| e.chip.clone()))
        .or(table_chip)
        .with_context(|| {
            format!(
                "target {} names no probe-rs chip: pass --chip NAME",
                target.name
            )
        })?;
    let selector = match &args.probe {
        Some(text) => Some(text.parse::<ProbeSelector>()?),
        None => entry.map(|e| e.selector()).transpose()?.flatten(),
    };
    Ok(session::ProbeSettings {
        chip,
        selector,
        speed_khz: entry.and_then(|e| e.speed_khz),
    })
}

/// The runner: the one asked for, else renode when the target has it and
/// its Docker image is ready, else the target's first that works here. With
/// `--docker`, only the runners that run in Docker (qemu, renode).
fn pick_runner(
    target: &Target,
    asked: Option<&str>,
    in_docker: bool,
    base_image: Option<&str>,
) -> Result<RunnerKind> {
    if let Some(name) = asked {
        let runner = RunnerKind::parse(name).with_context(|| {
            format!(
                "unknown runner '{name}' (runners: {})",
                RunnerKind::ALL
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if in_docker {
            if !target.supports(runner) {
                check_available(target, runner)?;
            }
            docker::check(target, runner)?;
        } else {
            check_available(target, runner)?;
        }
        return Ok(runner);
    }
    if target.supports(RunnerKind::Renode) && docker::image_ready(RunnerKind::Renode, base_image) {
        return Ok(RunnerKind::Renode);
    }
    let mut first_error = None;
    for &r in &target.runners {
        let check = if in_docker {
            docker::check(target, r).map_err(Into::into)
        } else {
            check_available(target, r)
        };
        match check {
            Ok(()) => return Ok(r),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => bail!("target {} lists no runners", target.name),
    }
}

/// `*` matches any run of characters; without `*` a filter matches anywhere.
fn matches(filter: &str, name: &str) -> bool {
    if !filter.contains('*') {
        return name.contains(filter);
    }
    let parts: Vec<&str> = filter.split('*').collect();
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return part.is_empty() || rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

pub fn run(target: &Target, args: TestArgs) -> Result<bool> {
    let runner = pick_runner(
        target,
        args.runner.as_deref(),
        args.docker,
        args.base_image.as_deref(),
    )?;
    if args.profile && runner != RunnerKind::Qemu {
        bail!(
            "--profile counts instructions in QEMU, and {} runs with {runner}: pick a target and runner with QEMU (e.g. --target bluepill --runner qemu); on this machine use `tflm bench --callgrind` or `tflm run --profile`",
            target.name
        );
    }
    let quiet = args.json;
    // Docker: the image is made ready (built once) before any firmware build.
    let docker_settings = if args.docker || runner == RunnerKind::Renode {
        Some(docker::prepare(
            runner,
            args.base_image.as_deref(),
            |tag| {
                if !quiet {
                    eprintln!("building Docker image {tag} (once; later runs reuse it)...");
                }
            },
        )?)
    } else {
        if args.base_image.is_some() {
            bail!("--base-image only applies with --docker or --runner renode");
        }
        None
    };
    let children = Children::default();
    {
        let children = children.clone();
        // Ctrl-C: end every emulator and binary, then stop.
        let _ = ctrlc::set_handler(move || {
            children.kill_all();
            eprintln!("\ninterrupted: every test process and container was stopped");
            std::process::exit(130);
        });
    }
    let mut model_dir = None;
    let binaries: Vec<Binary> = if !args.binaries.is_empty() {
        args.binaries
            .iter()
            .map(|p| {
                if !p.is_file() {
                    bail!("no such binary: {}", p.display());
                }
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                Ok(Binary {
                    name,
                    path: p.clone(),
                })
            })
            .collect::<Result<_>>()?
    } else {
        let cwd = std::env::current_dir()?;
        let checkout = firmware::find_checkout(&cwd)?;
        let bins = match &args.model {
            Some(model) => {
                // Sized and checked on the host with the kernels the
                // firmware registers (fast kernels may want more arena).
                let dir = if args.kernels == "fast" {
                    prepare_model(
                        &checkout,
                        target,
                        model,
                        &args.inputs,
                        &args.expects,
                        &FastOpsResolver,
                    )?
                } else {
                    prepare_model(
                        &checkout,
                        target,
                        model,
                        &args.inputs,
                        &args.expects,
                        &AllOpsResolver,
                    )?
                };
                std::fs::write(dir.join("repeat.txt"), args.repeat.max(1).to_string())?;
                std::fs::write(dir.join("kernels.txt"), &args.kernels)?;
                if args.profile {
                    let ops = operator_count(model)?;
                    std::fs::write(dir.join("profile.txt"), ops.to_string())?;
                }
                model_dir = Some(dir);
                vec!["model".to_string()]
            }
            None => Vec::new(),
        };
        if !quiet {
            eprintln!(
                "building test firmware for {} ({})...",
                target.name, target.triple
            );
        }
        let built = firmware::build(&checkout, target, &bins, model_dir.as_deref())?;
        built
            .into_iter()
            .filter(|b| b.name != "model" || args.model.is_some())
            .collect()
    };
    let jobs: Vec<Job> = binaries
        .into_iter()
        .filter(|b| args.filters.is_empty() || args.filters.iter().any(|f| matches(f, &b.name)))
        .map(|b| Job {
            name: b.name,
            path: b.path,
        })
        .collect();
    if jobs.is_empty() {
        bail!(
            "no test binary matches the filter ({})",
            args.filters.join(", ")
        );
    }
    let mut run_target = target.clone();
    if args.profile {
        // One instruction, one nanosecond of virtual time: the board's
        // counter then counts instructions, the same on every run.
        if let Some(q) = run_target.qemu.as_mut() {
            q.args
                .extend(["-icount".to_string(), "shift=0".to_string()]);
        }
    }
    let config = session::Config {
        target: run_target,
        runner,
        jobs: args.jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }),
        limits: Limits {
            timeout: Duration::from_secs(args.timeout),
            grace: Duration::from_secs(1),
        },
        retries: args.retry_failed,
        docker: docker_settings,
        probe: if runner == RunnerKind::ProbeRs {
            Some(probe_settings(target, &args)?)
        } else {
            None
        },
    };
    if !quiet {
        eprintln!(
            "running {} test binaries on {} with {}{} ({} at a time)",
            jobs.len(),
            target.name,
            runner,
            config
                .docker
                .as_ref()
                .map(|d| format!(" in Docker ({})", d.image))
                .unwrap_or_default(),
            config.jobs
        );
    }
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(jobs.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let verbose = args.verbose && !quiet;
    let on_event = |e: Event<'_>| match e {
        Event::Started { name, attempt } if attempt > 1 && !quiet => {
            let line = format!("retrying {name} (attempt {attempt})");
            match &bar {
                Some(b) => b.println(line),
                None => eprintln!("{line}"),
            }
        }
        Event::Output { bytes, .. } if verbose => {
            use std::io::Write;
            let _ = std::io::stderr().write_all(bytes);
        }
        Event::Finished { result } if !quiet => {
            let line = result_line(result);
            match &bar {
                Some(b) => {
                    b.inc(1);
                    b.set_message(result.name.clone());
                    b.println(line);
                }
                None => println!("{line}"),
            }
        }
        _ => {}
    };
    let report = session::run(&config, &jobs, &children, &on_event);
    if children.interrupted() {
        // Ctrl-C: the handler is removing what runs and will exit with 130;
        // what the session returned was cut short, so report nothing.
        loop {
            std::thread::park();
        }
    }
    let report = report?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report.junit_xml()?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", report.json()?);
    } else {
        print_failures(&report);
        print_summary(&report);
        if let Some(model) = &args.model {
            print_model_figures(&report, target)?;
            if args.profile {
                print_profile(&report, model)?;
            }
        }
    }
    Ok(report.failed() == 0)
}

fn result_line(r: &BinaryResult) -> String {
    let word = match r.outcome() {
        o if o.is_pass() && r.flaky() => "FLAKY",
        o if o.is_pass() => "PASS",
        tflm_harness::scan::Outcome::TimedOut => "TIMEOUT",
        tflm_harness::scan::Outcome::Crashed => "CRASH",
        _ => "FAIL",
    };
    format!(
        "{word:<7} {:<28} {:>7.2} s  {}",
        r.name,
        r.attempt.duration.as_secs_f64(),
        r.attempt.verdict.reason
    )
}

fn print_failures(report: &RunReport) {
    for r in report.results.iter().filter(|r| !r.outcome().is_pass()) {
        println!("\n--- {} ({}) ---", r.name, r.attempt.verdict.reason);
        print!("{}", r.attempt.log);
        if !r.attempt.log.ends_with('\n') {
            println!();
        }
        println!("--- end of {} ---", r.name);
    }
}

fn print_summary(report: &RunReport) {
    let flaky = report.results.iter().filter(|r| r.flaky()).count();
    let total_time: f64 = report
        .results
        .iter()
        .map(|r| r.attempt.duration.as_secs_f64())
        .sum();
    println!(
        "\n{} on {} with {}: {} passed, {} failed{} ({} binaries, {:.1} s of test time)",
        if report.failed() == 0 { "ok" } else { "FAILED" },
        report.target,
        report.runner,
        report.passed(),
        report.failed(),
        if flaky > 0 {
            format!(", {flaky} flaky")
        } else {
            String::new()
        },
        report.results.len(),
        total_time
    );
}

/// The model test's figures: the arena the firmware used and its size.
fn print_model_figures(report: &RunReport, target: &Target) -> Result<()> {
    for r in &report.results {
        if let Some(line) = r
            .attempt
            .log
            .lines()
            .find(|l| l.contains("tflm: arena_used_bytes="))
        {
            let bytes = line.rsplit('=').next().unwrap_or("?").trim();
            println!("arena used on {}: {bytes} bytes", target.name);
        }
        if let Some(line) = r
            .attempt
            .log
            .lines()
            .find(|l| l.contains("tflm: invocations="))
        {
            let n = line.rsplit('=').next().unwrap_or("?").trim();
            if n != "1" && r.attempt.verdict.passed() {
                println!(
                    "invocations on {}: {n}, every output as expected each time",
                    target.name
                );
            }
        }
        if let Some(line) = r
            .attempt
            .log
            .lines()
            .find(|l| l.contains("tflm: stack_used_bytes="))
        {
            // Measured on the board: the deepest word of the painted stack
            // that changed.
            let bytes = line.rsplit('=').next().unwrap_or("?").trim();
            println!(
                "stack used on {}: {bytes} bytes (high-water of the painted stack; reserve {})",
                target.name, target.stack
            );
        }
        if let Ok(size) = tflm_harness::elf_size::elf_size(&r.path, target.stack) {
            println!(
                "firmware {}: flash {} bytes, RAM {} bytes (static, with the arena, {} + stack reserve {})",
                r.name,
                size.flash,
                size.ram,
                size.ram - size.stack_reserve,
                size.stack_reserve
            );
            let rt = &size.runtime;
            println!(
                "runtime code in it: core {} bytes (interpreter {}, planner {}, reader {}, kernel API {}), kernels {} bytes",
                rt.core, rt.interpreter, rt.planner, rt.reader, rt.kernel_api, rt.kernels
            );
        }
    }
    Ok(())
}

fn operator_count(model_path: &Path) -> Result<usize> {
    let bytes = std::fs::read(model_path)
        .with_context(|| format!("cannot read {}", model_path.display()))?;
    let model =
        Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", model_path.display()))?;
    Ok(model.subgraph(0)?.operators_len()?)
}

/// Instructions per operator, from the model firmware's `tflm: profile_*`
/// lines: counter units per operator, and the units a loop of known length
/// took (SysTick ticks are several instructions each).
pub fn parse_profile(log: &str) -> Option<(Vec<u64>, f64)> {
    let calibration = log
        .lines()
        .find_map(|l| l.split_once("tflm: profile_calibration=").map(|(_, v)| v))?;
    let (units, insns) = calibration.trim().split_once('/')?;
    let (units, insns): (f64, f64) = (units.parse().ok()?, insns.parse().ok()?);
    if units <= 0.0 {
        return None;
    }
    // Counts add up over every invocation (`--repeat`).
    let invocations = log
        .lines()
        .find_map(|l| l.split_once("tflm: invocations=").map(|(_, v)| v))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    let per_unit = insns / units / f64::from(invocations);
    let mut ops = Vec::new();
    for line in log.lines() {
        if let Some((_, v)) = line.split_once("tflm: profile_op=") {
            let (i, n) = v.trim().split_once(':')?;
            let (i, n): (usize, u64) = (i.parse().ok()?, n.parse().ok()?);
            if i != ops.len() {
                return None;
            }
            ops.push(n);
        }
    }
    Some((
        ops.iter()
            .map(|&n| (n as f64 * per_unit).round() as u64)
            .collect(),
        per_unit,
    ))
}

fn print_profile(report: &RunReport, model_path: &Path) -> Result<()> {
    let bytes = std::fs::read(model_path)?;
    let model =
        Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", model_path.display()))?;
    let sg = model.subgraph(0)?;
    for r in &report.results {
        let Some((ops, per_unit)) = parse_profile(&r.attempt.log) else {
            println!(
                "no profile from {}: it printed no counts (did it pass?)",
                r.name
            );
            continue;
        };
        let total: u64 = ops.iter().sum();
        println!(
            "\ninstructions per operator, one invocation (QEMU -icount; counter unit = {per_unit:.1} instructions)"
        );
        println!(
            "{:>4}  {:<24} {:>14} {:>7}",
            "#", "op", "instructions", "share"
        );
        for (i, n) in ops.iter().enumerate() {
            let name = sg
                .operator(i)
                .and_then(|op| model.opcode_of(&op))
                .and_then(|c| c.kind())
                .map(crate::inspect::op_name)
                .unwrap_or_else(|_| "?".to_string());
            println!(
                "{i:>4}  {name:<24} {n:>14} {:>6.1}%",
                100.0 * *n as f64 / (total.max(1)) as f64
            );
        }
        println!("total: {total} instructions per invocation");
    }
    Ok(())
}

/// Writes the model test's data (model, inputs, expected outputs, arena
/// size) for the firmware build; the expected outputs come from `--expect`
/// or from running the same runtime on this host.
fn prepare_model<R: OpResolver>(
    checkout: &Path,
    target: &Target,
    model_path: &Path,
    inputs: &[PathBuf],
    expects: &[PathBuf],
    resolver: &R,
) -> Result<PathBuf> {
    let bytes = std::fs::read(model_path)
        .with_context(|| format!("cannot read {}", model_path.display()))?;
    let model =
        Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", model_path.display()))?;
    let mut arena = Arena::new(BIG_ARENA);
    let mut it = Interpreter::new(&model, resolver, arena.bytes());
    // The model firmware is built compact, with TFLM's first-fit planner
    // only (to fit small parts); its arena is that plan's.
    it.set_planning(tflm_runtime::planner::Planning::FirstFit);
    it.allocate_tensors()
        .map_err(|e| runtime_error(model_path, &model, e))?;
    let dir = checkout
        .join("target")
        .join("tflm")
        .join("model-test")
        .join(&target.name);
    std::fs::create_dir_all(&dir)?;
    for entry in std::fs::read_dir(&dir)? {
        let _ = std::fs::remove_file(entry?.path());
    }
    std::fs::write(dir.join("model.tflite"), &bytes)?;
    let n_in = it.inputs_len();
    if !inputs.is_empty() && inputs.len() != n_in {
        bail!(
            "the model has {n_in} input(s), {} --input given",
            inputs.len()
        );
    }
    for k in 0..n_in {
        let info = it.io_info(false, k)?;
        let view = it.input_mut(k)?;
        let data = match inputs.get(k) {
            Some(file) => {
                let loaded = tensor_io::read(file)?;
                if loaded.bytes.len() != view.data.len() || loaded.ty.is_some_and(|t| t != info.ty)
                {
                    bail!(
                        "input {k}: {} does not hold {} bytes of {}",
                        file.display(),
                        view.data.len(),
                        info.ty
                    );
                }
                loaded.bytes
            }
            None => {
                crate::host::deterministic_input(info.ty, view.data.len(), 0x7f4a_7c15 + k as u64)
            }
        };
        view.data.copy_from_slice(&data);
        std::fs::write(dir.join(format!("input_{k}.bin")), &data)?;
    }
    it.invoke()
        .map_err(|e| runtime_error(model_path, &model, e))?;
    let n_out = it.outputs_len();
    if !expects.is_empty() && expects.len() != n_out {
        bail!(
            "the model has {n_out} output(s), {} --expect given",
            expects.len()
        );
    }
    let mut float = Vec::new();
    for k in 0..n_out {
        let out = it.output(k)?;
        let expected = match expects.get(k) {
            Some(file) => tensor_io::read(file)?.bytes,
            None => out.data.to_vec(),
        };
        if expected.len() != out.data.len() {
            bail!(
                "output {k}: --expect file has {} bytes, the model's output {}",
                expected.len(),
                out.data.len()
            );
        }
        float.push((out.ty == TensorType::Float32).to_string());
        std::fs::write(dir.join(format!("expected_{k}.bin")), &expected)?;
    }
    std::fs::write(dir.join("float_outputs.txt"), float.join(", "))?;
    std::fs::write(dir.join("arena.txt"), it.arena_used_bytes().to_string())?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_substrings_and_globs() {
        assert!(matches("conv", "depthwise_conv_2d"));
        assert!(matches("conv*", "conv_2d"));
        assert!(!matches("conv*", "depthwise_conv_2d"));
        assert!(matches("*pool*", "max_pool_2d"));
        assert!(matches("*_2d", "conv_2d"));
        assert!(!matches("reader", "planner"));
    }

    #[test]
    fn profile_lines_become_instructions_per_operator() {
        let log = "Testing model/matches_expected_outputs\n\
                   tflm: profile_calibration=25000/2000000\n\
                   tflm: profile_op=0:0\n\
                   tflm: profile_op=1:1234\n\
                   tflm: arena_used_bytes=912\n";
        let (ops, per_unit) = parse_profile(log).unwrap();
        assert_eq!(per_unit, 80.0);
        assert_eq!(ops, [0, 98_720]);
        // Two invocations: the counts are their sum.
        let twice = format!("{log}tflm: invocations=2\n");
        assert_eq!(parse_profile(&twice).unwrap().0, [0, 49_360]);
        // Missing calibration, a gap in the indices, garbage: no profile.
        assert!(parse_profile("tflm: profile_op=0:5\n").is_none());
        let gap = "tflm: profile_calibration=1/1\ntflm: profile_op=1:5\n";
        assert!(parse_profile(gap).is_none());
        let zero = "tflm: profile_calibration=0/2000000\ntflm: profile_op=0:5\n";
        assert!(parse_profile(zero).is_none());
        let junk = "tflm: profile_calibration=1/1\ntflm: profile_op=0:x\n";
        assert!(parse_profile(junk).is_none());
    }
}
