//! Compiling a feature set to native code and running it: [`compile`], [`CompiledFeatures`] (which
//! owns the Cranelift module holding the code) and the host target.
#![allow(unsafe_code)]

use std::sync::{Arc, OnceLock};

use cranelift_codegen::ir::AbiParam;
use cranelift_codegen::ir::types;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use mlsys_compiler::plan::walk::{children, feature_roots};
use mlsys_compiler::plan::{ExprId, FeatureId, Plan};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Inputs, MAX_DEPTH};

use crate::abi::RowFunction;
use crate::cache::FeatureSetKey;
use crate::error::JitError;
use crate::kernels::Kernel;
use crate::lower::{Literals, lower_function};
use crate::row::Row;
use crate::slots::{Analysis, Slot, analyze};

/// What a compiled feature set reads and writes, shared by the compiled code's owner and its rows
/// (the rows' string outputs may point into `literals`).
#[derive(Debug)]
pub(crate) struct Layout {
    pub inputs: Vec<Slot>,
    pub outputs: Vec<FeatureId>,
    pub output_types: Vec<BaseType>,
    /// Never read: held because compiled code and row outputs point into it.
    #[allow(dead_code)]
    pub literals: Literals,
}

/// One feature set compiled to one native function. `Send + Sync`: evaluate it from any number
/// of threads at once, each with its own [`Row`].
pub struct CompiledFeatures {
    layout: Arc<Layout>,
    function: RowFunction,
    key: FeatureSetKey,
    // Declared last: the code is freed after everything that could point to it.
    _module: ModuleOwner,
}

impl std::fmt::Debug for CompiledFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledFeatures")
            .field("inputs", &self.layout.inputs)
            .field("outputs", &self.layout.outputs)
            .finish_non_exhaustive()
    }
}

/// Owns the module whose memory holds the compiled code, and frees it on drop.
pub(crate) struct ModuleOwner(pub(crate) Option<JITModule>);

// SAFETY: after `finalize_definitions` the module is never used again except to free its memory
// on drop, which needs `&mut self` and so cannot race with anything. Its code is immutable and
// reentrant (it touches only the slots and arena passed in), and the kernel shims it calls are
// plain functions without shared state, so calling it from several threads at once is sound.
unsafe impl Send for ModuleOwner {}
// SAFETY: as for `Send`: no `&self` method of the module is ever called.
unsafe impl Sync for ModuleOwner {}

impl Drop for ModuleOwner {
    fn drop(&mut self) {
        if let Some(module) = self.0.take() {
            // SAFETY: the owner is dropped with the `CompiledFeatures` or `CompiledModel` holding the only
            // copy of the function pointer; calls borrow their owner, so no call is in progress.
            unsafe { module.free_memory() }
        }
    }
}

/// The host's code generator, built once per process.
pub(crate) fn host_isa() -> Result<OwnedTargetIsa, JitError> {
    static HOST: OnceLock<Result<OwnedTargetIsa, JitError>> = OnceLock::new();
    HOST.get_or_init(|| {
        let mut flags = settings::builder();
        for (name, value) in [
            ("opt_level", "speed"),
            ("is_pic", "false"),
            ("use_colocated_libcalls", "false"),
        ] {
            flags
                .set(name, value)
                .map_err(|error| JitError::UnsupportedHost(format!("{name}={value}: {error}")))?;
        }
        let isa = cranelift_native::builder().map_err(|message| JitError::UnsupportedHost(message.to_string()))?;
        let isa = isa
            .finish(settings::Flags::new(flags))
            .map_err(|error| JitError::UnsupportedHost(error.to_string()))?;
        // The calling convention passes pointers and string lengths as 64-bit words.
        if isa.pointer_type() != types::I64 {
            return Err(JitError::UnsupportedHost(format!(
                "pointers are {}, not 64-bit",
                isa.pointer_type()
            )));
        }
        Ok(isa)
    })
    .clone()
}

pub(crate) fn codegen(error: impl std::fmt::Display) -> JitError {
    JitError::Codegen(error.to_string())
}

/// Compiles the per-row computation of `features` of `plan`: row-level and derived features are
/// computed (with every such feature they read), windowed aggregates are inputs. Whatever the
/// reference interpreter would refuse on some row is refused here, as a [`JitError`].
pub fn compile(plan: &Plan, features: &[FeatureId]) -> Result<CompiledFeatures, JitError> {
    let analysis = analyze(plan, features)?;
    if nesting_depth(plan, &analysis) <= SHALLOW_NESTING {
        return compile_analyzed(plan, features, analysis);
    }
    // Lowering recurses once per nesting level, and a level can take kilobytes of stack in a
    // debug build: deep expressions are lowered on a thread whose stack fits the deepest one the
    // interpreter accepts, instead of risking the caller's stack.
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("mlsys-jit-deep".into())
            .stack_size(DEEP_NESTING_STACK_BYTES)
            .spawn_scoped(scope, || compile_analyzed(plan, features, analysis))
            .map_err(|error| JitError::Codegen(format!("no thread to lower a deep expression on: {error}")))?;
        worker
            .join()
            .map_err(|_| JitError::Codegen("lowering a deep expression panicked".into()))?
    })
}

/// Expressions at most this deep are lowered on the caller's stack.
const SHALLOW_NESTING: usize = 32;
/// `MAX_DEPTH` levels of the most stack-hungry node kinds fit in 8 MiB in a debug build; the
/// margin costs only address space.
const DEEP_NESTING_STACK_BYTES: usize = 64 << 20;

/// The deepest nesting of the expressions the feature set computes, found without recursion
/// (and without looking further than just past the interpreter's limit).
fn nesting_depth(plan: &Plan, analysis: &Analysis) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(ExprId, usize)> = analysis
        .computed
        .iter()
        .filter_map(|feature| plan.features.get(*feature))
        .flat_map(feature_roots)
        .map(|root| (root, 0))
        .collect();
    while let Some((id, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if depth > MAX_DEPTH {
            continue;
        }
        if let Some(expr) = plan.exprs.get(id) {
            stack.extend(children(&expr.kind).into_iter().map(|child| (child, depth + 1)));
        }
    }
    deepest
}

fn compile_analyzed(plan: &Plan, features: &[FeatureId], analysis: Analysis) -> Result<CompiledFeatures, JitError> {
    let key = FeatureSetKey::of(plan, features, &analysis)?;
    let mut jit_builder = JITBuilder::with_isa(host_isa()?, default_libcall_names());
    for kernel in Kernel::ALL {
        jit_builder.symbol(kernel.symbol(), kernel.address());
    }
    // Owned from here on, so that an error below still frees the module's memory.
    let mut owner = ModuleOwner(Some(JITModule::new(jit_builder)));
    let module = owner
        .0
        .as_mut()
        .ok_or_else(|| JitError::Codegen("the module is gone".into()))?;
    let mut signature = module.make_signature();
    signature.params = vec![AbiParam::new(types::I64); 3];
    let function_id = module
        .declare_function("mlsys_row", Linkage::Export, &signature)
        .map_err(codegen)?;
    let mut context = module.make_context();
    context.func.signature = signature;
    let mut function_context = FunctionBuilderContext::new();
    let mut literals = Literals::default();
    let builder = FunctionBuilder::new(&mut context.func, &mut function_context);
    let output_types = lower_function(plan, &analysis, features, builder, module, &mut literals)?;
    module.define_function(function_id, &mut context).map_err(codegen)?;
    module.finalize_definitions().map_err(codegen)?;
    let code = module.get_finalized_function(function_id);
    // SAFETY: `code` is the finalized function just defined with the signature of `RowFunction`
    // (three pointer-sized parameters, no result, the host's default C calling convention).
    let function = unsafe { std::mem::transmute::<*const u8, RowFunction>(code) };
    Ok(CompiledFeatures {
        layout: Arc::new(Layout {
            inputs: analysis.slots,
            outputs: features.to_vec(),
            output_types,
            literals,
        }),
        function,
        key,
        _module: owner,
    })
}

impl CompiledFeatures {
    /// The slots the caller fills, in order.
    pub fn inputs(&self) -> &[Slot] {
        &self.layout.inputs
    }

    /// The requested features, in the order of the results.
    pub fn outputs(&self) -> &[FeatureId] {
        &self.layout.outputs
    }

    /// The type of each result (null aside).
    pub fn output_types(&self) -> &[BaseType] {
        &self.layout.output_types
    }

    /// What the feature set computes, independent of the plan object it came from.
    pub fn key(&self) -> &FeatureSetKey {
        &self.key
    }

    /// A reusable row buffer for [`CompiledFeatures::run`]: all inputs null.
    pub fn new_row(&self) -> Row {
        Row::new(self.layout.clone())
    }

    /// Evaluates the row's inputs into its outputs. No allocation except for string results.
    pub fn run(&self, row: &mut Row) -> Result<(), JitError> {
        if !Arc::ptr_eq(row.layout(), &self.layout) {
            return Err(JitError::ForeignRow);
        }
        let (inputs, outputs, arena) = row.prepare();
        // SAFETY: the row was made for this layout, so it holds one slot per input and output, each
        // input typed as its slot and every string slot pointing into a string the row keeps
        // alive; the arena and both slot arrays are exclusively borrowed for the call.
        unsafe { (self.function)(inputs, outputs, arena) }
        Ok(())
    }

    /// Values in (one per input slot), values out (one per requested feature).
    pub fn evaluate(&self, inputs: &[Value]) -> Result<Vec<Value>, JitError> {
        let mut row = self.new_row();
        row.set_all(inputs)?;
        self.run(&mut row)?;
        Ok(row.values())
    }

    /// Reads every input slot from `inputs` (as the interpreter would) and evaluates.
    pub fn evaluate_inputs(&self, inputs: &dyn Inputs) -> Result<Vec<Value>, JitError> {
        let values: Vec<Value> = self.layout.inputs.iter().map(|slot| slot.read(inputs)).collect();
        self.evaluate(&values)
    }
}
