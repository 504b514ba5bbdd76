//! Reference kernels, one operator per file: each file has the operator's
//! `prepare` and `eval` and its tests, and exports `KERNEL`.
//!
//! These are written to be read: they follow TFLite's reference kernels and
//! are bit-exact with TFLM's for integer types. Faster kernels can replace
//! them op by op in an op resolver.

pub mod add;
pub mod average_pool_2d;
pub mod conv_2d;
pub mod depthwise_conv_2d;
pub mod dequantize;
pub mod fully_connected;
pub mod max_pool_2d;
pub mod quantize;
pub mod reshape;
pub mod softmax;

mod common;

use crate::kernel::Kernel;
use crate::schema::{op, BuiltinOperator};

/// Every reference kernel, by the operator it runs.
pub const REFERENCE: &[(BuiltinOperator, Kernel)] = &[
    (op::ADD, add::KERNEL),
    (op::AVERAGE_POOL_2D, average_pool_2d::KERNEL),
    (op::CONV_2D, conv_2d::KERNEL),
    (op::DEPTHWISE_CONV_2D, depthwise_conv_2d::KERNEL),
    (op::DEQUANTIZE, dequantize::KERNEL),
    (op::FULLY_CONNECTED, fully_connected::KERNEL),
    (op::MAX_POOL_2D, max_pool_2d::KERNEL),
    (op::QUANTIZE, quantize::KERNEL),
    (op::RESHAPE, reshape::KERNEL),
    (op::SOFTMAX, softmax::KERNEL),
];
