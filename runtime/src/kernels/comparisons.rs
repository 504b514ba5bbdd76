//! EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL: element-wise
//! comparisons with numpy-style broadcasting, writing a bool tensor.
//!
//! As TFLM's `comparisons.cc`:
//!
//! * float32, int32, int64 (and bool for EQUAL / NOT_EQUAL) compare the
//!   values as they are;
//! * int8 compares after bringing both inputs to a common fixed-point
//!   scale: `((q - zp) << 8) * scale` with each scale as a multiplier below
//!   one, so inputs with different quantizations compare by real value,
//!   rounded as TFLM rounds.
//!
//! int16 is compared the int8 way for every comparison. (TFLM has int16
//! only for GREATER, and there it does not set up the scaling: that path
//! has no defined result to match.)

use super::add::Broadcast;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{
    multiply_by_quantized_multiplier_smaller_than_one_exp, quantize_multiplier_smaller_than_one_exp,
};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

const EQ: u8 = 0;
const NE: u8 = 1;
const LT: u8 = 2;
const LE: u8 = 3;
const GT: u8 = 4;
const GE: u8 = 5;

/// Headroom for the rescaled int8 / int16 values, as TFLM's.
const LEFT_SHIFT: i32 = 8;

/// How one quantized input is brought to the common scale.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Scaling {
    offset: i32,
    multiplier: i32,
    shift: i32,
}

impl Scaling {
    fn apply(&self, q: i32) -> i32 {
        let shifted = (self.offset + q).wrapping_mul(1 << LEFT_SHIFT);
        multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, self.multiplier, self.shift)
    }
}

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    broadcast: Broadcast,
    input1: Scaling,
    input2: Scaling,
}

fn scaling(scale: f32, zero_point: i32) -> Result<Scaling, KernelError> {
    let (multiplier, shift) =
        quantize_multiplier_smaller_than_one_exp(f64::from(scale)).map_err(|_| {
            KernelError::Invalid(text!("quantized comparison needs input scales in (0, 1)"))
        })?;
    Ok(Scaling {
        offset: zero_point.wrapping_neg(),
        multiplier,
        shift,
    })
}

fn prepare<const OP: u8>(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let output = ctx.output(0)?;
    output.expect(TensorType::Bool)?;
    match input1.ty {
        TensorType::Float32
        | TensorType::Int8
        | TensorType::Int16
        | TensorType::Int32
        | TensorType::Int64 => {}
        TensorType::Bool if OP == EQ || OP == NE => {}
        ty => return Err(KernelError::UnsupportedType(text!("comparison input"), ty)),
    }
    input2.expect(input1.ty)?;
    let quantized = matches!(input1.ty, TensorType::Int8 | TensorType::Int16);
    let (s1, s2) = if quantized {
        (
            scaling(input1.scale(), input1.zero_point())?,
            scaling(input2.scale(), input2.zero_point())?,
        )
    } else {
        (Scaling::zeroed(), Scaling::zeroed())
    };
    let params = Params {
        broadcast: Broadcast::new(&input1.shape, &input2.shape, &output.shape)?,
        input1: s1,
        input2: s2,
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn compare<const OP: u8, T: PartialOrd>(a: T, b: T) -> u8 {
    let r = match OP {
        EQ => a == b,
        NE => a != b,
        LT => a < b,
        LE => a <= b,
        GT => a > b,
        _ => a >= b,
    };
    u8::from(r)
}

fn eval<const OP: u8>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = ctx.op_data_at::<Params>(0)?;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    let out = output.as_bool_mut()?;
    let b = &p.broadcast;
    let (s1, s2) = (&p.input1, &p.input2);
    match input1.ty {
        TensorType::Float32 => b.run(input1.as_f32()?, input2.as_f32()?, out, compare::<OP, f32>),
        TensorType::Int32 => b.run(input1.as_i32()?, input2.as_i32()?, out, compare::<OP, i32>),
        TensorType::Int64 => b.run(input1.as_i64()?, input2.as_i64()?, out, compare::<OP, i64>),
        TensorType::Bool => b.run(input1.as_bool()?, input2.as_bool()?, out, |x, y| {
            compare::<OP, bool>(x != 0, y != 0)
        }),
        TensorType::Int8 => b.run(input1.as_i8()?, input2.as_i8()?, out, |x, y| {
            compare::<OP, i32>(s1.apply(x.into()), s2.apply(y.into()))
        }),
        TensorType::Int16 => b.run(input1.as_i16()?, input2.as_i16()?, out, |x, y| {
            compare::<OP, i32>(s1.apply(x.into()), s2.apply(y.into()))
        }),
        ty => Err(KernelError::UnsupportedType(text!("comparison input"), ty)),
    }
}

const fn kernel<const OP: u8>() -> Kernel {
    Kernel {
        prepare: prepare::<OP>,
        eval: eval::<OP>,
        output_aliases_input: false,
    }
}

pub const EQUAL: Kernel = kernel::<EQ>();
pub const NOT_EQUAL: Kernel = kernel::<NE>();
pub const LESS: Kernel = kernel::<LT>();
pub const LESS_EQUAL: Kernel = kernel::<LE>();
pub const GREATER: Kernel = kernel::<GT>();
pub const GREATER_EQUAL: Kernel = kernel::<GE>();

#[cfg(test)]
mod tests {
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{OpTest, T};

    fn bools(shape: &[i32], values: &[bool]) -> T {
        let mut t = T::out(TensorType::Bool, shape);
        t.data = values.iter().map(|&b| u8::from(b)).collect();
        t
    }

    fn run(o: BuiltinOperator, a: T, b: T, shape: &[i32]) -> std::vec::Vec<bool> {
        let out = OpTest::new(o)
            .input(a)
            .input(b)
            .output(T::out(TensorType::Bool, shape))
            .run()
            .unwrap();
        out.data[0].iter().map(|&v| v != 0).collect()
    }

    #[test]
    fn float_and_int_compare_as_tflm_tests() {
        // TFLM comparisons_test.cc: GreaterFloat {0.1, 0.9, 0.7, 0.3} >
        // {0.1, 0.2, 0.6, 0.5}.
        let a = T::f32(&[1, 1, 1, 4], &[0.1, 0.9, 0.7, 0.3]);
        let b = T::f32(&[1, 1, 1, 4], &[0.1, 0.2, 0.6, 0.5]);
        assert_eq!(
            run(op::GREATER, a.clone(), b.clone(), &[1, 1, 1, 4]),
            [false, true, true, false]
        );
        assert_eq!(
            run(op::GREATER_EQUAL, a.clone(), b.clone(), &[1, 1, 1, 4]),
            [true, true, true, false]
        );
        assert_eq!(
            run(op::LESS, a.clone(), b.clone(), &[1, 1, 1, 4]),
            [false, false, false, true]
        );
        assert_eq!(
            run(op::LESS_EQUAL, a.clone(), b.clone(), &[1, 1, 1, 4]),
            [true, false, false, true]
        );
        assert_eq!(
            run(op::EQUAL, a.clone(), b.clone(), &[1, 1, 1, 4]),
            [true, false, false, false]
        );
        assert_eq!(
            run(op::NOT_EQUAL, a, b, &[1, 1, 1, 4]),
            [false, true, true, true]
        );
        // Broadcast a scalar-like [1] against [2, 2].
        let got = run(
            op::LESS,
            T::i32(&[2, 2], &[-1, 9, 2, 3]),
            T::i32(&[1], &[3]),
            &[2, 2],
        );
        assert_eq!(got, [true, false, true, false]);
        let got = run(
            op::EQUAL,
            bools(&[2, 1], &[true, false]),
            bools(&[3], &[true, false, true]),
            &[2, 3],
        );
        assert_eq!(got, [true, false, true, false, true, false]);
        let mut a64 = T::out(TensorType::Int64, &[2]);
        a64.data = bytemuck::cast_slice(&[5i64, -7]).to_vec();
        let mut b64 = T::out(TensorType::Int64, &[2]);
        b64.data = bytemuck::cast_slice(&[5i64, 7]).to_vec();
        assert_eq!(run(op::GREATER_EQUAL, a64, b64, &[2]), [true, false]);
    }

    #[test]
    fn int8_compares_real_values() {
        // 10 * 0.5 = 5.0 vs (20 - 10) * 0.5 = 5.0 ; 12 * 0.5 = 6.0 vs (21 - 10) * 0.5 = 5.5.
        let a = T::i8(&[2], &[10, 12]).q(0.5, 0);
        let b = T::i8(&[2], &[20, 21]).q(0.5, 10);
        assert_eq!(run(op::EQUAL, a.clone(), b.clone(), &[2]), [true, false]);
        assert_eq!(run(op::GREATER, a, b, &[2]), [false, true]);
        // Different scales: 4 * 0.25 = 1.0 vs 2 * 0.5 = 1.0.
        let a = T::i16(&[1], &[4]).q(0.25, 0);
        let b = T::i16(&[1], &[2]).q(0.5, 0);
        assert_eq!(run(op::LESS_EQUAL, a, b, &[1]), [true]);
    }

    #[test]
    fn refuses_bad_models() {
        let err = OpTest::new(op::LESS)
            .input(bools(&[1], &[true]))
            .input(bools(&[1], &[true]))
            .output(T::out(TensorType::Bool, &[1]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        let err = OpTest::new(op::EQUAL)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::f32(&[3], &[0.0; 3]))
            .output(T::out(TensorType::Bool, &[3]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("broadcast"), "{err}");
        let err = OpTest::new(op::EQUAL)
            .input(T::f32(&[2], &[0.0; 2]))
            .input(T::f32(&[2], &[0.0; 2]))
            .output(T::out(TensorType::Int8, &[2]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("expected"), "{err}");
        let err = OpTest::new(op::GREATER)
            .input(T::i8(&[1], &[0]).q(2.0, 0))
            .input(T::i8(&[1], &[0]).q(0.5, 0))
            .output(T::out(TensorType::Bool, &[1]))
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("scales"), "{err}");
    }
}
