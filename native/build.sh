#!/bin/sh
# Builds the native backend's addon, native/build/Release/stride_native.node, with node-gyp.
# `make native` runs this in a clone (with STRIDE_APT=1), and npm runs it as the package's
# `install` script (in a clone at `npm ci`, in node_modules/stride when stride is installed, and
# at `npm rebuild stride`). The backend is optional: when a prerequisite is missing or the build
# fails, this prints one NOTICE line and exits 0, and stride runs on another backend.
set -u
cd "$(dirname "$0")/.." || exit 0
CXX=${CXX:-c++}

notice() {
  echo "NOTICE: native backend not built: $1"
  exit 0
}

has_onednn() {
  printf '#include <oneapi/dnnl/dnnl.hpp>\n' | "$CXX" -std=c++17 -fsyntax-only -x c++ - 2>/dev/null
}

# node-gyp: the clone's devDependency, else the one npm exposes to install scripts (npm bundles
# node-gyp, names it in npm_config_node_gyp and puts a shim on PATH), else one on PATH.
node_gyp() {
  if [ -x node_modules/.bin/node-gyp ]; then node_modules/.bin/node-gyp "$@"
  elif [ -f "${npm_config_node_gyp:-}" ]; then node "$npm_config_node_gyp" "$@"
  else node-gyp "$@"
  fi
}

command -v "$CXX" >/dev/null 2>&1 || notice "no C++ compiler ($CXX; apt-get install g++)"
command -v make >/dev/null 2>&1 || notice "make is missing"
command -v python3 >/dev/null 2>&1 || notice "node-gyp needs python3"
[ -x node_modules/.bin/node-gyp ] || [ -f "${npm_config_node_gyp:-}" ] || command -v node-gyp >/dev/null 2>&1 ||
  notice "node-gyp is not installed (npm ci in a clone; npm rebuild stride where stride is installed)"
if ! has_onednn; then
  # apt only for `make` in a clone (STRIDE_APT=1), never when npm installs the package.
  if [ "${STRIDE_APT:-}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing oneDNN (libdnnl-dev) with apt-get"
    apt-get install -y -q libdnnl-dev >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q libdnnl-dev >/dev/null; }
  fi
  has_onednn || notice "oneDNN is not installed (apt-get install libdnnl-dev)"
fi

# Node's own headers when they are installed next to it (Debian's nodejs, the official
# tarballs), so node-gyp need not download them; npm_config_nodedir (npm's nodedir) wins.
prefix=$(node -p "require('path').resolve(process.execPath, '../..')")
nodedir=${npm_config_nodedir:-}
if [ -z "$nodedir" ] && [ -f "$prefix/include/node/node_api.h" ]; then nodedir=$prefix; fi

echo "Building the native backend (node-gyp, oneDNN)"
if node_gyp rebuild --directory native --jobs max ${nodedir:+--nodedir="$nodedir"} >native/build.log 2>&1; then
  echo "Built $PWD/native/build/Release/stride_native.node"
else
  notice "the build failed; see $PWD/native/build.log"
fi
