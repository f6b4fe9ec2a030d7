/*
 * Expired secrets (cv_expiry.h): console sessions, one-time login tokens
 * and API access tokens past their expires_at, swept in steps.
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_expiry.h"
#include "cv_store_impl.h"

#include <string.h>

/* the databases the sweep goes through, in order */
static const int  cv_sweep_dbs[] = {
    CV_DB_SESSIONS, CV_DB_LOGIN_TOKENS, CV_DB_API_TOKENS
};

#define CV_SWEEP_DBS  (sizeof(cv_sweep_dbs) / sizeof(cv_sweep_dbs[0]))


/* a secret's record past its expires_at (ms); one that cannot be read is
 * left for whoever reads it */
static int
cv_expired(const MDB_val *v, int64_t now_ms)
{
    cJSON   *rec, *exp;
    int      expired;

    rec = cJSON_ParseWithLength(v->mv_data, v->mv_size);
    exp = cJSON_GetObjectItemCaseSensitive(rec, "expires_at");

    expired = cJSON_IsNumber(exp) && (int64_t) exp->valuedouble <= now_ms;

    cJSON_Delete(rec);
    return expired;
}


cv_status
cv_expired_sweep(cv_txn *t, int64_t now_ms, size_t budget, cv_sweep_pos *pos,
    cv_purge_stats *stats)
{
    int          rc;
    MDB_val      k, v;
    MDB_cursor  *c;

    memset(stats, 0, sizeof(*stats));

    if (pos->db < 0 || (size_t) pos->db >= CV_SWEEP_DBS) {
        pos->db = 0;
        pos->len = 0;
    }

    while (budget > 0) {
        rc = mdb_cursor_open(t->txn, t->store->dbi[cv_sweep_dbs[pos->db]],
                             &c);
        if (rc != 0) {
            return cv_status_from_mdb(rc);
        }

        if (pos->len) {
            k.mv_data = pos->key;
            k.mv_size = pos->len;
            rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);

            /* the one it stopped at was done */
            if (rc == 0 && k.mv_size == pos->len
                && memcmp(k.mv_data, pos->key, pos->len) == 0)
            {
                rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
            }

        } else {
            rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        }

        while (rc == 0 && budget > 0) {
            budget--;
            stats->walked++;

            if (k.mv_size <= CV_SWEEP_POS_MAX) {
                memcpy(pos->key, k.mv_data, k.mv_size);
                pos->len = k.mv_size;
            }

            if (cv_expired(&v, now_ms)) {
                rc = mdb_cursor_del(c, 0);
                if (rc != 0) {
                    break;
                }
                stats->keys++;
            }

            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }

        mdb_cursor_close(c);

        if (rc == MDB_NOTFOUND) {
            /* this one is done: the next database, or a round is */
            pos->len = 0;
            pos->db++;

            if ((size_t) pos->db == CV_SWEEP_DBS) {
                pos->db = 0;
                stats->more = 0;
                return CV_OK;
            }

            continue;
        }

        if (rc != 0) {
            return cv_status_from_mdb(rc);
        }
    }

    stats->more = 1;
    return CV_OK;
}
