"""Command line: ``python -m kit run CONFIG``, ``batch CONFIG...``, ``org REPORT...`` and ``signoff REPORT_DIR``."""
from __future__ import annotations

import argparse
import sys

from kit.errors import KitError


def _seconds(text: str) -> int:
    """A --cell-timeout value: whole seconds, with 0 or "none" for no limit."""
    if text.strip().lower() == "none":
        return 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected whole seconds (e.g. 7200), or 0 or none for no limit; found {text!r}")
    return value


def _cell_timeout_help() -> str:
    """Help of --cell-timeout, with the kit's default (kit/content/chain.yaml)."""
    from kit.content import load

    return ("seconds one notebook cell may run before its phase fails and its kernel is stopped; 0 or none: no limit "
            f"(default: the config's compute.cell_timeout, else {load('chain')['cell_timeout_seconds']})")


def _parser() -> argparse.ArgumentParser:
    """The kit's command-line interface."""
    parser = argparse.ArgumentParser(prog="python -m kit", description="ML scaling accelerator kit")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the phase notebooks for one config into a report folder")
    run.add_argument("config", help="run config (YAML), e.g. data/configs/demo.yaml")
    run.add_argument("--out", help="report folder (default: reports/<config name>)")
    run.add_argument("--phases", help="comma-separated subset, in chain order (default: all)")
    run.add_argument("--force", action="store_true", help="replace an existing report")
    run.add_argument("--no-input", action="store_true", help="HTML without code cells")
    run.add_argument("--cluster", help="run on the Dask cluster at this scheduler address (sets KIT_CLUSTER)")
    run.add_argument("--cell-timeout", type=_seconds, metavar="SECONDS", help=_cell_timeout_help())

    batch = sub.add_parser("batch", help="run many configs in parallel into one folder")
    batch.add_argument("configs", nargs="+", help="run configs (YAML)")
    batch.add_argument("--out", default="reports/batch", help="batch folder (default: reports/batch)")
    batch.add_argument("--workers", type=int, default=2, help="parallel worker processes (default: 2)")
    batch.add_argument("--force", action="store_true", help="replace existing reports")
    batch.add_argument("--no-input", action="store_true", help="HTML without code cells")
    batch.add_argument("--phases", help="comma-separated subset, in chain order (default: all)")
    batch.add_argument("--cluster", help="fan the runs out over the Dask cluster at this scheduler address "
                       "(one run per task; --out must be on storage its workers share)")
    batch.add_argument("--cell-timeout", type=_seconds, metavar="SECONDS", help=_cell_timeout_help())

    org = sub.add_parser("org", help="roll run folders (business units, dates) up into one organization page")
    org.add_argument("reports", nargs="+", help="run folders, or batch folders that hold them")
    org.add_argument("--out", default="reports/org", help="folder for org.html and org.json (default: reports/org)")

    check = sub.add_parser("check", help="validate a config without running anything")
    check.add_argument("config")

    signoff = sub.add_parser("signoff", help="sign off a report's candidate model after reading its evidence (phase 3)")
    signoff.add_argument("report_dir", help="report folder of a run that finished phase 3, e.g. reports/level1")
    signoff.add_argument("--by", required=True, help='who signs off: name and role, e.g. "Jane Doe, risk"')
    signoff.add_argument("--why", required=True, help="what was reviewed and why the model may go live")
    signoff.add_argument("--accept", default="", help="failed gates accepted with this justification, where the tier allows (e.g. fairness)")

    sub.add_parser("config-reference", help="print the reference of every config key (Markdown)")

    workshop = sub.add_parser("workshop", help="workshop in a box: check a laptop, switch variant, reset (docs/workshop/)")
    workshop.add_argument("action", choices=["check", "use", "reset", "variants"], help="what to do")
    workshop.add_argument("variant", nargs="?", help="variant letter (A, B, C, D); default: the current one")
    workshop.add_argument("--phases", help="check only these phases (comma-separated; default: all)")
    return parser


EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_DESTINATION, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 ok, 1 a run failed, 2 config error, 3 destination busy
    or already there, 130 interrupted, 143 terminated)."""
    args = _parser().parse_args(argv)
    if getattr(args, "cluster", None) and args.command == "run":
        from kit.compute.engine import cluster_env

        with cluster_env(args.cluster):  # for this run only: a caller's environment is left as it was
            return _command(args)
    return _command(args)


def _command(args: argparse.Namespace) -> int:
    """Run one parsed command; errors become one line and an exit code."""
    if args.command in ("run", "batch"):
        from kit.chain import on_sigterm

        on_sigterm()
    try:
        if args.command == "config-reference":
            from kit.config_reference import config_reference

            print(config_reference(), end="")
            return 0
        if args.command == "workshop":
            from kit.workshop import main as workshop_main

            return workshop_main(args.action, args.variant, args.phases)
        if args.command == "signoff":
            from kit.promotion import give_signoff

            accept = [n.strip() for n in args.accept.split(",") if n.strip()]
            result = give_signoff(args.report_dir, args.by, args.why, accept)
            print(f"{result['model_name']} v{result['version']}: {result['status']} (signed off by {result['by']}, "
                  f"evidence sha256 {result['evidence'][:12]}…)")
            return 0
        if args.command == "org":
            from kit.org.build import build_rollup

            result = build_rollup(args.reports, args.out)
            for folder, reason in result["skipped"]:
                print(f"skipped: {folder}: {reason}", file=sys.stderr)
            print(f"{result['runs']} runs of {result['units']} units ({result['failed']} failed, "
                  f"{len(result['skipped'])} skipped) -> {result['page']}")
            return 0
        if args.command == "check":
            from kit.config import load_config

            config = load_config(args.config)
            print(f"{args.config}: valid (run name {config.name!r})")
            return 0
        if args.command == "run":
            from kit.chain import run_chain

            manifest, landed = run_chain(args.config, out=args.out, phases=args.phases,
                                         force=args.force, no_input=args.no_input, cell_timeout=args.cell_timeout)
            failed = manifest.failed_phase()
            if failed:
                print(f"failed: phase {failed.name}: {failed.error} (report kept in {landed})", file=sys.stderr)
                return EXIT_FAILED
            print(f"ok: {len(manifest.phases)} phases in {manifest.seconds:.1f} s -> {landed}/index.html")
            return 0
        from kit.batch import run_batch

        results = run_batch(args.configs, out=args.out, workers=args.workers,
                            force=args.force, no_input=args.no_input, phases=args.phases, cluster=args.cluster,
                            cell_timeout=args.cell_timeout)
        bad = [r for r in results if r["status"] != "ok"]
        for r in bad:
            print(f"failed: {r['name']}: {r['error']}", file=sys.stderr)
        print(f"{len(results) - len(bad)} of {len(results)} runs ok -> {args.out}/index.html")
        return 1 if bad else 0
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", EXIT_CONFIG)
    except OSError as exc:  # the machine, not the user: one line, not a traceback
        from kit.chain import exception_reason

        print(f"error: {exception_reason(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        from kit.chain import Terminated

        print("interrupted: no report was written", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
