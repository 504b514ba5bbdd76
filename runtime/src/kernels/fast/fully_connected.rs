//! placeholder
pub const KERNEL: crate::kernel::Kernel = crate::kernels::fully_connected::KERNEL;
