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
    // SYS_WRITE0 (a NUL-terminated string) rather than opening ":tt": it is
    // the one console call that QEMU, released Renode and probe-rs all serve.
    #[cfg(target_os = "none")]
    {
        let mut buf = [0u8; 65];
        for chunk in text.as_bytes().chunks(64) {
            let n = chunk.len();
            for (dst, &b) in buf.iter_mut().zip(chunk) {
                *dst = if b == 0 { b'?' } else { b };
            }
            buf[n] = 0;
            if let Ok(s) = core::ffi::CStr::from_bytes_with_nul(&buf[..=n]) {
                semihosting::sys::arm_compat::sys_write0(s);
            }
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
    // As `{info}` prints it, with the file name written as it is: `{}` of a
    // `&str` would bring in `Formatter::pad` (over 600 bytes of flash).
    print("*** PANIC: panicked at ");
    if let Some(at) = info.location() {
        print(at.file());
        println!(":{}:{}:", at.line(), at.column());
    }
    println!("{}", info.message());
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

/// The device interrupt vectors, all to cortex-m-rt's `DefaultHandler`.
/// Test firmware enables no interrupt, so none can be taken; the table is
/// kept short (the first 32 lines, all that ARMv6-M has) rather than the
/// 240 entries (960 bytes of flash) cortex-m-rt reserves without a device
/// crate. The link script needs a `device.x`; the firmware's build script
/// writes an empty one.
#[cfg(all(target_arch = "arm", target_os = "none"))]
mod vectors {
    extern "C" {
        fn DefaultHandler();
    }

    #[link_section = ".vector_table.interrupts"]
    #[no_mangle]
    #[used]
    static __INTERRUPTS: [unsafe extern "C" fn(); 32] = [DefaultHandler; 32];
}

/// Stack high-water measurement: the free RAM between the static data and
/// the stack pointer is painted with a pattern at startup; the deepest word
/// no longer holding it shows how much stack the program used.
pub mod stack {
    #[cfg(target_os = "none")]
    const PAINT: u32 = 0xA5A5_A5A5;

    #[cfg(target_os = "none")]
    extern "C" {
        // Both cortex-m-rt and riscv-rt define these: the end of the
        // static data (start of free RAM) and the initial stack pointer.
        static mut __sheap: u32;
        static mut _stack_start: u32;
    }

    /// Paints the free RAM below the current stack frame. Call it first
    /// thing (`main!` does).
    #[inline(never)]
    pub fn paint() {
        #[cfg(target_os = "none")]
        {
            let here = 0u32;
            // Stay 64 bytes below this frame: the call chain above it is in
            // use.
            let top = (core::ptr::addr_of!(here) as usize).saturating_sub(64) & !3;
            let mut p = core::ptr::addr_of_mut!(__sheap) as usize;
            while p < top {
                // SAFETY: [__sheap, top) is RAM that belongs to no static
                // and lies below the live stack, so nothing reads or holds a
                // reference to it; the write is aligned (both ends are).
                unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
                p += 4;
            }
        }
    }

    /// The most stack used since [`paint`], in bytes (`None` natively).
    pub fn used() -> Option<usize> {
        #[cfg(target_os = "none")]
        {
            let start = core::ptr::addr_of_mut!(__sheap) as usize;
            let top = core::ptr::addr_of_mut!(_stack_start) as usize;
            let mut p = start;
            // SAFETY: aligned reads of RAM between the static data and the
            // stack top, which `paint` wrote or the stack has used.
            while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
                p += 4;
            }
            Some(top - p)
        }
        #[cfg(not(target_os = "none"))]
        {
            None
        }
    }
}

/// A free-running counter for profiling: SysTick ticks on Cortex-M,
/// retired instructions (`minstret`) on RISC-V, nothing natively.
///
/// Under QEMU with `-icount shift=0` every instruction advances virtual time
/// by exactly one nanosecond, so both are deterministic counts of the
/// instructions run; [`calibrate`](counter::calibrate) measures how many
/// instructions a SysTick tick is.
pub mod counter {
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    mod imp {
        use core::ptr::{read_volatile, write_volatile};
        use core::sync::atomic::{AtomicU32, Ordering};

        const SYST_CSR: *mut u32 = 0xE000_E010 as *mut u32;
        const SYST_RVR: *mut u32 = 0xE000_E014 as *mut u32;
        const SYST_CVR: *mut u32 = 0xE000_E018 as *mut u32;
        const SYST_SHPR3: *mut u32 = 0xE000_ED20 as *mut u32;
        /// The 24-bit counter's period.
        const PERIOD: u64 = 1 << 24;

        /// Times the counter wrapped (counted by the SysTick interrupt).
        static WRAPS: AtomicU32 = AtomicU32::new(0);

        #[cortex_m_rt::exception]
        fn SysTick() {
            // Only this handler writes WRAPS: load and store suffice (ARMv6-M
            // has no atomic read-modify-write).
            WRAPS.store(WRAPS.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }

        pub fn start() {
            // SAFETY: SysTick's registers are architectural (ARMv6-M/7-M),
            // at these fixed addresses; nothing else in the firmware uses
            // SysTick. Lowest priority, so it never preempts a fault.
            unsafe {
                let shpr3 = read_volatile(SYST_SHPR3);
                write_volatile(SYST_SHPR3, shpr3 | 0xFF00_0000);
                write_volatile(SYST_RVR, (PERIOD - 1) as u32);
                write_volatile(SYST_CVR, 0);
                // Enabled, interrupt on wrap, processor clock.
                write_volatile(SYST_CSR, 0b111);
            }
        }

        pub fn now() -> u64 {
            loop {
                let wraps = WRAPS.load(Ordering::Relaxed);
                // SAFETY: a read of the architectural SysTick current value.
                let current = unsafe { read_volatile(SYST_CVR) } & 0x00FF_FFFF;
                // A wrap between the two reads (its interrupt already taken)
                // would pair an old count with a new value: read again.
                if WRAPS.load(Ordering::Relaxed) == wraps {
                    return u64::from(wraps) * PERIOD + (PERIOD - 1 - u64::from(current));
                }
            }
        }

        /// Runs `2 * n` instructions (a two-instruction loop).
        pub fn spin(n: u32) {
            if n == 0 {
                return;
            }
            // SAFETY: a register-only countdown loop; touches no memory.
            unsafe {
                core::arch::asm!(
                    "2:",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                    n = inout(reg) n => _,
                    options(nomem, nostack),
                );
            }
        }
    }

    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    mod imp {
        pub fn start() {}

        pub fn now() -> u64 {
            loop {
                let (hi, lo, hi2): (u32, u32, u32);
                // SAFETY: reads of the user-level instruction counter CSRs.
                unsafe {
                    core::arch::asm!("csrr {0}, minstreth", out(reg) hi, options(nomem, nostack));
                    core::arch::asm!("csrr {0}, minstret", out(reg) lo, options(nomem, nostack));
                    core::arch::asm!("csrr {0}, minstreth", out(reg) hi2, options(nomem, nostack));
                }
                if hi == hi2 {
                    return (u64::from(hi) << 32) | u64::from(lo);
                }
            }
        }

        /// Runs `2 * n` instructions (a two-instruction loop).
        pub fn spin(n: u32) {
            if n == 0 {
                return;
            }
            // SAFETY: a register-only countdown loop; touches no memory.
            unsafe {
                core::arch::asm!(
                    "2:",
                    "addi {n}, {n}, -1",
                    "bnez {n}, 2b",
                    n = inout(reg) n => _,
                    options(nomem, nostack),
                );
            }
        }
    }

    /// Starts the counter. Call once, before [`now`].
    pub fn start() {
        #[cfg(target_os = "none")]
        imp::start();
    }

    /// The counter's value (`None` natively).
    pub fn now() -> Option<u64> {
        #[cfg(target_os = "none")]
        {
            Some(imp::now())
        }
        #[cfg(not(target_os = "none"))]
        {
            None
        }
    }

    /// Instructions in [`calibrate`]'s loop.
    pub const CALIBRATION_INSTRUCTIONS: u64 = 2_000_000;

    /// Counter units taken by a loop of [`CALIBRATION_INSTRUCTIONS`]
    /// instructions (`None` natively): the host turns counts into
    /// instructions with it.
    pub fn calibrate() -> Option<u64> {
        #[cfg(target_os = "none")]
        {
            let t0 = imp::now();
            imp::spin((CALIBRATION_INSTRUCTIONS / 2) as u32);
            Some(imp::now() - t0)
        }
        #[cfg(not(target_os = "none"))]
        {
            None
        }
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
            $crate::stack::paint();
            $body()
        }

        #[cfg(not(target_os = "none"))]
        fn main() {
            $body()
        }
    };
}
