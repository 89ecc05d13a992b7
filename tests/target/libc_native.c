/*
 * libc_native.c - a program that uses malloc, free and printf WITHOUT capheap's libc layer:
 * its link pulls the C library's own allocator. check-symbols.sh --expect-native must find
 * it there; that shows the symbol check on libc_test.elf is able to fail.
 */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char *volatile p = malloc(100);
    char *volatile q = realloc(p, 200);
    void *volatile r = calloc(4, 8);
    printf("libc_native: %p %p %f\n", (void *)q, r, 1.5);
    free(q);
    free(r);
    return 0;
}
