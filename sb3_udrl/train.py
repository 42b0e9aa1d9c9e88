"""Train with rl-zoo3: ``python -m sb3_udrl.train --algo udrl --env LunarLander-v3`` (the options of ``rl_zoo3.train``).

Without ``-conf/--conf-file``, the hyperparameters come from sb3_udrl's ``hyperparams/{algo}.yml``.
"""

from sb3_udrl.zoo.cli import train as main

if __name__ == "__main__":
    main()
