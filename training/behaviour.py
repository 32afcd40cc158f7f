"""Behavioural tests in the style of CheckList (Ribeiro et al., 2020): what the model must get right.

Three kinds of test, each generated from templates and fillers (deterministically), each
with a gold expectation that follows `../shared/annotation-guidelines.md`:
- MFT (minimum functionality): every case has an expected label; a failure is a wrong label.
- INV (invariance): a label-preserving edit (another name, outlet, capital or date); a
  failure is a changed label.
- DIR (directional): an edit that must move one class's probability one way (e.g. adding a
  reported rejection must not make a sentence look more supportive); a failure is a move
  the wrong way by more than DIR_TOLERANCE.

The cases are written by the team for testing only; none is in the training data, and
`stanceframe evaluate` reports each test's failure rate in the model card.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from model.labels import FRAME_LABELS, STANCE_LABELS

# A DIR case fails when the target probability moves the wrong way by more than this.
DIR_TOLERANCE = 0.05

CRITICS = (
    "Secretary of State Antony Blinken", "NATO Secretary-General Jens Stoltenberg",
    "Ukrainian Foreign Minister Dmytro Kuleba", "German Chancellor Olaf Scholz",
    "EU foreign policy chief Josep Borrell", "a senior US administration official",
    "Lithuania's foreign minister", "Poland's deputy foreign minister",
)
CAPITALS = ("Washington", "Berlin", "Warsaw", "Kyiv", "Tokyo", "London", "Brussels", "Canberra")
SUPPORTERS = (
    "Brazilian President Luiz Inacio Lula da Silva", "Russian Foreign Minister Sergei Lavrov",
    "Hungary's foreign minister", "Kremlin spokesman Dmitry Peskov", "South Africa's foreign minister",
    "Belarusian leader Alexander Lukashenko", "Indonesia's foreign minister", "Pakistan's ambassador to the UN",
)
CHINESE_OFFICIALS = (
    "Foreign Minister Wang Yi", "foreign ministry spokesperson Mao Ning", "special envoy Li Hui",
    "President Xi Jinping", "spokesperson Wang Wenbin", "Ambassador Zhang Jun",
)
PLANS = (
    "12-point position paper", "peace plan", "peace proposal", "position paper on the Ukraine crisis",
    "peace initiative",
)
PRAISE = ("constructive", "balanced", "credible", "serious", "workable", "impartial")
OUTLETS = ("Reuters", "AFP", "the Associated Press", "Bloomberg", "Kyodo", "Anadolu Agency")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
DATES = ("March 20", "April 26", "May 16", "June 15", "August 5", "September 27")


@dataclass
class BehaviourTest:
    """One test: its cases and how each case passes."""

    name: str
    capability: str
    kind: str  # MFT, INV or DIR
    head: str  # stance or frame
    cases: list[tuple[str, ...]]
    expected: str | None = None  # MFT: the gold label; DIR: the class whose probability must move
    direction: int = 0  # DIR: +1 the probability must not fall, -1 it must not rise
    description: str = ""
    labels: Sequence[str] = field(init=False)

    def __post_init__(self) -> None:
        self.labels = STANCE_LABELS if self.head == "stance" else FRAME_LABELS
        if self.expected is not None and self.expected not in self.labels:
            raise ValueError(f"{self.name}: {self.expected!r} is not a {self.head} label.")


def fill(templates: Sequence[str], limit: int = 40, **slots: Sequence[str]) -> list[str]:
    """Deterministic fillings of the templates: the slot values are cycled in step, not crossed."""
    texts = []
    for template in templates:
        names = [name for name in slots if "{" + name + "}" in template]
        width = max((len(slots[name]) for name in names), default=1)
        for i in range(width):
            texts.append(template.format(**{name: slots[name][i % len(slots[name])] for name in names}))
    return list(dict.fromkeys(texts))[:limit]


def mft(name: str, capability: str, head: str, expected: str, texts: list[str], description: str) -> BehaviourTest:
    return BehaviourTest(name, capability, "MFT", head, [(t,) for t in texts], expected, description=description)


def swapped(texts: list[str], pools: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """(text, edited text) pairs: the first member of any pool found in a text swapped for another member."""
    pairs = []
    for text in texts:
        for pool in pools:
            found = next((value for value in pool if value in text), None)
            if found:
                other = pool[(pool.index(found) + 3) % len(pool)]
                pairs.append((text, text.replace(found, other)))
                break
    return pairs


def build_tests() -> list[BehaviourTest]:
    slots = dict(critic=CRITICS, capital=CAPITALS, supporter=SUPPORTERS, official=CHINESE_OFFICIALS,
                 plan=PLANS, praise=PRAISE, outlet=OUTLETS, day=DAYS, date=DATES)
    negated_praise = fill([
        "{critic} said China's {plan} was anything but {praise}.",
        "{critic} rejected suggestions that Beijing's {plan} offered a {praise} path to peace.",
        "Far from being {praise}, the {plan} would reward Moscow's aggression, {critic} said on {day}.",
        "{critic} told reporters there was nothing {praise} about a {plan} that leaves Russian troops in place.",
        "Calling China's {plan} {praise} would be a stretch, {critic} said.",
    ], **slots)
    reported_rejection = fill([
        "{capital} declined to endorse China's {plan} on {day}.",
        "Officials in {capital} said they saw little in Beijing's {plan} that could end the war.",
        "{critic} said the government would not back the {plan}.",
        "The {plan} received a cool reception in {capital}, where officials noted it did not call for a Russian withdrawal.",
        "{critic} said allies remained unconvinced that Beijing could act as a mediator.",
        "{capital} dismissed the {plan} as a restatement of Russian talking points, {outlet} reported.",
    ], **slots)
    attributed_praise = fill([
        "{supporter} described China's {plan} as a comprehensive and objective basis for talks.",
        "{supporter} said the {plan} reflected the common aspiration of the international community for peace.",
        "The {plan} has won broad support among developing countries, {supporter} said on {day}.",
        "{supporter} called Beijing's {plan} a sensible starting point for negotiations.",
        "{supporter} said China's {plan} offered a realistic way forward and deserved serious attention.",
    ], **slots)
    chinese_advocacy = fill([
        "\"Dialogue and negotiation are the only viable way out of the crisis,\" {official} said.",
        "{official} said China would keep playing a constructive role in promoting peace talks.",
        "China stands on the side of peace and will continue to push for a ceasefire, {official} said.",
        "\"We call on all parties to support a political settlement,\" {official} told reporters on {day}.",
    ], **slots)
    flat_report = fill([
        "{official} called for a ceasefire during talks with his counterpart on {day}, according to a readout.",
        "The meeting came after {official} urged peace talks in a phone call on {date}.",
    ], **slots)
    conditional_openness = fill([
        "{critic} said any plan would be welcome provided it began with a full Russian withdrawal.",
        "{capital} would consider China's {plan} only if it first demanded that Russian troops leave occupied territory.",
        "We are open to any initiative, as long as it restores Ukraine's 1991 borders, {critic} said.",
    ], **slots)
    questions = fill([
        "Can Beijing really be an honest broker while it deepens trade with Moscow?",
        "How {praise} can a {plan} be if it never mentions the withdrawal of Russian troops?",
        "Is China's {plan} anything more than a diplomatic fig leaf for Moscow?",
    ], **slots)
    scare_quotes = fill([
        "China's so-called \"{plan}\" does little more than freeze the front line, {critic} said.",
        "Beijing's \"neutrality\" has looked increasingly hollow since Xi's visit to Moscow.",
        "The \"{praise}\" {plan}, as state media call it, was drafted without consulting Kyiv.",
    ], **slots)
    critics_of_critics = fill([
        "Those who mock China's {plan} have offered nothing but more weapons and more war, {supporter} said.",
        "{supporter} said Western governments dismissing the {plan} were prolonging the bloodshed.",
    ], **slots)
    plan_points = fill([
        "The {plan}'s first point concerns respect for the sovereignty of all countries.",
        "Point six of the {plan} calls for protecting civilians and prisoners of war.",
        "The {plan} also calls for keeping nuclear power plants safe and facilitating grain exports.",
        "The document, released on {date}, lists twelve points.",
    ], **slots)
    routine_diplomacy = fill([
        "{official} will visit {capital} on {day} for talks with his counterpart, the ministry said.",
        "{official} met the German foreign minister in Beijing on {date}.",
        "The two sides discussed bilateral trade and the situation in Ukraine, {outlet} reported.",
    ], **slots)
    rival_plan = fill([
        "{critic} said Ukraine's own peace formula remained the only basis for a just peace.",
        "The Pope called on {day} for negotiations to end the war in Ukraine.",
    ], **slots)

    tests = [
        mft("negated praise words", "negation", "stance", "skeptical", negated_praise,
            "praise vocabulary (constructive, balanced, ...) inside a denial or a rejection"),
        mft("flat report of rejection", "reported rejection", "stance", "skeptical", reported_rejection,
            "an unemotional report of a government declining, doubting or dismissing the plan"),
        mft("praise in official register", "attributed praise", "stance", "supportive", attributed_praise,
            "an endorsement reported in descriptive language, without 'welcome'"),
        mft("Chinese official's own advocacy", "attributed praise", "stance", "supportive", chinese_advocacy,
            "a Chinese official promoting talks or a ceasefire in their own words"),
        mft("flat report of a Chinese call", "reported speech", "stance", "neutral", flat_report,
            "a third party's flat report that an official called for talks (guidelines: neutral)"),
        mft("conditional openness", "hedged and conditional openness", "stance", "skeptical", conditional_openness,
            "openness on a condition the plan is criticised for lacking (withdrawal, borders)"),
        mft("rhetorical questions", "questions", "stance", "skeptical", questions,
            "a question that doubts China's role or the plan"),
        mft("scare quotes", "scare quotes", "stance", "skeptical", scare_quotes,
            "quotation marks that distance the writer from the plan's claims"),
        mft("criticism of the critics", "attributed praise", "stance", "supportive", critics_of_critics,
            "attacks on those who dismiss the plan (guidelines: supportive)"),
        mft("description of the plan's points", "neutral description", "stance", "neutral", plan_points,
            "what the plan says, without evaluation"),
        mft("routine diplomacy", "neutral description", "stance", "neutral", routine_diplomacy,
            "visits, meetings and schedules"),
        mft("other peace efforts", "neutral description", "stance", "neutral", rival_plan,
            "calls for talks or plans with no word on China's initiative"),
        mft("plan points are peace_process", "frame", "frame", "peace_process", plan_points[:3] + fill([
            "The proposal calls for respecting the sovereignty, independence and territorial integrity of all countries.",
            "Xi's visit to Moscow is a journey of peace, {official} said.",
        ], **slots), "peace-process sentences with sovereignty or visit vocabulary"),
        mft("visits by agenda are diplomacy", "frame", "frame", "diplomacy", routine_diplomacy[:6],
            "a visit or meeting described by its dates or agenda"),
        mft("arms fears are security", "frame", "frame", "security", fill([
            "Officials in {capital} fear Beijing could send weapons to Moscow.",
            "{critic} said there was evidence that Chinese firms were supplying drone parts to Russia.",
        ], **slots), "arms supplies and military matters"),
        mft("neutrality doubts are credibility", "frame", "frame", "credibility", fill([
            "Beijing is not an impartial party, {critic} said.",
            "{critic} questioned whether China could be seen as a neutral mediator.",
        ], **slots), "how an actor is seen: neutrality, trust, motives"),
    ]

    base_for_invariance = negated_praise[:10] + reported_rejection[:10] + attributed_praise[:10] + routine_diplomacy[:6]
    tests += [
        BehaviourTest("swap names and capitals", "invariance", "INV", "stance",
                      swapped(base_for_invariance, (CRITICS, SUPPORTERS, CHINESE_OFFICIALS, CAPITALS)),
                      description="another speaker of the same side, or another capital"),
        BehaviourTest("swap outlets and dates", "invariance", "INV", "stance",
                      swapped(base_for_invariance + fill(["{capital} dismissed the {plan}, {outlet} reported on {date}."], **slots),
                              (OUTLETS, DATES, DAYS)),
                      description="another news agency, day or date"),
    ]

    neutral_bases = fill([
        "{official} presented the {plan} in {capital} on {day}",
        "The {plan} was published on {date}",
        "{official} discussed the {plan} with European diplomats",
    ], **slots)
    tests += [
        BehaviourTest("adding a rejection", "directional", "DIR", "stance",
                      [(f"{b}.", f"{b}, but {critic} dismissed it as one-sided.") for b, critic in zip(neutral_bases, itertools.cycle(CRITICS))],
                      expected="skeptical", direction=+1,
                      description="a clause reporting a rejection must not lower P(skeptical)"),
        BehaviourTest("adding an endorsement", "directional", "DIR", "stance",
                      [(f"{b}.", f"{b}, and {s} praised it as a balanced way forward.") for b, s in zip(neutral_bases, itertools.cycle(SUPPORTERS))],
                      expected="supportive", direction=+1,
                      description="a clause reporting praise must not lower P(supportive)"),
        BehaviourTest("negating praise", "directional", "DIR", "stance",
                      [(f"{c} called China's {p} {w}.", f"{c} denied that China's {p} was {w}.")
                       for c, p, w in zip(CRITICS, itertools.cycle(PLANS), itertools.cycle(PRAISE))],
                      expected="supportive", direction=-1,
                      description="negating a praise word must not raise P(supportive)"),
    ]
    return tests


def run_tests(tests: Sequence[BehaviourTest], probabilities: Callable[[list[str]], dict[str, np.ndarray]]) -> list[dict]:
    """Each test's failure rate and a few failing cases; `probabilities` maps texts to per-head arrays."""
    texts = sorted({text for test in tests for case in test.cases for text in case})
    index = {text: row for row, text in enumerate(texts)}
    scores = probabilities(texts)
    results = []
    for test in tests:
        head = scores[test.head]
        failures = []
        for case in test.cases:
            rows = [index[text] for text in case]
            if test.kind == "MFT":
                found = test.labels[int(head[rows[0]].argmax())]
                failed = found != test.expected
                detail = found
            elif test.kind == "INV":
                before, after = (test.labels[int(head[row].argmax())] for row in rows)
                failed = before != after
                detail = f"{before} -> {after}"
            else:
                column = test.labels.index(test.expected)
                change = float(head[rows[1], column] - head[rows[0], column])
                failed = change * test.direction < -DIR_TOLERANCE
                detail = f"P({test.expected}) {change:+.2f}"
            if failed:
                failures.append({"case": list(case), "found": detail})
        results.append({
            "name": test.name, "capability": test.capability, "kind": test.kind, "head": test.head,
            "expected": test.expected, "description": test.description, "cases": len(test.cases),
            "failures": len(failures), "failure_rate": len(failures) / max(len(test.cases), 1),
            "examples": failures[:3],
        })
    return results
