//! Lowering of the per-row part of the plan to Cranelift IR: one function computing every needed
//! row-level and derived feature in dependency order, then writing the requested ones. This file
//! holds the driver, the value representation and the expression dispatch; `operators.rs` and
//! `builtins.rs` lower the node kinds, each mirroring `mlsys_kernels::interpret`.
//!
//! A value is a null flag (an `i8`, 1 for null) and a payload: `i8` for bool, `i64` for int64,
//! timestamp and duration, `f64`, `i32` for date, and a `(pointer, length)` pair of `i64`s for
//! strings. Null propagation ORs the operands' flags; the payload of a null value is never read,
//! but a string payload is always either empty or a valid string, so kernels may be called on it.

mod builtins;
mod operators;

use std::collections::HashMap;

use cranelift_codegen::ir::{
    self, AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, types,
};
use cranelift_frontend::{FuncInstBuilder, FunctionBuilder};
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};
use mlsys_compiler::plan::{ExprId, ExprKind, FeatureId, FeatureKind, Literal, Plan};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::interpret::MAX_DEPTH;
use mlsys_kernels::value::CANONICAL_NAN_BITS;

use crate::abi::{BITS_OFFSET, LEN_OFFSET, NULL_OFFSET, SLOT_SIZE};
use crate::error::JitError;
use crate::kernels::{AbiType, Kernel};
use crate::slots::{Analysis, SlotKey};

/// A lowered value.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lowered {
    pub base: BaseType,
    /// `i8`: 1 when the value is null.
    pub null: ir::Value,
    pub payload: Payload,
    /// The `null` literal: null whatever the input, and of any type its consumer needs.
    pub always_null: bool,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Payload {
    Scalar(ir::Value),
    Text { ptr: ir::Value, len: ir::Value },
}

/// String literals and other constants compiled code points to; owned by the compiled feature
/// set (and shared with its rows), so the pointers stay valid while either lives.
#[derive(Debug, Default)]
pub(crate) struct Literals {
    pub strings: Vec<Box<str>>,
}

pub(crate) struct Lowerer<'a> {
    plan: &'a Plan,
    analysis: &'a Analysis,
    builder: FunctionBuilder<'a>,
    module: &'a mut JITModule,
    literals: &'a mut Literals,
    imported: HashMap<Kernel, FuncRef>,
    arena: ir::Value,
    inputs: HashMap<SlotKey, Lowered>,
    computed: HashMap<FeatureId, Lowered>,
    /// The feature being lowered: it reads features computed before it.
    current: FeatureId,
}

/// Writes the body of the row function into `builder` (whose function has the signature of
/// [`crate::abi::RowFunction`]); returns the base type of each output.
pub(crate) fn lower_function(
    plan: &Plan,
    analysis: &Analysis,
    features: &[FeatureId],
    mut builder: FunctionBuilder<'_>,
    module: &mut JITModule,
    literals: &mut Literals,
) -> Result<Vec<BaseType>, JitError> {
    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    builder.switch_to_block(entry);
    let params = builder.block_params(entry).to_vec();
    let [inputs_pointer, outputs_pointer, arena] = params[..] else {
        return Err(JitError::Codegen("the row function takes three parameters".into()));
    };
    let mut lowerer = Lowerer {
        plan,
        analysis,
        builder,
        module,
        literals,
        imported: HashMap::new(),
        arena,
        inputs: HashMap::new(),
        computed: HashMap::new(),
        current: FeatureId(0),
    };
    for (index, slot) in analysis.slots.iter().enumerate() {
        let value = lowerer.load_slot(inputs_pointer, index, slot.ty().base)?;
        lowerer.inputs.insert(slot.key(), value);
    }
    for feature in &analysis.computed {
        lowerer.computed_feature(*feature)?;
    }
    let mut output_types = Vec::with_capacity(features.len());
    for (index, feature) in features.iter().enumerate() {
        let value = match lowerer.computed.get(feature) {
            Some(value) => *value,
            None => lowerer.input(SlotKey::Feature(*feature))?,
        };
        output_types.push(value.base);
        lowerer.store_output(outputs_pointer, index, value)?;
    }
    lowerer.builder.ins().return_(&[]);
    lowerer.builder.seal_all_blocks();
    let target = lowerer.module.target_config();
    lowerer.builder.finalize(target);
    Ok(output_types)
}

fn slot_offset(index: usize, field: i32) -> Result<i32, JitError> {
    index
        .checked_mul(SLOT_SIZE)
        .and_then(|offset| i32::try_from(offset).ok())
        .and_then(|offset| offset.checked_add(field))
        .ok_or_else(|| JitError::Codegen(format!("slot {index} is out of reach")))
}

fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

impl<'a> Lowerer<'a> {
    fn ins(&mut self) -> FuncInstBuilder<'_, 'a> {
        self.builder.ins()
    }

    fn computed_feature(&mut self, id: FeatureId) -> Result<(), JitError> {
        let feature = self.plan.features.get(id).ok_or(JitError::MissingFeature(id))?;
        let root = match &feature.kind {
            FeatureKind::Row { expr } | FeatureKind::Derived { expr } => *expr,
            FeatureKind::Aggregate(_) => return Ok(()),
        };
        self.current = id;
        let value = self.expr(root, 0)?;
        let value = self.coerce(value, feature.ty.base).map_err(|_| JitError::BadFeature {
            feature: id,
            message: format!(
                "its expression gives {} values, the feature declares {}",
                value.base.name(),
                feature.ty
            ),
        })?;
        self.computed.insert(id, value);
        Ok(())
    }

    fn input(&self, key: SlotKey) -> Result<Lowered, JitError> {
        self.inputs
            .get(&key)
            .copied()
            .ok_or_else(|| JitError::Codegen(format!("{key:?} has no input slot")))
    }

    fn load_slot(&mut self, pointer: ir::Value, index: usize, base: BaseType) -> Result<Lowered, JitError> {
        let flag = self
            .ins()
            .load(types::I8, flags(), pointer, slot_offset(index, NULL_OFFSET)?);
        let null = self.ins().icmp_imm_s(ir::condcodes::IntCC::NotEqual, flag, 0);
        let bits = self
            .ins()
            .load(types::I64, flags(), pointer, slot_offset(index, BITS_OFFSET)?);
        let payload = match base {
            BaseType::Bool => Payload::Scalar(self.ins().icmp_imm_s(ir::condcodes::IntCC::NotEqual, bits, 0)),
            BaseType::Int64 | BaseType::Timestamp | BaseType::Duration => Payload::Scalar(bits),
            BaseType::Float64 => Payload::Scalar(self.ins().bitcast(types::F64, MemFlagsData::new(), bits)),
            BaseType::Date => Payload::Scalar(self.ins().ireduce(types::I32, bits)),
            BaseType::String => {
                let len = self
                    .ins()
                    .load(types::I64, flags(), pointer, slot_offset(index, LEN_OFFSET)?);
                Payload::Text { ptr: bits, len }
            }
        };
        Ok(Lowered {
            base,
            null,
            payload,
            always_null: false,
        })
    }

    fn store_output(&mut self, pointer: ir::Value, index: usize, value: Lowered) -> Result<(), JitError> {
        self.builder
            .ins()
            .store(flags(), value.null, pointer, slot_offset(index, NULL_OFFSET)?);
        let (bits, len) = match value.payload {
            Payload::Text { ptr, len } => (ptr, Some(len)),
            Payload::Scalar(scalar) => {
                let bits = match value.base {
                    BaseType::Bool => self.builder.ins().uextend(types::I64, scalar),
                    BaseType::Date => self.builder.ins().sextend(types::I64, scalar),
                    BaseType::Float64 => {
                        // Values leave the engine with the one canonical NaN (lang-spec/types.md).
                        let canonical = self.builder.ins().f64const(f64::from_bits(CANONICAL_NAN_BITS));
                        let is_nan = self
                            .builder
                            .ins()
                            .fcmp(ir::condcodes::FloatCC::Unordered, scalar, scalar);
                        let float = self.builder.ins().select(is_nan, canonical, scalar);
                        self.builder.ins().bitcast(types::I64, MemFlagsData::new(), float)
                    }
                    _ => scalar,
                };
                (bits, None)
            }
        };
        self.builder
            .ins()
            .store(flags(), bits, pointer, slot_offset(index, BITS_OFFSET)?);
        if let Some(len) = len {
            self.builder
                .ins()
                .store(flags(), len, pointer, slot_offset(index, LEN_OFFSET)?);
        }
        Ok(())
    }

    /// Lowers expression `id`, `depth` levels below a feature's root (the interpreter's limit).
    fn expr(&mut self, id: ExprId, depth: usize) -> Result<Lowered, JitError> {
        if depth > MAX_DEPTH {
            return Err(JitError::TooDeep(id));
        }
        let plan = self.plan;
        let expr = plan.exprs.get(id).ok_or(JitError::MissingExpr(id))?;
        let depth = depth + 1;
        match &expr.kind {
            ExprKind::Literal { value } => self.literal(value, expr.ty.base),
            ExprKind::Column { source, column } => self.input(SlotKey::Column(*source, *column)),
            ExprKind::Feature { feature } => {
                if self.analysis.computed_before(*feature, self.current) {
                    self.computed
                        .get(feature)
                        .copied()
                        .ok_or(JitError::MissingFeature(*feature))
                } else {
                    self.input(SlotKey::Feature(*feature))
                }
            }
            ExprKind::Metric { .. } => Err(JitError::unsupported(
                id,
                "training metrics are read by `promote_if` only, never per row",
            )),
            ExprKind::ToFloat { operand } => self.int_to_float(id, *operand, depth),
            ExprKind::Unary { unary, operand } => self.unary(id, *unary, *operand, expr.ty.base, depth),
            ExprKind::Binary { binary, lhs, rhs } => self.binary(id, *binary, *lhs, *rhs, expr.ty.base, depth),
            ExprKind::Call { function, arguments } => self.call(id, *function, arguments, expr.ty.base, depth),
            ExprKind::In { operand, list, negated } => self.in_list(id, *operand, list, *negated, depth),
            ExprKind::If { branches, otherwise } => self.if_chain(id, branches, *otherwise, expr.ty.base, depth),
        }
    }

    /// A literal: its own type, except `null`, which takes the type its node declares.
    fn literal(&mut self, literal: &Literal, declared: BaseType) -> Result<Lowered, JitError> {
        let (base, payload) = match literal {
            Literal::Null => return Ok(self.constant_null(declared)),
            Literal::Bool(value) => (BaseType::Bool, self.ins().iconst(types::I8, i64::from(*value))),
            Literal::Int(value) => (BaseType::Int64, self.ins().iconst(types::I64, *value)),
            Literal::Float(value) => (BaseType::Float64, self.ins().f64const(*value)),
            Literal::Date(days) => (BaseType::Date, self.ins().iconst(types::I32, i64::from(*days))),
            Literal::Timestamp(micros) => (BaseType::Timestamp, self.ins().iconst(types::I64, *micros)),
            Literal::Duration(micros) => (BaseType::Duration, self.ins().iconst(types::I64, *micros)),
            Literal::String(text) => {
                let text: Box<str> = text.as_str().into();
                let (address, len) = (text.as_ptr() as i64, text.len() as i64);
                self.literals.strings.push(text);
                let ptr = self.ins().iconst(types::I64, address);
                let len = self.ins().iconst(types::I64, len);
                return Ok(self.known(BaseType::String, Payload::Text { ptr, len }));
            }
        };
        Ok(self.known(base, Payload::Scalar(payload)))
    }

    fn int_to_float(&mut self, id: ExprId, operand: ExprId, depth: usize) -> Result<Lowered, JitError> {
        let value = self.expr(operand, depth)?;
        if value.always_null {
            return Ok(self.constant_null(BaseType::Float64));
        }
        if value.base != BaseType::Int64 {
            return Err(JitError::unsupported(
                id,
                format!("to_float64 of {}", value.base.name()),
            ));
        }
        let float = self.float_of(id, value)?;
        Ok(self.with_null(BaseType::Float64, value.null, Payload::Scalar(float)))
    }

    // Value helpers.

    fn with_null(&self, base: BaseType, null: ir::Value, payload: Payload) -> Lowered {
        Lowered {
            base,
            null,
            payload,
            always_null: false,
        }
    }

    fn known(&mut self, base: BaseType, payload: Payload) -> Lowered {
        let null = self.builder.ins().iconst(types::I8, 0);
        self.with_null(base, null, payload)
    }

    fn constant_null(&mut self, base: BaseType) -> Lowered {
        let null = self.builder.ins().iconst(types::I8, 1);
        let payload = self.zero_payload(base);
        Lowered {
            base,
            null,
            payload,
            always_null: true,
        }
    }

    fn zero_payload(&mut self, base: BaseType) -> Payload {
        match base {
            BaseType::Bool => Payload::Scalar(self.ins().iconst(types::I8, 0)),
            BaseType::Int64 | BaseType::Timestamp | BaseType::Duration => {
                Payload::Scalar(self.ins().iconst(types::I64, 0))
            }
            BaseType::Float64 => Payload::Scalar(self.ins().f64const(0.0)),
            BaseType::Date => Payload::Scalar(self.ins().iconst(types::I32, 0)),
            BaseType::String => {
                let zero = self.ins().iconst(types::I64, 0);
                Payload::Text { ptr: zero, len: zero }
            }
        }
    }

    /// `value` as a value of `base`: unchanged if it has that type, a typed null if it is the
    /// `null` literal; `Err(())` otherwise (the caller says why).
    fn coerce(&mut self, value: Lowered, base: BaseType) -> Result<Lowered, ()> {
        if value.base == base {
            Ok(value)
        } else if value.always_null {
            Ok(self.constant_null(base))
        } else {
            Err(())
        }
    }

    fn coerce_for(&mut self, id: ExprId, value: Lowered, base: BaseType, what: &str) -> Result<Lowered, JitError> {
        let found = value.base;
        self.coerce(value, base)
            .map_err(|_| JitError::unsupported(id, format!("{what} is {}, not {}", found.name(), base.name())))
    }

    fn scalar(id: ExprId, value: &Lowered) -> Result<ir::Value, JitError> {
        match value.payload {
            Payload::Scalar(scalar) => Ok(scalar),
            Payload::Text { .. } => Err(JitError::unsupported(id, "a string where a scalar is needed")),
        }
    }

    fn text(id: ExprId, value: &Lowered) -> Result<(ir::Value, ir::Value), JitError> {
        match (value.base, value.payload) {
            (BaseType::String, Payload::Text { ptr, len }) => Ok((ptr, len)),
            _ => Err(JitError::unsupported(
                id,
                format!("{} where a string is needed", value.base.name()),
            )),
        }
    }

    /// A numeric value as float64: int64 converted to the nearest, ties to even (as Rust's `as`).
    fn float_of(&mut self, id: ExprId, value: Lowered) -> Result<ir::Value, JitError> {
        let scalar = Self::scalar(id, &value)?;
        match value.base {
            BaseType::Float64 => Ok(scalar),
            BaseType::Int64 => Ok(self.builder.ins().fcvt_from_sint(types::F64, scalar)),
            other => Err(JitError::unsupported(id, format!("{} is not numeric", other.name()))),
        }
    }

    fn any_null(&mut self, values: &[Lowered]) -> ir::Value {
        let mut null = self.builder.ins().iconst(types::I8, 0);
        for value in values {
            null = self.builder.ins().bor(null, value.null);
        }
        null
    }

    /// `then` where `condition` (an `i8`) is non-zero, otherwise `otherwise`; same base types.
    fn select(&mut self, condition: ir::Value, then: Lowered, otherwise: Lowered) -> Lowered {
        let null = self.builder.ins().select(condition, then.null, otherwise.null);
        let payload = match (then.payload, otherwise.payload) {
            (Payload::Text { ptr, len }, Payload::Text { ptr: ptr2, len: len2 }) => Payload::Text {
                ptr: self.builder.ins().select(condition, ptr, ptr2),
                len: self.builder.ins().select(condition, len, len2),
            },
            (Payload::Scalar(a), Payload::Scalar(b)) => Payload::Scalar(self.builder.ins().select(condition, a, b)),
            (payload, _) => payload,
        };
        self.with_null(then.base, null, payload)
    }

    /// A block whose parameters carry a value of `base` (null flag, then payload).
    fn merge_block(&mut self, base: BaseType) -> ir::Block {
        let block = self.builder.create_block();
        self.builder.append_block_param(block, types::I8);
        for ty in payload_types(base) {
            self.builder.append_block_param(block, *ty);
        }
        block
    }

    fn block_arguments(value: &Lowered) -> Vec<BlockArg> {
        let mut arguments = vec![BlockArg::Value(value.null)];
        match value.payload {
            Payload::Scalar(scalar) => arguments.push(BlockArg::Value(scalar)),
            Payload::Text { ptr, len } => arguments.extend([BlockArg::Value(ptr), BlockArg::Value(len)]),
        }
        arguments
    }

    fn jump_with(&mut self, block: ir::Block, value: &Lowered) {
        let arguments = Self::block_arguments(value);
        self.builder.ins().jump(block, &arguments);
    }

    /// Switches to a merge block and returns the value its parameters carry.
    fn enter_merge(&mut self, block: ir::Block, base: BaseType) -> Lowered {
        self.builder.switch_to_block(block);
        let params = self.builder.block_params(block).to_vec();
        let payload = match params[1..] {
            [ptr, len] => Payload::Text { ptr, len },
            [scalar] => Payload::Scalar(scalar),
            _ => Payload::Scalar(params[0]),
        };
        self.with_null(base, params[0], payload)
    }

    /// Computes `compute` only when `null` is 0; a null result otherwise. For kernels that
    /// allocate, so that null rows cost nothing.
    fn guarded(
        &mut self,
        null: ir::Value,
        base: BaseType,
        compute: impl FnOnce(&mut Self) -> Result<Payload, JitError>,
    ) -> Result<Lowered, JitError> {
        let compute_block = self.builder.create_block();
        let merge = self.merge_block(base);
        let absent = self.constant_null(base);
        let absent_arguments = Self::block_arguments(&absent);
        self.builder
            .ins()
            .brif(null, merge, &absent_arguments, compute_block, &[]);
        self.builder.switch_to_block(compute_block);
        let payload = compute(self)?;
        let present = self.known(base, payload);
        self.jump_with(merge, &present);
        Ok(self.enter_merge(merge, base))
    }

    /// Calls a kernel shim; returns its result, if it has one.
    fn kernel(&mut self, kernel: Kernel, arguments: &[ir::Value]) -> Result<Option<ir::Value>, JitError> {
        let function = match self.imported.get(&kernel) {
            Some(function) => *function,
            None => {
                let mut signature = self.module.make_signature();
                let (params, results) = kernel.signature();
                signature
                    .params
                    .extend(params.iter().map(|ty| AbiParam::new(abi_type(*ty))));
                signature
                    .returns
                    .extend(results.iter().map(|ty| AbiParam::new(abi_type(*ty))));
                let id = self
                    .module
                    .declare_function(&kernel.symbol(), Linkage::Import, &signature)
                    .map_err(|error| JitError::Codegen(error.to_string()))?;
                let function = self.module.declare_func_in_func(id, self.builder.func);
                self.imported.insert(kernel, function);
                function
            }
        };
        let call = self.builder.ins().call(function, arguments);
        Ok(self.builder.inst_results(call).first().copied())
    }

    fn kernel_value(&mut self, kernel: Kernel, arguments: &[ir::Value]) -> Result<ir::Value, JitError> {
        self.kernel(kernel, arguments)?
            .ok_or_else(|| JitError::Codegen(format!("{kernel:?} returns nothing")))
    }

    /// A stack slot of `size` bytes, 8-byte aligned.
    fn stack_slot(&mut self, size: usize) -> Result<ir::StackSlot, JitError> {
        let size = u32::try_from(size).map_err(|_| JitError::Codegen("a stack slot too large".into()))?;
        Ok(self
            .builder
            .create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 3)))
    }

    fn arena(&self) -> ir::Value {
        self.arena
    }
}

fn payload_types(base: BaseType) -> &'static [ir::Type] {
    match base {
        BaseType::Bool => &[types::I8],
        BaseType::Int64 | BaseType::Timestamp | BaseType::Duration => &[types::I64],
        BaseType::Float64 => &[types::F64],
        BaseType::Date => &[types::I32],
        BaseType::String => &[types::I64, types::I64],
    }
}

fn abi_type(ty: AbiType) -> ir::Type {
    match ty {
        AbiType::I8 => types::I8,
        AbiType::I32 => types::I32,
        AbiType::I64 => types::I64,
        AbiType::F64 => types::F64,
    }
}
