//! Optimized int8 kernels, bit-exact with the reference ones.
//!
//! Each kernel here replaces a reference kernel for one operator (register
//! it in an op resolver, or use [`crate::resolver::FastOpsResolver`]). They
//! compute the same integers as the reference kernels, faster:
//!
//! - what depends only on constants is worked out in `prepare`; the input
//!   offset (`-zp`) is added to each input as the dot products read it
//!   (`x - zp` and its product with an int8 weight fit in 16 bits, so this
//!   costs about nothing), ADD's input rescaling becomes two 256-entry
//!   tables, built at each `eval` in the first 2 KiB of its own output
//!   (then overwritten by direct computation) when the tensors are large;
//! - they need no more arena than the reference kernels do, about: no
//!   per-channel copies of anything (a folded bias would cost 4 bytes per
//!   output channel), and what is only needed during `eval` lives in
//!   scratch (the planner shares it between operators) or in the output;
//! - the inner loops are dot products or element-wise sums over contiguous
//!   slices, written with iterators so that the compiler vectorizes them and
//!   leaves out the bounds checks.
//!
//! `prepare` first runs the reference kernel's `prepare` as a dry run (it
//! keeps nothing), so a fast kernel accepts and refuses exactly what the
//! reference kernel does. Types other than int8 run the reference kernel.
//!
//! Each kernel also comes as `KERNEL_INT8_ONLY`, for firmware whose model
//! uses the operator on int8 tensors alone: it refuses other types in
//! `prepare` (as the reference int8-only kernels do) instead of running the
//! reference kernel, so no reference float32 or int16 code is linked with
//! it. Where the reference has an int8-only kernel, that one does the
//! checks and the refusing.
//!
//! On ARM cores with the DSP extension (Cortex-M4/M7), built with
//! the `dsp` feature, the int8 dot product uses `SMLAD` (module `dsp`).
//!
//! Integer sums wrap as the reference kernels' do, and a wrapping sum does
//! not depend on the order of its terms, so reordering and folding keep the
//! results bit-exact even where an int32 accumulator would overflow.

pub mod add;
pub mod average_pool_2d;
pub mod conv_2d;
pub mod depthwise_conv_2d;
#[cfg(all(target_arch = "arm", any(target_feature = "dsp", feature = "dsp")))]
mod dsp;
pub mod fully_connected;

use crate::kernel::{Kernel, KernelError, Persistent, PrepareContext, PreparedOp};
use crate::schema::{op, BuiltinOperator};

/// The fast kernels, by the operator they run: the kernel, and the one for
/// int8 tensors alone (see the module comment), as [`crate::kernels::INT8`]
/// lists them.
pub const FAST: &[(BuiltinOperator, Kernel, Option<Kernel>)] = &[
    (op::ADD, add::KERNEL, Some(add::KERNEL_INT8_ONLY)),
    (
        op::AVERAGE_POOL_2D,
        average_pool_2d::KERNEL,
        Some(average_pool_2d::KERNEL_INT8_ONLY),
    ),
    (
        op::CONV_2D,
        conv_2d::KERNEL,
        Some(conv_2d::KERNEL_INT8_ONLY),
    ),
    (
        op::DEPTHWISE_CONV_2D,
        depthwise_conv_2d::KERNEL,
        Some(depthwise_conv_2d::KERNEL_INT8_ONLY),
    ),
    (
        op::FULLY_CONNECTED,
        fully_connected::KERNEL,
        Some(fully_connected::KERNEL_INT8_ONLY),
    ),
];

/// Persistent memory that has none: a dry run's per-op data goes nowhere.
struct NoMemory;

impl Persistent for NoMemory {
    fn reserve(&mut self, _len: usize) -> Option<usize> {
        None
    }

    fn bytes_mut(&mut self, _offset: usize, _len: usize) -> Option<&mut [u8]> {
        None
    }
}

/// Runs `reference`'s `prepare` for its checks alone: its per-op data and
/// scratch requests are dropped, so the fast kernel can then allocate its
/// own.
fn check_with(reference: &Kernel, ctx: &PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let mut prepared = PreparedOp::default();
    let mut dry = PrepareContext {
        model: ctx.model,
        op: ctx.op,
        inputs: ctx.inputs,
        outputs: ctx.outputs,
        tensor: ctx.tensor,
        persistent: &mut NoMemory,
        prepared: &mut prepared,
    };
    (reference.prepare)(&mut dry)
}

#[cfg(all(target_arch = "arm", any(target_feature = "dsp", feature = "dsp")))]
use dsp::dot_offset_i8;

/// `sum((x[i] + offset) * w[i])`, wrapping: the dot product with the
/// input offset (`-zero_point`) added to each input, so no folded bias has
/// to be kept. For an int8 zero point the offset is in -127..=128, so
/// `x + offset` fits in i16 and the products are plain 16-bit multiplies
/// that LLVM vectorizes (widening multiply-adds on the host).
#[cfg(not(all(target_arch = "arm", any(target_feature = "dsp", feature = "dsp"))))]
#[inline]
fn dot_offset_i8(x: &[i8], w: &[i8], offset: i16) -> i32 {
    x.iter()
        .zip(w)
        .map(|(&x, &w)| i32::from(i16::from(x).wrapping_add(offset)) * i32::from(w))
        .fold(0i32, i32::wrapping_add)
}

/// Four [`dot_offset_i8`]s of `x` with `w[k]` (each at least as long as
/// `x`) in one pass over `x`, which saves loads and loop overhead for short
/// rows.
#[cfg(not(all(target_arch = "arm", any(target_feature = "dsp", feature = "dsp"))))]
#[inline]
fn dot4_offset_i8(x: &[i8], w: [&[i8]; 4], offset: i16) -> [i32; 4] {
    let n = x.len();
    let (Some(w0), Some(w1), Some(w2), Some(w3)) =
        (w[0].get(..n), w[1].get(..n), w[2].get(..n), w[3].get(..n))
    else {
        return w.map(|w| dot_offset_i8(x, w, offset));
    };
    let mut acc = [0i32; 4];
    for i in 0..n {
        let v = i32::from(i16::from(x[i]).wrapping_add(offset));
        acc[0] = acc[0].wrapping_add(v * i32::from(w0[i]));
        acc[1] = acc[1].wrapping_add(v * i32::from(w1[i]));
        acc[2] = acc[2].wrapping_add(v * i32::from(w2[i]));
        acc[3] = acc[3].wrapping_add(v * i32::from(w3[i]));
    }
    acc
}

/// With the DSP path: four of its offset dot products.
#[cfg(all(target_arch = "arm", any(target_feature = "dsp", feature = "dsp")))]
#[inline]
fn dot4_offset_i8(x: &[i8], w: [&[i8]; 4], offset: i16) -> [i32; 4] {
    w.map(|w| dot_offset_i8(x, w, offset))
}

/// The input offset as [`dot_offset_i8`] takes it; `None` outside i16
/// (never for an int8 zero point).
fn offset_i16(offset: i32) -> Option<i16> {
    i16::try_from(offset).ok()
}

/// Sum of the values, wrapping.
#[inline]
fn sum_i8(a: &[i8]) -> i32 {
    a.iter()
        .map(|&x| i32::from(x))
        .fold(0i32, i32::wrapping_add)
}

/// Channels handled together by the depthwise and pooling loops: their
/// accumulators live on the stack.
const BLOCK: usize = 64;

/// Test support: runs one-operator models with a given kernel, and random
/// data.
#[cfg(test)]
pub(crate) mod testing {
    use crate::kernel::Kernel;
    use crate::testing::OpTest;
    use std::vec::Vec;

    /// The outputs of `test` run with `kernel`, or the error text.
    pub fn run(kernel: Kernel, test: OpTest) -> Result<Vec<Vec<u8>>, std::string::String> {
        test.run_kernel(kernel)
            .map(|o| o.data)
            .map_err(|e| std::format!("{e}"))
    }

    /// Runs `make()` with both kernels and checks that they agree: the
    /// same bytes, or both an error. True when they ran.
    pub fn same(fast: Kernel, reference: Kernel, make: impl Fn() -> OpTest, what: &str) -> bool {
        let want = run(reference, make());
        let got = run(fast, make());
        match (&want, &got) {
            (Ok(w), Ok(g)) => {
                assert!(w == g, "{what}: outputs differ");
                true
            }
            (Err(_), Err(_)) => false,
            _ => panic!("{what}: reference {want:?}, fast {got:?}"),
        }
    }

    /// Compares the kernels with [`same`] on `cases(native)` random tests,
    /// `make(seed)` each; returns how many ran (rather than both refusing).
    pub fn same_on_random<F: Fn() -> OpTest>(
        fast: Kernel,
        reference: Kernel,
        native: u64,
        make: impl Fn(u64) -> F,
    ) -> usize {
        let seeds = 0..cases(native);
        let ran =
            seeds.filter(|&seed| same(fast, reference, make(seed), &std::format!("seed {seed}")));
        ran.count()
    }

    /// Checks that the int8-only `kernel` refuses `test` (another type) as
    /// the reference int8-only kernels do.
    pub fn refused_as_not_int8(kernel: Kernel, test: OpTest) {
        let err = run(kernel, test).unwrap_err();
        assert!(err.contains("int8-only"), "{err}");
    }

    /// How many random cases to compare: all natively, the first few under
    /// Miri (some thousand times slower), so its checks still reach the code.
    pub fn cases(native: u64) -> u64 {
        if cfg!(miri) {
            6
        } else {
            native
        }
    }

    /// Whether enough of the random cases ran (rather than both kernels
    /// refusing them): more than `native_min` natively, any under Miri.
    pub fn enough(ran: usize, native_min: usize) -> bool {
        if cfg!(miri) {
            ran > 0
        } else {
            ran > native_min
        }
    }

    /// A small deterministic generator (xorshift), so failures repeat.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// In `lo..=hi`.
        pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }

        pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
            from[self.next() as usize % from.len()]
        }

        pub fn i8s(&mut self, n: usize) -> Vec<i8> {
            (0..n).map(|_| self.next() as i8).collect()
        }

        pub fn i32s(&mut self, n: usize, lo: i64, hi: i64) -> Vec<i32> {
            (0..n).map(|_| self.range(lo, hi) as i32).collect()
        }

        /// A scale between about 2^-10 and 2^-2.
        pub fn scale(&mut self) -> f32 {
            let m = 1.0 + (self.next() % 1000) as f32 / 1000.0;
            m * (2.0f32).powi(-(self.range(2, 10) as i32))
        }

        /// A zero point, often an extreme one.
        pub fn zero_point(&mut self) -> i64 {
            match self.next() % 4 {
                0 => -128,
                1 => 127,
                _ => self.range(-128, 127),
            }
        }
    }
}
