//! Random and mutated bodies: never a panic, never a 5xx other than 503, and the server keeps
//! answering.

use serde_json::{Value as Json, json};

use crate::fraud::{entities, request_rows};
use crate::support::{RunningServer, TempDir, fraud_plan, redb_store, write_fixture};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: [&str; 12] = [
    "features",
    "feature_service",
    "entities",
    "request_context",
    "full_feature_names",
    "user_id",
    "amount",
    "country",
    "channel",
    "event_time",
    "",
    "\u{0}é",
];

const STRINGS: [&str; 14] = [
    "fraud_detector",
    "txn_signals@v2:amount_vs_avg",
    "user_activity@v1:foreign_share_30d",
    "user_activity_v1:txn_count_7d",
    "user_activity@v1.countries_30d",
    "user_activity@v99:x",
    "NaN",
    "-Infinity",
    "2026-03-02T05:00:00Z",
    "2026-02-29T00:00:00Z",
    "9999-12-31T23:59:59.999999-23:59",
    "u1",
    "@v:",
    "",
];

fn random_json(rng: &mut Rng, depth: usize) -> Json {
    let choice = if depth > 3 { rng.below(6) } else { rng.below(9) };
    match choice {
        0 => Json::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(f64::from_bits(rng.next()).clamp(-1e308, 1e308)),
        4 => json!(rng.pick(&STRINGS)),
        5 => json!(*rng.pick(&[0.0, -0.0, 1e-320, 9007199254740993.0, -1.5])),
        6 | 7 => {
            let length = rng.below(4);
            Json::Array((0..length).map(|_| random_json(rng, depth + 1)).collect())
        }
        _ => {
            let length = rng.below(5);
            let object = (0..length)
                .map(|_| (rng.pick(&KEYS).to_string(), random_json(rng, depth + 1)))
                .collect();
            Json::Object(object)
        }
    }
}

/// A valid request with one part replaced by random JSON.
fn mutated_request(rng: &mut Rng) -> String {
    let mut body = json!({"feature_service": "fraud_detector", "entities": entities(&request_rows())});
    let replacement = random_json(rng, 1);
    match rng.below(5) {
        0 => body["feature_service"] = replacement,
        1 => body["entities"] = replacement,
        2 => {
            let field = rng.pick(&["user_id", "amount", "country", "channel", "event_time"]);
            body["entities"][*field] = replacement;
        }
        3 => {
            let field = rng.pick(&["user_id", "amount", "country", "channel", "event_time"]);
            let row = rng.below(8);
            body["entities"][*field][row] = replacement;
        }
        _ => body[*rng.pick(&KEYS)] = replacement,
    }
    body.to_string()
}

/// A valid request's text with bytes flipped, cut or duplicated.
fn damaged_text(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = json!({"feature_service": "fraud_detector", "entities": entities(&request_rows())})
        .to_string()
        .into_bytes();
    for _ in 0..=rng.below(4) {
        let position = rng.below(bytes.len());
        match rng.below(3) {
            0 => bytes[position] = rng.next() as u8,
            1 => bytes.truncate(position.max(1)),
            _ => {
                let copy = bytes[position..].to_vec();
                bytes.extend_from_slice(&copy[..copy.len().min(64)]);
            }
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_panics_nor_answers_5xx() {
    let directory = TempDir::new();
    let plan = fraud_plan();
    let store = redb_store(&directory).await;
    write_fixture(&plan, store.as_ref()).await;
    let server = RunningServer::start(plan, store).await;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut statuses = std::collections::BTreeMap::new();
    for case in 0..600 {
        let body: Vec<u8> = match case % 4 {
            0 => random_json(&mut rng, 0).to_string().into_bytes(),
            1 => mutated_request(&mut rng).into_bytes(),
            2 => damaged_text(&mut rng),
            _ => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        };
        let response = crate::support::request(server.address, "POST", "/get-online-features", &body).await;
        assert!(
            response.status < 500 || response.status == 503,
            "case {case}: {} for {:?}: {}",
            response.status,
            String::from_utf8_lossy(&body),
            response.body
        );
        if response.status != 200 {
            assert!(
                !response.detail().is_empty(),
                "case {case}: an error without a message: {}",
                response.body
            );
        }
        *statuses.entry(response.status).or_insert(0) += 1;
    }
    // The mix exercised both answers and refusals.
    assert!(
        statuses.contains_key(&200) && statuses.contains_key(&400),
        "{statuses:?}"
    );
    assert_eq!(server.get("/health").await.status, 200);
}
