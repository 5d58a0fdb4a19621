# Sourced by cross/build and cross/test: installs the cross toolchain pieces
# from the package registries when missing and sets up the environment.
#   Debian: rustc-web cargo-web rust-web-src (rustc/cargo 1.96 with the std
#           source that -Z build-std needs), qemu-user-static (runners),
#           musl-tools, file, binutils-mipsel-linux-gnu (objcopy)
#   PyPI:   ziglang (zig, the linker and C compiler, with musl for every target)
#   PyPI:   cargo-zigbuild (prebuilt; crates.io as a fallback)
# rustup is not used: it cannot add targets on every machine.

cross_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

need=()
[ -x /usr/bin/rustc ] && /usr/bin/rustc --version | grep -q '^rustc 1\.' || need+=(rustc-web)
[ -x /usr/bin/cargo ] || need+=(cargo-web)
[ -d /usr/lib/rustlib/src/rust/library ] || need+=(rust-web-src)
command -v qemu-mipsel-static >/dev/null 2>&1 || need+=(qemu-user-static)
command -v musl-gcc >/dev/null 2>&1 || need+=(musl-tools)
command -v mipsel-linux-gnu-objcopy >/dev/null 2>&1 || need+=(binutils-mipsel-linux-gnu)
command -v file >/dev/null 2>&1 || need+=(file)
command -v pip3 >/dev/null 2>&1 || command -v pip >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! python3 -m ziglang version >/dev/null 2>&1; then
  echo "== installing zig (PyPI ziglang)"
  python3 -m pip install -q ziglang || python3 -m pip install -q --break-system-packages ziglang
fi

# Debian's cargo, rustc and rustdoc first on PATH: cargo-zigbuild runs `cargo`
# from PATH, and -Z build-std needs the std source of exactly this compiler.
mkdir -p "$cross_root/target/cross/bin"
for tool in cargo rustc rustdoc; do
  ln -sf "/usr/bin/$tool" "$cross_root/target/cross/bin/$tool"
done
export PATH="$cross_root/target/cross/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CROSS_TARGET_DIR:-$cross_root/target/cross}"
unset RUSTUP_TOOLCHAIN

if ! command -v cargo-zigbuild >/dev/null 2>&1; then
  # PyPI ships it prebuilt (seconds); building it from crates.io takes minutes.
  echo "== installing cargo-zigbuild (PyPI)"
  python3 -m pip install -q cargo-zigbuild || python3 -m pip install -q --break-system-packages cargo-zigbuild \
    || /usr/bin/cargo install --locked --quiet cargo-zigbuild
  # pip puts it in the interpreter's scripts folder (or ~/.local/bin), which
  # need not be on PATH (pyenv without a rehash, a --user install).
  export PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin"
  command -v cargo-zigbuild >/dev/null 2>&1 || { echo "cargo-zigbuild: installed but not found on PATH" >&2; exit 1; }
fi

# x86_64 under zig: keep the static, non-PIE settings of .cargo/config.toml
# (which scripts/build-static uses with rustup's target and musl-gcc) and
# let zig bring the C runtime.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static -C link-self-contained=no"

CROSS_TARGETS_ALL=(mipsel-unknown-linux-musl armv7-unknown-linux-musleabihf aarch64-unknown-linux-musl x86_64-unknown-linux-musl)
BUILD_STD=(-Z build-std=std,panic_abort)
# std built for size (mipsel: 4,003,224 bytes instead of 4,456,900 together with
# the ASCII-only IDNA pin). CROSS_STD_FEATURES overrides; empty disables.
CROSS_STD_FEATURES=${CROSS_STD_FEATURES-optimize_for_size}
if [ -n "$CROSS_STD_FEATURES" ]; then
  BUILD_STD+=(-Z "build-std-features=${CROSS_STD_FEATURES}")
fi

qemu_for() {
  case "$1" in
    mipsel-*) echo qemu-mipsel-static ;;
    armv7-*) echo qemu-arm-static ;;
    aarch64-*) echo qemu-aarch64-static ;;
    *) echo "" ;;
  esac
}
