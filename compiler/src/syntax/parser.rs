//! Text to syntax tree. Never fails: returns every declaration it could parse plus diagnostics for
//! the rest. Each declaration chunk is parsed on its own, so errors never cascade across declarations.

use std::sync::LazyLock;

use pest::Parser as _;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};
use crate::syntax::ast::*;
use crate::syntax::chunk;
use crate::syntax::errors::{first_line_length, syntax_error, unclosed_comment};
use crate::syntax::literal;

#[derive(pest_derive::Parser)]
#[grammar = "syntax/mlsys.pest"]
pub(super) struct MlsysParser;

/// Deepest nesting of brackets, `if`s and prefix operators accepted in one declaration. Deeper
/// input is refused with `E0002` before the recursive parser runs, so no input can exhaust the stack.
pub const MAX_NESTING: usize = 48;
/// Deepest expression tree accepted (long operator chains build deep trees).
pub const MAX_EXPRESSION_DEPTH: usize = 192;
/// Upper bound on parser steps for one declaration; guards against pathological backtracking.
const CALL_LIMIT: usize = 50_000_000;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or_op, Assoc::Left))
        .op(Op::infix(Rule::and_op, Assoc::Left))
        .op(Op::prefix(Rule::not_op))
        .op(Op::infix(Rule::eq, Assoc::Left)
            | Op::infix(Rule::ne, Assoc::Left)
            | Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left)
            | Op::postfix(Rule::in_op)
            | Op::postfix(Rule::not_in_op))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
        .op(Op::prefix(Rule::neg))
});

/// What parsing one file produced.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub declarations: Vec<Declaration>,
    pub diagnostics: Vec<Diagnostic>,
    /// Declarations that failed to parse, by kind and name when those could be read: the checker
    /// stays silent about references to them instead of calling them unknown.
    pub unparsed: Vec<(DeclarationKind, String)>,
}

/// The `KIND NAME` words at the start of a chunk, if they look like a declaration header.
pub(super) fn header_of(text: &str) -> Option<(DeclarationKind, String)> {
    let mut words = text
        .lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with("//"))
        .flat_map(|line| line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .filter(|word| !word.is_empty());
    let kind = DeclarationKind::from_keyword(words.next()?)?;
    Some((kind, words.next()?.to_string()))
}

/// Parses one file. `file` is the id spans will carry.
pub fn parse_file(file: FileId, text: &str) -> ParsedFile {
    pest::set_call_limit(std::num::NonZeroUsize::new(CALL_LIMIT));
    let mut parsed = ParsedFile::default();
    let split = chunk::split(text);
    if let Some(start) = split.unclosed_comment {
        parsed.diagnostics.push(unclosed_comment(file, start));
    }
    for chunk in split.chunks {
        let chunk_text = &text[chunk.start..chunk.end];
        if split
            .unclosed_comment
            .is_some_and(|start| (chunk.start..chunk.end).contains(&start))
        {
            // The comment swallowed the declaration's end; its error stands for the declaration.
            parsed.unparsed.extend(header_of(chunk_text));
            continue;
        }
        if chunk.max_nesting > MAX_NESTING {
            parsed.unparsed.extend(header_of(chunk_text));
            parsed.diagnostics.push(
                Diagnostic::new(
                    Code::TooDeep,
                    Span::new(file, chunk.start, chunk.start + first_line_length(chunk_text)),
                    format!(
                        "this declaration nests brackets, `if`s or prefix operators {} deep; the limit is {MAX_NESTING}",
                        chunk.max_nesting
                    ),
                )
                .with_help("split the expression into several features that refer to each other"),
            );
            continue;
        }
        let mut builder = Builder {
            file,
            offset: chunk.start,
            diagnostics: Vec::new(),
            reported_depth: false,
        };
        match MlsysParser::parse(Rule::chunk, chunk_text) {
            Ok(mut pairs) => {
                if let Some(declaration) = pairs
                    .next()
                    .and_then(|chunk_pair| chunk_pair.into_inner().next())
                    .map(|pair| builder.declaration(pair))
                {
                    parsed.declarations.push(declaration);
                }
            }
            Err(error) => {
                parsed.unparsed.extend(header_of(chunk_text));
                builder
                    .diagnostics
                    .push(syntax_error(file, chunk.start, chunk_text, &error));
            }
        }
        parsed.diagnostics.append(&mut builder.diagnostics);
    }
    parsed
}

/// Walks pest pairs into the syntax tree, reporting literal and depth errors as it goes.
struct Builder {
    file: FileId,
    offset: usize,
    diagnostics: Vec<Diagnostic>,
    reported_depth: bool,
}

impl Builder {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let span = pair.as_span();
        Span::new(self.file, self.offset + span.start(), self.offset + span.end())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn docs(&self, pairs: &mut std::iter::Peekable<Pairs<'_, Rule>>) -> Vec<String> {
        let mut docs = Vec::new();
        while let Some(pair) = pairs.next_if(|pair| pair.as_rule() == Rule::doc) {
            docs.push(doc_text(pair));
        }
        docs
    }

    fn declaration(&mut self, pair: Pair<'_, Rule>) -> Declaration {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().peekable();
        let docs = self.docs(&mut inner);
        let mut declaration = Declaration {
            docs,
            kind: DeclarationKind::Source,
            kind_span: span,
            name: Ident {
                name: String::new(),
                span,
            },
            version: None,
            target: None,
            items: Vec::new(),
            span,
        };
        let mut seen_name = false;
        for part in inner {
            match part.as_rule() {
                Rule::decl_kind => {
                    declaration.kind_span = self.span(&part);
                    declaration.kind = DeclarationKind::from_keyword(part.as_str()).unwrap_or(DeclarationKind::Source);
                }
                Rule::ident if !seen_name => {
                    declaration.name = self.ident(part);
                    seen_name = true;
                }
                Rule::ident => declaration.target = Some(self.ident(part)),
                Rule::version => declaration.version = Some(self.version(part)),
                Rule::body => declaration.items = self.body(part),
                _ => {}
            }
        }
        declaration
    }

    fn version(&mut self, pair: Pair<'_, Rule>) -> Version {
        let span = self.span(&pair);
        let number = pair.as_str()[1..].parse::<u32>().unwrap_or_else(|_| {
            self.diagnostics.push(
                Diagnostic::new(Code::InvalidLiteral, span, "version number is too large")
                    .with_help("versions are small integers: v1, v2, ..."),
            );
            0
        });
        Version { number, span }
    }

    fn body(&mut self, pair: Pair<'_, Rule>) -> Vec<Item> {
        pair.into_inner()
            .filter(|part| part.as_rule() == Rule::item)
            .map(|part| self.item(part))
            .collect()
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Item {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().peekable();
        let docs = self.docs(&mut inner);
        let kind = match inner.next() {
            Some(part) => self.item_kind(part),
            None => ItemKind::Require { columns: Vec::new() },
        };
        Item { docs, kind, span }
    }

    fn item_kind(&mut self, pair: Pair<'_, Rule>) -> ItemKind {
        let rule = pair.as_rule();
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        match rule {
            Rule::property => {
                let key = self.next_ident(&mut inner, span);
                let value = match inner.find(|part| part.as_rule() == Rule::value) {
                    Some(part) => self.value(part),
                    None => self.error_value(span),
                };
                ItemKind::Property { key, value }
            }
            Rule::block => {
                let name = self.next_ident(&mut inner, span);
                let items = inner.next().map(|part| self.body(part)).unwrap_or_default();
                ItemKind::Block { name, items }
            }
            Rule::field => {
                let name = self.next_ident(&mut inner, span);
                let ty = self.type_expr(inner.find(|part| part.as_rule() == Rule::type_expr), span);
                ItemKind::Field { name, ty }
            }
            Rule::key_decl => {
                let name = self.next_ident(&mut inner, span);
                let ty = self.type_expr(inner.find(|part| part.as_rule() == Rule::type_expr), span);
                ItemKind::Key { name, ty }
            }
            Rule::require_stmt => ItemKind::Require {
                columns: inner
                    .filter(|part| part.as_rule() == Rule::word)
                    .map(|part| self.ident(part))
                    .collect(),
            },
            Rule::expect_stmt => {
                let expr = inner
                    .find(|part| part.as_rule() == Rule::expr)
                    .map_or_else(|| error_expr(span), |part| self.expr(part));
                ItemKind::Expect { expr }
            }
            Rule::deprecate_stmt => {
                let column = self.next_ident(&mut inner, span);
                let since = inner
                    .find(|part| part.as_rule() == Rule::date)
                    .map_or(DateLiteral { days: 0, span }, |part| self.date(part));
                ItemKind::Deprecate { column, since }
            }
            Rule::drift_rule => self.drift_rule(inner, span),
            Rule::metric_rule => self.metric_rule(inner, span),
            _ => ItemKind::Require { columns: Vec::new() },
        }
    }

    /// The next name-like pair (keywords such as `kw_key` are skipped).
    fn next_ident(&self, inner: &mut Pairs<'_, Rule>, fallback: Span) -> Ident {
        inner
            .find(|part| matches!(part.as_rule(), Rule::word | Rule::ident))
            .map_or(
                Ident {
                    name: String::new(),
                    span: fallback,
                },
                |part| self.ident(part),
            )
    }

    fn type_expr(&self, pair: Option<Pair<'_, Rule>>, fallback: Span) -> TypeExpr {
        let Some(pair) = pair else {
            return TypeExpr {
                name: Ident {
                    name: String::new(),
                    span: fallback,
                },
                nullable: false,
                span: fallback,
            };
        };
        let span = self.span(&pair);
        let mut name = Ident {
            name: String::new(),
            span,
        };
        let mut nullable = false;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident => name = self.ident(part),
                Rule::nullable => nullable = true,
                _ => {}
            }
        }
        TypeExpr { name, nullable, span }
    }

    fn drift_rule(&mut self, inner: Pairs<'_, Rule>, span: Span) -> ItemKind {
        let mut statistic = None;
        let mut comparison = (Comparison::Greater, span);
        let mut threshold = NumberLiteral { value: 0.0, span };
        let mut target = DriftTarget::AllFeatures(span);
        let mut every = DurationLiteral { micros: 0, span };
        let mut actions = Vec::new();
        for part in inner {
            match part.as_rule() {
                Rule::ident if statistic.is_none() => statistic = Some(self.ident(part)),
                Rule::cmp_op => comparison = (comparison_of(part.as_str()), self.span(&part)),
                Rule::number => threshold = self.number(part),
                Rule::drift_target => {
                    let target_span = self.span(&part);
                    if let Some(list) = part.into_inner().find(|p| p.as_rule() == Rule::list) {
                        let items = list
                            .into_inner()
                            .filter(|p| p.as_rule() == Rule::expr)
                            .map(|p| self.expr(p))
                            .collect();
                        target = DriftTarget::List(items, target_span);
                    } else {
                        target = DriftTarget::AllFeatures(target_span);
                    }
                }
                Rule::duration => every = self.duration(part),
                Rule::actions => actions = part.into_inner().map(|p| self.ident(p)).collect(),
                _ => {}
            }
        }
        ItemKind::Drift(DriftRule {
            statistic: statistic.unwrap_or(Ident {
                name: String::new(),
                span,
            }),
            comparison: comparison.0,
            comparison_span: comparison.1,
            threshold,
            target,
            every,
            actions,
        })
    }

    fn metric_rule(&mut self, inner: Pairs<'_, Rule>, span: Span) -> ItemKind {
        let mut metric = None;
        let mut window = DurationLiteral { micros: 0, span };
        let mut comparison = (Comparison::Less, span);
        let mut threshold = NumberLiteral { value: 0.0, span };
        let mut relative_to_baseline = false;
        let mut actions = Vec::new();
        for part in inner {
            match part.as_rule() {
                Rule::ident if metric.is_none() => metric = Some(self.ident(part)),
                Rule::duration => window = self.duration(part),
                Rule::cmp_op => comparison = (comparison_of(part.as_str()), self.span(&part)),
                Rule::threshold => {
                    for piece in part.into_inner() {
                        match piece.as_rule() {
                            Rule::number => threshold = self.number(piece),
                            Rule::kw_baseline => relative_to_baseline = true,
                            _ => {}
                        }
                    }
                }
                Rule::actions => actions = part.into_inner().map(|p| self.ident(p)).collect(),
                _ => {}
            }
        }
        ItemKind::Metric(MetricRule {
            metric: metric.unwrap_or(Ident {
                name: String::new(),
                span,
            }),
            window,
            comparison: comparison.0,
            comparison_span: comparison.1,
            threshold,
            relative_to_baseline,
            actions,
        })
    }

    fn number(&mut self, pair: Pair<'_, Rule>) -> NumberLiteral {
        let span = self.span(&pair);
        let text = pair.as_str().replace('_', "");
        let value = match text.parse::<f64>() {
            Ok(value) if value.is_finite() => value,
            _ => {
                self.diagnostics.push(Diagnostic::new(
                    Code::InvalidLiteral,
                    span,
                    format!("number `{}` is out of range", pair.as_str()),
                ));
                0.0
            }
        };
        NumberLiteral { value, span }
    }

    fn duration(&mut self, pair: Pair<'_, Rule>) -> DurationLiteral {
        let span = self.span(&pair);
        let micros = match literal::parse_duration(pair.as_str()) {
            Ok(micros) => micros,
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::new(Code::InvalidLiteral, span, error.to_string())
                        .with_help("durations are an integer and a unit: ms, s, m, h, d or w (e.g. `30d`)"),
                );
                0
            }
        };
        DurationLiteral { micros, span }
    }

    fn date(&mut self, pair: Pair<'_, Rule>) -> DateLiteral {
        let span = self.span(&pair);
        let days = match literal::parse_date(pair.as_str()) {
            Ok(days) => days,
            Err(error) => {
                self.diagnostics.push(
                    Diagnostic::new(Code::InvalidLiteral, span, error.to_string())
                        .with_help("dates are written YYYY-MM-DD and must exist in the calendar"),
                );
                0
            }
        };
        DateLiteral { days, span }
    }

    fn error_value(&self, span: Span) -> Value {
        Value {
            expr: error_expr(span),
            clauses: Vec::new(),
            span,
        }
    }

    fn value(&mut self, pair: Pair<'_, Rule>) -> Value {
        let span = self.span(&pair);
        let mut expr = None;
        let mut clauses = Vec::new();
        for part in pair.into_inner() {
            let clause_span = self.span(&part);
            let rule = part.as_rule();
            let mut inner = part.into_inner();
            let kind = match rule {
                Rule::expr => {
                    expr = Some(self.expr_from(inner.clone(), clause_span));
                    continue;
                }
                Rule::over_clause => inner
                    .find(|p| p.as_rule() == Rule::duration)
                    .map(|p| ClauseKind::Over(self.duration(p))),
                Rule::every_clause => inner
                    .find(|p| p.as_rule() == Rule::duration)
                    .map(|p| ClauseKind::Every(self.duration(p))),
                Rule::where_clause => inner
                    .find(|p| p.as_rule() == Rule::expr)
                    .map(|p| ClauseKind::Where(self.expr(p))),
                Rule::on_clause => inner
                    .find(|p| p.as_rule() == Rule::ident)
                    .map(|p| ClauseKind::On(self.ident(p))),
                Rule::default_clause => inner
                    .find(|p| p.as_rule() == Rule::expr)
                    .map(|p| ClauseKind::Default(self.expr(p))),
                _ => None,
            };
            if let Some(kind) = kind {
                clauses.push(Clause {
                    kind,
                    span: clause_span,
                });
            }
        }
        Value {
            expr: expr.unwrap_or_else(|| error_expr(span)),
            clauses,
            span,
        }
    }

    fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        self.expr_from(pair.into_inner(), span)
    }

    /// Runs the Pratt parser over an `expr`'s parts. Each node records its depth so that very long
    /// operator chains are cut off with `E0002` instead of building a tree too deep to walk.
    fn expr_from(&mut self, pairs: Pairs<'_, Rule>, span: Span) -> Expr {
        let builder = std::cell::RefCell::new(self);
        let result = PRATT
            .map_primary(|primary| builder.borrow_mut().primary(primary))
            .map_prefix(|op, operand| {
                let mut this = builder.borrow_mut();
                let op_span = this.span(&op);
                let unary = match op.as_rule() {
                    Rule::neg => UnaryOp::Negate,
                    _ => UnaryOp::Not,
                };
                let node_span = op_span.to(operand.0.span);
                this.node(
                    ExprKind::Unary {
                        op: unary,
                        operand: Box::new(operand.0),
                    },
                    node_span,
                    operand.1 + 1,
                )
            })
            .map_postfix(|operand, op| {
                let mut this = builder.borrow_mut();
                let op_span = this.span(&op);
                let negated = op.as_rule() == Rule::not_in_op;
                let mut list_depth = 1;
                let list: Vec<Expr> = op
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::list)
                    .map(|list| {
                        list.into_inner()
                            .filter(|p| p.as_rule() == Rule::expr)
                            .map(|p| {
                                let (expr, depth) = this.expr_with_depth(p);
                                list_depth = list_depth.max(depth);
                                expr
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let node_span = operand.0.span.to(op_span);
                this.node(
                    ExprKind::In {
                        negated,
                        operand: Box::new(operand.0),
                        list,
                    },
                    node_span,
                    operand.1.max(list_depth) + 1,
                )
            })
            .map_infix(|lhs, op, rhs| {
                let mut this = builder.borrow_mut();
                let binary = match op.as_rule() {
                    Rule::or_op => BinaryOp::Or,
                    Rule::and_op => BinaryOp::And,
                    Rule::eq => BinaryOp::Equal,
                    Rule::ne => BinaryOp::NotEqual,
                    Rule::lt => BinaryOp::Less,
                    Rule::le => BinaryOp::LessEqual,
                    Rule::gt => BinaryOp::Greater,
                    Rule::ge => BinaryOp::GreaterEqual,
                    Rule::add => BinaryOp::Add,
                    Rule::sub => BinaryOp::Subtract,
                    Rule::mul => BinaryOp::Multiply,
                    _ => BinaryOp::Divide,
                };
                let node_span = lhs.0.span.to(rhs.0.span);
                let depth = lhs.1.max(rhs.1) + 1;
                this.node(
                    ExprKind::Binary {
                        op: binary,
                        lhs: Box::new(lhs.0),
                        rhs: Box::new(rhs.0),
                    },
                    node_span,
                    depth,
                )
            })
            .parse(pairs);
        let _ = span;
        result.0
    }

    fn expr_with_depth(&mut self, pair: Pair<'_, Rule>) -> (Expr, usize) {
        let expr = self.expr(pair);
        let depth = expr_depth_hint(&expr);
        (expr, depth)
    }

    /// Builds a node unless it would be too deep, in which case an error node replaces it.
    fn node(&mut self, kind: ExprKind, span: Span, depth: usize) -> (Expr, usize) {
        if depth > MAX_EXPRESSION_DEPTH {
            if !self.reported_depth {
                self.reported_depth = true;
                self.diagnostics.push(
                    Diagnostic::new(
                        Code::TooDeep,
                        span,
                        format!("expression is nested more than {MAX_EXPRESSION_DEPTH} operators deep"),
                    )
                    .with_help("split the expression into several features that refer to each other"),
                );
            }
            return (
                Expr {
                    kind: ExprKind::Error,
                    span,
                },
                1,
            );
        }
        (Expr { kind, span }, depth)
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> (Expr, usize) {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let text = pair.as_str();
        let leaf = |kind| (Expr { kind, span }, 1);
        match rule {
            Rule::int => match literal::parse_int(text) {
                Ok(value) => leaf(ExprKind::Int(value)),
                Err(error) => {
                    self.diagnostics
                        .push(Diagnostic::new(Code::InvalidLiteral, span, error.to_string()).with_help(
                        "int64 literals go up to 9223372036854775807 (write the minimum as `-9223372036854775807 - 1`)",
                    ));
                    leaf(ExprKind::Error)
                }
            },
            Rule::float => match text.parse::<f64>() {
                Ok(value) if value.is_finite() => leaf(ExprKind::Float(value)),
                _ => {
                    self.diagnostics.push(
                        Diagnostic::new(
                            Code::InvalidLiteral,
                            span,
                            format!("float literal `{text}` is out of range"),
                        )
                        .with_help("float64 literals must be finite (at most about 1.8e308)"),
                    );
                    leaf(ExprKind::Error)
                }
            },
            Rule::string => {
                let inner = pair.into_inner().next().map_or("", |p| p.as_str());
                match literal::unescape(inner) {
                    Ok(value) => leaf(ExprKind::String(value)),
                    Err(error) => {
                        self.diagnostics.push(
                            Diagnostic::new(Code::InvalidLiteral, span, error.to_string()).with_help(
                                "escapes are \\\" \\\\ \\n \\t \\r \\0 and \\u{HEX} for a Unicode scalar value",
                            ),
                        );
                        leaf(ExprKind::Error)
                    }
                }
            }
            Rule::boolean => leaf(ExprKind::Bool(text == "true")),
            Rule::null => leaf(ExprKind::Null),
            Rule::date => {
                let date = self.date(pair);
                leaf(ExprKind::Date(date.days))
            }
            Rule::duration => {
                let duration = self.duration(pair);
                leaf(ExprKind::Duration(duration.micros))
            }
            Rule::date_range => {
                let mut dates = pair.into_inner().map(|p| self.date(p));
                let start = dates.next().unwrap_or(DateLiteral { days: 0, span });
                let end = dates.next().unwrap_or(start);
                leaf(ExprKind::DateRange(start, end))
            }
            Rule::ident => leaf(ExprKind::Name(self.ident(pair))),
            Rule::path => leaf(ExprKind::Path(pair.into_inner().map(|p| self.ident(p)).collect())),
            Rule::version_ref => {
                let mut parts = pair.into_inner().map(|p| self.ident(p));
                let target = parts.next().unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                let version = parts.next().unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                let member = parts.next();
                leaf(ExprKind::VersionRef {
                    target,
                    version,
                    member,
                })
            }
            Rule::paren => match pair.into_inner().next() {
                Some(inner) => {
                    let (expr, depth) = self.expr_with_depth(inner);
                    // Parentheses keep the span of what they enclose plus themselves.
                    (Expr { kind: expr.kind, span }, depth)
                }
                None => leaf(ExprKind::Error),
            },
            Rule::list => {
                let mut depth = 1;
                let items = pair
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::expr)
                    .map(|p| {
                        let (expr, item_depth) = self.expr_with_depth(p);
                        depth = depth.max(item_depth + 1);
                        expr
                    })
                    .collect();
                (
                    Expr {
                        kind: ExprKind::List(items),
                        span,
                    },
                    depth,
                )
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let function = self.next_ident(&mut inner, span);
                let mut depth = 1;
                let arguments = inner
                    .filter(|p| p.as_rule() == Rule::arg)
                    .map(|argument| {
                        let mut name = None;
                        let mut value = error_expr(span);
                        for part in argument.into_inner() {
                            match part.as_rule() {
                                Rule::word => name = Some(self.ident(part)),
                                Rule::expr => {
                                    let (expr, arg_depth) = self.expr_with_depth(part);
                                    depth = depth.max(arg_depth + 1);
                                    value = expr;
                                }
                                _ => {}
                            }
                        }
                        Argument { name, value }
                    })
                    .collect();
                (
                    Expr {
                        kind: ExprKind::Call { function, arguments },
                        span,
                    },
                    depth,
                )
            }
            Rule::if_expr => {
                let mut parts: Vec<(Expr, usize)> = pair
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::expr)
                    .map(|p| self.expr_with_depth(p))
                    .collect();
                let depth = parts.iter().map(|(_, depth)| *depth).max().unwrap_or(0) + 1;
                let otherwise = parts.pop().map_or_else(|| error_expr(span), |(expr, _)| expr);
                let mut branches = Vec::new();
                let mut iter = parts.into_iter().map(|(expr, _)| expr);
                while let (Some(condition), Some(then)) = (iter.next(), iter.next()) {
                    branches.push((condition, then));
                }
                (
                    Expr {
                        kind: ExprKind::If {
                            branches,
                            otherwise: Box::new(otherwise),
                        },
                        span,
                    },
                    depth,
                )
            }
            _ => leaf(ExprKind::Error),
        }
    }
}

/// Depth of a just-built expression; bounded by construction, so the walk is shallow.
fn expr_depth_hint(expr: &Expr) -> usize {
    match &expr.kind {
        ExprKind::Unary { operand, .. } => expr_depth_hint(operand) + 1,
        ExprKind::Binary { lhs, rhs, .. } => expr_depth_hint(lhs).max(expr_depth_hint(rhs)) + 1,
        ExprKind::In { operand, list, .. } => {
            list.iter()
                .map(expr_depth_hint)
                .max()
                .unwrap_or(0)
                .max(expr_depth_hint(operand))
                + 1
        }
        ExprKind::Call { arguments, .. } => {
            arguments
                .iter()
                .map(|argument| expr_depth_hint(&argument.value))
                .max()
                .unwrap_or(0)
                + 1
        }
        ExprKind::List(items) => items.iter().map(expr_depth_hint).max().unwrap_or(0) + 1,
        ExprKind::If { branches, otherwise } => {
            branches
                .iter()
                .map(|(condition, then)| expr_depth_hint(condition).max(expr_depth_hint(then)))
                .max()
                .unwrap_or(0)
                .max(expr_depth_hint(otherwise))
                + 1
        }
        _ => 1,
    }
}

fn error_expr(span: Span) -> Expr {
    Expr {
        kind: ExprKind::Error,
        span,
    }
}

fn doc_text(pair: Pair<'_, Rule>) -> String {
    let text = pair.into_inner().next().map_or("", |p| p.as_str());
    text.strip_prefix(' ').unwrap_or(text).trim_end().to_string()
}

fn comparison_of(text: &str) -> Comparison {
    match text {
        "<" => Comparison::Less,
        "<=" => Comparison::LessEqual,
        ">=" => Comparison::GreaterEqual,
        _ => Comparison::Greater,
    }
}
