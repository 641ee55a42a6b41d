//! `dspex init`: a commented starter `dspex.yaml` and an example signature, so `dspex run`
//! has something to run and every setting is documented where it is set.

use super::{display, CommandError};
use crate::cli::{ExitStatus, InitArgs, Printer};
use crate::config::{CONFIG_FILE, STARTER};

/// The example signature `dspex init` writes.
const EXAMPLE_SIG: &str = r#"# An example signature: `dspex run qa.sig --input question="..."`.

/// Answer questions with short factoid answers.
signature QA {
    question: string        "the question to answer"
    ->
    answer: string          "often between 1 and 5 words"
    confidence: probability "how sure you are, from 0 to 1"
}

// The plain call: one request to the model.
program qa = predict(QA)

// Think step by step first: adds a `reasoning` output before `answer`.
program qa_with_reasoning = chain_of_thought(QA)
"#;

pub fn init(args: InitArgs, printer: &Printer) -> Result<ExitStatus, CommandError> {
    std::fs::create_dir_all(&args.directory).map_err(|source| CommandError::Write {
        path: display(&args.directory),
        source,
    })?;
    let files = [(CONFIG_FILE, STARTER), ("qa.sig", EXAMPLE_SIG)];
    let existing: Vec<String> = files
        .iter()
        .map(|(name, _)| args.directory.join(name))
        .filter(|path| path.exists())
        .map(|path| format!("`{}`", display(&path)))
        .collect();
    if !existing.is_empty() && !args.force {
        return Err(CommandError::usage(
            format!(
                "{} already exist{}",
                existing.join(" and "),
                if existing.len() == 1 { "s" } else { "" }
            ),
            "pass `--force` to overwrite, or run `dspex init` in another directory",
        ));
    }
    for (name, contents) in files {
        let path = args.directory.join(name);
        std::fs::write(&path, contents).map_err(|source| CommandError::Write {
            path: display(&path),
            source,
        })?;
        printer.message(&format!("wrote {}\n", display(&path)));
    }
    printer.message(
        "next: set the key variable named in dspex.yaml (or pick another model there), then\n  \
         dspex run qa.sig --input question=\"What is the capital of France?\"\n",
    );
    Ok(ExitStatus::Success)
}
