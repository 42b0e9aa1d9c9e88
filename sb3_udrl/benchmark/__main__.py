"""``python -m sb3_udrl.benchmark``."""

from sb3_udrl.benchmark.cli import main

if __name__ == "__main__":
    main()
