"""Download registry and fetcher, tested offline against a local HTTP server.

The server (``http.server`` in a thread on 127.0.0.1, ephemeral port) serves
the official-format fixtures; it is always shut down after each test.  No test
touches the internet.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from analysis.cli import main
from analysis.errors import ChecksumError
from analysis.fetch import MANIFEST_NAME, FetchError, UnpinnedDownloadWarning, run_fetch
from analysis.registry import RegistryError, load_registry, resolve_cache_dir
from analysis.sources.official import AE_COLUMNS

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "official"
AE_FIXTURE = FIXTURES / "Monthly-AE-March-2026.csv"
SHMI_FIXTURE = FIXTURES / "SHMI_data_at_trust_level_Jan25-Dec25_csv.csv"


# --------------------------------------------------------------------------------------------------
# Local HTTP server
# --------------------------------------------------------------------------------------------------

@dataclass
class Route:
    body: bytes
    content_type: str = "application/octet-stream"
    content_length: int | None = None  # declared length; default len(body)


@dataclass
class LocalServer:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)

    def serve(self, path: str, body: bytes, **kwargs: Any) -> str:
        """Serve ``body`` at ``path``; return its full URL."""
        self.routes[path] = Route(body, **kwargs)
        return self.url + path


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        state: LocalServer = self.server.state  # type: ignore[attr-defined]
        state.hits[self.path] += 1
        route = state.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        length = len(route.body) if route.content_length is None else route.content_length
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[LocalServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    state = LocalServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------

def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(name: str, url: str, filename: str | None = None, sha256: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": f"test entry {name}", "publisher": "Test publisher", "url": url,
            "url_verified": bool(url), "source_page": "https://example.org/publication-page",
            "filename": filename or url.rsplit("/", 1)[-1], "sha256": sha256,
            "parser": "analysis.sources.official.parse_ae_monthly", "licence": "OGL-UK-3.0", "period": "March 2026",
            **extra}


def write_registry(path: Path, entries: list[dict[str, Any]]) -> Path:
    lines = ["schema_version = 1", ""]
    for item in entries:
        lines.append("[[publication]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in item.items()]  # JSON strings/bools are valid TOML
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def cache_files(cache: Path) -> list[str]:
    """Every file in the cache except the manifest (temporary files included)."""
    return sorted(p.name for p in cache.iterdir() if p.name != MANIFEST_NAME) if cache.exists() else []


def manifest(cache: Path) -> dict[str, Any]:
    return json.loads((cache / MANIFEST_NAME).read_text())["files"]


@pytest.fixture
def ae_bytes() -> bytes:
    return AE_FIXTURE.read_bytes()


# --------------------------------------------------------------------------------------------------
# Downloads and checksums
# --------------------------------------------------------------------------------------------------

def test_pinned_download_is_verified_and_recorded(server, tmp_path, ae_bytes):
    url = server.serve("/stats/2026/05/Monthly-AE-March-2026.csv", ae_bytes, content_type="text/csv")
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url, sha256=sha(ae_bytes))])
    cache = tmp_path / "cache"

    paths = run_fetch(["ae"], cache_dir=cache, registry=reg)

    assert paths == [cache / "Monthly-AE-March-2026.csv"]
    assert paths[0].read_bytes() == ae_bytes
    assert cache_files(cache) == ["Monthly-AE-March-2026.csv"]  # no temporary file left behind
    record = manifest(cache)["Monthly-AE-March-2026.csv"]
    assert record["sha256"] == sha(ae_bytes) and record["pinned"] is True and record["entry"] == "ae"
    assert record["bytes"] == len(ae_bytes) and record["url"] == url


def test_checksum_mismatch_raises_and_leaves_no_file(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    wrong = "0" * 64
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url, sha256=wrong)])
    cache = tmp_path / "cache"

    with pytest.raises(ChecksumError) as info:
        run_fetch(["ae"], cache_dir=cache, registry=reg)

    message = str(info.value)
    assert "'ae'" in message and wrong in message and sha(ae_bytes) in message
    assert str(cache / "Monthly-AE-March-2026.csv") in message
    assert str(reg) in message and "re-issued" in message and "sha256 = " in message
    assert cache_files(cache) == []  # neither the file nor a partial/temporary copy
    assert not (cache / MANIFEST_NAME).exists()


def test_checksum_mismatch_on_forced_download_keeps_the_cached_copy(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url, sha256=sha(ae_bytes))])
    cache = tmp_path / "cache"
    run_fetch(["ae"], cache_dir=cache, registry=reg)
    server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes + b"re-issued\r\n")  # publisher changes the file

    with pytest.raises(ChecksumError, match="left unchanged; delete it"):
        run_fetch(["ae"], cache_dir=cache, registry=reg, force=True)
    assert (cache / "Monthly-AE-March-2026.csv").read_bytes() == ae_bytes
    assert cache_files(cache) == ["Monthly-AE-March-2026.csv"]


def test_verified_cached_copy_is_reused_without_contacting_the_server(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url, sha256=sha(ae_bytes))])
    cache = tmp_path / "cache"

    first = run_fetch(["ae"], cache_dir=cache, registry=reg)
    second = run_fetch(["ae"], cache_dir=cache, registry=reg)

    assert first == second
    assert server.hits["/f/Monthly-AE-March-2026.csv"] == 1


def test_force_downloads_again(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url, sha256=sha(ae_bytes))])
    cache = tmp_path / "cache"

    run_fetch(["ae"], cache_dir=cache, registry=reg)
    run_fetch(["ae"], cache_dir=cache, registry=reg, force=True)

    assert server.hits["/f/Monthly-AE-March-2026.csv"] == 2


def test_cached_copy_that_fails_its_pin_is_downloaded_again(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url, sha256=sha(ae_bytes))])
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "Monthly-AE-March-2026.csv").write_bytes(b"truncated")

    run_fetch(["ae"], cache_dir=cache, registry=reg)

    assert (cache / "Monthly-AE-March-2026.csv").read_bytes() == ae_bytes
    assert server.hits["/f/Monthly-AE-March-2026.csv"] == 1


def test_unpinned_download_warns_and_records_its_sha256(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url)])
    cache = tmp_path / "cache"

    with pytest.warns(UnpinnedDownloadWarning, match=f"not pinned.*{sha(ae_bytes)}"):
        run_fetch(["ae"], cache_dir=cache, registry=reg)

    record = manifest(cache)["Monthly-AE-March-2026.csv"]
    assert record["sha256"] == sha(ae_bytes) and record["pinned"] is False


def test_unpinned_cached_copy_is_reused_only_while_it_matches_the_manifest(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url)])
    cache = tmp_path / "cache"
    with pytest.warns(UnpinnedDownloadWarning):
        run_fetch(["ae"], cache_dir=cache, registry=reg)
    run_fetch(["ae"], cache_dir=cache, registry=reg)  # verified against the manifest: no download
    assert server.hits["/f/Monthly-AE-March-2026.csv"] == 1

    (cache / "Monthly-AE-March-2026.csv").write_bytes(b"edited by hand")
    with pytest.warns(UnpinnedDownloadWarning):
        run_fetch(["ae"], cache_dir=cache, registry=reg)
    assert server.hits["/f/Monthly-AE-March-2026.csv"] == 2
    assert (cache / "Monthly-AE-March-2026.csv").read_bytes() == ae_bytes


def test_base_url_replaces_the_directory_of_the_url(server, tmp_path, ae_bytes):
    official = server.url + "/statistics/wp-content/uploads/2026/05/Monthly-AE-March-2026.csv"  # not served
    server.serve("/mirror/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", official, sha256=sha(ae_bytes))])

    paths = run_fetch(["ae"], cache_dir=tmp_path / "cache", base_url=server.url + "/mirror/", registry=reg)

    assert paths[0].read_bytes() == ae_bytes
    assert server.hits == Counter({"/mirror/Monthly-AE-March-2026.csv": 1})


def test_file_names_with_spaces_are_quoted_for_mirrors(server, tmp_path, ae_bytes):
    name = "SHMI data files, Jan25-Dec25.zip"
    server.serve("/mirror/SHMI%20data%20files%2C%20Jan25-Dec25.zip", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml",
                         [entry("shmi", "https://files.example.org/A1/B2C3/SHMI%20data%20files%2C%20Jan25-Dec25.zip",
                                filename=name, sha256=sha(ae_bytes))])

    paths = run_fetch(["shmi"], cache_dir=tmp_path / "cache", base_url=server.url + "/mirror", registry=reg)

    assert paths == [tmp_path / "cache" / name]


# --------------------------------------------------------------------------------------------------
# Failures are clear and leave nothing behind
# --------------------------------------------------------------------------------------------------

def test_404_gives_a_clear_error_and_no_partial_file(server, tmp_path):
    url = server.url + "/stats/2026/05/Monthly-AE-March-2026.csv"
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url)])
    cache = tmp_path / "cache"

    with pytest.raises(FetchError) as info:
        run_fetch(["ae"], cache_dir=cache, registry=reg)

    message = str(info.value)
    assert "'ae'" in message and "HTTP 404" in message and url in message
    assert "https://example.org/publication-page" in message and str(reg) in message
    assert cache_files(cache) == []


def test_truncated_download_is_discarded(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes[:100], content_length=len(ae_bytes))
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url)])
    cache = tmp_path / "cache"

    with pytest.raises(FetchError, match=f"truncated: received 100 of {len(ae_bytes)} bytes"):
        run_fetch(["ae"], cache_dir=cache, registry=reg)
    assert cache_files(cache) == []


def test_a_web_page_instead_of_the_file_is_rejected(server, tmp_path):
    url = server.serve("/f/Monthly-AE-March-2026.csv", b"<html><body>Please sign in</body></html>",
                       content_type="text/html; charset=utf-8")
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url)])
    cache = tmp_path / "cache"

    with pytest.raises(FetchError, match=r"returned a web page \(text/html\)"):
        run_fetch(["ae"], cache_dir=cache, registry=reg)
    assert cache_files(cache) == []


def test_unreachable_server_suggests_a_mirror(tmp_path):
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reg = write_registry(tmp_path / "registry.toml",
                         [entry("ae", f"http://127.0.0.1:{port}/Monthly-AE-March-2026.csv")])

    with pytest.raises(FetchError, match="--base-url"):
        run_fetch(["ae"], cache_dir=tmp_path / "cache", registry=reg, timeout=5)


def test_unknown_name_lists_the_known_names(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae_monthly", url), entry("rtt", server.url + "/r.zip")])

    with pytest.raises(RegistryError) as info:
        run_fetch(["ae_monthly", "ae_montly"], cache_dir=tmp_path / "cache", registry=reg)

    message = str(info.value)
    assert "unknown registry entry 'ae_montly'" in message and "Did you mean 'ae_monthly'" in message
    assert "ae_monthly, rtt" in message
    assert not server.hits  # nothing was downloaded before the name was checked


def test_entry_without_url_fails_before_anything_is_downloaded(server, tmp_path, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml",
                         [entry("ae", url), entry("shmi", "", filename="SHMI_data.zip", url_verified=False)])

    with pytest.raises(FetchError) as info:
        run_fetch(None, cache_dir=tmp_path / "cache", registry=reg)

    message = str(info.value)
    assert "no download URL is known for 'shmi'" in message
    assert "https://example.org/publication-page" in message and "--base-url" in message
    assert "svi data fetch ae" in message
    assert not server.hits


def test_entry_without_url_can_be_fetched_from_a_mirror(server, tmp_path, ae_bytes):
    server.serve("/mirror/SHMI_data.zip", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml",
                         [entry("shmi", "", filename="SHMI_data.zip", url_verified=False, sha256=sha(ae_bytes))])

    paths = run_fetch(["shmi"], cache_dir=tmp_path / "cache", base_url=server.url + "/mirror", registry=reg)

    assert paths[0].read_bytes() == ae_bytes


# --------------------------------------------------------------------------------------------------
# Cache directory
# --------------------------------------------------------------------------------------------------

def test_svi_data_dir_is_used_when_no_cache_dir_is_given(server, tmp_path, monkeypatch, ae_bytes):
    url = server.serve("/f/Monthly-AE-March-2026.csv", ae_bytes)
    reg = write_registry(tmp_path / "registry.toml", [entry("ae", url, sha256=sha(ae_bytes))])
    monkeypatch.setenv("SVI_DATA_DIR", str(tmp_path / "from-env"))

    paths = run_fetch(["ae"], registry=reg)

    assert paths == [tmp_path / "from-env" / "Monthly-AE-March-2026.csv"]
    assert paths[0].read_bytes() == ae_bytes


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("SVI_DATA_DIR", raising=False)
    assert resolve_cache_dir() == REPO / "data" / "cache"  # a source checkout keeps its cache in data/cache
    monkeypatch.setenv("SVI_DATA_DIR", str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"  # --cache-dir wins


# --------------------------------------------------------------------------------------------------
# Registry validation
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change, expected", [
    ({"sha256": "abc123"}, r"entry 'x', field 'sha256': 'abc123' is not a SHA-256"),
    ({"shaa256": ""}, r"entry 'x', field 'shaa256': unknown field"),
    ({"name": "X-1"}, r"field 'name': 'X-1' must start with a lower-case letter"),
    ({"url": "ftp://example.org/x.csv", "filename": "x.csv"}, r"entry 'x', field 'url': .* not an http\(s\) URL"),
    ({"filename": "other.csv"}, r"entry 'x', field 'filename': 'other.csv' differs from the last part of the url"),
    ({"filename": "../x.csv"}, r"field 'filename': '../x.csv' must be a plain file name"),
    ({"url": "", "url_verified": True}, r"entry 'x', field 'url_verified': is true but 'url' is empty"),
    ({"url": "", "url_verified": False, "source_page": ""},
     r"entry 'x', field 'source_page': must be given when 'url' is empty"),
    ({"parser": "parse_x"}, r"entry 'x', field 'parser': 'parse_x' is not a dotted name"),
    ({"period": 2026}, r"entry 'x', field 'period': must be a string, got int"),
    ({"licence": ""}, r"entry 'x', field 'licence': must not be empty"),
])
def test_malformed_entries_are_reported_by_entry_and_field(tmp_path, change, expected):
    item = {**entry("x", "https://example.org/files/x.csv"), **change}
    reg = write_registry(tmp_path / "registry.toml", [item])
    with pytest.raises(RegistryError, match=expected):
        load_registry(reg)


def test_missing_field_is_reported(tmp_path):
    item = entry("x", "https://example.org/files/x.csv")
    del item["sha256"]
    with pytest.raises(RegistryError, match=r"registry.toml: entry 'x', field 'sha256': missing"):
        load_registry(write_registry(tmp_path / "registry.toml", [item]))


def test_duplicate_names_and_files_are_reported(tmp_path):
    a = entry("x", "https://example.org/files/x.csv")
    with pytest.raises(RegistryError, match=r"entry #2 \('x'\), field 'name': duplicate of entry #1"):
        load_registry(write_registry(tmp_path / "r1.toml", [a, a]))
    b = entry("y", "https://example.org/other/x.csv")
    with pytest.raises(RegistryError, match=r"entry 'y', field 'filename': 'x.csv' is already used by entry 'x'"):
        load_registry(write_registry(tmp_path / "r2.toml", [a, b]))


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text('schema_version = 1\n\n[[publication]]\nname = "x"\nurl = \n')
    with pytest.raises(RegistryError, match=r"registry.toml is not valid TOML: .*line 5"):
        load_registry(path)


def test_parser_that_does_not_exist_is_reported_when_used(tmp_path):
    item = entry("x", "https://example.org/files/x.csv", parser="analysis.sources.official.parse_nothing")
    reg = load_registry(write_registry(tmp_path / "registry.toml", [item]))
    with pytest.raises(RegistryError, match=r"entry 'x', field 'parser': module 'analysis.sources.official' has no "
                                            r"function 'parse_nothing'"):
        reg.get("x").load_parser()


def test_the_project_registry_is_valid():
    reg = load_registry()
    assert reg.path == REPO / "data" / "registry.toml"
    assert reg.names == ["shmi_trust", "ncc_org_mff", "rtt_full_csv", "ae_monthly", "fft_inpatient",
                         "imd2019_ltla", "ohid_catchments", "wlmds_imd_decile",
                         "readmissions_30d", "cwt_combined_2025_26_apr_sep", "cwt_combined_2025_26_oct_mar"]
    for item in reg.entries:
        assert callable(item.load_parser()), item.name
        assert item.licence == "OGL-UK-3.0"
        assert item.source_page.startswith("https://")
        assert item.url_verified == bool(item.url), item.name  # confirmed links only; the rest left empty


# --------------------------------------------------------------------------------------------------
# The command line, end to end
# --------------------------------------------------------------------------------------------------

def test_cli_fetches_from_a_mirror_end_to_end(server, tmp_path, capsys, ae_bytes):
    reg = load_registry()
    item = reg.get("ae_monthly")
    server.serve(f"/mirror/{item.filename}", ae_bytes, content_type="text/csv")
    cache = tmp_path / "cache"
    args = ["data", "fetch", "ae_monthly", "--cache-dir", str(cache), "--base-url", server.url + "/mirror"]

    with pytest.warns(UnpinnedDownloadWarning):
        assert main(args) == 0
    out = capsys.readouterr().out
    path = cache / item.filename
    assert out.strip() == str(path)
    assert manifest(cache)[item.filename]["sha256"] == sha(ae_bytes)
    frame = item.parse(path)  # the registered parser reads what was fetched
    assert list(frame.columns) == list(AE_COLUMNS) and set(frame["org_code"]) == {"RZ1", "RZ2", "NZ9"}

    assert main(args) == 0  # second run: verified cached copy, no download
    assert server.hits[f"/mirror/{item.filename}"] == 1


def test_cli_reports_an_unknown_name_cleanly(tmp_path, capsys):
    code = main(["data", "fetch", "no_such_entry", "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2
    assert "svi: error: unknown registry entry 'no_such_entry'" in err and "ae_monthly" in err
    assert "Traceback" not in err
    assert not (tmp_path / "cache").exists()


def test_cli_fetch_all_says_which_entries_need_a_url(tmp_path, capsys):
    code = main(["data", "fetch", "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no download URL is known for 'shmi_trust', 'ncc_org_mff', 'fft_inpatient'" in err
    assert "svi data fetch rtt_full_csv ae_monthly imd2019_ltla ohid_catchments" in err
    assert not (tmp_path / "cache").exists()
