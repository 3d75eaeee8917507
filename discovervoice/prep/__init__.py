"""DiscoverVoice prep."""
