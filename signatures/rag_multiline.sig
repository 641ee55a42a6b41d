# The roadmap's RAG signature written over several lines, as in the roadmap
# itself: a line that ends in `->` or `,` continues on the next one.
signature query: :string, documents: list[:string] ->
answer: :string,
sources: list[:string],
confidence: :probability
