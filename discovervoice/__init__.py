"""DiscoverVoice: a voice-personalisation music studio.

Separate songs into stems, find which singers a voice resembles, learn a voice and sing
any vocal line in it, and score every stage. See README.md and DESIGN.md.

Importing this package is cheap: heavy libraries (torch, transformers, gradio) are
imported lazily by the modules that need them.
"""

__version__ = "0.1.0"
