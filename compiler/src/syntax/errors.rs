//! Syntax error messages: pest's failure position and the rules it tried, turned into an `E0001`
//! that says what may follow at that point — the clauses a value may still take, what a duration
//! looks like — rather than every rule the grammar happened to try there.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};

use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::source::{FileId, Span};
use crate::syntax::ast::DeclarationKind;
use crate::syntax::parser::{MlsysParser, Rule, header_of};

/// What a duration looks like, for messages about a malformed one (lang-spec/grammar.md, 2.5).
const DURATION_UNITS: &str = "a duration is a whole number and a unit: `ms`, `s`, `m` (minutes), `h`, `d` or `w` \
(weeks); there are no fractions, months or years (write `90m`, `30d`)";

/// The clauses of a windowed aggregate and of a joined label, in the order `mlsysc fmt` writes them.
const AGGREGATE_CLAUSES: [(Rule, &str); 3] = [
    (Rule::over_clause, "over"),
    (Rule::every_clause, "every"),
    (Rule::where_clause, "where"),
];
const LABEL_CLAUSES: [(Rule, &str); 2] = [(Rule::on_clause, "on"), (Rule::default_clause, "default")];

/// `E0001` for a `/*` never closed: without it, the rest of the file would silently vanish.
pub(super) fn unclosed_comment(file: FileId, start: usize) -> Diagnostic {
    Diagnostic::new(
        Code::Syntax,
        Span::new(file, start, start + 2),
        "this `/*` comment is never closed: it would comment out the rest of the file",
    )
    .with_label_text("comment starts here")
    .with_help("close the comment with `*/`")
}

pub(super) fn first_line_length(text: &str) -> usize {
    text.find('\n').unwrap_or(text.len())
}

/// Converts a pest error on the chunk `text` (at byte `offset` of the file) into an `E0001`
/// diagnostic with a readable "expected ..." list.
pub(super) fn syntax_error(file: FileId, offset: usize, text: &str, error: &pest::error::Error<Rule>) -> Diagnostic {
    let position = match error.location {
        InputLocation::Pos(position) => position,
        InputLocation::Span((start, _)) => start,
    }
    .min(text.len());
    let rest = &text[position..];
    let found = describe_found(rest);
    let span = Span::new(file, offset + position, offset + position + found_length(rest));
    let positives: &[Rule] = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { .. } => &[],
    };
    let expected = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => expected_list(positives),
        ErrorVariant::CustomError { message } => message.clone(),
    };
    if let Some(diagnostic) = misspelt_declaration(text, position, span, &found) {
        return diagnostic;
    }
    if rest.trim().is_empty() {
        return not_closed(file, offset, text, span, &expected);
    }
    if positives.contains(&Rule::duration)
        && let Some(diagnostic) = duration_expected(file, offset, text, position, &found)
    {
        return diagnostic;
    }
    if let Some(diagnostic) = after_value(text, position, span, &found) {
        return diagnostic;
    }
    let wants_value = positives
        .iter()
        .any(|rule| matches!(rule, Rule::duration | Rule::expr | Rule::value));
    // A number running into letters where a value may stand is most likely a duration with a unit
    // the language lacks (`1mo`, `2sec`).
    let unit_slip = malformed_duration(rest)
        .filter(|length| wants_value && rest[..*length].contains(|c: char| c.is_ascii_alphabetic()));
    if let Some(length) = unit_slip {
        let span = Span::new(file, offset + position, offset + position + length);
        return Diagnostic::new(
            Code::Syntax,
            span,
            format!("expected {expected}, found `{}`", &rest[..length]),
        )
        .with_label_text(format!("expected {expected}"))
        .with_help(DURATION_UNITS);
    }
    Diagnostic::new(Code::Syntax, span, format!("expected {expected}, found {found}"))
        .with_label_text(format!("expected {expected}"))
}

/// The most common slip at the top level: a misspelt declaration keyword.
fn misspelt_declaration(text: &str, position: usize, span: Span, found: &str) -> Option<Diagnostic> {
    if position != 0 && !text[..position].trim().chars().all(|c| c == '/' || c.is_whitespace()) {
        return None;
    }
    let word: String = text[position..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if DeclarationKind::from_keyword(&word).is_some() {
        return None;
    }
    let mut diagnostic = Diagnostic::new(
        Code::Syntax,
        span,
        format!("expected a declaration (source, contract, entity, features, model, serve or monitor), found {found}"),
    )
    .with_label_text("not a declaration");
    if let Some(help) = suggestion(&word, DeclarationKind::ALL.iter().map(|kind| kind.keyword())) {
        diagnostic = diagnostic.with_help(help);
    }
    Some(diagnostic)
}

/// The chunk ended while something was still open.
fn not_closed(file: FileId, offset: usize, text: &str, span: Span, expected: &str) -> Diagnostic {
    let header = text
        .lines()
        .find(|line| !line.trim_start().starts_with("//"))
        .unwrap_or("")
        .trim();
    let header = header.trim_end_matches('{').trim();
    Diagnostic::new(
        Code::Syntax,
        span,
        format!("`{header}` is not closed: expected {expected} before the end"),
    )
    .with_label_text("the declaration ends here")
    .with_secondary(
        Span::new(file, offset, offset + first_line_length(text)),
        "declaration starts here",
    )
    .with_help("close every `{`, `(` and `[` you open")
}

/// A duration was expected right after `over` or `every`: say so, and what a duration looks like
/// when the text there is a number with a fraction, without a unit or with one the language lacks.
fn duration_expected(file: FileId, offset: usize, text: &str, position: usize, found: &str) -> Option<Diagnostic> {
    let keyword = previous_word(&text[..position]);
    if !matches!(keyword, "over" | "every") {
        return None;
    }
    let example = if keyword == "over" { "7d" } else { "1h" };
    let rest = &text[position..];
    let (found, length) = match malformed_duration(rest) {
        Some(length) => (format!("`{}`", &rest[..length]), length),
        None => (found.to_string(), found_length(rest)),
    };
    let span = Span::new(file, offset + position, offset + position + length);
    Some(
        Diagnostic::new(
            Code::Syntax,
            span,
            format!("expected a duration after `{keyword}` (like `{example}`), found {found}"),
        )
        .with_label_text("expected a duration")
        .with_help(DURATION_UNITS),
    )
}

/// The length of a number-like token at the start of `rest` that is not a valid duration: digits
/// followed by a fraction, by nothing, or by a unit the language lacks (`1.5h`, `7`, `1mo`).
fn malformed_duration(rest: &str) -> Option<usize> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let mut end = digits;
    let bytes = rest.as_bytes();
    let fraction = bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
    if fraction {
        end += 1 + rest[end + 1..].bytes().take_while(u8::is_ascii_digit).count();
    }
    let suffix = rest[end..]
        .bytes()
        .take_while(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
        .count();
    let unit = &rest[end..end + suffix];
    let valid_unit = matches!(unit, "ms" | "s" | "m" | "h" | "d" | "w");
    (fraction || !valid_unit).then_some(end + suffix)
}

/// The word just before `text`'s end, skipping whitespace.
fn previous_word(text: &str) -> &str {
    let text = text.trim_end();
    let start = text
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |index| index + 1);
    &text[start..]
}

/// The property value the failure position directly follows, if any: `KEY = VALUE` at the
/// innermost open `{`, with the value parsed on its own to learn its clauses.
struct ValueBefore {
    key: String,
    /// Braces open at the value: 1 for a property of the declaration's body.
    depth: usize,
    clauses: Vec<Rule>,
    /// Whether the value ends with an expression (no clause, or `where` / `default`), which an
    /// operator could continue.
    ends_with_expression: bool,
}

/// A failure right after a complete property value: names what may follow the value there (an
/// operator, the clauses it may still take, its end) instead of every rule pest tried.
fn after_value(text: &str, position: usize, span: Span, found: &str) -> Option<Diagnostic> {
    let value = value_before(text, position)?;
    let kind = header_of(text).map(|(kind, _)| kind);
    let in_feature =
        kind == Some(DeclarationKind::Features) && value.depth == 1 && !matches!(value.key.as_str(), "entity" | "from");
    let is_label = kind == Some(DeclarationKind::Model) && value.depth == 1 && value.key == "label";
    let given = |clauses: &[(Rule, &str)]| clauses.iter().any(|(rule, _)| value.clauses.contains(rule));
    let family: &[(Rule, &str)] = if given(&AGGREGATE_CLAUSES) {
        &AGGREGATE_CLAUSES
    } else if given(&LABEL_CLAUSES) {
        &LABEL_CLAUSES
    } else if in_feature {
        &AGGREGATE_CLAUSES[..1]
    } else if is_label {
        &LABEL_CLAUSES[..1]
    } else {
        &[]
    };
    let mut expected: Vec<String> = Vec::new();
    if value.ends_with_expression {
        expected.push("an operator".to_string());
    }
    expected.extend(
        family
            .iter()
            .filter(|(rule, _)| !value.clauses.contains(rule))
            .map(|(_, keyword)| format!("`{keyword}`")),
    );
    expected.push(if in_feature {
        "the end of the feature definition".to_string()
    } else {
        "the end of the property".to_string()
    });
    let expected = or_list(expected);
    let mut diagnostic = Diagnostic::new(Code::Syntax, span, format!("expected {expected}, found {found}"))
        .with_label_text(format!("expected {expected}"));
    let windowed = value
        .clauses
        .iter()
        .any(|rule| matches!(rule, Rule::over_clause | Rule::every_clause));
    if windowed && starts_with_operator(&text[position..]) {
        diagnostic = diagnostic.with_help(format!(
            "clauses end the expression, so an aggregate is a whole feature: keep `{}` the aggregate alone and compute with it in another feature (`{}_adjusted = {} ...`)",
            value.key, value.key, value.key
        ));
    }
    Some(diagnostic)
}

/// Finds the `KEY = VALUE` the position follows and parses its value on its own; `None` when the
/// position is not right after a complete value.
fn value_before(text: &str, position: usize) -> Option<ValueBefore> {
    let (assign, depth) = last_assignment(text, position)?;
    let key = previous_word(&text[..assign - 1]).to_string();
    let start = assign + (text[assign..].len() - text[assign..].trim_start().len());
    let value = MlsysParser::parse(Rule::value, &text[start..]).ok()?.next()?;
    let end = start + value.as_span().end();
    if end > position || !text[end..position].trim().is_empty() {
        return None;
    }
    let clauses: Vec<Rule> = value
        .into_inner()
        .map(|pair| pair.as_rule())
        .filter(|rule| *rule != Rule::expr)
        .collect();
    let ends_with_expression = matches!(clauses.last(), None | Some(Rule::where_clause | Rule::default_clause));
    Some(ValueBefore {
        key,
        depth,
        clauses,
        ends_with_expression,
    })
}

/// The byte after the last `=` of a property (not `==`, `!=`, `<=`, `>=`, `=>`, not a named call
/// argument) in the innermost `{ ... }` open at `position`, and how many braces are open there.
fn last_assignment(text: &str, position: usize) -> Option<(usize, usize)> {
    struct Frame {
        brackets: usize,
        assign: Option<usize>,
    }
    let bytes = text.as_bytes();
    let mut frames = vec![Frame {
        brackets: 0,
        assign: None,
    }];
    let mut index = 0;
    while index < position {
        let byte = bytes[index];
        let next = bytes.get(index + 1).copied();
        match byte {
            b'"' => index = skip_string(bytes, index),
            b'/' if next == Some(b'/') => index = skip_until(bytes, index, b"\n"),
            b'/' if next == Some(b'*') => index = skip_until(bytes, index + 2, b"*/"),
            b'{' => frames.push(Frame {
                brackets: 0,
                assign: None,
            }),
            b'}' if frames.len() > 1 => {
                frames.pop();
            }
            b'(' | b'[' => frames.last_mut()?.brackets += 1,
            b')' | b']' => {
                let frame = frames.last_mut()?;
                frame.brackets = frame.brackets.saturating_sub(1);
            }
            b'=' => {
                let previous = index.checked_sub(1).map(|before| bytes[before]);
                let compound = matches!(previous, Some(b'=' | b'!' | b'<' | b'>')) || matches!(next, Some(b'=' | b'>'));
                let frame = frames.last_mut()?;
                if !compound && frame.brackets == 0 {
                    frame.assign = Some(index + 1);
                }
            }
            _ => {}
        }
        index += 1;
    }
    let depth = frames.len() - 1;
    frames.last()?.assign.map(|assign| (assign, depth))
}

/// The index of the closing `"` of the string opening at `start` (or of the line's end).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut index = start + 1;
    while let Some(byte) = bytes.get(index) {
        match byte {
            b'\\' => index += 2,
            b'"' | b'\n' => return index,
            _ => index += 1,
        }
    }
    bytes.len()
}

/// The index of the last byte of the first `end` at or after `start` (or the text's end).
fn skip_until(bytes: &[u8], start: usize, end: &[u8]) -> usize {
    bytes
        .get(start..)
        .and_then(|rest| rest.windows(end.len()).position(|window| window == end))
        .map_or(bytes.len(), |found| start + found + end.len() - 1)
}

fn starts_with_operator(rest: &str) -> bool {
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    rest.starts_with(['+', '-', '*', '/', '<', '>', '=', '!']) || matches!(word.as_str(), "and" | "or" | "in" | "not")
}

fn found_length(rest: &str) -> usize {
    let mut chars = rest.chars();
    match chars.next() {
        None => 0,
        Some(first) if first.is_alphanumeric() || first == '_' => rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
            .map_or(rest.len(), |(index, _)| index),
        Some(first) => first.len_utf8(),
    }
}

fn describe_found(rest: &str) -> String {
    let length = found_length(rest);
    match rest.chars().next() {
        None => "the end of the file".to_string(),
        Some('\n') => "the end of the line".to_string(),
        Some(_) => format!("`{}`", &rest[..length]),
    }
}

fn expected_list(rules: &[Rule]) -> String {
    let mut names: Vec<&str> = rules.iter().filter_map(|rule| rule_name(*rule)).collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return "something else".to_string();
    }
    or_list(names.into_iter().map(str::to_string).collect())
}

/// "a, b or c".
fn or_list(mut names: Vec<String>) -> String {
    match names.pop() {
        None => String::new(),
        Some(last) if names.is_empty() => last,
        Some(last) => format!("{} or {last}", names.join(", ")),
    }
}

/// User-facing names of the grammar rules that can appear in "expected ..." lists.
fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::declaration | Rule::decl_kind => "a declaration",
        Rule::ident | Rule::word => "a name",
        Rule::version => "a version like `v1`",
        Rule::body => "`{`",
        Rule::item | Rule::property | Rule::block | Rule::field | Rule::key_decl => "an item",
        Rule::require_stmt | Rule::expect_stmt | Rule::deprecate_stmt => "an item",
        Rule::drift_rule | Rule::metric_rule => "an item",
        Rule::trailing_doc | Rule::doc => "a doc comment",
        Rule::expr | Rule::value | Rule::paren | Rule::list | Rule::call | Rule::if_expr => "an expression",
        Rule::version_ref | Rule::path | Rule::string | Rule::int | Rule::float => "an expression",
        Rule::boolean | Rule::null | Rule::date | Rule::date_range => "an expression",
        Rule::duration => "a duration like `7d`",
        Rule::type_expr => "a type",
        Rule::number | Rule::threshold => "a number",
        Rule::cmp_op => "a comparison (`<`, `<=`, `>`, `>=`)",
        Rule::actions => "an action",
        Rule::drift_target => "`features` or a list of features",
        Rule::or_op | Rule::and_op | Rule::eq | Rule::ne | Rule::le | Rule::ge | Rule::lt | Rule::gt => "an operator",
        Rule::add | Rule::sub | Rule::mul | Rule::div => "an operator",
        Rule::in_op | Rule::not_in_op => "an operator",
        Rule::over_clause | Rule::kw_over => "`over`",
        Rule::every_clause | Rule::kw_every => "`every`",
        Rule::where_clause | Rule::kw_where => "`where`",
        Rule::on_clause | Rule::kw_on => "`on`",
        Rule::default_clause | Rule::kw_default => "`default`",
        Rule::kw_then => "`then`",
        Rule::kw_else => "`else`",
        Rule::kw_since => "`since`",
        Rule::EOI => "the end of the declaration",
        Rule::arrow => "`=>`",
        Rule::rparen => "`)`",
        Rule::rbracket => "`]`",
        Rule::rbrace => "`}`",
        Rule::assign => "`=`",
        Rule::colon => "`:`",
        _ => return None,
    })
}
