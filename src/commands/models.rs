//! `dspex models`: list the known and installed local models, pull one (verifying its SHA-256),
//! print where one is installed.

use super::{display, CommandError};
use crate::cli::{ExitStatus, ModelsArgs, ModelsCommand, ModelsPullArgs, Printer};
use crate::models::{
    format_size, known_model, Listing, Model, ModelCache, ModelsError, PullOptions,
};

pub fn models(args: ModelsArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    let outcome = match args.command {
        ModelsCommand::List { json } => list(json, printer),
        ModelsCommand::Pull(args) => pull(&args, printer),
        ModelsCommand::Path { name } => path(&name, printer),
    };
    match outcome {
        Ok(status) => Ok(status),
        // A bad request is a usage error (exit 2); a pull that failed is exit 1.
        Err(Failure::Models(error)) if error.is_usage() => Err(CommandError::Usage {
            message: error.to_string(),
            help: error.help(),
        }),
        Err(Failure::Models(error)) => {
            let mut text = format!("error: {error}\n");
            if let Some(help) = error.help() {
                text.push_str(&format!("  help: {help}\n"));
            }
            printer.message(&text);
            Ok(ExitStatus::Failure)
        }
        Err(Failure::Command(error)) => Err(error),
    }
}

/// Why a subcommand stopped.
enum Failure {
    Models(ModelsError),
    Command(CommandError),
}

impl From<ModelsError> for Failure {
    fn from(error: ModelsError) -> Self {
        Failure::Models(error)
    }
}

fn list(json: bool, printer: &Printer) -> Result<ExitStatus, Failure> {
    let cache = ModelCache::open()?;
    let listings = cache.list()?;
    let text = if json {
        let value = serde_json::json!({
            "directory": cache.directory(),
            "models": listings,
        });
        format!("{value:#}\n")
    } else {
        printer.message(&format!(
            "models directory: {}\n",
            display(cache.directory())
        ));
        table(&listings)
    };
    printer.data(&text).map_err(|source| {
        Failure::Command(CommandError::Write {
            path: "stdout".to_owned(),
            source,
        })
    })?;
    Ok(ExitStatus::Success)
}

/// The listing as aligned columns under a header.
fn table(listings: &[Listing]) -> String {
    let rows: Vec<[String; 5]> = listings
        .iter()
        .map(|listing| {
            [
                listing.name.clone(),
                format_size(listing.size),
                listing.license.clone().unwrap_or_else(|| "-".to_owned()),
                if listing.installed { "yes" } else { "no" }.to_owned(),
                listing
                    .description
                    .clone()
                    .unwrap_or_else(|| format!("installed file `{}`", listing.file)),
            ]
        })
        .collect();
    let header = ["NAME", "SIZE", "LICENSE", "INSTALLED", "DESCRIPTION"].map(str::to_owned);
    let mut widths = [0; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

fn pull(args: &ModelsPullArgs, printer: &Printer) -> Result<ExitStatus, Failure> {
    let cache = ModelCache::open()?;
    let model = match (&args.url, known_model(&args.name)) {
        (Some(url), _) => Model::from_url(&args.name, url, args.sha256.as_deref())?,
        (None, Some(known)) => Model::known(known),
        (None, None) => {
            if let Some(path) = cache.installed(&args.name) {
                printer.message(&format!(
                    "`{}` is installed at {} (from a URL: pass `--url` and `--sha256` to download it again)\n",
                    args.name,
                    display(&path)
                ));
                return Ok(ExitStatus::Success);
            }
            return Err(cache.unknown(&args.name).into());
        }
    };
    let options = PullOptions {
        progress: !args.no_progress,
        force: args.force,
        report: true,
        python: None,
    };
    let pulled = cache.pull(&model, &options)?;
    let what = format!(
        "`{}` ({}, sha256 verified)",
        model.name,
        format_size(pulled.size)
    );
    printer.message(&match pulled.downloaded_from {
        Some(_) => format!("installed {what} at {}\n", display(&pulled.path)),
        None => format!("{what} is already installed at {}\n", display(&pulled.path)),
    });
    Ok(ExitStatus::Success)
}

fn path(name: &str, printer: &Printer) -> Result<ExitStatus, Failure> {
    let cache = ModelCache::open()?;
    let Some(path) = cache.installed(name) else {
        return Err(match known_model(name) {
            Some(known) => ModelsError::NotInstalled {
                name: known.name.to_owned(),
            },
            None => cache.unknown(name),
        }
        .into());
    };
    printer
        .data(&format!("{}\n", path.display()))
        .map_err(|source| {
            Failure::Command(CommandError::Write {
                path: "stdout".to_owned(),
                source,
            })
        })?;
    Ok(ExitStatus::Success)
}
