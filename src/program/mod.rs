//! Programs: the modules of language version 1 (`predict`, `chain_of_thought`, `best_of_n`,
//! `multi_chain_comparison`) run over a signature, with an artifact's instructions and demos.

pub mod artifact;
mod runtime;
mod signature;

pub use artifact::{Artifact, ArtifactError};
pub use runtime::{cache_key, CacheMode, Finished, RunError, Runtime, Target};
pub use signature::{comparison, predictor_signature, with_reasoning};
