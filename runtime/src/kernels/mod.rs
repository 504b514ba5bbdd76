//! Reference kernels, one operator per file: each file has the operator's
//! `prepare` and `eval` and its tests, and exports `KERNEL`.
//!
//! These are written to be read: they follow TFLite's reference kernels and
//! are bit-exact with TFLM's for integer types. Faster kernels can replace
//! them op by op in an op resolver.

pub mod activations;
pub mod add;
pub mod add_n;
pub mod arg_min_max;
pub mod average_pool_2d;
pub mod batch_matmul;
pub mod batch_to_space_nd;
pub mod broadcast_to;
pub mod cast;
pub mod ceil;
pub mod comparisons;
pub mod concatenation;
pub mod conv_2d;
pub mod cumsum;
pub mod depth_to_space;
pub mod depthwise_conv_2d;
pub mod dequantize;
pub mod div;
pub mod elementwise;
pub mod elu;
pub mod embedding_lookup;
pub mod exp;
pub mod expand_dims;
pub mod fast;
pub mod fill;
pub mod floor;
pub mod fully_connected;
pub mod gather;
pub mod gather_nd;
pub mod hard_swish;
pub mod l2_normalization;
pub mod l2_pool_2d;
pub mod leaky_relu;
pub mod log_softmax;
pub mod logical;
pub mod logistic;
pub mod max_pool_2d;
pub mod maximum_minimum;
pub mod mirror_pad;
pub mod mul;
pub mod neg;
pub mod pack;
pub mod pad;
pub mod prelu;
pub mod quantize;
pub mod reduce;
pub mod reshape;
pub mod resize_bilinear;
pub mod resize_nearest_neighbor;
pub mod round;
pub mod select_v2;
pub mod shape;
pub mod slice;
pub mod softmax;
pub mod space_to_batch_nd;
pub mod space_to_depth;
pub mod split;
pub mod split_v;
pub mod squared_difference;
pub mod squeeze;
pub mod strided_slice;
pub mod sub;
pub mod svdf;
pub mod tanh;
pub mod transpose;
pub mod transpose_conv;
pub mod unidirectional_sequence_lstm;
pub mod unpack;
pub mod zeros_like;

mod common;

use crate::kernel::Kernel;
use crate::schema::{op, BuiltinOperator};

/// Every reference kernel, by the operator it runs.
pub const REFERENCE: &[(BuiltinOperator, Kernel)] = &[
    (op::ABS, elementwise::ABS),
    (op::ADD, add::KERNEL),
    (op::ADD_N, add_n::KERNEL),
    (op::ARG_MAX, arg_min_max::ARG_MAX),
    (op::ARG_MIN, arg_min_max::ARG_MIN),
    (op::AVERAGE_POOL_2D, average_pool_2d::KERNEL),
    (op::BATCH_MATMUL, batch_matmul::KERNEL),
    (op::BATCH_TO_SPACE_ND, batch_to_space_nd::KERNEL),
    (op::BROADCAST_TO, broadcast_to::KERNEL),
    (op::CAST, cast::KERNEL),
    (op::CEIL, ceil::KERNEL),
    (op::CONCATENATION, concatenation::KERNEL),
    (op::CONV_2D, conv_2d::KERNEL),
    (op::CUMSUM, cumsum::KERNEL),
    (op::DEPTHWISE_CONV_2D, depthwise_conv_2d::KERNEL),
    (op::DEPTH_TO_SPACE, depth_to_space::KERNEL),
    (op::DEQUANTIZE, dequantize::KERNEL),
    (op::DIV, div::KERNEL),
    (op::ELU, elu::KERNEL),
    (op::EMBEDDING_LOOKUP, embedding_lookup::KERNEL),
    (op::EQUAL, comparisons::EQUAL),
    (op::EXP, exp::KERNEL),
    (op::EXPAND_DIMS, expand_dims::KERNEL),
    (op::FILL, fill::KERNEL),
    (op::FLOOR, floor::KERNEL),
    (op::FULLY_CONNECTED, fully_connected::KERNEL),
    (op::GATHER, gather::KERNEL),
    (op::GATHER_ND, gather_nd::KERNEL),
    (op::GREATER, comparisons::GREATER),
    (op::GREATER_EQUAL, comparisons::GREATER_EQUAL),
    (op::HARD_SWISH, hard_swish::KERNEL),
    (op::L2_NORMALIZATION, l2_normalization::KERNEL),
    (op::L2_POOL_2D, l2_pool_2d::KERNEL),
    (op::LEAKY_RELU, leaky_relu::KERNEL),
    (op::LESS, comparisons::LESS),
    (op::LESS_EQUAL, comparisons::LESS_EQUAL),
    (op::LOG, elementwise::LOG),
    (op::LOGICAL_AND, logical::LOGICAL_AND),
    (op::LOGICAL_NOT, logical::LOGICAL_NOT),
    (op::LOGICAL_OR, logical::LOGICAL_OR),
    (op::LOGISTIC, logistic::KERNEL),
    (op::LOG_SOFTMAX, log_softmax::KERNEL),
    (op::MAXIMUM, maximum_minimum::MAXIMUM),
    (op::MAX_POOL_2D, max_pool_2d::KERNEL),
    (op::MEAN, reduce::MEAN),
    (op::MINIMUM, maximum_minimum::MINIMUM),
    (op::MIRROR_PAD, mirror_pad::KERNEL),
    (op::MUL, mul::KERNEL),
    (op::NEG, neg::KERNEL),
    (op::NOT_EQUAL, comparisons::NOT_EQUAL),
    (op::PACK, pack::KERNEL),
    (op::PAD, pad::KERNEL),
    (op::PADV2, pad::KERNEL),
    (op::PRELU, prelu::KERNEL),
    (op::QUANTIZE, quantize::KERNEL),
    (op::REDUCE_MAX, reduce::REDUCE_MAX),
    (op::REDUCE_MIN, reduce::REDUCE_MIN),
    (op::RELU, activations::RELU),
    (op::RELU6, activations::RELU6),
    (op::RESHAPE, reshape::KERNEL),
    (op::RESIZE_BILINEAR, resize_bilinear::KERNEL),
    (op::RESIZE_NEAREST_NEIGHBOR, resize_nearest_neighbor::KERNEL),
    (op::ROUND, round::KERNEL),
    (op::RSQRT, elementwise::RSQRT),
    (op::SELECT_V2, select_v2::KERNEL),
    (op::SHAPE, shape::KERNEL),
    (op::SLICE, slice::KERNEL),
    (op::SOFTMAX, softmax::KERNEL),
    (op::SPACE_TO_BATCH_ND, space_to_batch_nd::KERNEL),
    (op::SPACE_TO_DEPTH, space_to_depth::KERNEL),
    (op::SPLIT, split::KERNEL),
    (op::SPLIT_V, split_v::KERNEL),
    (op::SQRT, elementwise::SQRT),
    (op::SQUARED_DIFFERENCE, squared_difference::KERNEL),
    (op::SQUEEZE, squeeze::KERNEL),
    (op::STRIDED_SLICE, strided_slice::KERNEL),
    (op::SUB, sub::KERNEL),
    (op::SUM, reduce::SUM),
    (op::SVDF, svdf::KERNEL),
    (op::TANH, tanh::KERNEL),
    (op::TRANSPOSE, transpose::KERNEL),
    (op::TRANSPOSE_CONV, transpose_conv::KERNEL),
    (
        op::UNIDIRECTIONAL_SEQUENCE_LSTM,
        unidirectional_sequence_lstm::KERNEL,
    ),
    (op::UNPACK, unpack::KERNEL),
    (op::ZEROS_LIKE, zeros_like::KERNEL),
];

/// Smaller kernels for integer models, as TFLM's `Register_*_INT8`: for each
/// operator, one without the float path (int8, and int16 activations where
/// the operator has them) and, where it differs, one for int8 alone.
/// Firmware registers these when no use of the operator needs more.
pub const INT8: &[(BuiltinOperator, Kernel, Option<Kernel>)] = &[
    (
        op::CONV_2D,
        conv_2d::KERNEL_INT8,
        Some(conv_2d::KERNEL_INT8_ONLY),
    ),
    (
        op::DEPTHWISE_CONV_2D,
        depthwise_conv_2d::KERNEL_INT8,
        Some(depthwise_conv_2d::KERNEL_INT8_ONLY),
    ),
    (
        op::FULLY_CONNECTED,
        fully_connected::KERNEL_INT8,
        Some(fully_connected::KERNEL_INT8_ONLY),
    ),
    (op::SOFTMAX, softmax::KERNEL_INT8, None),
];
