//! The micro test framework: the same test cases on the host and on every
//! target, with output like TFLM's:
//!
//! ```text
//! Testing conv_2d/int8_stride1
//! src/bin/conv_2d.rs:31: expected 5, got 4
//! 2/3 tests passed
//! ~~~SOME TESTS FAILED~~~
//! ```
//!
//! and an exit status (0 when all passed, 1 otherwise).

use crate::{exit, println};
use core::fmt::{Debug, Display};
use core::panic::Location;

/// The pass marker the harness looks for.
pub const ALL_PASSED: &str = "~~~ALL TESTS PASSED~~~";
/// The fail marker the harness looks for.
pub const SOME_FAILED: &str = "~~~SOME TESTS FAILED~~~";

/// Checks inside one test; a failed check is reported and the test goes on,
/// so one run shows every failure.
pub struct Check {
    failures: u32,
}

impl Check {
    fn fail(&mut self, at: &Location<'_>, what: core::fmt::Arguments<'_>) {
        self.failures += 1;
        crate::print(at.file());
        println!(":{}: {}", at.line(), what);
    }

    /// `actual == expected`.
    #[track_caller]
    pub fn eq<T: PartialEq + Debug + ?Sized>(&mut self, actual: &T, expected: &T) -> bool {
        let ok = actual == expected;
        if !ok {
            self.fail(
                Location::caller(),
                format_args!("expected {:?}, got {:?}", expected, actual),
            );
        }
        ok
    }

    /// Two byte strings are equal; a difference is shown as the first byte
    /// that differs and how many do (not the whole data).
    #[track_caller]
    pub fn eq_bytes(&mut self, actual: &[u8], expected: &[u8]) -> bool {
        if actual.len() != expected.len() {
            self.fail(
                Location::caller(),
                format_args!("expected {} bytes, got {}", expected.len(), actual.len()),
            );
            return false;
        }
        let pairs = || actual.iter().zip(expected).enumerate();
        let Some((first, (a, e))) = pairs().find(|(_, (a, e))| a != e) else {
            return true;
        };
        let count = pairs().filter(|(_, (a, e))| a != e).count();
        self.fail(
            Location::caller(),
            format_args!(
                "byte {first}: expected {e}, got {a} ({count} of {} bytes differ)",
                actual.len()
            ),
        );
        false
    }

    /// `cond` holds; `what` says what it means.
    #[track_caller]
    pub fn is_true(&mut self, cond: bool, what: &str) -> bool {
        if !cond {
            self.fail(Location::caller(), format_args!("{}", Text(what)));
        }
        cond
    }

    /// `|actual - expected| <= tolerance * max(1, |expected|)`, element-wise.
    #[track_caller]
    pub fn near(&mut self, actual: &[f32], expected: &[f32], tolerance: f32) -> bool {
        if actual.len() != expected.len() {
            self.fail(
                Location::caller(),
                format_args!("expected {} values, got {}", expected.len(), actual.len()),
            );
            return false;
        }
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            let limit = tolerance * if e.abs() > 1.0 { e.abs() } else { 1.0 };
            // Written so that a NaN difference fails too.
            let within = (a - e).abs() <= limit;
            if !within {
                self.fail(
                    Location::caller(),
                    format_args!("element {i}: expected {}, got {}", F(*e), F(*a)),
                );
                return false;
            }
        }
        true
    }

    /// The value of `r`, or a failure naming its error.
    #[track_caller]
    pub fn ok<T, E: Display>(&mut self, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(Location::caller(), format_args!("error: {e}"));
                None
            }
        }
    }

    /// The value of `r`, or a failure that names the failed step but not the
    /// error's text. For firmware that must stay small (the model test on a
    /// 64 KiB part): the error texts and their formatting cost about 9 KiB of
    /// flash, and the host run of the same model gives the full text.
    #[track_caller]
    pub fn ok_terse<T, E>(&mut self, r: Result<T, E>, step: &str) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(_) => {
                self.fail(
                    Location::caller(),
                    format_args!(
                        "{} failed (run `tflm run` on the host for the reason)",
                        Text(step)
                    ),
                );
                None
            }
        }
    }

    /// `r` is an error whose text contains `want`.
    #[track_caller]
    pub fn err_contains<T, E: Display>(&mut self, r: Result<T, E>, want: &str) -> bool {
        match r {
            Ok(_) => {
                self.fail(
                    Location::caller(),
                    format_args!("expected an error containing \"{}\", got Ok", Text(want)),
                );
                false
            }
            Err(e) => {
                let mut text = Contains::new(want);
                let _ = core::fmt::write(&mut text, format_args!("{e}"));
                if !text.found() {
                    self.fail(
                        Location::caller(),
                        format_args!("error {e} does not contain \"{}\"", Text(want)),
                    );
                }
                text.found()
            }
        }
    }
}

/// An `f32` shown with six decimals (rounded half up) without core's float
/// formatting, which would cost about 8 KiB of flash, and without `f64`
/// (soft-float) or 64-bit division; out-of-range values show their bits.
#[derive(Clone, Copy)]
pub struct F(pub f32);

impl Display for F {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let x = self.0;
        if x.is_nan() {
            return f.write_str("NaN");
        }
        if !x.is_finite() || x.abs() >= 1e9 {
            return write!(f, "f32:{:#010x}", x.to_bits());
        }
        // |x| = m * 2^-k exactly, with m < 2^24 and 0 <= k <= 149.
        let bits = x.to_bits();
        let exp = ((bits >> 23) & 0xff) as i32;
        let frac = bits & 0x7f_ffff;
        let (m, k) = if exp == 0 {
            (frac, 149)
        } else {
            (frac | 0x80_0000, 150 - exp)
        };
        let (mut whole, mut micros) = if k <= 0 {
            (m << -k, 0) // |x| < 1e9, so this fits
        } else if k >= 32 {
            (0, rounded_micros(m as u64, k as u32))
        } else {
            let part = m & ((1 << k) - 1);
            (m >> k, rounded_micros(part as u64, k as u32))
        };
        if micros == 1_000_000 {
            whole += 1;
            micros = 0;
        }
        if x < 0.0 {
            f.write_str("-")?;
        }
        write!(f, "{whole}.{micros:06}")
    }
}

/// `part / 2^k` in millionths, rounded half up (`part < 2^24`, so the
/// product fits 64 bits; shifts only, no division).
fn rounded_micros(part: u64, k: u32) -> u32 {
    if k > 45 {
        return 0; // below half a millionth
    }
    ((part * 1_000_000 + (1 << (k - 1))) >> k) as u32
}

/// A string shown as it is (`{}` of a `&str` would bring in
/// `Formatter::pad`, over 600 bytes of flash, for nothing here).
struct Text<'a>(&'a str);

impl Display for Text<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0)
    }
}

/// Looks for a string in formatted text without storing the text.
struct Contains<'a> {
    want: &'a [u8],
    /// Candidate match positions so far: how many bytes of `want` matched.
    matched: [usize; 64],
    count: usize,
    found: bool,
}

impl<'a> Contains<'a> {
    fn new(want: &'a str) -> Self {
        Contains {
            want: want.as_bytes(),
            matched: [0; 64],
            count: 0,
            found: want.is_empty(),
        }
    }

    fn found(&self) -> bool {
        self.found
    }
}

impl core::fmt::Write for Contains<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.found {
                return Ok(());
            }
            // Advance every partial match, start a new one, drop the misses.
            let mut kept = 0;
            for i in 0..self.count {
                let m = self.matched[i];
                if self.want[m] == b {
                    if m + 1 == self.want.len() {
                        self.found = true;
                    }
                    self.matched[kept] = m + 1;
                    kept += 1;
                }
            }
            if self.want.first() == Some(&b) && kept < self.matched.len() {
                if self.want.len() == 1 {
                    self.found = true;
                }
                self.matched[kept] = 1;
                kept += 1;
            }
            self.count = kept;
        }
        Ok(())
    }
}

/// Runs the tests a program adds, then prints the summary and exits.
pub struct Suite {
    total: u32,
    passed: u32,
}

impl Suite {
    /// Runs one test called `name`.
    pub fn test(&mut self, name: &str, f: impl FnOnce(&mut Check)) {
        crate::print("Testing ");
        crate::print(name);
        crate::print("\n");
        let mut check = Check { failures: 0 };
        f(&mut check);
        self.total += 1;
        if check.failures == 0 {
            self.passed += 1;
        }
    }
}

/// Runs `body`, which adds tests to the suite; prints `N/M tests passed` and
/// the pass or fail marker, and exits 0 or 1.
pub fn run(body: impl FnOnce(&mut Suite)) -> ! {
    let mut suite = Suite {
        total: 0,
        passed: 0,
    };
    body(&mut suite);
    println!("{}/{} tests passed", suite.passed, suite.total);
    if suite.passed == suite.total && suite.total > 0 {
        crate::print(ALL_PASSED);
        crate::print("\n");
        exit(0)
    } else {
        crate::print(SOME_FAILED);
        crate::print("\n");
        exit(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn floats_print_without_core_float_formatting() {
        let mut s = std::string::String::new();
        write!(s, "{} {} {} {}", F(1.5), F(-0.25), F(f32::NAN), F(1e10)).unwrap();
        assert_eq!(s, "1.500000 -0.250000 NaN f32:0x501502f9");
        // The same digits as rounding the exact value, over every range.
        for x in [
            0.0f32,
            -0.0,
            1e-7,
            4.9e-7,
            5e-7,
            0.1,
            0.9999996,
            0.9999995,
            1.0,
            core::f32::consts::PI,
            -2.5e-3,
            123456.79,
            8388608.5,
            16777217.0,
            999_999_900.0,
            f32::MIN_POSITIVE,
            1e-45,
        ] {
            let mut s = std::string::String::new();
            write!(s, "{}", F(x)).unwrap();
            let micros = (f64::from(x.abs()) * 1e6).round() as u64;
            let sign = if x < 0.0 { "-" } else { "" };
            let want = std::format!("{sign}{}.{:06}", micros / 1_000_000, micros % 1_000_000);
            assert_eq!(s, want, "{x}");
        }
    }

    #[test]
    fn contains_finds_overlapping_prefixes() {
        let mut c = Contains::new("aab");
        c.write_str("xaa").unwrap();
        c.write_str("ab").unwrap();
        assert!(c.found());
        let mut c = Contains::new("needle");
        c.write_str("haystack").unwrap();
        assert!(!c.found());
    }

    #[test]
    fn checks_count_failures() {
        let mut c = Check { failures: 0 };
        assert!(c.eq(&1, &1));
        assert!(!c.eq(&[1, 2][..], &[1, 3][..]));
        assert!(c.eq_bytes(&[1, 2], &[1, 2]));
        assert!(!c.eq_bytes(&[1, 2, 4], &[1, 3, 5]));
        assert!(!c.eq_bytes(&[1], &[1, 3]));
        assert!(c.near(&[1.0, 100.0], &[1.000001, 100.0001], 1e-5));
        assert!(!c.near(&[1.0], &[1.1], 1e-5));
        assert!(c.err_contains::<(), _>(Err("arena too small: 10"), "too small"));
        assert!(!c.err_contains::<(), _>(Err("other"), "too small"));
        assert_eq!(c.failures, 5);
    }
}
