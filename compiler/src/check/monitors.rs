//! Monitors: drift and metric rules on a serve target's model, their actions and alert channels.

use crate::check::Checker;
use crate::check::properties::*;
use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::index::SymbolKind;
use crate::plan::*;
use crate::syntax::ast::{self, Declaration, DeclarationKind, DriftTarget, ItemKind};

const MONITOR_PROPERTIES: &[&str] = &["channels"];
const CHANNEL_SCHEMES: &[&str] = &["slack", "email", "pagerduty", "webhook"];
/// PSI above this is not a useful threshold (values past ~1 mean the distributions barely overlap).
const MAX_PSI_THRESHOLD: f64 = 10.0;
const MAX_BASELINE_FACTOR: f64 = 10.0;

impl Checker<'_> {
    pub fn monitor(&mut self, declaration: &Declaration) {
        let Some(target) = &declaration.target else { return };
        let context = format!("monitor `{}`", declaration.name.name);
        let mut properties = Properties::collect(&declaration.items, &mut self.diagnostics);
        let channels = properties.value("channels", &mut self.diagnostics);
        properties.finish(&context, MONITOR_PROPERTIES, &mut self.diagnostics);
        let channels = channels.map(|property| self.channels(&property)).unwrap_or_default();

        self.index.define(
            SymbolKind::Monitor,
            &declaration.name.name,
            declaration.name.span,
            crate::check::declarations::doc_of(&declaration.docs),
            format!("monitor on `{}`", target.name),
        );
        let serve = match self.serves.get(&target.name) {
            Some(serve) => {
                if let Some(symbol) = self.serve_symbols.get(&target.name) {
                    self.index.refer(target.span, *symbol);
                }
                *serve
            }
            None => {
                self.unknown_declaration(target, DeclarationKind::Serve);
                return;
            }
        };
        let model = serve.map(|serve| self.plan.serves[serve].model.model);
        let mut drift = Vec::new();
        let mut metrics = Vec::new();
        let mut failed = serve.is_none();
        for item in &declaration.items {
            match &item.kind {
                ItemKind::Drift(rule) => match self.drift_rule(rule, model) {
                    Some(rule) => drift.push(rule),
                    None => failed = true,
                },
                ItemKind::Metric(rule) => match self.metric_rule(rule, model) {
                    Some(rule) => metrics.push(rule),
                    None => failed = true,
                },
                ItemKind::Property { .. } | ItemKind::Block { .. } => {}
                _ => self.error(
                    Diagnostic::new(
                        Code::UnknownProperty,
                        item.span,
                        format!("this is not allowed in {context}"),
                    )
                    .with_help("a monitor holds `drift` and `metric` rules and `channels`"),
                ),
            }
        }
        if drift.is_empty() && metrics.is_empty() && !failed {
            self.error(
                Diagnostic::new(
                    Code::MissingProperty,
                    declaration.name.span,
                    format!("{context} has no rules"),
                )
                .with_help("add `drift psi > 0.2 on features every 1d => alert` or a `metric` rule"),
            );
        }
        let Some(serve) = serve else { return };
        if failed {
            return;
        }
        self.plan.monitors.push(Monitor {
            name: declaration.name.name.clone(),
            doc: crate::check::declarations::doc_of(&declaration.docs),
            target: serve,
            drift,
            metrics,
            channels,
        });
    }

    fn channels(&mut self, property: &PropertyValue<'_>) -> Vec<String> {
        reject_clauses(property.value, "channels", &mut self.diagnostics);
        let items: Vec<&ast::Expr> = match &property.value.expr.kind {
            ast::ExprKind::List(items) => items.iter().collect(),
            _ => vec![&property.value.expr],
        };
        let mut channels = Vec::new();
        for item in items {
            let valid = match &item.kind {
                ast::ExprKind::String(text) => text
                    .split_once(':')
                    .filter(|(scheme, target)| CHANNEL_SCHEMES.contains(scheme) && !target.trim().is_empty())
                    .map(|_| text.clone()),
                _ => None,
            };
            match valid {
                Some(channel) => channels.push(channel),
                None => self.error(
                    Diagnostic::new(
                        Code::InvalidValue,
                        item.span,
                        "an alert channel is a string \"SCHEME:TARGET\"",
                    )
                    .with_help(format!(
                        "schemes: {}; e.g. \"slack:#ml-oncall\"",
                        CHANNEL_SCHEMES.join(", ")
                    )),
                ),
            }
        }
        channels
    }

    fn actions(&mut self, idents: &[ast::Ident]) -> Option<Vec<Action>> {
        let mut actions = Vec::new();
        for ident in idents {
            match ident.name.as_str() {
                "alert" => actions.push(Action::Alert),
                "retrain" => actions.push(Action::Retrain),
                other => {
                    let mut diagnostic =
                        Diagnostic::new(Code::InvalidValue, ident.span, format!("unknown action `{other}`"))
                            .with_label_text("not an action");
                    diagnostic = match suggestion(other, ["alert", "retrain"]) {
                        Some(help) => diagnostic.with_help(help),
                        None => diagnostic.with_help("actions: alert, retrain"),
                    };
                    self.error(diagnostic);
                    return None;
                }
            }
        }
        Some(actions)
    }

    fn drift_rule(&mut self, rule: &ast::DriftRule, model: Option<ModelId>) -> Option<DriftRule> {
        if rule.statistic.name != "psi" {
            self.error(
                Diagnostic::new(
                    Code::InvalidValue,
                    rule.statistic.span,
                    format!("unknown drift statistic `{}`", rule.statistic.name),
                )
                .with_help("drift is measured by the population stability index: `drift psi > 0.2 ...`"),
            );
            return None;
        }
        if !matches!(
            rule.comparison,
            ast::Comparison::Greater | ast::Comparison::GreaterEqual
        ) {
            self.error(
                Diagnostic::new(
                    Code::ThresholdRange,
                    rule.comparison_span,
                    "a drift rule fires when PSI rises above a threshold",
                )
                .with_help("write `drift psi > 0.2 ...`"),
            );
            return None;
        }
        let threshold = rule.threshold.value;
        if !(threshold > 0.0 && threshold <= MAX_PSI_THRESHOLD) {
            self.error(
                Diagnostic::new(
                    Code::ThresholdRange,
                    rule.threshold.span,
                    format!("a PSI threshold must be above 0 and at most {MAX_PSI_THRESHOLD}, not {threshold}"),
                )
                .with_help("0.1 is a moderate shift, 0.2 a significant one, 0.25 and above a major one"),
            );
            return None;
        }
        if rule.every.micros <= 0 {
            self.error(Diagnostic::new(
                Code::InvalidWindow,
                rule.every.span,
                "the evaluation period must be longer than zero",
            ));
            return None;
        }
        let actions = self.actions(&rule.actions)?;
        let model = self.plan.models.get(model?)?;
        let model_features = model.features.clone();
        let features = match &rule.target {
            DriftTarget::AllFeatures(_) => model_features,
            DriftTarget::List(items, _) => {
                let mut features = Vec::new();
                for item in items {
                    let resolved = match &item.kind {
                        ast::ExprKind::VersionRef {
                            target,
                            version,
                            member: Some(member),
                        } => match self.resolve_feature_reference(target, version, member) {
                            Ok(slot) => self.feature_slots[slot].lowered.map(|(id, _)| id),
                            Err(diagnostic) => {
                                self.report(diagnostic);
                                return None;
                            }
                        },
                        _ => {
                            self.error(
                                Diagnostic::new(
                                    Code::InvalidValue,
                                    item.span,
                                    "drift is watched per feature: `group@v1.feature`",
                                )
                                .with_help("or write `on features` for every input of the model"),
                            );
                            return None;
                        }
                    };
                    let feature = resolved?;
                    if !model_features.contains(&feature) {
                        self.error(
                            Diagnostic::new(
                                Code::UnknownFeature,
                                item.span,
                                format!(
                                    "`{}` is not an input of the served model",
                                    crate::plan::print::feature_path(&self.plan, feature)
                                ),
                            )
                            .with_help(
                                "drift rules watch the model's own features; pin the feature in the model first",
                            ),
                        );
                        return None;
                    }
                    features.push(feature);
                }
                features
            }
        };
        Some(DriftRule {
            threshold,
            features,
            every_micros: rule.every.micros,
            actions,
        })
    }

    fn metric_rule(&mut self, rule: &ast::MetricRule, model: Option<ModelId>) -> Option<MetricRule> {
        let Some(metric) = Metric::from_name(&rule.metric.name) else {
            let mut diagnostic = Diagnostic::new(
                Code::UnknownName,
                rule.metric.span,
                format!("unknown metric `{}`", rule.metric.name),
            );
            if let Some(help) = suggestion(&rule.metric.name, Metric::ALL.iter().map(|metric| metric.name())) {
                diagnostic = diagnostic.with_help(help);
            }
            self.error(diagnostic);
            return None;
        };
        if rule.window.micros <= 0 {
            self.error(Diagnostic::new(
                Code::InvalidWindow,
                rule.window.span,
                "the metric window must be longer than zero",
            ));
            return None;
        }
        let task = self.plan.models.get(model?)?.task;
        if metric.task() != task {
            self.error(Diagnostic::new(
                Code::MetricTask,
                rule.metric.span,
                format!(
                    "`{}` measures {:?} models, the served model is a {:?} model",
                    metric.name(),
                    metric.task(),
                    task
                )
                .to_lowercase(),
            ));
            return None;
        }
        let falling = matches!(rule.comparison, ast::Comparison::Less | ast::Comparison::LessEqual);
        if falling != metric.higher_is_better() {
            let (worse, write) = if metric.higher_is_better() {
                ("falls", "<")
            } else {
                ("rises", ">")
            };
            self.error(
                Diagnostic::new(
                    Code::ThresholdRange,
                    rule.comparison_span,
                    format!("this rule fires when `{}` improves", metric.name()),
                )
                .with_help(format!("alert when `{}` {worse}: write `{write}`", metric.name())),
            );
            return None;
        }
        let threshold = rule.threshold.value;
        let in_range = if rule.relative_to_baseline {
            threshold > 0.0
                && threshold <= MAX_BASELINE_FACTOR
                && (if metric.higher_is_better() {
                    threshold <= 1.0
                } else {
                    threshold >= 1.0
                })
        } else if metric.is_bounded() {
            (0.0..=1.0).contains(&threshold)
        } else {
            threshold >= 0.0
        };
        if !in_range {
            let expected = if rule.relative_to_baseline {
                if metric.higher_is_better() {
                    "a factor above 0 and at most 1 (e.g. `0.85 * baseline`)".to_string()
                } else {
                    format!("a factor of at least 1 and at most {MAX_BASELINE_FACTOR} (e.g. `1.2 * baseline`)")
                }
            } else if metric.is_bounded() {
                format!("from 0 to 1 ({} is a fraction)", metric.name())
            } else {
                "at least 0".to_string()
            };
            self.error(
                Diagnostic::new(
                    Code::ThresholdRange,
                    rule.threshold.span,
                    format!("threshold {threshold} is out of range for `{}`", metric.name()),
                )
                .with_help(format!("use {expected}")),
            );
            return None;
        }
        self.label_maturity(rule, model?)?;
        let actions = self.actions(&rule.actions)?;
        Some(MetricRule {
            metric,
            window_micros: rule.window.micros,
            comparison: match rule.comparison {
                ast::Comparison::Less => Comparison::Less,
                ast::Comparison::LessEqual => Comparison::LessEqual,
                ast::Comparison::Greater => Comparison::Greater,
                ast::Comparison::GreaterEqual => Comparison::GreaterEqual,
            },
            threshold,
            relative_to_baseline: rule.relative_to_baseline,
            actions,
        })
    }

    /// A metric over labels joined from another source needs `label_delay`: without it a
    /// prediction whose label has not arrived would be read as the default (a negative).
    fn label_maturity(&mut self, rule: &ast::MetricRule, model: ModelId) -> Option<()> {
        let model = self.plan.models.get(model)?;
        if model.label.join.is_none() || model.label_delay.is_some() {
            return Some(());
        }
        let message = format!(
            "`{}` needs to know when the labels of `{}` are final",
            rule.metric.name, model.name
        );
        let help = format!(
            "declare `label_delay = 30d` (the longest wait for a `{}` row) in model `{}`: until then a prediction is pending, not a negative",
            self.plan.sources[model.label.source].name, model.name
        );
        self.error(Diagnostic::new(Code::LabelMaturity, rule.metric.span, message).with_help(help));
        None
    }
}
