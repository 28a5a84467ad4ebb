#!/bin/sh
# Builds the native backend's addon, native/build/Release/stride_native.node, with node-gyp
# (`make native` runs this). The backend is optional: when a prerequisite is missing or the
# build fails, this prints one NOTICE line and exits 0, and stride runs on the reference backend.
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

command -v "$CXX" >/dev/null 2>&1 || notice "no C++ compiler ($CXX; apt-get install g++)"
command -v make >/dev/null 2>&1 || notice "make is missing"
command -v python3 >/dev/null 2>&1 || notice "node-gyp needs python3"
[ -x node_modules/.bin/node-gyp ] || notice "node-gyp is not installed (npm ci)"
if ! has_onednn; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
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
if node_modules/.bin/node-gyp rebuild --directory native --jobs max ${nodedir:+--nodedir="$nodedir"} >native/build.log 2>&1; then
  echo "Built native/build/Release/stride_native.node"
else
  notice "the build failed; see native/build.log"
fi
