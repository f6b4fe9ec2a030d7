/*
 * What the engine's cluster tests share: a command applied to a store in
 * a write transaction of its own, committed when it applied.
 */
#ifndef CV_FIXTURE_CLUSTER_H
#define CV_FIXTURE_CLUSTER_H

#include "cv_cluster.h"

#include <string.h>


static inline cv_status
apply(cv_store *st, uint64_t seq, const char *cmd,
    cv_cluster_result *res)
{
    cv_txn     *t;
    cv_status   s;

    cv_txn_begin(st, 1, &t);
    s = cv_cluster_apply(t, seq, cmd, strlen(cmd), res);

    if (s == CV_OK) {
        cv_txn_commit(t);

    } else {
        cv_txn_abort(t);
    }

    return s;
}


#endif
