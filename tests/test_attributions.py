"""Which words mattered: leave-one-word-out attributions, their offsets and their sign."""

from __future__ import annotations

import numpy as np
import pytest

from model.labels import FRAME_LABELS, STANCE_LABELS


class OneWordNetwork:
    """A stand-in network whose skeptical logit counts one token in the sentence: that token alone drives it."""

    has_pooled = False

    def __init__(self, config, token_id: int):
        self.config = config
        self.token_id = token_id

    def __call__(self, input_ids, attention_mask, token_type_ids):
        count = ((input_ids == self.token_id) & (token_type_ids == 0) & (attention_mask == 1)).sum(axis=1)
        stance = np.zeros((len(input_ids), len(STANCE_LABELS)), dtype=np.float32)
        stance[:, STANCE_LABELS.index("skeptical")] = 3.0 * count
        return stance, np.zeros((len(input_ids), len(FRAME_LABELS)), dtype=np.float32)


@pytest.fixture(scope="module")
def one_word_predictor(tiny_model_dir):
    from transformers import AutoTokenizer

    from model.config import StanceFrameConfig
    from model.predictor import Predictor

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    [token_id] = tokenizer("rejected", add_special_tokens=False)["input_ids"]
    config = StanceFrameConfig(context_mode="previous", context_max_tokens=16)
    return Predictor(OneWordNetwork(config, token_id), tokenizer, "one-word", batch_size=4)


def test_the_word_that_drives_the_logit_gets_the_attribution_at_its_offsets(one_word_predictor):
    from model.explain import explain

    sentence = "Beijingers said the ministers rejected Wang's twelve-point plan."
    context = "Nobody rejected anything before."  # context is read, but never a word of the sentence
    [explanation] = explain(one_word_predictor, [sentence], [context], neighbours=0, with_attributions=True)
    assert explanation.stance == "skeptical" and explanation.neighbours == []
    words = explanation.attributions
    # Words as the tokenizer splits them (word pieces joined), with offsets into the sentence.
    assert [w.token for w in words] == [
        "Beijingers", "said", "the", "ministers", "rejected", "Wang", "'", "s", "twelve", "-", "point", "plan", ".",
    ]
    assert all(sentence[w.start : w.end] == w.token for w in words)
    [driver] = [w for w in words if w.score > 1e-6]
    assert driver.token == "rejected"
    # The skeptical probability with the word (3 vs 0, 0) minus without it (uniform).
    assert driver.score == pytest.approx(np.exp(3) / (np.exp(3) + 2) - 1 / 3, abs=1e-5)
    assert max(abs(w.score) for w in words if w is not driver) < 1e-6


def test_attributions_follow_the_predicted_stance_and_pull_away_when_it_is_another(one_word_predictor):
    from model.explain import attributions, stance_occlusion

    sentence = "The ministers rejected the plan."
    [(spans, drops)] = stance_occlusion(one_word_predictor, [sentence])
    word = [sentence[start:end] for start, end in spans].index("rejected")
    assert drops[word, STANCE_LABELS.index("skeptical")] > 0
    assert drops[word, STANCE_LABELS.index("supportive")] < 0
    [toward_supportive] = attributions(one_word_predictor, [sentence], None, ["supportive"])
    assert toward_supportive[word].score == pytest.approx(drops[word, 0])


def test_words_beyond_the_model_window_get_no_attribution(one_word_predictor):
    from model.explain import explain

    sentence = " ".join(["envoy"] * 200) + " rejected it."
    [explanation] = explain(one_word_predictor, [sentence], None, neighbours=0, with_attributions=True)
    assert explanation.truncated is True and explanation.stance != "skeptical"
    assert len(explanation.attributions) == one_word_predictor.max_length - 2
    assert "rejected" not in {w.token for w in explanation.attributions}


# The directional test's fit: passes with seeds 1, 2, 3 and 5 at 8 to 30 epochs; 8 keeps it to seconds.
SEED = 3
EPOCHS = 8
DIRECTIONAL_TEMPLATES = [
    "The foreign ministers {} the proposal at the summit.",
    "Officials in Kyiv {} the twelve-point paper on Friday.",
    "The delegation {} the offer after two days of talks.",
    "European diplomats {} the document in Brussels.",
    "Parliament {} the framework in a late vote.",
    "The envoy said his government {} the initiative.",
    "Analysts noted that Washington {} the position paper.",
    "The committee {} the plan without debate.",
]


def test_adding_rejected_gives_that_word_the_skeptical_attribution_in_a_trained_model(tiny_base, tmp_path):
    """A tiny model trained in the test on team-written sentences where "rejected" marks skepticism."""
    from model.explain import attributions
    from model.predictor import Predictor
    from tests.conftest import tiny_train_config
    from training.data import LabeledSentence
    from training.fit import fit, load_tokenizer

    training = [
        LabeledSentence(id=f"{verb}-{i}", text=template.format(verb), stance=stance, frame="peace_process",
                        source="test")
        for i, template in enumerate(DIRECTIONAL_TEMPLATES[:-1])
        for verb, stance in (("rejected", "skeptical"), ("welcomed", "supportive"), ("discussed", "neutral"))
    ]
    config = tiny_train_config(tiny_base, [tmp_path / "unused.jsonl"], tmp_path / "model", context_mode="none",
                               context_dropout=0.0, max_steps=0, epochs=EPOCHS, learning_rate=1e-3,
                               head_learning_rate=3e-2, freeze_word_embeddings=False)
    tokenizer = load_tokenizer(config)
    predictor = Predictor.for_module(fit(training, None, tokenizer, config, "directional", seed=SEED), tokenizer, "tiny")

    held_out = DIRECTIONAL_TEMPLATES[-1]
    plain, edited = held_out.format("reviewed"), held_out.format("rejected")
    before, after = predictor.probabilities([plain, edited]).stance[:, STANCE_LABELS.index("skeptical")]
    assert after > before
    [scores] = attributions(predictor, [edited], None, ["skeptical"])
    by_word = {w.token: w.score for w in scores}
    assert by_word["rejected"] > 0
    assert by_word["rejected"] == max(by_word.values())
