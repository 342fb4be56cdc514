//! The text of one item that holds no other items: a property, field, key, `require`, `expect`,
//! `deprecate`, `drift` or `metric` line. A property too wide for the line has its list, call or
//! `if` chain spread over several lines.

use crate::syntax::ast::{
    Clause, ClauseKind, DriftRule, DriftTarget, Expr, ExprKind, Ident, ItemKind, MetricRule, TypeExpr, Value,
};

use super::expr::{ExprPrinter, contains_error};
use super::{INDENT, MAX_WIDTH, width};

/// The item's text (continuation lines indented relative to the first), or `None` for a block or
/// an item the printer cannot reproduce, which the caller then keeps as written.
pub(super) fn leaf_text(printer: &ExprPrinter<'_>, kind: &ItemKind, indent: usize) -> Option<String> {
    if !is_printable(kind) {
        return None;
    }
    Some(match kind {
        ItemKind::Property { key, value } => property(printer, key, value, indent),
        ItemKind::Block { .. } => return None,
        ItemKind::Field { name, ty } => format!("{}: {}", name.name, type_text(ty)),
        ItemKind::Key { name, ty } => format!("key {}: {}", name.name, type_text(ty)),
        ItemKind::Require { columns } => format!("require {}", names(columns)),
        ItemKind::Expect { expr } => format!("expect {}", printer.expr(expr)),
        ItemKind::Deprecate { column, since } => {
            format!("deprecate {} since {}", column.name, printer.date(*since))
        }
        ItemKind::Drift(rule) => drift(printer, rule),
        ItemKind::Metric(rule) => metric(printer, rule),
    })
}

/// The item's text if it may share a line with others in `name { a: string, b = 1 }`: fields, keys
/// and properties whose value is short enough to read at a glance (no clauses, no `if`).
pub(super) fn short_text(printer: &ExprPrinter<'_>, kind: &ItemKind) -> Option<String> {
    let short = match kind {
        ItemKind::Field { .. } | ItemKind::Key { .. } => true,
        ItemKind::Property { value, .. } => value.clauses.is_empty() && !matches!(value.expr.kind, ExprKind::If { .. }),
        _ => false,
    };
    if !short {
        return None;
    }
    leaf_text(printer, kind, 0).filter(|text| !text.contains('\n'))
}

fn is_printable(kind: &ItemKind) -> bool {
    match kind {
        ItemKind::Property { value, .. } => {
            !contains_error(&value.expr) && value.clauses.iter().all(|clause| clause_is_printable(&clause.kind))
        }
        ItemKind::Require { columns } => !columns.is_empty(),
        ItemKind::Expect { expr } => !contains_error(expr),
        ItemKind::Drift(rule) => match &rule.target {
            DriftTarget::List(items, _) => !items.iter().any(contains_error),
            DriftTarget::AllFeatures(_) => true,
        },
        _ => true,
    }
}

fn clause_is_printable(clause: &ClauseKind) -> bool {
    match clause {
        ClauseKind::Where(expr) | ClauseKind::Default(expr) => !contains_error(expr),
        _ => true,
    }
}

fn type_text(ty: &TypeExpr) -> String {
    let mark = if ty.nullable { "?" } else { "" };
    format!("{}{mark}", ty.name.name)
}

fn names(names: &[Ident]) -> String {
    let names: Vec<&str> = names.iter().map(|name| name.name.as_str()).collect();
    names.join(", ")
}

/// `key = value clauses`, on one line when it fits (`indent` is where the item starts).
fn property(printer: &ExprPrinter<'_>, key: &Ident, value: &Value, indent: usize) -> String {
    let clauses = clauses_text(printer, &value.clauses);
    let one_line = format!("{} = {}{clauses}", key.name, printer.expr(&value.expr));
    if indent.saturating_add(width(&one_line)) <= MAX_WIDTH {
        return one_line;
    }
    match spread(printer, &value.expr) {
        Some(spread) => format!("{} = {spread}{clauses}", key.name),
        None => one_line,
    }
}

/// The clauses in the order lang-spec/grammar.md gives them: `over`, `every`, `where`, `on`, `default`.
fn clauses_text(printer: &ExprPrinter<'_>, clauses: &[Clause]) -> String {
    let mut ordered: Vec<&Clause> = clauses.iter().collect();
    ordered.sort_by_key(|clause| clause_rank(&clause.kind));
    let mut out = String::new();
    for clause in ordered {
        let text = match &clause.kind {
            ClauseKind::Over(duration) | ClauseKind::Every(duration) => printer.duration(*duration),
            ClauseKind::Where(expr) | ClauseKind::Default(expr) => printer.expr(expr),
            ClauseKind::On(key) => key.name.clone(),
        };
        out.push_str(&format!(" {} {text}", clause.kind.keyword()));
    }
    out
}

fn clause_rank(clause: &ClauseKind) -> u8 {
    match clause {
        ClauseKind::Over(_) => 0,
        ClauseKind::Every(_) => 1,
        ClauseKind::Where(_) => 2,
        ClauseKind::On(_) => 3,
        ClauseKind::Default(_) => 4,
    }
}

/// A list or call with one element per line, or an `if` chain with one `else` per line.
fn spread(printer: &ExprPrinter<'_>, expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::List(items) if !items.is_empty() => {
            Some(one_per_line("[", items.iter().map(|item| printer.expr(item)), "]"))
        }
        ExprKind::Call { function, arguments } if !arguments.is_empty() => Some(one_per_line(
            &format!("{}(", function.name),
            arguments.iter().map(|argument| printer.argument(argument)),
            ")",
        )),
        ExprKind::If { branches, otherwise } => {
            let pad = " ".repeat(INDENT);
            let mut out = String::new();
            for (index, (condition, then)) in branches.iter().enumerate() {
                if index > 0 {
                    out.push_str(&format!("\n{pad}else "));
                }
                out.push_str(&format!(
                    "if {} then {}",
                    printer.branch(condition),
                    printer.branch(then)
                ));
            }
            out.push_str(&format!("\n{pad}else {}", printer.branch(otherwise)));
            Some(out)
        }
        _ => None,
    }
}

fn one_per_line(open: &str, parts: impl Iterator<Item = String>, close: &str) -> String {
    let pad = " ".repeat(INDENT);
    let mut out = open.to_string();
    for part in parts {
        out.push_str(&format!("\n{pad}{part},"));
    }
    out.push('\n');
    out.push_str(close);
    out
}

/// `drift psi > 0.2 on features every 1d => alert`
fn drift(printer: &ExprPrinter<'_>, rule: &DriftRule) -> String {
    let target = match &rule.target {
        DriftTarget::AllFeatures(_) => "features".to_string(),
        DriftTarget::List(items, _) => {
            let items: Vec<String> = items.iter().map(|item| printer.expr(item)).collect();
            format!("[{}]", items.join(", "))
        }
    };
    format!(
        "drift {} {} {} on {target} every {} => {}",
        rule.statistic.name,
        rule.comparison.symbol(),
        printer.number(&rule.threshold),
        printer.duration(rule.every),
        names(&rule.actions)
    )
}

/// `metric auc over 7d < 0.85 * baseline => alert, retrain`
fn metric(printer: &ExprPrinter<'_>, rule: &MetricRule) -> String {
    let baseline = if rule.relative_to_baseline { " * baseline" } else { "" };
    format!(
        "metric {} over {} {} {}{baseline} => {}",
        rule.metric.name,
        printer.duration(rule.window),
        rule.comparison.symbol(),
        printer.number(&rule.threshold),
        names(&rule.actions)
    )
}
