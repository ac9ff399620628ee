# ruff: noqa: RUF001  (look-alike characters are the subject of these tests)
"""`normalize` folds runs of one-to-one characters with C-level replaces and visits only the characters that are
dropped or expand (issue 6: a CJK text with one zero-width space cost ~1,500 instructions a character in a Python
loop). Its text and offset map must be exactly those of the per-character definition below."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.policy.normalize import _fold_dropping_tags, fold_char, normalize


def reference(text: str, fold: Callable[[str], str]) -> tuple[str, list[tuple[int, int, int, bool]]]:
    """One character at a time: a character folding to one character extends the current identity segment, one
    folding to several is a segment of its own, a dropped one ends the segment."""
    pieces: list[str] = []
    segs: list[tuple[int, int, int, bool]] = []
    npos = 0
    for i, ch in enumerate(text):
        rep = ch if " " <= ch <= "~" or ch in "\t\n\r" else fold(ch)
        if not rep:
            continue
        if len(rep) == 1:
            if segs and segs[-1][3] and segs[-1][2] == i:
                ns, os_, _, _ = segs[-1]
                segs[-1] = (ns, os_, i + 1, True)
            else:
                segs.append((npos, i, i + 1, True))
        else:
            segs.append((npos, i, i + 1, False))
        pieces.append(rep)
        npos += len(rep)
    return "".join(pieces), segs


# ASCII, CJK and kana, Cyrillic and Greek look-alikes (more than eight distinct: the translate path), accents,
# dashes and quotes, fullwidth, zero-width and bidi characters, controls, combining marks, expanding characters
# (ellipsis, ligatures, ½, ㈱), tag characters, emoji with a variation selector, Hangul fillers
ALPHABET = ("abcXYZ019 .,:-_\t\n\r" "我们的团队正在计划カード番号한국어" "аеорсухАВЕКМНОРСТХαορνικτυχ"
            "éßİÅñ–—‘’“”−" "０１２ＡＢＣ，：（）" "\u200b\u200c\u200d\u2060\ufeff\u202e\u00ad" "\x00\x07\x1b\x7f"
            "\u0301\u0308" "…ﬁﬂ½㈱™" "\U000e0041\U000e0020\U000e007f" "👍\ufe0f" "\u3164\u115f")


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=120), st.booleans(), st.sampled_from([1, 1, 1, 6, 40]))
def test_normalize_is_the_per_character_fold(piece: str, drop_tags: bool, times: int) -> None:
    text = piece * times  # long texts (512+ characters) take their distinct characters from numpy
    fold = _fold_dropping_tags if drop_tags else fold_char
    expected_text, expected_segs = reference(text, fold)
    got = normalize(text, drop_tags=drop_tags)
    assert got.text == expected_text
    if got.is_identity:  # no character dropped or expanded: the map is one identity segment
        assert expected_segs == ([(0, 0, len(text), True)] if text else [])
    else:
        assert got._segments() == expected_segs


def test_long_cjk_text_with_one_zero_width_space_maps_back() -> None:
    text = "我们的团队正在计划，" * 300 + "\u200b" + "当前作业读取前一天的订单。" * 300
    got = normalize(text)
    at = got.text.index("当前作业")
    assert got.to_original(at, at + 4) == (3001, 3005)
    assert got.text == text.replace("\u200b", "").replace("，", ",")
