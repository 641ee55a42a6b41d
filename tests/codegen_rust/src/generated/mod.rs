//! Replaced by `tests/codegen_rust.rs` with one module per generated file.
