"""The Python (JAX) trainer of sacodec's networks (README, "Training")."""

import os
from importlib.util import find_spec

# On the CPU, XLA hands dots, convolutions and elementwise ops to YNNPACK when asked to: the
# trainer's steps run ~2× faster on 2 cores (`python -m sacodec_train bench`). The flag is
# experimental, so it is set only where no CUDA plugin is installed (a GPU machine's newer
# jaxlib might not know it, and an unknown flag aborts), and never over the caller's own.
CPU_FLAGS = "--xla_cpu_experimental_ynn_fusion_type=dot"
if not any(find_spec(m) for m in ("jax_cuda12_plugin", "jax_cuda13_plugin")):
    if "xla_cpu_experimental_ynn_fusion_type" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {CPU_FLAGS}".strip()
