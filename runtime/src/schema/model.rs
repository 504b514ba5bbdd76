//! Typed, zero-copy views of a TFLite model.
//!
//! [`Model::from_bytes`] checks the header and then walks the whole model
//! once, so every structural problem is found before anything else runs.
//! The views still return `Result` from every accessor: the checks are made
//! where the bytes are read, and nothing relies on an earlier pass having
//! been complete.

use super::enums::{BuiltinOperator, TensorType};
use super::error::{Fault, FaultKind, Identifier, Index, Indexed, Location, ReadError};
use super::flatbuffer::{Bytes, Scalar, Scalars, Table};
use super::options::{
    BuiltinOptions, ReshapeOptions, ScalarOptions, SqueezeOptions, RESHAPE_TAG, SQUEEZE_TAG,
};
use super::tables::{BUILTIN_OPTIONS2_NAMES, BUILTIN_OPTIONS_NAMES};

/// The schema version this reader reads.
pub const SCHEMA_VERSION: u32 = 3;

/// Name of the metadata entry that carries an offline memory plan.
pub const OFFLINE_MEMORY_ALLOCATION: &str = "OfflineMemoryAllocation";

/// A checked, zero-copy view of a `.tflite` file.
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    bytes: &'a [u8],
    root: Table<'a>,
}

type R<T> = Result<T, ReadError>;

/// Tensor index `i` (from an index vector) checked against `count`; `-1` is
/// allowed only where the schema allows an optional tensor.
fn tensor_index(at: Location, what: Indexed, i: Index, count: usize, optional: bool) -> R<()> {
    let v = i.get();
    if (optional && v == -1) || (v >= 0 && (v as u64) < count as u64) {
        Ok(())
    } else {
        Err(ReadError::index_out_of_range(at, what, i, count))
    }
}

// Every read of a view goes through one of these out-of-line functions,
// which also turn the flatbuffer fault into a `ReadError` naming the place:
// an accessor is then one call, and the fault-to-error conversion exists
// once per kind of read rather than at every accessor and call site.

/// A scalar field of `size` bytes, widened.
#[inline(never)]
fn scalar_at(
    t: &Table<'_>,
    slot: usize,
    size: usize,
    default: u32,
    field: &'static str,
    at: Location,
) -> R<u32> {
    match t.scalar(slot, size, default.into(), field) {
        Ok(v) => Ok(v as u32),
        Err(fault) => Err(ReadError::malformed(at, fault)),
    }
}

#[inline(always)]
fn u32_at(t: &Table<'_>, slot: usize, default: u32, field: &'static str, at: Location) -> R<u32> {
    scalar_at(t, slot, 4, default, field, at)
}

#[inline(always)]
fn i32_at(t: &Table<'_>, slot: usize, default: i32, field: &'static str, at: Location) -> R<i32> {
    u32_at(t, slot, default as u32, field, at).map(|v| v as i32)
}

#[inline(always)]
fn u8_at(t: &Table<'_>, slot: usize, default: u8, field: &'static str, at: Location) -> R<u8> {
    scalar_at(t, slot, 1, default.into(), field, at).map(|v| v as u8)
}

#[inline(always)]
fn i8_at(t: &Table<'_>, slot: usize, default: i8, field: &'static str, at: Location) -> R<i8> {
    u8_at(t, slot, default as u8, field, at).map(|v| v as i8)
}

#[inline(always)]
fn bool_at(
    t: &Table<'_>,
    slot: usize,
    default: bool,
    field: &'static str,
    at: Location,
) -> R<bool> {
    u8_at(t, slot, default as u8, field, at).map(|v| v != 0)
}

#[inline(never)]
fn u64_at(t: &Table<'_>, slot: usize, default: u64, field: &'static str, at: Location) -> R<u64> {
    t.u64(slot, default, field).map_err(ReadError::at(at))
}

#[inline(never)]
fn str_at<'a>(t: &Table<'a>, slot: usize, field: &'static str, at: Location) -> R<Option<&'a str>> {
    t.str(slot, field).map_err(ReadError::at(at))
}

#[inline(never)]
fn bytes_at<'a>(
    t: &Table<'a>,
    slot: usize,
    field: &'static str,
    at: Location,
) -> R<Option<&'a [u8]>> {
    t.bytes_vector(slot, field).map_err(ReadError::at(at))
}

#[inline(never)]
fn scalar_bytes_at<'a>(
    t: &Table<'a>,
    slot: usize,
    size: usize,
    field: &'static str,
    at: Location,
) -> R<&'a [u8]> {
    t.scalar_bytes(slot, size, field).map_err(ReadError::at(at))
}

#[inline(always)]
fn scalars_at<'a, T: Scalar>(
    t: &Table<'a>,
    slot: usize,
    field: &'static str,
    at: Location,
) -> R<Scalars<'a, T>> {
    scalar_bytes_at(t, slot, T::SIZE, field, at).map(Scalars::new)
}

#[inline(never)]
fn table_at<'a>(
    t: &Table<'a>,
    slot: usize,
    field: &'static str,
    at: Location,
) -> R<Option<Table<'a>>> {
    t.table(slot, field).map_err(ReadError::at(at))
}

/// Length of the table vector in `slot`.
#[inline(never)]
fn len_at(t: &Table<'_>, slot: usize, field: &'static str, at: Location) -> R<usize> {
    t.tables(slot, field)
        .map(|v| v.len())
        .map_err(ReadError::at(at))
}

/// Entry `i` of the table vector in `slot`: a fault reading the vector is
/// at `list`, one reading the entry at `item`.
#[inline(never)]
fn get_at<'a>(
    t: &Table<'a>,
    slot: usize,
    i: usize,
    field: &'static str,
    list: Location,
    item: Location,
) -> R<Table<'a>> {
    t.tables(slot, field)
        .map_err(ReadError::at(list))?
        .get(i)
        .map_err(ReadError::at(item))
}

impl<'a> Model<'a> {
    /// Reads and checks a model. Every index and offset the runtime uses is
    /// checked here; the error names the first problem found.
    #[inline(never)]
    pub fn from_bytes(bytes: &'a [u8]) -> R<Model<'a>> {
        let model = Self::from_bytes_trusted(bytes)?;
        model.verify()?;
        Ok(model)
    }

    /// Reads a model that was already checked, e.g. by a host run of
    /// `from_bytes` when it was built into firmware: only the header, root
    /// table and schema version are checked now, which leaves the up-front
    /// walk (about 4.5 KiB of flash) out of the firmware. Every field is
    /// still bounds-checked as it is read, so a malformed model still cannot
    /// cause a panic or an out-of-bounds read; its errors just come later,
    /// from `allocate_tensors` or `invoke`, and may name the problem less
    /// precisely.
    #[inline(never)]
    pub fn from_bytes_trusted(bytes: &'a [u8]) -> R<Model<'a>> {
        if bytes.len() < 8 {
            return Err(ReadError::too_small(bytes.len()));
        }
        let ident = [bytes[4], bytes[5], bytes[6], bytes[7]];
        if &ident != b"TFL3" {
            return Err(ReadError::bad_identifier(Identifier(ident)));
        }
        let root = match Bytes(bytes).table_at(0, text!("root table")) {
            Ok(root) => root,
            Err(fault) => return Err(ReadError::malformed(Location::Model, fault)),
        };
        let model = Model { bytes, root };
        match model.version()? {
            SCHEMA_VERSION => Ok(model),
            version => Err(ReadError::unsupported_version(version)),
        }
    }

    fn loc(&self) -> Location {
        Location::Model
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn version(&self) -> R<u32> {
        u32_at(&self.root, 0, 0, text!("Model.version"), self.loc())
    }

    pub fn description(&self) -> R<Option<&'a str>> {
        str_at(&self.root, 3, text!("Model.description"), self.loc())
    }

    pub fn operator_codes_len(&self) -> R<usize> {
        len_at(
            &self.root,
            1,
            text!("Model.operator_codes"),
            Location::Model,
        )
    }

    pub fn operator_code(&self, i: usize) -> R<OperatorCode<'a>> {
        let t = get_at(
            &self.root,
            1,
            i,
            text!("Model.operator_codes"),
            Location::Model,
            Location::OperatorCode(i),
        )?;
        Ok(OperatorCode { t, index: i })
    }

    pub fn subgraphs_len(&self) -> R<usize> {
        len_at(&self.root, 2, text!("Model.subgraphs"), Location::Model)
    }

    pub fn subgraph(&self, i: usize) -> R<Subgraph<'a>> {
        let t = get_at(
            &self.root,
            2,
            i,
            text!("Model.subgraphs"),
            Location::Model,
            Location::Subgraph(i),
        )?;
        Ok(Subgraph { t, index: i })
    }

    pub fn buffers_len(&self) -> R<usize> {
        len_at(&self.root, 4, text!("Model.buffers"), Location::Model)
    }

    pub fn buffer(&self, i: usize) -> R<Buffer<'a>> {
        let t = get_at(
            &self.root,
            4,
            i,
            text!("Model.buffers"),
            Location::Model,
            Location::Buffer(i),
        )?;
        Ok(Buffer {
            t,
            index: i,
            file: self.bytes,
        })
    }

    /// The deprecated `metadata_buffer` list of buffer indices.
    pub fn metadata_buffer(&self) -> R<Scalars<'a, i32>> {
        scalars_at(&self.root, 5, text!("Model.metadata_buffer"), self.loc())
    }

    pub fn metadata_len(&self) -> R<usize> {
        len_at(&self.root, 6, text!("Model.metadata"), Location::Model)
    }

    pub fn metadata(&self, i: usize) -> R<Metadata<'a>> {
        let t = get_at(
            &self.root,
            6,
            i,
            text!("Model.metadata"),
            Location::Model,
            Location::Metadata(i),
        )?;
        Ok(Metadata { t, index: i })
    }

    pub fn signature_defs_len(&self) -> R<usize> {
        len_at(
            &self.root,
            7,
            text!("Model.signature_defs"),
            Location::Model,
        )
    }

    pub fn signature_def(&self, i: usize) -> R<SignatureDef<'a>> {
        let t = get_at(
            &self.root,
            7,
            i,
            text!("Model.signature_defs"),
            Location::Model,
            Location::SignatureDef(i),
        )?;
        Ok(SignatureDef { t, index: i })
    }

    /// The data of the metadata entry called `name`, if the model has one.
    pub fn metadata_named(&self, name: &str) -> R<Option<&'a [u8]>> {
        for i in 0..self.metadata_len()? {
            let m = self.metadata(i)?;
            // Compared as bytes: a name that is not UTF-8 cannot match, and
            // the lookup need not carry a UTF-8 check.
            let found = bytes_at(&m.t, 0, text!("Metadata.name"), m.location())?;
            if found == Some(name.as_bytes()) {
                let b = m.buffer()?;
                return self.buffer(b as usize).and_then(|b| b.data()).map(Some);
            }
        }
        Ok(None)
    }

    /// The `OfflineMemoryAllocation` plan (arena offsets chosen ahead of time
    /// per tensor), if the model carries one.
    pub fn offline_memory_plan(&self) -> R<Option<OfflinePlan<'a>>> {
        let Some(data) = self.metadata_named(OFFLINE_MEMORY_ALLOCATION)? else {
            return Ok(None);
        };
        OfflinePlan::parse(data).map(Some)
    }

    /// The operator code of operator `op`, checked against the code list.
    pub fn opcode_of(&self, op: &Operator<'a>) -> R<OperatorCode<'a>> {
        self.opcode_at(op.opcode_index()?, op.location())
    }

    /// Operator code `i`, checked against the code list (read once);
    /// `at` is where the index was read.
    fn opcode_at(&self, i: u32, at: Location) -> R<OperatorCode<'a>> {
        let codes = self
            .root
            .tables(1, text!("Model.operator_codes"))
            .map_err(ReadError::at(Location::Model))?;
        let index = i as usize;
        if index < codes.len() {
            let t = codes
                .get(index)
                .map_err(ReadError::at(Location::OperatorCode(index)))?;
            Ok(OperatorCode { t, index })
        } else {
            Err(ReadError::index_out_of_range(
                at,
                Indexed::Opcode,
                Index::Unsigned(i),
                codes.len(),
            ))
        }
    }

    /// Walks every part of the model once and checks it.
    #[inline(never)]
    fn verify(&self) -> R<()> {
        self.description()?;
        let codes = self.operator_codes_len()?;
        for i in 0..codes {
            self.operator_code(i)?.verify()?;
        }
        let buffers = self.buffers_len()?;
        for i in 0..buffers {
            let b = self.buffer(i)?;
            b.offset()?;
            b.size()?;
            b.data()?;
        }
        let buffer_index = |at: Location, b: u32| {
            if (b as u64) < buffers as u64 {
                Ok(())
            } else {
                Err(ReadError::index_out_of_range(
                    at,
                    Indexed::Buffer,
                    Index::Unsigned(b),
                    buffers,
                ))
            }
        };
        // A budget on index-list reads, so that many tables sharing one huge
        // list cannot make checking quadratic in the file size.
        let mut budget = Budget(self.bytes.len() + 1024);
        let subgraphs = self.subgraphs_len()?;
        for s in 0..subgraphs {
            let sg = self.subgraph(s)?;
            sg.name()?;
            let tensors = sg.tensors_len()?;
            for k in 0..tensors {
                let t = sg.tensor(k)?;
                t.verify()?;
                buffer_index(t.location(), t.buffer()?)?;
            }
            let at = Location::Subgraph(s);
            for i in budget.take(sg.inputs()?, at)?.iter() {
                tensor_index(at, Indexed::InputTensor, Index::Signed(i), tensors, false)?;
            }
            for i in budget.take(sg.outputs()?, at)?.iter() {
                tensor_index(at, Indexed::OutputTensor, Index::Signed(i), tensors, false)?;
            }
            for o in 0..sg.operators_len()? {
                let op = sg.operator(o)?;
                let at = op.location();
                self.opcode_of(&op)?;
                for i in budget.take(op.inputs()?, at)?.iter() {
                    tensor_index(at, Indexed::InputTensor, Index::Signed(i), tensors, true)?;
                }
                for i in budget.take(op.outputs()?, at)?.iter() {
                    tensor_index(at, Indexed::OutputTensor, Index::Signed(i), tensors, false)?;
                }
                for i in budget.take(op.intermediates()?, at)?.iter() {
                    tensor_index(
                        at,
                        Indexed::IntermediateTensor,
                        Index::Signed(i),
                        tensors,
                        false,
                    )?;
                }
                op.verify_options()?;
            }
        }
        for i in self.metadata_buffer()?.iter() {
            buffer_index(Location::Model, i as u32)?;
        }
        for i in 0..self.metadata_len()? {
            let m = self.metadata(i)?;
            m.name()?;
            buffer_index(m.location(), m.buffer()?)?;
        }
        for i in 0..self.signature_defs_len()? {
            let sig = self.signature_def(i)?;
            sig.signature_key()?;
            let sg_index = sig.subgraph_index()?;
            if sg_index as u64 >= subgraphs as u64 {
                return Err(ReadError::index_out_of_range(
                    sig.location(),
                    Indexed::Subgraph,
                    Index::Unsigned(sg_index),
                    subgraphs,
                ));
            }
            let tensors = self.subgraph(sg_index as usize)?.tensors_len()?;
            for outputs in [false, true] {
                let n = sig.tensor_maps_len(outputs)?;
                budget.spend(n, sig.location())?;
                for k in 0..n {
                    let map = sig.tensor_map(outputs, k)?;
                    map.name()?;
                    let idx = Index::Unsigned(map.tensor_index()?);
                    tensor_index(sig.location(), Indexed::Tensor, idx, tensors, false)?;
                }
            }
        }
        if let Some(plan) = self.offline_memory_plan()? {
            plan.verify(self)?;
        }
        Ok(())
    }
}

/// Counts element reads during verification.
struct Budget(usize);

impl Budget {
    fn spend(&mut self, n: usize, at: Location) -> R<()> {
        match self.0.checked_sub(n) {
            Some(left) => {
                self.0 = left;
                Ok(())
            }
            None => Err(ReadError::malformed(
                at,
                Fault::new(text!("index lists"), FaultKind::TooComplex),
            )),
        }
    }

    fn take<'v>(&mut self, v: Scalars<'v, i32>, at: Location) -> R<Scalars<'v, i32>> {
        self.spend(v.len(), at)?;
        Ok(v)
    }
}

/// An entry of `Model.operator_codes`.
#[derive(Clone, Copy, Debug)]
pub struct OperatorCode<'a> {
    t: Table<'a>,
    index: usize,
}

/// What an operator code names: a builtin operator or a custom one. A
/// custom operator's name is its bytes as stored: resolvers compare bytes,
/// so running a model needs no UTF-8 check (`Model::from_bytes` still
/// checks that every name is UTF-8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind<'a> {
    Builtin(BuiltinOperator),
    Custom(&'a [u8]),
}

impl<'a> OperatorCode<'a> {
    fn loc(&self) -> Location {
        Location::OperatorCode(self.index)
    }

    pub fn deprecated_builtin_code(&self) -> R<i8> {
        i8_at(
            &self.t,
            0,
            0,
            text!("OperatorCode.deprecated_builtin_code"),
            self.loc(),
        )
    }

    pub fn custom_code(&self) -> R<Option<&'a str>> {
        str_at(&self.t, 1, text!("OperatorCode.custom_code"), self.loc())
    }

    pub fn version(&self) -> R<i32> {
        i32_at(&self.t, 2, 1, text!("OperatorCode.version"), self.loc())
    }

    pub fn builtin_code_field(&self) -> R<i32> {
        i32_at(
            &self.t,
            3,
            0,
            text!("OperatorCode.builtin_code"),
            self.loc(),
        )
    }

    /// The operator: the larger of `builtin_code` and
    /// `deprecated_builtin_code` (old files fill only the latter, new ones
    /// write 127 there for codes that do not fit a byte).
    pub fn builtin_code(&self) -> R<BuiltinOperator> {
        let mut first = None;
        let code = self.code_or(&mut first);
        match first {
            Some(fault) => Err(ReadError::malformed(self.loc(), fault)),
            None => Ok(code),
        }
    }

    /// `builtin_code`, with a fault kept in `first` (the first one found
    /// of the two fields), so that it becomes an error only once.
    #[inline(always)]
    fn code_or(&self, first: &mut Option<Fault>) -> BuiltinOperator {
        let old = self.t.scalar_or(
            0,
            1,
            0,
            text!("OperatorCode.deprecated_builtin_code"),
            first,
        );
        let new = self
            .t
            .scalar_or(3, 4, 0, text!("OperatorCode.builtin_code"), first);
        BuiltinOperator(i32::from(old as u8 as i8).max(new as i32))
    }

    /// Builtin or custom; a custom operator must name its custom code.
    pub fn kind(&self) -> R<OpKind<'a>> {
        let mut first = None;
        let code = self.code_or(&mut first);
        if let Some(fault) = first {
            return Err(ReadError::malformed(self.loc(), fault));
        }
        if code == BuiltinOperator::CUSTOM {
            // A missing name is a fault too: one conversion for both.
            let fault = match self.t.bytes_vector(1, text!("OperatorCode.custom_code")) {
                Ok(Some(name)) => return Ok(OpKind::Custom(name)),
                Ok(None) => Fault::new(
                    text!("OperatorCode.custom_code"),
                    FaultKind::UnknownEnum { value: -1 },
                ),
                Err(fault) => fault,
            };
            Err(ReadError::malformed(self.loc(), fault))
        } else {
            Ok(OpKind::Builtin(code))
        }
    }

    fn verify(&self) -> R<()> {
        self.version()?;
        self.custom_code()?;
        self.kind()?;
        Ok(())
    }
}

/// An entry of `Model.buffers`.
#[derive(Clone, Copy, Debug)]
pub struct Buffer<'a> {
    t: Table<'a>,
    index: usize,
    file: &'a [u8],
}

impl<'a> Buffer<'a> {
    fn loc(&self) -> Location {
        Location::Buffer(self.index)
    }

    fn at(&self) -> impl Fn(Fault) -> ReadError {
        ReadError::at(self.loc())
    }

    pub fn offset(&self) -> R<u64> {
        u64_at(&self.t, 1, 0, text!("Buffer.offset"), self.loc())
    }

    pub fn size(&self) -> R<u64> {
        u64_at(&self.t, 2, 0, text!("Buffer.size"), self.loc())
    }

    /// The buffer's bytes: inline in the flatbuffer, or (for models over
    /// 2 GB, and models written that way) at `offset`/`size` from the start
    /// of the file. Empty when the buffer has neither.
    pub fn data(&self) -> R<&'a [u8]> {
        self.data_fault().map_err(self.at())
    }

    /// `data` with the fault not yet placed (see `Tensor::quantization`).
    fn data_fault(&self) -> Result<&'a [u8], Fault> {
        // One fault slot for the three reads: the first fault wins, as
        // when each read returned early.
        let mut first = None;
        let f = &mut first;
        let offset = self.t.read_scalar(1, 8, 0, text!("Buffer.offset"), f);
        let data = if offset > 1 {
            let size = self.t.read_scalar(2, 8, 0, text!("Buffer.size"), f);
            // Past the address space saturates: such a range is out of
            // bounds all the same.
            let pos = usize::try_from(offset).unwrap_or(usize::MAX);
            let len = usize::try_from(size).unwrap_or(usize::MAX);
            let data = pos.checked_add(len).and_then(|end| self.file.get(pos..end));
            data.ok_or(Fault::new(
                text!("Buffer.offset"),
                FaultKind::OutOfBounds {
                    pos,
                    len,
                    file_len: self.file.len(),
                },
            ))
        } else {
            // Absent reads as empty.
            Ok(self.t.scalar_bytes_or(0, 1, text!("Buffer.data"), f))
        };
        match first {
            Some(fault) => Err(fault),
            None => data,
        }
    }
}

/// An entry of `Model.subgraphs`.
#[derive(Clone, Copy, Debug)]
pub struct Subgraph<'a> {
    t: Table<'a>,
    index: usize,
}

impl<'a> Subgraph<'a> {
    fn loc(&self) -> Location {
        Location::Subgraph(self.index)
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn name(&self) -> R<Option<&'a str>> {
        str_at(&self.t, 4, text!("SubGraph.name"), self.loc())
    }

    pub fn tensors_len(&self) -> R<usize> {
        len_at(&self.t, 0, text!("SubGraph.tensors"), self.loc())
    }

    pub fn tensor(&self, i: usize) -> R<Tensor<'a>> {
        let at = Location::Tensor {
            subgraph: self.index,
            index: i,
        };
        let t = get_at(&self.t, 0, i, text!("SubGraph.tensors"), at, at)?;
        Ok(Tensor {
            t,
            subgraph: self.index,
            index: i,
        })
    }

    /// What the interpreter reads of the subgraph, in one call (one fault
    /// check): tensor count, operator count, inputs and outputs.
    pub(crate) fn runtime_fields(&self) -> R<SubgraphFields<'a>> {
        let t = &self.t;
        let mut first = None;
        let f = &mut first;
        // A vector of tables is one of 4-byte offsets.
        let tensors = t.scalar_bytes_or(0, 4, text!("SubGraph.tensors"), f).len() / 4;
        let operators = t
            .scalar_bytes_or(3, 4, text!("SubGraph.operators"), f)
            .len()
            / 4;
        let inputs = Scalars::new(t.scalar_bytes_or(1, 4, text!("SubGraph.inputs"), f));
        let outputs = Scalars::new(t.scalar_bytes_or(2, 4, text!("SubGraph.outputs"), f));
        match first {
            Some(fault) => Err(ReadError::malformed(self.loc(), fault)),
            None => Ok(SubgraphFields {
                tensors,
                operators,
                inputs,
                outputs,
            }),
        }
    }

    pub fn inputs(&self) -> R<Scalars<'a, i32>> {
        scalars_at(&self.t, 1, text!("SubGraph.inputs"), self.loc())
    }

    pub fn outputs(&self) -> R<Scalars<'a, i32>> {
        scalars_at(&self.t, 2, text!("SubGraph.outputs"), self.loc())
    }

    pub fn operators_len(&self) -> R<usize> {
        len_at(&self.t, 3, text!("SubGraph.operators"), self.loc())
    }

    pub fn operator(&self, i: usize) -> R<Operator<'a>> {
        let at = Location::Operator {
            subgraph: self.index,
            index: i,
        };
        let t = get_at(&self.t, 3, i, text!("SubGraph.operators"), at, at)?;
        Ok(Operator {
            t,
            subgraph: self.index,
            index: i,
        })
    }
}

/// A tensor of a subgraph.
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a> {
    t: Table<'a>,
    subgraph: usize,
    index: usize,
}

impl<'a> Tensor<'a> {
    pub fn location(&self) -> Location {
        Location::Tensor {
            subgraph: self.subgraph,
            index: self.index,
        }
    }

    fn loc(&self) -> Location {
        self.location()
    }

    fn at(&self) -> impl Fn(Fault) -> ReadError {
        ReadError::at(self.location())
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn shape(&self) -> R<Scalars<'a, i32>> {
        scalars_at(&self.t, 0, text!("Tensor.shape"), self.loc())
    }

    pub fn tensor_type(&self) -> R<TensorType> {
        let v = i8_at(&self.t, 1, 0, text!("Tensor.type"), self.loc())?;
        TensorType::from_i8(v).ok_or_else(|| {
            self.at()(Fault::new(
                text!("Tensor.type"),
                FaultKind::UnknownEnum { value: v.into() },
            ))
        })
    }

    /// Index into `Model.buffers`; 0 is the empty buffer every model has.
    pub fn buffer(&self) -> R<u32> {
        u32_at(&self.t, 2, 0, text!("Tensor.buffer"), self.loc())
    }

    pub fn name(&self) -> R<Option<&'a str>> {
        str_at(&self.t, 3, text!("Tensor.name"), self.loc())
    }

    pub fn quantization(&self) -> R<Option<Quantization<'a>>> {
        self.quantization_fault().map_err(self.at())
    }

    /// `quantization` with the fault not yet placed: it becomes an error
    /// once, whichever read made it.
    fn quantization_fault(&self) -> Result<Option<Quantization<'a>>, Fault> {
        let mut first = None;
        let quant = self.quantization_or(&mut first);
        match first {
            Some(fault) => Err(fault),
            None => Ok(quant),
        }
    }

    /// `quantization`, or `None` with the fault kept in `first` (the
    /// first fault of the tensor's reads wins, as when each returned early).
    fn quantization_or(&self, f: &mut Option<Fault>) -> Option<Quantization<'a>> {
        let q = self.t.table_or(4, text!("Tensor.quantization"), f)?;
        Some(Quantization {
            min: Scalars::new(q.scalar_bytes_or(0, 4, text!("QuantizationParameters.min"), f)),
            max: Scalars::new(q.scalar_bytes_or(1, 4, text!("QuantizationParameters.max"), f)),
            scale: Scalars::new(q.scalar_bytes_or(2, 4, text!("QuantizationParameters.scale"), f)),
            zero_point: Scalars::new(q.scalar_bytes_or(
                3,
                8,
                text!("QuantizationParameters.zero_point"),
                f,
            )),
            details_type: q.scalar_or(4, 1, 0, text!("QuantizationParameters.details_type"), f)
                as u8,
            quantized_dimension: q.scalar_or(
                6,
                4,
                0,
                text!("QuantizationParameters.quantized_dimension"),
                f,
            ) as i32,
        })
    }

    /// What the interpreter reads of a tensor, in one call: a fault in any
    /// field becomes one error (the first fault found), not one per field.
    pub(crate) fn runtime_fields(&self) -> R<TensorFields<'a>> {
        let t = &self.t;
        let mut first = None;
        let f = &mut first;
        let buffer = t.scalar_or(2, 4, 0, text!("Tensor.buffer"), f);
        let is_variable = t.scalar_or(5, 1, 0, text!("Tensor.is_variable"), f) != 0;
        let ty = t.scalar_or(1, 1, 0, text!("Tensor.type"), f) as u8 as i8;
        let shape = Scalars::new(t.scalar_bytes_or(0, 4, text!("Tensor.shape"), f));
        let quantization = self.quantization_or(f);
        match (first, TensorType::from_i8(ty)) {
            (None, Some(ty)) => Ok(TensorFields {
                buffer,
                ty,
                shape,
                quantization,
                is_variable,
            }),
            (Some(fault), _) => Err(self.at()(fault)),
            (None, None) => Err(self.at()(Fault::new(
                text!("Tensor.type"),
                FaultKind::UnknownEnum { value: ty.into() },
            ))),
        }
    }

    pub fn is_variable(&self) -> R<bool> {
        bool_at(&self.t, 5, false, text!("Tensor.is_variable"), self.loc())
    }

    /// Whether the tensor is sparse (the runtime does not run sparse tensors).
    pub fn is_sparse(&self) -> R<bool> {
        Ok(table_at(&self.t, 6, text!("Tensor.sparsity"), self.loc())?.is_some())
    }

    pub fn shape_signature(&self) -> R<Scalars<'a, i32>> {
        scalars_at(&self.t, 7, text!("Tensor.shape_signature"), self.loc())
    }

    pub fn has_rank(&self) -> R<bool> {
        bool_at(&self.t, 8, false, text!("Tensor.has_rank"), self.loc())
    }

    fn verify(&self) -> R<()> {
        self.shape()?;
        self.tensor_type()?;
        self.name()?;
        self.quantization()?;
        self.is_variable()?;
        self.is_sparse()?;
        self.shape_signature()?;
        self.has_rank()?;
        Ok(())
    }
}

/// The fields of a subgraph the interpreter uses (see
/// `Subgraph::runtime_fields`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SubgraphFields<'a> {
    /// The number of tensors and of operators.
    pub tensors: usize,
    pub operators: usize,
    pub inputs: Scalars<'a, i32>,
    pub outputs: Scalars<'a, i32>,
}

/// The fields of a tensor the interpreter uses (see `Tensor::runtime_fields`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TensorFields<'a> {
    /// Index into `Model.buffers`.
    pub buffer: u32,
    pub ty: TensorType,
    pub shape: Scalars<'a, i32>,
    pub quantization: Option<Quantization<'a>>,
    pub is_variable: bool,
}

/// Quantization parameters of a tensor: `real = scale * (q - zero_point)`,
/// per tensor (one scale) or per channel along `quantized_dimension`.
#[derive(Clone, Copy, Debug)]
pub struct Quantization<'a> {
    pub min: Scalars<'a, f32>,
    pub max: Scalars<'a, f32>,
    pub scale: Scalars<'a, f32>,
    pub zero_point: Scalars<'a, i64>,
    /// Tag of the `details` union (0 = none; custom quantization otherwise).
    pub details_type: u8,
    pub quantized_dimension: i32,
}

/// An operator of a subgraph.
#[derive(Clone, Copy, Debug)]
pub struct Operator<'a> {
    t: Table<'a>,
    subgraph: usize,
    index: usize,
}

impl<'a> Operator<'a> {
    pub fn location(&self) -> Location {
        Location::Operator {
            subgraph: self.subgraph,
            index: self.index,
        }
    }

    fn loc(&self) -> Location {
        self.location()
    }

    fn at(&self) -> impl Fn(Fault) -> ReadError {
        ReadError::at(self.location())
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn opcode_index(&self) -> R<u32> {
        u32_at(&self.t, 0, 0, text!("Operator.opcode_index"), self.loc())
    }

    /// Input tensor indices; `-1` marks an optional input left out.
    pub fn inputs(&self) -> R<Scalars<'a, i32>> {
        scalars_at(&self.t, 1, text!("Operator.inputs"), self.loc())
    }

    pub fn outputs(&self) -> R<Scalars<'a, i32>> {
        scalars_at(&self.t, 2, text!("Operator.outputs"), self.loc())
    }

    pub fn intermediates(&self) -> R<Scalars<'a, i32>> {
        scalars_at(&self.t, 8, text!("Operator.intermediates"), self.loc())
    }

    /// What the interpreter reads of an operator to prepare it, in one
    /// call: its kind, then its input, output and intermediate lists (one
    /// fault check for the three).
    pub(crate) fn runtime_fields(&self, model: &Model<'a>) -> R<OperatorFields<'a>> {
        let kind = model.opcode_of(self)?.kind()?;
        let t = &self.t;
        let mut first = None;
        let f = &mut first;
        let fields = OperatorFields {
            kind,
            inputs: Scalars::new(t.scalar_bytes_or(1, 4, text!("Operator.inputs"), f)),
            outputs: Scalars::new(t.scalar_bytes_or(2, 4, text!("Operator.outputs"), f)),
            intermediates: Scalars::new(t.scalar_bytes_or(
                8,
                4,
                text!("Operator.intermediates"),
                f,
            )),
        };
        match first {
            Some(fault) => Err(self.at()(fault)),
            None => Ok(fields),
        }
    }

    /// The builtin options union, if the operator has one.
    pub fn builtin_options(&self) -> R<Option<BuiltinOptions<'a>>> {
        let mut first = None;
        let options = self.union(&mut first);
        match first {
            Some(fault) => Err(self.at()(fault)),
            None => Ok(options),
        }
    }

    /// `builtin_options`, or `None` with the fault kept in `first`: the
    /// callers turn a fault into an error once, whichever read made it,
    /// and the table comes back without a `Result` around it to unpack.
    fn union(&self, first: &mut Option<Fault>) -> Option<BuiltinOptions<'a>> {
        // A fault reads as tag 0, so nothing more is read.
        let tag = self
            .t
            .read_scalar(3, 1, 0, text!("Operator.builtin_options_type"), first)
            as u8;
        if tag as usize > BUILTIN_OPTIONS_NAMES.len() {
            first.get_or_insert(Fault::new(
                text!("Operator.builtin_options_type"),
                FaultKind::UnknownEnum { value: tag.into() },
            ));
            return None;
        }
        if tag == 0 {
            return None;
        }
        let table = self
            .t
            .table_or(4, text!("Operator.builtin_options"), first)?;
        Some(BuiltinOptions { tag, table })
    }

    /// Tag of the second options union (`BuiltinOptions2`, for StableHLO ops).
    pub fn builtin_options_2_type(&self) -> R<u8> {
        u8_at(
            &self.t,
            11,
            0,
            text!("Operator.builtin_options_2_type"),
            self.loc(),
        )
    }

    /// The options as `O`, or `O`'s defaults when the operator has none. Options
    /// of another type are an error.
    pub fn options<O: ScalarOptions>(&self) -> R<O> {
        let mut first = None;
        let options = self.union(&mut first);
        if let Some(fault) = first {
            return Err(self.at()(fault));
        }
        match options {
            None => Ok(O::default()),
            Some(o) if o.tag == O::TAG => O::read(&o.table).map_err(self.at()),
            Some(o) => Err(self.at()(Fault::new(
                text!("Operator.builtin_options"),
                FaultKind::WrongUnionType {
                    found: o.tag,
                    expected: O::TAG,
                },
            ))),
        }
    }

    pub fn reshape_options(&self) -> R<Option<ReshapeOptions<'a>>> {
        match self.builtin_options()? {
            Some(o) if o.tag == RESHAPE_TAG => {
                ReshapeOptions::read(&o.table).map(Some).map_err(self.at())
            }
            _ => Ok(None),
        }
    }

    pub fn squeeze_options(&self) -> R<Option<SqueezeOptions<'a>>> {
        match self.builtin_options()? {
            Some(o) if o.tag == SQUEEZE_TAG => {
                SqueezeOptions::read(&o.table).map(Some).map_err(self.at())
            }
            _ => Ok(None),
        }
    }

    /// Custom options (a FlexBuffer for custom ops), if any.
    pub fn custom_options(&self) -> R<Option<&'a [u8]>> {
        bytes_at(&self.t, 5, text!("Operator.custom_options"), self.loc())
    }

    pub fn custom_options_format(&self) -> R<i8> {
        i8_at(
            &self.t,
            6,
            0,
            text!("Operator.custom_options_format"),
            self.loc(),
        )
    }

    pub fn mutating_variable_inputs(&self) -> R<Option<&'a [u8]>> {
        bytes_at(
            &self.t,
            7,
            text!("Operator.mutating_variable_inputs"),
            self.loc(),
        )
    }

    fn verify_options(&self) -> R<()> {
        self.builtin_options()?;
        let tag2 = self.builtin_options_2_type()?;
        if tag2 as usize > BUILTIN_OPTIONS2_NAMES.len() {
            return Err(self.at()(Fault::new(
                text!("Operator.builtin_options_2_type"),
                FaultKind::UnknownEnum { value: tag2.into() },
            )));
        }
        if tag2 != 0 {
            table_at(&self.t, 12, text!("Operator.builtin_options_2"), self.loc())?;
        }
        self.custom_options()?;
        self.custom_options_format()?;
        self.mutating_variable_inputs()?;
        // The options table itself was checked by `builtin_options`; its
        // fields are decoded (and their values checked) by the operator's
        // kernel in `prepare`, so a firmware carries only the decoders of
        // the operators it runs.
        Ok(())
    }
}

/// The fields of an operator the interpreter uses (see
/// `Operator::runtime_fields`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OperatorFields<'a> {
    pub kind: OpKind<'a>,
    pub inputs: Scalars<'a, i32>,
    pub outputs: Scalars<'a, i32>,
    pub intermediates: Scalars<'a, i32>,
}

/// An entry of `Model.metadata`.
#[derive(Clone, Copy, Debug)]
pub struct Metadata<'a> {
    t: Table<'a>,
    index: usize,
}

impl<'a> Metadata<'a> {
    pub fn location(&self) -> Location {
        Location::Metadata(self.index)
    }

    pub fn name(&self) -> R<Option<&'a str>> {
        str_at(&self.t, 0, text!("Metadata.name"), self.location())
    }

    pub fn buffer(&self) -> R<u32> {
        u32_at(&self.t, 1, 0, text!("Metadata.buffer"), self.location())
    }
}

/// An entry of `Model.signature_defs`.
#[derive(Clone, Copy, Debug)]
pub struct SignatureDef<'a> {
    t: Table<'a>,
    index: usize,
}

/// A named input or output of a signature.
#[derive(Clone, Copy, Debug)]
pub struct TensorMap<'a> {
    t: Table<'a>,
    at: Location,
}

impl<'a> SignatureDef<'a> {
    pub fn location(&self) -> Location {
        Location::SignatureDef(self.index)
    }

    pub fn signature_key(&self) -> R<Option<&'a str>> {
        str_at(
            &self.t,
            2,
            text!("SignatureDef.signature_key"),
            self.location(),
        )
    }

    pub fn subgraph_index(&self) -> R<u32> {
        u32_at(
            &self.t,
            4,
            0,
            text!("SignatureDef.subgraph_index"),
            self.location(),
        )
    }

    fn maps(&self, outputs: bool) -> (usize, &'static str) {
        if outputs {
            (1, text!("SignatureDef.outputs"))
        } else {
            (0, text!("SignatureDef.inputs"))
        }
    }

    /// Number of named inputs (`outputs == false`) or outputs.
    pub fn tensor_maps_len(&self, outputs: bool) -> R<usize> {
        let (slot, field) = self.maps(outputs);
        len_at(&self.t, slot, field, self.location())
    }

    pub fn tensor_map(&self, outputs: bool, i: usize) -> R<TensorMap<'a>> {
        let (slot, field) = self.maps(outputs);
        let at = self.location();
        let t = get_at(&self.t, slot, i, field, at, at)?;
        Ok(TensorMap {
            t,
            at: self.location(),
        })
    }
}

impl<'a> TensorMap<'a> {
    pub fn name(&self) -> R<Option<&'a str>> {
        str_at(&self.t, 0, text!("TensorMap.name"), self.at)
    }

    pub fn tensor_index(&self) -> R<u32> {
        u32_at(&self.t, 1, 0, text!("TensorMap.tensor_index"), self.at)
    }
}

/// An offline memory plan: `[version, subgraph, count, offset...]` as int32,
/// one arena offset per tensor of the subgraph, `-1` for "plan online".
#[derive(Clone, Copy, Debug)]
pub struct OfflinePlan<'a> {
    pub version: i32,
    pub subgraph: i32,
    pub offsets: &'a [u8],
}

impl<'a> OfflinePlan<'a> {
    fn parse(data: &'a [u8]) -> R<OfflinePlan<'a>> {
        // Word `i` of the header (version, subgraph, count): one length
        // check for all three.
        let word = |i: usize| {
            let b = data.get(..12)?;
            Some(i32::from_le_bytes([
                b[4 * i],
                b[4 * i + 1],
                b[4 * i + 2],
                b[4 * i + 3],
            ]))
        };
        let bad = |len| {
            ReadError::malformed(
                Location::Model,
                Fault::new(
                    OFFLINE_MEMORY_ALLOCATION,
                    FaultKind::OutOfBounds {
                        pos: 0,
                        len,
                        file_len: data.len(),
                    },
                ),
            )
        };
        let (Some(version), Some(subgraph), Some(count)) = (word(0), word(1), word(2)) else {
            return Err(bad(12));
        };
        // A negative count, sign-extended, overflows the multiplication.
        let bytes = (count as isize as usize)
            .checked_mul(4)
            .and_then(|n| n.checked_add(12))
            .ok_or(bad(usize::MAX))?;
        let offsets = data.get(12..bytes).ok_or(bad(bytes))?;
        Ok(OfflinePlan {
            version,
            subgraph,
            offsets,
        })
    }

    /// Number of tensors the plan covers.
    pub fn len(&self) -> usize {
        self.offsets.len() / 4
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Planned arena offset of tensor `i`; `None` if the plan leaves it to
    /// the online planner (offset -1) or does not cover it.
    pub fn offset(&self, i: usize) -> Option<u32> {
        let b = self.offsets.get(4 * i..4 * i + 4)?;
        let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        u32::try_from(v).ok()
    }

    fn verify(&self, model: &Model<'a>) -> R<()> {
        let subgraphs = model.subgraphs_len()?;
        if self.subgraph < 0 || self.subgraph as usize >= subgraphs {
            return Err(ReadError::index_out_of_range(
                Location::Model,
                Indexed::OfflinePlanSubgraph,
                Index::Signed(self.subgraph),
                subgraphs,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod offline_plan_tests {
    use super::*;

    fn parse(words: &[i32]) -> R<(i32, i32, usize)> {
        let bytes: std::vec::Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        OfflinePlan::parse(&bytes).map(|p| (p.version, p.subgraph, p.len()))
    }

    #[test]
    fn counts_are_checked_against_the_data() {
        assert_eq!(parse(&[1, 0, 2, 64, -1]), Ok((1, 0, 2)));
        assert_eq!(parse(&[1, 0, 2, 64, -1, 7]), Ok((1, 0, 2)));
        assert!(parse(&[1, 0]).is_err());
        assert!(parse(&[1, 0, 3, 64, -1]).is_err());
        // A negative count: no length can hold it.
        let kind = FaultKind::OutOfBounds {
            pos: 0,
            len: usize::MAX,
            file_len: 16,
        };
        let fault = Fault::new(OFFLINE_MEMORY_ALLOCATION, kind);
        let negative = Err(ReadError::malformed(Location::Model, fault));
        assert_eq!(parse(&[1, 0, -1, 0]), negative);
        assert_eq!(parse(&[1, 0, i32::MIN, 0]), negative);
    }
}
