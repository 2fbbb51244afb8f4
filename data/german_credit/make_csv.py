"""Derive german_credit.csv (header row, decoded categories) from UCI's original german.data.

Column names and code meanings follow german.doc (Attribute 1 ... Attribute 20, then the
class). The class becomes `credit_risk` with values `good` (1) and `bad` (2). The script
checks that every code it maps is documented in german.doc and that every code in the data is
mapped, so a wrong table fails loudly. Run from anywhere:

    python data/german_credit/make_csv.py
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent

# (column name, code -> meaning) in german.doc's attribute order; None = numerical attribute.
ATTRIBUTES: list[tuple[str, dict[str, str] | None]] = [
    ("checking_account", {"A11": "< 0 DM", "A12": "0 to < 200 DM", "A13": ">= 200 DM or salary assigned 1+ year",
                          "A14": "no checking account"}),
    ("duration_months", None),
    ("credit_history", {"A30": "no credits taken or all paid back duly", "A31": "all credits at this bank paid back duly",
                        "A32": "existing credits paid back duly till now", "A33": "delay in paying off in the past",
                        "A34": "critical account or other credits elsewhere"}),
    ("purpose", {"A40": "car (new)", "A41": "car (used)", "A42": "furniture/equipment", "A43": "radio/television",
                 "A44": "domestic appliances", "A45": "repairs", "A46": "education", "A47": "vacation",
                 "A48": "retraining", "A49": "business", "A410": "others"}),
    ("credit_amount", None),
    ("savings", {"A61": "< 100 DM", "A62": "100 to < 500 DM", "A63": "500 to < 1000 DM", "A64": ">= 1000 DM",
                 "A65": "unknown or no savings account"}),
    ("employment_since", {"A71": "unemployed", "A72": "< 1 year", "A73": "1 to < 4 years", "A74": "4 to < 7 years",
                          "A75": ">= 7 years"}),
    ("installment_rate_pct", None),
    ("personal_status_sex", {"A91": "male: divorced/separated", "A92": "female: divorced/separated/married",
                             "A93": "male: single", "A94": "male: married/widowed", "A95": "female: single"}),
    ("other_debtors", {"A101": "none", "A102": "co-applicant", "A103": "guarantor"}),
    ("residence_since", None),
    ("property", {"A121": "real estate", "A122": "building society savings or life insurance",
                  "A123": "car or other", "A124": "unknown or no property"}),
    ("age", None),
    ("other_installment_plans", {"A141": "bank", "A142": "stores", "A143": "none"}),
    ("housing", {"A151": "rent", "A152": "own", "A153": "for free"}),
    ("existing_credits", None),
    ("job", {"A171": "unemployed or unskilled non-resident", "A172": "unskilled resident",
             "A173": "skilled employee or official", "A174": "management, self-employed or highly qualified"}),
    ("people_liable", None),
    ("telephone", {"A191": "none", "A192": "yes, registered"}),
    ("foreign_worker", {"A201": "yes", "A202": "no"}),
]
CLASS = ("credit_risk", {1: "good", 2: "bad"})


def decode(raw: pd.DataFrame) -> pd.DataFrame:
    """Name the 21 columns and replace every code with its meaning; unknown codes are errors."""
    names = [name for name, _ in ATTRIBUTES] + [CLASS[0]]
    frame = raw.set_axis(names, axis=1)
    for name, codes in [*ATTRIBUTES, CLASS]:
        if codes is None:
            continue
        decoded = frame[name].map(codes)
        unknown = sorted(set(frame.loc[decoded.isna(), name].astype(str)))
        if unknown:
            raise ValueError(f"column {name}: codes {unknown} are not in the mapping; check german.doc")
        frame[name] = decoded
    return frame


def check_documented(doc: str) -> None:
    """Every code in the mapping appears in german.doc."""
    missing = [c for _, codes in ATTRIBUTES if codes for c in codes if f"{c} :" not in doc]
    if missing:
        raise ValueError(f"codes {missing} are not documented in german.doc")


def main() -> Path:
    """Write german_credit.csv next to this script and return its path."""
    check_documented((HERE / "german.doc").read_text(encoding="latin-1"))
    raw = pd.read_csv(HERE / "german.data", sep=" ", header=None)
    out = HERE / "german_credit.csv"
    decode(raw).to_csv(out, index=False, lineterminator="\n")
    return out


if __name__ == "__main__":
    print(main())
