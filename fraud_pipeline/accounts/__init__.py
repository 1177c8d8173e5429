"""Accounts, not only posts: profile, follow, identity and account events as evidence."""
