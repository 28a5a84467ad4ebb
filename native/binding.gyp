{
  "targets": [
    {
      "target_name": "stride_native",
      "sources": [
        "src/addon.cc",
        "src/batch_conv.cc",
        "src/elementwise.cc",
        "src/layout.cc",
        "src/napi.cc",
        "src/norm.cc",
        "src/onednn.cc",
        "src/pool.cc",
        "src/reduce.cc",
        "src/small_conv.cc",
        "src/winograd.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-fno-math-errno", "-fopenmp"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl"]
    }
  ]
}
