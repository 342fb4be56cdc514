//! Schema evolution: what changed between a base version of a project (a git revision, another
//! directory) and the current one, classified as breaking (error), risky (warning) or worth a
//! reviewer's eye (info). Contracts follow the usual data-contract rules: removing or retyping a
//! guaranteed column, tightening an expectation or dropping a contract breaks consumers; adding is
//! safe; a guaranteed column may go only after its deprecation notice has run out.

use std::collections::{BTreeMap, BTreeSet};

use crate::diagnostic::{Code, Diagnostic};
use crate::index::SymbolIndex;
use crate::plan::print::{RefStyle, expr_text, feature_path, literal_text};
use crate::plan::{Contract, Expectation, Model, Plan, Serve};
use crate::source::{FileId, Span};
use crate::syntax::literal::{MICROS_PER_DAY, format_date};

/// One compiled side of the comparison.
pub struct Side<'a> {
    pub plan: &'a Plan,
    pub index: &'a SymbolIndex,
}

struct Comparison<'a> {
    base: Side<'a>,
    current: Side<'a>,
    /// Base spans are shifted by this many files, so both sides can be rendered from one file list.
    base_file_offset: u32,
    today: i32,
    findings: Vec<Diagnostic>,
}

/// Compares two clean projects. `today` (days since 1970-01-01) decides whether deprecation notices
/// have run out.
pub fn compare(base: Side<'_>, current: Side<'_>, base_file_offset: u32, today: i32) -> Vec<Diagnostic> {
    let mut comparison = Comparison {
        base,
        current,
        base_file_offset,
        today,
        findings: Vec::new(),
    };
    comparison.contracts();
    comparison.feature_versions();
    comparison.models();
    comparison.serves();
    comparison
        .findings
        .sort_by_key(|finding| (finding.primary_span(), finding.code));
    comparison.findings
}

fn by_name<'p, T>(items: impl Iterator<Item = &'p T>, name: impl Fn(&T) -> String) -> BTreeMap<String, &'p T>
where
    T: 'p,
{
    items.map(|item| (name(item), item)).collect()
}

impl Comparison<'_> {
    fn base_span(&self, name: &str) -> Option<Span> {
        self.base.index.named(name).map(|symbol| Span {
            file: FileId(symbol.span.file.0 + self.base_file_offset),
            ..symbol.span
        })
    }

    fn current_span(&self, name: &str) -> Option<Span> {
        self.current.index.named(name).map(|symbol| symbol.span)
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.findings.push(diagnostic);
    }

    fn contracts(&mut self) {
        let base = by_name(self.base.plan.contracts.values(), |contract| contract.name.clone());
        let current = by_name(self.current.plan.contracts.values(), |contract| contract.name.clone());
        for (name, base_contract) in &base {
            match current.get(name) {
                Some(current_contract) => self.contract(base_contract, current_contract),
                None => {
                    if let Some(span) = self.base_span(name) {
                        self.push(
                            Diagnostic::new(Code::ContractRemoved, span, format!("contract `{name}` was removed"))
                                .with_label_text("removed in this change")
                                .with_help("consumers rely on a contract's guarantees: deprecate columns with notice instead of dropping the contract"),
                        );
                    }
                }
            }
        }
        for name in current.keys().filter(|name| !base.contains_key(*name)) {
            if let Some(span) = self.current_span(name) {
                self.push(Diagnostic::new(
                    Code::ContractAdded,
                    span,
                    format!("contract `{name}` is new"),
                ));
            }
        }
    }

    fn contract(&mut self, base: &Contract, current: &Contract) {
        let base_source = &self.base.plan.sources[base.source];
        let current_source = &self.current.plan.sources[current.source];
        let contract_span = self.current_span(&current.name).unwrap_or_default();
        let column_name = |source: &crate::plan::Source, index: u32| {
            source
                .columns
                .get(index as usize)
                .map(|column| column.name.clone())
                .unwrap_or_default()
        };
        let current_required: BTreeSet<String> = current
            .required
            .iter()
            .map(|index| column_name(current_source, *index))
            .collect();
        for index in &base.required {
            let name = column_name(base_source, *index);
            let base_type = base_source.columns[*index as usize].ty;
            if current_required.contains(&name) {
                let current_type = current_source
                    .column_index(&name)
                    .map(|index| current_source.columns[index as usize].ty);
                if let Some(current_type) = current_type
                    && current_type != base_type
                {
                    let span = self
                        .current_span(&format!("{}.{name}", current_source.name))
                        .unwrap_or(contract_span);
                    self.push(
                        Diagnostic::new(
                            Code::ColumnTypeChanged,
                            span,
                            format!("guaranteed column `{name}` changed from {base_type} to {current_type}"),
                        )
                        .with_label_text(format!("was {base_type}"))
                        .with_help(format!(
                            "contract `{}` guarantees `{name}: {base_type}`: add a new column instead and deprecate this one",
                            current.name
                        )),
                    );
                }
                continue;
            }
            self.removed_column(base, current, &name, contract_span);
        }
        let base_columns: BTreeSet<&str> = base_source.columns.iter().map(|column| column.name.as_str()).collect();
        for column in &current_source.columns {
            if !base_columns.contains(column.name.as_str())
                && let Some(span) = self.current_span(&format!("{}.{}", current_source.name, column.name))
            {
                self.push(Diagnostic::new(
                    Code::ColumnAdded,
                    span,
                    format!(
                        "column `{}: {}` added to `{}`",
                        column.name, column.ty, current_source.name
                    ),
                ));
            }
        }
        let base_deprecated: BTreeSet<String> = base
            .deprecations
            .iter()
            .map(|deprecation| column_name(base_source, deprecation.column))
            .collect();
        for deprecation in &current.deprecations {
            let name = column_name(current_source, deprecation.column);
            if !base_deprecated.contains(&name) {
                let notice_days = (current.notice_micros / MICROS_PER_DAY) as i32;
                self.push(Diagnostic::new(
                    Code::DeprecationAdded,
                    contract_span,
                    format!(
                        "contract `{}` deprecates `{name}` since {}: it may be removed from {}",
                        current.name,
                        format_date(deprecation.since),
                        format_date(deprecation.since.saturating_add(notice_days))
                    ),
                ));
            }
        }
        let base_expectations = expectation_texts(self.base.plan, base);
        let current_expectations = expectation_texts(self.current.plan, current);
        for (key, text) in &current_expectations {
            if !base_expectations.contains_key(key) {
                self.push(
                    Diagnostic::new(
                        Code::ExpectationTightened,
                        contract_span,
                        format!("contract `{}` adds or tightens `expect {text}`", current.name),
                    )
                    .with_help("data that met the old contract may now fail it: agree the change with consumers and producers, then announce it in a new contract version"),
                );
            }
        }
        for (key, text) in &base_expectations {
            if !current_expectations.contains_key(key) {
                self.push(Diagnostic::new(
                    Code::ExpectationRelaxed,
                    contract_span,
                    format!("contract `{}` no longer expects `{text}`", current.name),
                ));
            }
        }
    }

    /// A guaranteed column left the contract: fine after its notice, an error before.
    fn removed_column(&mut self, base: &Contract, current: &Contract, name: &str, span: Span) {
        let base_source = &self.base.plan.sources[base.source];
        let deprecated_since = base
            .deprecations
            .iter()
            .find(|deprecation| {
                base_source
                    .columns
                    .get(deprecation.column as usize)
                    .is_some_and(|column| column.name == name)
            })
            .map(|deprecation| deprecation.since);
        let notice_days = (base.notice_micros / MICROS_PER_DAY) as i32;
        match deprecated_since {
            Some(since) if since.saturating_add(notice_days) <= self.today => self.push(Diagnostic::new(
                Code::RequiredColumnRetired,
                span,
                format!(
                    "contract `{}` drops `{name}`, deprecated since {} (notice ran out on {})",
                    current.name,
                    format_date(since),
                    format_date(since.saturating_add(notice_days))
                ),
            )),
            Some(since) => self.push(
                Diagnostic::new(
                    Code::RequiredColumnRemoved,
                    span,
                    format!(
                        "contract `{}` drops `{name}` before its notice ran out: it may go from {}",
                        current.name,
                        format_date(since.saturating_add(notice_days))
                    ),
                )
                .with_help("keep the column until the notice period is over"),
            ),
            None => self.push(
                Diagnostic::new(
                    Code::RequiredColumnRemoved,
                    span,
                    format!(
                        "contract `{}` drops guaranteed column `{name}` without notice",
                        current.name
                    ),
                )
                .with_help(format!(
                    "announce it first: `deprecate {name} since {}`, then remove it after the notice period",
                    format_date(self.today)
                )),
            ),
        }
    }

    fn pinned_by(&self, group: &str) -> Vec<String> {
        self.current
            .plan
            .models
            .values()
            .filter(|model| {
                model.pins.iter().any(|pin| {
                    let pinned = &self.current.plan.groups[pin.group];
                    format!("{}@v{}", pinned.name, pinned.version) == group
                })
            })
            .map(|model| model.name.clone())
            .collect()
    }

    fn feature_versions(&mut self) {
        let group_hashes = |plan: &Plan| -> BTreeMap<String, String> {
            plan.groups
                .values()
                .map(|group| (format!("{}@v{}", group.name, group.version), group.hash.0.clone()))
                .collect()
        };
        let base = group_hashes(self.base.plan);
        let current = group_hashes(self.current.plan);
        for (group, hash) in &base {
            match current.get(group) {
                Some(current_hash) if current_hash == hash => {}
                Some(_) => {
                    let span = self.current_span(group).unwrap_or_default();
                    let models = self.pinned_by(group);
                    if models.is_empty() {
                        self.push(Diagnostic::new(
                            Code::FeatureVersionChanged,
                            span,
                            format!("feature group `{group}` was edited (no model pins it)"),
                        ));
                    } else {
                        let next = group
                            .rsplit_once("@v")
                            .and_then(|(_, version)| version.parse::<u32>().ok())
                            .map_or(2, |version| version + 1);
                        let mut diagnostic = Diagnostic::new(
                            Code::PinnedVersionEdited,
                            span,
                            format!("feature group `{group}` was edited while {} pins it", quoted_list(&models)),
                        )
                        .with_label_text("edited")
                        .with_help(format!(
                            "models trained on the old definition would be served the new one: declare v{next} alongside and pin it when the model is retrained"
                        ));
                        for model in &models {
                            if let Some(model_span) = self.current_span(model) {
                                diagnostic = diagnostic.with_secondary(model_span, "pins it");
                            }
                        }
                        self.push(diagnostic);
                    }
                }
                None => {
                    if let Some(span) = self.base_span(group) {
                        self.push(Diagnostic::new(
                            Code::FeatureVersionChanged,
                            span,
                            format!("feature group `{group}` was removed"),
                        ));
                    }
                }
            }
        }
        for group in current.keys().filter(|group| !base.contains_key(*group)) {
            if let Some(span) = self.current_span(group) {
                self.push(Diagnostic::new(
                    Code::FeatureVersionChanged,
                    span,
                    format!("feature group `{group}` is new"),
                ));
            }
        }
    }

    fn models(&mut self) {
        let base = by_name(self.base.plan.models.values(), |model| model.name.clone());
        let current = by_name(self.current.plan.models.values(), |model| model.name.clone());
        for (name, current_model) in &current {
            let Some(base_model) = base.get(name) else { continue };
            let span = self.current_span(name).unwrap_or_default();
            let base_pins = pin_labels(self.base.plan, base_model);
            let current_pins = pin_labels(self.current.plan, current_model);
            if base_pins != current_pins {
                self.push(Diagnostic::new(
                    Code::ModelInputsChanged,
                    span,
                    format!(
                        "model `{name}` now pins [{}] (was [{}])",
                        current_pins.join(", "),
                        base_pins.join(", ")
                    ),
                ));
            }
            let training = |plan: &Plan, model: &Model| {
                let parameters: Vec<String> = model
                    .algorithm
                    .hyperparameters
                    .iter()
                    .map(|(key, value)| format!("{key}={}", literal_text(value, RefStyle::Display)))
                    .collect();
                format!(
                    "{} ({}) snapshot {}..{} holdout {}..{} metric {}{}",
                    crate::plan::print::algorithm_name(&model.algorithm.kind),
                    parameters.join(", "),
                    format_date(model.train.snapshot.start),
                    format_date(model.train.snapshot.end),
                    format_date(model.train.holdout.start),
                    format_date(model.train.holdout.end),
                    model.train.metric.name(),
                    model
                        .train
                        .promote_if
                        .map(|expr| format!(" promote_if {}", expr_text(plan, expr, RefStyle::Display)))
                        .unwrap_or_default()
                )
            };
            let (before, after) = (
                training(self.base.plan, base_model),
                training(self.current.plan, current_model),
            );
            if before != after {
                self.push(Diagnostic::new(
                    Code::ModelTrainingChanged,
                    span,
                    format!("model `{name}` trains differently: {after} (was {before})"),
                ));
            }
        }
    }

    fn serves(&mut self) {
        let describe = |plan: &Plan, serve: &Serve| {
            let model =
                |reference: crate::plan::ModelRef| format!("{}@{}", plan.models[reference.model].name, reference.stage);
            let mut text = format!("{} ({:?})", model(serve.model), serve.mode).to_lowercase();
            if let Some(shadow) = serve.shadow {
                text.push_str(&format!(" shadow {}", model(shadow)));
            }
            text
        };
        let base = by_name(self.base.plan.serves.values(), |serve| serve.name.clone());
        for serve in self.current.plan.serves.values() {
            let Some(base_serve) = base.get(&serve.name) else {
                continue;
            };
            let (before, after) = (describe(self.base.plan, base_serve), describe(self.current.plan, serve));
            if before != after {
                let span = self.current_span(&serve.name).unwrap_or_default();
                self.push(Diagnostic::new(
                    Code::ServeTargetChanged,
                    span,
                    format!("serve target `{}` now serves {after} (was {before})", serve.name),
                ));
            }
        }
    }
}

/// Expectations by hashing text (the key) with their display text.
fn expectation_texts(plan: &Plan, contract: &Contract) -> BTreeMap<String, String> {
    let source = &plan.sources[contract.source];
    let column = |index: u32| {
        source
            .columns
            .get(index as usize)
            .map(|column| column.name.clone())
            .unwrap_or_default()
    };
    contract
        .expectations
        .iter()
        .map(|expectation| match expectation {
            Expectation::Holds { expr } => (
                expr_text(plan, *expr, RefStyle::Hash),
                crate::plan::print::expr_infix(plan, *expr),
            ),
            Expectation::Unique { column: index } => {
                let text = format!("unique({})", column(*index));
                (text.clone(), text)
            }
            Expectation::NotNull { column: index } => {
                let text = format!("not_null({})", column(*index));
                (text.clone(), text)
            }
        })
        .collect()
}

fn pin_labels(plan: &Plan, model: &Model) -> Vec<String> {
    let mut labels: Vec<String> = model
        .pins
        .iter()
        .map(|pin| match pin.feature {
            Some(feature) => feature_path(plan, feature),
            None => {
                let group = &plan.groups[pin.group];
                format!("{}@v{}", group.name, group.version)
            }
        })
        .collect();
    labels.sort();
    labels
}

fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("model `{name}`")).collect();
    quoted.join(" and ")
}
