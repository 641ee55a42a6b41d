# Multi-input reasoning: check a claim against evidence and a policy.

enum Verdict { supported, refuted, not_enough_info }

/// Decide whether the evidence supports the claim. Follow the policy for what
/// counts as evidence; quote the sentences you base the verdict on.
signature VerifyClaim {
    claim: string                "a single factual statement"
    evidence: list[string]       "passages that may or may not bear on the claim"
    policy: string               "what counts as sufficient evidence"
    as_of_year: integer(min: 1900)
    ->
    verdict: Verdict
    quotes: list[string](max: 3) "sentences from the evidence, copied exactly"
    confidence: probability
}

program verify = chain_of_thought(VerifyClaim)
program verify_compared = multi_chain_comparison(VerifyClaim, m: 5)
program verify_best = best_of_n(VerifyClaim, n: 3)
