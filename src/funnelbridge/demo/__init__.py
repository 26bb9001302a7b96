"""The demo company: a seeded simulator of a B2B market that drives the real engine through its service API."""
