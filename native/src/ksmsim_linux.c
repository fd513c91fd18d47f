// ksmsim_linux.c — owns the real-kernel memory syscalls of the linux backend: anonymous mmap (with an
// external ArrayBuffer over the region), munmap, mprotect, madvise, mbind(MPOL_BIND) and prctl.
// Every failure throws an Error carrying `errno` (the Linux number) and `syscall`, so JS can build
// an ErrnoError. Addresses cross as JS numbers: user addresses on 64-bit Linux are below 2^47.

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <node_api.h>

#ifndef MPOL_BIND
#define MPOL_BIND 2
#endif

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, NULL, "ksmsim_linux: N-API call failed");  \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

/* Throw Error(`${syscall}: ${strerror}`) with .errno and .syscall set. */
static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value text, error, num, name;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text) != napi_ok ||
      napi_create_error(env, NULL, text, &error) != napi_ok ||
      napi_create_int32(env, err, &num) != napi_ok ||
      napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &name) != napi_ok) {
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", name);
  napi_throw(env, error);
  return NULL;
}

/* Read argument i as an int64 (numbers and BigInts); throws TypeError and returns 0 on failure. */
static int get_i64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_number) return napi_get_value_int64(env, v, out) == napi_ok;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_int64(env, v, out, &lossless) == napi_ok;
  }
  napi_throw_type_error(env, NULL, "ksmsim_linux: expected a number or a bigint");
  return 0;
}

/* Fetch exactly n int64 arguments. */
static int get_args(napi_env env, napi_callback_info info, size_t n, int64_t *vals) {
  napi_value argv[4];
  size_t argc = 4;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < n) {
    napi_throw_type_error(env, NULL, "ksmsim_linux: too few arguments");
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    if (!get_i64(env, argv[i], &vals[i])) return 0;
  }
  return 1;
}

static napi_value make_number(napi_env env, double d) {
  napi_value v;
  CHECK(napi_create_double(env, d, &v));
  return v;
}

/* mmap(length, prot, flags) -> { address, buffer }: anonymous mappings only (fd -1, offset 0). */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (!get_args(env, info, 3, a)) return NULL;
  if (!(a[2] & MAP_ANONYMOUS)) return throw_errno(env, "mmap", EBADF);
  if (a[2] & (MAP_FIXED | MAP_FIXED_NOREPLACE)) return throw_errno(env, "mmap", EINVAL);
  void *p = mmap(NULL, (size_t)a[0], (int)a[1], (int)a[2], -1, 0);
  if (p == MAP_FAILED) return throw_errno(env, "mmap", errno);
  napi_value result, buffer;
  // No finalizer: the region lives until munmap (or exit); JS detaches the buffer when it unmaps.
  if (napi_create_external_arraybuffer(env, p, (size_t)a[0], NULL, NULL, &buffer) != napi_ok ||
      napi_create_object(env, &result) != napi_ok) {
    munmap(p, (size_t)a[0]);
    napi_throw_error(env, NULL, "ksmsim_linux: cannot wrap the mapping in an ArrayBuffer");
    return NULL;
  }
  napi_set_named_property(env, result, "address", make_number(env, (double)(uintptr_t)p));
  napi_set_named_property(env, result, "buffer", buffer);
  return result;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  CHECK(napi_get_undefined(env, &u));
  return u;
}

static napi_value js_munmap(napi_env env, napi_callback_info info) {
  int64_t a[2];
  if (!get_args(env, info, 2, a)) return NULL;
  if (munmap((void *)(uintptr_t)a[0], (size_t)a[1]) != 0) return throw_errno(env, "munmap", errno);
  return undefined(env);
}

static napi_value js_mprotect(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (!get_args(env, info, 3, a)) return NULL;
  if (mprotect((void *)(uintptr_t)a[0], (size_t)a[1], (int)a[2]) != 0) return throw_errno(env, "mprotect", errno);
  return undefined(env);
}

static napi_value js_madvise(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (!get_args(env, info, 3, a)) return NULL;
  if (madvise((void *)(uintptr_t)a[0], (size_t)a[1], (int)a[2]) != 0) return throw_errno(env, "madvise", errno);
  return undefined(env);
}

/* mbind(addr, len, node): MPOL_BIND to the single node, flags 0 (already-present pages stay put). */
static napi_value js_mbind(napi_env env, napi_callback_info info) {
  int64_t a[3];
  if (!get_args(env, info, 3, a)) return NULL;
  const int64_t bits = 8 * (int64_t)sizeof(unsigned long);
  if (a[2] < 0 || a[2] >= bits) return throw_errno(env, "mbind", EINVAL);
  unsigned long mask = 1UL << a[2];
  // The kernel reads maxnode-1 bits, so pass one more than the mask's width.
  if (syscall(SYS_mbind, (unsigned long)a[0], (unsigned long)a[1], MPOL_BIND, &mask, (unsigned long)bits + 1, 0UL) != 0) {
    return throw_errno(env, "mbind", errno);
  }
  return undefined(env);
}

/* prctl(option, arg2) with arg3..arg5 = 0; returns the kernel's non-negative result. */
static napi_value js_prctl(napi_env env, napi_callback_info info) {
  int64_t a[2];
  if (!get_args(env, info, 2, a)) return NULL;
  int r = prctl((int)a[0], (unsigned long)a[1], 0UL, 0UL, 0UL);
  if (r < 0) return throw_errno(env, "prctl", errno);
  return make_number(env, r);
}

/* detach(buffer): make an ArrayBuffer of an unmapped region unusable (byteLength 0). */
static napi_value js_detach(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = 1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool is_buffer = false;
  if (argc < 1 || napi_is_arraybuffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "ksmsim_linux: detach needs an ArrayBuffer");
    return NULL;
  }
  CHECK(napi_detach_arraybuffer(env, argv[0]));
  return undefined(env);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"mmap", NULL, js_mmap, NULL, NULL, NULL, napi_enumerable, NULL},
    {"munmap", NULL, js_munmap, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mprotect", NULL, js_mprotect, NULL, NULL, NULL, napi_enumerable, NULL},
    {"madvise", NULL, js_madvise, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mbind", NULL, js_mbind, NULL, NULL, NULL, napi_enumerable, NULL},
    {"prctl", NULL, js_prctl, NULL, NULL, NULL, napi_enumerable, NULL},
    {"detach", NULL, js_detach, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value page;
  CHECK(napi_create_int32(env, (int32_t)sysconf(_SC_PAGESIZE), &page));
  CHECK(napi_set_named_property(env, exports, "pageSize", page));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
