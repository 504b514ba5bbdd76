//! TRANSPOSE_CONV: the transpose (gradient) of a 2-D convolution, which
//! upsamples by the strides. Inputs in TFLite's order: the output shape
//! (int32 `[4]`), the filter `[out_c, h, w, in_c]`, the NHWC input and an
//! optional bias; one NHWC output.
//!
//! As TFLM's reference kernel, every input pixel scatters `input × filter`
//! into the output pixels under the filter (placed at `input position ×
//! stride − padding`), then the bias and the fused activation are applied.
//! The padding is TFLite's for a convolution over the *output* (dilation 1).
//! Three paths:
//! - float32: summed in the output itself, in TFLM's order;
//! - int8 (per-channel or per-tensor int8 filter, int32 bias): int32
//!   accumulators in a scratch buffer, requantized per output channel;
//! - 16x8 (int16 input and output with zero points 0, int8 filter, int64 or
//!   int16 bias): int64 accumulators in a scratch buffer.
//!
//! TFLM takes the output's shape from the output tensor and never reads the
//! output-shape input (it may even be a graph input); a constant one must
//! agree with the output tensor here. The filter zero point is ignored, as
//! TFLite's quantization spec makes int8 weights symmetric.

use super::common::{
    clamp_f32, conv_activation, conv_op_data_len, conv_types_16x8, nhwc, ConvQuant, ConvWindow,
    QuantBias,
};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::schema::{TensorType, TransposeConvOptions};
use bytemuck::{Pod, Zeroable};

const OUTPUT_SHAPE: usize = 0;
const FILTER: usize = 1;
const INPUT: usize = 2;
const BIAS: usize = 3;

/// Per-op data header; the per-channel multipliers and shifts (`channels`
/// `i32` each) follow it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct OpData {
    window: ConvWindow,
    quant: ConvQuant,
    /// Entries in each per-channel array: the output channels for int8 and
    /// int16, 0 for float.
    channels: i32,
}

const HEADER: usize = core::mem::size_of::<OpData>();

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if !(3..=4).contains(&ctx.inputs_len()) {
        return Err(KernelError::Invalid(text!(
            "TRANSPOSE_CONV takes an output shape, a filter, an input and an optional bias"
        )));
    }
    if ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!("TRANSPOSE_CONV has one output")));
    }
    let options = ctx.op.options::<TransposeConvOptions>()?;
    let activation = conv_activation(options.activation)?;
    let output_shape = ctx.input(OUTPUT_SHAPE)?;
    let filter = ctx.input(FILTER)?;
    let input = ctx.input(INPUT)?;
    let bias = ctx.optional_input(BIAS)?;
    let output = ctx.output(0)?;
    // TFLM widens an int16 bias to int64 for the 16x8 path.
    let int16_biases = [TensorType::Int64, TensorType::Int16];
    let ty = conv_types_16x8(&input, &filter, bias.as_ref(), &output, &int16_biases)?;

    // Any input height and width will do: the scatter stays in the output.
    let [batches, _, _, in_c] = nhwc(
        &input.shape,
        text!("TRANSPOSE_CONV input must have rank 4 (NHWC)"),
    )?;
    let [out_c, f_h, f_w, f_c] = nhwc(
        &filter.shape,
        text!("TRANSPOSE_CONV filter must have rank 4 (OHWI)"),
    )?;
    let [out_b, out_h, out_w, out_depth] = nhwc(
        &output.shape,
        text!("TRANSPOSE_CONV output must have rank 4 (NHWC)"),
    )?;
    if out_b != batches {
        return Err(KernelError::Shape(text!(
            "TRANSPOSE_CONV output batch differs from the input batch"
        )));
    }
    if f_c != in_c {
        return Err(KernelError::Shape(text!(
            "TRANSPOSE_CONV filter input channels (dimension 3) differ from the input's"
        )));
    }
    if out_depth != out_c {
        return Err(KernelError::Shape(text!(
            "TRANSPOSE_CONV output channels differ from the filter's dimension 0"
        )));
    }
    if let Some(bias) = &bias {
        if bias.num_elements() != out_c {
            return Err(KernelError::Shape(text!(
                "TRANSPOSE_CONV bias must have one value per output channel"
            )));
        }
    }
    check_output_shape(&output_shape, [out_b, out_h, out_w, out_depth])?;
    let window = ConvWindow::transpose(
        options.padding,
        options.stride_h,
        options.stride_w,
        (out_h, out_w),
        (f_h, f_w),
    )?;

    let channels = if ty == TensorType::Float32 { 0 } else { out_c };
    ctx.alloc_op_data(conv_op_data_len::<OpData>(channels)?)?;
    let quant = if ty == TensorType::Float32 {
        ConvQuant::float(activation)
    } else {
        // TFLM insists on one zero point per scale here.
        let q = filter.quantization;
        if q.is_some_and(|q| q.scale.len() != q.zero_point.len()) {
            return Err(KernelError::Invalid(text!(
                "TRANSPOSE_CONV filter must have as many zero points as scales"
            )));
        }
        if ty == TensorType::Int16 {
            ConvQuant::quantized(ctx, &input, &filter, &output, activation, 0, HEADER)?
        } else {
            ConvQuant::int8(ctx, &input, &filter, &output, activation, 0, HEADER)?
        }
    };
    let too_big = || KernelError::Shape(text!("TRANSPOSE_CONV output too large"));
    let header = OpData {
        window,
        quant,
        channels: i32::try_from(channels).map_err(|_| too_big())?,
    };
    ctx.write_op_data(0, &[header])?;

    // The integer paths sum in a scratch buffer: int32 (int8) or int64
    // (16x8) accumulators, one per output value.
    let acc_bytes = match ty {
        TensorType::Int8 => 4,
        TensorType::Int16 => 8,
        _ => return Ok(()),
    };
    let bytes = output
        .num_elements()
        .checked_mul(acc_bytes)
        .ok_or_else(too_big)?;
    ctx.request_scratch(bytes)?;
    Ok(())
}

/// The output-shape input: int32; when it is a constant of 4 values, they
/// must be the output tensor's shape. (TFLM never reads it.)
fn check_output_shape(
    shape: &crate::kernel::TensorInfo<'_>,
    output: [usize; 4],
) -> Result<(), KernelError> {
    shape.expect(TensorType::Int32)?;
    if shape.constant.is_none() || shape.num_elements() != 4 {
        return Ok(());
    }
    let dims = shape.constant_as::<i32>()?;
    let same = dims
        .iter()
        .zip(output)
        .all(|(&d, o)| usize::try_from(d).ok() == Some(o));
    if !same {
        return Err(KernelError::Shape(text!(
            "TRANSPOSE_CONV output shape input differs from the output tensor's shape"
        )));
    }
    Ok(())
}

/// Dimensions of one invocation, read from the tensors.
#[derive(Clone, Copy)]
struct Dims {
    batches: usize,
    in_h: usize,
    in_w: usize,
    in_c: usize,
    f_h: usize,
    f_w: usize,
    out_h: usize,
    out_w: usize,
    out_c: usize,
}

impl Dims {
    fn input_len(&self) -> Option<usize> {
        self.batches
            .checked_mul(self.in_h)?
            .checked_mul(self.in_w)?
            .checked_mul(self.in_c)
    }

    fn filter_len(&self) -> Option<usize> {
        self.out_c
            .checked_mul(self.f_h)?
            .checked_mul(self.f_w)?
            .checked_mul(self.in_c)
    }

    fn output_len(&self) -> Option<usize> {
        self.batches
            .checked_mul(self.out_h)?
            .checked_mul(self.out_w)?
            .checked_mul(self.out_c)
    }
}

/// Adds `add(acc, x, w)` for every input value `x` and every weight `w`
/// that multiplies it into an output value `acc`, in TFLM's order (input
/// pixel, input channel, filter row, filter column, output channel), so
/// that float sums round as TFLM's do. `acc` holds one value per output
/// value. The lengths were checked against `d`.
fn scatter<I: Copy, W: Copy, A>(
    d: &Dims,
    window: &ConvWindow,
    input: &[I],
    filter: &[W],
    acc: &mut [A],
    add: impl Fn(&mut A, I, W),
) -> Result<(), KernelError> {
    let plane = d.in_h * d.in_w;
    if plane == 0 || d.in_c == 0 {
        return Ok(()); // No input values: nothing to add.
    }
    // The weights of one filter tap and input channel, for each output
    // channel, lie this far apart.
    let per_output_channel = (d.f_h * d.f_w * d.in_c).max(1);
    let short = || KernelError::Shape(text!("TRANSPOSE_CONV tensor too short"));
    for (i, pixel) in input.chunks_exact(d.in_c).enumerate() {
        let (b, rest) = (i / plane, i % plane);
        let (in_y, in_x) = (rest / d.in_w, rest % d.in_w);
        // The output pixels under the filter placed at this input pixel.
        let taps = window.pixel_taps(in_y, in_x, (d.f_h, d.f_w), (d.out_h, d.out_w));
        for (ic, &x) in pixel.iter().enumerate() {
            for fy in taps.rows.clone() {
                let out_y = taps.input_y(fy);
                for fx in taps.cols.clone() {
                    let out_x = taps.input_x(fx);
                    let at = ((b * d.out_h + out_y) * d.out_w + out_x) * d.out_c;
                    let outs = acc.get_mut(at..at + d.out_c).ok_or_else(short)?;
                    let first = (fy * d.f_w + fx) * d.in_c + ic;
                    let weights = filter.get(first..).ok_or_else(short)?;
                    for (a, &w) in outs
                        .iter_mut()
                        .zip(weights.iter().step_by(per_output_channel))
                    {
                        add(a, x, w);
                    }
                }
            }
        }
    }
    Ok(())
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<OpData>(0)?;
    let input = ctx.inputs.get(INPUT)?;
    let filter = ctx.inputs.get(FILTER)?;
    let bias = ctx.inputs.optional(BIAS)?;
    let mut output = ctx.outputs.take(0)?;

    let [batches, in_h, in_w, in_c] =
        nhwc(&input.shape, text!("TRANSPOSE_CONV input must have rank 4"))?;
    let [_, f_h, f_w, _] = nhwc(
        &filter.shape,
        text!("TRANSPOSE_CONV filter must have rank 4"),
    )?;
    let [_, out_h, out_w, out_c] = nhwc(
        &output.shape,
        text!("TRANSPOSE_CONV output must have rank 4"),
    )?;
    let d = Dims {
        batches,
        in_h,
        in_w,
        in_c,
        f_h,
        f_w,
        out_h,
        out_w,
        out_c,
    };
    let lens = (d.input_len(), d.filter_len(), d.output_len());
    let (Some(input_len), Some(filter_len), Some(n)) = lens else {
        return Err(KernelError::Shape(text!("TRANSPOSE_CONV tensor too large")));
    };
    if n == 0 {
        return Ok(()); // Nothing to compute (a zero-sized tensor).
    }
    let mismatch =
        || KernelError::Shape(text!("TRANSPOSE_CONV tensor size differs from its shape"));

    match input.ty {
        TensorType::Float32 => {
            let (input, filter) = (input.as_f32()?, filter.as_f32()?);
            let bias = bias.map(|b| b.as_f32()).transpose()?;
            let output = output.as_f32_mut()?;
            if input.len() != input_len || filter.len() != filter_len || output.len() != n {
                return Err(mismatch());
            }
            // The output is the accumulator, as in TFLM.
            output.fill(0.0);
            scatter(&d, &p.window, input, filter, output, |acc, x, w| {
                *acc += x * w
            })?;
            let (lo, hi) = (p.quant.act_min_f32, p.quant.act_max_f32);
            for pixel in output.chunks_exact_mut(out_c) {
                for (oc, o) in pixel.iter_mut().enumerate() {
                    let bias = bias.and_then(|v| v.get(oc)).copied().unwrap_or(0.0);
                    *o = clamp_f32(*o + bias, lo, hi);
                }
            }
            Ok(())
        }
        TensorType::Int8 => {
            let (multipliers, shifts) = ConvQuant::channel_params(ctx, HEADER, p.channels, out_c)?;
            let (input, filter) = (input.as_i8()?, filter.as_i8()?);
            let bias = bias.map(|b| b.as_i32()).transpose()?;
            let output = output.as_i8_mut()?;
            let acc = accumulators::<i32>(ctx.scratch.take(0)?, n)?;
            if input.len() != input_len || filter.len() != filter_len || output.len() != n {
                return Err(mismatch());
            }
            let input_offset = p.quant.input_offset;
            // C++'s int32 sums wrap in practice; so do these.
            scatter(&d, &p.window, input, filter, acc, |acc, x, w| {
                let product = i32::from(x)
                    .wrapping_add(input_offset)
                    .wrapping_mul(w.into());
                *acc = acc.wrapping_add(product);
            })?;
            let pixels = output.chunks_exact_mut(out_c).zip(acc.chunks_exact(out_c));
            for (outs, sums) in pixels {
                let params = multipliers.iter().zip(shifts);
                for (oc, ((o, &sum), (&m, &s))) in outs.iter_mut().zip(sums).zip(params).enumerate()
                {
                    let bias = bias.and_then(|v| v.get(oc)).copied().unwrap_or(0);
                    *o = p.quant.requantize(sum.wrapping_add(bias), m, s);
                }
            }
            Ok(())
        }
        TensorType::Int16 => {
            let (multipliers, shifts) = ConvQuant::channel_params(ctx, HEADER, p.channels, out_c)?;
            let (input, filter) = (input.as_i16()?, filter.as_i8()?);
            // TFLM sums in int64 whatever the bias (an int16 one is widened).
            let bias = QuantBias::of(bias, false)?;
            let output = output.as_i16_mut()?;
            let acc = accumulators::<i64>(ctx.scratch.take(0)?, n)?;
            if input.len() != input_len || filter.len() != filter_len || output.len() != n {
                return Err(mismatch());
            }
            scatter(&d, &p.window, input, filter, acc, |acc, x, w| {
                *acc = acc.wrapping_add(i64::from(x) * i64::from(w));
            })?;
            let pixels = output.chunks_exact_mut(out_c).zip(acc.chunks_exact(out_c));
            for (outs, sums) in pixels {
                let params = multipliers.iter().zip(shifts);
                for (oc, ((o, &sum), (&m, &s))) in outs.iter_mut().zip(sums).zip(params).enumerate()
                {
                    *o = p.quant.finish(sum, &bias, oc, m, s) as i16;
                }
            }
            Ok(())
        }
        ty => Err(KernelError::UnsupportedType(text!("input"), ty)),
    }
}

/// The first `n` values of the scratch buffer as zeroed accumulators.
fn accumulators<A: Pod>(scratch: &mut [u8], n: usize) -> Result<&mut [A], KernelError> {
    let all: &mut [A] =
        bytemuck::try_cast_slice_mut(scratch).map_err(|_| KernelError::Misaligned)?;
    let acc = all
        .get_mut(..n)
        .ok_or(KernelError::Invalid(text!("scratch buffer too short")))?;
    acc.fill(A::zeroed());
    Ok(acc)
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::super::common::conv_testing::t_i64;
    use crate::schema::{op, Activation, Padding, TensorType};
    use crate::testing::{assert_close, fb, OpTest, Outputs, T};
    use std::string::String;
    use std::vec::Vec;

    /// A TRANSPOSE_CONV with its tensors as `T` values, to run or to spoil.
    struct TConv {
        output_shape: T,
        filter: T,
        input: T,
        bias: Option<T>,
        output: T,
        padding: Padding,
        stride: (i32, i32),
        activation: Activation,
    }

    impl TConv {
        /// The tensors; `output_shape` is made a constant of the output's
        /// shape.
        fn new(filter: T, input: T, bias: Option<T>, output: T) -> Self {
            TConv {
                output_shape: T::i32(&[4], &output.shape.clone()).constant(),
                filter,
                input,
                bias,
                output,
                padding: Padding::Same,
                stride: (1, 1),
                activation: Activation::None,
            }
        }

        fn run(self) -> Result<Outputs, String> {
            let mut t = OpTest::new(op::TRANSPOSE_CONV)
                .input(self.output_shape)
                .input(self.filter)
                .input(self.input);
            if let Some(bias) = self.bias {
                t = t.input(bias);
            }
            let padding = match self.padding {
                Padding::Same => fb::Padding::SAME,
                Padding::Valid => fb::Padding::VALID,
            };
            let act = match self.activation {
                Activation::None => fb::ActivationFunctionType::NONE,
                Activation::Relu => fb::ActivationFunctionType::RELU,
                Activation::ReluN1To1 => fb::ActivationFunctionType::RELU_N1_TO_1,
                Activation::Relu6 => fb::ActivationFunctionType::RELU6,
                Activation::Tanh => fb::ActivationFunctionType::TANH,
                Activation::SignBit => fb::ActivationFunctionType::SIGN_BIT,
            };
            let (stride_h, stride_w) = self.stride;
            t.output(self.output)
                .options(move |b| {
                    let o = fb::TransposeConvOptions::create(
                        b,
                        &fb::TransposeConvOptionsArgs {
                            padding,
                            stride_h,
                            stride_w,
                            fused_activation_function: act,
                            ..Default::default()
                        },
                    );
                    (fb::BuiltinOptions::TransposeConvOptions, o.as_union_value())
                })
                .run()
                .map_err(|e| std::format!("{e}"))
        }

        fn error(self) -> String {
            match self.run() {
                Ok(_) => panic!("expected an error"),
                Err(e) => e,
            }
        }
    }

    fn counting(n: usize, sign: f32) -> Vec<f32> {
        (1..=n).map(|v| sign * v as f32).collect()
    }

    /// TFLM's transpose_conv_test.cc float test: input 1..32 `[1,4,4,2]`,
    /// filter 1..18 `[1,3,3,2]`, bias 0, SAME, stride 1.
    fn tflm_float(filter_sign: f32, bias: f32) -> TConv {
        TConv::new(
            T::f32(&[1, 3, 3, 2], &counting(18, filter_sign)).constant(),
            T::f32(&[1, 4, 4, 2], &counting(32, 1.0)),
            Some(T::f32(&[1], &[bias]).constant()),
            T::out(TensorType::Float32, &[1, 4, 4, 1]),
        )
    }

    const TFLM_FLOAT_GOLDEN: [f32; 16] = [
        184.0, 412.0, 568.0, 528.0, 678.0, 1347.0, 1689.0, 1434.0, 1494.0, 2715.0, 3057.0, 2442.0,
        1968.0, 3352.0, 3652.0, 2760.0,
    ];

    #[test]
    fn float_matches_tflm_kernel_test() {
        let out = tflm_float(1.0, 0.0).run().unwrap();
        assert_close(&out.f32(0), &TFLM_FLOAT_GOLDEN, 1e-6);
    }

    #[test]
    fn float_bias_then_activation() {
        // Negated filter plus a bias of 1000, then RELU: max(0, 1000 - golden).
        let mut conv = tflm_float(-1.0, 1000.0);
        conv.activation = Activation::Relu;
        let expected: Vec<f32> = TFLM_FLOAT_GOLDEN
            .iter()
            .map(|g| (1000.0 - g).max(0.0))
            .collect();
        assert_close(&conv.run().unwrap().f32(0), &expected, 1e-6);
    }

    #[test]
    fn float_stride_2_places_a_filter_copy_per_input() {
        // VALID, 2x2 filter, stride 2: each input value scales a copy of
        // the filter into its own 2x2 block of the output.
        let mut conv = TConv::new(
            T::f32(&[1, 2, 2, 1], &[1.0, 10.0, 100.0, 1000.0]).constant(),
            T::f32(&[1, 2, 2, 1], &[1.0, 2.0, 3.0, 4.0]),
            None,
            T::out(TensorType::Float32, &[1, 4, 4, 1]),
        );
        conv.padding = Padding::Valid;
        conv.stride = (2, 2);
        let out = conv.run().unwrap().f32(0);
        #[rustfmt::skip]
        let expected = [
            1.0, 10.0, 2.0, 20.0,
            100.0, 1000.0, 200.0, 2000.0,
            3.0, 30.0, 4.0, 40.0,
            300.0, 3000.0, 400.0, 4000.0,
        ];
        assert_eq!(out, expected);
    }

    // Integer vectors made by running TFLM (the tflite-micro Python
    // package) on one-operator models with seeded random data.

    fn int8_s2_same_relu() -> TConv {
        let filter: [i8; 54] = [
            94, -56, -34, -106, 118, 120, 50, 16, 17, 37, 61, 20, 73, -6, -35, -96, 78, -48, 42,
            60, 49, 104, 50, 99, 63, 114, -5, -121, 30, 61, -90, 44, 67, 32, -70, 35, 17, -95, 46,
            32, 88, 73, 91, -126, -110, 107, 83, -94, -63, -32, 83, 13, 84, 28,
        ];
        let input: [i8; 12] = [-9, 12, -113, -29, 97, 97, 16, -27, 45, 95, 109, -44];
        let mut conv = TConv::new(
            T::i8(&[2, 3, 3, 3], &filter)
                .per_channel(&[0.0089930575, 0.012174147], &[0, 0], 0)
                .constant(),
            T::i8(&[1, 2, 2, 3], &input).q(0.05, -3),
            Some(T::i32(&[2], &[12, -877]).constant()),
            T::out(TensorType::Int8, &[1, 4, 4, 2]).q(0.2, -20),
        );
        conv.stride = (2, 2);
        conv.activation = Activation::Relu;
        conv
    }

    #[test]
    fn int8_is_bit_exact_with_tflm() {
        let out = int8_s2_same_relu().run().unwrap();
        assert_eq!(
            out.i8(0),
            [
                -15, -20, -20, -20, -20, -1, 40, 18, -20, -20, -13, -20, 12, -10, -20, 24, -20, 10,
                -20, -20, 19, -20, 3, -20, -20, -8, -20, -17, -12, -20, -2, 8
            ]
        );
    }

    const INT16_FILTER: [i8; 36] = [
        -92, 58, -7, -95, 91, -123, 97, -79, 58, -27, -32, 52, -81, 51, -34, -73, -37, -70, -98,
        -114, 96, -122, 49, -93, -76, 64, -39, -41, -18, -39, 93, -39, -119, -66, 79, 113,
    ];
    const INT16_INPUT: [i16; 12] = [
        -3500, 3529, -1956, 3460, 1213, 1761, -250, 1213, -3245, 594, -3652, -725,
    ];
    const INT16_GOLDEN: [i16; 70] = [
        1271, -800, -2190, -3963, -2443, -3677, -2207, -3263, -3439, -3832, -1632, -975, -1345,
        -1002, -3461, 1665, -2138, -572, -1598, 787, -1761, -828, 8, -889, -812, -1069, -688, -940,
        1395, -3115, -1948, -483, 658, -845, -1814, -2233, -1950, 1732, -1217, -2873, -2605, 285,
        -1402, -103, -1101, -714, -2107, 547, -1750, -78, -1576, 657, -1700, 235, -579, -114, -566,
        -851, -1237, -760, -7, -1464, -629, 1017, 488, -2774, -174, 1623, -138, -2192,
    ];

    /// 16x8, int64 bias, stride 2, VALID: `[1,2,3,2]` -> `[1,5,7,2]`.
    fn int16_s2_valid_bias64() -> TConv {
        let mut conv = TConv::new(
            T::i8(&[2, 3, 3, 2], &INT16_FILTER)
                .per_channel(&[0.0061982763, 0.00670898], &[0, 0], 0)
                .constant(),
            T::i16(&[1, 2, 3, 2], &INT16_INPUT).q(0.001, 0),
            Some(t_i64(&[2], &[-219193, -119596]).constant()),
            T::out(TensorType::Int16, &[1, 5, 7, 2]).q(0.0015, 0),
        );
        conv.padding = Padding::Valid;
        conv.stride = (2, 2);
        conv
    }

    #[test]
    fn int16_is_bit_exact_with_tflm() {
        let out = int16_s2_valid_bias64().run().unwrap();
        assert_eq!(out.i16(0), INT16_GOLDEN);

        // An int16 bias, which TFLM widens to int64; SAME, stride 1.
        let filter: [i8; 16] = [
            29, 30, -34, -3, 34, 58, 60, 65, -24, 54, 109, -88, 79, -63, -11, 44,
        ];
        let input: [i16; 18] = [
            -1067, 1483, 2891, 735, 734, 1306, -1983, 3385, -2492, -3426, -137, 84, 2933, -1344,
            2762, -3842, -1604, 1440,
        ];
        let conv = TConv::new(
            T::i8(&[2, 2, 2, 2], &filter)
                .per_channel(&[0.012526261, 0.012339922], &[0, 0], 0)
                .constant(),
            T::i16(&[1, 3, 3, 2], &input).q(0.001, 0),
            Some(T::i16(&[2], &[765, -27108]).constant()),
            T::out(TensorType::Int16, &[1, 3, 3, 2]).q(0.0015, 0),
        );
        assert_eq!(
            conv.run().unwrap().i16(0),
            [
                120, 646, 1156, -2498, -328, 2272, 790, 210, 470, -3350, 3476, -108, 1456, -4442,
                -2609, 2689, -3816, 4844
            ]
        );
    }

    #[test]
    fn the_output_shape_may_be_a_graph_input() {
        // As in real 16x8 models: TFLM never reads it, neither does this.
        let mut conv = int16_s2_valid_bias64();
        conv.output_shape = T::i32(&[4], &[1, 5, 7, 2]);
        assert_eq!(conv.run().unwrap().i16(0), INT16_GOLDEN);
    }

    #[test]
    fn runs_in_a_small_arena() {
        // Input, output and the int64 accumulators (70 * 8 bytes) fit in 2 KiB.
        let conv = int16_s2_valid_bias64();
        let mut t = OpTest::new(op::TRANSPOSE_CONV)
            .input(conv.output_shape)
            .input(conv.filter)
            .input(conv.input)
            .input(conv.bias.unwrap())
            .output(conv.output);
        t = t.options(|b| {
            let o = fb::TransposeConvOptions::create(
                b,
                &fb::TransposeConvOptionsArgs {
                    padding: fb::Padding::VALID,
                    stride_h: 2,
                    stride_w: 2,
                    ..Default::default()
                },
            );
            (fb::BuiltinOptions::TransposeConvOptions, o.as_union_value())
        });
        let out = t.run_with(&crate::resolver::AllOpsResolver, 2048).unwrap();
        assert_eq!(out.i16(0), INT16_GOLDEN);
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        // A constant output shape must be the output's.
        let mut conv = tflm_float(1.0, 0.0);
        conv.output_shape = T::i32(&[4], &[1, 4, 5, 1]).constant();
        assert!(conv.error().contains("output shape"));

        let mut conv = tflm_float(1.0, 0.0);
        conv.output_shape = T::f32(&[4], &[1.0, 4.0, 4.0, 1.0]).constant();
        assert!(conv.error().contains("FLOAT32"));

        // TFLM's 16x8 kernel reads an int64 (or int16) bias, not an int32 one.
        let mut conv = int16_s2_valid_bias64();
        conv.bias = Some(T::i32(&[2], &[0, 0]).constant());
        let err = conv.error();
        assert!(err.contains("bias") && err.contains("INT32"), "{err}");

        // ... and ignores zero points.
        let mut conv = int16_s2_valid_bias64();
        conv.input = conv.input.q(0.001, 1);
        assert!(conv.error().contains("zero point 0"));

        // An int8 one needs an int32 bias.
        let mut conv = int8_s2_same_relu();
        conv.bias = Some(t_i64(&[2], &[0, 0]).constant());
        assert!(conv.error().contains("bias"));

        // Hybrid: float input, int8 filter.
        let mut conv = tflm_float(1.0, 0.0);
        conv.filter = T::i8(&[1, 3, 3, 2], &[1; 18]).q(1.0, 0).constant();
        assert!(conv.error().contains("hybrid"));

        let mut conv = tflm_float(1.0, 0.0);
        conv.activation = Activation::Tanh;
        assert!(conv.error().contains("TANH"));

        let mut conv = tflm_float(1.0, 0.0);
        conv.stride = (1, 0);
        assert!(conv.error().contains("stride_w"));
    }

    #[test]
    fn checks_shapes() {
        // Filter input channels (dimension 3) against the input's.
        let mut conv = tflm_float(1.0, 0.0);
        conv.filter = T::f32(&[1, 3, 3, 1], &[1.0; 9]).constant();
        assert!(conv.error().contains("input channels"));

        // Output channels against the filter's dimension 0.
        let mut conv = tflm_float(1.0, 0.0);
        conv.output = T::out(TensorType::Float32, &[1, 4, 4, 2]);
        conv.output_shape = T::i32(&[4], &[1, 4, 4, 2]).constant();
        assert!(conv.error().contains("output channels"));

        let mut conv = tflm_float(1.0, 0.0);
        conv.bias = Some(T::f32(&[2], &[0.0; 2]).constant());
        assert!(conv.error().contains("bias"));

        let mut conv = tflm_float(1.0, 0.0);
        conv.input = T::f32(&[4, 4, 2], &counting(32, 1.0));
        assert!(conv.error().contains("rank 4"));

        let mut conv = tflm_float(1.0, 0.0);
        conv.input = T::f32(&[2, 4, 4, 2], &counting(64, 1.0));
        assert!(conv.error().contains("batch"));
    }
}
