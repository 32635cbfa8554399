"""Pure helpers with no Dagster imports: identifiers, dates, diffs."""
