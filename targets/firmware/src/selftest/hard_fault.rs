//! Self-test: a hard fault (a jump to an address with no code on a device;
//! an abort natively).
#![cfg_attr(target_os = "none", no_std, no_main)]

fn run() -> ! {
    tflm_board::println!("Testing selftest/hard_fault");
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    {
        // SAFETY: none; this program exists to fault. Executing from an
        // address with the Thumb bit clear raises a UsageFault, escalated
        // to a HardFault since no handler is enabled.
        let f: extern "C" fn() -> ! = unsafe { core::mem::transmute(0xFFFF_FFF0usize) };
        f()
    }
    #[cfg(not(all(target_arch = "arm", target_os = "none")))]
    {
        tflm_board::println!("*** HARD FAULT: simulated on this target");
        tflm_board::exit(tflm_board::FAULT_EXIT)
    }
}

tflm_board::main!(run);
