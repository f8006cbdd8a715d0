#!/usr/bin/env bash
# Run the runtime on emulated aarch64 (Cortex-A72 = Raspberry Pi 4, Cortex-A76 = Pi 5) and enforce the parity
# contract with x86 (scripts/device_logits.py): fp32 graph <= 1e-4; INT8 bundles: labels equal but ties, max <= 3e-2,
# median <= 1e-4; INT4: labels equal but ties, max <= 1e-1, median <= 1e-2; on the default bundle, the default
# model's fp32 graph and 4-bit bundle, and a small 4-label bundle built here.
# As root on Debian x86_64 without Docker: qemu-user-static + binfmt + a debootstrapped arm64 root, reused at
# $ARM_ROOT when present; every mount is undone on exit. See ../shared/ARM.md for the two fixes.
# Options (environment): ARM_PARITY_TEXTS (first N test texts, default 400; 0 = all 1 732), ARM_FP32_TEXTS and
# ARM_INT4_TEXTS (default 100 each, for the slower fp32 and 4-bit graphs), ARM_REPORT (JSON
# report path, default runs/arm-report.json), ARM_DAMAGE_REFERENCE=DELTA (move one x86 logit by DELTA: the check
# must then fail; proves it can).
# Exit codes: 0 ok, 1 a check failed, 3 cannot run here (reason printed).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${ARM_ROOT:-/var/tmp/albert-edge-arm64}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
REPORT="${ARM_REPORT:-$REPO/runs/arm-report.json}"
DAMAGE=()
[ -n "${ARM_DAMAGE_REFERENCE:-}" ] && DAMAGE=(--damage "$ARM_DAMAGE_REFERENCE")
# Emulation runs ~200x slower than the host, so CI checks the first N texts of the fixed test split; the fp32
# graph (deterministic, and slowest under emulation) the first ARM_FP32_TEXTS of them, 4-bit bundles the first
# ARM_INT4_TEXTS.
PARITY_TEXTS="${ARM_PARITY_TEXTS:-400}"
FP32_TEXTS="${ARM_FP32_TEXTS:-100}"
INT4_TEXTS="${ARM_INT4_TEXTS:-100}"  # 4-bit GEMMs run several times slower than INT8 under emulation
say() { echo "arm-check: $*" >&2; }
cannot() { say "cannot run: $*"; exit 3; }

[ "$(id -u)" = 0 ] || cannot "needs root (debootstrap, mount, binfmt_misc)"
[ "$(uname -m)" = x86_64 ] || cannot "expects an x86_64 host, this is $(uname -m)"
[ -x "$PY" ] || cannot "no project venv at $PY; run scripts/install.sh first"

if ! command -v debootstrap >/dev/null || ! [ -e /usr/bin/qemu-aarch64-static ] || ! command -v update-binfmts >/dev/null; then
  say "installing qemu-user-static debootstrap binfmt-support"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    qemu-user-static debootstrap binfmt-support >/dev/null || cannot "apt-get could not install qemu/debootstrap"
fi
if ! [ -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || cannot "binfmt_misc cannot be mounted here"
fi
if ! [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --import qemu-aarch64 >/dev/null 2>&1 || true
  update-binfmts --enable qemu-aarch64 || cannot "qemu-aarch64 binfmt handler cannot be enabled"
fi

# One check per root at a time: a second run would rewrite the root's work folder under the first.
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock -n 9 || cannot "another arm-check is using $ROOT (lock $ROOT.lock held)"

MOUNTS=()
cleanup() {
  for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do umount -R "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" || true; done
}
trap cleanup EXIT
trap "exit 130" INT TERM
# A run killed without its exit trap (SIGKILL, a stopped machine) leaves its mounts behind; we hold the lock, so
# nothing uses them: undo them, deepest first, before mounting afresh.
unmount_stale() {
  local target
  awk -v root="$ROOT/" 'index($5, root) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r target; do
    say "undoing a stale mount left by an earlier run: $target"
    umount -R "$target" 2>/dev/null || umount -l "$target"
  done
}
bind() { mount "$@"; MOUNTS+=("${@: -1}"); }

unmount_stale
if ! [ -e "$ROOT/.debootstrap-complete" ]; then
  say "debootstrap arm64 bookworm into $ROOT (a few minutes, once)"
  rm -rf --one-file-system "$ROOT"
  debootstrap --arch=arm64 --variant=minbase bookworm "$ROOT" >/dev/null || cannot "debootstrap failed"
  touch "$ROOT/.debootstrap-complete"
fi
bind -t proc proc "$ROOT/proc"
bind -t sysfs sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"; mount --make-rslave "$ROOT/dev"; MOUNTS+=("$ROOT/dev")
# Fix 1: onnxruntime parses /proc/cpuinfo and crashes on the x86 host's; show it the emulated core's. The file
# is bound once and rewritten per core (same inode). Feature flags as the kernel prints them for each core.
CPUINFO="$ROOT/tmp/cpuinfo.arm"
write_cpuinfo() {  # $1 part, $2 variant, $3 features
  : > "$CPUINFO"
  for i in 0 1 2 3; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: 1\n\n' "$i" "$3" "$2" "$1" >> "$CPUINFO"
  done
}
A72_FEATURES="fp asimd evtstrm crc32 cpuid"
A76_FEATURES="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
write_cpuinfo 0xd08 0x0 "$A72_FEATURES"
bind --bind "$CPUINFO" "$ROOT/proc/cpuinfo"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# Fix 2: this machine's outbound proxy CA must be trusted inside the root too.
mkdir -p "$ROOT/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true

run_in() { QEMU_CPU="${QEMU_CPU:-cortex-a72}" chroot "$ROOT" /usr/bin/env -i PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt QEMU_CPU="${QEMU_CPU:-cortex-a72}" "$@"; }

if ! [ -e "$ROOT/.albert-edge-complete" ]; then
  say "installing python3 and the runtime's pinned aarch64 wheels inside the root"
  run_in apt-get update -qq >/dev/null
  run_in env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null
  run_in update-ca-certificates >/dev/null
  run_in python3 -m venv /opt/venv
  # numpy + onnxruntime only (no tokenizers: the device path uses the built-in WordPiece), pytest for the device
  # tests, uvicorn for the service they start.
  pins=$(grep -iE '^(numpy|onnxruntime|flatbuffers|protobuf|packaging|pytest|iniconfig|pluggy|pygments|uvicorn|h11|click)==' "$REPO/constraints.txt" | tr '\n' ' ')
  run_in /opt/venv/bin/pip install -q --only-binary=:all: $pins
  touch "$ROOT/.albert-edge-complete"
elif run_in /opt/venv/bin/python -c "import tokenizers" 2>/dev/null; then
  run_in /opt/venv/bin/pip uninstall -q -y tokenizers  # a root made before the runtime stopped needing it
fi

say "copying the runtime package and device tests into the root"
rm -rf "$ROOT/work" && mkdir -p "$ROOT/work"
cp -r "$REPO/runtime" "$REPO/tests/device" "$REPO/scripts/device_logits.py" "$ROOT/work/"
run_in /opt/venv/bin/pip install -q --no-deps --no-build-isolation /work/runtime 2>/dev/null \
  || run_in /opt/venv/bin/pip install -q --no-deps /work/runtime

say "x86: reference bundles and logits on the test split"
mkdir -p "$ROOT/work/bundles" "$(dirname "$REPORT")"
rm -f "$REPORT"
cp -r "$REPO/runtime/albert_edge_runtime/default_bundle" "$ROOT/work/bundles/default-int8"
"$PY" "$REPO/scripts/arm_bundles.py" "$ROOT/work/bundles" 2>/dev/null
BUNDLES="default-int8:int8 default-fp32:fp32 default-int4:int4 small-4labels:int8"
"$PY" -c "from albert_edge.data import load_reviews; t = load_reviews().test.texts; n = $PARITY_TEXTS or len(t); open('$ROOT/work/texts.txt','w',encoding='utf-8').write('\n'.join(x.replace('\n',' ') for x in t[:n]))"
head -n "$FP32_TEXTS" "$ROOT/work/texts.txt" > "$ROOT/work/texts-fp32.txt"
head -n "$INT4_TEXTS" "$ROOT/work/texts.txt" > "$ROOT/work/texts-int4.txt"
texts_for() { case "${1##*:}" in fp32) echo texts-fp32.txt ;; int4) echo texts-int4.txt ;; *) echo texts.txt ;; esac; }
for entry in $BUNDLES; do
  name=${entry%%:*}
  # INT8: the reference is exact integer arithmetic, as ARM's kernels compute (device_logits.py: --exact-int8).
  exact=(); [ "${entry##*:}" = int8 ] && exact=(--exact-int8)
  "$PY" "$REPO/scripts/device_logits.py" dump "$ROOT/work/$(texts_for "$entry")" "$ROOT/work/x86-$name.npy" \
    "$ROOT/work/bundles/$name" "${exact[@]}"
done

status=0
for cpu in cortex-a72 cortex-a76; do
  export QEMU_CPU=$cpu
  if [ $cpu = cortex-a76 ]; then write_cpuinfo 0xd0b 0x4 "$A76_FEATURES"; fi
  say "== $cpu: device tests (predict, threads, async batcher, HTTP service)"
  run_in sh -c 'cd /work && python -m pytest -q -p no:cacheprovider device' || status=1
  run_in albert-edge-run predict --format table "我非常喜欢这个产品，它让我感到非常满意" "质量太差了" || status=1
  run_in albert-edge-run doctor --bundle /work/bundles/default-int4 || status=1  # the emulated CPU's own features (tests/device checks A72 vs A76)
  # with the 4-bit bundle beside it, as a Pi user compares them (qemu's timings mean nothing: the path must work)
  run_in albert-edge-run bench --iterations 3 --warmup 1 --lengths 32 \
    --against /work/bundles/default-int4 --json /work/bench-$cpu.json >/dev/null || status=1
  # Which INT8 GEMM kernels onnxruntime picked here: qemu logs every instruction it translates.
  run_in env QEMU_LOG=in_asm QEMU_LOG_FILENAME=/work/in_asm.log python -c \
    "from albert_edge_runtime import SentimentClassifier; SentimentClassifier.load().predict(['很好'])" || status=1
  say "$cpu: $("$PY" "$REPO/scripts/device_logits.py" kernels "$ROOT/work/in_asm.log" "$REPORT" "$cpu")"
  rm -f "$ROOT/work/in_asm.log"
  for entry in $BUNDLES; do
    name=${entry%%:*}; kind=${entry##*:}
    texts=$(texts_for "$entry")
    say "== $cpu: $name logits vs x86 on $(grep -c '' "$ROOT/work/$texts") test texts"
    run_in python /work/device_logits.py dump /work/$texts /work/$cpu-$name.npy /work/bundles/$name || { status=1; continue; }
    "$PY" "$REPO/scripts/device_logits.py" contract "$ROOT/work/x86-$name.npy" "$ROOT/work/$cpu-$name.npy" "$kind" \
      "$REPORT" "$cpu" "$name" "${DAMAGE[@]}" || status=1
  done
done
say "report: $REPORT"
[ $status = 0 ] && say "all ARM checks passed" || say "ARM checks FAILED"
exit $status
