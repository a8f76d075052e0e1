"""Readable names for runs started without one, in MLflow's adjective-animal-NNN form."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair",
    "fierce", "gentle", "glad", "golden", "grand", "honest", "humble", "keen", "kind", "lively",
    "lucky", "merry", "mighty", "nimble", "noble", "polite", "proud", "quick", "quiet", "rapid",
    "rare", "silent", "sleek", "smart", "steady", "sunny", "swift", "tidy", "vivid", "witty",
)
_ANIMALS = (
    "ant", "bat", "bear", "bee", "bison", "boar", "carp", "cat", "crab", "crane", "crow", "deer",
    "dove", "eel", "elk", "finch", "fox", "frog", "gnu", "goat", "hare", "hawk", "heron", "ibis",
    "jay", "koala", "lark", "lion", "lynx", "mole", "moth", "newt", "otter", "owl", "panda",
    "seal", "shrew", "slug", "swan", "toad", "trout", "vole", "wasp", "whale", "wolf", "wren",
)


def generate() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_ANIMALS)}-{random.randint(0, 999)}"
