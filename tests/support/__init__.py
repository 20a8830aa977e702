"""Helpers the tests, the stress suite and the benchmarks share: real HTTP, a real PostgreSQL
server, races, worker processes, socket activation, syscall tracing."""
