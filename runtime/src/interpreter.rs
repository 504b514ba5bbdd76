//! The interpreter: plans a model's tensors into one arena and runs its
//! operators, with the same shape of API as TFLM's `MicroInterpreter`.
//!
//! ```ignore
//! let model = Model::from_bytes(MODEL)?;
//! let mut resolver = MutableOpResolver::<3>::new();
//! resolver.register(op::FULLY_CONNECTED, kernels::fully_connected::KERNEL)?;
//! let mut interpreter = Interpreter::new(&model, &resolver, &mut ARENA);
//! interpreter.allocate_tensors()?;
//! interpreter.input_mut(0)?.as_i8_mut()?[0] = x;
//! interpreter.invoke()?;
//! let y = interpreter.output(0)?.as_i8()?[0];
//! ```

use crate::arena::{align_up, CutError, Gaps, Muts, TensorRecord, ALIGN};
use crate::index::{copy, At};
use crate::kernel::{
    EvalContext, Inputs, KernelError, Outputs, Persistent, PrepareContext, PreparedOp,
    ScratchBuffers, Tables, TensorInfo, MAX_SCRATCH,
};
use crate::planner::{self, PlanBuffer, PlanError, Planning};
use crate::resolver::OpResolver;
use crate::schema::{
    BuiltinOperator, Model, OperatorFields, ReadError, Scalars, Subgraph, SubgraphFields,
    TensorType, Text,
};
use crate::tensor::{Shape, TensorView, TensorViewMut};
use bytemuck::{Pod, Zeroable};
use core::fmt;

/// An operator's name, kept inline so errors need no heap.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OpName {
    Builtin(BuiltinOperator),
    Custom { bytes: [u8; 32], len: u8 },
}

impl OpName {
    #[cfg(feature = "error-text")]
    fn of(kind: crate::schema::OpKind<'_>) -> Self {
        match kind {
            crate::schema::OpKind::Builtin(b) => OpName::Builtin(b),
            crate::schema::OpKind::Custom(name) => {
                let mut bytes = [0u8; 32];
                let len = name.len().min(32);
                copy(bytes.part_mut(..len), name.part(..len));
                OpName::Custom {
                    bytes,
                    len: len as u8,
                }
            }
        }
    }
}

impl fmt::Display for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpName::Builtin(b) => write!(f, "{b}"),
            OpName::Custom { bytes, len } => {
                // The UTF-8 part, up to the first byte that is not: all of
                // it, unless the cut at 32 bytes split a character or the
                // model (read trusted, unchecked) stores a name that is not
                // UTF-8.
                let name = bytes.get(..*len as usize).unwrap_or_default();
                let valid = match core::str::from_utf8(name) {
                    Ok(_) => name,
                    Err(e) => name.get(..e.valid_up_to()).unwrap_or_default(),
                };
                f.write_str(core::str::from_utf8(valid).unwrap_or("?"))
            }
        }
    }
}

impl fmt::Debug for OpName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What is wrong with a tensor for this runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorProblem {
    /// A dimension is negative (a dynamic shape; the runtime plans static shapes).
    DynamicShape,
    /// Its byte size does not fit in 32 bits.
    TooLarge,
    /// The runtime cannot store this type (strings, resources, packed 4-bit).
    UnsupportedType(TensorType),
    /// A constant's buffer does not hold what its shape and type need.
    BufferSize { has: usize, needs: usize },
    /// An operator writes to a constant tensor.
    WrittenConstant,
    /// A zero point outside the range of the tensor's type.
    ZeroPoint(i64),
    /// A scale that is negative, infinite or NaN.
    Scale,
}

impl fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TensorProblem::DynamicShape => {
                f.write_str("has a dynamic (negative) dimension; only static shapes are supported")
            }
            TensorProblem::TooLarge => f.write_str("is larger than 4 GiB"),
            TensorProblem::UnsupportedType(t) => {
                write!(f, "has type {t}, which this runtime cannot store")
            }
            TensorProblem::BufferSize { has, needs } => {
                write!(
                    f,
                    "buffer holds {has} bytes but its shape and type need {needs}"
                )
            }
            TensorProblem::WrittenConstant => {
                f.write_str("is a constant but an operator writes to it")
            }
            TensorProblem::ZeroPoint(z) => write!(
                f,
                "has zero point {}, outside the range of its type",
                crate::schema::Dec::from(*z)
            ),
            TensorProblem::Scale => {
                f.write_str("has a negative, infinite or NaN quantization scale")
            }
        }
    }
}

/// Why the interpreter could not allocate or run a model.
#[derive(Clone, Copy, Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Model(#[from] ReadError),
    #[error("the model has no subgraph")]
    NoSubgraph,
    /// `needed` is exact when `exact`, else a lower bound (the arena ran out
    /// before the plan could be made).
    #[error("arena too small: {}{needed} bytes needed, {available} available", Text(if *exact { "" } else { "at least " }))]
    ArenaTooSmall {
        needed: usize,
        available: usize,
        exact: bool,
    },
    // Without `error-text` the operator's name is left out: it is large to
    // carry in every `Result`, and reading it takes code of its own.
    #[cfg_attr(
        feature = "error-text",
        error("operator {index} ({op}): no kernel registered for it; add one to the op resolver")
    )]
    #[cfg_attr(
        not(feature = "error-text"),
        error("operator {index}: no kernel registered for it")
    )]
    UnsupportedOp {
        index: usize,
        #[cfg(feature = "error-text")]
        op: OpName,
    },
    #[cfg_attr(feature = "error-text", error("operator {index} ({op}): {error}"))]
    #[cfg_attr(not(feature = "error-text"), error("operator {index}: {error}"))]
    Prepare {
        index: usize,
        #[cfg(feature = "error-text")]
        op: OpName,
        error: KernelError,
    },
    #[cfg_attr(
        feature = "error-text",
        error("operator {index} ({op}) failed: {error}")
    )]
    #[cfg_attr(not(feature = "error-text"), error("operator {index} failed: {error}"))]
    Eval {
        index: usize,
        #[cfg(feature = "error-text")]
        op: OpName,
        error: KernelError,
    },
    #[error("tensor {index} {problem}")]
    Tensor {
        index: usize,
        problem: TensorProblem,
    },
    #[error("operator {index} has too many outputs, variable inputs and scratch buffers at once")]
    TooManyWritable { index: usize },
    #[error("memory plan: {0}")]
    Plan(#[from] PlanError),
    #[error("allocate_tensors() must succeed before tensors are used or the model is invoked")]
    NotAllocated,
    #[error("{} {index} does not exist (the model has {count})", Text(.kind))]
    NoSuchTensor {
        kind: &'static str,
        index: usize,
        count: usize,
    },
    #[error("{} {index}: {error}", Text(.kind))]
    Access {
        kind: &'static str,
        index: usize,
        error: KernelError,
    },
}

/// Per-operator hooks around `eval`, e.g. to time each operator. (What
/// operator `op_index` is, the model says: `Subgraph::operator`.)
pub trait Profiler {
    fn begin(&mut self, op_index: usize);
    fn end(&mut self, op_index: usize);
}

/// A profiler that does nothing (and costs nothing).
pub struct NoProfiler;

impl Profiler for NoProfiler {
    #[inline(always)]
    fn begin(&mut self, _: usize) {}
    #[inline(always)]
    fn end(&mut self, _: usize) {}
}

/// One operator as the interpreter keeps it in the arena: everything
/// planning and `invoke` need, so that they do not read the model again.
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct NodeRecord {
    /// The kernel's index in the resolver; the top bit set: skip `eval`
    /// (the output is a view of the input).
    kernel: u32,
    op_data_offset: u32,
    op_data_len: u32,
    /// The operator's input, output and intermediate tensor index lists,
    /// as offsets in the model and lengths.
    inputs_offset: u32,
    inputs_len: u32,
    outputs_offset: u32,
    outputs_len: u32,
    intermediates_offset: u32,
    intermediates_len: u32,
    scratch_offset: [u32; MAX_SCRATCH],
    scratch_len: [u32; MAX_SCRATCH],
    /// Bit i set: the kernel writes input i (a variable tensor).
    writes_inputs: u32,
}

const SKIP: u32 = 1 << 31;

impl NodeRecord {
    fn skip(&self) -> bool {
        self.kernel & SKIP != 0
    }

    fn inputs<'m>(&self, model: &'m [u8]) -> Scalars<'m, i32> {
        list_at(model, self.inputs_offset, self.inputs_len)
    }

    fn outputs<'m>(&self, model: &'m [u8]) -> Scalars<'m, i32> {
        list_at(model, self.outputs_offset, self.outputs_len)
    }
}

const TENSOR_RECORD: usize = core::mem::size_of::<TensorRecord>();
const NODE_RECORD: usize = core::mem::size_of::<NodeRecord>();

/// Where things are in the arena once allocated.
#[derive(Clone, Copy, Debug, Default)]
struct Layout {
    /// Offset of the 16-aligned base in the caller's slice.
    base: usize,
    /// Usable bytes from `base`.
    len: usize,
    head: usize,
    /// Planner working memory, used only during `allocate_tensors`.
    work: usize,
    tail_start: usize,
    tensors_at: usize,
    tensors: usize,
    nodes_at: usize,
    nodes: usize,
    scratch: Option<usize>,
    lower_bound: Option<usize>,
    /// The subgraph's input and output index lists (offset in the model,
    /// length), so that `input` and `output` need not read the model.
    inputs: (u32, u32),
    outputs: (u32, u32),
}

/// Sizes of the parts of the arena, for `tflm size --arena`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaUsage {
    /// Everything, from the 16-aligned start of the arena.
    pub total: usize,
    /// Planned activations and scratch (the head).
    pub activations: usize,
    /// Extra bytes needed only while planning (the planner's working memory
    /// beyond the activations), included in `total`.
    pub planning: usize,
    /// Of `activations`, the largest scratch use at one time.
    pub scratch: Option<usize>,
    /// Tensor and operator tables, per-op data, variable tensors (the tail).
    pub persistent: usize,
    /// Largest sum of live activation and scratch bytes at one operator.
    pub lower_bound: Option<usize>,
    // `scratch` and `lower_bound` are figures for reports: builds with the
    // `greedy-plan` feature (the host's) compute them, as its search needs
    // the bound anyway; a first-fit-only firmware leaves that code out.
}

/// Where the plan put one tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedTensor {
    pub tensor: usize,
    /// Arena offset; for constants, the offset of the data in the model.
    pub offset: usize,
    pub bytes: usize,
    pub kind: PlannedKind,
    /// First and last operator that use it (activations only).
    pub first_op: usize,
    pub last_op: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlannedKind {
    Activation,
    /// Shares the bytes of another tensor (RESHAPE and other views).
    Alias,
    Constant,
    Variable,
    Unused,
}

/// Tail allocator: reserves downwards from the end, and when the arena runs
/// out keeps counting so the error can say how much is needed.
struct Tail<'a> {
    arena: &'a mut [u8],
    top: usize,
    shortfall: usize,
}

impl Tail<'_> {
    fn used(&self) -> usize {
        self.arena.len() - self.top + self.shortfall
    }
}

impl Persistent for Tail<'_> {
    // Called from several places in `allocate_tensors`: one copy is smaller.
    #[inline(never)]
    fn reserve(&mut self, len: usize) -> Option<usize> {
        let len = align_up(len)?;
        match self.top.checked_sub(len) {
            Some(top) if self.shortfall == 0 => {
                self.top = top;
                Some(top)
            }
            _ => {
                self.shortfall = self.shortfall.saturating_add(len);
                None
            }
        }
    }

    fn bytes_mut(&mut self, offset: usize, len: usize) -> Option<&mut [u8]> {
        self.arena.get_mut(offset..offset.checked_add(len)?)
    }
}

fn offset_in(model: &[u8], part: &[u8]) -> u32 {
    // Both slices come from the same model buffer.
    (part.as_ptr() as usize).wrapping_sub(model.as_ptr() as usize) as u32
}

/// Runs one model in one arena.
pub struct Interpreter<'m, 'a, R: OpResolver> {
    model: Model<'m>,
    resolver: &'a R,
    arena: &'a mut [u8],
    layout: Option<Layout>,
    planning: Planning,
}

impl<'m, 'a, R: OpResolver> Interpreter<'m, 'a, R> {
    pub fn new(model: &Model<'m>, resolver: &'a R, arena: &'a mut [u8]) -> Self {
        Interpreter {
            model: *model,
            resolver,
            arena,
            layout: None,
            planning: Planning::Exact,
        }
    }

    /// How hard `allocate_tensors` works for a small arena (the most this
    /// build has by default; see [`Planning::available`]). The host sets
    /// what a firmware build has, to know the arena that firmware needs.
    pub fn set_planning(&mut self, planning: Planning) {
        self.planning = planning;
    }

    fn subgraph(&self) -> Result<Subgraph<'m>, Error> {
        if self.model.subgraphs_len()? == 0 {
            return Err(Error::NoSubgraph);
        }
        Ok(self.model.subgraph(0)?)
    }

    /// Plans every tensor into the arena and prepares every operator.
    #[inline(never)]
    pub fn allocate_tensors(&mut self) -> Result<(), Error> {
        self.layout = None;
        let model = &self.model;
        let sg = self.subgraph()?;
        let base = self
            .arena
            .as_ptr()
            .align_offset(ALIGN)
            .min(self.arena.len());
        let available = self.arena.len();
        // Use a multiple of 16 bytes, so the tail (allocated from the end) is aligned too.
        let len = (self.arena.len() - base) & !(ALIGN - 1);
        let arena = self.arena.part_mut(base..base + len);
        let SubgraphFields {
            tensors: n_tensors,
            operators: n_ops,
            inputs: sg_inputs,
            outputs: sg_outputs,
        } = sg.runtime_fields()?;
        let mut tail = Tail {
            arena,
            top: len,
            shortfall: 0,
        };
        let tensors_at = tail.reserve(n_tensors * TENSOR_RECORD);
        let nodes_at = tail.reserve(n_ops * NODE_RECORD);

        let model_bytes = model.bytes();
        record_tensors(model, &sg, &mut tail, tensors_at, n_tensors)?;

        // Prepare every operator.
        for i in 0..n_ops {
            let op = sg.operator(i)?;
            let OperatorFields {
                kind,
                inputs,
                outputs,
                intermediates,
            } = op.runtime_fields(model)?;
            let resolver = self.resolver;
            let found = resolver
                .find(kind)
                .and_then(|k| Some((k, resolver.kernel(k)?)));
            // Errors returned as made (not through `?`): built in place.
            let Some((index, kernel)) = found else {
                return Err(Error::unsupported_op(model, i));
            };
            if let Some(at) = tensors_at {
                let tensors = outputs.iter().filter_map(|t| usize::try_from(t).ok());
                for t in tensors.filter(|&t| t < n_tensors) {
                    let rec: TensorRecord = read_pod(tail.arena, at + t * TENSOR_RECORD);
                    if rec.is_constant() {
                        return Err(Error::Tensor {
                            index: t,
                            problem: TensorProblem::WrittenConstant,
                        });
                    }
                }
            }
            let mut prepared = PreparedOp::default();
            let lookup = |k: usize| tensor_info(model, &sg, k).map_err(KernelError::from);
            let mut ctx = PrepareContext {
                model: *model,
                op,
                inputs,
                outputs,
                tensor: &lookup,
                persistent: &mut tail,
                prepared: &mut prepared,
            };
            if let Err(error) = (kernel.prepare)(&mut ctx) {
                return Err(Error::prepare(model, i, error));
            }
            let skip = kernel.output_aliases_input
                && inputs.get(0).is_some_and(|t| t >= 0)
                && !outputs.is_empty();
            let (op_data_offset, op_data_len) = prepared.op_data.unwrap_or((0, 0));
            let node = NodeRecord {
                kernel: index as u32 | if skip { SKIP } else { 0 },
                op_data_offset: op_data_offset as u32,
                op_data_len: op_data_len as u32,
                inputs_offset: offset_in(model_bytes, inputs.as_bytes()),
                inputs_len: inputs.len() as u32,
                outputs_offset: offset_in(model_bytes, outputs.as_bytes()),
                outputs_len: outputs.len() as u32,
                intermediates_offset: offset_in(model_bytes, intermediates.as_bytes()),
                intermediates_len: intermediates.len() as u32,
                // Entries past `scratch_count` were never set: zero.
                scratch_len: prepared.scratch_bytes,
                writes_inputs: prepared.writes_inputs,
                ..NodeRecord::default()
            };
            if let Some(at) = nodes_at {
                write_pod(&mut tail, at + i * NODE_RECORD, &node);
            }
        }

        let tail_used = tail.used();
        let tail_start = tail.top;
        if tail.shortfall > 0 || tensors_at.is_none() || nodes_at.is_none() {
            return Err(Error::ArenaTooSmall {
                needed: base + tail_used,
                available,
                exact: false,
            });
        }
        let (Some(tensors_at), Some(nodes_at)) = (tensors_at, nodes_at) else {
            return Err(Error::NotAllocated);
        };

        // Plan activations and scratch in the head, using the free space as
        // the planner's working memory.
        let (head, persistent) = self
            .arena
            .part_mut(base..)
            .split_at_mut_checked(tail_start)
            .ok_or(Error::NotAllocated)?;
        // The node records lie below the tensor records (reserved later).
        let (nodes, recs) = persistent
            .split_at_mut_checked(tensors_at.saturating_sub(tail_start))
            .ok_or(Error::NotAllocated)?;
        let nodes = nodes.get_mut(nodes_at - tail_start..).unwrap_or_default();
        let nodes =
            bytemuck::try_cast_slice_mut(nodes.get_mut(..n_ops * NODE_RECORD).unwrap_or_default());
        let recs = bytemuck::try_cast_slice_mut(
            recs.get_mut(..n_tensors * TENSOR_RECORD)
                .unwrap_or_default(),
        );
        let (Ok(nodes), Ok(recs)) = (nodes, recs) else {
            return Err(Error::NotAllocated);
        };
        let plan = plan_head(
            model,
            (sg_inputs, sg_outputs),
            head,
            nodes,
            recs,
            self.planning,
        );
        let plan = match plan {
            Ok(p) => p,
            Err(PlanFailure::NoRoom { work }) => {
                // Exact when the count of planned buffers was known.
                return Err(Error::ArenaTooSmall {
                    needed: base + align_up(work).unwrap_or(work) + tail_used,
                    available,
                    exact: false,
                });
            }
            Err(PlanFailure::Error(e)) => return Err(e),
        };
        if plan.head > tail_start {
            return Err(Error::ArenaTooSmall {
                needed: base + plan.head.max(plan.work) + tail_used,
                available,
                exact: true,
            });
        }
        self.layout = Some(Layout {
            base,
            len,
            head: plan.head,
            work: plan.work,
            tail_start,
            tensors_at,
            tensors: n_tensors,
            nodes_at,
            nodes: n_ops,
            scratch: plan.scratch,
            lower_bound: plan.lower_bound,
            inputs: (
                offset_in(model_bytes, sg_inputs.as_bytes()),
                sg_inputs.len() as u32,
            ),
            outputs: (
                offset_in(model_bytes, sg_outputs.as_bytes()),
                sg_outputs.len() as u32,
            ),
        });
        Ok(())
    }

    fn layout(&self) -> Result<Layout, Error> {
        self.layout.ok_or(Error::NotAllocated)
    }

    fn records(&self) -> Result<&[TensorRecord], Error> {
        let l = self.layout()?;
        let start = l.base + l.tensors_at;
        let bytes = self.arena.get(start..start + l.tensors * TENSOR_RECORD);
        bytes
            .and_then(|b| bytemuck::try_cast_slice(b).ok())
            .ok_or(Error::NotAllocated)
    }

    /// Bytes of the arena this model needs: alignment of the caller's
    /// slice, the head (activations and scratch, or the planner's working
    /// memory if that was larger) and the persistent tail. An arena of
    /// exactly this size works.
    pub fn arena_used_bytes(&self) -> usize {
        match self.layout {
            Some(l) => l.base + l.head.max(l.work) + (l.len - l.tail_start),
            None => 0,
        }
    }

    /// The parts of the arena; `total` counts from the aligned start.
    pub fn arena_usage(&self) -> Result<ArenaUsage, Error> {
        let l = self.layout()?;
        Ok(ArenaUsage {
            total: l.head.max(l.work) + (l.len - l.tail_start),
            activations: l.head,
            planning: l.work.saturating_sub(l.head),
            scratch: l.scratch,
            persistent: l.len - l.tail_start,
            lower_bound: l.lower_bound,
        })
    }

    /// Where the plan put tensor `k`.
    pub fn planned_tensor(&self, k: usize) -> Result<PlannedTensor, Error> {
        let records = self.records()?;
        let rec = records.get(k).ok_or(Error::NoSuchTensor {
            kind: text!("tensor"),
            index: k,
            count: records.len(),
        })?;
        let sg = self.subgraph()?;
        let t = sg.tensor(k)?;
        let data = self.model.buffer(t.buffer()? as usize)?.data()?;
        let (first, last) = lifetime(&sg, k)?;
        let kind = if t.is_variable()? {
            PlannedKind::Variable
        } else if !data.is_empty() {
            PlannedKind::Constant
        } else if first > last {
            PlannedKind::Unused
        } else if alias_root(&self.model, &sg, self.resolver, k)? != k {
            PlannedKind::Alias
        } else {
            PlannedKind::Activation
        };
        Ok(PlannedTensor {
            tensor: k,
            offset: rec.data_offset as usize,
            bytes: rec.bytes as usize,
            kind,
            first_op: first.min(last),
            last_op: last,
        })
    }

    pub fn inputs_len(&self) -> usize {
        self.subgraph()
            .and_then(|s| Ok(s.inputs()?.len()))
            .unwrap_or(0)
    }

    pub fn outputs_len(&self) -> usize {
        self.subgraph()
            .and_then(|s| Ok(s.outputs()?.len()))
            .unwrap_or(0)
    }

    fn io_tensor(&self, outputs: bool, i: usize) -> Result<usize, Error> {
        let l = self.layout()?;
        let (offset, len) = if outputs { l.outputs } else { l.inputs };
        let list = list_at(self.model.bytes(), offset, len);
        let kind = if outputs {
            text!("output")
        } else {
            text!("input")
        };
        list.get(i).map(|t| t as usize).ok_or(Error::NoSuchTensor {
            kind,
            index: i,
            count: list.len(),
        })
    }

    /// Type, shape, quantization and name of input `i` (or output `i`).
    pub fn io_info(&self, outputs: bool, i: usize) -> Result<IoInfo<'m>, Error> {
        let k = self.io_tensor(outputs, i)?;
        let sg = self.subgraph()?;
        let t = sg.tensor(k)?;
        let q = t.quantization()?;
        Ok(IoInfo {
            tensor: k,
            name: t.name()?,
            ty: t.tensor_type()?,
            shape: Shape::new(t.shape()?.as_bytes()),
            scale: q.and_then(|q| q.scale.get(0)).unwrap_or(0.0),
            zero_point: q.and_then(|q| q.zero_point.get(0)).unwrap_or(0) as i32,
        })
    }

    fn view(&self, k: usize) -> Result<TensorView<'_>, Error> {
        let l = self.layout()?;
        let rec = *self.records()?.get(k).ok_or(Error::NotAllocated)?;
        let start = rec.data_offset as usize;
        let end = start + rec.bytes as usize;
        let data = if rec.in_model() {
            self.model.bytes().get(start..end)
        } else {
            self.arena.get(l.base + start..l.base + end)
        };
        let data = data.ok_or(Error::NotAllocated)?;
        Ok(TensorView {
            ty: rec.tensor_type(),
            shape: rec.shape(self.model.bytes()),
            data,
        })
    }

    /// Input `i`, to read.
    pub fn input(&self, i: usize) -> Result<TensorView<'_>, Error> {
        self.view(self.io_tensor(false, i)?)
    }

    /// Input `i`, to fill before `invoke`.
    pub fn input_mut(&mut self, i: usize) -> Result<TensorViewMut<'_>, Error> {
        let k = self.io_tensor(false, i)?;
        let l = self.layout()?;
        let rec = *self.records()?.get(k).ok_or(Error::NotAllocated)?;
        let (start, len) = rec.arena_range().ok_or(Error::Access {
            kind: text!("input"),
            index: i,
            error: KernelError::Invalid(text!("input is a constant in the model")),
        })?;
        Ok(TensorViewMut {
            ty: rec.tensor_type(),
            shape: rec.shape(self.model.bytes()),
            data: self
                .arena
                .get_mut(l.base + start..l.base + start + len)
                .ok_or(Error::NotAllocated)?,
        })
    }

    /// Output `i`, to read after `invoke`.
    pub fn output(&self, i: usize) -> Result<TensorView<'_>, Error> {
        self.view(self.io_tensor(true, i)?)
    }

    /// Sets every variable tensor back to its initial value (zero, or the
    /// zero point for int8), the value `allocate_tensors` gave it.
    pub fn reset(&mut self) -> Result<(), Error> {
        let l = self.layout()?;
        for k in 0..l.tensors {
            // The records were placed by `allocate_tensors`, so are all there.
            let at = l.base + l.tensors_at + k * TENSOR_RECORD;
            let rec: TensorRecord =
                bytemuck::pod_read_unaligned(self.arena.part(at..at + TENSOR_RECORD));
            if let (Some(fill), Some((start, len))) = (rec.variable_fill(), rec.arena_range()) {
                let range = l.base + start..l.base + start + len;
                self.arena
                    .get_mut(range)
                    .ok_or(Error::NotAllocated)?
                    .fill(fill);
            }
        }
        Ok(())
    }

    /// Runs the model once.
    pub fn invoke(&mut self) -> Result<(), Error> {
        self.invoke_with(&mut NoProfiler)
    }

    /// Runs the model once, calling `profiler` around each operator.
    #[inline(never)]
    pub fn invoke_with<P: Profiler>(&mut self, profiler: &mut P) -> Result<(), Error> {
        let l = self.layout()?;
        let model = self.model;
        let model_bytes = model.bytes();
        // Offsets from here on are from the aligned base. The tensor table
        // stays shared outside every cut: it is read while the cut is made.
        let (head, rest) = self
            .arena
            .get_mut(l.base..l.base + l.len)
            .and_then(|a| a.split_at_mut_checked(l.tensors_at))
            .ok_or(Error::NotAllocated)?;
        let (records, tail) = rest
            .split_at_mut_checked(l.tensors * TENSOR_RECORD)
            .ok_or(Error::NotAllocated)?;
        let tail_at = l.tensors_at + records.len();
        let tensors: &[TensorRecord] =
            bytemuck::try_cast_slice(records).map_err(|_| Error::NotAllocated)?;
        let tables = Tables {
            tensors,
            model: model_bytes,
        };
        // The operator table is below the tensor table (reserved after it),
        // all of it: checked once here.
        if l.nodes_at + l.nodes * NODE_RECORD > head.len() {
            return Err(Error::NotAllocated);
        }
        for i in 0..l.nodes {
            let at = l.nodes_at + i * NODE_RECORD;
            let node: NodeRecord = bytemuck::pod_read_unaligned(head.part(at..at + NODE_RECORD));
            if node.skip() {
                continue;
            }
            let kernel = *self
                .resolver
                .kernel(node.kernel as usize)
                .ok_or(Error::NotAllocated)?;
            let inputs = node.inputs(model_bytes);
            let outputs = node.outputs(model_bytes);

            let mut gaps = Gaps::EMPTY;
            gaps.start(head, tail_at, tail);
            let mut muts = Muts::EMPTY;
            // The pieces this operator writes: outputs, variable inputs,
            // scratch; at most MAX_WRITABLE, repeats and empty ones included.
            let mut push = |range| {
                gaps.push(&mut muts, range).map_err(|e| match e {
                    CutError::TooMany => Error::TooManyWritable { index: i },
                    _ => Error::NotAllocated,
                })
            };
            for t in outputs.iter() {
                if let Some(r) = tensors.get(t as usize).and_then(TensorRecord::arena_range) {
                    push(r)?;
                }
            }
            // The inputs the kernel writes, in order: bit k set, input k.
            let mut writes = node.writes_inputs;
            while writes != 0 {
                let k = writes.trailing_zeros() as usize;
                writes &= writes - 1;
                let t = inputs.get(k).and_then(|t| usize::try_from(t).ok());
                if let Some(r) = t.and_then(|t| tensors.get(t)) {
                    if let Some(range) = r.arena_range().filter(|&(s, _)| s >= l.tail_start) {
                        push(range)?; // a variable tensor, kept in the tail
                    }
                }
            }
            for k in 0..MAX_SCRATCH {
                if node.scratch_len[k] > 0 {
                    push((
                        node.scratch_offset[k] as usize,
                        node.scratch_len[k] as usize,
                    ))?;
                }
            }
            let mut ctx = EvalContext {
                inputs: Inputs {
                    indices: inputs,
                    tables: &tables,
                    gaps: &gaps,
                },
                outputs: Outputs {
                    outputs,
                    inputs,
                    tables: &tables,
                    muts: &mut muts,
                },
                scratch: ScratchBuffers {
                    bufs: [const { None }; MAX_SCRATCH],
                },
                op_data: gaps
                    .get(node.op_data_offset as usize, node.op_data_len as usize)
                    .unwrap_or(&[]),
            };
            for k in 0..MAX_SCRATCH {
                if node.scratch_len[k] > 0 {
                    ctx.scratch.bufs[k] = ctx.outputs.muts.take(
                        node.scratch_offset[k] as usize,
                        node.scratch_len[k] as usize,
                    );
                }
            }
            profiler.begin(i);
            let result = (kernel.eval)(&mut ctx);
            profiler.end(i);
            if let Err(error) = result {
                return Err(Error::eval(&model, i, error));
            }
        }
        Ok(())
    }
}

/// Type, shape and quantization of a model input or output.
#[derive(Clone, Copy, Debug)]
pub struct IoInfo<'m> {
    pub tensor: usize,
    pub name: Option<&'m str>,
    pub ty: TensorType,
    pub shape: Shape<'m>,
    pub scale: f32,
    pub zero_point: i32,
}

/// Writes the tensor records: constants point into the model, variables
/// get persistent memory now, activations are placed by the plan later.
/// Variables start at their initial value.
fn record_tensors(
    model: &Model<'_>,
    sg: &Subgraph<'_>,
    tail: &mut Tail<'_>,
    tensors_at: Option<usize>,
    n_tensors: usize,
) -> Result<(), Error> {
    let model_bytes = model.bytes();
    for k in 0..n_tensors {
        // One read of everything about the tensor, then the runtime's own
        // checks.
        let info = tensor_info(model, sg, k)?;
        let ty = info.ty;
        let shape = info.shape.bytes();
        let bad = |problem| Error::Tensor { index: k, problem };
        // In 64 bits, saturating: anything past 32 bits is too large anyway.
        let mut elements: u64 = 1;
        for d in Scalars::<i32>::new(shape).iter() {
            let d = u64::try_from(d).map_err(|_| bad(TensorProblem::DynamicShape))?;
            elements = elements.saturating_mul(d);
        }
        let data = info.constant.unwrap_or(&[]);
        let constant = info.constant.is_some();
        let size = ty.size_bytes();
        let bytes = match size {
            Some(size) => elements.saturating_mul(size as u64),
            None if constant => data.len() as u64, // e.g. packed INT4 weights, read by their kernel
            None if elements == 0 => 0,
            None => return Err(bad(TensorProblem::UnsupportedType(ty))),
        };
        let bytes32 = u32::try_from(bytes).map_err(|_| bad(TensorProblem::TooLarge))?;
        let bytes = bytes32 as usize;
        if constant && data.len() != bytes {
            return Err(bad(TensorProblem::BufferSize {
                has: data.len(),
                needs: bytes,
            }));
        }
        if let Some(q) = info.quantization {
            check_quantization(ty, &q).map_err(bad)?;
        }
        let record = |in_model: bool, at: usize| {
            let rank = shape.len() / 4;
            let dims = offset_in(model_bytes, shape);
            TensorRecord::new(ty, in_model, rank, at as u32, bytes32, dims)
        };
        // `align` is a power of two (1 to 16).
        let align = size.unwrap_or(1).max(1);
        let record = if constant && (data.as_ptr() as usize) & (align - 1) == 0 {
            record(true, offset_in(model_bytes, data) as usize).constant()
        } else if constant {
            // The model sits at an address that misaligns this constant
            // for its type: keep an aligned copy.
            let at = tail.reserve(bytes);
            if let Some(dest) = at.and_then(|at| tail.bytes_mut(at, bytes)) {
                copy(dest, data);
            }
            record(false, at.unwrap_or(0)).constant()
        } else if info.is_variable {
            let fill = match (ty, info.quantization) {
                (TensorType::Int8, Some(q)) => q.zero_point.get(0).unwrap_or(0) as i8 as u8,
                _ => 0,
            };
            // Its initial value now, as `reset` sets it (planning leaves
            // the tail alone).
            let at = tail.reserve(bytes);
            if let Some(dest) = at.and_then(|at| tail.bytes_mut(at, bytes)) {
                dest.fill(fill);
            }
            record(false, at.unwrap_or(0)).variable(fill)
        } else {
            record(false, 0)
        };
        if let Some(at) = tensors_at {
            write_pod(tail, at + k * TENSOR_RECORD, &record);
        }
    }
    Ok(())
}

// Operator errors, built out of line (they are rare); with `error-text`
// they name the operator, read again from the model only then.
#[allow(unused_variables)]
impl Error {
    #[cold]
    #[inline(never)]
    fn unsupported_op(model: &Model<'_>, index: usize) -> Error {
        Error::UnsupportedOp {
            index,
            #[cfg(feature = "error-text")]
            op: op_name(model, index),
        }
    }

    #[cold]
    #[inline(never)]
    fn prepare(model: &Model<'_>, index: usize, error: KernelError) -> Error {
        Error::Prepare {
            index,
            #[cfg(feature = "error-text")]
            op: op_name(model, index),
            error,
        }
    }

    #[cold]
    #[inline(never)]
    fn eval(model: &Model<'_>, index: usize, error: KernelError) -> Error {
        Error::Eval {
            index,
            #[cfg(feature = "error-text")]
            op: op_name(model, index),
            error,
        }
    }
}

/// The name of operator `i`, for an error message.
#[cfg(feature = "error-text")]
fn op_name(model: &Model<'_>, i: usize) -> OpName {
    let kind = model
        .subgraph(0)
        .and_then(|sg| sg.operator(i))
        .and_then(|op| model.opcode_of(&op))
        .and_then(|code| code.kind());
    match kind {
        Ok(kind) => OpName::of(kind),
        Err(_) => OpName::Builtin(BuiltinOperator(-1)),
    }
}

/// The `int32` index list of `len` entries at `offset` in the model.
// Out of line: one copy serves planning, `invoke` and the tensor accessors.
#[inline(never)]
fn list_at(model: &[u8], offset: u32, len: u32) -> Scalars<'_, i32> {
    let start = offset as usize;
    let end = start.saturating_add(len as usize * 4);
    Scalars::new(model.get(start..end).unwrap_or(&[]))
}

/// What `prepare` may know of tensor `k`.
fn tensor_info<'m>(
    model: &Model<'m>,
    sg: &Subgraph<'m>,
    k: usize,
) -> Result<TensorInfo<'m>, ReadError> {
    let t = sg.tensor(k)?.runtime_fields()?;
    let data = model.buffer(t.buffer as usize)?.data()?;
    Ok(TensorInfo {
        index: k,
        ty: t.ty,
        shape: Shape::new(t.shape.as_bytes()),
        quantization: t.quantization,
        constant: (!data.is_empty() && !t.is_variable).then_some(data),
        is_variable: t.is_variable,
    })
}

/// Zero points inside the type's range, scales finite and not negative
/// (zero is a channel of zero weights), so kernels can trust them.
fn check_quantization(
    ty: TensorType,
    q: &crate::schema::Quantization<'_>,
) -> Result<(), TensorProblem> {
    // The type's range moved to start at 0: one unsigned compare a value.
    let (bias, max) = match ty {
        TensorType::Int8 => (128, 255),
        TensorType::UInt8 => (0, 255),
        TensorType::Int16 => (32768, 65535),
        _ => (0, u64::MAX),
    };
    if let Some(z) = q
        .zero_point
        .iter()
        .find(|z| z.wrapping_add(bias) as u64 > max)
    {
        return Err(TensorProblem::ZeroPoint(z));
    }
    // Finite and not negative (-0.0 is zero), on the bits: no float
    // compares, which are library calls on cores without an FPU.
    let bad_scale = |s: f32| {
        let bits = s.to_bits();
        bits != 0x8000_0000 && bits >= 0x7f80_0000
    };
    if q.scale.iter().any(bad_scale) {
        return Err(TensorProblem::Scale);
    }
    Ok(())
}

fn write_pod<T: Pod>(tail: &mut Tail<'_>, at: usize, value: &T) {
    write_bytes(tail, at, bytemuck::bytes_of(value));
}

// Out of line and not generic, like `list_at`: one copy serves every
// record type.
#[inline(never)]
fn write_bytes(tail: &mut Tail<'_>, at: usize, bytes: &[u8]) {
    if let Some(dest) = tail.bytes_mut(at, bytes.len()) {
        dest.copy_from_slice(bytes);
    }
}

/// First and last operator that use tensor `k` (first > last: unused).
/// Subgraph inputs live from the start, outputs to the end.
fn lifetime(sg: &Subgraph<'_>, k: usize) -> Result<(usize, usize), Error> {
    let n_ops = sg.operators_len()?;
    let (mut first, mut last) = (usize::MAX, 0usize);
    let mut used = false;
    if sg.inputs()?.iter().any(|t| t as usize == k) {
        first = 0;
        used = true;
    }
    for i in 0..n_ops {
        let op = sg.operator(i)?;
        let touches = op
            .inputs()?
            .iter()
            .chain(op.outputs()?.iter())
            .chain(op.intermediates()?.iter());
        for t in touches {
            if t >= 0 && t as usize == k {
                first = first.min(i);
                last = last.max(i);
                used = true;
            }
        }
    }
    if sg.outputs()?.iter().any(|t| t as usize == k) {
        first = first.min(n_ops.saturating_sub(1));
        last = n_ops.saturating_sub(1);
        used = true;
    }
    Ok(if used { (first, last) } else { (1, 0) })
}

/// The tensor whose bytes tensor `k` shares: itself, unless it is the output
/// of a view operator (RESHAPE, ...), then its input's root.
fn alias_root<R: OpResolver>(
    model: &Model<'_>,
    sg: &Subgraph<'_>,
    resolver: &R,
    k: usize,
) -> Result<usize, Error> {
    let mut k = k;
    // Each step moves to an earlier operator, so this ends.
    'outer: for _ in 0..=sg.operators_len()? {
        for i in 0..sg.operators_len()? {
            let op = sg.operator(i)?;
            if op.outputs()?.get(0).is_some_and(|t| t as usize == k) {
                let kind = model.opcode_of(&op)?.kind()?;
                let aliases = resolver
                    .find(kind)
                    .and_then(|x| resolver.kernel(x))
                    .is_some_and(|kernel| kernel.output_aliases_input);
                match op.inputs()?.get(0) {
                    Some(src) if aliases && src >= 0 => {
                        k = src as usize;
                        continue 'outer;
                    }
                    _ => break 'outer,
                }
            }
        }
        break;
    }
    Ok(k)
}

enum PlanFailure {
    NoRoom { work: usize },
    Error(Error),
}

impl From<ReadError> for PlanFailure {
    fn from(e: ReadError) -> Self {
        PlanFailure::Error(e.into())
    }
}

impl From<PlanError> for PlanFailure {
    fn from(e: PlanError) -> Self {
        PlanFailure::Error(e.into())
    }
}

struct HeadPlan {
    head: usize,
    /// Working memory the planner used at the start of the arena.
    work: usize,
    scratch: Option<usize>,
    lower_bound: Option<usize>,
}

/// Plans activations and scratch buffers, writes their offsets into the
/// tensor and node records, and returns the head size.
#[allow(clippy::result_large_err)]
#[inline(never)]
fn plan_head(
    model: &Model<'_>,
    (sg_inputs, sg_outputs): (Scalars<'_, i32>, Scalars<'_, i32>),
    head: &mut [u8],
    nodes: &mut [NodeRecord],
    recs: &mut [TensorRecord],
    planning: Planning,
) -> Result<HeadPlan, PlanFailure> {
    // Tensor indices were checked by `Model::from_bytes`: lookups use `get`
    // (an impossible miss skips) rather than indexing, whose panic paths
    // cost flash in firmware.
    let n_tensors = recs.len();
    let model_bytes = model.bytes();

    // Working memory, at the start of the head: per tensor its root and
    // lifetime; then the plan buffers and the planner's own scratch.
    let buffer_words = core::mem::size_of::<PlanBuffer>() / 4;
    let work_for = |buffers: usize| {
        4 * (3 * n_tensors + buffers * buffer_words + planner::scratch_words(buffers))
    };
    // Per tensor `[root, first, last]`: one array, so one split and one
    // argument for `touch`. If they do not fit, the passes below run on no
    // tensors, only to count the scratch buffers for the error (which
    // counts every tensor as a buffer); that error comes before any read
    // of the offline plan.
    let head_len = head.len();
    let split = bytemuck::try_cast_slice_mut::<u8, u32>(&mut head[..head_len & !3])
        .ok()
        .and_then(|work| work.split_at_mut_checked(3 * n_tensors));
    let fits = split.is_some();
    let (lives, rest) = split.unwrap_or_default();
    let (lives, _) = lives.as_chunks_mut::<3>();

    // Roots: view outputs share their input's bytes (nodes marked skip).
    // Lifetimes start empty (first past last).
    for (k, life) in lives.iter_mut().enumerate() {
        *life = [k as u32, u32::MAX, 0];
    }
    for node in nodes.iter().filter(|n| n.skip()) {
        let (inputs, outputs) = (node.inputs(model_bytes), node.outputs(model_bytes));
        if let (Some(src), Some(dst)) = (inputs.get(0), outputs.get(0)) {
            if let Some(&[r, ..]) = lives.get(src as usize) {
                if let Some([d, ..]) = lives.get_mut(dst as usize) {
                    *d = r;
                }
            }
        }
    }
    // Lifetimes, gathered on the roots. Subgraph inputs live from the
    // start, outputs to the end.
    let end = nodes.len().saturating_sub(1) as u32;
    touch(sg_inputs, 0, lives);
    touch(sg_outputs, end, lives);
    for (i, node) in nodes.iter().enumerate() {
        let lists = [
            (node.inputs_offset, node.inputs_len),
            (node.outputs_offset, node.outputs_len),
            (node.intermediates_offset, node.intermediates_len),
        ];
        for (offset, len) in lists {
            touch(list_at(model_bytes, offset, len), i as u32, lives);
        }
    }

    // One plan buffer per root activation (not a constant, not a variable,
    // used), then one per scratch buffer: written at the start of `rest`
    // while it has room, and counted in the same pass (the count tells the
    // working memory needed).
    let in_arena = |rec: &TensorRecord| !rec.is_constant() && rec.variable_fill().is_none();
    // `PlanBuffer` is all `u32`s: the prefix is empty and `slots` starts
    // where `rest` does (the buffers below are the same memory).
    let (_, slots, _) = bytemuck::pod_align_to_mut::<u32, PlanBuffer>(rest);
    let mut n = if fits { 0 } else { n_tensors };
    for (k, rec) in recs.iter().enumerate() {
        let Some([root, f, l]) = lives.get_mut(k) else {
            break;
        };
        let l = *l;
        if !(in_arena(rec) && *root == k as u32 && *f <= l) {
            // Not planned: a slot past the buffers (see the write-back).
            *f = u32::MAX;
            continue;
        }
        if let Some(slot) = slots.get_mut(n) {
            *slot = PlanBuffer::new(rec.bytes, *f, l);
        }
        // Remember which buffer tensor k became, in its `first` slot (no
        // longer needed).
        *f = n as u32;
        n += 1;
    }
    let activation_buffers = n;
    for (i, node) in nodes.iter().enumerate() {
        for &size in node.scratch_len.iter().filter(|&&s| s > 0) {
            if let Some(slot) = slots.get_mut(n) {
                *slot = PlanBuffer::new(size, i as u32, i as u32);
            }
            n += 1;
        }
    }
    let work_bytes = work_for(n);
    let room = PlanFailure::NoRoom { work: work_bytes };
    if !fits {
        return Err(room);
    }
    // Offline plan, if the model has one: fixed offsets for those tensors.
    let offline = model.offline_memory_plan()?.filter(|p| p.subgraph == 0);
    if rest.len() < n * buffer_words + planner::scratch_words(n) {
        return Err(room);
    }
    let Some((buffer_space, plan_scratch)) = rest.split_at_mut_checked(n * buffer_words) else {
        return Err(room);
    };
    // The whole of `buffer_space` (same alignment, a multiple of the size).
    let (_, buffers, _) = bytemuck::pod_align_to_mut::<u32, PlanBuffer>(buffer_space);
    // Fixed offsets from the offline plan, for planned tensors only (`b`
    // is an activation buffer for those, past the buffers for the others).
    if let Some(offline) = offline {
        let offsets = Scalars::<i32>::new(offline.offsets);
        for (&[_, b, _], offset) in lives.iter().zip(offsets.iter()) {
            // Negative (-1): left to the planner.
            if let (Some(buffer), Ok(offset)) = (buffers.get_mut(b as usize), u32::try_from(offset))
            {
                buffer.offset = offset;
                buffer.fixed = 1;
            }
        }
    }
    let lower_bound = cfg!(feature = "greedy-plan").then(|| planner::lower_bound(buffers) as usize);
    let head_size = planner::plan_with(buffers, plan_scratch, planning)? as usize;
    // Planned sizes are rounded up to the arena's alignment already.
    debug_assert_eq!(head_size % ALIGN, 0);
    let scratch_peak = cfg!(feature = "greedy-plan").then(|| {
        planner::lower_bound(buffers.get(activation_buffers..).unwrap_or_default()) as usize
    });

    // Write the offsets back: activations (and their views), then scratch.
    for k in 0..n_tensors {
        let r = lives.get(k).map_or(k, |&[r, ..]| r as usize);
        let (Some(&root_rec), Some(&[_, b, _])) = (recs.get(r), lives.get(r)) else {
            continue;
        };
        let Some(rec) = recs.get_mut(k) else { continue };
        if in_arena(&root_rec) {
            // Unused roots were never planned: their slot is past the
            // buffers. Planned ones are activation buffers.
            if let Some(b) = buffers.get(b as usize) {
                rec.data_offset = b.offset;
            }
        } else if r != k {
            // A view of a constant or a variable: the same bytes.
            *rec = rec.view_of(&root_rec);
        }
    }
    let mut next_scratch = activation_buffers;
    for node in nodes.iter_mut() {
        for (offset, &len) in node.scratch_offset.iter_mut().zip(&node.scratch_len) {
            if len > 0 {
                *offset = buffers.get(next_scratch).map_or(0, |b| b.offset);
                next_scratch += 1;
            }
        }
    }
    Ok(HeadPlan {
        head: head_size,
        work: align_up(work_bytes).unwrap_or(work_bytes),
        scratch: scratch_peak,
        lower_bound,
    })
}

/// Widens the lifetimes (`[root, first, last]` per tensor) of the roots of
/// the tensors in `list` to cover operator `at`.
#[inline(never)]
fn touch(list: Scalars<'_, i32>, at: u32, lives: &mut [[u32; 3]]) {
    for t in list.iter().filter_map(|t| usize::try_from(t).ok()) {
        let r = lives.get(t).map_or(usize::MAX, |&[r, ..]| r as usize);
        if let Some([_, first, last]) = lives.get_mut(r) {
            (*first, *last) = ((*first).min(at), (*last).max(at));
        }
    }
}

/// The record stored at byte `at` of `bytes`; a zero record if it is not
/// all there (never, for records this module placed).
fn read_pod<T: Pod>(bytes: &[u8], at: usize) -> T {
    bytes
        .get(at..at.saturating_add(core::mem::size_of::<T>()))
        .and_then(|b| bytemuck::try_pod_read_unaligned(b).ok())
        .unwrap_or_else(T::zeroed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolver::{AllOpsResolver, MutableOpResolver};
    use crate::schema::op;
    use crate::testing::{fb, OpTest, T};

    fn add_options(
        b: &mut flatbuffers::FlatBufferBuilder<'static>,
    ) -> (
        fb::BuiltinOptions,
        flatbuffers::WIPOffset<flatbuffers::UnionWIPOffset>,
    ) {
        let o = fb::AddOptions::create(b, &fb::AddOptionsArgs::default());
        (fb::BuiltinOptions::AddOptions, o.as_union_value())
    }

    fn add_test() -> OpTest {
        OpTest::new(op::ADD)
            .input(T::f32(&[1, 4], &[1.0, 2.0, 3.0, 4.0]))
            .input(T::f32(&[1, 4], &[10.0, 20.0, 30.0, 40.0]))
            .output(T::out(TensorType::Float32, &[1, 4]))
            .options(add_options)
    }

    #[test]
    fn zero_points_outside_their_type_and_bad_scales_are_refused() {
        // An input of type `ty` with `zero_point`, through an operator that
        // is never reached: allocate_tensors checks the tensors first.
        let check = |t: T| {
            OpTest::new(op::ADD)
                .input(t)
                .output(T::out(TensorType::Float32, &[1]))
                .options(add_options)
                .run_with(&MutableOpResolver::<1>::new(), 4096)
                .unwrap_err()
        };
        let zero_point = |t: T, z: i64| check(t.q(0.5, z));
        let tensors = [
            T::i8(&[1], &[0]),
            T::out(TensorType::UInt8, &[1]),
            T::i16(&[1], &[0]),
        ];
        let ranges = [(-128, 127), (0, 255), (-32768, 32767)];
        for (tensor, (lo, hi)) in tensors.iter().zip(ranges) {
            let tensor = || tensor.clone();
            for z in [lo, hi] {
                let err = zero_point(tensor(), z);
                assert!(matches!(err, Error::UnsupportedOp { .. }), "{z}: {err}");
            }
            for z in [lo - 1, hi + 1, i64::MIN, i64::MAX] {
                let err = zero_point(tensor(), z);
                assert!(
                    matches!(
                        err,
                        Error::Tensor {
                            index: 0,
                            problem: TensorProblem::ZeroPoint(_)
                        }
                    ),
                    "{z}: {err}"
                );
            }
        }
        // Any zero point for a type without a range (int32 here).
        let err = check(T::i32(&[1], &[0]).q(1.0, i64::MAX));
        assert!(matches!(err, Error::UnsupportedOp { .. }), "{err}");
        for scale in [f32::NAN, f32::INFINITY, -1.0] {
            let err = check(T::i8(&[1], &[0]).q(scale, 0));
            let problem = TensorProblem::Scale;
            assert!(
                matches!(err, Error::Tensor { index: 0, problem: p } if p == problem),
                "{scale}: {err}"
            );
        }
        let err = check(T::i8(&[1], &[0]).q(-0.0, 0));
        assert!(matches!(err, Error::UnsupportedOp { .. }), "-0.0: {err}");
    }

    #[test]
    fn unsupported_op_is_named_with_its_index() {
        let err = add_test()
            .run_with(&MutableOpResolver::<1>::new(), 4096)
            .unwrap_err();
        assert!(matches!(err, Error::UnsupportedOp { index: 0, .. }));
        #[cfg(feature = "error-text")]
        {
            assert!(matches!(
                err,
                Error::UnsupportedOp {
                    op: OpName::Builtin(op::ADD),
                    ..
                }
            ));
            assert_eq!(
                std::format!("{err}"),
                "operator 0 (ADD): no kernel registered for it; add one to the op resolver"
            );
        }
    }

    #[test]
    fn a_resolver_with_only_the_needed_kernel_runs_the_model() {
        let mut r = MutableOpResolver::<1>::new();
        r.register(op::ADD, crate::kernels::add::KERNEL).unwrap();
        let out = add_test().run_with(&r, 4096).unwrap();
        assert_eq!(out.f32(0), [11.0, 22.0, 33.0, 44.0]);
    }

    #[test]
    fn arena_too_small_says_how_much_is_needed() {
        let needed = add_test().run().unwrap().arena_bytes;
        assert!(add_test().run_with(&AllOpsResolver, needed).is_ok());
        // Exact, or a lower bound when the planner's working memory ran out first.
        match add_test()
            .run_with(&AllOpsResolver, needed - 16)
            .unwrap_err()
        {
            Error::ArenaTooSmall {
                needed: n, exact, ..
            } => {
                assert!(n > needed - 16 && n <= needed);
                assert!(!exact || n == needed);
            }
            e => panic!("{e}"),
        }
        for small in [0, 16, 100] {
            match add_test().run_with(&AllOpsResolver, small).unwrap_err() {
                Error::ArenaTooSmall { needed: n, .. } => assert!(n > small && n <= needed),
                e => panic!("{e}"),
            }
        }
    }

    #[test]
    fn using_tensors_before_allocate_is_an_error() {
        let mut t = add_test();
        let bytes = t.build();
        let model = Model::from_bytes(&bytes).unwrap();
        let mut arena = [0u8; 1024];
        let mut i = Interpreter::new(&model, &AllOpsResolver, &mut arena);
        assert!(matches!(i.invoke(), Err(Error::NotAllocated)));
        assert!(matches!(i.input(0), Err(Error::NotAllocated)));
        assert_eq!(i.arena_used_bytes(), 0);
        i.allocate_tensors().unwrap();
        assert!(matches!(
            i.input(5),
            Err(Error::NoSuchTensor {
                index: 5,
                count: 2,
                ..
            })
        ));
        assert!(matches!(
            i.output(1),
            Err(Error::NoSuchTensor { index: 1, .. })
        ));
        // Which list, in the message (the kind is a text).
        #[cfg(feature = "error-text")]
        {
            let input = std::format!("{}", i.input(5).unwrap_err());
            let output = std::format!("{}", i.output(1).unwrap_err());
            assert_eq!(input, "input 5 does not exist (the model has 2)");
            assert_eq!(output, "output 1 does not exist (the model has 1)");
        }
        let info = i.io_info(false, 1).unwrap();
        assert_eq!(
            (info.ty, info.shape.num_elements()),
            (TensorType::Float32, 4)
        );
    }

    #[test]
    fn offline_plan_offsets_are_kept() {
        // Tensors: input 0, input 1, output 2; put them at 64, 0 and 128.
        let out = add_test().offline_plan(&[64, 0, 128]).run().unwrap();
        assert_eq!(out.f32(0), [11.0, 22.0, 33.0, 44.0]);
        assert_eq!(out.offsets, [64, 0, 128]);
        // -1 leaves a tensor to the online planner.
        let out = add_test().offline_plan(&[-1, 64, -1]).run().unwrap();
        assert_eq!(out.offsets[1], 64);
        assert!(out.offsets[0] != 64 && out.offsets[2] != 64);
    }

    #[test]
    fn variables_start_at_their_zero_point_and_reset_restores_it() {
        let mut t = OpTest::new(op::ADD)
            .input(T::i8(&[1, 2], &[1, 2]).q(0.5, 0))
            .input(T::i8(&[1, 2], &[9, 9]).q(0.5, -3).variable())
            .output(T::out(TensorType::Int8, &[1, 2]).q(0.5, 0))
            .options(add_options);
        let bytes = t.build();
        let model = Model::from_bytes(&bytes).unwrap();
        let mut arena = std::vec![0u128; 256];
        let mut i = Interpreter::new(
            &model,
            &AllOpsResolver,
            bytemuck::cast_slice_mut(&mut arena),
        );
        i.allocate_tensors().unwrap();
        i.input_mut(0)
            .unwrap()
            .as_i8_mut()
            .unwrap()
            .copy_from_slice(&[1, 2]);
        i.invoke().unwrap();
        // The variable reads as its zero point (-3): real 0, so out = in.
        assert_eq!(i.output(0).unwrap().as_i8().unwrap(), [1, 2]);
        i.reset().unwrap();
        i.invoke().unwrap();
        assert_eq!(i.output(0).unwrap().as_i8().unwrap(), [1, 2]);
    }

    #[test]
    fn a_dynamic_shape_is_refused() {
        let err = OpTest::new(op::ADD)
            .input(T::f32(&[-1, 4], &[]))
            .input(T::f32(&[1, 4], &[0.0; 4]))
            .output(T::out(TensorType::Float32, &[1, 4]))
            .options(add_options)
            .run()
            .unwrap_err();
        assert!(std::format!("{err}").contains("dynamic"), "{err}");
    }

    #[cfg(feature = "error-text")]
    #[test]
    fn custom_op_names_stay_valid_utf8_when_cut() {
        // 41 bytes: the cut at 32 splits the 16th "é".
        let long = std::format!("a{}", "é".repeat(20));
        let name = OpName::of(crate::schema::OpKind::Custom(long.as_bytes()));
        let text = std::format!("{name}");
        assert_eq!(text, std::format!("a{}", "é".repeat(15)));
    }
}
