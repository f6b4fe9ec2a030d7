/*
 * Deterministic ids and time for a replicated command (cluster mode,
 * cv_cluster.h): while a command is applied, the ids the engine makes and
 * the time it reads come from the command's seed and time instead of the
 * system's randomness and clock, so that every node that applies the same
 * command to the same store makes the same records. Per thread: the group
 * commit may run the apply in a pool thread.
 */
#ifndef CV_DET_H
#define CV_DET_H

#include <stddef.h>
#include <stdint.h>

#define CV_DET_SEED  16   /* random bytes the receiving node draws */

/* from now on in this thread: ids from seed, the time is now_ms */
void cv_det_begin(const unsigned char seed[CV_DET_SEED], int64_t now_ms);
void cv_det_end(void);

/* 1 and buf filled (the seed's next bytes) while deterministic, else 0 */
int cv_det_bytes(unsigned char *buf, size_t len);

/* 1 and *ms the command's time while deterministic, else 0 */
int cv_det_now(int64_t *ms);

#endif
