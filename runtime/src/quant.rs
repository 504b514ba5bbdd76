//! Fixed-point quantization arithmetic, bit-exact with TensorFlow Lite for
//! Microcontrollers' reference kernels.
//!
//! Everything an int8 / int16 kernel needs to turn real-valued scales into
//! integer multipliers and to apply them: [`quantize_multiplier`],
//! [`multiply_by_quantized_multiplier`] and friends, the fused-activation
//! clamping ranges, and the gemmlowp-style fixed-point maths behind the
//! quantized SOFTMAX ([`FixedPoint`], [`exp_on_negative_values`],
//! [`softmax_int8_row`]).
//!
//! # Rounding mode
//!
//! TFLite can be built with `TFLITE_SINGLE_ROUNDING`, which changes how
//! `MultiplyByQuantizedMultiplier` rounds. TFLM never defines it (not in its
//! Makefile, Bazel or the `tflite-micro` Python package), so its kernels use
//! the *double-rounding* form: a rounding doubling high multiply followed by a
//! rounding right shift. That is what [`multiply_by_quantized_multiplier`]
//! does; the single-rounding form is available separately as
//! [`multiply_by_quantized_multiplier_single_rounding`] but no TFLM kernel
//! uses it.
//!
//! # Overflow
//!
//! TFLM's C++ relies on two's-complement wrap-around in a few places (and
//! calls it undefined behaviour). Here those spots wrap explicitly, so
//! nothing in this module panics, in debug or release, whatever the inputs:
//! out-of-contract arguments give a deterministic but unspecified result.

use crate::schema::Activation;
use core::ops::{Add, BitAnd, Neg, Sub};

pub use libm::{ceilf, expf, floorf, logf, sqrtf, tanhf};

/// Why a quantization parameter could not be computed, where TFLM would fail
/// `Prepare` or abort on a `TFLITE_CHECK`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantError {
    /// A real multiplier was outside the range the function requires (for
    /// example `<= 1` for [`quantize_multiplier_greater_than_one`]).
    MultiplierOutOfRange,
    /// Quantizing an activation bound (`zero_point + round(x / scale)`) does
    /// not fit in `i32`, or the scale is zero / NaN.
    ActivationRangeOverflow,
    /// The softmax output shift fell outside `0..=31`: with int8 output, the
    /// row's exponentials sum to 512 or more (e.g. 512 entries equal to the
    /// row maximum). TFLM aborts in that case.
    SoftmaxRowTooLong,
    /// Input and output slices have different lengths.
    LengthMismatch,
}

impl core::fmt::Display for QuantError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            QuantError::MultiplierOutOfRange => text!("real multiplier out of range"),
            QuantError::ActivationRangeOverflow => text!("activation bound does not quantize"),
            QuantError::SoftmaxRowTooLong => text!("softmax row too long for fixed-point sum"),
            QuantError::LengthMismatch => text!("input and output lengths differ"),
        })
    }
}

// ---------------------------------------------------------------------------
// Float helpers (no_std has no f32::round etc.)
// ---------------------------------------------------------------------------

/// Rounds half away from zero, like C's `roundf` (TFLite's `TfLiteRound`).
#[inline]
pub fn round_f32(x: f32) -> f32 {
    libm::roundf(x)
}

/// Rounds half away from zero, like C's `round`.
#[inline]
pub fn round_f64(x: f64) -> f64 {
    libm::round(x)
}

// ---------------------------------------------------------------------------
// Integer primitives
// ---------------------------------------------------------------------------

/// `x * 2^shift` with two's-complement wrap-around, as the C++ `x * (1 <<
/// shift)` behaves in practice. Shifts of 32 or more give 0.
#[inline]
fn shl_wrapping(x: i32, shift: i32) -> i32 {
    if (0..32).contains(&shift) {
        x.wrapping_shl(shift as u32)
    } else {
        0
    }
}

/// `a * b / 2^31` (the high half of the doubled product), rounded to
/// nearest with ties towards +infinity, saturating the one overflowing case
/// `i32::MIN * i32::MIN` to `i32::MAX`. This is ARM's `VQRDMULH` and
/// gemmlowp's `SaturatingRoundingDoublingHighMul`.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = i64::from(a) * i64::from(b);
    // Add half an output unit (just under half for negative products), then
    // truncate towards zero: round to nearest, ties upward.
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    let v = ab + nudge;
    // `v / 2^31` truncated towards zero, written as shifts: at opt-level
    // "z" LLVM calls the 64-bit division routine for the plain `/` on
    // 32-bit Arm (slow, and 1 KiB of flash).
    ((v + ((v >> 63) & ((1 << 31) - 1))) >> 31) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero (a rounding
/// arithmetic right shift). `exponent` must be in `0..=31`; values outside are
/// clamped to that range.
#[inline]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let e = exponent.clamp(0, 31) as u32;
    let mask = ((1i64 << e) - 1) as i32;
    let remainder = x & mask;
    // The shift floors, so a negative tie already lands away from zero: for
    // negative x only a remainder strictly above one half rounds up.
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> e) + i32::from(remainder > threshold)
}

/// `x * 2^exponent`: for a positive exponent a left shift saturating to
/// `i32::MIN..=i32::MAX`, for a negative one a [`rounding_divide_by_pot`].
/// (gemmlowp's `SaturatingRoundingMultiplyByPOT`, TFLite's
/// `SaturatingRoundingMultiplyByPOTParam`.)
#[inline]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        // Shifting by 31 already saturates every non-zero value.
        let wide = i64::from(x) << exponent.min(31);
        wide.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    } else if exponent < 0 {
        rounding_divide_by_pot(x, exponent.saturating_neg())
    } else {
        x
    }
}

/// `(a + b) / 2` rounded to nearest, ties away from zero, without overflow
/// (gemmlowp's `RoundingHalfSum`).
#[inline]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    let v = sum + sign;
    // `v / 2` truncated towards zero, as shifts (see
    // `saturating_rounding_doubling_high_mul`).
    ((v + ((v >> 63) & 1)) >> 1) as i32
}

// ---------------------------------------------------------------------------
// Multipliers
// ---------------------------------------------------------------------------

/// Splits a real multiplier into a Q0.31 significand and a power-of-two
/// shift, so that `real ≈ multiplier * 2^(shift - 31)`, exactly as TFLite's
/// `QuantizeMultiplier`:
///
/// * `0.0` gives `(0, 0)`;
/// * the significand is `round(frac * 2^31)` (half away from zero) where
///   `real = frac * 2^shift`, `0.5 <= |frac| < 1` (C's `frexp`);
/// * if that rounds up to `2^31`, it is halved and the shift incremented;
/// * if the shift is below `-31` (`|real| < ~2^-32`), the result is flushed
///   to `(0, 0)`.
///
/// A negative `real` gives a negative multiplier, as in TFLite (no kernel
/// uses one). NaN and infinities, where TFLite's result is undefined, give
/// `(0, 0)`.
///
/// Computed on the bits of `real`, with no floating-point operation: `frac`
/// is `m / 2^53` for the 53-bit significand `m`, so `frac * 2^31` is
/// `m / 2^22` exactly and rounding it is integer arithmetic. The result is
/// the one `frexp` and `round` give (the tests check it against them), and
/// firmware needs no soft-float routines for it.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 || !real.is_finite() {
        return (0, 0);
    }
    let bits = real.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    // `|real| = m * 2^(shift - 53)` with `2^52 <= m < 2^53` (C's `frexp`).
    let (m, mut shift) = if biased == 0 {
        // Subnormal: normalize the fraction (non-zero, as `real` is).
        let lz = fraction.leading_zeros() as i32 - 11;
        (fraction << lz, -1021 - lz)
    } else {
        (fraction | (1 << 52), biased - 1022)
    };
    // round(m / 2^22), half away from zero, with the sign of `real`.
    let magnitude = ((m + (1 << 21)) >> 22) as i64;
    let mut q_fixed = if bits >> 63 != 0 {
        -magnitude
    } else {
        magnitude
    };
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    (q_fixed as i32, shift)
}

/// [`quantize_multiplier`] as TFLite builds it with `TFLITE_SINGLE_ROUNDING`:
/// identical, except a shift above 30 saturates to `(i32::MAX, 30)`. Pair it
/// with [`multiply_by_quantized_multiplier_single_rounding`]; TFLM's default
/// build uses neither.
pub fn quantize_multiplier_single_rounding(real: f64) -> (i32, i32) {
    let (m, shift) = quantize_multiplier(real);
    if shift > 30 {
        (i32::MAX, 30)
    } else {
        (m, shift)
    }
}

/// TFLite's `QuantizeMultiplierSmallerThanOneExp` (used by ADD / SUB):
/// [`quantize_multiplier`] for `0 < real < 1`, returning `(multiplier,
/// shift)` with `shift <= 0`. Outside that range TFLM aborts; this returns
/// [`QuantError::MultiplierOutOfRange`].
pub fn quantize_multiplier_smaller_than_one_exp(real: f64) -> Result<(i32, i32), QuantError> {
    if !(real > 0.0 && real < 1.0) {
        return Err(QuantError::MultiplierOutOfRange);
    }
    let (m, shift) = quantize_multiplier(real);
    // A value just below 1 can round up to a significand of 2^31, which
    // becomes shift 1: TFLM's check rejects that too.
    if shift > 0 {
        return Err(QuantError::MultiplierOutOfRange);
    }
    Ok((m, shift))
}

/// TFLite's `QuantizeMultiplierGreaterThanOne` (used by SOFTMAX):
/// [`quantize_multiplier`] for `real > 1`, returning `(multiplier,
/// left_shift)` with `left_shift >= 0`. Otherwise
/// [`QuantError::MultiplierOutOfRange`] (TFLM aborts).
pub fn quantize_multiplier_greater_than_one(real: f64) -> Result<(i32, i32), QuantError> {
    // `real > 1.0` on the bits (positive finite values order as their
    // bits do), which keeps soft-float comparisons out of firmware.
    let positive = real.to_bits() >> 63 == 0;
    if !(real.is_finite() && positive && real.to_bits() > 1.0f64.to_bits()) {
        return Err(QuantError::MultiplierOutOfRange);
    }
    let (m, shift) = quantize_multiplier(real);
    if shift < 0 {
        return Err(QuantError::MultiplierOutOfRange);
    }
    Ok((m, shift))
}

/// Effective output scale of CONV_2D, DEPTHWISE_CONV_2D and per-channel
/// FULLY_CONNECTED: `input_scale * filter_scale / output_scale`, each
/// widened to `f64` first (TFLite's `PopulateConvolutionQuantizationParams`).
/// Feed it to [`quantize_multiplier`].
///
/// Computed exactly in integers, with no floating-point operation, so that
/// firmware carries no soft-float `f64` routines for it: the product of two
/// `f32` values is exact in `f64` (48 significant bits), and the quotient is
/// rounded to nearest-even as the `f64` division rounds it. The result is
/// bit for bit the one of the `f64` expression (the tests check it on
/// millions of inputs, special values included).
pub fn conv_effective_scale(input_scale: f32, filter_scale: f32, output_scale: f32) -> f64 {
    let (a, b, c) = (input_scale, filter_scale, output_scale);
    let negative = a.is_sign_negative() ^ b.is_sign_negative() ^ c.is_sign_negative();
    let signed = |v: f64| if negative { -v } else { v };
    // IEEE special cases of `(a * b) / c`.
    let product_infinite = a.is_infinite() || b.is_infinite();
    let product_zero = a == 0.0 || b == 0.0;
    if a.is_nan() || b.is_nan() || c.is_nan() || (product_infinite && product_zero) {
        return f64::NAN;
    }
    if product_infinite {
        return if c.is_infinite() {
            f64::NAN
        } else {
            signed(f64::INFINITY)
        };
    }
    if product_zero || c.is_infinite() {
        return if c == 0.0 { f64::NAN } else { signed(0.0) };
    }
    if c == 0.0 {
        return signed(f64::INFINITY);
    }
    // Finite and non-zero: each is m * 2^e with m < 2^24.
    let split = |x: f32| {
        let bits = x.to_bits();
        let biased = ((bits >> 23) & 0xff) as i32;
        let m = bits & 0x7f_ffff;
        if biased == 0 {
            (m, -149)
        } else {
            (m | 0x80_0000, biased - 150)
        }
    };
    let ((ma, ea), (mb, eb), (mc, ec)) = (split(a), split(b), split(c));
    let dividend = u64::from(ma) * u64::from(mb);
    let bits = 64 - dividend.leading_zeros();
    // Long division of `dividend` (then zeros) by `mc`, one bit at a time,
    // until the quotient has 55 bits: 53 kept, a rounding bit and one more.
    let (mut q, mut r, mut taken) = (0u64, 0u32, 0u32);
    while q < 1 << 54 {
        let bit = if taken < bits {
            (dividend >> (bits - 1 - taken)) as u32 & 1
        } else {
            0
        };
        r = (r << 1) | bit;
        q <<= 1;
        if r >= mc {
            r -= mc;
            q |= 1;
        }
        taken += 1;
    }
    // dividend / mc = (q + r / mc) * 2^(bits - taken). Round to nearest,
    // ties to even; `r` is the sticky remainder.
    let mut m = q >> 2;
    let low = q & 3;
    if low > 2 || (low == 2 && (r != 0 || m & 1 == 1)) {
        m += 1;
    }
    let mut e = bits as i32 - taken as i32 + 2 + ea + eb - ec;
    if m == 1 << 53 {
        m >>= 1;
        e += 1;
    }
    // value = m * 2^e with 2^52 <= m < 2^53; for f32 inputs it lies between
    // 2^-426 and 2^405, well inside the normal f64 range.
    let biased = (e + 52 + 1023) as u64;
    signed(f64::from_bits((biased << 52) | (m & ((1 << 52) - 1))))
}

/// Effective output scale of per-tensor FULLY_CONNECTED. The same `f64`
/// product as [`conv_effective_scale`]: TFLM's published source
/// (`GetQuantizedConvolutionMultipler`) multiplies the two scales in `f32`
/// before widening, but the `tflite-micro` package this project checks
/// against does not: its outputs match the `f64` product and not the `f32`
/// one where the two differ (see `fc_scale_is_an_f64_product` in the tests).
#[inline]
pub fn fc_per_tensor_effective_scale(
    input_scale: f32,
    filter_scale: f32,
    output_scale: f32,
) -> f64 {
    conv_effective_scale(input_scale, filter_scale, output_scale)
}

/// Applies a quantized multiplier from [`quantize_multiplier`]: `x *
/// multiplier * 2^(shift - 31)`, rounded the way TFLM's default
/// (double-rounding) `MultiplyByQuantizedMultiplier` does: a positive shift
/// is applied first as a wrapping left shift, then
/// [`saturating_rounding_doubling_high_mul`], then a negative shift as a
/// [`rounding_divide_by_pot`].
#[inline]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = shift.max(0);
    let right_shift = shift.min(0).saturating_neg();
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shl_wrapping(x, left_shift), multiplier),
        right_shift,
    )
}

/// The `int64_t` overload of TFLM's `MultiplyByQuantizedMultiplier`, used by
/// the 16x8 kernels (int16 activations, int64 accumulators). It first rounds
/// the multiplier to 16 bits, then does a single rounding shift; TFLM has the
/// same code with and without `TFLITE_SINGLE_ROUNDING`.
///
/// Contract, as TFLM's: `multiplier >= 0`, `-31 <= shift <= 7`,
/// `|x| < 2^47`; the result is truncated to `i32`.
#[inline]
pub fn multiply_by_quantized_multiplier_i64(x: i64, multiplier: i32, shift: i32) -> i32 {
    let reduced: i64 = if multiplier < 0x7FFF_0000 {
        i64::from((multiplier + (1 << 15)) >> 16)
    } else {
        0x7FFF
    };
    let total_shift = (15 - i64::from(shift)).clamp(1, 63) as u32;
    let round = 1i64 << (total_shift - 1);
    (x.wrapping_mul(reduced).wrapping_add(round) >> total_shift) as i32
}

/// TFLite's single-rounding `MultiplyByQuantizedMultiplier` (built with
/// `TFLITE_SINGLE_ROUNDING`): `(x * multiplier + 2^(30 - shift)) >> (31 -
/// shift)` in 64 bits. **Not** what TFLM's kernels do; provided for
/// comparison. Contract: `multiplier >= 0`, `-31 <= shift <= 30`.
#[inline]
pub fn multiply_by_quantized_multiplier_single_rounding(
    x: i32,
    multiplier: i32,
    shift: i32,
) -> i32 {
    let total_shift = (31 - i64::from(shift)).clamp(1, 63) as u32;
    let round = 1i64 << (total_shift - 1);
    ((i64::from(x) * i64::from(multiplier)).wrapping_add(round) >> total_shift) as i32
}

/// TFLM's `MultiplyByQuantizedMultiplierSmallerThanOneExp` (ADD, SUB):
/// [`saturating_rounding_doubling_high_mul`] then a rounding right shift by
/// `-left_shift` (`left_shift <= 0`, from
/// [`quantize_multiplier_smaller_than_one_exp`]).
#[inline]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, multiplier),
        left_shift.saturating_neg(),
    )
}

/// TFLM's `MultiplyByQuantizedMultiplierGreaterThanOne` (SOFTMAX): a
/// wrapping left shift by `left_shift >= 0`, then
/// [`saturating_rounding_doubling_high_mul`].
#[inline]
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    saturating_rounding_doubling_high_mul(shl_wrapping(x, left_shift), multiplier)
}

// ---------------------------------------------------------------------------
// Activation ranges
// ---------------------------------------------------------------------------

/// `zero_point + round(f / scale)` in `f32`, as TFLite's activation-range
/// code quantizes a bound; `None` where TFLite refuses (the rounded value is
/// not within `i32`'s range, which includes NaN from a zero scale).
fn quantize_bound(f: f32, scale: f32, zero_point: i32) -> Option<i32> {
    let q = round_f32(f / scale);
    // Same bounds as TFLite: -2^31 and (float)INT32_MAX, which is 2^31.
    if !(q >= i32::MIN as f32 && q <= i32::MAX as f32) {
        return None;
    }
    Some(zero_point.saturating_add(q as i32))
}

/// The quantized clamp range `(min, max)` for a fused activation, as
/// TFLite's `CalculateActivationRangeQuantized`: RELU clamps below at
/// `zero_point + round(0 / scale)`, RELU6 also above at `zero_point +
/// round(6 / scale)`, RELU_N1_TO_1 at the quantized -1 and 1 (rounding in
/// `f32`, half away from zero), each intersected with `qmin..=qmax` (the
/// output type's range: -128..=127 for int8, -32768..=32767 for int16).
/// NONE, TANH and SIGN_BIT give `(qmin, qmax)`.
///
/// Returns [`QuantError::ActivationRangeOverflow`] where TFLM fails
/// `Prepare` (a bound that does not fit in `i32`, e.g. a zero scale).
pub fn try_activation_range_quantized(
    activation: Activation,
    output_zero_point: i32,
    output_scale: f32,
    qmin: i32,
    qmax: i32,
) -> Result<(i32, i32), QuantError> {
    let q = |f: f32| {
        quantize_bound(f, output_scale, output_zero_point)
            .ok_or(QuantError::ActivationRangeOverflow)
    };
    let (min, max) = match activation {
        Activation::Relu => (qmin.max(q(0.0)?), qmax),
        Activation::Relu6 => (qmin.max(q(0.0)?), qmax.min(q(6.0)?)),
        Activation::ReluN1To1 => (qmin.max(q(-1.0)?), qmax.min(q(1.0)?)),
        Activation::None | Activation::Tanh | Activation::SignBit => (qmin, qmax),
    };
    // A zero point outside the type's range can empty the range; refuse it
    // rather than hand kernels a clamp with min > max.
    if min > max {
        return Err(QuantError::ActivationRangeOverflow);
    }
    Ok((min, max))
}

/// [`try_activation_range_quantized`] for callers that have already checked
/// the scale: where TFLM would refuse the model, the out-of-range bound
/// saturates instead (a NaN bound counts as 0).
pub fn activation_range_quantized(
    activation: Activation,
    output_zero_point: i32,
    output_scale: f32,
    qmin: i32,
    qmax: i32,
) -> (i32, i32) {
    // `as i32` saturates and maps NaN to 0.
    let q = |f: f32| output_zero_point.saturating_add(round_f32(f / output_scale) as i32);
    match activation {
        Activation::Relu => (qmin.max(q(0.0)), qmax),
        Activation::Relu6 => (qmin.max(q(0.0)), qmax.min(q(6.0))),
        Activation::ReluN1To1 => (qmin.max(q(-1.0)), qmax.min(q(1.0))),
        Activation::None | Activation::Tanh | Activation::SignBit => (qmin, qmax),
    }
}

/// The float clamp range `(min, max)` for a fused activation, as TFLite's
/// `CalculateActivationRange<float>`: NONE (and TANH, SIGN_BIT, which are not
/// clamps) give `(f32::MIN, f32::MAX)`.
pub fn activation_range_f32(activation: Activation) -> (f32, f32) {
    match activation {
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
        Activation::None | Activation::Tanh | Activation::SignBit => (f32::MIN, f32::MAX),
    }
}

// ---------------------------------------------------------------------------
// gemmlowp-style fixed point
// ---------------------------------------------------------------------------

/// A signed Q`I`.`31-I` fixed-point number in an `i32` (gemmlowp's
/// `FixedPoint<int32_t, I>`): `I` integer bits besides the sign, so the range
/// is `[-2^I, 2^I)`. `I` must be in `0..=31`.
///
/// `+`, `-` and negation wrap (gemmlowp leaves them unchecked); `*` between
/// formats is [`FixedPoint::mul_fixed`], whose result has `I + J` integer bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FixedPoint<const I: i32>(i32);

impl<const I: i32> FixedPoint<I> {
    /// Fractional bits of this format.
    pub const FRACTIONAL_BITS: i32 = 31 - I;
    /// Zero.
    pub const ZERO: Self = FixedPoint(0);
    /// One, or the largest value below it when there are no integer bits.
    pub const ONE: Self = FixedPoint(if I == 0 { i32::MAX } else { 1 << (31 - I) });

    /// The value whose raw representation is `raw`.
    #[inline]
    pub const fn from_raw(raw: i32) -> Self {
        FixedPoint(raw)
    }

    /// The raw representation.
    #[inline]
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// `2^exponent`, which must be exactly representable
    /// (`0 <= FRACTIONAL_BITS + exponent < 31`).
    #[inline]
    pub const fn constant_pot(exponent: i32) -> Self {
        FixedPoint(1 << (Self::FRACTIONAL_BITS + exponent))
    }

    /// The product, rounded to nearest, in the format with `K = I + J`
    /// integer bits (checked at compile time).
    #[inline]
    pub fn mul_fixed<const J: i32, const K: i32>(self, other: FixedPoint<J>) -> FixedPoint<K> {
        const {
            assert!(
                K == I + J,
                "product of FixedPoint<I> and FixedPoint<J> is FixedPoint<I + J>"
            )
        };
        FixedPoint(saturating_rounding_doubling_high_mul(self.0, other.0))
    }

    /// The same value in a format with `J` integer bits: rounding when `J >
    /// I` (bits are lost), saturating when `J < I`.
    #[inline]
    pub fn rescale<const J: i32>(self) -> FixedPoint<J> {
        FixedPoint(saturating_rounding_multiply_by_pot(self.0, I - J))
    }

    /// `self * 2^(J - I)`, exactly, by relabelling the raw value as having
    /// `J` integer bits.
    #[inline]
    pub const fn exact_mul_by_pot<const J: i32>(self) -> FixedPoint<J> {
        FixedPoint(self.0)
    }

    /// `self * 2^exponent` in the same format, saturating or rounding.
    #[inline]
    pub fn saturating_rounding_multiply_by_pot(self, exponent: i32) -> Self {
        FixedPoint(saturating_rounding_multiply_by_pot(self.0, exponent))
    }

    /// `(self + other) / 2`, rounded, without overflow.
    #[inline]
    pub fn rounding_half_sum(self, other: Self) -> Self {
        FixedPoint(rounding_half_sum(self.0, other.0))
    }
}

impl<const I: i32> Add for FixedPoint<I> {
    type Output = Self;
    #[inline]
    fn add(self, rhs: Self) -> Self {
        FixedPoint(self.0.wrapping_add(rhs.0))
    }
}

impl<const I: i32> Sub for FixedPoint<I> {
    type Output = Self;
    #[inline]
    fn sub(self, rhs: Self) -> Self {
        FixedPoint(self.0.wrapping_sub(rhs.0))
    }
}

impl<const I: i32> Neg for FixedPoint<I> {
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        FixedPoint(self.0.wrapping_neg())
    }
}

impl<const I: i32> BitAnd for FixedPoint<I> {
    type Output = Self;
    #[inline]
    fn bitand(self, rhs: Self) -> Self {
        FixedPoint(self.0 & rhs.0)
    }
}

/// `exp(a)` for `a` in `[-1/4, 0)`, Q0.31 in and out (gemmlowp's
/// `exp_on_interval_between_negative_one_quarter_and_0_excl`): a 4th-order
/// Taylor expansion around -1/8.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: FixedPoint<0>) -> FixedPoint<0> {
    type F = FixedPoint<0>;
    // round(exp(-1/8) * 2^31) and round(2^31 / 3).
    const EXP_MINUS_ONE_EIGHTH: F = F::from_raw(1_895_147_668);
    const ONE_THIRD: F = F::from_raw(715_827_883);
    // Expand in x = a + 1/8, which lies in [-1/8, 1/8).
    let x = a + F::constant_pot(-3);
    let x2: F = x.mul_fixed(x);
    let x3: F = x2.mul_fixed(x);
    let x4: F = x2.mul_fixed(x2);
    let x4_over_4 = x4.saturating_rounding_multiply_by_pot(-2);
    // (x^4/4 + x^3) / 3 + x^2, halved: x^2/2 + x^3/6 + x^4/24.
    let x2_x3_x4_terms = ((x4_over_4 + x3).mul_fixed::<0, 0>(ONE_THIRD) + x2)
        .saturating_rounding_multiply_by_pot(-1);
    // Plain (wrapping) add: gemmlowp only saturates this for 16-bit types.
    EXP_MINUS_ONE_EIGHTH + EXP_MINUS_ONE_EIGHTH.mul_fixed(x + x2_x3_x4_terms)
}

/// `exp(a)` for `a <= 0` with `I` integer bits, result in Q0.31 (gemmlowp's
/// `exp_on_negative_values`; `exp(0)` gives [`FixedPoint::ONE`], i.e.
/// `i32::MAX`). `I` must be at most 29.
///
/// `a` is split into its residue in `[-1/4, 0)`, evaluated by
/// [`exp_on_interval_between_negative_one_quarter_and_0_excl`], and a
/// multiple of 1/4 whose bits select factors `exp(-1/4)`, `exp(-1/2)`, ...,
/// `exp(-16)`.
pub fn exp_on_negative_values<const I: i32>(a: FixedPoint<I>) -> FixedPoint<0> {
    const {
        assert!(
            I >= 0 && I <= 29,
            "exp_on_negative_values needs 0..=29 integer bits"
        )
    };
    type F0 = FixedPoint<0>;
    // (k, round(exp(-2^k) * 2^31)): one factor per bit of the integer part.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    let fractional_bits = 31 - I;
    let one_quarter = FixedPoint::<I>::constant_pot(-2);
    let mask = one_quarter - FixedPoint::from_raw(1);
    let a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        a_mod_quarter_minus_one_quarter.rescale::<0>(),
    );
    // The non-negative multiple of 1/4 that was taken away.
    let remainder = (a_mod_quarter_minus_one_quarter - a).raw();
    for (k, multiplier) in BARREL {
        // Only bits the format can hold; exp(-32) and below are handled by
        // the clamp.
        if I > k && remainder & (1 << (fractional_bits + k)) != 0 {
            result = result.mul_fixed(F0::from_raw(multiplier));
        }
    }
    if I > 5 {
        // Below -32 the result is zero (gemmlowp's clamp, -32 in format I).
        let minus_32 = -(1i32 << (36 - I).clamp(0, 30));
        if a.raw() < minus_32 {
            result = F0::ZERO;
        }
    }
    if a.raw() == 0 {
        result = F0::ONE;
    }
    result
}

/// `1 / (1 + a)` for `a` in `[0, 1)`, Q0.31 in and out (gemmlowp's
/// `one_over_one_plus_x_for_x_in_0_1`): three Newton-Raphson steps on the
/// half-denominator, from the usual 48/17 - 32/17 x initial estimate.
pub fn one_over_one_plus_x_for_x_in_0_1(a: FixedPoint<0>) -> FixedPoint<0> {
    type F0 = FixedPoint<0>;
    type F2 = FixedPoint<2>;
    // 48/17 and -32/17 in Q2.29.
    const C_48_OVER_17: F2 = F2::from_raw(1_515_870_810);
    const C_NEG_32_OVER_17: F2 = F2::from_raw(-1_010_580_540);
    // d = (1 + a) / 2 in [1/2, 1): we compute 1/d, then halve it.
    let half_denominator: F0 = a.rounding_half_sum(F0::ONE);
    let mut x: F2 = C_48_OVER_17 + half_denominator.mul_fixed(C_NEG_32_OVER_17);
    for _ in 0..3 {
        let half_denominator_times_x: F2 = half_denominator.mul_fixed(x);
        let one_minus_half_denominator_times_x = F2::ONE - half_denominator_times_x;
        let correction: FixedPoint<4> = x.mul_fixed(one_minus_half_denominator_times_x);
        x = x + correction.rescale::<2>();
    }
    x.exact_mul_by_pot::<1>().rescale::<0>()
}

/// TFLite's `GetReciprocal`: for a positive `x` with `x_integer_digits`
/// integer bits, returns `(scale, num_bits_over_unit)` where `scale` is the
/// Q0.31 raw value of `2^num_bits_over_unit / x_real` (in `[1/2, 1]`).
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let num_bits_over_unit = x_integer_digits - headroom_plus_one as i32;
    // Normalise x to [1, 2) as an unsigned Q1.31 and subtract one, leaving a
    // Q0.31 value in [0, 1).
    let shifted_sum_minus_one = (x as u32)
        .checked_shl(headroom_plus_one)
        .unwrap_or(0)
        .wrapping_sub(1 << 31) as i32;
    let scale = one_over_one_plus_x_for_x_in_0_1(FixedPoint::from_raw(shifted_sum_minus_one));
    (scale.raw(), num_bits_over_unit)
}

// ---------------------------------------------------------------------------
// Softmax (int8 input)
// ---------------------------------------------------------------------------

/// Integer bits of the scaled input differences fed to `exp` (Q5.26): room
/// for differences down to -32 after scaling.
pub const SOFTMAX_SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials (Q12.19): up to 4096 terms of at
/// most one.
pub const SOFTMAX_ACCUMULATION_INTEGER_BITS: i32 = 12;

/// TFLite's `PreprocessSoftmaxScaling`: the multiplier that turns an input
/// difference (in input quanta) into a Q`input_integer_bits` fixed-point
/// value of `beta * difference`: `beta * input_scale *
/// 2^(31 - input_integer_bits)`, capped at `2^31 - 1`, through
/// [`quantize_multiplier_greater_than_one`]. Returns `(multiplier,
/// left_shift)`; fails (TFLM aborts) when that real value is not above 1.
///
/// TFLM passes `beta` and `input_scale` as `f32` widened to `f64`.
///
/// Computed exactly in integers (the product of two `f32` values and a power
/// of two is exact in `f64`), so firmware needs no soft-float routines; the
/// tests check it against the `f64` expression.
pub fn preprocess_softmax_scaling(
    beta: f32,
    input_scale: f32,
    input_integer_bits: i32,
) -> Result<(i32, i32), QuantError> {
    let pow2 = (31 - input_integer_bits).clamp(0, 62);
    let infinite = beta.is_infinite() || input_scale.is_infinite();
    let positive = beta.is_sign_negative() == input_scale.is_sign_negative();
    if infinite
        && positive
        && beta != 0.0
        && input_scale != 0.0
        && !beta.is_nan()
        && !input_scale.is_nan()
    {
        // An infinite product is capped like any large one.
        return quantize_multiplier_greater_than_one(exact_f64((1 << 31) - 1, 0));
    }
    let real = match exact_product(beta, input_scale) {
        // Zero, negative, NaN or infinite: no multiplier above 1.
        None => return Err(QuantError::MultiplierOutOfRange),
        Some((m, e)) => (m, e + pow2),
    };
    // min(real, 2^31 - 1): `real` is m * 2^e with m < 2^48.
    let capped = (1u64 << 31) - 1;
    let (m, e) = (u128::from(real.0), real.1);
    let above = if e >= 0 {
        e >= 31 || m << e > u128::from(capped)
    } else {
        -e < 80 && m > u128::from(capped) << -e
    };
    let (m, e) = if above { (capped, 0) } else { real };
    quantize_multiplier_greater_than_one(exact_f64(m, e))
}

/// `a * b` as `m * 2^e` (exact: `m < 2^48`), when it is positive and finite
/// (and neither factor is infinite or NaN).
fn exact_product(a: f32, b: f32) -> Option<(u64, i32)> {
    let split = |x: f32| -> Option<(u64, i32)> {
        let bits = x.to_bits();
        let biased = ((bits >> 23) & 0xff) as i32;
        let m = u64::from(bits & 0x7f_ffff);
        match biased {
            0xff => None,
            0 if m == 0 => None,
            0 => Some((m, -149)),
            _ => Some((m | 0x80_0000, biased - 150)),
        }
    };
    if a.is_sign_negative() != b.is_sign_negative() {
        return None;
    }
    let ((ma, ea), (mb, eb)) = (split(a)?, split(b)?);
    Some((ma * mb, ea + eb))
}

/// `m * 2^e` as an `f64`, for `0 < m < 2^53` and a result in the normal
/// range (built from bits: no floating-point operation).
fn exact_f64(m: u64, e: i32) -> f64 {
    let lz = m.leading_zeros() as i32 - 11;
    let (m, e) = (m << lz, e - lz);
    let biased = (e + 52 + 1023) as u64;
    f64::from_bits((biased << 52) | (m & ((1 << 52) - 1)))
}

/// TFLite's `CalculateInputRadius`: the largest input difference (in input
/// quanta) whose scaled value still fits in `input_integer_bits` integer bits
/// of a `total_signed_bits`-bit fixed-point number, given the `left_shift`
/// from [`preprocess_softmax_scaling`]: `floor((2^iib - 1) * 2^(tsb - iib) /
/// 2^left_shift)`. Softmax's `diff_min` is its negation. `total_signed_bits`
/// is 31 in every TFLM caller.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
    total_signed_bits: i32,
) -> i32 {
    // All factors are powers of two or small integers: in integers this is
    // exact (TFLite computes it in `double`, also exactly).
    let pow2 = |e: i32| 1u128 << e.clamp(0, 62);
    let rescaled = ((pow2(input_integer_bits) - 1) * pow2(total_signed_bits - input_integer_bits))
        >> input_left_shift.clamp(0, 62);
    rescaled.min(i32::MAX as u128) as i32
}

/// What the int8-input quantized softmax needs, as TFLM's `SoftmaxParams`
/// holds it for int8 input (computed in `CalculateSoftmaxParams`).
///
/// The output quantization is fixed by TFLM and checked by the kernel, not
/// here: int8 output needs zero point -128 and scale exactly 1/256; int16
/// output needs zero point -32768 and scale within 0.1% of 1/65536.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxParams {
    /// Q0.31 multiplier of `beta * input_scale * 2^26`.
    pub input_multiplier: i32,
    /// Its left shift (`>= 0`).
    pub input_left_shift: i32,
    /// Input differences from the row maximum below this (in input quanta)
    /// contribute nothing and output the minimum.
    pub diff_min: i32,
}

impl SoftmaxParams {
    /// Parameters for int8 input with scale `input_scale` and the op's
    /// `beta`, exactly as TFLM derives them (the zero point cancels out).
    pub fn for_int8_input(beta: f32, input_scale: f32) -> Result<Self, QuantError> {
        let (input_multiplier, input_left_shift) =
            preprocess_softmax_scaling(beta, input_scale, SOFTMAX_SCALED_DIFF_INTEGER_BITS)?;
        let diff_min =
            -calculate_input_radius(SOFTMAX_SCALED_DIFF_INTEGER_BITS, input_left_shift, 31);
        Ok(SoftmaxParams {
            input_multiplier,
            input_left_shift,
            diff_min,
        })
    }

    /// `exp(beta * input_scale * diff)` in Q0.31 for a difference `diff <= 0`
    /// from the row maximum, or `None` below `diff_min`.
    #[inline]
    fn exp_of_diff(&self, diff: i32) -> Option<FixedPoint<0>> {
        if diff < self.diff_min {
            return None;
        }
        let scaled = multiply_by_quantized_multiplier_greater_than_one(
            diff,
            self.input_multiplier,
            self.input_left_shift,
        );
        Some(exp_on_negative_values(FixedPoint::<
            SOFTMAX_SCALED_DIFF_INTEGER_BITS,
        >::from_raw(scaled)))
    }
}

/// One row of TFLM's reference int8 softmax, writing the unclamped output
/// through `store(index, value)`, where the value is already offset by
/// `out_min` and clamped to `out_min..=out_max`.
fn softmax_row(
    input: &[i8],
    params: &SoftmaxParams,
    out_bits: i32,
    out_min: i32,
    out_max: i32,
    mut store: impl FnMut(usize, i32),
) -> Result<(), QuantError> {
    if input.is_empty() {
        return Ok(());
    }
    let max_in_row = i32::from(input.iter().copied().max().unwrap_or(i8::MIN));

    let mut sum_of_exps = FixedPoint::<SOFTMAX_ACCUMULATION_INTEGER_BITS>::ZERO;
    for &x in input {
        if let Some(e) = params.exp_of_diff(i32::from(x) - max_in_row) {
            sum_of_exps = sum_of_exps + e.rescale::<SOFTMAX_ACCUMULATION_INTEGER_BITS>();
        }
    }

    let (shifted_scale, num_bits_over_unit) =
        get_reciprocal(sum_of_exps.raw(), SOFTMAX_ACCUMULATION_INTEGER_BITS);
    let shifted_scale = FixedPoint::<0>::from_raw(shifted_scale);
    // exp / sum = exp * shifted_scale / 2^num_bits_over_unit, and the output
    // unit is 2^-out_bits.
    let exponent = num_bits_over_unit + 31 - out_bits;
    if !(0..=31).contains(&exponent) {
        return Err(QuantError::SoftmaxRowTooLong);
    }

    for (i, &x) in input.iter().enumerate() {
        let value = match params.exp_of_diff(i32::from(x) - max_in_row) {
            Some(e) => {
                let unsat =
                    rounding_divide_by_pot(shifted_scale.mul_fixed::<0, 0>(e).raw(), exponent);
                unsat.wrapping_add(out_min).clamp(out_min, out_max)
            }
            None => out_min,
        };
        store(i, value);
    }
    Ok(())
}

/// One row (the innermost dimension) of TFLM's reference quantized softmax,
/// int8 in and int8 out (output zero point -128, scale 1/256), bit-exact.
///
/// Errors: [`QuantError::LengthMismatch`] if the slices differ in length,
/// [`QuantError::SoftmaxRowTooLong`] where TFLM would abort (a row whose
/// exponentials sum to 512 or more, e.g. 512 entries equal to its maximum).
pub fn softmax_int8_row(
    input: &[i8],
    output: &mut [i8],
    params: &SoftmaxParams,
) -> Result<(), QuantError> {
    if input.len() != output.len() {
        return Err(QuantError::LengthMismatch);
    }
    softmax_row(input, params, 8, i8::MIN.into(), i8::MAX.into(), |i, v| {
        output[i] = v as i8;
    })
}

/// One row of TFLM's reference quantized softmax with int8 input and int16
/// output (output zero point -32768, scale 1/65536), bit-exact. Same maths
/// as [`softmax_int8_row`], with a 16-bit output shift.
pub fn softmax_int8_to_int16_row(
    input: &[i8],
    output: &mut [i16],
    params: &SoftmaxParams,
) -> Result<(), QuantError> {
    if input.len() != output.len() {
        return Err(QuantError::LengthMismatch);
    }
    softmax_row(
        input,
        params,
        16,
        i16::MIN.into(),
        i16::MAX.into(),
        |i, v| {
            output[i] = v as i16;
        },
    )
}

#[cfg(test)]
mod tests {
    //! Vectors marked "TFLM C++" come from TFLM's own `quantization_util.cc`,
    //! `common.cc`, `kernel_util.cc` and gemmlowp's `fixedpoint.h` compiled on
    //! the host; those marked "TFLM runtime" are outputs of one-op int8
    //! models run by the `tflite-micro` Python package (the runtime the
    //! project's goldens come from).
    use super::*;

    /// How many random cases a test runs: all natively, one in a thousand
    /// under Miri (some thousand times slower), so that its checks of
    /// every operation still reach the code.
    fn cases(native: usize) -> usize {
        if cfg!(miri) {
            (native / 1000).max(1)
        } else {
            native
        }
    }

    /// The step through an exhaustive range: every value natively, a
    /// spread sample under Miri.
    fn stride() -> usize {
        if cfg!(miri) {
            37
        } else {
            1
        }
    }

    fn ldexp(x: f64, e: i32) -> f64 {
        libm::ldexp(x, e)
    }

    #[test]
    fn quantize_multiplier_matches_tflm() {
        // (real, multiplier, shift), TFLM C++.
        let cases: &[(f64, i32, i32)] = &[
            (0.0, 0, 0),
            (1.0, 1 << 30, 1),
            (0.5, 1 << 30, 0),
            (0.25, 1 << 30, -1),
            (0.75, 1_610_612_736, 0),
            (1.5, 1_610_612_736, 1),
            (ldexp(1.0, 31), 1 << 30, 32),
            // Significand rounds up to 2^31: halved, shift + 1.
            (1.0 - ldexp(1.0, -32), 1 << 30, 1),
            (1.0 - ldexp(1.0, -53), 1 << 30, 1),
            // Ties of frac * 2^31 round away from zero.
            (0.5 + ldexp(1.0, -32), (1 << 30) + 1, 0),
            (0.5 + ldexp(1.0, -33), 1 << 30, 0),
            (0.5 + ldexp(3.0, -33), (1 << 30) + 1, 0),
            (0.75 + ldexp(1.0, -32), 1_610_612_737, 0),
            // Shift -31 is kept, anything smaller is flushed to zero.
            (ldexp(1.0, -31), 1 << 30, -30),
            (ldexp(1.0, -32), 1 << 30, -31),
            (ldexp(1.0000001, -32), 1_073_741_931, -31),
            (3e-10, 1_383_505_806, -31),
            (ldexp(1.0, -33), 0, 0),
            (ldexp(1.9999999, -33), 0, 0),
            (1e-300, 0, 0),
            (5e-324, 0, 0),
            // 1/255 as an f32 scale widened to f64.
            (0.003921568859368563, 1_077_952_640, -7),
            (1e10, 1_250_000_000, 34),
            // Negative reals give negative multipliers.
            (-0.5, -(1 << 30), 0),
            (-1.0, -(1 << 30), 1),
            (-0.75 - ldexp(1.0, -32), -1_610_612_737, 0),
            (-(1.0 - ldexp(1.0, -33)), i32::MIN, 0),
        ];
        for &(real, m, s) in cases {
            assert_eq!(quantize_multiplier(real), (m, s), "real = {real:e}");
        }
        assert_eq!(quantize_multiplier(f64::NAN), (0, 0));
        assert_eq!(quantize_multiplier(f64::INFINITY), (0, 0));
    }

    /// `quantize_multiplier` as TFLite writes it, with `frexp` and `round`.
    fn quantize_multiplier_float(real: f64) -> (i32, i32) {
        if real == 0.0 || !real.is_finite() {
            return (0, 0);
        }
        let (frac, mut shift) = libm::frexp(real);
        let mut q_fixed = libm::round(frac * (1u64 << 31) as f64) as i64;
        if q_fixed == 1i64 << 31 {
            q_fixed /= 2;
            shift += 1;
        }
        if shift < -31 {
            return (0, 0);
        }
        (q_fixed as i32, shift)
    }

    #[test]
    fn quantize_multiplier_bits_agree_with_frexp_and_round() {
        // Random bit patterns (every exponent, subnormals, both signs),
        // products and quotients of f32 scales, and values near ties.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..cases(200_000) {
            let r = f64::from_bits(next());
            assert_eq!(
                quantize_multiplier(r),
                quantize_multiplier_float(r),
                "{r:e}"
            );
            let (a, b, c) = (next() as u32, next() as u32, next() as u32);
            let scale = |v: u32| f32::from_bits(0x3000_0000 + v % 0x1000_0000);
            let e = conv_effective_scale(scale(a), scale(b), scale(c));
            assert_eq!(
                quantize_multiplier(e),
                quantize_multiplier_float(e),
                "{e:e}"
            );
            let tie = f64::from_bits((next() & !0x3f_ffff) | 0x20_0000);
            assert_eq!(
                quantize_multiplier(tie),
                quantize_multiplier_float(tie),
                "{tie:e}"
            );
        }
        for e in (-1080..1030).step_by(stride()) {
            for frac in [0.5, 0.75, 1.0 - ldexp(1.0, -53), 0.5 + ldexp(1.0, -32)] {
                for r in [ldexp(frac, e), -ldexp(frac, e)] {
                    assert_eq!(
                        quantize_multiplier(r),
                        quantize_multiplier_float(r),
                        "{r:e}"
                    );
                }
            }
        }
        for bits in (1..4096u64).step_by(stride()) {
            let r = f64::from_bits(bits);
            assert_eq!(
                quantize_multiplier(r),
                quantize_multiplier_float(r),
                "{r:e}"
            );
        }
    }

    #[test]
    fn conv_effective_scale_is_the_f64_expression() {
        let reference = |a: f32, b: f32, c: f32| f64::from(a) * f64::from(b) / f64::from(c);
        let same = |a: f32, b: f32, c: f32| {
            let (x, y) = (conv_effective_scale(a, b, c), reference(a, b, c));
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{a:e} * {b:e} / {c:e}: {x:e} != {y:e}"
            );
        };
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Any bits at all, then typical scales (around 2^-30..2^2).
        for _ in 0..cases(1_000_000) {
            let (x, y) = (next(), next());
            same(
                f32::from_bits(x as u32),
                f32::from_bits((x >> 32) as u32),
                f32::from_bits(y as u32),
            );
            let typical = |v: u64| f32::from_bits(0x3000_0000 + (v as u32) % 0x1000_0000);
            same(typical(x), typical(x >> 32), typical(y));
        }
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            -1.5,
            f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            3.0,
            0.1,
            1.0 / 3.0,
        ];
        for a in specials {
            for b in specials {
                for c in specials {
                    same(a, b, c);
                }
            }
        }
    }

    #[test]
    fn softmax_scaling_is_the_f64_expression() {
        // TFLite's `PreprocessSoftmaxScaling` and `CalculateInputRadius`, in
        // `double` as TFLite writes them.
        let scaling = |beta: f32, scale: f32, iib: i32| {
            let pow2 = (1u64 << (31 - iib).clamp(0, 62)) as f64;
            let real = f64::from(beta) * f64::from(scale) * pow2;
            // `std::min(real, cap)`: NaN stays NaN (Rust's `min` would not).
            let cap = ((1u64 << 31) - 1) as f64;
            let real = if cap < real { cap } else { real };
            quantize_multiplier_greater_than_one(real)
        };
        let radius = |iib: i32, ls: i32| {
            let pow2 = |e: i32| (1u64 << e.clamp(0, 62)) as f64;
            ((pow2(iib) - 1.0) * pow2(31 - iib) / pow2(ls)).floor() as i32
        };
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let check = |beta: f32, scale: f32, iib: i32| {
            assert_eq!(
                preprocess_softmax_scaling(beta, scale, iib),
                scaling(beta, scale, iib),
                "beta {beta:e} scale {scale:e} iib {iib}"
            );
        };
        for _ in 0..cases(300_000) {
            let x = next();
            let iib = (x % 33) as i32;
            check(
                f32::from_bits(x as u32),
                f32::from_bits((x >> 32) as u32),
                iib,
            );
            // Typical: beta near 1, scales 2^-20..2^4.
            let beta = f32::from_bits(0x3e00_0000 + (x as u32) % 0x0200_0000);
            let scale = f32::from_bits(0x3400_0000 + ((x >> 32) as u32) % 0x0c00_0000);
            check(beta, scale, 5);
        }
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            1e-45,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
        ];
        for a in specials {
            for b in specials {
                check(a, b, 5);
            }
        }
        for iib in -2..40 {
            for ls in (-2..70).step_by(stride()) {
                assert_eq!(
                    calculate_input_radius(iib, ls, 31),
                    radius(iib, ls),
                    "{iib} {ls}"
                );
            }
        }
    }

    #[test]
    fn quantize_multiplier_checked_variants() {
        assert_eq!(
            quantize_multiplier_smaller_than_one_exp(0.5),
            Ok((1 << 30, 0))
        );
        assert_eq!(
            quantize_multiplier_smaller_than_one_exp(0.25),
            Ok((1 << 30, -1))
        );
        assert_eq!(
            quantize_multiplier_smaller_than_one_exp(3e-10),
            Ok((1_383_505_806, -31))
        );
        for bad in [0.0, 1.0, 1.5, -0.5, f64::NAN, 1.0 - ldexp(1.0, -40)] {
            assert_eq!(
                quantize_multiplier_smaller_than_one_exp(bad),
                Err(QuantError::MultiplierOutOfRange),
                "{bad}"
            );
        }
        assert_eq!(
            quantize_multiplier_greater_than_one(1.5),
            Ok((1_610_612_736, 1))
        );
        assert_eq!(
            quantize_multiplier_greater_than_one(((1u64 << 31) - 1) as f64),
            Ok((i32::MAX, 31))
        );
        for bad in [1.0, 0.5, 0.0, -2.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                quantize_multiplier_greater_than_one(bad),
                Err(QuantError::MultiplierOutOfRange),
                "{bad}"
            );
        }
        // The single-rounding build saturates large shifts.
        assert_eq!(quantize_multiplier_single_rounding(1e10), (i32::MAX, 30));
        assert_eq!(
            quantize_multiplier_single_rounding(0.75),
            (1_610_612_736, 0)
        );
    }

    #[test]
    fn saturating_rounding_doubling_high_mul_matches_tflm() {
        const MIN: i32 = i32::MIN;
        const MAX: i32 = i32::MAX;
        // (a, b, result), TFLM C++ (gemmlowp).
        let cases: &[(i32, i32, i32)] = &[
            (MIN, MIN, MAX), // the only overflow saturates
            (MIN, MAX, -MAX),
            (MAX, MAX, MAX - 1),
            (MIN, 1 << 30, -(1 << 30)),
            (1 << 30, 1 << 30, 1 << 29),
            (-(1 << 30), 1 << 30, -(1 << 29)),
            (-(1 << 30), MIN, 1 << 30),
            (3, 1 << 30, 2),   // 1.5 -> 2
            (-3, 1 << 30, -1), // -1.5 -> -1: ties go up, not away from zero
            (3, MIN, -3),
            (-3, MIN, 3),
            (0, MIN, 0),
        ];
        for &(a, b, r) in cases {
            assert_eq!(saturating_rounding_doubling_high_mul(a, b), r, "{a} * {b}");
        }
    }

    #[test]
    fn rounding_divide_by_pot_matches_tflm() {
        // (x, exponent, result), TFLM C++ (gemmlowp): ties away from zero.
        let cases: &[(i32, i32, i32)] = &[
            (5, 1, 3),
            (-5, 1, -3),
            (1, 1, 1),
            (-1, 1, -1),
            (-3, 1, -2),
            (-7, 1, -4),
            (-1, 2, 0),
            (-3, 2, -1),
            (-5, 2, -1),
            (-6, 2, -2),
            (5, 2, 1),
            (1, 2, 0),
            (12345, 0, 12345),
            (-12345, 0, -12345),
            (i32::MIN, 1, -(1 << 30)),
            (i32::MIN, 17, -16384),
            (i32::MIN, 31, -1),
            (i32::MAX, 31, 1),
        ];
        for &(x, e, r) in cases {
            assert_eq!(rounding_divide_by_pot(x, e), r, "{x} / 2^{e}");
        }
        // Out-of-contract exponents are clamped rather than panicking.
        assert_eq!(rounding_divide_by_pot(i32::MIN, 40), -1);
        assert_eq!(rounding_divide_by_pot(7, -3), 7);
    }

    #[test]
    fn saturating_rounding_multiply_by_pot_saturates_and_rounds() {
        assert_eq!(saturating_rounding_multiply_by_pot(3, 2), 12);
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 29, 2), i32::MAX);
        assert_eq!(
            saturating_rounding_multiply_by_pot((1 << 29) - 1, 2),
            i32::MAX - 3
        );
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 29), 2), i32::MIN);
        assert_eq!(
            saturating_rounding_multiply_by_pot(-(1 << 29) - 1, 2),
            i32::MIN
        );
        assert_eq!(saturating_rounding_multiply_by_pot(1, 31), i32::MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(-1, 40), i32::MIN);
        assert_eq!(saturating_rounding_multiply_by_pot(-5, -1), -3);
        assert_eq!(saturating_rounding_multiply_by_pot(-5, 0), -5);
        assert_eq!(rounding_half_sum(i32::MAX, i32::MAX), i32::MAX);
        assert_eq!(rounding_half_sum(1, 2), 2);
        assert_eq!(rounding_half_sum(-1, -2), -2);
        assert_eq!(rounding_half_sum(i32::MIN, i32::MIN), i32::MIN);
    }

    #[test]
    fn multiply_by_quantized_multiplier_matches_tflm() {
        const MIN: i32 = i32::MIN;
        const MAX: i32 = i32::MAX;
        // (x, multiplier, shift, result), TFLM C++ (default build).
        let cases: &[(i32, i32, i32, i32)] = &[
            (1000, 1 << 30, 0, 500),
            (-1000, 1 << 30, 0, -500),
            (3, 1 << 30, -1, 1),
            (-3, 1 << 30, -1, -1),
            (5, 1 << 30, -1, 2),
            (-5, 1 << 30, -1, -1),
            (100, 1_610_612_736, 3, 600),
            (-100, 1_610_612_736, 3, -600),
            (123_456, 0, 0, 0),
            (MIN, MIN, 0, MAX),
            (MAX, MAX, 0, MAX - 1),
            // Double rounding: 0.49999... rounds to 0.5 first, then to 1.
            (MAX, 1 << 30, -31, 1),
            (-MAX, 1 << 30, -31, 0),
            (7, MAX, -3, 1),
            (-7, MAX, -3, -1),
        ];
        for &(x, m, s, r) in cases {
            assert_eq!(
                multiply_by_quantized_multiplier(x, m, s),
                r,
                "{x} * {m} * 2^{s}"
            );
        }
        // The single-rounding form rounds (2^31 - 1) / 2^32 to 0.
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(MAX, 1 << 30, -31),
            0
        );
        assert_eq!(
            multiply_by_quantized_multiplier_single_rounding(1000, 1 << 30, 0),
            500
        );
        // A multiplier of 0 (what tiny scales flush to) zeroes everything.
        let (m, s) = quantize_multiplier(1e-12);
        assert_eq!((m, s), (0, 0));
        for x in [MIN, -1, 0, 1, MAX] {
            assert_eq!(multiply_by_quantized_multiplier(x, m, s), 0);
        }
        // SmallerThanOneExp / GreaterThanOne are the same maths split by sign.
        assert_eq!(
            multiply_by_quantized_multiplier_smaller_than_one_exp(-5, 1 << 30, -1),
            -1
        );
        assert_eq!(
            multiply_by_quantized_multiplier_greater_than_one(-100, 1_610_612_736, 3),
            -600
        );
    }

    #[test]
    fn multiply_by_quantized_multiplier_i64_matches_tflm() {
        // (x, multiplier, shift, result), TFLM C++.
        let cases: &[(i64, i32, i32, i32)] = &[
            (-301_464_715, 2_147_453_062, -26, -4),
            (-13_934_014, 1_615_000_916, -9, -20467),
            (-320_038_524_856, 2_011_834_654, 0, 826_463_283),
            (-8, 1_881_007_013, 0, -7),
            (1_499_156_885_803, 1_555_058_656, -29, 2022),
        ];
        for &(x, m, s, r) in cases {
            assert_eq!(
                multiply_by_quantized_multiplier_i64(x, m, s),
                r,
                "{x} * {m} * 2^{s}"
            );
        }
        // Multipliers at the top saturate to 0x7FFF after the 16-bit reduction.
        assert_eq!(
            multiply_by_quantized_multiplier_i64(1 << 20, i32::MAX, 0),
            multiply_by_quantized_multiplier_i64(1 << 20, 0x7FFF_0000, 0)
        );
    }

    #[test]
    fn fixed_point_functions_match_gemmlowp() {
        // exp on Q5.26 inputs, TFLM C++ (gemmlowp).
        let exp5: &[(i32, i32)] = &[
            (0, i32::MAX),
            (-1, 2_147_483_124),
            (-(1 << 24), 1_672_462_419), // exp(-1/4)
            (-(1 << 25), 1_302_515_042), // exp(-1/2)
            (-(1 << 26), 790_015_308),   // exp(-1)
            (-3 * (1 << 25), 479_168_506),
            (-(1 << 28), 39_332_546), // exp(-4)
            (-(1 << 29), 720_401),    // exp(-8)
            (-(1 << 30), 242),        // exp(-16)
            (-1_610_612_736, 0),
            (i32::MIN, 0),
        ];
        for &(a, r) in exp5 {
            assert_eq!(
                exp_on_negative_values(FixedPoint::<5>::from_raw(a)).raw(),
                r,
                "exp({a})"
            );
        }
        assert_eq!(
            exp_on_negative_values(FixedPoint::<0>::from_raw(i32::MIN)).raw(),
            790_015_308
        );
        assert_eq!(
            exp_on_negative_values(FixedPoint::<0>::from_raw(-1)).raw(),
            2_147_483_155
        );
        // Six integer bits add the clamp below -32.
        assert_eq!(
            exp_on_negative_values(FixedPoint::<6>::from_raw(-2_045_331_050)).raw(),
            0
        );

        let recip: &[(i32, i32)] = &[
            (0, i32::MAX),
            (1 << 30, 1_431_655_762),
            (1 << 29, 1_717_986_914),
            (1_717_986_918, 1_193_046_472),
            (i32::MAX, 1_073_741_820),
        ];
        for &(a, r) in recip {
            assert_eq!(
                one_over_one_plus_x_for_x_in_0_1(FixedPoint::from_raw(a)).raw(),
                r,
                "1/(1+{a})"
            );
        }
        // (x in Q12.19, scale, num_bits_over_unit), TFLM C++.
        let reciprocal: &[(i32, i32, i32)] = &[
            (1 << 19, i32::MAX, 0),
            (3 << 19, 1_431_655_762, 1),
            ((1 << 19) + 1, 2_147_479_552, 0),
            (1 << 27, i32::MAX, 8),
            ((1 << 28) - 1, 1_073_741_828, 8),
            (52, 1_321_528_402, -14),
            (2_824_205, 1_594_643_318, 2),
        ];
        for &(x, r, n) in reciprocal {
            assert_eq!(get_reciprocal(x, 12), (r, n), "1/{x}");
        }

        // Formats and operators.
        type F2 = FixedPoint<2>;
        assert_eq!(F2::ONE.raw(), 1 << 29);
        assert_eq!(FixedPoint::<0>::ONE.raw(), i32::MAX);
        assert_eq!(F2::constant_pot(-1).raw(), 1 << 28);
        let half = FixedPoint::<0>::from_raw(1 << 30);
        let p: F2 = half.mul_fixed(F2::ONE);
        assert_eq!(p.raw(), 1 << 28);
        assert_eq!(F2::ONE.rescale::<0>().raw(), i32::MAX);
        assert_eq!(half.rescale::<2>().raw(), 1 << 28);
        assert_eq!(F2::ONE.exact_mul_by_pot::<3>().raw(), 1 << 29);
        assert_eq!((F2::ONE + F2::ONE - F2::ONE).raw(), 1 << 29);
        assert_eq!((-F2::ONE).raw(), -(1 << 29));
        assert_eq!(
            (F2::from_raw(i32::MAX) + F2::ONE).raw(),
            i32::MIN + (1 << 29) - 1
        );
    }

    #[test]
    fn softmax_params_match_tflm() {
        // (beta, input_scale, multiplier, left_shift, diff_min), TFLM C++.
        let cases: &[(f32, f32, i32, i32, i32)] = &[
            (1.0, 1.0 / 256.0, 1 << 30, 19, -3968),
            (1.0, 0.1, 1_717_986_944, 23, -248),
            (0.5, 0.05, 1_717_986_944, 21, -992),
            (1.0, 2.3579869e-08, 1_699_108_608, 1, -1_040_187_392),
            (3.9179802, 0.23761253, 1_999_223_930, 26, -31),
            (3.1289463, 0.00037475245, 1_289_265_654, 17, -15872),
            (1.0, 0.004637189, 1_274_660_864, 19, -3968),
            // Capped at 2^31 - 1: only the row maximum survives.
            (1.0, 100.0, i32::MAX, 31, 0),
        ];
        for &(beta, scale, m, ls, dm) in cases {
            let p = SoftmaxParams::for_int8_input(beta, scale).unwrap();
            assert_eq!(
                (p.input_multiplier, p.input_left_shift, p.diff_min),
                (m, ls, dm),
                "beta {beta} scale {scale}"
            );
        }
        // beta * scale * 2^26 <= 1: TFLM aborts.
        assert_eq!(
            SoftmaxParams::for_int8_input(1.0, 1e-9),
            Err(QuantError::MultiplierOutOfRange)
        );
        // (input_integer_bits, left_shift, radius), TFLM C++.
        for &(iib, ls, r) in &[
            (5, 0, 2_080_374_784),
            (5, 1, 1_040_187_392),
            (5, 24, 124),
            (5, 26, 31),
            (5, 30, 1),
            (5, 31, 0),
            (0, 0, 0),
            (12, 19, 4095),
        ] {
            assert_eq!(calculate_input_radius(iib, ls, 31), r, "iib {iib} ls {ls}");
        }
    }

    struct SoftmaxCase {
        beta: f32,
        input_scale: f32,
        input: &'static [i8],
        out_i8: &'static [i8],
        out_i16: &'static [i16],
    }

    #[test]
    fn softmax_rows_match_tflm_runtime() {
        // TFLM runtime: SOFTMAX int8 -> int8 (zp -128, 1/256) and int8 ->
        // int16 (zp -32768, 1/65536) on [1, n] tensors.
        let cases = [
            SoftmaxCase {
                beta: 2.1545434,
                input_scale: 0.28092766,
                input: &[-99, 56, 9, -18, -3, -93, 90, 107, 121, 89],
                out_i8: &[-128, -128, -128, -128, -128, -128, -128, -128, 127, -128],
                out_i16: &[
                    -32768, -32768, -32768, -32768, -32768, -32768, -32768, -32754, 32754, -32768,
                ],
            },
            SoftmaxCase {
                beta: 1.0,
                input_scale: 0.4817066,
                input: &[-126, -125, -122, -124, -123, -127, -128, -126],
                out_i8: &[-114, -105, -32, -91, -69, -119, -123, -114],
                out_i16: &[
                    -29196, -26986, -8239, -23408, -17616, -30562, -31405, -29196,
                ],
            },
            SoftmaxCase {
                beta: 1.4383811,
                input_scale: 0.254522,
                input: &[90, 58, 62, 91, 108, 111, 94, 51, -125, -78, 42, -5],
                out_i8: &[
                    -128, -128, -128, -128, -64, 64, -128, -128, -128, -128, -128, -128,
                ],
                out_i16: &[
                    -32746, -32768, -32768, -32736, -16418, 16266, -32671, -32768, -32768, -32768,
                    -32768, -32768,
                ],
            },
            SoftmaxCase {
                beta: 0.23901506,
                input_scale: 0.30077368,
                input: &[68, 41, 57, -99, 105, 99, -93, 74, -46, -109, 117],
                out_i8: &[-124, -127, -126, -128, -68, -89, -128, -121, -128, -128, 15],
                out_i16: &[
                    -31686, -32613, -32277, -32768, -17306, -22723, -32768, -31103, -32768, -32768,
                    3869,
                ],
            },
            SoftmaxCase {
                beta: 2.9413624,
                input_scale: 0.089649566,
                input: &[6, 105, 91, -111, -120, -39, -9, 23, 48, -78],
                out_i8: &[-128, 122, -122, -128, -128, -128, -128, -128, -128, -128],
                out_i16: &[
                    -32768, 31174, -31174, -32768, -32768, -32768, -32768, -32768, -32768, -32768,
                ],
            },
            SoftmaxCase {
                beta: 1.0,
                input_scale: 0.015422114,
                input: &[
                    102, 124, 112, 98, 127, 102, 100, 92, 125, 120, 103, 123, 122, 113,
                ],
                out_i8: &[
                    -112, -106, -110, -113, -105, -112, -113, -115, -106, -108, -112, -107, -107,
                    -110,
                ],
                out_i16: &[
                    -28796, -27191, -28133, -29033, -26927, -28796, -28916, -29363, -27104, -27525,
                    -28734, -27276, -27360, -28061,
                ],
            },
        ];
        for c in &cases {
            let p = SoftmaxParams::for_int8_input(c.beta, c.input_scale).unwrap();
            let mut o8 = [0i8; 16];
            let mut o16 = [0i16; 16];
            let n = c.input.len();
            softmax_int8_row(c.input, &mut o8[..n], &p).unwrap();
            softmax_int8_to_int16_row(c.input, &mut o16[..n], &p).unwrap();
            assert_eq!(&o8[..n], c.out_i8, "int8 out, input {:?}", c.input);
            assert_eq!(&o16[..n], c.out_i16, "int16 out, input {:?}", c.input);
        }
    }

    #[test]
    fn softmax_long_rows_match_tflm_runtime() {
        let p = SoftmaxParams::for_int8_input(1.0, 0.1).unwrap();
        let input = [5i8; 512];
        let mut o8 = [0i8; 512];
        let mut o16 = [0i16; 512];
        // TFLM runtime: 256 and 511 equal entries.
        softmax_int8_row(&input[..256], &mut o8[..256], &p).unwrap();
        assert!(o8[..256].iter().all(|&v| v == -127));
        softmax_int8_to_int16_row(&input[..256], &mut o16[..256], &p).unwrap();
        assert!(o16[..256].iter().all(|&v| v == -32512));
        softmax_int8_to_int16_row(&input[..257], &mut o16[..257], &p).unwrap();
        assert!(o16[..257].iter().all(|&v| v == -32513));
        softmax_int8_row(&input[..511], &mut o8[..511], &p).unwrap();
        assert!(o8[..511].iter().all(|&v| v == -127));
        // 512: TFLM aborts (SIGABRT) for int8 output, int16 output still works.
        assert_eq!(
            softmax_int8_row(&input, &mut o8, &p),
            Err(QuantError::SoftmaxRowTooLong)
        );
        softmax_int8_to_int16_row(&input, &mut o16, &p).unwrap();
        assert!(o16.iter().all(|&v| v == -32640));
        // Mismatched lengths and empty rows.
        assert_eq!(
            softmax_int8_row(&input[..3], &mut o8[..2], &p),
            Err(QuantError::LengthMismatch)
        );
        assert_eq!(softmax_int8_row(&[], &mut [], &p), Ok(()));
    }

    /// FULLY_CONNECTED with one input feature, weight 1, input zero point 0:
    /// the accumulator is `x + bias`.
    fn fc_one_weight(scales: (f32, f32, f32), zo: i32, x: i32, bias: i32) -> i32 {
        let (m, s) =
            quantize_multiplier(fc_per_tensor_effective_scale(scales.0, scales.1, scales.2));
        (multiply_by_quantized_multiplier(x + bias, m, s) + zo).clamp(-128, 127)
    }

    #[test]
    fn fully_connected_rounds_twice_like_tflm_runtime() {
        // TFLM runtime: int8 FULLY_CONNECTED [1,1] x [1,1] + bias with
        // (input, weight, output) scales; output zero point; x; bias; output.
        // In each case single rounding gives an output one lower or higher.
        type FcCase = ((f32, f32, f32), i32, i32, i32, i32);
        let cases: &[FcCase] = &[
            ((0.01645448, 0.030231632, 0.47507247), 13, 24, 4273, 18),
            ((0.03182248, 0.048394315, 0.17758992), -5, -10, 990, 4),
            ((0.046753254, 0.021121632, 0.3939382), -13, -39, -160, -14),
            ((0.007712672, 0.026529614, 0.37385422), 14, 114, -63149, -21),
            ((0.04742561, 0.0471823, 0.38738015), -9, 96, -1048, -15),
            ((0.015219086, 0.014959047, 0.458397), -8, 65, -144029, -80),
            ((0.04711379, 0.0053765867, 0.49967661), -6, -8, 200224, 96),
            ((0.011808431, 0.04904584, 0.2510783), -18, 43, -12832, -48),
        ];
        for &(scales, zo, x, bias, want) in cases {
            assert_eq!(
                fc_one_weight(scales, zo, x, bias),
                want,
                "{scales:?} {x} {bias}"
            );
            let (m, s) =
                quantize_multiplier(fc_per_tensor_effective_scale(scales.0, scales.1, scales.2));
            let single = (multiply_by_quantized_multiplier_single_rounding(x + bias, m, s) + zo)
                .clamp(-128, 127);
            assert_ne!(single, want, "single rounding should differ here");
        }
    }

    #[test]
    fn fc_scale_is_an_f64_product() {
        // TFLM runtime, per-tensor FULLY_CONNECTED (zero points 0): cases
        // where multiplying the scales in f32 first would give another output.
        type FpCase = ((f32, f32, f32), i32, i32, i32);
        let cases: &[FpCase] = &[
            ((0.036792863, 0.016172599, 0.024941677), 121, -5297, -124),
            ((0.010764426, 0.011746824, 0.00879735), 23, 8360, 121),
            ((0.020351939, 0.017621003, 0.04980753), 17, 6024, 43),
            ((0.004110222, 0.004123894, 0.03196126), -26, -91425, -49),
        ];
        for &(scales, x, bias, want) in cases {
            assert_eq!(fc_one_weight(scales, 0, x, bias), want, "{scales:?}");
            let f32_product = f64::from(scales.0 * scales.1) / f64::from(scales.2);
            let (m, s) = quantize_multiplier(f32_product);
            assert_ne!(multiply_by_quantized_multiplier(x + bias, m, s), want);
        }
    }

    #[test]
    fn add_matches_tflm_runtime() {
        // TFLM runtime: int8 ADD of two [1, 8] tensors.
        // ((scale, zp) x 2, output (scale, zp), activation, a, b, output).
        type AddCase = (
            (f32, i32),
            (f32, i32),
            (f32, i32),
            Activation,
            [i8; 8],
            [i8; 8],
            [i8; 8],
        );
        let cases: &[AddCase] = &[
            (
                (0.029127385, -32),
                (0.072949104, 40),
                (0.036462575, 124),
                Activation::None,
                [-106, 23, 56, 68, 2, -109, 93, -19],
                [87, 14, -25, -93, -69, 121, -71, 121],
                [127, 116, 64, -62, -67, 127, 2, 127],
            ),
            (
                (0.050561145, -31),
                (0.012216412, -45),
                (0.09466782, -33),
                Activation::Relu,
                [-95, 121, 120, 33, -27, -69, 30, -47],
                [-21, 80, -77, 27, -42, -109, 37, -112],
                [-33, 64, 44, 10, -30, -33, 10, -33],
            ),
            (
                (0.041755654, -59),
                (0.011096233, -22),
                (0.12567204, -76),
                Activation::Relu6,
                [112, -91, 89, 125, 62, -17, -26, -113],
                [67, 124, -108, 16, 82, -111, 6, -120],
                [-28, -74, -34, -28, -28, -70, -63, -76],
            ),
            (
                (0.05297369, 105),
                (0.037350584, 47),
                (0.19356562, -11),
                Activation::ReluN1To1,
                [27, 116, 79, 47, -7, 51, 28, 72],
                [76, 29, 37, -80, 48, 19, 66, 122],
                [-16, -11, -16, -16, -16, -16, -16, -6],
            ),
        ];
        for &((s1, z1), (s2, z2), (so, zo), act, a, b, want) in cases {
            // TFLM's ADD prepare: both inputs scaled to a common 2 * max
            // scale with 20 bits of headroom.
            let twice_max = 2.0 * f64::from(s1.max(s2));
            let (m1, sh1) =
                quantize_multiplier_smaller_than_one_exp(f64::from(s1) / twice_max).unwrap();
            let (m2, sh2) =
                quantize_multiplier_smaller_than_one_exp(f64::from(s2) / twice_max).unwrap();
            let (mo, sho) = quantize_multiplier_smaller_than_one_exp(
                twice_max / ((1 << 20) as f64 * f64::from(so)),
            )
            .unwrap();
            let (lo, hi) = try_activation_range_quantized(act, zo, so, -128, 127).unwrap();
            for i in 0..8 {
                let x1 = multiply_by_quantized_multiplier_smaller_than_one_exp(
                    (i32::from(a[i]) - z1) << 20,
                    m1,
                    sh1,
                );
                let x2 = multiply_by_quantized_multiplier_smaller_than_one_exp(
                    (i32::from(b[i]) - z2) << 20,
                    m2,
                    sh2,
                );
                let y =
                    multiply_by_quantized_multiplier_smaller_than_one_exp(x1 + x2, mo, sho) + zo;
                assert_eq!(y.clamp(lo, hi), i32::from(want[i]), "element {i}");
            }
        }
    }

    #[test]
    fn activation_ranges_match_tflm() {
        use Activation::*;
        // (activation, zero point, scale, int8?, range or None if TFLM
        // refuses), TFLM C++ (CalculateActivationRangeQuantized).
        type ActCase = (Activation, i32, f32, bool, Option<(i32, i32)>);
        let cases: &[ActCase] = &[
            (Relu6, -128, 6.0 / 255.0, true, Some((-128, 127))),
            (Relu6, 0, 12.0, true, Some((0, 1))), // 6/12 = 0.5 rounds up
            (ReluN1To1, 0, 2.0, true, Some((-1, 1))), // -0.5 rounds to -1
            (ReluN1To1, 3, 4.0, true, Some((3, 3))), // +-0.25 round to 0
            (ReluN1To1, -128, 1.0 / 128.0, true, Some((-128, 0))),
            (Relu, -5, 0.1, true, Some((-5, 127))),
            (Relu6, 10, 0.01, true, Some((10, 127))),
            (Relu6, 0, 0.0001, false, Some((0, 32767))),
            (Tanh, 7, 0.5, false, Some((-32768, 32767))),
            (None, 0, 0.0, true, Some((-128, 127))),
            (Relu, 0, 0.0, true, Option::None),    // 0 / 0
            (Relu6, 0, 1e-10, true, Option::None), // 6e10 overflows i32
        ];
        for &(act, zp, scale, int8, want) in cases {
            let (qmin, qmax) = if int8 { (-128, 127) } else { (-32768, 32767) };
            let got = try_activation_range_quantized(act, zp, scale, qmin, qmax);
            assert_eq!(got.ok(), want, "{act:?} zp {zp} scale {scale}");
            if let Some(range) = want {
                assert_eq!(
                    activation_range_quantized(act, zp, scale, qmin, qmax),
                    range
                );
            }
        }
        // The infallible form saturates instead of failing.
        assert_eq!(
            activation_range_quantized(Relu6, 0, 1e-10, -128, 127),
            (0, 127)
        );
        assert_eq!(
            activation_range_quantized(Relu, 0, 0.0, -128, 127),
            (0, 127)
        );

        assert_eq!(activation_range_f32(None), (f32::MIN, f32::MAX));
        assert_eq!(activation_range_f32(Relu), (0.0, f32::MAX));
        assert_eq!(activation_range_f32(Relu6), (0.0, 6.0));
        assert_eq!(activation_range_f32(ReluN1To1), (-1.0, 1.0));
        assert_eq!(activation_range_f32(Tanh), (f32::MIN, f32::MAX));
        assert_eq!(activation_range_f32(SignBit), (f32::MIN, f32::MAX));
    }

    #[test]
    fn float_rounding_is_half_away_from_zero() {
        assert_eq!(round_f32(0.5), 1.0);
        assert_eq!(round_f32(-0.5), -1.0);
        assert_eq!(round_f32(2.5), 3.0);
        assert_eq!(round_f32(-2.5), -3.0);
        assert_eq!(round_f32(0.49999997), 0.0);
        assert_eq!(round_f64(0.49999999999999994), 0.0);
        assert_eq!(round_f64(-1.5), -2.0);
        assert_eq!(round_f64(4503599627370497.0), 4503599627370497.0);
    }
}
