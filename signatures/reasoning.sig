# The roadmap's "Multi-input reasoning" signature, verbatim, on one line. Its
# name comes from the file: Reasoning.
signature problem: :string, context: :string -> reasoning: :reasoning_chain, answer: :string, confidence: :probability
