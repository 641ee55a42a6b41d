//! `dspex codegen`: typed code (Rust, TypeScript, Python/DSPy) or JSON Schema from `.sig` files.

use std::collections::BTreeMap;

use heck::ToSnakeCase;

use super::{display, load_valid, sig_files, CommandError};
use crate::cli::{CodegenArgs, ExitStatus, Printer, TargetArg};
use crate::codegen::{self, Source, Target};

pub fn codegen(args: CodegenArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    let target = match args.target {
        TargetArg::Rust => Target::Rust,
        TargetArg::Typescript => Target::TypeScript,
        TargetArg::Python => Target::Python,
        TargetArg::JsonSchema => Target::JsonSchema,
    };
    let files = sig_files(&args.files)?;
    if files.is_empty() {
        return Err(CommandError::usage(
            "no `.sig` files found",
            "name `.sig` files or directories that contain them",
        ));
    }
    if args.out_dir.is_none() && files.len() > 1 {
        return Err(CommandError::usage(
            format!("{} files to generate but no output directory", files.len()),
            "pass `-o DIR` to write one file per input",
        ));
    }
    // Generate everything first: nothing is written when any input has errors.
    let mut generated = BTreeMap::new();
    let mut failed = false;
    for path in &files {
        let Some(file) = load_valid(path, printer)? else {
            failed = true;
            continue;
        };
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let source = Source {
            path: display(path),
            module: module_name(&stem),
        };
        let output = codegen::generate(target, &file.compiled.document, &source);
        if let Some(previous) =
            generated.insert(output.file_name.clone(), (source.path.clone(), output))
        {
            return Err(CommandError::usage(
                format!(
                    "`{}` and `{}` would both generate `{}`",
                    previous.0, source.path, previous.1.file_name
                ),
                "rename one of the files or generate them into different directories",
            ));
        }
    }
    if failed {
        return Ok(ExitStatus::Failure);
    }
    match &args.out_dir {
        None => {
            for (_, output) in generated.values() {
                printer
                    .data(&output.contents)
                    .map_err(|source| CommandError::Write {
                        path: "stdout".to_string(),
                        source,
                    })?;
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| CommandError::Write {
                path: display(dir),
                source,
            })?;
            for (_, output) in generated.values() {
                let path = dir.join(&output.file_name);
                std::fs::write(&path, &output.contents).map_err(|source| CommandError::Write {
                    path: display(&path),
                    source,
                })?;
                printer.message(&format!("wrote {}\n", display(&path)));
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// A file stem as a module name every target accepts: `summarize-article.v2` ->
/// `summarize_article_v2`; a leading digit gets a `sig_` prefix.
fn module_name(stem: &str) -> String {
    let name = stem.replace(['.', '-', ' '], "_").to_snake_case();
    if name.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        format!("sig_{name}")
    } else {
        name
    }
}
