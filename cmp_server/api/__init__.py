"""The REST API, one blueprint per audience (public, admin, compliance), its OpenAPI docs and the hot path."""
