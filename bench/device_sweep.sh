#!/usr/bin/env bash
# docs/sweep/run_gpu.sh on the device machine (no registry, no hub, 64 MiB a call with the
# repository's ~35 MB of tracked files), in calls made while it stays warm (30 s):
#
#   here, once: the wheels of bench/fetch_device_wheels.sh in .whl, then
#     python -m bench.model_chunks split $(kick smollm2) .gpu/pieces --piece-mb 28 --with .whl ../shared/data
#   one call per piece (carry it, and .gpu/pieces/manifest.json with the first):
#     bash bench/device_sweep.sh stage .gpu/pieces/manifest.json .gpu/pieces/piece-000
#     bash bench/device_sweep.sh stage .gpu/pieces/piece-001      ... up to the last piece, then
#     bash bench/device_sweep.sh stage .gpu/pieces/piece-NNN run
#   (again `bash bench/device_sweep.sh run` while the machine is warm: the sweep resumes)
#
# `run` joins the model into /tmp/smollm2 (SHA-256 checked; keep that path: the committed
# results' settings name it, and a sweep resumes only onto the same settings), installs the
# wheels, runs the sweep for SWEEP_SECONDS (default 540) onto the committed results in
# docs/sweep/v2/results (finished points are skipped) and packs that folder into
# $OUT/results.tar.part-* (under 16 MB each, what a call can bring back); unpack here with
#   cat results.tar.part-* | tar -x -C docs/sweep/v2/results
set -uo pipefail
KEEP=/tmp/keep
mkdir -p "$KEEP"
while [ $# -gt 0 ]; do
  case $1 in
    stage) shift
           while [ $# -gt 0 ] && [ "$1" != run ]; do cp -r "$1" "$KEEP/"; shift; done
           ls "$KEEP" | tr '\n' ' '; echo ;;
    run) shift
         [ -f /tmp/smollm2/model.safetensors ] || python3 -m bench.model_chunks join "$KEEP"/piece-* \
           --output /tmp/smollm2 --extract-to "$KEEP" || exit
         python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
           "$KEEP"/extra/.whl/*.whl || exit
         export PYTHONPATH=$PWD:/tmp/site PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
         export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
         # .pth files are read only in site folders: this one registers --model kick and the kick tasks
         echo "import site; site.addsitedir('/tmp/site')" > "$(python3 -c 'import site; print(site.getsitepackages()[0])')/zz_tmp_site.pth"
         nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
         export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
         results=$PWD/docs/sweep/v2/results
         SECONDS=0
         MODEL=/tmp/smollm2 KICK_DATA_DIR=$KEEP/extra/data OUT_DIR=$results \
           bash docs/sweep/run_gpu.sh >> /tmp/sweep.log 2>&1 &
         sweep=$!
         while kill -0 $sweep 2> /dev/null && [ $SECONDS -lt "${SWEEP_SECONDS:-540}" ]; do sleep 5; done
         # out of time: the script first (no new `kick sweep` starts), then the sweeps (their
         # workers get SIGTERM with them: PR_SET_PDEATHSIG), then any worker left
         pkill -f docs/sweep/run_gpu.sh; pkill -f "kick sweep"; sleep 3; pkill -f kick_models.sweep.worker; sleep 2
         echo "sweep: stopped after ${SECONDS}s"; cp /tmp/sweep.log "$OUT/sweep.log"
         grep -h "points x" "$OUT/sweep.log" | tail -3
         find "$results" -name '*.json' | wc -l
         (cd "$results" && tar -c --exclude=worker.log --exclude='*.partial-*' .) | split -b 15M - "$OUT/results.tar.part-"
         ls -la "$OUT" ;;
    *) echo "unknown step $1: stage PATH..., run"; exit 2 ;;
  esac
done
