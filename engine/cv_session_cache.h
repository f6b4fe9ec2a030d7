/*
 * A process-local cache of verified agent sessions.
 *
 * Every console request proves its session; the full check parses the
 * session and agent records. A hit costs two lookups and two byte compares:
 * an entry is used only while both records are byte for byte what was
 * verified and the session has not expired, so a logout, a disabled or
 * deleted agent or a renamed one (by any process, chatvisorctl included)
 * misses at once.
 */
#ifndef CV_SESSION_CACHE_H
#define CV_SESSION_CACHE_H

#include "cv_store.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct cv_session_cache  cv_session_cache;

/* A cache of slots sessions (a session takes the slot its hash names);
 * NULL when memory runs out. */
cv_session_cache *cv_session_cache_create(size_t slots);
void cv_session_cache_destroy(cv_session_cache *c);

/*
 * What cv_session_agent() answers, through the cache. *agent is the
 * cache's own record: read it before the next call, never free it.
 */
cv_status cv_session_cache_agent(cv_session_cache *c, cv_txn *t,
    const char *session, const cJSON **agent);

#endif
