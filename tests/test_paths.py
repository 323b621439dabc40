"""Names that become paths stay inside their root (`lerax._paths`)."""

from __future__ import annotations

import jax.random as jr
import pytest

from lerax._paths import check_relative_name
from lerax.algorithm import PPO
from lerax.callback import LoggingCallback, SaveCheckpoints, TensorBoardBackend
from lerax.callback.video._record_videos import RecordVideos
from lerax.env import CartPole, TimeLimit
from lerax.policy import MLPActorCriticPolicy

OUTSIDE = [
    ("/tmp/run", "absolute"),
    ("\\tmp\\run", "absolute"),
    ("C:\\runs\\a", "drive"),
    ("C:run", "drive"),
    ("..", "'..'"),
    ("../run", "'..'"),
    ("ppo/../../run", "'..'"),
    ("ppo\\..\\..\\run", "'..'"),
    ("ppo//cartpole", "empty"),
    ("ppo/", "empty"),
    ("./ppo", "'.'"),
]

OWNERS = {
    "SaveCheckpoints": lambda name: SaveCheckpoints(name, root="unused"),
    "RecordVideos": lambda name: RecordVideos(name, root="unused"),
    "LoggingCallback": lambda name: LoggingCallback(TensorBoardBackend("unused"), name=name),
}
ARGUMENT = {"SaveCheckpoints": "dirname", "RecordVideos": "dirname", "LoggingCallback": "name"}


@pytest.mark.parametrize("owner", sorted(OWNERS))
@pytest.mark.parametrize("name, problem", OUTSIDE)
def test_names_leaving_the_root_are_refused_at_construction(owner, name, problem, tmp_path):
    with pytest.raises(ValueError) as info:
        OWNERS[owner](name)
    message = str(info.value)
    assert message.startswith(f"{owner}: `{ARGUMENT[owner]}` must be a relative path")
    assert "'ppo/cartpole'" in message, "the message shows what is accepted"
    assert problem in message and repr(name) in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["cartpole", "ppo/cartpole", "a.b/c..d/.e", "runs\u00e9/x y"])
def test_relative_names_are_accepted(name):
    assert check_relative_name("Owner", "name", name) == name
    for make in OWNERS.values():
        make(name)


def test_nested_names_write_under_their_root(tmp_path):
    env = TimeLimit(CartPole(), 6)
    algo = PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
    callbacks = [
        SaveCheckpoints("ppo/cartpole", frequency=2, root=tmp_path / "ckpt"),
        RecordVideos("ppo/cartpole", frequency=2, root=tmp_path / "ckpt", width=32, height=24),
        LoggingCallback(TensorBoardBackend(tmp_path / "tb"), name="ppo/cartpole"),
    ]
    policy = MLPActorCriticPolicy(env=env, key=jr.key(0))
    algo.learn(env, policy, algo.steps_per_iteration * 2, key=jr.key(1), callback=callbacks)
    assert list((tmp_path / "ckpt" / "ppo" / "cartpole" / "saves").iterdir())
    assert list((tmp_path / "ckpt" / "ppo" / "cartpole" / "videos").glob("*.mp4"))
    assert list((tmp_path / "tb" / "ppo" / "cartpole").glob("events.out.tfevents.*"))
    written = {p.relative_to(tmp_path).parts[:3] for p in tmp_path.rglob("*") if p.is_file()}
    assert written <= {("ckpt", "ppo", "cartpole"), ("tb", "ppo", "cartpole")}
