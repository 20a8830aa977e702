"""Who is calling and what they may do: users, sessions and tokens, workspaces and roles, the audit trail."""
