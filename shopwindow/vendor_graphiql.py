"""``make vendor-graphiql``: bring the pinned npm release of GraphiQL into the package.

The gateway serves GraphiQL from these files alone, so the page works with no internet
(air-gapped clusters, this project's own machines). Each package is fetched with
``npm pack`` at its pinned version, its tarball checked against the registry's
integrity digest, its licence checked against the licences we ship, and the files the
page needs copied into ``gateway/graphiql/vendor/`` with the licence text and a
manifest of what came from where (``tests/gateway/graphiql`` holds the files to it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "gateway" / "graphiql" / "vendor"
# package -> (version, the files the page loads, from the package's root)
PINS: dict[str, tuple[str, tuple[str, ...]]] = {
    "graphiql": ("3.8.3", ("graphiql.min.js", "graphiql.min.css")),
    "react": ("18.3.1", ("umd/react.production.min.js",)),
    "react-dom": ("18.3.1", ("umd/react-dom.production.min.js",)),
}
ALLOWED_LICENSES = frozenset({"MIT"})


def _npm(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["npm", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def vendor(target: Path = VENDOR) -> dict[str, dict[str, object]]:
    """Fetch, check and copy every pinned package; returns the manifest written."""
    manifest: dict[str, dict[str, object]] = {}
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for package, (version, files) in PINS.items():
            integrity = _npm("view", f"{package}@{version}", "dist.integrity", cwd=work)
            tarball = work / _npm("pack", f"{package}@{version}", "--silent", cwd=work)
            algorithm, _, expected = integrity.partition("-")
            digest = hashlib.new(algorithm, tarball.read_bytes()).digest()
            if base64.b64encode(digest).decode() != expected:
                raise SystemExit(f"{package}@{version}: the tarball does not match {integrity}")
            with tarfile.open(tarball) as archive:
                meta = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
                if meta.get("license") not in ALLOWED_LICENSES:
                    raise SystemExit(f"{package}@{version}: licence {meta.get('license')!r}")
                copied = {}
                for name in (*files, "LICENSE"):
                    data = archive.extractfile(f"package/{name}").read()  # type: ignore[union-attr]
                    out = Path(name).name if name != "LICENSE" else f"LICENSE.{package}"
                    (target / out).write_bytes(data)
                    copied[out] = hashlib.sha256(data).hexdigest()
            manifest[package] = {
                "version": version,
                "license": meta["license"],
                "integrity": integrity,
                "files": copied,
            }
    (target / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


if __name__ == "__main__":
    written = vendor()
    for package, entry in written.items():
        print(f"{package}@{entry['version']} ({entry['license']}): {', '.join(entry['files'])}")  # type: ignore[arg-type]
    sys.exit(0)
