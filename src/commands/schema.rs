//! `dspex schema`: JSON Schema (draft 2020-12) for the inputs and outputs of signatures.

use super::{load_valid, CommandError};
use crate::cli::{ExitStatus, Printer, SchemaArgs};
use crate::codegen::json_schema;

pub fn schema(args: SchemaArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    let Some(file) = load_valid(&args.file, printer)? else {
        return Ok(ExitStatus::Failure);
    };
    let document = &file.compiled.document;
    let value = match &args.signature {
        Some(name) => {
            let Some(signature) = document.signature(name) else {
                let names: Vec<String> = document
                    .signatures
                    .iter()
                    .map(|s| format!("`{}`", s.name))
                    .collect();
                return Err(CommandError::usage(
                    format!("`{}` has no signature `{name}`", file.path),
                    if names.is_empty() {
                        "this file declares no signatures".to_string()
                    } else {
                        format!("its signatures are {}", names.join(", "))
                    },
                ));
            };
            json_schema::signature_schemas(document, signature, args.strict)
        }
        None => json_schema::document_schemas(document, args.strict),
    };
    let value = match value {
        Ok(value) => value,
        Err(error) => {
            printer.message(&format!("error: {error}\n  help: {}\n", error.help()));
            return Ok(ExitStatus::Failure);
        }
    };
    let text = serde_json::to_string_pretty(&value).unwrap_or_default() + "\n";
    printer.data(&text).map_err(|source| CommandError::Write {
        path: "stdout".to_string(),
        source,
    })?;
    Ok(ExitStatus::Success)
}
