# binding.gyp — builds ksmsim_linux.node, the real-kernel memory syscalls of the linux backend.
{
  "targets": [
    {
      "target_name": "ksmsim_linux",
      "sources": ["src/ksmsim_linux.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2", "-Werror=implicit-function-declaration"]
    }
  ]
}
