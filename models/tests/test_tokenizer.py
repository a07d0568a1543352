"""CLIP BPE tokenizer: ids that CLIP's published examples fix, round trips, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from clue.errors import UserFacingError
from clue.tokenizer import CONTEXT_LENGTH, ClipTokenizer, clean_text, find_vocabulary_file, get_tokenizer


def test_vocabulary_layout() -> None:
    tokenizer = get_tokenizer()
    assert tokenizer.vocab_size == 49408
    assert tokenizer.sot_token_id == 49406
    assert tokenizer.eot_token_id == 49407
    # The first 256 ids are the byte symbols, the next 256 the same with the end-of-word mark.
    assert tokenizer.decoder[0] == "!"
    assert tokenizer.decoder[256] == "!</w>"


def test_known_ids() -> None:
    tokenizer = get_tokenizer()
    # CLIP's README example "a photo of a cat" (and the single-character words of the vocab).
    assert tokenizer.encode("a photo of a cat") == [320, 1125, 539, 320, 2368]
    assert tokenizer.tokenize("a photo of a cat")[0][:8] == [49406, 320, 1125, 539, 320, 2368, 49407, 0]
    # Case and surrounding whitespace do not matter (CLIP lowercases and strips).
    assert tokenizer.encode("  A   PHOTO\nof a Cat ") == [320, 1125, 539, 320, 2368]


def test_words_used_by_the_prompts() -> None:
    tokenizer = get_tokenizer()
    normal, diseased, brain = (tokenizer.encode(word) for word in ("normal", "diseased", "brain"))
    assert len(normal) == 1 and len(brain) == 1
    # "diseased" is not a single merge: the prompt code must not assume one token per word.
    assert len(diseased) == 2
    assert tokenizer.decode(diseased) == "diseased"


@pytest.mark.parametrize(
    "text",
    [
        "normal brain",
        "diseased brain",
        "hello, world! 123",
        "café naïve résumé",
        "x-ray of the chest (pa view)",
        "脳 mri 🧠",
    ],
)
def test_round_trip(text: str) -> None:
    tokenizer = get_tokenizer()
    decoded = tokenizer.decode(tokenizer.encode(text))
    # Decoding puts one space after each word; punctuation becomes its own word.
    assert decoded.replace(" ", "") == clean_text(text).replace(" ", "")


def test_padding_and_truncation() -> None:
    tokenizer = get_tokenizer()
    rows = tokenizer.tokenize(["normal brain", "word " * 200])
    assert all(len(row) == CONTEXT_LENGTH for row in rows)
    assert rows[0][:4] == [49406, tokenizer.encode("normal")[0], tokenizer.encode("brain")[0], 49407]
    assert set(rows[0][4:]) == {0}
    # Over-long text keeps EOT as its last token (CLIP reads its feature there).
    assert rows[1][-1] == 49407 and rows[1][0] == 49406 and 0 not in rows[1]


def test_clean_text() -> None:
    assert clean_text("Fish &amp;amp; Chips\t\n  ") == "fish & chips"


def test_vocabulary_file_is_found() -> None:
    assert find_vocabulary_file().name == "bpe_simple_vocab_16e6.txt.gz"


def test_missing_or_truncated_vocabulary(tmp_path: Path) -> None:
    with pytest.raises(UserFacingError, match="cannot read"):
        ClipTokenizer(tmp_path / "absent.txt.gz")
    short = tmp_path / "short.txt.gz"
    with gzip.open(short, "wt", encoding="utf-8") as handle:
        handle.write("#version: 0.2\na b\nc d\n")
    with pytest.raises(UserFacingError, match="truncated"):
        ClipTokenizer(short)
