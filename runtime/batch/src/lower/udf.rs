//! Kernel-backed DataFusion scalar functions: one [`ScalarUDFImpl`] whose [`Kernel`] names the
//! operator or builtin of `mlsys_kernels` it runs, so the batch engine executes the same Rust
//! functions as the reference interpreter and the online engine.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use mlsys_compiler::builtins::Builtin;
use mlsys_compiler::plan::BinaryOp;

use crate::lower::arrays;

/// What a kernel UDF computes. Float constants are kept as bits so that the UDF is `Eq` and `Hash`
/// (DataFusion compares and hashes functions when it deduplicates expressions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `+`, `-`, `*` of int64 and `±` of timestamps and durations: two's complement wrapping.
    Wrapping(BinaryOp),
    /// `-x` of int64 or duration, wrapping.
    Negate,
    /// `==`, `!=`, `<`, `<=`, `>`, `>=` of float64, IEEE.
    FloatComparison(BinaryOp),
    /// `x in [...]` (or `not in`) of float64: IEEE `==` against each item, SQL null rule.
    FloatIn {
        items: Vec<u64>,
        has_null: bool,
        negated: bool,
    },
    /// A builtin whose arguments are all columns (every builtin but the two below).
    Builtin(Builtin),
    /// `hash_bucket(x, buckets)` with its constant bucket count.
    HashBucket { buckets: i64 },
    /// `bucketize(x, [edges])` with its constant edges (float64 bits).
    Bucketize { edges: Vec<u64> },
}

impl Kernel {
    fn name(&self) -> String {
        match self {
            Kernel::Wrapping(op) => format!("mlsys_wrapping_{}", op.name()),
            Kernel::Negate => "mlsys_negate".to_string(),
            Kernel::FloatComparison(op) => format!("mlsys_float_{}", op.name()),
            Kernel::FloatIn { negated: false, .. } => "mlsys_float_in".to_string(),
            Kernel::FloatIn { negated: true, .. } => "mlsys_float_not_in".to_string(),
            Kernel::Builtin(builtin) => format!("mlsys_{}", builtin.name()),
            Kernel::HashBucket { buckets } => format!("mlsys_hash_bucket_{buckets}"),
            Kernel::Bucketize { .. } => "mlsys_bucketize".to_string(),
        }
    }
}

/// A [`Kernel`] typed for one call site: exact argument types (the lowering casts nothing
/// implicitly) and the language's result type.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KernelUdf {
    kernel: Kernel,
    name: String,
    signature: Signature,
    return_type: DataType,
}

impl KernelUdf {
    pub fn new(kernel: Kernel, argument_types: Vec<DataType>, return_type: DataType) -> KernelUdf {
        KernelUdf {
            name: kernel.name(),
            kernel,
            signature: Signature::exact(argument_types, Volatility::Immutable),
            return_type,
        }
    }

    /// The call of this function on `arguments`, as a DataFusion expression.
    pub fn call(self, arguments: Vec<Expr>) -> Expr {
        Arc::new(ScalarUDF::new_from_impl(self)).call(arguments)
    }
}

impl ScalarUDFImpl for KernelUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _argument_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // All-scalar arguments become one-row arrays, which DataFusion turns back into a scalar.
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = arrays::evaluate(&self.kernel, &arrays, &self.return_type)?;
        Ok(ColumnarValue::Array(result))
    }
}
