#!/usr/bin/env bash
# The one command to run on a GPU machine: every measurement issue 9 asks for, as JSON under $OUT.
#
#   bash benchmarks/gpu_check.sh [--quick] [--data-path PATH] [--budget-seconds 540]
#
# Installs nothing: it uses the python3 (with PyTorch) on PATH and this checkout's source (PYTHONPATH=src).
# Within about 9 minutes it runs, each step time-boxed and logged to $OUT/<step>.log:
#   1. train_throughput.py: reference, tuned and fixed-kernels (CUDA graph) at batch 64 and 256
#   2. split_cost.py: LID vs gradient split decision at 128x3x32x32 and 32x3x224x224
#   3. lid_overhead.py: the 17 layer LIDs against the forward pass
#   4. naslid compare --preset paper --methods nas-lid,spos with the epochs cut to a tenth (splits at
#      2/4/6/8, 1 fine-tuning epoch; compare_paper.json states it), killed at its time limit if unfinished:
#      CIFAR-10 from --data-path (or ../shared/data/cifar10 when present), else random images
# then $OUT/summary.json (steps, exit codes, seconds). $OUT defaults to ./gpu_check_out.
# --quick: tiny sizes, for a CPU smoke run (minutes on 2 cores; no number from it is a GPU figure).
set -u
cd "$(dirname "$0")/.."
QUICK=0
DATA_PATH=""
BUDGET=540
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --data-path) DATA_PATH="$2"; shift ;;
    --budget-seconds) BUDGET="$2"; shift ;;
    *) echo "gpu_check.sh: unknown argument $1 (expected --quick, --data-path PATH, --budget-seconds N)" >&2; exit 2 ;;
  esac
  shift
done
OUT="${OUT:-./gpu_check_out}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
if [ -z "$DATA_PATH" ] && [ -e ../shared/data/cifar10 ] && [ "$QUICK" = 0 ]; then DATA_PATH=../shared/data/cifar10; fi
START=$(date +%s)
STEPS=()

run_step() {  # name, seconds allowed, command...
  local name="$1" limit="$2"; shift 2
  local left=$(( BUDGET - ($(date +%s) - START) ))
  if [ "$left" -lt 20 ]; then echo "skip $name: budget spent"; STEPS+=("$name:skipped:0"); return; fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (at most ${limit} s)"
  local begin; begin=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 12 "$OUT/$name.log"
  STEPS+=("$name:$rc:$(( $(date +%s) - begin ))")
  echo "-- $name: exit $rc after $(( $(date +%s) - begin )) s"
}

"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')" | tee "$OUT/device.txt"
DEVICE=$("$PY" -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv >> "$OUT/device.txt" 2>/dev/null

if [ "$QUICK" = 1 ]; then
  run_step train_throughput 120 "$PY" benchmarks/train_throughput.py --quick --out "$OUT/train_throughput.json"
  run_step split_cost 120 "$PY" benchmarks/split_cost.py --repeats 1 --inputs 8x32,4x64 --out "$OUT/split_cost.json"
  run_step lid_overhead 60 "$PY" benchmarks/lid_overhead.py --batch-size 32 --k 10 --repeats 1 --warmup 1 \
    --arch pool_skip --out "$OUT/lid_overhead.json"
  run_step compare_paper 240 "$PY" benchmarks/compare_paper.py --quick --seconds 180 --out "$OUT/compare_paper.json" \
    --run-dir "$OUT/compare_paper_run"
else
  run_step train_throughput 150 "$PY" benchmarks/train_throughput.py --steps 30 --repeats 3 --batches 64,256 \
    --out "$OUT/train_throughput.json"
  run_step split_cost 90 "$PY" benchmarks/split_cost.py --repeats 3 --inputs 128x32,32x224 --out "$OUT/split_cost.json"
  run_step lid_overhead 40 "$PY" benchmarks/lid_overhead.py --device "$DEVICE" --repeats 7 --out "$OUT/lid_overhead.json"
  run_step compare_paper 240 "$PY" benchmarks/compare_paper.py --seconds 220 ${DATA_PATH:+--data-path "$DATA_PATH"} \
    --out "$OUT/compare_paper.json" --run-dir "$OUT/compare_paper_run"
fi

"$PY" - "$OUT/summary.json" "$(( $(date +%s) - START ))" "${STEPS[@]}" <<'PYEOF'
import json, sys
path, total, *steps = sys.argv[1:]
rows = [dict(zip(("step", "exit", "seconds"), s.rsplit(":", 2))) for s in steps]
json.dump({"benchmark": "gpu_check", "seconds": int(total), "steps": rows}, open(path, "w"), indent=1)
print(f"gpu_check: {len(rows)} steps in {total} s; results in {path.rsplit('/', 1)[0]}")
for row in rows:
    print(f"  {row['step']:>16}: exit {row['exit']}, {row['seconds']} s")
PYEOF
