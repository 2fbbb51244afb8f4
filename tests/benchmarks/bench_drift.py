"""Benchmark: kit drift on 500k reference + 500k current rows (20 numeric, 5 categorical columns).

Measures what a monitoring run does: profile the reference once (sort every numeric column,
fix the bins), then the drift table of each batch (sort its columns, merge, PSI, KS,
Wasserstein, chi-square), and reports both parts and their sum. Every figure is the median
of ``--repeats`` runs, taken round-robin so machine load hits every contender alike. Compares with
  1. one sort pass over every numeric column (reference and current), the floor: the kit
     (profile + batch, one thread) must be within 3x;
  2. a plain numpy/scipy version (np.quantile + np.histogram for PSI, scipy ks_2samp and
     wasserstein_distance, value_counts + chi2_contingency);
  3. Evidently's data drift report (DataDriftPreset), run in its own virtual environment because
     Evidently 0.7.23 does not import with pandas 3. Create it once with:
         python3 -m venv /tmp/evidently-venv
         /tmp/evidently-venv/bin/pip install "evidently==0.7.23" "pandas<3"
     The Evidently part is skipped when that venv does not exist. Kit (profile + batch, thread pool) must
     be >= 30x faster.
Evidently runs in a long-lived subprocess, alternating report by report with a kit run
(profile + batch), so both see the same machine load; the ratio uses those paired medians.
Before timing, the kit's KS and Wasserstein on two columns are checked against scipy's.

Run: .venv/bin/python tests/benchmarks/bench_drift.py [--rows 500000] [--repeats 5] [--evidently-repeats 3]
Exit status 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

EVIDENTLY_PY = Path("/tmp/evidently-venv/bin/python")
N_NUMERIC, N_CATEGORICAL = 20, 5

MAKE_DATA = textwrap.dedent('''
    import numpy as np, pandas as pd
    def make(rows, seed, shift):
        rng = np.random.default_rng(seed)
        cols = {f"num_{i}": rng.normal(shift * (i % 3), 1 + 0.1 * i, rows) for i in range(20)}
        cats = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta"])
        p = np.array([0.3, 0.25, 0.2, 0.15, 0.07, 0.03])
        for j in range(5):
            q = np.roll(p, j if shift else 0)
            cols[f"cat_{j}"] = pd.Categorical(cats[rng.choice(6, rows, p=q / q.sum())], categories=cats)
        return pd.DataFrame(cols)
''')
exec(MAKE_DATA)  # defines make(rows, seed, shift), shared verbatim with the Evidently subprocess


def median_times(contenders: dict, repeats: int) -> dict[str, float]:
    """Median wall time (seconds) of each contender, run round-robin ``repeats`` times."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def kit_drift(ref: pd.DataFrame, cur: pd.DataFrame, workers: int = 0) -> pd.DataFrame:
    """The kit from scratch: profile the reference (sorts it), then the batch's drift table (sorts it)."""
    from kit.monitoring.drift import drift_table, profile_reference

    return drift_table(profile_reference(ref, list(ref.columns), workers=workers), cur, workers=workers)


def kit_profile(ref: pd.DataFrame, workers: int = 0):
    """The once-per-run part: the reference profile."""
    from kit.monitoring.drift import profile_reference

    return profile_reference(ref, list(ref.columns), workers=workers)


def kit_batch(profile, cur: pd.DataFrame, workers: int = 0) -> pd.DataFrame:
    """The per-batch part, with the reference profile kept (as the monitoring phase does)."""
    from kit.monitoring.drift import drift_table

    return drift_table(profile, cur, workers=workers)


def sort_pass(ref: pd.DataFrame, cur: pd.DataFrame) -> None:
    """One sort of every numeric column, reference and current."""
    for name in ref.columns[:N_NUMERIC]:
        np.sort(ref[name].to_numpy())
        np.sort(cur[name].to_numpy())


def plain_scipy(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, float]:
    """A straightforward numpy/scipy version of the same statistics."""
    from scipy import stats

    out = {}
    for name in ref.columns[:N_NUMERIC]:
        a, b = ref[name].to_numpy(), cur[name].to_numpy()
        edges = np.unique(np.quantile(a, np.linspace(0, 1, 11)[1:-1]))
        bins = np.r_[-np.inf, edges, np.inf]
        p = np.maximum(np.histogram(a, bins)[0] / a.size, 1e-4)
        q = np.maximum(np.histogram(b, bins)[0] / b.size, 1e-4)
        out[name] = float(np.sum((q - p) * np.log(q / p)))
        stats.ks_2samp(a, b)
        stats.wasserstein_distance(a, b)
    for name in ref.columns[N_NUMERIC:]:
        table = pd.concat([ref[name].value_counts(), cur[name].value_counts()], axis=1).fillna(0)
        stats.chi2_contingency(table.to_numpy().T)
    return out


def check_against_scipy(ref: pd.DataFrame, cur: pd.DataFrame, table: pd.DataFrame) -> tuple[float, float]:
    """Largest |kit - scipy| of the KS statistic and the Wasserstein distance on the first two numeric columns."""
    from scipy import stats

    ks_err = w_err = 0.0
    for name in ref.columns[:2]:
        a, b = ref[name].to_numpy(), cur[name].to_numpy()
        ks_err = max(ks_err, abs(table.loc[name, "statistic"] - stats.ks_2samp(a, b).statistic))
        w_err = max(w_err, abs(table.loc[name, "wasserstein"] - stats.wasserstein_distance(a, b)))
    return ks_err, w_err


class Evidently:
    """Evidently's DataDriftPreset in a long-lived process of its own venv, run one report per ``run()``.

    The data are built and Evidently imported once; each ``run()`` times one report, so the
    benchmark can alternate Evidently runs with kit runs under the same machine load.
    """

    SCRIPT = MAKE_DATA + textwrap.dedent('''
        import sys, time
        from evidently import Report
        from evidently.presets import DataDriftPreset
        ref, cur = make(ROWS, 1, 0.0), make(ROWS, 2, 0.3)
        print("ready", flush=True)
        for _ in sys.stdin:
            t = time.perf_counter(); Report([DataDriftPreset()]).run(cur, ref)
            print(time.perf_counter() - t, flush=True)
    ''')

    def __init__(self, rows: int) -> None:
        self.proc = subprocess.Popen([str(EVIDENTLY_PY), "-c", self.SCRIPT.replace("ROWS", str(rows))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("Evidently did not start (see its error above)")

    def run(self) -> float:
        """Seconds of one Evidently data drift report."""
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        """End the Evidently process."""
        self.proc.stdin.close()
        self.proc.wait()


def main() -> int:
    """Time everything, print a table, exit 1 when a target is missed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--evidently-repeats", type=int, default=3)
    args = parser.parse_args()
    ref, cur = make(args.rows, 1, 0.0), make(args.rows, 2, 0.3)
    kit_drift(ref.head(5000), cur.head(5000))  # warm-up (imports)
    ks_err, w_err = check_against_scipy(ref, cur, kit_drift(ref, cur))
    profile = kit_profile(ref)
    contenders = {
        "full": lambda: kit_drift(ref, cur),
        "full_1": lambda: kit_drift(ref, cur, workers=1),
        "profile": lambda: kit_profile(ref),
        "batch": lambda: kit_batch(profile, cur),
        "batch_1": lambda: kit_batch(profile, cur, workers=1),
        "sort": lambda: sort_pass(ref, cur),
    }
    t = median_times(contenders, args.repeats)
    plain = median_times({"plain": lambda: plain_scipy(ref, cur)}, max(1, args.repeats // 2))["plain"]
    evid = evid_kit = None
    if EVIDENTLY_PY.exists() and args.evidently_repeats > 0:
        # alternate: one kit run (profile + batch), then one Evidently report, under the same load
        evidently, pairs = Evidently(args.rows), []
        try:
            for _ in range(args.evidently_repeats):
                pairs.append((median_times({"full": contenders["full"]}, 1)["full"], evidently.run()))
        finally:
            evidently.close()
        evid_kit, evid = (float(np.median(x)) for x in zip(*pairs))
    full, floor = t["full"], t["sort"]
    print(f"rows: {args.rows:,} reference + {args.rows:,} current; {N_NUMERIC} numeric + {N_CATEGORICAL} categorical;"
          f" medians of {args.repeats} runs")
    print(f"check vs scipy: max |KS - ks_2samp| = {ks_err:.1e}, max |W - wasserstein_distance| = {w_err:.1e}")
    print(f"kit reference profile (once)  {t['profile']:8.3f} s")
    print(f"kit per batch (profile kept)  {t['batch']:8.3f} s   one thread {t['batch_1']:.3f} s")
    print(f"kit profile + batch           {full:8.3f} s   one thread {t['full_1']:.3f} s")
    print(f"sort pass (numeric columns)   {floor:8.3f} s   kit / sort = {full / floor:5.2f}x,"
          f" one thread {t['full_1'] / floor:5.2f}x (target <= 3x)")
    print(f"plain numpy/scipy             {plain:8.3f} s   plain / kit = {plain / full:5.1f}x")
    ok = t["full_1"] / floor <= 3 and max(ks_err, w_err) < 1e-9
    if evid is None:
        print("Evidently                     skipped (create /tmp/evidently-venv, see the module docstring)")
    else:
        print(f"Evidently DataDriftPreset     {evid:8.3f} s   alternated with the kit (profile + batch), {evid_kit:.3f} s:"
              f" Evidently / kit = {evid / evid_kit:5.1f}x (target >= 30x)")
        print(f"                                         Evidently / kit per batch (profile kept) = {evid / t['batch']:5.1f}x")
        ok = ok and evid / evid_kit >= 30
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
