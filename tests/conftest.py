"""Shared fixtures: an isolated BentoML home, a tiny encoder and a tiny trained model.

The tiny encoder is a 2-layer, 32-wide BERT with the real MiniLM tokenizer, so unit tests
exercise the real training and inference code in seconds.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from model.environment import apply_offline_environment

PROJECT_DIR = Path(__file__).resolve().parents[1]
SEED_SENTENCES = PROJECT_DIR / "training" / "data" / "seed_sentences.jsonl"
TEAM_WRITTEN = PROJECT_DIR / "training" / "data" / "team_written.jsonl"
SEED_ARTICLES = sorted((PROJECT_DIR / "training" / "data" / "seeds").glob("*.txt"))


def pytest_configure(config):
    # Before anything imports bentoml: every test run gets its own model store.
    os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="stanceframe-test-bentoml-")
    apply_offline_environment(override=True)
    # BentoML's /metrics needs a multiprocess folder when the app runs in-process.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stanceframe-test-prometheus-")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with the real tokenizer, saved like a base model."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from model.network import base_model_path

    folder = tmp_path_factory.mktemp("tiny-base")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_model_path()).save_pretrained(folder)
    return folder


DEV_ARTICLES = ("003_990ab1c8f623fd39", "004_fcae2c39dca2a294")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> list[Path]:
    """A few seed-article and team-written rows, in files named like the real ones."""
    folder = tmp_path_factory.mktemp("tiny-data")
    return [
        write_jsonl(folder / "seed_sentences.jsonl", read_jsonl(SEED_SENTENCES)[:24]),
        write_jsonl(folder / "team_written.jsonl", read_jsonl(TEAM_WRITTEN)[::19][:24]),
    ]


@pytest.fixture(scope="session")
def tiny_dev(tmp_path_factory) -> Path:
    """A development file: every sentence of two seed articles that the tiny training data lacks."""
    rows = [row for row in read_jsonl(SEED_SENTENCES) if row["article"] in DEV_ARTICLES]
    return write_jsonl(tmp_path_factory.mktemp("tiny-dev") / "dev_sentences.jsonl", rows)


def tiny_train_config(tiny_base: Path, data_files: list[Path], output_dir: Path, dev: Path | None = None, **overrides):
    from training.config import TrainConfig

    values = dict(
        data_files=[str(p) for p in data_files],
        dev_files=[str(dev)] if dev else [],
        output_dir=str(output_dir),
        base_model=str(tiny_base),
        epochs=1,
        batch_size=8,
        max_steps=3,
        head_learning_rate=1e-2,
        context_mode="headline_previous",
        context_dropout=0.3,
        export_onnx=False,
        register=False,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_base, tiny_data, tiny_dev, tmp_path_factory) -> Path:
    """A two-head model that reads context, trained for a few steps on the tiny data and calibrated on the tiny dev set."""
    from training.train import train

    output_dir = tmp_path_factory.mktemp("tiny-model") / "model"
    train(tiny_train_config(tiny_base, tiny_data, output_dir, tiny_dev))
    return output_dir


@pytest.fixture(scope="session")
def tiny_predictor(tiny_model_dir):
    from model.predictor import Predictor

    return Predictor.from_directory(tiny_model_dir, model_tag="stanceframe:tiny")


@pytest.fixture(scope="session")
def registered_tag(tiny_base, tiny_data, tiny_dev, tmp_path_factory) -> str:
    """A tiny model registered in the test run's BentoML store as the latest `stanceframe`."""
    from training.train import train

    output_dir = tmp_path_factory.mktemp("registered") / "model"
    return train(tiny_train_config(tiny_base, tiny_data, output_dir, tiny_dev, register=True))["tag"]


@pytest.fixture(scope="session")
def client(registered_tag):
    """The service in-process behind an ASGI test client, once model loading is done.

    One per test run: a second app in the process would register BentoML's metrics twice.
    """
    import time

    from starlette.testclient import TestClient

    from service.service import StanceFrame

    with TestClient(StanceFrame.to_asgi()) as test_client:
        deadline = time.monotonic() + 60
        while test_client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the service never became ready"
            time.sleep(0.1)
        yield test_client


class ServedURL(str):
    """The base URL of the served service, carrying the server's process id."""

    pid: int


@pytest.fixture(scope="session")
def served_url(registered_tag, tmp_path_factory):
    """One real `bentoml serve` of the service on a free port, shared by the served tests."""
    from service.loadtest import running_server

    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with running_server(log=log) as (url, server, _):
        url = ServedURL(url)
        url.pid = server.pid
        yield url


@pytest.fixture(scope="session")
def tiny_onnx_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with its ONNX fp32 and int8 exports."""
    import shutil

    from model.onnx_backend import export_onnx

    folder = tmp_path_factory.mktemp("tiny-onnx") / "model"
    shutil.copytree(tiny_model_dir, folder)
    export_onnx(folder)
    return folder
