"""Number helpers shared by rating, routing and the site model: phone numbers
brought to E.164 digits (`bizpbx.numbers.e164`) and the tariff tables'
dialling-prefix notation (`bizpbx.numbers.prefixes`)."""
