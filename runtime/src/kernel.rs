//! The kernel interface: what an operator implementation sees.
//!
//! A kernel is two plain functions. `prepare` runs once, in
//! `allocate_tensors`: it checks the operator's tensors, computes whatever it
//! can ahead of time (quantized multipliers, ...), stores that as per-op data
//! in the arena, and asks for scratch memory. `eval` runs at every `invoke`
//! with read-only inputs, writable outputs and scratch, and its per-op data.
//! (TFLM's separate `init` step is folded into `prepare`: both only read the
//! model, so one step is enough.)
//!
//! Any kernel with the same two functions can replace another for an op in
//! the op resolver; the interpreter does not know which one it runs.

use crate::arena::{Gaps, Muts, TensorRecord};
use crate::schema::{Model, Operator, Quantization, Scalars, TensorType, Text};
use crate::tensor::{Shape, TensorView, TensorViewMut};
use bytemuck::Pod;

/// An operator implementation.
#[derive(Clone, Copy)]
pub struct Kernel {
    pub prepare: fn(&mut PrepareContext<'_, '_>) -> Result<(), KernelError>,
    pub eval: fn(&mut EvalContext<'_>) -> Result<(), KernelError>,
    /// The output is a view of input 0 with another shape (RESHAPE and the
    /// like): the planner gives both the same bytes and `eval` never runs.
    pub output_aliases_input: bool,
}

/// Why a kernel refused an operator or failed to run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("tensor has type {found}, expected {expected}")]
    WrongType {
        found: TensorType,
        expected: TensorType,
    },
    #[error("{} has an unsupported type {}", Text(.0), .1)]
    UnsupportedType(&'static str, TensorType),
    #[error("input {0} is missing")]
    MissingInput(usize),
    #[error("output {0} is missing")]
    MissingOutput(usize),
    #[error("shapes do not fit: {}", Text(.0))]
    Shape(&'static str),
    #[error("{}", Text(.0))]
    Invalid(&'static str),
    #[error("not supported: {}", Text(.0))]
    Unsupported(&'static str),
    #[error("tensor data is not aligned for its type")]
    Misaligned,
    #[error("per-op data missing or too short")]
    OpData,
    #[error("tensor is not in the arena where the plan put it")]
    Plan,
    #[error("{0}")]
    Model(crate::schema::ReadError),
}

impl From<crate::schema::ReadError> for KernelError {
    fn from(e: crate::schema::ReadError) -> Self {
        KernelError::Model(e)
    }
}

/// What `prepare` may know of a tensor: its type, shape, quantization, and
/// its data if it is a constant.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo<'m> {
    pub index: usize,
    pub ty: TensorType,
    pub shape: Shape<'m>,
    pub quantization: Option<Quantization<'m>>,
    /// The data of a constant tensor; `None` for activations and variables.
    pub constant: Option<&'m [u8]>,
    pub is_variable: bool,
}

impl<'m> TensorInfo<'m> {
    /// The (first) scale; 0 when the tensor is not quantized.
    pub fn scale(&self) -> f32 {
        self.quantization
            .and_then(|q| q.scale.get(0))
            .unwrap_or(0.0)
    }

    /// The (first) zero point; 0 when the tensor is not quantized.
    pub fn zero_point(&self) -> i32 {
        self.quantization
            .and_then(|q| q.zero_point.get(0))
            .map(|z| z.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
            .unwrap_or(0)
    }

    /// All scales (one per channel for per-channel quantization).
    pub fn scales(&self) -> Option<Scalars<'m, f32>> {
        self.quantization.map(|q| q.scale)
    }

    pub fn num_elements(&self) -> usize {
        self.shape.num_elements()
    }

    /// Fails unless the tensor has type `ty`.
    pub fn expect(&self, ty: TensorType) -> Result<(), KernelError> {
        if self.ty == ty {
            Ok(())
        } else {
            Err(KernelError::WrongType {
                found: self.ty,
                expected: ty,
            })
        }
    }

    /// The constant data as `T` (e.g. `i32` biases); an error if the tensor
    /// is not constant or its bytes are not aligned for `T`.
    pub fn constant_as<T: Pod>(&self) -> Result<&'m [T], KernelError> {
        let data = self
            .constant
            .ok_or(KernelError::Invalid(text!("expected a constant tensor")))?;
        bytemuck::try_cast_slice(data).map_err(|_| KernelError::Misaligned)
    }
}

/// Largest number of scratch buffers one operator may ask for.
pub const MAX_SCRATCH: usize = 2;

/// Per-op state that `prepare` fills and the interpreter keeps.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PreparedOp {
    pub op_data: Option<(usize, usize)>,
    pub scratch_bytes: [u32; MAX_SCRATCH],
    pub scratch_count: usize,
    pub writes_inputs: u32,
}

/// Persistent memory at the end of the arena, handed out downwards.
pub(crate) trait Persistent {
    /// Reserves `len` bytes (16-aligned); returns their arena offset, or
    /// `None` when the arena is full (the interpreter keeps counting, to say
    /// how much it would need).
    fn reserve(&mut self, len: usize) -> Option<usize>;
    fn bytes_mut(&mut self, offset: usize, len: usize) -> Option<&mut [u8]>;
}

/// What `prepare` gets.
pub struct PrepareContext<'c, 'm> {
    pub model: Model<'m>,
    /// The operator, for its options (`ctx.op.options::<Conv2DOptions>()`).
    pub op: Operator<'m>,
    pub(crate) inputs: Scalars<'m, i32>,
    pub(crate) outputs: Scalars<'m, i32>,
    pub(crate) tensor: &'c dyn Fn(usize) -> Result<TensorInfo<'m>, KernelError>,
    pub(crate) persistent: &'c mut dyn Persistent,
    pub(crate) prepared: &'c mut PreparedOp,
}

impl<'m> PrepareContext<'_, 'm> {
    pub fn inputs_len(&self) -> usize {
        self.inputs.len()
    }

    pub fn outputs_len(&self) -> usize {
        self.outputs.len()
    }

    /// Input `i`, or `None` when the model leaves that optional input out.
    pub fn optional_input(&self, i: usize) -> Result<Option<TensorInfo<'m>>, KernelError> {
        match self.inputs.get(i) {
            None | Some(-1) => Ok(None),
            Some(t) => (self.tensor)(t as usize).map(Some),
        }
    }

    pub fn input(&self, i: usize) -> Result<TensorInfo<'m>, KernelError> {
        self.optional_input(i)?.ok_or(KernelError::MissingInput(i))
    }

    pub fn output(&self, i: usize) -> Result<TensorInfo<'m>, KernelError> {
        match self.outputs.get(i) {
            Some(t) if t >= 0 => (self.tensor)(t as usize),
            _ => Err(KernelError::MissingOutput(i)),
        }
    }

    /// Reserves `len` bytes of per-op data for this operator (once per
    /// operator); fill it with [`write_op_data`](Self::write_op_data).
    pub fn alloc_op_data(&mut self, len: usize) -> Result<(), KernelError> {
        if self.prepared.op_data.is_some() {
            return Err(KernelError::Invalid(text!("per-op data allocated twice")));
        }
        let offset = self.persistent.reserve(len).unwrap_or(usize::MAX);
        self.prepared.op_data = Some((offset, len));
        Ok(())
    }

    /// Writes `values` at byte `at` of the per-op data. When the arena is
    /// too small the write is dropped: `allocate_tensors` fails anyway.
    pub fn write_op_data<T: Pod>(&mut self, at: usize, values: &[T]) -> Result<(), KernelError> {
        let (offset, len) = self.prepared.op_data.ok_or(KernelError::OpData)?;
        let bytes: &[u8] = bytemuck::try_cast_slice(values).map_err(|_| KernelError::OpData)?;
        let end = at.checked_add(bytes.len()).ok_or(KernelError::OpData)?;
        if end > len {
            return Err(KernelError::OpData);
        }
        if offset == usize::MAX {
            return Ok(());
        }
        let dest = self
            .persistent
            .bytes_mut(offset + at, bytes.len())
            .ok_or(KernelError::OpData)?;
        if dest.len() != bytes.len() {
            return Err(KernelError::OpData);
        }
        dest.copy_from_slice(bytes);
        Ok(())
    }

    /// Declares that `eval` writes input `i`, a variable tensor (the state
    /// of SVDF, LSTM, ...): it then takes it with
    /// [`Outputs::take_variable_input`] instead of reading it from `inputs`.
    pub fn writes_input(&mut self, i: usize) -> Result<(), KernelError> {
        let info = self.input(i)?;
        if !info.is_variable || i >= 32 {
            return Err(KernelError::Invalid(text!(
                "only a variable input can be written"
            )));
        }
        self.prepared.writes_inputs |= 1 << i;
        Ok(())
    }

    /// Asks for `bytes` of scratch memory, valid only during this operator's
    /// `eval`; returns its index for [`Scratch::take`].
    pub fn request_scratch(&mut self, bytes: usize) -> Result<usize, KernelError> {
        let k = self.prepared.scratch_count;
        if k >= MAX_SCRATCH {
            return Err(KernelError::Invalid(text!(
                "too many scratch buffers for one operator"
            )));
        }
        self.prepared.scratch_bytes[k] = u32::try_from(bytes)
            .map_err(|_| KernelError::Invalid(text!("scratch buffer too large")))?;
        self.prepared.scratch_count += 1;
        Ok(k)
    }
}

/// What the inputs and outputs of every operator share: the tensor table
/// and the model (for constants and shapes).
pub(crate) struct Tables<'a> {
    pub(crate) tensors: &'a [TensorRecord],
    pub(crate) model: &'a [u8],
}

/// Read-only inputs of the running operator.
pub struct Inputs<'a> {
    pub(crate) indices: Scalars<'a, i32>,
    pub(crate) tables: &'a Tables<'a>,
    pub(crate) gaps: &'a Gaps<'a>,
}

impl<'a> Inputs<'a> {
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Input `i`, or `None` when the model leaves it out.
    pub fn optional(&self, i: usize) -> Result<Option<TensorView<'a>>, KernelError> {
        // `get` fails with `MissingInput(i)` only when input `i` is left out.
        match self.get(i) {
            Ok(view) => Ok(Some(view)),
            Err(KernelError::MissingInput(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn get(&self, i: usize) -> Result<TensorView<'a>, KernelError> {
        let t = match self.indices.get(i) {
            None | Some(-1) => return Err(KernelError::MissingInput(i)),
            Some(t) => t as usize,
        };
        let Tables { tensors, model } = *self.tables;
        let rec = tensors.get(t).ok_or(KernelError::Plan)?;
        let data = rec.data(model, self.gaps).ok_or(KernelError::Plan)?;
        Ok(TensorView {
            ty: rec.tensor_type(),
            shape: rec.shape(model),
            data,
        })
    }
}

/// Writable tensors of the running operator: outputs, and variable inputs.
pub struct Outputs<'a> {
    pub(crate) outputs: Scalars<'a, i32>,
    pub(crate) inputs: Scalars<'a, i32>,
    pub(crate) tables: &'a Tables<'a>,
    pub(crate) muts: &'a mut Muts<'a>,
}

impl<'a> Outputs<'a> {
    pub fn len(&self) -> usize {
        self.outputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    /// Variable input `i` (`input`) or output `i`, taken out of the cut arena.
    // One body for both: the error for a missing tensor is chosen here, not
    // copied in from the caller.
    fn take_tensor(&mut self, input: bool, i: usize) -> Result<TensorViewMut<'a>, KernelError> {
        let indices = if input { self.inputs } else { self.outputs };
        let rec = indices
            .get(i)
            .and_then(|t| usize::try_from(t).ok())
            .and_then(|t| self.tables.tensors.get(t));
        let Some(rec) = rec else {
            return Err(if input {
                KernelError::MissingInput(i)
            } else {
                KernelError::MissingOutput(i)
            });
        };
        let (start, len) = rec.arena_range().ok_or(KernelError::Plan)?;
        let data = self.muts.take(start, len).ok_or(KernelError::Plan)?;
        Ok(TensorViewMut {
            ty: rec.tensor_type(),
            shape: rec.shape(self.tables.model),
            data,
        })
    }

    /// Output `i`; each output can be taken once per `eval`.
    pub fn take(&mut self, i: usize) -> Result<TensorViewMut<'a>, KernelError> {
        self.take_tensor(false, i)
    }

    /// Input `i` when it is a variable tensor (state the kernel updates).
    pub fn take_variable_input(&mut self, i: usize) -> Result<TensorViewMut<'a>, KernelError> {
        self.take_tensor(true, i)
    }
}

/// What `eval` gets.
pub struct EvalContext<'a> {
    pub inputs: Inputs<'a>,
    pub outputs: Outputs<'a>,
    pub scratch: ScratchBuffers<'a>,
    /// The per-op data `prepare` wrote.
    pub op_data: &'a [u8],
}

/// Scratch buffers handed to `eval`, each taken once.
pub struct ScratchBuffers<'a> {
    pub(crate) bufs: [Option<&'a mut [u8]>; MAX_SCRATCH],
}

impl<'a> ScratchBuffers<'a> {
    /// Scratch buffer `k` as `prepare` asked for it.
    pub fn take(&mut self, k: usize) -> Result<&'a mut [u8], KernelError> {
        self.bufs
            .get_mut(k)
            .and_then(Option::take)
            .ok_or(KernelError::Invalid(text!("scratch buffer missing")))
    }
}

impl<'a> EvalContext<'a> {
    /// The per-op data, read as one `T` at byte `at`.
    pub fn op_data_at<T: Pod>(&self, at: usize) -> Result<&'a T, KernelError> {
        let end = at
            .checked_add(core::mem::size_of::<T>())
            .ok_or(KernelError::OpData)?;
        let bytes = self.op_data.get(at..end).ok_or(KernelError::OpData)?;
        bytemuck::try_from_bytes(bytes).map_err(|_| KernelError::Misaligned)
    }

    /// `count` values of `T` from byte `at` of the per-op data.
    pub fn op_data_slice<T: Pod>(&self, at: usize, count: usize) -> Result<&'a [T], KernelError> {
        let len = count
            .checked_mul(core::mem::size_of::<T>())
            .ok_or(KernelError::OpData)?;
        let end = at.checked_add(len).ok_or(KernelError::OpData)?;
        let bytes = self.op_data.get(at..end).ok_or(KernelError::OpData)?;
        bytemuck::try_cast_slice(bytes).map_err(|_| KernelError::Misaligned)
    }
}
