"""Real-time fraud and scam detection for Bluesky."""
