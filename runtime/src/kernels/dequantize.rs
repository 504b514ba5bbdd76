//! DEQUANTIZE: `x = (q - zero_point) * scale`, int8 / int16 / uint8 to
//! float32, as TFLM's reference kernel.
//!
//! TFLM multiplies in `f64` and rounds the product to `f32`. The product of
//! an `f32` scale and an integer below 2^24 in magnitude is exact in `f64`,
//! so that is one correctly rounded multiplication, the same as an `f32`
//! multiply: the kernel uses `f32` (much cheaper on an MCU without a double
//! FPU). The interpreter keeps zero points inside their type's range, so
//! `q - zero_point` (at most 16 bits each) always fits.
//!
//! Like TFLM, only per-tensor quantization is handled; per-channel inputs
//! (TFLM would silently use the first scale) are refused.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::TensorType;
use bytemuck::{Pod, Zeroable};

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    scale: f32,
    zero_point: i32,
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 1 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "DEQUANTIZE takes one input and one output"
        )));
    }
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    match input.ty {
        TensorType::Int8 | TensorType::Int16 | TensorType::UInt8 => {}
        ty => return Err(KernelError::UnsupportedType(text!("DEQUANTIZE input"), ty)),
    }
    output.expect(TensorType::Float32)?;
    if input.num_elements() != output.num_elements() {
        return Err(KernelError::Shape(text!(
            "DEQUANTIZE output has a different number of elements"
        )));
    }
    let scales = input
        .scales()
        .filter(|s| !s.is_empty())
        .ok_or(KernelError::Invalid(text!(
            "DEQUANTIZE input is not quantized"
        )))?;
    if scales.len() != 1 {
        return Err(KernelError::Unsupported(text!(
            "DEQUANTIZE of a per-channel quantized tensor"
        )));
    }
    let params = Params {
        scale: input.scale(),
        zero_point: input.zero_point(),
    };
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[params])
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<Params>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let output = output.as_f32_mut()?;
    match input.ty {
        TensorType::Int8 => dequantize(input.as_i8()?, output, &p),
        TensorType::Int16 => dequantize(input.as_i16()?, output, &p),
        TensorType::UInt8 => dequantize(input.as_u8()?, output, &p),
        ty => return Err(KernelError::UnsupportedType(text!("DEQUANTIZE input"), ty)),
    }
    Ok(())
}

fn dequantize<T: Copy + Into<i32>>(input: &[T], output: &mut [f32], p: &Params) {
    for (o, &q) in output.iter_mut().zip(input) {
        *o = p.scale * (q.into() - p.zero_point) as f32;
    }
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use crate::kernels::fully_connected::tests::pseudo_i8;
    use crate::schema::{op, TensorType};
    use crate::testing::{OpTest, T};
    use std::vec::Vec;

    fn typed(ty: TensorType, shape: &[i32], bytes: &[u8]) -> T {
        let mut t = T::i8(shape, &[]);
        t.ty = ty;
        t.data = bytes.to_vec();
        t
    }

    // TFLM's dequantize_test.cc: these values, quantized with scale 0.5, come back exactly.
    const VALUES: [f32; 10] = [-63.5, -63., -62.5, -62., -61.5, 62., 62.5, 63., 63.5, 64.];

    #[test]
    fn matches_tflm_tests() {
        let run = |input: T| {
            OpTest::new(op::DEQUANTIZE)
                .input(input)
                .output(T::out(TensorType::Float32, &[5, 2]))
                .run()
                .unwrap()
                .f32(0)
        };
        // Zero point -1 for int8 and int16, 127 for uint8.
        let q: Vec<i32> = VALUES.iter().map(|v| (v / 0.5) as i32 - 1).collect();
        let q8: Vec<i8> = q.iter().map(|&v| v as i8).collect();
        let q16: Vec<i16> = q.iter().map(|&v| v as i16).collect();
        let qu8: Vec<u8> = VALUES
            .iter()
            .map(|v| ((v / 0.5) as i32 + 127) as u8)
            .collect();
        assert_eq!(run(T::i8(&[5, 2], &q8).q(0.5, -1)), VALUES);
        assert_eq!(run(T::i16(&[5, 2], &q16).q(0.5, -1)), VALUES);
        assert_eq!(
            run(typed(TensorType::UInt8, &[5, 2], &qu8).q(0.5, 127)),
            VALUES
        );
    }

    /// Scales that are not powers of two: every result is a rounded product,
    /// compared bit for bit with TFLM (which multiplies in double).
    fn case(k: usize) -> OpTest {
        let (ty, scale, zp) = [
            (TensorType::Int8, 0.0123f32, -7),
            (TensorType::Int16, 0.000_031_7, 3),
            (TensorType::UInt8, 0.391, 131),
        ][k];
        let raw: Vec<u8> = pseudo_i8(32, 60 + k as u32)
            .iter()
            .map(|&v| v as u8)
            .collect();
        let data = if ty == TensorType::Int16 {
            raw
        } else {
            raw[..16].to_vec()
        };
        OpTest::new(op::DEQUANTIZE)
            .input(typed(ty, &[4, 4], &data).q(scale, zp))
            .output(T::out(TensorType::Float32, &[4, 4]))
    }

    #[test]
    fn bit_exact_with_tflm() {
        for (k, expected) in DEQUANTIZE_TFLM_BITS.iter().enumerate() {
            let out: Vec<u32> = case(k)
                .run()
                .unwrap()
                .f32(0)
                .iter()
                .map(|v| v.to_bits())
                .collect();
            assert_eq!(out, expected, "case {k}");
        }
    }

    #[test]
    fn a_zero_point_outside_the_type_is_refused_at_allocate() {
        let err = OpTest::new(op::DEQUANTIZE)
            .input(T::i16(&[2], &[1, -32768]).q(0.3, -(1 << 26) - 1))
            .output(T::out(TensorType::Float32, &[2]))
            .run()
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("zero point -67108865"),
            "{err}"
        );
    }

    #[test]
    fn refuses_bad_types_and_parameters() {
        let err = |t: OpTest| std::format!("{}", t.run().unwrap_err());
        let e = err(OpTest::new(op::DEQUANTIZE)
            .input(T::i32(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Float32, &[2])));
        assert!(e.contains("unsupported type"), "{e}");
        let e = err(OpTest::new(op::DEQUANTIZE)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Int8, &[2])));
        assert!(e.contains("expected"), "{e}");
        let e = err(OpTest::new(op::DEQUANTIZE)
            .input(T::i8(&[2], &[0; 2]))
            .output(T::out(TensorType::Float32, &[2])));
        assert!(e.contains("not quantized"), "{e}");
        let e = err(OpTest::new(op::DEQUANTIZE)
            .input(T::i8(&[2], &[0; 2]).per_channel(&[1.0, 2.0], &[0, 0], 0))
            .output(T::out(TensorType::Float32, &[2])));
        assert!(e.contains("per-channel"), "{e}");
        let e = err(OpTest::new(op::DEQUANTIZE)
            .input(T::i8(&[2], &[0; 2]).q(1.0, 0))
            .output(T::out(TensorType::Float32, &[3])));
        assert!(e.contains("number of elements"), "{e}");
    }

    // Produced by running the same models in TFLM (tflite-micro Python package).
    const DEQUANTIZE_TFLM_BITS: [[u32; 16]; 3] = [
        [
            0xbfad2f1a, 0xbf2d2f1a, 0xbfa096bb, 0xbfb6a162, 0x3f1a4a8c, 0x3f8c1f21, 0x3fc339c0,
            0x3e561e4f, 0x3e172474, 0x3f62b6ae, 0x3f8765fd, 0x3f93fe5c, 0xbf843fe6, 0x3f0db22d,
            0x3e23bcd3, 0xbf4cac08,
        ],
        [
            0xbf2f6f35, 0xbe08fc0e, 0xbed2c8c2, 0x3f39644a, 0xbdd2ee27, 0x3f261804, 0xbf3fae58,
            0x3cce7361, 0x3f61fdfa, 0x3d13a1b9, 0x3f1aaae8, 0xbf141a37, 0xbf76074e, 0x3ee2c992,
            0xbf484241, 0x3c396a85,
        ],
        [
            0x40fa3d71, 0x40c83127, 0xc061374c, 0xc1836042, 0xc1356c8b, 0xc1b56c8b, 0xc23bae15,
            0x416778d5, 0x412f2b02, 0x4154b439, 0x411c6666, 0xc1beced9, 0x42068106, 0xc21ad604,
            0xc1edba5e, 0xc1a2a7f0,
        ],
    ];
}
