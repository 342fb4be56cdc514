//! Builtin calls, mirroring `mlsys_kernels::interpret::call`: `coalesce` and `is_null` and the
//! builtins that are an exact instruction (`sqrt`, `floor`, `ceil`, `abs`, the total order of
//! `least`/`greatest`/`clamp`) inline; every other builtin calls its kernel through a shim.

use std::cmp::Ordering;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, types};
use mlsys_compiler::builtins::Builtin;
use mlsys_compiler::plan::{ExprId, ExprKind, Literal};
use mlsys_compiler::types::BaseType;

use crate::error::JitError;
use crate::kernels::Kernel;
use crate::lower::{Lowered, Lowerer, Payload};

impl Lowerer<'_> {
    pub(super) fn call(
        &mut self,
        id: ExprId,
        function: Builtin,
        arguments: &[ExprId],
        declared: BaseType,
        depth: usize,
    ) -> Result<Lowered, JitError> {
        let values = arguments
            .iter()
            .map(|argument| self.expr(*argument, depth))
            .collect::<Result<Vec<_>, _>>()?;
        let wrong = || {
            let shown: Vec<&str> = values.iter().map(|value| value.base.name()).collect();
            JitError::unsupported(
                id,
                format!("`{}` has no definition for ({})", function.name(), shown.join(", ")),
            )
        };
        match function {
            Builtin::Coalesce => return self.coalesce(id, &values, declared),
            Builtin::IsNull => {
                let [value] = values[..] else { return Err(wrong()) };
                return Ok(self.known(BaseType::Bool, Payload::Scalar(value.null)));
            }
            _ => {}
        }
        // Every other builtin is null when any argument is.
        if values.iter().any(|value| value.always_null) {
            return Ok(self.constant_null(declared));
        }
        let null = self.any_null(&values);
        let scalar = |base: BaseType, value: ir::Value| (base, Payload::Scalar(value));
        let (base, payload) = match function {
            Builtin::Ln | Builtin::Log10 | Builtin::Exp | Builtin::Round => {
                let [x] = values[..] else { return Err(wrong()) };
                let x = self.float_of(id, x)?;
                let kernel = match function {
                    Builtin::Ln => Kernel::Ln,
                    Builtin::Log10 => Kernel::Log10,
                    Builtin::Exp => Kernel::Exp,
                    _ => Kernel::Round,
                };
                scalar(BaseType::Float64, self.kernel_value(kernel, &[x])?)
            }
            // Correctly rounded or exact IEEE operations: the instruction is the definition.
            Builtin::Sqrt | Builtin::Floor | Builtin::Ceil => {
                let [x] = values[..] else { return Err(wrong()) };
                let x = self.float_of(id, x)?;
                let result = match function {
                    Builtin::Sqrt => self.builder.ins().sqrt(x),
                    Builtin::Floor => self.builder.ins().floor(x),
                    _ => self.builder.ins().ceil(x),
                };
                scalar(BaseType::Float64, result)
            }
            Builtin::Abs => {
                let [x] = values[..] else { return Err(wrong()) };
                let value = Self::scalar(id, &x)?;
                match x.base {
                    BaseType::Int64 => {
                        // Wrapping: abs(-2^63) = -2^63.
                        let negated = self.builder.ins().ineg(value);
                        let negative = self.builder.ins().icmp_imm_s(IntCC::SignedLessThan, value, 0);
                        scalar(BaseType::Int64, self.builder.ins().select(negative, negated, value))
                    }
                    BaseType::Float64 => scalar(BaseType::Float64, self.builder.ins().fabs(value)),
                    _ => return Err(wrong()),
                }
            }
            Builtin::Pow => {
                let [x, y] = values[..] else { return Err(wrong()) };
                let (x, y) = (self.float_of(id, x)?, self.float_of(id, y)?);
                scalar(BaseType::Float64, self.kernel_value(Kernel::Pow, &[x, y])?)
            }
            Builtin::Clamp => {
                let [x, lo, hi] = values[..] else { return Err(wrong()) };
                if [x, lo, hi].iter().all(|value| value.base == BaseType::Int64) {
                    let (x, lo, hi) = (Self::scalar(id, &x)?, Self::scalar(id, &lo)?, Self::scalar(id, &hi)?);
                    let raised = self.builder.ins().smax(x, lo);
                    scalar(BaseType::Int64, self.builder.ins().smin(raised, hi))
                } else {
                    let (x, lo, hi) = (self.float_of(id, x)?, self.float_of(id, lo)?, self.float_of(id, hi)?);
                    let raised = self.pick_float(lo, x, Ordering::Greater);
                    scalar(BaseType::Float64, self.pick_float(hi, raised, Ordering::Less))
                }
            }
            Builtin::Least => return self.extreme(id, &values, null, Ordering::Less).ok_or_else(wrong)?,
            Builtin::Greatest => return self.extreme(id, &values, null, Ordering::Greater).ok_or_else(wrong)?,
            Builtin::Lower | Builtin::Upper => {
                let [text] = values[..] else { return Err(wrong()) };
                let (ptr, len) = Self::text(id, &text)?;
                let kernel = if function == Builtin::Lower {
                    Kernel::Lower
                } else {
                    Kernel::Upper
                };
                return self.guarded(null, BaseType::String, |lowerer| {
                    let out = lowerer.stack_slot(16)?;
                    let out_address = lowerer.builder.ins().stack_addr(types::I64, out, 0);
                    let arena = lowerer.arena();
                    lowerer.kernel(kernel, &[arena, ptr, len, out_address])?;
                    Ok(lowerer.load_text(out))
                });
            }
            Builtin::Concat => {
                if values.is_empty() {
                    return Err(wrong());
                }
                let parts = values
                    .iter()
                    .map(|value| Self::text(id, value))
                    .collect::<Result<Vec<_>, _>>()?;
                return self.guarded(null, BaseType::String, |lowerer| {
                    let slot = lowerer.stack_slot(16 * parts.len())?;
                    for (index, (ptr, len)) in parts.iter().enumerate() {
                        let offset = i32::try_from(16 * index)
                            .map_err(|_| JitError::Codegen("too many concat arguments".into()))?;
                        lowerer.builder.ins().stack_store(types::I64, *ptr, slot, offset);
                        lowerer.builder.ins().stack_store(types::I64, *len, slot, offset + 8);
                    }
                    let parts_address = lowerer.builder.ins().stack_addr(types::I64, slot, 0);
                    let count = lowerer.builder.ins().iconst(types::I64, parts.len() as i64);
                    let out = lowerer.stack_slot(16)?;
                    let out_address = lowerer.builder.ins().stack_addr(types::I64, out, 0);
                    let arena = lowerer.arena();
                    lowerer.kernel(Kernel::Concat, &[arena, parts_address, count, out_address])?;
                    Ok(lowerer.load_text(out))
                });
            }
            Builtin::Length => {
                let [text] = values[..] else { return Err(wrong()) };
                let (ptr, len) = Self::text(id, &text)?;
                scalar(BaseType::Int64, self.kernel_value(Kernel::Length, &[ptr, len])?)
            }
            Builtin::Contains | Builtin::StartsWith => {
                let [text, part] = values[..] else { return Err(wrong()) };
                let (ptr, len) = Self::text(id, &text)?;
                let (part_ptr, part_len) = Self::text(id, &part)?;
                let kernel = if function == Builtin::Contains {
                    Kernel::Contains
                } else {
                    Kernel::StartsWith
                };
                let result = self.kernel_value(kernel, &[ptr, len, part_ptr, part_len])?;
                scalar(
                    BaseType::Bool,
                    self.builder.ins().icmp_imm_s(IntCC::NotEqual, result, 0),
                )
            }
            Builtin::Hour | Builtin::DateOf => {
                let [t] = values[..] else { return Err(wrong()) };
                if t.base != BaseType::Timestamp {
                    return Err(wrong());
                }
                let t = Self::scalar(id, &t)?;
                if function == Builtin::Hour {
                    scalar(BaseType::Int64, self.kernel_value(Kernel::Hour, &[t])?)
                } else {
                    scalar(BaseType::Date, self.kernel_value(Kernel::DateOf, &[t])?)
                }
            }
            Builtin::DayOfWeek | Builtin::Day | Builtin::Month | Builtin::Year => {
                let [x] = values[..] else { return Err(wrong()) };
                let (of_date, of_timestamp) = match function {
                    Builtin::DayOfWeek => (Kernel::DayOfWeekDate, Kernel::DayOfWeekTimestamp),
                    Builtin::Day => (Kernel::DayDate, Kernel::DayTimestamp),
                    Builtin::Month => (Kernel::MonthDate, Kernel::MonthTimestamp),
                    _ => (Kernel::YearDate, Kernel::YearTimestamp),
                };
                let kernel = match x.base {
                    BaseType::Date => of_date,
                    BaseType::Timestamp => of_timestamp,
                    _ => return Err(wrong()),
                };
                let x = Self::scalar(id, &x)?;
                scalar(BaseType::Int64, self.kernel_value(kernel, &[x])?)
            }
            Builtin::HashBucket => {
                let [x, _] = values[..] else { return Err(wrong()) };
                let buckets = self.bucket_count(id, arguments)?;
                let buckets = self.builder.ins().iconst(types::I64, buckets);
                let result = match x.base {
                    BaseType::String => {
                        let (ptr, len) = Self::text(id, &x)?;
                        self.kernel_value(Kernel::HashBucketStr, &[ptr, len, buckets])?
                    }
                    BaseType::Int64 => {
                        let x = Self::scalar(id, &x)?;
                        self.kernel_value(Kernel::HashBucketInt, &[x, buckets])?
                    }
                    _ => return Err(wrong()),
                };
                scalar(BaseType::Int64, result)
            }
            Builtin::Bucketize => {
                let [x, ref edges @ ..] = values[..] else {
                    return Err(wrong());
                };
                if edges.is_empty() {
                    return Err(wrong());
                }
                let x = self.float_of(id, x)?;
                let slot = self.stack_slot(8 * edges.len())?;
                for (index, edge) in edges.iter().enumerate() {
                    let edge = self.float_of(id, *edge)?;
                    let offset =
                        i32::try_from(8 * index).map_err(|_| JitError::Codegen("too many bucketize edges".into()))?;
                    self.builder.ins().stack_store(types::I64, edge, slot, offset);
                }
                let address = self.builder.ins().stack_addr(types::I64, slot, 0);
                let count = self.builder.ins().iconst(types::I64, edges.len() as i64);
                scalar(
                    BaseType::Int64,
                    self.kernel_value(Kernel::Bucketize, &[x, address, count])?,
                )
            }
            Builtin::Coalesce | Builtin::IsNull => return Err(wrong()),
        };
        Ok(self.with_null(base, null, payload))
    }

    /// The first non-null argument (NaN is not null), null if every argument is.
    fn coalesce(&mut self, id: ExprId, values: &[Lowered], declared: BaseType) -> Result<Lowered, JitError> {
        let Some((last, rest)) = values.split_last() else {
            return Err(JitError::unsupported(id, "`coalesce` of nothing"));
        };
        let mut result = self.coerce_for(id, *last, declared, "a `coalesce` argument")?;
        for value in rest.iter().rev() {
            let value = self.coerce_for(id, *value, declared, "a `coalesce` argument")?;
            let present = self.builder.ins().bxor_imm_u(value.null, 1);
            result = self.select(present, value, result);
        }
        Ok(result)
    }

    /// `least` (`wanted` = Less) or `greatest`: the leftmost extreme in the total order; mixed
    /// int64 and float64 compare and return as float64. `None` when the types cannot be compared.
    fn extreme(
        &mut self,
        id: ExprId,
        values: &[Lowered],
        null: ir::Value,
        wanted: Ordering,
    ) -> Option<Result<Lowered, JitError>> {
        if values.len() < 2 {
            return None;
        }
        let mixed_numbers = values.iter().any(|value| value.base == BaseType::Float64)
            && values.iter().all(|value| value.base.is_numeric());
        if mixed_numbers {
            let floats = values
                .iter()
                .map(|value| self.float_of(id, *value))
                .collect::<Result<Vec<_>, _>>();
            let floats = match floats {
                Ok(floats) => floats,
                Err(error) => return Some(Err(error)),
            };
            let best = floats[1..]
                .iter()
                .fold(floats[0], |best, candidate| self.pick_float(*candidate, best, wanted));
            return Some(Ok(self.with_null(BaseType::Float64, null, Payload::Scalar(best))));
        }
        let base = values[0].base;
        if values.iter().any(|value| value.base != base) {
            return None;
        }
        let mut best = values[0];
        for candidate in &values[1..] {
            let better = match self.better(id, *candidate, best, wanted) {
                Ok(better) => better,
                Err(error) => return Some(Err(error)),
            };
            best = self.select(better, *candidate, best);
        }
        Some(Ok(self.with_null(base, null, best.payload)))
    }

    /// An `i8`: whether `candidate` is strictly `wanted` relative to `best` in the total order.
    fn better(
        &mut self,
        id: ExprId,
        candidate: Lowered,
        best: Lowered,
        wanted: Ordering,
    ) -> Result<ir::Value, JitError> {
        let signed = if wanted == Ordering::Less {
            IntCC::SignedLessThan
        } else {
            IntCC::SignedGreaterThan
        };
        Ok(match candidate.base {
            BaseType::Float64 => {
                let (a, b) = (Self::scalar(id, &candidate)?, Self::scalar(id, &best)?);
                let (a, b) = (self.total_order_key(a), self.total_order_key(b));
                self.builder.ins().icmp(signed, a, b)
            }
            BaseType::String => {
                let (a_ptr, a_len) = Self::text(id, &candidate)?;
                let (b_ptr, b_len) = Self::text(id, &best)?;
                let order = self.kernel_value(Kernel::CompareStr, &[a_ptr, a_len, b_ptr, b_len])?;
                self.builder.ins().icmp_imm_s(signed, order, 0)
            }
            BaseType::Bool => {
                let unsigned = if wanted == Ordering::Less {
                    IntCC::UnsignedLessThan
                } else {
                    IntCC::UnsignedGreaterThan
                };
                let (a, b) = (Self::scalar(id, &candidate)?, Self::scalar(id, &best)?);
                self.builder.ins().icmp(unsigned, a, b)
            }
            BaseType::Int64 | BaseType::Date | BaseType::Timestamp | BaseType::Duration => {
                let (a, b) = (Self::scalar(id, &candidate)?, Self::scalar(id, &best)?);
                self.builder.ins().icmp(signed, a, b)
            }
        })
    }

    /// `candidate` if it is strictly `wanted` relative to `best` in the float total order, else
    /// `best` (`math::least_f64(best, candidate)` / `greatest_f64`).
    pub(super) fn pick_float(&mut self, candidate: ir::Value, best: ir::Value, wanted: Ordering) -> ir::Value {
        let condition = if wanted == Ordering::Less {
            IntCC::SignedLessThan
        } else {
            IntCC::SignedGreaterThan
        };
        let (a, b) = (self.total_order_key(candidate), self.total_order_key(best));
        let take = self.builder.ins().icmp(condition, a, b);
        self.builder.ins().select(take, candidate, best)
    }

    /// `hash_bucket`'s bucket count: an int literal of at least 1 (the checker's rule; the
    /// interpreter refuses any other count).
    fn bucket_count(&self, id: ExprId, arguments: &[ExprId]) -> Result<i64, JitError> {
        let literal = arguments
            .get(1)
            .and_then(|argument| self.plan.exprs.get(*argument))
            .map(|argument| &argument.kind);
        match literal {
            Some(ExprKind::Literal {
                value: Literal::Int(buckets),
            }) if *buckets >= 1 => Ok(*buckets),
            _ => Err(JitError::unsupported(
                id,
                "`hash_bucket` needs an int literal bucket count of at least 1",
            )),
        }
    }

    /// The `(pointer, length)` a string kernel wrote to a 16-byte stack slot.
    fn load_text(&mut self, slot: ir::StackSlot) -> Payload {
        let ptr = self.builder.ins().stack_load(types::I64, types::I64, slot, 0);
        let len = self.builder.ins().stack_load(types::I64, types::I64, slot, 8);
        Payload::Text { ptr, len }
    }
}
