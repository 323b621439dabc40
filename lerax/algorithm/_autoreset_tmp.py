import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr


class AutoReset(eqx.Module):
    env: eqx.Module

    def reset(self, *, key):
        return self.env.reset(key=key)

    def step(self, state, action, *, key):
        step_key, reset_key = jr.split(key)
        state, obs, reward, terminated, truncated, info = self.env.step(state, action, key=step_key)
        done = terminated | truncated
        reset_state, reset_obs = self.env.reset(key=reset_key)
        state = jax.tree.map(lambda r, s: jnp.where(done, r, s), reset_state, state)
        new_obs = jnp.where(done, reset_obs, obs)
        info = dict(info, final_observation=obs)
        return state, new_obs, reward, terminated, truncated, info
