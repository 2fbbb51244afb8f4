"""Explainability tiers: which tier applies and whether the report holds what the tier requires."""
from __future__ import annotations

from typing import Any

from kit import content
from kit.errors import ConfigError


def resolve_tier(configured: str | None, use_cases: dict[str, Any] | None, illustrative: bool = False,
                 stakes: str | None = None) -> tuple[str, str]:
    """The tier and where it came from: the config (tier, else training.stakes), the pilot (phase 1), or the default.

    An ``illustrative`` pilot (from the bundled demo portfolio while the data is the user's) never sets it.
    """
    rules = content.load("governance")
    if configured:
        return configured, "config (explainability.tier)"
    if stakes:
        return rules["stakes_to_tier"][str(stakes).lower()], f"config (training.stakes: {stakes})"
    if illustrative:
        return rules["default_tier"], ("governance default (the pilot is from the bundled illustrative portfolio; "
                                       "its stakes are not used on your data: set explainability.tier)")
    pilot = (use_cases or {}).get("pilot") or {}
    if pilot.get("explainability_tier"):
        tier = str(pilot["explainability_tier"]).lower()
    elif pilot.get("stakes"):
        tier = rules["stakes_to_tier"].get(str(pilot["stakes"]).lower(), "")
    else:
        return rules["default_tier"], "governance default (no pilot tier from phase 1)"
    if tier not in rules["tiers"]:
        raise ConfigError(
            f"use_cases pilot {pilot.get('name')!r}: explainability tier {tier!r} is not one of "
            f"{list(rules['tiers'])}; fix the pilot's stakes or set explainability.tier"
        )
    return tier, f"pilot {pilot.get('name', '')!s} (phase 1)".replace("  ", " ")


def tier_requirements(tier: str) -> list[dict[str, str]]:
    """What the tier requires, each with its description."""
    rules = content.load("governance")
    return [{"key": key, "what": rules["requirements"][key]} for key in rules["tiers"][tier]["requires"]]


def tier_gate(tier: str, produced: dict[str, bool]) -> dict[str, Any]:
    """Check every requirement of the tier against what the phase produced; missing ones fail the gate."""
    required = tier_requirements(tier)
    checks = [{**req, "met": bool(produced.get(req["key"], False))} for req in required]
    missing = [c["key"] for c in checks if not c["met"]]
    return {
        "tier": tier,
        "checks": checks,
        "missing": missing,
        "status": "passed" if not missing else "failed",
    }
