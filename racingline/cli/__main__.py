"""``python -m racingline.cli``."""

from racingline.cli.app import main

main()
