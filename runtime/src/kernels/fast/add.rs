//! Fast int8 ADD, bit-exact with [`crate::kernels::add`].
//!
//! The reference rescales each input element with a fixed-point multiply
//! before adding. That step depends on the int8 value alone, so `eval`
//! tabulates it, two tables of 256 `i32`, and each element is then two
//! lookups, an add and the output rescaling. The tables need 2 KiB, which
//! would add to the arena as per-op data, and also as scratch where an ADD
//! has the largest activations (ResNet's do): so they live in the first
//! 2 KiB of the output itself. The rest of the output is computed with
//! them, then those first elements directly, overwriting them.
//!
//! Inputs of other shapes (broadcasts) and small ADDs rescale each element
//! directly; broadcasts use the reference's broadcast walk.
//!
//! Other types run the reference kernel; the int8-only kernel refuses
//! them itself (the reference has no int8-only ADD, and checking types here
//! links less than a second reference `prepare` would).

use super::check_with;
use crate::kernel::{EvalContext, Kernel, KernelError, PrepareContext};
use crate::kernels::add::{self as reference, Broadcast, Rescale};
use crate::schema::{AddOptions, TensorType};
use bytemuck::{Pod, Zeroable};

/// Per-op data.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    broadcast: Broadcast,
    rescale: Rescale,
}

/// Bytes of the two tables (256 `i32` each, indexed by the input's byte).
const TABLES_BYTES: usize = 2 * 256 * 4;

/// Outputs from which the tables pay off: building them costs 512
/// rescalings, and the `TABLES_BYTES` elements under them are computed
/// without them.
const TABLES_FROM: usize = 2 * TABLES_BYTES;

/// `INT8_ONLY`: see [`KERNEL_INT8_ONLY`].
fn prepare<const INT8_ONLY: bool>(ctx: &mut PrepareContext<'_, '_>) -> Result<(), KernelError> {
    let output = ctx.output(0)?;
    if output.ty != TensorType::Int8 {
        return if INT8_ONLY {
            Err(KernelError::Unsupported(text!(
                "ADD of other than int8 tensors with the int8-only kernel (register fast::add::KERNEL)"
            )))
        } else {
            (reference::KERNEL.prepare)(ctx)
        };
    }
    check_with(&reference::KERNEL, ctx)?;
    let options = ctx.op.options::<AddOptions>()?;
    let input1 = ctx.input(0)?;
    let input2 = ctx.input(1)?;
    let rescale = Rescale::add_sub(&input1, &input2, &output, options.activation)?;
    let broadcast = Broadcast::new(&input1.shape, &input2.shape, &output.shape)?;
    ctx.alloc_op_data(core::mem::size_of::<Params>())?;
    ctx.write_op_data(0, &[Params { broadcast, rescale }])
}

fn eval<const INT8_ONLY: bool>(ctx: &mut EvalContext<'_>) -> Result<(), KernelError> {
    // (The output has the inputs' type.)
    let ty = ctx.inputs.get(0)?.ty;
    if ty != TensorType::Int8 {
        // (`prepare` refused other types for the int8-only kernel.)
        return if INT8_ONLY {
            Err(KernelError::UnsupportedType(text!("ADD output"), ty))
        } else {
            (reference::KERNEL.eval)(ctx)
        };
    }
    let mut output = ctx.outputs.take(0)?;
    let p = *ctx.op_data_at::<Params>(0)?;
    let r = &p.rescale;
    let input1 = ctx.inputs.get(0)?;
    let input2 = ctx.inputs.get(1)?;
    let (a, b, out) = (input1.as_i8()?, input2.as_i8()?, output.as_i8_mut()?);
    let direct = |x: i8, y: i8| r.output::<i8>(r.input1(x).wrapping_add(r.input2(y)));
    let n = out.len();
    // (The output is 16-byte aligned in the arena; anywhere else, no
    // tables.)
    let aligned = out
        .get(..TABLES_BYTES)
        .is_some_and(|h| bytemuck::try_cast_slice::<i8, i32>(h).is_ok());
    if a.len() != n || b.len() != n || n < TABLES_FROM || !aligned {
        return add_all(&p, a, b, out, direct);
    }
    let (head, tail) = out.split_at_mut(TABLES_BYTES);
    let tables = bytemuck::try_cast_slice_mut::<i8, i32>(head).map_err(|_| KernelError::OpData)?;
    let (t1, t2) = tables.split_at_mut(256);
    for (byte, (e1, e2)) in t1.iter_mut().zip(t2.iter_mut()).enumerate() {
        let x = byte as u8 as i8;
        *e1 = r.input1(x);
        *e2 = r.input2(x);
    }
    let (t1, t2): (&[i32; 256], &[i32; 256]) = (
        (&*t1).try_into().map_err(|_| KernelError::OpData)?,
        (&*t2).try_into().map_err(|_| KernelError::OpData)?,
    );
    let (a_head, a_tail) = a.split_at(TABLES_BYTES);
    let (b_head, b_tail) = b.split_at(TABLES_BYTES);
    for ((o, &x), &y) in tail.iter_mut().zip(a_tail).zip(b_tail) {
        *o = r.output::<i8>(t1[x as u8 as usize].wrapping_add(t2[y as u8 as usize]));
    }
    // Now the elements the tables sat on.
    let head = out.get_mut(..TABLES_BYTES).ok_or(KernelError::OpData)?;
    for ((o, &x), &y) in head.iter_mut().zip(a_head).zip(b_head) {
        *o = direct(x, y);
    }
    Ok(())
}

/// `out = add(a, b)` element by element, broadcasting as `p` says.
#[inline(always)]
fn add_all(
    p: &Params,
    a: &[i8],
    b: &[i8],
    out: &mut [i8],
    add: impl Fn(i8, i8) -> i8,
) -> Result<(), KernelError> {
    if a.len() == out.len() && b.len() == out.len() {
        // Same shapes (an input broadcast to the output's size would be
        // smaller): one flat loop.
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = add(x, y);
        }
        Ok(())
    } else {
        p.broadcast.run(a, b, out, add)
    }
}

/// ADD: the fast int8 path, the reference kernel for other types.
pub const KERNEL: Kernel = Kernel {
    prepare: prepare::<false>,
    eval: eval::<false>,
    output_aliases_input: false,
};

/// ADD for int8 tensors only: the fast int8 path, and a refusal for other
/// types, so no reference float32, int32 or int16 code is linked.
pub const KERNEL_INT8_ONLY: Kernel = Kernel {
    prepare: prepare::<true>,
    eval: eval::<true>,
    output_aliases_input: false,
};

#[cfg(test)]
mod tests {
    use super::super::testing::{enough, refused_as_not_int8, same, same_on_random, Rng};
    use crate::schema::{op, TensorType};
    use crate::testing::{fb, OpTest, T};
    use std::vec::Vec;

    fn options(
        activation: fb::ActivationFunctionType,
    ) -> impl FnOnce(
        &mut flatbuffers::FlatBufferBuilder<'static>,
    ) -> (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    ) {
        move |b| {
            let o = fb::AddOptions::create(
                b,
                &fb::AddOptionsArgs {
                    fused_activation_function: activation,
                    ..Default::default()
                },
            );
            (fb::BuiltinOptions::AddOptions, o.as_union_value())
        }
    }

    /// A random int8 ADD, with broadcasting now and then.
    fn random_add(seed: u64) -> impl Fn() -> OpTest {
        let mut r = Rng(seed.wrapping_mul(0x9FB2_1C65_1E98_DF25) | 1);
        let rank = r.range(1, 4) as usize;
        let out_shape: Vec<i32> = (0..rank).map(|_| r.range(1, 6) as i32).collect();
        let broadcast_of = |shape: &[i32], r: &mut Rng| -> Vec<i32> {
            if r.next() % 3 != 0 {
                return shape.to_vec();
            }
            let mut s: Vec<i32> = shape
                .iter()
                .map(|&d| if r.next() % 2 == 0 { 1 } else { d })
                .collect();
            // Sometimes a lower rank.
            let drop = r.range(0, s.len() as i64 - 1) as usize;
            s.drain(..drop);
            s
        };
        let s1 = broadcast_of(&out_shape, &mut r);
        let s2 = broadcast_of(&out_shape, &mut r);
        let n = |s: &[i32]| s.iter().product::<i32>() as usize;
        let a = r.i8s(n(&s1));
        let b = r.i8s(n(&s2));
        let q1 = (r.scale(), r.zero_point());
        let q2 = (r.scale(), r.zero_point());
        let qo = (r.scale() * 2.0, r.zero_point());
        let activation = r.pick(&[
            fb::ActivationFunctionType::NONE,
            fb::ActivationFunctionType::RELU,
            fb::ActivationFunctionType::RELU6,
            fb::ActivationFunctionType::RELU_N1_TO_1,
        ]);
        move || {
            OpTest::new(op::ADD)
                .input(T::i8(&s1, &a).q(q1.0, q1.1))
                .input(T::i8(&s2, &b).q(q2.0, q2.1))
                .output(T::out(TensorType::Int8, &out_shape).q(qo.0, qo.1))
                .options(options(activation))
        }
    }

    #[test]
    fn matches_the_reference_on_random_cases() {
        let ran = same_on_random(super::KERNEL, crate::kernels::add::KERNEL, 600, random_add);
        assert!(enough(ran, 550), "only {ran} cases ran");
    }

    #[test]
    #[cfg_attr(miri, ignore = "65536 pairs through both kernels: too slow under Miri")]
    fn every_input_value_matches() {
        // All 256 x 256 pairs, with extreme zero points.
        let a: Vec<i8> = (0..65536).map(|i| (i / 256) as u8 as i8).collect();
        let b: Vec<i8> = (0..65536).map(|i| (i % 256) as u8 as i8).collect();
        let make = move || {
            OpTest::new(op::ADD)
                .input(T::i8(&[256, 256], &a).q(0.02, -128))
                .input(T::i8(&[256, 256], &b).q(0.013, 127))
                .output(T::out(TensorType::Int8, &[256, 256]).q(0.03, 5))
                .options(options(fb::ActivationFunctionType::NONE))
        };
        assert!(same(
            super::KERNEL,
            crate::kernels::add::KERNEL,
            make,
            "all pairs"
        ));
    }

    fn float_add() -> OpTest {
        OpTest::new(op::ADD)
            .input(T::f32(&[2], &[1.0, 2.0]))
            .input(T::f32(&[1], &[0.5]))
            .output(T::out(TensorType::Float32, &[2]))
            .options(options(fb::ActivationFunctionType::NONE))
    }

    fn int32_add() -> OpTest {
        OpTest::new(op::ADD)
            .input(T::i32(&[2], &[1, i32::MAX]))
            .input(T::i32(&[2], &[5, 1]))
            .output(T::out(TensorType::Int32, &[2]))
            .options(options(fb::ActivationFunctionType::NONE))
    }

    fn int16_add() -> OpTest {
        OpTest::new(op::ADD)
            .input(T::i16(&[2], &[100, -7]).q(0.01, 0))
            .input(T::i16(&[2], &[5, 1]).q(0.02, 0))
            .output(T::out(TensorType::Int16, &[2]).q(0.03, 0))
            .options(options(fb::ActivationFunctionType::NONE))
    }

    #[test]
    fn other_types_run_the_reference_kernel() {
        let kernels = (super::KERNEL, crate::kernels::add::KERNEL);
        assert!(same(kernels.0, kernels.1, float_add, "float"));
        assert!(same(kernels.0, kernels.1, int32_add, "int32"));
        assert!(same(kernels.0, kernels.1, int16_add, "int16"));
    }

    #[test]
    fn the_int8_only_kernel_matches_the_reference_and_refuses_other_types() {
        let ran = same_on_random(
            super::KERNEL_INT8_ONLY,
            crate::kernels::add::KERNEL,
            200,
            random_add,
        );
        assert!(enough(ran, 180), "only {ran} cases ran");
        for make in [float_add, int32_add, int16_add] {
            refused_as_not_int8(super::KERNEL_INT8_ONLY, make());
        }
    }

    #[test]
    fn refuses_what_the_reference_refuses() {
        let make = || {
            OpTest::new(op::ADD)
                .input(T::i8(&[3], &[1, 2, 3]).q(0.1, 0))
                .input(T::i8(&[2], &[1, 2]).q(0.1, 0))
                .output(T::out(TensorType::Int8, &[3]).q(0.1, 0))
                .options(options(fb::ActivationFunctionType::NONE))
        };
        let err = super::super::testing::run(super::KERNEL, make()).unwrap_err();
        assert!(err.contains("broadcast"), "{err}");
    }
}
