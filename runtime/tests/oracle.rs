//! The runtime's own zero-copy reader against the official FlatBuffers code
//! generated from the TFLite schema: both must read every field of every
//! model the same way.

mod common;

#[allow(
    clippy::all,
    unused_imports,
    dead_code,
    deprecated,
    non_camel_case_types,
    unsafe_op_in_unsafe_fn
)]
#[rustfmt::skip]
#[path = "oracle/schema_generated.rs"]
mod schema_generated;

use schema_generated::tflite as fb;
use std::path::Path;
use tflm_runtime::schema::{self as ours, ScalarOptions};

fn opt_vec<T: flatbuffers::Follow<'static>>(
    v: Option<flatbuffers::Vector<'static, T>>,
) -> Vec<T::Inner> {
    v.map(|v| v.iter().collect()).unwrap_or_default()
}

/// Compares one model; returns the number of fields compared.
fn compare(path: &Path) -> usize {
    let bytes: &'static [u8] = Box::leak(std::fs::read(path).unwrap().into_boxed_slice());
    let name = path.display();
    let opts = flatbuffers::VerifierOptions {
        max_tables: 10_000_000,
        ..Default::default()
    };
    let theirs = fb::root_as_model_with_opts(&opts, bytes)
        .unwrap_or_else(|e| panic!("{name}: flatbuffers: {e}"));
    let m = ours::Model::from_bytes(bytes).unwrap_or_else(|e| panic!("{name}: ours: {e}"));
    let mut n = 0;
    macro_rules! same {
        ($a:expr, $b:expr, $($what:tt)*) => {{
            n += 1;
            assert_eq!($a, $b, "{name}: {}", format!($($what)*));
        }};
    }

    same!(m.version().unwrap(), theirs.version(), "version");
    same!(
        m.description().unwrap(),
        theirs.description(),
        "description"
    );

    let codes = opt_vec(theirs.operator_codes());
    same!(
        m.operator_codes_len().unwrap(),
        codes.len(),
        "operator code count"
    );
    for (i, c) in codes.iter().enumerate() {
        let o = m.operator_code(i).unwrap();
        same!(
            o.deprecated_builtin_code().unwrap(),
            c.deprecated_builtin_code(),
            "opcode {i} deprecated code"
        );
        same!(
            o.builtin_code_field().unwrap(),
            c.builtin_code().0,
            "opcode {i} builtin code"
        );
        same!(
            o.custom_code().unwrap(),
            c.custom_code(),
            "opcode {i} custom code"
        );
        same!(o.version().unwrap(), c.version(), "opcode {i} version");
        let code = c.builtin_code().0.max(c.deprecated_builtin_code() as i32);
        same!(
            o.builtin_code().unwrap().name(),
            fb::BuiltinOperator(code).variant_name(),
            "opcode {i} name"
        );
    }

    let buffers = opt_vec(theirs.buffers());
    same!(m.buffers_len().unwrap(), buffers.len(), "buffer count");
    for (i, b) in buffers.iter().enumerate() {
        let o = m.buffer(i).unwrap();
        same!(o.offset().unwrap(), b.offset(), "buffer {i} offset");
        same!(o.size().unwrap(), b.size(), "buffer {i} size");
        let data: &[u8] = if b.offset() > 1 {
            &bytes[b.offset() as usize..(b.offset() + b.size()) as usize]
        } else {
            b.data().map(|d| d.bytes()).unwrap_or(&[])
        };
        same!(o.data().unwrap(), data, "buffer {i} data");
    }

    let subgraphs = opt_vec(theirs.subgraphs());
    same!(
        m.subgraphs_len().unwrap(),
        subgraphs.len(),
        "subgraph count"
    );
    for (s, sg) in subgraphs.iter().enumerate() {
        let o = m.subgraph(s).unwrap();
        same!(o.name().unwrap(), sg.name(), "subgraph {s} name");
        same!(
            o.inputs().unwrap().iter().collect::<Vec<_>>(),
            opt_vec(sg.inputs()),
            "subgraph {s} inputs"
        );
        same!(
            o.outputs().unwrap().iter().collect::<Vec<_>>(),
            opt_vec(sg.outputs()),
            "subgraph {s} outputs"
        );
        let tensors = opt_vec(sg.tensors());
        same!(
            o.tensors_len().unwrap(),
            tensors.len(),
            "subgraph {s} tensor count"
        );
        for (k, t) in tensors.iter().enumerate() {
            let x = m.subgraph(s).unwrap().tensor(k).unwrap();
            same!(
                x.shape().unwrap().iter().collect::<Vec<_>>(),
                opt_vec(t.shape()),
                "tensor {k} shape"
            );
            same!(
                x.tensor_type().unwrap() as i8,
                t.type_().0,
                "tensor {k} type"
            );
            same!(
                x.tensor_type().unwrap().name(),
                t.type_().variant_name().unwrap(),
                "tensor {k} type name"
            );
            same!(x.buffer().unwrap(), t.buffer(), "tensor {k} buffer");
            same!(x.name().unwrap(), t.name(), "tensor {k} name");
            same!(
                x.is_variable().unwrap(),
                t.is_variable(),
                "tensor {k} is_variable"
            );
            same!(
                x.is_sparse().unwrap(),
                t.sparsity().is_some(),
                "tensor {k} sparsity"
            );
            same!(x.has_rank().unwrap(), t.has_rank(), "tensor {k} has_rank");
            same!(
                x.shape_signature().unwrap().iter().collect::<Vec<_>>(),
                opt_vec(t.shape_signature()),
                "tensor {k} shape_signature"
            );
            match (x.quantization().unwrap(), t.quantization()) {
                (None, None) => {}
                (Some(q), Some(tq)) => {
                    same!(
                        q.scale.iter().collect::<Vec<_>>(),
                        opt_vec(tq.scale()),
                        "tensor {k} scale"
                    );
                    same!(
                        q.zero_point.iter().collect::<Vec<_>>(),
                        opt_vec(tq.zero_point()),
                        "tensor {k} zero point"
                    );
                    same!(
                        q.min.iter().collect::<Vec<_>>(),
                        opt_vec(tq.min()),
                        "tensor {k} min"
                    );
                    same!(
                        q.max.iter().collect::<Vec<_>>(),
                        opt_vec(tq.max()),
                        "tensor {k} max"
                    );
                    same!(
                        q.quantized_dimension,
                        tq.quantized_dimension(),
                        "tensor {k} quantized dimension"
                    );
                    same!(
                        q.details_type,
                        tq.details_type().0,
                        "tensor {k} details type"
                    );
                }
                (a, b) => panic!(
                    "{name}: tensor {k} quantization presence differs: {} vs {}",
                    a.is_some(),
                    b.is_some()
                ),
            }
        }
        let operators = opt_vec(sg.operators());
        same!(
            o.operators_len().unwrap(),
            operators.len(),
            "subgraph {s} operator count"
        );
        for (j, op) in operators.iter().enumerate() {
            let x = m.subgraph(s).unwrap().operator(j).unwrap();
            same!(
                x.opcode_index().unwrap(),
                op.opcode_index(),
                "op {j} opcode index"
            );
            same!(
                x.inputs().unwrap().iter().collect::<Vec<_>>(),
                opt_vec(op.inputs()),
                "op {j} inputs"
            );
            same!(
                x.outputs().unwrap().iter().collect::<Vec<_>>(),
                opt_vec(op.outputs()),
                "op {j} outputs"
            );
            same!(
                x.intermediates().unwrap().iter().collect::<Vec<_>>(),
                opt_vec(op.intermediates()),
                "op {j} intermediates"
            );
            same!(
                x.custom_options().unwrap(),
                op.custom_options().map(|v| v.bytes()),
                "op {j} custom options"
            );
            same!(
                x.custom_options_format().unwrap(),
                op.custom_options_format().0,
                "op {j} custom options format"
            );
            same!(
                x.mutating_variable_inputs()
                    .unwrap()
                    .map(|b| b.iter().map(|&v| v != 0).collect::<Vec<_>>()),
                op.mutating_variable_inputs()
                    .map(|v| v.iter().collect::<Vec<_>>()),
                "op {j} mutating variable inputs"
            );
            let tag = x.builtin_options().unwrap().map(|b| b.tag).unwrap_or(0);
            same!(tag, op.builtin_options_type().0, "op {j} options type");
            same!(
                x.builtin_options().unwrap().and_then(|b| b.name()),
                op.builtin_options_type()
                    .variant_name()
                    .filter(|_| tag != 0),
                "op {j} options name"
            );
            same!(
                x.builtin_options_2_type().unwrap(),
                op.builtin_options_2_type().0,
                "op {j} options2 type"
            );
            n += compare_options(&format!("{name}: op {j}"), &x, op);
        }
    }

    same!(
        m.metadata_buffer().unwrap().iter().collect::<Vec<_>>(),
        opt_vec(theirs.metadata_buffer()),
        "metadata_buffer"
    );
    let metadata = opt_vec(theirs.metadata());
    same!(m.metadata_len().unwrap(), metadata.len(), "metadata count");
    for (i, md) in metadata.iter().enumerate() {
        let x = m.metadata(i).unwrap();
        same!(x.name().unwrap(), md.name(), "metadata {i} name");
        same!(x.buffer().unwrap(), md.buffer(), "metadata {i} buffer");
    }
    let sigs = opt_vec(theirs.signature_defs());
    same!(
        m.signature_defs_len().unwrap(),
        sigs.len(),
        "signature count"
    );
    for (i, sd) in sigs.iter().enumerate() {
        let x = m.signature_def(i).unwrap();
        same!(
            x.signature_key().unwrap(),
            sd.signature_key(),
            "signature {i} key"
        );
        same!(
            x.subgraph_index().unwrap(),
            sd.subgraph_index(),
            "signature {i} subgraph"
        );
        for (outputs, maps) in [(false, opt_vec(sd.inputs())), (true, opt_vec(sd.outputs()))] {
            same!(
                x.tensor_maps_len(outputs).unwrap(),
                maps.len(),
                "signature {i} map count"
            );
            for (k, tm) in maps.iter().enumerate() {
                let y = x.tensor_map(outputs, k).unwrap();
                same!(y.name().unwrap(), tm.name(), "signature {i} map {k} name");
                same!(
                    y.tensor_index().unwrap(),
                    tm.tensor_index(),
                    "signature {i} map {k} tensor"
                );
            }
        }
    }
    n
}

/// Decoded options of the operators the runtime runs, field by field.
fn compare_options(what: &str, x: &ours::Operator<'static>, op: &fb::Operator<'static>) -> usize {
    let mut n = 0;
    macro_rules! same {
        ($a:expr, $b:expr, $field:literal) => {{
            n += 1;
            assert_eq!($a, $b, "{what}: {}", $field);
        }};
    }
    if let Some(o) = op.builtin_options_as_conv_2_doptions() {
        let c: ours::Conv2DOptions = x.options().unwrap();
        same!(c.padding as i8, o.padding().0, "padding");
        same!(
            (c.stride_w, c.stride_h),
            (o.stride_w(), o.stride_h()),
            "strides"
        );
        same!(
            (c.dilation_w_factor, c.dilation_h_factor),
            (o.dilation_w_factor(), o.dilation_h_factor()),
            "dilation"
        );
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
        same!(
            c.quantized_bias_type as i8,
            o.quantized_bias_type().0,
            "bias type"
        );
    }
    if let Some(o) = op.builtin_options_as_depthwise_conv_2_doptions() {
        let c: ours::DepthwiseConv2DOptions = x.options().unwrap();
        same!(c.padding as i8, o.padding().0, "padding");
        same!(
            (c.stride_w, c.stride_h),
            (o.stride_w(), o.stride_h()),
            "strides"
        );
        same!(
            (c.dilation_w_factor, c.dilation_h_factor),
            (o.dilation_w_factor(), o.dilation_h_factor()),
            "dilation"
        );
        same!(c.depth_multiplier, o.depth_multiplier(), "depth multiplier");
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
    }
    if let Some(o) = op.builtin_options_as_pool_2_doptions() {
        let c: ours::Pool2DOptions = x.options().unwrap();
        same!(c.padding as i8, o.padding().0, "padding");
        same!(
            (c.stride_w, c.stride_h),
            (o.stride_w(), o.stride_h()),
            "strides"
        );
        same!(
            (c.filter_width, c.filter_height),
            (o.filter_width(), o.filter_height()),
            "filter"
        );
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
    }
    if let Some(o) = op.builtin_options_as_fully_connected_options() {
        let c: ours::FullyConnectedOptions = x.options().unwrap();
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
        same!(
            c.weights_format as i8,
            o.weights_format().0,
            "weights format"
        );
        same!(c.keep_num_dims, o.keep_num_dims(), "keep_num_dims");
        same!(
            c.asymmetric_quantize_inputs,
            o.asymmetric_quantize_inputs(),
            "asymmetric"
        );
    }
    if let Some(o) = op.builtin_options_as_softmax_options() {
        let c: ours::SoftmaxOptions = x.options().unwrap();
        same!(c.beta, o.beta(), "beta");
    }
    if let Some(o) = op.builtin_options_as_add_options() {
        let c: ours::AddOptions = x.options().unwrap();
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
        same!(c.pot_scale_int16, o.pot_scale_int16(), "pot_scale_int16");
    }
    if let Some(o) = op.builtin_options_as_sub_options() {
        let c: ours::SubOptions = x.options().unwrap();
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
        same!(c.pot_scale_int16, o.pot_scale_int16(), "pot_scale_int16");
    }
    if let Some(o) = op.builtin_options_as_mul_options() {
        let c: ours::MulOptions = x.options().unwrap();
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
    }
    if let Some(o) = op.builtin_options_as_concatenation_options() {
        let c: ours::ConcatenationOptions = x.options().unwrap();
        same!(c.axis, o.axis(), "axis");
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
    }
    if let Some(o) = op.builtin_options_as_svdfoptions() {
        let c: ours::SVDFOptions = x.options().unwrap();
        same!(c.rank, o.rank(), "rank");
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
    }
    if let Some(o) = op.builtin_options_as_strided_slice_options() {
        let c: ours::StridedSliceOptions = x.options().unwrap();
        same!(
            (
                c.begin_mask,
                c.end_mask,
                c.ellipsis_mask,
                c.new_axis_mask,
                c.shrink_axis_mask,
                c.offset
            ),
            (
                o.begin_mask(),
                o.end_mask(),
                o.ellipsis_mask(),
                o.new_axis_mask(),
                o.shrink_axis_mask(),
                o.offset()
            ),
            "masks"
        );
    }
    if let Some(o) = op.builtin_options_as_leaky_relu_options() {
        let c: ours::LeakyReluOptions = x.options().unwrap();
        same!(c.alpha, o.alpha(), "alpha");
    }
    if let Some(o) = op.builtin_options_as_transpose_conv_options() {
        let c: ours::TransposeConvOptions = x.options().unwrap();
        same!(c.padding as i8, o.padding().0, "padding");
        same!(
            (c.stride_w, c.stride_h),
            (o.stride_w(), o.stride_h()),
            "strides"
        );
        same!(
            c.activation as i8,
            o.fused_activation_function().0,
            "activation"
        );
    }
    if let Some(o) = op.builtin_options_as_reshape_options() {
        let c = x.reshape_options().unwrap().expect("reshape options");
        same!(
            c.new_shape.iter().collect::<Vec<_>>(),
            opt_vec(o.new_shape()),
            "new_shape"
        );
    }
    if let Some(o) = op.builtin_options_as_squeeze_options() {
        let c = x.squeeze_options().unwrap().expect("squeeze options");
        same!(
            c.squeeze_dims.iter().collect::<Vec<_>>(),
            opt_vec(o.squeeze_dims()),
            "squeeze_dims"
        );
    }
    n
}

#[test]
fn readers_agree_on_fixture_models() {
    for path in common::fixture_models() {
        let n = compare(&path);
        assert!(n > 20, "{}: only {n} fields compared", path.display());
    }
}

#[test]
#[cfg_attr(miri, ignore = "every field of the model zoo: too slow in Miri")]
fn readers_agree_on_shared_models() {
    let models = common::shared_models();
    if models.is_empty() {
        eprintln!("../shared/models is not here; nothing to compare");
        return;
    }
    for path in models {
        let n = compare(&path);
        eprintln!("{}: {n} fields agree", path.display());
    }
}

/// The reader's operator name table is the schema's, code for code.
#[test]
fn operator_names_match_the_generated_enum() {
    for code in 0..ours::BUILTIN_OPERATOR_NAMES.len() as i32 {
        assert_eq!(
            ours::BuiltinOperator(code).name(),
            fb::BuiltinOperator(code).variant_name(),
            "builtin code {code}"
        );
    }
    for tag in 1..=ours::BUILTIN_OPTIONS_NAMES.len() as u8 {
        assert_eq!(
            ours::options_name(tag),
            fb::BuiltinOptions(tag).variant_name(),
            "options tag {tag}"
        );
    }
    assert_eq!(
        ours::Conv2DOptions::TAG,
        fb::BuiltinOptions::Conv2DOptions.0
    );
}
