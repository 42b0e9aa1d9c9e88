"""Record a video of a trained agent with rl-zoo3:
``python -m sb3_udrl.record_video --algo udrl --env LunarLander-v3 -f logs/ -n 1000`` (the options of
``rl_zoo3.record_video``)."""

from sb3_udrl.zoo.cli import record_video as main

if __name__ == "__main__":
    main()
