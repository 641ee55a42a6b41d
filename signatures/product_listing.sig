# Turn a seller's free-form listing into a catalogue entry. This file shows the
# less common types: map[T], json, literal unions, optionals, inner constraints,
# non-ASCII field names, and keywords used as field names.

/// The person who sells the item, as the listing names them.
type Seller {
    prénom: string  // first name, as written
    nom: string?
    type: "individual" | "business"  // `type` is only a keyword at the start of an item
}

/// Read the listing and fill in the catalogue entry. Keep the seller's wording
/// for the title; translate nothing.
signature CatalogueEntry {
    listing: string
    locale: "fr-FR" | "de-DE" | "en-GB" "the language of the listing"
    ->
    title: string(min: 3, max: 120)
    seller: Seller
    condition: "new" | "like_new" | "used" | "for_parts"
    tags: list[string(max: 40)](max: 5) "short, lowercase search tags"
    price_cents: integer(min: 0)?  # absent when the listing has no price
    attributes: map[string](max: 20)    "e.g. colour, size, material"
    stock_by_store: map[integer(min: 0)]
    raw_specs: json                     "any technical data table, as JSON"
}

program catalogue = predict(CatalogueEntry)
