# shellcheck shell=bash
# How llama-cpp-python (compiled from source on install) is built. Sourced by
# scripts/setup and scripts/lib/install.sh, never executed.
#
# llama_cmake_args: the CMake arguments for this machine, after any CMAKE_ARGS
# the caller set. With APPLIANCE_CUDA set: CUDA (a Jetson). On x86_64: AVX2
# without -march=native, because a native build on a CPU with AMX (Xeon
# Sapphire Rapids and later) repacks the weights into AMX buffers (measured:
# +100 MB for the LLM alone, +250 MB peak for the whole daemon) and, in
# llama-cpp-python 0.3.36, crashed on the first prompt; AVX-512 measured no
# faster than AVX2 here.
llama_cmake_args() {
  local args=${CMAKE_ARGS:-}
  if [[ -n ${APPLIANCE_CUDA:-} ]]; then
    args+=" -DGGML_CUDA=on"
  elif [[ $(uname -m) == x86_64 && $args != *GGML_NATIVE* ]]; then
    args+=" -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  fi
  echo "${args# }"
}
