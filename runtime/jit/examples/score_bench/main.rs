//! Per-row and batch scoring of one LightGBM model by every engine in this process: the model
//! compiled by `mlsys_jit::compile_model` (Cranelift), lleaves (LLVM) and tl2cgen (C through gcc),
//! both loaded from shared libraries, and ONNX Runtime through `mlsys_train::OnnxScorer`. Driven
//! by `benches/model_scoring.py`, which trains the model and builds the libraries; prints JSON.
//!
//! Usage: see `USAGE`; the `.f64` files are little-endian float64 (the rows row-major, then
//! LightGBM's own probabilities).
#![allow(unsafe_code)]

mod lightgbm;

use std::error::Error;
use std::hint::black_box;
use std::time::Instant;

use libloading::Library;
use mlsys_jit::compile_model;
use mlsys_train::{Model, OnnxScorer, TreeEnsemble, to_onnx};

/// lleaves' `forest_root(rows, out, first_row, end_row)` over a row-major float64 matrix.
type LleavesRoot = unsafe extern "C" fn(*const f64, *mut f64, i32, i32);
/// tl2cgen's `predict(entries, pred_margin, result)`: one row of `union Entry { int missing;
/// double fvalue; }`, a missing value being `missing == -1`; it adds the score to `*result`.
type Tl2cgenPredict = unsafe extern "C" fn(*mut u64, i32, *mut f64);
const TL2CGEN_MISSING: u64 = 0xFFFF_FFFF;

const USAGE: &str =
    "usage: score_bench MODEL.txt ROWS.f64 FEATURES LIGHTGBM_SCORES.f64 LLEAVES.so LLEAVES_ROW.so TL2CGEN.so";
const REPEATS: usize = 9;
/// ONNX Runtime's per-call cost is microseconds: fewer rows keep its per-row run short.
const ORT_PER_ROW_ROWS: usize = 5_000;

/// The rows every engine scores, row-major, and mlsys's scores of them.
struct Rows<'a> {
    matrix: &'a [f64],
    features: usize,
    count: usize,
    mlsys: Vec<f64>,
}

struct Engine {
    name: &'static str,
    per_row_ns: f64,
    batch_ns: f64,
    max_abs_diff_vs_mlsys: f64,
}

fn read_f64s(path: &str) -> Result<Vec<f64>, Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|chunk| f64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])))
        .collect())
}

/// The median over `REPEATS` runs of `run`'s time divided by `rows`, in nanoseconds.
fn median_ns_per_row(rows: usize, mut run: impl FnMut()) -> f64 {
    run();
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_nanos() as f64 / rows as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[REPEATS / 2]
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn tl2cgen_row(predict: Tl2cgenPredict, row: &[f64], entries: &mut [u64]) -> f64 {
    for (entry, value) in entries.iter_mut().zip(row) {
        *entry = if value.is_nan() {
            TL2CGEN_MISSING
        } else {
            value.to_bits()
        };
    }
    let mut result = 0.0;
    // SAFETY: `entries` holds one entry per model feature (checked against the library's
    // feature count) and `result` one output; the function keeps neither pointer.
    unsafe { predict(entries.as_mut_ptr(), 0, &mut result) };
    result
}

fn bench_mlsys(model: &Model, rows: &mut Rows<'_>) -> Result<(Engine, f64, bool), Box<dyn Error>> {
    let start = Instant::now();
    let compiled = compile_model(model)?;
    let compile_ms = start.elapsed().as_secs_f64() * 1e3;
    let (matrix, features, count) = (rows.matrix, rows.features, rows.count);
    compiled.score_many(matrix, features, &mut rows.mlsys)?;
    let bit_identical = matrix
        .chunks_exact(features)
        .zip(&rows.mlsys)
        .all(|(row, score)| model.predict(row).to_bits() == score.to_bits());
    let engine = Engine {
        name: "mlsys (Cranelift)",
        per_row_ns: median_ns_per_row(count, || {
            for row in matrix.chunks_exact(features) {
                black_box(compiled.score(black_box(row)));
            }
        }),
        batch_ns: median_ns_per_row(count, || {
            let mut out = Vec::with_capacity(count);
            let _ = compiled.score_many(black_box(matrix), features, &mut out);
            black_box(out);
        }),
        max_abs_diff_vs_mlsys: 0.0,
    };
    Ok((engine, compile_ms, bit_identical))
}

/// lleaves' `forest_root` in a library it compiled.
fn load_lleaves(path: &str) -> Result<(Library, LleavesRoot), Box<dyn Error>> {
    // SAFETY: the library is one the driver script just built from the model; loading it runs no
    // constructor with side effects, and `forest_root` has the type lleaves generates.
    let library = unsafe { Library::new(path)? };
    let forest_root = *unsafe { library.get::<LleavesRoot>(b"forest_root")? };
    Ok((library, forest_root))
}

/// `batch_path` is compiled with lleaves' defaults (trees cache-blocked by 34), `row_path` with
/// one block of all trees, which lleaves documents as the faster setting for single rows.
fn bench_lleaves(batch_path: &str, row_path: &str, rows: &Rows<'_>) -> Result<Engine, Box<dyn Error>> {
    let (_batch_library, batch_root) = load_lleaves(batch_path)?;
    let (_row_library, row_root) = load_lleaves(row_path)?;
    let (matrix, features, count) = (rows.matrix, rows.features, rows.count);
    let row_count = i32::try_from(count)?;
    let mut scores = vec![0.0; count];
    // SAFETY: the matrix holds `count` rows of the model's features and the output `count` values.
    unsafe { batch_root(matrix.as_ptr(), scores.as_mut_ptr(), 0, row_count) };
    let mut row_scores = vec![0.0; count];
    for (row, score) in matrix.chunks_exact(features).zip(&mut row_scores) {
        // SAFETY: one row of the model's features, one output.
        unsafe { row_root(row.as_ptr(), score, 0, 1) };
    }
    Ok(Engine {
        name: "lleaves",
        per_row_ns: median_ns_per_row(count, || {
            let mut score = 0.0;
            for row in matrix.chunks_exact(features) {
                // SAFETY: as above.
                unsafe { row_root(black_box(row).as_ptr(), &mut score, 0, 1) };
                black_box(score);
            }
        }),
        batch_ns: median_ns_per_row(count, || {
            let mut out = vec![0.0; count];
            // SAFETY: as for the first call.
            unsafe { batch_root(black_box(matrix).as_ptr(), out.as_mut_ptr(), 0, row_count) };
            black_box(out);
        }),
        max_abs_diff_vs_mlsys: max_abs_diff(&scores, &rows.mlsys).max(max_abs_diff(&row_scores, &rows.mlsys)),
    })
}

fn bench_tl2cgen(path: &str, rows: &Rows<'_>) -> Result<Engine, Box<dyn Error>> {
    // SAFETY: as for lleaves; `predict` and `get_num_feature` have the types tl2cgen generates.
    let library = unsafe { Library::new(path)? };
    let predict: Tl2cgenPredict = *unsafe { library.get::<Tl2cgenPredict>(b"predict")? };
    let feature_count = unsafe { library.get::<unsafe extern "C" fn() -> i32>(b"get_num_feature")? };
    let (matrix, features, count) = (rows.matrix, rows.features, rows.count);
    // SAFETY: a function without arguments returning a constant.
    if usize::try_from(unsafe { feature_count() })? != features {
        return Err("the tl2cgen library reads another number of features".into());
    }
    let mut entries = vec![0u64; features];
    let scores: Vec<f64> = matrix
        .chunks_exact(features)
        .map(|row| tl2cgen_row(predict, row, &mut entries))
        .collect();
    // The library has no batch entry point: tl2cgen's runtime loops over rows as this does.
    let mut score_all = || {
        let mut out = Vec::with_capacity(count);
        for row in matrix.chunks_exact(features) {
            out.push(tl2cgen_row(predict, black_box(row), &mut entries));
        }
        black_box(out);
    };
    let per_row_ns = median_ns_per_row(count, &mut score_all);
    Ok(Engine {
        name: "tl2cgen",
        per_row_ns,
        batch_ns: median_ns_per_row(count, score_all),
        max_abs_diff_vs_mlsys: max_abs_diff(&scores, &rows.mlsys),
    })
}

fn bench_onnx_runtime(ensemble: &TreeEnsemble, rows: &Rows<'_>) -> Result<Engine, Box<dyn Error>> {
    // The ONNX export needs float32 thresholds; the rows are float32 values, so routing is unchanged.
    let model = Model::TreeEnsemble(lightgbm::with_float32_thresholds(ensemble));
    let (matrix, features, count) = (rows.matrix, rows.features, rows.count);
    let mut scorer = OnnxScorer::load(&to_onnx(&model, model.feature_names())?, features, model.task())?;
    let columns: Vec<Vec<f64>> = (0..features)
        .map(|feature| matrix.iter().skip(feature).step_by(features).copied().collect())
        .collect();
    let scores = scorer.predict(&columns)?;
    let mut single: Vec<Vec<f64>> = vec![vec![0.0]; features];
    let per_row_count = count.min(ORT_PER_ROW_ROWS);
    let per_row_ns = median_ns_per_row(per_row_count, || {
        for row in matrix.chunks_exact(features).take(per_row_count) {
            for (column, value) in single.iter_mut().zip(row) {
                column[0] = *value;
            }
            let _ = black_box(scorer.predict(black_box(&single)));
        }
    });
    Ok(Engine {
        name: "ONNX Runtime",
        per_row_ns,
        batch_ns: median_ns_per_row(count, || {
            let _ = black_box(scorer.predict(black_box(&columns)));
        }),
        max_abs_diff_vs_mlsys: max_abs_diff(&scores, &rows.mlsys),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [
        model_path,
        rows_path,
        features,
        expected_path,
        lleaves_path,
        lleaves_row_path,
        tl2cgen_path,
    ] = &arguments[..]
    else {
        return Err(USAGE.into());
    };
    let features: usize = features.parse()?;
    let matrix = read_f64s(rows_path)?;
    let lightgbm_scores = read_f64s(expected_path)?;
    let ensemble = lightgbm::import(&std::fs::read_to_string(model_path)?)?;
    let nodes: usize = ensemble.trees.iter().map(|tree| tree.nodes.len()).sum();
    let model = Model::TreeEnsemble(ensemble.clone());
    let mut rows = Rows {
        matrix: &matrix,
        features,
        count: matrix.len() / features,
        mlsys: Vec::new(),
    };
    let (mlsys, compile_ms, bit_identical) = bench_mlsys(&model, &mut rows)?;
    let engines = [
        mlsys,
        bench_lleaves(lleaves_path, lleaves_row_path, &rows)?,
        bench_tl2cgen(tl2cgen_path, &rows)?,
        bench_onnx_runtime(&ensemble, &rows)?,
    ];
    let engines_json: Vec<String> = engines
        .iter()
        .map(|engine| {
            format!(
                r#"{{"engine": "{}", "per_row_ns": {:.1}, "batch_ns": {:.1}, "max_abs_diff_vs_mlsys": {:e}}}"#,
                engine.name, engine.per_row_ns, engine.batch_ns, engine.max_abs_diff_vs_mlsys
            )
        })
        .collect();
    println!(
        r#"{{"rows": {}, "features": {features}, "trees": {}, "nodes": {nodes}, "compile_ms": {compile_ms:.1}, "mlsys_bit_identical_to_predict": {bit_identical}, "mlsys_max_abs_diff_vs_lightgbm": {:e}, "engines": [{}]}}"#,
        rows.count,
        ensemble.trees.len(),
        max_abs_diff(&rows.mlsys, &lightgbm_scores),
        engines_json.join(", ")
    );
    Ok(())
}
