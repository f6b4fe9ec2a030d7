/* Unit tests of the LMDB store lifecycle (engine/cv_store.c). */
#define _POSIX_C_SOURCE 200809L

#include "cv_store.h"
#include "fixture.h"

#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(void)
{
    cv_store_options  opt;
    cv_store         *st;
    char              err[512], path[300];
    uint32_t          version;
    struct stat       sb;

    const char  *root = tap_tmpdir();

    /* prepare creates nested directories and the schema record */
    snprintf(path, sizeof(path), "%s/a/b/store", root);
    memset(&opt, 0, sizeof(opt));
    opt.path = path;
    opt.map_size = 8u << 20;
    opt.sync = 1;

    ok(cv_store_prepare(&opt, (uid_t) -1, (gid_t) -1, err, sizeof(err))
       == CV_OK, "prepare creates a missing nested directory (%s)", err);
    ok(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)
       && (sb.st_mode & 0777) == 0700, "store directory exists, mode 0700");

    {
        char  file[400];

        snprintf(file, sizeof(file), "%s/data.mdb", path);
        ok(stat(file, &sb) == 0, "data.mdb exists");
    }

    /* open in a "worker", read the schema version */
    ok(cv_store_open(&st, &opt, err, sizeof(err)) == CV_OK, "open (%s)", err);
    ok(cv_store_schema_version(st, &version, err, sizeof(err)) == CV_OK
       && version == CV_STORE_SCHEMA_VERSION, "schema version is %u",
       (unsigned) CV_STORE_SCHEMA_VERSION);
    ok(cv_store_stale_readers_cleared(st) == 0, "no stale readers on a "
       "fresh store");
    cv_store_close(st);

    /*
     * A worker killed while reading leaves its reader slot taken. LMDB
     * resets the table when nobody has the store open, so a second
     * process ("the other workers") keeps it open meanwhile.
     */
    int    hold[2], ready[2], status;
    pid_t  holder, reader;
    char   c;

    if (pipe(hold) != 0 || pipe(ready) != 0) {
        printf("Bail out! pipe failed\n");
        return 1;
    }

    holder = fork();
    if (holder == 0) {
        close(hold[1]);
        if (cv_store_open(&st, &opt, err, sizeof(err)) != 0) {
            _exit(1);
        }
        if (write(ready[1], "r", 1) != 1 || read(hold[0], &c, 1) < 0) {
            _exit(1);
        }
        cv_store_close(st);
        _exit(0);
    }
    close(hold[0]);
    ok(read(ready[0], &c, 1) == 1, "another process holds the store open");

    reader = fork();
    if (reader == 0) {
        MDB_env  *env;
        MDB_txn  *txn;

        mdb_env_create(&env);
        mdb_env_set_maxdbs(env, CV_STORE_MAX_DBS);
        mdb_env_set_maxreaders(env, CV_STORE_MAX_READERS);
        mdb_env_set_mapsize(env, opt.map_size);
        if (mdb_env_open(env, path, MDB_NOTLS, 0600) != 0
            || mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
        {
            _exit(1);
        }
        raise(SIGKILL);
    }

    waitpid(reader, &status, 0);
    ok(WIFSIGNALED(status), "reader process was killed holding a slot");

    ok(cv_store_open(&st, &opt, err, sizeof(err)) == CV_OK
       && cv_store_stale_readers_cleared(st) == 1,
       "open clears the stale reader slot of the killed process");
    cv_store_close(st);

    close(hold[1]);
    waitpid(holder, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "holder closed cleanly");

    /* a secret of the wrong size signs nothing */
    {
        unsigned char  secret[CV_STORE_SECRET_LEN + 1];

        ok(fx_raw_put(path, "meta", "secret", 6, "short", 5) == 0
           && cv_store_open(&st, &opt, err, sizeof(err)) == CV_OK,
           "a store whose secret record is 5 bytes opens");
        memset(secret, 0xa5, sizeof(secret));
        ok(cv_store_secret(st, secret) == CV_ERROR
           && secret[0] == 0xa5 && secret[CV_STORE_SECRET_LEN - 1] == 0xa5,
           "but it has no secret to give (CV_ERROR), and out is untouched");
        cv_store_close(st);
    }

    /* a store written by another schema is refused, not touched (version
     * 1: from before the first release; 2 is migrated, test_index.c) */
    for (int older = 1; older >= 0; older--) {
        uint32_t  newer = older ? 1 : CV_STORE_SCHEMA_VERSION + 1;

        fx_raw_put(path, "meta", "schema_version", 14, &newer,
                   sizeof(newer));

        err[0] = '\0';
        ok(cv_store_open(&st, &opt, err, sizeof(err)) == CV_CONFLICT
           && strstr(err, older ? "development version" : "newer") != NULL,
           "an %s schema version is refused: %s", older ? "older" : "newer",
           err);
    }

    /* a path that is a file, not a directory */
    snprintf(path, sizeof(path), "%s/file", root);
    fclose(fopen(path, "w"));
    ok(cv_store_prepare(&opt, (uid_t) -1, (gid_t) -1, err, sizeof(err))
       == CV_INVALID && strstr(err, "not a directory") != NULL,
       "a regular file as store path is an error: %s", err);

    opt.path = "";
    ok(cv_store_prepare(&opt, (uid_t) -1, (gid_t) -1, err, sizeof(err))
       == CV_INVALID, "an empty path is an error: %s", err);

    return done_testing();
}
