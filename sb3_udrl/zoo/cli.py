"""rl-zoo3's scripts with the algorithms of sb3_udrl registered.

``sb3_udrl_zoo SCRIPT [options]`` mirrors ``rl_zoo3 SCRIPT [options]`` (same options, same log folders):

- ``train``: ``rl_zoo3.train`` (also ``python -m sb3_udrl.train``); ``--conf-file`` defaults to sb3_udrl's
  ``hyperparams/{algo}.yml`` for its algorithms, envs are made without a render mode (fast) unless
  ``--env-kwargs render_mode:...`` is given; with ``-optimize`` and a database ``--storage``, the tables and the study
  are created first, safely when several workers start together (:func:`~sb3_udrl.zoo.storage.prepare_storage`)
- ``enjoy``: ``rl_zoo3.enjoy`` (also ``python -m sb3_udrl.enjoy``), rendering with ``render_mode="human"``
- ``record_video``: ``rl_zoo3.record_video`` (also ``python -m sb3_udrl.record_video``), with ``--gym-packages`` as
  ``train`` and ``enjoy`` have it
- ``plot_train``, ``plot_from_file``, ``all_plots``: rl-zoo3's plots, unchanged (they read the log folders only)
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Callable

from sb3_udrl.zoo import import_gym_packages, register, with_default_conf, with_render_mode
from sb3_udrl.zoo.storage import prepare_tuning_storage


def train() -> None:
    """``rl_zoo3.train`` with sb3_udrl's algorithms and their default hyperparameter files, and envs made without a
    render mode unless ``--env-kwargs`` sets one (:func:`~sb3_udrl.zoo.with_render_mode`).

    Tuning (``-optimize``) with a database ``--storage`` first creates Optuna's tables and the ``--study-name`` study,
    retrying on the errors of workers that create them at the same moment
    (:func:`~sb3_udrl.zoo.storage.prepare_tuning_storage`).

    With ``--save-replay-buffer`` each ``--save-freq`` checkpoint carries the replay, and ``-i`` from a checkpoint
    loads it (:class:`~sb3_udrl.zoo.experiment.ResumableExperimentManager`)."""
    register()
    sys.argv = with_render_mode(with_default_conf(sys.argv), None)
    prepare_tuning_storage(sys.argv)
    import rl_zoo3.train as zoo_train_module

    from sb3_udrl.zoo.experiment import ResumableExperimentManager

    if not issubclass(zoo_train_module.ExperimentManager, ResumableExperimentManager):  # already ours (benchmark)
        zoo_train_module.ExperimentManager = ResumableExperimentManager  # type: ignore[misc]
    zoo_train_module.train()


def enjoy() -> None:
    """``rl_zoo3.enjoy`` with sb3_udrl's algorithms; it renders (``render_mode="human"``) unless ``--no-render`` or
    ``--env-kwargs`` sets a render mode, also for runs trained without one."""
    register()
    if "--no-render" not in sys.argv:
        sys.argv = with_render_mode(sys.argv, "human")
    from rl_zoo3.enjoy import enjoy as zoo_enjoy

    zoo_enjoy()


def record_video() -> None:
    """``rl_zoo3.record_video`` with sb3_udrl's algorithms (that script only runs as ``__main__``), and
    ``--gym-packages`` (imported here: that script lacks the option)."""
    register()
    sys.argv = import_gym_packages(sys.argv)
    runpy.run_module("rl_zoo3.record_video", run_name="__main__")


def plot_train() -> None:
    """``rl_zoo3.plots.plot_train``: training curves from the Monitor files of a log folder."""
    from rl_zoo3.plots import plot_train as zoo_plot_train

    zoo_plot_train()


def plot_from_file() -> None:
    """``rl_zoo3.plots.plot_from_file``: plots from a file written by ``all_plots -o``."""
    from rl_zoo3.plots import plot_from_file as zoo_plot_from_file

    zoo_plot_from_file()


def all_plots() -> None:
    """``rl_zoo3.plots.all_plots``: evaluation curves and a results table from several log folders."""
    from rl_zoo3.plots import all_plots as zoo_all_plots

    zoo_all_plots()


#: The scripts of ``sb3_udrl_zoo``, by name
SCRIPTS: dict[str, Callable[[], None]] = {
    "train": train,
    "enjoy": enjoy,
    "record_video": record_video,
    "plot_train": plot_train,
    "plot_from_file": plot_from_file,
    "all_plots": all_plots,
}


def _usage(prog: str) -> str:
    return f"usage: {prog} {{{','.join(SCRIPTS)}}} [options]  (options of the rl-zoo3 script: {prog} SCRIPT --help)"


def main() -> None:
    """Entry point of ``sb3_udrl_zoo``: run the script named by the first argument with the remaining ones."""
    prog = "sb3_udrl_zoo"
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(_usage(prog))
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    script_name = sys.argv[1]
    if script_name not in SCRIPTS:
        raise ValueError(f"Unknown script {script_name!r}: use one of {list(SCRIPTS)}")
    # The script parses the remaining arguments and names itself in its help
    sys.argv = [f"{prog} {script_name}", *sys.argv[2:]]
    SCRIPTS[script_name]()


if __name__ == "__main__":
    main()
