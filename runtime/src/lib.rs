//! tflm runtime: TensorFlow Lite for Microcontrollers, in Rust.
//!
//! `no_std`, no heap: a model is read zero-copy from a byte slice (usually in
//! flash), and everything the runtime needs lives in one arena the caller
//! provides.
#![no_std]
#![forbid(unsafe_code)]

pub mod ops;
pub mod schema;

pub use schema::{Model, ReadError};
