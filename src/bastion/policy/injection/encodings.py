"""Runs of hex, binary (8-bit groups) and Morse code in a text, decoded: where an injection hides in an encoding.

Base64 and ROT13 are handled by the detector itself. Each decoder returns (start, end, decoded text) per run
long enough to carry an instruction (16 bytes or 8 Morse letters); a run that does not decode to printable
text is skipped. The detector then searches each decoded text with its strong rules.
"""

from __future__ import annotations

import re

# Binary opens with a literal (re then skips ahead fast); hex and Morse are searched only past a count
# gate. Hex and binary: ASCII bytes (first hex digit 2-7, first bit 0) and tab/LF/CR.
_HEX = re.compile(r"[02-7][0-9A-Fa-f](?:[ :]?(?:[2-7][0-9A-Fa-f]|0[9aAdD])){15,}")
_BIN = re.compile(r"0[01]{7}(?: ?0[01]{7}){7,}")
_MORSE = re.compile(r"[.\-][.\-]{0,5}(?:(?: / | {1,3}|/)[.\-]{1,6}){7,}")
_MORSE_CODE = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h", "..": "i",
    ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p", "--.-": "q", ".-.": "r",
    "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z",
    "-----": "0", ".----": "1", "..---": "2", "...--": "3", "....-": "4", ".....": "5", "-....": "6",
    "--...": "7", "---..": "8", "----.": "9", ".-.-.-": ".", "--..--": ",", "..--..": "?", "-.-.--": "!",
    ".----.": "'", "-..-.": "/", "---...": ":", ".-..-.": '"',
}
_MIN_LETTERS = 4  # a decoded text needs this many letters to be worth a search


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not all(ch.isprintable() or ch in "\n\r\t" for ch in text):
        return None
    return text if sum(ch.isalpha() for ch in text) >= _MIN_LETTERS else None


def _hex(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _HEX.finditer(text):
        digits = re.sub(r"[ :]", "", m.group(0))
        if len(digits) % 2:
            digits = digits[:-1]
        decoded = _printable(bytes.fromhex(digits))
        if decoded is not None:
            out.append((m.start(), m.end(), decoded))
    return out


def _binary(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _BIN.finditer(text):
        bits = m.group(0).replace(" ", "")
        decoded = _printable(bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits) - 7, 8)))
        if decoded is not None:
            out.append((m.start(), m.end(), decoded))
    return out


def _morse(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _MORSE.finditer(text):
        words = re.split(r" / |/| {2,}", m.group(0))
        decoded = " ".join("".join(_MORSE_CODE.get(code, "") for code in w.split()) for w in words).strip()
        if sum(ch.isalpha() for ch in decoded) >= _MIN_LETTERS:
            out.append((m.start(), m.end(), decoded))
    return out


def encoded_runs(text: str) -> list[tuple[int, int, str]]:
    """Every hex, binary or Morse run of `text` that decodes to text, as (start, end, decoded).
    Character counts gate each search (a run needs that many of its symbols), so ordinary text costs
    a few `str.count` calls."""
    out: list[tuple[int, int, str]] = []
    if text.count(" -") + text.count(" .") >= 7:  # Morse letters after spaces
        out += _morse(text)
    if "0" in text:
        out += _binary(text)
    if text.count("6") + text.count("7") >= 12:  # hex of ASCII letters: 61-7a
        out += _hex(text)
    return out
