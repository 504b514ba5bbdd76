//! placeholder
pub const KERNEL: crate::kernel::Kernel = crate::kernels::add::KERNEL;
