//! The generated modules, compiled as a library so every public item counts as used and any
//! warning in generated code fails the build.
#![deny(warnings)]

pub mod generated;
