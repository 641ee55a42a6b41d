signature QA {
    question: string
    ->
    answer: string
}
