/*
 * test_web.c -- unit tests for exporters/web.c: the page compiled into the binary (every file
 * present, no inline script, handler or style attribute in the HTML, no innerHTML or eval in
 * the script, nothing fetched from elsewhere), and web_jstr (agent/core/json.c's escaping with the
 * quotes, long strings written whole, invalid UTF-8 as \udcXX).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "web.h"

static const struct web_asset *
find(const char *name)
{
    for (size_t i = 0; i < web_nassets; i++) {
        if (strcmp(web_assets[i].name, name) == 0) {
            return &web_assets[i];
        }
    }
    return NULL;
}

/* Whether the asset contains s. */
static int
has(const struct web_asset *a, const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i + n <= a->len; i++) {
        if (memcmp(a->data + i, s, n) == 0) {
            return 1;
        }
    }
    return 0;
}

Test(web, assets_embedded)
{
    const char *names[] = {"index.html", "app.js", "style.css"};

    for (size_t i = 0; i < 3; i++) {
        const struct web_asset *a = find(names[i]);
        cr_assert_not_null(a, "%s not embedded", names[i]);
        cr_assert_gt(a->len, 100, "%s", names[i]);
        cr_assert_eq(a->data[a->len], 0, "%s: not NUL-terminated", names[i]);
        cr_assert_eq(strlen((const char *)a->data), a->len, "%s: a NUL inside", names[i]);
    }
}

Test(web, html_has_no_inline_code)
{
    const struct web_asset *h = find("index.html");

    cr_assert(has(h, "<script src=\"/app.js\" defer></script>"));
    cr_assert(has(h, "<link rel=\"stylesheet\" href=\"/style.css\">"));
    cr_assert_not(has(h, "<script>"), "inline script");
    cr_assert_not(has(h, "style="), "inline style");
    cr_assert_not(has(h, " on"), "an event handler attribute");
    cr_assert_not(has(h, "http://"));
    cr_assert_not(has(h, "https://"));
}

Test(web, script_inserts_text_only)
{
    const struct web_asset *js = find("app.js");

    cr_assert_not(has(js, "innerHTML"));
    cr_assert_not(has(js, "outerHTML"));
    cr_assert_not(has(js, "insertAdjacentHTML"));
    cr_assert_not(has(js, "document.write"));
    cr_assert_not(has(js, "eval("));
    cr_assert_not(has(js, "new Function"));
    cr_assert_not(has(js, "https://"));
    cr_assert(has(js, "createTextNode"));
    cr_assert(has(js, "textContent"));
}

Test(web, jstr)
{
    struct buf b = {0};
    char big[20000];

    web_jstr(&b, "a\"b\\c</script>\n", strlen("a\"b\\c</script>\n"));
    cr_assert_str_eq(b.p, "\"a\\\"b\\\\c</script>\\n\"");
    b.len = 0;
    web_jstr(&b,
             "x\xff"
             "y",
             3);
    cr_assert_str_eq(b.p, "\"x\\udcffy\"");
    b.len = 0;
    memset(big, '"', sizeof(big));
    web_jstr(&b, big, sizeof(big));
    cr_assert_eq(b.len, 2 + 2 * sizeof(big), "a long string written whole");
    cr_assert_not(b.oom);
    free(b.p);
}
