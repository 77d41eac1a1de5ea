"""`python -m sacodec_train COMMAND …`: pack, train, export, curves, parity, bench, recipe,
compare."""

import importlib
import sys

COMMANDS = {
    "pack": "pack",
    "train": "train",
    "export": "train",
    "curves": "curves",
    "parity": "parity",
    "bench": "bench",
    "recipe": "recipe",
    "compare": "compare",
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python -m sacodec_train {{{','.join(COMMANDS)}}} [options]")
    command = sys.argv[1]
    module = importlib.import_module(f"sacodec_train.{COMMANDS[command]}")
    entry = getattr(module, "export_main" if command == "export" else "main")
    entry(sys.argv[2:])


main()
