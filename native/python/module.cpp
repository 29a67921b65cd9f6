// cvcuda_zerocopy._native: the CPython side of the plugin (plain C API, no pybind11).
//
// It links libcvcuda_zerocopy, so Python and C++ code in one process share the same device set-up and the
// same pool. The high-level API (numpy arrays, cv2 GpuMats) is in cvcuda_zerocopy/__init__.py.
//
//   MappedBuffer      one pooled, mapped block; exposes the buffer protocol (writable bytes); when the
//                     last reference goes (numpy arrays made with frombuffer hold one) the block returns
//                     to the pool
//   Registration      a cudaHostRegister'ed range of another object's memory (it keeps that object alive);
//                     close() / leaving the with-block / deallocation unregisters
//   alloc, device_pointer, pointer_attributes, pool_stats, trim, set_pool_limit, setup_device, row_alignment,
//   device_count, describe, and the exception CudaError (a RuntimeError)
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <exception>
#include <new>
#include <string>

#include "cvcuda_zerocopy/zerocopy.hpp"

namespace cvzc = cvcuda_zerocopy;

namespace {

PyObject* g_cuda_error = nullptr;  // cvcuda_zerocopy.CudaError (subclass of RuntimeError)

/// ``message (file.cpp:123)``: cv::Exception::what() repeats the OpenCV version and the function; Python
/// users get the message and where it came from.
std::string short_message(const cv::Exception& e) {
    const std::string::size_type slash = e.file.find_last_of('/');
    const std::string file = slash == std::string::npos ? e.file : e.file.substr(slash + 1);
    return e.err + " (" + file + ":" + std::to_string(e.line) + ")";
}

/// Turns the active C++ exception into a Python exception; call only inside a catch block.
PyObject* raise_current() {
    try {
        throw;
    } catch (const cvzc::CudaError& e) {
        PyErr_SetString(g_cuda_error, short_message(e).c_str());
    } catch (const cv::Exception& e) {
        PyErr_SetString(e.code == cv::Error::StsBadArg || e.code == cv::Error::StsOutOfRange ||
                                e.code == cv::Error::StsBadFlag || e.code == cv::Error::StsNullPtr
                            ? PyExc_ValueError
                            : PyExc_RuntimeError,
                        short_message(e).c_str());
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (...) {
        PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
    }
    return nullptr;
}

/// The same for a captured exception (from a region that ran without the GIL).
PyObject* raise_exception(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (...) {
        return raise_current();
    }
}

bool parse_address(PyObject* obj, void** out) {
    void* ptr = PyLong_AsVoidPtr(obj);
    if (ptr == nullptr && PyErr_Occurred()) return false;
    if (ptr == nullptr) {
        PyErr_SetString(PyExc_ValueError, "address is 0 (null pointer)");
        return false;
    }
    *out = ptr;
    return true;
}

PyObject* address_object(const void* ptr) { return PyLong_FromVoidPtr(const_cast<void*>(ptr)); }

// ---------------------------------------------------------------------------------------------- MappedBuffer

struct MappedBuffer {
    PyObject_HEAD
    cvzc::Block block;
};

void MappedBuffer_dealloc(MappedBuffer* self) {
    if (self->block.ptr != nullptr) {
        // release() never throws; buffers exported to numpy keep this object alive, so none is outstanding.
        // It may call cudaFreeHost (a device synchronisation): without the GIL.
        void* ptr = self->block.ptr;
        self->block.ptr = nullptr;
        Py_BEGIN_ALLOW_THREADS
        cvzc::default_pool().release(ptr);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

int MappedBuffer_getbuffer(PyObject* obj, Py_buffer* view, int flags) {
    auto* self = reinterpret_cast<MappedBuffer*>(obj);
    return PyBuffer_FillInfo(view, obj, self->block.ptr, static_cast<Py_ssize_t>(self->block.size), 0, flags);
}

PyBufferProcs MappedBuffer_as_buffer = {MappedBuffer_getbuffer, nullptr};

PyObject* MappedBuffer_get_address(MappedBuffer* self, void*) { return address_object(self->block.ptr); }
PyObject* MappedBuffer_get_nbytes(MappedBuffer* self, void*) { return PyLong_FromSize_t(self->block.size); }
PyObject* MappedBuffer_get_capacity(MappedBuffer* self, void*) { return PyLong_FromSize_t(self->block.capacity); }
PyObject* MappedBuffer_get_flags(MappedBuffer* self, void*) { return PyLong_FromUnsignedLong(self->block.flags); }
PyObject* MappedBuffer_get_device(MappedBuffer* self, void*) { return PyLong_FromLong(self->block.device); }
PyObject* MappedBuffer_get_device_pointer(MappedBuffer* self, void*) {
    return address_object(self->block.device_ptr);
}

PyGetSetDef MappedBuffer_getset[] = {
    {"address", reinterpret_cast<getter>(MappedBuffer_get_address), nullptr, "host address of the block", nullptr},
    {"nbytes", reinterpret_cast<getter>(MappedBuffer_get_nbytes), nullptr, "bytes asked for", nullptr},
    {"capacity", reinterpret_cast<getter>(MappedBuffer_get_capacity), nullptr, "bytes allocated (size class)",
     nullptr},
    {"flags", reinterpret_cast<getter>(MappedBuffer_get_flags), nullptr, "cudaHostAlloc flags", nullptr},
    {"device", reinterpret_cast<getter>(MappedBuffer_get_device), nullptr,
     "device current at allocation (-1: portable)", nullptr},
    {"device_pointer", reinterpret_cast<getter>(MappedBuffer_get_device_pointer), nullptr,
     "device alias recorded at allocation", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyTypeObject MappedBufferType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// ---------------------------------------------------------------------------------------------- Registration

struct Registration {
    PyObject_HEAD
    cvzc::HostRegistration* reg;
    PyObject* owner;
};

void Registration_close_impl(Registration* self) {
    cvzc::HostRegistration* reg = self->reg;
    self->reg = nullptr;
    if (reg != nullptr) {
        Py_BEGIN_ALLOW_THREADS
        delete reg;  // drops the reference (the last one runs cudaHostUnregister); never throws
        Py_END_ALLOW_THREADS
    }
    Py_CLEAR(self->owner);  // after unregistering: the owner holds the memory
}

// A GC type: a Registration whose owner refers back to it (owner.reg = Registration(..., owner=owner)) is a
// cycle; the collector breaks it through tp_clear, which unregisters.
int Registration_traverse(Registration* self, visitproc visit, void* arg) {
    Py_VISIT(self->owner);
    return 0;
}

int Registration_clear(Registration* self) {
    Registration_close_impl(self);
    return 0;
}

void Registration_dealloc(Registration* self) {
    PyObject_GC_UnTrack(self);
    Registration_close_impl(self);
    Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

int Registration_init(Registration* self, PyObject* args, PyObject* kwds) {
    static const char* keywords[] = {"address", "nbytes", "flags", "owner", nullptr};
    PyObject* address = nullptr;
    Py_ssize_t nbytes = 0;
    unsigned int flags = cvzc::kMapped;
    PyObject* owner = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On|IO:Registration", const_cast<char**>(keywords), &address,
                                     &nbytes, &flags, &owner)) {
        return -1;
    }
    void* ptr = nullptr;
    if (!parse_address(address, &ptr)) return -1;
    if (nbytes <= 0) {
        PyErr_SetString(PyExc_ValueError, "nbytes must be positive");
        return -1;
    }
    Registration_close_impl(self);
    cvzc::HostRegistration* reg = nullptr;
    std::exception_ptr error;
    Py_BEGIN_ALLOW_THREADS  // cudaHostRegister pins pages: it may take milliseconds
    try {
        reg = new cvzc::HostRegistration(ptr, static_cast<std::size_t>(nbytes), flags);
    } catch (...) {
        error = std::current_exception();
    }
    Py_END_ALLOW_THREADS
    if (error) {
        raise_exception(error);
        return -1;
    }
    self->reg = reg;
    Py_INCREF(owner);
    self->owner = owner;
    return 0;
}

PyObject* Registration_close(Registration* self, PyObject*) {
    if (self->reg != nullptr) {
        std::exception_ptr error;
        cvzc::HostRegistration* reg = self->reg;
        Py_BEGIN_ALLOW_THREADS
        try {
            reg->release();
        } catch (...) {
            error = std::current_exception();
        }
        Py_END_ALLOW_THREADS
        Registration_close_impl(self);  // also after a failed release: the guard is empty either way
        if (error) return raise_exception(error);
        Py_RETURN_NONE;
    }
    Registration_close_impl(self);  // drops the owner of an already-closed registration
    Py_RETURN_NONE;
}

PyObject* Registration_enter(Registration* self, PyObject*) {
    Py_INCREF(self);
    return reinterpret_cast<PyObject*>(self);
}

PyObject* Registration_exit(Registration* self, PyObject*) { return Registration_close(self, nullptr); }

PyObject* Registration_get_registered(Registration* self, void*) {
    return PyBool_FromLong(self->reg != nullptr && self->reg->registered());
}
PyObject* Registration_get_active(Registration* self, void*) { return PyBool_FromLong(self->reg != nullptr); }
PyObject* Registration_get_address(Registration* self, void*) {
    return address_object(self->reg != nullptr ? self->reg->host_base() : nullptr);
}
PyObject* Registration_get_nbytes(Registration* self, void*) {
    return PyLong_FromSize_t(self->reg != nullptr ? self->reg->bytes() : 0);
}
PyObject* Registration_get_device_pointer(Registration* self, void*) {
    return address_object(self->reg != nullptr ? self->reg->device_base() : nullptr);
}
PyObject* Registration_get_owner(Registration* self, void*) {
    PyObject* owner = self->owner != nullptr ? self->owner : Py_None;
    Py_INCREF(owner);
    return owner;
}

PyMethodDef Registration_methods[] = {
    {"close", reinterpret_cast<PyCFunction>(Registration_close), METH_NOARGS, "Unregister now (idempotent)."},
    {"__enter__", reinterpret_cast<PyCFunction>(Registration_enter), METH_NOARGS, nullptr},
    {"__exit__", reinterpret_cast<PyCFunction>(Registration_exit), METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef Registration_getset[] = {
    {"registered", reinterpret_cast<getter>(Registration_get_registered), nullptr,
     "True while this object holds a cudaHostRegister it made (False: the memory was already mapped)", nullptr},
    {"active", reinterpret_cast<getter>(Registration_get_active), nullptr, "False after close()", nullptr},
    {"address", reinterpret_cast<getter>(Registration_get_address), nullptr, "host address of the range", nullptr},
    {"nbytes", reinterpret_cast<getter>(Registration_get_nbytes), nullptr, "bytes in the range", nullptr},
    {"device_pointer", reinterpret_cast<getter>(Registration_get_device_pointer), nullptr,
     "device alias of the range's first byte", nullptr},
    {"owner", reinterpret_cast<getter>(Registration_get_owner), nullptr, "the object kept alive", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyTypeObject RegistrationType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// ---------------------------------------------------------------------------------------------- functions

PyObject* py_alloc(PyObject*, PyObject* args, PyObject* kwds) {
    static const char* keywords[] = {"nbytes", "flags", "pooled", nullptr};
    Py_ssize_t nbytes = 0;
    unsigned int flags = cvzc::kMapped;
    int pooled = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|Ip:alloc", const_cast<char**>(keywords), &nbytes, &flags,
                                     &pooled)) {
        return nullptr;
    }
    if (nbytes <= 0) {
        PyErr_SetString(PyExc_ValueError, "nbytes must be positive");
        return nullptr;
    }
    cvzc::Block block;
    std::exception_ptr error;
    Py_BEGIN_ALLOW_THREADS
    try {
        block = cvzc::default_pool().allocate(static_cast<std::size_t>(nbytes), flags, pooled != 0);
    } catch (...) {
        error = std::current_exception();
    }
    Py_END_ALLOW_THREADS
    if (error) return raise_exception(error);
    auto* self = PyObject_New(MappedBuffer, &MappedBufferType);
    if (self == nullptr) {
        Py_BEGIN_ALLOW_THREADS
        cvzc::default_pool().release(block.ptr);
        Py_END_ALLOW_THREADS
        return nullptr;
    }
    new (&self->block) cvzc::Block(block);
    return reinterpret_cast<PyObject*>(self);
}

/// Runs ``fn`` without the GIL (it may block: context creation in ensure_device, a pool lock held by a thread
/// that frees pinned memory, CUDA calls); a C++ exception it throws comes back as the Python exception.
template <class Fn>
bool without_gil(Fn&& fn) {
    std::exception_ptr error;
    Py_BEGIN_ALLOW_THREADS
    try {
        fn();
    } catch (...) {
        error = std::current_exception();
    }
    Py_END_ALLOW_THREADS
    if (error) {
        raise_exception(error);
        return false;
    }
    return true;
}

PyObject* py_device_pointer(PyObject*, PyObject* arg) {
    void* ptr = nullptr;
    if (!parse_address(arg, &ptr)) return nullptr;
    void* alias = nullptr;  // ensure_device() may create the context (hundreds of ms): without the GIL
    if (!without_gil([&] { alias = cvzc::device_pointer(static_cast<const void*>(ptr)); })) return nullptr;
    return address_object(alias);
}

PyObject* py_pointer_attributes(PyObject*, PyObject* arg) {
    void* ptr = nullptr;
    if (!parse_address(arg, &ptr)) return nullptr;
    cvzc::PointerAttributes attrs;
    if (!without_gil([&] {
            cvzc::ensure_device();  // may create the context
            attrs = cvzc::pointer_attributes(ptr);
        })) {
        return nullptr;
    }
    return Py_BuildValue("{s:s,s:i,s:i,s:N,s:N}", "type", cvzc::memory_type_name(attrs.type), "type_code",
                         static_cast<int>(attrs.type), "device", attrs.device, "device_pointer",
                         address_object(attrs.device_pointer), "host_pointer", address_object(attrs.host_pointer));
}

PyObject* stats_dict(const cvzc::PoolStats& s) {
    using ull = unsigned long long;
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:K,s:K,s:K,s:K,s:K}",               //
                         "bytes_held", static_cast<Py_ssize_t>(s.bytes_held),                      //
                         "bytes_in_use", static_cast<Py_ssize_t>(s.bytes_in_use),                  //
                         "bytes_cached", static_cast<Py_ssize_t>(s.bytes_cached),                  //
                         "blocks_in_use", static_cast<Py_ssize_t>(s.blocks_in_use),                //
                         "blocks_cached", static_cast<Py_ssize_t>(s.blocks_cached),                //
                         "bytes_pending", static_cast<Py_ssize_t>(s.bytes_pending),                //
                         "blocks_pending", static_cast<Py_ssize_t>(s.blocks_pending),              //
                         "peak_bytes_held", static_cast<Py_ssize_t>(s.peak_bytes_held),            //
                         "max_cached_bytes", static_cast<Py_ssize_t>(s.max_cached_bytes),          //
                         "hits", static_cast<ull>(s.hits), "misses", static_cast<ull>(s.misses),  //
                         "releases", static_cast<ull>(s.releases),                                 //
                         "host_allocs", static_cast<ull>(s.host_allocs),                           //
                         "host_frees", static_cast<ull>(s.host_frees));
}

PyObject* py_pool_stats(PyObject*, PyObject*) {
    cvzc::PoolStats stats;  // stats() takes the pool's lock, which a releasing thread may hold: without the GIL
    if (!without_gil([&] { stats = cvzc::default_pool().stats(); })) return nullptr;
    return stats_dict(stats);
}

PyObject* py_trim(PyObject*, PyObject* args) {
    Py_ssize_t keep = 0;
    if (!PyArg_ParseTuple(args, "|n:trim", &keep)) return nullptr;
    if (keep < 0) {
        PyErr_SetString(PyExc_ValueError, "keep_bytes must not be negative");
        return nullptr;
    }
    std::size_t freed = 0;
    Py_BEGIN_ALLOW_THREADS
    freed = cvzc::default_pool().trim(static_cast<std::size_t>(keep));
    Py_END_ALLOW_THREADS
    return PyLong_FromSize_t(freed);
}

PyObject* py_synchronize_pending(PyObject*, PyObject*) {
    std::exception_ptr error;
    Py_BEGIN_ALLOW_THREADS
    try {
        cvzc::default_pool().synchronize_pending();
    } catch (...) {
        error = std::current_exception();
    }
    Py_END_ALLOW_THREADS
    if (error) return raise_exception(error);
    Py_RETURN_NONE;
}

PyObject* py_set_pool_limit(PyObject*, PyObject* arg) {
    const Py_ssize_t bytes = PyLong_AsSsize_t(arg);
    if (bytes == -1 && PyErr_Occurred()) return nullptr;
    if (bytes < 0) {
        PyErr_SetString(PyExc_ValueError, "the pool limit must not be negative");
        return nullptr;
    }
    Py_BEGIN_ALLOW_THREADS
    cvzc::default_pool().set_max_cached_bytes(static_cast<std::size_t>(bytes));
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyObject* py_setup_device(PyObject*, PyObject* args) {
    int device = 0;
    if (!PyArg_ParseTuple(args, "|i:setup_device", &device)) return nullptr;
    const cvzc::DeviceSetup* s = nullptr;
    std::exception_ptr error;
    Py_BEGIN_ALLOW_THREADS
    try {
        s = &cvzc::setup_device(device);
    } catch (...) {
        error = std::current_exception();
    }
    Py_END_ALLOW_THREADS
    if (error) return raise_exception(error);
    return Py_BuildValue(
        "{s:i,s:s,s:i,s:i,s:O,s:O,s:O,s:O,s:i,s:I,s:I,s:O,s:O,s:n,s:n,s:s}", "device", s->device, "name",
        s->name.c_str(),
        "major", s->major, "minor", s->minor, "integrated", s->integrated ? Py_True : Py_False,
        "can_map_host_memory", s->can_map_host_memory ? Py_True : Py_False, "unified_addressing",
        s->unified_addressing ? Py_True : Py_False, "host_pointer_is_device_pointer",
        s->host_pointer_is_device_pointer ? Py_True : Py_False, "context_was_active", s->context_was_active,
        "flags_before", s->flags_before, "flags_after", s->flags_after, "map_host", s->map_host ? Py_True : Py_False,
        "set_flags_called", s->set_flags_called ? Py_True : Py_False, "texture_pitch_alignment",
        static_cast<Py_ssize_t>(s->texture_pitch_alignment), "texture_alignment",
        static_cast<Py_ssize_t>(s->texture_alignment), "note", s->note.c_str());
}

PyObject* py_row_alignment(PyObject*, PyObject*) {
    std::size_t alignment = 0;
    std::exception_ptr error;
    Py_BEGIN_ALLOW_THREADS
    try {
        // the padded allocator's (texture_mat's), not the default one's: the default keeps rows tight
        alignment = cvzc::mapped_allocator(cvzc::kMapped, true, cvzc::kDeviceRowAlignment)->effective_row_alignment();
    } catch (...) {
        error = std::current_exception();
    }
    Py_END_ALLOW_THREADS
    if (error) return raise_exception(error);
    return PyLong_FromSize_t(alignment);
}

PyObject* py_device_count(PyObject*, PyObject*) {
    std::string error;
    int count = 0;
    Py_BEGIN_ALLOW_THREADS  // cudaGetDeviceCount initialises the driver on first use (may take long)
    count = cvzc::device_count(&error);
    Py_END_ALLOW_THREADS
    if (count > 0) return Py_BuildValue("(iO)", count, Py_None);
    return Py_BuildValue("(is)", count, error.c_str());
}

PyObject* py_describe(PyObject*, PyObject*) {
    int driver = 0;
    int runtime = 0;
    Py_BEGIN_ALLOW_THREADS  // the first CUDA call of a process loads and initialises the driver
    driver = cvzc::driver_version();
    runtime = cvzc::runtime_version();
    Py_END_ALLOW_THREADS
    return Py_BuildValue("{s:s,s:i,s:i}", "library", cvzc::describe(), "driver_version", driver, "runtime_version",
                         runtime);
}

PyMethodDef module_methods[] = {
    {"alloc", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(py_alloc)),
     METH_VARARGS | METH_KEYWORDS, "alloc(nbytes, flags=MAPPED, pooled=True) -> MappedBuffer"},
    {"device_pointer", py_device_pointer, METH_O, "device_pointer(address) -> int: the device alias"},
    {"pointer_attributes", py_pointer_attributes, METH_O,
     "pointer_attributes(address) -> dict(type, type_code, device, device_pointer, host_pointer)"},
    {"pool_stats", py_pool_stats, METH_NOARGS, "pool_stats() -> dict of the shared pool's counters"},
    {"synchronize_pending", py_synchronize_pending, METH_NOARGS,
     "synchronize_pending(): wait for the GPU work on released blocks, so they are reusable (see pool.hpp)"},
    {"trim", py_trim, METH_VARARGS, "trim(keep_bytes=0) -> int: bytes of cached pinned memory freed"},
    {"set_pool_limit", py_set_pool_limit, METH_O, "set_pool_limit(nbytes): bound on cached (idle) bytes"},
    {"setup_device", py_setup_device, METH_VARARGS, "setup_device(index=0) -> dict: one-time mapped set-up"},
    {"row_alignment", py_row_alignment, METH_NOARGS,
     "row_alignment() -> int: bytes texture_mat / mapped_empty round row steps up to on the current device"},
    {"device_count", py_device_count, METH_NOARGS, "device_count() -> (count, error or None)"},
    {"describe", py_describe, METH_NOARGS, "describe() -> dict: library, driver and runtime versions"},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "cvcuda_zerocopy._native",
                          "Pinned, GPU-mapped host memory shared with the C++ plugin (see cvcuda_zerocopy).", -1,
                          module_methods};

}  // namespace

PyMODINIT_FUNC PyInit__native(void) {
    MappedBufferType.tp_name = "cvcuda_zerocopy._native.MappedBuffer";
    MappedBufferType.tp_basicsize = sizeof(MappedBuffer);
    MappedBufferType.tp_dealloc = reinterpret_cast<destructor>(MappedBuffer_dealloc);
    MappedBufferType.tp_as_buffer = &MappedBuffer_as_buffer;
    MappedBufferType.tp_flags = Py_TPFLAGS_DEFAULT;
    MappedBufferType.tp_doc = "One pooled block of pinned, mapped host memory (buffer protocol).";
    MappedBufferType.tp_getset = MappedBuffer_getset;
    if (PyType_Ready(&MappedBufferType) < 0) return nullptr;

    RegistrationType.tp_name = "cvcuda_zerocopy._native.Registration";
    RegistrationType.tp_basicsize = sizeof(Registration);
    RegistrationType.tp_dealloc = reinterpret_cast<destructor>(Registration_dealloc);
    RegistrationType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
    RegistrationType.tp_traverse = reinterpret_cast<traverseproc>(Registration_traverse);
    RegistrationType.tp_clear = reinterpret_cast<inquiry>(Registration_clear);
    RegistrationType.tp_doc =
        "Registration(address, nbytes, flags=MAPPED, owner=None): cudaHostRegister a range; close() undoes it.";
    RegistrationType.tp_methods = Registration_methods;
    RegistrationType.tp_getset = Registration_getset;
    RegistrationType.tp_init = reinterpret_cast<initproc>(Registration_init);
    RegistrationType.tp_new = PyType_GenericNew;
    if (PyType_Ready(&RegistrationType) < 0) return nullptr;

    PyObject* module = PyModule_Create(&module_def);
    if (module == nullptr) return nullptr;
    g_cuda_error = PyErr_NewExceptionWithDoc("cvcuda_zerocopy._native.CudaError",
                                             "A CUDA runtime call failed (the message names the call and error).",
                                             PyExc_RuntimeError, nullptr);
    if (g_cuda_error == nullptr) {
        Py_DECREF(module);
        return nullptr;
    }
    Py_INCREF(g_cuda_error);
    Py_INCREF(&MappedBufferType);
    Py_INCREF(&RegistrationType);
    if (PyModule_AddObject(module, "CudaError", g_cuda_error) < 0 ||
        PyModule_AddObject(module, "MappedBuffer", reinterpret_cast<PyObject*>(&MappedBufferType)) < 0 ||
        PyModule_AddObject(module, "Registration", reinterpret_cast<PyObject*>(&RegistrationType)) < 0 ||
        PyModule_AddIntConstant(module, "MAPPED", cvzc::kMapped) < 0 ||
        PyModule_AddIntConstant(module, "PORTABLE", cvzc::kPortable) < 0 ||
        PyModule_AddIntConstant(module, "WRITE_COMBINED", cvzc::kWriteCombined) < 0 ||
        PyModule_AddStringConstant(module, "VERSION", CVCUDA_ZEROCOPY_VERSION) < 0) {
        Py_DECREF(module);
        return nullptr;
    }
    return module;
}
