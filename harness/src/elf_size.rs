//! What a built firmware ELF costs in flash and RAM: the section totals that
//! `arm-none-eabi-size` prints, plus the per-symbol and per-crate breakdown
//! that `cargo bloat` gives, read with the `object` crate so that no cross
//! toolchain is needed on the host.
//!
//! Each allocated section is classified from its ELF type and flags, never
//! from its name alone, so the same rules hold for cortex-m-rt, riscv-rt and
//! any other linker script:
//!
//! * `SHT_NOBITS` (`.bss`, `.uninit`, `.stack`, ...) occupies RAM only;
//! * a section with file contents that is writable (`.data`) is stored in
//!   flash as a load image and copied into RAM at start-up, so it counts for
//!   both;
//! * a read-only section with file contents whose load address (LMA, from the
//!   `PT_LOAD` program header that holds it) differs from its run address
//!   (VMA) is copied too (code placed in RAM, or an empty `.data` that the
//!   linker left without the write flag), so it counts for both as well;
//! * any other section with file contents (vector table, `.text`, `.rodata`,
//!   `.ARM.exidx`, ...) is flash only.
//!
//! Sections without `SHF_ALLOC` (debug information, symbol and string tables,
//! `.comment`, attributes) cost nothing on the device and are skipped.
//!
//! Note that a linker script which reserves the whole stack region as a
//! `NOLOAD` section (riscv-rt's `.stack`) already has the stack in its RAM
//! total; pass a `stack_reserve` of 0 for such images if that is the number
//! wanted.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::{Endianness, FileKind};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The group that [`by_crate`] uses for symbols whose crate it cannot tell
/// (C functions, `#[no_mangle]` items, linker-made symbols).
pub const OTHER_CRATE: &str = "other";

/// Why an ELF file could not be measured.
#[derive(Debug, Error)]
pub enum SizeError {
    /// The file could not be read at all (missing, unreadable, a directory).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file asked for.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The file does not start with the ELF magic number.
    #[error("{} is not an ELF file ({found})", path.display())]
    NotElf {
        /// The file asked for.
        path: PathBuf,
        /// What the file looks like instead.
        found: String,
    },
    /// The file claims to be an ELF file but its headers or tables are
    /// malformed or cut short.
    #[error("{} is a malformed or truncated ELF file: {what}: {source}", path.display())]
    Malformed {
        /// The file asked for.
        path: PathBuf,
        /// What was being read when the problem was found.
        what: String,
        /// The error from the ELF parser.
        #[source]
        source: object::read::Error,
    },
}

/// Where an allocated section costs memory on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    /// Stored in flash and used from there (code, read-only data, vectors).
    Flash,
    /// Occupies RAM only (zero-initialised or uninitialised data).
    Ram,
    /// Stored in flash as a load image and copied into RAM at start-up.
    Both,
}

impl SectionKind {
    /// Whether the section takes room in flash.
    pub fn in_flash(self) -> bool {
        matches!(self, SectionKind::Flash | SectionKind::Both)
    }

    /// Whether the section takes room in RAM.
    pub fn in_ram(self) -> bool {
        matches!(self, SectionKind::Ram | SectionKind::Both)
    }
}

impl fmt::Display for SectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SectionKind::Flash => "flash",
            SectionKind::Ram => "ram",
            SectionKind::Both => "both",
        })
    }
}

/// One allocated section of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionSize {
    /// Section name, e.g. `.text`.
    pub name: String,
    /// Run address (VMA).
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Where the section costs memory.
    pub kind: SectionKind,
}

/// One sized symbol (function or object) of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolSize {
    /// Demangled name, without the Rust hash suffix.
    pub name: String,
    /// Symbol value (for Thumb functions the low bit is set, as in the ELF).
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Name of the section holding the symbol.
    pub section: String,
}

/// What a firmware ELF costs in flash and RAM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElfSize {
    /// The file measured.
    pub path: PathBuf,
    /// Bytes in flash-only sections (Berkeley `size`'s "text").
    pub text: u64,
    /// Bytes in sections that are both in flash and in RAM ("data").
    pub data: u64,
    /// Bytes in RAM-only sections ("bss").
    pub bss: u64,
    /// Flash used: `text + data`.
    pub flash: u64,
    /// RAM used: `data + bss + stack_reserve`.
    pub ram: u64,
    /// Bytes of RAM set aside for the stack, as given by the caller.
    pub stack_reserve: u64,
    /// Allocated sections in section-table order.
    pub sections: Vec<SectionSize>,
    /// Sized symbols in allocated sections, largest first.
    pub symbols: Vec<SymbolSize>,
    /// The tflm runtime's code by part (all zero without the runtime).
    pub runtime: RuntimeParts,
}

/// Measure the ELF file at `path`. `stack_reserve` is added to the RAM total
/// (the stack is not a section in cortex-m-rt images).
///
/// Any file that is not a well-formed ELF gives an error, never a panic.
pub fn elf_size(path: &Path, stack_reserve: u64) -> Result<ElfSize, SizeError> {
    let data = std::fs::read(path).map_err(|source| SizeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    measure(path, &data, stack_reserve)
}

/// Sizes grouped by the crate each demangled symbol path starts with
/// (`tflm_runtime`, `core`, `compiler_builtins`, ...), largest first, ties by
/// name. `<T as Trait>::f` and `<T>::f` go to the crate of `T` when `T` is a
/// path, else to the crate of `Trait`; names with no crate at all (C symbols,
/// `#[no_mangle]` functions) go to [`OTHER_CRATE`].
pub fn by_crate(symbols: &[SymbolSize]) -> Vec<(String, u64)> {
    let mut groups: BTreeMap<&str, u64> = BTreeMap::new();
    for symbol in symbols {
        let krate = crate_of(&symbol.name).unwrap_or(OTHER_CRATE);
        let total = groups.entry(krate).or_insert(0);
        *total = total.saturating_add(symbol.size);
    }
    let mut out: Vec<(String, u64)> = groups
        .into_iter()
        .map(|(name, size)| (name.to_string(), size))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

fn measure(path: &Path, data: &[u8], stack_reserve: u64) -> Result<ElfSize, SizeError> {
    if data.len() < elf::ELFMAG.len() || data[..elf::ELFMAG.len()] != elf::ELFMAG {
        let found = if data.is_empty() {
            "the file is empty".to_string()
        } else {
            match FileKind::parse(data) {
                Ok(kind) => format!("it looks like {kind:?}"),
                Err(_) => "no ELF magic number".to_string(),
            }
        };
        return Err(SizeError::NotElf {
            path: path.to_path_buf(),
            found,
        });
    }
    let malformed = |what: &str, source: object::read::Error| SizeError::Malformed {
        path: path.to_path_buf(),
        what: what.to_string(),
        source,
    };
    match FileKind::parse(data).map_err(|e| malformed("reading the ELF identification", e))? {
        FileKind::Elf32 => measure_elf::<elf::FileHeader32<Endianness>>(path, data, stack_reserve),
        FileKind::Elf64 => measure_elf::<elf::FileHeader64<Endianness>>(path, data, stack_reserve),
        other => Err(SizeError::NotElf {
            path: path.to_path_buf(),
            found: format!("it looks like {other:?}"),
        }),
    }
}

/// A `PT_LOAD` segment, widened to u64.
struct Segment {
    offset: u64,
    filesz: u64,
    vaddr: u64,
    paddr: u64,
    memsz: u64,
}

impl Segment {
    /// The load address of a section with file contents at `offset` and run
    /// address `addr`, if this segment holds it.
    fn load_address(&self, offset: u64, addr: u64, size: u64) -> Option<u64> {
        let in_file = offset >= self.offset
            && offset
                .checked_add(size)
                .is_some_and(|end| end <= self.offset.saturating_add(self.filesz));
        let in_memory = addr >= self.vaddr
            && addr
                .checked_add(size)
                .is_some_and(|end| end <= self.vaddr.saturating_add(self.memsz));
        if in_file && in_memory {
            Some(self.paddr.wrapping_add(addr - self.vaddr))
        } else {
            None
        }
    }
}

fn measure_elf<Elf: FileHeader<Endian = Endianness>>(
    path: &Path,
    data: &[u8],
    stack_reserve: u64,
) -> Result<ElfSize, SizeError> {
    let malformed = |what: &str, source: object::read::Error| SizeError::Malformed {
        path: path.to_path_buf(),
        what: what.to_string(),
        source,
    };
    let header = Elf::parse(data).map_err(|e| malformed("reading the file header", e))?;
    let endian = header
        .endian()
        .map_err(|e| malformed("reading the byte order", e))?;
    let segments: Vec<Segment> = header
        .program_headers(endian, data)
        .map_err(|e| malformed("reading the program headers", e))?
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .map(|ph| Segment {
            offset: ph.p_offset(endian).into(),
            filesz: ph.p_filesz(endian).into(),
            vaddr: ph.p_vaddr(endian).into(),
            paddr: ph.p_paddr(endian).into(),
            memsz: ph.p_memsz(endian).into(),
        })
        .collect();
    let table = header
        .sections(endian, data)
        .map_err(|e| malformed("reading the section headers", e))?;

    let mut sections = Vec::new();
    let mut kinds: Vec<Option<(String, SectionKind)>> = vec![None; table.len()];
    let (mut text, mut data_bytes, mut bss) = (0u64, 0u64, 0u64);
    for (index, section) in table.enumerate() {
        let sh_type = section.sh_type(endian);
        let flags: u64 = section.sh_flags(endian).into();
        if sh_type == elf::SHT_NULL || flags & u64::from(elf::SHF_ALLOC) == 0 {
            continue;
        }
        let name_bytes = table
            .section_name(endian, section)
            .map_err(|e| malformed(&format!("reading the name of section {}", index.0), e))?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let addr: u64 = section.sh_addr(endian).into();
        let size: u64 = section.sh_size(endian).into();
        let kind = if sh_type == elf::SHT_NOBITS {
            SectionKind::Ram
        } else {
            // The contents must be in the file: a cut-off file is an error.
            section
                .data(endian, data)
                .map_err(|e| malformed(&format!("reading the contents of section {name}"), e))?;
            let offset: u64 = section.sh_offset(endian).into();
            let lma = segments
                .iter()
                .find_map(|s| s.load_address(offset, addr, size))
                .unwrap_or(addr);
            if flags & u64::from(elf::SHF_WRITE) != 0 || lma != addr {
                SectionKind::Both
            } else {
                SectionKind::Flash
            }
        };
        match kind {
            SectionKind::Flash => text = text.saturating_add(size),
            SectionKind::Both => data_bytes = data_bytes.saturating_add(size),
            SectionKind::Ram => bss = bss.saturating_add(size),
        }
        kinds[index.0] = Some((name.clone(), kind));
        sections.push(SectionSize {
            name,
            addr,
            size,
            kind,
        });
    }

    let symtab = table
        .symbols(endian, data, elf::SHT_SYMTAB)
        .map_err(|e| malformed("reading the symbol table", e))?;
    let mut symbols = Vec::new();
    let mut seen = HashSet::new();
    for (index, symbol) in symtab.enumerate() {
        let size: u64 = symbol.st_size(endian).into();
        let st_type = symbol.st_type();
        if size == 0
            || matches!(
                st_type,
                elf::STT_SECTION | elf::STT_FILE | elf::STT_TLS | elf::STT_GNU_IFUNC
            )
        {
            continue;
        }
        let section_index = match symtab
            .symbol_section(endian, symbol, index)
            .map_err(|e| malformed(&format!("reading the section of symbol {}", index.0), e))?
        {
            Some(section_index) => section_index,
            None => continue, // undefined, absolute or common
        };
        let Some(Some((section_name, _))) = kinds.get(section_index.0) else {
            continue; // not in an allocated section
        };
        let addr: u64 = symbol.st_value(endian).into();
        // Aliases (several names for the same bytes) are counted once: the
        // first name in the table wins.
        if !seen.insert((section_index.0, addr, size)) {
            continue;
        }
        let raw = symtab
            .symbol_name(endian, symbol)
            .map_err(|e| malformed(&format!("reading the name of symbol {}", index.0), e))?;
        symbols.push(SymbolSize {
            name: demangle(&String::from_utf8_lossy(raw)),
            addr,
            size,
            section: section_name.clone(),
        });
    }
    symbols.sort_by(|a, b| {
        b.size
            .cmp(&a.size)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.addr.cmp(&b.addr))
    });

    Ok(ElfSize {
        runtime: runtime_parts(&symbols),
        path: path.to_path_buf(),
        text,
        data: data_bytes,
        bss,
        flash: text.saturating_add(data_bytes),
        ram: data_bytes.saturating_add(bss).saturating_add(stack_reserve),
        stack_reserve,
        sections,
        symbols,
    })
}

/// Demangle a Rust symbol (legacy or v0) without its hash; other names are
/// returned as they are.
fn demangle(name: &str) -> String {
    match rustc_demangle::try_demangle(name) {
        Ok(demangled) => format!("{demangled:#}"),
        Err(_) => name.to_string(),
    }
}

/// The crate a demangled path starts with, if it has one.
fn crate_of(name: &str) -> Option<&str> {
    leading_crate(owner_path(name)?)
}

/// The path a symbol belongs to: the name itself, or for `<Type as
/// Trait>::item` and `<Type>::item` the path of `Type` when it is one, else
/// that of `Trait`.
fn owner_path(name: &str) -> Option<&str> {
    let name = name.trim_start();
    let Some(qualified) = name.strip_prefix('<') else {
        return leading_crate(name).map(|_| name);
    };
    let ty = strip_type_prefixes(qualified);
    if leading_crate(ty).is_some() {
        return Some(ty);
    }
    let trait_path = strip_type_prefixes(top_level_as(qualified)?);
    leading_crate(trait_path).map(|_| trait_path)
}

/// The parts of the tflm runtime, as `tflm size` reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeParts {
    /// The core: everything but the kernels (the sum of the next five).
    pub core: u64,
    /// `interpreter`: allocation, the arena layout, invoke.
    pub interpreter: u64,
    /// `planner`: the memory planner.
    pub planner: u64,
    /// `schema`: the model reader.
    pub reader: u64,
    /// `kernel`, `resolver`, `tensor`, `arena`: what kernels are given.
    pub kernel_api: u64,
    /// Any other runtime module outside the kernels.
    pub other: u64,
    /// `kernels` and their `quant` arithmetic.
    pub kernels: u64,
}

/// The runtime's code by part, from the symbols' module paths. Code the
/// compiler inlined counts where it was inlined (e.g. the planner's inside
/// the interpreter's planning function), and generic library code
/// instantiated for the runtime (`core::...`) is not counted.
pub fn runtime_parts(symbols: &[SymbolSize]) -> RuntimeParts {
    let mut parts = RuntimeParts::default();
    for symbol in symbols.iter().filter(|s| s.section.starts_with(".text")) {
        let Some(path) = owner_path(&symbol.name) else {
            continue;
        };
        let Some(rest) = path.strip_prefix("tflm_runtime::") else {
            continue;
        };
        let module = rest.split("::").next().unwrap_or("");
        let part = match module {
            "kernels" | "quant" => &mut parts.kernels,
            "interpreter" => &mut parts.interpreter,
            "planner" => &mut parts.planner,
            "schema" => &mut parts.reader,
            "kernel" | "resolver" | "tensor" | "arena" | "index" => &mut parts.kernel_api,
            _ => &mut parts.other,
        };
        *part = part.saturating_add(symbol.size);
    }
    parts.core = parts.interpreter + parts.planner + parts.reader + parts.kernel_api + parts.other;
    parts
}

/// Strip references, pointers, `dyn`, slices, tuples and nested qualified
/// paths from the front of a type so that its path (if any) comes first.
fn strip_type_prefixes(mut ty: &str) -> &str {
    loop {
        let before = ty;
        ty = ty.trim_start();
        for prefix in [
            "&", "mut ", "*const ", "*mut ", "dyn ", "impl ", "[", "(", "<",
        ] {
            if let Some(rest) = ty.strip_prefix(prefix) {
                ty = rest;
            }
        }
        if ty.len() == before.len() {
            return ty;
        }
    }
}

/// In `Type as Trait>::item` (the text after the opening `<`), the text after
/// the ` as ` that belongs to the outermost qualified path.
fn top_level_as(qualified: &str) -> Option<&str> {
    let bytes = qualified.as_bytes();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' | b'[' | b'(' => depth += 1,
            b'>' | b']' | b')' => {
                if depth == 0 {
                    return None; // end of the qualified path: no trait
                }
                depth -= 1;
            }
            b' ' if depth == 0 && bytes[i..].starts_with(b" as ") => {
                return qualified.get(i + 4..);
            }
            _ => {}
        }
    }
    None
}

/// The first segment of a `crate::path`, if the text starts with one.
fn leading_crate(path: &str) -> Option<&str> {
    let end = path
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(path.len());
    let (ident, rest) = path.split_at(end);
    let starts_well = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (starts_well && rest.starts_with("::")).then_some(ident)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::elf::{
        FileHeader as WFileHeader, ProgramHeader as WProgramHeader, SectionHeader as WSection,
        Sym as WSym, Writer,
    };
    use object::write::StringId;

    /// Legacy-mangle a Rust path (segments as they appear in the mangling).
    fn mangle(segments: &[&str]) -> String {
        let mut out = String::from("_ZN");
        for s in segments {
            out.push_str(&format!("{}{}", s.len(), s));
        }
        out.push_str("17h0123456789abcdefE");
        out
    }

    struct TestSection {
        name: &'static str,
        sh_type: u32,
        flags: u32,
        addr: u64,
        lma: u64,
        size: u64,
    }

    struct TestSymbol {
        name: String,
        section: usize, // index into the test sections
        offset: u64,    // from the section start
        size: u64,
        st_type: u8,
        global: bool,
    }

    const FLASH: u64 = 0x0000_0000;
    const RAM: u64 = 0x2000_0000;

    fn sections() -> Vec<TestSection> {
        let alloc = elf::SHF_ALLOC;
        vec![
            TestSection {
                name: ".vector_table",
                sh_type: elf::SHT_PROGBITS,
                flags: alloc,
                addr: FLASH,
                lma: FLASH,
                size: 0x40,
            },
            TestSection {
                name: ".text",
                sh_type: elf::SHT_PROGBITS,
                flags: alloc | elf::SHF_EXECINSTR,
                addr: FLASH + 0x40,
                lma: FLASH + 0x40,
                size: 0x200,
            },
            TestSection {
                name: ".rodata",
                sh_type: elf::SHT_PROGBITS,
                flags: alloc | elf::SHF_MERGE | elf::SHF_STRINGS,
                addr: FLASH + 0x240,
                lma: FLASH + 0x240,
                size: 0x30,
            },
            // Writable, copied from flash (LMA) to RAM (VMA).
            TestSection {
                name: ".data",
                sh_type: elf::SHT_PROGBITS,
                flags: alloc | elf::SHF_WRITE,
                addr: RAM,
                lma: FLASH + 0x270,
                size: 0x10,
            },
            // Read-only code run from RAM: copied too, though not writable.
            TestSection {
                name: ".fastcode",
                sh_type: elf::SHT_PROGBITS,
                flags: alloc | elf::SHF_EXECINSTR,
                addr: RAM + 0x10,
                lma: FLASH + 0x280,
                size: 0x8,
            },
            TestSection {
                name: ".bss",
                sh_type: elf::SHT_NOBITS,
                flags: alloc | elf::SHF_WRITE,
                addr: RAM + 0x18,
                lma: RAM + 0x18,
                size: 0x100,
            },
            TestSection {
                name: ".uninit",
                sh_type: elf::SHT_NOBITS,
                flags: alloc | elf::SHF_WRITE,
                addr: RAM + 0x118,
                lma: RAM + 0x118,
                size: 0x20,
            },
            // Not allocated: must be skipped.
            TestSection {
                name: ".comment",
                sh_type: elf::SHT_PROGBITS,
                flags: elf::SHF_MERGE | elf::SHF_STRINGS,
                addr: 0,
                lma: 0,
                size: 0x13,
            },
            TestSection {
                name: ".debug_info",
                sh_type: elf::SHT_PROGBITS,
                flags: 0,
                addr: 0,
                lma: 0,
                size: 0x400,
            },
        ]
    }

    fn symbols() -> Vec<TestSymbol> {
        let sym = |name: String, section, offset, size, st_type, global| TestSymbol {
            name,
            section,
            offset,
            size,
            st_type,
            global,
        };
        let trait_impl = "_$LT$tflm_runtime..tensor..Tensor$u20$as$u20$core..fmt..Debug$GT$";
        let prim_impl = "_$LT$u32$u20$as$u20$core..fmt..Display$GT$";
        vec![
            // Locals first, as ELF requires.
            sym(".text".into(), 1, 0, 0, elf::STT_SECTION, false),
            sym("$t".into(), 1, 0, 0, elf::STT_NOTYPE, false),
            sym(
                mangle(&[trait_impl, "fmt"]),
                1,
                0x101,
                0x40,
                elf::STT_FUNC,
                false,
            ),
            sym(
                mangle(&[prim_impl, "fmt"]),
                1,
                0x141,
                0x20,
                elf::STT_FUNC,
                false,
            ),
            sym(
                mangle(&["tflm_runtime", "LOOKUP"]),
                2,
                0,
                0x30,
                elf::STT_OBJECT,
                false,
            ),
            // Globals.
            sym(
                mangle(&["tflm_runtime", "interpreter", "invoke"]),
                1,
                0x1,
                0x100,
                elf::STT_FUNC,
                true,
            ),
            sym(
                mangle(&["core", "fmt", "write"]),
                1,
                0x161,
                0x80,
                elf::STT_FUNC,
                true,
            ),
            sym("memcpy".into(), 1, 0x1e1, 0x1c, elf::STT_FUNC, true),
            // Alias of memcpy: same bytes, counted once.
            sym("__aeabi_memcpy".into(), 1, 0x1e1, 0x1c, elf::STT_FUNC, true),
            sym(
                mangle(&["compiler_builtins", "mem", "memset"]),
                1,
                0x1fd,
                0x2,
                elf::STT_FUNC,
                true,
            ),
            sym("__RESET_VECTOR".into(), 0, 4, 4, elf::STT_OBJECT, true),
            sym(
                mangle(&["tflm_firmware", "COUNTER"]),
                3,
                0,
                0x10,
                elf::STT_OBJECT,
                true,
            ),
            sym(
                mangle(&["tflm_runtime", "ARENA"]),
                5,
                0,
                0x100,
                elf::STT_OBJECT,
                true,
            ),
            // In a non-allocated section: skipped.
            sym("debug_thing".into(), 8, 0, 0x10, elf::STT_OBJECT, true),
        ]
    }

    /// Write an ARM (Thumb) ELF executable with the test sections, program
    /// headers giving each loaded section its LMA, and the test symbols.
    fn build_elf(is_64: bool) -> Vec<u8> {
        let sections = sections();
        let symbols = symbols();
        let mut buf = Vec::new();
        let mut w = Writer::new(Endianness::Little, is_64, &mut buf);

        let loaded: Vec<usize> = sections
            .iter()
            .enumerate()
            .filter(|(_, s)| s.flags & elf::SHF_ALLOC != 0)
            .map(|(i, _)| i)
            .collect();
        w.reserve_file_header();
        w.reserve_program_headers(loaded.len() as u32);

        let names: Vec<StringId> = sections
            .iter()
            .map(|s| w.add_section_name(s.name.as_bytes()))
            .collect();
        let _null = w.reserve_null_section_index();
        let indices: Vec<_> = sections.iter().map(|_| w.reserve_section_index()).collect();
        let offsets: Vec<usize> = sections
            .iter()
            .map(|s| {
                if s.sh_type == elf::SHT_NOBITS {
                    w.reserved_len()
                } else {
                    w.reserve(s.size as usize, 4)
                }
            })
            .collect();

        let sym_names: Vec<StringId> = symbols
            .iter()
            .map(|s| w.add_string(s.name.as_bytes()))
            .collect();
        w.reserve_null_symbol_index();
        for s in &symbols {
            w.reserve_symbol_index(Some(indices[s.section]));
        }
        let num_local = 1 + symbols.iter().filter(|s| !s.global).count() as u32;
        w.reserve_symtab_section_index();
        w.reserve_strtab_section_index();
        w.reserve_shstrtab_section_index();
        w.reserve_symtab();
        w.reserve_strtab();
        w.reserve_shstrtab();
        w.reserve_section_headers();

        w.write_file_header(&WFileHeader {
            os_abi: elf::ELFOSABI_NONE,
            abi_version: 0,
            e_type: elf::ET_EXEC,
            e_machine: elf::EM_ARM,
            e_entry: 0x41,
            e_flags: elf::EF_ARM_EABI_VER5,
        })
        .unwrap();
        w.write_align_program_headers();
        for &i in &loaded {
            let s = &sections[i];
            let filesz = if s.sh_type == elf::SHT_NOBITS {
                0
            } else {
                s.size
            };
            w.write_program_header(&WProgramHeader {
                p_type: elf::PT_LOAD,
                p_flags: elf::PF_R,
                p_offset: offsets[i] as u64,
                p_vaddr: s.addr,
                p_paddr: s.lma,
                p_filesz: filesz,
                p_memsz: s.size,
                p_align: 4,
            });
        }
        for (i, s) in sections.iter().enumerate() {
            if s.sh_type != elf::SHT_NOBITS {
                w.pad_until(offsets[i]);
                w.write(&vec![0xa5; s.size as usize]);
            }
        }
        w.write_null_symbol();
        for (s, &name) in symbols.iter().zip(&sym_names) {
            let bind = if s.global {
                elf::STB_GLOBAL
            } else {
                elf::STB_LOCAL
            };
            w.write_symbol(&WSym {
                name: Some(name),
                section: Some(indices[s.section]),
                st_info: (bind << 4) | s.st_type,
                st_other: 0,
                st_shndx: 0,
                st_value: sections[s.section].addr + s.offset,
                st_size: s.size,
            });
        }
        w.write_strtab();
        w.write_shstrtab();
        w.write_null_section_header();
        for (i, s) in sections.iter().enumerate() {
            w.write_section_header(&WSection {
                name: Some(names[i]),
                sh_type: s.sh_type,
                sh_flags: u64::from(s.flags),
                sh_addr: s.addr,
                sh_offset: offsets[i] as u64,
                sh_size: s.size,
                sh_link: 0,
                sh_info: 0,
                sh_addralign: 4,
                sh_entsize: 0,
            });
        }
        w.write_symtab_section_header(num_local);
        w.write_strtab_section_header();
        w.write_shstrtab_section_header();
        assert_eq!(w.reserved_len(), w.len());
        buf
    }

    /// A file in a per-process scratch directory, removed when dropped.
    struct TempFile(PathBuf);

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
            // Succeeds only once the last test file of the process is gone.
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }

    impl std::ops::Deref for TempFile {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    fn temp_file(name: &str, contents: &[u8]) -> TempFile {
        let dir = std::env::temp_dir().join(format!("tflm-elf-size-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn kind_of(size: &ElfSize, name: &str) -> SectionKind {
        size.sections
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no section {name}"))
            .kind
    }

    fn check_sums(size: &ElfSize) {
        // text: vectors 0x40 + .text 0x200 + .rodata 0x30
        assert_eq!(size.text, 0x40 + 0x200 + 0x30);
        // data: .data 0x10 + .fastcode 0x8
        assert_eq!(size.data, 0x10 + 0x8);
        // bss: .bss 0x100 + .uninit 0x20
        assert_eq!(size.bss, 0x100 + 0x20);
        assert_eq!(size.flash, 0x270 + 0x18);
        assert_eq!(size.ram, 0x18 + 0x120 + 0x800);
        assert_eq!(size.stack_reserve, 0x800);

        let names: Vec<&str> = size.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                ".vector_table",
                ".text",
                ".rodata",
                ".data",
                ".fastcode",
                ".bss",
                ".uninit"
            ]
        );
        assert_eq!(kind_of(size, ".vector_table"), SectionKind::Flash);
        assert_eq!(kind_of(size, ".text"), SectionKind::Flash);
        assert_eq!(kind_of(size, ".rodata"), SectionKind::Flash);
        assert_eq!(kind_of(size, ".data"), SectionKind::Both);
        assert_eq!(kind_of(size, ".fastcode"), SectionKind::Both);
        assert_eq!(kind_of(size, ".bss"), SectionKind::Ram);
        assert_eq!(kind_of(size, ".uninit"), SectionKind::Ram);
        let data = size.sections.iter().find(|s| s.name == ".data").unwrap();
        assert_eq!((data.addr, data.size), (RAM, 0x10));
    }

    #[test]
    fn elf_size_sums_sections_by_flags() {
        let path = temp_file("arm32.elf", &build_elf(false));
        let size = elf_size(&path, 0x800).unwrap();
        assert_eq!(size.path, path.0);
        check_sums(&size);
    }

    #[test]
    fn elf_size_reads_elf64_too() {
        let path = temp_file("arm64.elf", &build_elf(true));
        let size = elf_size(&path, 0x800).unwrap();
        check_sums(&size);
        assert_eq!(size.symbols.len(), 10);
    }

    #[test]
    fn elf_size_lists_demangled_symbols_largest_first() {
        let path = temp_file("symbols.elf", &build_elf(false));
        let size = elf_size(&path, 0).unwrap();
        let got: Vec<(&str, u64, &str)> = size
            .symbols
            .iter()
            .map(|s| (s.name.as_str(), s.size, s.section.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("tflm_runtime::ARENA", 0x100, ".bss"),
                ("tflm_runtime::interpreter::invoke", 0x100, ".text"),
                ("core::fmt::write", 0x80, ".text"),
                (
                    "<tflm_runtime::tensor::Tensor as core::fmt::Debug>::fmt",
                    0x40,
                    ".text"
                ),
                ("tflm_runtime::LOOKUP", 0x30, ".rodata"),
                ("<u32 as core::fmt::Display>::fmt", 0x20, ".text"),
                ("memcpy", 0x1c, ".text"),
                ("tflm_firmware::COUNTER", 0x10, ".data"),
                ("__RESET_VECTOR", 4, ".vector_table"),
                ("compiler_builtins::mem::memset", 2, ".text"),
            ]
        );
        let invoke = &size.symbols[1];
        assert_eq!(invoke.addr, 0x41, "Thumb bit kept");
        assert_eq!(ram_total(&size), 0x138);
    }

    fn ram_total(size: &ElfSize) -> u64 {
        size.sections
            .iter()
            .filter(|s| s.kind.in_ram())
            .map(|s| s.size)
            .sum()
    }

    #[test]
    fn elf_size_by_crate_groups_symbols() {
        let path = temp_file("crates.elf", &build_elf(false));
        let size = elf_size(&path, 0).unwrap();
        assert_eq!(
            by_crate(&size.symbols),
            [
                ("tflm_runtime".to_string(), 0x100 + 0x100 + 0x40 + 0x30),
                ("core".to_string(), 0x80 + 0x20),
                ("other".to_string(), 0x1c + 4),
                ("tflm_firmware".to_string(), 0x10),
                ("compiler_builtins".to_string(), 2),
            ]
        );
    }

    #[test]
    fn runtime_parts_split_the_core_from_the_kernels() {
        let sym = |name: &str, size: u64, section: &str| SymbolSize {
            name: name.to_string(),
            addr: 0,
            size,
            section: section.to_string(),
        };
        let symbols = [
            sym("tflm_runtime::interpreter::plan_head", 500, ".text"),
            sym(
                "tflm_runtime::interpreter::Interpreter<R>::invoke_with",
                300,
                ".text",
            ),
            sym(
                "<tflm_runtime::interpreter::Tail as tflm_runtime::kernel::Persistent>::reserve",
                40,
                ".text",
            ),
            sym("tflm_runtime::planner::heapsort", 100, ".text"),
            sym("tflm_runtime::schema::flatbuffer::Table::new", 200, ".text"),
            sym("tflm_runtime::kernel::Inputs::get", 60, ".text"),
            sym("<&T as core::fmt::Display>::fmt", 96, ".text"),
            sym(
                "tflm_runtime::kernels::fully_connected::eval",
                1000,
                ".text",
            ),
            sym("tflm_runtime::quant::quantize_multiplier", 200, ".text"),
            sym("tflm_runtime::schema::tables::NAMES", 700, ".rodata"),
            sym("tflm_runtime::lib_level_helper", 8, ".text"),
        ];
        let parts = runtime_parts(&symbols);
        assert_eq!(
            parts,
            RuntimeParts {
                core: 840 + 100 + 200 + 60 + 8,
                interpreter: 840,
                planner: 100,
                reader: 200,
                kernel_api: 60,
                other: 8,
                kernels: 1200,
            }
        );
    }

    #[test]
    fn elf_size_crate_of_names() {
        let cases = [
            ("tflm_runtime::ops::add::eval", Some("tflm_runtime")),
            ("core::ptr::drop_in_place<tflm_runtime::X>", Some("core")),
            (
                "<tflm_runtime::A as core::fmt::Debug>::fmt",
                Some("tflm_runtime"),
            ),
            (
                "<&mut tflm_runtime::A as core::fmt::Write>::write_str",
                Some("tflm_runtime"),
            ),
            ("<[tflm_runtime::A]>::sort", Some("tflm_runtime")),
            ("<*const u8 as core::fmt::Pointer>::fmt", Some("core")),
            ("<[u8]>::copy_from_slice", None),
            ("<u32 as core::fmt::Display>::fmt", Some("core")),
            ("<(u8, u16) as alloc::Foo>::bar", Some("alloc")),
            (
                "<<tflm_runtime::A as core::iter::Iterator>::Item as core::fmt::Debug>::fmt",
                Some("tflm_runtime"),
            ),
            (
                "<dyn core::any::Any as core::fmt::Debug>::fmt",
                Some("core"),
            ),
            ("<&T as core::fmt::Debug>::fmt", Some("core")),
            ("memcpy", None),
            ("__aeabi_uldivmod", None),
            ("_ZN3foo", None),
            ("", None),
            ("<", None),
            ("<>", None),
            ("<u8 as >", None),
            ("::x", None),
            ("9abc::x", None),
        ];
        for (name, want) in cases {
            assert_eq!(crate_of(name), want, "{name}");
        }
    }

    #[test]
    fn elf_size_serializes_to_json() {
        let path = temp_file("json.elf", &build_elf(false));
        let size = elf_size(&path, 1024).unwrap();
        let json = serde_json::to_value(&size).unwrap();
        assert_eq!(json["flash"], 0x288);
        assert_eq!(json["ram"], 0x138 + 1024);
        assert_eq!(json["sections"][3]["kind"], "both");
        assert_eq!(json["sections"][5]["kind"], "ram");
        assert_eq!(json["symbols"][0]["name"], "tflm_runtime::ARENA");
        let back: ElfSize = serde_json::from_value(json).unwrap();
        assert_eq!(back, size);
    }

    #[test]
    fn elf_size_missing_file_is_io_error() {
        let path = std::env::temp_dir().join("tflm-elf-size-does-not-exist/nothing.elf");
        let err = elf_size(&path, 0).unwrap_err();
        assert!(matches!(err, SizeError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("nothing.elf"), "{err}");
    }

    #[test]
    fn elf_size_not_elf() {
        for (name, contents) in [
            ("empty.elf", &b""[..]),
            ("text.elf", &b"this is not an ELF file\n"[..]),
            ("ar.elf", &b"!<arch>\n"[..]),
            ("short.elf", &b"\x7fE"[..]),
        ] {
            let path = temp_file(name, contents);
            let err = elf_size(&path, 0).unwrap_err();
            assert!(matches!(err, SizeError::NotElf { .. }), "{name}: {err:?}");
            assert!(err.to_string().contains("is not an ELF file"), "{err}");
        }
    }

    #[test]
    fn elf_size_truncated_elf_is_an_error_at_every_length() {
        let full = build_elf(false);
        // Every cut of the file must give an error value, never a panic.
        for len in 4..full.len() {
            let result = measure(Path::new("cut.elf"), &full[..len], 0);
            let err = result.expect_err("a truncated ELF must not measure");
            assert!(matches!(err, SizeError::Malformed { .. }), "{len}: {err:?}");
        }
        let path = temp_file("truncated.elf", &full[..full.len() / 2]);
        let err = elf_size(&path, 0).unwrap_err();
        assert!(
            err.to_string().contains("malformed or truncated ELF"),
            "{err}"
        );
    }

    #[test]
    fn elf_size_bad_elf_class_is_malformed() {
        let mut bytes = build_elf(false);
        bytes[4] = 7; // EI_CLASS
        let err = measure(Path::new("bad.elf"), &bytes, 0).unwrap_err();
        assert!(matches!(err, SizeError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn elf_size_corrupt_bytes_never_panic() {
        let full = build_elf(false);
        // Flip each header byte in turn (file header, program headers) and a
        // spread of bytes elsewhere; any result is fine except a panic.
        let mut positions: Vec<usize> = (0..0x100.min(full.len())).collect();
        positions.extend((0x100..full.len()).step_by(7));
        for pos in positions {
            for value in [0x00, 0xff, 0x80] {
                let mut bytes = full.clone();
                bytes[pos] = value;
                let _ = measure(Path::new("corrupt.elf"), &bytes, u64::MAX);
            }
        }
    }
}
