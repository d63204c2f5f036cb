/* TEMPORARY placeholder so the tree links while the commands are being written. */
#include <stdio.h>
#include "app/commands.h"
int cmd_info(int c, char **v) { (void)c; (void)v; fprintf(stderr, "info: not built yet\n"); return 3; }
int cmd_init(int c, char **v) { (void)c; (void)v; fprintf(stderr, "init: not built yet\n"); return 3; }
int cmd_predict(int c, char **v) { (void)c; (void)v; fprintf(stderr, "predict: not built yet\n"); return 3; }
int cmd_bench(int c, char **v) { (void)c; (void)v; fprintf(stderr, "bench: not built yet\n"); return 3; }
