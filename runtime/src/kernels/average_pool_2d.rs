//! AVERAGE_POOL_2D: the mean of each filter window, channel by channel.
//!
//! Tensors are NHWC. As in TFLite, a window that hangs over the padding
//! averages only the input elements it covers. The int8 path keeps the
//! input's quantization (TFLM requires the output to have the same), so the
//! mean is taken on the raw values and rounded half away from zero.
//!
//! This file also holds what MAX_POOL_2D shares with it: the checks and
//! per-op data of [`prepare_pool`] and the window walk of [`pool`].

use super::common::{clamp_f32, positive, ConvWindow};
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant;
use crate::schema::{Pool2DOptions, TensorType};
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// What both pools work out in `prepare`: the window geometry and the
/// clamp range of the fused activation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct PoolData {
    pub stride_h: u32,
    pub stride_w: u32,
    pub filter_h: u32,
    pub filter_w: u32,
    /// Padding before the first row / column (TFLite puts an odd extra
    /// padding element at the end).
    pub pad_h: u32,
    pub pad_w: u32,
    /// Quantized clamp range (int8).
    pub act_min: i32,
    pub act_max: i32,
    /// Float clamp range (float32).
    pub act_min_f32: f32,
    pub act_max_f32: f32,
}

/// The shared `prepare` of AVERAGE_POOL_2D and MAX_POOL_2D. `what` names the
/// op's input in errors ("AVERAGE_POOL_2D input").
pub(crate) fn prepare_pool(
    ctx: &mut PrepareContext<'_, '_>,
    what: &'static str,
) -> Result<(), KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let options = ctx.op.options::<Pool2DOptions>()?;

    // int16 pools exist in TFLM but are not implemented here yet.
    if !matches!(input.ty, TensorType::Float32 | TensorType::Int8) {
        return Err(KernelError::UnsupportedType(what, input.ty));
    }
    output.expect(input.ty)?;
    if input.shape.rank() != 4 || output.shape.rank() != 4 {
        return Err(KernelError::Shape(text!(
            "pool input and output must be 4-D (NHWC)"
        )));
    }

    let filter_h = positive(
        options.filter_height,
        text!("pool filter size must be at least 1"),
    )?;
    let filter_w = positive(
        options.filter_width,
        text!("pool filter size must be at least 1"),
    )?;
    // The same window arithmetic as the convolutions (dilation 1). TFLM takes
    // the output shape from the model but its padding from the computed
    // sizes; insisting they agree also keeps every window inside the input.
    let window = ConvWindow::new(
        options.padding,
        options.stride_h,
        options.stride_w,
        1,
        1,
        (input.shape.dim(1), input.shape.dim(2)),
        (filter_h, filter_w),
        (output.shape.dim(1), output.shape.dim(2)),
    )?;
    if output.shape.dim(0) != input.shape.dim(0) || output.shape.dim(3) != input.shape.dim(3) {
        return Err(KernelError::Shape(text!(
            "pool output batches and channels differ from the input's"
        )));
    }
    let (stride_h, stride_w) = (window.stride_h as usize, window.stride_w as usize);
    let (pad_h, pad_w) = (window.pad_h as usize, window.pad_w as usize);

    let (act_min_f32, act_max_f32) = quant::activation_range_f32(options.activation);
    let (mut act_min, mut act_max) = (i32::from(i8::MIN), i32::from(i8::MAX));
    if input.ty == TensorType::Int8 {
        // The pools do not requantize: TFLM insists on the same quantization.
        if f64::from((input.scale() - output.scale()).abs()) > 1.0e-6 {
            return Err(KernelError::Invalid(text!(
                "pool input and output scales differ"
            )));
        }
        if input.zero_point() != output.zero_point() {
            return Err(KernelError::Invalid(text!(
                "pool input and output zero points differ"
            )));
        }
        (act_min, act_max) = quant::try_activation_range_quantized(
            options.activation,
            output.zero_point(),
            output.scale(),
            act_min,
            act_max,
        )
        .map_err(|_| {
            KernelError::Invalid(text!(
                "pool activation range does not quantize with the output scale"
            ))
        })?;
    }

    let to_u32 = |v: usize| {
        u32::try_from(v).map_err(|_| KernelError::Invalid(text!("pool parameter too large")))
    };
    let data = PoolData {
        stride_h: to_u32(stride_h)?,
        stride_w: to_u32(stride_w)?,
        filter_h: to_u32(filter_h)?,
        filter_w: to_u32(filter_w)?,
        pad_h: to_u32(pad_h)?,
        pad_w: to_u32(pad_w)?,
        act_min,
        act_max,
        act_min_f32,
        act_max_f32,
    };
    ctx.alloc_op_data(core::mem::size_of::<PoolData>())?;
    ctx.write_op_data(0, &[data])
}

/// The in-bounds part of one filter window, for one channel.
pub(crate) struct Window<'a, T> {
    input: &'a [T],
    /// Index in `input` of the window's top-left in-bounds element.
    first: usize,
    rows: usize,
    cols: usize,
    /// Distance between vertically adjacent elements (`width * depth`).
    row_stride: usize,
    /// Distance between horizontally adjacent elements.
    depth: usize,
}

impl<'a, T: Copy> Window<'a, T> {
    /// How many input elements the window covers.
    pub fn len(&self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    /// The covered elements, row by row (the order TFLite sums them in).
    pub fn values(&self) -> impl Iterator<Item = T> + 'a {
        let &Window {
            input,
            first,
            rows,
            cols,
            row_stride,
            depth,
        } = self;
        (0..rows).flat_map(move |r| {
            let start = first.saturating_add(r.saturating_mul(row_stride));
            input
                .get(start..)
                .unwrap_or(&[])
                .iter()
                .step_by(depth)
                .take(cols)
                .copied()
        })
    }
}

/// Fills `output` (NHWC, the shape `prepare_pool` checked) with `reduce`
/// of each output element's window.
pub(crate) fn pool<T: Copy>(
    p: &PoolData,
    input_shape: Shape<'_>,
    output_shape: Shape<'_>,
    input: &[T],
    output: &mut [T],
    mut reduce: impl FnMut(&Window<'_, T>) -> T,
) {
    let (in_h, in_w) = (input_shape.dim(1), input_shape.dim(2));
    let (batches, out_h, out_w, depth) = (
        output_shape.dim(0),
        output_shape.dim(1),
        output_shape.dim(2),
        output_shape.dim(3),
    );
    // `step_by` needs a non-zero step; with no channels there is no output.
    let depth = depth.max(1);
    let row_stride = in_w.saturating_mul(depth);
    // Clipped window `[start, end)` along an axis of `size` for output `o`.
    let span = |o: usize, stride: u32, pad: u32, filter: u32, size: usize| {
        let origin = o.saturating_mul(stride as usize);
        let start = origin.saturating_sub(pad as usize);
        let end = origin
            .saturating_add(filter as usize)
            .saturating_sub(pad as usize)
            .min(size);
        (start, end.max(start))
    };
    let mut out = output.iter_mut();
    for b in 0..batches {
        for oy in 0..out_h {
            let (y0, y1) = span(oy, p.stride_h, p.pad_h, p.filter_h, in_h);
            for ox in 0..out_w {
                let (x0, x1) = span(ox, p.stride_w, p.pad_w, p.filter_w, in_w);
                let corner = (b.saturating_mul(in_h).saturating_add(y0))
                    .saturating_mul(row_stride)
                    .saturating_add(x0.saturating_mul(depth));
                for c in 0..depth {
                    let window = Window {
                        input,
                        first: corner.saturating_add(c),
                        rows: y1 - y0,
                        cols: x1 - x0,
                        row_stride,
                        depth,
                    };
                    match out.next() {
                        Some(o) => *o = reduce(&window),
                        None => return,
                    }
                }
            }
        }
    }
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    prepare_pool(ctx, text!("AVERAGE_POOL_2D input"))
}

/// The int8 mean: the integer sum divided by the element count, rounded half
/// away from zero (C division truncates, hence the sign-dependent offset).
fn average_i8(window: &Window<'_, i8>, p: &PoolData) -> i8 {
    let sum = window
        .values()
        .fold(0i32, |acc, v| acc.wrapping_add(i32::from(v)));
    // Never 0: the padding is smaller than the filter, so every window
    // overlaps the input.
    let count = i32::try_from(window.len()).unwrap_or(i32::MAX).max(1);
    let mean = if sum > 0 {
        sum.wrapping_add(count / 2) / count
    } else {
        sum.wrapping_sub(count / 2) / count
    };
    mean.max(p.act_min).min(p.act_max) as i8
}

fn average_f32(window: &Window<'_, f32>, p: &PoolData) -> f32 {
    let sum = window.values().fold(0.0f32, |acc, v| acc + v);
    let mean = sum / window.len().max(1) as f32;
    clamp_f32(mean, p.act_min_f32, p.act_max_f32)
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let p = *ctx.op_data_at::<PoolData>(0)?;
    let input = ctx.inputs.get(0)?;
    let mut output = ctx.outputs.take(0)?;
    let output_shape = output.shape;
    match input.ty {
        TensorType::Int8 => pool(
            &p,
            input.shape,
            output_shape,
            input.as_i8()?,
            output.as_i8_mut()?,
            |w| average_i8(w, &p),
        ),
        TensorType::Float32 => pool(
            &p,
            input.shape,
            output_shape,
            input.as_f32()?,
            output.as_f32_mut()?,
            |w| average_f32(w, &p),
        ),
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("AVERAGE_POOL_2D input"),
                ty,
            ))
        }
    }
    Ok(())
}

pub const KERNEL: Kernel = Kernel {
    prepare,
    eval,
    output_aliases_input: false,
};

#[cfg(test)]
pub(crate) mod tests {
    use crate::schema::{op, BuiltinOperator, TensorType};
    use crate::testing::{assert_close, fb, OpTest, Outputs, T};
    use crate::Error;

    /// A 2x5x5x2 int8 input for the pool tests run through TFLM.
    pub(crate) const INT8_INPUT: [i8; 100] = [
        113, 32, 47, 101, 20, 70, 85, -71, -114, -52, -56, 95, 105, -127, -1, 82, -95, 76, -98, -9,
        81, -51, -41, -57, 56, -63, 125, -15, -6, 1, 21, 13, 2, 126, 78, 74, 51, 31, -41, 125, -9,
        -73, 88, -87, 91, 28, -99, -117, -15, -119, -92, 3, 120, -9, 78, 106, 82, 33, -16, 3, -60,
        -1, -31, -65, 126, -125, -104, -79, 120, 49, 97, -77, 56, -34, -3, -128, 30, 84, 41, -89,
        8, -60, 119, 97, -81, 2, 112, 88, 53, 35, -118, 61, -7, -105, -66, 10, 58, 1, 28, 95,
    ];

    /// A 1x4x5x3 float input for the pool tests run through TFLM.
    pub(crate) const F32_INPUT: [f32; 60] = [
        6.00125,
        2.2867792,
        -3.5978668,
        0.22354868,
        1.7300688,
        -0.56634635,
        2.0487309,
        -0.19955195,
        2.0017426,
        4.315568,
        -2.0269868,
        0.6094158,
        -1.3899227,
        0.38180524,
        -3.5615835,
        -1.7379048,
        -0.58858794,
        2.6962917,
        3.435666,
        -3.9705834,
        -2.383927,
        1.9407103,
        -5.977259,
        -1.3895096,
        -0.2918608,
        3.771045,
        2.0682118,
        -0.9816403,
        -1.1057277,
        -0.7505862,
        4.570588,
        -1.2840748,
        -0.91104114,
        1.0577672,
        -0.36231133,
        -0.59185266,
        -3.3422015,
        -0.034564406,
        -1.3307437,
        3.4983833,
        1.9592655,
        -0.07243084,
        2.0051432,
        -1.0196086,
        3.156379,
        -0.016198682,
        1.7501471,
        -3.8726797,
        1.0400401,
        -5.0646124,
        -6.105987,
        -0.91343063,
        -2.6997828,
        0.49215838,
        6.73427,
        -2.4951696,
        -1.8718307,
        0.61621183,
        1.4790399,
        -0.5292182,
    ];

    /// Pool options for the test models.
    pub(crate) struct Pool {
        padding: fb::Padding,
        stride: (i32, i32),
        filter: (i32, i32),
        activation: fb::ActivationFunctionType,
    }

    impl Pool {
        /// `filter` and `stride` as (height, width); VALID, no activation.
        pub(crate) fn new(filter: (i32, i32), stride: (i32, i32)) -> Self {
            Pool {
                padding: fb::Padding::VALID,
                stride,
                filter,
                activation: fb::ActivationFunctionType::NONE,
            }
        }

        pub(crate) fn same(mut self) -> Self {
            self.padding = fb::Padding::SAME;
            self
        }

        pub(crate) fn act(mut self, a: fb::ActivationFunctionType) -> Self {
            self.activation = a;
            self
        }

        /// Runs `op` on `input`; the output has shape `out_shape` and the
        /// input's type and quantization.
        pub(crate) fn run(
            &self,
            op: BuiltinOperator,
            input: T,
            out_shape: &[i32],
        ) -> Result<Outputs, Error> {
            let mut output = T::out(input.ty, out_shape);
            output.scale = input.scale.clone();
            output.zero_point = input.zero_point.clone();
            self.run_with(op, input, output)
        }

        pub(crate) fn run_with(
            &self,
            op: BuiltinOperator,
            input: T,
            output: T,
        ) -> Result<Outputs, Error> {
            let args = fb::Pool2DOptionsArgs {
                padding: self.padding,
                stride_w: self.stride.1,
                stride_h: self.stride.0,
                filter_width: self.filter.1,
                filter_height: self.filter.0,
                fused_activation_function: self.activation,
            };
            OpTest::new(op)
                .input(input)
                .output(output)
                .options(move |b| {
                    let o = fb::Pool2DOptions::create(b, &args);
                    (fb::BuiltinOptions::Pool2DOptions, o.as_union_value())
                })
                .run()
        }
    }

    const AVG: BuiltinOperator = op::AVERAGE_POOL_2D;
    use fb::ActivationFunctionType as Act;

    #[test]
    fn float_from_tflm_tests() {
        // TFLM pooling_test.cc: SimpleAveragePoolTestFloat.
        let input = [0.0, 6.0, 2.0, 4.0, 3.0, 2.0, 10.0, 7.0];
        let out = Pool::new((2, 2), (2, 2))
            .run(AVG, T::f32(&[1, 2, 4, 1], &input), &[1, 1, 2, 1])
            .unwrap();
        assert_close(&out.f32(0), &[2.75, 5.75], 1e-6);
        // The fused activations clamp the mean.
        let input = [-1.5, -6.0, 12.0, 4.0, -3.0, -2.0, 10.0, 7.0];
        let pool = |a| {
            Pool::new((2, 2), (2, 2))
                .act(a)
                .run(AVG, T::f32(&[1, 2, 4, 1], &input), &[1, 1, 2, 1])
        };
        assert_close(&pool(Act::NONE).unwrap().f32(0), &[-3.125, 8.25], 1e-6);
        assert_close(&pool(Act::RELU).unwrap().f32(0), &[0.0, 8.25], 1e-6);
        assert_close(&pool(Act::RELU6).unwrap().f32(0), &[0.0, 6.0], 1e-6);
        assert_close(&pool(Act::RELU_N1_TO_1).unwrap().f32(0), &[-1.0, 1.0], 1e-6);
    }

    #[test]
    fn float_same_padding_averages_only_covered_elements() {
        // 3x3 input, 2x2 filter, stride 2, SAME: output 2x2, the one padding
        // row / column goes after, so edge windows cover 2 or 1 elements.
        let input = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let out = Pool::new((2, 2), (2, 2))
            .same()
            .run(AVG, T::f32(&[1, 3, 3, 1], &input), &[1, 2, 2, 1])
            .unwrap();
        assert_close(&out.f32(0), &[3.0, 4.5, 7.5, 9.0], 1e-6);
    }

    #[test]
    fn float_from_tflm_run() {
        // TFLM on a one-op model: 3x3 filter, stride (2, 3), SAME, 3 channels.
        let out = Pool::new((3, 3), (2, 3))
            .same()
            .run(AVG, T::f32(&[1, 4, 5, 3], &F32_INPUT), &[1, 2, 2, 3])
            .unwrap();
        let expected = [
            1.577573,
            -0.9333427,
            -0.6748059,
            1.1926118,
            0.32663208,
            0.24156766,
            0.3994274,
            -1.282533,
            -2.0533576,
            3.2135022,
            -0.01911822,
            0.17072481,
        ];
        // Bit-exact: the same additions in the same order, then one division.
        assert_eq!(out.f32(0), expected);
    }

    #[test]
    fn float_batches_and_channels_stay_apart() {
        // 2 batches of 2x2x2, one 2x2 window each.
        let input: std::vec::Vec<f32> = (0..16).map(|v| v as f32).collect();
        let out = Pool::new((2, 2), (1, 1))
            .run(AVG, T::f32(&[2, 2, 2, 2], &input), &[2, 1, 1, 2])
            .unwrap();
        assert_close(&out.f32(0), &[3.0, 4.0, 11.0, 12.0], 1e-6);
    }

    #[test]
    fn int8_from_tflm_tests() {
        // TFLM pooling_test.cc, SimpleAveragePoolTestInt8* (scale 0.25, zero point 0).
        let input = [0, -24, 8, 16, 12, 8, -40, 28];
        let t = || T::i8(&[1, 2, 4, 1], &input).q(0.25, 0);
        let out = Pool::new((2, 2), (2, 2))
            .run(AVG, t(), &[1, 1, 2, 1])
            .unwrap();
        assert_eq!(out.i8(0), [-1, 3]);
        let out = Pool::new((2, 2), (2, 1))
            .act(Act::RELU)
            .run(AVG, t(), &[1, 1, 3, 1])
            .unwrap();
        assert_eq!(out.i8(0), [0, 0, 3]);
        let out = Pool::new((2, 2), (1, 2))
            .act(Act::RELU_N1_TO_1)
            .run(AVG, t(), &[1, 1, 2, 1])
            .unwrap();
        assert_eq!(out.i8(0), [-1, 3]);

        let input = [12, -24, 32, 16, 12, 8, 40, 28];
        let t = || T::i8(&[1, 2, 4, 1], &input).q(0.25, 0);
        let out = Pool::new((2, 2), (2, 2))
            .act(Act::RELU6)
            .run(AVG, t(), &[1, 1, 2, 1])
            .unwrap();
        assert_eq!(out.i8(0), [2, 24]);
        // TFLM's test is named "PaddingSame" but passes VALID with this
        // SAME-sized output; SAME gives the same (padding after only).
        let out = Pool::new((2, 2), (1, 1))
            .same()
            .run(AVG, t(), &[1, 2, 4, 1])
            .unwrap();
        assert_eq!(out.i8(0), [2, 14, 29, 22, 10, 24, 34, 28]);
    }

    #[test]
    fn int8_rounds_half_away_from_zero_by_sign() {
        // Window sums 2, -2, 1, -1 over 4 elements: 0.5 -> 1, -0.5 -> -1,
        // 0.25 -> 0, -0.25 -> 0.
        let input = [1, 1, -1, -1, 0, 1, 0, -1, 1, 0, -1, 0, 0, 0, 0, 0];
        let out = Pool::new((2, 2), (2, 2))
            .run(AVG, T::i8(&[1, 4, 4, 1], &input).q(0.5, 0), &[1, 2, 2, 1])
            .unwrap();
        assert_eq!(out.i8(0), [1, -1, 0, 0]);
    }

    #[test]
    fn int8_from_tflm_run() {
        // TFLM on one-op models; 2 batches, 2 channels.
        let t = |scale, zp| T::i8(&[2, 5, 5, 2], &INT8_INPUT).q(scale, zp);
        // 3x3 filter, stride 2, SAME, RELU, zero point -3.
        let out = Pool::new((3, 3), (2, 2))
            .same()
            .act(Act::RELU)
            .run(AVG, t(0.5, -3), &[2, 3, 3, 2])
            .unwrap();
        let expected = [
            52, 25, 27, 22, -3, -3, 19, 0, 31, 14, -3, 35, 26, -3, 35, 9, -3, -3, -3, -3, 45, -3,
            21, 2, 32, -3, 25, -3, 42, 15, 1, -2, 23, 16, 63, 55,
        ];
        assert_eq!(out.i8(0), expected);
        // 2x1 filter, stride (2, 1), VALID, RELU6 with scale 0.05, zero point 10.
        let out = Pool::new((2, 1), (2, 1))
            .act(Act::RELU6)
            .run(AVG, t(0.05, 10), &[2, 2, 5, 2])
            .unwrap();
        let expected = [
            29, 64, 76, 10, 10, 76, 10, 10, 10, 10, 51, 10, 10, 35, 67, 10, 88, 10, 10, 63, 10, 10,
            45, 10, 102, 10, 10, 10, 52, 26, 53, 10, 88, 32, 10, 10, 71, 86, 47, 10,
        ];
        assert_eq!(out.i8(0), expected);
    }

    #[test]
    fn rejects_int16_bad_shapes_options_and_quantization() {
        let pool = Pool::new((2, 2), (2, 2));
        let err = pool
            .run(AVG, T::i16(&[1, 2, 2, 1], &[0; 4]).q(1.0, 0), &[1, 1, 1, 1])
            .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");

        let err = pool
            .run(AVG, T::f32(&[1, 4, 4, 1], &[0.0; 16]), &[1, 1, 1, 1])
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("differ from what the padding"),
            "{err}"
        );

        let err = pool
            .run(AVG, T::f32(&[4, 4, 1], &[0.0; 16]), &[2, 2, 1])
            .unwrap_err();
        assert!(std::format!("{err}").contains("4-D"), "{err}");

        let err = Pool::new((0, 2), (1, 1))
            .run(AVG, T::f32(&[1, 2, 2, 1], &[0.0; 4]), &[1, 1, 1, 1])
            .unwrap_err();
        assert!(std::format!("{err}").contains("filter size"), "{err}");

        let err = Pool::new((1, 1), (1, 0))
            .run(AVG, T::f32(&[1, 2, 2, 1], &[0.0; 4]), &[1, 2, 2, 1])
            .unwrap_err();
        assert!(std::format!("{err}").contains("stride"), "{err}");

        let input = || T::i8(&[1, 2, 2, 1], &[0; 4]).q(0.5, 0);
        let err = pool
            .run_with(
                AVG,
                input(),
                T::out(TensorType::Int8, &[1, 1, 1, 1]).q(0.25, 0),
            )
            .unwrap_err();
        assert!(std::format!("{err}").contains("scales differ"), "{err}");
        let err = pool
            .run_with(
                AVG,
                input(),
                T::out(TensorType::Int8, &[1, 1, 1, 1]).q(0.5, 1),
            )
            .unwrap_err();
        assert!(
            std::format!("{err}").contains("zero points differ"),
            "{err}"
        );

        let err = pool
            .run_with(
                AVG,
                T::f32(&[1, 2, 2, 1], &[0.0; 4]),
                T::out(TensorType::Int8, &[1, 1, 1, 1]),
            )
            .unwrap_err();
        assert!(std::format!("{err}").contains("expected"), "{err}");
    }
}
