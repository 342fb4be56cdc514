//! The syntax tree: what was written, with spans. Declarations share one generic shape; the checker
//! gives each kind its meaning.

use crate::source::Span;

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeclarationKind {
    Source,
    Contract,
    Entity,
    Features,
    Model,
    Serve,
    Monitor,
}

impl DeclarationKind {
    pub const ALL: [DeclarationKind; 7] = [
        DeclarationKind::Source,
        DeclarationKind::Contract,
        DeclarationKind::Entity,
        DeclarationKind::Features,
        DeclarationKind::Model,
        DeclarationKind::Serve,
        DeclarationKind::Monitor,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            DeclarationKind::Source => "source",
            DeclarationKind::Contract => "contract",
            DeclarationKind::Entity => "entity",
            DeclarationKind::Features => "features",
            DeclarationKind::Model => "model",
            DeclarationKind::Serve => "serve",
            DeclarationKind::Monitor => "monitor",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Self> {
        DeclarationKind::ALL.into_iter().find(|kind| kind.keyword() == word)
    }

    /// The noun used in messages ("feature group", "serve target", ...).
    pub fn noun(self) -> &'static str {
        match self {
            DeclarationKind::Source => "source",
            DeclarationKind::Contract => "contract",
            DeclarationKind::Entity => "entity",
            DeclarationKind::Features => "feature group",
            DeclarationKind::Model => "model",
            DeclarationKind::Serve => "serve target",
            DeclarationKind::Monitor => "monitor",
        }
    }
}

/// `KIND NAME [vN] [on TARGET] { items }`
#[derive(Clone, Debug, PartialEq)]
pub struct Declaration {
    pub docs: Vec<String>,
    pub kind: DeclarationKind,
    pub kind_span: Span,
    pub name: Ident,
    pub version: Option<Version>,
    pub target: Option<Ident>,
    pub items: Vec<Item>,
    pub span: Span,
}

/// `v2` in `features user_activity v2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    pub number: u32,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub docs: Vec<String>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `key = value`
    Property { key: Ident, value: Value },
    /// `name { items }`
    Block { name: Ident, items: Vec<Item> },
    /// `name: type`
    Field { name: Ident, ty: TypeExpr },
    /// `key name: type`
    Key { name: Ident, ty: TypeExpr },
    /// `require a, b, c`
    Require { columns: Vec<Ident> },
    /// `expect expr`
    Expect { expr: Expr },
    /// `deprecate column since DATE`
    Deprecate { column: Ident, since: DateLiteral },
    /// `drift psi > 0.2 on features every 1d => alert`
    Drift(DriftRule),
    /// `metric auc over 7d < 0.85 * baseline => alert, retrain`
    Metric(MetricRule),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateLiteral {
    /// Days since 1970-01-01.
    pub days: i32,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationLiteral {
    pub micros: i64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub name: Ident,
    pub nullable: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub expr: Expr,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub kind: ClauseKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClauseKind {
    Over(DurationLiteral),
    Every(DurationLiteral),
    Where(Expr),
    On(Ident),
    Default(Expr),
}

impl ClauseKind {
    pub fn keyword(&self) -> &'static str {
        match self {
            ClauseKind::Over(_) => "over",
            ClauseKind::Every(_) => "every",
            ClauseKind::Where(_) => "where",
            ClauseKind::On(_) => "on",
            ClauseKind::Default(_) => "default",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

impl Comparison {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessEqual => "<=",
            Comparison::Greater => ">",
            Comparison::GreaterEqual => ">=",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NumberLiteral {
    pub value: f64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DriftTarget {
    /// `on features`: every feature the model uses.
    AllFeatures(Span),
    /// `on [a@v1.x, b@v2.y]`
    List(Vec<Expr>, Span),
}

#[derive(Clone, Debug, PartialEq)]
pub struct DriftRule {
    pub statistic: Ident,
    pub comparison: Comparison,
    pub comparison_span: Span,
    pub threshold: NumberLiteral,
    pub target: DriftTarget,
    pub every: DurationLiteral,
    pub actions: Vec<Ident>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricRule {
    pub metric: Ident,
    pub window: DurationLiteral,
    pub comparison: Comparison,
    pub comparison_span: Span,
    pub threshold: NumberLiteral,
    /// `* baseline`: the threshold is a factor of the metric recorded at training time.
    pub relative_to_baseline: bool,
    pub actions: Vec<Ident>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Negate,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    Add,
    Subtract,
    Multiply,
    Divide,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
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

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Equal
                | BinaryOp::NotEqual
                | BinaryOp::Less
                | BinaryOp::LessEqual
                | BinaryOp::Greater
                | BinaryOp::GreaterEqual
        )
    }
}

/// A call argument, optionally named (`gbdt(trees = 200)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Argument {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    String(String),
    Bool(bool),
    Null,
    Date(i32),
    Duration(i64),
    /// `2026-01-01 .. 2026-09-30`, both days included.
    DateRange(DateLiteral, DateLiteral),
    Name(Ident),
    /// `a.b` (`chargebacks.is_fraud`, `production.auc`).
    Path(Vec<Ident>),
    /// `group@v1`, `group@v1.feature`, `model@production`.
    VersionRef {
        target: Ident,
        version: Ident,
        member: Option<Ident>,
    },
    Call {
        function: Ident,
        arguments: Vec<Argument>,
    },
    List(Vec<Expr>),
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    In {
        negated: bool,
        operand: Box<Expr>,
        list: Vec<Expr>,
    },
    /// `if c1 then v1 else if c2 then v2 else otherwise` (the chain is kept flat).
    If {
        branches: Vec<(Expr, Expr)>,
        otherwise: Box<Expr>,
    },
    /// Stands in for an expression that failed to parse; the checker stays silent about it.
    Error,
}
