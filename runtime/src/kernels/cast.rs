//! CAST: each element converted to another type, as C++'s `static_cast`
//! converts it in TFLM's kernel.
//!
//! The type pairs are TFLM's: from int8, int16, int32, uint32, float32 or
//! bool, to int8, int16, int32, uint32 or float32.
//!
//! * Integer to a narrower integer keeps the low bits (two's complement
//!   wrap-around); to a wider one, the value.
//! * Integer to float rounds to nearest.
//! * Float to integer truncates toward zero and saturates at the type's
//!   limits; NaN gives 0. (C++ leaves out-of-range values undefined; this
//!   is what the tflite-micro package computes, checked for every target
//!   type, and what Arm's conversion instructions do.)
//! * bool gives 0 or 1.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use crate::tensor::TensorViewMut;
use bytemuck::{Pod, Zeroable};

fn is_source(ty: TensorType) -> bool {
    use TensorType::*;
    matches!(ty, Int8 | Int16 | Int32 | UInt32 | Float32 | Bool)
}

fn is_target(ty: TensorType) -> bool {
    use TensorType::*;
    matches!(ty, Int8 | Int16 | Int32 | UInt32 | Float32)
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "CAST takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    if !is_source(input.ty) {
        return Err(KernelError::UnsupportedType(text!("CAST input"), input.ty));
    }
    if !is_target(output.ty) {
        return Err(KernelError::UnsupportedType(
            text!("CAST output"),
            output.ty,
        ));
    }
    if input.num_elements() != output.num_elements() {
        return Err(KernelError::Shape(text!(
            "CAST output has a different number of elements"
        )));
    }
    Ok(())
}

/// A value as read from the input.
#[derive(Clone, Copy)]
enum Value {
    Int(i64),
    Float(f32),
}

/// An element type CAST reads.
trait Source: Pod {
    fn value(self) -> Value;
}

macro_rules! int_source {
    ($($t:ty),*) => {$(
        impl Source for $t {
            #[inline]
            fn value(self) -> Value {
                Value::Int(self.into())
            }
        }
    )*};
}
int_source!(i8, i16, i32, u32);

impl Source for f32 {
    #[inline]
    fn value(self) -> Value {
        Value::Float(self)
    }
}

/// A bool element: one byte, 0 or 1 (any other byte reads as true).
#[repr(transparent)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Bool(u8);

impl Source for Bool {
    #[inline]
    fn value(self) -> Value {
        Value::Int(i64::from(self.0 != 0))
    }
}

/// An element type CAST writes.
trait Target: Pod {
    fn from_int(v: i64) -> Self;
    fn from_float(v: f32) -> Self;
}

// `as` from an integer wraps, from a float truncates and saturates.
macro_rules! int_target {
    ($($t:ty),*) => {$(
        impl Target for $t {
            #[inline]
            fn from_int(v: i64) -> Self {
                v as $t
            }
            #[inline]
            fn from_float(v: f32) -> Self {
                v as $t
            }
        }
    )*};
}
int_target!(i8, i16, i32, u32);

impl Target for f32 {
    #[inline]
    fn from_int(v: i64) -> Self {
        v as f32
    }
    #[inline]
    fn from_float(v: f32) -> Self {
        v
    }
}

fn convert<S: Source, D: Target>(input: &[S], output: &mut [D]) {
    for (o, &x) in output.iter_mut().zip(input) {
        *o = match x.value() {
            Value::Int(v) => D::from_int(v),
            Value::Float(v) => D::from_float(v),
        };
    }
}

fn cast_slice<T: Pod>(data: &[u8]) -> Result<&[T], KernelError> {
    bytemuck::try_cast_slice(data).map_err(|_| KernelError::Misaligned)
}

/// Converts `input` into the output's type.
fn write<S: Source>(input: &[S], output: &mut TensorViewMut<'_>) -> Result<(), KernelError> {
    match output.ty {
        TensorType::Int8 => convert(input, output.as_i8_mut()?),
        TensorType::Int16 => convert(input, output.as_i16_mut()?),
        TensorType::Int32 => convert(input, output.as_i32_mut()?),
        TensorType::UInt32 => {
            let out = bytemuck::try_cast_slice_mut::<u8, u32>(output.data)
                .map_err(|_| KernelError::Misaligned)?;
            convert(input, out)
        }
        TensorType::Float32 => convert(input, output.as_f32_mut()?),
        ty => return Err(KernelError::UnsupportedType(text!("CAST output"), ty)),
    }
    Ok(())
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    match input.ty {
        TensorType::Int8 => write(input.as_i8()?, &mut output),
        TensorType::Int16 => write(input.as_i16()?, &mut output),
        TensorType::Int32 => write(input.as_i32()?, &mut output),
        TensorType::UInt32 => write(cast_slice::<u32>(input.data)?, &mut output),
        TensorType::Float32 => write(input.as_f32()?, &mut output),
        TensorType::Bool => write(cast_slice::<Bool>(input.as_bool()?)?, &mut output),
        ty => Err(KernelError::UnsupportedType(text!("CAST input"), ty)),
    }
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};

    fn cast(input: T, out_ty: TensorType) -> OpTest {
        let shape = input.shape.clone();
        OpTest::new(op::CAST)
            .input(input)
            .output(T::out(out_ty, &shape))
    }

    fn raw(ty: TensorType, shape: &[i32], bytes: &[u8]) -> T {
        let mut t = T::i8(shape, &[]);
        t.ty = ty;
        t.data = bytes.to_vec();
        t
    }

    #[test]
    fn int_to_float_and_back() {
        // TFLM's cast_test: int8 to float32.
        let out = cast(T::i8(&[6], &[1, 2, 3, 4, 5, -128]), TensorType::Float32)
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [1.0, 2.0, 3.0, 4.0, 5.0, -128.0]);
        // Rounded to nearest: 2^24 + 1 is not a float.
        let out = cast(T::i32(&[2], &[16_777_217, -7]), TensorType::Float32)
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [16_777_216.0, -7.0]);
        // Truncated toward zero.
        let out = cast(
            T::f32(&[6], &[1.9, -1.9, 0.5, -0.5, 100.0, -32768.7]),
            TensorType::Int32,
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [1, -1, 0, 0, 100, -32768]);
    }

    #[test]
    fn narrowing_keeps_the_low_bits() {
        // As TFLM on the host (checked with the tflite-micro package).
        let out = cast(
            T::i32(&[5], &[127, 128, -129, 300, 65535]),
            TensorType::Int8,
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [127, -128, 127, 44, -1]);
        let out = cast(T::i32(&[3], &[32768, -32769, 70000]), TensorType::Int16)
            .run()
            .unwrap();
        assert_eq!(out.i16(0), [-32768, 32767, 4464]);
        // Floats saturate instead (NaN gives 0), as TFLM on the host.
        let out = cast(
            T::f32(&[4], &[200.0, -200.7, f32::NAN, 1e10]),
            TensorType::Int8,
        )
        .run()
        .unwrap();
        assert_eq!(out.i8(0), [127, -128, 0, 127]);
        let out = cast(
            T::f32(&[4], &[3e9, -3e9, f32::NAN, 2_147_483_520.0]),
            TensorType::Int32,
        )
        .run()
        .unwrap();
        assert_eq!(out.i32(0), [i32::MAX, i32::MIN, 0, 2_147_483_520]);
        let out = cast(T::i16(&[3], &[-1, 2, -32768]), TensorType::UInt32)
            .run()
            .unwrap();
        let expected: &[u8] = bytemuck::cast_slice(&[u32::MAX, 2, 4_294_934_528]);
        assert_eq!(out.data[0], expected);
    }

    #[test]
    fn uint32_and_bool() {
        let words: &[u8] = bytemuck::cast_slice(&[0u32, 7, 3_000_000_000, u32::MAX]);
        let out = cast(raw(TensorType::UInt32, &[4], words), TensorType::Int32)
            .run()
            .unwrap();
        assert_eq!(out.i32(0), [0, 7, -1_294_967_296, -1]);
        let out = cast(raw(TensorType::UInt32, &[4], words), TensorType::Float32)
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [0.0, 7.0, 3.0e9, 4_294_967_296.0]);
        let out = cast(T::f32(&[4], &[-1.0, 3.7, 5e9, 4e9]), TensorType::UInt32)
            .run()
            .unwrap();
        let expected: &[u8] = bytemuck::cast_slice(&[0, 3, u32::MAX, 4_000_000_000u32]);
        assert_eq!(out.data[0], expected);
        let out = cast(raw(TensorType::Bool, &[3], &[1, 0, 1]), TensorType::Float32)
            .run()
            .unwrap();
        assert_eq!(out.f32(0), [1.0, 0.0, 1.0]);
        let out = cast(raw(TensorType::Bool, &[3], &[0, 1, 1]), TensorType::Int16)
            .run()
            .unwrap();
        assert_eq!(out.i16(0), [0, 1, 1]);
    }

    #[test]
    fn refuses_what_tflm_refuses() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(cast(T::f32(&[2], &[0.0; 2]), TensorType::Bool));
        assert!(e.contains("CAST output"), "{e}");
        let e = err(cast(
            raw(TensorType::Int64, &[1], &[0; 8]),
            TensorType::Float32,
        ));
        assert!(e.contains("CAST input"), "{e}");
        let e = err(cast(raw(TensorType::UInt8, &[1], &[0]), TensorType::Int8));
        assert!(e.contains("CAST input"), "{e}");
        let e = err(OpTest::new(op::CAST)
            .input(T::f32(&[3], &[0.0; 3]))
            .output(T::out(TensorType::Int32, &[2])));
        assert!(e.contains("number of elements"), "{e}");
    }
}
