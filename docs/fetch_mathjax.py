"""Put MathJax into docs/_static/mathjax, so the site renders math offline (``make docs``).

Runs ``npm pack mathjax@3.2.2`` (the npm registry is reachable where PyPI is), checks the
tarball's SHA-256, and unpacks its ``es5/`` folder (the combined ``tex-chtml.js`` and the
CHTML fonts it loads from beside itself) into a temporary folder beside the target, then
renames it into place: an interrupted fetch leaves no half copy. Does nothing when the
copy of this version is already there.

    python docs/fetch_mathjax.py
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "mathjax@3.2.2"
#: SHA-256 of the tarball ``npm pack mathjax@3.2.2`` downloads.
SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
TARGET = Path(__file__).resolve().parent / "_static" / "mathjax"
STAMP = TARGET / ".version"


def main() -> int:
    if STAMP.exists() and STAMP.read_text().strip() == f"{PACKAGE} {SHA256}" and (TARGET / "tex-chtml.js").exists():
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print(f"fetch_mathjax: the `npm` command is missing; install Node.js, which runs `npm pack {PACKAGE}` once",
              file=sys.stderr)  # fmt: skip
        return 1
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mathjax-", dir=TARGET.parent) as tmp:
        out = subprocess.run([npm, "pack", PACKAGE], cwd=tmp, capture_output=True, text=True, timeout=600)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if out.returncode != 0 or len(tarballs) != 1:
            print(f"fetch_mathjax: `npm pack {PACKAGE}` failed ({out.returncode}): {out.stderr.strip()[-1000:]}",
                  file=sys.stderr)  # fmt: skip
            return 1
        digest = hashlib.sha256(tarballs[0].read_bytes()).hexdigest()
        if digest != SHA256:
            print(f"fetch_mathjax: {tarballs[0].name} has SHA-256 {digest}, expected {SHA256}; nothing was installed",
                  file=sys.stderr)  # fmt: skip
            return 1
        unpacked = Path(tmp) / "unpacked"
        with tarfile.open(tarballs[0]) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/es5/") and (m.isfile() or m.isdir())]
            archive.extractall(unpacked, members=members, filter="data")
        staged = Path(tmp) / "mathjax"
        shutil.move(unpacked / "package" / "es5", staged)
        (staged / ".version").write_text(f"{PACKAGE} {SHA256}\n")
        if TARGET.exists():
            shutil.rmtree(TARGET)
        staged.rename(TARGET)
    print(f"MathJax ({PACKAGE}) in {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
