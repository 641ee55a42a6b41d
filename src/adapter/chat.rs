//! DSPy 3.4.1's `ChatAdapter` prompt, byte for byte: a system message that lists the fields,
//! shows the `[[ ## field ## ]]` layout and states the objective; demos as user/assistant
//! turns; the request with its "Respond with the corresponding output fields..." line.
//! `tests/adapter_parity.rs` compares it with real DSPy for every signature we have.

use serde_json::Value;

use super::pydantic::{annotation_name, constraint_text, json_schema};
use super::python::{json_dumps, splitlines, str_of, strip};
use super::{PromptField, PromptSignature, Values};
use crate::lm::{Message, Role};
use crate::schema::{Document, Type};

/// The first line of the system message's layout section.
const STRUCTURE_INTRO: &str =
    "All interactions will be structured in the following way, with the appropriate values filled in.";
/// Prefix of the user turn of a demo that lacks some fields.
pub(crate) const INCOMPLETE_DEMO_PREFIX: &str =
    "This is an example of the task, though some input or output fields are not supplied.";
/// Value of a missing output in an incomplete demo.
pub(crate) const MISSING_IN_EXAMPLE: &str = "Not supplied for this particular example. ";
/// Value of a missing output in a complete demo (DSPy writes it; it cannot happen there).
pub(crate) const MISSING_IN_HISTORY: &str = "Not supplied for this conversation history message. ";

/// The messages before the request: the system message and the demos.
pub(crate) fn prefix(
    document: &Document,
    signature: &PromptSignature,
    demos: &[Values],
) -> Vec<Message> {
    let system = format!(
        "{}\n{}\n{}",
        field_descriptions(signature),
        field_structure(document, signature),
        task_description(signature)
    );
    let mut messages = vec![Message::new(Role::System, system)];
    format_demos(
        signature,
        demos,
        &mut messages,
        |fields, prefix| user_content(signature, fields, prefix, None),
        |fields, missing| assistant_content(signature, fields, missing),
    );
    messages
}

/// "Your input fields are: ... Your output fields are: ..."
pub(crate) fn field_descriptions(signature: &PromptSignature) -> String {
    format!(
        "Your input fields are:\n{}\nYour output fields are:\n{}",
        describe_fields(&signature.inputs),
        describe_fields(&signature.outputs)
    )
}

/// DSPy's `get_field_description_string`.
fn describe_fields(fields: &[PromptField]) -> String {
    let lines: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let mut line = format!(
                "{}. `{}` ({}): {}",
                index + 1,
                field.name,
                annotation_name(&field.ty),
                field.shown_description()
            );
            if let Some(constraints) = constraint_text(&field.ty) {
                line.push_str("\nConstraints: ");
                line.push_str(&constraints);
            }
            line
        })
        .collect();
    strip(&lines.join("\n")).to_owned()
}

/// The `[[ ## field ## ]]` layout with a type note for each output.
fn field_structure(document: &Document, signature: &PromptSignature) -> String {
    let parts = [
        STRUCTURE_INTRO.to_owned(),
        sections(
            signature
                .inputs
                .iter()
                .map(|f| (f, placeholder(document, f, false))),
        ),
        sections(
            signature
                .outputs
                .iter()
                .map(|f| (f, placeholder(document, f, true))),
        ),
        "[[ ## completed ## ]]\n".to_owned(),
    ];
    strip(&parts.join("\n\n")).to_owned()
}

/// "In adhering to this structure, your objective is: " and the instructions, indented.
pub(crate) fn task_description(signature: &PromptSignature) -> String {
    let instructions = super::python::dedent(&signature.instructions);
    let mut objective = String::new();
    for line in splitlines(&instructions) {
        objective.push_str("\n        ");
        objective.push_str(line);
    }
    format!("In adhering to this structure, your objective is: {objective}")
}

/// DSPy's `translate_field_type`: `{name}` and, for outputs that are not plain text, a note on
/// the form of the value.
pub(crate) fn placeholder(document: &Document, field: &PromptField, output: bool) -> String {
    let note = if !output || field.is_plain_str() {
        String::new()
    } else {
        match &field.ty {
            Type::Boolean => "must be True or False".to_owned(),
            Type::Integer { .. } => "must be a single int value".to_owned(),
            Type::Float { .. } | Type::Probability { .. } => {
                "must be a single float value".to_owned()
            }
            Type::Enum(name) => {
                let values: Vec<&str> = document
                    .enumeration(name)
                    .map(|e| e.variants.iter().map(|v| v.name.as_str()).collect())
                    .unwrap_or_default();
                format!("must be one of: {}", values.join("; "))
            }
            Type::Literals(values) => format!(
                "must exactly match (no extra characters) one of: {}",
                values.join("; ")
            ),
            other => format!(
                "must adhere to the JSON schema: {}",
                json_dumps(&json_schema(document, other))
            ),
        }
    };
    if note.is_empty() {
        format!("{{{}}}", field.name)
    } else {
        format!(
            "{{{}}}        # note: the value you produce {note}",
            field.name
        )
    }
}

/// `[[ ## name ## ]]\nvalue` sections joined by blank lines, stripped.
fn sections<'a>(fields: impl Iterator<Item = (&'a PromptField, String)>) -> String {
    let parts: Vec<String> = fields
        .map(|(field, value)| format!("[[ ## {} ## ]]\n{value}", field.name))
        .collect();
    strip(&parts.join("\n\n")).to_owned()
}

/// DSPy's `format_field_value`: a list given to a `str` field as a numbered list of quoted
/// blobs, other lists and objects as JSON, scalars as Python's `str()`.
pub(crate) fn field_value(field: &PromptField, value: &Value) -> String {
    match value {
        Value::Array(items) if field.is_plain_str() => list_for_text(items),
        Value::Array(_) | Value::Object(_) => json_dumps(value),
        other => str_of(other),
    }
}

fn list_for_text(items: &[Value]) -> String {
    match items {
        [] => "N/A".to_owned(),
        [only] => blob(only),
        _ => items
            .iter()
            .enumerate()
            .map(|(index, item)| format!("[{}] {}", index + 1, blob(item)))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// DSPy's `_format_blob` (`«text»`, or a fenced block for multi-line text).
fn blob(value: &Value) -> String {
    let text = str_of(value);
    if !text.contains('\n') && !text.contains('«') && !text.contains('»') {
        return format!("«{text}»");
    }
    format!("«««\n    {}\n»»»", text.replace('\n', "\n    "))
}

/// A user turn: the inputs present in `values` (in field order), then `requirements`.
pub(crate) fn user_content(
    signature: &PromptSignature,
    values: &Values,
    prefix: &str,
    requirements: Option<&str>,
) -> String {
    let mut parts = vec![prefix.to_owned()];
    for field in &signature.inputs {
        if let Some(value) = values.get(&field.name) {
            parts.push(format!(
                "[[ ## {} ## ]]\n{}",
                field.name,
                field_value(field, value)
            ));
        }
    }
    if let Some(requirements) = requirements {
        parts.push(requirements.to_owned());
    }
    parts.push(String::new());
    strip(&parts.join("\n\n")).to_owned()
}

/// The reminder at the end of the request.
pub(crate) fn output_requirements(signature: &PromptSignature) -> String {
    let fields: Vec<String> = signature
        .outputs
        .iter()
        .map(|field| format!("`[[ ## {} ## ]]`{}", field.name, type_info(field)))
        .collect();
    format!(
        "Respond with the corresponding output fields, starting with the field {}, and then ending with the marker for `[[ ## completed ## ]]`.",
        fields.join(", then ")
    )
}

/// ` (must be formatted as a valid Python T)` for fields that are not plain `str`.
pub(crate) fn type_info(field: &PromptField) -> String {
    if field.is_plain_str() {
        String::new()
    } else {
        format!(
            " (must be formatted as a valid Python {})",
            annotation_name(&field.ty)
        )
    }
}

/// An assistant turn of a demo: every output (or `missing`), then the completed marker.
fn assistant_content(signature: &PromptSignature, values: &Values, missing: &str) -> String {
    let missing = Value::String(missing.to_owned());
    let body = sections(signature.outputs.iter().map(|field| {
        let value = values.get(&field.name).unwrap_or(&missing);
        (field, field_value(field, value))
    }));
    format!("{body}\n\n[[ ## completed ## ]]\n")
}

/// DSPy's `format_demos`: demos that lack a field (or hold `None`) first, with a prefix, if
/// they have at least one input and one output; then the complete ones.
pub(crate) fn format_demos(
    signature: &PromptSignature,
    demos: &[Values],
    messages: &mut Vec<Message>,
    user: impl Fn(&Values, &str) -> String,
    assistant: impl Fn(&Values, &str) -> String,
) {
    let is_complete = |demo: &Values| {
        signature
            .all_fields()
            .all(|f| demo.get(&f.name).is_some_and(|v| !v.is_null()))
    };
    let has_any =
        |demo: &Values, fields: &[PromptField]| fields.iter().any(|f| demo.contains_key(&f.name));
    for demo in demos.iter().filter(|demo| {
        !is_complete(demo) && has_any(demo, &signature.inputs) && has_any(demo, &signature.outputs)
    }) {
        messages.push(Message::new(Role::User, user(demo, INCOMPLETE_DEMO_PREFIX)));
        messages.push(Message::new(
            Role::Assistant,
            assistant(demo, MISSING_IN_EXAMPLE),
        ));
    }
    for demo in demos.iter().filter(|demo| is_complete(demo)) {
        messages.push(Message::new(Role::User, user(demo, "")));
        messages.push(Message::new(
            Role::Assistant,
            assistant(demo, MISSING_IN_HISTORY),
        ));
    }
}
