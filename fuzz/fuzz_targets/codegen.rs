//! Fuzzes the back end: every file that compiles without errors goes through all four code
//! generators, which must not panic on any checked document.

#![no_main]

use std::path::Path;

use dspex::codegen::{self, Source, Target};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|source: &str| {
    let compiled = dspex::compile(source.as_bytes(), Path::new("fuzz_input.sig"));
    if compiled.has_errors() {
        return;
    }
    let origin = Source {
        path: "fuzz_input.sig".to_string(),
        module: "fuzz_input".to_string(),
    };
    for target in [
        Target::Rust,
        Target::TypeScript,
        Target::Python,
        Target::JsonSchema,
    ] {
        codegen::generate(target, &compiled.document, &origin);
    }
});
