/* TEMPORARY placeholder so the tree links while the command is being written. */
#include <stdio.h>
#include "app/commands.h"
int cmd_train(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "train: not built yet\n"); return 3; }
