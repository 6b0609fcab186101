"""httpx is imported without its command-line client (rich), and still works."""

from __future__ import annotations

import subprocess
import sys


def test_import_httpx_skips_rich_and_works() -> None:
    code = (
        "import sys\n"
        "from stacktender._httpx import import_httpx\n"
        "httpx = import_httpx()\n"
        "assert 'rich' not in sys.modules, 'rich was imported'\n"
        "assert httpx.URL('http://a/b').path == '/b'\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr
