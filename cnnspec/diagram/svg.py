"""SVG through Graphviz's `dot -Tsvg`, the one format that needs Graphviz installed."""

from __future__ import annotations

INSTALL_HINT = ("Graphviz's `dot` is not on PATH; --format svg needs it: install Graphviz "
                "(apt-get install graphviz, brew install graphviz, or conda install graphviz). "
                "--format dot, mermaid and html need nothing installed")
TIMEOUT_S = 300


class GraphvizError(Exception):
    """Graphviz is missing or failed: a usage problem (exit 2), not a spec error."""


def render(dot_source: str) -> str:
    import shutil  # here, not at the top: only svg starts a process
    import subprocess
    program = shutil.which("dot")
    if program is None:
        raise GraphvizError(INSTALL_HINT)
    try:
        done = subprocess.run([program, "-Tsvg"], input=dot_source.encode("utf-8"),
                              capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"Graphviz's dot took over {TIMEOUT_S} s; try --depth 1, or "
                            "--format html (laid out without Graphviz)") from None
    except OSError as err:
        raise GraphvizError(f"cannot run {program}: {err.strerror or err}") from None
    if done.returncode != 0:
        reason = " ".join(done.stderr.decode("utf-8", "replace").split()) or f"exit {done.returncode}"
        raise GraphvizError(f"Graphviz's dot failed: {reason}")
    return done.stdout.decode("utf-8")
