//! Shared by the test firmware binaries: embedded test data and the code
//! that runs a model case through the interpreter and checks its outputs.
#![no_std]

use tflm_board::test::{Check, Suite, F};
use tflm_runtime::{Interpreter, Model, OpResolver};

/// A file's bytes, 16-byte aligned (as a model must be for zero-copy weights).
#[macro_export]
macro_rules! aligned_bytes {
    ($path:expr) => {{
        #[repr(C, align(16))]
        struct Aligned<T: ?Sized>(T);
        static DATA: &Aligned<[u8]> = &Aligned(*include_bytes!($path));
        &DATA.0
    }};
}

/// The vectors of one operator (`vectors!("conv_2d")`), made by TFLM.
#[macro_export]
macro_rules! vectors {
    ($op:literal) => {
        include!(concat!(env!("OUT_DIR"), "/vectors_", $op, ".rs"))
    };
}

/// One model with inputs and the outputs TFLM gave for them.
pub struct Case {
    pub name: &'static str,
    pub model: &'static [u8],
    pub inputs: &'static [&'static [u8]],
    pub outputs: &'static [&'static [u8]],
    /// Per output: compare as f32 within `tolerance` (else bit for bit).
    pub float_outputs: &'static [bool],
    pub tolerance: f32,
}

/// The model test: a model, inputs, and the outputs expected of it.
pub struct ModelTest {
    pub model: &'static [u8],
    pub inputs: &'static [&'static [u8]],
    pub expected: &'static [&'static [u8]],
    pub float_outputs: &'static [bool],
}

/// Arena for the kernel cases: every vector fits in this much.
pub const CASE_ARENA: usize = 8 * 1024;

/// Compares output `k` with what was expected.
pub fn check_output(c: &mut Check, actual: &[u8], expected: &[u8], float: bool, tolerance: f32) {
    if !float {
        c.eq(actual, expected);
        return;
    }
    if !c.eq(&actual.len(), &expected.len()) {
        return;
    }
    let f = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (i, (a, e)) in actual
        .chunks_exact(4)
        .zip(expected.chunks_exact(4))
        .enumerate()
    {
        let (a, e) = (f(a), f(e));
        let limit = tolerance * if e.abs() > 1.0 { e.abs() } else { 1.0 };
        if !c.is_true((a - e).abs() <= limit, "float output within tolerance") {
            tflm_board::println!("  element {i}: expected {}, got {}", F(e), F(a));
            return;
        }
    }
}

#[allow(clippy::too_many_arguments)]
/// Runs `model` on `inputs` in `arena`; checks the outputs. Returns the
/// arena bytes used, if it ran.
#[inline(never)]
pub fn run_model<R: OpResolver>(
    c: &mut Check,
    resolver: &R,
    arena: &mut [u8],
    model: &[u8],
    inputs: &[&[u8]],
    expected: &[&[u8]],
    float_outputs: &[bool],
    tolerance: f32,
) -> Option<usize> {
    let model = c.ok(Model::from_bytes(model))?;
    let mut interpreter = Interpreter::new(&model, resolver, arena);
    c.ok(interpreter.allocate_tensors())?;
    for (k, data) in inputs.iter().enumerate() {
        let view = c.ok(interpreter.input_mut(k))?;
        if !c.eq(&view.data.len(), &data.len()) {
            return None;
        }
        view.data.copy_from_slice(data);
    }
    c.ok(interpreter.invoke())?;
    for (k, want) in expected.iter().enumerate() {
        let out = c.ok(interpreter.output(k))?;
        let float = float_outputs.get(k).copied().unwrap_or(false);
        check_output(c, out.data, want, float, tolerance);
    }
    Some(interpreter.arena_used_bytes())
}

/// Arena storage aligned to 16 bytes (a `u128` array is only 8-aligned on
/// Arm), so the arena bytes measured on the host are exactly enough here.
#[repr(C, align(16))]
pub struct Arena<const N: usize>(pub [u8; N]);

/// One test per case, each in a fresh interpreter in a `CASE_ARENA` arena.
pub fn run_vectors<R: OpResolver>(suite: &mut Suite, cases: &[Case], resolver: &R) {
    let mut storage = Arena([0u8; CASE_ARENA]);
    let arena: &mut [u8] = &mut storage.0;
    for case in cases {
        suite.test(case.name, |c| {
            run_model(
                c,
                resolver,
                arena,
                case.model,
                case.inputs,
                case.outputs,
                case.float_outputs,
                case.tolerance,
            );
        });
    }
}

/// The data of an `.npy` file embedded whole (after its header).
pub fn npy_payload(file: &[u8]) -> &[u8] {
    let start = match file.get(6) {
        Some(1) if file.len() >= 10 => 10 + u16::from_le_bytes([file[8], file[9]]) as usize,
        Some(_) if file.len() >= 12 => {
            12 + u32::from_le_bytes([file[8], file[9], file[10], file[11]]) as usize
        }
        _ => return &[],
    };
    file.get(start..).unwrap_or(&[])
}

/// A fixture file of the repository, embedded and 16-byte aligned.
#[macro_export]
macro_rules! fixture {
    ($rel:literal) => {
        $crate::aligned_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/",
            $rel
        ))
    };
}
