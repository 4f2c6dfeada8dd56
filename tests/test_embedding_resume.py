"""Ctrl-C while encoding keeps every chunk already encoded in the embedding cache, says so in one line, and
the next run encodes only the rest."""

from __future__ import annotations

import numpy as np
import pytest

from lab.embeddings import EmbeddingCache, encode_cached
from lab.embeddings.cache import ENCODE_CHUNK


class InterruptedEncoder:
    """Encodes a text as [len(text), 1, 0, ...]; raises KeyboardInterrupt on call number ``stop_at`` (1-based)."""

    key, cache_namespace, dimension = "fake", "fake-v1", 4

    def __init__(self, stop_at: int | None = None):
        self.calls: list[list[str]] = []
        self.stop_at = stop_at

    def encode(self, texts, batch_size=32, progress=None):
        self.calls.append(list(texts))
        if len(self.calls) == self.stop_at:
            raise KeyboardInterrupt
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        out[:, 0] = [len(t) for t in texts]
        out[:, 1] = 1
        return out


def test_an_interrupt_keeps_what_was_encoded_and_the_next_run_resumes(tmp_path):
    texts = [f"text number {i}" for i in range(3 * ENCODE_CHUNK + 10)]
    cache = EmbeddingCache(tmp_path)
    first = InterruptedEncoder(stop_at=3)  # two chunks done, the third interrupted
    with pytest.raises(KeyboardInterrupt) as caught:
        encode_cached(first, texts, cache)
    assert caught.value.__notes__ == [f"the {2 * ENCODE_CHUNK:,} of {len(texts):,} fake vectors done so far are "
                                      "cached; run the command again to resume"]
    assert cache.count("fake-v1") == 2 * ENCODE_CHUNK
    second = InterruptedEncoder()
    vectors = encode_cached(second, texts, cache)
    assert sum(len(call) for call in second.calls) == len(texts) - 2 * ENCODE_CHUNK
    np.testing.assert_array_equal(vectors[:, 0], [len(t) for t in texts])


def test_the_cli_says_what_was_kept_and_exits_130(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from lab.cli import cli
    from lab.indexer import update_index

    def interrupted(*args, **kwargs):
        exc = KeyboardInterrupt()
        exc.add_note("the 512 of 3,000 minilm vectors done so far are cached; run the command again to resume")
        raise exc

    monkeypatch.setattr("lab.indexer.update_index", interrupted)
    assert update_index is not interrupted
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path), "index"], obj={})
    assert result.exit_code == 130
    assert result.output.strip() == ("interrupted: the 512 of 3,000 minilm vectors done so far are cached; run the "
                                     "command again to resume")
