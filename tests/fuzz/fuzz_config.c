/* fuzz_config: the JSON training config (config_load_json_text, validation, printing back),
 * and `--set key=value` strings from the input's lines. */
#include "fuzz_common.h"
#include "train/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (256u << 10)) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    DlErr e;
    TrainConfig c;
    config_defaults(&c);
    if (config_load_json_text(&c, text, "fuzz.json", &e) == 0 && config_validate(&c, &e) == 0) {
        char *j = config_to_json(&c);
        free(j);
        j = config_training_json(&c);
        free(j);
    }
    config_free(&c);
    /* every line as a --set key=value */
    config_defaults(&c);
    for (char *s = text, *nl; s && *s; s = nl ? nl + 1 : NULL) {
        nl = strchr(s, '\n');
        if (nl) *nl = 0;
        config_set_kv(&c, s, &e);
    }
    config_free(&c);
    free(text);
    return 0;
}
