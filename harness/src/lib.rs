//! The harness behind `tflm test`: builds test firmware for a target, runs
//! each binary (natively, in QEMU, in Renode, on a board through probe-rs),
//! reads its output as it comes, and decides a verdict from the pass and fail
//! markers, panics and faults, the exit status and a host-side timeout.

pub mod docker;
pub mod doctor;
pub mod elf_size;
pub mod firmware;
pub mod probe;
pub mod renode;
pub mod report;
pub mod runner;
pub mod scan;
pub mod session;
