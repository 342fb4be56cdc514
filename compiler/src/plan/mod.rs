//! The feature-plan IR: typed-ID arenas, canonical hashes, canonical text, and the verifier.

pub mod arena;
pub mod hash;
pub mod ir;
pub mod print;
pub mod verify;
pub mod walk;

pub use arena::*;
pub use ir::*;
