/* libFuzzer target for the typed reply shapes (src/resp/shape.c).
 *
 * Every reply the input yields (input format: support.h) is copied and
 * bent into every shape form the typed commands use. Whatever a shape does
 * to a reply, the result must keep the one-block rule (rk_reply_dup gives
 * an equal copy, rk_reply_free frees it all), and format. A reply that
 * does not look as a shape expects is left alone; nothing may crash.
 *
 *   make fuzz FUZZ_TARGET=fuzz_shapes FUZZ_TIME=60 */
#include <stdlib.h>

#include "resp/shape.h"
#include "support.h"

/* The shapes the typed commands give (`grep -rho 'shape = .*' src`), and
 * those of GEOSEARCH and friends, which rk_geo_shape picks. */
static const char *const shapes[] = {
    ".",
    "d",
    "s",
    "i",
    "ad",
    "am..",
    "m..",
    "p..",
    "p.d",
    "(.p.d)",
    "(..d)",
    "(.m..)",
    "a(dd)",
    "a(.s)",
    "a(.m..)",
    "(.a(.m..).)",
    "k.a(.m..)",
    "a{}",
    "{flags=s}",
    "{modules=a{}}",
    "a{nodes=a{}}",
    "a{age-seconds=d}",
    "a{functions=a{flags=s}}",
    "{flags=s,selectors=a{}}",
    "{running_script={},engines=m.{}}",
    ("{db.*={},dataset.percentage=d,peak.percentage=d,allocator-fragmentation.ratio=d,"
     "allocator-rss.ratio=d,rss-overhead.ratio=d,fragmentation=d}"),
    "m.$D",
    "a$I",
    "m.{histogram_usec=m..}",
    "a(..*(...m..))",
    "{first-entry=(.m..),last-entry=(.m..)}",
    "{entries=a(.m..),groups=a{consumers=a{}}}",
};

/* Bends a copy of r into shape and checks what comes out. */
static void bend(const rk_reply *r, const char *shape) {
    rk_reply shaped, copy;
    if (rk_reply_dup(&shaped, r) != RK_OK || rk_reshape(&shaped, shape) != RK_OK)
        abort();
    if (rk_reply_dup(&copy, &shaped) != RK_OK || !rkf_equal(&copy, &shaped))
        abort();
    rk_reply_free(&copy);
    rk_free(rk_reply_format(&shaped, 0, NULL));
    rk_reply_free(&shaped);
}

static void bend_every_way(const rk_reply *r, void *ctx) {
    (void)ctx;
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
        bend(r, shapes[i]);
    for (int geo = 0; geo < 8; geo++)
        bend(r, rk_geo_shape(geo & 1, geo & 2, geo & 4));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rkf_each_reply(data, size, bend_every_way, NULL);
    return 0;
}
