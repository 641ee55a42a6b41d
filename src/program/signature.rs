//! The signature each module's predictor actually sends, built the way DSPy 3.4.1 builds it
//! (`Signature.prepend`/`append`, whose field dictionary keeps a name's first position and its
//! last definition).

use crate::adapter::{PromptField, PromptSignature};
use crate::schema::{Module, Signature, Type};

/// Which side of a signature a field is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Input,
    Output,
}

/// The predictor signature of `module` applied to `signature`.
pub fn predictor_signature(module: Module, signature: &Signature) -> PromptSignature {
    let base = PromptSignature::of(signature);
    match module {
        Module::Predict | Module::BestOfN { .. } => base,
        Module::ChainOfThought => with_reasoning(base),
        Module::MultiChainComparison { m } => comparison(base, m),
    }
}

/// `dspy.ChainOfThought`: a `reasoning` output (plain text) before the others.
pub fn with_reasoning(signature: PromptSignature) -> PromptSignature {
    insert(
        signature,
        Side::Output,
        0,
        PromptField::new("reasoning", Type::string(), Some("${reasoning}")),
    )
}

/// `dspy.MultiChainComparison(M=m)`: inputs `reasoning_attempt_1..m` after the others and a
/// `rationale` output before them.
pub fn comparison(signature: PromptSignature, m: u32) -> PromptSignature {
    let mut signature = signature;
    for index in 1..=m {
        let at = signature.inputs.len();
        signature = insert(
            signature,
            Side::Input,
            at,
            PromptField::new(
                &format!("reasoning_attempt_{index}"),
                Type::string(),
                Some("${reasoning attempt}"),
            ),
        );
    }
    insert(
        signature,
        Side::Output,
        0,
        PromptField::new("rationale", Type::string(), Some("${corrected reasoning}")),
    )
}

/// DSPy's `Signature.insert`: the field goes into its side's list at `index`, then both lists
/// become one dictionary, so a name that was already there keeps its first position (inputs
/// before outputs) and takes the later definition, side included.
fn insert(
    signature: PromptSignature,
    side: Side,
    index: usize,
    field: PromptField,
) -> PromptSignature {
    let PromptSignature {
        instructions,
        mut inputs,
        mut outputs,
    } = signature;
    let list = match side {
        Side::Input => &mut inputs,
        Side::Output => &mut outputs,
    };
    list.insert(index.min(list.len()), field);
    let mut merged: Vec<(PromptField, Side)> = Vec::new();
    let sided = inputs
        .into_iter()
        .map(|f| (f, Side::Input))
        .chain(outputs.into_iter().map(|f| (f, Side::Output)));
    for (field, side) in sided {
        match merged
            .iter_mut()
            .find(|(existing, _)| existing.name == field.name)
        {
            Some(slot) => *slot = (field, side),
            None => merged.push((field, side)),
        }
    }
    let (inputs, outputs): (Vec<_>, Vec<_>) =
        merged.into_iter().partition(|(_, s)| *s == Side::Input);
    PromptSignature {
        instructions,
        inputs: inputs.into_iter().map(|(f, _)| f).collect(),
        outputs: outputs.into_iter().map(|(f, _)| f).collect(),
    }
}
