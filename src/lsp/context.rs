//! Where the cursor is, from a cheap scan of the text before it: the enclosing declaration (found
//! with the parser's own recovery rule), the open blocks, and whether an item or a value starts at
//! the cursor. Not a parser: it only has to be right for text people are typing.

/// Words that start a declaration at the beginning of a line (lang-spec/grammar.md, section 1).
pub const DECLARATION_KEYWORDS: [&str; 7] = ["source", "contract", "entity", "features", "model", "serve", "monitor"];

/// Words after which an expression continues, even across a line break.
const CONTINUING_WORDS: [&str; 12] = [
    "if", "then", "else", "and", "or", "not", "in", "over", "every", "where", "on", "default",
];

pub fn is_word_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || character == '_'
}

/// What surrounds the cursor.
#[derive(Debug, Default)]
pub struct Context<'a> {
    /// The character just before the identifier being typed.
    pub trigger: Option<char>,
    /// The text before the identifier being typed.
    pub before: &'a str,
    /// The enclosing declaration's text (up to the next declaration), if the cursor is inside its
    /// body.
    pub declaration: Option<&'a str>,
    /// Open blocks, outermost first; the first is the declaration kind (`features`, `model`...).
    pub blocks: Vec<&'a str>,
    /// Whether an item (a property key, a block, `require`...) may start at the cursor.
    pub item_start: bool,
    /// The key of the property whose value holds the cursor.
    pub key: Option<&'a str>,
    /// The last significant character before the prefix was `:` (a type follows).
    pub after_colon: bool,
    /// Inside a string or a comment: nothing to complete.
    pub in_literal: bool,
}

impl<'a> Context<'a> {
    pub fn kind(&self) -> Option<&'a str> {
        self.blocks.first().copied()
    }

    pub fn block(&self) -> Option<&'a str> {
        self.blocks.last().copied()
    }

    /// `NAME` and the normalised version `vN` (if any) of the enclosing declaration's header.
    pub fn header(&self) -> (Option<&'a str>, Option<String>) {
        let Some(declaration) = self.declaration else {
            return (None, None);
        };
        let header = declaration.split('{').next().unwrap_or_default();
        let mut words = header.split_whitespace().skip(1);
        let name = words.next();
        let version = words
            .next()
            .and_then(|word| word.strip_prefix('v'))
            .and_then(|digits| digits.parse::<u32>().ok())
            .map(|number| format!("v{number}"));
        (name, version)
    }

    /// The word after `on` in the header (`contract c on SOURCE`).
    pub fn header_target(&self) -> Option<&'a str> {
        let header = self.declaration?.split('{').next()?;
        let mut words = header.split_whitespace().skip_while(|word| *word != "on");
        words.next()?;
        words.next()
    }

    /// The value of a `KEY = NAME` property written on its own line in the enclosing declaration.
    pub fn property(&self, key: &str) -> Option<&'a str> {
        self.declaration?.lines().find_map(|line| {
            let rest = line.trim_start().strip_prefix(key)?.trim_start().strip_prefix('=')?;
            let value = rest.trim_start();
            let end = value
                .find(|character: char| !is_word_char(character))
                .unwrap_or(value.len());
            (end > 0).then(|| &value[..end])
        })
    }
}

/// Starts of lines that begin a declaration: a keyword, spaces or tabs, then a name.
fn declaration_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let begins = DECLARATION_KEYWORDS.iter().any(|keyword| {
            trimmed.strip_prefix(keyword).is_some_and(|rest| {
                let name = rest.trim_start_matches([' ', '\t']);
                name.len() < rest.len()
                    && name.starts_with(|character: char| character.is_ascii_alphabetic() || character == '_')
            })
        });
        if begins {
            starts.push(line_start);
        }
        line_start += line.len();
    }
    starts
}

/// Scans `text` up to `offset` (a char boundary) and describes the cursor's surroundings.
pub fn at(text: &str, offset: usize) -> Context<'_> {
    let before_cursor = &text[..offset];
    let before = before_cursor.trim_end_matches(is_word_char);
    let mut context = Context {
        trigger: before.chars().next_back(),
        before,
        ..Context::default()
    };
    let starts = declaration_starts(text);
    let index = starts.partition_point(|start| *start <= before.len());
    let Some(start) = index.checked_sub(1).and_then(|index| starts.get(index).copied()) else {
        context.in_literal = scan(before, 0, &mut context).is_none();
        return context;
    };
    let end = starts.get(index).copied().unwrap_or(text.len());
    context.declaration = text.get(start..end);
    context.in_literal = scan(before, start, &mut context).is_none();
    context
}

/// A tiny lexer over `text[start..]`: fills in blocks, item start, key and colon; `None` when the
/// text ends inside a string or a comment.
fn scan<'a>(text: &'a str, start: usize, context: &mut Context<'a>) -> Option<()> {
    let bytes = text.as_bytes();
    let mut index = start;
    let mut last_word = "";
    let mut last_significant: Option<u8> = None;
    let mut newline_since = false;
    let mut nesting = 0usize;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'/' if bytes.get(index + 1) == Some(&b'/') => {
                index = text[index..].find('\n').map(|end| index + end)?;
                continue;
            }
            b'/' if bytes.get(index + 1) == Some(&b'*') => {
                index = text[index + 2..].find("*/").map(|end| index + 2 + end + 2)?;
                continue;
            }
            b'"' => {
                let mut cursor = index + 1;
                loop {
                    match bytes.get(cursor) {
                        None | Some(b'\n') => return None,
                        Some(b'\\') => cursor += 2,
                        Some(b'"') => break,
                        Some(_) => cursor += 1,
                    }
                }
                index = cursor + 1;
                last_significant = Some(b'"');
                newline_since = false;
                continue;
            }
            b'\n' => newline_since = true,
            b' ' | b'\t' | b'\r' => {}
            _ if byte.is_ascii_alphanumeric() || byte == b'_' => {
                let end = text[index..]
                    .find(|character: char| !is_word_char(character))
                    .map_or(text.len(), |end| index + end);
                last_word = &text[index..end];
                last_significant = Some(b'a');
                newline_since = false;
                index = end;
                continue;
            }
            _ => {
                match byte {
                    b'{' => {
                        let name = if context.blocks.is_empty() {
                            text[start..].split_whitespace().next().unwrap_or_default()
                        } else {
                            last_word
                        };
                        context.blocks.push(name);
                        nesting = 0;
                        context.key = None;
                    }
                    b'}' => {
                        context.blocks.pop();
                        nesting = 0;
                        context.key = None;
                    }
                    b'(' | b'[' => nesting += 1,
                    b')' | b']' => nesting = nesting.saturating_sub(1),
                    b'=' => {
                        let previous = index.checked_sub(1).and_then(|at| bytes.get(at));
                        let next = bytes.get(index + 1);
                        let alone =
                            !matches!(previous, Some(b'=' | b'!' | b'<' | b'>')) && !matches!(next, Some(b'=' | b'>'));
                        if alone && nesting == 0 {
                            context.key = Some(last_word);
                        }
                    }
                    _ => {}
                }
                last_significant = Some(byte);
                if byte == b',' && nesting == 0 {
                    last_significant = Some(b'{');
                }
                newline_since = false;
            }
        }
        index += 1;
    }
    let ends_value =
        matches!(last_significant, Some(b'a' | b'"' | b')' | b']' | b'?')) && !CONTINUING_WORDS.contains(&last_word);
    context.item_start = matches!(last_significant, None | Some(b'{' | b'}')) || (newline_since && ends_value);
    context.after_colon = last_significant == Some(b':');
    if context.item_start {
        context.key = None;
    }
    Some(())
}
