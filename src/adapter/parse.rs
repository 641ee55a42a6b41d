//! Tolerant, typed parsing of LM replies into a signature's output values.
