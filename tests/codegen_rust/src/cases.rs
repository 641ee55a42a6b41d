//! Replaced by `tests/codegen_rust.rs` with one case per sample JSON value.

use crate::Case;

pub fn cases() -> Vec<Case> {
    Vec::new()
}
