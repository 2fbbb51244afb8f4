"""Phase 0: readiness assessment, pillar scores and maturity level.

Modules (import them directly; this package imports nothing so config loading stays light):
``config`` (the ``readiness:`` section), ``validate`` (id and value checks at config load),
``content`` (the YAML frameworks as tables), ``scoring`` (pillar scores, red-flag cap, blockers),
``maturity`` (level from capabilities and pillars), ``team``, ``roadmap``, ``evidence`` (dataset
findings), ``assess`` (the whole assessment and its artifact), ``display`` (figures, tables,
Markdown), ``widgets`` (interactive form, only when interactive) and ``bench`` (timings).
"""
