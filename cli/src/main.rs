//! `tflm`: the host-side tool for the tflm runtime.

mod bench;
mod host;
mod inspect;
mod run;
mod size;
mod targets_cmd;
mod tensor_io;
mod test_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tflm_runtime::{Model, ReadError};

#[derive(Parser)]
#[command(
    name = "tflm",
    version,
    about = "Inspect, size, run and test TensorFlow Lite models for microcontrollers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once, never moved around
enum Command {
    /// Show what a .tflite model holds: tensors, operators, options, MACs, and
    /// whether this runtime supports each operator.
    Inspect {
        /// The .tflite file.
        model: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run one inference on the host: inputs from .npy (or raw .bin) files,
    /// outputs to files or printed.
    Run {
        /// The .tflite file.
        model: PathBuf,
        /// One file per model input, in order (.npy checks dtype and shape; .bin is raw bytes).
        #[arg(long = "input", value_name = "FILE")]
        inputs: Vec<PathBuf>,
        /// One file per model output, in order (.npy or .bin); printed if none given.
        #[arg(long = "output", value_name = "FILE")]
        outputs: Vec<PathBuf>,
        /// Run with an arena of exactly this many bytes (as on a device).
        #[arg(long, value_name = "BYTES")]
        arena_size: Option<usize>,
        /// Print the time each operator took.
        #[arg(long)]
        profile: bool,
    },
    /// Time this runtime against TFLM's own interpreter (the tflite-micro
    /// Python package), side by side on the same inputs: host time per
    /// invoke, instructions per invoke with --callgrind, arena bytes.
    Bench {
        /// The .tflite models.
        #[arg(required = true)]
        models: Vec<PathBuf>,
        /// Timed invocations per model (after two warm-up runs).
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// Also count instructions per invoke with Valgrind's callgrind
        /// (repeatable on a noisy machine; needs valgrind).
        #[arg(long)]
        callgrind: bool,
        /// The Python that has tflite-micro (default: $TFLM_PYTHON, else python3).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Measure this runtime only.
        #[arg(long)]
        no_tflm: bool,
        /// Print the figures as JSON.
        #[arg(long)]
        json: bool,
        /// This runtime's kernels: the optimized ones (bit-exact with the
        /// reference ones) or the reference ones.
        #[arg(long, value_enum, default_value_t = bench::Kernels::Fast)]
        kernels: bench::Kernels,
        /// Internal: allocate, invoke N times, print nothing (what callgrind runs).
        #[arg(long, hide = true, value_name = "N")]
        invoke_loop: Option<usize>,
    },
    /// Build the test firmware for a target and run every test binary
    /// (natively, in QEMU, ...), deciding each verdict from its output, exit
    /// status and a timeout. Exit code 0 only if all passed.
    Test(test_cmd::TestArgs),
    /// List the targets: CPU, memory, runners, and which runners work here.
    Targets {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check what this machine has for building and running tests, and say
    /// what to install.
    Doctor {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Memory a model needs: with --arena, the exact arena bytes and the tensor plan.
    ///
    /// `tflm size --arena MODEL`: the exact arena bytes and the tensor plan.
    /// `tflm size ELF...`: flash and RAM of built firmware, by section, crate
    /// and largest symbols. `tflm size --target T`: the same for the test
    /// firmware of T, built first.
    Size {
        /// Report the arena a model needs (PATH is a .tflite model).
        #[arg(long)]
        arena: bool,
        /// A .tflite model with --arena; ELF files otherwise.
        paths: Vec<PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The target: for ELF sizes, its stack reserve counts in RAM; without
        /// paths, its test firmware is built and sized. (The arena is the same
        /// on every target.)
        #[arg(long)]
        target: Option<String>,
        /// How many of the largest symbols to list per binary.
        #[arg(long, default_value_t = 10)]
        symbols: usize,
        /// With --arena: the kernels to plan with (their per-op data and
        /// scratch differ).
        #[arg(long, value_enum, default_value_t = bench::Kernels::Reference)]
        kernels: bench::Kernels,
        /// With --arena: how hard the planner works, as a firmware build's
        /// features allow (the compact model firmware plans first-fit).
        #[arg(long, value_enum, default_value_t = bench::PlanningArg::Exact)]
        planning: bench::PlanningArg,
    },
}

fn main() -> ExitCode {
    // Piped into `head` and the like, stop quietly when the reader goes
    // away, as command-line tools do, instead of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restores the default action of one signal at start-up, before
    // any thread exists; no handler code is involved.
    unsafe {
        use nix::sys::signal::{signal, SigHandler, Signal};
        let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inspect { model, json } => {
            let bytes = read_file(&model)?;
            let m = parse_model(&model, &bytes)?;
            let report = inspect::report(&model.display().to_string(), &m)
                .map_err(|e| model_error(&model, e))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", inspect::render(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            model,
            inputs,
            outputs,
            arena_size,
            profile,
        } => {
            let bytes = read_file(&model)?;
            let m = parse_model(&model, &bytes)?;
            let args = run::RunArgs {
                inputs,
                outputs,
                arena_size,
                profile,
            };
            run::run(&model, &m, &args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            models,
            iterations,
            callgrind,
            python,
            no_tflm,
            json,
            kernels,
            invoke_loop,
        } => {
            if let Some(times) = invoke_loop {
                let [model] = models.as_slice() else {
                    anyhow::bail!("--invoke-loop takes one model");
                };
                bench::invoke_loop(model, times, kernels)?;
            } else {
                bench::bench(&bench::BenchArgs {
                    models,
                    iterations: iterations.max(1),
                    callgrind,
                    python,
                    no_tflm,
                    json,
                    kernels,
                })?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Test(args) => {
            let target = find_target(&args.target)?;
            Ok(if test_cmd::run(&target, args)? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Targets { json } => {
            targets_cmd::targets(json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor { json } => Ok(if targets_cmd::doctor(json)? {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        Command::Size {
            arena,
            paths,
            json,
            target,
            symbols,
            kernels,
            planning,
        } => {
            let target = target.as_deref().map(find_target).transpose()?;
            if arena {
                let [model] = paths.as_slice() else {
                    anyhow::bail!("tflm size --arena takes one .tflite model");
                };
                let bytes = read_file(model)?;
                let m = parse_model(model, &bytes)?;
                let report = size::arena_report(
                    model,
                    &m,
                    target.as_ref().map(|t| t.name.as_str()),
                    kernels,
                    planning,
                )?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&report)?);
                } else {
                    print!("{}", size::render(&report));
                }
            } else {
                size::firmware(&paths, target.as_ref(), json, symbols)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A target by name, or one line that lists the known ones.
fn find_target(name: &str) -> Result<tflm_targets::Target> {
    let targets = tflm_targets::Targets::builtin();
    targets.get(name).cloned().ok_or_else(|| {
        anyhow::anyhow!(
            "unknown target '{name}' (known: {}; `tflm targets` describes them)",
            targets.names().join(", ")
        )
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a model, turning a read error into one line that says what to do.
fn parse_model<'a>(path: &Path, bytes: &'a [u8]) -> Result<Model<'a>> {
    Model::from_bytes(bytes).map_err(|e| model_error(path, e))
}

fn model_error(path: &Path, e: ReadError) -> anyhow::Error {
    let hint = match e {
        ReadError::TooSmall(_) | ReadError::BadIdentifier(_) => {
            "expected a .tflite file from the TFLite converter"
        }
        ReadError::UnsupportedVersion(_) => "re-export the model with a current TFLite converter",
        ReadError::Malformed { .. } | ReadError::IndexOutOfRange { .. } => {
            "the file is corrupt or truncated; re-export or re-download it"
        }
    };
    anyhow::anyhow!("{}: {e} ({hint})", path.display())
}
