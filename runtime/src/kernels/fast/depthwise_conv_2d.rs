//! placeholder
pub const KERNEL: crate::kernel::Kernel = crate::kernels::depthwise_conv_2d::KERNEL;
