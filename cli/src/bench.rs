//! `tflm bench`: this runtime against TFLM's own interpreter, measured side
//! by side in the same run on the same inputs.
//!
//! Per model: host time per `invoke` (median over the iterations), and with
//! `--callgrind` the instructions per `invoke` counted by Valgrind's
//! callgrind with collection switched on only inside the invoke call (our
//! `invoke_loop_body`, TFLM's `MicroInterpreter::Invoke`), which repeats
//! exactly on a noisy machine; the arena bytes of each. TFLM runs through the
//! `tflite-micro` Python package (its C++ interpreter), so `--python` must
//! name a Python that has it.
//!
//! `--kernels` picks this runtime's kernels: `fast` (the default:
//! `FastOpsResolver`, whose optimized kernels are bit-exact with the
//! reference ones, see `runtime/tests/fast_kernels.rs`) or `reference`
//! (`AllOpsResolver`).

use crate::host::{deterministic_input, runtime_error, Arena, BIG_ARENA};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tflm_runtime::resolver::FastOpsResolver;
use tflm_runtime::{AllOpsResolver, Interpreter, Model, OpResolver};

/// How hard the planner works (`tflm size --arena --planning`): as the
/// runtime's `Planning`, which a firmware build's features limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanningArg {
    /// TFLM's planner: largest first, lowest fit (a build without
    /// `greedy-plan`, e.g. the compact model firmware).
    FirstFit,
    /// The greedy passes (a build without `exact-plan`).
    Greedy,
    /// The greedy passes and the exact search (the default build).
    #[default]
    Exact,
}

impl PlanningArg {
    pub fn planning(self) -> tflm_runtime::planner::Planning {
        use tflm_runtime::planner::Planning;
        match self {
            PlanningArg::FirstFit => Planning::FirstFit,
            PlanningArg::Greedy => Planning::Greedy,
            PlanningArg::Exact => Planning::Exact,
        }
    }
}

/// Which kernels this runtime benchmarks with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// The reference kernels (`AllOpsResolver`).
    Reference,
    /// The optimized kernels where there are some (`FastOpsResolver`);
    /// bit-exact with the reference ones.
    #[default]
    Fast,
}

impl Kernels {
    fn as_str(self) -> &'static str {
        match self {
            Kernels::Reference => "reference",
            Kernels::Fast => "fast",
        }
    }
}

/// What `tflm bench` was asked.
pub struct BenchArgs {
    pub models: Vec<PathBuf>,
    pub iterations: usize,
    pub callgrind: bool,
    pub python: Option<PathBuf>,
    pub no_tflm: bool,
    pub json: bool,
    pub kernels: Kernels,
}

/// The figures for one model.
#[derive(Debug, Default, Serialize)]
pub struct ModelBench {
    pub model: String,
    /// The kernels this runtime ran with.
    pub kernels: Kernels,
    pub tflm_rs_us: f64,
    pub tflm_cc_us: Option<f64>,
    pub tflm_rs_instructions: Option<u64>,
    pub tflm_cc_instructions: Option<u64>,
    pub tflm_rs_arena: usize,
    pub tflm_cc_arena: Option<usize>,
}

impl ModelBench {
    fn time_ratio(&self) -> Option<f64> {
        self.tflm_cc_us.map(|cc| self.tflm_rs_us / cc)
    }

    fn instruction_ratio(&self) -> Option<f64> {
        match (self.tflm_rs_instructions, self.tflm_cc_instructions) {
            (Some(rs), Some(cc)) if cc > 0 => Some(rs as f64 / cc as f64),
            _ => None,
        }
    }
}

/// Invocations counted under callgrind (the counts are exact, so a few do).
const CALLGRIND_INVOKES: usize = 3;

pub fn bench(args: &BenchArgs) -> Result<()> {
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var_os("TFLM_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"));
    if !args.no_tflm {
        check_python(&python)?;
    }
    if args.callgrind {
        check_valgrind()?;
    }
    if cfg!(debug_assertions) {
        eprintln!("note: this tflm is a debug build; time it built with --release");
    }
    let work = tempdir()?;
    let mut results = Vec::new();
    for path in &args.models {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let model =
            Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut r = ModelBench {
            model: path.display().to_string(),
            kernels: args.kernels,
            ..Default::default()
        };
        let inputs = write_inputs(path, &model, &work)?;
        let (us, arena) = match args.kernels {
            Kernels::Reference => time_ours(&AllOpsResolver, path, &model, args.iterations)?,
            Kernels::Fast => time_ours(&FastOpsResolver, path, &model, args.iterations)?,
        };
        (r.tflm_rs_us, r.tflm_rs_arena) = (us, arena);
        if !args.no_tflm {
            let (us, arena) = time_tflm(&python, path, &inputs, args.iterations)?;
            (r.tflm_cc_us, r.tflm_cc_arena) = (Some(us), Some(arena));
        }
        if args.callgrind {
            r.tflm_rs_instructions = Some(callgrind_ours(path, args.kernels, &work)?);
            if !args.no_tflm {
                r.tflm_cc_instructions = Some(callgrind_tflm(&python, path, &inputs, &work)?);
            }
        }
        if !args.json {
            eprintln!("{}: done", r.model);
        }
        results.push(r);
    }
    let _ = std::fs::remove_dir_all(&work);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("tflm kernels: {}", args.kernels.as_str());
        print!("{}", render(&results));
    }
    Ok(())
}

/// The table: one row per model, ratios are tflm (Rust) / TFLM (C++).
pub fn render(results: &[ModelBench]) -> String {
    let opt_u = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let opt_f =
        |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
    let mut s = format!(
        "{:<34} {:>10} {:>10} {:>6} {:>13} {:>13} {:>6} {:>9} {:>9}\n",
        "model",
        "us tflm",
        "us TFLM",
        "ratio",
        "instr tflm",
        "instr TFLM",
        "ratio",
        "arena",
        "TFLM"
    );
    for r in results {
        let name = Path::new(&r.model)
            .file_name()
            .map_or(r.model.clone(), |n| n.to_string_lossy().into_owned());
        s += &format!(
            "{:<34} {:>10.1} {:>10} {:>6} {:>13} {:>13} {:>6} {:>9} {:>9}\n",
            name,
            r.tflm_rs_us,
            opt_f(r.tflm_cc_us, 1),
            opt_f(r.time_ratio(), 2),
            opt_u(r.tflm_rs_instructions),
            opt_u(r.tflm_cc_instructions),
            opt_f(r.instruction_ratio(), 2),
            r.tflm_rs_arena,
            r.tflm_cc_arena.map_or("-".to_string(), |a| a.to_string()),
        );
    }
    s
}

/// Host time per invoke (median, microseconds) and the arena bytes.
fn time_ours<R: OpResolver>(
    resolver: &R,
    path: &Path,
    model: &Model<'_>,
    iterations: usize,
) -> Result<(f64, usize)> {
    let mut arena = Arena::new(BIG_ARENA);
    let mut it = Interpreter::new(model, resolver, arena.bytes());
    it.allocate_tensors()
        .map_err(|e| runtime_error(path, model, e))?;
    fill_inputs(&mut it)?;
    let mut times = Vec::with_capacity(iterations);
    for k in 0..iterations + 2 {
        let start = Instant::now();
        invoke_loop_body(&mut it).map_err(|e| runtime_error(path, model, e))?;
        if k >= 2 {
            // The first two warm the caches.
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    Ok((median(&mut times), it.arena_used_bytes()))
}

/// The call callgrind counts (`--toggle-collect` names it): kept out of
/// line so that it exists under this name.
#[inline(never)]
fn invoke_loop_body<R: OpResolver>(
    it: &mut Interpreter<'_, '_, R>,
) -> Result<(), tflm_runtime::Error> {
    it.invoke()
}

/// `tflm bench --invoke-loop N [--kernels K] MODEL` (hidden): allocate,
/// then invoke N times. What callgrind runs.
pub fn invoke_loop(path: &Path, times: usize, kernels: Kernels) -> Result<()> {
    match kernels {
        Kernels::Reference => invoke_loop_with(&AllOpsResolver, path, times),
        Kernels::Fast => invoke_loop_with(&FastOpsResolver, path, times),
    }
}

fn invoke_loop_with<R: OpResolver>(resolver: &R, path: &Path, times: usize) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let model =
        Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut arena = Arena::new(BIG_ARENA);
    let mut it = Interpreter::new(&model, resolver, arena.bytes());
    it.allocate_tensors()
        .map_err(|e| runtime_error(path, &model, e))?;
    fill_inputs(&mut it)?;
    for _ in 0..times {
        invoke_loop_body(&mut it).map_err(|e| runtime_error(path, &model, e))?;
    }
    Ok(())
}

fn fill_inputs<R: OpResolver>(it: &mut Interpreter<'_, '_, R>) -> Result<()> {
    for k in 0..it.inputs_len() {
        let view = it.input_mut(k)?;
        let data = deterministic_input(view.ty, view.data.len(), k as u64);
        view.data.copy_from_slice(&data);
    }
    Ok(())
}

/// The same inputs as `fill_inputs`, as .npy files for TFLM.
fn write_inputs(path: &Path, model: &Model<'_>, dir: &Path) -> Result<Vec<PathBuf>> {
    let resolver = AllOpsResolver;
    let mut arena = Arena::new(BIG_ARENA);
    let mut it = Interpreter::new(model, &resolver, arena.bytes());
    it.allocate_tensors()
        .map_err(|e| runtime_error(path, model, e))?;
    let stem = path
        .file_stem()
        .map_or("model".into(), |s| s.to_string_lossy().into_owned());
    let mut files = Vec::new();
    for k in 0..it.inputs_len() {
        let view = it.input_mut(k)?;
        let data = deterministic_input(view.ty, view.data.len(), k as u64);
        let shape: Vec<usize> = view.shape.iter().collect();
        let file = dir.join(format!("{stem}.input_{k}.npy"));
        crate::tensor_io::write(&file, view.ty, &shape, &data)?;
        files.push(file);
    }
    Ok(files)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// TFLM's side, run by Python: argv = model, iterations, input files;
/// prints "<median us> <arena bytes>".
const TFLM_SCRIPT: &str = r#"
import ctypes, os, re, sys, tempfile, time
import numpy as np
from tflite_micro.python.tflite_micro import runtime
model, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
it = runtime.Interpreter.from_file(model, arena_size=16 << 20)

def arena_total():
    # print_allocations writes TFLM's recording allocator's report (to
    # stderr in this build): catch fds 1 and 2.
    libc = ctypes.CDLL(None)
    sys.stdout.flush(); sys.stderr.flush(); libc.fflush(None)
    with tempfile.TemporaryFile() as tmp:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            it.print_allocations()
        finally:
            libc.fflush(None)
            for fd, old in ((1, saved[0]), (2, saved[1])):
                os.dup2(old, fd)
                os.close(old)
        tmp.seek(0)
        m = re.search(rb"Arena allocation total (\d+) bytes", tmp.read())
    return int(m.group(1)) if m else 0

for k, f in enumerate(files):
    it.set_input(np.load(f), k)
times = []
for k in range(n + 2):
    t = time.perf_counter()
    it.invoke()
    if k >= 2:
        times.append((time.perf_counter() - t) * 1e6)
times.sort()
m = len(times)
med = times[m // 2] if m % 2 else (times[m // 2 - 1] + times[m // 2]) / 2 if m else 0.0
print(med, arena_total())
"#;

fn time_tflm(python: &Path, model: &Path, inputs: &[PathBuf], n: usize) -> Result<(f64, usize)> {
    let out = python_cmd(python, model, inputs, n)
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "TFLM failed on {}: {}",
            model.display(),
            last_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let us: f64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .context("TFLM's timing")?;
    let arena: usize = words
        .next()
        .and_then(|w| w.parse().ok())
        .context("TFLM's arena")?;
    Ok((us, arena))
}

fn python_cmd(python: &Path, model: &Path, inputs: &[PathBuf], n: usize) -> std::process::Command {
    let mut cmd = std::process::Command::new(python);
    cmd.arg("-c").arg(TFLM_SCRIPT).arg(model).arg(n.to_string());
    cmd.args(inputs);
    cmd
}

fn callgrind_ours(model: &Path, kernels: Kernels, work: &Path) -> Result<u64> {
    let exe = std::env::current_exe().context("cannot find the tflm executable")?;
    let mut cmd = std::process::Command::new(&exe);
    cmd.args(["bench", "--invoke-loop", &CALLGRIND_INVOKES.to_string()])
        .args(["--kernels", kernels.as_str()])
        .arg(model);
    callgrind(cmd, "*invoke_loop_body*", work, "tflm")
}

fn callgrind_tflm(python: &Path, model: &Path, inputs: &[PathBuf], work: &Path) -> Result<u64> {
    let cmd = python_cmd(python, model, inputs, CALLGRIND_INVOKES - 2);
    callgrind(
        cmd,
        "tflite::micro::MicroInterpreter::Invoke()",
        work,
        "TFLM",
    )
}

/// Runs `cmd` under callgrind, collecting only inside `function`; the
/// instructions per invoke.
fn callgrind(cmd: std::process::Command, function: &str, work: &Path, who: &str) -> Result<u64> {
    let out_file = work.join(format!("callgrind.{who}.out"));
    let mut vg = std::process::Command::new("valgrind");
    vg.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(format!("--toggle-collect={function}"))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    let out = vg.output().context("cannot run valgrind")?;
    if !out.status.success() {
        bail!(
            "{who} under callgrind failed: {}",
            last_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let text = std::fs::read_to_string(&out_file)
        .with_context(|| format!("callgrind wrote no {}", out_file.display()))?;
    let total = callgrind_total(&text).context("no totals line in callgrind's output")?;
    if total == 0 {
        bail!("callgrind counted nothing inside {function}: was it inlined or renamed?");
    }
    Ok(total / CALLGRIND_INVOKES as u64)
}

/// The instruction total of a callgrind output file.
pub fn callgrind_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn check_python(python: &Path) -> Result<()> {
    let ok = std::process::Command::new(python)
        .args(["-c", "import tflite_micro"])
        .output()
        .map(|o| o.status.success());
    match ok {
        Ok(true) => Ok(()),
        Ok(false) => bail!(
            "{} has no tflite_micro: `pip install tflite-micro`, pass --python /path/to/venv/bin/python, or --no-tflm to bench tflm alone",
            python.display()
        ),
        Err(_) => bail!(
            "cannot run {}: install Python 3 with `pip install tflite-micro`, pass --python, or --no-tflm",
            python.display()
        ),
    }
}

fn check_valgrind() -> Result<()> {
    match std::process::Command::new("valgrind")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        _ => {
            bail!("valgrind is not installed: `apt-get install valgrind` (needed for --callgrind)")
        }
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)")
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("tflm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_read_from_callgrind_output() {
        let text = "version: 1\ncmd: x\nevents: Ir\nsummary: 1234\nfl=a\n0 5\ntotals: 1234\n";
        assert_eq!(callgrind_total(text), Some(1234));
        assert_eq!(callgrind_total("events: Ir\n"), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn ratios_need_both_sides() {
        let r = ModelBench {
            tflm_rs_us: 5.0,
            tflm_cc_us: Some(10.0),
            tflm_rs_instructions: Some(50),
            tflm_cc_instructions: Some(200),
            ..Default::default()
        };
        assert_eq!(r.time_ratio(), Some(0.5));
        assert_eq!(r.instruction_ratio(), Some(0.25));
        let alone = ModelBench::default();
        assert_eq!(alone.time_ratio(), None);
        assert!(render(&[alone]).contains(" - "));
    }
}
