"""Optuna storages for distributed tuning: the database and the study made ready before rl-zoo3 uses them.

Workers started at the same moment on a fresh database (PostgreSQL, MySQL) each find Optuna's tables missing and
create them: one of them then fails (optuna issue #1092), e.g. on PostgreSQL with ``UniqueViolation ... duplicate key
value violates unique constraint "pg_type_typname_nsp_index"``, and its trials are lost. :func:`prepare_storage`
creates the tables and the study with retries after a short random back-off; once they exist, rl-zoo3's own
``optuna.create_study(..., load_if_exists=True)`` only reads them. ``python -m sb3_udrl.train`` calls
:func:`prepare_tuning_storage` before handing over to rl-zoo3.

This module imports Optuna and SQLAlchemy only when a storage is prepared.
"""

from __future__ import annotations

import argparse
import random
import time
import warnings


def is_rdb_url(storage: str) -> bool:
    """
    Whether rl-zoo3 opens ``storage`` as a database (an SQLAlchemy URL, Optuna's ``RDBStorage``): everything but a
    journal file, which rl-zoo3 recognises by its ``.log`` suffix.

    :param storage: the value of ``--storage``
    :return: True for a database URL
    """
    return not storage.endswith(".log")


def _without_password(url: str) -> str:
    """``url`` with its password masked, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _retryable_errors() -> tuple[type[Exception], ...]:
    """The SQLAlchemy errors raised by concurrent creations of the same tables, types, rows or study."""
    from sqlalchemy import exc

    # IntegrityError: unique violations (pg_type_typname_nsp_index, the version rows, the study name);
    # ProgrammingError: "relation/type ... already exists"; OperationalError: deadlocks, a table created meanwhile
    # (SQLite, MySQL); InternalError: aborted transactions
    return (exc.IntegrityError, exc.ProgrammingError, exc.OperationalError, exc.InternalError)


def prepare_storage(
    url: str,
    study_name: str | None = None,
    *,
    max_attempts: int = 5,
    max_backoff: float = 1.0,
    verbose: int = 1,
) -> None:
    """
    Create Optuna's tables in the database ``url`` and, if ``study_name`` is given, the study that rl-zoo3's
    ``-optimize`` will load (``direction="maximize"``), or load it if it exists.

    Concurrent workers may do this at the same moment: the database errors of such a race (SQLAlchemy's
    ``IntegrityError``, ``ProgrammingError``, ``OperationalError``, ``InternalError``) are retried after a short random
    back-off (uniform up to ``max_backoff`` seconds), by when the other worker has created what was missing; other
    errors (a malformed URL, a missing driver) are raised at once. The connections are closed on return.

    :param url: SQLAlchemy URL of the database, e.g. ``postgresql://user:password@host:5432/dbname``
        (PostgreSQL needs the ``postgres`` extra: ``psycopg``)
    :param study_name: name of the study to create or load; None: the tables only
    :param max_attempts: number of tries before the last database error is raised
    :param max_backoff: longest wait between two tries, in seconds
    :param verbose: 1: say when a try failed and is retried; 0: silent
    :raises ValueError: the study exists but does not maximize (rl-zoo3 maximizes the mean evaluation reward)
    """
    import optuna

    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    retryable = _retryable_errors()
    rng = random.Random()  # seeded from the OS: workers started together wait differently
    for attempt in range(1, max_attempts + 1):
        storage = None
        try:
            storage = optuna.storages.RDBStorage(url)
            if study_name is not None:
                study = optuna.create_study(storage=storage, study_name=study_name, load_if_exists=True, direction="maximize")
                if study.directions != [optuna.study.StudyDirection.MAXIMIZE]:
                    raise ValueError(
                        f"The study {study_name!r} in {_without_password(url)} has directions {study.directions}: "
                        "rl-zoo3 maximizes the mean reward, use another --study-name"
                    )
            return
        except retryable as error:
            if attempt == max_attempts:
                raise
            delay = rng.uniform(0.05 * max_backoff, max_backoff)
            if verbose > 0:
                summary = str(error).splitlines()[0][:200]
                print(
                    f"Preparing the Optuna storage failed (try {attempt}/{max_attempts}, {type(error).__name__}: "
                    f"{summary}); another worker may be creating it: retrying in {delay:.2f} s"
                )
            time.sleep(delay)
        finally:
            if storage is not None:
                storage.remove_session()
                storage.engine.dispose()


def prepare_tuning_storage(argv: list[str], *, verbose: int = 1) -> None:
    """
    Run :func:`prepare_storage` for a command line of rl-zoo3's ``train`` that tunes (``-optimize``) with a database
    ``--storage``; do nothing otherwise (no tuning, no storage, a journal file).

    Without ``--study-name``, rl-zoo3 lets Optuna name a new study in each worker, so workers do not share a study:
    this warns, and only the tables are prepared.

    :param argv: the full command line (``sys.argv``: program name first)
    :param verbose: passed to :func:`prepare_storage`
    """
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False, allow_abbrev=False)
    parser.add_argument("-optimize", "--optimize-hyperparameters", action="store_true", default=False)
    parser.add_argument("--storage", default=None)
    parser.add_argument("--study-name", default=None)
    try:
        known, _ = parser.parse_known_args(argv[1:])
    except argparse.ArgumentError:
        # Malformed command line: rl-zoo3's own parser reports it
        return
    if not known.optimize_hyperparameters or known.storage is None or not is_rdb_url(known.storage):
        return
    if known.study_name is None:
        warnings.warn(
            f"--storage {_without_password(known.storage)} without --study-name: each worker tunes its own new study, "
            "with a name made up by Optuna, workers do not share a study. Give all workers the same --study-name.",
            UserWarning,
            stacklevel=2,
        )
    prepare_storage(known.storage, known.study_name, verbose=verbose)


__all__ = ["is_rdb_url", "prepare_storage", "prepare_tuning_storage"]
