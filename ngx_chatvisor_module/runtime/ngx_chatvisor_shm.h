/*
 * The layout of the shared-memory zone, for the runtime's files that keep
 * a part of it: presence (ngx_chatvisor_presence.c), abuse limits
 * (ngx_chatvisor_rate_limit.c), settings (ngx_chatvisor_settings.c),
 * leases (ngx_chatvisor_lease.c), the pipes' overflow flags
 * (ngx_chatvisor_shm.c) and the metrics (ngx_chatvisor_metrics.c). Every
 * part but the flags and the metrics is read and written under the zone's
 * mutex.
 */

#ifndef _NGX_CHATVISOR_SHM_H_INCLUDED_
#define _NGX_CHATVISOR_SHM_H_INCLUDED_


#include "ngx_chatvisor_runtime.h"
#include "cv_agents.h"


#define NGX_CHATVISOR_PRESENCE_MAX     1024   /* agents */
#define NGX_CHATVISOR_PRESENCE_NODES   32     /* other nodes heard of (a
                                                 bit each in "nodes") */
#define NGX_CHATVISOR_LIMIT_SLOTS      8192   /* keys counted at once */
#define NGX_CHATVISOR_LIMIT_PROBE      8      /* slots a key may use */
#define NGX_CHATVISOR_WIDGET_MAX       16384  /* bytes of widget settings */


typedef struct {
    char                      agent_id[CV_AGENT_ID_MAX + 1];
    uint8_t                   status;       /* NGX_CHATVISOR_STATUS_* */
    uint8_t                   external;     /* set by REST, no polling */
    uint8_t                   room;         /* enabled and under its
                                               max_concurrent, as the store
                                               said at room_at */
    uint32_t                  nodes;        /* cluster mode: the other
                                               nodes (bits of the table's
                                               nodes) where the agent is
                                               online, as they said last */
    int64_t                   online_until; /* ms, wall clock */
} ngx_chatvisor_presence_t;


/* cluster mode: another node that told its agents online */
typedef struct {
    u_char                    id[NGX_CHATVISOR_NODE_ID_LEN];
    int64_t                   until;        /* ms, wall clock: what it said
                                               holds until; 0: a free slot */
} ngx_chatvisor_presence_node_t;


typedef struct {
    ngx_uint_t                n;
    int64_t                   room_at;      /* ms: the rooms were read */
    ngx_chatvisor_presence_node_t  nodes[NGX_CHATVISOR_PRESENCE_NODES];
    ngx_chatvisor_presence_t  agents[NGX_CHATVISOR_PRESENCE_MAX];
} ngx_chatvisor_presence_table_t;


/* one key of the abuse limits (ngx_chatvisor_rate_limit.c) */
typedef struct {
    uint64_t                  key;          /* its hash; 0: free */
    int64_t                   tat;          /* us: GCRA's arrival time */
} ngx_chatvisor_limit_slot_t;


typedef struct {
    uint64_t                  seed;         /* of the keys' hash */
    ngx_chatvisor_limit_slot_t  slots[NGX_CHATVISOR_LIMIT_SLOTS];
} ngx_chatvisor_limits_t;


typedef struct {
    ngx_uint_t                visibility_mode;
    int64_t                   visibility_until;   /* ms; 0: no end */
    ngx_uint_t                widget_generation;
    size_t                    widget_len;
    u_char                    widget[NGX_CHATVISOR_WIDGET_MAX];
} ngx_chatvisor_settings_t;


typedef struct {
    ngx_pid_t                 pid;          /* the holder; 0: nobody */
    int64_t                   until;        /* ms: held until, unless renewed */
} ngx_chatvisor_lease_t;


struct ngx_chatvisor_shm_s {
    /* first: the zone's struct is page-aligned (the slab pool gives a
     * large allocation whole pages), so each slot starts a cache line */
    ngx_chatvisor_metrics_t         metrics;      /* atomic, no lock */
    ngx_atomic_t                    overflow[NGX_MAX_PROCESSES];
    ngx_chatvisor_settings_t        settings;
    ngx_chatvisor_limits_t          limits;
    ngx_chatvisor_presence_table_t  presence;
    ngx_chatvisor_lease_t           leases[NGX_CHATVISOR_LEASES];
};


/* the zone's mutex */
ngx_shmtx_t *ngx_chatvisor_shm_mutex(ngx_chatvisor_main_conf_t *cmcf);


#endif /* _NGX_CHATVISOR_SHM_H_INCLUDED_ */
