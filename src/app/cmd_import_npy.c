/* TEMPORARY placeholder so the tree links while the command is being written. */
#include <stdio.h>
#include "app/commands.h"
int cmd_import_npy(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "import_npy: not built yet\n"); return 3; }
