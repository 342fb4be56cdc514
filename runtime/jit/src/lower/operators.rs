//! Operators, `in` and `if`, inline: each case mirrors `mlsys_kernels::interpret::operators` and
//! emits the IEEE or wrapping instruction that is the kernel's definition (`wrapping_add` is
//! `iadd`, IEEE `a / b` is `fdiv`, `partial_cmp` is `fcmp`). String comparison calls the kernel.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{self, InstBuilder, types};
use mlsys_compiler::plan::{BinaryOp, ExprId, Literal, UnaryOp};
use mlsys_compiler::types::BaseType;
use mlsys_kernels::operators::Comparison;

use crate::error::JitError;
use crate::kernels::Kernel;
use crate::lower::{Lowered, Lowerer, Payload};

impl Lowerer<'_> {
    pub(super) fn unary(
        &mut self,
        id: ExprId,
        op: UnaryOp,
        operand: ExprId,
        declared: BaseType,
        depth: usize,
    ) -> Result<Lowered, JitError> {
        let value = self.expr(operand, depth)?;
        if value.always_null {
            return Ok(self.constant_null(declared));
        }
        let scalar = Self::scalar(id, &value)?;
        let result = match (op, value.base) {
            (UnaryOp::Negate, BaseType::Int64 | BaseType::Duration) => self.builder.ins().ineg(scalar),
            (UnaryOp::Negate, BaseType::Float64) => self.builder.ins().fneg(scalar),
            (UnaryOp::Not, BaseType::Bool) => self.builder.ins().bxor_imm_u(scalar, 1),
            (op, base) => return Err(JitError::unsupported(id, format!("{op:?} of {}", base.name()))),
        };
        Ok(self.with_null(value.base, value.null, Payload::Scalar(result)))
    }

    pub(super) fn binary(
        &mut self,
        id: ExprId,
        op: BinaryOp,
        lhs: ExprId,
        rhs: ExprId,
        declared: BaseType,
        depth: usize,
    ) -> Result<Lowered, JitError> {
        let lhs = self.expr(lhs, depth)?;
        let rhs = self.expr(rhs, depth)?;
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let lhs = self.coerce_for(id, lhs, BaseType::Bool, "an operand of `and`/`or`")?;
            let rhs = self.coerce_for(id, rhs, BaseType::Bool, "an operand of `and`/`or`")?;
            return self.logic(id, op, lhs, rhs);
        }
        // A null operand gives null before anything looks at types.
        if lhs.always_null || rhs.always_null {
            return Ok(self.constant_null(declared));
        }
        if let Some(comparison) = Comparison::from_binary(op) {
            return self.compare(id, comparison, lhs, rhs);
        }
        let (a, b) = (Self::scalar(id, &lhs)?, Self::scalar(id, &rhs)?);
        use BaseType::*;
        let (base, result) = match (op, lhs.base, rhs.base) {
            (BinaryOp::Add, Int64, Int64) => (Int64, self.ins().iadd(a, b)),
            (BinaryOp::Subtract, Int64, Int64) => (Int64, self.ins().isub(a, b)),
            (BinaryOp::Multiply, Int64, Int64) => (Int64, self.ins().imul(a, b)),
            (BinaryOp::Add, Timestamp, Duration) | (BinaryOp::Add, Duration, Timestamp) => {
                (Timestamp, self.ins().iadd(a, b))
            }
            (BinaryOp::Subtract, Timestamp, Duration) => (Timestamp, self.ins().isub(a, b)),
            (BinaryOp::Subtract, Timestamp, Timestamp) => (Duration, self.ins().isub(a, b)),
            (BinaryOp::Add, Duration, Duration) => (Duration, self.ins().iadd(a, b)),
            (BinaryOp::Subtract, Duration, Duration) => (Duration, self.ins().isub(a, b)),
            // Every other arithmetic is on float64 (division always is).
            _ => {
                let mismatch = || {
                    JitError::unsupported(
                        id,
                        format!("{} of {} and {}", op.name(), lhs.base.name(), rhs.base.name()),
                    )
                };
                if !(lhs.base.is_numeric() && rhs.base.is_numeric()) {
                    return Err(mismatch());
                }
                let (a, b) = (self.float_of(id, lhs)?, self.float_of(id, rhs)?);
                let result = match op {
                    BinaryOp::Add => self.ins().fadd(a, b),
                    BinaryOp::Subtract => self.ins().fsub(a, b),
                    BinaryOp::Multiply => self.ins().fmul(a, b),
                    BinaryOp::Divide => self.ins().fdiv(a, b),
                    _ => return Err(mismatch()),
                };
                (Float64, result)
            }
        };
        let null = self.builder.ins().bor(lhs.null, rhs.null);
        Ok(self.with_null(base, null, Payload::Scalar(result)))
    }

    /// SQL three-valued `and` / `or` (`mlsys_kernels::operators::{and3, or3}`).
    fn logic(&mut self, id: ExprId, op: BinaryOp, lhs: Lowered, rhs: Lowered) -> Result<Lowered, JitError> {
        let (a, b) = (Self::scalar(id, &lhs)?, Self::scalar(id, &rhs)?);
        let a_known = self.ins().bxor_imm_u(lhs.null, 1);
        let b_known = self.ins().bxor_imm_u(rhs.null, 1);
        // The value that decides alone: `false` for `and`, `true` for `or`.
        let (a_decides, b_decides) = if op == BinaryOp::And {
            let not_a = self.ins().bxor_imm_u(a, 1);
            let not_b = self.ins().bxor_imm_u(b, 1);
            (self.ins().band(a_known, not_a), self.ins().band(b_known, not_b))
        } else {
            (self.ins().band(a_known, a), self.ins().band(b_known, b))
        };
        let decided = self.ins().bor(a_decides, b_decides);
        let some_null = self.ins().bor(lhs.null, rhs.null);
        let undecided = self.ins().bxor_imm_u(decided, 1);
        let null = self.ins().band(some_null, undecided);
        // Not null: decided gives false for `and` and true for `or`; otherwise both operands agree.
        let value = if op == BinaryOp::And {
            self.ins().bxor_imm_u(decided, 1)
        } else {
            decided
        };
        Ok(self.with_null(BaseType::Bool, null, Payload::Scalar(value)))
    }

    /// A comparison of two values that are not the `null` literal (`interpret::operators::compare`).
    pub(super) fn compare(
        &mut self,
        id: ExprId,
        comparison: Comparison,
        lhs: Lowered,
        rhs: Lowered,
    ) -> Result<Lowered, JitError> {
        use BaseType::*;
        if comparison.is_ordering() && lhs.base == Bool {
            return Err(JitError::unsupported(id, "bool values are not ordered"));
        }
        let holds = match (lhs.base, rhs.base) {
            (Bool, Bool) | (Int64, Int64) | (Date, Date) | (Timestamp, Timestamp) | (Duration, Duration) => {
                let (a, b) = (Self::scalar(id, &lhs)?, Self::scalar(id, &rhs)?);
                self.builder.ins().icmp(int_condition(comparison), a, b)
            }
            (String, String) => {
                let (a_ptr, a_len) = Self::text(id, &lhs)?;
                let (b_ptr, b_len) = Self::text(id, &rhs)?;
                let order = self.kernel_value(Kernel::CompareStr, &[a_ptr, a_len, b_ptr, b_len])?;
                self.builder.ins().icmp_imm_s(int_condition(comparison), order, 0)
            }
            (a, b) if a.is_numeric() && b.is_numeric() => {
                let (a, b) = (self.float_of(id, lhs)?, self.float_of(id, rhs)?);
                self.builder.ins().fcmp(float_condition(comparison), a, b)
            }
            (a, b) => {
                return Err(JitError::unsupported(
                    id,
                    format!("comparison of {} with {}", a.name(), b.name()),
                ));
            }
        };
        let null = self.builder.ins().bor(lhs.null, rhs.null);
        Ok(self.with_null(Bool, null, Payload::Scalar(holds)))
    }

    /// `x in [items]` (`interpret::operators::in_list`), then `not` if negated.
    pub(super) fn in_list(
        &mut self,
        id: ExprId,
        operand: ExprId,
        items: &[Literal],
        negated: bool,
        depth: usize,
    ) -> Result<Lowered, JitError> {
        let value = self.expr(operand, depth)?;
        if value.always_null {
            return Ok(self.constant_null(BaseType::Bool));
        }
        let mut found = self.builder.ins().iconst(types::I8, 0);
        let mut saw_null = false;
        for item in items {
            if *item == Literal::Null {
                saw_null = true;
                continue;
            }
            let item = self.literal(item, value.base)?;
            let equal = self.compare(id, Comparison::Equal, value, item)?;
            let equal = Self::scalar(id, &equal)?;
            found = self.builder.ins().bor(found, equal);
        }
        // Null when the operand is, or when nothing matched and an item is null.
        let null = if saw_null {
            let missed = self.builder.ins().bxor_imm_u(found, 1);
            self.builder.ins().bor(value.null, missed)
        } else {
            value.null
        };
        let result = if negated {
            self.builder.ins().bxor_imm_u(found, 1)
        } else {
            found
        };
        Ok(self.with_null(BaseType::Bool, null, Payload::Scalar(result)))
    }

    /// `if c1 then e1 else if ... else en`: the first condition that is `true` (not false, not
    /// null) selects its branch; only the selected branch runs.
    pub(super) fn if_chain(
        &mut self,
        id: ExprId,
        branches: &[(ExprId, ExprId)],
        otherwise: ExprId,
        declared: BaseType,
        depth: usize,
    ) -> Result<Lowered, JitError> {
        let merge = self.merge_block(declared);
        for (condition, then) in branches {
            let condition = self.expr(*condition, depth)?;
            if condition.always_null {
                continue;
            }
            let condition = self.coerce_for(id, condition, BaseType::Bool, "an `if` condition")?;
            let truth = Self::scalar(id, &condition)?;
            let known = self.builder.ins().bxor_imm_u(condition.null, 1);
            let taken = self.builder.ins().band(truth, known);
            let then_block = self.builder.create_block();
            let next_block = self.builder.create_block();
            self.builder.ins().brif(taken, then_block, &[], next_block, &[]);
            self.builder.switch_to_block(then_block);
            let value = self.expr(*then, depth)?;
            let value = self.coerce_for(id, value, declared, "an `if` branch")?;
            self.jump_with(merge, &value);
            self.builder.switch_to_block(next_block);
        }
        let value = self.expr(otherwise, depth)?;
        let value = self.coerce_for(id, value, declared, "the `else` branch")?;
        self.jump_with(merge, &value);
        Ok(self.enter_merge(merge, declared))
    }

    /// The total order of `least`, `greatest` and `clamp` on floats (`order::total_cmp_f64`) as a
    /// signed integer key: IEEE totalOrder's key, with every NaN mapped above +inf.
    pub(super) fn total_order_key(&mut self, x: ir::Value) -> ir::Value {
        let bits = self.ins().bitcast(types::I64, ir::MemFlagsData::new(), x);
        let sign = self.ins().sshr_imm_u(bits, 63);
        let magnitude_mask = self.ins().ushr_imm_u(sign, 1);
        let key = self.ins().bxor(bits, magnitude_mask);
        let is_nan = self.ins().fcmp(FloatCC::Unordered, x, x);
        let above_everything = self.ins().iconst(types::I64, i64::MAX);
        self.ins().select(is_nan, above_everything, key)
    }
}

fn int_condition(comparison: Comparison) -> IntCC {
    match comparison {
        Comparison::Equal => IntCC::Equal,
        Comparison::NotEqual => IntCC::NotEqual,
        Comparison::Less => IntCC::SignedLessThan,
        Comparison::LessEqual => IntCC::SignedLessThanOrEqual,
        Comparison::Greater => IntCC::SignedGreaterThan,
        Comparison::GreaterEqual => IntCC::SignedGreaterThanOrEqual,
    }
}

/// IEEE: ordered comparisons are false on NaN, `!=` is true (unordered or not equal).
fn float_condition(comparison: Comparison) -> FloatCC {
    match comparison {
        Comparison::Equal => FloatCC::Equal,
        Comparison::NotEqual => FloatCC::NotEqual,
        Comparison::Less => FloatCC::LessThan,
        Comparison::LessEqual => FloatCC::LessThanOrEqual,
        Comparison::Greater => FloatCC::GreaterThan,
        Comparison::GreaterEqual => FloatCC::GreaterThanOrEqual,
    }
}
