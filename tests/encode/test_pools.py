"""Pools: download from file:// sources, WordNet/ConceptNet parsers, read_pool errors."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from sith.encode import pools
from sith.encode.pool_formats import parse_conceptnet
from sith.encode.pools import POOLS, download_dictionary, read_pool
from sith.errors import SithError
from sith.io import sha256_text

WN_HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2 \n"
WN_NOUN = WN_HEADER + (
    "'hood n 1 2 @ ; 1 0 08641944  \n"
    "dog n 7 4 @ ~ #m %p 7 1 02084071 10114209  \n"
    "hot_dog n 2 4 @ ~ 2 0 07697537 10186216  \n"
)
WN_ADJ = WN_HEADER + "red a 3 4 ! & = + 3 1 00381097  \nhot a 21 6 ! & 21 5 01247240  \n"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["laion", "efros"])
def test_download_text_list_via_file_url(tmp_path: Path, name: str) -> None:
    src = _write(tmp_path / "src.txt", "Apple\napple\n\n# header\n  red   car \nBanana\n")
    out = download_dictionary(name, data_dir=tmp_path / "data", source=src.as_uri(), progress=False)
    assert out == tmp_path / "data" / "dictionaries" / f"{name}.txt"
    assert out.read_text() == "apple\nred car\nbanana\n"
    pool = read_pool(name, data_dir=tmp_path / "data")
    assert pool.name == name and pool.concepts == ["apple", "red car", "banana"]
    assert pool.hash == sha256_text(["apple", "red car", "banana"])


def test_download_from_local_path_and_overwrite(tmp_path: Path) -> None:
    data = tmp_path / "data"
    download_dictionary("laion", data_dir=data, source=_write(tmp_path / "a.txt", "x\ny\n"),
                        progress=False)
    download_dictionary("laion", data_dir=data, source=_write(tmp_path / "b.txt", "z\nw\n"),
                        progress=False)
    assert read_pool("laion", data_dir=data).concepts == ["z", "w"]
    assert not [p for p in (data / "dictionaries").iterdir() if p.name.endswith(".tmp")]


def test_pool_sources_are_documented_urls() -> None:
    assert set(POOLS) == {"conceptnet", "efros", "laion", "wordnet"}
    assert POOLS["laion"].url.endswith("AI4LIFE-GROUP/SpLiCE/main/data/vocab/laion.txt")
    assert POOLS["efros"].url.endswith("text_descriptions/image_descriptions_general.txt")
    assert all(s.url.startswith("https://") for s in POOLS.values())


def test_wordnet_from_debian_style_dir(tmp_path: Path) -> None:
    wn = tmp_path / "wordnet"
    _write(wn / "index.noun", WN_NOUN)
    _write(wn / "index.adj", WN_ADJ)
    out = download_dictionary("wordnet", data_dir=tmp_path / "data", source=wn, progress=False)
    assert out.read_text().splitlines() == ["'hood", "dog", "hot dog", "red", "hot"]


def test_wordnet_from_tarball_url(tmp_path: Path) -> None:
    tgz = tmp_path / "WNdb-3.0.tar.gz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, text in [("dict/index.adj", WN_ADJ), ("dict/data.noun", "x"),
                           ("dict/index.noun", WN_NOUN)]:
            blob = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    out = download_dictionary("wordnet", data_dir=tmp_path, source=tgz.as_uri(), progress=False)
    assert out.read_text().splitlines() == ["'hood", "dog", "hot dog", "red", "hot"]


def test_wordnet_source_not_a_tar(tmp_path: Path) -> None:
    html = _write(tmp_path / "page.html", "<html>404 not found</html>")
    with pytest.raises(SithError, match="not a tar archive"):
        download_dictionary("wordnet", data_dir=tmp_path, source=html.as_uri(), progress=False)


@pytest.mark.skipif(not (pools.WORDNET_LOCAL_DIR / "index.noun").is_file(),
                    reason="Debian wordnet-base not installed")
def test_wordnet_real_debian_files(tmp_path: Path) -> None:
    assert pools.default_source("wordnet") == pools.WORDNET_LOCAL_DIR
    out = download_dictionary("wordnet", data_dir=tmp_path, progress=False)
    concepts = out.read_text().splitlines()
    assert len(concepts) > 100_000
    assert {"dog", "hot dog", "red", "striped"} <= set(concepts)
    assert len(set(concepts)) == len(concepts)


def _conceptnet_gz(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = [f"/a/[/r/RelatedTo/,{s},{e}]\t/r/RelatedTo\t{s}\t{e}\t{{\"weight\": 1.0}}\n"
             for s, e in rows]
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(lines)
    return path


def test_conceptnet_parser(tmp_path: Path) -> None:
    rows = (
        [("/c/en/dog", "/c/en/animal/n")] * 3
        + [("/c/en/hot_dog/n/wn/food", "/c/en/dog")] * 2
        + [("/c/en/a_very_long_name_here", "/c/en/animal")] * 4
        + [("/c/fr/chien", "/c/en/dog")] * 9
        + [("/c/en/cat", "/c/de/katze")] * 9
    )
    path = _conceptnet_gz(tmp_path / "cn.csv.gz", rows)
    with path.open("rb") as fh:
        got = parse_conceptnet(io.BufferedReader(fh), max_words=3, min_edges=2)
    # dog 5 edges, animal 7, hot dog 2; the 5-word term and non-English edges are dropped
    assert got == ["animal", "dog", "hot dog"]
    out = download_dictionary("conceptnet", data_dir=tmp_path, source=path.as_uri(),
                              progress=False)
    assert out.read_text().splitlines() == ["animal", "dog"]  # default min_edges=5


def test_unknown_name_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(SithError, match="available: conceptnet, efros, laion, wordnet"):
        download_dictionary("imagenet", data_dir=tmp_path)


def test_unreachable_source(tmp_path: Path) -> None:
    with pytest.raises(SithError, match="cannot open"):
        download_dictionary("laion", data_dir=tmp_path, source=(tmp_path / "nope.txt").as_uri())


def test_read_custom_pool_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "my pool.txt", "Zebra\nlion\nzebra\n")
    pool = read_pool(str(path), data_dir=tmp_path / "data")
    assert pool.name == f"my-pool-{pool.hash[:8]}" and pool.path == path
    assert pool.concepts == ["zebra", "lion"]


def test_custom_pools_named_by_content(tmp_path: Path) -> None:
    a = read_pool(str(_write(tmp_path / "a" / "words.txt", "dog\ncat\n")), data_dir=tmp_path)
    b = read_pool(str(_write(tmp_path / "b" / "words.txt", "dog\nbird\n")), data_dir=tmp_path)
    same = read_pool(str(_write(tmp_path / "c" / "words.txt", "Dog\ncat\n\n")), data_dir=tmp_path)
    assert a.name.startswith("words-") and a.name != b.name  # never one cache for both
    assert same.name == a.name  # same concepts after cleaning: same encoding


def test_pool_file_must_be_utf8_text(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("dog\ncat\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(SithError, match=r"latin1\.txt line 3 is not valid UTF-8.*convert the file"):
        read_pool(str(bad), data_dir=tmp_path)
    binary = tmp_path / "model.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(SithError, match="binary file"):
        read_pool(str(binary), data_dir=tmp_path)


def test_read_named_custom_pool_in_data_dir(tmp_path: Path) -> None:
    _write(tmp_path / "dictionaries" / "mine.txt", "a\nb\n")
    assert read_pool("mine", data_dir=tmp_path).concepts == ["a", "b"]


def test_missing_downloaded_pool_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(SithError, match="sith download-dictionary --dictionary laion"):
        read_pool("laion", data_dir=tmp_path)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SithError, match="neither a pool name"):
        read_pool(str(tmp_path / "missing.txt"), data_dir=tmp_path)


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "no concepts"), ("# only\n\n  \n", "no concepts"), ("Dog\ndog\n DOG \n", "only 1")],
)
def test_empty_or_all_duplicate_pool(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path / "p.txt", text)
    with pytest.raises(SithError, match=match):
        read_pool(str(path), data_dir=tmp_path)


def test_organism_pool_resolves_to_packaged_asset(tmp_path: Path) -> None:
    try:
        from sith.organism.model import asset_path
    except ImportError:
        pytest.skip("sith.organism.model not written yet")
    try:
        packaged = Path(asset_path("pool.txt"))
    except SithError:
        pytest.skip("organism pool asset not generated yet")
    if not packaged.is_file():
        pytest.skip("organism pool asset not generated yet")
    pool = read_pool("organism", data_dir=tmp_path)
    assert pool.name == "organism" and pool.path == packaged
    assert len(pool.concepts) >= 2
