"""Client accounts: agencies and their clients, membership rules, scoping every query to the
user's accounts, and connecting a Facebook Page to an account (onboarding)."""
