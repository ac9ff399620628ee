"""Runs of hex, binary (8-bit groups), Morse code and base85 in a text, decoded: where an injection hides in an encoding.

Base64 and ROT13 are handled by the detector itself. Each decoder returns (start, end, decoded text) per run
long enough to carry an instruction (16 bytes or 8 Morse letters); a run that does not decode to printable
text is skipped. The detector then searches each decoded text with its strong rules.
"""

from __future__ import annotations

import base64
import binascii
import re
from types import ModuleType

_native: ModuleType | None
try:
    import bastion._native as _built

    _native = _built
except ImportError:  # not built (no C compiler at install time): str.count and bytes.translate
    _native = None

# Binary opens with a literal (re then skips ahead fast); hex and Morse are searched only past a count
# gate. Hex and binary: ASCII bytes (first hex digit 2-7, first bit 0) and tab/LF/CR.
_HEX = re.compile(r"[02-7][0-9A-Fa-f](?:[ :]?(?:[2-7][0-9A-Fa-f]|0[9aAdD])){15,}")
_BIN = re.compile(r"0[01]{7}(?: ?0[01]{7}){7,}")
_MORSE = re.compile(r"[.\-][.\-]{0,5}(?:(?: / | {1,3}|/)[.\-]{1,6}){7,}")
# base85 (RFC 1924 / Python's b85 alphabet, 40+ characters, at least 3 of them punctuation) and Ascii85 between <~ ~>
_B85_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
_B85 = re.compile("[" + re.escape(_B85_ALPHABET) + "]{40,}")
_B85_PUNCT = re.compile(r"[!#$%&()*+\-;<=>?@^_`{|}~]")
_B85_RUN = b"a" * 40
# a match of _HEX is 32 or more characters of [0-9A-Fa-f :] in a row: "h" for those bytes, " " for the others
HEX_MAP = bytes(ord("h") if chr(b) in "0123456789abcdefABCDEF :" else ord(" ") for b in range(256))
_HEX_RUN = b"h" * 32
# UTF-8 bytes -> "a" for a base85 character, " " for any other byte: one translate and one find say whether a run exists
B85_MAP = bytes(ord("a") if chr(b) in _B85_ALPHABET else ord(" ") for b in range(256))
_A85 = re.compile(r"<~([!-u\s]{20,}?)~>")
_MORSE_CODE = {
    ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h", "..": "i",
    ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p", "--.-": "q", ".-.": "r",
    "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z",
    "-----": "0", ".----": "1", "..---": "2", "...--": "3", "....-": "4", ".....": "5", "-....": "6",
    "--...": "7", "---..": "8", "----.": "9", ".-.-.-": ".", "--..--": ",", "..--..": "?", "-.-.--": "!",
    ".----.": "'", "-..-.": "/", "---...": ":", ".-..-.": '"',
}
# `_native.encoding_gates`: " -"/" ." pairs, a "0" and seven "0"/"1" after it (a binary run's start), "6"/"7"s, hex run,
# b85 run
Gates = tuple[int, int, int, int, int]
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


def _b85_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every run of 40+ base85 characters (the maximal runs `_B85` finds); a translate and a
    find when there is none. The runs are found in the UTF-8 bytes, where every byte of a non-ASCII character
    breaks a run as the character does; a run is ASCII, so only its start needs a character offset."""
    raw = text.encode("utf-8", "surrogatepass")
    mapped = raw.translate(B85_MAP)
    i = mapped.find(_B85_RUN)
    if i < 0:
        return []
    same = len(raw) == len(text)  # ASCII: byte offsets are character offsets
    spans = []
    while i >= 0:  # the leftmost occurrence starts a run
        end = mapped.find(b" ", i)
        end = len(mapped) if end < 0 else end
        start = i if same else len(raw[:i].decode("utf-8", "surrogatepass"))
        spans.append((start, start + end - i))
        i = mapped.find(_B85_RUN, end)
    return spans


def _base85(text: str, runs: bool = True) -> list[tuple[int, int, str]]:
    """`runs`: False when the text is known to hold no 40-character base85 run (then only Ascii85 is read)."""
    out = []
    for start, end in _b85_spans(text) if runs else ():
        run = text[start:end]
        if len(_B85_PUNCT.findall(run)) < 3:  # identifiers and hashes are letters, digits and "_"
            continue
        try:
            data = base64.b85decode(run)
        except ValueError:
            continue
        decoded = _printable(data)
        if decoded is not None:
            out.append((start, end, decoded))
    if "<" in text and "<~" in text:  # (one character first: a `memchr`, where "<~" is sought position by position)
        for m in _A85.finditer(text):
            try:
                data = base64.a85decode(m.group(1))
            except (ValueError, binascii.Error):
                continue
            decoded = _printable(data)
            if decoded is not None:
                out.append((m.start(), m.end(), decoded))
    return out


def encoded_runs(text: str, gates: Gates | None = None) -> list[tuple[int, int, str]]:
    """Every hex, binary, Morse or base85 run of `text` that decodes to text, as (start, end, decoded).
    Character counts gate each search (a run needs that many of its symbols), so ordinary text costs
    a few `str.count` calls (for ASCII text, one pass in C when the accelerator is built: the same gates).
    `gates`: `_native.encoding_gates(text, HEX_MAP, B85_MAP)` when the caller has them (the canonical form's pass)."""
    out: list[tuple[int, int, str]] = []
    if gates is None and _native is not None and text.isascii():
        gates = _native.encoding_gates(text, HEX_MAP, B85_MAP)
    if gates is not None:
        morse, zero, _digits, hex_run, b85_run = gates
        # (no count of "6"/"7" digits gates hex: upper-case text's hex, 41-5a, holds few of them)
        hexes, b85 = bool(hex_run), bool(b85_run)
    else:
        # (a "0" for the binary gate: the regex decides; _b85_spans tests b85)
        morse, zero, b85 = text.count(" -") + text.count(" ."), "0" in text, True
        # (find, not `in`: a bytes `in` first tries an int)
        hexes = text.encode("utf-8", "surrogatepass").translate(HEX_MAP).find(_HEX_RUN) >= 0
    if morse >= 7:  # Morse letters after spaces
        out += _morse(text)
    if zero:
        out += _binary(text)
    if hexes:
        out += _hex(text)  # (hex of ASCII letters is 61-7a; a run is 32+ hex digits, spaces and colons)
    if b85 or "<" in text:  # (no run and no "<~": `_base85` would find nothing)
        out += _base85(text, b85)  # a bytes translate and find unless a 40-character run exists
    return out
