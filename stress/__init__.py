"""`make stress`: reliability under load, faults and hostile input (see stress/README.md)."""
