/* The counters behind faults.h: test builds only (-DDS_FAULTS). Atomics,
 * because the background flusher calls into SQLite too. */
#include "dictsqlite/faults.h"

#ifdef DS_FAULTS
#include <stdatomic.h>

static _Atomic long armed[DS_FAULT_NKINDS];
static _Atomic long seen[DS_FAULT_NKINDS];

int ds_fault_hit(ds_fault_kind kind)
{
    long n = atomic_fetch_add(&seen[kind], 1) + 1;
    long want = atomic_load(&armed[kind]);
    /* the armed call fails once: disarm it as it fires */
    return want > 0 && n == want && atomic_compare_exchange_strong(&armed[kind], &want, 0);
}

void ds_fault_arm(ds_fault_kind kind, long n)
{
    atomic_store(&seen[kind], 0);
    atomic_store(&armed[kind], n);
}

long ds_fault_count(ds_fault_kind kind)
{
    return atomic_load(&seen[kind]);
}
#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int ds_faults_not_built;
#endif
