"""embedsearch: nearest-neighbour search in embedding spaces.

Every space the tool works with is a lookup table keyed by something a person can name
(a function, a movie, a word); see docs/ARCHITECTURE.md for how the pieces fit.
"""

__version__ = "0.1.0"
