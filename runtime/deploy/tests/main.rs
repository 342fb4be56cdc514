//! Integration tests of the model server.
