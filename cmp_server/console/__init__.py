"""The console: server-rendered pages for marketers, compliance officers, admins and operators."""
