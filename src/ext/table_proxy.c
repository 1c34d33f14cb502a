/* TableProxy: the dict API of one table (namespace) of a DictSQLiteV4, from
 * db.table(name). It shares its parent's engine, codec, persistence and
 * lifetime: it holds a strong reference to the parent, and once the parent is
 * closed every call raises DatabaseClosedError. */
#include "dictsqlite_v4.h"
#include "mapping.h"
#include "raw_access.h"

#include "table_proxy.h"

PyObject *ds_table_proxy_make(PyTypeObject *tp, DictSQLiteV4Object *db, uint32_t ns,
                              PyObject *name)
{
    TableProxyObject *self = (TableProxyObject *)tp->tp_alloc(tp, 0);
    if (!self)
        return NULL;
    self->db = (DictSQLiteV4Object *)Py_NewRef((PyObject *)db);
    self->ns = ns;
    self->name = Py_NewRef(name);
    return (PyObject *)self;
}

PyObject *ds_table_proxy_new(DictSQLiteV4Object *db, uint32_t ns, PyObject *name)
{
    return ds_table_proxy_make(db->state->TableProxy_Type, db, ns, name);
}

void ds_table_proxy_dealloc(TableProxyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->name);
    Py_CLEAR(self->db);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

int ds_table_proxy_traverse(TableProxyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT((PyObject *)self->db);
    Py_VISIT(self->name);
    return 0;
}

PyObject *ds_table_proxy_repr(TableProxyObject *self)
{
    DictSQLiteV4Object *db = self->db;
    PyObject *tp = PyType_GetName(Py_TYPE(self));
    if (!tp)
        return NULL;
    PyObject *r = NULL;
    if (db->closed || db->fork_generation != ds_fork_generation) {
        r = PyUnicode_FromFormat("<%U %R of %R (closed)>", tp, self->name, db->path);
    } else {
        PyObject *preview = dsmap_preview((PyObject *)self);
        if (preview)
            r = PyUnicode_FromFormat("%U(%R, %U)", tp, self->name, preview);
        Py_XDECREF(preview);
    }
    Py_DECREF(tp);
    return r;
}

PyObject *ds_table_proxy_get_name(TableProxyObject *self, void *unused)
{
    (void)unused;
    return Py_NewRef(self->name);
}

PyObject *ds_table_proxy_get_parent(TableProxyObject *self, void *unused)
{
    (void)unused;
    return Py_NewRef((PyObject *)self->db);
}

static PyMethodDef TableProxy_methods[] = {
    DS_MAPPING_METHODS,
    DS_RAW_METHODS,
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef TableProxy_getset[] = {
    {"name", (getter)ds_table_proxy_get_name, NULL, "The table's name.", NULL},
    {"parent", (getter)ds_table_proxy_get_parent, NULL, "The DictSQLiteV4 it belongs to.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot TableProxy_slots[] = {
    {Py_tp_doc, "The dict API of one table of a DictSQLiteV4; get one with db.table(name)."},
    {Py_tp_dealloc, ds_table_proxy_dealloc},
    {Py_tp_traverse, ds_table_proxy_traverse},
    {Py_tp_repr, ds_table_proxy_repr},
    {Py_tp_methods, TableProxy_methods},
    {Py_tp_getset, TableProxy_getset},
    DS_MAPPING_SLOTS,
    {0, NULL},
};

PyType_Spec TableProxy_spec = {
    .name = "dictsqlite.TableProxy",
    .basicsize = sizeof(TableProxyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_MAPPING |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = TableProxy_slots,
};
