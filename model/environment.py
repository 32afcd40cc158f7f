"""The environment every entry point runs in, defined once: offline, quiet, untracked.

Nothing may download a model or dataset at run time, and nothing is sent to third parties
(BentoML's usage tracking is off). The CLI, the service's workers, the bench and the tests
take it from here; the Makefile and bentofile.yaml, which are not Python, repeat it for
`make` targets and the Bento's image.
"""

from __future__ import annotations

import os

OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "BENTOML_DO_NOT_TRACK": "true",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def apply_offline_environment(override: bool = False) -> None:
    """Set the variables in this process (and its children); keep values already set unless `override`."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        if override:
            os.environ[name] = value
        else:
            os.environ.setdefault(name, value)
