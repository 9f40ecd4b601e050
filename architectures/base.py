"""The block contract every architecture obeys.

A *block* is one residual layer of a sequence model — its norms and channel mixer
included — mapping ``(B, L, D) -> (B, L, D)`` causally. It can also run one token at
a time through ``step``, threading a recurrent ``State`` (a KV cache, an SSM state, an
input history); ``state_size(L)`` says how many numbers per sequence that state holds
after ``L`` tokens, and the contract suite (``architectures.contract``) checks it.

Laws (DESIGN.md): shape and dtype kept, no NaN; causal; ``step`` over a sequence equals
``forward``; ``state_size`` honest; deterministic under a seed; the backend switch
changes speed, never the numbers.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from seqbench import UserError

# A block's recurrent state: named tensors, each with the batch as its first dimension.
# Each tensor either keeps its size or grows by a fixed amount per token along one
# dimension (a KV cache, an input history): the harness relies on this to build the
# state of a long context cheaply when it measures decode cost.
State = dict[str, Tensor]

BACKENDS = ("auto", "torch", "cuda")


class ConfigError(UserError):
    """A user-facing mistake in an architecture name or setting (one line, with a hint)."""


class BackendError(ConfigError):
    """A backend was asked for that cannot run here."""


def require(ok: bool, field: str, value: Any, rule: str) -> None:
    """Raise ``ConfigError("field=value must <rule>")`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{field}={value!r} {rule}")


@dataclass(frozen=True)
class BlockConfig:
    """Settings every block shares; families subclass it with their own knobs.

    ``backend`` picks the kernels: ``"torch"`` is the pure-PyTorch reference, ``"cuda"``
    the fused kernels (an error when they cannot run), ``"auto"`` fused kernels when the
    input is on CUDA and the package is installed, the reference otherwise.

    ``layer_idx`` and ``n_layers`` say where the block stands in its model (``SequenceModel``
    fills them in); blocks whose reference code initialises by depth read them. A lone block
    is the only layer of a one-layer model.
    """

    d_model: int = 64
    backend: str = "auto"
    layer_idx: int = 0  # 0-based position in the model
    n_layers: int = 1  # depth of the model the block belongs to

    def __post_init__(self) -> None:
        require(
            isinstance(self.d_model, int) and self.d_model > 0,
            "d_model",
            self.d_model,
            "must be a positive integer",
        )
        require(self.backend in BACKENDS, "backend", self.backend, f"must be one of {BACKENDS}")
        require(
            isinstance(self.n_layers, int) and self.n_layers > 0,
            "n_layers",
            self.n_layers,
            "must be a positive integer",
        )
        require(
            isinstance(self.layer_idx, int) and 0 <= self.layer_idx < self.n_layers,
            "layer_idx",
            self.layer_idx,
            f"must lie in [0, n_layers={self.n_layers})",
        )
        self.validate()

    def validate(self) -> None:
        """Family-specific checks; call ``require`` for each rule."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Block(nn.Module):
    """One residual layer: ``forward`` over a sequence, ``step`` over one token.

    Subclasses set ``Config``, build ``self.mixer`` (the sequence mixer) and, when the
    family has one, ``self.mlp`` (the channel mixer), and implement the four methods.
    ``name`` is filled in by ``@register``.

    Weight decay: ``no_weight_decay()`` names the parameters an optimizer must not decay.
    By default that is every parameter with fewer than two dimensions (biases, norm gains,
    per-channel vectors); a family adds name patterns in ``no_weight_decay_patterns`` or
    marks a parameter ``p._no_weight_decay = True``, as mamba_ssm does.
    """

    Config: ClassVar[type[BlockConfig]] = BlockConfig
    name: ClassVar[str] = ""
    # Python package whose fused kernels the "cuda" backend uses (None: torch's own).
    cuda_package: ClassVar[str | None] = None
    # fnmatch patterns over parameter names (relative to the block) exempt from weight decay.
    no_weight_decay_patterns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: BlockConfig) -> None:
        super().__init__()
        if not isinstance(config, self.Config):
            raise TypeError(
                f"{type(self).__name__} takes a {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config
        # Which kernels ran in the latest forward: "torch" or "cuda" (None before any).
        self.backend_used: str | None = None

    # -- the contract ---------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:  # (B, L, D) -> (B, L, D)
        raise NotImplementedError

    def init_state(self, batch_size: int) -> State:
        raise NotImplementedError

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:  # (B, D) -> (B, D)
        raise NotImplementedError

    def state_size(self, seq_len: int) -> int:
        """Numbers held per sequence in the state after ``seq_len`` steps."""
        raise NotImplementedError

    # -- optimisation -------------------------------------------------------------------
    def no_weight_decay(self) -> set[str]:
        """Names of the parameters (as in ``named_parameters``) exempt from weight decay."""
        exempt = set()
        for name, p in self.named_parameters():
            if (
                p.dim() < 2
                or getattr(p, "_no_weight_decay", False)
                or any(fnmatch.fnmatchcase(name, pat) for pat in self.no_weight_decay_patterns)
            ):
                exempt.add(name)
        return exempt

    # -- backends ---------------------------------------------------------------------
    @classmethod
    def cuda_kernels_installed(cls) -> bool:
        """Whether the package behind the "cuda" backend imports here."""
        if cls.cuda_package is None:
            return True
        import importlib.util

        try:
            return importlib.util.find_spec(cls.cuda_package) is not None
        except (ImportError, ValueError):
            return False

    @classmethod
    def backends(cls) -> list[str]:
        """Backends usable on this machine."""
        usable = ["torch"]
        if torch.cuda.is_available() and cls.cuda_kernels_installed():
            usable.append("cuda")
        return usable

    def select_backend(self, x: Tensor) -> str:
        """Resolve ``config.backend`` for an input, record it on the block, return it."""
        wanted = self.config.backend
        if wanted == "cuda":
            if not x.is_cuda:
                raise BackendError(
                    f"backend='cuda' for {self.name or type(self).__name__} needs "
                    f"inputs on a CUDA device, got {x.device}; use backend='auto'"
                )
            if not self.cuda_kernels_installed():
                raise BackendError(
                    f"backend='cuda' for {self.name} needs the package "
                    f"'{self.cuda_package}': pip install 'seqbench[cuda]'"
                )
            used = "cuda"
        elif wanted == "auto":
            used = "cuda" if x.is_cuda and self.cuda_kernels_installed() else "torch"
        else:
            used = "torch"
        self.backend_used = used
        return used

    # -- helpers --------------------------------------------------------------------------
    @property
    def _factory(self) -> dict[str, Any]:
        """``device`` and ``dtype`` of the block's parameters, for building states."""
        p = next(self.parameters())
        return {"device": p.device, "dtype": p.dtype}

    def extra_repr(self) -> str:
        return f"backend={self.config.backend}"


def count_state_numbers(state: State, batch_size: int) -> int:
    """Numbers per sequence actually held in ``state`` (every tensor leads with batch)."""
    total = sum(t.numel() for t in state.values())
    return total // batch_size
