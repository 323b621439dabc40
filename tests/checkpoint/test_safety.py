"""Loading never runs code from a file, and every bad file raises `CheckpointError`.

Crafted files: a pickle payload (which would create a marker directory if it were
ever unpickled) in every entry of a real checkpoint and policy file, and raw pickle
files under the expected names, for every loader. Fuzz: seeded byte flips and
truncations that must raise `CheckpointError` or load data equal to the original.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import jax
import jax.random as jr
import numpy as np
import pytest

from lerax import load_policy, save_policy
from lerax.algorithm import PPO
from lerax.checkpoint import FORMAT_VERSION, CheckpointError, load, read_metadata, save
from lerax.checkpoint._save import describe_leaves, split_state
from lerax.cli import main
from lerax.env import CartPole
from lerax.policy import MLPActorCriticPolicy

ENV = CartPole()
ALGO = PPO(num_envs=2, num_steps=8, num_epochs=1, num_minibatches=1)


class _Payload:
    """Unpickling it creates the directory `marker`."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _policy(hidden=(8,)):
    return MLPActorCriticPolicy(env=ENV, key=jr.key(0), hidden=hidden)


def _state():
    return ALGO.init(ENV, _policy(), 64, key=jr.key(1))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A real checkpoint and a real policy file, written once."""
    root = tmp_path_factory.mktemp("files")
    save(root / "ck", _state())
    save_policy(root / "policy", _policy())
    return root


def _entries(file: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(file) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_entries(file: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(file, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _payloads(marker: Path) -> dict[str, bytes]:
    raw = pickle.dumps(_Payload(marker))
    return {
        "raw pickle": raw,
        "pickle as the bytes of a .npy": _npy(np.frombuffer(raw, np.uint8)),
        "object .npy": _npy(np.array([_Payload(marker)], dtype=object)),
    }


def _loaders(kind: str):
    """Every way to open a file of `kind` ("ck" or "policy")."""
    state, policy = _state(), _policy()
    common = {
        "load_policy": load_policy,
        "load_policy(like=policy)": lambda p: load_policy(p, like=policy),
        "read_metadata": read_metadata,
    }
    if kind == "policy":
        return {**common, "load": load, "load(like=policy)": lambda p: load(p, like=policy)}
    return {**common, "load": load, "load(like=state)": lambda p: load(p, like=state)}


def _assert_refused(loaders, path: Path, marker: Path, what: str) -> None:
    for name, loader in loaders.items():
        with pytest.raises(CheckpointError, match=str(path.name)):
            loader(path)
        assert not marker.exists(), f"{name} ran the payload placed in {what}"


@pytest.mark.parametrize("kind", ["ck", "policy"])
def test_a_pickle_payload_in_any_entry_never_runs(tmp_path, files, kind):
    marker = tmp_path / "pwned"
    original = _entries(files / kind / "checkpoint.npz")
    loaders = _loaders(kind)
    names = list(original)
    assert "structure.npy" in names and "metadata.npy" in names and len(names) > 4
    target = tmp_path / "crafted"
    shutil.copytree(files / kind, target)
    for entry in names:
        for label, payload in _payloads(marker).items():
            _write_entries(target / "checkpoint.npz", {**original, entry: payload})
            # The structure and metadata matter to every loader; one loader suffices
            # for the leaves (they are read by the same code).
            chosen = loaders if entry in ("structure.npy", "metadata.npy") else {"load": load}
            _assert_refused(chosen, target, marker, f"{entry} ({label})")
    _write_entries(target / "checkpoint.npz", {**original, "extra.npy": _npy(np.zeros(2))})
    _assert_refused({"load": load}, target, marker, "an extra entry")


@pytest.mark.parametrize("name", ["checkpoint.npz", "checkpoint.json"])
def test_a_raw_pickle_file_under_an_expected_name_never_runs(tmp_path, files, name):
    marker = tmp_path / "pwned"
    for kind in ("ck", "policy"):
        target = tmp_path / kind
        shutil.copytree(files / kind, target)
        (target / name).write_bytes(pickle.dumps(_Payload(marker)))
        _assert_refused(_loaders(kind), target, marker, name)


def test_resume_from_a_crafted_checkpoint_never_runs(tmp_path, files, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    saves = tmp_path / "checkpoints" / "run" / "saves"
    shutil.copytree(files / "ck", saves / "CartPole_3")
    original = _entries(saves / "CartPole_3" / "checkpoint.npz")
    structure = pickle.dumps(_Payload(marker))
    _write_entries(
        saves / "CartPole_3" / "checkpoint.npz", {**original, "structure.npy": structure}
    )
    assert main(["train", "ppo", "CartPole", "--resume", "run", "--no-db"]) == 2
    out = capsys.readouterr().err
    assert "no readable save in 'checkpoints/run/saves' (it holds: CartPole_3); CartPole_3:" in out
    assert not marker.exists()
    assert main(["train", "ppo", "CartPole", "--resume", str(saves / "CartPole_3")]) == 2
    assert "lerax: --resume: lerax.checkpoint.load: cannot load" in capsys.readouterr().err
    assert not marker.exists()


def _rewrite_structure(path: Path, edit) -> None:
    entries = _entries(path / "checkpoint.npz")
    header = json.loads(np.load(io.BytesIO(entries["structure.npy"])).tobytes())
    header = edit(header)
    if isinstance(header, tuple):  # (header, depth): a structure nested `depth` deep
        header, depth = header
        nested = '{"type":"tuple","items":[' * depth + "]}" * depth
        text = json.dumps(header).replace('{"type": "deep"}', nested).encode()
    else:
        text = json.dumps(header).encode()
    entries["structure.npy"] = _npy(np.frombuffer(text, np.uint8))
    _write_entries(path / "checkpoint.npz", entries)


def _with_function(name: str):
    def edit(header):
        header["structure"]["fields"]["actor"]["fields"]["activation"]["name"] = name
        return header

    return edit


@pytest.mark.parametrize(
    "name, problem",
    [
        ("os:system", "not a lerax, equinox, jax or optax function"),
        ("builtins:eval", "not a lerax, equinox, jax or optax function"),
        ("lerax.__main__:main", "is not a valid function name"),
        ("jax.numpy:os.system", "does not exist"),  # never through an imported module
        ("jax.numpy:ndarray", "is not a function"),
        ("lerax.nothing_here:f", "does not exist"),
        ("jax.numpy", "malformed function name"),
    ],
)
def test_functions_outside_the_allow_list_are_refused(tmp_path, files, name, problem):
    target = tmp_path / "p"
    shutil.copytree(files / "policy", target)
    _rewrite_structure(target, _with_function(name))
    with pytest.raises(CheckpointError, match=rf"`\.actor\.activation`.*{problem}"):
        load_policy(target)


def test_classes_outside_the_allow_list_and_malformed_nodes_are_refused(tmp_path, files):
    target = tmp_path / "p"
    shutil.copytree(files / "policy", target)

    def foreign_class(header):
        header["structure"]["class"] = "collections:OrderedDict"
        return header

    _rewrite_structure(target, foreign_class)
    with pytest.raises(CheckpointError, match="`collections:OrderedDict`, which is not a lerax"):
        load_policy(target)
    shutil.rmtree(target)
    shutil.copytree(files / "policy", target)

    def extra_field(header):
        header["structure"]["fields"]["secret"] = 1
        return header

    _rewrite_structure(target, extra_field)
    with pytest.raises(CheckpointError, match="has fields .*'secret'.*this version's has"):
        load_policy(target)


@pytest.mark.parametrize(
    "version, problem",
    [
        (FORMAT_VERSION + 1, f"format version {FORMAT_VERSION + 1}, newer than this lerax reads"),
        (1, "older lerax \\(format 1, whose structure is a pickle"),
        ("2", "no known format version"),
    ],
)
def test_format_versions_are_checked(tmp_path, files, version, problem):
    target = tmp_path / "p"
    shutil.copytree(files / "policy", target)

    def edit(header):
        header["format"] = version
        return header

    _rewrite_structure(target, edit)
    with pytest.raises(CheckpointError, match=problem):
        load_policy(target)
    assert read_metadata(files / "policy")["format"] == FORMAT_VERSION


# ---------------------------------------------------------------------------- fuzz


def _same(a, b) -> bool:
    if jax.tree.structure(a) != jax.tree.structure(b):
        return False
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        if isinstance(x, jax.Array) and jax.numpy.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
            return False
    return True


def _fuzz(tmp_path: Path, source: Path, loader, cases: int, seed: int) -> dict[str, int]:
    """Damage `source`'s arrays file `cases` times; every load must raise
    CheckpointError or give data equal to the original."""
    original = loader(source)
    data = (source / "checkpoint.npz").read_bytes()
    target = tmp_path / "fuzzed"
    shutil.copytree(source, target)
    rng = np.random.default_rng(seed)
    outcome = {"refused": 0, "equal": 0}
    for case in range(cases):
        damaged = bytearray(data)
        if case % 4 == 3:  # truncation
            damaged = damaged[: int(rng.integers(0, len(data)))]
        else:  # one to three byte flips
            for _ in range(1 + case % 3):
                damaged[int(rng.integers(len(data)))] ^= int(rng.integers(1, 256))
        (target / "checkpoint.npz").write_bytes(bytes(damaged))
        try:
            loaded = loader(target)
        except CheckpointError as error:
            assert "fuzzed" in str(error)
            outcome["refused"] += 1
            continue
        assert _same(loaded, original), f"case {case}: wrong data loaded"
        outcome["equal"] += 1
    return outcome


def test_fuzzed_policy_files_raise_or_load_the_original(tmp_path, files):
    outcome = _fuzz(tmp_path, files / "policy", load_policy, cases=300, seed=0)
    assert outcome["refused"] > 250  # almost every damage is detected (CRC, structure)


def test_fuzzed_checkpoints_raise_or_load_the_original(tmp_path, files):
    outcome = _fuzz(tmp_path, files / "ck", load, cases=100, seed=1)
    assert outcome["refused"] > 80


def _deep(header):
    depth = 5000
    header["structure"] = {"type": "deep"}  # replaced in the text below
    return json.loads(json.dumps(header)), depth


def _first_leaf(node):
    if isinstance(node, dict):
        if node.get("type") == "leaf":
            return node
        for value in node.values():
            found = _first_leaf(value)
            if found is not None:
                return found
    if isinstance(node, list):
        for value in node:
            found = _first_leaf(value)
            if found is not None:
                return found
    return None


def _edit_first_leaf(**changes):
    def edit(header):
        _first_leaf(header["structure"]).update(changes)
        return header

    return edit


@pytest.mark.parametrize(
    "edit, problem",
    [
        (_deep, "nested too deeply|RecursionError"),
        (_edit_first_leaf(index=1), "reuses entry leaf_00001"),
        (_edit_first_leaf(shape=[3, 3]), r"is described as float32\[3, 3\] but stored as"),
        (_edit_first_leaf(dtype="object"), "dtype 'object' is not allowed"),
        (_edit_first_leaf(key_impl="nonsense"), "nonsense"),
        (_edit_first_leaf(index="0"), "malformed leaf"),
    ],
)
def test_malformed_structures_are_refused(tmp_path, files, edit, problem):
    target = tmp_path / "p"
    shutil.copytree(files / "policy", target)
    _rewrite_structure(target, edit)
    with pytest.raises(CheckpointError, match=problem):
        load_policy(target)


def _format_1(path: Path, tree, marker: Path) -> None:
    """A file as lerax wrote it before format 2, with a pickle payload as structure."""
    skeleton, leaves = split_state(tree)
    meta = {"format": 1, "leaves": describe_leaves(skeleton), "iteration": 0}
    entries = {
        "structure": np.frombuffer(pickle.dumps(_Payload(marker)), np.uint8),
        "metadata": np.frombuffer(json.dumps(meta).encode(), np.uint8),
    }
    entries.update({f"leaf_{k:05d}": np.asarray(leaf) for k, leaf in enumerate(leaves)})
    path.mkdir()
    np.savez(path / "checkpoint.npz", **entries)
    (path / "checkpoint.json").write_text(json.dumps(meta))


def test_format_1_files_load_only_with_a_template_and_their_pickle_is_never_read(tmp_path):
    marker = tmp_path / "pwned"
    state, policy = _state(), _policy()
    _format_1(tmp_path / "ck", state, marker)
    _format_1(tmp_path / "policy", policy, marker)
    for kind in ("ck", "policy"):
        with pytest.raises(CheckpointError, match=r"format 1, .* load it with `like=`"):
            load(tmp_path / kind)
        assert read_metadata(tmp_path / kind)["format"] == 1
    assert _same(load(tmp_path / "ck", like=state), state)
    assert _same(load(tmp_path / "ck", like=jax.eval_shape(_state)), state)
    assert _same(load_policy(tmp_path / "policy", like=policy), policy)
    with pytest.raises(CheckpointError, match=r"is described as float32\[4, 16\] but stored as"):
        load_policy(tmp_path / "policy", like=_policy(hidden=(16,)))
    assert not marker.exists()
