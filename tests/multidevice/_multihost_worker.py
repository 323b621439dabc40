"""One process of the 2-process `jax.distributed` test (run by test_multihost.py).

Each process gives its callbacks its OWN paths (`runs<pid>.db`, `ckpt<pid>`), so the
test sees which processes wrote anything.
"""

import os
import sys

import jax

pid, port, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=pid)
assert jax.process_count() == 2 and jax.device_count() == 2

import jax.random as jr  # noqa: E402

from lerax import host  # noqa: E402
from lerax.algorithm import PPO  # noqa: E402
from lerax.callback import LoggingCallback, SaveCheckpoints, SQLiteBackend  # noqa: E402
from lerax.env import CartPole  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402
from lerax.population import train_population  # noqa: E402

env, algo = CartPole(), PPO(num_envs=2, num_steps=16, num_epochs=1, num_minibatches=1)
logger = LoggingCallback(SQLiteBackend(os.path.join(root, f"runs{pid}.db")), name="mh")
saver = SaveCheckpoints(f"ckpt{pid}", frequency=2, root=root)
population = train_population(
    algo, env, MLPActorCriticPolicy(env=env, key=jr.key(0)), 32 * 4, key=jr.key(1),
    num_seeds=2, callback=[logger, saver], shard="seeds",
)  # fmt: skip
jax.block_until_ready(population.state)
print(f"process {pid}: log host calls {host.host_calls('0/logging/log')}", flush=True)
