/*
 * Decoding a gzip-compressed page for the injection filter, on the way: the
 * page's compressed buffers go in, decoded buffers of our own come out to
 * the injector (and from it to nginx's gzip filter, which may compress the
 * page again). It streams in bounded memory, as nginx's gunzip filter does:
 * at most NGX_CHATVISOR_GUNZIP_BUFS buffers of decoded text are out at a
 * time; while all are busy downstream, the input waits.
 */


#include <zlib.h>

#include "ngx_chatvisor_edge.h"


/* decoded buffers per page, and their size (128 KB, gunzip_buffers' 32 4k) */
#define NGX_CHATVISOR_GUNZIP_BUFS      32
#define NGX_CHATVISOR_GUNZIP_BUF_SIZE  4096

/* gzip's first two bytes (RFC 1952) */
#define NGX_CHATVISOR_GZIP_ID1  0x1f
#define NGX_CHATVISOR_GZIP_ID2  0x8b

/* zlib's window bits, plus 16: a gzip wrapper, not zlib's */
#define NGX_CHATVISOR_GUNZIP_WBITS  (MAX_WBITS + 16)


struct ngx_chatvisor_gunzip_s {
    z_stream        zs;
    ngx_chain_t    *in;            /* input not yet inflated */
    ngx_buf_t      *in_buf;        /* the input buffer being inflated */
    ngx_buf_t      *out_buf;       /* the decoded buffer being filled */
    ngx_chain_t    *out;           /* decoded, to pass on */
    ngx_chain_t   **last_out;
    ngx_chain_t    *free;
    ngx_chain_t    *busy;
    ngx_uint_t      allocated;
    ngx_uint_t      members;       /* gzip members decoded to their end */
    unsigned        init:1;        /* zlib's state exists */
    unsigned        flush:1;       /* the input asked for a flush */
    unsigned        finish:1;      /* the input ended */
    unsigned        redo:1;        /* zlib may hold more output */
    unsigned        stream_end:1;  /* the member decoded is complete */
    unsigned        nomem:1;       /* every decoded buffer is busy */
    unsigned        done:1;
};


static void
ngx_chatvisor_gunzip_cleanup(void *data)
{
    ngx_chatvisor_gunzip_t  *gz = data;

    if (gz->init) {
        (void) inflateEnd(&gz->zs);
        gz->init = 0;
    }
}


ngx_chatvisor_gunzip_t *
ngx_chatvisor_gunzip_create(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_chatvisor_gunzip_t  *gz;

    gz = ngx_pcalloc(r->pool, sizeof(ngx_chatvisor_gunzip_t));
    if (gz == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    /* zlib's own allocator: its state (about 44 KB with the window) lives
     * as long as the request, freed by the cleanup */
    if (inflateInit2(&gz->zs, NGX_CHATVISOR_GUNZIP_WBITS) != Z_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "chatvisor_inject: inflateInit2() failed");
        return NULL;
    }

    gz->init = 1;
    gz->last_out = &gz->out;

    cln->handler = ngx_chatvisor_gunzip_cleanup;
    cln->data = gz;

    return gz;
}


ngx_uint_t
ngx_chatvisor_gunzip_looks_gzip(ngx_chain_t *in)
{
    u_char       id[2];
    ngx_uint_t   n;
    u_char      *p;

    n = 0;

    for ( /* void */ ; in && n < 2; in = in->next) {
        if (!ngx_buf_in_memory(in->buf)) {
            continue;
        }

        for (p = in->buf->pos; p < in->buf->last && n < 2; p++) {
            id[n++] = *p;
        }
    }

    /* one byte in the first buffers: as far as seen */
    return n > 0 && id[0] == NGX_CHATVISOR_GZIP_ID1
           && (n < 2 || id[1] == NGX_CHATVISOR_GZIP_ID2);
}


static void
ngx_chatvisor_gunzip_emit(ngx_chatvisor_gunzip_t *gz, ngx_chain_t *cl)
{
    *gz->last_out = cl;
    gz->last_out = &cl->next;
    cl->next = NULL;
}


/* passes on the decoded buffer being filled, or an empty one, with flags */

static ngx_int_t
ngx_chatvisor_gunzip_emit_flags(ngx_http_request_t *r,
    ngx_chatvisor_gunzip_t *gz, ngx_uint_t last)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    b = gz->out_buf;

    if (b && ngx_buf_size(b)) {
        gz->out_buf = NULL;
        gz->zs.avail_out = 0;

    } else {
        /* no tag: not taken back into the free list */
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }
    }

    b->flush = 1;
    b->last_buf = last;

    cl->buf = b;
    ngx_chatvisor_gunzip_emit(gz, cl);

    return NGX_OK;
}


/* room for decoded text: NGX_DECLINED when every buffer is busy */

static ngx_int_t
ngx_chatvisor_gunzip_room(ngx_http_request_t *r, ngx_chatvisor_gunzip_t *gz)
{
    ngx_chain_t  *cl;

    if (gz->out_buf && gz->zs.avail_out) {
        return NGX_OK;
    }

    if (gz->free) {
        cl = gz->free;
        gz->free = cl->next;
        gz->out_buf = cl->buf;
        ngx_free_chain(r->pool, cl);

    } else if (gz->allocated < NGX_CHATVISOR_GUNZIP_BUFS) {
        gz->out_buf = ngx_create_temp_buf(r->pool,
                                          NGX_CHATVISOR_GUNZIP_BUF_SIZE);
        if (gz->out_buf == NULL) {
            return NGX_ERROR;
        }

        gz->out_buf->tag = (ngx_buf_tag_t) &ngx_chatvisor_gunzip_create;
        gz->out_buf->recycled = 1;
        gz->allocated++;

    } else {
        gz->nomem = 1;
        return NGX_DECLINED;
    }

    gz->out_buf->flush = 0;
    gz->zs.next_out = gz->out_buf->last;
    gz->zs.avail_out = gz->out_buf->end - gz->out_buf->last;

    return NGX_OK;
}


/* the next input buffer: NGX_DECLINED when there is none yet */

static ngx_int_t
ngx_chatvisor_gunzip_next_input(ngx_http_request_t *r,
    ngx_chatvisor_gunzip_t *gz)
{
    ngx_chain_t  *cl;

    if (gz->in == NULL) {
        return NGX_DECLINED;
    }

    cl = gz->in;
    gz->in = cl->next;
    gz->in_buf = cl->buf;
    ngx_free_chain(r->pool, cl);

    if (ngx_buf_in_memory(gz->in_buf)) {
        gz->zs.next_in = gz->in_buf->pos;
        gz->zs.avail_in = gz->in_buf->last - gz->in_buf->pos;

    } else {
        gz->zs.avail_in = 0;
    }

    if (gz->in_buf->last_buf || gz->in_buf->last_in_chain) {
        gz->finish = 1;

    } else if (gz->in_buf->flush) {
        gz->flush = 1;
    }

    if (gz->zs.avail_in && gz->stream_end) {
        /* another gzip member follows: members concatenated are one text */
        if (inflateReset(&gz->zs) != Z_OK) {
            return NGX_ERROR;
        }

        gz->stream_end = 0;
    }

    return NGX_OK;
}


/*
 * Inflates while there is input and room: NGX_OK when it must wait (for
 * input or for room), NGX_ERROR when the data is not gzip.
 */

static ngx_int_t
ngx_chatvisor_gunzip_inflate(ngx_http_request_t *r,
    ngx_chatvisor_gunzip_t *gz)
{
    int           rc;
    ngx_int_t     got;
    ngx_chain_t  *cl;

    for ( ;; ) {

        if (!gz->redo && gz->zs.avail_in == 0 && !gz->flush && !gz->finish) {
            got = ngx_chatvisor_gunzip_next_input(r, gz);

            if (got == NGX_DECLINED) {
                return NGX_OK;
            }

            if (got == NGX_ERROR) {
                return NGX_ERROR;
            }
        }

        got = ngx_chatvisor_gunzip_room(r, gz);

        if (got == NGX_DECLINED) {
            return NGX_OK;
        }

        if (got == NGX_ERROR) {
            return NGX_ERROR;
        }

        rc = Z_BUF_ERROR;

        if (!gz->stream_end) {
            rc = inflate(&gz->zs, Z_NO_FLUSH);

            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
                if (gz->members && gz->zs.total_out == 0) {
                    /* bytes after the last member that are no member:
                     * dropped, as gzip -d does */
                    gz->zs.avail_in = 0;
                    gz->in_buf->pos = gz->in_buf->last;

                    while (gz->in) {
                        gz->stream_end = 0;
                        (void) ngx_chatvisor_gunzip_next_input(r, gz);
                        gz->in_buf->pos = gz->in_buf->last;
                        gz->zs.avail_in = 0;
                    }

                    gz->stream_end = 1;
                    continue;
                }

                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "chatvisor_inject: the page's gzip data is "
                              "corrupt (inflate() %d: %s): it ends here",
                              rc, gz->zs.msg ? gz->zs.msg : "no message");
                return NGX_ERROR;
            }

            if (gz->in_buf && ngx_buf_in_memory(gz->in_buf)) {
                gz->in_buf->pos = gz->zs.next_in;
            }

            gz->out_buf->last = gz->zs.next_out;

            if (rc == Z_STREAM_END) {
                gz->stream_end = 1;
                gz->members++;
            }
        }

        if (gz->zs.avail_out == 0) {
            /* full: out it goes, and zlib may have more */
            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = gz->out_buf;
            gz->out_buf = NULL;
            ngx_chatvisor_gunzip_emit(gz, cl);

            gz->redo = 1;
            continue;
        }

        gz->redo = 0;

        if (gz->zs.avail_in) {
            if (gz->stream_end) {
                /* the next member, in the same buffer */
                if (inflateReset(&gz->zs) != Z_OK) {
                    return NGX_ERROR;
                }

                gz->stream_end = 0;
            }

            continue;
        }

        if (gz->finish) {
            if (!gz->stream_end) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "chatvisor_inject: the page's gzip data is "
                              "truncated: it ends here");
                return NGX_ERROR;
            }

            if (ngx_chatvisor_gunzip_emit_flags(r, gz, 1) != NGX_OK) {
                return NGX_ERROR;
            }

            gz->done = 1;
            return NGX_OK;
        }

        if (gz->flush) {
            gz->flush = 0;

            if (ngx_chatvisor_gunzip_emit_flags(r, gz, 0) != NGX_OK) {
                return NGX_ERROR;
            }
        }
    }
}


ngx_int_t
ngx_chatvisor_gunzip_filter(ngx_http_request_t *r, ngx_chatvisor_gunzip_t *gz,
    ngx_chain_t *in, ngx_chatvisor_gunzip_next_pt next)
{
    ngx_int_t     rc, inflated;
    ngx_uint_t    flush;
    ngx_chain_t  *cl;

    if (gz->done) {
        /* nothing is expected after the end */
        return next(r, in);
    }

    if (in && ngx_chain_add_copy(r->pool, &gz->in, in) != NGX_OK) {
        return NGX_ERROR;
    }

    flush = (gz->busy != NULL);

    if (gz->nomem) {
        /* buffers may have come free downstream since */
        if (next(r, NULL) == NGX_ERROR) {
            return NGX_ERROR;
        }

        cl = NULL;
        ngx_chain_update_chains(r->pool, &gz->free, &gz->busy, &cl,
                                (ngx_buf_tag_t) &ngx_chatvisor_gunzip_create);
        gz->nomem = 0;
        flush = 0;
    }

    for ( ;; ) {
        inflated = ngx_chatvisor_gunzip_inflate(r, gz);

        if (inflated == NGX_ERROR) {
            /* what was decoded goes out; the response ends unfinished, so
             * the client sees a truncated page, not a complete one */
            if (gz->out_buf && ngx_buf_size(gz->out_buf)) {
                (void) ngx_chatvisor_gunzip_emit_flags(r, gz, 0);
            }

            if (gz->out) {
                (void) next(r, gz->out);
            }

            gz->done = 1;
            return NGX_ERROR;
        }

        if (gz->out == NULL && !flush) {
            return gz->busy ? NGX_AGAIN : NGX_OK;
        }

        rc = next(r, gz->out);

        if (rc == NGX_ERROR) {
            gz->done = 1;
            return NGX_ERROR;
        }

        ngx_chain_update_chains(r->pool, &gz->free, &gz->busy, &gz->out,
                                (ngx_buf_tag_t) &ngx_chatvisor_gunzip_create);
        gz->last_out = &gz->out;
        flush = 0;

        if (gz->done || !gz->nomem) {
            return rc;
        }

        /* every buffer was out: those sent may be free now */
        gz->nomem = 0;

        if (gz->free == NULL) {
            gz->nomem = 1;
            return rc;
        }
    }
}
