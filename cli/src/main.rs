//! `tflm`: the host-side tool for the tflm runtime.

mod inspect;

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
}

fn main() -> ExitCode {
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
    }
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
