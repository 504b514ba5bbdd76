//! Optimized kernels (placeholder while they are written).
