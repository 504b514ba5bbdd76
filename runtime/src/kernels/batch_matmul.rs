//! BATCH_MATMUL: `output[b] = lhs[b] x rhs[b]` for every batch `b`, with the
//! batch dimensions (all but the last two, up to three of them) broadcast
//! between the operands.
//!
//! `adj_x` / `adj_y` say an operand is stored transposed (`[depth, rows]` /
//! `[cols, depth]`); this kernel reads it in place instead of transposing a
//! copy as TFLM does, which gives the same sums in the same order. float32
//! sums in `f32` from zero along the depth; int8 accumulates `(l - zp_l) *
//! (r - zp_r)` in `i32` and int16 (zero points 0) in `i64`, each rescaled
//! with one per-tensor multiplier `lhs_scale * rhs_scale / output_scale` as
//! TFLM does. A constant RHS needs nothing special.

use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::quant::{
    conv_effective_scale, multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_i64,
    quantize_multiplier,
};
use crate::schema::{BatchMatMulOptions, TensorType};
use crate::tensor::Shape;
use bytemuck::{Pod, Zeroable};

/// Ranks TFLM accepts for either operand.
const MAX_RANK: usize = 5;

#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct MatMulData {
    /// The operands' shapes, with leading 1s to five dimensions.
    lhs: [u32; MAX_RANK],
    rhs: [u32; MAX_RANK],
    adj_x: u32,
    adj_y: u32,
    multiplier: i32,
    shift: i32,
    lhs_zero_point: i32,
    rhs_zero_point: i32,
    output_zero_point: i32,
}

/// `shape` with leading 1s up to five dimensions.
fn extend(shape: &Shape<'_>) -> Result<[u32; MAX_RANK], KernelError> {
    let mut dims = [1u32; MAX_RANK];
    let skip = MAX_RANK - shape.rank();
    for (d, v) in dims.iter_mut().skip(skip).zip(shape.iter()) {
        *d = u32::try_from(v)
            .map_err(|_| KernelError::Shape(text!("BATCH_MATMUL dimension too large")))?;
    }
    Ok(dims)
}

fn prepare(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    if ctx.inputs_len() != 2 || ctx.outputs_len() != 1 {
        return Err(KernelError::Invalid(text!(
            "BATCH_MATMUL takes two inputs and one output"
        )));
    }
    let lhs = ctx.input(0)?;
    let rhs = ctx.input(1)?;
    let output = ctx.output(0)?;
    if !matches!(
        lhs.ty,
        TensorType::Float32 | TensorType::Int8 | TensorType::Int16
    ) {
        return Err(KernelError::UnsupportedType(
            text!("BATCH_MATMUL input"),
            lhs.ty,
        ));
    }
    rhs.expect(lhs.ty)?;
    output.expect(lhs.ty)?;
    let options = ctx.op.options::<BatchMatMulOptions>()?;
    let (lr, rr) = (lhs.shape.rank(), rhs.shape.rank());
    if !(2..=MAX_RANK).contains(&lr) || !(2..=MAX_RANK).contains(&rr) {
        return Err(KernelError::Shape(text!(
            "BATCH_MATMUL operands must have 2 to 5 dimensions"
        )));
    }
    let (l, r) = (extend(&lhs.shape)?, extend(&rhs.shape)?);
    for (a, b) in l.iter().zip(&r).take(MAX_RANK - 2) {
        if a != b && *a != 1 && *b != 1 {
            return Err(KernelError::Shape(text!(
                "BATCH_MATMUL batch dimensions do not broadcast"
            )));
        }
    }
    let (rows, lhs_depth) = if options.adj_x {
        (l[4], l[3])
    } else {
        (l[3], l[4])
    };
    let (rhs_depth, cols) = if options.adj_y {
        (r[4], r[3])
    } else {
        (r[3], r[4])
    };
    if lhs_depth != rhs_depth {
        return Err(KernelError::Shape(text!(
            "BATCH_MATMUL operands differ in their inner dimension"
        )));
    }
    // The output: the broadcast batch dimensions of the longer operand's
    // rank, then rows and columns.
    let out_rank = lr.max(rr);
    let mut want = [0u32; MAX_RANK];
    for i in 0..MAX_RANK - 2 {
        want[i] = if l[i] == 1 { r[i] } else { l[i] };
    }
    want[3] = rows;
    want[4] = cols;
    let matches = output.shape.rank() == out_rank
        && output
            .shape
            .iter()
            .zip(&want[MAX_RANK - out_rank..])
            .all(|(a, &b)| a == b as usize);
    if !matches {
        return Err(KernelError::Shape(text!(
            "BATCH_MATMUL output shape differs from the broadcast product's"
        )));
    }

    let mut data = MatMulData {
        lhs: l,
        rhs: r,
        adj_x: options.adj_x.into(),
        adj_y: options.adj_y.into(),
        multiplier: 0,
        shift: 0,
        lhs_zero_point: 0,
        rhs_zero_point: 0,
        output_zero_point: 0,
    };
    if lhs.ty != TensorType::Float32 {
        if lhs.ty == TensorType::Int16
            && (lhs.zero_point() != 0 || rhs.zero_point() != 0 || output.zero_point() != 0)
        {
            return Err(KernelError::Invalid(text!(
                "BATCH_MATMUL int16 zero points must be 0"
            )));
        }
        let real = conv_effective_scale(lhs.scale(), rhs.scale(), output.scale());
        if !(real.is_finite() && real > 0.0) {
            return Err(KernelError::Invalid(text!(
                "BATCH_MATMUL scales give no usable multiplier"
            )));
        }
        (data.multiplier, data.shift) = quantize_multiplier(real);
        data.lhs_zero_point = lhs.zero_point();
        data.rhs_zero_point = rhs.zero_point();
        data.output_zero_point = output.zero_point();
    }
    ctx.alloc_op_data(core::mem::size_of::<MatMulData>())?;
    ctx.write_op_data(0, &[data])
}

/// Where the operands of one output element start, and how to step along
/// the depth.
struct Element {
    lhs: usize,
    lhs_step: usize,
    rhs: usize,
    rhs_step: usize,
}

/// Calls `f` for every output element in order, with where its row of the
/// LHS and column of the RHS start, and `depth` (the length of both).
fn for_each_element(d: &MatMulData, mut f: impl FnMut(&Element, usize) -> bool) {
    let l = d.lhs.map(|v| v as usize);
    let r = d.rhs.map(|v| v as usize);
    let (adj_x, adj_y) = (d.adj_x != 0, d.adj_y != 0);
    let (rows, depth) = if adj_x { (l[4], l[3]) } else { (l[3], l[4]) };
    let cols = if adj_y { r[3] } else { r[4] };
    // Batch strides of each operand; 0 along a broadcast dimension.
    let stride = |dims: &[usize; MAX_RANK], i: usize| {
        if dims[i] == 1 {
            0
        } else {
            dims[i + 1..].iter().product::<usize>()
        }
    };
    let batch = |i: usize| l[i].max(r[i]);
    for b0 in 0..batch(0) {
        for b1 in 0..batch(1) {
            for b2 in 0..batch(2) {
                let lhs_base = b0 * stride(&l, 0) + b1 * stride(&l, 1) + b2 * stride(&l, 2);
                let rhs_base = b0 * stride(&r, 0) + b1 * stride(&r, 1) + b2 * stride(&r, 2);
                for row in 0..rows {
                    for col in 0..cols {
                        let e = Element {
                            lhs: lhs_base + if adj_x { row } else { row * depth },
                            lhs_step: if adj_x { rows } else { 1 },
                            rhs: rhs_base + if adj_y { col * depth } else { col },
                            rhs_step: if adj_y { 1 } else { cols },
                        };
                        if !f(&e, depth) {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The products along the depth for one output element, as pairs.
fn pairs<'a, T: Copy>(
    lhs: &'a [T],
    rhs: &'a [T],
    e: &Element,
    depth: usize,
) -> impl Iterator<Item = (T, T)> + 'a {
    let l = lhs
        .get(e.lhs..)
        .unwrap_or(&[])
        .iter()
        .step_by(e.lhs_step.max(1));
    let r = rhs
        .get(e.rhs..)
        .unwrap_or(&[])
        .iter()
        .step_by(e.rhs_step.max(1));
    l.zip(r).take(depth).map(|(&a, &b)| (a, b))
}

fn eval(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    let d = *ctx.op_data_at::<MatMulData>(0)?;
    let lhs = ctx.inputs.get(0)?;
    let rhs = ctx.inputs.get(1)?;
    let mut output = ctx.outputs.take(0)?;
    match lhs.ty {
        TensorType::Float32 => {
            let (a, b) = (lhs.as_f32()?, rhs.as_f32()?);
            let mut out = output.as_f32_mut()?.iter_mut();
            for_each_element(&d, |e, depth| {
                let sum = pairs(a, b, e, depth).fold(0.0f32, |s, (x, y)| s + x * y);
                out.next().map(|o| *o = sum).is_some()
            });
        }
        TensorType::Int8 => {
            let (a, b) = (lhs.as_i8()?, rhs.as_i8()?);
            let mut out = output.as_i8_mut()?.iter_mut();
            for_each_element(&d, |e, depth| {
                let sum = pairs(a, b, e, depth).fold(0i32, |s, (x, y)| {
                    let x = i32::from(x) - d.lhs_zero_point;
                    let y = i32::from(y) - d.rhs_zero_point;
                    s.wrapping_add(x.wrapping_mul(y))
                });
                let v = multiply_by_quantized_multiplier(sum, d.multiplier, d.shift)
                    .wrapping_add(d.output_zero_point);
                let v = v.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8;
                out.next().map(|o| *o = v).is_some()
            });
        }
        TensorType::Int16 => {
            let (a, b) = (lhs.as_i16()?, rhs.as_i16()?);
            let mut out = output.as_i16_mut()?.iter_mut();
            for_each_element(&d, |e, depth| {
                // Zero points are 0 (checked in prepare).
                let sum = pairs(a, b, e, depth).fold(0i64, |s, (x, y)| {
                    s.wrapping_add(i64::from(x) * i64::from(y))
                });
                let v = multiply_by_quantized_multiplier_i64(sum, d.multiplier, d.shift)
                    .wrapping_add(d.output_zero_point);
                let v = v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
                out.next().map(|o| *o = v).is_some()
            });
        }
        ty => {
            return Err(KernelError::UnsupportedType(
                text!("BATCH_MATMUL input"),
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
mod tests {
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, Outputs, T};
    use crate::Error;

    fn run(lhs: T, rhs: T, output: T, adj_x: bool, adj_y: bool) -> Result<Outputs, Error> {
        OpTest::new(op::BATCH_MATMUL)
            .input(lhs)
            .input(rhs)
            .output(output)
            .options(move |b| {
                let o = fb::BatchMatMulOptions::create(
                    b,
                    &fb::BatchMatMulOptionsArgs {
                        adj_x,
                        adj_y,
                        asymmetric_quantize_inputs: false,
                    },
                );
                (fb::BuiltinOptions::BatchMatMulOptions, o.as_union_value())
            })
            .run()
    }

    fn iota(n: usize, from: i32) -> std::vec::Vec<f32> {
        (0..n).map(|i| (i as i32 + from) as f32).collect()
    }

    /// Plain batched product of `[.., rows, depth]` by `[.., depth, cols]`
    /// with the same batch count.
    fn reference(
        a: &[f32],
        b: &[f32],
        batches: usize,
        rows: usize,
        depth: usize,
        cols: usize,
    ) -> std::vec::Vec<f32> {
        let mut out = std::vec::Vec::new();
        for bt in 0..batches {
            for r in 0..rows {
                for c in 0..cols {
                    let mut s = 0.0f32;
                    for k in 0..depth {
                        s += a[(bt * rows + r) * depth + k] * b[(bt * depth + k) * cols + c];
                    }
                    out.push(s);
                }
            }
        }
        out
    }

    #[test]
    fn float_broadcast_from_tflm_test() {
        // TFLM batch_matmul_test.cc, BatchMatMulOpTestFloat32Test_Broadcast:
        // lhs [2,2,3] = 1.., rhs [3,4] = 7.. (broadcast over the batch).
        let out = run(
            T::f32(&[2, 2, 3], &iota(12, 1)),
            T::f32(&[3, 4], &iota(12, 7)),
            T::out(TensorType::Float32, &[2, 2, 4]),
            false,
            false,
        )
        .unwrap();
        assert_eq!(
            out.f32(0),
            [
                74.0, 80.0, 86.0, 92.0, 173.0, 188.0, 203.0, 218.0, 272.0, 296.0, 320.0, 344.0,
                371.0, 404.0, 437.0, 470.0
            ]
        );
    }

    #[test]
    fn float_adjoints_match_the_plain_product() {
        // [2,3,4] x [2,4,5], given transposed where the flags say so.
        let a = iota(24, -7);
        let b: std::vec::Vec<f32> = (0..40).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let want = reference(&a, &b, 2, 3, 4, 5);
        let transpose = |m: &[f32], batches: usize, r: usize, c: usize| {
            let mut t = std::vec![0.0; m.len()];
            for bt in 0..batches {
                for i in 0..r {
                    for j in 0..c {
                        t[(bt * c + j) * r + i] = m[(bt * r + i) * c + j];
                    }
                }
            }
            t
        };
        let at = transpose(&a, 2, 3, 4);
        let bt = transpose(&b, 2, 4, 5);
        for (adj_x, adj_y) in [(false, false), (true, false), (false, true), (true, true)] {
            let (lhs, lshape) = if adj_x {
                (&at, [2, 4, 3])
            } else {
                (&a, [2, 3, 4])
            };
            let (rhs, rshape) = if adj_y {
                (&bt, [2, 5, 4])
            } else {
                (&b, [2, 4, 5])
            };
            let out = run(
                T::f32(&lshape, lhs),
                T::f32(&rshape, rhs).constant(),
                T::out(TensorType::Float32, &[2, 3, 5]),
                adj_x,
                adj_y,
            )
            .unwrap();
            assert_eq!(out.f32(0), want, "adj_x {adj_x} adj_y {adj_y}");
        }
    }

    #[test]
    fn float_broadcast_both_ways() {
        // lhs [2,1,2,3] x rhs [3,3,2]: output [2,3,2,2].
        let a = iota(12, 1);
        let b = iota(18, -9);
        let out = run(
            T::f32(&[2, 1, 2, 3], &a),
            T::f32(&[3, 3, 2], &b),
            T::out(TensorType::Float32, &[2, 3, 2, 2]),
            false,
            false,
        )
        .unwrap()
        .f32(0);
        let mut want = std::vec::Vec::new();
        for i in 0..2 {
            for j in 0..3 {
                want.extend(reference(
                    &a[i * 6..i * 6 + 6],
                    &b[j * 6..j * 6 + 6],
                    1,
                    2,
                    3,
                    2,
                ));
            }
        }
        assert_eq!(out, want);
    }

    #[test]
    fn int8_from_tflm_test() {
        // TFLM batch_matmul_test.cc, ...SimpleTestQuantizedInt8: inputs over
        // [-63.5, 64] (scale 0.5, zero point -1), output over [-127, 128].
        let lhs = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, -9.0, -10.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0,
            -8.0, 9.0, -10.0,
        ];
        let rhs: std::vec::Vec<f32> = (0..30).map(|i| (i / 3 + 1) as f32).collect();
        let q =
            |v: &[f32]| -> std::vec::Vec<i8> { v.iter().map(|x| (x / 0.5) as i8 - 1).collect() };
        let out = run(
            T::i8(&[1, 2, 10], &q(&lhs)).q(0.5, -1),
            T::i8(&[1, 10, 3], &q(&rhs)).q(0.5, -1),
            T::out(TensorType::Int8, &[1, 2, 3]).q(1.0, -1),
            false,
            false,
        )
        .unwrap();
        assert_eq!(out.i8(0), [22, 22, 22, 56, 56, 56]);
    }

    #[test]
    fn int16_from_tflm_test() {
        // TFLM batch_matmul_test.cc, ...SimpleTestQuantizedInt16.
        let scale = 10.0f32 / 32767.0;
        let lhs = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, -9.0, -10.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0,
            -8.0, 9.0, -10.0,
        ];
        let rhs: std::vec::Vec<f32> = (0..30).map(|i| (i / 3 + 1) as f32).collect();
        let q = |v: &[f32]| -> std::vec::Vec<i16> {
            v.iter().map(|x| (x / scale).round() as i16).collect()
        };
        let out = run(
            T::i16(&[1, 2, 10], &q(&lhs)).q(scale, 0),
            T::i16(&[1, 10, 3], &q(&rhs)).q(scale, 0),
            T::out(TensorType::Int16, &[1, 2, 3]).q(1.0, 0),
            false,
            false,
        )
        .unwrap();
        assert_eq!(out.i16(0), [23, 23, 23, 57, 57, 57]);
    }

    #[test]
    fn rejects_bad_shapes_and_types() {
        let f = |shape: &[i32]| {
            T::f32(
                shape,
                &std::vec![0.0; shape.iter().product::<i32>() as usize],
            )
        };
        let err = run(
            f(&[2, 3]),
            f(&[4, 5]),
            T::out(TensorType::Float32, &[2, 5]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("inner dimension"), "{err}");
        let err = run(
            f(&[2, 2, 3]),
            f(&[3, 3, 4]),
            T::out(TensorType::Float32, &[3, 2, 4]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("do not broadcast"), "{err}");
        let err = run(
            f(&[2, 3]),
            f(&[3, 4]),
            T::out(TensorType::Float32, &[4, 2]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("output shape"), "{err}");
        let err = run(
            T::i16(&[2, 3], &[0; 6]).q(0.1, 1),
            T::i16(&[3, 2], &[0; 6]).q(0.1, 0),
            T::out(TensorType::Int16, &[2, 2]).q(0.1, 0),
            false,
            false,
        )
        .unwrap_err();
        assert!(
            std::format!("{err}").contains("zero points must be 0"),
            "{err}"
        );
        let err = run(
            T::i32(&[2, 3], &[0; 6]),
            T::i32(&[3, 2], &[0; 6]),
            T::out(TensorType::Int32, &[2, 2]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("unsupported type"), "{err}");
        let err = run(
            f(&[3]),
            f(&[3, 2]),
            T::out(TensorType::Float32, &[2]),
            false,
            false,
        )
        .unwrap_err();
        assert!(std::format!("{err}").contains("2 to 5"), "{err}");
    }
}
