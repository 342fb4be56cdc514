//! Integration tests of mlsys-kernels: every edge case lang-spec lists (on the kernels and through
//! the compiler and the interpreter), the interpreter on the example project, and properties of
//! exact sums, aggregates and windows.

mod aggregate;
mod exact_sum;
mod fraud;
mod interpret;
mod properties;
mod scalar;
mod spec_cases;
mod spec_table;
mod support;
mod window;
