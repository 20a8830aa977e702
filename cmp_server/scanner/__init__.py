"""The site scanner: a sandboxed Chromium, the guard proxy, the report, scans kept per site."""
