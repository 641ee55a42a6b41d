# Classify a customer support ticket.

/// How the customer feels.
enum Sentiment { positive, negative, neutral }

/// Where the ticket should go.
enum Team { billing, shipping, technical, account }

/// Route a support ticket to the right team and say how urgent it is.
signature TriageTicket {
    subject: string(max: 200)
    body: string                     "the ticket text as the customer wrote it"
    ->
    team: Team
    sentiment: Sentiment
    urgency: integer(min: 1, max: 5) "1 = whenever, 5 = drop everything"
    confidence: probability
    summary: string(max: 280)        "one tweet-length sentence for the queue"
}

program triage = predict(TriageTicket)
program triage_compared = multi_chain_comparison(TriageTicket)
