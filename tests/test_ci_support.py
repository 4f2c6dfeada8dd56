"""The machine checks of the suite: a missing tool skips locally and fails in CI; the Lucene oracle takes any
Lucene 8 release's jars, the newest by version number."""

from __future__ import annotations

import pytest

from ci_support import missing
from tests.oracle import lucene


def test_missing_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        missing("no chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide this: no chromium"):
        missing("no chromium")


def test_the_oracle_finds_the_newest_lucene_8_jars(tmp_path, monkeypatch):
    for name in ("lucene-core-8.7.0.jar", "lucene-core-8.11.2.jar", "lucene-core-8.9.0.jar", "lucene-core-9.1.0.jar",
                 "lucene8-misc.jar", "lucene8-analyzers-common-8.6.2.jar"):
        (tmp_path / name).touch()
    monkeypatch.setattr(lucene, "JAR_DIRS", (str(tmp_path),))
    assert lucene._find_jar("core") == f"{tmp_path}/lucene-core-8.11.2.jar"
    assert lucene._find_jar("misc") == f"{tmp_path}/lucene8-misc.jar"
    assert lucene._find_jar("analyzers-common") == f"{tmp_path}/lucene8-analyzers-common-8.6.2.jar"
    assert lucene._find_jar("queryparser") is None
