//! Adapters turn a signature, demos and inputs into chat messages, and an LM's reply back into
//! typed outputs. `chat` reproduces DSPy 3.4.1's `ChatAdapter` byte for byte, `json` its
//! `JSONAdapter`; `parse` is the tolerant, typed output parser both share.

pub mod parse;
