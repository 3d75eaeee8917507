"""DiscoverVoice eval."""
