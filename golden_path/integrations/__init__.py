"""Framework adapters: the framework's own objects, wired to golden-path's governed clients.

Each module needs its framework (an extra: ``golden-path[langchain]``, ...) and is imported only
when used. See docs/frameworks.md for the recipes and the traps each adapter closes.
"""
