//! Shared by the test firmware binaries: embedded test data and the code
//! that runs a model case through the interpreter and checks its outputs.
#![no_std]

use tflm_board::test::{Check, Suite, F};
use tflm_runtime::{Interpreter, Model, NoProfiler, OpResolver, Profiler};

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
    // Only the cases whose first input is of this type ("float32", "int8"
    // or "int16").
    ($op:literal, $class:literal) => {
        include!(concat!(
            env!("OUT_DIR"),
            "/vectors_",
            $op,
            "_",
            $class,
            ".rs"
        ))
    };
}

/// One model with inputs and the outputs TFLM gave for them.
pub struct Case {
    pub name: &'static str,
    /// The model, then each input, then each expected output, back to back,
    /// packed by `build.rs` (see [`unpack`]): the first case of an operator
    /// on its own, the others against the first case's bytes.
    pub packed: &'static [u8],
    /// Byte lengths of the model, of each input and of each output in `data`.
    pub model: usize,
    pub inputs: &'static [usize],
    pub outputs: &'static [usize],
    /// Per output: compare as f32 within `tolerance` (else bit for bit).
    pub float_outputs: &'static [bool],
    pub tolerance: f32,
}

/// Most bytes a case has, and most inputs or outputs (`build.rs` checks).
pub const CASE_DATA: usize = 2048;
pub const MAX_IO: usize = 4;

impl Case {
    /// The case's bytes, unpacked into `buf` against `dict`.
    pub fn bytes<'b>(&self, dict: &[u8], buf: &'b mut Arena<CASE_DATA>) -> Option<&'b [u8]> {
        let n = unpack(self.packed, dict, &mut buf.0)?;
        buf.0.get(..n)
    }
}

/// Undoes `build.rs`'s packing into `out`; the length, or `None` if the
/// data is damaged or `out` too small. Tokens: a byte `c < 0x80` and `c + 1`
/// literal bytes; or a byte `c >= 0x80` and a `u16` offset: copy
/// `(c & 0x7f) + 4` bytes from that far back, where the bytes before `out`
/// are those of `dict`.
pub fn unpack(src: &[u8], dict: &[u8], out: &mut [u8]) -> Option<usize> {
    let (mut i, mut n) = (0, 0);
    while let Some(&c) = src.get(i) {
        let c = c as usize;
        if c < 0x80 {
            let run = src.get(i + 1..i + 2 + c)?;
            out.get_mut(n..)?.get_mut(..run.len())?.copy_from_slice(run);
            (i, n) = (i + 2 + c, n + run.len());
        } else {
            let off = u16::from_le_bytes([*src.get(i + 1)?, *src.get(i + 2)?]) as usize;
            let mut from = (dict.len() + n).checked_sub(off)?;
            for _ in 0..(c & 0x7f) + 4 {
                let b = match from.checked_sub(dict.len()) {
                    Some(k) => *out.get(k)?,
                    None => *dict.get(from)?,
                };
                *out.get_mut(n)? = b;
                (n, from) = (n + 1, from + 1);
            }
            i += 3;
        }
    }
    Some(n)
}

/// `lens.len()` slices of `bytes` of those lengths, from the start; the rest.
fn split_off<'b>(
    bytes: &'b [u8],
    lens: &[usize],
    parts: &mut [&'b [u8]; MAX_IO],
) -> Option<&'b [u8]> {
    let mut rest = bytes;
    for (part, &len) in parts.iter_mut().zip(lens) {
        let (head, tail) = rest.split_at_checked(len)?;
        (*part, rest) = (head, tail);
    }
    (lens.len() <= MAX_IO).then_some(rest)
}

/// The model test: a model, inputs, and the outputs expected of it.
pub struct ModelTest {
    pub model: &'static [u8],
    pub inputs: &'static [&'static [u8]],
    pub expected: &'static [&'static [u8]],
    pub float_outputs: &'static [bool],
}

/// Arena for the kernel cases: every vector fits in this much (the largest
/// uses 1200 bytes). It lives on the stack with two `CASE_DATA` buffers, so
/// it is kept small for boards with 16 KiB of RAM.
pub const CASE_ARENA: usize = 2 * 1024;

/// Compares output `k` with what was expected; whether it matched.
/// `FLOAT`: whether float outputs can be compared within `tolerance`
/// (without it, every output is compared byte for byte, and no float
/// arithmetic or formatting is linked).
pub fn check_output<const FLOAT: bool>(
    c: &mut Check,
    actual: &[u8],
    expected: &[u8],
    float: bool,
    tolerance: f32,
) -> bool {
    if !(FLOAT && float) {
        return c.eq_bytes(actual, expected);
    }
    if !c.is_true(
        actual.len() == expected.len(),
        "output has the expected length",
    ) {
        tflm_board::println!("  {} bytes, expected {}", actual.len(), expected.len());
        return false;
    }
    let f = |b: &[u8]| f32::from_le_bytes(b.try_into().unwrap_or_default());
    for (i, (a, e)) in actual
        .chunks_exact(4)
        .zip(expected.chunks_exact(4))
        .enumerate()
    {
        let (a, e) = (f(a), f(e));
        let limit = tolerance * if e.abs() > 1.0 { e.abs() } else { 1.0 };
        if !c.is_true((a - e).abs() <= limit, "float output within tolerance") {
            tflm_board::println!("  element {i}: expected {}, got {}", F(e), F(a));
            return false;
        }
    }
    true
}

/// A runtime call's value, or a failure: with the error's text, or with
/// `COMPACT` only the step's name (which keeps the error texts and their
/// formatting, about 9 KiB, out of the model firmware).
#[track_caller]
fn checked<T, E: core::fmt::Display, const COMPACT: bool>(
    c: &mut Check,
    r: Result<T, E>,
    step: &str,
) -> Option<T> {
    if COMPACT {
        c.ok_terse(r, step)
    } else {
        c.ok(r)
    }
}

#[allow(clippy::too_many_arguments)]
/// Runs `model` on `inputs` in `arena`; checks the outputs. Returns the
/// arena bytes used, if it ran. `FLOAT`: see [`check_output`]. `COMPACT` is for the model firmware on
/// small parts: it leaves out the error texts and reads the model with
/// `Model::from_bytes_trusted`, since the host already read and ran it.
#[inline(never)]
pub fn run_model<R: OpResolver, P: Profiler, const COMPACT: bool, const FLOAT: bool>(
    c: &mut Check,
    resolver: &R,
    profiler: &mut P,
    arena: &mut [u8],
    model: &[u8],
    inputs: &[&[u8]],
    expected: &[&[u8]],
    float_outputs: &[bool],
    tolerance: f32,
    repeat: u32,
) -> Option<usize> {
    let model = checked::<_, _, COMPACT>(
        c,
        if COMPACT {
            Model::from_bytes_trusted(model)
        } else {
            Model::from_bytes(model)
        },
        "reading the model",
    )?;
    let mut interpreter = Interpreter::new(&model, resolver, arena);
    checked::<_, _, COMPACT>(c, interpreter.allocate_tensors(), "allocate_tensors")?;
    // With `repeat` > 1 a soak run: the same outputs on every invocation,
    // each after `reset()` (so a stateful model must give them too) and with
    // the inputs written again (the planner may reuse their bytes).
    for n in 0..repeat.max(1) {
        if n > 0 {
            checked::<_, _, COMPACT>(c, interpreter.reset(), "reset")?;
        }
        for (k, data) in inputs.iter().enumerate() {
            let view = checked::<_, _, COMPACT>(c, interpreter.input_mut(k), "input")?;
            if view.data.len() != data.len() {
                c.is_true(false, "input has the model's size");
                tflm_board::println!(
                    "  input {k}: {} bytes, model wants {}",
                    data.len(),
                    view.data.len()
                );
                return None;
            }
            view.data.copy_from_slice(data);
        }
        // One call for both cases: a second monomorphization of the
        // interpreter's loop would cost flash.
        checked::<_, _, COMPACT>(c, interpreter.invoke_with(profiler), "invoke")?;
        for (k, want) in expected.iter().enumerate() {
            let out = checked::<_, _, COMPACT>(c, interpreter.output(k), "output")?;
            let float = float_outputs.get(k).copied().unwrap_or(false);
            if !check_output::<FLOAT>(c, out.data, want, float, tolerance) {
                if repeat > 1 {
                    tflm_board::println!("  (invocation {} of {repeat})", n + 1);
                }
                return None;
            }
        }
    }
    Some(interpreter.arena_used_bytes())
}

/// Counts what each operator of one invocation takes on the board's
/// counter ([`tflm_board::counter`]), for `tflm test --model --profile`.
pub struct OpCounter<const N: usize> {
    started: u64,
    /// Counter units per operator index (indices past `N` are not kept).
    pub counts: [u64; N],
}

impl<const N: usize> OpCounter<N> {
    pub fn new() -> Self {
        if N > 0 {
            tflm_board::counter::start();
        }
        OpCounter {
            started: 0,
            counts: [0; N],
        }
    }

    /// Prints the counts as `tflm: profile_*` lines, which the host turns
    /// into instructions per operator with the calibration line.
    pub fn report(&self) {
        if let Some(units) = tflm_board::counter::calibrate() {
            tflm_board::println!(
                "tflm: profile_calibration={units}/{}",
                tflm_board::counter::CALIBRATION_INSTRUCTIONS
            );
        }
        for (i, n) in self.counts.iter().enumerate() {
            tflm_board::println!("tflm: profile_op={i}:{n}");
        }
    }
}

impl<const N: usize> Default for OpCounter<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts add up over every invocation (the host divides by their number).
/// With `N == 0` it does nothing and compiles to nothing.
impl<const N: usize> Profiler for OpCounter<N> {
    #[inline(always)]
    fn begin(&mut self, _: usize) {
        if N == 0 {
            return;
        }
        self.started = tflm_board::counter::now().unwrap_or(0);
    }

    #[inline(always)]
    fn end(&mut self, op_index: usize) {
        if N == 0 {
            return;
        }
        let now = tflm_board::counter::now().unwrap_or(0);
        if let Some(count) = self.counts.get_mut(op_index) {
            *count += now.saturating_sub(self.started);
        }
    }
}

/// Arena storage aligned to 16 bytes (a `u128` array is only 8-aligned on
/// Arm), so the arena bytes measured on the host are exactly enough here.
#[repr(C, align(16))]
pub struct Arena<const N: usize>(pub [u8; N]);

/// One test per case, each in a fresh interpreter in a `CASE_ARENA` arena.
pub fn run_vectors<R: OpResolver>(suite: &mut Suite, cases: &[Case], resolver: &R) {
    run_vectors_in::<R, CASE_ARENA>(suite, cases, resolver)
}

/// [`run_vectors`] with an arena of `A` bytes (on the stack), for kernels
/// that want more than the reference ones.
pub fn run_vectors_in<R: OpResolver, const A: usize>(
    suite: &mut Suite,
    cases: &[Case],
    resolver: &R,
) {
    let mut storage = Arena([0u8; A]);
    let arena: &mut [u8] = &mut storage.0;
    // The first case, unpacked once: the others are packed against it.
    let mut first = Arena([0u8; CASE_DATA]);
    let dict = match cases.first() {
        Some(case) => case.bytes(&[], &mut first).unwrap_or_default(),
        None => &[],
    };
    let mut buf = Arena([0u8; CASE_DATA]);
    for (k, case) in cases.iter().enumerate() {
        suite.test(case.name, |c| {
            let (mut inputs, mut outputs) = ([&[][..]; MAX_IO], [&[][..]; MAX_IO]);
            let bytes = match k {
                0 => Some(dict).filter(|d| !d.is_empty()),
                _ => case.bytes(dict, &mut buf),
            };
            let parts = bytes.and_then(|bytes| {
                let (model, rest) = bytes.split_at_checked(case.model)?;
                let rest = split_off(rest, case.inputs, &mut inputs)?;
                split_off(rest, case.outputs, &mut outputs)?;
                Some(model)
            });
            let Some(model) = parts else {
                c.is_true(false, "test vector unpacks");
                return;
            };
            run_model::<_, _, false, true>(
                c,
                resolver,
                &mut NoProfiler,
                arena,
                model,
                inputs.get(..case.inputs.len()).unwrap_or_default(),
                outputs.get(..case.outputs.len()).unwrap_or_default(),
                case.float_outputs,
                case.tolerance,
                1,
            );
        });
    }
}

/// A fixture stored as another fixture's bytes, cut to `len` and with a few
/// bytes replaced: the corrupt models, which are mostly one good model.
pub struct Patched {
    pub base: &'static [u8],
    pub len: usize,
    /// `(offset, byte)`: the bytes that differ from `base`.
    pub edits: &'static [(u32, u8)],
}

impl Patched {
    /// The fixture's bytes, rebuilt in `buf` (16-byte aligned, as a model
    /// must be); `None` if `buf` is too small.
    pub fn bytes<'b, const N: usize>(&self, buf: &'b mut Arena<N>) -> Option<&'b [u8]> {
        let out = buf.0.get_mut(..self.len)?;
        out.copy_from_slice(self.base.get(..self.len)?);
        for &(at, byte) in self.edits {
            *out.get_mut(at as usize)? = byte;
        }
        Some(out)
    }
}

/// The corrupt models of `fixtures/corrupt`, one function each
/// (`corrupt::bad_identifier()`), from `build.rs`.
#[macro_export]
macro_rules! corrupt_models {
    () => {
        include!(concat!(env!("OUT_DIR"), "/corrupt.rs"));
    };
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
