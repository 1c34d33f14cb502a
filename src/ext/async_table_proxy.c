/* AsyncTableProxy: one table of an AsyncDictSQLite (from db.table(name)),
 * with the sync dict API of TableProxy and the a-methods of its parent. */
#include "async_methods.h"
#include "table_proxy.h"

PyObject *ds_async_table_proxy_new(DictSQLiteV4Object *db, uint32_t ns, PyObject *name)
{
    return ds_table_proxy_make(db->state->AsyncTableProxy_Type, db, ns, name);
}

static PyMethodDef AsyncTableProxy_methods[] = {
    DS_ASYNC_METHODS,
    DS_MAPPING_METHODS,
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef AsyncTableProxy_getset[] = {
    {"name", (getter)ds_table_proxy_get_name, NULL, "The table's name.", NULL},
    {"parent", (getter)ds_table_proxy_get_parent, NULL, "The AsyncDictSQLite it belongs to.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot AsyncTableProxy_slots[] = {
    {Py_tp_doc, "One table of an AsyncDictSQLite: await t.aget(k), t[k], ...; get one "
                "with db.table(name)."},
    {Py_tp_dealloc, ds_table_proxy_dealloc},
    {Py_tp_traverse, ds_table_proxy_traverse},
    {Py_tp_repr, ds_table_proxy_repr},
    {Py_tp_methods, AsyncTableProxy_methods},
    {Py_tp_getset, AsyncTableProxy_getset},
    DS_MAPPING_SLOTS,
    {0, NULL},
};

PyType_Spec AsyncTableProxy_spec = {
    .name = "dictsqlite.AsyncTableProxy",
    .basicsize = sizeof(TableProxyObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_MAPPING |
             Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = AsyncTableProxy_slots,
};
