//! `tflm run`: one inference on the host, files in and out.

use crate::host::{runtime_error, Arena, BIG_ARENA};
use crate::tensor_io;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tflm_runtime::schema::TensorType;
use tflm_runtime::{AllOpsResolver, Interpreter, Model, Profiler};

pub struct RunArgs {
    pub inputs: Vec<PathBuf>,
    pub outputs: Vec<PathBuf>,
    pub arena_size: Option<usize>,
    pub profile: bool,
}

/// Wall-clock time per operator.
struct Timer {
    started: Option<Instant>,
    ops: Vec<(usize, Duration)>,
}

impl Profiler for Timer {
    fn begin(&mut self, _: usize) {
        self.started = Some(Instant::now());
    }

    fn end(&mut self, op_index: usize) {
        if let Some(t) = self.started.take() {
            self.ops.push((op_index, t.elapsed()));
        }
    }
}

fn shape_text(shape: &[usize]) -> String {
    format!(
        "[{}]",
        shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

pub fn run(path: &Path, model: &Model<'_>, args: &RunArgs) -> Result<()> {
    let resolver = AllOpsResolver;
    let mut arena = Arena::new(args.arena_size.unwrap_or(BIG_ARENA));
    let mut interpreter = Interpreter::new(model, &resolver, arena.bytes());
    interpreter
        .allocate_tensors()
        .map_err(|e| runtime_error(path, model, e))?;

    let n_inputs = interpreter.inputs_len();
    if args.inputs.len() != n_inputs {
        bail!(
            "{}: the model has {n_inputs} input(s), {} given; pass one --input per model input, in order",
            path.display(),
            args.inputs.len()
        );
    }
    for (i, file) in args.inputs.iter().enumerate() {
        let info = interpreter.io_info(false, i)?;
        let want_shape: Vec<usize> = info.shape.iter().collect();
        let loaded = tensor_io::read(file)?;
        if let Some(ty) = loaded.ty {
            if ty != info.ty {
                bail!(
                    "input {i} ({}): the model wants {} data, {} holds {}",
                    info.name.unwrap_or("?"),
                    info.ty,
                    file.display(),
                    ty
                );
            }
        }
        if let Some(shape) = &loaded.shape {
            if *shape != want_shape {
                bail!(
                    "input {i} ({}): the model wants shape {}, {} has shape {}",
                    info.name.unwrap_or("?"),
                    shape_text(&want_shape),
                    file.display(),
                    shape_text(shape)
                );
            }
        }
        let view = interpreter.input_mut(i)?;
        if loaded.bytes.len() != view.data.len() {
            bail!(
                "input {i}: the model wants {} bytes ({} {}), {} has {}",
                view.data.len(),
                info.ty,
                shape_text(&want_shape),
                file.display(),
                loaded.bytes.len()
            );
        }
        view.data.copy_from_slice(&loaded.bytes);
    }

    let mut timer = Timer {
        started: None,
        ops: Vec::new(),
    };
    let t0 = Instant::now();
    interpreter
        .invoke_with(&mut timer)
        .map_err(|e| runtime_error(path, model, e))?;
    let total = t0.elapsed();

    let n_outputs = interpreter.outputs_len();
    if !args.outputs.is_empty() && args.outputs.len() != n_outputs {
        bail!(
            "{}: the model has {n_outputs} output(s), {} --output given",
            path.display(),
            args.outputs.len()
        );
    }
    for k in 0..n_outputs {
        let info = interpreter.io_info(true, k)?;
        let shape: Vec<usize> = info.shape.iter().collect();
        let view = interpreter.output(k)?;
        match args.outputs.get(k) {
            Some(file) => tensor_io::write(file, info.ty, &shape, view.data)?,
            None => println!(
                "output {k} ({}): {} {} = {}",
                info.name.unwrap_or("?"),
                info.ty,
                shape_text(&shape),
                preview(info.ty, view.data, info.scale, info.zero_point)
            ),
        }
    }
    println!(
        "arena: {} bytes used; invoke took {:.3} ms",
        interpreter.arena_used_bytes(),
        total.as_secs_f64() * 1e3
    );
    if args.profile {
        print_profile(model, &timer.ops, total)?;
    }
    Ok(())
}

fn print_profile(model: &Model<'_>, ops: &[(usize, Duration)], total: Duration) -> Result<()> {
    let sg = model.subgraph(0)?;
    println!(
        "\n{:>4}  {:<24} {:>12} {:>7}",
        "#", "op", "time (us)", "share"
    );
    for (i, d) in ops {
        let op = sg.operator(*i)?;
        let name = crate::inspect::op_name(model.opcode_of(&op)?.kind()?);
        println!(
            "{:>4}  {:<24} {:>12.1} {:>6.1}%",
            i,
            name,
            d.as_secs_f64() * 1e6,
            100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-12)
        );
    }
    Ok(())
}

/// The first values of a tensor, with their real values when quantized.
fn preview(ty: TensorType, data: &[u8], scale: f32, zero_point: i32) -> String {
    const SHOW: usize = 16;
    let values: Vec<f64> = match ty {
        TensorType::Int8 => data.iter().map(|&b| b as i8 as f64).collect(),
        TensorType::UInt8 | TensorType::Bool => data.iter().map(|&b| b as f64).collect(),
        TensorType::Int16 => data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
            .collect(),
        TensorType::Int32 => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        TensorType::Float32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        _ => return format!("{} bytes", data.len()),
    };
    let more = if values.len() > SHOW { ", ..." } else { "" };
    let shown: Vec<String> = values.iter().take(SHOW).map(|v| format!("{v}")).collect();
    let mut text = format!("[{}{more}]", shown.join(", "));
    if scale != 0.0 && ty != TensorType::Float32 {
        let real: Vec<String> = values
            .iter()
            .take(SHOW)
            .map(|v| format!("{:.4}", (v - zero_point as f64) * scale as f64))
            .collect();
        text += &format!(" (real [{}{more}])", real.join(", "));
    }
    text
}
