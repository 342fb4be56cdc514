//! Every way a request can be wrong gives its own error, naming the input and what was expected.

use mlsys_compiler::types::{BaseType, Type};
use mlsys_deploy::deployment::error_chain;
use mlsys_deploy::oip::{ElementProblem, InputSpec, OipError, decode_infer};
use serde_json::json;

use super::*;

/// `x` int64, `s` string? (both required), `at` timestamp (optional).
fn specs() -> [InputSpec; 3] {
    [
        spec("x", INT64),
        spec("s", Type::nullable(BaseType::String)),
        optional("at", TIMESTAMP),
    ]
}

fn error_of(tensors: &[Tensor], extra: serde_json::Value) -> OipError {
    match decode(&specs(), tensors, extra) {
        Ok(request) => panic!("decoded {request:?}"),
        Err(error) => error,
    }
}

fn raw_error(body: &[u8], header: Option<&str>) -> OipError {
    match decode_infer(body, header, &specs(), &OFFERED_OUTPUTS, 8) {
        Ok(request) => panic!("decoded {request:?}"),
        Err(error) => error,
    }
}

fn x(data: serde_json::Value) -> Tensor {
    json_tensor("x", "INT64", data)
}

fn s(data: serde_json::Value) -> Tensor {
    json_tensor("s", "BYTES", data)
}

/// Asserts the error's message (with its causes, as a response's detail shows them) names every
/// one of `words`.
fn assert_mentions(error: &OipError, words: &[&str]) {
    let message = error_chain(error);
    for word in words {
        assert!(message.contains(word), "{message:?} does not mention {word:?}");
    }
}

#[test]
fn header_length_errors() {
    let error = raw_error(b"{}", Some("twelve"));
    assert!(matches!(error, OipError::HeaderLength { .. }), "{error}");
    let error = raw_error(b"{}", Some("3"));
    assert!(
        matches!(error, OipError::HeaderPastBody { length: 3, body: 2 }),
        "{error}"
    );
    assert_mentions(&error, &["Inference-Header-Content-Length", "3", "2"]);
}

#[test]
fn malformed_json_and_request_objects() {
    for body in [
        &b"{"[..],
        b"[]",
        b"{\"inputs\": 3}",
        b"{\"inputs\": [{\"name\": \"x\"}]}",
        b"\xff",
    ] {
        let error = raw_error(body, None);
        assert!(matches!(error, OipError::Json { .. }), "{error}");
        // The parser's message once, after what was wrong.
        let cause = std::error::Error::source(&error).expect("the JSON error").to_string();
        assert_eq!(
            error_chain(&error),
            format!("the inference request is not a valid request object: {cause}")
        );
    }
    // A binary-data request whose header length cuts the JSON short.
    let (body, _) = request(&[x(json!([1])), s(json!(["a"]))], json!({}));
    let error = raw_error(&body, Some("10"));
    assert!(matches!(error, OipError::Json { .. }), "{error}");
}

#[test]
fn unknown_duplicate_and_missing_inputs() {
    let error = error_of(&[x(json!([1])), json_tensor("y", "INT64", json!([1]))], json!({}));
    assert!(matches!(error, OipError::UnknownInput { .. }), "{error}");
    assert_mentions(&error, &["`y`", "`x`, `s`, `at`"]);

    let error = error_of(&[x(json!([1])), x(json!([2]))], json!({}));
    assert!(matches!(error, OipError::DuplicateInput { .. }), "{error}");

    let error = error_of(&[x(json!([1]))], json!({}));
    assert!(matches!(error, OipError::MissingInput { .. }), "{error}");
    assert_mentions(&error, &["`s`", "string?"]);

    let only_optional = [optional("at", TIMESTAMP)];
    let error = decode(&only_optional, &[], json!({})).expect_err("no rows");
    assert!(matches!(error, OipError::NoInputs { .. }), "{error}");
}

#[test]
fn datatypes_the_field_does_not_accept() {
    for (tensor, expected) in [
        (
            json_tensor("x", "FP16", json!([1])),
            "INT64, INT32, INT16, INT8, UINT64, UINT32, UINT16 or UINT8",
        ),
        (json_tensor("x", "BYTES", json!(["1"])), "INT64"),
        (json_tensor("s", "INT64", json!([1])), "expected BYTES"),
        (json_tensor("x", "int64", json!([1])), "INT64"),
    ] {
        let error = error_of(&[tensor], json!({}));
        assert!(matches!(error, OipError::Datatype { .. }), "{error}");
        assert_mentions(&error, &[expected]);
    }
}

#[test]
fn shapes_other_than_n_rows() {
    for shape in [
        json!([2, 2]),
        json!([]),
        json!([-1]),
        json!([1, 1, 1]),
        json!("2"),
        json!([1.5]),
    ] {
        let tensor = Tensor {
            name: "x",
            datatype: "INT64",
            shape: shape.clone(),
            data: Data::Json(json!([1, 2])),
        };
        let error = error_of(&[tensor], json!({}));
        assert!(matches!(error, OipError::Shape { .. }), "{shape}: {error}");
        assert_mentions(&error, &["`x`", "[N] or [N, 1]"]);
    }
}

#[test]
fn too_many_rows_is_refused_before_allocating() {
    let tensor = Tensor {
        name: "x",
        datatype: "INT64",
        shape: json!([u64::MAX]),
        data: Data::Json(json!([1])),
    };
    let error = error_of(&[tensor], json!({}));
    assert!(matches!(error, OipError::TooManyRows { max_rows: 8, .. }), "{error}");
    let error = error_of(&[x(json!(vec![1; 9]))], json!({}));
    assert!(matches!(error, OipError::TooManyRows { rows: 9, .. }), "{error}");
}

#[test]
fn inputs_with_different_row_counts() {
    let error = error_of(&[x(json!([1, 2])), s(json!(["a"]))], json!({}));
    assert!(
        matches!(
            error,
            OipError::RowCount {
                rows: 1,
                first_rows: 2,
                ..
            }
        ),
        "{error}"
    );
    assert_mentions(&error, &["`s`", "`x`"]);
}

#[test]
fn data_missing_doubled_or_of_the_wrong_form() {
    let (body, _) = request(&[s(json!(["a"]))], json!({}));
    let body = String::from_utf8(body).expect("JSON").replace(
        r#"{"inputs":["#,
        r#"{"inputs":[{"name":"x","datatype":"INT64","shape":[1]},"#,
    );
    let error = raw_error(body.as_bytes(), None);
    assert!(matches!(error, OipError::MissingData { .. }), "{error}");

    let both =
        r#"{"inputs":[{"name":"x","datatype":"INT64","shape":[1],"data":[1],"parameters":{"binary_data_size":8}}]}"#;
    let mut body = both.as_bytes().to_vec();
    body.extend_from_slice(&1_i64.to_le_bytes());
    let error = raw_error(&body, Some(&both.len().to_string()));
    assert!(matches!(error, OipError::BothData { .. }), "{error}");

    let error = error_of(&[x(json!({"a": 1})), s(json!(["a"]))], json!({}));
    assert!(matches!(error, OipError::DataForm { .. }), "{error}");
    // Nested data needs shape [N, 1]; deeper nesting is refused.
    let error = error_of(&[x(json!([[1], [2]])), s(json!(["a", "b"]))], json!({}));
    assert!(matches!(error, OipError::DataForm { .. }), "{error}");
    let nested = |data| Tensor {
        name: "x",
        datatype: "INT64",
        shape: json!([2, 1]),
        data: Data::Json(data),
    };
    for data in [json!([[1, 2], [3, 4]]), json!([[[1]], [[2]]]), json!([[1], 2])] {
        let error = error_of(&[nested(data), s(json!(["a", "b"]))], json!({}));
        assert!(matches!(error, OipError::DataForm { .. }), "{error}");
    }

    let short = Tensor {
        name: "x",
        datatype: "INT64",
        shape: json!([3]),
        data: Data::Json(json!([1, 2])),
    };
    let error = error_of(&[short], json!({}));
    assert!(
        matches!(
            error,
            OipError::DataLength {
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn binary_data_errors() {
    // binary_data_size without the header (and so without binary data).
    let (mut body, _) = request(
        &[binary_tensor("x", "INT64", 1, 1_i64.to_le_bytes().to_vec())],
        json!({}),
    );
    body.truncate(body.len() - 8);
    let error = raw_error(&body, None);
    assert!(matches!(error, OipError::BinaryWithoutHeader { .. }), "{error}");

    // binary_data_size past the end of the body.
    let (mut body, header) = request(
        &[binary_tensor("x", "INT64", 1, 1_i64.to_le_bytes().to_vec())],
        json!({}),
    );
    body.truncate(body.len() - 1);
    let error = raw_error(&body, header.as_deref());
    assert!(
        matches!(
            error,
            OipError::BinaryPastBody {
                size: 8,
                available: 7,
                ..
            }
        ),
        "{error}"
    );

    // A size that is not rows × width.
    let error = error_of(
        &[binary_tensor("x", "INT64", 2, vec![0; 12]), s(json!(["a", "b"]))],
        json!({}),
    );
    assert!(
        matches!(
            error,
            OipError::BinarySize {
                expected: 16,
                size: 12,
                ..
            }
        ),
        "{error}"
    );

    // More BYTES data than the rows' elements.
    let mut bytes = bytes_elements(&[b"a"]);
    bytes.push(0);
    let error = error_of(&[x(json!([1])), binary_tensor("s", "BYTES", 1, bytes)], json!({}));
    assert!(matches!(error, OipError::BytesTrailing { extra: 1, .. }), "{error}");

    // Bytes after the last input's data.
    let (mut body, header) = request(
        &[
            binary_tensor("x", "INT64", 1, 1_i64.to_le_bytes().to_vec()),
            s(json!(["a"])),
        ],
        json!({}),
    );
    body.push(0);
    let error = raw_error(&body, header.as_deref());
    assert!(matches!(error, OipError::TrailingBinary { extra: 1 }), "{error}");

    let bad_size = r#"{"inputs":[{"name":"x","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":-8}}]}"#;
    let error = raw_error(bad_size.as_bytes(), Some(&bad_size.len().to_string()));
    assert!(matches!(error, OipError::Parameter { .. }), "{error}");
    assert_mentions(&error, &["inputs[x].parameters.binary_data_size"]);

    let shared =
        r#"{"inputs":[{"name":"x","datatype":"INT64","shape":[1],"parameters":{"shared_memory_region":"r"}}]}"#;
    let error = raw_error(shared.as_bytes(), None);
    assert!(matches!(error, OipError::Unsupported { .. }), "{error}");
}

/// The problem with the element a request carries in `tensor` (next to a valid other input).
fn element_problem(tensor: Tensor) -> ElementProblem {
    let other = if tensor.name == "x" {
        s(json!(["a"]))
    } else {
        x(json!([1]))
    };
    match error_of(&[tensor, other], json!({})) {
        OipError::Element { problem, index: 0, .. } => problem,
        error => panic!("{error}"),
    }
}

#[test]
fn element_errors() {
    let problem = element_problem(x(json!([null])));
    assert!(matches!(problem, ElementProblem::NotNullable), "{problem}");
    let problem = element_problem(x(json!(["1"])));
    assert!(matches!(problem, ElementProblem::Expected { .. }), "{problem}");
    let problem = element_problem(x(json!([1.5])));
    assert!(matches!(problem, ElementProblem::Expected { .. }), "{problem}");
    let problem = element_problem(json_tensor("x", "INT8", json!([128])));
    assert!(matches!(problem, ElementProblem::OutOfRange { .. }), "{problem}");
    let problem = element_problem(json_tensor("x", "UINT64", json!([u64::MAX])));
    assert!(matches!(problem, ElementProblem::OutOfRange { .. }), "{problem}");
    let problem = element_problem(binary_tensor("x", "UINT64", 1, u64::MAX.to_le_bytes().to_vec()));
    assert!(matches!(problem, ElementProblem::OutOfRange { .. }), "{problem}");
    let problem = element_problem(json_tensor("s", "BYTES", json!([1])));
    assert!(matches!(problem, ElementProblem::Expected { .. }), "{problem}");
    let problem = element_problem(binary_tensor("s", "BYTES", 1, bytes_elements(&[b"\xff\xfe"])));
    assert!(matches!(problem, ElementProblem::Utf8(_)), "{problem}");
    let problem = element_problem(binary_tensor("s", "BYTES", 1, vec![1, 0]));
    assert!(matches!(problem, ElementProblem::BytesPrefix), "{problem}");
    let problem = element_problem(binary_tensor("s", "BYTES", 1, vec![9, 0, 0, 0, b'a']));
    assert!(
        matches!(
            problem,
            ElementProblem::BytesPastEnd {
                length: 9,
                available: 1
            }
        ),
        "{problem}"
    );

    let specs = [spec("flag", BOOL), spec("day", DATE), spec("at", TIMESTAMP)];
    let error = decode(&specs, &[binary_tensor("flag", "BOOL", 1, vec![2])], json!({})).expect_err("byte 2");
    assert!(
        matches!(
            error,
            OipError::Element {
                problem: ElementProblem::BoolByte { byte: 2 },
                ..
            }
        ),
        "{error}"
    );
    let error = decode(
        &specs,
        &[
            json_tensor("flag", "BOOL", json!([true])),
            json_tensor("day", "BYTES", json!(["2026-02-30"])),
        ],
        json!({}),
    )
    .expect_err("no such day");
    assert!(
        matches!(
            error,
            OipError::Element {
                problem: ElementProblem::Wire(_),
                ..
            }
        ),
        "{error}"
    );
    assert_mentions(
        &error,
        &["`day`", "element 0", "YYYY-MM-DD", "not a date in the calendar"],
    );
    let error = decode(
        &specs,
        &[
            json_tensor("flag", "BOOL", json!([true])),
            json_tensor("day", "INT32", json!([1])),
            json_tensor("at", "BYTES", json!(["2026-03-02T11:45:00"])),
        ],
        json!({}),
    )
    .expect_err("no offset");
    assert!(
        matches!(
            error,
            OipError::Element {
                problem: ElementProblem::Wire(_),
                ..
            }
        ),
        "{error}"
    );
    assert_mentions(&error, &["`at`", "RFC 3339", "time zone offset"]);
}

#[test]
fn output_errors() {
    let inputs = || [x(json!([1])), s(json!(["a"]))];
    let error = error_of(&inputs(), json!({"outputs": [{"name": "probability"}]}));
    assert!(matches!(error, OipError::UnknownOutput { .. }), "{error}");
    assert_mentions(&error, &["`probability`", "`score`, `fallback`"]);
    let error = error_of(&inputs(), json!({"outputs": [{"name": "score"}, {"name": "score"}]}));
    assert!(matches!(error, OipError::DuplicateOutput { .. }), "{error}");
    let error = error_of(
        &inputs(),
        json!({"outputs": [{"name": "score", "parameters": {"classification": 2}}]}),
    );
    assert!(matches!(error, OipError::UnsupportedOutput { .. }), "{error}");
    let error = error_of(
        &inputs(),
        json!({"outputs": [{"name": "score", "parameters": {"binary_data": 1}}]}),
    );
    assert!(matches!(error, OipError::Parameter { .. }), "{error}");
    let error = error_of(&inputs(), json!({"parameters": {"binary_data_output": "yes"}}));
    assert!(matches!(error, OipError::Parameter { .. }), "{error}");
}

#[test]
fn bare_non_finite_tokens_are_floats_only() {
    let body = br#"{"inputs":[{"name":"x","datatype":"INT64","shape":[1],"data":[NaN]},{"name":"s","datatype":"BYTES","shape":[1],"data":["a"]}]}"#;
    let error = raw_error(body, None);
    assert!(
        matches!(
            error,
            OipError::Element {
                problem: ElementProblem::Expected { .. },
                ..
            }
        ),
        "{error}"
    );
    // Still not JSON once quoted: the parser's first error is reported.
    let error = raw_error(br#"{"inputs": [NaN"#, None);
    assert!(matches!(error, OipError::Json { .. }), "{error}");
    assert_mentions(&error, &["line 1 column 13"]);
}
