#!/usr/bin/env bash
# GPU check of the projection family, for a machine with an NVIDIA GPU and nvcc (CUDA 12+):
#   1. builds attrib with the CUDA extension (ATTRIB_WITH_CUDA=ON, sm_90 SASS + compute_75 PTX),
#   2. runs the GPU tests (tests/test_projection_cuda.py: GPU matrix == CPU matrix bit for bit for
#      Rademacher and sparse, to float rounding for Gaussian; projections agree to 1e-5 relative),
#   3. prints throughput (GB/s of float32 gradient, per dim) against torch's matmul with a stored
#      matrix, when torch with CUDA is importable.
# Aims at well under 8 minutes (the build is the long part, ~2-3 min with 16 cores).
#   bash bench/gpu_check.sh            # from the repository root
# Environment: CUDA_ARCHS (default "90-real;75-virtual"), BUILD_DIR (default build/gpu), JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHS="${CUDA_ARCHS:-90-real;75-virtual}"
BUILD_DIR="${BUILD_DIR:-build/gpu}"
JOBS="${JOBS:-$(nproc)}"
NVCC="$(command -v nvcc || true)"
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ]; then
  echo "no nvcc: pip install nvidia-cuda-nvcc nvidia-cuda-runtime (then put its bin/ on PATH)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
t0=$(date +%s)
PYBIND11_DIR=$(python -c "import pybind11; print(pybind11.get_cmake_dir())")
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DSKBUILD_PROJECT_NAME=attrib \
  -DSKBUILD_PROJECT_VERSION=0.1.0 -Dpybind11_DIR="$PYBIND11_DIR" -DATTRIB_WITH_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" "-DCMAKE_CUDA_ARCHITECTURES=$ARCHS" > "$BUILD_DIR.configure.log" 2>&1 \
  || { tail -40 "$BUILD_DIR.configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$JOBS" > "$BUILD_DIR.build.log" 2>&1 || { tail -60 "$BUILD_DIR.build.log"; exit 1; }
# a private copy of the package with the fresh extensions, so the source tree stays untouched
PKG=$(mktemp -d)
cp -r python/attrib "$PKG/attrib"
rm -f "$PKG"/attrib/_core*.so "$PKG"/attrib/_cuda*.so
cp "$BUILD_DIR"/_core*.so "$BUILD_DIR"/_cuda*.so "$PKG/attrib/"
export PYTHONPATH="$PKG"
echo "built in $(( $(date +%s) - t0 )) s"
python -c "import attrib; print(attrib.build_info(), 'cuda_available =', attrib.cuda_available())"
python -c "import attrib, sys; sys.exit(0 if attrib.cuda_available() else 1)" || { echo "CUDA not usable" >&2; exit 1; }
python -m pytest -q -p no:cacheprovider tests/test_projection_cuda.py tests/test_projection.py tests/test_projection_inputs.py
python - <<'PY'
import time
import numpy as np
import attrib

def best(fn, reps=5):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return min(ts)

try:
    import torch
    has_torch = torch.cuda.is_available()
except ImportError:
    has_torch = False
B, p = 256, 1_000_000
G = np.random.default_rng(0).standard_normal((B, p), dtype=np.float32)
gb = G.nbytes / 1e9
print(f"\nthroughput, B={B}, p={p:,}, float32 ({gb:.2f} GB); numpy input includes the host->device copy")
if has_torch:
    g = torch.from_numpy(G).cuda()
print(f"{'dim':>6} {'kind':>11} {'attrib GB/s (numpy in)':>24} {'attrib GB/s (torch in)':>24} {'torch matmul stored GB/s':>26} {'ratio':>7}")
for dim in (512, 2048, 8192):
    if has_torch:
        M = torch.randn(p if dim <= 2048 else 250_000, dim, device="cuda")
        rows = M.shape[0]
        def tm():
            out = None
            for a in range(0, p, rows):
                r = g[:, a:a + rows] @ M[: min(rows, p - a)]
                out = r if out is None else out + r
            torch.cuda.synchronize()
        t_torch = best(tm)
        del M
    for kind in ("rademacher", "gaussian", "sparse"):
        P = attrib.Projector(p, dim, kind=kind, device="cuda")
        t_np = best(lambda: P.project(G), reps=2)
        if has_torch:
            t_dev = best(lambda: (P.project(g), torch.cuda.synchronize()))
            print(f"{dim:>6} {kind:>11} {gb / t_np:>24.2f} {gb / t_dev:>24.2f} {gb / t_torch:>26.2f} {t_dev / t_torch:>6.2f}x")
        else:
            print(f"{dim:>6} {kind:>11} {gb / t_np:>24.2f} {'(no torch+CUDA)':>24}")
PY
echo "gpu_check done in $(( $(date +%s) - t0 )) s"
