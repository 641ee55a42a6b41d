//! Artifacts: the JSON DSPy 3.4.1's `Module.save(path)` writes (per predictor: `demos` and a
//! `signature` with `instructions` and each field's `prefix`/`description`), so a program
//! optimized by real DSPy runs here, and what dspex writes loads in DSPy.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::adapter::{PromptSignature, Values};
use crate::schema::Module;

/// One predictor's saved state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorState {
    #[serde(default)]
    pub traces: Vec<Value>,
    #[serde(default)]
    pub train: Vec<Value>,
    #[serde(default)]
    pub demos: Vec<Values>,
    pub signature: SavedSignature,
    #[serde(default)]
    pub lm: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedSignature {
    pub instructions: String,
    /// Every field of the predictor's signature, inputs then outputs.
    pub fields: Vec<SavedField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedField {
    #[serde(default)]
    pub prefix: String,
    pub description: String,
}

/// A loaded artifact: the state of the program's one predictor.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    pub predictor: PredictorState,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot read the artifact `{path}`: {message}")]
    Read { path: String, message: String },
    #[error("`{path}` is not a DSPy artifact: {message}")]
    Invalid { path: String, message: String },
    #[error("the artifact `{path}` has {found} fields but the `{module}` predictor of this program has {expected}")]
    FieldCount {
        path: String,
        module: &'static str,
        found: usize,
        expected: usize,
    },
}

/// The key DSPy saves a module's predictor under: `Predict` saves itself flat; a chain of
/// thought and a comparison hold `predict`; `BestOfN` holds `module`.
fn predictor_key(module: Module) -> Option<&'static str> {
    match module {
        Module::Predict => None,
        Module::ChainOfThought | Module::MultiChainComparison { .. } => Some("predict"),
        Module::BestOfN { .. } => Some("module"),
    }
}

impl Artifact {
    /// Reads an artifact saved for a program of `module`.
    pub fn load(path: &Path, module: Module) -> Result<Artifact, ArtifactError> {
        let text = std::fs::read_to_string(path).map_err(|error| ArtifactError::Read {
            path: path.display().to_string(),
            message: error.to_string(),
        })?;
        let invalid = |message: String| ArtifactError::Invalid {
            path: path.display().to_string(),
            message,
        };
        let root: Map<String, Value> =
            serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        let state = match predictor_key(module) {
            _ if root.contains_key("signature") => Value::Object(root),
            Some(key) => root.get(key).cloned().ok_or_else(|| {
                invalid(format!(
                    "no `{key}` predictor (a `{}` program's is saved under `{key}`)",
                    module.name()
                ))
            })?,
            None => return Err(invalid("no `signature` at the top level".to_owned())),
        };
        let predictor: PredictorState =
            serde_json::from_value(state).map_err(|error| invalid(error.to_string()))?;
        Ok(Artifact { predictor })
    }

    /// `signature` with the artifact's instructions and field descriptions, as DSPy's
    /// `Predict.load_state` applies them.
    pub fn apply(
        &self,
        signature: PromptSignature,
        path: &Path,
        module: Module,
    ) -> Result<PromptSignature, ArtifactError> {
        let saved = &self.predictor.signature;
        let expected = signature.inputs.len() + signature.outputs.len();
        if saved.fields.len() != expected {
            return Err(ArtifactError::FieldCount {
                path: path.display().to_string(),
                module: module.name(),
                found: saved.fields.len(),
                expected,
            });
        }
        let mut signature = signature.with_instructions(&saved.instructions);
        let fields = signature
            .inputs
            .iter_mut()
            .chain(signature.outputs.iter_mut());
        for (field, saved_field) in fields.zip(&saved.fields) {
            field.desc = Some(saved_field.description.clone());
        }
        Ok(signature)
    }

    /// The demos, without DSPy's bookkeeping keys (`augmented`, `dspy_uuid`, `dspy_split`).
    pub fn demos(&self) -> Vec<Values> {
        self.predictor
            .demos
            .iter()
            .map(|demo| {
                demo.iter()
                    .filter(|(key, _)| {
                        !matches!(key.as_str(), "augmented" | "dspy_uuid" | "dspy_split")
                    })
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect()
            })
            .collect()
    }
}
