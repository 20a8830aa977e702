"""The embeddable tag: its configuration document and its built assets."""
