/* The iterator of `for k in db` (and of a TableProxy): keys in key order,
 * read lazily through a cursor, so a large database is never copied into a
 * list first. Like a dict, it raises RuntimeError when the table's size
 * changes while it runs, and it holds its mapping alive; once the database is
 * closed, next() raises DatabaseClosedError. */
#include "dictsqlite_v4.h"
#include "mapping.h"
#include "scan.h"

typedef struct {
    PyObject_HEAD
    PyObject *mapping; /* the DictSQLiteV4 or TableProxy iterated */
    ds_cursor cursor;
    Py_ssize_t start_len;
    int finished;
} KeyIteratorObject;

PyObject *ds_key_iterator_new(PyObject *mapping)
{
    DictSQLiteV4Object *db = DS_DB(mapping);
    PyTypeObject *tp = db->state->KeyIterator_Type;
    KeyIteratorObject *it = PyObject_GC_New(KeyIteratorObject, tp);
    if (!it)
        return NULL;
    it->mapping = Py_NewRef(mapping);
    it->finished = 0;
    ds_cursor_init(&it->cursor, db, DS_NS(mapping), 0, 0);
    it->start_len = dsmap_length(mapping);
    if (it->start_len < 0) {
        it->finished = 1;
        ds_cursor_release(&it->cursor);
        Py_DECREF(it);
        return NULL;
    }
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static void finish(KeyIteratorObject *it)
{
    if (!it->finished) {
        it->finished = 1;
        ds_cursor_release(&it->cursor);
    }
}

static PyObject *KeyIterator_next(KeyIteratorObject *it)
{
    if (it->finished)
        return NULL;
    Py_ssize_t now = dsmap_length(it->mapping);
    if (now < 0) {
        finish(it);
        return NULL;
    }
    if (now != it->start_len) {
        finish(it);
        PyErr_SetString(PyExc_RuntimeError, "the table changed size during iteration");
        return NULL;
    }
    const ds_row *row;
    int rc = ds_cursor_next(&it->cursor, &row);
    if (rc <= 0) {
        finish(it);
        return NULL;
    }
    return PyUnicode_DecodeUTF8(row->key, (Py_ssize_t)row->klen, "surrogatepass");
}

static void KeyIterator_dealloc(KeyIteratorObject *it)
{
    PyTypeObject *tp = Py_TYPE(it);
    PyObject_GC_UnTrack(it);
    finish(it);
    Py_CLEAR(it->mapping);
    PyObject_GC_Del(it);
    Py_DECREF(tp);
}

static int KeyIterator_traverse(KeyIteratorObject *it, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(it));
    Py_VISIT(it->mapping);
    return 0;
}

static PyType_Slot KeyIterator_slots[] = {
    {Py_tp_doc, "Iterator over the keys of a DictSQLiteV4 or TableProxy, in key order."},
    {Py_tp_dealloc, KeyIterator_dealloc},
    {Py_tp_traverse, KeyIterator_traverse},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, KeyIterator_next},
    {0, NULL},
};

PyType_Spec KeyIterator_spec = {
    .name = "dictsqlite.KeyIterator",
    .basicsize = sizeof(KeyIteratorObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = KeyIterator_slots,
};
