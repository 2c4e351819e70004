#!/usr/bin/env bash
# A GPU sweep script ($SCRIPT, default docs/sweep/run_gpu.sh, writing into $RESULTS, default
# docs/sweep/v2/results; docs/storage/quant_study/run_gpu.sh is the other) on the device machine
# (no registry, no hub, 64 MiB a call with the repository's ~56 MB of tracked files), in calls
# made while it stays warm (30 s):
#
#   here, once: the wheels of bench/fetch_device_wheels.sh in .whl, then
#     python -m bench.model_chunks split $(kick smollm2) .gpu/pieces --piece-mb 6 --with .whl ../shared/data
#   (a piece and the tracked files together must stay under what a call takes: 59.8 MB went,
#   65.4 MB was refused on 2026-12-05. What worked for the quantization study: the device calls
#   made from a throwaway branch whose tree leaves out the result folders that run does not
#   resume (`git checkout -b device-tmp && git rm -r -q docs/sweep/v2 docs/sweep/results ... &&
#   git commit -m tmp`, 17.7 MB), pieces of 40.5 MB (6 calls), then back on main, unpacking there)
#   one call per piece (carry it; first a call with .gpu/pieces/manifest.json and the zstandard
#   wheel, which joining needs and the device image lacks):
#     bash bench/device_sweep.sh stage .gpu/pieces/manifest.json .whl/zstandard-*.whl
#     bash bench/device_sweep.sh stage .gpu/pieces/piece-000
#     bash bench/device_sweep.sh stage .gpu/pieces/piece-001      ... up to the last piece, then
#     bash bench/device_sweep.sh stage .gpu/pieces/piece-NNN run
#   (again `bash bench/device_sweep.sh run` while the machine is warm: it waits on the same sweep)
#
# `run` joins the model into /tmp/smollm2 (SHA-256 checked; keep that path: the committed
# results' settings name it, and a sweep resumes only onto the same settings), installs the
# wheels, starts the sweep onto the committed results in docs/sweep/v2/results (finished points
# are skipped), waits on it up to SWEEP_SECONDS (default 540) and packs the files no earlier call
# brought back into $OUT/results.tar.part-* (under 16 MB each, what a call can bring back);
# unpack here with
#   cat results.tar.part-* | tar -x -C $RESULTS
# /tmp/repo is copied once a machine (the working tree of that first call); one sweep runs at a time.
set -uo pipefail
KEEP=/tmp/keep
mkdir -p "$KEEP"
# The files of the current folder (results), one line each with size and time, sorted: what was
# brought back is told from what is new by comparing two such lists.
listing() { find . -type f ! -name worker.log ! -path '*.partial-*' -printf '%P %s %T@\n' | sort; }
while [ $# -gt 0 ]; do
  case $1 in
    stage) shift
           while [ $# -gt 0 ] && [ "$1" != run ]; do cp -r "$1" "$KEEP/"; shift; done
           ls "$KEEP" | tr '\n' ' '; echo ;;
    run) shift
         # The sweep runs from a copy of the repository in /tmp/repo, in a session of its own
         # (setsid): the device re-syncs the working tree at every call, and a process in its own
         # session goes on between calls while the machine stays warm, so a call that runs out of
         # time loses no point in flight; the next call waits on the same sweep.
         SCRIPT=${SCRIPT:-docs/sweep/run_gpu.sh} RESULTS=${RESULTS:-docs/sweep/v2/results}
         repo=/tmp/repo results=/tmp/repo/$RESULTS sent=$KEEP/sent-${RESULTS//\//_}.lst
         if [ -f "$KEEP/sweep.pid" ] && kill -0 "$(cat "$KEEP/sweep.pid")" 2> /dev/null; then
           echo "sweep: still running from an earlier call"
         else
           if [ ! -f /tmp/smollm2/model.safetensors ]; then
             python3 -c "import zstandard" 2> /dev/null || python3 -m pip install -q --no-index --no-deps \
               --no-compile --target /tmp/zst "$KEEP"/zstandard-*.whl || exit
             PYTHONPATH=/tmp/zst python3 -m bench.model_chunks join "$KEEP"/piece-* --output /tmp/smollm2 \
               --extract-to "$KEEP" || exit
           fi
           [ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
             --target /tmp/site "$KEEP"/extra/.whl/*.whl || exit
           # .pth files are read only in site folders: this one registers --model kick and the kick tasks
           echo "import site; site.addsitedir('/tmp/site')" > "$(python3 -c 'import site; print(site.getsitepackages()[0])')/zz_tmp_site.pth"
           nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
           [ -d $repo ] || cp -r "$PWD" $repo || exit
           if [ ! -f "$sent" ]; then
             mkdir -p "$results" && (cd "$results" && listing > "$sent")
           fi
           cd $repo || exit
           export PYTHONPATH=$repo:/tmp/site PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
           export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
           export MODEL=/tmp/smollm2 KICK_DATA_DIR=$KEEP/extra/data OUT_DIR=$results
           setsid bash -c "echo \$\$ > $KEEP/sweep.pid; exec bash $SCRIPT" >> /tmp/sweep.log 2>&1 < /dev/null &
           sleep 2
         fi
         SECONDS=0
         while kill -0 "$(cat "$KEEP/sweep.pid")" 2> /dev/null && [ $SECONDS -lt "${SWEEP_SECONDS:-540}" ]; do sleep 5; done
         if kill -0 "$(cat "$KEEP/sweep.pid")" 2> /dev/null; then echo "sweep: running on after ${SECONDS}s"
         else echo "sweep: finished"; fi
         cp /tmp/sweep.log "$OUT/sweep.log"
         grep -h "points x" "$OUT/sweep.log" | tail -3
         # only what no earlier call brought back: the results folder would outgrow a call's return
         (cd $results && listing > "$KEEP/now.lst"
          comm -13 "$sent" "$KEEP/now.lst" | cut -d' ' -f1 | tar -c -T -) | split -b 15M - "$OUT/results.tar.part-"
         sort -m "$sent" "$KEEP/now.lst" | uniq > "$sent.new" && mv "$sent.new" "$sent"
         ls -la "$OUT" ;;
    *) echo "unknown step $1: stage PATH..., run"; exit 2 ;;
  esac
done
