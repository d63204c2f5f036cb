/* fuzz_names: symbol and date validation and the numeric command-line parsers. The input is
 * split at newlines; each line goes through every validator. */
#include "fuzz_common.h"
#include "data/download.h"
#include "io/lobds.h"
#include "app/cmd_common.h"

#include <fcntl.h>
static int g_null = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (64u << 10)) return 0;
    if (g_null < 0) g_null = open("/dev/null", O_WRONLY);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    DlErr e;
    for (char *s = text, *nl; s && *s; s = nl ? nl + 1 : NULL) {
        nl = strchr(s, '\n');
        if (nl) *nl = 0;
        int ok = lobds_symbol_ok(s);
        int rc = download_check_name(s, "symbol", &e);
        if ((rc == 0) != (ok != 0)) abort(); /* the two must agree */
        int64_t day;
        if (download_parse_date(s, &day, &e) == 0) {
            int y, m, d;
            download_civil(day, &y, &m, &d);
            char back[32];
            snprintf(back, sizeof back, "%04d-%02d-%02d", y, m, d);
            if (strcmp(back, s) != 0) abort(); /* a valid date prints back as itself */
        }
        int iv;
        long long lv;
        double dv;
        fflush(stderr);
        int saved = dup(2); /* the cli parsers print their message to stderr */
        dup2(g_null, 2);
        cli_int("--n", s, -5, 1000, &iv);
        cli_i64("--n", s, -5, 1000000, &lv);
        cli_double("--x", s, -1.0, 1e6, &dv);
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
    }
    free(text);
    return 0;
}
