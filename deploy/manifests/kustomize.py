"""A Kustomize layer (base or overlay) and what `kustomize build` makes of it.

The renderer writes each layer's `kustomization.yaml`, its resource files and its patches, and also
the fully built overlay, so the tests can validate exactly what an operator applies without a
`kustomize` binary. Only the Kustomize features whose result is fully defined are used: `resources`
(files and other layers, kept in order by `sortOptions: fifo`) and JSON 6902 `patches` with a
kind/name target; `build` applies those with RFC 6902 semantics.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec
import yaml

__all__ = ["KustomizeError", "Layer", "Patch", "apply_json_patch", "build_directory"]

_SUPPORTED = {"apiVersion", "kind", "resources", "patches", "sortOptions"}


class KustomizeError(ValueError):
    """A kustomization uses a feature this builder does not implement, or refers to what is not there."""


class Patch(msgspec.Struct, kw_only=True, frozen=True):
    """A JSON 6902 patch file (`file`) applied to the object of `kind` named `name`."""

    file: str
    kind: str
    name: str
    ops: list[dict[str, Any]]


class Layer(msgspec.Struct, kw_only=True, frozen=True):
    """One kustomization directory: other layers it builds on (relative paths), its files, its patches."""

    bases: list[tuple[str, Layer]] = msgspec.field(default_factory=list)
    resources: dict[str, list[dict[str, Any]]] = msgspec.field(default_factory=dict)
    patches: list[Patch] = msgspec.field(default_factory=list)

    def kustomization(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "sortOptions": {"order": "fifo"},
            "resources": [path for path, _ in self.bases] + list(self.resources),
        }
        if self.patches:
            found["patches"] = [{"path": p.file, "target": {"kind": p.kind, "name": p.name}} for p in self.patches]
        return found

    def build(self) -> list[dict[str, Any]]:
        """The objects `kustomize build` emits for this layer, in order."""
        docs = [doc for _, base in self.bases for doc in base.build()]
        docs += [copy.deepcopy(doc) for file_docs in self.resources.values() for doc in file_docs]
        for patch in self.patches:
            matches = [i for i, d in enumerate(docs) if d["kind"] == patch.kind and d["metadata"]["name"] == patch.name]
            if len(matches) != 1:
                raise ValueError(f"patch {patch.file}: {len(matches)} objects are {patch.kind}/{patch.name}")
            docs[matches[0]] = apply_json_patch(docs[matches[0]], patch.ops)
        return docs


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer {path!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def apply_json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """`doc` with the RFC 6902 `add`, `replace` and `remove` operations applied (a new object)."""
    result = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        target: Any = result
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        kind = op["op"]
        if isinstance(target, list):
            index = len(target) if last == "-" else int(last)
            if kind == "add":
                target.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace":
                target[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del target[index]
            else:
                raise ValueError(f"unsupported JSON patch operation {kind!r}")
        elif kind in {"add", "replace"}:
            if kind == "replace" and last not in target:
                raise ValueError(f"replace of missing member {op['path']}")
            target[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            del target[last]
        else:
            raise ValueError(f"unsupported JSON patch operation {kind!r}")
    return result


def build_directory(directory: Path) -> list[dict[str, Any]]:
    """Build the kustomization in `directory` from the files on disk, as `kustomize build` would.

    Refuses (KustomizeError) any field but `resources`, `patches` (JSON 6902, kind/name target) and
    `sortOptions: fifo`, a missing file, and a patch matching other than exactly one object.
    """
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - _SUPPORTED
    if unknown or spec.get("sortOptions", {"order": "fifo"}) != {"order": "fifo"}:
        raise KustomizeError(f"{directory}: unsupported kustomization fields {sorted(unknown) or ['sortOptions']}")
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs += build_directory(path)
        elif path.is_file():
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
        else:
            raise KustomizeError(f"{directory}: resource {entry} does not exist")
    patches = [
        Patch(
            file=item["path"],
            kind=item["target"]["kind"],
            name=item["target"]["name"],
            ops=yaml.safe_load((directory / item["path"]).read_text()),
        )
        for item in spec.get("patches", [])
    ]
    try:
        return Layer(resources={"": docs}, patches=patches).build()
    except ValueError as exc:
        raise KustomizeError(f"{directory}: {exc}") from None
