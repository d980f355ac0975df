// The CPython C API for Swift (libpython3.11 from Debian's libpython3.11-dev; linked by NvisyPlugins).
//
// Include order matters: pyconfig.h defines _GNU_SOURCE / _XOPEN_SOURCE 700, which changes glibc's
// fd_set when <sys/select.h> is first seen after it, and then a clean build of any module that
// also imports Glibc fails ("__fds_bits ... not present in definition of 'fd_set'"). So the system
// headers come first.
#ifndef NVISY_CPYTHON_SHIM_H
#define NVISY_CPYTHON_SHIM_H

#include <sys/select.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <malloc.h>

#define PY_SSIZE_T_CLEAN
// Without -I (the CPython target has no pkg-config: NvisyPlugins links libpython itself); every
// include inside Python.h is relative to it, except pyconfig.h's <x86_64-linux-gnu/python3.11/...>.
#include <python3.11/Python.h>

// Macros and C globals Swift cannot see, as static inline functions.
static inline void nvisy_py_incref(PyObject *o) { Py_INCREF(o); }
static inline void nvisy_py_decref(PyObject *o) { Py_DECREF(o); }
static inline void nvisy_py_xdecref(PyObject *o) { Py_XDECREF(o); }
static inline PyObject *nvisy_py_none(void) { Py_INCREF(Py_None); return Py_None; }
static inline int nvisy_py_is_none(PyObject *o) { return o == Py_None; }
static inline PyObject *nvisy_py_true(void) { Py_INCREF(Py_True); return Py_True; }
static inline PyObject *nvisy_py_false(void) { Py_INCREF(Py_False); return Py_False; }
static inline int nvisy_py_bytes_check(PyObject *o) { return PyBytes_Check(o); }
static inline int nvisy_py_unicode_check(PyObject *o) { return PyUnicode_Check(o); }
static inline int nvisy_py_tuple_check(PyObject *o) { return PyTuple_Check(o); }
static inline int nvisy_py_list_check(PyObject *o) { return PyList_Check(o); }
static inline PyObject *nvisy_py_tuple_get(PyObject *t, Py_ssize_t i) { return PyTuple_GET_ITEM(t, i); }
static inline Py_ssize_t nvisy_py_tuple_size(PyObject *t) { return PyTuple_GET_SIZE(t); }
static inline PyObject *nvisy_py_list_get(PyObject *l, Py_ssize_t i) { return PyList_GET_ITEM(l, i); }
static inline Py_ssize_t nvisy_py_list_size(PyObject *l) { return PyList_GET_SIZE(l); }
static inline void nvisy_py_list_set(PyObject *l, Py_ssize_t i, PyObject *stolen) { PyList_SET_ITEM(l, i, stolen); }
static inline void nvisy_py_tuple_set(PyObject *t, Py_ssize_t i, PyObject *stolen) { PyTuple_SET_ITEM(t, i, stolen); }
static inline char *nvisy_py_bytes_data(PyObject *b) { return PyBytes_AS_STRING(b); }
static inline Py_ssize_t nvisy_py_bytes_size(PyObject *b) { return PyBytes_GET_SIZE(b); }
static inline PyObject *nvisy_py_exc_runtime_error(void) { return PyExc_RuntimeError; }
static inline PyObject *nvisy_py_exc_timeout_error(void) { return PyExc_TimeoutError; }
static inline int nvisy_py_meth_o(void) { return METH_O; }
static inline int nvisy_py_meth_noargs(void) { return METH_NOARGS; }

/// The Python thread's wait (Host/NvisyPlugins/Python/PythonLoopWaker.swift), without the
/// packed `struct epoll_event` crossing into Swift: waits up to `timeout_ms` (-1: no limit, 0:
/// just look) for one fd of `epfd` and answers epoll_wait's result (events are level-triggered,
/// so the selector's own poll sees them again).
static inline int nvisy_epoll_wait_one(int epfd, int timeout_ms) {
    struct epoll_event ev;
    return epoll_wait(epfd, &ev, 1, timeout_ms);
}

/// A non-blocking, close-on-exec eventfd (-1 and errno on failure).
static inline int nvisy_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// A PyCFunction with a C function pointer (the Swift side passes a @convention(c) closure).
/// The method definition is allocated once and lives for the life of the process.
static inline PyObject *nvisy_py_cfunction(const char *name, PyCFunction fn, int flags, PyObject *self) {
    PyMethodDef *def = (PyMethodDef *)calloc(1, sizeof(PyMethodDef));
    def->ml_name = strdup(name);
    def->ml_meth = fn;
    def->ml_flags = flags;
    def->ml_doc = NULL;
    return PyCFunction_New(def, self);
}

// glibc's malloc for a process that runs models in embedded Python (called before the interpreter
// starts). A model call allocates tens of MB of temporaries (wordllama: ≈ 26 MB of token vectors
// per 128 texts): above the default mmap threshold each is mapped, touched page by page (the kernel
// zeroes every page) and unmapped again, call after call — ≈ 12 % of the model's CPU measured on
// scripts/bench-rag.sh. Allocations below 64 MB come from the heap instead and are reused; freed
// memory goes back to the system once 128 MB of it sits at the top of the heap. An operator's own
// MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ take precedence. Answers whether it tuned.
static inline int nvisy_tune_malloc_for_models(void) {
    if (getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_")) return 0;
    return mallopt(M_MMAP_THRESHOLD, 64 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 128 << 20) == 1;
}

/// Isolated interpreter configuration: no environment variables, no user site, no signal
/// handlers (the host owns SIGINT/SIGTERM), and `program_name`/`executable` set to the venv's
/// `bin/python`, so `sys.prefix` is the venv and `sys.path` is the stdlib + its site-packages.
/// Returns NULL on success, or a malloc'd error message.
static inline char *nvisy_py_initialize(const char *venv_python) {
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.site_import = 1;
    config.user_site_directory = 0;
    config.write_bytecode = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, venv_python);
    if (!PyStatus_Exception(status)) status = PyConfig_SetBytesString(&config, &config.executable, venv_python);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        const char *msg = status.err_msg ? status.err_msg : "unknown error";
        const char *fn = status.func ? status.func : "Py_InitializeFromConfig";
        size_t n = strlen(msg) + strlen(fn) + 4;
        char *out = (char *)malloc(n);
        snprintf(out, n, "%s: %s", fn, msg);
        return out;
    }
    return NULL;
}

#endif
