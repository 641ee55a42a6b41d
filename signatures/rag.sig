# The roadmap's "Complex RAG" signature, verbatim, on one line. Its name comes
# from the file: Rag.
signature query: :string, documents: list[:string] -> answer: :string, sources: list[:string], confidence: :probability
