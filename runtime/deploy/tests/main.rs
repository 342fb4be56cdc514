//! Integration tests of the model server.

mod oip;
mod serving;
