"""Optuna samplers of the reward-conditioned algorithms, in rl-zoo3's format.

Each algorithm has a pair: ``sample_<algo>_params(trial, n_actions, n_envs, additional_args)`` draws the raw values
with ``trial.suggest_*`` and returns ``convert_<algo>_params(trial.params)``, the constructor keyword arguments.
The converter only reads the raw values, so a stored trial is reproduced from ``trial.params`` alone
(rl-zoo3's ``--storage ... --study-name ... --trial-id N``).

This module does not import rl-zoo3; :func:`sb3_udrl.zoo.register` adds the pairs to its registries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

#: Named network architectures of the search (``policy_kwargs["net_arch"]``), from the smallest MLP of the
#: UDRL paper's search to its largest one
NET_ARCHS: dict[str, list[int]] = {
    "small": [32],
    "medium": [32, 64, 64],
    "large": [64, 128, 128],
    "xlarge": [64, 128, 128, 128],
}


def convert_udrl_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn the raw values of a UDRL trial into :class:`~sb3_udrl.UDRL` keyword arguments.

    Pure function of its argument: ``net_arch`` (a key of :data:`NET_ARCHS`) becomes
    ``policy_kwargs=dict(net_arch=[...])``, every other value is passed as is.

    :param sampled_params: the trial's parameters (``trial.params``)
    :return: the keyword arguments of the UDRL constructor
    """
    hyperparams = dict(sampled_params)
    net_arch = hyperparams.pop("net_arch")
    if net_arch not in NET_ARCHS:
        raise ValueError(f"Unknown net_arch {net_arch!r}: expected one of {list(NET_ARCHS)}")
    # A fresh list per call, so that a model never shares it with the table
    hyperparams["policy_kwargs"] = dict(net_arch=list(NET_ARCHS[net_arch]))
    return hyperparams


def sample_udrl_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]) -> dict[str, Any]:
    """
    Sample UDRL hyperparameters over the search ranges of the UDRL paper (appendix, LunarLander).

    ``last_few`` (at most 100) never exceeds ``replay_size`` (at least 300), so every combination is valid.

    :param trial: the Optuna trial
    :param n_actions: size of a Box action space (unused)
    :param n_envs: number of training envs (unused)
    :param additional_args: rl-zoo3's extra information (HER settings; unused)
    :return: the keyword arguments of the UDRL constructor
    """
    del n_actions, n_envs, additional_args
    trial.suggest_categorical("batch_size", [512, 768, 1024, 1536, 2048])
    trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
    trial.suggest_categorical("replay_size", [300, 400, 500, 600, 700])
    trial.suggest_categorical("last_few", [25, 50, 75, 100])
    trial.suggest_categorical("n_episodes_per_iter", [10, 20, 30, 40])
    trial.suggest_categorical("n_updates_per_iter", [100, 150, 200, 250, 300])
    trial.suggest_categorical("n_warm_up_episodes", [10, 30, 50])
    trial.suggest_categorical("return_scale", [0.01, 0.015, 0.02, 0.025, 0.03])
    trial.suggest_categorical("horizon_scale", [0.01, 0.015, 0.02, 0.025, 0.03])
    trial.suggest_categorical("net_arch", list(NET_ARCHS))
    return convert_udrl_params(trial.params)


def convert_rcp_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """
    Turn the raw values of an RCPR or RCPA trial into constructor keyword arguments (``net_arch`` as for UDRL).

    :param sampled_params: the trial's parameters (``trial.params``)
    :return: the keyword arguments of the RCPR / RCPA constructor
    """
    return convert_udrl_params(sampled_params)


def _sample_rcp_common(trial: optuna.Trial) -> None:
    """Ranges shared by RCP-R and RCP-A, around the RCP research code's and AWR's settings."""
    trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True)
    trial.suggest_categorical("batch_size", [128, 256, 512])
    trial.suggest_categorical("buffer_size", [20_000, 50_000, 100_000])
    trial.suggest_categorical("n_updates_per_iter", [200, 500, 1000])
    trial.suggest_categorical("n_steps_per_iter", [1024, 2048, 4096])
    trial.suggest_categorical("beta", [0.5, 1.0, 2.0])
    trial.suggest_categorical("target_shift", [0.5, 1.0, 2.0])
    trial.suggest_categorical("net_arch", list(NET_ARCHS))


def sample_rcpr_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]) -> dict[str, Any]:
    """
    Sample RCPR hyperparameters (the shared RCP ranges, ``return_scale``, ``gamma``, what the weights rank, and
    whether the target follows the rewards).

    :param trial: the Optuna trial
    :param n_actions: size of a Box action space (unused)
    :param n_envs: number of training envs (unused)
    :param additional_args: rl-zoo3's extra information (unused)
    :return: the keyword arguments of the RCPR constructor
    """
    del n_actions, n_envs, additional_args
    _sample_rcp_common(trial)
    trial.suggest_categorical("return_scale", [0.005, 0.01, 0.02, 0.03])
    trial.suggest_categorical("gamma", [0.99, 1.0])
    trial.suggest_categorical("weight_by", ["return_to_go", "episode_return"])
    trial.suggest_categorical("closed_loop", [True, False])
    return convert_rcp_params(trial.params)


def sample_rcpa_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]) -> dict[str, Any]:
    """
    Sample RCPA hyperparameters (the shared RCP ranges and the value network's; AWR: 200 value steps, lambda 0.95).

    :param trial: the Optuna trial
    :param n_actions: size of a Box action space (unused)
    :param n_envs: number of training envs (unused)
    :param additional_args: rl-zoo3's extra information (unused)
    :return: the keyword arguments of the RCPA constructor
    """
    del n_actions, n_envs, additional_args
    _sample_rcp_common(trial)
    trial.suggest_categorical("n_value_updates_per_iter", [100, 200, 400])
    trial.suggest_float("value_learning_rate", 1e-4, 3e-3, log=True)
    trial.suggest_categorical("gae_lambda", [0.9, 0.95, 0.99])
    return convert_rcp_params(trial.params)


#: Sampler and converter of each algorithm, by rl-zoo3 name
HYPERPARAMS_SAMPLER: dict[str, Callable[..., dict[str, Any]]] = {
    "udrl": sample_udrl_params,
    "rcpr": sample_rcpr_params,
    "rcpa": sample_rcpa_params,
}
HYPERPARAMS_CONVERTER: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "udrl": convert_udrl_params,
    "rcpr": convert_rcp_params,
    "rcpa": convert_rcp_params,
}
