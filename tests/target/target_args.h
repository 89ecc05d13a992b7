/*
 * target_args.h - the firmware's own arguments from the semihosting command line.
 *
 * QEMU's semihosting command line is "<kernel path> <-append text>"; picolibc's crt0 also
 * puts a program name in front. target_args() skips everything up to the word that ends in
 * ".elf" and returns the index of the first real argument.
 */
#ifndef TARGET_ARGS_H
#define TARGET_ARGS_H
#include <string.h>

static inline int target_args(int argc, char **argv)
{
    for (int i = argc - 1; i >= 0; i--) {
        size_t n = strlen(argv[i]);
        if (n >= 4 && strcmp(argv[i] + n - 4, ".elf") == 0)
            return i + 1;
    }
    return argc > 0 ? 1 : 0;
}

#endif
