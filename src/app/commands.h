/* commands.h: the subcommands of deeplob_mpi. Each parses its own options
 * (getopt_long), prints --help, and returns the process exit status.
 * MPI is initialised by main() before any command runs (singleton mode when
 * started without mpirun). */
#ifndef DL_COMMANDS_H
#define DL_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_crawl(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_import_npy(int argc, char **argv);
int cmd_mmf_bars(int argc, char **argv);
int cmd_mmf(int argc, char **argv);
int cmd_report(int argc, char **argv);

#endif
