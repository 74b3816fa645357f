/* beamlet.kernel._isolate: the C accelerator of beamlet.kernel.isolation.

   isolate(obj) gives a message its own copy of every mutable builtin container inside it and
   returns obj itself when there is none. The rules (what is shared, what is copied) are written
   once, in isolation.py's docstring; this file implements the same rules as the pure-Python
   version there, and hands the rare cases (subclasses of list/dict/set/bytearray, rebuilt
   tuple subclasses, dataclass instances) to the Python helpers that isolation.py registers
   with configure(), so both implementations treat them with the same code.

   Why C: sending an immutable message such as (pid, 1) must cost a few tens of nanoseconds,
   which a Python-level walk cannot do. The common shapes are recognised by comparing type
   pointers; nothing is allocated until a mutable container is met.

   Identity inside one message is kept by a memo from original to copy, a small open-addressing
   table keyed by address that holds strong references to both (so no address is reused while
   the call runs). A container whose reference count shows that only its parent refers to it
   cannot be met twice, so it skips the memo. Every caller of copy_value() holds one reference
   of its own to the object it passes, hence the threshold of 2 in SEEN_ELSEWHERE. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* ---- configuration set by isolation.py ------------------------------------------------- */

static PyTypeObject *pid_type = NULL;       /* beamlet.kernel.terms.Pid */
static PyTypeObject *ref_type = NULL;       /* beamlet.kernel.terms.Ref */
static PyTypeObject *timer_ref_type = NULL; /* beamlet.kernel.terms.TimerRef */
static PyObject *copy_special = NULL;       /* (obj, copier) -> copy, for subclasses/dataclasses */
static PyObject *rebuild_tuple = NULL;      /* (original, items, copier) -> tuple subclass copy */
static PyObject *str_dataclass_fields = NULL;

/* ---- the memo ---------------------------------------------------------------------------- */

#define INLINE_SLOTS 16

typedef struct {
    PyObject *key;   /* the original (strong reference) */
    PyObject *value; /* its copy (strong reference) */
} MemoEntry;

typedef struct {
    MemoEntry *table;     /* NULL until the first entry */
    size_t mask;          /* capacity - 1; capacity is a power of two */
    Py_ssize_t used;
    PyObject *copier;     /* the Copier handed to Python helpers, made on first need */
    MemoEntry inline_table[INLINE_SLOTS];
} Ctx;

static inline size_t
memo_slot(const void *key, size_t mask)
{
    uintptr_t a = (uintptr_t)key;
    return (size_t)((a >> 4) ^ (a >> 13)) & mask;
}

static PyObject *
memo_get(Ctx *ctx, PyObject *key)
{
    if (ctx->used == 0) {
        return NULL;
    }
    size_t i = memo_slot(key, ctx->mask);
    for (;;) {
        MemoEntry *e = &ctx->table[i];
        if (e->key == key) {
            return e->value;
        }
        if (e->key == NULL) {
            return NULL;
        }
        i = (i + 1) & ctx->mask;
    }
}

static void
memo_insert_fresh(MemoEntry *table, size_t mask, PyObject *key, PyObject *value)
{
    size_t i = memo_slot(key, mask);
    while (table[i].key != NULL) {
        i = (i + 1) & mask;
    }
    table[i].key = key;
    table[i].value = value;
}

static int
memo_grow(Ctx *ctx)
{
    size_t capacity = (ctx->mask + 1) * 4;
    MemoEntry *bigger = PyMem_Calloc(capacity, sizeof(MemoEntry));
    if (bigger == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i <= ctx->mask; i++) {
        if (ctx->table[i].key != NULL) {
            memo_insert_fresh(bigger, capacity - 1, ctx->table[i].key, ctx->table[i].value);
        }
    }
    if (ctx->table != ctx->inline_table) {
        PyMem_Free(ctx->table);
    }
    ctx->table = bigger;
    ctx->mask = capacity - 1;
    return 0;
}

/* Remember key -> value; a key already present keeps its first copy. */
static int
memo_put(Ctx *ctx, PyObject *key, PyObject *value)
{
    if (ctx->table == NULL) {
        memset(ctx->inline_table, 0, sizeof(ctx->inline_table));
        ctx->table = ctx->inline_table;
        ctx->mask = INLINE_SLOTS - 1;
    }
    if (memo_get(ctx, key) != NULL) {
        return 0;
    }
    if ((size_t)(ctx->used + 1) * 2 > ctx->mask + 1 && memo_grow(ctx) < 0) {
        return -1;
    }
    Py_INCREF(key);
    Py_INCREF(value);
    memo_insert_fresh(ctx->table, ctx->mask, key, value);
    ctx->used++;
    return 0;
}

static void
memo_clear(Ctx *ctx)
{
    if (ctx->table == NULL) {
        return;
    }
    for (size_t i = 0; i <= ctx->mask; i++) {
        if (ctx->table[i].key != NULL) {
            Py_DECREF(ctx->table[i].key);
            Py_DECREF(ctx->table[i].value);
        }
    }
    if (ctx->table != ctx->inline_table) {
        PyMem_Free(ctx->table);
    }
    ctx->table = NULL;
    ctx->used = 0;
}

/* More references than the caller's own and its one container's: may be met again. */
#define SEEN_ELSEWHERE(o) (Py_REFCNT(o) > 2)

/* ---- shared values --------------------------------------------------------------------- */

/* Values shared without looking inside: the exact immutable scalars, pids and refs. Anything
   else that is not a container or a dataclass is shared too, but found on the slower path. */
static inline int
is_atom(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    return t == &PyLong_Type || t == &PyUnicode_Type || o == Py_None || t == pid_type ||
           t == ref_type || t == &PyFloat_Type || t == &PyBool_Type || t == &PyBytes_Type ||
           t == timer_ref_type || t == &PyFrozenSet_Type || t == &PyComplex_Type;
}

static PyObject *copy_value(PyObject *o, Ctx *ctx);

/* copy_value() on a borrowed item: the extra reference keeps it alive while Python helpers run. */
static inline PyObject *
copy_item(PyObject *item, Ctx *ctx)
{
    if (is_atom(item)) {
        return Py_NewRef(item);
    }
    Py_INCREF(item);
    PyObject *copy = copy_value(item, ctx);
    Py_DECREF(item);
    return copy;
}

/* ---- the Copier: the current call's memo and recursion, handed to Python helpers ---------- */

typedef struct {
    PyObject_HEAD
    Ctx *ctx; /* NULL once the isolate() call that made it has returned */
} CopierObject;

static Ctx *
copier_ctx(CopierObject *self)
{
    if (self->ctx == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "this copier belongs to a finished isolate() call");
    }
    return self->ctx;
}

static PyObject *
copier_call(CopierObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *obj;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "a copier takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_UnpackTuple(args, "copier", 1, 1, &obj)) {
        return NULL;
    }
    Ctx *ctx = copier_ctx(self);
    return ctx == NULL ? NULL : copy_item(obj, ctx);
}

static PyObject *
copier_remember(CopierObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "remember(original, copy) takes two arguments");
        return NULL;
    }
    Ctx *ctx = copier_ctx(self);
    if (ctx == NULL || memo_put(ctx, args[0], args[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
copier_recall(CopierObject *self, PyObject *original)
{
    Ctx *ctx = copier_ctx(self);
    if (ctx == NULL) {
        return NULL;
    }
    PyObject *copy = memo_get(ctx, original);
    return Py_NewRef(copy != NULL ? copy : Py_None);
}

static PyMethodDef copier_methods[] = {
    {"remember", (PyCFunction)(void (*)(void))copier_remember, METH_FASTCALL,
     "remember(original, copy): later meetings of original in this message get copy."},
    {"recall", (PyCFunction)copier_recall, METH_O,
     "recall(original) -> the copy remembered for original, or None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CopierType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "beamlet.kernel._isolate.Copier",
    .tp_basicsize = sizeof(CopierObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Isolates the parts of one message: call it on a part; remember/recall copies.",
    .tp_call = (ternaryfunc)copier_call,
    .tp_methods = copier_methods,
};

static PyObject *
get_copier(Ctx *ctx)
{
    if (copy_special == NULL || rebuild_tuple == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "beamlet.kernel._isolate is not configured (import beamlet.kernel.isolation)");
        return NULL;
    }
    if (ctx->copier == NULL) {
        CopierObject *copier = PyObject_New(CopierObject, &CopierType);
        if (copier == NULL) {
            return NULL;
        }
        copier->ctx = ctx;
        ctx->copier = (PyObject *)copier;
    }
    return ctx->copier;
}

/* ---- the containers ---------------------------------------------------------------------- */

/* A tuple (or tuple subclass) is shared when every element is; otherwise rebuilt. As for
   deepcopy, a tuple met again through a cycle while its elements were being copied gives the
   copy made on that inner meeting, so the result stays one consistent graph. */
static PyObject *
copy_tuple(PyObject *o, Ctx *ctx, int exact)
{
    Py_ssize_t n = PyTuple_GET_SIZE(o);
    PyObject *items = NULL;
    int seen_elsewhere = SEEN_ELSEWHERE(o);
    if (seen_elsewhere) {
        PyObject *known = memo_get(ctx, o);
        if (known != NULL) {
            return Py_NewRef(known);
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(o, i);
        if (is_atom(item)) {
            if (items != NULL) {
                PyTuple_SET_ITEM(items, i, Py_NewRef(item));
            }
            continue;
        }
        PyObject *copy = copy_item(item, ctx);
        if (copy == NULL) {
            Py_XDECREF(items);
            return NULL;
        }
        if (items == NULL) {
            if (copy == item) {
                Py_DECREF(copy);
                continue;
            }
            items = PyTuple_New(n);
            if (items == NULL) {
                Py_DECREF(copy);
                return NULL;
            }
            for (Py_ssize_t j = 0; j < i; j++) {
                PyTuple_SET_ITEM(items, j, Py_NewRef(PyTuple_GET_ITEM(o, j)));
            }
        }
        PyTuple_SET_ITEM(items, i, copy);
    }
    if (items == NULL) {
        /* Remembered too when met elsewhere: a DAG of shared tuples is walked once per node,
           not once per path (which grows exponentially with its depth). */
        if (seen_elsewhere && memo_put(ctx, o, o) < 0) {
            return NULL;
        }
        return Py_NewRef(o);
    }
    if (seen_elsewhere) {
        PyObject *known = memo_get(ctx, o);
        if (known != NULL) {
            Py_DECREF(items);
            return Py_NewRef(known);
        }
    }
    PyObject *result = items;
    if (!exact) {
        PyObject *copier = get_copier(ctx);
        result = copier == NULL ? NULL
                                : PyObject_CallFunctionObjArgs(rebuild_tuple, o, items, copier, NULL);
        Py_DECREF(items);
        if (result == NULL) {
            return NULL;
        }
    }
    if (seen_elsewhere && memo_put(ctx, o, result) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* A new list; registered before its items are copied, so a list that contains itself works.
   Slots not filled yet hold None, never NULL, in case a Python helper meets the list. */
static PyObject *
copy_list(PyObject *o, Ctx *ctx)
{
    if (SEEN_ELSEWHERE(o)) {
        PyObject *known = memo_get(ctx, o);
        if (known != NULL) {
            return Py_NewRef(known);
        }
    }
    Py_ssize_t n = PyList_GET_SIZE(o);
    PyObject *result = PyList_New(n);
    if (result == NULL) {
        return NULL;
    }
    Py_ssize_t i = 0;
    for (; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(o, i);
        if (!is_atom(item)) {
            break;
        }
        PyList_SET_ITEM(result, i, Py_NewRef(item));
    }
    if (SEEN_ELSEWHERE(o) && memo_put(ctx, o, result) < 0) {
        for (Py_ssize_t j = i; j < n; j++) {
            PyList_SET_ITEM(result, j, Py_NewRef(Py_None));
        }
        Py_DECREF(result);
        return NULL;
    }
    if (i == n) {
        return result;
    }
    for (Py_ssize_t j = i; j < n; j++) {
        PyList_SET_ITEM(result, j, Py_NewRef(Py_None));
    }
    /* Bounded by both sizes: a Python helper could shrink either list meanwhile. */
    for (; i < PyList_GET_SIZE(o) && i < PyList_GET_SIZE(result); i++) {
        PyObject *copy = copy_item(PyList_GET_ITEM(o, i), ctx);
        if (copy == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        if (i < PyList_GET_SIZE(result)) {
            PyObject *placeholder = PyList_GET_ITEM(result, i);
            PyList_SET_ITEM(result, i, copy);
            Py_DECREF(placeholder);
        }
        else {
            Py_DECREF(copy);
        }
    }
    return result;
}

/* A new dict: PyDict_Copy when every key and value is an atom, else built pair by pair
   (keys are isolated too: a hashable key may be a mutable dataclass compared by identity). */
static PyObject *
copy_dict(PyObject *o, Ctx *ctx)
{
    int seen_elsewhere = SEEN_ELSEWHERE(o);
    if (seen_elsewhere) {
        PyObject *known = memo_get(ctx, o);
        if (known != NULL) {
            return Py_NewRef(known);
        }
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    int only_atoms = 1;
    while (PyDict_Next(o, &pos, &key, &value)) {
        if (!is_atom(key) || !is_atom(value)) {
            only_atoms = 0;
            break;
        }
    }
    PyObject *result = only_atoms ? PyDict_Copy(o) : PyDict_New();
    if (result == NULL) {
        return NULL;
    }
    if (seen_elsewhere && memo_put(ctx, o, result) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    if (only_atoms) {
        return result;
    }
    pos = 0;
    while (PyDict_Next(o, &pos, &key, &value)) {
        /* The key is held while the value is copied (which may run Python code that empties
           the dict); the value is held by copy_item alone, so its reference count still says
           whether anything else refers to it. */
        Py_INCREF(key);
        PyObject *value_copy = copy_item(value, ctx);
        PyObject *key_copy = value_copy == NULL ? NULL : copy_item(key, ctx);
        int failed = key_copy == NULL || PyDict_SetItem(result, key_copy, value_copy) < 0;
        Py_DECREF(key);
        Py_XDECREF(key_copy);
        Py_XDECREF(value_copy);
        if (failed) {
            Py_DECREF(result);
            return NULL;
        }
    }
    return result;
}

/* A new set: a table copy when every element is an atom, else element by element. */
static PyObject *
copy_set(PyObject *o, Ctx *ctx)
{
    int seen_elsewhere = SEEN_ELSEWHERE(o);
    if (seen_elsewhere) {
        PyObject *known = memo_get(ctx, o);
        if (known != NULL) {
            return Py_NewRef(known);
        }
    }
    PyObject *iterator = PyObject_GetIter(o);
    if (iterator == NULL) {
        return NULL;
    }
    PyObject *element;
    int only_atoms = 1;
    while (only_atoms && (element = PyIter_Next(iterator)) != NULL) {
        only_atoms = is_atom(element);
        Py_DECREF(element);
    }
    Py_DECREF(iterator);
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *result = PySet_New(only_atoms ? o : NULL);
    if (result == NULL) {
        return NULL;
    }
    if (seen_elsewhere && memo_put(ctx, o, result) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    if (only_atoms) {
        return result;
    }
    /* Iterate a snapshot: copying an element may run Python code. */
    PyObject *elements = PySequence_List(o);
    if (elements == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(elements); i++) {
        PyObject *copy = copy_item(PyList_GET_ITEM(elements, i), ctx);
        if (copy == NULL || PySet_Add(result, copy) < 0) {
            Py_XDECREF(copy);
            Py_DECREF(elements);
            Py_DECREF(result);
            return NULL;
        }
        Py_DECREF(copy);
    }
    Py_DECREF(elements);
    return result;
}

static PyObject *
copy_bytearray(PyObject *o, Ctx *ctx)
{
    int seen_elsewhere = SEEN_ELSEWHERE(o);
    if (seen_elsewhere) {
        PyObject *known = memo_get(ctx, o);
        if (known != NULL) {
            return Py_NewRef(known);
        }
    }
    PyObject *result =
        PyByteArray_FromStringAndSize(PyByteArray_AS_STRING(o), PyByteArray_GET_SIZE(o));
    if (result != NULL && seen_elsewhere && memo_put(ctx, o, result) < 0) {
        Py_CLEAR(result);
    }
    return result;
}

/* Everything that is not an exact builtin: tuple subclasses element-wise here; subclasses of
   the mutable containers and dataclass instances by the Python helper; exceptions and all the
   rest shared. */
static PyObject *
copy_other(PyObject *o, Ctx *ctx)
{
    PyTypeObject *t = Py_TYPE(o);
    if (PyType_FastSubclass(t, Py_TPFLAGS_TUPLE_SUBCLASS)) {
        return copy_tuple(o, ctx, 0);
    }
    if (PyType_FastSubclass(t, Py_TPFLAGS_BASE_EXC_SUBCLASS)) {
        return Py_NewRef(o);
    }
    int special = PyType_FastSubclass(t, Py_TPFLAGS_LIST_SUBCLASS | Py_TPFLAGS_DICT_SUBCLASS) ||
                  PyType_IsSubtype(t, &PySet_Type) || PyType_IsSubtype(t, &PyByteArray_Type) ||
                  _PyType_Lookup(t, str_dataclass_fields) != NULL;
    if (!special) {
        return Py_NewRef(o);
    }
    if (SEEN_ELSEWHERE(o)) {
        PyObject *known = memo_get(ctx, o);
        if (known != NULL) {
            return Py_NewRef(known);
        }
    }
    PyObject *copier = get_copier(ctx);
    return copier == NULL ? NULL : PyObject_CallFunctionObjArgs(copy_special, o, copier, NULL);
}

static PyObject *
copy_value(PyObject *o, Ctx *ctx)
{
    if (is_atom(o)) {
        return Py_NewRef(o);
    }
    if (Py_EnterRecursiveCall(" while isolating a message")) {
        return NULL;
    }
    PyTypeObject *t = Py_TYPE(o);
    PyObject *result;
    if (t == &PyTuple_Type) {
        result = copy_tuple(o, ctx, 1);
    }
    else if (t == &PyList_Type) {
        result = copy_list(o, ctx);
    }
    else if (t == &PyDict_Type) {
        result = copy_dict(o, ctx);
    }
    else if (t == &PySet_Type) {
        result = copy_set(o, ctx);
    }
    else if (t == &PyByteArray_Type) {
        result = copy_bytearray(o, ctx);
    }
    else {
        result = copy_other(o, ctx);
    }
    Py_LeaveRecursiveCall();
    return result;
}

/* ---- module functions ---------------------------------------------------------------------- */

static PyObject *
isolate_walk(PyObject *obj)
{
    Ctx ctx;
    ctx.table = NULL;
    ctx.mask = 0;
    ctx.used = 0;
    ctx.copier = NULL;
    Py_INCREF(obj);
    PyObject *result = copy_value(obj, &ctx);
    Py_DECREF(obj);
    if (ctx.copier != NULL) {
        ((CopierObject *)ctx.copier)->ctx = NULL;
        Py_DECREF(ctx.copier);
    }
    memo_clear(&ctx);
    return result;
}

/* Whether o is an atom or an exact tuple of such, nested at most `depth` tuples deep: the
   shape of nearly every immutable message, recognised before any walk is set up. */
static int
plainly_shared(PyObject *o, int depth)
{
    if (!Py_IS_TYPE(o, &PyTuple_Type)) {
        return is_atom(o);
    }
    if (depth == 0) {
        return 0;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(o);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!plainly_shared(PyTuple_GET_ITEM(o, i), depth - 1)) {
            return 0;
        }
    }
    return 1;
}

#define PLAINLY_SHARED_DEPTH 4

static int
list_of_atoms(PyObject *o)
{
    Py_ssize_t n = PyList_GET_SIZE(o);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!is_atom(PyList_GET_ITEM(o, i))) {
            return 0;
        }
    }
    return 1;
}

static int
dict_of_atoms(PyObject *o)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(o, &pos, &key, &value)) {
        if (!is_atom(key) || !is_atom(value)) {
            return 0;
        }
    }
    return 1;
}

static PyObject *
isolate(PyObject *module, PyObject *obj)
{
    if (plainly_shared(obj, PLAINLY_SHARED_DEPTH)) {
        return Py_NewRef(obj);
    }
    /* A flat list or dict of atoms as the whole message: nothing else in it can refer to it,
       so it is copied without a memo. */
    if (Py_IS_TYPE(obj, &PyList_Type) && list_of_atoms(obj)) {
        return PyList_GetSlice(obj, 0, PyList_GET_SIZE(obj));
    }
    if (Py_IS_TYPE(obj, &PyDict_Type) && dict_of_atoms(obj)) {
        return PyDict_Copy(obj);
    }
    return isolate_walk(obj);
}

static int
set_type(PyTypeObject **slot, PyObject *value, const char *name)
{
    if (!PyType_Check(value)) {
        PyErr_Format(PyExc_TypeError, "configure: %s must be a type", name);
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(*slot, (PyTypeObject *)value);
    return 0;
}

static int
set_callable(PyObject **slot, PyObject *value, const char *name)
{
    if (!PyCallable_Check(value)) {
        PyErr_Format(PyExc_TypeError, "configure: %s must be callable", name);
        return -1;
    }
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
    return 0;
}

static PyObject *
configure(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"pid_type", "ref_type", "timer_ref_type", "copy_special",
                               "rebuild_tuple", NULL};
    PyObject *pid, *ref, *timer_ref, *special, *rebuild;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO:configure", keywords, &pid, &ref,
                                     &timer_ref, &special, &rebuild)) {
        return NULL;
    }
    if (set_type(&pid_type, pid, "pid_type") < 0 || set_type(&ref_type, ref, "ref_type") < 0 ||
        set_type(&timer_ref_type, timer_ref, "timer_ref_type") < 0 ||
        set_callable(&copy_special, special, "copy_special") < 0 ||
        set_callable(&rebuild_tuple, rebuild, "rebuild_tuple") < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
share(PyObject *module, PyObject *obj)
{
    return Py_NewRef(obj);
}

/* Messages counted as they are isolated (or shared) on their way to a mailbox: what a node's
   messages/s is made of. A C counter: a Python int would allocate on every send. */
static unsigned long long message_count = 0;

static PyObject *
isolate_message(PyObject *module, PyObject *obj)
{
    message_count++;
    return isolate(module, obj);
}

static PyObject *
share_message(PyObject *module, PyObject *obj)
{
    message_count++;
    return Py_NewRef(obj);
}

static PyObject *
messages(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLongLong(message_count);
}

static PyMethodDef module_methods[] = {
    {"isolate_message", (PyCFunction)isolate_message, METH_O,
     "isolate_message($module, obj, /)\n--\n\n`isolate`, counting one message."},
    {"share_message", (PyCFunction)share_message, METH_O,
     "share_message($module, obj, /)\n--\n\n`share`, counting one message."},
    {"messages", (PyCFunction)messages, METH_NOARGS,
     "messages($module, /)\n--\n\nHow many messages isolate_message and share_message saw."},
    {"share", (PyCFunction)share, METH_O,
     "share($module, obj, /)\n--\n\n"
     "obj itself: what a node started with isolation=\"share\" does to a message."},
    {"isolate", (PyCFunction)isolate, METH_O,
     "isolate($module, obj, /)\n--\n\n"
     "obj itself when nothing inside it is mutable, else a copy in which every mutable builtin "
     "container is a new object (the rules: beamlet.kernel.isolation)."},
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "configure($module, /, pid_type, ref_type, timer_ref_type, copy_special, rebuild_tuple)"
     "\n--\n\n"
     "The types shared at once and the Python helpers for subclasses and dataclasses."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef isolate_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "beamlet.kernel._isolate",
    .m_doc = "C accelerator of beamlet.kernel.isolation: isolate(obj) for messages.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__isolate(void)
{
    if (PyType_Ready(&CopierType) < 0) {
        return NULL;
    }
    str_dataclass_fields = PyUnicode_InternFromString("__dataclass_fields__");
    if (str_dataclass_fields == NULL) {
        return NULL;
    }
    return PyModule_Create(&isolate_module);
}
