"""Phase 3: SHAP explanations, fairness gates, review queue and model card."""
