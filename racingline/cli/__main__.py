"""``python -m racingline.cli``."""

from racingline.cli import main

main()
