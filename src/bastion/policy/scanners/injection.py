"""The prompt-injection / jailbreak scanner: normalised rules for known attack families plus a small
offline classifier (hashed n-grams, logistic regression, weights shipped in the package).

Findings: one per rule family that fires (type "injection.<family>", e.g. "injection.ignore_previous")
and one for the classifier (type "injection") when its best window reaches the threshold. Offsets
are into the text given to `scan`. Nothing is downloaded: the model is a small .npz inside the package.
"""

from __future__ import annotations

import functools
from pathlib import Path

from bastion.policy.injection.classifier import LinearModel, logit_floor
from bastion.policy.injection.detector import MODEL_FAMILY, Detector
from bastion.policy.registry import ScannerOptionError
from bastion.policy.scanner import Match

FAMILIES = ("ignore_previous", "prompt_exfiltration", "roleplay_jailbreak", "fake_turn", "encoded_payload", "indirect")


@functools.lru_cache(maxsize=16)
def shared_detector(rules: bool, classifier: bool, model_path: str | None) -> Detector:
    """One detector per (layers, model file) in a process: every injection rule of every policy with
    those options uses it (findings are pure; the threshold is the scanner's). Building one takes
    ~0.25 s and ~5 MB, so per-role thresholds and several policies no longer multiply that."""
    model = LinearModel.load(Path(model_path) if model_path else None) if classifier else None
    return Detector(model, use_rules=rules, use_model=classifier)


class InjectionScanner:
    """`InjectionScanner(threshold=0.8, rules=True, classifier=True, model_path=None)`.

    threshold: a finding is reported when its score is at least this (0..1). Raising it trades recall
    for fewer false positives; docs/injection.md has the measured trade-off.
    rules / classifier: switch a layer off (both on by default).
    model_path: another model file trained with data/injection/train.py (default: the packaged one).
    """

    name = "injection"

    def __init__(self, threshold: float = 0.8, *, rules: bool = True, classifier: bool = True,
                 model_path: str | None = None) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise ScannerOptionError("threshold", "must be a number between 0 and 1")
        for field, value in (("rules", rules), ("classifier", classifier)):
            if not isinstance(value, bool):
                raise ScannerOptionError(field, "must be true or false")
        if not rules and not classifier:
            raise ScannerOptionError("", "at least one of rules and classifier must be enabled")
        if model_path is not None and (not isinstance(model_path, str) or not model_path):
            raise ScannerOptionError("model_path", "must be the path of a model file")
        self.threshold = float(threshold)  # (sets `_floor` too)
        try:
            self._detector = shared_detector(rules, classifier,
                                             str(Path(model_path).resolve()) if model_path else None)
        except Exception as e:  # a missing, unreadable or foreign file: a config error, not a traceback
            if not model_path:
                raise
            detail = (e.strerror if isinstance(e, OSError) and e.strerror else str(e) if isinstance(e, ValueError)
                      else f"not a model file ({type(e).__name__})")
            raise ScannerOptionError("model_path", f"cannot load the model file {model_path!r}: {detail}") from None

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = float(value)
        self._floor = logit_floor(self._threshold)  # (the classifier's windows below it cannot be reported)

    @property
    def model_version(self) -> str:
        model = self._detector.model
        return model.version if model is not None else ""

    def score(self, text: str) -> float:
        """The highest score any layer gives `text` (for tuning and `bastion scan`)."""
        return self._detector.score(text)

    def scan(self, text: str) -> list[Match]:
        out: list[Match] = []
        for f in self._detector.findings(text, self._floor):
            if f.score < self._threshold:
                continue
            kind = "injection" if f.family == MODEL_FAMILY else f"injection.{f.family}"
            out.append(Match(kind, f.start, f.end, round(min(max(f.score, 0.0), 1.0), 4)))
        if len(out) > 1:  # (most scans report nothing: no sort, no key function)
            out.sort(key=_order)
        return out


def _order(m: Match) -> tuple[float, int]:
    """Highest score first, then by start."""
    return -m.score, m.start
