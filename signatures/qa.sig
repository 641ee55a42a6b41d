# Question answering, the block form: instructions, field descriptions, and
# two programs over the same signature.

/// Answer questions with short factoid answers.
/// If the question cannot be answered, say so instead of guessing.
signature QA {
    question: string        "the question to answer"
    ->
    answer: string          "often between 1 and 5 words"
    confidence: probability "how sure you are, from 0 to 1"
}

// The plain call: one request to the model.
program qa = predict(QA)

// Think step by step first: adds a `reasoning` output before `answer`.
program qa_with_reasoning = chain_of_thought(QA)
