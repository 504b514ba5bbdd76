//! tflm runtime: TensorFlow Lite for Microcontrollers, in Rust.
//!
//! `no_std`, no heap: a model is read zero-copy from a byte slice (usually in
//! flash), and everything the runtime needs lives in one arena the caller
//! provides.
#![no_std]
#![deny(unsafe_code)]
// Divisibility is written with `%`: `is_multiple_of` needs Rust 1.87.
#![allow(clippy::manual_is_multiple_of)]

#[cfg(test)]
extern crate std;

/// An error's text, or "" when the `error-text` feature is off: firmware
/// that must be small then links none of the texts (the host, which has
/// them, can tell what went wrong).
macro_rules! text {
    ($s:expr) => {
        if cfg!(feature = "error-text") {
            $s
        } else {
            ""
        }
    };
}

pub mod arena;
mod index;
pub mod interpreter;
pub mod kernel;
pub mod kernels;
pub mod ops;
pub mod planner;
pub mod quant;
pub mod resolver;
pub mod schema;
pub mod tensor;
#[cfg(test)]
pub(crate) mod testing;

pub use interpreter::{ArenaUsage, Error, Interpreter, IoInfo, NoProfiler, Profiler};
pub use kernel::{Kernel, KernelError};
pub use resolver::{AllOpsResolver, FastOpsResolver, MutableOpResolver, OpResolver};
pub use schema::{Model, ReadError};
pub use tensor::{Shape, TensorView, TensorViewMut};
