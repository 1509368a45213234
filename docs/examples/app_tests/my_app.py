"""A tiny app, as a team would write it: it calls golden_path.client() itself."""

import golden_path


def summarise(text: str) -> str:
    """One-line summary of ``text``."""
    response = golden_path.client().models.generate_content(
        model="gemini-2.5-flash", contents=f"Summarise in one line: {text}"
    )
    return (response.text or "").strip()


def summarise_all(texts: list[str]) -> list[str]:
    """Summaries, retrying nothing: failures are the caller's to handle."""
    return [summarise(t) for t in texts]
