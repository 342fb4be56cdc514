//! The interpreter on examples/fraud: txn_signals@v2 on hand-written payments, with
//! user_activity@v1's aggregates supplied or computed from events.

use mlsys_compiler::plan::verify::verify;
use mlsys_compiler::plan::{FeatureId, Plan};
use mlsys_compiler::{compile, source::SourceFile};
use mlsys_kernels::Value;
use mlsys_kernels::interpret::{Bindings, evaluate_aggregate, evaluate_features, find_column, find_feature};
use mlsys_kernels::time::{MICROS_PER_DAY, MICROS_PER_HOUR};

use crate::support::{date, float, int};

pub fn fraud_plan() -> Plan {
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/fraud");
    let mut paths: Vec<_> = std::fs::read_dir(directory)
        .expect("examples/fraud")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "mlsys"))
        .collect();
    paths.sort();
    let files: Vec<SourceFile> = paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a readable file");
            SourceFile::new(path.display().to_string(), text)
        })
        .collect();
    let compilation = compile(&files);
    assert!(!compilation.has_errors(), "{:#?}", compilation.diagnostics);
    let plan = compilation.plan.expect("examples/fraud compiles");
    assert_eq!(verify(&plan), Vec::new());
    plan
}

struct Payment<'a> {
    user: &'a str,
    amount: f64,
    country: &'a str,
    channel: &'a str,
    event_time: i64,
}

fn payment_row(plan: &Plan, payment: &Payment<'_>) -> Bindings {
    let column = |name| find_column(plan, "transactions", name).expect("a transactions column");
    let (source, _) = column("txn_id");
    let mut row = Bindings::new();
    for (name, value) in [
        ("txn_id", Value::from("t-1")),
        ("user_id", Value::from(payment.user)),
        ("merchant", Value::Null),
        ("amount", Value::Float(payment.amount)),
        ("country", Value::from(payment.country)),
        ("channel", Value::from(payment.channel)),
        ("event_time", Value::Timestamp(payment.event_time)),
    ] {
        row = row.with_column(source, column(name).1, value);
    }
    row
}

fn signals(plan: &Plan) -> Vec<FeatureId> {
    [
        "amount_log",
        "amount_vs_avg",
        "foreign",
        "night",
        "web",
        "amount_bucket",
    ]
    .iter()
    .map(|name| find_feature(plan, "txn_signals", 2, name).expect("a txn_signals feature"))
    .collect()
}

fn avg_amount(plan: &Plan) -> FeatureId {
    find_feature(plan, "user_activity", 1, "avg_amount_30d").expect("avg_amount_30d")
}

/// 2026-03-02 at the given hour, UTC.
fn march_2(hour: i64) -> i64 {
    i64::from(date(2026, 3, 2)) * MICROS_PER_DAY + hour * MICROS_PER_HOUR
}

#[test]
fn signals_with_a_supplied_average() {
    let plan = fraud_plan();
    let payment = Payment {
        user: "u1",
        amount: 99.5,
        country: "FR",
        channel: "web",
        event_time: march_2(3) + 15 * 60_000_000,
    };
    let row = payment_row(&plan, &payment).with_feature(avg_amount(&plan), 49.75);
    let values = evaluate_features(&plan, &signals(&plan), &row).expect("values");
    let expected = [
        float(100.5f64.ln()),
        float(99.5 / 50.75),
        Value::Bool(true),
        Value::Bool(true),
        Value::Bool(true),
        int(2),
    ];
    assert_eq!(values, expected);
}

#[test]
fn signals_of_a_user_without_history() {
    let plan = fraud_plan();
    let payment = Payment {
        user: "u2",
        amount: 1000.0,
        country: "US",
        channel: "store",
        event_time: march_2(12),
    };
    // No supplied average: the lookup of a key with no events is null, and `coalesce` makes it 0.
    let row = payment_row(&plan, &payment);
    let values = evaluate_features(&plan, &signals(&plan), &row).expect("values");
    let expected = [
        float(1001.0f64.ln()),
        float(1000.0),
        Value::Bool(false),
        Value::Bool(false),
        Value::Bool(false),
        int(4),
    ];
    assert_eq!(values, expected);
}

#[test]
fn derived_feature_of_user_activity() {
    let plan = fraud_plan();
    let feature = |name| find_feature(&plan, "user_activity", 1, name).expect("a user_activity feature");
    let share = feature("foreign_share_30d");
    let supplied = |foreign: i64, total: i64| {
        Bindings::new()
            .with_feature(feature("foreign_count_30d"), foreign)
            .with_feature(feature("txn_count_30d"), total)
    };
    let value = |inputs: &Bindings| evaluate_features(&plan, &[share], inputs).expect("a value");
    assert_eq!(value(&supplied(3, 12)), vec![float(0.25)]);
    assert_eq!(value(&supplied(0, 0)), vec![float(0.0)]);
}

#[test]
fn training_row_with_the_average_computed_from_events() {
    let plan = fraud_plan();
    let history = [
        (31, 10.0, "US"), // 2026-01-30: before the 30-day window [01-31, 03-02) read on 03-02 at 03:00
        (30, 20.0, "US"), // 2026-01-31: the oldest day inside
        (1, 30.0, "FR"),  // 2026-03-01
        (0, 500.0, "US"), // 2026-03-02, the current (incomplete) tile: not yet visible
    ];
    let events: Vec<Bindings> = history
        .iter()
        .map(|(days_before, amount, country)| {
            let payment = Payment {
                user: "u1",
                amount: *amount,
                country,
                channel: "web",
                event_time: march_2(1) - days_before * MICROS_PER_DAY,
            };
            payment_row(&plan, &payment)
        })
        .collect();
    let t = march_2(3);
    let average = evaluate_aggregate(&plan, avg_amount(&plan), &events, t).expect("avg");
    assert_eq!(average, float(25.0));
    let countries = find_feature(&plan, "user_activity", 1, "countries_30d").expect("countries_30d");
    assert_eq!(evaluate_aggregate(&plan, countries, &events, t), Ok(int(2)));
    let payment = Payment {
        user: "u1",
        amount: 52.0,
        country: "US",
        channel: "api",
        event_time: t,
    };
    let row = payment_row(&plan, &payment).with_feature(avg_amount(&plan), average);
    let values = evaluate_features(&plan, &signals(&plan), &row).expect("values");
    assert_eq!(values[1], float(2.0));
    assert_eq!(values[4], Value::Bool(true));
    assert_eq!(values[5], int(2));
}

#[test]
fn promote_if_and_fallback() {
    use mlsys_compiler::plan::{Metric, MetricSide};
    use mlsys_kernels::interpret::evaluate;

    let plan = fraud_plan();
    let (_, model) = plan.models.iter().next().expect("a model");
    let promote_if = model.train.promote_if.expect("a promote_if");
    let metrics = |candidate: f64, production: f64| {
        Bindings::new()
            .with_metric(MetricSide::Candidate, Metric::Auc, candidate)
            .with_metric(MetricSide::Production, Metric::Auc, production)
    };
    assert_eq!(evaluate(&plan, promote_if, &metrics(0.91, 0.88)), Ok(Value::Bool(true)));
    assert_eq!(
        evaluate(&plan, promote_if, &metrics(0.88, 0.88)),
        Ok(Value::Bool(false))
    );
    // No production model yet: the metric is unknown and the comparison null.
    assert_eq!(evaluate(&plan, promote_if, &Bindings::new()), Ok(Value::Null));

    let (_, serve) = plan
        .serves
        .iter()
        .find(|(_, serve)| serve.name == "fraud_api")
        .expect("fraud_api");
    let fallback = serve.fallback.expect("a fallback");
    let payment = |amount| Payment {
        user: "u1",
        amount,
        country: "US",
        channel: "web",
        event_time: 0,
    };
    assert_eq!(
        evaluate(&plan, fallback, &payment_row(&plan, &payment(6000.0))),
        Ok(float(0.9))
    );
    assert_eq!(
        evaluate(&plan, fallback, &payment_row(&plan, &payment(5000.0))),
        Ok(float(0.05))
    );
}
