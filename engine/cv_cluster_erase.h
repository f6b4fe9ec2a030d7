/*
 * Cluster mode's erasure from the stream (docs/cluster.md "Erasure"): the
 * stream keeps the text of every command, so a customer's erasure must
 * take the commands that carried their data out of it too, not only their
 * records out of each store.
 *
 * While a command applies, its stream seq is kept under the customer it
 * concerns (in the same transaction); applying the customer's erasure
 * turns that list into a to-do of seqs to remove from the stream, which
 * the node's cluster thread works off (js_EraseMsg) and clears. Every
 * node does it for its own store, so the erasure is complete even when
 * the node that took the DELETE dies; removing a message twice is no
 * harm. The same transaction drops the outcomes kept for those seqs
 * (cluster/r/SEQ holds the message or the customer record).
 *
 * Keys, all in the meta database (CV_DB_META):
 *
 *   cluster/cus/CUS NUL u64be seq   one byte: 'd' the command carries the
 *                                   customer's data (a message, fields:
 *                                   removed from the stream), 'o' only
 *                                   its outcome names them (assign, close)
 *   cluster/erase/u64be seq         "": to remove from the stream
 *
 * What a list costs is what the customer did, never the stream's history.
 */
#ifndef CV_CLUSTER_ERASE_H
#define CV_CLUSTER_ERASE_H

#include "cv_store.h"

#include <stdint.h>

/* to-do seqs handed to the cluster thread at a time */
#define CV_CLUSTER_ERASE_BATCH  64

/* 1 when a command of op carries a customer's data (text, fields) */
int cv_cluster_op_carries_data(const char *op);

/* the command of seq concerns customer_id; data: it carries their data */
cv_status cv_cluster_erase_note(cv_txn *t, const char *customer_id,
    uint64_t seq, int data);

/* the command of seq is to be removed from the stream (its customer is
 * unknown: a refused command whose conversation went) */
cv_status cv_cluster_erase_add(cv_txn *t, uint64_t seq);

/*
 * The customer is erased: each seq of theirs loses its kept outcome, the
 * ones that carried data go to the to-do, and the list goes. *added: how
 * many went to the to-do.
 */
cv_status cv_cluster_erase_customer(cv_txn *t, const char *customer_id,
    size_t *added);

/* up to max seqs of the to-do, lowest first, in seqs; *n how many */
cv_status cv_cluster_erase_todo(cv_txn *t, uint64_t *seqs, size_t max,
    size_t *n);

/* seq is out of the stream: off the to-do */
cv_status cv_cluster_erase_done(cv_txn *t, uint64_t seq);

#endif
