"""Check the CUDA path on this machine's GPU in one command: python benchmarks/check_gpu.py

Prints the device, then runs the GPU tests (half-precision evaluation against float32, SVD and bit-for-bit restore
on the device, a sweep's memory against one copy of the model): the same checks CI skips where there is no GPU.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch


def main() -> int:
    if not torch.cuda.is_available():
        print("check_gpu: no CUDA device visible to torch (torch.cuda.is_available() is False); nothing to check")
        return 1
    props = torch.cuda.get_device_properties(0)
    print(
        f"check_gpu: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}"
    )
    tests = Path(__file__).resolve().parents[1] / "tests" / "test_gpu.py"
    return subprocess.call([sys.executable, "-m", "pytest", str(tests), "-q", "-rs", "-m", "gpu"])


if __name__ == "__main__":
    sys.exit(main())
