"""python-tuf's side of the TUF interoperability test (node/tests/release.rs).

  make DIR SPEC.json    write a Mirror release as a TUF repository, made and
                        signed with python-tuf (metadata/, targets/)
  verify DIR            load a repository Mirror wrote with python-tuf's
                        client (ngclient.Updater), download every target and
                        print what it saw, as JSON

SPEC.json: {"seeds": [hex ed25519 seeds], "threshold": k, "root_version": n,
"version": v, "expires": "YYYY-MM-DDTHH:MM:SSZ", "files": {path: hex bytes}}.
"""

import json
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner
from tuf.api.exceptions import DownloadHTTPError
from tuf.api.metadata import (
    MetaFile,
    Metadata,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer
from tuf.ngclient import FetcherInterface, Updater


def make(out: Path, spec: dict) -> None:
    signers = [
        CryptoSigner(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(s)))
        for s in spec["seeds"]
    ]
    expires = datetime.strptime(spec["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    version = spec["version"]

    root = Root(expires=expires, consistent_snapshot=False)
    root.version = spec["root_version"]
    for role in ("root", "targets", "snapshot", "timestamp"):
        for signer in signers:
            root.add_key(signer.public_key, role)
        root.roles[role].threshold = spec["threshold"]

    targets = Targets(version=version, expires=expires)
    (out / "targets").mkdir(parents=True, exist_ok=True)
    for path, data_hex in spec["files"].items():
        data = bytes.fromhex(data_hex)
        targets.targets[path] = TargetFile.from_data(path, data, ["sha256"])
        dest = out / "targets" / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)

    snapshot = Snapshot(version=version, expires=expires)
    snapshot.meta["targets.json"] = MetaFile(version=version)
    timestamp = Timestamp(version=version, expires=expires)
    timestamp.snapshot_meta = MetaFile(version=version)

    (out / "metadata").mkdir(parents=True, exist_ok=True)
    for name, signed in (
        ("root", root),
        ("targets", targets),
        ("snapshot", snapshot),
        ("timestamp", timestamp),
    ):
        md = Metadata(signed)
        for signer in signers:
            md.sign(signer, append=True)
        md.to_file(str(out / "metadata" / f"{name}.json"), JSONSerializer(compact=False))


class LocalFetcher(FetcherInterface):
    """Serves file:// URLs; a missing file is a 404, as over HTTP."""

    def _fetch(self, url: str):
        path = Path(url.removeprefix("file://"))
        if not path.is_file():
            raise DownloadHTTPError(f"{url} not found", 404)
        return iter([path.read_bytes()])


def verify(repo: Path) -> None:
    work = Path(tempfile.mkdtemp())
    try:
        meta = work / "trusted"
        meta.mkdir()
        # The trust anchor: the root Mirror's guardians signed.
        root = (repo / "metadata" / "root.json").read_bytes()
        downloads = work / "downloads"
        downloads.mkdir()
        updater = Updater(
            metadata_dir=str(meta),
            metadata_base_url=(repo / "metadata").resolve().as_uri() + "/",
            target_dir=str(downloads),
            target_base_url=(repo / "targets").resolve().as_uri() + "/",
            fetcher=LocalFetcher(),
            bootstrap=root,
        )
        updater.refresh()
        seen = {}
        for path in sorted(updater._trusted_set.targets.targets):
            info = updater.get_targetinfo(path)
            local = updater.download_target(info, str(downloads / path.replace("/", "_")))
            seen[path] = Path(local).read_bytes().hex()
        print(
            json.dumps(
                {
                    "targets_version": updater._trusted_set.targets.version,
                    "root_version": updater._trusted_set.root.version,
                    "files": seen,
                }
            )
        )
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text()))
    elif sys.argv[1] == "verify":
        verify(Path(sys.argv[2]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
