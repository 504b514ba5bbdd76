//! placeholder
pub const KERNEL: crate::kernel::Kernel = crate::kernels::average_pool_2d::KERNEL;
