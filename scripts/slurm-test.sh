#!/usr/bin/env bash
# End-to-end test of sharded sweeps on a real Slurm: installs Debian's Slurm and MUNGE packages
# (needs root and apt), starts a one-node cluster on this machine (munged, slurmctld, slurmd; no
# systemd needed), submits deploy/slurm-sweep.sbatch as a 4-task array job (`--shard auto/4`),
# merges the shards with `codesim merge`, and checks the merged tables are byte-identical to a
# local, unsharded run of the same sweep. Stops the daemons it started on exit.
#
#   sudo scripts/slurm-test.sh            # CODESIM=/path/to/codesim to skip the cargo build
#
# Takes about 40 s on a 2-core VM (about 27 s of it installing the packages, 10 s for the array
# job). Exit 0: the merged shards equal the local run; 3: they differ; anything else: the cluster
# could not be set up or the job failed. .ci/run runs it as root and fails only on 3.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
start=$(date +%s)
say() { echo "slurm-test [$(( $(date +%s) - start )) s]: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "error: run as root (it installs packages and starts slurmctld/slurmd)" >&2
    exit 2
fi

# 1. Packages.
if ! command -v sbatch >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

# 2. codesim.
if [ -z "${CODESIM:-}" ]; then
    say "building codesim"
    cargo build --release --quiet
    CODESIM="${CARGO_TARGET_DIR:-$REPO/target}/release/codesim"
fi
CODESIM=$(realpath "$CODESIM")
export CODESIM

# 3. A one-node cluster.
W=$(mktemp -d /tmp/codesim-slurm.XXXXXX)
chmod 755 "$W"
HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /etc/munge
cleanup() {
    for p in /run/slurmd-codesim.pid /run/slurmctld-codesim.pid; do
        [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
    [ -f /run/munge/munged-codesim.pid ] && kill "$(cat /run/munge/munged-codesim.pid)" 2>/dev/null || true
}
trap cleanup EXIT

if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 700 /etc/munge
chmod 400 /etc/munge/munge.key
runuser -u munge -- munged --force --pid-file=/run/munge/munged-codesim.pid

cat > /etc/slurm/slurm.conf <<EOF
ClusterName=codesim-test
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld-codesim.pid
SlurmdPidFile=/run/slurmd-codesim.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
say "starting slurmctld and slurmd on $HOST ($CPUS CPUs, $MEM_MB MB)"
slurmctld -i
slurmd
for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then break; fi
    sleep 1
done
sinfo
say "$(sbatch --version)"

# 4. The sweep: 3 configurations x 4 loads, one of them infeasible (skipped rows).
cat > "$W/sweep-slurm.toml" <<'EOF'
name = "slurm-test"
zip = [["hardware.instance", "deployment.tp"]]
[axes]
"hardware.instance" = ["p5.48xlarge", "p4de.24xlarge", "p5.48xlarge"]
"deployment.tp" = [1, 2, 3]
"workload.arrival.rate_per_s" = [5, 20, 80, 320]
[[slo]]
tpot_ms = 20.0
[base]
seed = 11
[base.hardware]
instance = "p5.48xlarge"
[base.model]
name = "llama-3.2-1b"
[base.workload]
requests = 300
arrival = { kind = "poisson", rate_per_s = 1.0 }
input = { kind = "lognormal", mean = 300.0, cv = 1.0, max = 2000 }
output = { kind = "lognormal", mean = 60.0, cv = 1.0, max = 400 }
EOF

say "local, unsharded run"
"$CODESIM" sweep "$W/sweep-slurm.toml" --out "$W/local" --no-plots >/dev/null

say "submitting the array job (4 shards)"
cd "$W"
sbatch --wait --array=0-3 --cpus-per-task=1 --mem=256M --time=00:10:00 \
    "$REPO/deploy/slurm-sweep.sbatch" "$W/sweep-slurm.toml" "$W/slurm"
say "array job done: $(ls -d "$W"/slurm/shard-* | wc -l) shard directories"

"$CODESIM" merge "$W"/slurm/shard-* --out "$W/merged" --no-plots >/dev/null
for f in results.csv results.parquet; do
    if ! cmp "$W/local/$f" "$W/merged/$f"; then
        echo "FAIL: merged $f differs from the unsharded run" >&2
        exit 3
    fi
done
say "PASS: merged results of 4 Slurm shards are byte-identical to the local run ($(( $(wc -l < "$W/merged/results.csv") - 1 )) runs)"
rm -rf "$W"
