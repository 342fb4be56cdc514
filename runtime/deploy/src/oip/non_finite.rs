//! Python's JSON writers (the standard library's and the rapidjson that `tritonclient.http` uses)
//! write non-finite floats as the bare tokens `NaN`, `Infinity` and `-Infinity`, which JSON does
//! not have. A request header that fails to parse is read again with those tokens quoted, as the
//! strings the FP64 and FP32 elements accept.

const TOKENS: [&[u8]; 3] = [b"NaN", b"Infinity", b"-Infinity"];

/// `json` with every bare non-finite token outside strings quoted, or `None` when it has none.
pub(super) fn quote_non_finite(json: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut copied = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut position = 0;
    while let Some(&byte) = json.get(position) {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            position += 1;
            continue;
        }
        if byte == b'"' {
            in_string = true;
            position += 1;
            continue;
        }
        match TOKENS.iter().find(|token| json[position..].starts_with(token)) {
            Some(token) => {
                out.extend_from_slice(&json[copied..position]);
                out.push(b'"');
                out.extend_from_slice(token);
                out.push(b'"');
                position += token.len();
                copied = position;
            }
            None => position += 1,
        }
    }
    if copied == 0 {
        return None;
    }
    out.extend_from_slice(&json[copied..]);
    Some(out)
}
