"""Phase 2: data contract, model training, tracking and the gated registry."""
