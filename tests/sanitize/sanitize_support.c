/* sanitize_support.c: linked into every executable of a DEEPLOB_SANITIZE build only.
 *
 * Open MPI 4.1 dlopen()s its components (mca_*.so) in MPI_Init and dlclose()s them in
 * MPI_Finalize. LeakSanitizer runs at exit, after that: the components' data segments are
 * unmapped by then, so every heap block that was still referenced only from a component's
 * globals looks unreferenced, and the stacks end in "<unknown module>". Measured on
 * test_results_par: 122,363 bytes in 3,357 "leaks" with components unloaded, 9,767 bytes
 * in 20 with them kept loaded (all 20 inside MPI_Init: tests/sanitize/lsan.supp).
 * Open MPI 4.1.4 has no parameter to keep them (mca_base_component_disable_dlclose came
 * later), so this build makes dlclose a no-op: exported from the executable (linked with
 * --export-dynamic-symbol=dlclose), it interposes libc's for Open MPI, HDF5 and the rest.
 * Unloading nothing at exit changes no result; the process ends right after. */
int dlclose(void *handle);
int dlclose(void *handle) {
    (void)handle;
    return 0;
}

/* Defaults read by the sanitizer runtimes at start-up (the environment's ASAN_OPTIONS /
 * LSAN_OPTIONS still override), so a DEEPLOB_SANITIZE binary run by hand, or by mpirun,
 * reports the same as under ctest. fast_unwind_on_malloc=0: Open MPI, hwloc and PMIx are
 * built without frame pointers, and only full malloc stacks reach ompi_mpi_init. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "detect_leaks=1:fast_unwind_on_malloc=0:malloc_context_size=30";
}
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) {
    return "suppressions=" DL_LSAN_SUPP ":print_suppressions=0";
}
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void) {
    return "print_stacktrace=1:halt_on_error=1";
}
