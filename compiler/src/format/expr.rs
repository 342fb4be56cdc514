//! Expressions and literals printed back from the syntax tree: canonical spacing, and parentheses
//! only where the precedence of `syntax/parser.rs` needs them.

use std::fmt::Write as _;

use crate::source::Span;
use crate::syntax::ast::{Argument, BinaryOp, DateLiteral, DurationLiteral, Expr, ExprKind, NumberLiteral, UnaryOp};
use crate::syntax::literal;

// Binding strength, loosest first; the levels of the Pratt parser. An `if` counts as the loosest of
// all: its `else` branch would swallow any operator written after it, so as an operand it needs
// parentheses.
const IF: u8 = 0;
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const COMPARISON: u8 = 4;
const SUM: u8 = 5;
const PRODUCT: u8 = 6;
const NEGATE: u8 = 7;
const ATOM: u8 = 8;

/// Prints expressions; the source text is consulted only to keep a duration's spelling (`1w`, `90m`).
pub(super) struct ExprPrinter<'a> {
    source: &'a str,
}

impl<'a> ExprPrinter<'a> {
    pub fn new(source: &'a str) -> Self {
        ExprPrinter { source }
    }

    /// An expression in a delimited position: a whole value, an argument, a list element.
    pub fn expr(&self, expr: &Expr) -> String {
        let mut out = String::new();
        self.write(expr, IF, &mut out);
        out
    }

    /// An `if` condition or branch: a nested `if` is parenthesised, which keeps `else (if ...)`
    /// distinct from a flat `else if` chain and reads more easily elsewhere.
    pub fn branch(&self, expr: &Expr) -> String {
        let mut out = String::new();
        self.write(expr, OR, &mut out);
        out
    }

    pub fn argument(&self, argument: &Argument) -> String {
        match &argument.name {
            Some(name) => format!("{} = {}", name.name, self.expr(&argument.value)),
            None => self.expr(&argument.value),
        }
    }

    /// A duration as written when the source spells this value (`1w` stays `1w`), else canonically.
    pub fn duration(&self, duration: DurationLiteral) -> String {
        self.duration_at(duration.micros, duration.span)
    }

    pub fn date(&self, date: DateLiteral) -> String {
        literal::format_date(date.days)
    }

    /// A drift or metric threshold: integers as their digits, other numbers in shortest round-trip form.
    pub fn number(&self, number: &NumberLiteral) -> String {
        let written: String = self.written(number.span).chars().filter(|c| *c != '_').collect();
        let digits = written.strip_prefix('-').unwrap_or(&written);
        if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
            let sign = if written.starts_with('-') { "-" } else { "" };
            let significant = digits.trim_start_matches('0');
            let significant = if significant.is_empty() { "0" } else { significant };
            let integer = format!("{sign}{significant}");
            if integer.parse::<f64>().map(f64::to_bits) == Ok(number.value.to_bits()) {
                return integer;
            }
        }
        format!("{:?}", number.value)
    }

    fn written(&self, span: Span) -> &str {
        self.source
            .get(span.range())
            .unwrap_or("")
            .trim_matches(|c: char| c == '(' || c == ')' || c.is_whitespace())
    }

    fn duration_at(&self, micros: i64, span: Span) -> String {
        let written = self.written(span);
        if literal::parse_duration(written) == Ok(micros) {
            written.to_string()
        } else {
            literal::format_duration(micros)
        }
    }

    fn write(&self, expr: &Expr, minimum: u8, out: &mut String) {
        if level(expr) < minimum {
            out.push('(');
            self.write_bare(expr, out);
            out.push(')');
        } else {
            self.write_bare(expr, out);
        }
    }

    fn write_bare(&self, expr: &Expr, out: &mut String) {
        match &expr.kind {
            ExprKind::Unary { op, operand } => self.write_unary(*op, operand, out),
            ExprKind::Binary { op, lhs, rhs } => {
                let strength = binary_level(*op);
                self.write(lhs, strength, out);
                let _ = write!(out, " {} ", op.symbol());
                self.write(rhs, strength + 1, out);
            }
            ExprKind::In { negated, operand, list } => {
                self.write(operand, COMPARISON, out);
                out.push_str(if *negated { " not in " } else { " in " });
                self.write_list(list, out);
            }
            ExprKind::If { branches, otherwise } => {
                for (index, (condition, then)) in branches.iter().enumerate() {
                    out.push_str(if index == 0 { "if " } else { " else if " });
                    self.write(condition, OR, out);
                    out.push_str(" then ");
                    self.write(then, OR, out);
                }
                out.push_str(" else ");
                self.write(otherwise, OR, out);
            }
            ExprKind::Call { function, arguments } => {
                out.push_str(&function.name);
                out.push('(');
                let arguments: Vec<String> = arguments.iter().map(|argument| self.argument(argument)).collect();
                out.push_str(&arguments.join(", "));
                out.push(')');
            }
            ExprKind::List(items) => self.write_list(items, out),
            _ => self.write_atom(expr, out),
        }
    }

    fn write_unary(&self, op: UnaryOp, operand: &Expr, out: &mut String) {
        match op {
            UnaryOp::Not => {
                out.push_str("not ");
                self.write(operand, NOT, out);
            }
            UnaryOp::Negate => {
                let double = matches!(
                    operand.kind,
                    ExprKind::Unary {
                        op: UnaryOp::Negate,
                        ..
                    }
                );
                // `- -x`, not `--x`.
                out.push_str(if double { "- " } else { "-" });
                self.write(operand, NEGATE, out);
            }
        }
    }

    fn write_list(&self, items: &[Expr], out: &mut String) {
        let items: Vec<String> = items.iter().map(|item| self.expr(item)).collect();
        out.push('[');
        out.push_str(&items.join(", "));
        out.push(']');
    }

    fn write_atom(&self, expr: &Expr, out: &mut String) {
        let _ = match &expr.kind {
            ExprKind::Int(value) => write!(out, "{value}"),
            ExprKind::Float(value) => write!(out, "{value:?}"),
            ExprKind::String(value) => write!(out, "{}", literal::quote(value)),
            ExprKind::Bool(value) => write!(out, "{value}"),
            ExprKind::Null => write!(out, "null"),
            ExprKind::Date(days) => write!(out, "{}", literal::format_date(*days)),
            ExprKind::Duration(micros) => write!(out, "{}", self.duration_at(*micros, expr.span)),
            ExprKind::DateRange(start, end) => write!(out, "{} .. {}", self.date(*start), self.date(*end)),
            ExprKind::Name(name) => write!(out, "{}", name.name),
            ExprKind::Path(parts) => {
                let parts: Vec<&str> = parts.iter().map(|part| part.name.as_str()).collect();
                write!(out, "{}", parts.join("."))
            }
            ExprKind::VersionRef {
                target,
                version,
                member,
            } => match member {
                Some(member) => write!(out, "{}@{}.{}", target.name, version.name, member.name),
                None => write!(out, "{}@{}", target.name, version.name),
            },
            // Callers check `contains_error` first and keep such items as written.
            _ => Ok(()),
        };
    }
}

fn level(expr: &Expr) -> u8 {
    match &expr.kind {
        ExprKind::If { .. } => IF,
        ExprKind::Binary { op, .. } => binary_level(*op),
        ExprKind::Unary { op: UnaryOp::Not, .. } => NOT,
        ExprKind::Unary {
            op: UnaryOp::Negate, ..
        } => NEGATE,
        ExprKind::In { .. } => COMPARISON,
        _ => ATOM,
    }
}

fn binary_level(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => OR,
        BinaryOp::And => AND,
        BinaryOp::Add | BinaryOp::Subtract => SUM,
        BinaryOp::Multiply | BinaryOp::Divide => PRODUCT,
        _ => COMPARISON,
    }
}

/// Whether the expression holds a node that stands in for a parse error (never after a clean
/// parse; checked so that the printer can never drop text it did not understand).
pub(super) fn contains_error(expr: &Expr) -> bool {
    match &expr.kind {
        ExprKind::Error => true,
        ExprKind::Unary { operand, .. } => contains_error(operand),
        ExprKind::Binary { lhs, rhs, .. } => contains_error(lhs) || contains_error(rhs),
        ExprKind::In { operand, list, .. } => contains_error(operand) || list.iter().any(contains_error),
        ExprKind::If { branches, otherwise } => {
            contains_error(otherwise)
                || branches
                    .iter()
                    .any(|(condition, then)| contains_error(condition) || contains_error(then))
        }
        ExprKind::Call { arguments, .. } => arguments.iter().any(|argument| contains_error(&argument.value)),
        ExprKind::List(items) => items.iter().any(contains_error),
        _ => false,
    }
}
