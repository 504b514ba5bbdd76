//! Board support for tflm test firmware, and the same API on the host.
//!
//! A test binary is written once: on a microcontroller its output goes out
//! through semihosting and it exits with a semihosting exit (QEMU, Renode and
//! probe-rs pass the status on); natively it prints to stdout and exits the
//! process. Panics and hard faults print one recognizable line
//! (`*** PANIC` / `*** HARD FAULT`) that the harness turns into a verdict.
#![no_std]

pub mod test;

#[cfg(not(target_os = "none"))]
extern crate std;

/// Writes text to the test log.
pub fn print(text: &str) {
    #[cfg(target_os = "none")]
    {
        use semihosting::io::Write;
        if let Ok(mut out) = semihosting::io::stdout() {
            let _ = out.write_all(text.as_bytes());
        }
    }
    #[cfg(not(target_os = "none"))]
    {
        use std::io::Write;
        let _ = std::io::stdout().write_all(text.as_bytes());
    }
}

/// A `core::fmt::Write` for the test log, for `write!`.
pub struct Log;

impl core::fmt::Write for Log {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        print(s);
        Ok(())
    }
}

/// `println!` for test firmware.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::Log, $($arg)*);
    }};
}

/// Ends the program with `code` (0 = success).
pub fn exit(code: i32) -> ! {
    #[cfg(target_os = "none")]
    {
        semihosting::process::exit(code)
    }
    #[cfg(not(target_os = "none"))]
    {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(code)
    }
}

/// Exit status of a panic (as Rust's own test harness uses).
pub const PANIC_EXIT: i32 = 101;
/// Exit status of a hard fault.
pub const FAULT_EXIT: i32 = 102;

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("*** PANIC: {}", info);
    exit(PANIC_EXIT)
}

#[cfg(all(target_arch = "arm", target_os = "none"))]
mod fault {
    use cortex_m_rt::{exception, ExceptionFrame};

    // SAFETY: cortex-m-rt requires the HardFault handler to be an `unsafe
    // fn`; it only reads the stacked frame it is given.
    #[exception]
    unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
        crate::println!(
            "*** HARD FAULT: pc={:#010x} lr={:#010x}",
            frame.pc(),
            frame.lr()
        );
        crate::exit(crate::FAULT_EXIT)
    }
}

#[doc(hidden)]
pub mod __rt {
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    pub use cortex_m_rt::entry;
    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    pub use riscv_rt::entry;
}

/// Declares the program's entry: `tflm_board::main!(run);` with
/// `fn run() -> !` runs it on a microcontroller (from reset) and natively
/// (as `main`). Use with `#![cfg_attr(target_os = "none", no_std, no_main)]`.
#[macro_export]
macro_rules! main {
    ($body:path) => {
        #[cfg(target_os = "none")]
        #[$crate::__rt::entry]
        fn main() -> ! {
            $body()
        }

        #[cfg(not(target_os = "none"))]
        fn main() {
            $body()
        }
    };
}
