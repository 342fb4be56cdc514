//! The canonical text form of a plan: deterministic, one line per entity, used by `mlsysc plan
//! --emit ir`, snapshot tests and (in its hashing style) canonical hashes.

use std::fmt::Write as _;

use crate::plan::arena::*;
use crate::plan::ir::*;
use crate::syntax::literal::{format_date, format_duration, quote};

/// How references are written: readable names for people, or content for hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefStyle {
    /// `$amount`, `user_activity@v1.avg_amount_30d`, `1.5`.
    Display,
    /// `$amount:float64`, `#<feature hash>`, floats as their exact bits: independent of names
    /// that do not change meaning and of float formatting.
    Hash,
}

pub fn literal_text(literal: &Literal, style: RefStyle) -> String {
    match literal {
        Literal::Null => "null".to_string(),
        Literal::Bool(value) => value.to_string(),
        Literal::Int(value) => value.to_string(),
        Literal::Float(value) => match style {
            RefStyle::Display => format!("{value:?}"),
            RefStyle::Hash => format!("f64:{:016x}", value.to_bits()),
        },
        Literal::String(value) => quote(value),
        Literal::Date(days) => format_date(*days),
        Literal::Timestamp(micros) => format!("timestamp({micros})"),
        Literal::Duration(micros) => format_duration(*micros),
    }
}

/// An expression as nested calls: `ln(add(to_float64(1), $amount))`.
pub fn expr_text(plan: &Plan, id: ExprId, style: RefStyle) -> String {
    let mut out = String::new();
    write_expr(plan, id, style, &mut out);
    out
}

fn write_expr(plan: &Plan, id: ExprId, style: RefStyle, out: &mut String) {
    let Some(expr) = plan.exprs.get(id) else {
        let _ = write!(out, "<missing {id}>");
        return;
    };
    match &expr.kind {
        ExprKind::Literal { value } => out.push_str(&literal_text(value, style)),
        ExprKind::Column { source, column } => {
            let column = plan
                .sources
                .get(*source)
                .and_then(|source| source.columns.get(*column as usize));
            match (column, style) {
                (Some(column), RefStyle::Display) => {
                    let _ = write!(out, "${}", column.name);
                }
                (Some(column), RefStyle::Hash) => {
                    let _ = write!(out, "${}:{}", column.name, column.ty);
                }
                (None, _) => out.push_str("$<missing>"),
            }
        }
        ExprKind::Feature { feature } => match style {
            RefStyle::Display => out.push_str(&feature_path(plan, *feature)),
            RefStyle::Hash => {
                let hash = plan
                    .features
                    .get(*feature)
                    .map(|feature| feature.hash.0.as_str())
                    .unwrap_or("");
                let _ = write!(out, "#{hash}");
            }
        },
        ExprKind::ToFloat { operand } => {
            out.push_str("to_float64(");
            write_expr(plan, *operand, style, out);
            out.push(')');
        }
        ExprKind::Unary { unary, operand } => {
            out.push_str(match unary {
                UnaryOp::Negate => "neg(",
                UnaryOp::Not => "not(",
            });
            write_expr(plan, *operand, style, out);
            out.push(')');
        }
        ExprKind::Binary { binary, lhs, rhs } => {
            out.push_str(binary.name());
            out.push('(');
            write_expr(plan, *lhs, style, out);
            out.push_str(", ");
            write_expr(plan, *rhs, style, out);
            out.push(')');
        }
        ExprKind::Call { function, arguments } => {
            out.push_str(function.name());
            out.push('(');
            for (index, argument) in arguments.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_expr(plan, *argument, style, out);
            }
            out.push(')');
        }
        ExprKind::In { operand, list, negated } => {
            out.push_str(if *negated { "not_in(" } else { "in(" });
            write_expr(plan, *operand, style, out);
            out.push_str(", [");
            let items: Vec<String> = list.iter().map(|item| literal_text(item, style)).collect();
            out.push_str(&items.join(", "));
            out.push_str("])");
        }
        ExprKind::If { branches, otherwise } => {
            out.push_str("if(");
            for (condition, then) in branches {
                write_expr(plan, *condition, style, out);
                out.push_str(" => ");
                write_expr(plan, *then, style, out);
                out.push_str("; ");
            }
            out.push_str("else => ");
            write_expr(plan, *otherwise, style, out);
            out.push(')');
        }
        ExprKind::Metric { side, metric } => match side {
            MetricSide::Candidate => out.push_str(metric.name()),
            MetricSide::Production => {
                let _ = write!(out, "production.{}", metric.name());
            }
        },
    }
    if style == RefStyle::Hash {
        // The result type is part of the meaning (e.g. after promotion).
        let _ = write!(out, ":{}", expr.ty);
    }
}

/// `group@vN.feature`
pub fn feature_path(plan: &Plan, id: FeatureId) -> String {
    let Some(feature) = plan.features.get(id) else {
        return format!("<missing {id}>");
    };
    match plan.groups.get(feature.group) {
        Some(group) => format!("{}@v{}.{}", group.name, group.version, feature.name),
        None => feature.name.clone(),
    }
}

pub fn aggregate_text(plan: &Plan, aggregate: &Aggregate, style: RefStyle) -> String {
    let mut out = format!("{}(", aggregate.function.name());
    if let Some(argument) = aggregate.argument {
        out.push_str(&expr_text(plan, argument, style));
    }
    let _ = write!(
        out,
        ") over {} every {}",
        format_duration(aggregate.window_micros),
        format_duration(aggregate.resolution_micros)
    );
    if let Some(filter) = aggregate.filter {
        let _ = write!(out, " where {}", expr_text(plan, filter, style));
    }
    out
}

fn model_ref_text(plan: &Plan, model_ref: ModelRef) -> String {
    let name = plan
        .models
        .get(model_ref.model)
        .map_or("<missing>", |model| model.name.as_str());
    format!("{name}@{}", model_ref.stage)
}

fn doc_line(out: &mut String, doc: &Option<String>) {
    if let Some(doc) = doc {
        for line in doc.lines() {
            let _ = writeln!(out, "  /// {line}");
        }
    }
}

/// The whole plan as text.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    for (_, source) in plan.sources.iter() {
        let timestamp = source
            .timestamp
            .and_then(|index| source.columns.get(index as usize))
            .map_or("none", |column| column.name.as_str());
        let _ = writeln!(
            out,
            "source {} format={:?} location={} timestamp={timestamp} partitioning={:?} unknown_columns={:?} bad_rows={:?}",
            source.name,
            source.format,
            quote(&source.location),
            source.partitioning,
            source.unknown_columns,
            source.bad_rows
        );
        doc_line(&mut out, &source.doc);
        for column in &source.columns {
            let _ = writeln!(out, "  column {}: {}", column.name, column.ty);
        }
    }
    for (_, contract) in plan.contracts.iter() {
        let source = &plan.sources[contract.source];
        let column_name = |index: &ColumnIndex| {
            source
                .columns
                .get(*index as usize)
                .map_or("<missing>", |column| column.name.as_str())
        };
        let _ = writeln!(
            out,
            "contract {} on {} owner={} notice={} hash={}",
            contract.name,
            source.name,
            quote(&contract.owner),
            format_duration(contract.notice_micros),
            contract.hash
        );
        if !contract.required.is_empty() {
            let names: Vec<&str> = contract.required.iter().map(column_name).collect();
            let _ = writeln!(out, "  require {}", names.join(", "));
        }
        for expectation in &contract.expectations {
            let text = match expectation {
                Expectation::Holds { expr } => expr_text(plan, *expr, RefStyle::Display),
                Expectation::Unique { column } => format!("unique({})", column_name(column)),
                Expectation::NotNull { column } => format!("not_null({})", column_name(column)),
            };
            let _ = writeln!(out, "  expect {text}");
        }
        for deprecation in &contract.deprecations {
            let _ = writeln!(
                out,
                "  deprecate {} since {}",
                column_name(&deprecation.column),
                format_date(deprecation.since)
            );
        }
    }
    for (_, entity) in plan.entities.iter() {
        let keys: Vec<String> = entity
            .keys
            .iter()
            .map(|key| format!("{}: {}", key.name, key.ty))
            .collect();
        let _ = writeln!(out, "entity {} keys=({})", entity.name, keys.join(", "));
    }
    for (_, group) in plan.groups.iter() {
        let source = &plan.sources[group.source];
        let _ = write!(out, "features {}@v{} from={}", group.name, group.version, source.name);
        if let Some(entity) = group.entity.and_then(|entity| plan.entities.get(entity)) {
            let _ = write!(out, " entity={}", entity.name);
        }
        let _ = writeln!(out, " hash={}", group.hash);
        doc_line(&mut out, &group.doc);
        for feature_id in &group.features {
            let feature = &plan.features[*feature_id];
            let definition = match &feature.kind {
                FeatureKind::Row { expr } => format!("row {}", expr_text(plan, *expr, RefStyle::Display)),
                FeatureKind::Derived { expr } => format!("derived {}", expr_text(plan, *expr, RefStyle::Display)),
                FeatureKind::Aggregate(aggregate) => {
                    format!("aggregate {}", aggregate_text(plan, aggregate, RefStyle::Display))
                }
            };
            let _ = writeln!(
                out,
                "  {feature_id} {}: {} = {definition}  hash={}",
                feature.name, feature.ty, feature.hash
            );
        }
    }
    for (_, model) in plan.models.iter() {
        let _ = writeln!(
            out,
            "model {} task={:?} examples={}",
            model.name, model.task, plan.sources[model.examples].name
        );
        let label_source = &plan.sources[model.label.source];
        let label_column = label_source
            .columns
            .get(model.label.column as usize)
            .map_or("<missing>", |column| column.name.as_str());
        match model.label.expr {
            Some(expr) => {
                let _ = write!(out, "  label {}", expr_text(plan, expr, RefStyle::Display));
            }
            None => {
                let _ = write!(out, "  label {}.{label_column}", label_source.name);
            }
        }
        if let Some((example_key, _)) = model.label.join {
            let key = plan.sources[model.examples]
                .columns
                .get(example_key as usize)
                .map_or("<missing>", |column| column.name.as_str());
            let _ = write!(out, " on {key}");
        }
        if let Some(default) = &model.label.default {
            let _ = write!(out, " default {}", literal_text(default, RefStyle::Display));
        }
        if let Some(delay) = model.label_delay {
            let _ = write!(out, " final after {}", crate::syntax::literal::format_duration(delay));
        }
        out.push('\n');
        for pin in &model.pins {
            let group = &plan.groups[pin.group];
            match pin.feature {
                Some(feature) => {
                    let _ = writeln!(out, "  pin {}", feature_path(plan, feature));
                }
                None => {
                    let _ = writeln!(out, "  pin {}@v{} hash={}", group.name, group.version, group.hash);
                }
            }
        }
        let features: Vec<String> = model.features.iter().map(|feature| feature.to_string()).collect();
        let _ = writeln!(out, "  inputs [{}]", features.join(", "));
        let _ = write!(out, "  algorithm {}", algorithm_name(&model.algorithm.kind));
        let parameters: Vec<String> = model
            .algorithm
            .hyperparameters
            .iter()
            .map(|(name, value)| format!("{name}={}", literal_text(value, RefStyle::Display)))
            .collect();
        let _ = writeln!(out, "({})", parameters.join(", "));
        let train = &model.train;
        let _ = writeln!(
            out,
            "  train snapshot={}..{} holdout={}..{} metric={} approval={:?} seed={}",
            format_date(train.snapshot.start),
            format_date(train.snapshot.end),
            format_date(train.holdout.start),
            format_date(train.holdout.end),
            train.metric.name(),
            train.approval,
            train.seed
        );
        if let Some(promote_if) = train.promote_if {
            let _ = writeln!(out, "  promote_if {}", expr_text(plan, promote_if, RefStyle::Display));
        }
    }
    for (_, serve) in plan.serves.iter() {
        let _ = writeln!(
            out,
            "serve {} model={} mode={:?}",
            serve.name,
            model_ref_text(plan, serve.model),
            serve.mode
        );
        if let Some(batching) = serve.batching {
            let _ = writeln!(
                out,
                "  batching max_size={} max_wait={}",
                batching.max_size,
                format_duration(batching.max_wait_micros)
            );
        }
        if let Some(timeout) = serve.timeout_micros {
            let _ = writeln!(out, "  timeout {}", format_duration(timeout));
        }
        if let Some(fallback) = serve.fallback {
            let _ = writeln!(out, "  fallback {}", expr_text(plan, fallback, RefStyle::Display));
        }
        if let Some(shadow) = serve.shadow {
            let _ = writeln!(out, "  shadow {}", model_ref_text(plan, shadow));
        }
        if let Some(schedule) = &serve.schedule {
            let _ = writeln!(out, "  schedule {}", quote(schedule));
        }
        if let Some(output) = &serve.output {
            let _ = writeln!(out, "  output {}", quote(output));
        }
    }
    for (_, monitor) in plan.monitors.iter() {
        let _ = writeln!(out, "monitor {} on {}", monitor.name, plan.serves[monitor.target].name);
        for rule in &monitor.drift {
            let features: Vec<String> = rule.features.iter().map(|feature| feature.to_string()).collect();
            let _ = writeln!(
                out,
                "  drift psi > {:?} on [{}] every {} => {}",
                rule.threshold,
                features.join(", "),
                format_duration(rule.every_micros),
                actions_text(&rule.actions)
            );
        }
        for rule in &monitor.metrics {
            let _ = writeln!(
                out,
                "  metric {} over {} {} {:?}{} => {}",
                rule.metric.name(),
                format_duration(rule.window_micros),
                rule.comparison.symbol(),
                rule.threshold,
                if rule.relative_to_baseline { " * baseline" } else { "" },
                actions_text(&rule.actions)
            );
        }
        if !monitor.channels.is_empty() {
            let channels: Vec<String> = monitor.channels.iter().map(|channel| quote(channel)).collect();
            let _ = writeln!(out, "  channels {}", channels.join(", "));
        }
    }
    out
}

pub fn algorithm_name(kind: &AlgorithmKind) -> String {
    match kind {
        AlgorithmKind::LogisticRegression => "logistic_regression".to_string(),
        AlgorithmKind::LinearRegression => "linear_regression".to_string(),
        AlgorithmKind::Gbdt => "gbdt".to_string(),
        AlgorithmKind::Onnx { path } => format!("onnx {}", quote(path)),
        AlgorithmKind::Command { command } => format!("command {}", quote(command)),
    }
}

fn actions_text(actions: &[Action]) -> String {
    let names: Vec<&str> = actions
        .iter()
        .map(|action| match action {
            Action::Alert => "alert",
            Action::Retrain => "retrain",
        })
        .collect();
    names.join(", ")
}

/// An expression as a person would write it (`amount >= 0`, `ln(1 + amount)`): infix operators with
/// the language's precedence, implicit conversions hidden. For messages; not canonical.
pub fn expr_infix(plan: &Plan, id: ExprId) -> String {
    infix(plan, id, 0)
}

fn precedence(binary: BinaryOp) -> u8 {
    match binary {
        BinaryOp::Or => 1,
        BinaryOp::And => 2,
        BinaryOp::Equal
        | BinaryOp::NotEqual
        | BinaryOp::Less
        | BinaryOp::LessEqual
        | BinaryOp::Greater
        | BinaryOp::GreaterEqual => 4,
        BinaryOp::Add | BinaryOp::Subtract => 5,
        BinaryOp::Multiply | BinaryOp::Divide => 6,
    }
}

fn symbol(binary: BinaryOp) -> &'static str {
    match binary {
        BinaryOp::Or => "or",
        BinaryOp::And => "and",
        BinaryOp::Equal => "==",
        BinaryOp::NotEqual => "!=",
        BinaryOp::Less => "<",
        BinaryOp::LessEqual => "<=",
        BinaryOp::Greater => ">",
        BinaryOp::GreaterEqual => ">=",
        BinaryOp::Add => "+",
        BinaryOp::Subtract => "-",
        BinaryOp::Multiply => "*",
        BinaryOp::Divide => "/",
    }
}

fn infix(plan: &Plan, id: ExprId, outer: u8) -> String {
    let Some(expr) = plan.exprs.get(id) else {
        return format!("<missing {id}>");
    };
    let wrap = |text: String, inner: u8| if inner < outer { format!("({text})") } else { text };
    match &expr.kind {
        ExprKind::Literal { value } => match value {
            // An int promoted to float64 prints as the int the user wrote.
            Literal::Float(value) if value.fract() == 0.0 && value.abs() < 1e15 => format!("{value:?}"),
            other => literal_text(other, RefStyle::Display),
        },
        ExprKind::Column { source, column } => plan
            .sources
            .get(*source)
            .and_then(|source| source.columns.get(*column as usize))
            .map_or_else(|| "?".to_string(), |column| column.name.clone()),
        ExprKind::Feature { feature } => feature_path(plan, *feature),
        ExprKind::ToFloat { operand } => infix(plan, *operand, outer),
        ExprKind::Unary { unary, operand } => match unary {
            UnaryOp::Negate => wrap(format!("-{}", infix(plan, *operand, 7)), 7),
            UnaryOp::Not => wrap(format!("not {}", infix(plan, *operand, 3)), 3),
        },
        ExprKind::Binary { binary, lhs, rhs } => {
            let level = precedence(*binary);
            let text = format!(
                "{} {} {}",
                infix(plan, *lhs, level),
                symbol(*binary),
                infix(plan, *rhs, level + 1)
            );
            wrap(text, level)
        }
        ExprKind::Call { function, arguments } => {
            let arguments: Vec<String> = arguments.iter().map(|argument| infix(plan, *argument, 0)).collect();
            format!("{}({})", function.name(), arguments.join(", "))
        }
        ExprKind::In { operand, list, negated } => {
            let items: Vec<String> = list.iter().map(|item| literal_text(item, RefStyle::Display)).collect();
            let keyword = if *negated { "not in" } else { "in" };
            wrap(
                format!("{} {keyword} [{}]", infix(plan, *operand, 5), items.join(", ")),
                4,
            )
        }
        ExprKind::If { branches, otherwise } => {
            let mut text = String::new();
            for (index, (condition, then)) in branches.iter().enumerate() {
                if index > 0 {
                    text.push_str(" else ");
                }
                text.push_str(&format!(
                    "if {} then {}",
                    infix(plan, *condition, 0),
                    infix(plan, *then, 0)
                ));
            }
            text.push_str(&format!(" else {}", infix(plan, *otherwise, 0)));
            wrap(text, 0)
        }
        ExprKind::Metric { side, metric } => match side {
            MetricSide::Candidate => metric.name().to_string(),
            MetricSide::Production => format!("production.{}", metric.name()),
        },
    }
}
