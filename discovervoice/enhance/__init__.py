"""DiscoverVoice enhance."""
