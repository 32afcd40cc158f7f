"""The `stanceframe` command: dispatches to the train, evaluate, score and labeling-loop steps.

It lives in training/ because it dispatches to training's steps: model/ is the bottom
layer and imports nothing from above it, not even by module name.

Each step lives in its own module with `main(argv=None) -> int`; they are imported only
when chosen, so `stanceframe score --help` does not import the training stack.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from model.environment import apply_offline_environment

COMMANDS = {
    "train": ("training.train", "Train the two-head model and register it in the BentoML store."),
    "evaluate": ("training.evaluate", "Development-set report, baselines and behavioural tests; writes the model card."),
    "score": ("model.score", "Label every sentence of article or sentence files (batch scoring)."),
    "export-dataset": ("training.dataset", "Write the labeled corpus as a Hugging Face dataset (Arrow, Parquet, card)."),
    "suggest": ("training.suggest", "Pick the scored sentences most worth labeling next, for a labeling tool."),
    "import-labels": ("training.import_labels", "Add labels from a labeling tool's export to the training data."),
    "report": ("model.report", "HTML report and tables of scored articles by group (e.g. outlet) and period."),
}


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("STANCEFRAME_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="stanceframe",
        description="Stance and framing of news sentences about China's Ukraine peace plan.",
        epilog="Run `stanceframe COMMAND --help` for the options of a command.",
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="; ".join(
        f"{name}: {summary}" for name, (_, summary) in COMMANDS.items()
    ))
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    apply_offline_environment()
    configure_logging()
    module = importlib.import_module(COMMANDS[args.command][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
