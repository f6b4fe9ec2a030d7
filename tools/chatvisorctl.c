/*
 * chatvisorctl: the operator's command for the store, safe to run while
 * nginx serves from it (LMDB allows one writer and many readers across
 * processes).
 */
#define _POSIX_C_SOURCE 200809L

#include "cv_agents.h"
#include "cv_chat.h"
#include "cv_cluster.h"
#include "cv_stats.h"
#include "cv_time.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char  usage[] =
    "usage:\n"
    "  chatvisorctl agent-put --store PATH --id ID [--name NAME]"
    " [--email EMAIL] [--disable] [--standalone]\n"
    "  chatvisorctl login-url --store PATH --agent ID [--conversation ID]"
    " [--base-url URL] [--ttl SECONDS] [--standalone]\n"
    "  chatvisorctl conversations --store PATH [--status open|closed]\n"
    "  chatvisorctl backup --store PATH DEST_DIR\n"
    "  chatvisorctl stats --store PATH\n";

typedef struct {
    const char  *store, *id, *name, *email, *agent, *conversation;
    const char  *base_url, *status;
    long         ttl;
    int          disable;
    int          standalone;   /* a store that left its cluster for good */
} cv_args;


static int
die(const char *what, cv_status st)
{
    fprintf(stderr, "chatvisorctl: %s: %s\n", what, cv_status_text(st));
    return 1;
}


static int
open_store(const cv_args *a, cv_store **st)
{
    cv_store_options  opt;
    char              err[512];

    if (a->store == NULL) {
        fprintf(stderr, "chatvisorctl: --store PATH is required\n%s", usage);
        return 2;
    }

    memset(&opt, 0, sizeof(opt));
    opt.path = a->store;
    opt.sync = 1;

    if (cv_store_open(st, &opt, err, sizeof(err)) != CV_OK) {
        fprintf(stderr, "chatvisorctl: %s\n", err);
        return 1;
    }

    return 0;
}


/*
 * A node of a cluster applies the stream into its store; a write of ours
 * would reach this node only and its store would differ from the others'
 * for good (an agent the others do not have routes differently). Such a
 * store has applied a command or keeps the cluster's secret.
 */
static int
refuse_cluster_store(cv_store *st, const cv_args *a, const char *rest)
{
    cv_txn    *t;
    uint64_t   applied;
    int        cluster;

    if (a->standalone || cv_txn_begin(st, 0, &t) != CV_OK) {
        return 0;
    }

    applied = 0;
    cluster = (cv_cluster_applied(t, &applied) == CV_OK && applied > 0)
              || cv_cluster_secret_kept(t);
    cv_txn_abort(t);

    if (!cluster) {
        return 0;
    }

    fprintf(stderr, "chatvisorctl: this store is a cluster node's "
            "(chatvisor_cluster): a write here would reach this node only "
            "and its store would differ from the others'; use the REST API "
            "on any node instead (%s; docs/cluster.md); --standalone if "
            "this store left its cluster for good\n", rest);
    return 1;
}


static int
cmd_agent_put(cv_store *st, const cv_args *a)
{
    cv_txn     *t;
    cJSON      *fields, *agent;
    char       *json;
    cv_status   s;
    int         created;

    if (a->id == NULL || !cv_agent_id_valid(a->id)) {
        fprintf(stderr, "chatvisorctl: --id must be 1-128 of "
                "[A-Za-z0-9._@-]\n");
        return 2;
    }

    fields = cJSON_CreateObject();
    if (a->name) {
        cJSON_AddStringToObject(fields, "name", a->name);
    }
    if (a->email) {
        cJSON_AddStringToObject(fields, "email", a->email);
    }
    cJSON_AddBoolToObject(fields, "enabled", !a->disable);

    s = cv_txn_begin(st, 1, &t);
    if (s == CV_OK) {
        s = cv_agent_put(t, a->id, fields, &agent, &created);
        s = (s == CV_OK) ? cv_txn_commit(t) : (cv_txn_abort(t), s);
    }
    cJSON_Delete(fields);

    if (s != CV_OK) {
        return die("agent-put", s);
    }

    json = cJSON_PrintUnformatted(agent);
    printf("%s\n", json);
    cJSON_free(json);
    cJSON_Delete(agent);

    return 0;
}


static int
cmd_login_url(cv_store *st, const cv_args *a)
{
    cv_txn     *t;
    cv_status   s;
    char        token[CV_SECRET_STR];
    int64_t     expires;
    const char *base;

    if (a->agent == NULL) {
        fprintf(stderr, "chatvisorctl: --agent ID is required\n");
        return 2;
    }

    if (a->ttl < 0 || a->ttl > CV_LOGIN_TTL_MAX / 1000) {
        fprintf(stderr, "chatvisorctl: --ttl must be 1..86400 seconds\n");
        return 2;
    }

    s = cv_txn_begin(st, 1, &t);
    if (s == CV_OK) {
        s = cv_login_token_create(t, a->agent, a->conversation,
                                  a->ttl * 1000, token, &expires);
        s = (s == CV_OK) ? cv_txn_commit(t) : (cv_txn_abort(t), s);
    }

    if (s == CV_NOT_FOUND) {
        fprintf(stderr, "chatvisorctl: no enabled agent \"%s\" "
                "(create it with agent-put)\n", a->agent);
        return 1;
    }

    if (s != CV_OK) {
        return die("login-url", s);
    }

    base = a->base_url ? a->base_url : "/chatvisor/";
    printf("%s%sjoin#%s\n", base,
           base[0] && base[strlen(base) - 1] == '/' ? "" : "/", token);

    return 0;
}


static int
cmd_conversations(cv_store *st, const cv_args *a)
{
    cv_txn     *t;
    cv_status   s;
    cJSON      *items, *c;
    const char *assigned;

    s = cv_txn_begin(st, 0, &t);
    if (s != CV_OK) {
        return die("conversations", s);
    }

    items = cJSON_CreateArray();
    s = cv_conversation_list(t, a->status, NULL, CV_LIMIT_NONE, items);
    cv_txn_abort(t);

    if (s != CV_OK) {
        cJSON_Delete(items);
        return die("conversations", s);
    }

    printf("%-32s %-34s %-7s %-20s %5s %s\n", "ID", "CUSTOMER", "STATUS",
           "AGENT", "SEQ", "UPDATED");

    cJSON_ArrayForEach(c, items) {
        assigned = cJSON_GetStringValue(
                       cJSON_GetObjectItem(c, "assigned_agent_id"));

        printf("%-32s %-34s %-7s %-20s %5.0f %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(c, "id")),
               cJSON_GetStringValue(cJSON_GetObjectItem(c, "customer_id")),
               cJSON_GetStringValue(cJSON_GetObjectItem(c, "status")),
               assigned ? assigned : "-",
               cJSON_GetNumberValue(cJSON_GetObjectItem(c, "last_seq")),
               cJSON_GetStringValue(cJSON_GetObjectItem(c, "updated_at")));
    }

    cJSON_Delete(items);
    return 0;
}


#define MIB  (1024.0 * 1024.0)

/* usage, counts and the oldest data, one "name: value" a line */
static int
cmd_stats(cv_store *st)
{
    char             stamp[CV_TIME_STR];
    size_t           used, map, max;
    cv_txn          *t;
    cv_status        s;
    cv_store_counts  c;

    s = cv_txn_begin(st, 0, &t);
    if (s != CV_OK) {
        return die("stats", s);
    }

    s = cv_store_count(t, &c);
    cv_txn_abort(t);

    if (s != CV_OK) {
        return die("stats", s);
    }

    /* the store's own record of its map: what nginx grew it to */
    cv_store_usage(st, &used, &map, &max);

    printf("used: %zu bytes (%.1f MiB)\n", used, used / MIB);
    printf("map: %zu bytes (%.1f MiB), %.0f%% used\n", map, map / MIB,
           map ? 100.0 * (double) used / (double) map : 0.0);
    printf("customers: %zu\n", c.customers);
    printf("conversations: %zu\n", c.conversations);
    printf("log_entries: %zu\n", c.log_entries);
    printf("idempotency_keys: %zu\n", c.idempotency);
    printf("sessions: %zu\n", c.sessions);
    printf("login_tokens: %zu\n", c.login_tokens);
    printf("api_tokens: %zu\n", c.api_tokens);
    printf("webhook_deliveries: %zu\n", c.deliveries);

    if (c.oldest_ms) {
        cv_format_time(c.oldest_ms, stamp);
        printf("oldest_event: %s\n", stamp);

    } else {
        printf("oldest_event: -\n");
    }

    printf("retention_cursor: %llu\n",
           (unsigned long long) c.retention_cursor);

    return 0;
}


int
main(int argc, char **argv)
{
    static struct option  longopts[] = {
        { "store", required_argument, NULL, 's' },
        { "id", required_argument, NULL, 'i' },
        { "name", required_argument, NULL, 'n' },
        { "email", required_argument, NULL, 'e' },
        { "agent", required_argument, NULL, 'a' },
        { "conversation", required_argument, NULL, 'c' },
        { "base-url", required_argument, NULL, 'b' },
        { "ttl", required_argument, NULL, 't' },
        { "status", required_argument, NULL, 'S' },
        { "disable", no_argument, NULL, 'd' },
        { "standalone", no_argument, NULL, 'A' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    cv_args     a;
    cv_store   *st;
    const char *cmd;
    char       *end;
    int         o, rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "-h") == 0)
    {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }

    cmd = argv[1];
    memset(&a, 0, sizeof(a));

    optind = 2;
    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 's': a.store = optarg; break;
        case 'i': a.id = optarg; break;
        case 'n': a.name = optarg; break;
        case 'e': a.email = optarg; break;
        case 'a': a.agent = optarg; break;
        case 'c': a.conversation = optarg; break;
        case 'b': a.base_url = optarg; break;
        case 'S': a.status = optarg; break;
        case 'd': a.disable = 1; break;
        case 'A': a.standalone = 1; break;
        case 't':
            a.ttl = strtol(optarg, &end, 10);
            if (*end || a.ttl <= 0) {
                fprintf(stderr, "chatvisorctl: bad --ttl\n");
                return 2;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }

    if (strcmp(cmd, "agent-put") != 0 && strcmp(cmd, "login-url") != 0
        && strcmp(cmd, "conversations") != 0 && strcmp(cmd, "backup") != 0
        && strcmp(cmd, "stats") != 0)
    {
        fprintf(stderr, "chatvisorctl: unknown command \"%s\"\n%s", cmd,
                usage);
        return 2;
    }

    if (strcmp(cmd, "backup") == 0 && optind != argc - 1) {
        fprintf(stderr, "chatvisorctl: backup needs DEST_DIR\n");
        return 2;
    }

    rc = open_store(&a, &st);
    if (rc != 0) {
        return rc;
    }

    if (strcmp(cmd, "agent-put") == 0) {
        rc = refuse_cluster_store(st, &a, "PUT api/v1/agents/ID")
             ? 1 : cmd_agent_put(st, &a);

    } else if (strcmp(cmd, "login-url") == 0) {
        rc = refuse_cluster_store(st, &a, "POST api/v1/agents/ID/login-url")
             ? 1 : cmd_login_url(st, &a);

    } else if (strcmp(cmd, "conversations") == 0) {
        rc = cmd_conversations(st, &a);

    } else if (strcmp(cmd, "stats") == 0) {
        rc = cmd_stats(st);

    } else {
        cv_status  s = cv_store_backup(st, argv[optind]);

        rc = (s == CV_OK) ? 0 : die("backup (DEST_DIR must exist and be "
                                    "empty)", s);
    }

    cv_store_close(st);
    return rc;
}
