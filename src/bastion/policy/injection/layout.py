"""Layout runs in the canonical form: which characters of a long run of one layout character to cut.

A layout character (features.RUN_CHARS) is dropped when the three characters before it, whitespace skipped,
are the same character ("----------" → "---", "- - - - -" → "- - -", lines of "=====" → one "===") or when it
closes an alternation of two layout characters seven long ("-=-=-=-=-=" → "-=-=-="). A horizontal rule or a
box frame then adds its n-grams once, so padding cannot dilute a text's score or fingerprint its source.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from bastion.policy.injection.features import RUN_CHARS

U32 = npt.NDArray[np.uint32]
RUN_KEEP = 3
_RUN_ASCII = bytes(ch for ch in range(128) if chr(ch) in RUN_CHARS)
_R = rb"[" + re.escape(_RUN_ASCII) + rb"]"
# an ASCII text (whitespace runs already single) has a run to cut exactly when this matches
RUN_REPEAT = re.compile(rb"(" + _R + rb")(?:[ \n]?\1){" + str(RUN_KEEP).encode() + rb"}|(" + _R + rb")[ \n]?(" + _R
                        + rb")(?:[ \n]?\2[ \n]?\3){" + str(RUN_KEEP - 1).encode() + rb"}[ \n]?\2")


def layout_runs(mapped: U32, layout: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_] | None:
    """Of a text with whitespace collapsed, the layout characters that repeat a run (whitespace skipped):
    preceded by RUN_KEEP copies of themselves, or closing an alternation of two layout characters ("-=-=-=-")
    longer than 2 * RUN_KEEP; None when there are none. Works on the layout characters only (a few per line
    of prose), so a text without such runs costs a few array operations."""
    k = RUN_KEEP
    at = np.flatnonzero(layout[mapped])  # `layout` covers every code point (0 .. 0x10FFFF)
    if len(at) <= k:
        return None
    vals = mapped[at]
    # necessary for both patterns: a layout character equal to the one two layout characters back, at most
    # four positions away, twice (a run of four) or more (an alternation of seven)
    if np.count_nonzero((vals[2:] == vals[:-2]) & (at[2:] - at[:-2] <= 4)) < k - 1:
        return None
    # at[i] follows at[i - 1] directly, or across one whitespace character: adj[i - 1]
    gap = at[1:] - at[:-1]
    mid = mapped[np.minimum(at[:-1] + 1, len(mapped) - 1)]
    adj = (gap == 1) | ((gap == 2) & ((mid == 32) | (mid == 10)))
    one = adj & (vals[1:] == vals[:-1])  # one[i - 1]: at[i] repeats the character before it
    two = adj[1:] & adj[:-1] & (vals[2:] == vals[:-2])  # two[i - 2]: at[i] repeats the one two before it
    drop = np.zeros(len(at), dtype=bool)
    if np.count_nonzero(one) >= k:  # closes k repeats: one[i - 1], ..., one[i - k]
        run = one[k - 1:].copy()
        for i in range(1, k):
            run &= one[k - 1 - i:len(one) - i]
        drop[k:] = run
    if np.count_nonzero(two) >= 2 * k - 1:  # alternates back to at[i - 2k]: two[i - 2k], ..., two[i - 2]
        alt = two[2 * k - 2:].copy()
        for i in range(1, 2 * k - 1):
            alt &= two[2 * k - 2 - i:len(two) - i]
        drop[2 * k:] |= alt
    if not drop.any():
        return None
    cut = np.zeros(len(mapped), dtype=bool)
    cut[at[drop]] = True
    return cut
