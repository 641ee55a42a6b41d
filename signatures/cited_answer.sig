# Retrieval-augmented generation that cites what it used.

/// A cited source.
type Source {
    title: string
    url: string "a link to the page"
}

/// Answer the question using only the passages given. Cite every passage you
/// relied on; if the passages do not contain the answer, say so.
signature CitedAnswer {
    question: string               "the user's question"
    passages: list[string](min: 1) "retrieved passages, most relevant first"
    ->
    answer: string                 "a short answer grounded in the passages"
    sources: list[Source]          "the passages the answer relies on"
    confidence: probability
}

program answer = chain_of_thought(CitedAnswer)

# Three samples; keep the best by a reward, or the first valid one.
program careful_answer = best_of_n(CitedAnswer, n: 3)
