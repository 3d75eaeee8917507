"""DiscoverVoice separation."""
