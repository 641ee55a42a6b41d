//! Adapters turn a signature, demos and inputs into chat messages, and an LM's reply back into
//! typed outputs. `chat` reproduces DSPy 3.4.1's `ChatAdapter` byte for byte, `json` its
//! `JSONAdapter`; `parse` is the tolerant, typed output parser both share.

pub mod chat;
pub mod grammar;
pub mod json;
pub mod parse;
pub mod pydantic;
pub mod python;

use serde_json::{Map, Value};

use crate::lm::Message;
use crate::schema::{Document, Field, Signature, Type};

/// Field values by name, in field order: inputs, outputs or a demo (both).
pub type Values = Map<String, Value>;

/// Which adapter formats the prompt and parses the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    /// `[[ ## field ## ]]` sections (DSPy's default `ChatAdapter`).
    Chat,
    /// A JSON object, with structured outputs where the provider has them (`JSONAdapter`).
    Json,
}

impl AdapterKind {
    pub fn name(self) -> &'static str {
        match self {
            AdapterKind::Chat => "chat",
            AdapterKind::Json => "json",
        }
    }
}

/// One field of a predictor's signature as DSPy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptField {
    pub name: String,
    pub ty: Type,
    /// DSPy's `desc`; `None` is its default `${name}`, which prompts leave out.
    pub desc: Option<String>,
}

impl PromptField {
    pub fn from_field(field: &Field) -> PromptField {
        PromptField {
            name: field.name.clone(),
            ty: field.ty.clone(),
            desc: field.description.clone(),
        }
    }

    /// A field with an explicit DSPy `desc` (the ones modules add).
    pub fn new(name: &str, ty: Type, desc: Option<&str>) -> PromptField {
        PromptField {
            name: name.to_owned(),
            ty,
            desc: desc.map(str::to_owned),
        }
    }

    /// The description text a prompt shows: empty for DSPy's `${name}` default.
    fn shown_description(&self) -> &str {
        match &self.desc {
            Some(desc) if *desc != format!("${{{}}}", self.name) => desc,
            _ => "",
        }
    }

    /// Whether the Python annotation is exactly `str`.
    fn is_plain_str(&self) -> bool {
        matches!(self.ty, Type::String { .. } | Type::ReasoningChain)
    }

    /// A schema field with this name, type and description (for the output parser).
    pub fn to_field(&self) -> Field {
        Field {
            name: self.name.clone(),
            ty: self.ty.clone(),
            description: self.desc.clone(),
        }
    }
}

/// The signature of one predictor: what a module actually sends (a chain of thought adds
/// `reasoning`, a comparison adds attempts), with instructions already resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptSignature {
    /// `inspect.cleandoc` of the docstring, an artifact's instructions, or DSPy's default.
    pub instructions: String,
    pub inputs: Vec<PromptField>,
    pub outputs: Vec<PromptField>,
}

impl PromptSignature {
    /// The signature as `dspy.Predict` sees the generated class.
    pub fn of(signature: &Signature) -> PromptSignature {
        let instructions = match &signature.instructions {
            Some(docs) => python::cleandoc(docs),
            None => default_instructions(signature),
        };
        PromptSignature {
            instructions,
            inputs: signature
                .inputs
                .iter()
                .map(PromptField::from_field)
                .collect(),
            outputs: signature
                .outputs
                .iter()
                .map(PromptField::from_field)
                .collect(),
        }
    }

    /// The same fields with other instructions (DSPy's `with_instructions`, which cleans the
    /// text as a docstring).
    pub fn with_instructions(self, instructions: &str) -> PromptSignature {
        PromptSignature {
            instructions: python::cleandoc(instructions),
            ..self
        }
    }

    /// The output fields as schema fields, for the parser.
    pub fn output_fields(&self) -> Vec<Field> {
        self.outputs.iter().map(PromptField::to_field).collect()
    }

    fn all_fields(&self) -> impl Iterator<Item = &PromptField> {
        self.inputs.iter().chain(&self.outputs)
    }
}

/// DSPy's default instructions for a signature without a docstring.
fn default_instructions(signature: &Signature) -> String {
    let names = |fields: &[Field]| {
        fields
            .iter()
            .map(|f| format!("`{}`", f.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "Given the fields {}, produce the fields {}.",
        names(&signature.inputs),
        names(&signature.outputs)
    )
}

/// Formats the messages of one LM call: system message, demos, then the request.
pub fn format(
    kind: AdapterKind,
    document: &Document,
    signature: &PromptSignature,
    demos: &[Values],
    inputs: &Values,
) -> Vec<Message> {
    Template::new(kind, document, signature, demos).messages(signature, inputs)
}

/// What every call of one predictor shares under one adapter, whatever the inputs: the system
/// message, the demos and the request's closing line. Built once, it leaves only the inputs to
/// format per call ([`Template::messages`]), the same bytes as [`format`].
#[derive(Debug, Clone)]
pub struct Template {
    /// The system message and the demos.
    prefix: Vec<Message>,
    /// "Respond with ..." at the end of the request.
    requirements: String,
}

impl Template {
    pub fn new(
        kind: AdapterKind,
        document: &Document,
        signature: &PromptSignature,
        demos: &[Values],
    ) -> Template {
        let (prefix, requirements) = match kind {
            AdapterKind::Chat => (
                chat::prefix(document, signature, demos),
                chat::output_requirements(signature),
            ),
            AdapterKind::Json => (
                json::prefix(document, signature, demos),
                json::output_requirements(signature),
            ),
        };
        Template {
            prefix,
            requirements,
        }
    }

    /// The messages of one call with `inputs`; `signature` is the one the template was made for.
    pub fn messages(&self, signature: &PromptSignature, inputs: &Values) -> Vec<Message> {
        let mut messages = Vec::with_capacity(self.prefix.len() + 1);
        messages.extend_from_slice(&self.prefix);
        messages.push(Message::new(
            crate::lm::Role::User,
            chat::user_content(signature, inputs, "", Some(&self.requirements)),
        ));
        messages
    }
}
