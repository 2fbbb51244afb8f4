"""Phase 0: readiness assessment, pillar scores and maturity level."""
