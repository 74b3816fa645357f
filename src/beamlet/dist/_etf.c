/* The fast path of beamlet.dist.etf: decode and encode the terms messages are made of.
 *
 * This module only ever handles the common, valid case. Whenever it meets something it does
 * not know (a rare tag, a local Pid, a subclass) or something wrong (truncated input, a bad
 * atom, nesting past max_depth, an unhashable map key), it gives up without an exception:
 * decode() returns None and the pure-Python decoder in etf.py does the whole job again,
 * producing the term or the ETFError with its position. encode() hands every object it does
 * not know to a Python fallback that returns the object's bytes, so the two encoders write
 * exactly the same bytes. Either way the Python code remains the definition of the format.
 *
 * encode() also has an exact mode (for payloads between two beamlet nodes, which otherwise
 * travel as pickles): given the tuple of identity types it may look up in the atoms cache,
 * it sends every value whose decoding would not give back an equal value of the same types
 * to the fallback, which refuses it (see Codec.encode_exact).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

static PyObject *ExtPid_type, *ExtRef_type, *ImproperList_type, *Exit_type, *Down_type;
static PyObject *str_node, *str_id, *str_serial, *str_creation, *str_raw, *str_ids,
    *str_items, *str_tail, *str_EXIT, *str_DOWN, *str_process;

#define ATOM_CACHE_LIMIT 8192

/* ---------------------------------------------------------------- decoding */

typedef struct {
    const unsigned char *data;
    Py_ssize_t size;
    Py_ssize_t pos;
    Py_ssize_t max_depth;
    PyObject *on_pid, *on_ref;
    PyObject *pid_cache; /* dict: a pid's bytes -> what on_pid made of them, or NULL */
    /* a binary received apart (see find_binary): the BINARY_EXT at preset_at (-1: none) is
       `preset`, whose bytes are not in data (its 5-byte head is) */
    Py_ssize_t preset_at;
    PyObject *preset;
    /* the bytes of the last identity the hook mapped to what the cache does not keep (one of
       our refs) and its answer: the same bytes again in this call (a call's reply names its
       ref twice) get the same answer without asking; owned, NULL at first */
    PyObject *mapped_key, *mapped;
} Reader;

#define PID_CACHE_LIMIT 4096

/* NULL with no exception set means "give up, let Python decode it". */
#define BAIL() return NULL

static inline int have(Reader *r, Py_ssize_t n) { return n >= 0 && r->size - r->pos >= n; }

static inline uint16_t be16(const unsigned char *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Move *pos past the atom there (any of its four tags) within d[:size]; -1 if it is none or
   does not end there. */
static int skip_atom(const unsigned char *d, Py_ssize_t size, Py_ssize_t *pos) {
    if (*pos + 2 > size) return -1;
    unsigned char tag = d[*pos];
    if (tag == 119 || tag == 115) *pos += 2 + d[*pos + 1];
    else if ((tag == 118 || tag == 100) && *pos + 3 <= size) *pos += 3 + be16(d + *pos + 1);
    else return -1;
    return *pos <= size ? 0 : -1;
}

static PyObject *dec(Reader *r, Py_ssize_t depth);

/* An atom's text, or NULL to bail; `mapped` turns true/false/nil into True/False/None. */
static PyObject *read_atom(Reader *r, int mapped) {
    if (!have(r, 2)) BAIL();
    unsigned char tag = r->data[r->pos];
    Py_ssize_t len, start;
    if (tag == 119 || tag == 115) {
        len = r->data[r->pos + 1];
        start = r->pos + 2;
    } else if (tag == 118 || tag == 100) {
        if (!have(r, 3)) BAIL();
        len = be16(r->data + r->pos + 1);
        start = r->pos + 3;
    } else {
        BAIL();
    }
    if (r->size - start < len) BAIL();
    const char *text = (const char *)r->data + start;
    if (mapped) {
        if (len == 4 && memcmp(text, "true", 4) == 0) { r->pos = start + len; Py_RETURN_TRUE; }
        if (len == 5 && memcmp(text, "false", 5) == 0) { r->pos = start + len; Py_RETURN_FALSE; }
        if (len == 3 && memcmp(text, "nil", 3) == 0) { r->pos = start + len; Py_RETURN_NONE; }
    }
    PyObject *atom;
    if (tag == 100 || tag == 115) {
        atom = PyUnicode_DecodeLatin1(text, len, NULL);
    } else {
        atom = PyUnicode_DecodeUTF8(text, len, NULL);
        if (atom == NULL) {
            PyErr_Clear();
            BAIL();
        }
    }
    if (atom == NULL) return NULL;
    if (PyUnicode_GET_LENGTH(atom) > 255) {
        Py_DECREF(atom);
        BAIL();
    }
    PyUnicode_InternInPlace(&atom);
    r->pos = start + len;
    return atom;
}

/* Make an instance of a frozen slotted class without running its __init__ (which validates
 * what the wire cannot get wrong) and without its __setattr__ (which refuses every change). */
static PyObject *frozen(PyObject *type, int n, PyObject **names, PyObject **values) {
    PyObject *obj = ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
    if (obj == NULL) goto fail;
    for (int i = 0; i < n; i++) {
        if (PyObject_GenericSetAttr(obj, names[i], values[i]) < 0) {
            Py_DECREF(obj);
            obj = NULL;
            goto fail;
        }
    }
fail:
    for (int i = 0; i < n; i++) Py_XDECREF(values[i]);
    return obj;
}

/* The bytes of the NEW_PID_EXT at r->pos (tag, node atom, 12 bytes), or -1. */
static Py_ssize_t pid_span(Reader *r) {
    Py_ssize_t end = r->pos + 1; /* (the node's atom, then id, serial, creation) */
    if (skip_atom(r->data, r->size, &end) < 0) return -1;
    Py_ssize_t span = end - r->pos + 12;
    return have(r, span) ? span : -1;
}

static PyObject *read_pid_uncached(Reader *r);

typedef PyObject *(*ReadIdentity)(Reader *);

/* The pid or ref of `span` bytes at r->pos from r->pid_cache when its bytes were read before;
   else `read_uncached`'s answer, kept for next time when `kept_type` is NULL or the answer
   is of that type. */
static PyObject *read_cached(Reader *r, Py_ssize_t span, ReadIdentity read_uncached,
                             PyObject *kept_type) {
    if (r->mapped_key != NULL && PyBytes_GET_SIZE(r->mapped_key) == span &&
        memcmp(PyBytes_AS_STRING(r->mapped_key), r->data + r->pos, span) == 0) {
        r->pos += span;
        return Py_NewRef(r->mapped);
    }
    PyObject *key = PyBytes_FromStringAndSize((const char *)r->data + r->pos, span);
    if (key == NULL) return NULL;
    PyObject *hit = PyDict_GetItemWithError(r->pid_cache, key);
    if (hit != NULL) {
        Py_DECREF(key);
        r->pos += span;
        return Py_NewRef(hit);
    }
    if (PyErr_Occurred()) { Py_DECREF(key); return NULL; }
    PyObject *mapped = read_uncached(r);
    if (mapped != NULL && (kept_type == NULL || Py_TYPE(mapped) == (PyTypeObject *)kept_type)) {
        if (PyDict_GET_SIZE(r->pid_cache) >= PID_CACHE_LIMIT) PyDict_Clear(r->pid_cache);
        if (PyDict_SetItem(r->pid_cache, key, mapped) < 0) Py_CLEAR(mapped);
    } else if (mapped != NULL) {
        Py_XSETREF(r->mapped_key, Py_NewRef(key));
        Py_XSETREF(r->mapped, Py_NewRef(mapped));
    }
    Py_DECREF(key);
    return mapped;
}

/* A pid the hook has mapped before comes from the cache (the hook's answer for given bytes
   does not change: it names the same process object), saving the ExtPid and the call. */
static PyObject *read_pid(Reader *r) {
    if (r->pid_cache == NULL || r->on_pid == Py_None) return read_pid_uncached(r);
    Py_ssize_t span = pid_span(r);
    return span < 0 ? read_pid_uncached(r) : read_cached(r, span, read_pid_uncached, NULL);
}

static PyObject *read_pid_uncached(Reader *r) {
    Py_ssize_t start = r->pos;
    r->pos += 1;
    PyObject *node = read_atom(r, 0);
    if (node == NULL) return NULL;
    if (!have(r, 12)) { Py_DECREF(node); BAIL(); }
    const unsigned char *p = r->data + r->pos;
    r->pos += 12;
    PyObject *names[5] = {str_node, str_id, str_serial, str_creation, str_raw};
    PyObject *values[5] = {
        node, PyLong_FromUnsignedLong(be32(p)), PyLong_FromUnsignedLong(be32(p + 4)),
        PyLong_FromUnsignedLong(be32(p + 8)),
        PyBytes_FromStringAndSize((const char *)r->data + start, r->pos - start)};
    for (int i = 1; i < 5; i++)
        if (values[i] == NULL) { for (int j = 0; j < 5; j++) Py_XDECREF(values[j]); return NULL; }
    PyObject *pid = frozen(ExtPid_type, 5, names, values);
    if (pid == NULL || r->on_pid == Py_None) return pid;
    PyObject *mapped = PyObject_CallOneArg(r->on_pid, pid);
    Py_DECREF(pid);
    return mapped;
}

static PyObject *read_ref_uncached(Reader *r);

/* The bytes of the NEWER_REFERENCE_EXT at r->pos, or -1. */
static Py_ssize_t ref_span(Reader *r) {
    if (!have(r, 3)) return -1;
    Py_ssize_t count = be16(r->data + r->pos + 1), end = r->pos + 3; /* (then the node) */
    if (skip_atom(r->data, r->size, &end) < 0) return -1;
    Py_ssize_t span = end - r->pos + 4 + 4 * count; /* (creation, the id words) */
    return have(r, span) ? span : -1;
}

/* Another node's ref, as the hook left it, comes from the cache too (a call's monitor, tag
   and demonitor: one object, so the tables it keys find it by identity). One of ours (the
   hook maps it to its kernel Ref) is mapped each time. */
static PyObject *read_ref(Reader *r) {
    if (r->pid_cache == NULL || r->on_ref == Py_None) return read_ref_uncached(r);
    Py_ssize_t span = ref_span(r);
    return span < 0 ? read_ref_uncached(r) : read_cached(r, span, read_ref_uncached,
                                                        ExtRef_type);
}

static PyObject *read_ref_uncached(Reader *r) {
    Py_ssize_t start = r->pos;
    if (!have(r, 3)) BAIL();
    Py_ssize_t count = be16(r->data + r->pos + 1);
    if (count < 1 || count > 5) BAIL();
    r->pos += 3;
    PyObject *node = read_atom(r, 0);
    if (node == NULL) return NULL;
    if (!have(r, 4 + 4 * count)) { Py_DECREF(node); BAIL(); }
    const unsigned char *p = r->data + r->pos;
    PyObject *ids = PyTuple_New(count);
    PyObject *creation = PyLong_FromUnsignedLong(be32(p));
    if (ids == NULL || creation == NULL) goto fail;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *word = PyLong_FromUnsignedLong(be32(p + 4 + 4 * i));
        if (word == NULL) goto fail;
        PyTuple_SET_ITEM(ids, i, word);
    }
    r->pos += 4 + 4 * count;
    PyObject *raw = PyBytes_FromStringAndSize((const char *)r->data + start, r->pos - start);
    if (raw == NULL) goto fail;
    PyObject *names[4] = {str_node, str_creation, str_ids, str_raw};
    PyObject *values[4] = {node, creation, ids, raw};
    PyObject *ref = frozen(ExtRef_type, 4, names, values);
    if (ref == NULL || r->on_ref == Py_None) return ref;
    PyObject *mapped = PyObject_CallOneArg(r->on_ref, ref);
    Py_DECREF(ref);
    return mapped;
fail:
    Py_DECREF(node);
    Py_XDECREF(ids);
    Py_XDECREF(creation);
    return NULL;
}

static PyObject *read_tuple(Reader *r, Py_ssize_t arity, Py_ssize_t depth) {
    if (depth >= r->max_depth || !have(r, arity)) BAIL();
    PyObject *items = PyTuple_New(arity);
    if (items == NULL) return NULL;
    for (Py_ssize_t i = 0; i < arity; i++) {
        PyObject *item = dec(r, depth + 1);
        if (item == NULL) { Py_DECREF(items); return NULL; }
        PyTuple_SET_ITEM(items, i, item);
    }
    PyObject *first = arity ? PyTuple_GET_ITEM(items, 0) : NULL;
    if (first != NULL && PyUnicode_CheckExact(first)) {
        PyObject *named = NULL;
        if (arity == 3 && PyUnicode_Compare(first, str_EXIT) == 0) {
            named = PyObject_CallFunctionObjArgs(Exit_type, PyTuple_GET_ITEM(items, 1),
                                                 PyTuple_GET_ITEM(items, 2), NULL);
        } else if (arity == 5 && PyUnicode_Compare(first, str_DOWN) == 0 &&
                   PyUnicode_CheckExact(PyTuple_GET_ITEM(items, 2)) &&
                   PyUnicode_Compare(PyTuple_GET_ITEM(items, 2), str_process) == 0) {
            named = PyObject_CallFunctionObjArgs(Down_type, PyTuple_GET_ITEM(items, 1),
                                                 PyTuple_GET_ITEM(items, 3),
                                                 PyTuple_GET_ITEM(items, 4), NULL);
        } else {
            return items;
        }
        Py_DECREF(items);
        return named;
    }
    return items;
}

static PyObject *read_list(Reader *r, Py_ssize_t depth) {
    if (!have(r, 5)) BAIL();
    Py_ssize_t count = be32(r->data + r->pos + 1);
    r->pos += 5;
    if (depth >= r->max_depth || !have(r, count + 1) || count == 0) BAIL();
    PyObject *items = PyList_New(count);
    if (items == NULL) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = dec(r, depth + 1);
        if (item == NULL) { Py_DECREF(items); return NULL; }
        PyList_SET_ITEM(items, i, item);
    }
    if (!have(r, 1)) { Py_DECREF(items); BAIL(); }
    if (r->data[r->pos] == 106) {
        r->pos += 1;
        return items;
    }
    PyObject *tail = dec(r, depth + 1);
    if (tail == NULL) { Py_DECREF(items); return NULL; }
    if (PyList_Check(tail) || PyObject_TypeCheck(tail, (PyTypeObject *)ImproperList_type)) {
        /* [a | [b]] and nested improper tails are normalised by the Python decoder */
        Py_DECREF(items);
        Py_DECREF(tail);
        BAIL();
    }
    PyObject *frozen_items = PyList_AsTuple(items);
    Py_DECREF(items);
    if (frozen_items == NULL) { Py_DECREF(tail); return NULL; }
    PyObject *names[2] = {str_items, str_tail};
    PyObject *values[2] = {frozen_items, tail};
    return frozen(ImproperList_type, 2, names, values);
}

static PyObject *read_map(Reader *r, Py_ssize_t depth) {
    if (!have(r, 5)) BAIL();
    Py_ssize_t count = be32(r->data + r->pos + 1);
    r->pos += 5;
    if (depth >= r->max_depth || count > (r->size - r->pos) / 2) BAIL();
    PyObject *map = PyDict_New();
    if (map == NULL) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *key = dec(r, depth + 1);
        if (key == NULL) { Py_DECREF(map); return NULL; }
        PyObject *value = dec(r, depth + 1);
        if (value == NULL) { Py_DECREF(key); Py_DECREF(map); return NULL; }
        int failed = PyDict_SetItem(map, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed) {
            Py_DECREF(map);
            if (PyErr_ExceptionMatches(PyExc_TypeError)) { PyErr_Clear(); BAIL(); }
            return NULL;
        }
    }
    if (PyDict_GET_SIZE(map) != count) { Py_DECREF(map); BAIL(); }
    return map;
}

static PyObject *read_big(Reader *r, Py_ssize_t size, int negative) {
    if (!have(r, size)) BAIL();
    PyObject *magnitude = _PyLong_FromByteArray(r->data + r->pos, size, 1, 0);
    r->pos += size;
    if (magnitude == NULL || !negative) return magnitude;
    PyObject *value = PyNumber_Negative(magnitude);
    Py_DECREF(magnitude);
    return value;
}

static PyObject *dec(Reader *r, Py_ssize_t depth) {
    if (!have(r, 1)) BAIL();
    const unsigned char *p = r->data + r->pos;
    switch (p[0]) {
    case 119: case 118: case 100: case 115:
        return read_atom(r, 1);
    case 97:
        if (!have(r, 2)) BAIL();
        r->pos += 2;
        return PyLong_FromLong(p[1]);
    case 98:
        if (!have(r, 5)) BAIL();
        r->pos += 5;
        return PyLong_FromLong((int32_t)be32(p + 1));
    case 104:
        if (!have(r, 2)) BAIL();
        r->pos += 2;
        return read_tuple(r, p[1], depth);
    case 105:
        if (!have(r, 5)) BAIL();
        r->pos += 5;
        return read_tuple(r, be32(p + 1), depth);
    case 106:
        r->pos += 1;
        return PyList_New(0);
    case 107: {
        if (!have(r, 3)) BAIL();
        Py_ssize_t len = be16(p + 1);
        r->pos += 3;
        if (!have(r, len)) BAIL();
        PyObject *chars = PyList_New(len);
        if (chars == NULL) return NULL;
        for (Py_ssize_t i = 0; i < len; i++)
            PyList_SET_ITEM(chars, i, PyLong_FromLong(p[3 + i])); /* small ints are cached */
        r->pos += len;
        return chars;
    }
    case 108:
        return read_list(r, depth);
    case 109: {
        if (!have(r, 5)) BAIL();
        if (r->pos == r->preset_at) {
            r->pos += 5;
            return Py_NewRef(r->preset);
        }
        Py_ssize_t len = be32(p + 1);
        r->pos += 5;
        if (!have(r, len)) BAIL();
        r->pos += len;
        return PyBytes_FromStringAndSize((const char *)p + 5, len);
    }
    case 116:
        return read_map(r, depth);
    case 70: {
        if (!have(r, 9)) BAIL();
        double value = PyFloat_Unpack8((const char *)p + 1, 0);
        if (value == -1.0 && PyErr_Occurred()) return NULL;
        if (!isfinite(value)) BAIL();
        r->pos += 9;
        return PyFloat_FromDouble(value);
    }
    case 88:
        return read_pid(r);
    case 90:
        return read_ref(r);
    case 110:
        if (!have(r, 3)) BAIL();
        r->pos += 3;
        return read_big(r, p[1], p[2]);
    case 111:
        if (!have(r, 6)) BAIL();
        r->pos += 6;
        return read_big(r, be32(p + 1), p[5]);
    default:
        BAIL();
    }
}

/* decode(data: bytes | bytearray, pos, on_pid, on_ref, max_depth[, pid_cache]) -> (term, end)
   | None */
static PyObject *decode_view(Reader *r);

/* data: bytes or bytearray (a reassembled message: held by a buffer export while the hooks
   run, so that nothing can resize it under the reader) */
static PyObject *py_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if ((nargs != 5 && nargs != 6 && nargs != 8) ||
            !(PyBytes_CheckExact(args[0]) || PyByteArray_CheckExact(args[0]))
            || (nargs >= 6 && args[5] != Py_None && !PyDict_CheckExact(args[5]))
            || (nargs == 8 && !PyBytes_CheckExact(args[7]))) {
        PyErr_SetString(PyExc_TypeError, "decode(data: bytes | bytearray, pos, on_pid, on_ref, "
                                         "max_depth[, pid_cache: dict[, preset_at, preset]])");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    Reader r;
    r.data = (const unsigned char *)view.buf;
    r.size = view.len;
    r.pos = PyLong_AsSsize_t(args[1]);
    r.on_pid = args[2];
    r.on_ref = args[3];
    r.pid_cache = (nargs >= 6 && args[5] != Py_None) ? args[5] : NULL;
    r.max_depth = PyLong_AsSsize_t(args[4]);
    r.preset_at = nargs == 8 ? PyLong_AsSsize_t(args[6]) : -1;
    r.preset = nargs == 8 ? args[7] : NULL;
    r.mapped_key = r.mapped = NULL;
    PyObject *result = decode_view(&r);
    Py_XDECREF(r.mapped_key);
    Py_XDECREF(r.mapped);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *decode_view(Reader *r) {
    if (PyErr_Occurred()) return NULL;
    if (r->pos < 0 || r->pos > r->size) Py_RETURN_NONE;
    PyObject *term = dec(r, 0);
    if (term == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *end = PyLong_FromSsize_t(r->pos);
    if (end == NULL) { Py_DECREF(term); return NULL; }
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) { Py_DECREF(term); Py_DECREF(end); return NULL; }
    PyTuple_SET_ITEM(pair, 0, term);
    PyTuple_SET_ITEM(pair, 1, end);
    return pair;
}

/* The message whose terms (no 131 bytes) span [pos, end) of r's data, as (control, payload),
   `no_payload` when the control term fills it; NULL to leave it to Python (a pickled or
   compressed payload, anything dec gives up on, a hook's error). */
static PyObject *decode_message(Reader *r, Py_ssize_t pos, Py_ssize_t end,
                                PyObject *no_payload) {
    r->pos = pos;
    r->size = end;
    PyObject *control = dec(r, 0);
    if (control == NULL) return NULL;
    PyObject *payload;
    if (r->pos >= end) {
        payload = Py_NewRef(no_payload);
    } else if (r->data[r->pos] == 0x80) { /* a pickle, from a beamlet node */
        Py_DECREF(control);
        return NULL;
    } else if ((payload = dec(r, 0)) == NULL) {
        Py_DECREF(control);
        return NULL;
    }
    PyObject *pair = PyTuple_Pack(2, control, payload);
    Py_DECREF(control);
    Py_DECREF(payload);
    return pair;
}

static inline uint64_t be64(const unsigned char *p) {
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

#define FRAGMENT_HEAD 18 /* 131, 69 or 70, SequenceId:u64, FragmentId:u64 */

/* A fragmented message whose frames all lie in r's data[:size] from `start` on, back to
   back: the first fragment (131 69, no atom cache refs) there, then each continuation of its
   sequence in turn, down to FragmentId 1; the message at most `largest` bytes. Its (control,
   payload) with *end past its last frame, decoded from its pieces joined; NULL to leave the
   frames to Python (they are not all there, something comes between them, or anything
   decode_message leaves to Python), with an exception only for memory. */
static PyObject *decode_sequence(Reader *r, Py_ssize_t start, Py_ssize_t size,
                                 Py_ssize_t largest, PyObject *no_payload, Py_ssize_t *end) {
    const unsigned char *data = r->data;
    Py_ssize_t length = be32(data + start), body = start + 4;
    if (length < FRAGMENT_HEAD + 2 || data[body + FRAGMENT_HEAD] != 0) return NULL;
    uint64_t sequence = be64(data + body + 2), count = be64(data + body + 10);
    if (count < 2 || count > (uint64_t)(size / 22)) return NULL; /* (each frame: 22 bytes+) */
    Py_ssize_t total = length - FRAGMENT_HEAD - 1, at = body + length;
    for (uint64_t id = count - 1; id >= 1; id--) {
        if (size - at < 4) return NULL;
        Py_ssize_t piece = be32(data + at), piece_body = at + 4;
        if (piece > size - piece_body || piece < FRAGMENT_HEAD ||
            data[piece_body] != 131 || data[piece_body + 1] != 70 ||
            be64(data + piece_body + 2) != sequence || be64(data + piece_body + 10) != id)
            return NULL;
        total += piece - FRAGMENT_HEAD;
        if (total > largest) return NULL;
        at = piece_body + piece;
    }
    unsigned char *joined = PyMem_Malloc(total > 0 ? total : 1);
    if (joined == NULL) { PyErr_NoMemory(); return NULL; }
    Py_ssize_t filled = length - FRAGMENT_HEAD - 1;
    memcpy(joined, data + body + FRAGMENT_HEAD + 1, filled);
    for (Py_ssize_t pos = body + length; pos < at; ) {
        Py_ssize_t piece = be32(data + pos);
        memcpy(joined + filled, data + pos + 4 + FRAGMENT_HEAD, piece - FRAGMENT_HEAD);
        filled += piece - FRAGMENT_HEAD;
        pos += 4 + piece;
    }
    Reader whole = *r;
    whole.data = joined;
    whole.size = total;
    PyObject *item = decode_message(&whole, 0, total, no_payload);
    r->mapped_key = whole.mapped_key; /* (what it owns now) */
    r->mapped = whole.mapped;
    PyMem_Free(joined);
    if (item != NULL) *end = at;
    return item;
}

/* decode_frames(on_pid, on_ref, max_depth, pid_cache | None, header: bytes, no_payload,
   data: any buffer, largest, sequences: bool) -> (end, items) (the fixed arguments
   first, for a partial: `Codec.frame_decoder`): the whole u32-length frames at the start of
   data, the empty ones (ticks) left out; a body that is `header` then a message of at most
   `largest` bytes as its (control, payload), with `sequences` a fragmented message whose
   frames lie in data back to back too (decode_sequence), any other as its bytes. Nothing
   returned refers to data's memory: a connection reads into one buffer again and again */
static PyObject *py_decode_frames(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 9 || !PyObject_CheckBuffer(args[6]) ||
        (args[3] != Py_None && !PyDict_CheckExact(args[3])) || !PyBytes_CheckExact(args[4])) {
        PyErr_SetString(PyExc_TypeError, "decode_frames(on_pid, on_ref, max_depth, "
                        "pid_cache, header, no_payload, data, largest, sequences)");
        return NULL;
    }
    Py_ssize_t max_depth = PyLong_AsSsize_t(args[2]);
    Py_ssize_t largest = PyLong_AsSsize_t(args[7]);
    if (PyErr_Occurred()) return NULL;
    int sequences = PyObject_IsTrue(args[8]);
    if (sequences < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[6], &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *data = view.buf, *header = (const unsigned char *)PyBytes_AS_STRING(args[4]);
    Py_ssize_t size = view.len, header_size = PyBytes_GET_SIZE(args[4]), start = 0;
    Reader r = {.data = data, .size = size, .pos = 0, .max_depth = max_depth,
                .on_pid = args[0], .on_ref = args[1],
                .pid_cache = args[3] == Py_None ? NULL : args[3], .preset_at = -1,
                .preset = NULL, .mapped_key = NULL, .mapped = NULL};
    PyObject *items = PyList_New(0);
    while (items != NULL && size - start >= 4) {
        Py_ssize_t length = be32(data + start), body = start + 4;
        if (length > size - body) break;
        if (length > 0) {
            PyObject *item = NULL;
            if (length > header_size && length <= largest &&
                memcmp(data + body, header, header_size) == 0) {
                item = decode_message(&r, body + header_size, body + length, args[5]);
                if (item == NULL) PyErr_Clear(); /* (Python decodes it again, and says why) */
            } else if (sequences && length > 2 && data[body] == 131 && data[body + 1] == 69) {
                Py_ssize_t sequence_end;
                item = decode_sequence(&r, start, size, largest, args[5], &sequence_end);
                if (item != NULL) {
                    length = sequence_end - body; /* (the next frame is past its last one) */
                } else if (PyErr_ExceptionMatches(PyExc_MemoryError)) {
                    Py_CLEAR(items);
                    break;
                } else {
                    PyErr_Clear();
                    sequences = 0; /* Python reassembles this one: it sees all that follow */
                }
            } else if (length > 1 && data[body] == 131 && data[body + 1] == 70) {
                sequences = 0;
            }
            if (item == NULL) item = PyBytes_FromStringAndSize((const char *)data + body, length);
            if (item == NULL || PyList_Append(items, item) < 0) Py_CLEAR(items);
            Py_XDECREF(item);
        }
        start = body + length;
    }
    Py_XDECREF(r.mapped_key);
    Py_XDECREF(r.mapped);
    PyBuffer_Release(&view);
    if (items == NULL) return NULL;
    return Py_BuildValue("(nN)", start, items);
}

/* ------------------------------------------------ big binaries received apart */

/* Walk the term at *pos of d[:size] in order: 1 with *pos at the first BINARY_EXT of `least`
   bytes or more, 0 when the term holds none (*pos past it), -1 when that cannot be told from
   these bytes (they end first, or a tag this walk does not know). */
static int seek_binary(const unsigned char *d, Py_ssize_t size, Py_ssize_t *pos,
                       Py_ssize_t least, int depth) {
    if (depth > 64 || *pos >= size) return -1;
    const unsigned char *p = d + *pos;
    Py_ssize_t left = size - *pos, count = 0, step = 0;
    switch (p[0]) {
    case 97: step = 2; break;
    case 98: step = 5; break;
    case 70: step = 9; break;
    case 106: step = 1; break;
    case 119: case 115: case 118: case 100: return skip_atom(d, size, pos);
    case 107: if (left < 3) return -1; step = 3 + be16(p + 1); break;
    case 110: if (left < 3) return -1; step = 3 + p[1]; break;
    case 111: if (left < 6) return -1; step = 6 + be32(p + 1); break;
    case 77: if (left < 6) return -1; step = 6 + be32(p + 1); break;
    case 109:
        if (left < 5) return -1;
        if ((Py_ssize_t)be32(p + 1) >= least) return 1;
        step = 5 + be32(p + 1);
        break;
    case 88:
        *pos += 1;
        if (skip_atom(d, size, pos) < 0) return -1;
        step = 12;
        break;
    case 90:
        if (left < 3) return -1;
        count = be16(p + 1);
        *pos += 3;
        if (skip_atom(d, size, pos) < 0) return -1;
        step = 4 + 4 * count;
        break;
    case 104: case 105: case 108: case 116: {
        int wide = p[0] != 104;
        if (left < (wide ? 5 : 2)) return -1;
        count = wide ? be32(p + 1) : p[1];
        *pos += wide ? 5 : 2;
        if (p[0] == 116) count *= 2;
        if (p[0] == 108) count += 1; /* the tail */
        for (Py_ssize_t i = 0; i < count; i++) {
            int found = seek_binary(d, size, pos, least, depth + 1);
            if (found != 0) return found;
        }
        return 0;
    }
    default: return -1;
    }
    if (step > size - *pos) return -1;
    *pos += step;
    return 0;
}

/* find_binary(data: bytes, pos, least) -> (at, size) | None: where the term at pos has its
   first binary of `least` bytes or more (the BINARY_EXT's tag), if these bytes tell */
static PyObject *py_find_binary(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "find_binary(data: bytes, pos, least)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]), least = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (pos < 0 || pos > size || seek_binary(d, size, &pos, least, 0) != 1) Py_RETURN_NONE;
    return Py_BuildValue("(nn)", pos, (Py_ssize_t)be32(d + pos + 1));
}

/* reserve_binary(size) -> bytes: a bytes object whose contents `fill_binary` writes, piece by
   piece as they arrive (its memory is touched as it fills, not all at once). Nothing may read
   it before it is full: the reassembler's own. */
static PyObject *py_reserve_binary(PyObject *self, PyObject *arg) {
    Py_ssize_t size = PyLong_AsSsize_t(arg);
    if (size < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "a negative size");
        return NULL;
    }
    return PyBytes_FromStringAndSize(NULL, size);
}

/* fill_binary(binary, at, data): copy data into binary[at:] (within its size) */
static PyObject *py_fill_binary(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyBytes_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "fill_binary(binary: bytes, at, data)");
        return NULL;
    }
    Py_ssize_t at = PyLong_AsSsize_t(args[1]);
    if (at == -1 && PyErr_Occurred()) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[2], &view, PyBUF_SIMPLE) < 0) return NULL;
    int fits = at >= 0 && view.len <= PyBytes_GET_SIZE(args[0]) - at;
    if (fits) memcpy(PyBytes_AS_STRING(args[0]) + at, view.buf, view.len);
    PyBuffer_Release(&view);
    if (!fits) {
        PyErr_SetString(PyExc_ValueError, "the data does not fit in the binary there");
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- encoding */

typedef struct {
    PyObject *out;  /* the bytes object written into, resized as it fills (a big binary is
                       copied once, into the result, not again out of a scratch buffer) */
    char *buf;      /* its contents */
    Py_ssize_t len, cap;
    Py_ssize_t max_depth;
    PyObject *atoms;    /* dict str -> encoded bytes, shared with the Python encoder */
    PyObject *specials; /* the encoded atoms true, false, nil */
    PyObject *fallback; /* callable(obj) -> bytes for everything this file does not know */
    /* exact mode (NULL: off): the types whose objects may be looked up in `atoms`; every
       value whose decoding would not give it back (the str "true", a tuple headed "EXIT",
       a subclass) goes to the fallback, which refuses it */
    PyObject *exact_types;
    /* gathering (gather_from > 0): a binary of that many bytes or more is not copied; the
       bytes so far become one part, the binary's own object the next (`parts`, NULL until
       the first such binary) */
    Py_ssize_t gather_from;
    PyObject *parts;
    /* exact mode: the lists and dicts met so far, so that one met twice (a message sharing a
       mutable value, which a pickle keeps shared and ETF would not) refuses the term: the
       first few by address, the rest in a set (NULL until needed) */
    const void *containers[8];
    int container_count;
    PyObject *more_containers;
    /* encode_frame: the most bytes the frame may take (-1: no limit); past it, too_big is
       set and the encoding stops (an error without an exception) */
    Py_ssize_t limit;
    int too_big;
} Writer;

static int grow(Writer *w, Py_ssize_t extra) {
    if (w->limit >= 0 && w->len + extra > w->limit) {
        w->too_big = 1;
        return -1;
    }
    if (w->len + extra <= w->cap) return 0;
    Py_ssize_t cap = w->cap * 2;
    while (cap < w->len + extra) cap *= 2;
    if (_PyBytes_Resize(&w->out, cap) < 0) return -1; /* (w->out is NULL then) */
    w->buf = PyBytes_AS_STRING(w->out);
    w->cap = cap;
    return 0;
}

static inline int put(Writer *w, const void *bytes, Py_ssize_t n) {
    if (grow(w, n) < 0) return -1;
    memcpy(w->buf + w->len, bytes, n);
    w->len += n;
    return 0;
}

static inline int put1(Writer *w, unsigned char byte) {
    if (grow(w, 1) < 0) return -1;
    w->buf[w->len++] = (char)byte;
    return 0;
}

static inline int put_tag32(Writer *w, unsigned char tag, uint32_t value) {
    unsigned char head[5] = {tag, value >> 24, value >> 16, value >> 8, value};
    return put(w, head, 5);
}

static inline int put_u32(Writer *w, uint32_t value) {
    unsigned char word[4] = {value >> 24, value >> 16, value >> 8, value};
    return put(w, word, 4);
}

static int put_bytes_object(Writer *w, PyObject *bytes) {
    if (!PyBytes_Check(bytes)) {
        PyErr_SetString(PyExc_TypeError, "the ETF fallback must return bytes");
        return -1;
    }
    return put(w, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
}

/* end the bytes written so far as a part, then `big` as a part of its own, and go on in a
   fresh buffer */
static int cut(Writer *w, PyObject *big) {
    if (w->parts == NULL && (w->parts = PyList_New(0)) == NULL) return -1;
    PyObject *done = w->out;
    w->out = NULL;
    if (_PyBytes_Resize(&done, w->len) < 0) return -1;
    int failed = PyList_Append(w->parts, done) < 0 || PyList_Append(w->parts, big) < 0;
    Py_DECREF(done);
    if (failed) return -1;
    w->cap = 256;
    w->len = 0;
    if ((w->out = PyBytes_FromStringAndSize(NULL, w->cap)) == NULL) return -1;
    w->buf = PyBytes_AS_STRING(w->out);
    return 0;
}

static int use_fallback(Writer *w, PyObject *obj) {
    PyObject *bytes = PyObject_CallOneArg(w->fallback, obj);
    if (bytes == NULL) return -1;
    int failed = put_bytes_object(w, bytes);
    Py_DECREF(bytes);
    return failed;
}

static int enc(Writer *w, PyObject *obj, Py_ssize_t depth);

/* whether `text` is one of the atom names the decoder gives back as True, False, None */
static int is_mapped_name(PyObject *text) {
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    if (len < 3 || len > 5) return 0;
    return PyUnicode_CompareWithASCIIString(text, "true") == 0 ||
           PyUnicode_CompareWithASCIIString(text, "false") == 0 ||
           PyUnicode_CompareWithASCIIString(text, "nil") == 0;
}

static int enc_atom(Writer *w, PyObject *text) {
    if (w->exact_types != NULL && is_mapped_name(text)) return use_fallback(w, text);
    PyObject *cached = PyDict_GetItemWithError(w->atoms, text);
    if (cached != NULL) return put_bytes_object(w, cached);
    if (PyErr_Occurred()) return -1;
    /* the Python encoder knows every rule (length limit, Latin-1 choice) and fills the cache */
    return use_fallback(w, text);
}

static int enc_int(Writer *w, PyObject *obj) {
    int overflow;
    long long value = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (value == -1 && PyErr_Occurred()) return -1;
    if (!overflow) {
        if (value >= 0 && value < 256) {
            unsigned char small[2] = {97, (unsigned char)value};
            return put(w, small, 2);
        }
        if (value >= INT32_MIN && value <= INT32_MAX) return put_tag32(w, 98, (uint32_t)value);
    }
    return use_fallback(w, obj); /* bignums: rare, and Python writes them simply */
}

static int enc_sequence(Writer *w, PyObject *list, Py_ssize_t depth) {
    Py_ssize_t count = PyList_GET_SIZE(list);
    if (count == 0) return put1(w, 106);
    if (count < 65536) {
        Py_ssize_t i;
        for (i = 0; i < count; i++) {
            PyObject *item = PyList_GET_ITEM(list, i);
            if (!PyLong_Check(item) || PyBool_Check(item)) break; /* IntEnum counts, bool not */
            if (w->exact_types != NULL && !PyLong_CheckExact(item)) break; /* (not in exact mode) */
            int overflow;
            long value = PyLong_AsLongAndOverflow(item, &overflow);
            if (overflow || value < 0 || value > 255) break;
        }
        if (i == count) {
            unsigned char head[3] = {107, count >> 8, count};
            if (put(w, head, 3) < 0 || grow(w, count) < 0) return -1;
            for (i = 0; i < count; i++)
                w->buf[w->len++] = (char)PyLong_AsLong(PyList_GET_ITEM(list, i));
            return 0;
        }
    }
    if (put_tag32(w, 108, (uint32_t)count) < 0) return -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        Py_INCREF(item);
        int failed = enc(w, item, depth + 1);
        Py_DECREF(item);
        if (failed) return -1;
    }
    return put1(w, 106);
}

static int enc_atom(Writer *w, PyObject *text);

/* `number` as an unsigned 32-bit int into *value; 1 if it is not one */
static int as_u32(PyObject *number, uint32_t *value) {
    unsigned long got = PyLong_Check(number) ? PyLong_AsUnsignedLong(number) : (unsigned long)-1;
    if (PyErr_Occurred()) { PyErr_Clear(); return 1; }
    if (got > UINT32_MAX) return 1;
    *value = (uint32_t)got;
    return 0;
}

/* the unsigned 32-bit int attribute `name` of `obj` into *value; 1 if it is not one */
static int get_u32(PyObject *obj, PyObject *name, uint32_t *value) {
    PyObject *attr = PyObject_GetAttr(obj, name);
    if (attr == NULL) { PyErr_Clear(); return 1; }
    int bad = as_u32(attr, value);
    Py_DECREF(attr);
    return bad;
}

/* NEW_PID_EXT / NEWER_REFERENCE_EXT from the fields of an ExtPid / ExtRef made in Python (as
   unpickled from a beamlet node); 1 when a field is not what the format holds (the fallback
   then says what is wrong) */
static int enc_ext_fields(Writer *w, PyObject *obj, int is_pid) {
    uint32_t words[5];
    Py_ssize_t count = 0;
    PyObject *node = PyObject_GetAttr(obj, str_node);
    if (node == NULL) { PyErr_Clear(); return 1; }
    if (!PyUnicode_CheckExact(node)) { Py_DECREF(node); return 1; }
    if (is_pid) {
        if (get_u32(obj, str_id, &words[0]) || get_u32(obj, str_serial, &words[1]) ||
            get_u32(obj, str_creation, &words[2])) { Py_DECREF(node); return 1; }
        count = 3;
    } else {
        PyObject *ids = PyObject_GetAttr(obj, str_ids);
        if (ids == NULL) PyErr_Clear();
        int bad = ids == NULL || !PyTuple_CheckExact(ids) || PyTuple_GET_SIZE(ids) < 1 ||
                  PyTuple_GET_SIZE(ids) > 4 || get_u32(obj, str_creation, &words[0]);
        for (Py_ssize_t i = 0; !bad && i < PyTuple_GET_SIZE(ids); i++)
            bad = as_u32(PyTuple_GET_ITEM(ids, i), &words[1 + i]);
        count = bad ? 0 : 1 + PyTuple_GET_SIZE(ids);
        Py_XDECREF(ids);
        if (bad) { Py_DECREF(node); return 1; }
    }
    unsigned char head[3] = {is_pid ? 88 : 90, 0, (unsigned char)(count - 1)};
    int failed = put(w, head, is_pid ? 1 : 3) < 0 || enc_atom(w, node) < 0;
    Py_DECREF(node);
    for (Py_ssize_t i = 0; i < count && !failed; i++)
        failed = put_u32(w, words[i]) < 0;
    return failed ? -1 : 0;
}

static int enc_raw_or_fallback(Writer *w, PyObject *obj) {
    PyObject *raw = PyObject_GetAttr(obj, str_raw);
    if (raw == NULL) return -1;
    int failed;
    if (PyBytes_Check(raw)) {
        failed = put_bytes_object(w, raw);
    } else {
        failed = enc_ext_fields(w, obj, Py_TYPE(obj) == (PyTypeObject *)ExtPid_type);
        if (failed == 1) failed = use_fallback(w, obj);
    }
    Py_DECREF(raw);
    return failed;
}

static int enc(Writer *w, PyObject *obj, Py_ssize_t depth);

static int enc_improper(Writer *w, PyObject *obj, Py_ssize_t depth) {
    PyObject *items = PyObject_GetAttr(obj, str_items);
    if (items == NULL) return -1;
    PyObject *tail = PyObject_GetAttr(obj, str_tail);
    int failed = tail == NULL || !PyTuple_CheckExact(items);
    if (!failed) {
        Py_ssize_t count = PyTuple_GET_SIZE(items);
        failed = put_tag32(w, 108, (uint32_t)count) < 0;
        for (Py_ssize_t i = 0; i < count && !failed; i++)
            failed = enc(w, PyTuple_GET_ITEM(items, i), depth + 1) < 0;
        failed = failed || enc(w, tail, depth + 1) < 0;
    } else if (tail != NULL) {
        PyErr_SetString(PyExc_TypeError, "ImproperList.items must be a tuple");
    }
    Py_DECREF(items);
    Py_XDECREF(tail);
    return failed ? -1 : 0;
}

/* Exit(pid, reason) is {:EXIT, pid, reason}; Down(ref, pid, reason) {:DOWN, ref, :process, pid, reason} */
static int enc_signal(Writer *w, PyObject *obj, int is_exit, Py_ssize_t depth) {
    unsigned char head[2] = {104, is_exit ? 3 : 5};
    if (put(w, head, 2) < 0 || enc_atom(w, is_exit ? str_EXIT : str_DOWN) < 0) return -1;
    if (!is_exit && enc(w, PyTuple_GET_ITEM(obj, 0), depth + 1) < 0) return -1;
    if (!is_exit && enc_atom(w, str_process) < 0) return -1;
    for (Py_ssize_t i = is_exit ? 0 : 1; i < PyTuple_GET_SIZE(obj); i++)
        if (enc(w, PyTuple_GET_ITEM(obj, i), depth + 1) < 0) return -1;
    return 0;
}

/* whether a plain tuple would decode as an Exit or a Down ({:EXIT, _, _},
   {:DOWN, _, :process, _, _}: the decoders' own test, so that no other tuple is refused) */
static int looks_like_signal(PyObject *tuple, Py_ssize_t arity) {
    if (arity != 3 && arity != 5) return 0;
    PyObject *first = PyTuple_GET_ITEM(tuple, 0);
    if (!PyUnicode_CheckExact(first) ||
        PyUnicode_Compare(first, arity == 3 ? str_EXIT : str_DOWN) != 0)
        return 0;
    if (arity == 3) return 1;
    PyObject *third = PyTuple_GET_ITEM(tuple, 2);
    return PyUnicode_CheckExact(third) && PyUnicode_Compare(third, str_process) == 0;
}

static int is_exact_type(PyObject *types, PyTypeObject *type) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(types); i++)
        if ((PyTypeObject *)PyTuple_GET_ITEM(types, i) == type) return 1;
    return 0;
}

/* (exact mode) 1 the first time `container` is met in the term, 0 after, -1 on error */
static int first_sight(Writer *w, PyObject *container) {
    for (int i = 0; i < w->container_count; i++)
        if (w->containers[i] == container) return 0;
    if (w->container_count < 8) {
        w->containers[w->container_count++] = container;
        return 1;
    }
    if (w->more_containers == NULL && (w->more_containers = PySet_New(NULL)) == NULL) return -1;
    PyObject *key = PyLong_FromVoidPtr(container);
    if (key == NULL) return -1;
    int seen = PySet_Contains(w->more_containers, key);
    if (seen == 0 && PySet_Add(w->more_containers, key) < 0) seen = -1;
    Py_DECREF(key);
    return seen < 0 ? -1 : !seen;
}

static int enc(Writer *w, PyObject *obj, Py_ssize_t depth) {
    if (depth > w->max_depth) {
        /* the fallback encodes it in Python, whose recursion limit reports a cyclic value */
        return use_fallback(w, obj);
    }
    PyTypeObject *type = Py_TYPE(obj);
    if (type == &PyUnicode_Type) return enc_atom(w, obj);
    if (type == &PyTuple_Type) {
        Py_ssize_t arity = PyTuple_GET_SIZE(obj);
        if (w->exact_types != NULL && looks_like_signal(obj, arity)) return use_fallback(w, obj);
        if (arity < 256) {
            unsigned char head[2] = {104, (unsigned char)arity};
            if (put(w, head, 2) < 0) return -1;
        } else if (put_tag32(w, 105, (uint32_t)arity) < 0) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < arity; i++)
            if (enc(w, PyTuple_GET_ITEM(obj, i), depth + 1) < 0) return -1;
        return 0;
    }
    if (type == &PyLong_Type) return enc_int(w, obj);
    if (type == &PyBytes_Type) {
        Py_ssize_t len = PyBytes_GET_SIZE(obj);
        if (len > (Py_ssize_t)UINT32_MAX) return use_fallback(w, obj);
        if (put_tag32(w, 109, (uint32_t)len) < 0) return -1;
        if (w->gather_from > 0 && len >= w->gather_from) return cut(w, obj);
        return put(w, PyBytes_AS_STRING(obj), len);
    }
    if (w->exact_types != NULL && (type == &PyList_Type || type == &PyDict_Type)) {
        int first = first_sight(w, obj);
        if (first < 0) return -1;
        if (!first) return use_fallback(w, obj); /* (which refuses it) */
    }
    if (type == &PyList_Type) return enc_sequence(w, obj, depth);
    if (type == &PyDict_Type) {
        if (put_tag32(w, 116, (uint32_t)PyDict_GET_SIZE(obj)) < 0) return -1;
        Py_ssize_t at = 0;
        PyObject *key, *value;
        Py_INCREF(obj);
        while (PyDict_Next(obj, &at, &key, &value)) {
            Py_INCREF(key);
            Py_INCREF(value);
            int failed = enc(w, key, depth + 1) < 0 || enc(w, value, depth + 1) < 0;
            Py_DECREF(key);
            Py_DECREF(value);
            if (failed) { Py_DECREF(obj); return -1; }
        }
        Py_DECREF(obj);
        return 0;
    }
    if (type == (PyTypeObject *)ExtPid_type || type == (PyTypeObject *)ExtRef_type)
        return enc_raw_or_fallback(w, obj);
    if (type == &PyFloat_Type) {
        double value = PyFloat_AS_DOUBLE(obj);
        if (!isfinite(value)) return use_fallback(w, obj);
        if (grow(w, 9) < 0) return -1;
        w->buf[w->len] = 70;
        if (PyFloat_Pack8(value, w->buf + w->len + 1, 0) < 0) return -1;
        w->len += 9;
        return 0;
    }
    if (obj == Py_True) return put_bytes_object(w, PyTuple_GET_ITEM(w->specials, 0));
    if (obj == Py_False) return put_bytes_object(w, PyTuple_GET_ITEM(w->specials, 1));
    if (obj == Py_None) return put_bytes_object(w, PyTuple_GET_ITEM(w->specials, 2));
    if (type == (PyTypeObject *)ImproperList_type) return enc_improper(w, obj, depth);
    if (type == (PyTypeObject *)Exit_type || type == (PyTypeObject *)Down_type)
        return enc_signal(w, obj, type == (PyTypeObject *)Exit_type, depth);
    if (type->tp_hash != PyObject_HashNotImplemented &&
        (w->exact_types == NULL || is_exact_type(w->exact_types, type))) {
        /* the codec remembers the bytes of the identities it was told of (a node's pids and
           refs, by identity): no call back into Python for them */
        PyObject *known = PyDict_GetItemWithError(w->atoms, obj);
        if (known != NULL) return put_bytes_object(w, known);
        if (PyErr_Occurred()) PyErr_Clear(); /* an unhashable value: the fallback says so */
    }
    return use_fallback(w, obj); /* ports, funs, bitstrings, hooks, subclasses, bignums */
}

/* A writer with an empty buffer; `common` is (atoms, specials, fallback, max_depth). */
static int start_writer(Writer *w, PyObject *const *common) {
    w->cap = 256;
    w->len = 0;
    w->out = PyBytes_FromStringAndSize(NULL, w->cap);
    if (w->out == NULL) return -1;
    w->buf = PyBytes_AS_STRING(w->out);
    w->atoms = common[0];
    w->specials = common[1];
    w->fallback = common[2];
    w->max_depth = PyLong_AsSsize_t(common[3]);
    w->exact_types = NULL;
    w->gather_from = 0;
    w->parts = NULL;
    w->container_count = 0;
    w->more_containers = NULL;
    w->limit = -1;
    w->too_big = 0;
    return 0;
}

/* encode_frame(atoms, specials, fallback, max_depth, exact_types | None, header: bytes,
   payload_fallback, control, payload, has_payload, limit) (the fixed arguments first, for a
   partial: `Codec.frame_encoder`) -> bytes, or None when it would be longer than limit:
   u32 length, header, then control and (if has_payload) payload without their 131 bytes
   (the payload in exact mode, with payload_fallback, when exact_types is given) - one
   distribution frame, written in one pass */
static PyObject *py_encode_frame(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 11 || !PyDict_CheckExact(args[0]) || !PyTuple_CheckExact(args[1]) ||
        PyTuple_GET_SIZE(args[1]) != 3 || (args[4] != Py_None && !PyTuple_CheckExact(args[4]))
        || !PyBytes_CheckExact(args[5])) {
        PyErr_SetString(PyExc_TypeError, "encode_frame(atoms, specials, fallback, max_depth, "
                        "exact_types, header, payload_fallback, control, payload, "
                        "has_payload, limit)");
        return NULL;
    }
    Writer w;
    if (start_writer(&w, args) < 0) return NULL;
    w.limit = PyLong_AsSsize_t(args[10]);
    if (w.limit < 0 && !PyErr_Occurred()) w.limit = 0;
    int has_payload = PyObject_IsTrue(args[9]);
    PyObject *result = NULL;
    if (!PyErr_Occurred() && has_payload >= 0 && grow(&w, 4) == 0) {
        w.len = 4;
        int failed = put_bytes_object(&w, args[5]) < 0 || enc(&w, args[7], 0) < 0;
        if (!failed && has_payload) {
            w.exact_types = args[4] == Py_None ? NULL : args[4];
            w.fallback = args[6];
            failed = enc(&w, args[8], 0) < 0;
        }
        if (!failed) {
            uint32_t size = (uint32_t)(w.len - 4);
            unsigned char head[4] = {size >> 24, size >> 16, size >> 8, size};
            memcpy(w.buf, head, 4);
            result = w.out;
            w.out = NULL;
            if (_PyBytes_Resize(&result, w.len) < 0) result = NULL;
        }
    }
    if (result == NULL && w.too_big && !PyErr_Occurred()) result = Py_NewRef(Py_None);
    Py_XDECREF(w.out);
    Py_XDECREF(w.more_containers);
    return result;
}

/* encode(term, atoms: dict, specials: (true, false, nil), fallback, max_depth[,
   exact_types: tuple | None[, gather_from: int]]) -> bytes, or a tuple of bytes parts when
   gathering left a binary uncopied */
static PyObject *py_encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs < 5 || nargs > 7 || !PyDict_CheckExact(args[1]) ||
        !PyTuple_CheckExact(args[2]) || PyTuple_GET_SIZE(args[2]) != 3 ||
        (nargs >= 6 && args[5] != Py_None && !PyTuple_CheckExact(args[5]))) {
        PyErr_SetString(PyExc_TypeError, "encode(term, atoms: dict, specials: tuple, fallback, "
                                         "max_depth[, exact_types: tuple | None[, "
                                         "gather_from: int]])");
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(args[2], i))) {
            PyErr_SetString(PyExc_TypeError, "specials are the bytes of true, false, nil");
            return NULL;
        }
    }
    Writer w;
    if (start_writer(&w, args + 1) < 0) return NULL;
    w.exact_types = (nargs >= 6 && args[5] != Py_None) ? args[5] : NULL;
    w.gather_from = nargs == 7 ? PyLong_AsSsize_t(args[6]) : 0;
    w.buf[w.len++] = (char)131;
    PyObject *result = NULL;
    if (!PyErr_Occurred() && enc(&w, args[0], 0) == 0) {
        result = w.out;  /* (NULL if resizing it failed: the error is set) */
        w.out = NULL;
        if (result != NULL && _PyBytes_Resize(&result, w.len) < 0) result = NULL;
        if (result != NULL && w.parts != NULL) {
            int failed = PyList_Append(w.parts, result) < 0;
            Py_SETREF(result, failed ? NULL : PyList_AsTuple(w.parts));
        }
    }
    Py_XDECREF(w.out);
    Py_XDECREF(w.parts);
    Py_XDECREF(w.more_containers);
    return result;
}

/* setup(ExtPid, ExtRef, ImproperList, Exit, Down): the classes etf.py defines. */
static PyObject *py_setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "setup(ExtPid, ExtRef, ImproperList, Exit, Down)");
        return NULL;
    }
    PyObject **slots[5] = {&ExtPid_type, &ExtRef_type, &ImproperList_type, &Exit_type,
                           &Down_type};
    for (int i = 0; i < 5; i++) {
        if (!PyType_Check(args[i])) {
            PyErr_SetString(PyExc_TypeError, "setup takes classes");
            return NULL;
        }
        Py_INCREF(args[i]);
        Py_XSETREF(*slots[i], args[i]);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"decode", (PyCFunction)(void (*)(void))py_decode, METH_FASTCALL,
     "decode(data: bytes | bytearray, pos, on_pid, on_ref, max_depth[, pid_cache]) -> (term, "
     "end), or None to let "
     "Python do it"},
    {"encode", (PyCFunction)(void (*)(void))py_encode, METH_FASTCALL,
     "encode(term, atoms, specials, fallback, max_depth[, exact_types[, gather_from]]) -> bytes "
     "| tuple[bytes, ...]"},
    {"find_binary", (PyCFunction)(void (*)(void))py_find_binary, METH_FASTCALL,
     "find_binary(data, pos, least) -> (at, size) | None"},
    {"reserve_binary", (PyCFunction)py_reserve_binary, METH_O,
     "reserve_binary(size) -> bytes (contents unset, for fill_binary)"},
    {"fill_binary", (PyCFunction)(void (*)(void))py_fill_binary, METH_FASTCALL,
     "fill_binary(binary, at, data)"},
    {"decode_frames", (PyCFunction)(void (*)(void))py_decode_frames, METH_FASTCALL,
     "decode_frames(on_pid, on_ref, max_depth, pid_cache, header, no_payload, data, "
     "largest, sequences) -> (end, items)"},
    {"encode_frame", (PyCFunction)(void (*)(void))py_encode_frame, METH_FASTCALL,
     "encode_frame(atoms, specials, fallback, max_depth, exact_types, header, "
     "payload_fallback, control, payload, has_payload, limit) -> bytes | None"},
    {"setup", (PyCFunction)(void (*)(void))py_setup, METH_FASTCALL,
     "setup(ExtPid, ExtRef, ImproperList, Exit, Down)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "beamlet.dist._etf",
    "The C fast path of beamlet.dist.etf (optional: etf.py works without it).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__etf(void) {
    struct { PyObject **slot; const char *text; } names[] = {
        {&str_node, "node"}, {&str_id, "id"}, {&str_serial, "serial"},
        {&str_creation, "creation"}, {&str_raw, "raw"}, {&str_ids, "ids"},
        {&str_items, "items"}, {&str_tail, "tail"}, {&str_EXIT, "EXIT"},
        {&str_DOWN, "DOWN"}, {&str_process, "process"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].text);
        if (*names[i].slot == NULL) return NULL;
    }
    return PyModule_Create(&module);
}
