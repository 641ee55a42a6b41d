//! The checked, typed signature model and the checker that builds it from the syntax tree.

mod checker;
mod model;

pub use checker::{check, Checked};
pub use model::*;
