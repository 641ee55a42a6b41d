# Pull structured contact details out of free text, such as an email signature.

/// A postal address; any part may be missing from the text.
type Address {
    street: string?
    city: string?
    postal_code: string(pattern: "^[0-9A-Z -]{3,10}$")?
    country_code: string(pattern: "^[A-Z]{2}$")? "ISO 3166-1 alpha-2"
}

/// One person mentioned in the text.
type Contact {
    full_name: string
    job_title: string?
    emails: list[string(pattern: "^[^@\s]+@[^@\s]+$")]
    phone: string(pattern: "^\+?[0-9 ()-]{6,20}$")?
    address: Address?
}

/// Extract every person mentioned in the text with their contact details.
/// Copy values exactly as written; leave out anything that is not stated.
signature ExtractContacts {
    text: string
    ->
    contacts: list[Contact](min: 1)
    organizations: list[string](min: 1) "companies and institutions named in the text"
}

program extract = predict(ExtractContacts)
program extract_best = best_of_n(ExtractContacts, n: 3)
