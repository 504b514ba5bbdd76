//! The probe-rs runner: runs a test binary on a real board through a debug
//! probe, with the `probe-rs` crate.
//!
//! [`run_on_probe`] opens the probe (the one selected, or the only one
//! attached), attaches to the chip under reset, flashes the ELF, resets and
//! runs it, then polls the core until a verdict:
//!
//! * semihosting calls (the core halts on `BKPT 0xAB`, probe-rs decodes the
//!   request) are answered by [`HostIo`]: console writes (`SYS_WRITEC`,
//!   `SYS_WRITE0`, `SYS_WRITE` to the handles of `:tt`) go to the scanner,
//!   `SYS_EXIT` / `SYS_EXIT_EXTENDED` end the run with an exit status, file
//!   access is refused with an error code, then the core is resumed;
//! * if the ELF has an RTT control block (`_SEGGER_RTT`), up channel 0 is
//!   read too and fed to the scanner;
//! * the verdict is decided by a [`Scanner`] with the same rules as every
//!   other runner; the host timeout halts the core.
//!
//! On a verdict the core is halted and then reset and halted, so the board is
//! left stopped at its reset vector. (When the session closes, probe-rs
//! releases the debug logic and the chip runs again; the test firmware then
//! faults at its first semihosting call, which needs a debugger.)
//!
//! Which probe and chip each board uses can be written down in a
//! `hardware.toml` ([`Bench`]).

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use probe_rs::flashing::{download_file, ElfLoader, ElfOptions};
use probe_rs::probe::list::{Accessibility, Lister};
use probe_rs::rtt::{Rtt, ScanRegion};
use probe_rs::semihosting::{ExitErrorDetails, SemihostingCommand};
use probe_rs::{
    BreakpointCause, Core, CoreStatus, HaltReason, MemoryInterface, Permissions, RegisterValue,
};
use serde::{Deserialize, Serialize};

use crate::report::Attempt;
use crate::runner::Limits;
use crate::scan::{Decision, Exit, ScanConfig, Scanner, Verdict};

/// How long to wait for the core to halt when asked.
const HALT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long to sleep between polls when nothing happened.
const IDLE_POLL: Duration = Duration::from_millis(1);
/// How often to look for the RTT control block until the firmware set it up.
const RTT_RETRY: Duration = Duration::from_millis(50);
/// The most bytes taken from one semihosting write (the rest is answered as
/// not written, and the firmware may retry).
const MAX_WRITE: u32 = 64 * 1024;
/// The longest `SYS_WRITE0` string read, and the longest path of `SYS_OPEN`.
const MAX_STRING: usize = 64 * 1024;
const MAX_PATH: u32 = 1024;

/// What an error message calls for when the probe must be chosen.
const CHOOSE_PROBE: &str = "choose one with --probe VID:PID[:SERIAL] or hardware.toml";

/// Why a run on a probe could not happen, or a probe or `hardware.toml`
/// setting is wrong. Each message is one line a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No debug probe is attached (or none can be seen).
    #[error(
        "no debug probe found: connect one (and check udev permissions); `tflm doctor` lists probes"
    )]
    NoProbe,
    /// Several probes are attached and nothing says which one to use.
    #[error("several debug probes attached: {attached}; {CHOOSE_PROBE}")]
    SeveralProbes {
        /// The probes, as `name (VID:PID:SERIAL)`, comma-separated.
        attached: String,
    },
    /// Probes are attached, but none is the one asked for.
    #[error("no attached debug probe matches {wanted} (attached: {attached}); connect it, or {CHOOSE_PROBE}")]
    NoMatchingProbe {
        /// The selector or serial asked for.
        wanted: String,
        /// The probes attached.
        attached: String,
    },
    /// The probe is there but this user may not open it.
    #[error("debug probe {probe} cannot be opened: permission denied; install the udev rules for debug probes (see probe-rs's probe setup guide) and plug it in again")]
    PermissionDenied {
        /// The probe.
        probe: String,
    },
    /// Opening the probe failed.
    #[error("could not open debug probe {probe}: {error}; unplug it and plug it in again, and check that no other program (a debugger, probe-rs, OpenOCD) uses it")]
    Open {
        /// The probe.
        probe: String,
        /// probe-rs's error.
        error: String,
    },
    /// The probe refused the speed.
    #[error("debug probe {probe} refused the speed {speed_khz} kHz: {error}; set another speed_khz in hardware.toml")]
    Speed {
        /// The probe.
        probe: String,
        /// The speed asked for.
        speed_khz: u32,
        /// probe-rs's error.
        error: String,
    },
    /// probe-rs has no chip of that name.
    #[error("chip {chip} not known to probe-rs{suggestions}; fix the chip name in targets/targets.toml or hardware.toml (`probe-rs chip list` lists them)")]
    UnknownChip {
        /// The name asked for.
        chip: String,
        /// `; did you mean A, B` or empty.
        suggestions: String,
    },
    /// The chip name matches several chips.
    #[error("chip name {chip} is ambiguous in probe-rs (it matches {matches}); give the full name in targets/targets.toml or hardware.toml")]
    AmbiguousChip {
        /// The name asked for.
        chip: String,
        /// The chips it matches.
        matches: String,
    },
    /// Another failure looking the chip up.
    #[error("could not load probe-rs's description of chip {chip}: {error}")]
    ChipLookup {
        /// The name asked for.
        chip: String,
        /// probe-rs's error.
        error: String,
    },
    /// Attaching to the chip failed.
    #[error("could not attach to the {chip} through {probe} under reset: {error}; check the wiring (SWDIO, SWCLK, GND, NRST), the board's power, and the chip name")]
    Attach {
        /// The chip.
        chip: String,
        /// The probe.
        probe: String,
        /// probe-rs's error.
        error: String,
    },
    /// The ELF could not be read.
    #[error("could not read the firmware {path}: {error}")]
    ReadElf {
        /// The ELF.
        path: PathBuf,
        /// The I/O error.
        error: String,
    },
    /// Flashing failed.
    #[error("flashing {path} to the {chip} failed: {error}; check that the binary was built for this chip (its memory map) and that the flash is not locked")]
    Flash {
        /// The ELF.
        path: PathBuf,
        /// The chip.
        chip: String,
        /// probe-rs's error.
        error: String,
    },
    /// The core could not be reset or started after flashing.
    #[error("could not start the firmware on the {chip}: {error}")]
    Start {
        /// The chip.
        chip: String,
        /// probe-rs's error.
        error: String,
    },
    /// A probe selector is malformed.
    #[error("bad probe selector \"{input}\": {problem}; write VID:PID[:SERIAL] with VID and PID in hex, e.g. 0483:3748 or 0483:3748:066DFF555185754867181836")]
    BadSelector {
        /// What was given.
        input: String,
        /// What is wrong with it.
        problem: String,
    },
    /// `hardware.toml` could not be read or is malformed.
    #[error("{path}: {problem}")]
    Bench {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the line when known).
        problem: String,
    },
    /// `hardware.toml` has no entry for a target.
    #[error("{path} has no [{target}] table (it has: {known}); add one with the board's probe, and chip and speed_khz if needed")]
    NoBenchEntry {
        /// The file.
        path: PathBuf,
        /// The target asked for.
        target: String,
        /// The targets it has.
        known: String,
    },
}

/// An error's text on one line.
fn one_line(error: &dyn fmt::Display) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------
// Probe selectors and the probes attached

/// Which probe to use: `VID:PID[:SERIAL]`, the USB vendor and product ids in
/// hex and optionally the serial number, as probe-rs writes them. A serial
/// may itself hold colons; an empty one (`VID:PID:`) selects a probe without
/// a serial number, as in probe-rs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProbeSelector {
    vid: u16,
    pid: u16,
    serial: Option<String>,
}

impl ProbeSelector {
    /// A selector for these ids and serial.
    pub fn new(vid: u16, pid: u16, serial: Option<String>) -> Self {
        ProbeSelector { vid, pid, serial }
    }

    /// The USB vendor id.
    pub fn vid(&self) -> u16 {
        self.vid
    }

    /// The USB product id.
    pub fn pid(&self) -> u16 {
        self.pid
    }

    /// The serial number, if the selector names one.
    pub fn serial(&self) -> Option<&str> {
        self.serial.as_deref()
    }

    /// Whether `probe` is one this selector selects.
    pub fn matches(&self, probe: &ProbeInfo) -> bool {
        probe.vid == self.vid
            && probe.pid == self.pid
            && match (&self.serial, &probe.serial) {
                (None, _) => true,
                (Some(wanted), Some(serial)) => wanted.eq_ignore_ascii_case(serial),
                (Some(wanted), None) => wanted.is_empty(),
            }
    }
}

impl fmt::Display for ProbeSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vid, self.pid)?;
        if let Some(serial) = &self.serial {
            write!(f, ":{serial}")?;
        }
        Ok(())
    }
}

fn parse_hex_id(input: &str, text: &str, what: &str) -> Result<u16, ProbeError> {
    let bad = |problem: String| ProbeError::BadSelector {
        input: input.to_string(),
        problem,
    };
    if text.is_empty() {
        return Err(bad(format!("the {what} is missing")));
    }
    if text.starts_with("0x") || text.starts_with("0X") {
        return Err(bad(format!(
            "the {what} \"{text}\" has a 0x prefix (write the hex digits alone)"
        )));
    }
    if let Some((_, interface)) = text.split_once('-') {
        if what == "product id" {
            return Err(bad(format!(
                "USB interface numbers (\"-{interface}\") are not supported"
            )));
        }
    }
    if text.len() > 4 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "the {what} \"{text}\" is not a hex number of 1 to 4 digits"
        )));
    }
    u16::from_str_radix(text, 16).map_err(|e| bad(format!("the {what} \"{text}\": {e}")))
}

impl FromStr for ProbeSelector {
    type Err = ProbeError;

    fn from_str(input: &str) -> Result<Self, ProbeError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(ProbeError::BadSelector {
                input: input.to_string(),
                problem: "it is empty".into(),
            });
        }
        let mut parts = text.splitn(3, ':');
        let vid = parts.next().unwrap_or_default();
        let Some(pid) = parts.next() else {
            return Err(ProbeError::BadSelector {
                input: input.to_string(),
                problem: "there is no ':' between the vendor and product ids (a bare serial number is only accepted in hardware.toml)".into(),
            });
        };
        let vid = parse_hex_id(input, vid, "vendor id")?;
        let pid = parse_hex_id(input, pid, "product id")?;
        let serial = parts.next().map(str::to_string);
        Ok(ProbeSelector { vid, pid, serial })
    }
}

impl Serialize for ProbeSelector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProbeSelector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A debug probe attached to this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeInfo {
    /// The probe's name, e.g. `STLink V2`.
    pub identifier: String,
    /// USB vendor id.
    pub vid: u16,
    /// USB product id.
    pub pid: u16,
    /// Serial number, when it has one.
    pub serial: Option<String>,
    /// The kind of probe (probe-rs's driver), e.g. `ST-LINK`, `CMSIS-DAP`.
    pub probe_type: String,
    /// `VID:PID[:SERIAL]`, for `--probe`.
    pub selector: String,
    /// False when this user may not open it (udev permissions).
    pub accessible: bool,
}

impl ProbeInfo {
    /// A probe as listed, its selector filled in.
    pub fn new(
        identifier: impl Into<String>,
        vid: u16,
        pid: u16,
        serial: Option<String>,
        probe_type: impl Into<String>,
        accessible: bool,
    ) -> Self {
        let selector = ProbeSelector::new(vid, pid, serial.clone()).to_string();
        ProbeInfo {
            identifier: identifier.into(),
            vid,
            pid,
            serial,
            probe_type: probe_type.into(),
            selector,
            accessible,
        }
    }

    /// The selector that picks exactly this probe (when its serial is
    /// unique).
    pub fn to_selector(&self) -> ProbeSelector {
        ProbeSelector::new(self.vid, self.pid, self.serial.clone())
    }
}

impl fmt::Display for ProbeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.identifier, self.selector)
    }
}

fn probe_list(probes: &[&ProbeInfo]) -> String {
    probes
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The debug probes attached to this machine, as probe-rs sees them (empty
/// when there are none, or when USB cannot be read here).
pub fn list_probes() -> Vec<ProbeInfo> {
    Lister::new()
        .list_all_with_access()
        .iter()
        .map(|item| {
            ProbeInfo::new(
                item.info.identifier.clone(),
                item.info.vendor_id,
                item.info.product_id,
                item.info.serial_number.clone(),
                item.info.probe_type(),
                item.accessibility == Accessibility::Accessible,
            )
        })
        .collect()
}

/// Which of `probes` to use: the one `selector` matches, or the only one
/// attached. Errors: none attached, none matching, or several possible.
pub fn select_probe(
    probes: &[ProbeInfo],
    selector: Option<&ProbeSelector>,
) -> Result<usize, ProbeError> {
    if probes.is_empty() {
        return Err(ProbeError::NoProbe);
    }
    let candidates: Vec<usize> = match selector {
        Some(selector) => (0..probes.len())
            .filter(|&i| selector.matches(&probes[i]))
            .collect(),
        None => (0..probes.len()).collect(),
    };
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => Err(ProbeError::NoMatchingProbe {
            wanted: selector.map(|s| s.to_string()).unwrap_or_default(),
            attached: probe_list(&probes.iter().collect::<Vec<_>>()),
        }),
        several => Err(ProbeError::SeveralProbes {
            attached: probe_list(&several.iter().map(|&i| &probes[i]).collect::<Vec<_>>()),
        }),
    }
}

// ---------------------------------------------------------------------------
// hardware.toml

/// How `hardware.toml` names a board's probe: a full selector, or just the
/// probe's serial number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeRef {
    /// `VID:PID[:SERIAL]`.
    Selector(ProbeSelector),
    /// A serial number alone (matched against every attached probe).
    Serial(String),
}

impl ProbeRef {
    /// The selector of the probe this names among `probes` (a serial is
    /// looked up there; a selector is returned as it is).
    pub fn resolve(&self, probes: &[ProbeInfo]) -> Result<ProbeSelector, ProbeError> {
        match self {
            ProbeRef::Selector(selector) => Ok(selector.clone()),
            ProbeRef::Serial(serial) => {
                if probes.is_empty() {
                    return Err(ProbeError::NoProbe);
                }
                let found: Vec<&ProbeInfo> = probes
                    .iter()
                    .filter(|p| {
                        p.serial
                            .as_deref()
                            .is_some_and(|s| s.eq_ignore_ascii_case(serial))
                    })
                    .collect();
                match found.as_slice() {
                    [one] => Ok(one.to_selector()),
                    [] => Err(ProbeError::NoMatchingProbe {
                        wanted: format!("serial {serial}"),
                        attached: probe_list(&probes.iter().collect::<Vec<_>>()),
                    }),
                    several => Err(ProbeError::SeveralProbes {
                        attached: probe_list(several),
                    }),
                }
            }
        }
    }
}

impl fmt::Display for ProbeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeRef::Selector(s) => s.fmt(f),
            ProbeRef::Serial(s) => write!(f, "serial {s}"),
        }
    }
}

/// One board of the bench: its `[target]` table in `hardware.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchEntry {
    /// The probe wired to it (none: the only probe attached).
    pub probe: Option<ProbeRef>,
    /// A chip name overriding the target's `probe-rs.chip`.
    pub chip: Option<String>,
    /// The SWD/JTAG clock in kHz (none: the probe's default).
    pub speed_khz: Option<u32>,
}

impl BenchEntry {
    /// The chip to use: this entry's override, else `default`.
    pub fn chip_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.chip.as_deref().unwrap_or(default)
    }

    /// The selector for [`run_on_probe`]: none when the entry names no
    /// probe; a serial alone is looked up among the probes attached.
    pub fn selector(&self) -> Result<Option<ProbeSelector>, ProbeError> {
        match &self.probe {
            None => Ok(None),
            Some(ProbeRef::Selector(s)) => Ok(Some(s.clone())),
            Some(r @ ProbeRef::Serial(_)) => r.resolve(&list_probes()).map(Some),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    probe: Option<String>,
    chip: Option<String>,
    speed_khz: Option<u32>,
}

/// The boards wired to this machine: `hardware.toml`, one table per target
/// name, each with `probe` (a `VID:PID[:SERIAL]` selector or a serial
/// number), `chip` (overrides the target's probe-rs chip) and `speed_khz`,
/// all optional; other keys are refused.
///
/// ```toml
/// [bluepill]
/// probe = "0483:3748:066DFF555185754867181836"
/// chip = "STM32F103C8"
/// speed_khz = 4000
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bench {
    path: PathBuf,
    entries: BTreeMap<String, BenchEntry>,
}

impl Bench {
    /// Reads and checks `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Bench, ProbeError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ProbeError::Bench {
            path: path.to_path_buf(),
            problem: format!("cannot read it: {}", one_line(&e)),
        })?;
        Bench::parse(&text, path)
    }

    /// Parses `text`; `path` names it in error messages.
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Bench, ProbeError> {
        let path = path.as_ref().to_path_buf();
        let bad = |problem: String| ProbeError::Bench {
            path: path.clone(),
            problem,
        };
        let raw: BTreeMap<String, RawEntry> = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| format!("line {}: ", line_of(text, span.start)))
                .unwrap_or_default();
            let message = match one_line(&e.message()) {
                m if m.is_empty() => one_line(&e),
                m => m.replace("struct RawEntry", "a [target] table"),
            };
            bad(format!(
                "{line}{message}; each board is a [target] table with probe, chip and speed_khz"
            ))
        })?;
        let mut entries = BTreeMap::new();
        for (target, raw) in raw {
            let probe = match raw.probe.as_deref().map(str::trim) {
                None => None,
                Some("") => {
                    return Err(bad(format!(
                        "[{target}] probe is empty (leave it out to use the only probe attached)"
                    )))
                }
                Some(text) if text.contains(':') => Some(ProbeRef::Selector(
                    text.parse()
                        .map_err(|e| bad(format!("[{target}] probe: {e}")))?,
                )),
                Some(serial) => Some(ProbeRef::Serial(serial.to_string())),
            };
            let chip = match raw.chip.as_deref().map(str::trim) {
                Some("") => return Err(bad(format!("[{target}] chip is empty"))),
                chip => chip.map(str::to_string),
            };
            if raw.speed_khz == Some(0) {
                return Err(bad(format!(
                    "[{target}] speed_khz is 0 (give the clock in kHz, e.g. 4000)"
                )));
            }
            entries.insert(
                target,
                BenchEntry {
                    probe,
                    chip,
                    speed_khz: raw.speed_khz,
                },
            );
        }
        Ok(Bench { path, entries })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The target names it has a table for, sorted.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The entry for target `name`.
    pub fn for_target(&self, name: &str) -> Result<&BenchEntry, ProbeError> {
        self.entries
            .get(name)
            .ok_or_else(|| ProbeError::NoBenchEntry {
                path: self.path.clone(),
                target: name.to_string(),
                known: if self.entries.is_empty() {
                    "no tables".to_string()
                } else {
                    self.targets().collect::<Vec<_>>().join(", ")
                },
            })
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

// ---------------------------------------------------------------------------
// Semihosting

/// Semihosting operation numbers (Arm's semihosting specification).
pub mod sys {
    pub const OPEN: u32 = 0x01;
    pub const CLOSE: u32 = 0x02;
    pub const WRITEC: u32 = 0x03;
    pub const WRITE0: u32 = 0x04;
    pub const WRITE: u32 = 0x05;
    pub const READ: u32 = 0x06;
    pub const ISTTY: u32 = 0x09;
    pub const SEEK: u32 = 0x0a;
    pub const FLEN: u32 = 0x0c;
    pub const REMOVE: u32 = 0x0e;
    pub const RENAME: u32 = 0x0f;
    pub const CLOCK: u32 = 0x10;
    pub const TIME: u32 = 0x11;
    pub const ERRNO: u32 = 0x13;
    pub const GET_CMDLINE: u32 = 0x15;
    pub const EXIT: u32 = 0x18;
    pub const EXIT_EXTENDED: u32 = 0x20;
    /// The exit reason of a normal program end (`ADP_Stopped_ApplicationExit`).
    pub const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x20026;
}

/// errno values given back to the firmware (POSIX numbering).
mod errno {
    pub const EBADF: i32 = 9;
    pub const EACCES: i32 = 13;
    pub const ESPIPE: i32 = 29;
    pub const ENOSYS: i32 = 38;
}

/// A semihosting request, with what it carries already read from the
/// target: the input of [`HostIo::answer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCall {
    /// `SYS_WRITEC` / `SYS_WRITE0`: bytes for the console.
    WriteConsole(Vec<u8>),
    /// `SYS_WRITE` of `len` bytes to `handle`; `bytes` holds what was read
    /// (nothing for a handle that is not a console).
    Write {
        handle: u32,
        bytes: Vec<u8>,
        len: u32,
    },
    /// `SYS_OPEN` of `path` with an fopen mode (`r`, `wb`, `a+`, …).
    Open { path: String, mode: String },
    /// `SYS_CLOSE`.
    Close { handle: u32 },
    /// `SYS_READ` of `len` bytes.
    Read { handle: u32, len: u32 },
    /// `SYS_SEEK`.
    Seek { handle: u32 },
    /// `SYS_FLEN`.
    FileLength { handle: u32 },
    /// `SYS_ISTTY`.
    IsTty { handle: u32 },
    /// `SYS_CLOCK`: centiseconds since the start.
    Clock,
    /// `SYS_TIME`: seconds since 1970.
    Time,
    /// `SYS_ERRNO`.
    Errno,
    /// `SYS_EXIT` / `SYS_EXIT_EXTENDED`, with the exit status.
    Exit(i32),
    /// Anything else (answered with an error).
    Unsupported { operation: u32 },
}

/// Which console stream output belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (`:tt` opened for writing, handle 1, `SYS_WRITE0`).
    Stdout,
    /// Standard error (`:tt` opened for appending, handle 2).
    Stderr,
}

/// What answering a [`HostCall`] does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effect {
    /// Bytes for the scanner (and the terminal).
    pub output: Option<(Stream, Vec<u8>)>,
    /// The value for the target's return register (r0), if the call has one.
    pub reply: Option<i32>,
    /// The program ended with this status.
    pub exit: Option<i32>,
}

/// The host side of semihosting: the console behind `:tt` and no files.
///
/// `:tt` opened for writing (`w…`) is handle 1 (stdout), for appending
/// (`a…`) handle 2 (stderr), for reading (`r`, `rb`) handle 3 (stdin, always
/// at its end). Writes to 1 and 2 are output whether or not they were
/// opened. Any other path is refused (`EACCES`), like seeks on the console
/// and unknown operations (`-1`, with `errno` set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostIo {
    errno: i32,
}

impl HostIo {
    /// The handle of the console's output.
    pub const STDOUT: u32 = 1;
    /// The handle of the console's error output.
    pub const STDERR: u32 = 2;
    /// The handle of the console's input.
    pub const STDIN: u32 = 3;

    /// Whether `handle` is one of the console's.
    pub fn is_console(handle: u32) -> bool {
        matches!(handle, Self::STDOUT | Self::STDERR | Self::STDIN)
    }

    /// The errno the firmware gets from `SYS_ERRNO`.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    fn fail(&mut self, errno: i32, reply: i32) -> Effect {
        self.errno = errno;
        Effect {
            reply: Some(reply),
            ..Effect::default()
        }
    }

    fn reply(reply: i32) -> Effect {
        Effect {
            reply: Some(reply),
            ..Effect::default()
        }
    }

    /// Answers one call, `elapsed` after the start, `unix_time` seconds
    /// since 1970. Pure: nothing is read from or written to the target.
    pub fn answer(&mut self, call: HostCall, elapsed: Duration, unix_time: u64) -> Effect {
        match call {
            HostCall::WriteConsole(bytes) => Effect {
                output: Some((Stream::Stdout, bytes)),
                ..Effect::default()
            },
            HostCall::Write { handle, bytes, len } => {
                let stream = match handle {
                    Self::STDOUT => Stream::Stdout,
                    Self::STDERR => Stream::Stderr,
                    // Nothing written: the reply is the count not written.
                    _ => return self.fail(errno::EBADF, len as i32),
                };
                let not_written = len.saturating_sub(bytes.len() as u32) as i32;
                Effect {
                    output: Some((stream, bytes)),
                    reply: Some(not_written),
                    exit: None,
                }
            }
            HostCall::Open { path, mode } => {
                if path != ":tt" {
                    return self.fail(errno::EACCES, -1);
                }
                match mode.as_bytes().first() {
                    Some(b'r') if !mode.contains('+') => Self::reply(Self::STDIN as i32),
                    Some(b'r' | b'w') => Self::reply(Self::STDOUT as i32),
                    Some(b'a') => Self::reply(Self::STDERR as i32),
                    _ => self.fail(errno::EACCES, -1),
                }
            }
            HostCall::Close { handle } if Self::is_console(handle) => Self::reply(0),
            HostCall::Read { handle, len } if handle == Self::STDIN => {
                // At the end of input: nothing read, so all `len` bytes not.
                Self::reply(len as i32)
            }
            HostCall::Seek { handle } | HostCall::FileLength { handle }
                if Self::is_console(handle) =>
            {
                self.fail(errno::ESPIPE, -1)
            }
            HostCall::IsTty { handle } if Self::is_console(handle) => Self::reply(1),
            HostCall::Close { .. }
            | HostCall::Read { .. }
            | HostCall::Seek { .. }
            | HostCall::FileLength { .. }
            | HostCall::IsTty { .. } => self.fail(errno::EBADF, -1),
            HostCall::Clock => {
                Self::reply(i32::try_from(elapsed.as_millis() / 10).unwrap_or(i32::MAX))
            }
            HostCall::Time => Self::reply(unix_time as u32 as i32),
            HostCall::Errno => Self::reply(self.errno),
            HostCall::Exit(status) => Effect {
                exit: Some(status),
                ..Effect::default()
            },
            HostCall::Unsupported { .. } => self.fail(errno::ENOSYS, -1),
        }
    }
}

/// The exit status of a semihosting exit: 0 for `ADP_Stopped_ApplicationExit`
/// without a status, the status given with it (`SYS_EXIT_EXTENDED`), and 1
/// for any other reason (as QEMU does).
pub fn exit_status(details: &ExitErrorDetails) -> i32 {
    if details.reason == sys::ADP_STOPPED_APPLICATION_EXIT {
        details.exit_status.map_or(0, |s| s as i32)
    } else {
        1
    }
}

/// The [`HostCall`] for the calls that carry nothing to read from the
/// target (exits, time, unknown operations); `None` for the others.
pub fn call_without_memory(command: &SemihostingCommand) -> Option<HostCall> {
    Some(match command {
        SemihostingCommand::ExitSuccess => HostCall::Exit(0),
        SemihostingCommand::ExitError(details) => HostCall::Exit(exit_status(details)),
        SemihostingCommand::Time(_) => HostCall::Time,
        SemihostingCommand::Errno(_) => HostCall::Errno,
        SemihostingCommand::GetCommandLine(_) => HostCall::Unsupported {
            operation: sys::GET_CMDLINE,
        },
        SemihostingCommand::Remove(_) => HostCall::Unsupported {
            operation: sys::REMOVE,
        },
        SemihostingCommand::Rename(_) => HostCall::Unsupported {
            operation: sys::RENAME,
        },
        SemihostingCommand::Close(req) => HostCall::Close {
            handle: req.file_handle(),
        },
        SemihostingCommand::Read(req) => HostCall::Read {
            handle: req.file_handle(),
            len: req.bytes_to_read(),
        },
        SemihostingCommand::Seek(req) => HostCall::Seek {
            handle: req.file_handle(),
        },
        SemihostingCommand::FileLength(req) => HostCall::FileLength {
            handle: req.file_handle(),
        },
        SemihostingCommand::Unknown(details) => match details.operation {
            sys::CLOCK => HostCall::Clock,
            sys::ISTTY => return None,
            operation => HostCall::Unsupported { operation },
        },
        SemihostingCommand::WriteConsole(_)
        | SemihostingCommand::Write(_)
        | SemihostingCommand::Open(_) => return None,
    })
}

/// The value of argument register `index` (r0, r1 on Arm).
fn argument(core: &mut Core<'_>, index: usize) -> Result<u32, probe_rs::Error> {
    let register = core
        .registers()
        .get_argument_register(index)
        .ok_or_else(|| probe_rs::Error::Other(format!("no argument register {index}")))?;
    core.read_core_reg::<u32>(register.id())
}

/// The `N` words of the parameter block r1 points to.
fn parameter_block<const N: usize>(core: &mut Core<'_>) -> Result<[u32; N], probe_rs::Error> {
    let pointer = argument(core, 1)?;
    let mut block = [0u32; N];
    core.read_32(u64::from(pointer), &mut block)?;
    Ok(block)
}

/// A NUL-terminated string at `address`, at most [`MAX_STRING`] bytes.
fn c_string(core: &mut Core<'_>, address: u32) -> Result<Vec<u8>, probe_rs::Error> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 64];
    let mut at = u64::from(address);
    while bytes.len() < MAX_STRING {
        core.read_8(at, &mut chunk)?;
        if let Some(end) = chunk.iter().position(|&b| b == 0) {
            bytes.extend_from_slice(&chunk[..end]);
            return Ok(bytes);
        }
        bytes.extend_from_slice(&chunk);
        at += chunk.len() as u64;
    }
    Ok(bytes)
}

/// Reads what `command` carries from the halted core.
fn read_call(
    core: &mut Core<'_>,
    command: &SemihostingCommand,
) -> Result<HostCall, probe_rs::Error> {
    if let Some(call) = call_without_memory(command) {
        return Ok(call);
    }
    Ok(match command {
        SemihostingCommand::WriteConsole(_) => {
            // r0 still holds the operation (probe-rs writes no status for
            // these), r1 the character's or the string's address. Read as
            // bytes, not as UTF-8.
            let operation = argument(core, 0)?;
            let address = argument(core, 1)?;
            if operation == sys::WRITEC {
                let mut byte = [0u8; 1];
                core.read_8(u64::from(address), &mut byte)?;
                HostCall::WriteConsole(byte.to_vec())
            } else {
                HostCall::WriteConsole(c_string(core, address)?)
            }
        }
        SemihostingCommand::Write(_) => {
            let [handle, address, len] = parameter_block::<3>(core)?;
            let mut bytes = Vec::new();
            if matches!(handle, HostIo::STDOUT | HostIo::STDERR) {
                bytes = vec![0u8; len.min(MAX_WRITE) as usize];
                core.read_8(u64::from(address), &mut bytes)?;
            }
            HostCall::Write { handle, bytes, len }
        }
        SemihostingCommand::Open(request) => {
            let [address, _mode, len] = parameter_block::<3>(core)?;
            let mut path = vec![0u8; len.min(MAX_PATH) as usize];
            core.read_8(u64::from(address), &mut path)?;
            HostCall::Open {
                path: String::from_utf8_lossy(&path).into_owned(),
                mode: request.mode().to_string(),
            }
        }
        SemihostingCommand::Unknown(details) => {
            // SYS_ISTTY: r1 points to a block holding the handle.
            let mut handle = [0u32; 1];
            core.read_32(u64::from(details.parameter), &mut handle)?;
            HostCall::IsTty { handle: handle[0] }
        }
        _ => HostCall::Unsupported {
            operation: u32::MAX,
        },
    })
}

fn write_reply(core: &mut Core<'_>, value: i32) -> Result<(), probe_rs::Error> {
    let register = core
        .registers()
        .get_argument_register(0)
        .ok_or_else(|| probe_rs::Error::Other("no return register".into()))?;
    core.write_core_reg(register.id(), RegisterValue::U32(value as u32))
}

/// Handles an [`OpenRequest`](probe_rs::semihosting::OpenRequest)'s reply
/// the way probe-rs expects (a non-zero handle), other replies in r0.
fn apply_reply(
    core: &mut Core<'_>,
    command: &SemihostingCommand,
    value: i32,
) -> Result<(), probe_rs::Error> {
    match (command, NonZeroU32::new(value as u32)) {
        (SemihostingCommand::Open(request), Some(handle)) if value > 0 => {
            request.respond_with_handle(core, handle)
        }
        _ => write_reply(core, value),
    }
}

// ---------------------------------------------------------------------------
// Running

/// Looks `chip` up in probe-rs's chip database.
pub fn find_chip(chip: &str) -> Result<probe_rs::Target, ProbeError> {
    use probe_rs::config::{Registry, RegistryError};
    let registry = Registry::from_builtin_families();
    match registry.get_target_by_name(chip) {
        Ok(target) => Ok(target),
        Err(RegistryError::ChipNotFound(_)) => {
            let mut suggestions = Vec::new();
            if chip.is_ascii() {
                for len in (4..chip.len()).rev() {
                    suggestions = registry.search_chips(&chip[..len]);
                    if !suggestions.is_empty() {
                        break;
                    }
                }
            }
            suggestions.sort();
            suggestions.dedup();
            let suggestions = if suggestions.is_empty() {
                String::new()
            } else {
                let more = suggestions.len().saturating_sub(5);
                let mut text = format!(
                    "; did you mean {}",
                    suggestions[..suggestions.len().min(5)].join(", ")
                );
                if more > 0 {
                    text.push_str(&format!(" (or {more} more)"));
                }
                text
            };
            Err(ProbeError::UnknownChip {
                chip: chip.to_string(),
                suggestions,
            })
        }
        Err(RegistryError::ChipNotUnique(_, matches)) => {
            const SHOWN: usize = 8;
            let names: Vec<&str> = matches.split(", ").collect();
            let mut matches = names[..names.len().min(SHOWN)].join(", ");
            if names.len() > SHOWN {
                matches.push_str(", …");
            }
            Err(ProbeError::AmbiguousChip {
                chip: chip.to_string(),
                matches: one_line(&matches),
            })
        }
        Err(error) => Err(ProbeError::ChipLookup {
            chip: chip.to_string(),
            error: one_line(&error),
        }),
    }
}

/// Flashes `elf` to `chip` through a probe and runs it, feeding its output
/// (semihosting console and RTT up channel 0) to a [`Scanner`] and to
/// `on_output` as it comes, until a verdict (see the module documentation).
///
/// The probe is the one `selector` matches, or the only one attached;
/// `speed_khz` sets its clock. Errors come before anything runs: no probe
/// (checked before the ELF is read), several, an unknown chip (checked
/// first), attaching, reading or flashing the ELF. Once the firmware runs,
/// every ending is an [`Attempt`]: a lost probe or an unexpected halt is a
/// crash with the output so far kept. The attempt's duration counts from
/// the start of the firmware (flashing is not timed against
/// [`Limits::timeout`]).
pub fn run_on_probe(
    elf: &Path,
    chip: &str,
    selector: Option<&ProbeSelector>,
    speed_khz: Option<u32>,
    limits: Limits,
    mut on_output: impl FnMut(&[u8]),
) -> Result<Attempt, ProbeError> {
    let target = find_chip(chip)?;
    let chip = target.name.clone();

    let lister = Lister::new();
    let listed = lister.list_all_with_access();
    let probes: Vec<ProbeInfo> = listed
        .iter()
        .map(|item| {
            ProbeInfo::new(
                item.info.identifier.clone(),
                item.info.vendor_id,
                item.info.product_id,
                item.info.serial_number.clone(),
                item.info.probe_type(),
                item.accessibility == Accessibility::Accessible,
            )
        })
        .collect();
    let index = select_probe(&probes, selector)?;
    let name = probes[index].to_string();
    if !probes[index].accessible {
        return Err(ProbeError::PermissionDenied { probe: name });
    }
    let mut probe = listed[index].info.open().map_err(|e| ProbeError::Open {
        probe: name.clone(),
        error: one_line(&e),
    })?;
    if let Some(speed_khz) = speed_khz {
        probe.set_speed(speed_khz).map_err(|e| ProbeError::Speed {
            probe: name.clone(),
            speed_khz,
            error: one_line(&e),
        })?;
    }
    let mut session = probe
        .attach_under_reset(target, Permissions::default())
        .map_err(|e| ProbeError::Attach {
            chip: chip.clone(),
            probe: name.clone(),
            error: one_line(&e),
        })?;

    let image = std::fs::read(elf).map_err(|e| ProbeError::ReadElf {
        path: elf.to_path_buf(),
        error: one_line(&e),
    })?;
    let rtt_address = probe_rs::rtt::find_rtt_control_block_in_raw_file(&image)
        .ok()
        .flatten();
    download_file(&mut session, elf, ElfLoader(ElfOptions::default())).map_err(|e| {
        ProbeError::Flash {
            path: elf.to_path_buf(),
            chip: chip.clone(),
            error: one_line(&e),
        }
    })?;

    let start_error = |e: probe_rs::Error| ProbeError::Start {
        chip: chip.clone(),
        error: one_line(&e),
    };
    let mut core = session.core(0).map_err(start_error)?;
    core.reset_and_halt(HALT_TIMEOUT).map_err(start_error)?;
    if let Some(address) = rtt_address {
        // A control block left in RAM by an earlier run must not be read
        // before this firmware sets its own up.
        let _ = Rtt::clear_control_block(&mut core, &ScanRegion::Exact(address));
    }
    let mut board = ProbeCore {
        core: &mut core,
        rtt: RttReader {
            address: rtt_address,
            rtt: None,
            next_try: Duration::ZERO,
        },
        pending: None,
    };
    let attempt = drive(&mut board, limits, &mut on_output);
    // Leave the board stopped: halted, then reset and halted at its start.
    let _ = core.halt(HALT_TIMEOUT);
    let _ = core.reset_and_halt(HALT_TIMEOUT);
    Ok(attempt)
}

/// Reads RTT up channel 0 once the firmware has set its control block up.
struct RttReader {
    address: Option<u64>,
    rtt: Option<Rtt>,
    next_try: Duration,
}

impl RttReader {
    /// What the channel holds now (empty when RTT is not there, not yet set
    /// up, or cannot be read this time).
    fn poll(&mut self, core: &mut Core<'_>, at: Duration) -> Vec<u8> {
        if self.rtt.is_none() {
            let Some(address) = self.address else {
                return Vec::new();
            };
            if at < self.next_try {
                return Vec::new();
            }
            match Rtt::attach_at(core, address) {
                Ok(rtt) => self.rtt = Some(rtt),
                Err(_) => {
                    self.next_try = at + RTT_RETRY;
                    return Vec::new();
                }
            }
        }
        let Some(channel) = self.rtt.as_mut().and_then(|rtt| rtt.up_channel(0)) else {
            return Vec::new();
        };
        let mut buf = vec![0u8; 4096];
        match channel.read(core, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                buf
            }
            Err(_) => Vec::new(),
        }
    }
}

fn describe_halt(reason: HaltReason) -> &'static str {
    match reason {
        HaltReason::Breakpoint(_) => "at a breakpoint that is not a semihosting call",
        HaltReason::Exception => "on an exception",
        HaltReason::Watchpoint => "on a watchpoint",
        HaltReason::Step => "after a single step",
        HaltReason::Request | HaltReason::External => "on a halt request from elsewhere",
        HaltReason::Multiple | HaltReason::Unknown => "for an unknown reason",
    }
}

fn program_counter(core: &mut Core<'_>) -> String {
    let pc = core.program_counter().id();
    match core.read_core_reg::<u64>(pc) {
        Ok(pc) => format!(" at pc {pc:#010x}"),
        Err(_) => String::new(),
    }
}

/// What a poll of the core found.
#[derive(Clone, Debug, PartialEq, Eq)]
enum CoreEvent {
    /// Running (or sleeping): nothing to do.
    Running,
    /// Halted on a semihosting call, decoded.
    Call(HostCall),
    /// Halted for another reason, or locked up: why, on one line.
    Stopped(String),
}

/// The core as the run loop drives it: [`ProbeCore`] on a board, a script
/// in tests. Errors are one-line descriptions.
trait Board {
    /// Starts or resumes the core.
    fn run(&mut self) -> Result<(), String>;
    /// What the core is doing.
    fn poll(&mut self) -> Result<CoreEvent, String>;
    /// Answers the semihosting call the core is halted on.
    fn reply(&mut self, value: i32) -> Result<(), String>;
    /// Halts the core (best effort).
    fn halt(&mut self);
    /// Output waiting in RTT up channel 0 (empty when there is none).
    fn rtt(&mut self, at: Duration) -> Vec<u8>;
}

/// A core reached through probe-rs.
struct ProbeCore<'a, 'probe> {
    core: &'a mut Core<'probe>,
    rtt: RttReader,
    /// The semihosting call the core is halted on.
    pending: Option<SemihostingCommand>,
}

impl Board for ProbeCore<'_, '_> {
    fn run(&mut self) -> Result<(), String> {
        self.pending = None;
        self.core.run().map_err(|e| one_line(&e))
    }

    fn poll(&mut self) -> Result<CoreEvent, String> {
        let status = self
            .core
            .status()
            .map_err(|e| format!("lost contact with the target: {}", one_line(&e)))?;
        Ok(match status {
            CoreStatus::Halted(HaltReason::Breakpoint(BreakpointCause::Semihosting(command))) => {
                let call = read_call(self.core, &command).map_err(|e| {
                    format!("could not read a semihosting request: {}", one_line(&e))
                })?;
                self.pending = Some(command);
                CoreEvent::Call(call)
            }
            CoreStatus::Halted(reason) => {
                let pc = program_counter(self.core);
                CoreEvent::Stopped(format!("the core halted {}{pc}", describe_halt(reason)))
            }
            CoreStatus::LockedUp => {
                let _ = self.core.halt(HALT_TIMEOUT);
                let pc = program_counter(self.core);
                CoreEvent::Stopped(format!(
                    "the core locked up (a fault while handling a fault){pc}"
                ))
            }
            CoreStatus::Running | CoreStatus::Sleeping | CoreStatus::Unknown => CoreEvent::Running,
        })
    }

    fn reply(&mut self, value: i32) -> Result<(), String> {
        let result = match &self.pending {
            Some(command) => apply_reply(self.core, command, value),
            None => write_reply(self.core, value),
        };
        result.map_err(|e| format!("could not answer a semihosting request: {}", one_line(&e)))
    }

    fn halt(&mut self) {
        let _ = self.core.halt(HALT_TIMEOUT);
    }

    fn rtt(&mut self, at: Duration) -> Vec<u8> {
        self.rtt.poll(self.core, at)
    }
}

/// Everything left in RTT (at the end of a run), bounded.
fn drain_rtt(board: &mut impl Board, at: Duration) -> Vec<u8> {
    let mut all = Vec::new();
    for _ in 0..64 {
        let chunk = board.rtt(at);
        if chunk.is_empty() {
            break;
        }
        all.extend_from_slice(&chunk);
    }
    all
}

/// Runs the flashed, halted core until a verdict: answers semihosting
/// calls, reads RTT, feeds the scanner, enforces the timeout. The core is
/// left halted: at the exit call, at the call whose output decided, or
/// halted on purpose (verdict from RTT, grace period, timeout).
fn drive(board: &mut impl Board, limits: Limits, on_output: &mut dyn FnMut(&[u8])) -> Attempt {
    let mut scanner = Scanner::new(ScanConfig {
        grace: limits.grace,
        ..ScanConfig::default()
    });
    let mut host = HostIo::default();
    let start = Instant::now();
    let mut feed = |scanner: &mut Scanner, stream: Stream, bytes: &[u8]| {
        if bytes.is_empty() {
            return None;
        }
        on_output(bytes);
        match stream {
            Stream::Stdout => scanner.feed(bytes, start.elapsed()),
            Stream::Stderr => scanner.feed_stderr(bytes, start.elapsed()),
        }
    };
    let crashed =
        |scanner: &mut Scanner, what: String| scanner.exited(Exit::Crashed(what), start.elapsed());

    if let Err(e) = board.run() {
        let verdict = crashed(&mut scanner, format!("the core did not start: {e}"));
        return Attempt::from_scanner(&scanner, verdict, start.elapsed());
    }
    let verdict: Verdict = loop {
        let at = start.elapsed();
        if at >= limits.timeout {
            board.halt();
            let rest = drain_rtt(board, at);
            let _ = feed(&mut scanner, Stream::Stdout, &rest);
            break scanner.timed_out(start.elapsed());
        }
        let mut busy = false;

        let chunk = board.rtt(at);
        if !chunk.is_empty() {
            busy = true;
            if let Some(Decision::Stop(v)) = feed(&mut scanner, Stream::Stdout, &chunk) {
                board.halt();
                break v;
            }
        }

        match board.poll() {
            Ok(CoreEvent::Running) => {}
            Ok(CoreEvent::Call(call)) => {
                busy = true;
                let unix_time = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let effect = host.answer(call, start.elapsed(), unix_time);
                if let Some(value) = effect.reply {
                    if let Err(e) = board.reply(value) {
                        break crashed(&mut scanner, e);
                    }
                }
                if let Some((stream, bytes)) = &effect.output {
                    // The core stays halted at the call if this decides.
                    if let Some(Decision::Stop(v)) = feed(&mut scanner, *stream, bytes) {
                        break v;
                    }
                }
                if let Some(status) = effect.exit {
                    let rest = drain_rtt(board, start.elapsed());
                    let _ = feed(&mut scanner, Stream::Stdout, &rest);
                    break scanner.exited(Exit::Code(status), start.elapsed());
                }
                if let Err(e) = board.run() {
                    break crashed(&mut scanner, format!("the core did not resume: {e}"));
                }
            }
            Ok(CoreEvent::Stopped(why)) => {
                let rest = drain_rtt(board, start.elapsed());
                let _ = feed(&mut scanner, Stream::Stdout, &rest);
                break crashed(&mut scanner, why);
            }
            Err(e) => break crashed(&mut scanner, e),
        }

        if let Some(Decision::Stop(v)) = scanner.tick(start.elapsed()) {
            board.halt();
            break v;
        }
        if !busy {
            std::thread::sleep(IDLE_POLL);
        }
    };
    Attempt::from_scanner(&scanner, verdict, start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_rs::semihosting::UnknownCommandDetails;

    fn sel(text: &str) -> ProbeSelector {
        text.parse().unwrap()
    }

    fn bad(text: &str) -> String {
        text.parse::<ProbeSelector>().unwrap_err().to_string()
    }

    #[test]
    fn probe_selectors_parse_as_probe_rs_writes_them() {
        let s = sel("0483:3748:066DFF555185754867181836");
        assert_eq!((s.vid(), s.pid()), (0x0483, 0x3748));
        assert_eq!(s.serial(), Some("066DFF555185754867181836"));
        assert_eq!(s.to_string(), "0483:3748:066DFF555185754867181836");

        let s = sel("1366:101");
        assert_eq!((s.vid(), s.pid(), s.serial()), (0x1366, 0x0101, None));
        assert_eq!(s.to_string(), "1366:0101");

        // Hex in either case; a serial may hold colons (MAC-like serials).
        let s = sel(" 0D28:0204:aa:bb:cc ");
        assert_eq!((s.vid(), s.pid()), (0x0d28, 0x0204));
        assert_eq!(s.serial(), Some("aa:bb:cc"));

        // An empty serial selects a probe without one, as in probe-rs.
        assert_eq!(sel("0483:3748:").serial(), Some(""));
    }

    #[test]
    fn bad_probe_selectors_say_what_is_wrong() {
        assert_eq!(
            bad("0483"),
            "bad probe selector \"0483\": there is no ':' between the vendor and product ids (a bare serial number is only accepted in hardware.toml); write VID:PID[:SERIAL] with VID and PID in hex, e.g. 0483:3748 or 0483:3748:066DFF555185754867181836"
        );
        assert!(bad("").contains("it is empty"), "{}", bad(""));
        assert!(bad(":3748").contains("the vendor id is missing"));
        assert!(bad("0483:").contains("the product id is missing"));
        assert!(bad("0483:zz").contains("the product id \"zz\" is not a hex number"));
        assert!(bad("12345:1").contains("vendor id \"12345\" is not a hex number of 1 to 4"));
        assert!(bad("0x0483:3748").contains("0x prefix"));
        assert!(bad("0483:3748-1").contains("USB interface numbers (\"-1\") are not supported"));
        assert!(bad("+483:3748").contains("not a hex number"));
    }

    #[test]
    fn selectors_round_trip_through_serde() {
        let s = sel("0483:374b:ABC");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"0483:374b:ABC\"");
        assert_eq!(serde_json::from_str::<ProbeSelector>(&json).unwrap(), s);
        assert!(serde_json::from_str::<ProbeSelector>("\"nope\"").is_err());
    }

    fn stlink(serial: &str) -> ProbeInfo {
        ProbeInfo::new(
            "STLink V2",
            0x0483,
            0x3748,
            Some(serial.into()),
            "ST-LINK",
            true,
        )
    }

    fn jlink() -> ProbeInfo {
        ProbeInfo::new(
            "J-Link",
            0x1366,
            0x0101,
            Some("000123".into()),
            "J-Link",
            true,
        )
    }

    #[test]
    fn the_only_probe_is_used_and_several_need_a_choice() {
        assert_eq!(
            select_probe(&[], None).unwrap_err().to_string(),
            "no debug probe found: connect one (and check udev permissions); `tflm doctor` lists probes"
        );
        assert!(matches!(
            select_probe(&[], Some(&sel("0483:3748"))),
            Err(ProbeError::NoProbe)
        ));
        assert_eq!(select_probe(&[jlink()], None).unwrap(), 0);

        let two = [stlink("AAA"), jlink()];
        assert_eq!(
            select_probe(&two, None).unwrap_err().to_string(),
            "several debug probes attached: STLink V2 (0483:3748:AAA), J-Link (1366:0101:000123); choose one with --probe VID:PID[:SERIAL] or hardware.toml"
        );
        assert_eq!(select_probe(&two, Some(&sel("1366:0101"))).unwrap(), 1);
        assert_eq!(select_probe(&two, Some(&sel("0483:3748:aaa"))).unwrap(), 0);

        // Two of the same kind: the serial decides.
        let same = [stlink("AAA"), stlink("BBB")];
        let e = select_probe(&same, Some(&sel("0483:3748"))).unwrap_err();
        assert!(matches!(e, ProbeError::SeveralProbes { .. }), "{e}");
        assert_eq!(select_probe(&same, Some(&sel("0483:3748:BBB"))).unwrap(), 1);

        let e = select_probe(&same, Some(&sel("0483:3748:CCC"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no attached debug probe matches 0483:3748:CCC (attached: STLink V2 (0483:3748:AAA), STLink V2 (0483:3748:BBB)); connect it, or choose one with --probe VID:PID[:SERIAL] or hardware.toml"
        );
    }

    #[test]
    fn probe_info_serializes_with_its_selector() {
        let json = serde_json::to_value(stlink("AAA")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "identifier": "STLink V2", "vid": 0x0483, "pid": 0x3748,
                "serial": "AAA", "probe_type": "ST-LINK",
                "selector": "0483:3748:AAA", "accessible": true
            })
        );
    }

    const BENCH: &str = r#"
# The boards on this bench.
[bluepill]
probe = "0483:3748:066DFF555185754867181836"
chip = "STM32F103C8"
speed_khz = 4000

[nucleo]
probe = "066DFF555185754867181837"

[other]
"#;

    #[test]
    fn hardware_toml_maps_targets_to_probes() {
        let bench = Bench::parse(BENCH, "hardware.toml").unwrap();
        assert_eq!(
            bench.targets().collect::<Vec<_>>(),
            ["bluepill", "nucleo", "other"]
        );
        let bp = bench.for_target("bluepill").unwrap();
        assert_eq!(
            bp.probe,
            Some(ProbeRef::Selector(sel(
                "0483:3748:066DFF555185754867181836"
            )))
        );
        assert_eq!(bp.chip_or("X"), "STM32F103C8");
        assert_eq!(bp.speed_khz, Some(4000));
        assert_eq!(
            bp.selector().unwrap(),
            Some(sel("0483:3748:066DFF555185754867181836"))
        );

        let nucleo = bench.for_target("nucleo").unwrap();
        assert_eq!(
            nucleo.probe,
            Some(ProbeRef::Serial("066DFF555185754867181837".into()))
        );
        assert_eq!(nucleo.chip_or("STM32F401RE"), "STM32F401RE");
        assert_eq!(nucleo.speed_khz, None);

        let other = bench.for_target("other").unwrap();
        assert_eq!(other.probe, None);
        assert_eq!(other.selector().unwrap(), None);
    }

    #[test]
    fn a_serial_alone_is_looked_up_among_the_probes() {
        let serial = ProbeRef::Serial("bbb".into());
        let probes = [stlink("AAA"), stlink("BBB")];
        assert_eq!(serial.resolve(&probes).unwrap(), sel("0483:3748:BBB"));
        assert!(matches!(serial.resolve(&[]), Err(ProbeError::NoProbe)));
        let e = serial.resolve(&[jlink()]).unwrap_err().to_string();
        assert!(
            e.starts_with("no attached debug probe matches serial bbb (attached: J-Link"),
            "{e}"
        );
    }

    #[test]
    fn hardware_toml_errors_are_clear() {
        let e = Bench::parse(
            "[bluepill]\nprobe = \"0483:3748\"\nspeed = 4000\n",
            "hw.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("hw.toml: line 3: unknown field `speed`"),
            "{e}"
        );
        assert!(e.contains("speed_khz"), "{e}");
        assert!(!e.contains('\n'), "{e}");

        let e = Bench::parse("[bluepill]\nprobe = \"0483:37x8\"\n", "hw.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("hw.toml: [bluepill] probe: bad probe selector \"0483:37x8\""),
            "{e}"
        );

        let e = Bench::parse("[bluepill]\nspeed_khz = \"fast\"\n", "hw.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hw.toml: line 2: invalid type"), "{e}");

        let e = Bench::parse("probe = \"0483:3748\"\n", "hw.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "hw.toml: line 1: invalid type: string \"0483:3748\", expected a [target] table"
            ),
            "{e}"
        );

        let e = Bench::parse("[bluepill]\nprobe =\n", "hw.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hw.toml: line 2: "), "{e}");
        assert!(
            e.len() > "hw.toml: line 2: ; each".len() && !e.contains('\n'),
            "{e}"
        );

        let e = Bench::parse("[bluepill]\nspeed_khz = 0\n", "hw.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("speed_khz is 0"), "{e}");
        let e = Bench::parse("[bluepill]\nprobe = \"\"\n", "hw.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("probe is empty"), "{e}");

        let bench = Bench::parse(BENCH, "hardware.toml").unwrap();
        assert_eq!(
            bench.for_target("microbit").unwrap_err().to_string(),
            "hardware.toml has no [microbit] table (it has: bluepill, nucleo, other); add one with the board's probe, and chip and speed_khz if needed"
        );
        let empty = Bench::parse("", "hardware.toml").unwrap();
        assert!(empty
            .for_target("x")
            .unwrap_err()
            .to_string()
            .contains("(it has: no tables)"));

        let e = Bench::load("/nonexistent/hardware.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/nonexistent/hardware.toml: cannot read it: "),
            "{e}"
        );
    }

    #[test]
    fn hardware_toml_loads_from_a_file() {
        let dir = std::env::temp_dir().join(format!("tflm-probe-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hardware.toml");
        std::fs::write(&path, BENCH).unwrap();
        let bench = Bench::load(&path).unwrap();
        assert_eq!(bench.path(), path);
        assert_eq!(bench.for_target("bluepill").unwrap().speed_khz, Some(4000));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn answer(host: &mut HostIo, call: HostCall) -> Effect {
        host.answer(call, Duration::from_millis(1234), 1_700_000_000)
    }

    #[test]
    fn console_writes_become_output() {
        let mut host = HostIo::default();
        let e = answer(&mut host, HostCall::WriteConsole(b"Testing add\n".to_vec()));
        assert_eq!(e.output, Some((Stream::Stdout, b"Testing add\n".to_vec())));
        assert_eq!((e.reply, e.exit), (None, None));

        // The semihosting crate's stdout: open ":tt" for writing, write, close.
        let e = answer(
            &mut host,
            HostCall::Open {
                path: ":tt".into(),
                mode: "w".into(),
            },
        );
        assert_eq!(e.reply, Some(HostIo::STDOUT as i32));
        let e = answer(
            &mut host,
            HostCall::Write {
                handle: 1,
                bytes: b"~~~ALL TESTS PASSED~~~\n".to_vec(),
                len: 23,
            },
        );
        assert_eq!(
            e.output,
            Some((Stream::Stdout, b"~~~ALL TESTS PASSED~~~\n".to_vec()))
        );
        assert_eq!(e.reply, Some(0), "all bytes written");
        assert_eq!(
            answer(&mut host, HostCall::Close { handle: 1 }).reply,
            Some(0)
        );

        // stderr: ":tt" opened for appending.
        let e = answer(
            &mut host,
            HostCall::Open {
                path: ":tt".into(),
                mode: "a".into(),
            },
        );
        assert_eq!(e.reply, Some(2));
        let e = answer(
            &mut host,
            HostCall::Write {
                handle: 2,
                bytes: b"oops".to_vec(),
                len: 4,
            },
        );
        assert_eq!(e.output, Some((Stream::Stderr, b"oops".to_vec())));

        // A write longer than what was taken reports the rest as not written.
        let e = answer(
            &mut host,
            HostCall::Write {
                handle: 1,
                bytes: b"abc".to_vec(),
                len: 10,
            },
        );
        assert_eq!(e.reply, Some(7));
        assert_eq!(host.errno(), 0);
    }

    #[test]
    fn console_input_is_at_its_end_and_is_a_terminal() {
        let mut host = HostIo::default();
        let open = |mode: &str| HostCall::Open {
            path: ":tt".into(),
            mode: mode.into(),
        };
        assert_eq!(answer(&mut host, open("r")).reply, Some(3));
        assert_eq!(answer(&mut host, open("rb")).reply, Some(3));
        assert_eq!(answer(&mut host, open("r+")).reply, Some(1));
        assert_eq!(answer(&mut host, open("wb")).reply, Some(1));
        assert_eq!(answer(&mut host, open("a+b")).reply, Some(2));
        let e = answer(&mut host, HostCall::Read { handle: 3, len: 16 });
        assert_eq!(e.reply, Some(16), "nothing read");
        assert_eq!(
            answer(&mut host, HostCall::IsTty { handle: 1 }).reply,
            Some(1)
        );
        assert_eq!(
            answer(&mut host, HostCall::Seek { handle: 1 }).reply,
            Some(-1)
        );
        assert_eq!(host.errno(), errno::ESPIPE);
    }

    #[test]
    fn files_and_unknown_handles_are_refused_with_an_error_code() {
        let mut host = HostIo::default();
        let e = answer(
            &mut host,
            HostCall::Open {
                path: "/etc/passwd".into(),
                mode: "r".into(),
            },
        );
        assert_eq!((e.reply, e.output, e.exit), (Some(-1), None, None));
        assert_eq!(host.errno(), errno::EACCES);
        assert_eq!(
            answer(&mut host, HostCall::Errno).reply,
            Some(errno::EACCES)
        );

        let e = answer(
            &mut host,
            HostCall::Write {
                handle: 7,
                bytes: Vec::new(),
                len: 5,
            },
        );
        assert_eq!((e.reply, e.output), (Some(5), None), "nothing written");
        assert_eq!(host.errno(), errno::EBADF);
        for call in [
            HostCall::Close { handle: 7 },
            HostCall::Read { handle: 1, len: 4 },
            HostCall::FileLength { handle: 7 },
            HostCall::IsTty { handle: 7 },
        ] {
            assert_eq!(answer(&mut host, call.clone()).reply, Some(-1), "{call:?}");
        }
    }

    #[test]
    fn unknown_operations_get_an_error_code_and_the_run_goes_on() {
        let mut host = HostIo::default();
        for command in [
            SemihostingCommand::Unknown(UnknownCommandDetails {
                operation: 0x16, // SYS_HEAPINFO
                parameter: 0x2000_0000,
            }),
            SemihostingCommand::Unknown(UnknownCommandDetails {
                operation: 0xdead,
                parameter: 0,
            }),
        ] {
            let call = call_without_memory(&command).unwrap();
            assert!(matches!(call, HostCall::Unsupported { .. }), "{call:?}");
            let e = answer(&mut host, call);
            assert_eq!(
                e,
                Effect {
                    reply: Some(-1),
                    ..Effect::default()
                }
            );
            assert_eq!(host.errno(), errno::ENOSYS);
        }
        // SYS_CLOCK and SYS_TIME are answered; SYS_ISTTY needs the target's memory.
        let clock = SemihostingCommand::Unknown(UnknownCommandDetails {
            operation: sys::CLOCK,
            parameter: 0,
        });
        let e = answer(&mut host, call_without_memory(&clock).unwrap());
        assert_eq!(e.reply, Some(123));
        assert_eq!(answer(&mut host, HostCall::Time).reply, Some(1_700_000_000));
        let istty = SemihostingCommand::Unknown(UnknownCommandDetails {
            operation: sys::ISTTY,
            parameter: 0x2000_0000,
        });
        assert_eq!(call_without_memory(&istty), None);
    }

    #[test]
    fn semihosting_exits_give_the_exit_status() {
        let mut host = HostIo::default();
        let exit = |command: SemihostingCommand, host: &mut HostIo| {
            let e = answer(host, call_without_memory(&command).unwrap());
            assert_eq!((e.reply, e.output.clone()), (None, None));
            e.exit
        };
        // SYS_EXIT(ADP_Stopped_ApplicationExit), or SYS_EXIT_EXTENDED with 0.
        assert_eq!(exit(SemihostingCommand::ExitSuccess, &mut host), Some(0));
        // SYS_EXIT_EXTENDED(ADP_Stopped_ApplicationExit, 1): a test failed.
        let failed = ExitErrorDetails {
            reason: sys::ADP_STOPPED_APPLICATION_EXIT,
            exit_status: Some(1),
            subcode: None,
        };
        assert_eq!(
            exit(SemihostingCommand::ExitError(failed), &mut host),
            Some(1)
        );
        // A panic's status, and a negative one.
        let panic = ExitErrorDetails {
            exit_status: Some(101),
            ..failed
        };
        assert_eq!(
            exit(SemihostingCommand::ExitError(panic), &mut host),
            Some(101)
        );
        let minus = ExitErrorDetails {
            exit_status: Some(u32::MAX),
            ..failed
        };
        assert_eq!(
            exit(SemihostingCommand::ExitError(minus), &mut host),
            Some(-1)
        );
        // SYS_EXIT(ADP_Stopped_RunTimeErrorUnknown): a failure, as in QEMU.
        let runtime_error = ExitErrorDetails {
            reason: 0x20023,
            exit_status: None,
            subcode: Some(0),
        };
        assert_eq!(
            exit(SemihostingCommand::ExitError(runtime_error), &mut host),
            Some(1)
        );
    }

    #[test]
    fn exit_statuses_decide_like_the_other_runners() {
        let mut scanner = Scanner::new(ScanConfig::default());
        let mut host = HostIo::default();
        let at = Duration::from_millis(5);
        let out = answer(
            &mut host,
            HostCall::WriteConsole(
                b"Testing add\n1/1 tests passed\n~~~ALL TESTS PASSED~~~\n".to_vec(),
            ),
        );
        let (_, bytes) = out.output.unwrap();
        assert_eq!(scanner.feed(&bytes, at), Some(Decision::AwaitExit));
        let exit = answer(&mut host, HostCall::Exit(0)).exit.unwrap();
        assert!(scanner.exited(Exit::Code(exit), at).passed());
    }

    #[test]
    fn unknown_chips_are_refused_before_looking_for_probes() {
        let e = find_chip("STM32F103C9").unwrap_err().to_string();
        assert!(
            e.starts_with("chip STM32F103C9 not known to probe-rs; did you mean STM32F103"),
            "{e}"
        );
        let e = run_on_probe(
            Path::new("/nonexistent/firmware.elf"),
            "NO-SUCH-CHIP",
            None,
            None,
            Limits {
                timeout: Duration::from_secs(1),
                grace: Duration::from_millis(100),
            },
            |_| {},
        )
        .unwrap_err();
        assert!(matches!(e, ProbeError::UnknownChip { .. }), "{e}");
        assert!(find_chip("STM32F103C8").is_ok());
        let e = find_chip("STM32F1").unwrap_err().to_string();
        assert!(
            e.starts_with("chip name STM32F1 is ambiguous in probe-rs (it matches STM32F100C4, "),
            "{e}"
        );
        assert!(e.contains(", …); give the full name"), "{e}");
    }

    /// On a machine with a probe attached these two have nothing to show.
    fn probes_attached() -> bool {
        let probes = list_probes();
        if !probes.is_empty() {
            eprintln!("skipped: debug probes are attached: {probes:?}");
        }
        !probes.is_empty()
    }

    #[test]
    fn no_probes_are_listed_here() {
        if probes_attached() {
            return;
        }
        assert_eq!(list_probes(), Vec::new());
        assert_eq!(serde_json::to_string(&list_probes()).unwrap(), "[]");
    }

    #[test]
    fn without_a_probe_the_run_fails_before_reading_the_elf() {
        if probes_attached() {
            return;
        }
        let limits = Limits {
            timeout: Duration::from_secs(1),
            grace: Duration::from_millis(100),
        };
        let mut output = Vec::new();
        // A real ELF (this test binary) and a path that does not exist give
        // the same error: the probe is looked for first.
        let elf = std::env::current_exe().unwrap();
        let e = run_on_probe(&elf, "STM32F103C8", None, Some(4000), limits, |b| {
            output.extend_from_slice(b)
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no debug probe found: connect one (and check udev permissions); `tflm doctor` lists probes"
        );
        let selector = sel("0483:3748:066DFF555185754867181836");
        let e = run_on_probe(
            Path::new("/nonexistent/firmware.elf"),
            "STM32F103C8",
            Some(&selector),
            None,
            limits,
            |b| output.extend_from_slice(b),
        )
        .unwrap_err();
        assert!(matches!(e, ProbeError::NoProbe), "{e}");
        assert!(output.is_empty());
    }
    // The run loop, driven by a scripted board.

    #[derive(Default)]
    struct Script {
        /// What each poll finds, in order; then the core runs on.
        events: std::collections::VecDeque<Result<CoreEvent, String>>,
        /// What each RTT read returns, in order; then nothing.
        rtt: std::collections::VecDeque<Vec<u8>>,
        replies: Vec<i32>,
        runs: usize,
        halts: usize,
        fail_run: bool,
        fail_reply: bool,
    }

    impl Board for Script {
        fn run(&mut self) -> Result<(), String> {
            self.runs += 1;
            if self.fail_run {
                return Err("probe error: USB transfer failed".into());
            }
            Ok(())
        }
        fn poll(&mut self) -> Result<CoreEvent, String> {
            self.events.pop_front().unwrap_or(Ok(CoreEvent::Running))
        }
        fn reply(&mut self, value: i32) -> Result<(), String> {
            if self.fail_reply {
                return Err("could not answer a semihosting request: probe gone".into());
            }
            self.replies.push(value);
            Ok(())
        }
        fn halt(&mut self) {
            self.halts += 1;
        }
        fn rtt(&mut self, _at: Duration) -> Vec<u8> {
            self.rtt.pop_front().unwrap_or_default()
        }
    }

    fn script(calls: Vec<HostCall>) -> Script {
        Script {
            events: calls.into_iter().map(|c| Ok(CoreEvent::Call(c))).collect(),
            ..Script::default()
        }
    }

    fn write(handle: u32, text: &str) -> HostCall {
        HostCall::Write {
            handle,
            bytes: text.as_bytes().to_vec(),
            len: text.len() as u32,
        }
    }

    fn open_tt(mode: &str) -> HostCall {
        HostCall::Open {
            path: ":tt".into(),
            mode: mode.into(),
        }
    }

    fn run_script(board: &mut Script, timeout_ms: u64) -> (Attempt, Vec<u8>) {
        let mut output = Vec::new();
        let limits = Limits {
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(50),
        };
        let attempt = drive(board, limits, &mut |b: &[u8]| output.extend_from_slice(b));
        (attempt, output)
    }

    const PASSING: &str = "Testing add\n1/1 tests passed\n~~~ALL TESTS PASSED~~~\n";

    #[test]
    fn a_passing_run_on_a_board_passes() {
        let mut board = script(vec![
            open_tt("w"),
            write(1, PASSING),
            HostCall::Close { handle: 1 },
            HostCall::Exit(0),
        ]);
        let (attempt, output) = run_script(&mut board, 5000);
        assert!(attempt.verdict.passed(), "{:?}", attempt.verdict);
        assert_eq!(output, PASSING.as_bytes());
        assert_eq!(attempt.tests.len(), 1);
        assert_eq!(attempt.tests[0].name, "add");
        assert!(attempt.log.contains("~~~ALL TESTS PASSED~~~"));
        // Open gave handle 1, the write and the close succeeded.
        assert_eq!(board.replies, [1, 0, 0]);
        // Started once, resumed after each call but the exit.
        assert_eq!(board.runs, 4);
    }

    #[test]
    fn the_fail_marker_stops_the_run_at_the_call() {
        let mut board = script(vec![
            write(
                1,
                "Testing add\nadd.rs:3: expected 2, got 3\n~~~SOME TESTS FAILED~~~\n",
            ),
            HostCall::Exit(1),
        ]);
        let (attempt, _) = run_script(&mut board, 5000);
        assert!(!attempt.verdict.passed());
        assert!(
            attempt.verdict.reason.contains("add"),
            "{}",
            attempt.verdict
        );
        assert_eq!(board.runs, 1, "not resumed after the deciding write");
        assert_eq!(board.events.len(), 1, "the exit was never polled");
    }

    #[test]
    fn the_exit_status_counts_after_the_pass_marker() {
        let mut board = script(vec![write(1, PASSING), HostCall::Exit(3)]);
        let (attempt, _) = run_script(&mut board, 5000);
        assert!(!attempt.verdict.passed());
        assert_eq!(
            attempt.verdict.reason,
            "printed the pass marker but exited with status 3"
        );
    }

    #[test]
    fn pass_marker_without_exit_passes_after_the_grace_period() {
        let t0 = Instant::now();
        let mut board = script(vec![write(1, PASSING)]);
        let (attempt, _) = run_script(&mut board, 10_000);
        assert!(attempt.verdict.passed(), "{:?}", attempt.verdict);
        assert_eq!(board.halts, 1, "halted once the grace ended");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn silence_times_out_and_the_core_is_halted() {
        let mut board = Script::default();
        let (attempt, _) = run_script(&mut board, 100);
        assert_eq!(attempt.verdict.outcome, crate::scan::Outcome::TimedOut);
        assert_eq!(board.halts, 1);
        assert!(attempt.duration >= Duration::from_millis(100));
    }

    #[test]
    fn an_unexpected_halt_or_a_lost_probe_is_a_crash() {
        let mut board = script(vec![write(1, "Testing conv\n")]);
        board.events.push_back(Ok(CoreEvent::Stopped(
            "the core halted on an exception at pc 0x08000100".into(),
        )));
        let (attempt, _) = run_script(&mut board, 5000);
        assert_eq!(attempt.verdict.outcome, crate::scan::Outcome::Crashed);
        assert!(
            attempt
                .verdict
                .reason
                .starts_with("the core halted on an exception at pc 0x08000100"),
            "{}",
            attempt.verdict
        );
        assert!(!attempt.tests[0].passed);

        let mut board = Script::default();
        board
            .events
            .push_back(Err("lost contact with the target: USB error".into()));
        let (attempt, _) = run_script(&mut board, 5000);
        assert_eq!(attempt.verdict.outcome, crate::scan::Outcome::Crashed);
        assert!(attempt
            .verdict
            .reason
            .starts_with("lost contact with the target"));

        let mut board = script(vec![open_tt("w")]);
        board.fail_reply = true;
        let (attempt, _) = run_script(&mut board, 5000);
        assert_eq!(attempt.verdict.outcome, crate::scan::Outcome::Crashed);
        assert!(attempt.verdict.reason.contains("probe gone"));

        let mut board = Script {
            fail_run: true,
            ..Script::default()
        };
        let (attempt, _) = run_script(&mut board, 5000);
        assert_eq!(attempt.verdict.outcome, crate::scan::Outcome::Crashed);
        assert!(attempt
            .verdict
            .reason
            .starts_with("the core did not start: probe error"));
    }

    #[test]
    fn a_panic_on_stderr_fails_the_run() {
        let mut board = script(vec![
            open_tt("a"),
            write(2, "*** PANIC: index out of bounds\n"),
            HostCall::Exit(101),
        ]);
        let (attempt, output) = run_script(&mut board, 5000);
        assert!(!attempt.verdict.passed());
        assert!(attempt
            .verdict
            .reason
            .starts_with("*** PANIC: index out of bounds"));
        assert_eq!(output, b"*** PANIC: index out of bounds\n");
    }

    #[test]
    fn rtt_output_is_scanned_too() {
        let mut board = Script {
            events: [
                Ok(CoreEvent::Running),
                Ok(CoreEvent::Running),
                Ok(CoreEvent::Call(HostCall::Exit(0))),
            ]
            .into(),
            rtt: [b"Testing a\n".to_vec(), PASSING.as_bytes()[12..].to_vec()].into(),
            ..Script::default()
        };
        let (attempt, output) = run_script(&mut board, 5000);
        assert!(attempt.verdict.passed(), "{:?}", attempt.verdict);
        assert_eq!(
            output,
            b"Testing a\n1/1 tests passed\n~~~ALL TESTS PASSED~~~\n"
        );

        // What RTT still holds at the exit is read before judging.
        let mut board = Script {
            events: [Ok(CoreEvent::Call(HostCall::Exit(0)))].into(),
            rtt: [Vec::new(), PASSING.as_bytes().to_vec()].into(),
            ..Script::default()
        };
        let (attempt, _) = run_script(&mut board, 5000);
        assert!(attempt.verdict.passed(), "{:?}", attempt.verdict);
    }

    #[test]
    fn unsupported_calls_are_answered_and_the_run_goes_on() {
        let mut board = script(vec![
            HostCall::Unsupported { operation: 0x16 },
            HostCall::Errno,
            HostCall::Open {
                path: "model.tflite".into(),
                mode: "rb".into(),
            },
            write(1, PASSING),
            HostCall::Exit(0),
        ]);
        let (attempt, _) = run_script(&mut board, 5000);
        assert!(attempt.verdict.passed(), "{:?}", attempt.verdict);
        assert_eq!(board.replies, [-1, errno::ENOSYS, -1, 0]);
        assert_eq!(board.runs, 5);
    }
}
