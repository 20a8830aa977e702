"""What every part stands on: settings, extensions, errors, caching, rate limits, geo, languages, headers, health, schemas."""
