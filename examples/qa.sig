/// Answer the question in a few words.
signature QA {
    question: string
    ->
    answer: string
}
