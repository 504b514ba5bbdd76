//! The int8 dot product with ARMv7E-M's DSP instructions (Cortex-M4, M7,
//! and M33/M55 cores that have the DSP extension).
//!
//! LLVM does not form `SMLAD` from an int8 dot product (its ARM parallel-DSP
//! pass only pairs 16-bit loads): on `thumbv7em-none-eabihf` the portable
//! loop becomes `ldrsb, ldrsb, smlabb` per product. Here four bytes of each
//! operand are loaded as one word, `SXTB16` spreads bytes 0 and 2 (and,
//! rotated, 1 and 3) into two 16-bit halves (`SXTAB16`, for the input, also
//! adds the input offset), and `SMLAD` adds both halves' products to the
//! accumulator: 8 instructions for 4 products instead of 12.
//! `SMLAD`'s sum wraps modulo 2^32 like the portable loop's (it only sets
//! the sticky Q flag, which nothing reads), so the results are the same.
//!
//! Compiled in only for ARM targets with the DSP extension. Stable Rust does
//! not expose ARM's `dsp` target feature to `cfg`, so firmware for such a
//! core asks for this path with the runtime's `dsp` feature (the target
//! table's `features = ["dsp"]` does it for `tflm test`).

#![allow(unsafe_code)]

/// Adds `(x[0]+o)*w[0] + (x[2]+o)*w[2]` and `(x[1]+o)*w[1] + (x[3]+o)*w[3]`
/// (bytes as int8, `o` the offset in both halves of `offset`) to `acc`,
/// wrapping. `SXTAB16` sign-extends and adds the offset in one
/// instruction; `x + o` is in -255..=255 for an int8 zero point, so the
/// 16-bit halves hold it exactly.
#[inline(always)]
fn mac4_offset(x: u32, w: u32, offset: u32, acc: i32) -> i32 {
    let sum: i32;
    // SAFETY: SXTAB16, SXTB16 and SMLAD exist on every core this module is
    // compiled for (ARMv7E-M DSP extension, see the `cfg` in `fast/mod.rs`).
    // The block only reads and writes the named registers: no memory, no
    // stack; it may set the APSR Q flag, which compiled Rust never reads.
    unsafe {
        core::arch::asm!(
            "sxtab16 {xe}, {off}, {x}",
            "sxtab16 {xo}, {off}, {x}, ror #8",
            "sxtb16 {we}, {w}",
            "sxtb16 {wo}, {w}, ror #8",
            "smlad {acc}, {xe}, {we}, {acc}",
            "smlad {acc}, {xo}, {wo}, {acc}",
            x = in(reg) x,
            w = in(reg) w,
            off = in(reg) offset,
            xe = out(reg) _,
            xo = out(reg) _,
            we = out(reg) _,
            wo = out(reg) _,
            acc = inout(reg) acc => sum,
            options(pure, nomem, nostack),
        );
    }
    sum
}

/// `sum((a[i] + offset) * b[i])` over the common length, wrapping.
/// Kept out of line: inlined into the int8-only FULLY_CONNECTED (its only
/// caller there) at `opt-level = "z"` its loop came out 13 % slower on the
/// Cortex-M4 (ad01: 61,680 -> 69,800 instructions for one layer; 63,520
/// out of line).
#[inline(never)]
pub(super) fn dot_offset_i8(a: &[i8], b: &[i8], offset: i16) -> i32 {
    let n = a.len().min(b.len());
    let (a, b): (&[u8], &[u8]) = (bytemuck::cast_slice(&a[..n]), bytemuck::cast_slice(&b[..n]));
    let (words_a, words_b) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail = words_a
        .remainder()
        .iter()
        .zip(words_b.remainder())
        .map(|(&x, &w)| (i32::from(x as i8) + i32::from(offset)) * i32::from(w as i8))
        .fold(0i32, i32::wrapping_add);
    let half = u32::from(offset as u16);
    let both = (half << 16) | half;
    let word = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    words_a
        .zip(words_b)
        .fold(tail, |acc, (x, w)| mac4_offset(word(x), word(w), both, acc))
}
