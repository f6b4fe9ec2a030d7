/*
 * Eight bytes at a time: the scanners' fast paths over long runs of plain
 * text (a co-browsing chunk is mostly string contents), where a byte at a
 * time costs more than the rest of the request. Each test tells whether
 * any of the eight bytes is one of interest; the caller then looks at
 * them one by one. The tricks are the well-known "has a zero byte" and
 * "has a byte less than n" (n <= 128); both are exact about whether any
 * byte qualifies.
 */
#ifndef CV_SWAR_H
#define CV_SWAR_H

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define CV_SWAR_WIDTH  8
#define CV_SWAR_ONES   0x0101010101010101ULL
#define CV_SWAR_HIGHS  0x8080808080808080ULL


static inline uint64_t
cv_swar_load(const unsigned char *p)
{
    uint64_t  w;

    memcpy(&w, p, sizeof(w));      /* unaligned, and no aliasing rules */

    return w;
}


/* any byte >= 0x80: not ASCII */
static inline int
cv_swar_has_high(uint64_t w)
{
    return (w & CV_SWAR_HIGHS) != 0;
}


/* any byte equal to c */
static inline int
cv_swar_has_byte(uint64_t w, unsigned char c)
{
    uint64_t  v;

    v = w ^ (CV_SWAR_ONES * c);

    return ((v - CV_SWAR_ONES) & ~v & CV_SWAR_HIGHS) != 0;
}


/* any byte less than n (n <= 128) */
static inline int
cv_swar_has_less(uint64_t w, unsigned char n)
{
    return ((w - CV_SWAR_ONES * n) & ~w & CV_SWAR_HIGHS) != 0;
}


/*
 * Sixteen bytes at a time where the compiler targets SSE2 (every x86-64):
 * a bit per byte that is a quote, a backslash or a control character, the
 * bytes that end a JSON string's plain run. 0: none of them. Without SSE2
 * the caller uses the eight-byte tests above.
 */
#if defined(__SSE2__)

#define CV_SWAR_WIDE  16

static inline unsigned int
cv_swar_string_stops(const unsigned char *p)
{
    __m128i  v, stop;

    v = _mm_loadu_si128((const __m128i *) (const void *) p);

    /* v <= 0x1f, unsigned: max(v, 0x1f) == 0x1f */
    stop = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)),
                          _mm_set1_epi8(0x1f));
    stop = _mm_or_si128(stop, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
    stop = _mm_or_si128(stop, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));

    return (unsigned int) _mm_movemask_epi8(stop);
}

#endif

#endif
