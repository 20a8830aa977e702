"""Real components, really started, shared by the tests, the benchmarks and the stress
suite: a throw-away PostgreSQL server (``postgres``) and the production server under
gunicorn (``server``). Neither ``tests`` nor ``bench`` is imported from here."""
