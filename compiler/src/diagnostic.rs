//! Diagnostics as plain data: a stable code, a severity, a message, labelled spans and help.
//! Rendering (miette, JSON, LSP, ...) happens at the edge, never here.

use serde::Serialize;

use crate::source::Span;

/// Whether a diagnostic stops the build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// A change worth a reviewer's attention that breaks nothing (`mlsysc check --base`).
    Info,
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $title:literal;)*) => {
        /// Every diagnostic the front end can emit. Codes are stable: never renumber, only add.
        /// `lang-spec/diagnostics.md` has an entry with a failing example for each.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum Code { $($variant,)* }

        impl Code {
            /// All codes, in numeric order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable code text, e.g. `E0101`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// A short title for indexes and documentation.
            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title,)* }
            }
        }
    };
}

codes! {
    Syntax = "E0001", "syntax error";
    TooDeep = "E0002", "nesting too deep";
    InvalidLiteral = "E0003", "invalid literal";
    InvalidUtf8 = "E0004", "file is not valid UTF-8";
    UnknownName = "E0101", "unknown name";
    UnknownDeclaration = "E0102", "unknown or wrong kind of declaration";
    UnknownFeature = "E0103", "unknown feature";
    UnknownFunction = "E0104", "unknown function";
    DuplicateDeclaration = "E0105", "duplicate declaration";
    DuplicateMember = "E0106", "duplicate name inside a declaration";
    FeatureCycle = "E0107", "cycle between features";
    UnknownProperty = "E0108", "unknown property";
    MissingProperty = "E0109", "missing required property";
    DuplicateProperty = "E0110", "property given twice";
    InvalidValue = "E0111", "invalid property value";
    MisplacedHeader = "E0112", "version or `on` target where the declaration kind does not take one";
    PathEscapesProject = "E0113", "relative path leads out of the project directory";
    TypeMismatch = "E0201", "type mismatch";
    ArgumentCount = "E0202", "wrong number of arguments";
    OperatorTypes = "E0203", "operator not defined for these types";
    AggregateContext = "E0204", "aggregate in the wrong place";
    ConstantRequired = "E0205", "constant argument required";
    UnknownType = "E0206", "unknown type";
    AggregateWithoutEntity = "E0301", "aggregate in a feature group without an entity";
    AggregateWithoutTimestamp = "E0302", "aggregate over a source without a timestamp";
    ResolutionDoesNotDivide = "E0303", "window resolution does not divide the window";
    InvalidWindow = "E0304", "window or resolution not positive";
    UnknownVersion = "E0305", "feature group version does not exist";
    MissingVersion = "E0306", "feature group referenced without a version";
    EntityKeyMissing = "E0307", "entity key not available";
    IncompatibleFeatureSource = "E0308", "feature group computed on another source";
    OtherSourceAggregates = "E0309", "derived feature over another source's aggregates";
    LabelKeyTypes = "E0401", "label join key types differ";
    Leakage = "E0402", "holdout overlaps or precedes the training snapshot";
    MetricTask = "E0403", "metric does not fit the model's task";
    Hyperparameter = "E0404", "invalid hyperparameter";
    LabelType = "E0405", "label type cannot be learned";
    EmptyRange = "E0406", "date range ends before it starts";
    UnknownStage = "E0501", "unknown model stage";
    FallbackType = "E0502", "fallback type differs from the model output";
    FallbackReadsUnavailable = "E0503", "fallback reads a value the request does not carry";
    ServeMode = "E0504", "property does not fit the serving mode";
    MalformedSchedule = "E0505", "malformed cron schedule";
    MalformedOutput = "E0506", "malformed batch output location";
    ContractColumn = "E0601", "contract names a column the source lacks";
    ThresholdRange = "E0701", "monitor threshold out of range";
    LabelMaturity = "E0702", "metric rule on labels whose maturity is not declared";
    LockedVersionChanged = "E0801", "locked feature version changed";
    ContractRemoved = "E0802", "contract removed";
    RequiredColumnRemoved = "E0803", "guaranteed column removed before its notice period ended";
    ColumnTypeChanged = "E0804", "guaranteed column changed type or nullability";
    ExpectationTightened = "E0805", "contract expectation added or tightened";
    PinnedVersionEdited = "E0806", "feature version edited while a model pins it";
    DataColumnMissing = "E0901", "declared column missing from the data";
    DataColumnRetyped = "E0902", "column holds another type in the data";
    UnusedDeclaration = "W0001", "unused declaration";
    DeprecatedColumn = "W0002", "feature reads a deprecated column";
    RequiredColumnRetired = "W0801", "guaranteed column removed after its notice period";
    DataNullableColumnMissing = "W0901", "nullable column missing from the data";
    DataValuesUnreadable = "W0902", "some values do not read as the declared type";
    DataUnexpectedColumn = "W0903", "unexpected column in the data";
    DataRowsViolate = "W0904", "sampled rows violate a contract or a non-null type";
    DataMissing = "W0905", "no data found for a source";
    PathOnMachine = "I0101", "path reads from the machine outside the project";
    ColumnAdded = "I0801", "column added";
    DeprecationAdded = "I0802", "deprecation announced";
    ModelInputsChanged = "I0803", "model's pinned features changed";
    ServeTargetChanged = "I0804", "serve target's model, stage or shadow changed";
    ExpectationRelaxed = "I0805", "contract expectation removed";
    ContractAdded = "I0806", "contract added";
    FeatureVersionChanged = "I0807", "feature version added, removed or edited (not pinned)";
    ModelTrainingChanged = "I0808", "model's algorithm or training changed";
}

impl Code {
    pub fn severity(self) -> Severity {
        match self.as_str().as_bytes().first() {
            Some(b'W') => Severity::Warning,
            Some(b'I') => Severity::Info,
            _ => Severity::Error,
        }
    }
}

/// A span with a message. The primary label is where the problem is; secondary labels give context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

/// One finding of the front end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic whose primary label sits at `span`.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            labels: vec![Label {
                span,
                message: String::new(),
                primary: true,
            }],
            help: None,
        }
    }

    /// Sets the text shown under the primary span.
    pub fn with_label_text(mut self, text: impl Into<String>) -> Self {
        if let Some(label) = self.labels.iter_mut().find(|label| label.primary) {
            label.message = text.into();
        }
        self
    }

    /// Adds a secondary span giving context (the first definition, the declaration involved, ...).
    pub fn with_secondary(mut self, span: Span, text: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: text.into(),
            primary: false,
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary span (every diagnostic has one).
    pub fn primary_span(&self) -> Span {
        self.labels
            .iter()
            .find(|label| label.primary)
            .map(|label| label.span)
            .unwrap_or_default()
    }
}

/// The closest candidate to `name` by edit distance, for "did you mean" help.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != name)
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Help text "did you mean `x`?" when a close candidate exists.
pub fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    did_you_mean(name, candidates).map(|candidate| format!("did you mean `{candidate}`?"))
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
/// transpositions (`cvs` → `csv`) each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for (i, row) in table.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in table.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}
