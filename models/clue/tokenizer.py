"""CLIP's byte-level BPE tokenizer, written for CLUE.

The vocabulary is CLIP's own merge list, `bpe_simple_vocab_16e6.txt.gz`, which ships inside
the `open_clip_torch` package. We only read that data file: importing `open_clip` itself
would pull torchvision, which the CPU environment does not have.

Token ids follow CLIP's layout so that a real checkpoint's `token_embedding` rows line up:
  0..255      the 256 byte symbols (printable bytes first, then the remapped ones)
  256..511    the same symbols with the end-of-word marker `</w>`
  512..49405  one id per merge, in merge-rank order
  49406       <|startoftext|>
  49407       <|endoftext|>   (the highest id, so `argmax(ids)` finds it)
"""

from __future__ import annotations

import functools
import gzip
import html
import importlib.util
from pathlib import Path

import ftfy
import regex

from clue.errors import UserFacingError

VOCAB_FILE_NAME = "bpe_simple_vocab_16e6.txt.gz"
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"
CONTEXT_LENGTH = 77
# CLIP keeps the first 48 894 merges of the file (the vocabulary then totals 49 408 ids).
MERGE_COUNT = 49152 - 256 - 2

# Special tokens, contractions, letter runs, single digits, runs of other non-space symbols.
_WORD_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
_WHITESPACE = regex.compile(r"\s+")


def find_vocabulary_file() -> Path:
    """Locate the BPE merge list inside the installed open_clip_torch package (not imported)."""
    spec = importlib.util.find_spec("open_clip")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / VOCAB_FILE_NAME
        if candidate.is_file():
            return candidate
    raise UserFacingError(
        f"{VOCAB_FILE_NAME}: CLIP's BPE vocabulary was not found; install it with "
        "`pip install --no-deps open_clip_torch==3.3.0` (only its data file is used)"
    )


def _byte_table() -> dict[int, str]:
    """Byte value -> the printable symbol standing for it, in CLIP's vocabulary order.

    Bytes that are already visible characters stand for themselves and come first; the
    others (control characters, space, a few Latin-1 gaps) follow, shifted above U+0100 so
    that BPE never has to handle whitespace or invisible code points.
    """
    visible = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\u00a1"), ord("\u00ac") + 1))
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    )
    table = {byte: chr(byte) for byte in visible}
    hidden = [byte for byte in range(256) if byte not in table]
    table.update({byte: chr(256 + n) for n, byte in enumerate(hidden)})
    return table


def clean_text(text: str) -> str:
    """CLIP's normalisation: repair mojibake, unescape HTML twice, collapse spaces, lowercase."""
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return _WHITESPACE.sub(" ", text).strip().lower()


class ClipTokenizer:
    """Text → CLIP token ids (and back)."""

    def __init__(self, vocabulary_file: Path | None = None) -> None:
        path = vocabulary_file if vocabulary_file is not None else find_vocabulary_file()
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                lines = handle.read().split("\n")
        except (OSError, EOFError, UnicodeDecodeError) as error:
            raise UserFacingError(f"{path}: cannot read the CLIP BPE vocabulary ({error})") from error
        # Line 0 is a version header; each following line is one merge "left right".
        merge_lines = lines[1 : 1 + MERGE_COUNT]
        if len(merge_lines) != MERGE_COUNT:
            raise UserFacingError(
                f"{path}: expected {MERGE_COUNT} BPE merges, found {len(merge_lines)} (truncated file?)"
            )
        merges = [tuple(line.split()) for line in merge_lines]
        self.byte_to_symbol = _byte_table()
        self.symbol_to_byte = {symbol: byte for byte, symbol in self.byte_to_symbol.items()}
        symbols = list(self.byte_to_symbol.values())
        vocabulary = symbols + [symbol + END_OF_WORD for symbol in symbols]
        vocabulary += ["".join(pair) for pair in merges]
        vocabulary += [START_TOKEN, END_TOKEN]
        self.encoder: dict[str, int] = {token: index for index, token in enumerate(vocabulary)}
        self.decoder: dict[int, str] = dict(enumerate(vocabulary))
        self.merge_rank: dict[tuple[str, str], int] = {(pair[0], pair[1]): rank for rank, pair in enumerate(merges)}
        self.sot_token_id = self.encoder[START_TOKEN]
        self.eot_token_id = self.encoder[END_TOKEN]
        self.vocab_size = len(vocabulary)
        self._cache: dict[str, list[str]] = {START_TOKEN: [START_TOKEN], END_TOKEN: [END_TOKEN]}

    def _bpe(self, word: str) -> list[str]:
        """Merge one word's symbols greedily by merge rank (lowest rank first)."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = list(word[:-1]) + [word[-1] + END_OF_WORD]
        while len(parts) > 1:
            ranked = [(self.merge_rank.get((parts[i], parts[i + 1]), None), i) for i in range(len(parts) - 1)]
            known = [(rank, i) for rank, i in ranked if rank is not None]
            if not known:
                break
            _, first = min(known)
            left, right = parts[first], parts[first + 1]
            merged: list[str] = []
            i = 0
            # Merge every occurrence of the pair, left to right, without overlapping.
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == left and parts[i + 1] == right:
                    merged.append(left + right)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self._cache[word] = parts
        return parts

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without start/end tokens."""
        ids: list[int] = []
        for word in _WORD_PATTERN.findall(clean_text(text)):
            if word in (START_TOKEN, END_TOKEN):
                ids.append(self.encoder[word])
                continue
            symbols = "".join(self.byte_to_symbol[byte] for byte in word.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._bpe(symbols))
        return ids

    def decode(self, ids: list[int]) -> str:
        """Text of `ids` (special tokens dropped); words are separated by single spaces."""
        pieces = [self.decoder[i] for i in ids if i not in (self.sot_token_id, self.eot_token_id)]
        symbols = "".join(pieces)
        words: list[str] = []
        for chunk in symbols.split(END_OF_WORD):
            data = bytearray(self.symbol_to_byte[symbol] for symbol in chunk)
            if data:
                words.append(data.decode("utf-8", errors="replace"))
        return " ".join(words)

    def tokenize(self, texts: str | list[str], context_length: int = CONTEXT_LENGTH) -> list[list[int]]:
        """`[SOT] ids [EOT]` per text, zero-padded to `context_length`.

        Over-long texts are cut and keep `[EOT]` as their last token, because the text
        tower reads its feature at the EOT position.
        """
        batch = [texts] if isinstance(texts, str) else list(texts)
        rows: list[list[int]] = []
        for text in batch:
            ids = [self.sot_token_id] + self.encode(text) + [self.eot_token_id]
            if len(ids) > context_length:
                ids = ids[: context_length - 1] + [self.eot_token_id]
            rows.append(ids + [0] * (context_length - len(ids)))
        return rows


@functools.lru_cache(maxsize=1)
def get_tokenizer() -> ClipTokenizer:
    """The shared tokenizer (building the merge table takes a fraction of a second)."""
    return ClipTokenizer()
