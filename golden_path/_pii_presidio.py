"""Presidio as a :class:`~golden_path._pii.Detector`: names, places and more, behind an extra.

``pip install 'golden-path[presidio]'`` and ``[pii] engines = ["presidio"]``. Presidio's
analyzer needs a spaCy language model, which the platform installs into the image; its entity
types become lower-case kinds (``PERSON`` -> ``person``, ``LOCATION`` -> ``location``).
"""

from __future__ import annotations

from typing import Any

from golden_path._pii import Finding

__all__ = ["PresidioDetector"]

# Presidio's entities that the built-in rules do not already find, as kinds.
_ENTITIES = {
    "PERSON": "person",
    "LOCATION": "location",
    "NRP": "nrp",
    "MEDICAL_LICENSE": "medical_license",
    "US_PASSPORT": "us_passport",
    "US_DRIVER_LICENSE": "us_driver_license",
    "UK_NHS": "uk_nhs",
    "IP_ADDRESS": "ip_address",
}


class PresidioDetector:
    """Presidio's analyzer for the entities in ``_ENTITIES``."""

    name = "presidio"
    kinds = frozenset(_ENTITIES.values())

    def __init__(self, *, score: float = 0.5, language: str = "en") -> None:
        import importlib

        try:
            analyzer = importlib.import_module("presidio_analyzer")
        except ImportError:
            raise ValueError(
                "presidio-analyzer is not installed: pip install 'golden-path[presidio]'"
            ) from None
        self._engine: Any = analyzer.AnalyzerEngine()
        self._score = score
        self._language = language

    def find(self, text: str, kinds: frozenset[str]) -> list[Finding]:
        """Presidio's results of the wanted kinds, at or above the score."""
        entities = [e for e, k in _ENTITIES.items() if k in kinds]
        results = self._engine.analyze(text=text, entities=entities, language=self._language)
        return [
            Finding(_ENTITIES[r.entity_type], r.start, r.end, "presidio")
            for r in results
            if r.score >= self._score and r.entity_type in _ENTITIES
        ]
