"""Adam (Kingma & Ba 2015) on a list of numpy arrays, with a state that checkpoints.

m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Adam:
    """Adam optimiser; ``lr`` may be changed between steps (learning-rate decay)."""

    lr: float = 1.5e-3
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m: list[np.ndarray] = field(default_factory=list)
    v: list[np.ndarray] = field(default_factory=list)

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        """Update ``params`` in place."""
        if not self.m:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        c1 = 1.0 - self.b1**self.t
        c2 = 1.0 - self.b2**self.t
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for a checkpoint (``adam_m{k}``, ``adam_v{k}``, ``adam_t``)."""
        out = {"adam_t": np.array(self.t)}
        for k, (m, v) in enumerate(zip(self.m, self.v)):
            out[f"adam_m{k}"], out[f"adam_v{k}"] = m, v
        return out

    def load_arrays(self, arrays, n_layers: int) -> None:
        self.t = int(arrays["adam_t"])
        if self.t:
            self.m = [np.array(arrays[f"adam_m{k}"]) for k in range(n_layers)]
            self.v = [np.array(arrays[f"adam_v{k}"]) for k in range(n_layers)]
