"""Run a trained agent with rl-zoo3: ``python -m sb3_udrl.enjoy --algo udrl --env LunarLander-v3 -f logs/``
(the options of ``rl_zoo3.enjoy``)."""

from sb3_udrl.zoo.cli import enjoy as main

if __name__ == "__main__":
    main()
