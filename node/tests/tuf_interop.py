"""python-tuf's side of the TUF interoperability test (node/tests/release.rs).

  make DIR SPEC.json    write a Mirror release as a TUF repository, made and
                        signed with python-tuf (metadata/, targets/)
  verify DIR            load a repository Mirror wrote with python-tuf's
                        client (ngclient.Updater), download every target and
                        print what it saw, as JSON
  client DIR STATE      the same with a client that keeps its metadata in
                        STATE across runs, as a deployed client does: the
                        first run trusts DIR's oldest root (1.root.json),
                        later ones only what STATE holds, so a new root is
                        taken only through the N.root.json chain

SPEC.json: {"seeds": [hex ed25519 seeds], "threshold": k, "root_version": n,
"version": v, "expires": "YYYY-MM-DDTHH:MM:SSZ", "files": {path: hex bytes}},
optionally with "roots": [{"seeds": [...], "threshold": k, "sign": [...]}]
(root versions 1, 2, ... in order: each lists its seeds' keys for every role
and is signed by the seeds in "sign"; the last one signs the release with
its "seeds"), and "consistent": true for the consistent-snapshot layout
(versioned N.root.json, N.snapshot.json, N.targets.json and
<sha256>.<name> targets only, as python-tuf's repositories serve them).
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


def signer_of(seed: str) -> CryptoSigner:
    return CryptoSigner(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed)))


def make(out: Path, spec: dict) -> None:
    signers = [signer_of(s) for s in spec["seeds"]]
    expires = datetime.strptime(spec["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc
    )
    version = spec["version"]
    consistent = spec.get("consistent", False)
    roots = spec.get("roots") or [
        {"seeds": spec["seeds"], "threshold": spec["threshold"], "sign": spec["seeds"]}
    ]
    first_version = spec["root_version"] - len(roots) + 1
    (out / "metadata").mkdir(parents=True, exist_ok=True)
    root = None
    for i, r in enumerate(roots):
        root = Root(expires=expires, consistent_snapshot=consistent)
        root.version = first_version + i
        for role in ("root", "targets", "snapshot", "timestamp"):
            for seed in r["seeds"]:
                root.add_key(signer_of(seed).public_key, role)
            root.roles[role].threshold = r["threshold"]
        md = Metadata(root)
        for seed in r["sign"]:
            md.sign(signer_of(seed), append=True)
        names = [f"{root.version}.root.json"] if consistent else ["root.json"]
        for name in names:
            md.to_file(str(out / "metadata" / name), JSONSerializer(compact=False))

    targets = Targets(version=version, expires=expires)
    (out / "targets").mkdir(parents=True, exist_ok=True)
    for path, data_hex in spec["files"].items():
        data = bytes.fromhex(data_hex)
        targets.targets[path] = TargetFile.from_data(path, data, ["sha256"])
        paths = targets.targets[path].get_prefixed_paths() if consistent else [path]
        for p in paths:
            dest = out / "targets" / p
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)

    snapshot = Snapshot(version=version, expires=expires)
    snapshot.meta["targets.json"] = MetaFile(version=version)
    timestamp = Timestamp(version=version, expires=expires)
    timestamp.snapshot_meta = MetaFile(version=version)

    for name, signed in (
        ("targets", targets),
        ("snapshot", snapshot),
        ("timestamp", timestamp),
    ):
        md = Metadata(signed)
        for signer in signers:
            md.sign(signer, append=True)
        file = f"{version}.{name}.json" if consistent and name != "timestamp" else f"{name}.json"
        md.to_file(str(out / "metadata" / file), JSONSerializer(compact=False))


class LocalFetcher(FetcherInterface):
    """Serves file:// URLs; a missing file is a 404, as over HTTP."""

    def _fetch(self, url: str):
        path = Path(url.removeprefix("file://"))
        if not path.is_file():
            raise DownloadHTTPError(f"{url} not found", 404)
        return iter([path.read_bytes()])


def load(repo: Path, meta: Path, bootstrap: bytes | None) -> None:
    """Refresh a client whose trusted metadata lives in META, download every
    target, print what it saw."""
    downloads = Path(tempfile.mkdtemp())
    try:
        updater = Updater(
            metadata_dir=str(meta),
            metadata_base_url=(repo / "metadata").resolve().as_uri() + "/",
            target_dir=str(downloads),
            target_base_url=(repo / "targets").resolve().as_uri() + "/",
            fetcher=LocalFetcher(),
            bootstrap=bootstrap,
        )
        updater.refresh()
        seen = {}
        for path in sorted(updater._trusted_set.targets.targets):
            info = updater.get_targetinfo(path)
            local = updater.download_target(info, str(downloads / path.replace("/", "_")))
            seen[path] = Path(local).read_bytes().hex()
        root = updater._trusted_set.root
        print(
            json.dumps(
                {
                    "targets_version": updater._trusted_set.targets.version,
                    "root_version": root.version,
                    "root_expires": root.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "consistent_snapshot": root.consistent_snapshot,
                    "files": seen,
                }
            )
        )
    finally:
        shutil.rmtree(downloads)


def verify(repo: Path) -> None:
    work = Path(tempfile.mkdtemp())
    try:
        # The trust anchor: the root Mirror's guardians signed.
        load(repo, work, (repo / "metadata" / "root.json").read_bytes())
    finally:
        shutil.rmtree(work)


def client(repo: Path, state: Path) -> None:
    state.mkdir(parents=True, exist_ok=True)
    bootstrap = None
    if not (state / "root.json").exists():
        bootstrap = (repo / "metadata" / "1.root.json").read_bytes()
    load(repo, state, bootstrap)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text()))
    elif sys.argv[1] == "verify":
        verify(Path(sys.argv[2]))
    elif sys.argv[1] == "client":
        client(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
