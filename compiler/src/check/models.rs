//! Models (examples, label, pinned features, algorithm, training) and serve targets.

use std::collections::BTreeMap;

use crate::check::Checker;
use crate::check::declarations::doc_of;
use crate::check::expr::{Env, RefPolicy, constant_literal, literal_base};
use crate::check::properties::*;
use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::index::SymbolKind;
use crate::plan::*;
use crate::syntax::ast::{self, ClauseKind, Declaration, DeclarationKind};
use crate::syntax::literal::format_date;
use crate::types::BaseType;

const MODEL_PROPERTIES: &[&str] = &["examples", "label", "label_delay", "features", "algorithm", "train"];
const TRAIN_PROPERTIES: &[&str] = &["snapshot", "holdout", "metric", "promote_if", "approval", "seed"];
const SERVE_PROPERTIES: &[&str] = &[
    "model", "mode", "batching", "timeout", "fallback", "shadow", "schedule", "output",
];
const BATCHING_PROPERTIES: &[&str] = &["max_size", "max_wait"];

/// Hyperparameter kinds and the ranges they accept.
#[derive(Clone, Copy)]
enum Range {
    /// An integer in `[min, max]`.
    Int(i64, i64),
    /// A number in `(min, max]` when `exclusive_min`, else `[min, max]`.
    Float { min: f64, max: f64, exclusive_min: bool },
}

fn hyperparameters_of(kind: &AlgorithmKind) -> &'static [(&'static str, Range)] {
    const NON_NEGATIVE: Range = Range::Float {
        min: 0.0,
        max: f64::MAX,
        exclusive_min: false,
    };
    const UNIT: Range = Range::Float {
        min: 0.0,
        max: 1.0,
        exclusive_min: true,
    };
    match kind {
        AlgorithmKind::LogisticRegression => &[
            ("l2", NON_NEGATIVE),
            ("max_iter", Range::Int(1, 1_000_000)),
            ("learning_rate", UNIT),
        ],
        AlgorithmKind::LinearRegression => &[("l2", NON_NEGATIVE)],
        AlgorithmKind::Gbdt => &[
            ("trees", Range::Int(1, 100_000)),
            ("depth", Range::Int(1, 32)),
            ("learning_rate", UNIT),
            ("min_rows_per_leaf", Range::Int(1, i64::MAX)),
            ("l2", NON_NEGATIVE),
            ("subsample", UNIT),
            ("early_stopping_rounds", Range::Int(0, 100_000)),
            ("seed", Range::Int(i64::MIN, i64::MAX)),
        ],
        AlgorithmKind::Onnx { .. } | AlgorithmKind::Command { .. } => &[],
    }
}

impl Checker<'_> {
    pub fn model(&mut self, declaration: &Declaration) {
        let name = &declaration.name;
        let context = format!("model `{}`", name.name);
        reject_statements(&declaration.items, &context, &mut self.diagnostics);
        let mut properties = Properties::collect(&declaration.items, &mut self.diagnostics);
        let examples = properties.required("examples", declaration, "examples = SOURCE", &mut self.diagnostics);
        let label = properties.required("label", declaration, "label = COLUMN", &mut self.diagnostics);
        let features = properties.required("features", declaration, "features = [group@v1]", &mut self.diagnostics);
        let algorithm = properties.required(
            "algorithm",
            declaration,
            "algorithm = gbdt(trees = 100)",
            &mut self.diagnostics,
        );
        let label_delay = properties.value("label_delay", &mut self.diagnostics);
        let train = properties.block("train", &mut self.diagnostics);
        if train.is_none() && !properties.has("train") {
            self.diagnostics.push(missing(
                declaration,
                "train",
                "train { snapshot = 2026-01-01 .. 2026-06-30, holdout = 2026-07-01 .. 2026-07-31, metric = auc }",
            ));
        }
        properties.finish(&context, MODEL_PROPERTIES, &mut self.diagnostics);
        let label_delay = label_delay.and_then(|property| duration_value(&property, &mut self.diagnostics));

        let examples = examples
            .and_then(|property| name_value(&property, "a source name", &mut self.diagnostics).cloned())
            .and_then(|ident| {
                let source = self.source_named(&ident)?;
                if self.plan.sources[source].timestamp.is_none() {
                    self.error(
                        Diagnostic::new(
                            Code::MissingProperty,
                            ident.span,
                            format!("the examples source `{}` declares no `timestamp`", ident.name),
                        )
                        .with_help("examples need an event time for point-in-time features and the snapshot and holdout ranges: declare `timestamp = COLUMN`"),
                    );
                }
                Some(source)
            });
        let label = match (examples, label) {
            (Some(examples), Some(label)) => self.label(examples, &label),
            _ => None,
        };
        let task = label.as_ref().map(|(_, task)| *task);
        let pins = match (examples, features) {
            (Some(examples), Some(features)) => self.pins(examples, &features),
            _ => None,
        };
        let algorithm = algorithm.and_then(|property| self.algorithm(&property, task));
        let train = train.and_then(|(_, items)| self.train(items, task));
        let plan_id = match (examples, label, pins, algorithm, train) {
            (Some(examples), Some((label, task)), Some(pins), Some(algorithm), Some(train)) => {
                let features = self.model_inputs(&pins);
                self.check_label_leakage(&features, &label, examples, name);
                Some(self.plan.models.push(Model {
                    name: name.name.clone(),
                    doc: doc_of(&declaration.docs),
                    examples,
                    label,
                    label_delay,
                    task,
                    pins,
                    features,
                    algorithm,
                    train,
                }))
            }
            _ => None,
        };
        self.models.insert(name.name.clone(), plan_id);
        let detail = match plan_id.map(|id| &self.plan.models[id]) {
            Some(model) => format!(
                "model · {:?} · {} · {} inputs",
                model.task,
                crate::plan::print::algorithm_name(&model.algorithm.kind),
                model.features.len()
            )
            .to_lowercase(),
            None => "model".to_string(),
        };
        let symbol = self.index.define(
            SymbolKind::Model,
            &name.name,
            name.span,
            doc_of(&declaration.docs),
            detail,
        );
        self.model_symbols.insert(name.name.clone(), symbol);
    }

    fn label(&mut self, examples: SourceId, property: &PropertyValue<'_>) -> Option<(Label, Task)> {
        let value = property.value;
        let (label_source, column) = match &value.expr.kind {
            ast::ExprKind::Name(column) => (examples, column),
            ast::ExprKind::Path(parts) if parts.len() == 2 => {
                let source = self.source_named(&parts[0])?;
                (source, &parts[1])
            }
            ast::ExprKind::Error => return None,
            _ => return self.label_expression(examples, property),
        };
        let column_index = self.column_of(label_source, column, Code::UnknownName, "label")?;
        let label_type = self.plan.sources[label_source].columns[column_index as usize].ty;
        let task = self.label_task(label_type, column.span, &format!("`{}`", column.name))?;
        if let Some(repeated) = crate::check::features::repeated_clause(&value.clauses) {
            self.error(Diagnostic::new(
                Code::InvalidValue,
                repeated.span,
                format!("`{}` is given twice", repeated.kind.keyword()),
            ));
            return None;
        }
        let mut join_key = None;
        let mut default = None;
        for clause in &value.clauses {
            match &clause.kind {
                ClauseKind::On(key) => join_key = Some(key),
                ClauseKind::Default(expr) => default = Some(expr),
                _ => self.error(Diagnostic::new(
                    Code::InvalidValue,
                    clause.span,
                    format!("`{}` is not allowed in `label`", clause.kind.keyword()),
                )),
            }
        }
        let join = if label_source == examples {
            if let Some(key) = join_key {
                self.error(
                    Diagnostic::new(
                        Code::InvalidValue,
                        key.span,
                        "a label from the examples source needs no join key",
                    )
                    .with_help("remove `on ...`"),
                );
            }
            None
        } else {
            let Some(key) = join_key else {
                let source_name = self.plan.sources[label_source].name.clone();
                self.error(
                    Diagnostic::new(
                        Code::MissingProperty,
                        value.span,
                        format!("a label from `{source_name}` needs the key that joins it to the examples"),
                    )
                    .with_help(format!(
                        "write `label = {source_name}.{} on KEY default VALUE`",
                        column.name
                    )),
                );
                return None;
            };
            let example_key = self.column_of(examples, key, Code::UnknownName, "label join key")?;
            let label_key = self.column_of(label_source, key, Code::UnknownName, "label join key")?;
            let example_type = self.plan.sources[examples].columns[example_key as usize].ty;
            let label_key_type = self.plan.sources[label_source].columns[label_key as usize].ty;
            if example_type.base != label_key_type.base {
                let examples_name = self.plan.sources[examples].name.clone();
                let label_name = self.plan.sources[label_source].name.clone();
                self.error(
                    Diagnostic::new(
                        Code::LabelKeyTypes,
                        key.span,
                        format!(
                            "the label join key `{}` is {example_type} in `{examples_name}` but {label_key_type} in `{label_name}`",
                            key.name
                        ),
                    )
                    .with_label_text("key types differ")
                    .with_help("join keys must have the same type on both sides; fix one of the schemas"),
                );
                return None;
            }
            Some((example_key, label_key))
        };
        let default = match default {
            Some(expr) => match constant_literal(expr) {
                Some(literal) if literal != Literal::Null => {
                    let base = literal_base(&literal);
                    let fits =
                        base == label_type.base || (base == BaseType::Int64 && label_type.base == BaseType::Float64);
                    if !fits {
                        self.error(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                expr.span,
                                format!("the label default is {}, the label is {label_type}", base.name()),
                            )
                            .with_label_text(format!("this is {}", base.name())),
                        );
                        return None;
                    }
                    Some(match (literal, label_type.base) {
                        (Literal::Int(value), BaseType::Float64) => Literal::Float(value as f64),
                        (literal, _) => literal,
                    })
                }
                _ => {
                    self.error(Diagnostic::new(
                        Code::ConstantRequired,
                        expr.span,
                        "the label default must be a literal value",
                    ));
                    return None;
                }
            },
            None => None,
        };
        Some((
            Label {
                source: label_source,
                column: column_index,
                join,
                default,
                expr: None,
            },
            task,
        ))
    }

    /// The task a label of type `ty` makes: bool classifies, numbers regress; else `E0405`.
    fn label_task(&mut self, ty: crate::types::Type, span: crate::source::Span, what: &str) -> Option<Task> {
        match ty.base {
            BaseType::Bool => Some(Task::Classification),
            BaseType::Int64 | BaseType::Float64 => Some(Task::Regression),
            _ => {
                self.error(
                    Diagnostic::new(
                        Code::LabelType,
                        span,
                        format!("a label must be bool (classification) or numeric (regression), {what} is {ty}"),
                    )
                    .with_label_text(format!("this is {ty}"))
                    .with_help("derive a bool or numeric column in the source, or write a label expression such as `label = delay > 15.0`"),
                );
                None
            }
        }
    }

    /// `label = EXPR` over the examples' own columns (`arr_delay > 15`): a bool expression makes a
    /// classifier, a numeric one a regression; no join and no default (a null label leaves the
    /// example unlabeled, as a null label column does).
    fn label_expression(&mut self, examples: SourceId, property: &PropertyValue<'_>) -> Option<(Label, Task)> {
        let value = property.value;
        if let Some(clause) = value.clauses.first() {
            self.error(
                Diagnostic::new(
                    Code::InvalidValue,
                    clause.span,
                    format!("`{}` is not allowed with a label expression", clause.kind.keyword()),
                )
                .with_help("a label expression reads the example's own columns: write `label = EXPR`, or join a column with `label = SOURCE.COLUMN on KEY default VALUE`"),
            );
            return None;
        }
        let env = Env::columns_of(examples, "a label");
        let typed = self.expr(&env, &value.expr)?;
        let (expr, ty) = self.known(typed, value.expr.span, "a label")?;
        let task = self.label_task(ty, value.expr.span, "this expression")?;
        let columns = crate::plan::walk::row_columns_read(&self.plan, &[expr]);
        let Some((_, column)) = columns.first().copied() else {
            self.error(
                Diagnostic::new(
                    Code::InvalidValue,
                    value.expr.span,
                    "a label expression must read a column of the examples",
                )
                .with_help("a constant label teaches the model nothing"),
            );
            return None;
        };
        Some((
            Label {
                source: examples,
                column,
                join: None,
                default: None,
                expr: Some(expr),
            },
            task,
        ))
    }

    /// The model's input vector: explicitly pinned features, and the numeric and bool features of
    /// wholly pinned groups (strings and dates need encoding first, e.g. `hash_bucket`).
    fn model_inputs(&self, pins: &[Pin]) -> Vec<FeatureId> {
        let mut inputs = Vec::new();
        for pin in pins {
            let candidates = match pin.feature {
                Some(feature) => vec![feature],
                None => self.plan.groups[pin.group]
                    .features
                    .iter()
                    .copied()
                    .filter(|feature| is_model_input(self.plan.features[*feature].ty.base))
                    .collect(),
            };
            for feature in candidates {
                if !inputs.contains(&feature) {
                    inputs.push(feature);
                }
            }
        }
        inputs
    }

    /// A feature computed from the label column would hand the model the answer.
    fn check_label_leakage(&mut self, features: &[FeatureId], label: &Label, examples: SourceId, model: &ast::Ident) {
        let label_columns = label.example_columns(&self.plan, examples);
        if label_columns.is_empty() {
            return;
        }
        for feature in features {
            if matches!(self.plan.features[*feature].kind, FeatureKind::Aggregate(_)) {
                // Aggregates only see complete earlier tiles: past labels are fair game.
                continue;
            }
            let roots = crate::plan::walk::feature_roots(&self.plan.features[*feature]);
            let read = crate::plan::walk::row_columns_read(&self.plan, &roots);
            if let Some((source, column)) = label_columns.iter().find(|column| read.contains(column)) {
                let path = crate::plan::print::feature_path(&self.plan, *feature);
                let column = self.plan.sources[*source].columns[*column as usize].name.clone();
                let mut diagnostic = Diagnostic::new(
                    Code::Leakage,
                    model.span,
                    format!(
                        "model `{}` learns from `{path}`, which is computed from its label `{column}`",
                        model.name
                    ),
                )
                .with_help("a feature must not read the label; compute it from other columns");
                let span = self.index.named(&path).map(|symbol| symbol.span);
                if let Some(span) = span {
                    diagnostic = diagnostic.with_secondary(span, "reads the label");
                }
                self.error(diagnostic);
            }
        }
    }

    fn pins(&mut self, examples: SourceId, property: &PropertyValue<'_>) -> Option<Vec<Pin>> {
        reject_clauses(property.value, "features", &mut self.diagnostics);
        let items: Vec<&ast::Expr> = match &property.value.expr.kind {
            ast::ExprKind::List(items) => items.iter().collect(),
            ast::ExprKind::Error => return None,
            _ => vec![&property.value.expr],
        };
        let mut pins: Vec<Pin> = Vec::new();
        let mut spans: Vec<crate::source::Span> = Vec::new();
        let mut failed = false;
        for item in items {
            match self.pin(examples, item) {
                Some(pin) => {
                    if let Some(first) = pins.iter().position(|existing| *existing == pin) {
                        self.error(
                            Diagnostic::new(Code::DuplicateMember, item.span, "this is pinned twice")
                                .with_secondary(spans[first], "first pinned here")
                                .with_help("remove one of them"),
                        );
                        failed = true;
                        continue;
                    }
                    pins.push(pin);
                    spans.push(item.span);
                }
                None => failed = true,
            }
        }
        (!failed).then_some(pins)
    }

    fn pin(&mut self, examples: SourceId, item: &ast::Expr) -> Option<Pin> {
        let (target, version, member) = match &item.kind {
            ast::ExprKind::VersionRef {
                target,
                version,
                member,
            } => (target, version, member.as_ref()),
            ast::ExprKind::Name(ident) => {
                let versions: Vec<String> = self
                    .group_versions
                    .get(&ident.name)
                    .map(|versions| versions.keys().map(|version| format!("v{version}")).collect())
                    .unwrap_or_default();
                let mut diagnostic = Diagnostic::new(
                    Code::MissingVersion,
                    item.span,
                    format!("feature group `{}` is pinned without a version", ident.name),
                )
                .with_label_text("no version");
                diagnostic = if versions.is_empty() {
                    diagnostic.with_help(format!("write `{}@v1`", ident.name))
                } else {
                    diagnostic.with_help(format!(
                        "pin one of its versions, e.g. `{}@{}`",
                        ident.name,
                        versions.last().map_or("v1", String::as_str)
                    ))
                };
                self.error(diagnostic);
                return None;
            }
            ast::ExprKind::Error => return None,
            _ => {
                self.error(Diagnostic::new(
                    Code::InvalidValue,
                    item.span,
                    "`features` lists feature groups as `group@v1` (or single features as `group@v1.feature`)",
                ));
                return None;
            }
        };
        let group = match self.resolve_group_version(target, version) {
            Ok(group) => group,
            Err(diagnostic) => {
                self.report(diagnostic);
                return None;
            }
        };
        let feature = match member {
            Some(member) => match self.resolve_feature_reference(target, version, member) {
                Ok(slot) => {
                    let (feature, ty) = self.feature_slots[slot].lowered?;
                    if !is_model_input(ty.base) {
                        self.error(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                item.span,
                                format!("models take numeric and bool inputs; `{}` is {ty}", member.name),
                            )
                            .with_help("encode it first, e.g. `bucket = hash_bucket(x, 1024)` in a feature group"),
                        );
                        return None;
                    }
                    Some(feature)
                }
                Err(diagnostic) => {
                    self.report(diagnostic);
                    return None;
                }
            },
            None => None,
        };
        let info = &self.groups[group];
        let plan_group = info.plan_id?;
        let label = format!("{}@v{}", info.name, info.version);
        if info.entity.is_none() && info.source != Some(examples) {
            let group_source = info
                .source
                .map(|source| self.plan.sources[source].name.clone())
                .unwrap_or_default();
            let examples_name = self.plan.sources[examples].name.clone();
            self.error(
                Diagnostic::new(
                    Code::IncompatibleFeatureSource,
                    item.span,
                    format!("`{label}` is computed on rows of `{group_source}`, but the model's examples are `{examples_name}`"),
                )
                .with_help("row-level feature groups must be computed on the model's examples source"),
            );
            return None;
        }
        if let Err(diagnostic) = self.keys_available(group, examples, item.span, &label) {
            self.error(*diagnostic);
            return None;
        }
        Some(Pin {
            group: plan_group,
            feature,
        })
    }

    fn algorithm(&mut self, property: &PropertyValue<'_>, task: Option<Task>) -> Option<Algorithm> {
        reject_clauses(property.value, "algorithm", &mut self.diagnostics);
        let (function, arguments): (&ast::Ident, &[ast::Argument]) = match &property.value.expr.kind {
            ast::ExprKind::Name(ident) => (ident, &[]),
            ast::ExprKind::Call { function, arguments } => (function, arguments),
            ast::ExprKind::Error => return None,
            _ => {
                self.error(
                    Diagnostic::new(
                        Code::InvalidValue,
                        property.value.expr.span,
                        "`algorithm` must name a trainer",
                    )
                    .with_help("e.g. `gbdt(trees = 200, depth = 6)`, `logistic_regression`, `onnx(\"model.onnx\")`"),
                );
                return None;
            }
        };
        let names = ["logistic_regression", "linear_regression", "gbdt", "onnx", "command"];
        let kind = match function.name.as_str() {
            "logistic_regression" => AlgorithmKind::LogisticRegression,
            "linear_regression" => AlgorithmKind::LinearRegression,
            "gbdt" => AlgorithmKind::Gbdt,
            "onnx" | "command" => return self.external_algorithm(function, property, arguments),
            other => {
                let mut diagnostic = Diagnostic::new(
                    Code::InvalidValue,
                    function.span,
                    format!("unknown algorithm `{other}`"),
                )
                .with_label_text("not a trainer");
                diagnostic = match suggestion(other, names) {
                    Some(help) => diagnostic.with_help(help),
                    None => diagnostic.with_help(format!("algorithms: {}", names.join(", "))),
                };
                self.error(diagnostic);
                return None;
            }
        };
        let fitting_task = match kind {
            AlgorithmKind::LogisticRegression => Some(Task::Classification),
            AlgorithmKind::LinearRegression => Some(Task::Regression),
            _ => None,
        };
        if let (Some(required), Some(task)) = (fitting_task, task)
            && required != task
        {
            self.error(
                Diagnostic::new(
                    Code::MetricTask,
                    function.span,
                    format!(
                        "`{}` fits {required:?} models, this label makes a {task:?} model",
                        function.name
                    )
                    .to_lowercase(),
                )
                .with_help(if task == Task::Regression {
                    "use `linear_regression` or `gbdt` for a numeric label"
                } else {
                    "use `logistic_regression` or `gbdt` for a bool label"
                }),
            );
            return None;
        }
        let mut hyperparameters = BTreeMap::new();
        let allowed = hyperparameters_of(&kind);
        let mut failed = false;
        for argument in arguments {
            let Some(name) = self.hyperparameter_name(argument, "write `name = value`, e.g. `trees = 200`") else {
                failed = true;
                continue;
            };
            let Some((_, range)) = allowed.iter().find(|(allowed_name, _)| *allowed_name == name.name) else {
                let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
                let mut diagnostic = Diagnostic::new(
                    Code::Hyperparameter,
                    name.span,
                    format!("`{}` has no hyperparameter `{}`", function.name, name.name),
                )
                .with_label_text("unknown hyperparameter");
                diagnostic = match suggestion(&name.name, names.iter().copied()) {
                    Some(help) => diagnostic.with_help(help),
                    None => diagnostic.with_help(format!("`{}` takes: {}", function.name, names.join(", "))),
                };
                self.error(diagnostic);
                failed = true;
                continue;
            };
            if self.given_twice(name, &hyperparameters) {
                failed = true;
                continue;
            }
            let literal = constant_literal(&argument.value);
            let value = match (range, literal.clone()) {
                (Range::Int(min, max), Some(Literal::Int(value))) if (*min..=*max).contains(&value) => {
                    Some(Literal::Int(value))
                }
                (Range::Int(min, max), _) => {
                    self.error(Diagnostic::new(
                        Code::Hyperparameter,
                        argument.value.span,
                        format!("`{}` must be an integer from {min} to {max}", name.name),
                    ));
                    None
                }
                (
                    Range::Float {
                        min,
                        max,
                        exclusive_min,
                    },
                    Some(Literal::Float(_) | Literal::Int(_)),
                ) => {
                    let number = match literal {
                        Some(Literal::Float(value)) => value,
                        Some(Literal::Int(value)) => value as f64,
                        _ => f64::NAN,
                    };
                    let above = if *exclusive_min { number > *min } else { number >= *min };
                    if above && number <= *max {
                        Some(Literal::Float(number))
                    } else {
                        let lower = if *exclusive_min { "above" } else { "at least" };
                        let upper = if *max == f64::MAX {
                            String::new()
                        } else {
                            format!(" and at most {max}")
                        };
                        self.error(Diagnostic::new(
                            Code::Hyperparameter,
                            argument.value.span,
                            format!("`{}` must be {lower} {min}{upper}", name.name),
                        ));
                        None
                    }
                }
                (Range::Float { .. }, _) => {
                    self.error(Diagnostic::new(
                        Code::Hyperparameter,
                        argument.value.span,
                        format!("`{}` must be a number", name.name),
                    ));
                    None
                }
            };
            match value {
                Some(value) => {
                    hyperparameters.insert(name.name.clone(), value);
                }
                None => failed = true,
            }
        }
        (!failed).then_some(Algorithm { kind, hyperparameters })
    }

    /// The argument's name; a positional argument is reported (`help` says how to write it).
    fn hyperparameter_name<'a>(&mut self, argument: &'a ast::Argument, help: &str) -> Option<&'a ast::Ident> {
        if argument.name.is_none() {
            self.error(
                Diagnostic::new(Code::Hyperparameter, argument.value.span, "hyperparameters are named")
                    .with_help(help.to_string()),
            );
        }
        argument.name.as_ref()
    }

    /// Whether `name` was already given; reported if so.
    fn given_twice(&mut self, name: &ast::Ident, given: &BTreeMap<String, Literal>) -> bool {
        let twice = given.contains_key(&name.name);
        if twice {
            self.error(Diagnostic::new(
                Code::Hyperparameter,
                name.span,
                format!("hyperparameter `{}` is given twice", name.name),
            ));
        }
        twice
    }

    /// `onnx("PATH")` and `command("COMMAND LINE", name = constant, ..., timeout = DURATION)`: the
    /// command's named constants are passed to the program as its hyperparameters.
    fn external_algorithm(
        &mut self,
        function: &ast::Ident,
        property: &PropertyValue<'_>,
        arguments: &[ast::Argument],
    ) -> Option<Algorithm> {
        let is_onnx = function.name == "onnx";
        let text = match arguments.first() {
            Some(ast::Argument { name: None, value }) => match &value.kind {
                ast::ExprKind::String(text) if !text.trim().is_empty() => Some(text.clone()),
                _ => None,
            },
            _ => None,
        };
        let Some(text) = text else {
            let what = if is_onnx { "a model path" } else { "a command line" };
            self.error(
                Diagnostic::new(
                    Code::Hyperparameter,
                    property.value.expr.span,
                    format!("`{}` takes one string first: {what}", function.name),
                )
                .with_help(if is_onnx {
                    "e.g. `onnx(\"models/scorer.onnx\")`"
                } else {
                    "e.g. `command(\"python3 train.py\", trees = 300, timeout = 30m)`"
                }),
            );
            return None;
        };
        let mut hyperparameters = BTreeMap::new();
        let mut failed = false;
        for argument in &arguments[1..] {
            if is_onnx {
                self.error(
                    Diagnostic::new(
                        Code::Hyperparameter,
                        argument.value.span,
                        "`onnx` takes only the model path",
                    )
                    .with_help("an imported model is already trained: it has no hyperparameters"),
                );
                failed = true;
                continue;
            }
            let Some(name) = self.hyperparameter_name(
                argument,
                "write `name = value` after the command line, e.g. `trees = 200`",
            ) else {
                failed = true;
                continue;
            };
            if self.given_twice(name, &hyperparameters) {
                failed = true;
                continue;
            }
            let literal = constant_literal(&argument.value);
            let valid = match (name.name.as_str(), &literal) {
                ("timeout", Some(Literal::Duration(micros))) if *micros > 0 => true,
                ("timeout", _) => {
                    self.error(
                        Diagnostic::new(
                            Code::Hyperparameter,
                            argument.value.span,
                            "`timeout` must be a duration above zero",
                        )
                        .with_help("e.g. `timeout = 30m`; without it a trainer may run for 1h"),
                    );
                    false
                }
                (_, Some(Literal::Int(_) | Literal::Float(_) | Literal::Bool(_) | Literal::String(_))) => true,
                _ => {
                    self.error(
                        Diagnostic::new(
                            Code::Hyperparameter,
                            argument.value.span,
                            format!("`{}` must be a constant number, bool or string", name.name),
                        )
                        .with_help("the program receives its hyperparameters as JSON"),
                    );
                    false
                }
            };
            match (valid, literal) {
                (true, Some(literal)) => {
                    hyperparameters.insert(name.name.clone(), literal);
                }
                _ => failed = true,
            }
        }
        let kind = if is_onnx {
            let span = arguments
                .first()
                .map_or(property.value.expr.span, |argument| argument.value.span);
            let path = project_path("`onnx` model", text, span, &mut self.diagnostics)?;
            AlgorithmKind::Onnx { path }
        } else {
            AlgorithmKind::Command { command: text }
        };
        (!failed).then_some(Algorithm { kind, hyperparameters })
    }

    fn train(&mut self, items: &[ast::Item], task: Option<Task>) -> Option<Train> {
        reject_statements(items, "`train`", &mut self.diagnostics);
        let mut properties = Properties::collect(items, &mut self.diagnostics);
        let diagnostics = &mut self.diagnostics;
        let snapshot_property = properties.value("snapshot", diagnostics);
        let holdout_property = properties.value("holdout", diagnostics);
        let metric_property = properties.value("metric", diagnostics);
        let promote_if = properties.value("promote_if", diagnostics);
        let approval = properties
            .value("approval", diagnostics)
            .and_then(|property| {
                choice(
                    &property,
                    &[("required", Approval::Required), ("none", Approval::None)],
                    diagnostics,
                )
            })
            .unwrap_or(Approval::None);
        let seed = properties
            .value("seed", diagnostics)
            .and_then(|property| int_value(&property, diagnostics))
            .unwrap_or(0);
        properties.finish("`train`", TRAIN_PROPERTIES, diagnostics);
        let mut missing_keys = Vec::new();
        if snapshot_property.is_none() {
            missing_keys.push("snapshot = 2026-01-01 .. 2026-06-30");
        }
        if holdout_property.is_none() {
            missing_keys.push("holdout = 2026-07-01 .. 2026-07-31");
        }
        if metric_property.is_none() {
            missing_keys.push("metric = auc");
        }
        if let Some(first) = items.first().map(|item| item.span) {
            for example in &missing_keys {
                let key = example.split(' ').next().unwrap_or_default();
                self.error(
                    Diagnostic::new(Code::MissingProperty, first, format!("`train` has no `{key}`"))
                        .with_help(format!("add `{example}`")),
                );
            }
        }
        let snapshot = snapshot_property.and_then(|property| date_range_value(&property, &mut self.diagnostics));
        let holdout = holdout_property.and_then(|property| date_range_value(&property, &mut self.diagnostics));
        let metric_names: Vec<(&str, Metric)> = Metric::ALL.iter().map(|metric| (metric.name(), *metric)).collect();
        let metric = metric_property.and_then(|property| {
            let metric = choice(&property, &metric_names, &mut self.diagnostics)?;
            if let Some(task) = task
                && metric.task() != task
            {
                let fitting: Vec<&str> = Metric::ALL
                    .iter()
                    .filter(|candidate| candidate.task() == task)
                    .map(|candidate| candidate.name())
                    .collect();
                self.error(
                    Diagnostic::new(
                        Code::MetricTask,
                        property.value.expr.span,
                        format!(
                            "`{}` measures {:?} models, but the label makes a {:?} model",
                            metric.name(),
                            metric.task(),
                            task
                        )
                        .to_lowercase(),
                    )
                    .with_help(format!("use one of {}", fitting.join(", "))),
                );
                return None;
            }
            Some(metric)
        });
        if let (Some((snapshot_start, snapshot_end)), Some((holdout_start, _))) = (snapshot, holdout)
            && holdout_start.days <= snapshot_end.days
        {
            let relation = if holdout_start.days < snapshot_start.days {
                "precedes"
            } else {
                "overlaps"
            };
            self.error(
                Diagnostic::new(
                    Code::Leakage,
                    holdout_start.span,
                    format!(
                        "the holdout starting {} {relation} the training snapshot ending {}",
                        format_date(holdout_start.days),
                        format_date(snapshot_end.days)
                    ),
                )
                .with_label_text("holdout starts here")
                .with_secondary(snapshot_end.span, "snapshot ends here")
                .with_help(format!(
                    "evaluate on later data than you train on: start the holdout on {} or later",
                    format_date(snapshot_end.days + 1)
                )),
            );
            return None;
        }
        let promote_if = match promote_if {
            Some(property) => {
                reject_clauses(property.value, "promote_if", &mut self.diagnostics);
                let env = Env {
                    columns: None,
                    local_group: None,
                    refs: RefPolicy::None,
                    metrics: true,
                    warn_deprecated: false,
                    columns_need_aggregate: false,
                    what: "`promote_if`",
                    unknown_code: Code::UnknownName,
                };
                let (id, _) = self.expr_of(&env, &property.value.expr, BaseType::Bool)?;
                let wrong_task = crate::plan::walk::nodes(&self.plan, id).into_iter().find_map(|node| {
                    match self.plan.exprs[node].kind {
                        ExprKind::Metric { metric, .. } if task.is_some_and(|task| metric.task() != task) => {
                            Some(metric)
                        }
                        _ => None,
                    }
                });
                if let (Some(metric), Some(task)) = (wrong_task, task) {
                    self.error(
                        Diagnostic::new(
                            Code::MetricTask,
                            property.value.expr.span,
                            format!(
                                "`promote_if` compares `{}`, which {task:?} models do not have",
                                metric.name()
                            )
                            .to_lowercase(),
                        )
                        .with_help("compare the metrics of this model's task"),
                    );
                    return None;
                }
                Some(id)
            }
            None => None,
        };
        let ((snapshot_start, snapshot_end), (holdout_start, holdout_end)) = (snapshot?, holdout?);
        Some(Train {
            snapshot: DateRange {
                start: snapshot_start.days,
                end: snapshot_end.days,
            },
            holdout: DateRange {
                start: holdout_start.days,
                end: holdout_end.days,
            },
            metric: metric?,
            promote_if,
            approval,
            seed,
        })
    }

    /// `model@stage` in a serve target.
    fn model_reference(&mut self, property: &PropertyValue<'_>) -> Option<ModelRef> {
        reject_clauses(property.value, &property.key.name, &mut self.diagnostics);
        let (target, stage) = match &property.value.expr.kind {
            ast::ExprKind::VersionRef {
                target,
                version,
                member: None,
            } => (target, version),
            ast::ExprKind::Name(target) => {
                self.error(
                    Diagnostic::new(
                        Code::UnknownStage,
                        target.span,
                        format!("`{}` needs a stage", property.key.name),
                    )
                    .with_help(format!(
                        "write `{}@production` (or @candidate, @approved, @shadow, @v3)",
                        target.name
                    )),
                );
                return None;
            }
            ast::ExprKind::Error => return None,
            _ => {
                self.error(
                    Diagnostic::new(
                        Code::InvalidValue,
                        property.value.expr.span,
                        format!("`{}` must be `MODEL@STAGE`", property.key.name),
                    )
                    .with_help("e.g. `fraud_detector@production`"),
                );
                return None;
            }
        };
        let model = match self.models.get(&target.name) {
            Some(plan_id) => *plan_id,
            None => {
                self.unknown_declaration(target, DeclarationKind::Model);
                return None;
            }
        };
        self.mark_used(DeclarationKind::Model, &target.name, 0);
        if let Some(symbol) = self.model_symbols.get(&target.name) {
            self.index.refer(target.span, *symbol);
        }
        let stage = match stage.name.as_str() {
            "production" => Stage::Production,
            "candidate" => Stage::Candidate,
            "approved" => Stage::Approved,
            "shadow" => Stage::Shadow,
            other => match other.strip_prefix('v').and_then(|digits| digits.parse::<u32>().ok()) {
                Some(version) if version > 0 => Stage::Version(version),
                _ => {
                    let stages = ["production", "candidate", "approved", "shadow"];
                    let mut diagnostic = Diagnostic::new(
                        Code::UnknownStage,
                        stage.span,
                        format!("`{other}` is not a model stage"),
                    )
                    .with_label_text("unknown stage");
                    diagnostic = match suggestion(other, stages) {
                        Some(help) => diagnostic.with_help(help),
                        None => diagnostic
                            .with_help("stages: production, candidate, approved, shadow, or a version like v3"),
                    };
                    self.error(diagnostic);
                    return None;
                }
            },
        };
        Some(ModelRef { model: model?, stage })
    }

    pub fn serve(&mut self, declaration: &Declaration) {
        let name = &declaration.name;
        let context = format!("serve target `{}`", name.name);
        reject_statements(&declaration.items, &context, &mut self.diagnostics);
        let mut properties = Properties::collect(&declaration.items, &mut self.diagnostics);
        let model_property =
            properties.required("model", declaration, "model = MODEL@production", &mut self.diagnostics);
        let diagnostics = &mut self.diagnostics;
        let mode = properties
            .required("mode", declaration, "mode = realtime", diagnostics)
            .and_then(|property| {
                choice(
                    &property,
                    &[("realtime", ServeMode::Realtime), ("batch", ServeMode::Batch)],
                    diagnostics,
                )
            });
        let batching_block = properties.block("batching", diagnostics);
        let timeout = properties
            .value("timeout", diagnostics)
            .and_then(|property| duration_value(&property, diagnostics));
        let fallback_property = properties.value("fallback", diagnostics);
        let shadow_property = properties.value("shadow", diagnostics);
        let schedule = properties.value("schedule", diagnostics).and_then(|property| {
            let text = string_value(&property, diagnostics)?;
            cron_error(&text).map_or(Some(text), |message| {
                diagnostics.push(
                    Diagnostic::new(Code::MalformedSchedule, property.value.expr.span, message).with_help(
                        "five fields, UTC: minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\"; \
                         each a `*`, a number, a range `a-b`, a list `a,b` or a step `*/n`, `a-b/n`",
                    ),
                );
                None
            })
        });
        let output = properties.value("output", diagnostics).and_then(|property| {
            let text = string_value(&property, diagnostics)?;
            let span = property.value.expr.span;
            if let Some(message) = output_error(&text) {
                diagnostics.push(Diagnostic::new(Code::MalformedOutput, span, message).with_help(
                    "a directory for the scores' Delta table: relative to the project (e.g. \"data/scores/NAME\"), \
                     an absolute path or a file:// URL",
                ));
                return None;
            }
            project_path("output", text, span, diagnostics)
        });
        let key_spans: Vec<(&str, Option<crate::source::Span>)> =
            ["batching", "timeout", "shadow", "schedule", "output"]
                .iter()
                .map(|key| (*key, properties.key_span(key)))
                .collect();
        properties.finish(&context, SERVE_PROPERTIES, diagnostics);

        let model = model_property.and_then(|property| self.model_reference(&property));
        let shadow_span = shadow_property.as_ref().map(|property| property.value.expr.span);
        let shadow = shadow_property.and_then(|property| self.model_reference(&property));
        if let (Some(model), Some(shadow), Some(span)) = (model, shadow, shadow_span) {
            let examples = self.plan.models[model.model].examples;
            let shadow_examples = self.plan.models[shadow.model].examples;
            if examples != shadow_examples {
                let names = (
                    self.plan.sources[examples].name.clone(),
                    self.plan.sources[shadow_examples].name.clone(),
                );
                self.error(
                    Diagnostic::new(
                        Code::InvalidValue,
                        span,
                        format!(
                            "the shadow model reads `{}` requests, the served model `{}` requests",
                            names.1, names.0
                        ),
                    )
                    .with_help("a shadow model receives the same requests: its `examples` must be the same source"),
                );
            }
        }
        let batching = batching_block.and_then(|(_, items)| self.batching(items));
        if let Some(mode) = mode {
            let misplaced: &[&str] = match mode {
                ServeMode::Realtime => &["schedule", "output"],
                ServeMode::Batch => &["batching", "timeout", "shadow"],
            };
            for (key, span) in &key_spans {
                if let (true, Some(span)) = (misplaced.contains(key), span) {
                    self.error(
                        Diagnostic::new(
                            Code::ServeMode,
                            *span,
                            format!(
                                "`{key}` does not apply to a {} serve target",
                                if mode == ServeMode::Batch { "batch" } else { "realtime" }
                            ),
                        )
                        .with_help(if mode == ServeMode::Batch {
                            "batch targets score on a `schedule` into an `output`; remove this property"
                        } else {
                            "realtime targets answer requests; `schedule` and `output` belong to `mode = batch`"
                        }),
                    );
                }
            }
            if mode == ServeMode::Batch {
                for (key, example) in [
                    ("schedule", "schedule = \"0 2 * * *\""),
                    ("output", "output = \"data/scores/NAME\""),
                ] {
                    if !key_spans.iter().any(|(name, span)| *name == key && span.is_some()) {
                        self.error(
                            Diagnostic::new(
                                Code::ServeMode,
                                name.span,
                                format!("a batch serve target needs `{key}`"),
                            )
                            .with_help(format!("add `{example}`")),
                        );
                    }
                }
            }
        }
        let fallback = match (fallback_property, model) {
            (Some(property), Some(model)) => self.fallback(&property, model),
            _ => None,
        };
        let symbol = self.index.define(
            SymbolKind::Serve,
            &name.name,
            name.span,
            doc_of(&declaration.docs),
            format!(
                "serve target · {}",
                mode.map_or("?", |mode| if mode == ServeMode::Batch { "batch" } else { "realtime" })
            ),
        );
        self.serve_symbols.insert(name.name.clone(), symbol);
        let (Some(model), Some(mode)) = (model, mode) else {
            self.serves.insert(name.name.clone(), None);
            return;
        };
        let id = self.plan.serves.push(Serve {
            name: name.name.clone(),
            doc: doc_of(&declaration.docs),
            model,
            mode,
            batching,
            timeout_micros: timeout,
            fallback,
            shadow,
            schedule,
            output,
        });
        self.serves.insert(name.name.clone(), Some(id));
    }

    fn batching(&mut self, items: &[ast::Item]) -> Option<Batching> {
        reject_statements(items, "`batching`", &mut self.diagnostics);
        let mut properties = Properties::collect(items, &mut self.diagnostics);
        let diagnostics = &mut self.diagnostics;
        let max_size = properties.value("max_size", diagnostics).and_then(|property| {
            let value = int_value(&property, diagnostics)?;
            match u32::try_from(value) {
                Ok(size) if size > 0 => Some(size),
                _ => {
                    diagnostics.push(Diagnostic::new(
                        Code::InvalidValue,
                        property.value.expr.span,
                        "`max_size` must be from 1 to 4294967295",
                    ));
                    None
                }
            }
        });
        let max_wait = properties
            .value("max_wait", diagnostics)
            .and_then(|property| duration_value(&property, diagnostics));
        properties.finish("`batching`", BATCHING_PROPERTIES, diagnostics);
        Some(Batching {
            max_size: max_size.unwrap_or(1),
            max_wait_micros: max_wait.unwrap_or(0),
        })
    }

    fn fallback(&mut self, property: &PropertyValue<'_>, model: ModelRef) -> Option<ExprId> {
        reject_clauses(property.value, "fallback", &mut self.diagnostics);
        let examples = self.plan.models[model.model].examples;
        let env = Env {
            columns: Some(examples),
            local_group: None,
            refs: RefPolicy::None,
            metrics: false,
            warn_deprecated: true,
            columns_need_aggregate: false,
            what: "the fallback",
            unknown_code: Code::FallbackReadsUnavailable,
        };
        let typed = self.expr(&env, &property.value.expr)?;
        let (id, ty) = self.known(typed, property.value.expr.span, "the fallback")?;
        let label_columns = self.plan.models[model.model]
            .label
            .example_columns(&self.plan, examples);
        let read = crate::plan::walk::row_columns_read(&self.plan, &[id]);
        if let Some(label_column) = label_columns.into_iter().find(|column| read.contains(column)) {
            let column = self.plan.sources[label_column.0].columns[label_column.1 as usize]
                .name
                .clone();
            self.error(
                Diagnostic::new(
                    Code::FallbackReadsUnavailable,
                    property.value.expr.span,
                    format!("the fallback reads the label `{column}`, which a request never carries"),
                )
                .with_help("a fallback runs from the request's fields alone"),
            );
            return None;
        }
        if ty.nullable {
            self.error(
                Diagnostic::new(
                    Code::FallbackType,
                    property.value.expr.span,
                    format!("the fallback is {ty}: it may be null, but it must always give a score"),
                )
                .with_help("wrap the nullable part in `coalesce(x, default)`"),
            );
            return None;
        }
        if !ty.base.is_numeric() {
            self.error(
                Diagnostic::new(
                    Code::FallbackType,
                    property.value.expr.span,
                    format!("the fallback is {ty}, but the model outputs float64"),
                )
                .with_label_text(format!("this is {ty}"))
                .with_help("a fallback stands in for the model's score: make it a number"),
            );
            return None;
        }
        Some(self.coerce(typed, BaseType::Float64))
    }
}

/// Why a cron schedule is malformed, if it is.
fn cron_error(text: &str) -> Option<String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != 5 {
        return Some(format!(
            "schedule `{text}` has {} fields, a cron schedule has 5",
            fields.len()
        ));
    }
    let limits = [
        (0, 59, "minute"),
        (0, 23, "hour"),
        (1, 31, "day of month"),
        (1, 12, "month"),
        (0, 7, "day of week"),
    ];
    for (field, (min, max, what)) in fields.iter().zip(limits) {
        for part in field.split(',') {
            let (range, step) = part
                .split_once('/')
                .map_or((part, None), |(range, step)| (range, Some(step)));
            if let Some(step) = step {
                if step.parse::<u32>().map_or(true, |step| step == 0 || step > max) {
                    return Some(format!(
                        "`{part}` has an invalid step in the {what} field (from 1 to {max})"
                    ));
                }
                if range != "*" && !range.contains('-') {
                    return Some(format!(
                        "`{part}`: a step follows `*` or a range in the {what} field (`*/{step}`, `a-b/{step}`)"
                    ));
                }
            }
            if range == "*" {
                continue;
            }
            let bounds: Vec<&str> = range.split('-').collect();
            let named = |value: &str| {
                let names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
                names
                    .iter()
                    .position(|name| name.eq_ignore_ascii_case(value))
                    .filter(|_| what == "day of week")
                    .map(|index| index as u32)
            };
            for bound in &bounds {
                let value = bound.parse::<u32>().ok().or_else(|| named(bound));
                match value {
                    Some(value) if (min..=max).contains(&value) => {}
                    _ => return Some(format!("`{bound}` is not a valid {what} (from {min} to {max})")),
                }
            }
            if bounds.len() > 2 || bounds.iter().any(|bound| bound.is_empty()) {
                return Some(format!("`{range}` is not a valid range in the {what} field"));
            }
            let value = |bound: &str| bound.parse::<u32>().ok().or_else(|| named(bound));
            if let [low, high] = bounds.as_slice()
                && value(low) > value(high)
            {
                return Some(format!("`{range}` runs backwards in the {what} field"));
            }
        }
    }
    None
}

/// Why a batch `output` location is malformed, if it is: blank, the project directory itself, a
/// control character, or a URL of a scheme batch scoring does not write to (only local paths and
/// `file://` URLs are written).
fn output_error(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return Some("`output` is empty".to_string());
    }
    if text.chars().any(char::is_control) {
        return Some(format!("`output` {text:?} holds a control character"));
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        if !scheme.eq_ignore_ascii_case("file") {
            return Some(format!(
                "`output` `{text}`: batch scores are written to local paths, not `{scheme}://` URLs"
            ));
        }
        if !rest.starts_with('/') {
            return Some(format!("`output` `{text}` is not a `file:///absolute/path` URL"));
        }
        return None;
    }
    let inside: Vec<&str> = text
        .split(['/', '\\'])
        .filter(|component| !component.is_empty() && *component != ".")
        .collect();
    if inside.is_empty() && !text.starts_with(['/', '\\']) {
        return Some(format!("`output` `{text}` is the project directory itself"));
    }
    None
}

/// Types a model takes as input directly.
fn is_model_input(base: BaseType) -> bool {
    matches!(base, BaseType::Bool | BaseType::Int64 | BaseType::Float64)
}
