#!/usr/bin/env bash
# GPU readiness in one prepared command: install seqbench and the `cuda` extra from the
# package mirror (or from a folder of wheels), build the Mamba kernels only while time
# allows, then run `seqbench doctor --device cuda` and the cost claims a CPU cannot settle. Everything fits in BUDGET_S (570 s by
# default); a kernel package that fails to install or build is recorded and skipped, never
# fatal: the doctor then checks the fallback. docs/gpu.md explains each step.
#
#   scripts/gpu_check.sh [DIR]      results in DIR (default results/doctor-gpu); when $OUT is
#                                   set, doctor.json, the log, install.tsv and a tarball of DIR
#                                   are copied there
#
# Environment (all optional):
#   PYTHON=python3         the interpreter whose torch sees the GPU; torch is never reinstalled
#   WHEELHOUSE=DIR         install only from DIR (pip --no-index --find-links DIR): no network
#   BUDGET_S=570           seconds for the whole script
#   DOCTOR_S=300           seconds kept for the doctor
#   BUILD_KERNELS=1        0: never compile mamba-ssm / causal-conv1d (wheels are still used)
#   TORCH_CUDA_ARCH_LIST   default: this GPU's compute capability, e.g. 9.0
#   MAX_JOBS               parallel compile jobs (default: the CPU count)
#   KEEP_WHEELS=DIR        where kernel wheels built here are kept for next time (default DIR/wheels)
#   PIP                    the pip command (default: "$PYTHON -m pip")
#   NVCC                   the CUDA compiler (default: nvcc on PATH, else $CUDA_HOME/bin/nvcc)
#   DOCTOR=1               0: skip the doctor, measure only the cost claims below
#   COSTS=1                0: skip the cost claims after the doctor (issue #26: generation
#                          throughput as Gu & Dao Fig. 8, attention memory by kernel, width),
#                          each a results folder DIR/<preset> with its report; they share
#                          what is left of BUDGET_S, GENERATE_S / ATTENTION_S / WIDTH_S at most
set -uo pipefail
cd "$(dirname "$0")/.."

DIR=${1:-results/doctor-gpu}
PYTHON=${PYTHON:-python3}
read -r -a PIP <<<"${PIP:-$PYTHON -m pip}"
BUDGET_S=${BUDGET_S:-570}
DOCTOR_S=${DOCTOR_S:-300}
BUILD_KERNELS=${BUILD_KERNELS:-1}
KEEP_WHEELS=${KEEP_WHEELS:-$DIR/wheels}
deadline=$((SECONDS + BUDGET_S))
mkdir -p "$DIR" "$KEEP_WHEELS"
LOG=$DIR/gpu_check.log
: >"$LOG"
printf 'step\tstatus\tseconds\n' >"$DIR/install.tsv"
# Where packages come from; one retry and a short timeout, so an unreachable index costs
# seconds rather than pip's default minutes of retries.
FROM=(--retries 1 --timeout 15 --disable-pip-version-check)
if [ -n "${WHEELHOUSE:-}" ]; then FROM+=(--no-index --find-links "$WHEELHOUSE"); fi

say() { echo "$*" | tee -a "$LOG"; }
left() { echo $((deadline - SECONDS)); }

# step NAME LIMIT COMMAND...: run COMMAND for at most LIMIT seconds; record its outcome.
step() {
  local name=$1 limit=$2 start=$SECONDS status rc
  shift 2
  if [ "$limit" -lt 10 ]; then
    status="skipped: ${limit} s left"
  else
    say "== $name (at most $limit s): $*"
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    case $rc in
      0) status=ok ;;
      124 | 137) status="timed out after $limit s" ;;
      *) status="failed (exit $rc)" ;;
    esac
  fi
  printf '%s\t%s\t%s\n' "$name" "$status" "$((SECONDS - start))" >>"$DIR/install.tsv"
  say "== $name: $status"
  [ "$status" = ok ]
}

# --- what is here ---------------------------------------------------------------------------
say "== machine"
"$PYTHON" - <<'EOF' 2>&1 | tee -a "$LOG"
import torch
print(f"torch {torch.__version__}, built with CUDA {torch.version.cuda}, "
      f"CUDA device: {torch.cuda.is_available()}")
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0), "capability %d.%d" % torch.cuda.get_device_capability(0))
EOF
command -v nvidia-smi >/dev/null && nvidia-smi 2>&1 | head -15 | tee -a "$LOG"
NVCC=${NVCC:-$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")}
if [ -x "$NVCC" ]; then "$NVCC" --version 2>&1 | tail -2 | tee -a "$LOG"; else NVCC=""; fi
if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ]; then
  TORCH_CUDA_ARCH_LIST=$("$PYTHON" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability(0))' 2>/dev/null || true)
fi
say "TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-<no GPU>} nvcc=${NVCC:-<none>}"

# --- is there an index? Without one, only local wheels (saves minutes of pip retries) -------
if [ -z "${WHEELHOUSE:-}" ] && ! timeout 40 "${PIP[@]}" download "${FROM[@]}" --no-deps \
  -d "$DIR/.index-probe" einops >/dev/null 2>&1; then
  say "no package index reachable: installing from local wheels only (WHEELHOUSE, KEEP_WHEELS)"
  FROM+=(--no-index)
fi
rm -rf "$DIR/.index-probe"

# --- seqbench: editable, or its dependencies and the source tree on PYTHONPATH --------------
# --no-build-isolation: an isolated build would fetch setuptools (and, for the kernels, a
# second torch) instead of using what is installed.
if ! step seqbench 150 "${PIP[@]}" install "${FROM[@]}" --no-build-isolation -e .; then
  mapfile -t deps < <("$PYTHON" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')
  step "seqbench dependencies" 150 "${PIP[@]}" install "${FROM[@]}" "${deps[@]}"
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
  say "seqbench runs from the source tree (PYTHONPATH)"
fi

# --- the cuda extra: wheels first (fast), then builds while time allows ----------------------
mapfile -t extra < <("$PYTHON" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["cuda"]))')
pending=()
for spec in "${extra[@]}"; do
  name=${spec%%[<>=!~ ;[]*}
  # A wheel from the mirror, the wheelhouse or a build kept from before; fla-core always is one.
  if ! step "$name (wheel)" 120 "${PIP[@]}" install "${FROM[@]}" --find-links "$KEEP_WHEELS" \
    --only-binary=:all: "$spec"; then
    pending+=("$spec")
  fi
done
# Both kernel packages compile CUDA code: a prebuilt-wheel download from GitHub is attempted
# unless FORCE_BUILD is set, and GitHub is out of reach here; nvcc must match torch's CUDA.
export MAMBA_FORCE_BUILD=TRUE CAUSAL_CONV1D_FORCE_BUILD=TRUE TORCH_CUDA_ARCH_LIST
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
for spec in "${pending[@]}"; do
  name=${spec%%[<>=!~ ;[]*}
  room=$(($(left) - DOCTOR_S - 30))
  if [ "$BUILD_KERNELS" != 1 ]; then
    printf '%s\t%s\t0\n' "$name (build)" "skipped: BUILD_KERNELS=$BUILD_KERNELS" >>"$DIR/install.tsv"
  elif [ -z "$TORCH_CUDA_ARCH_LIST" ] || [ -z "$NVCC" ]; then
    printf '%s\t%s\t0\n' "$name (build)" "skipped: needs a GPU and nvcc" >>"$DIR/install.tsv"
  elif [ "$room" -lt 60 ]; then
    printf '%s\t%s\t0\n' "$name (build)" "skipped: ${room} s left before the doctor" >>"$DIR/install.tsv"
  elif step "$name (build)" "$room" "${PIP[@]}" wheel "${FROM[@]}" --no-build-isolation --no-deps \
    -w "$KEEP_WHEELS" "$spec"; then
    step "$name (install)" 120 "${PIP[@]}" install "${FROM[@]}" --find-links "$KEEP_WHEELS" \
      --no-build-isolation "$spec"
  fi
done
say "== installed"
cat "$DIR/install.tsv" | tee -a "$LOG"

# --- the doctor -------------------------------------------------------------------------------
code=0
if [ "${DOCTOR:-1}" = 1 ]; then
  budget=$(($(left) - 20))
  [ "$budget" -gt "$DOCTOR_S" ] && budget=$DOCTOR_S
  [ "$budget" -lt 0 ] && budget=0
  say "== seqbench doctor --device cuda (budget $budget s)"
  PYTHONUNBUFFERED=1 timeout --kill-after=15 $((budget + 30)) \
    "$PYTHON" -m bench.doctor --device cuda --out "$DIR" --budget "$budget" 2>&1 | tee -a "$LOG"
  code=${PIPESTATUS[0]}
  say "== doctor exit status $code; total $SECONDS s"
fi

# --- the cost claims a CPU cannot settle (docs/measurement.md, issue #26) --------------------
# (f) generation throughput in the paper's setting: 1.3B Transformer vs 1.4B Mamba, prompt
#     2048 + 128, batch 1..128, bf16; (i) attention memory on the math path and on flash /
#     memory-efficient kernels to 32K; (g, h) width at L=1024. Each run is saved as it ends,
#     so a timed-out preset keeps its finished runs; its report decides what they allow.
cost_step() {  # NAME CAP PRESET ARGS...: run a preset into DIR/NAME, then its report
  local name=$1 cap=$2 preset=$3 limit
  shift 3
  limit=$(($(left) - 30))
  [ "$limit" -gt "$cap" ] && limit=$cap
  step "$name" "$limit" env PYTHONUNBUFFERED=1 "$PYTHON" -m bench.cli run "$preset" \
    --device cuda --out "$DIR/$name" "$@"
  [ -d "$DIR/$name/runs" ] || return 0
  step "$name (report)" 60 "$PYTHON" -m bench.cli report "$DIR/$name"
  step "$name (claims)" 60 "$PYTHON" -m bench.cli report "$DIR/$name" \
    --markdown "$DIR/$name/report.md"
}
if [ "${COSTS:-1}" = 1 ]; then
  cost_step generate-gpu "${GENERATE_S:-300}" generate-gpu
  cost_step attention-memory "${ATTENTION_S:-150}" attention-memory \
    --set 'grid.measure.attention=["math","flash","efficient"]' \
    --set 'measure.seq_lens=[1024,2048,4096,8192,16384,32768]'
  cost_step width "${WIDTH_S:-150}" width --set 'measure.seq_lens=[1024]' \
    --set measure.batch_size=8
  say "== cost claims done; total $SECONDS s"
fi

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  cp "$DIR/doctor.json" "$DIR/install.tsv" "$LOG" "$OUT/" 2>/dev/null
  for name in generate-gpu attention-memory width; do
    [ -f "$DIR/$name/report.md" ] && cp "$DIR/$name/report.md" "$OUT/$name.md"
  done
  tar czf "$OUT/doctor.tar.gz" --exclude=./wheels -C "$DIR" .
fi
exit "$code"
