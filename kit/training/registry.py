"""MLflow experiment tracking and model registry: candidate runs, versions, the champion alias.

Promotion uses MLflow *aliases* (``champion``) and *version tags* (``status``, ``gate.*``,
``approval.*``), not the deprecated registry stages. MLflow is imported only here and only
when a :class:`Registry` is opened; one client (and one migrated SQLite store) is created per
tracking URI per process.

Tracking URI, first found: the config's ``training.tracking_uri``, the ``KIT_TRACKING_URI``
environment variable, else ``sqlite:///<project>/.mlflow/mlflow.db`` (git-ignored) with
artifacts under ``<project>/.mlflow/artifacts``.

MLflow stores artifact locations as absolute URIs. A SQLite store that was copied or moved
together with its ``artifacts`` folder is re-pointed at its new place when it is opened; one
copied without it keeps writing to the old place, with a warning that names it.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from kit.errors import KitError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STORE = PROJECT_ROOT / ".mlflow"
CHAMPION = "champion"
ENV_VAR = "KIT_TRACKING_URI"
MODEL_PATH = "model"
SQLITE_HEADER = b"SQLite format 3\x00"
_LOCATION_COLUMNS = {  # where a SQLite store keeps artifact URIs (columns missing in older schemas are skipped)
    "experiments": ("artifact_location",), "runs": ("artifact_uri",),
    "model_versions": ("source", "storage_location"), "logged_models": ("artifact_location",),
}


class RegistryError(KitError):
    """A registry request that cannot be met (no such model, nothing to roll back to)."""


_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.\- ]")
TAG_KEY_MAX = 250  # MLflow's limit on a tag key


def tag_key(key: str) -> str:
    """``key`` as an MLflow tag key: unchanged when MLflow accepts it, else made safe with a hash that keeps it distinct."""
    if key and not _TAG_UNSAFE.search(key) and len(key) <= TAG_KEY_MAX and ".." not in key:
        return key
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:8]
    return f"{_TAG_UNSAFE.sub('_', key).replace('..', '._')[:TAG_KEY_MAX - 9]}-{digest}"


def resolve_tracking_uri(configured: str | None = None) -> str:
    """Tracking URI: the configured one, else $KIT_TRACKING_URI, else the project's SQLite store."""
    if configured:
        return configured
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    return f"sqlite:///{DEFAULT_STORE / 'mlflow.db'}"


def artifact_root(uri: str) -> str | None:
    """Artifact folder URI for a SQLite store (``artifacts`` beside the .db file), else None."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri.removeprefix("sqlite:///"))
    return (db.parent / "artifacts").as_uri()


def _store_error(db: Path, problem: str) -> RegistryError:
    """The error for a SQLite tracking store that cannot be used, with the fix."""
    example = DEFAULT_STORE / "mlflow.db"
    if db.resolve() == example.resolve():
        example = db.with_name("mlflow-new.db")
    fix = ("move it aside" if problem.startswith("not a database") else "fix its permissions or free space")
    return RegistryError(
        f"tracking store is {problem}: {db}; {fix}, or point training.tracking_uri "
        f"(or ${ENV_VAR}) at a writable SQLite file, e.g. sqlite:///{example}")


def check_sqlite_store(db: Path) -> None:
    """Make sure a SQLite tracking store can be created or opened for writing; else raise the cause and fix."""
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _store_error(db, f"in a folder that cannot be created ({exc.strerror})") from exc
    if db.exists():
        if not db.is_file():
            raise _store_error(db, "not a database (a folder)")
        try:
            with db.open("rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise _store_error(db, f"unreadable ({exc.strerror})") from exc
        if head and head != SQLITE_HEADER:
            raise _store_error(db, "not a database (not a SQLite file)")
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("CREATE TABLE kit_write_probe (x)")  # a real write, rolled back: fails when read-only
            con.rollback()
    except sqlite3.DatabaseError as exc:
        raise _store_error(db, _store_problem(exc)) from exc


def _store_problem(exc: BaseException) -> str:
    """What an error opening a SQLite store says is wrong with it, in a few words."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        return "read-only"
    if "not a database" in text or "malformed" in text:
        return "not a database"
    if "full" in text or "no space" in text:
        return "full (no space left on device)"
    return f"unusable ({(str(exc).splitlines() or [type(exc).__name__])[0]})"


def relocate_store(db: Path) -> None:
    """Re-point a copied or moved SQLite store's artifact URIs at the ``artifacts`` folder beside it.

    The kit creates experiments at ``<store folder>/artifacts/<name>``; MLflow keeps those as absolute
    URIs, so a copied store would keep writing into the original's folder.
    """
    new_root = (db.parent / "artifacts").resolve().as_uri()
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "experiments" not in tables:
            return
        roots = {loc.rsplit("/", 1)[0] for (loc,) in con.execute("SELECT artifact_location FROM experiments")
                 if loc and loc.startswith("file://") and loc.rsplit("/", 1)[0].endswith("/artifacts")}
        moved = sorted(r for r in roots if r != new_root)
        if not moved:
            return
        if not (db.parent / "artifacts").is_dir():
            warnings.warn(f"MLflow store {db} was copied without its artifacts folder: its models are read from "
                          f"and new artifacts written to {', '.join(moved)}; copy that folder to "
                          f"{db.parent / 'artifacts'} to make the copy self-contained", stacklevel=3)
            return
        with con:
            for table, columns in _LOCATION_COLUMNS.items():
                if table not in tables:
                    continue
                present = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
                for column in (c for c in columns if c in present):
                    for old in moved:
                        con.execute(f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                                    f'WHERE substr("{column}", 1, ?) = ?',
                                    (new_root, len(old) + 1, len(old), old))


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive lock beside a SQLite store while creating things in it (several processes share it)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(f".{db.name}.lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@cache
def _client(uri: str) -> Any:
    """One MlflowClient per URI; creating it the first time checks (and migrates) a SQLite store."""
    import logging

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)

    db = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if db is not None:
        check_sqlite_store(db)
        relocate_store(db)
    try:
        with store_lock(uri):  # two batch workers creating one new store race in its migrations
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)  # touch the store once (runs migrations if new)
    except Exception as exc:  # MlflowException, or SQLAlchemy's error when a migration cannot write
        if db is None:
            raise RegistryError(f"tracking store {uri} cannot be opened ({_store_problem(exc)}); check "
                                f"training.tracking_uri (or ${ENV_VAR})") from exc
        raise _store_error(db, _store_problem(exc)) from exc
    return client


def _now() -> str:
    """Current UTC time as ISO 8601 text."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Registry:
    """Experiment tracking and the model registry behind one tracking URI."""

    def __init__(self, tracking_uri: str | None = None) -> None:
        """Open (and create once, if new) the store at ``tracking_uri`` (see :func:`resolve_tracking_uri`)."""
        self.uri = resolve_tracking_uri(tracking_uri)
        self.client = _client(self.uri)

    # ---- tracking -------------------------------------------------------------------------
    def experiment_id(self, name: str) -> str:
        """Id of experiment ``name``, created (with the store's artifact folder) if needed."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        with store_lock(self.uri):
            found = self.client.get_experiment_by_name(name)  # another process may have created it meanwhile
            if found is not None:
                return found.experiment_id
            root = artifact_root(self.uri)
            location = f"{root}/{name.replace('/', '_')}" if root else None
            return self.client.create_experiment(name, artifact_location=location)

    def log_candidate(
        self,
        experiment: str,
        run_name: str,
        params: dict[str, Any],
        metrics: dict[str, float],
        tags: dict[str, str] | None = None,
        model_dir: str | Path | None = None,
        files: list[str | Path] | None = None,
    ) -> str:
        """Record one candidate as a finished run (params, metrics, tags, files); return the run id."""
        from mlflow.entities import Metric, Param, RunTag

        run = self.client.create_run(self.experiment_id(experiment), run_name=run_name, tags=tags or {})
        run_id = run.info.run_id
        stamp = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        finite = {k: float(v) for k, v in metrics.items() if v is not None and v == v}
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, stamp, 0) for k, v in finite.items()],
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )
        if model_dir is not None:
            self.client.log_artifacts(run_id, str(model_dir), artifact_path=MODEL_PATH)
        for path in files or []:
            self.client.log_artifact(run_id, str(path))
        self.client.set_terminated(run_id, "FINISHED")
        return run_id

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """Metrics logged on run ``run_id``."""
        return dict(self.client.get_run(run_id).data.metrics)

    # ---- registry -------------------------------------------------------------------------
    def register(self, name: str, run_id: str, tags: dict[str, str] | None = None) -> str:
        """Register the model logged by ``run_id`` as a new version of ``name`` (a candidate)."""
        from mlflow.exceptions import MlflowException

        with store_lock(self.uri):  # concurrent runs registering one name race in its creation
            try:
                self.client.get_registered_model(name)
            except MlflowException:
                self.client.create_registered_model(name)
        source = f"{self.client.get_run(run_id).info.artifact_uri}/{MODEL_PATH}"
        version = self.client.create_model_version(name, source=source, run_id=run_id)
        all_tags = {"status": "candidate", "registered_at": _now(), **(tags or {})}
        for key, value in all_tags.items():
            self.client.set_model_version_tag(name, version.version, key, str(value))
        return str(version.version)

    def set_version_tag(self, name: str, version: str, key: str, value: Any) -> None:
        """Set one tag on a model version (a key MLflow would refuse, such as a column name with '<', is made safe)."""
        self.client.set_model_version_tag(name, str(version), tag_key(key), str(value))

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        """All tags of a model version."""
        return dict(self.client.get_model_version(name, str(version)).tags)

    def record_approval(self, name: str, version: str, who: str, why: str) -> dict[str, str]:
        """Record a human sign-off on a version: who, when and why."""
        if not str(who).strip() or not str(why).strip():
            raise RegistryError(
                f"approval of {name} version {version}: give both who approves and why "
                "(e.g. record_approval(name, version, who='Jane Doe, risk office', why='reviewed metrics'))"
            )
        approval = {"approval.by": str(who), "approval.at": _now(), "approval.why": str(why)}
        for key, value in approval.items():
            self.set_version_tag(name, version, key, value)
        return approval

    def record_signoff(self, name: str, version: str, who: str, why: str, evidence: str,
                       gates: dict[str, dict[str, Any]], accepted: list[str] | None = None) -> dict[str, str]:
        """Record a sign-off given after the evidence: who, when, why, the evidence sha256, the gates seen and any accepted."""
        approval = self.record_approval(name, version, who, why)
        seen = json.dumps({n: bool(g["passed"]) for n, g in gates.items()}, sort_keys=True)
        extra = {"approval.version": str(version), "approval.evidence": evidence, "approval.gates": seen,
                 "approval.accepted": ",".join(accepted or [])}
        for key, value in extra.items():
            self.set_version_tag(name, version, key, value)
        return {k.removeprefix("approval."): v for k, v in {**approval, **extra}.items()}

    def approval(self, name: str, version: str) -> dict[str, str] | None:
        """The sign-off recorded on a version ({by, at, why}), or None."""
        tags = self.version_tags(name, version)
        if "approval.by" not in tags:
            return None
        return {k.removeprefix("approval."): v for k, v in tags.items() if k.startswith("approval.")}

    def _history(self, name: str) -> list[dict[str, str]]:
        """Past and present champions of ``name``, oldest first."""
        tags = self.client.get_registered_model(name).tags
        return json.loads(tags.get("champion_history", "[]"))

    def set_champion(self, name: str, version: str, reason: str) -> None:
        """Point the ``champion`` alias at ``version`` and record why in the model's history."""
        previous = self.champion_version(name)
        self.client.set_registered_model_alias(name, CHAMPION, str(version))
        if previous is not None and previous != str(version):
            self.set_version_tag(name, previous, "status", "retired")
        self.set_version_tag(name, version, "status", CHAMPION)
        self.set_version_tag(name, version, "champion_reason", reason)
        history = self._history(name) + [{"version": str(version), "at": _now(), "reason": reason}]
        self.client.set_registered_model_tag(name, "champion_history", json.dumps(history))

    def champion_version(self, name: str) -> str | None:
        """Version the ``champion`` alias points at, or None (also when the model is unknown)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, CHAMPION).version)
        except MlflowException:
            return None

    def current_champion(self, name: str) -> tuple[str, dict[str, float]] | None:
        """(version, metrics of its run) of the current champion, or None."""
        version = self.champion_version(name)
        if version is None:
            return None
        run_id = self.client.get_model_version(name, version).run_id
        return version, self.run_metrics(run_id)

    def rollback(self, name: str) -> str:
        """Make the previous champion the champion again (one call); return its version."""
        history = self._history(name)
        current = self.champion_version(name)
        earlier = [h["version"] for h in history if h["version"] != current]
        if current is None or not earlier:
            raise RegistryError(
                f"model {name!r}: no earlier champion to roll back to (history: "
                f"{[h['version'] for h in history]}); promote a version with set_champion instead"
            )
        target = earlier[-1]
        self.set_champion(name, target, f"rollback from version {current}")
        self.set_version_tag(name, current, "status", "rolled_back")
        return target

    def download_model(self, name: str, version: str, dst: str | Path) -> Path:
        """Copy the native model files of a version into folder ``dst`` and return their folder."""
        run_id = self.client.get_model_version(name, str(version)).run_id
        return Path(self.client.download_artifacts(run_id, MODEL_PATH, str(dst)))

    @contextlib.contextmanager
    def model_files(self, name: str, version: str) -> Iterator[Path]:
        """The native model files of a version in a temporary folder, removed on exit."""
        folder = tempfile.mkdtemp(prefix="kit-model-")
        try:
            yield self.download_model(name, version, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
