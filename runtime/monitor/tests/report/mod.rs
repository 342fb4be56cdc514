//! The HTML report: escaping, values that are not finite, determinism, sizes, and what headless
//! Chromium draws. Sample reports live in `samples.rs`, shared by both.

mod browser;
mod render;
mod samples;
