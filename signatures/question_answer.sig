# The roadmap's "Simple Q&A" signature, verbatim. It has no name, so it takes
# its name from the file: QuestionAnswer.
signature question: :string -> answer: :string, confidence: :float
