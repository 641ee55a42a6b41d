# The roadmap's multi-input reasoning signature over several lines, indented
# the way most people would write it.
signature problem: :string, context: :string ->
    reasoning: :reasoning_chain,
    answer: :string,
    confidence: :probability
