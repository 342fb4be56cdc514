//! Built-in models compiled to native scorers: [`compile_model`] turns a tree ensemble into
//! Cranelift functions giving its raw score, and [`CompiledModel`] scores rows with them, bit for
//! bit as [`Model::predict`].
//!
//! ```
//! use mlsys_jit::compile_model;
//! use mlsys_train::{Model, Task, Tree, TreeEnsemble, TreeNode};
//!
//! // amount <= 100 → -0.25, else (and when missing) → 0.75; plus a base score of 0.5.
//! let tree = Tree {
//!     nodes: vec![
//!         TreeNode::Split { feature: 0, threshold: 100.0, missing_goes_left: false, left: 1, right: 2 },
//!         TreeNode::Leaf { value: -0.25 },
//!         TreeNode::Leaf { value: 0.75 },
//!     ],
//! };
//! let model = Model::TreeEnsemble(TreeEnsemble {
//!     task: Task::Regression,
//!     feature_names: vec!["amount".into()],
//!     base_score: 0.5,
//!     trees: vec![tree],
//! });
//! let compiled = compile_model(&model)?;
//! assert!(compiled.is_native());
//! assert_eq!(compiled.score(&[100.0]), 0.25);
//! assert_eq!(compiled.score(&[f64::NAN]), 1.25);
//! assert_eq!(compiled.score(&[]), model.predict(&[])); // a short row: missing inputs
//! let mut scores = Vec::new();
//! compiled.score_many(&[50.0, 150.0], 1, &mut scores)?;
//! assert_eq!(scores, [0.25, 1.25]);
//! # Ok::<(), mlsys_jit::JitError>(())
//! ```
//!
//! **Tree ensembles**: the trees, in order, are cut into blocks of about `NODES_PER_FUNCTION`
//! nodes, each compiled to one function `extern "C" fn(row: *const f64, score: f64) -> f64` that
//! adds its trees' leaves to `score` in tree order, branching once per reachable split node as
//! lleaves does with LLVM: a split loads `row[feature]` and compares it with its threshold as a
//! constant — `x <= threshold` left, NaN to the learned default side, IEEE comparison so that
//! `-0.0 <= 0.0` and infinities order as in Rust — and a leaf jumps to its tree's join block with
//! its value. A split whose children are both leaves picks the value by a conditional move instead
//! of a branch (its outcome is the least predictable of the path). The score starts at
//! `base_score` and goes through the blocks in order, so every row's sum is made of exactly the
//! additions of [`TreeEnsemble::raw_score`], with the same bits. The link function (the sigmoid of
//! [`mlsys_train::sigmoid`] for classification) is applied in Rust after the calls. One row runs
//! through every block in turn; a batch ([`CompiledModel::score_many`]) runs a few hundred rows
//! through one block before the next, so that a block's code stays in the instruction cache.
//!
//! **Linear and logistic models** are scored by [`Model::predict`] itself: a loop over the weights
//! that the Rust compiler already turns into tight code, and the one definition of their scores.
//!
//! **Huge ensembles**: an ensemble of more than [`MAX_COMPILED_NODES`] nodes is not compiled (the
//! code and the compile time grow with the node count); it is scored by
//! [`TreeEnsemble::raw_score`], the interpreter over the trees' flat node arrays, with the same bits.
//!
//! Architecture Invariant: no row can make compiled code read out of bounds. The functions read
//! `row[f]` for split features `f` only, all below the row width (the larger of the feature count
//! and the largest split feature plus one); [`CompiledModel::score`] and
//! [`CompiledModel::score_many`] call them directly only on rows at least that long, and copy a
//! shorter row into a NaN-padded buffer (missing inputs), which is what `Model::predict` reads past
//! the end of a row. Trees are checked before any code is made:
//! every split's children in range and after it, so the code is a DAG that always reaches a leaf.
#![allow(unsafe_code)]

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{self, AbiParam, BlockArg, InstBuilder, MemFlagsData, types};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};
use mlsys_train::{Model, Task, Tree, TreeEnsemble, TreeNode, sigmoid};

use crate::abi::ModelFunction;
use crate::compiled::{ModuleOwner, codegen, host_isa};
use crate::error::JitError;

/// The largest ensemble, in nodes over all trees, compiled to native code; larger ones are
/// interpreted. Compile time grows linearly, about 7 µs a node on a release build: 0.2 s for 200
/// full trees of depth 6, 1.7 s for 2000 of them (just under this limit).
pub const MAX_COMPILED_NODES: usize = 1 << 18;

/// A model ready to score rows. `Send + Sync`: share one between any number of threads.
pub struct CompiledModel {
    task: Task,
    feature_count: usize,
    scorer: Scorer,
}

enum Scorer {
    /// A tree ensemble compiled to native code: the raw score, then the link function.
    Native(Box<NativeEnsemble>),
    /// A linear model, or an ensemble over the node limit: the model's own scorer.
    Reference(Model),
}

struct NativeEnsemble {
    base_score: f64,
    /// One function per block of consecutive trees, in tree order; each reads `row[0..width]`.
    functions: Vec<ModelFunction>,
    width: usize,
    // Declared last: the code is freed after the function pointers are gone.
    _module: ModuleOwner,
}

impl std::fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledModel")
            .field("task", &self.task)
            .field("feature_count", &self.feature_count)
            .field("native", &self.is_native())
            .finish()
    }
}

/// Compiles a model for scoring; tree ensembles of at most [`MAX_COMPILED_NODES`] nodes become
/// native code. Fails on a tree without nodes or with a child out of range or not after its
/// parent (which [`Model::from_bytes`] refuses too), and on a host Cranelift does not support.
pub fn compile_model(model: &Model) -> Result<CompiledModel, JitError> {
    compile_model_with_node_limit(model, MAX_COMPILED_NODES)
}

/// [`compile_model`] with another node limit: ensembles of more than `node_limit` nodes are
/// interpreted.
pub fn compile_model_with_node_limit(model: &Model, node_limit: usize) -> Result<CompiledModel, JitError> {
    let scorer = match model {
        Model::TreeEnsemble(ensemble) => {
            let width = check_ensemble(ensemble)?;
            let nodes: usize = ensemble.trees.iter().map(|tree| tree.nodes.len()).sum();
            if nodes <= node_limit {
                Scorer::Native(Box::new(compile_ensemble(ensemble, width)?))
            } else {
                Scorer::Reference(model.clone())
            }
        }
        Model::Linear(_) | Model::Logistic(_) => Scorer::Reference(model.clone()),
    };
    Ok(CompiledModel {
        task: model.task(),
        feature_count: model.feature_names().len(),
        scorer,
    })
}

impl CompiledModel {
    /// What the score means: a probability of `true` (classification) or a value (regression).
    pub fn task(&self) -> Task {
        self.task
    }

    /// The number of inputs the model was trained on; `row[i]` is its input `i`.
    pub fn feature_count(&self) -> usize {
        self.feature_count
    }

    /// Whether the model runs as native code (a tree ensemble within the node limit).
    pub fn is_native(&self) -> bool {
        matches!(self.scorer, Scorer::Native(_))
    }

    /// Scores one row, with the bits of [`Model::predict`]: NaN is missing, and so is every input
    /// past the end of a short row.
    pub fn score(&self, row: &[f64]) -> f64 {
        match &self.scorer {
            Scorer::Native(native) => {
                let raw = native.raw_score(row);
                match self.task {
                    Task::Classification => sigmoid(raw),
                    Task::Regression => raw,
                }
            }
            Scorer::Reference(model) => model.predict(row),
        }
    }

    /// Scores the rows of a row-major matrix of `features` columns, appending one score per row to
    /// `out`. Fails, appending nothing, when `rows` is not a whole number of rows of a positive
    /// width; a width below the model's reads the missing inputs as NaN, as [`CompiledModel::score`].
    pub fn score_many(&self, rows: &[f64], features: usize, out: &mut Vec<f64>) -> Result<(), JitError> {
        if features == 0 || !rows.len().is_multiple_of(features) {
            return Err(JitError::RowMatrixShape {
                values: rows.len(),
                features,
            });
        }
        match &self.scorer {
            Scorer::Native(native) if features >= native.width => {
                let first = out.len();
                native.raw_scores(rows, features, out);
                if self.task == Task::Classification {
                    out[first..].iter_mut().for_each(|score| *score = sigmoid(*score));
                }
            }
            _ => out.extend(rows.chunks_exact(features).map(|row| self.score(row))),
        }
        Ok(())
    }
}

impl NativeEnsemble {
    fn raw_score(&self, row: &[f64]) -> f64 {
        if row.len() >= self.width {
            return self.functions.iter().fold(self.base_score, |score, function| {
                // SAFETY: the function reads only `row[0..width]` (see the module's invariant),
                // and the row holds that many values; it writes nothing and keeps no pointer.
                unsafe { function(row.as_ptr(), score) }
            });
        }
        let mut padded = vec![f64::NAN; self.width];
        padded[..row.len()].copy_from_slice(row);
        self.raw_score(&padded)
    }

    /// Adds the raw score of each row of `rows` (`features >= width` values each) to `out`:
    /// block by block over a few hundred rows at a time, so that a block's code stays in the
    /// instruction cache across rows. Each row's sum is still base score, then trees in order.
    fn raw_scores(&self, rows: &[f64], features: usize, out: &mut Vec<f64>) {
        const ROWS_PER_CHUNK: usize = 256;
        let first = out.len();
        out.resize(first + rows.len() / features, self.base_score);
        let chunks = rows
            .chunks(ROWS_PER_CHUNK * features)
            .zip(out[first..].chunks_mut(ROWS_PER_CHUNK));
        for (chunk, scores) in chunks {
            for function in &self.functions {
                for (row, score) in chunk.chunks_exact(features).zip(scores.iter_mut()) {
                    // SAFETY: as in `raw_score`: the caller gives rows of at least `width` values.
                    *score = unsafe { function(row.as_ptr(), *score) };
                }
            }
        }
    }
}

/// Checks what the generated code relies on and returns the row width it reads.
fn check_ensemble(ensemble: &TreeEnsemble) -> Result<usize, JitError> {
    let mut width = ensemble.feature_names.len();
    for (tree_index, tree) in ensemble.trees.iter().enumerate() {
        if tree.nodes.is_empty() {
            return Err(JitError::EmptyTree { tree: tree_index });
        }
        for (node_index, node) in tree.nodes.iter().enumerate() {
            if let TreeNode::Split {
                feature, left, right, ..
            } = *node
            {
                for child in [left, right] {
                    let child = child as usize;
                    if child <= node_index || child >= tree.nodes.len() {
                        return Err(JitError::TreeChild {
                            tree: tree_index,
                            node: node_index,
                            child,
                        });
                    }
                }
                width = width.max(feature as usize + 1);
            }
        }
    }
    Ok(width)
}

/// Byte offset of `row[feature]`, if a load can address it.
fn feature_offset(feature: u32) -> Result<i32, JitError> {
    i32::try_from(u64::from(feature) * 8).map_err(|_| JitError::Codegen(format!("feature {feature} is out of reach")))
}

/// Consecutive trees of about this many nodes in all are compiled into one function: small enough
/// for its code to stay in the instruction cache while a batch's rows go through it (lleaves
/// blocks 34 trees), large enough for the calls between blocks to cost nothing noticeable.
const NODES_PER_FUNCTION: usize = 4096;

fn compile_ensemble(ensemble: &TreeEnsemble, width: usize) -> Result<NativeEnsemble, JitError> {
    let jit_builder = JITBuilder::with_isa(host_isa()?, default_libcall_names());
    // Owned from here on, so that an error below still frees the module's memory.
    let mut owner = ModuleOwner(Some(JITModule::new(jit_builder)));
    let module = owner
        .0
        .as_mut()
        .ok_or_else(|| JitError::Codegen("the module is gone".into()))?;
    let mut function_ids = Vec::new();
    let mut trees = &ensemble.trees[..];
    while !trees.is_empty() {
        let mut nodes = 0;
        let count = trees
            .iter()
            .take_while(|tree| {
                let fits = nodes < NODES_PER_FUNCTION;
                nodes += tree.nodes.len();
                fits
            })
            .count();
        let (block, rest) = trees.split_at(count);
        function_ids.push(define_tree_block(module, function_ids.len(), block)?);
        trees = rest;
    }
    module.finalize_definitions().map_err(codegen)?;
    let functions = function_ids
        .into_iter()
        .map(|id| {
            let code = module.get_finalized_function(id);
            // SAFETY: `code` is a finalized function defined with the signature of
            // `ModelFunction` (a pointer and a float64 in, a float64 out, the host's default C
            // calling convention).
            unsafe { std::mem::transmute::<*const u8, ModelFunction>(code) }
        })
        .collect();
    Ok(NativeEnsemble {
        base_score: ensemble.base_score,
        functions,
        width,
        _module: owner,
    })
}

/// Defines `fn(row, score) -> score + Σ leaf` over `trees`, adding in tree order.
fn define_tree_block(module: &mut JITModule, index: usize, trees: &[Tree]) -> Result<FuncId, JitError> {
    let mut signature = module.make_signature();
    signature.params = vec![AbiParam::new(types::I64), AbiParam::new(types::F64)];
    signature.returns = vec![AbiParam::new(types::F64)];
    let function_id = module
        .declare_function(&format!("mlsys_trees_{index}"), Linkage::Local, &signature)
        .map_err(codegen)?;
    let mut context = module.make_context();
    context.func.signature = signature;
    let mut function_context = FunctionBuilderContext::new();
    let mut builder = FunctionBuilder::new(&mut context.func, &mut function_context);
    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    builder.switch_to_block(entry);
    let (row, mut score) = (builder.block_params(entry)[0], builder.block_params(entry)[1]);
    for tree in trees {
        let leaf = lower_tree(&mut builder, row, tree)?;
        score = builder.ins().fadd(score, leaf);
    }
    builder.ins().return_(&[score]);
    builder.seal_all_blocks();
    builder.finalize(module.target_config());
    module.define_function(function_id, &mut context).map_err(codegen)?;
    Ok(function_id)
}

/// Emits one tree from the current block: one block per reachable node, every leaf jumping to a
/// join block with its value. Returns that value, in the join block, which becomes current.
fn lower_tree(builder: &mut FunctionBuilder<'_>, row: ir::Value, tree: &Tree) -> Result<ir::Value, JitError> {
    if let [TreeNode::Leaf { value }] = tree.nodes[..] {
        return Ok(builder.ins().f64const(value));
    }
    let join = builder.create_block();
    let leaf = builder.append_block_param(join, types::F64);
    // Children come after their parent (checked), so one pass in order finds every reachable node
    // and creates its block before any node jumps to it.
    let mut blocks: Vec<Option<ir::Block>> = vec![None; tree.nodes.len()];
    let root = builder.create_block();
    blocks[0] = Some(root);
    builder.ins().jump(root, &[]);
    for (index, node) in tree.nodes.iter().enumerate() {
        let Some(block) = blocks[index] else { continue };
        builder.switch_to_block(block);
        match *node {
            TreeNode::Leaf { value } => {
                let value = builder.ins().f64const(value);
                builder.ins().jump(join, &[BlockArg::Value(value)]);
            }
            TreeNode::Split {
                feature,
                threshold,
                missing_goes_left,
                left,
                right,
            } => {
                let flags = MemFlagsData::trusted().with_readonly();
                let x = builder.ins().load(types::F64, flags, row, feature_offset(feature)?);
                let go_left = goes_left(builder, x, threshold, missing_goes_left);
                let children = (tree.nodes[left as usize], tree.nodes[right as usize]);
                if let (TreeNode::Leaf { value: left }, TreeNode::Leaf { value: right }) = children {
                    // Both children are leaves: choose the value without a branch (a conditional
                    // move of its bits), sparing the least predictable branch of the path.
                    let left = builder.ins().iconst(types::I64, left.to_bits() as i64);
                    let right = builder.ins().iconst(types::I64, right.to_bits() as i64);
                    let bits = builder.ins().select(go_left, left, right);
                    let value = builder.ins().bitcast(types::F64, MemFlagsData::new(), bits);
                    builder.ins().jump(join, &[BlockArg::Value(value)]);
                } else {
                    let left = *blocks[left as usize].get_or_insert_with(|| builder.create_block());
                    let right = *blocks[right as usize].get_or_insert_with(|| builder.create_block());
                    builder.ins().brif(go_left, left, &[], right, &[]);
                }
            }
        }
    }
    builder.switch_to_block(join);
    Ok(leaf)
}

/// `if x.is_nan() { missing_goes_left } else { x <= threshold }`, as one comparison.
fn goes_left(builder: &mut FunctionBuilder<'_>, x: ir::Value, threshold: f64, missing_goes_left: bool) -> ir::Value {
    if threshold.is_nan() {
        // A number never compares `<=` to NaN: only a missing input can go left.
        return if missing_goes_left {
            builder.ins().fcmp(FloatCC::Unordered, x, x)
        } else {
            builder.ins().iconst(types::I8, 0)
        };
    }
    let threshold = builder.ins().f64const(threshold);
    // With a number as threshold, "unordered" means exactly that `x` is NaN.
    let condition = if missing_goes_left {
        FloatCC::UnorderedOrLessThanOrEqual
    } else {
        FloatCC::LessThanOrEqual
    };
    builder.ins().fcmp(condition, x, threshold)
}
