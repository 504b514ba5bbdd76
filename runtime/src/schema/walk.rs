//! Reads every field of a model through the public accessors.
//!
//! Used by the fuzz target and the mutation tests to check one promise of the
//! reader: once [`Model::from_bytes`] has accepted a model, no accessor of
//! its structure fails. (Builtin options are decoded by each operator's
//! kernel when the interpreter prepares it; a bad value there is an error of
//! `allocate_tensors`, checked by the same tests.)

use super::error::ReadError;
use super::model::Model;

/// Reads every field; returns how many values were read.
pub fn read_everything(model: &Model<'_>) -> Result<usize, ReadError> {
    let mut n = 2;
    model.version()?;
    model.description()?;
    n += model.metadata_buffer()?.len();
    for i in 0..model.operator_codes_len()? {
        let c = model.operator_code(i)?;
        c.kind()?;
        c.version()?;
        c.custom_code()?;
        c.deprecated_builtin_code()?;
        n += 2;
    }
    for i in 0..model.buffers_len()? {
        let b = model.buffer(i)?;
        b.offset()?;
        b.size()?;
        n += b.data()?.len().min(1);
    }
    for s in 0..model.subgraphs_len()? {
        let sg = model.subgraph(s)?;
        sg.name()?;
        n += sg.inputs()?.iter().count() + sg.outputs()?.iter().count();
        for k in 0..sg.tensors_len()? {
            let t = sg.tensor(k)?;
            n += t.shape()?.iter().count() + t.shape_signature()?.iter().count();
            t.tensor_type()?;
            model.buffer(t.buffer()? as usize)?.data()?;
            t.name()?;
            t.is_variable()?;
            t.has_rank()?;
            t.is_sparse()?;
            if let Some(q) = t.quantization()? {
                n += q.scale.iter().count() + q.zero_point.iter().count();
            }
        }
        for o in 0..sg.operators_len()? {
            let op = sg.operator(o)?;
            model.opcode_of(&op)?.kind()?;
            n += op.inputs()?.iter().count() + op.outputs()?.iter().count();
            n += op.intermediates()?.iter().count();
            op.builtin_options()?;
            op.custom_options()?;
            op.custom_options_format()?;
            op.builtin_options_2_type()?;
            op.mutating_variable_inputs()?;
        }
    }
    for i in 0..model.metadata_len()? {
        let m = model.metadata(i)?;
        m.name()?;
        model.buffer(m.buffer()? as usize)?.data()?;
        n += 1;
    }
    for i in 0..model.signature_defs_len()? {
        let sig = model.signature_def(i)?;
        sig.signature_key()?;
        sig.subgraph_index()?;
        for outputs in [false, true] {
            for k in 0..sig.tensor_maps_len(outputs)? {
                let map = sig.tensor_map(outputs, k)?;
                map.name()?;
                map.tensor_index()?;
                n += 1;
            }
        }
    }
    if let Some(plan) = model.offline_memory_plan()? {
        n += (0..plan.len()).filter_map(|i| plan.offset(i)).count();
    }
    Ok(n)
}
