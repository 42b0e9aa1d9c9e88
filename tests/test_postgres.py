"""Distributed tuning through rl-zoo3 on a real PostgreSQL server (``--storage postgresql://...``).

The module starts a PostgreSQL 15 server of its own (``initdb`` into a temporary folder, on a free port of 127.0.0.1;
as the ``postgres`` user when run as root) and stops it at the end. It is skipped where the server's binaries or the
driver (``psycopg``, install extra ``postgres``) are missing. The workers run as subprocesses, on tiny budgets.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

import sb3_udrl.zoo.storage as storage_module  # noqa: E402
from sb3_udrl.zoo import ZOO_ALGOS  # noqa: E402
from sb3_udrl.zoo.hyperparams_opt import convert_udrl_params  # noqa: E402
from sb3_udrl.zoo.storage import is_rdb_url, prepare_storage, prepare_tuning_storage  # noqa: E402

pytestmark = [pytest.mark.zoo, pytest.mark.skipif(find_spec("rl_zoo3") is None, reason="needs the zoo extra (rl-zoo3)")]

PG_BIN = Path(os.environ.get("SB3_UDRL_PG_BIN", "/usr/lib/postgresql/15/bin"))
PYTHON = sys.executable
# Seconds a script may take (generous: the machine may be shared)
TIMEOUT = 600
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "SDL_VIDEODRIVER": "dummy",
    "MPLBACKEND": "Agg",
    "PYTHONUNBUFFERED": "1",
}
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


# ------------------------------------------------------------------------------------------------------------------
# The server
@dataclass
class PostgresServer:
    """A running PostgreSQL server: :meth:`create_database` gives the URL of a new, empty database."""

    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root (the server refuses to run as root)."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-c", subprocess.list2cmdline(command)]


def _server_unavailable() -> str | None:
    """Why no server can be started here, or None."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        return f"needs PostgreSQL's server binaries (initdb, pg_ctl) in {PG_BIN}"
    if find_spec("psycopg") is None:
        return "needs the PostgreSQL driver psycopg (install extra 'postgres')"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no 'postgres' user to run the server as"
    return None


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module, with password authentication on 127.0.0.1, stopped at the end."""
    reason = _server_unavailable()
    if reason is not None:
        pytest.skip(reason)
    # Under /tmp (pytest's tmp_path is private to root): data, socket and log, owned by the server's user
    folder = Path(tempfile.mkdtemp(prefix="sb3_udrl_pg_", dir="/tmp"))
    data, sockets, log = folder / "data", folder / "sockets", folder / "server.log"
    sockets.mkdir()
    password = secrets.token_hex(8)
    (folder / "password").write_text(password)
    if os.geteuid() == 0:
        for path in (folder, sockets, folder / "password"):
            shutil.chown(path, "postgres", "postgres")
    server = PostgresServer(port=_free_port(), user="tuner", password=password)
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        subprocess.run(
            _as_server_user([str(PG_BIN / "initdb"), "-D", str(data), "-U", server.user, f"--pwfile={folder / 'password'}",
                             "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync"]),
            check=True, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        options = f"-h 127.0.0.1 -p {server.port} -k {sockets} -F -c max_connections=200"  # -F: no fsync (a test)
        result = subprocess.run(
            _as_server_user([*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", "120", "start"]),
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        started = result.returncode == 0
        assert started, f"pg_ctl start failed:\n{result.stdout}{result.stderr}\n{log.read_text() if log.exists() else ''}"
        yield server
    finally:
        if started:
            subprocess.run(_as_server_user([*pg_ctl, "-m", "immediate", "-w", "stop"]), capture_output=True, timeout=TIMEOUT)
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------------------
# Workers
def tune_command(algo: str, url: str, study: str, log_folder: Path, *, n_trials: int = 2, n_timesteps: int = 300,
                 seed: int = 0, n_evaluations: int = 1) -> list[str]:  # fmt: skip
    return [
        PYTHON, "-m", "sb3_udrl.train", "--algo", algo, "--env", "CartPole-v1", "-f", str(log_folder),
        "-n", str(n_timesteps), "-optimize", "--n-trials", str(n_trials), "--n-evaluations", str(n_evaluations),
        "--n-startup-trials", "1", "--eval-episodes", "2", "--no-optim-plots", "--sampler", "random", "--pruner", "none",
        "--storage", url, "--study-name", study, "--seed", str(seed), "--num-threads", "1",
    ]  # fmt: skip
    # No -params: the sampled hyperparameters (all of UDRL's) would override them; -n keeps the trials short


def start(command: list[str], log: Path) -> subprocess.Popen:
    """Start ``command`` with its output written to ``log`` (a pipe left unread could fill up and block it)."""
    with open(log, "w") as file:
        worker = subprocess.Popen(command, stdout=file, stderr=subprocess.STDOUT, text=True, env=ENV)
    worker.log = log  # type: ignore[attr-defined]
    return worker


def finish(worker: subprocess.Popen, returncode: int = 0) -> str:
    """Wait for ``worker``, fail with its output unless it ended with ``returncode``, return its output."""
    try:
        worker.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    output = worker.log.read_text()  # type: ignore[attr-defined]
    assert worker.returncode == returncode, f"worker ended with {worker.returncode}:\n{output[-5000:]}"
    return output


def finished_trials(output: str) -> set[int]:
    """Numbers of the trials that a worker reports finished (Optuna logs each one in the worker that ran it)."""
    return {int(number) for number in re.findall(r"Trial (\d+) (?:finished with value|pruned)", output)}


# ------------------------------------------------------------------------------------------------------------------
# Without a server
def test_is_rdb_url() -> None:
    assert is_rdb_url("postgresql://user:password@host:5432/dbname")
    assert is_rdb_url("sqlite:///logs/study.db")
    assert not is_rdb_url("logs/study.log")


def test_prepare_storage_retries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The errors of a concurrent creation are retried; the study is created once and maximizes."""
    from sqlalchemy.exc import IntegrityError

    url = f"sqlite:///{tmp_path / 'study.db'}"
    calls = []

    class RacingStorage(optuna.storages.RDBStorage):
        """Fails its first two creations as a worker that lost the race does."""

        def __init__(self, *args, **kwargs) -> None:
            calls.append(args)
            if len(calls) < 3:
                raise IntegrityError("CREATE TYPE", {}, Exception('duplicate key ... "pg_type_typname_nsp_index"'))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", RacingStorage)
    prepare_storage(url, "demo", max_backoff=0.01)
    assert len(calls) == 3
    assert capsys.readouterr().out.count("retrying in") == 2
    monkeypatch.undo()
    study = optuna.load_study(study_name="demo", storage=url)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    prepare_storage(url, "demo")  # loaded, not created again
    assert optuna.study.get_all_study_names(url) == ["demo"]

    # Other errors, and the last try's, are raised
    monkeypatch.setattr(optuna.storages, "RDBStorage", RacingStorage)
    calls.clear()
    with pytest.raises(IntegrityError):
        prepare_storage(url, "demo", max_attempts=2, max_backoff=0.01)
    monkeypatch.undo()
    optuna.create_study(storage=url, study_name="minimize", direction="minimize")
    with pytest.raises(ValueError, match="maximizes"):
        prepare_storage(url, "minimize")


def test_prepare_tuning_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only tuning with a database storage prepares it; without --study-name, a warning."""
    prepared = []
    monkeypatch.setattr(storage_module, "prepare_storage", lambda *args, **_: prepared.append(args))
    url = "postgresql://user:secret@host:5432/dbname"
    prepare_tuning_storage(["train", "--algo", "udrl", "--storage", url, "--study-name", "s"])  # not tuning
    prepare_tuning_storage(["train", "-optimize", "--storage", str(tmp_path / "study.log"), "--study-name", "s"])
    prepare_tuning_storage(["train", "-optimize"])
    assert prepared == []
    prepare_tuning_storage(["train", "--algo", "udrl", "-optimize", "--storage", url, "--study-name", "s"])
    prepare_tuning_storage(["train", "--optimize-hyperparameters", f"--storage={url}", "--study-name=s"])
    with pytest.warns(UserWarning, match="do not share a study") as warned:
        prepare_tuning_storage(["train", "-optimize", "--storage", url])
    assert "secret" not in str(warned[0].message)
    assert prepared == [(url, "s"), (url, "s"), (url, None)]


# ------------------------------------------------------------------------------------------------------------------
# On the server
@pytest.mark.slow
def test_concurrent_preparation(postgres: PostgresServer, tmp_path: Path) -> None:
    """Processes preparing a fresh database at the same instant all succeed, and make one study."""
    url = postgres.create_database("race")
    n_workers = 4
    # Each process imports, says it is ready, waits for the others, and prepares (all within milliseconds)
    code = """
import sys, time
from pathlib import Path
from sb3_udrl.zoo.storage import prepare_storage
url, folder, index, n_workers = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
(folder / f"ready_{index}").touch()
deadline = time.monotonic() + 300
while len(list(folder.glob("ready_*"))) < n_workers and time.monotonic() < deadline:
    time.sleep(0.001)
prepare_storage(url, "race")
"""
    workers = [
        start([PYTHON, "-c", code, url, str(tmp_path), str(index), str(n_workers)], tmp_path / f"worker_{index}.txt")
        for index in range(n_workers)
    ]
    outputs = [finish(worker) for worker in workers]
    print("".join(outputs))  # the retries, if the race happened (shown by pytest -s or on failure)
    assert optuna.study.get_all_study_names(url) == ["race"]


@pytest.mark.slow
@pytest.mark.parametrize("algo", list(ZOO_ALGOS))
def test_two_workers_start_together(algo: str, postgres: PostgresServer, tmp_path: Path) -> None:
    """Two workers started at the same moment on a fresh database share one study and lose no trial."""
    url = postgres.create_database(f"tune_{algo}")
    n_trials = (2, 2)
    workers = [
        start(tune_command(algo, url, "together", tmp_path / "logs", n_trials=n, seed=seed), tmp_path / f"worker_{seed}.txt")
        for seed, n in enumerate(n_trials)
    ]
    outputs = [finish(worker) for worker in workers]
    study = optuna.load_study(study_name="together", storage=url)
    finished = {trial.number for trial in study.trials if trial.state in FINISHED}
    assert len(study.trials) == len(finished) == sum(n_trials), [trial.state for trial in study.trials]
    ran = [finished_trials(output) for output in outputs]
    assert [len(numbers) for numbers in ran] == list(n_trials) and ran[0] | ran[1] == finished


@pytest.mark.slow
def test_killed_worker_loses_no_finished_trial(postgres: PostgresServer, tmp_path: Path) -> None:
    """A worker killed mid-trial leaves its finished trials complete; the other one goes on; a stored trial trains."""
    url = postgres.create_database("killed")
    n_trials = 3
    workers = [
        start(tune_command("udrl", url, "killed", tmp_path / "logs", n_trials=n_trials, n_timesteps=1500, seed=seed,
                           n_evaluations=2), tmp_path / f"worker_{seed}.txt")
        for seed in range(2)
    ]  # fmt: skip
    # Kill worker 0 while both workers are in a trial, once a trial is complete. One storage (one connection pool)
    # for the polling: a storage per poll would hold a connection each until garbage-collected
    deadline = time.monotonic() + TIMEOUT
    storage = optuna.storages.RDBStorage(url)
    while True:
        assert all(worker.poll() is None for worker in workers), "a worker ended before it could be killed"
        assert time.monotonic() < deadline, "no trial completed in time"
        try:
            trials = optuna.load_study(study_name="killed", storage=storage).trials
        except KeyError:  # the study is not created yet
            trials = []
        states = [trial.state for trial in trials]
        if states.count(optuna.trial.TrialState.COMPLETE) >= 1 and states.count(optuna.trial.TrialState.RUNNING) == 2:
            break
        time.sleep(0.2)
    workers[0].send_signal(signal.SIGKILL)
    killed_output = finish(workers[0], returncode=-signal.SIGKILL)
    before = {trial.number: trial.value for trial in trials if trial.state == optuna.trial.TrialState.COMPLETE}
    storage.engine.dispose()
    output = finish(workers[1])

    study = optuna.load_study(study_name="killed", storage=url)
    after = {trial.number: trial.value for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE}
    assert before.items() <= after.items()  # the finished trials are kept, with their values
    survivor = finished_trials(output)
    assert len(survivor) == n_trials and survivor <= after.keys()
    assert finished_trials(killed_output) <= after.keys()
    # The killed worker's trial stays RUNNING (no heartbeat): every other one finished
    assert [trial.state for trial in study.trials].count(optuna.trial.TrialState.RUNNING) == 1
    assert len(study.trials) == len(after) + 1

    # Train with the hyperparameters of a completed trial, from the storage alone (rl-zoo3 indexes study.trials)
    trial_id = max(after)
    assert trial_id > 0  # rl-zoo3 ignores --trial-id 0
    result = subprocess.run(
        [PYTHON, "-m", "sb3_udrl.train", "--algo", "udrl", "--env", "CartPole-v1", "-f", str(tmp_path / "logs"),
         "-n", "300", "--eval-freq", "-1", "--storage", url, "--study-name", "killed", "--trial-id", str(trial_id),
         "--num-threads", "1"],
        capture_output=True, text=True, env=ENV, timeout=TIMEOUT,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "Loading from Optuna study" in output
    expected = convert_udrl_params(study.trials[trial_id].params)
    assert f"('batch_size', {expected['batch_size']})" in output
    assert f"('policy_kwargs', {expected['policy_kwargs']})" in output
