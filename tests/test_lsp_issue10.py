"""`cnnspec lsp`, issue 10: a real LSP exchange over stdio with the server process.

A small JSON-RPC client (Content-Length framing, every read bounded by a timeout) speaks to
`python -m cnnspec lsp` as an editor does: initialize, didOpen, didChange, hover, definition,
documentSymbol, formatting, shutdown, exit. What the answers must say comes from cnnspec's
own public results (the checker's diagnostics, cnnspec.summary's numbers) and from the text.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

import cnnspec
from cnnspec.api import analyse
from cnnspec.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30  # seconds for any one answer (the first includes the server's start-up)
RESIDUAL = (ROOT / "docs" / "examples" / "residual_blocks.cnn").read_text()
BASE = (ROOT / "specs" / "digits_base.cnn").read_text()
FINETUNE = (ROOT / "specs" / "transfer_finetune.cnn").read_text()


class Client:
    """The editor's side: one server process, its messages read by a thread into a queue."""

    def __init__(self, cwd: Path, stderr):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "cnnspec", "lsp"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self.inbox: queue.Queue = queue.Queue()
        self.pending: list[dict] = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while (line := out.readline()) not in (b"\r\n", b""):
                key, _, value = line.decode("ascii").partition(":")
                headers[key.strip().lower()] = value.strip()
            if not headers:
                self.inbox.put(None)  # the server closed its output
                return
            self.inbox.put(json.loads(out.read(int(headers["content-length"])).decode("utf-8")))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def _next(self) -> dict:
        try:
            message = self.inbox.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no message from the server in {TIMEOUT} s") from None
        assert message is not None, "the server closed its output"
        if "id" in message and "method" in message:  # a request to the client: answer it
            self.send({"id": message["id"], "result": None})
        return message

    def request(self, method: str, params: dict):
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self._next()
            if message.get("id") == self.next_id and "method" not in message:
                assert "error" not in message, message
                return message["result"]
            self.pending.append(message)

    def notification(self, method: str, uri: str) -> dict:
        """The next notification `method` about `uri` (earlier ones kept aside are taken first)."""
        while True:
            message = self.pending.pop(0) if self.pending else self._next()
            if message.get("method") == method and message["params"].get("uri") == uri:
                return message["params"]

    def diagnostics(self, uri: str) -> list[dict]:
        return self.notification("textDocument/publishDiagnostics", uri)["diagnostics"]


def uri_of(path: Path) -> str:
    return "file://" + quote(str(path))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lsp")
    (folder / "residual.cnn").write_text(RESIDUAL)
    (folder / "digits_base.cnn").write_text(BASE)
    (folder / "finetune.cnn").write_text(FINETUNE)
    return folder


@pytest.fixture(scope="module")
def client(folder, tmp_path_factory):
    """A started, initialized server whose working folder is not the specs' folder."""
    log_path = tmp_path_factory.mktemp("log") / "stderr.txt"
    log = log_path.open("wb")
    c = Client(ROOT, log)
    c.log_path = log_path
    result = c.request("initialize", {"processId": os.getpid(), "rootUri": uri_of(folder),
                                      "capabilities": {}})
    caps = result["capabilities"]
    assert caps["hoverProvider"] and caps["definitionProvider"], caps
    c.notify("initialized", {})
    yield c
    if c.proc.poll() is None:
        c.proc.kill()
    log.close()


def open_doc(client: Client, path: Path, text: str, version: int = 1) -> str:
    uri = uri_of(path)
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "cnnspec", "version": version, "text": text}})
    return uri


def change(client: Client, uri: str, text: str, version: int) -> None:
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": [{"text": text}]})


def at(text: str, needle: str, nth: int = 0, offset: int = 0) -> dict:
    """The LSP position of the nth occurrence of `needle` in `text` (plus `offset` characters)."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    line = text.count("\n", 0, i)
    return {"line": line, "character": i - (text.rfind("\n", 0, i) + 1) + offset}


def hover(client: Client, uri: str, pos: dict) -> str | None:
    result = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": pos})
    return result and result["contents"]["value"]


def definition(client: Client, uri: str, pos: dict) -> dict:
    result = client.request("textDocument/definition", {"textDocument": {"uri": uri}, "position": pos})
    return result[0] if isinstance(result, list) else result


# --- diagnostics ------------------------------------------------------------------------------

BROKEN = RESIDUAL.replace("fc:  dense 10 -> softmax", "fc:  dense 10 -> softmx")


def test_an_error_is_published_with_its_range_and_code_then_cleared(client, folder):
    uri = open_doc(client, folder / "broken.cnn", BROKEN)
    diags = client.diagnostics(uri)
    (want,) = [d for d in analyse(SourceFile(str(folder / "broken.cnn"), BROKEN))[1]]
    (got,) = diags
    assert (got["code"], got["source"], got["severity"]) == (want.code, "cnnspec", 1)
    assert got["range"] == {"start": {"line": want.span.line - 1, "character": want.span.col - 1},
                            "end": {"line": want.span.end_line - 1, "character": want.span.end_col - 1}}
    line = BROKEN.split("\n")[got["range"]["start"]["line"]]
    assert "softmx" in line[got["range"]["start"]["character"]:got["range"]["end"]["character"]]
    assert want.message in got["message"]
    change(client, uri, RESIDUAL, 2)
    assert client.diagnostics(uri) == []


def test_a_syntax_error_is_published(client, folder):
    text = RESIDUAL.replace("gap: globalavgpool", "gap: globalavgpool 3x3 (")
    uri = open_doc(client, folder / "syntax.cnn", text)
    got = [(d["code"], d["range"]["start"]["line"]) for d in client.diagnostics(uri)]
    want = [(d.code, d.span.line - 1) for d in analyse(SourceFile(str(folder / "syntax.cnn"), text))[1]]
    assert got == want and got[0] == ("E001", at(text, "gap:")["line"])


def test_a_warning_is_published_as_a_warning_and_cleared_on_save(client, folder):
    text = RESIDUAL + "freeze gap\n"  # a rule that selects only a layer without parameters
    path = folder / "warned.cnn"
    uri = open_doc(client, path, text)
    (got,) = client.diagnostics(uri)
    (want,) = analyse(SourceFile(str(path), text))[1]
    assert (want.severity, got["severity"], got["code"]) == ("warning", 2, want.code)
    assert got["range"]["start"]["line"] == at(text, "freeze gap")["line"]
    change(client, uri, RESIDUAL, 2)
    assert client.diagnostics(uri) == []
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) == []


def test_columns_count_utf16_units_after_characters_outside_the_bmp(client, folder):
    text = 'network Wide\ninput 8x8x1\nc: conv 4 3x3 pad="\U0001F600\U0001F600" -> relw\n'
    path = folder / "wide.cnn"
    uri = open_doc(client, path, text)
    got = {d["code"]: d for d in client.diagnostics(uri)}
    want = {d.code: d for d in analyse(SourceFile(str(path), text))[1]}
    assert set(got) == set(want) and "E101" in got
    line = text.split("\n")[2]
    for code, d in want.items():
        start = line[:d.span.col - 1].encode("utf-16-le")
        assert got[code]["range"]["start"] == {"line": 2, "character": len(start) // 2}
    assert got["E101"]["range"]["start"]["character"] == len(line[:line.index("->")]) + 2


# --- hover ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def residual(client, folder):
    path = folder / "residual.cnn"
    uri = open_doc(client, path, RESIDUAL)
    assert client.diagnostics(uri) == []
    return uri, cnnspec.summary(path).to_dict()


def _figures(d: dict) -> list[str]:
    return ["x".join(map(str, d["output_shape"])), f"params {d['params']:,}",
            f"{d['trainable_params']:,} trainable", f"{d['non_trainable_params']:,} non-trainable",
            f"MACs {d['macs']:,}"]


def test_hover_on_a_layer_shows_the_summarys_numbers(client, residual):
    uri, summary = residual
    layer = next(d for d in summary["layers"] if d["name"] == "fc")
    text = hover(client, uri, at(RESIDUAL, "fc:  dense", offset=1))
    for figure in _figures(layer):
        assert figure in text, (figure, text)
    rf = "x".join(map(str, layer["receptive_field"]))
    assert f"receptive field {rf}, jump {'x'.join(map(str, layer['jump']))}" in text


def test_hover_on_a_dotted_reference_shows_that_layer(client, residual):
    uri, summary = residual
    layer = next(d for d in summary["layers"] if d["name"] == "b2.proj")
    text = hover(client, uri, at(RESIDUAL, "b2.proj.params", offset=4))
    assert text.startswith("**b2.proj**")
    for figure in _figures(layer):
        assert figure in text
    assert f"receptive field {'x'.join(map(str, layer['receptive_field']))}" in text


def test_hover_on_a_block_use_shows_the_instance_totals(client, residual):
    uri, summary = residual
    inst = next(d for d in summary["instances"] if d["name"] == "b2")
    text = hover(client, uri, at(RESIDUAL, "b2:  residual"))
    for figure in _figures(inst):
        assert figure in text, (figure, text)
    assert f"{inst['nodes']} layers" in text


def test_hover_on_a_block_layer_shows_every_use(client, residual):
    uri, summary = residual
    text = hover(client, uri, at(RESIDUAL, "proj:  conv"))
    b2 = next(d for d in summary["layers"] if d["name"] == "b2.proj")
    assert f"b2.proj: output {'x'.join(map(str, b2['output_shape']))}, params {b2['params']:,}" in text
    assert "b1.proj: absent" in text  # b1's projection's `if` is false: no such layer
    assert not any(d["name"] == "b1.proj" for d in summary["layers"])


def test_hover_on_a_kind_or_an_option_key_is_empty(client, residual):
    uri, _ = residual
    assert hover(client, uri, at(RESIDUAL, "globalavgpool", offset=2)) is None
    assert hover(client, uri, at(RESIDUAL, "stride=2", offset=1)) is None


# --- go to definition -------------------------------------------------------------------------

def test_definition_of_a_block_use_is_the_block_line(client, residual):
    uri, _ = residual
    for use in ("b1:  residual", "b2:  residual"):
        loc = definition(client, uri, at(RESIDUAL, use, offset=6))
        assert loc["uri"] == uri
        assert loc["range"]["start"] == at(RESIDUAL, "residual(filters")


def test_definition_of_a_reference_is_the_layers_line(client, residual):
    uri, _ = residual
    loc = definition(client, uri, at(RESIDUAL, "proj?in"))  # inside the block: its own layer
    assert loc["range"]["start"] == at(RESIDUAL, "proj:  conv")
    loc = definition(client, uri, at(RESIDUAL, "b1.shape"))  # at top level: the block use
    assert loc["range"]["start"]["line"] == at(RESIDUAL, "b1:  residual")["line"]


def test_repeat_definition_and_hover(client, folder):
    text = (ROOT / "specs" / "zoo" / "resnet18.cnn").read_text()
    path = folder / "resnet18.cnn"
    path.write_text(text)
    uri = open_doc(client, path, text)
    assert client.diagnostics(uri) == []
    loc = definition(client, uri, at(text, "repeat 2 basic 128", offset=9))
    assert loc["range"]["start"] == at(text, "basic(filters")
    inst = next(d for d in cnnspec.summary(path).to_dict()["instances"] if d["name"] == "layer2")
    shown = hover(client, uri, at(text, "layer2:"))
    for figure in _figures(inst):
        assert figure in shown, (figure, shown)


def test_imports_resolve_beside_the_document(client, folder):
    uri = open_doc(client, folder / "finetune.cnn", FINETUNE)
    assert client.diagnostics(uri) == []  # the server's working folder is the repository
    loc = definition(client, uri, at(FINETUNE, "unfreeze conv2", offset=9))
    assert loc["uri"] == uri_of(folder / "digits_base.cnn")
    assert loc["range"]["start"]["line"] == at(BASE, "conv2:")["line"]
    conv2 = next(d for d in cnnspec.summary(folder / "finetune.cnn").layers if d["name"] == "conv2")
    text = hover(client, uri, at(FINETUNE, "unfreeze conv2", offset=9))
    assert f"params {conv2['params']:,}" in text and "digits_base.cnn:" in text


# --- the VS Code extension, with Microsoft's protocol library as the client ----------------

VSCODE = ROOT / "editors" / "vscode"


def test_the_vscode_extension_starts_a_server_microsofts_client_can_use(folder):
    """editors/vscode/extension.js's server command, spoken to by vscode-languageserver-protocol
    (editors/vscode/test/client_check.js): the diagnostics, a hover and a definition."""
    node = shutil.which("node")
    assert node and (VSCODE / "node_modules" / "vscode-languageserver-protocol").is_dir(), \
        "run `npm ci --prefix editors/vscode` (Node.js): the extension's client libraries"
    assert shutil.which("cnnspec"), "the cnnspec command must be installed (pip install -e .)"
    path = folder / "residual.cnn"
    pos = at(RESIDUAL, "b2:  residual", offset=6)
    run = subprocess.run([node, str(VSCODE / "test" / "client_check.js"), str(path),
                          str(pos["line"]), str(pos["character"])], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    manifest = json.loads((VSCODE / "package.json").read_text())
    default = manifest["contributes"]["configuration"]["properties"]["cnnspec.server.command"]
    assert [result["server"]["command"], *result["server"]["args"]] == default["default"]
    assert result["selector"][0]["language"] == manifest["contributes"]["languages"][0]["id"]
    assert result["diagnostics"] == []
    b2 = next(d for d in cnnspec.summary(path).to_dict()["instances"] if d["name"] == "b2")
    assert f"b2: output {'x'.join(map(str, b2['output_shape']))}, params {b2['params']:,}" \
        in result["hover"]["contents"]["value"]
    assert result["definition"]["range"]["start"] == at(RESIDUAL, "residual(filters")
    assert result["exit_code"] == 0


def test_an_error_in_an_imported_spec_is_shown_on_the_import_line(client, folder):
    sub = folder / "broken_base"
    sub.mkdir()
    (sub / "digits_base.cnn").write_text(re.sub(r"pool1: +maxpool 2x2", "pool1: maxpool 2x2 strid=2", BASE))
    path = sub / "finetune.cnn"
    uri = open_doc(client, path, FINETUNE)
    (got,) = client.diagnostics(uri)
    (want,) = analyse(SourceFile(str(path), FINETUNE))[1]
    assert (got["code"], got["range"]["start"]["line"]) == (want.code, at(FINETUNE, "import ")["line"])
    where = f"digits_base.cnn:{at(BASE, 'pool1:')['line'] + 1}:"  # the base's own line
    assert where in got["message"] and "strid" in got["message"]


# --- symbols, formatting, garbage, exit -------------------------------------------------------

def test_document_symbols_are_the_blocks_and_named_layers(client, residual):
    uri, _ = residual
    result = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    names = [s["name"] for s in result]
    assert names == ["residual", "b1", "b2", "gap", "fc"]
    assert [c["name"] for c in result[0]["children"]] == ["conv1", "conv2", "proj", "sum"]


def test_formatting_gives_what_cnnspec_fmt_writes(client, folder):
    messy = "network  M\ninput   8x8x1\nc:conv 4 3x3   ->relu\n"
    path = folder / "messy.cnn"
    path.write_text(messy)
    uri = open_doc(client, path, messy)
    client.diagnostics(uri)
    (edit,) = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                             "options": {"tabSize": 4, "insertSpaces": True}})
    subprocess.run([sys.executable, "-m", "cnnspec", "fmt", str(path)], check=True, timeout=60,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)
    assert edit["newText"] == path.read_text() != messy
    assert edit["range"] == {"start": {"line": 0, "character": 0},
                             "end": {"line": messy.count("\n"), "character": 0}}  # the whole text


GARBAGE = ["", "\x00\x01", "block (", "b: residual(", "((((((((((" * 200, "input 8x8x1\nc: conv 4 3x3 ->",
           "block b(x)\n  c: conv x 3x3\n", "x" * 5000, "\ud800 lone surrogate? no: 'é' \u2028 line sep",
           "input 8x8x1\n" + "c: dense 4\n" * 300]


def test_garbage_never_stops_the_server(client, folder):
    uri = open_doc(client, folder / "garbage.cnn", "")
    client.diagnostics(uri)
    for version, text in enumerate(GARBAGE, 2):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        change(client, uri, text, version)
        diags = client.diagnostics(uri)
        assert all(d["source"] == "cnnspec" for d in diags)
        for pos in ({"line": 0, "character": 0}, {"line": 0, "character": 3}, {"line": 99, "character": 99}):
            hover(client, uri, pos)
            definition(client, uri, pos)
    assert client.proc.poll() is None


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_other_commands_never_import_pygls():
    run = _python("import sys; from cnnspec.cli import main; status = main(['check', "
                  "'specs/lenet5.cnn']); print(status, sorted(m for m in sys.modules if "
                  "m.startswith(('pygls', 'lsprotocol', 'cnnspec.lsp.server'))))")
    assert run.stdout.splitlines()[-1] == "0 []", run.stdout + run.stderr


def test_without_pygls_the_command_says_how_to_install_it():
    run = _python("import sys; sys.modules['pygls'] = None; from cnnspec.cli import main; "
                  "sys.exit(main(['lsp']))")
    assert run.returncode == 2, run.stderr
    assert "pip install 'cnnspec[lsp]'" in run.stderr and "Traceback" not in run.stderr


def test_shutdown_then_exit_ends_the_process_with_status_0(client):
    assert client.request("shutdown", None) is None
    client.notify("exit", None)
    assert client.proc.wait(timeout=TIMEOUT) == 0
    log = client.log_path.read_text()
    assert "failed" not in log and "Traceback" not in log, log  # no handler ever failed
