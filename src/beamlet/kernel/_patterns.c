/* beamlet.kernel._patterns: the C accelerator of beamlet.kernel.patterns.

   match(pat, msg) and first_match(patterns, msg) implement the pattern language of `receive`
   exactly as the pure-Python functions in patterns.py do (that file's docstring is the rule):
   the same checks in the same order, through the same protocols (==, isinstance, callable,
   `in` and [] on a mapping), so a user's __eq__, predicate or dict subclass sees the same
   calls. What C saves is the interpreter around them: a reply's pattern `(tag, ANY)` is met
   once per GenServer.call, and matching it in Python took four calls and thirty lines.

   A tuple message whose class changes how it is measured or iterated (a subclass overriding
   __len__ or __iter__) is handed to the Python implementation, which configure() registers,
   so that such a class is treated by one code path only. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define MAX_SCALARS 16

static PyObject *any_pattern = NULL;              /* beamlet.kernel.terms.ANY */
static PyObject *python_match = NULL;             /* patterns._match_python */
static PyTypeObject *scalar_types[MAX_SCALARS];   /* patterns._SCALARS */
static int scalar_count = 0;

static int match(PyObject *pat, PyObject *msg);

static inline int
is_scalar_type(PyTypeObject *t)
{
    for (int i = 0; i < scalar_count; i++) {
        if (scalar_types[i] == t) {
            return 1;
        }
    }
    return 0;
}

/* bool(a == b), as Python's `==` computes it (no identity shortcut). */
static int
equal(PyObject *a, PyObject *b)
{
    PyObject *r = PyObject_RichCompare(a, b, Py_EQ);
    if (r == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(r);
    Py_DECREF(r);
    return truth;
}

/* patterns._scalar_eq: ``1`` does not match ``True`` or ``1.0``, a str subclass matches. */
static int
scalar_eq(PyObject *pat, PyTypeObject *t, PyObject *msg)
{
    PyTypeObject *tm = Py_TYPE(msg);
    if (tm == t) {
        return equal(pat, msg);
    }
    if (tm == &PyBool_Type) {
        return 0;
    }
    int inst = PyObject_IsInstance(msg, (PyObject *)t);
    if (inst <= 0) {
        return inst;
    }
    return equal(pat, msg);
}

/* A tuple whose length and items are its storage (its class overrides neither). */
static inline int
plain_tuple(PyObject *obj)
{
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &PyTuple_Type) {
        return 1;
    }
    return PyTuple_Check(obj) && t->tp_iter == PyTuple_Type.tp_iter
        && t->tp_as_sequence != NULL
        && t->tp_as_sequence->sq_length == PyTuple_Type.tp_as_sequence->sq_length;
}

/* One step of patterns._match_items: the item ``m`` against its pattern ``p``. */
static inline int
match_item(PyObject *p, PyObject *m)
{
    if (p == m || p == any_pattern) {
        return 1;
    }
    PyTypeObject *tp = Py_TYPE(p);
    return is_scalar_type(tp) ? scalar_eq(p, tp, m) : match(p, m);
}

/* patterns._match_items over n items of two sequences whose items are at pats[i], msgs[i]. */
static int
match_items(PyObject *const *pats, PyObject *const *msgs, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        int r = match_item(pats[i], msgs[i]);
        if (r <= 0) {
            return r;
        }
    }
    return 1;
}

/* The items of two lists, read afresh at each step as zip() does (a predicate may change
   either list while they are matched). */
static int
match_list_items(PyObject *pats, PyObject *msgs)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(pats) && i < PyList_GET_SIZE(msgs); i++) {
        PyObject *p = PyList_GET_ITEM(pats, i), *m = PyList_GET_ITEM(msgs, i);
        Py_INCREF(p);
        Py_INCREF(m);
        int r = match_item(p, m);
        Py_DECREF(p);
        Py_DECREF(m);
        if (r <= 0) {
            return r;
        }
    }
    return 1;
}

static int
call_python_match(PyObject *pat, PyObject *msg)
{
    PyObject *r = PyObject_CallFunctionObjArgs(python_match, pat, msg, NULL);
    if (r == NULL) {
        return -1;
    }
    int truth = PyObject_IsTrue(r);
    Py_DECREF(r);
    return truth;
}

/* Element-wise: a plain tuple pattern when the lengths agree, a NamedTuple one over the
   shorter of the two (zip's). A tuple of a class that measures or iterates itself goes to
   Python. */
static int
match_tuple_items(PyObject *pat, PyObject *msg, int same_length)
{
    if (!plain_tuple(msg) || !plain_tuple(pat)) {
        return call_python_match(pat, msg);
    }
    Py_ssize_t n = PyTuple_GET_SIZE(pat), m = PyTuple_GET_SIZE(msg);
    if (same_length && m != n) {
        return 0;
    }
    return match_items(&PyTuple_GET_ITEM(pat, 0), &PyTuple_GET_ITEM(msg, 0), m < n ? m : n);
}

static int
match_dict(PyObject *pat, PyObject *msg)
{
    int inst = PyDict_Check(msg) ? 1 : PyObject_IsInstance(msg, (PyObject *)&PyDict_Type);
    if (inst <= 0) {
        return inst;
    }
    PyObject *items = PyDict_Items(pat);  /* (a snapshot: a predicate may change pat) */
    if (items == NULL) {
        return -1;
    }
    int result = 1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items) && result == 1; i++) {
        PyObject *kv = PyList_GET_ITEM(items, i);
        PyObject *key = PyTuple_GET_ITEM(kv, 0), *value = PyTuple_GET_ITEM(kv, 1);
        int has = PySequence_Contains(msg, key);
        if (has <= 0) {
            result = has;
            break;
        }
        PyObject *got = PyObject_GetItem(msg, key);
        if (got == NULL) {
            result = -1;
            break;
        }
        result = match(value, got);
        Py_DECREF(got);
    }
    Py_DECREF(items);
    return result;
}

/* patterns.match; 1, 0, or -1 with an exception set. */
static int
match(PyObject *pat, PyObject *msg)
{
    PyTypeObject *t = Py_TYPE(pat);
    if (is_scalar_type(t)) {
        return pat == msg ? 1 : scalar_eq(pat, t, msg);
    }
    if (pat == any_pattern) {
        return 1;
    }
    if (Py_EnterRecursiveCall(" in a receive pattern")) {
        return -1;
    }
    int r;
    if (t == &PyTuple_Type) {
        r = PyTuple_Check(msg) ? 1 : PyObject_IsInstance(msg, (PyObject *)&PyTuple_Type);
        if (r == 1) {
            r = match_tuple_items(pat, msg, 1);
        }
    }
    else if ((r = PyObject_IsInstance(pat, (PyObject *)&PyType_Type)) != 0) {
        if (r == 1) {
            r = PyObject_IsInstance(msg, pat);
        }
    }
    else if ((r = PyObject_IsInstance(pat, (PyObject *)&PyTuple_Type)) != 0) {
        /* a NamedTuple pattern: the same class, then element-wise */
        if (r == 1) {
            r = Py_TYPE(msg) != t ? 0 : match_tuple_items(pat, msg, 0);
        }
    }
    else if (t == &PyList_Type) {
        r = Py_TYPE(msg) != &PyList_Type || PyList_GET_SIZE(msg) != PyList_GET_SIZE(pat)
            ? 0 : match_list_items(pat, msg);
    }
    else if (t == &PyDict_Type) {
        r = match_dict(pat, msg);
    }
    else if (PyCallable_Check(pat)) {
        PyObject *res = PyObject_CallOneArg(pat, msg);
        if (res == NULL) {
            r = -1;
        }
        else {
            r = PyObject_IsTrue(res);
            Py_DECREF(res);
        }
    }
    else {
        r = equal(pat, msg);
    }
    Py_LeaveRecursiveCall();
    return r;
}

/* Whether a call may go on: two arguments (else a TypeError naming ``signature``), and the
   module configured. */
static int
callable_with(Py_ssize_t nargs, const char *signature)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s takes two arguments", signature);
        return 0;
    }
    if (any_pattern == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "beamlet.kernel._patterns is not configured (import beamlet.kernel.patterns)");
        return 0;
    }
    return 1;
}

static PyObject *
py_match(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!callable_with(nargs, "match(pat, msg)")) {
        return NULL;
    }
    int r = match(args[0], args[1]);
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyObject *
py_first_match(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (!callable_with(nargs, "first_match(patterns, msg)")) {
        return NULL;
    }
    PyObject *patterns = args[0], *msg = args[1];
    if (!PyTuple_Check(patterns)) {
        PyErr_SetString(PyExc_TypeError, "first_match takes a tuple of patterns");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(patterns); i++) {
        int r = match(PyTuple_GET_ITEM(patterns, i), msg);
        if (r < 0) {
            return NULL;
        }
        if (r) {
            Py_RETURN_TRUE;
        }
    }
    Py_RETURN_FALSE;
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *any, *scalars, *fallback;
    if (!PyArg_ParseTuple(args, "OO!O:configure", &any, &PyTuple_Type, &scalars, &fallback)) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(scalars);
    if (n > MAX_SCALARS) {
        PyErr_Format(PyExc_ValueError, "configure: at most %d scalar types", MAX_SCALARS);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyType_Check(PyTuple_GET_ITEM(scalars, i))) {
            PyErr_SetString(PyExc_TypeError, "configure: the scalars must be types");
            return NULL;
        }
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "configure: the fallback must be callable");
        return NULL;
    }
    for (int i = 0; i < scalar_count; i++) {
        Py_CLEAR(scalar_types[i]);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyTuple_GET_ITEM(scalars, i);
        Py_INCREF(t);
        scalar_types[i] = (PyTypeObject *)t;
    }
    scalar_count = (int)n;
    Py_INCREF(any);
    Py_XSETREF(any_pattern, any);
    Py_INCREF(fallback);
    Py_XSETREF(python_match, fallback);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"match", (PyCFunction)(void (*)(void))py_match, METH_FASTCALL,
     "match($module, pat, msg, /)\n--\n\nWhether ``msg`` matches the pattern ``pat``."},
    {"first_match", (PyCFunction)(void (*)(void))py_first_match, METH_FASTCALL,
     "first_match($module, patterns, msg, /)\n--\n\nWhether ``msg`` matches any of ``patterns``."},
    {"configure", configure, METH_VARARGS,
     "configure($module, any, scalars, fallback, /)\n--\n\n"
     "The wildcard, the scalar types (a tuple) and the Python match for odd tuples."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "beamlet.kernel._patterns",
    "The C accelerator of beamlet.kernel.patterns.", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__patterns(void)
{
    return PyModule_Create(&module_def);
}
