//! Realistic, deterministic data sets for the example projects, so that they can be ingested, trained
//! and served end to end. One module per example (`fraud`, `forecast`); `random` and `write` are shared
//! by them.
//!
//! ```no_run
//! use mlsys_example_data::fraud::{FraudConfig, generate, write};
//! let data = generate(&FraudConfig::default());
//! let summary = write(&data, std::path::Path::new("examples/fraud")).expect("written");
//! println!("{summary}");
//! ```
//!
//! ```no_run
//! use mlsys_example_data::forecast::{ForecastConfig, generate, write};
//! let data = generate(&ForecastConfig::default());
//! let summary = write(&data, std::path::Path::new("examples/forecast")).expect("written");
//! println!("{summary}");
//! ```

pub mod forecast;
pub mod fraud;
pub mod random;
pub mod write;
