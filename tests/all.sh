#!/usr/bin/env bash
# Runs every test of the project, installing what it needs first.
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The microcontroller targets the runtime must build for.
TARGETS=(thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf)

# Root installs directly; anyone else through sudo.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

step "installing Rust targets and components"
rustup component add rustfmt clippy >/dev/null
installed=$(rustup target list --installed)
for t in "${TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

step "installing the emulators (QEMU) the target tests run on, and valgrind"
need_apt=()
command -v qemu-system-arm >/dev/null || need_apt+=(qemu-system-arm)
command -v valgrind >/dev/null || need_apt+=(valgrind)  # tflm bench --callgrind
command -v qemu-system-riscv32 >/dev/null || need_apt+=(qemu-system-misc)
if [ ${#need_apt[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
qemu-system-arm --version | head -1

step "starting Docker (the Docker runners' tests use a real engine)"
if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq docker.io >/dev/null
    fi
    ($sudo dockerd >/tmp/tflm-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
fi
docker version --format 'docker engine {{.Server.Version}}'
# No registry can be reached from CI: build the base image locally.
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq debootstrap >/dev/null
$sudo docker/base-image.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "runtime builds for microcontrollers with no allocator"
for t in "${TARGETS[@]}"; do
    cargo build -p tflm-runtime --release --locked --target "$t"
done
# And in its compact form (no error texts, no exact planner search), as the
# model test firmware builds it.
cargo build -p tflm-runtime --release --locked --no-default-features --target thumbv7m-none-eabi
cargo clippy -p tflm-runtime --locked --no-default-features -- -D warnings
# The compact build's interpreter, planner and reader behave the same (the
# kernels' tests compare error texts, which that build leaves out).
cargo test -p tflm-runtime --locked --no-default-features --lib -- --skip kernels::

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line with the totals of every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntotal: %d passed, %d failed\n", p, f }' "$log"
