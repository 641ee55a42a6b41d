//! Link settings for the `dspex` binaries (the library is unaffected).
//!
//! A position-independent executable makes the dynamic loader patch every pointer in the
//! binary's data at start (31,000 relocations, with llama.cpp linked in), and eager binding
//! resolves every imported symbol before `main`; a `dspex run` against an HTTP model uses
//! few of either. Linking the binaries as fixed-address executables with lazy binding cut
//! `dspex --version` from 4.9 to 4.3 million instructions (callgrind) and the first answer's
//! peak memory by 1.8 MB (README, "Performance").

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
        println!("cargo:rustc-link-arg-bins=-Wl,-z,lazy");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
