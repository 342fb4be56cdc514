//! Data set validation: each refused input has its own error.

use mlsys_train::{Dataset, DatasetError, Task};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

#[test]
fn accepts_missing_values_and_binary_labels() {
    let data = Dataset::new(
        Task::Classification,
        names(&["a"]),
        vec![vec![f64::NAN, 1.0]],
        vec![0.0, 1.0],
    )
    .unwrap();
    assert_eq!((data.rows(), data.features()), (2, 1));
    assert!(data.row(0)[0].is_nan());
}

#[test]
fn each_invalid_input_is_refused() {
    let cases: Vec<(Result<Dataset, DatasetError>, DatasetError)> = vec![
        (
            Dataset::new(Task::Regression, names(&["a"]), vec![vec![]], vec![]),
            DatasetError::NoRows,
        ),
        (
            Dataset::new(Task::Regression, names(&[]), vec![], vec![1.0]),
            DatasetError::NoFeatures,
        ),
        (
            Dataset::new(Task::Regression, names(&["a", "b"]), vec![vec![1.0]], vec![1.0]),
            DatasetError::NameCountMismatch { names: 2, columns: 1 },
        ),
        (
            Dataset::new(
                Task::Regression,
                names(&["a", "a"]),
                vec![vec![1.0], vec![2.0]],
                vec![1.0],
            ),
            DatasetError::DuplicateFeatureName("a".into()),
        ),
        (
            Dataset::new(Task::Regression, names(&["a"]), vec![vec![1.0, 2.0]], vec![1.0]),
            DatasetError::ColumnLength {
                feature: "a".into(),
                expected: 1,
                found: 2,
            },
        ),
        (
            Dataset::new(
                Task::Regression,
                names(&["a"]),
                vec![vec![1.0, f64::NEG_INFINITY]],
                vec![1.0, 2.0],
            ),
            DatasetError::InfiniteFeature {
                feature: "a".into(),
                row: 1,
                value: f64::NEG_INFINITY,
            },
        ),
        (
            Dataset::new(Task::Regression, names(&["a"]), vec![vec![1.0]], vec![f64::INFINITY]),
            DatasetError::LabelNotFinite {
                row: 0,
                value: f64::INFINITY,
            },
        ),
        (
            Dataset::new(
                Task::Classification,
                names(&["a"]),
                vec![vec![1.0, 2.0]],
                vec![1.0, 0.5],
            ),
            DatasetError::LabelNotBinary { row: 1, value: 0.5 },
        ),
    ];
    for (result, expected) in cases {
        assert_eq!(result.unwrap_err(), expected);
    }
    // NaN labels are not finite either (NaN != NaN, so compare the variant).
    let error = Dataset::new(Task::Regression, names(&["a"]), vec![vec![1.0]], vec![f64::NAN]).unwrap_err();
    assert!(matches!(error, DatasetError::LabelNotFinite { row: 0, .. }));
}

#[test]
fn slicing_keeps_time_order() {
    let data = Dataset::new(
        Task::Regression,
        names(&["a"]),
        vec![vec![1.0, 2.0, 3.0, 4.0]],
        vec![1.0, 2.0, 3.0, 4.0],
    )
    .unwrap();
    let tail = data.slice_rows(2, 4).unwrap();
    assert_eq!(tail.labels(), &[3.0, 4.0]);
    assert_eq!(data.slice_rows(4, 4).unwrap_err(), DatasetError::NoRows);
}
