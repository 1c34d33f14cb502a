/* The object of TableProxy and AsyncTableProxy (one table of a database),
 * and the members both types share (table_proxy.c). */
#ifndef DICTSQLITE_EXT_TABLE_PROXY_H
#define DICTSQLITE_EXT_TABLE_PROXY_H

#include "dictsqlite_v4.h"
#include "mapping.h"

typedef struct {
    DS_MAPPING_HEAD /* db: a strong reference to the parent */
    PyObject *name;
} TableProxyObject;

/* A new proxy of type tp for namespace ns of db. */
PyObject *ds_table_proxy_make(PyTypeObject *tp, DictSQLiteV4Object *db, uint32_t ns,
                              PyObject *name);
void ds_table_proxy_dealloc(TableProxyObject *self);
int ds_table_proxy_traverse(TableProxyObject *self, visitproc visit, void *arg);
PyObject *ds_table_proxy_repr(TableProxyObject *self);
PyObject *ds_table_proxy_get_name(TableProxyObject *self, void *unused);
PyObject *ds_table_proxy_get_parent(TableProxyObject *self, void *unused);

#endif
