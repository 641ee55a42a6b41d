//! DSPy 3.4.1's `JSONAdapter` prompt: the chat adapter's field list and objective, with the
//! outputs shown (and demos answered) as a JSON object.

use serde_json::Value;

use super::chat::{
    field_descriptions, format_demos, placeholder, task_description, type_info, user_content,
};
use super::python::strip;
use super::{PromptSignature, Values};
use crate::lm::{Message, Role};
use crate::schema::Document;

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

fn field_structure(document: &Document, signature: &PromptSignature) -> String {
    let inputs: Vec<String> = signature
        .inputs
        .iter()
        .map(|field| {
            format!(
                "[[ ## {} ## ]]\n{}",
                field.name,
                placeholder(document, field, false)
            )
        })
        .collect();
    let outputs: serde_json::Map<String, Value> = signature
        .outputs
        .iter()
        .map(|field| {
            (
                field.name.clone(),
                Value::String(placeholder(document, field, true)),
            )
        })
        .collect();
    let parts = [
        "All interactions will be structured in the following way, with the appropriate values filled in.".to_owned(),
        "Inputs will have the following structure:".to_owned(),
        strip(&inputs.join("\n\n")).to_owned(),
        "Outputs will be a JSON object with the following fields.".to_owned(),
        json_dumps_indented(&Value::Object(outputs)),
    ];
    strip(&parts.join("\n\n")).to_owned()
}

pub(crate) fn output_requirements(signature: &PromptSignature) -> String {
    let fields: Vec<String> = signature
        .outputs
        .iter()
        .map(|field| format!("`{}`{}", field.name, type_info(field)))
        .collect();
    format!(
        "Respond with a JSON object in the following order of fields: {}.",
        fields.join(", then ")
    )
}

fn assistant_content(signature: &PromptSignature, values: &Values, missing: &str) -> String {
    let outputs: serde_json::Map<String, Value> = signature
        .outputs
        .iter()
        .map(|field| {
            let value = values
                .get(&field.name)
                .cloned()
                .unwrap_or_else(|| Value::String(missing.to_owned()));
            (field.name.clone(), value)
        })
        .collect();
    json_dumps_indented(&Value::Object(outputs))
}

/// `json.dumps(value, indent=2, ensure_ascii=False)`.
fn json_dumps_indented(value: &Value) -> String {
    let mut out = String::new();
    write_indented(&mut out, value, 0);
    out
}

fn write_indented(out: &mut String, value: &Value, depth: usize) {
    let pad = |depth: usize| "  ".repeat(depth);
    match value {
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.push_str(&pad(depth + 1));
                write_indented(out, item, depth + 1);
            }
            out.push('\n');
            out.push_str(&pad(depth));
            out.push(']');
        }
        Value::Object(entries) if !entries.is_empty() => {
            out.push('{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push('\n');
                out.push_str(&pad(depth + 1));
                out.push_str(&super::python::json_dumps(&Value::String(key.clone())));
                out.push_str(": ");
                write_indented(out, item, depth + 1);
            }
            out.push('\n');
            out.push_str(&pad(depth));
            out.push('}');
        }
        other => out.push_str(&super::python::json_dumps(other)),
    }
}
