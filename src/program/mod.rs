//! Programs: the modules of language version 1 (`predict`, `chain_of_thought`, `best_of_n`,
//! `multi_chain_comparison`) run over a signature, with an artifact's instructions and demos.

mod signature;

pub use signature::{comparison, predictor_signature, with_reasoning};
